"""Every batch scheduler dask-jobqueue knows, as job-script text (no scheduler needed):
the table's arguments reach the class, what it leaves out comes from the site's
``jobqueue.yaml``, and what the class refuses is one line with exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweep import cluster, cluster_config, config

from .helpers import SMALL

ROOT = Path(__file__).resolve().parents[2]

# A table each kind accepts, and a line its job script must then hold.
TABLES = {
    "slurm": (
        'queue = "short"\nwalltime = "01:00:00"\njob_cpu = 3\n',
        ["#SBATCH -p short", "#SBATCH --cpus-per-task=3"],
    ),
    "pbs": (
        'queue = "batch"\nwalltime = "01:00:00"\nresource_spec = "select=1:ncpus=2:mem=4GB"\n',
        ["#PBS -q batch", "#PBS -l select=1:ncpus=2:mem=4GB", "#PBS -l walltime=01:00:00"],
    ),
    "sge": ('queue = "all.q"\nwalltime = "01:00:00"\n', ["#$ -q all.q", "#$ -l h_rt=01:00:00"]),
    "lsf": ('queue = "normal"\nwalltime = "01:00"\n', ["#BSUB -q normal", "#BSUB -W 01:00", "#BSUB -n 2"]),
    "htcondor": ('disk = "1GiB"\n', ["RequestCpus = MY.DaskWorkerCores", "MY.DaskWorkerCores = 2"]),
    "oar": (
        'queue = "default"\nwalltime = "01:00:00"\n',
        ["#OAR -q default", "#OAR -l /nodes=1/core=2,walltime=01:00:00"],
    ),
}
COMMON = 'cores = 2\nprocesses = 2\nmemory = "4GiB"\n'


def _dry_run(tmp_path, text, kind, env=None):
    path = tmp_path / "site.toml"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(path), "--cluster", kind, "--dry-run"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )


def test_every_kind_is_offered():
    assert set(cluster_config.KINDS) == {"local", *TABLES}
    for kind in TABLES:
        assert cluster.cluster_class(kind).__name__ == cluster_config.JOBQUEUE[kind]


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_dry_run_prints_each_kinds_job_script(tmp_path, kind):
    extra, lines = TABLES[kind]
    res = _dry_run(tmp_path, SMALL + "[cluster]\n" + COMMON + extra, kind)
    assert res.returncode == 0, res.stderr
    for line in lines:
        assert line in res.stdout, (line, res.stdout)
    assert "distributed.cli.dask_worker tls://" in res.stdout and "--nthreads 1" in res.stdout
    assert "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False" in res.stdout
    assert "adaptive scaling between 1 and 1 jobs" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.toml"]


def test_what_the_table_leaves_out_comes_from_the_sites_jobqueue_yaml(tmp_path):
    """Nothing but the kind in the table: queue, cores, memory, walltime and prologue come
    from the site's file; its prologue is kept, with the workers' settings after it, and
    the workers retire 5 minutes before its walltime."""
    site = tmp_path / "dask"
    site.mkdir()
    (site / "jobqueue.yaml").write_text(
        "jobqueue:\n  pbs:\n    queue: site-queue\n    cores: 4\n    processes: 4\n    memory: 8GiB\n"
        "    walltime: '04:00:00'\n    job-script-prologue: ['module load site-python']\n"
    )
    env = dict(os.environ, DASK_CONFIG=str(site))
    res = _dry_run(tmp_path, SMALL + '[cluster]\nkind = "pbs"\n', "pbs", env=env)
    assert res.returncode == 0, res.stderr
    script = res.stdout
    for line in ("#PBS -q site-queue", "#PBS -l walltime=04:00:00", "--nworkers 4", "--lifetime 235m"):
        assert line in script, line
    lines = script.splitlines()
    assert lines.index("module load site-python") < lines.index(
        "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False"
    )
    # a key the table sets wins over the site's
    res = _dry_run(tmp_path, SMALL + '[cluster]\nkind = "pbs"\nqueue = "mine"\n', "pbs", env=env)
    assert "#PBS -q mine" in res.stdout and "site-queue" not in res.stdout


@pytest.mark.parametrize(
    "kind,extra,words",
    [
        ("pbs", "colour = 'blue'\n", "cluster.colour = 'blue': is not a key of [cluster] nor a batch scheduler's"),
        ("pbs", "workrs = 2\n", "did you mean 'workers'?"),
        ("pbs", "lsf_units = 'MB'\n", "unexpected keyword argument 'lsf_units'"),  # LSF's, not PBS's
        ("htcondor", "", "disk"),  # HTCondor needs a disk request, from the table or the site
        ("slurm", "walltime = 'soon'\n", "cluster.walltime = 'soon'"),
    ],
)
def test_what_the_class_refuses_is_one_line_and_exit_2(tmp_path, kind, extra, words):
    res = _dry_run(tmp_path, SMALL + "[cluster]\n" + COMMON + extra, kind)
    assert res.returncode == 2
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and words in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.toml"]


@pytest.mark.parametrize("kind", ["pbs", "slurm"])
def test_a_job_without_its_size_is_named_in_the_configs_words(tmp_path, kind):
    """No cores or memory in the table or the site's jobqueue.yaml: one line naming both
    keys and both places (not the class's message, written for Python callers); the site's
    setting alone is enough."""
    res = _dry_run(tmp_path, SMALL + "[cluster]\nprocesses = 2\n", kind)
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert "cores = ..., memory = ..." in line and f"jobqueue.{kind}.cores, jobqueue.{kind}.memory" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.toml"]
    site = tmp_path / "dask"
    site.mkdir()
    (site / "jobqueue.yaml").write_text(f"jobqueue:\n  {kind}:\n    cores: 2\n    memory: 4GiB\n")
    env = dict(os.environ, DASK_CONFIG=str(site))
    assert _dry_run(tmp_path, SMALL + "[cluster]\nprocesses = 2\n", kind, env=env).returncode == 0


def test_a_refused_table_writes_nothing_on_a_real_run(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(SMALL + "[cluster]\n" + COMMON + "lsf_units = 'MB'\n")
    res = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(path), "--cluster", "sge", "--out", str(tmp_path / "o.nc")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "dask_jobqueue.SGECluster refuses the table" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.toml"]


def test_the_example_tables_are_valid():
    for name in ("slurm", "pbs"):
        table = config.loads(SMALL + (ROOT / "cluster" / f"{name}.example.toml").read_text()).cluster
        assert table["kind"] == name
        assert cluster.job_script(table).startswith("#!/usr/bin/env bash")


def test_the_readme_names_every_kind_and_every_own_key():
    """The README's cluster section is derived by hand from the registry: check it is whole."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Running on a batch cluster") :]
    section = section[: section.index("\n## ", 1)]
    for kind in cluster_config.JOBQUEUE:
        assert f"`{kind}`" in section, kind
    for key in cluster_config.OWN:
        assert f"`{key}`" in section, key


def test_distributeds_cancel_race_is_dropped_and_nothing_else():
    """distributed's ``sync`` interrupted before its future exists logs a NameError through
    tornado (seen once in twenty group Ctrl-Cs): that record alone is dropped."""
    import logging

    def cancel():
        return future  # noqa: F821 - the unbound name, as in distributed.utils.sync

    try:
        cancel()
    except NameError:
        import sys

        race = sys.exc_info()
    make = logging.getLogger("tornado.application").makeRecord
    args = ("tornado.application", logging.ERROR, __file__, 1, "Exception in callback %r")
    dropped = make(*args, ("functools.partial(<function sync.<locals>.cancel at 0x1>)",), race)
    kept = make(*args, ("functools.partial(<function other at 0x1>)",), race)
    assert not cluster._CANCEL_RACE.filter(dropped) and cluster._CANCEL_RACE.filter(kept)


def test_importing_dask_jobqueue_leaves_ctrl_c_to_the_cli():
    """dask_jobqueue's runner module sets SIGINT to ``sys.exit()`` when imported: a Ctrl-C
    of any batch scheduler run would end in a silent exit 0. Our imports put it back (in a
    fresh process, where the import really runs)."""
    code = (
        "import signal\n"
        "from sweep import cluster\n"
        "before = signal.getsignal(signal.SIGINT)\n"
        "cluster.cluster_class('slurm'); cluster.jobqueue_parameters(); cluster.site_defaults('pbs')\n"
        "assert signal.getsignal(signal.SIGINT) is before, signal.getsignal(signal.SIGINT)\n"
        "import dask_jobqueue.runner\n"
        "assert signal.getsignal(signal.SIGINT) is before\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr


def test_the_scheduler_probe_works_where_an_event_loop_already_runs():
    """A notebook's main thread runs an event loop, where ``asyncio.run`` refuses to start
    another: the probe still answers with its one line."""
    import asyncio
    import socket

    from sweep.errors import ClusterError

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{closed.getsockname()[1]}"

        async def inside():
            with pytest.raises(ClusterError, match="no Dask scheduler answered"):
                cluster.check_reachable(address, 1)

        asyncio.run(inside())
