"""SLURM through dask-jobqueue: the job script as text, then a real single-node SLURM.

The real-SLURM tests are marked ``slurm`` and skip when no controller answers ``sinfo``;
``cluster/slurm/start.sh`` brings one up (``.ci/run`` does, as root).
"""

import json
import shlex
import shutil
import subprocess
import sys
import threading
import time

import pytest
import xarray as xr

from sweep import cluster, config
from sweep.parts import parts_path

from .helpers import ADAPTIVE, SLOW, SMALL, assert_same_numbers, run_config, sweep_cli, wait_for_parts

SITE = """
[cluster]
kind = "slurm"
queue = "gpu-short"
account = "phase-lab"
cores = 2
processes = 2
memory = "8GiB"
walltime = "02:00:00"
interface = "ib0"
job_extra_directives = ["--exclusive", "--constraint=skylake"]
job_script_prologue = ["module load python/3.11"]
minimum_jobs = 1
maximum_jobs = 20
"""


def test_job_script_carries_the_site_settings():
    table = config.loads(SMALL + SITE).cluster
    assert cluster.jobqueue_kwargs(table)[1] == dict(minimum_jobs=1, maximum_jobs=20)
    script = cluster.job_script(table)
    for line in (
        "#SBATCH -p gpu-short",
        "#SBATCH -A phase-lab",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH -t 02:00:00",
        "#SBATCH --exclusive",
        "#SBATCH --constraint=skylake",
        "module load python/3.11",
    ):
        assert line in script, line
    assert "#SBATCH --mem=8G" in script or "#SBATCH --mem=9G" in script
    # workers retire before SLURM kills them at the walltime
    assert "--lifetime 115m --lifetime-stagger 2m" in script
    assert "--interface ib0" in script and "--nworkers 2" in script


def test_job_script_gives_workers_the_quiet_dask_settings():
    """The exports in the job script, run in a fresh environment, set dask's config to
    cluster.QUIET: batch jobs do not inherit the client's config."""
    script = cluster.job_script(config.loads(SMALL + SITE).cluster)
    exports = [line for line in script.splitlines() if line.startswith("export DASK_")]
    assert len(exports) == len(cluster.QUIET)
    keys = list(cluster.QUIET)
    code = f"import dask, distributed, json; print(json.dumps({{k: dask.config.get(k) for k in {keys!r}}}))"
    res = subprocess.run(
        ["bash", "-c", "\n".join(exports + [f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(res.stdout) == cluster.QUIET


def test_lifetime_stays_below_short_walltimes():
    table = config.loads(SMALL + '[cluster]\nkind = "slurm"\nwalltime = "00:08:00"\n').cluster
    kwargs, _ = cluster.jobqueue_kwargs(table)
    assert kwargs["worker_extra_args"][:2] == ["--lifetime", "6m"]


def test_dry_run_prints_the_script_and_submits_nothing(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(SMALL + SITE)
    res = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(path), "--dry-run"], capture_output=True, text=True, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("#!/usr/bin/env bash") and "#SBATCH -A phase-lab" in res.stdout
    assert "adaptive scaling between 1 and 20 jobs" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.toml"]


def test_missing_interface_is_a_config_error(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(SMALL + SITE.replace("ib0", "nosuch0"))
    res = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(path), "--out", str(tmp_path / "o.nc")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "cluster.interface = 'nosuch0'" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.toml"]


def _slurm_up():
    if not shutil.which("sinfo"):
        return False
    try:  # a controller that does not answer is a skip, not a collection error
        res = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0 and any(s in res.stdout for s in ("idle", "mixed", "allocated"))


needs_slurm = pytest.mark.skipif(
    not _slurm_up(), reason="no SLURM controller answers sinfo (start one: sudo bash cluster/slurm/start.sh)"
)


def _local_slurm(logs, workers=2):
    return f"""
[cluster]
kind = "slurm"
workers = {workers}
minimum_jobs = {workers}
cores = 1
memory = "2GiB"
walltime = "00:30:00"
interface = "lo"
log_directory = "{logs}"
"""


class JobWatcher(threading.Thread):
    """Polls squeue for dask-worker jobs while a sweep runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen, self.stop = set(), threading.Event()

    def run(self):
        while not self.stop.is_set():
            res = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True)
            self.seen |= {line.split()[0] for line in res.stdout.splitlines() if "dask-worker" in line}
            time.sleep(0.2)


@pytest.mark.slurm
@needs_slurm
def test_slurm_sweep_equals_the_local_one(tmp_path, small_reference):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL + _local_slurm(tmp_path / "logs"))
    out = tmp_path / "small.nc"
    watcher = JobWatcher()
    watcher.start()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweep",
            "run",
            str(cfg),
            "--out",
            str(out),
            "--no-progress",
            "--dashboard",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    watcher.stop.set()
    watcher.join()
    assert res.returncode == 0, res.stderr
    assert len(watcher.seen) >= 1
    logged = {p.stem.split("-")[-1] for p in (tmp_path / "logs").glob("dask-worker-*.err")}
    assert watcher.seen <= logged  # the jobs squeue showed are the ones that ran our workers
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), small_reference)


@pytest.mark.slurm
@needs_slurm
def test_scancel_of_a_worker_job_loses_nothing(tmp_path, slow_reference):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW + _local_slurm(tmp_path / "logs"))
    out = tmp_path / "slow.nc"
    watcher = JobWatcher()
    watcher.start()
    proc = sweep_cli(cfg, "--out", out, "--batch-size", 2)
    wait_for_parts(parts_path(out), 2, proc, timeout=180)
    victim = min(watcher.seen, key=int)  # the oldest job: ids are numbers, and '10' < '9' as text
    subprocess.run(["scancel", "--signal=KILL", victim], check=True)
    subprocess.run(["scancel", victim], check=True)
    _, err = proc.communicate(timeout=400)
    watcher.stop.set()
    watcher.join()
    assert proc.returncode == 0, err
    assert victim in watcher.seen
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), slow_reference)


@pytest.mark.slurm
@needs_slurm
def test_an_adaptive_sweep_on_slurm_equals_the_local_one(tmp_path):
    """Rounds on SLURM jobs (one cluster for every round) give the local dataset."""
    local = tmp_path / "local.nc"
    run_config(ADAPTIVE, local, workers=1, in_process=True)
    cfg = tmp_path / "adaptive.toml"
    cfg.write_text(ADAPTIVE + _local_slurm(tmp_path / "logs"))
    out = tmp_path / "adaptive.nc"
    proc = sweep_cli(cfg, "--out", out)
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    with xr.open_dataset(out) as a, xr.open_dataset(local) as b:
        assert_same_numbers(a.load(), b.load())
