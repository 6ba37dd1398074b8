"""The ``sweep`` command as users run it: a real subprocess, exit codes, files."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sweep import dataset, engine
from sweep.parts import Parts, parts_path

from .helpers import SLOW, SMALL, assert_same_numbers, sweep_cli, wait_for_parts

ROOT = Path(__file__).resolve().parents[2]
SLOW_TASKS = 24  # SLOW in tasks of 2 trials
LONG_TASKS = 80  # SLOW at 80 trials, in tasks of 2


def sweep(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sweep", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_help_lists_the_commands():
    out = sweep("--help")
    assert out.returncode == 0
    for cmd in ("run", "resume", "status", "figure1", "n0"):
        assert cmd in out.stdout


def test_n0_l1_prints_the_statistical_dimension():
    out = sweep("n0", "--s", 20, "--d", 1000, "--method", "l1")
    assert out.returncode == 0 and "104.18" in out.stdout


def test_n0_l1_of_groups_and_of_low_rank():
    """The statistical dimensions of the group-l1 and nuclear-norm descent cones, by the
    structure's own method (sweep.theory's tests hold them to quadrature and Monte Carlo)."""
    out = sweep("n0", "--s", 4, "--d", 1024, "--method", "l1", "--structure", "group", "--group-size", 4)
    assert out.returncode == 0 and "= 53.6957" in out.stdout
    one = sweep("n0", "--s", 20, "--d", 1000, "--method", "l1", "--structure", "group")
    assert "= 104.1813" in one.stdout  # groups of one: the l1 ball
    out = sweep("n0", "--s", 2, "--d", 1024, "--method", "l1", "--structure", "lowrank")
    assert out.returncode == 0 and "p=32) = 250.4" in out.stdout and "standard error" in out.stdout


@pytest.mark.parametrize(
    "case",
    [
        dict(args=["n0", "--s", 20, "--d", 10], field="--s"),
        dict(args=["n0", "--s", "x", "--d", 10], field="--s"),
        dict(args=["n0", "--s", 2, "--d", 10, "--method", "l2"], field="--method"),
        dict(args=["n0", "--s", 2, "--d", 10, "--structure", "group", "--group-size", 3], field="--group-size"),
        dict(args=["n0", "--s", 5, "--d", 20, "--structure", "group", "--group-size", 4], field="--s"),
        dict(args=["n0", "--s", 1, "--d", 10, "--structure", "lowrank"], field="--d"),
        dict(args=["n0", "--s", 4, "--d", 16, "--structure", "lowrank"], field="--s"),
        dict(args=["n0", "--s", 1, "--d", 16, "--structure", "lowrank", "--method", "l0-mc"], field="--method"),
        dict(args=["figure1", "--trials", 0], field="--trials"),
        dict(args=["figure1", "--out", "figure1.png"], field="--out"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, case):
    out = sweep(*case["args"], cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and case["field"] in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_figure1_writes_a_dataset(tmp_path):
    path = tmp_path / "f1.nc"
    out = sweep("figure1", "--trials", 10, "--iterations", 20, "--out", path)
    assert out.returncode == 0, out.stderr
    with xr.open_dataset(path) as ds:
        assert ds.trace.dims == ("model", "trial", "iteration")
        assert ds.trace.shape == (2, 10, 21)
        assert ds.attrs["n"] == 625 and ds.attrs["regularizer"] == "l0"
        assert ds.trace.attrs["units"] == "1"
        assert float(ds.trace.sel(model="linear", iteration=20).median()) < 1e-7


# --- a run that cannot finish, and one the user stops ------------------------------------


def _run_cli(cfg, out, *extra, **kw):
    return subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(cfg), "--out", str(out), "--no-progress", *map(str, extra)]
        + ["--dashboard", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def _boom(plan, task):
    raise FloatingPointError(f"deliberate failure in {task.name}")


def test_a_task_that_keeps_raising_exits_1_naming_it(tmp_path, monkeypatch):
    """The CLI runs against a scheduler whose worker threads live in this process, where
    the engine's task function is replaced by one that raises: every retry fails."""
    from distributed import LocalCluster

    monkeypatch.setattr(engine, "run_task", _boom)
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "small.nc"
    with LocalCluster(
        n_workers=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        res = _run_cli(cfg, out, "--cluster", cluster.scheduler_address)
    assert res.returncode == 1, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"sweep: error: task d\d+-s\d+-t\d+-\d+ failed 4 times; last error: FloatingPointError: "
        r"deliberate failure in d\d+-s\d+-t\d+-\d+; finished tasks are kept, rerun to resume",
        last,
    ), last
    assert not out.exists() and parts_path(out).is_dir()


def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    """A parent that is a file, or an output that is a directory: one line naming --out, exit 2,
    nothing written (no parts folder, no lock), before the config's work is planned."""
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "folder").mkdir()
    for out in (tmp_path / "file" / "small.nc", tmp_path / "folder"):
        res = _run_cli(cfg, out, "--workers", 1)
        assert res.returncode == 2, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "--out" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder", "small.toml"]
    assert list((tmp_path / "folder").iterdir()) == []


@pytest.mark.parametrize(
    "flags, field",
    [
        (["--dashboard", "garbage"], "--dashboard"),
        (["--dashboard", "127.0.0.1:99999"], "--dashboard"),
        (["--dashboard", ":-1"], "--dashboard"),
        (["--dashboard", "1.2.3.4:8787"], "--dashboard"),
        (["--dashboard", "[::]:18789"], "--dashboard"),  # distributed splits at ':' and cannot take IPv6
        (["--dashboard", ":8787,:8788"], "--dashboard"),
        (["--connect-timeout", "3601"], "--connect-timeout"),
        (["--out", "/tmp/" + "a" * 300 + ".nc"], "--out"),  # a name the filesystem refuses (found by the fuzz)
        (["--workers", "100001"], "--workers"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_bad_run_flags_are_one_line_even_in_a_dry_run(tmp_path, flags, field):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    for dry in ([], ["--dry-run"]):
        res = sweep("run", cfg, "--out", tmp_path / "small.nc", "--no-progress", *flags, *dry)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and field in res.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]


def test_a_dashboard_on_every_interface_is_said_once(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    res = sweep("run", cfg, "--dashboard", "0.0.0.0:0", "--dry-run")
    assert res.returncode == 0
    assert [line for line in res.stderr.splitlines() if "open to the network" in line] == [
        "sweep: warning: --dashboard 0.0.0.0:0 listens on every interface: the dashboard is open to the network"
    ]


def test_the_log_names_the_address_the_dashboard_really_bound(tmp_path):
    """distributed's link says 127.0.0.1 for a dashboard on every interface."""
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    res = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(cfg), "--out", str(tmp_path / "s.nc"), "--no-progress"]
        + ["--workers", "1", "--dashboard", ":0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert re.search(r"; dashboard: http://0\.0\.0\.0:\d+/status \(every interface\)", res.stderr), res.stderr


def test_a_config_that_is_not_utf8_or_not_toml_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(SMALL.replace('"small"', '"sm\xe4ll"').encode("latin-1"))  # a latin-1 umlaut
    res = sweep("run", bad, "--dry-run")
    assert res.returncode == 2 and res.stderr.strip() == (
        f"sweep: error: config = '{bad}': is not UTF-8 text (byte {bad.read_bytes().index(0xE4)}); TOML files are UTF-8"
    )
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    res = sweep("run", broken, "--dry-run")
    assert res.returncode == 2 and res.stderr.startswith(f"sweep: error: config = '{broken}': is not valid TOML")
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_seed_past_int64_is_refused_before_any_work(tmp_path):
    cfg = tmp_path / "seed.toml"
    cfg.write_text(SMALL.replace("seed = 7", f"seed = {2**64}"))
    res = sweep("run", cfg, "--dry-run")
    assert res.returncode == 2 and res.stderr.strip().startswith(f"sweep: error: seed = {2**64}: must be at most")
    assert sweep("figure1", "--seed", 2**63, cwd=tmp_path).returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.toml"]


def test_a_rerun_removes_the_temporary_file_of_a_write_cut_short(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    stale = tmp_path / ".small.nc.abc123.tmp"
    stale.write_bytes(b"half a file")
    res = _run_cli(cfg, tmp_path / "small.nc", "--workers", 1, "--keep-parts")
    assert res.returncode == 0, res.stderr
    assert not stale.exists() and (tmp_path / "small.nc").exists()
    stale.write_bytes(b"half a file")  # and a resume, from the parts folder
    res = sweep("resume", parts_path(tmp_path / "small.nc"), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert not stale.exists() and f"removing {stale}" in res.stderr


def test_a_full_disk_is_our_one_line_and_nothing_from_the_libraries(tmp_path):
    """The file-size limit stands in for a full disk: the parts fit, the dataset does not
    (the NetCDF library reports that as an HDF RuntimeError). One line naming the file,
    exit 1, the parts kept for a rerun."""
    import resource

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    cfg = tmp_path / "big.toml"
    cfg.write_text(SLOW.replace("trials = 24", "trials = 400"))
    out = tmp_path / "big.nc"
    res = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(cfg), "--out", str(out), "--no-progress", "--workers", "2"]
        + ["--dashboard", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=small_files,
    )
    assert res.returncode == 1, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"sweep: error: cannot write {out}: ") and "is the disk full?" in last, res.stderr
    for noise in ("Traceback", "WARNING", "HDF5-DIAG"):
        assert noise not in res.stderr, res.stderr
    parts = Parts(parts_path(out))
    assert not out.exists() and len(parts.done()) == parts.manifest()["tasks"]  # every task kept


def test_ctrl_c_exits_130_and_keeps_the_finished_parts(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "slow.nc"
    proc = sweep_cli(cfg, "--out", out, "--workers", 2, "--batch-size", 2)
    wait_for_parts(parts_path(out), 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    kept = len(Parts(parts_path(out)).done())
    assert err.strip().splitlines()[-1] == (
        f"sweep: interrupted: {kept} of {SLOW_TASKS} tasks kept in {parts_path(out)}; "
        "rerun `sweep run` or `sweep resume` to finish"
    )
    assert not out.exists() and kept >= 1


def test_sigterm_is_ctrl_c_then_resume_gives_the_uninterrupted_dataset(tmp_path, slow_reference):
    """What a batch scheduler sends at walltime: one line saying what is kept and how to
    finish, exit 143, no traceback or leaked-semaphore warning, no process left, the lock
    released; `sweep resume` then writes the dataset of an uninterrupted run, bit for bit."""
    import psutil

    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "slow.nc"
    parts = parts_path(out)
    proc = sweep_cli(cfg, "--out", out, "--workers", 2, "--batch-size", 2)
    wait_for_parts(parts, 2, proc)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    kept = len(Parts(parts).done())
    assert err.strip().splitlines()[-1] == (
        f"sweep: terminated: {kept} of {SLOW_TASKS} tasks kept in {parts}; "
        "rerun `sweep run` or `sweep resume` to finish"
    )
    for noise in ("Traceback", "leaked semaphore", "WARNING"):
        assert noise not in err, err
    psutil.wait_procs(children, timeout=10)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert (parts / "lock").read_text() == ""  # released: the next run takes it
    if kept == SLOW_TASKS:  # a fast machine finished every task before the signal landed
        return
    res = sweep("resume", parts)
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), slow_reference)


def test_a_busy_dashboard_port_is_one_line_of_ours(tmp_path):
    """distributed says it in four lines with a source path; the sweep says which port."""
    import socket

    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run(
            [sys.executable, "-m", "sweep", "run", str(cfg), "--out", str(tmp_path / "s.nc"), "--no-progress"]
            + ["--workers", "1", "--dashboard", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert res.returncode == 0, res.stderr
    assert re.search(rf"^dashboard: port {port} busy, using \d+$", res.stderr, re.M), res.stderr
    assert "Warning" not in res.stderr and "already in use" not in res.stderr, res.stderr


def test_sigterm_stops_analysis_report_with_whole_files_only(tmp_path):
    """A report stopped by SIGTERM: exit 143, one line; every file it left is whole."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "analysis", "report", str(ROOT / "data" / "step.nc"), "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not list(tmp_path.glob("*.png")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    written = len(list(tmp_path.glob("*")))
    assert proc.returncode == 143 and err.strip().splitlines() == [
        f"analysis: terminated; {tmp_path} holds the {written} files written so far; rerun to finish"
    ], err
    assert not list(tmp_path.glob(".*.tmp"))


# --- resume and status on folders that are not what they claim ---------------------------


def test_a_corrupt_manifest_exits_2(tmp_path):
    parts = tmp_path / "x.nc.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"canonical": ')
    for command in ("status", "resume"):
        res = sweep(command, parts)
        assert res.returncode == 2
        assert res.stderr.startswith(f"sweep: error: parts = '{parts}': has an unreadable manifest.json")
        assert len(res.stderr.strip().splitlines()) == 1


def test_a_changed_batch_size_is_refused(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "small.nc"
    assert _run_cli(cfg, out, "--workers", 1, "--batch-size", 3, "--keep-parts").returncode == 0
    res = _run_cli(cfg, out, "--workers", 1, "--batch-size", 2)  # the same numbers: nothing to run
    assert res.returncode == 0 and "is up to date" in res.stderr, res.stderr
    out.unlink()  # parts without their dataset: a run cut short, to be finished at its own batch size
    res = _run_cli(cfg, out, "--workers", 1, "--batch-size", 2)
    assert res.returncode == 2
    assert res.stderr.strip() == f"sweep: error: --batch-size = 2: differs from 3 used by {parts_path(out)}"


@pytest.mark.parametrize("method", ["l1", "l0-mc"])
def test_every_n0_method_runs_end_to_end(tmp_path, method):
    """The sample sizes follow the chosen n0: n = ceil(ratio * n0) of that method."""
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL.replace("seed = 7", f'seed = 7\nn0 = "{method}"'))
    out = tmp_path / "small.nc"
    assert _run_cli(cfg, out, "--workers", 1).returncode == 0
    with xr.open_dataset(out) as ds:
        column = {"l1": "n0_l1", "l0-mc": "n0_l0_mc"}[method]
        assert ds.attrs["n0_method"] == method and ds.n0.attrs["method"] == method
        np.testing.assert_array_equal(ds.n0, ds[column])
        assert (ds.n == np.maximum(1, np.ceil(ds.ratio * ds.n0))).all()
        assert ds.success.notnull().all()


def _worker_started(proc):
    import psutil

    try:
        return any("spawn_main" in " ".join(c.cmdline()) for c in psutil.Process(proc.pid).children(recursive=True))
    except psutil.Error:
        return False


def _when(moment, proc, parts):
    """Wait for a moment of a run: its cluster starting (a worker process exists, no part
    written yet), its tasks running (a part written), or its last part written (the
    dataset being assembled and written, or just written)."""
    t0 = time.time()
    while time.time() - t0 < 120 and proc.poll() is None:
        done = len(Parts(parts).done()) if (parts / "manifest.json").exists() else 0
        if (moment == "start-up" and _worker_started(proc) and done == 0) or (
            moment == "running" and done >= 1 or moment == "writing" and done == LONG_TASKS
        ):
            return
        time.sleep(0.01)
    pytest.fail(f"the run ended or never reached {moment}: {proc.communicate()}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("moment", ["start-up", "running", "writing"])
def test_a_signal_to_the_whole_process_group_is_one_line(tmp_path, moment, sig):
    """What a terminal's Ctrl-C does (SIGINT to every process of the foreground group) and
    what `timeout` and `scancel` do with SIGTERM: the workers do not hear it, the client
    closes them, and the user reads the run's own lines and one line more; no traceback,
    no worker left. A signal after the last part may find the run done (exit 0) or dying
    on its way out (killed by the signal): quiet either way."""
    import psutil

    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW.replace("trials = 24", f"trials = {LONG_TASKS}"))  # running: many tasks still to go
    out = tmp_path / "slow.nc"
    parts = parts_path(out)
    proc = sweep_cli(cfg, "--out", out, "--workers", 2, "--batch-size", 2, start_new_session=True)
    _when(moment, proc, parts)
    children = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    ours = ("slow: ", "scheduler: ", "wrote ", "sweep: ")
    assert all(line.startswith(ours) for line in lines), err
    status = 130 if sig == signal.SIGINT else 143
    if proc.returncode == status:
        word = "interrupted" if sig == signal.SIGINT else "terminated"
        assert lines[-1].startswith(f"sweep: {word}: ") and lines[-1].endswith("to finish"), err
        assert not out.exists()
    else:
        assert moment == "writing" and proc.returncode in (0, -sig), (proc.returncode, err)
    psutil.wait_procs(children, timeout=20)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_an_unreachable_scheduler_is_one_line_before_the_lock(tmp_path):
    """Nothing listening, and something listening that is not Dask: one line naming the
    address and the wait, exit 1, and no parts folder (no lock, no manifest)."""
    import socket
    import threading

    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "s.nc"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = closed.getsockname()[1]  # bound, never listening: connections are refused
        res = sweep("run", cfg, "--out", out, "--cluster", f"tcp://127.0.0.1:{nobody}", "--connect-timeout", 1)
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"sweep: error: no Dask scheduler answered at tcp://127.0.0.1:{nobody} within 1 s: "
        f"Timed out trying to connect to tcp://127.0.0.1:{nobody} after 1 s"
    ]
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]

        def babble():
            conn, _ = stranger.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n" * 4)
                time.sleep(2)

        threading.Thread(target=babble, daemon=True).start()
        res = sweep("run", cfg, "--out", out, "--cluster", f"tcp://127.0.0.1:{port}", "--connect-timeout", 5)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"sweep: error: no Dask scheduler answered at tcp://127.0.0.1:{port}"
    )
    assert not parts_path(out).exists() and not out.exists()


def test_the_connect_timeout_is_bounded():
    res = sweep("run", "x.toml", "--connect-timeout", 0)
    assert res.returncode == 2 and "--connect-timeout" in res.stderr and "at least 1" in res.stderr


def test_both_commands_say_their_version_which_is_the_packages():
    from importlib.metadata import version

    for command in ("sweep", "analysis"):
        res = subprocess.run([sys.executable, "-m", command, "--version"], capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout.strip() == f"{command} {version('relu-phase')}", res


def test_a_finished_run_removes_its_parts_and_a_rerun_is_up_to_date(tmp_path):
    """The dataset holds every number its parts held: after it is written and read back
    equal, the parts folder goes (``--keep-parts`` keeps it). The same config and code again
    is nothing to do; another config onto the same file needs ``--overwrite``."""
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "small.nc"
    assert _run_cli(cfg, out, "--workers", 1).returncode == 0
    assert out.exists() and not parts_path(out).exists()
    written = out.read_bytes()

    res = _run_cli(cfg, out, "--workers", 1)
    assert (
        res.returncode == 0
        and res.stderr.strip() == f"small: {out} is up to date (this config, this code); nothing to run"
    )
    assert out.read_bytes() == written

    other = tmp_path / "other.toml"
    other.write_text(SMALL.replace("seed = 7", "seed = 8"))
    res = _run_cli(other, out, "--workers", 1)
    assert res.returncode == 2 and res.stderr.strip() == (
        f"sweep: error: --out = '{out}': holds the dataset of another config; pass --overwrite to replace it"
    )
    assert out.read_bytes() == written and not parts_path(out).exists()
    res = _run_cli(other, out, "--workers", 1, "--overwrite", "--keep-parts")
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() != written and parts_path(out).exists()

    stranger = tmp_path / "notes.nc"
    stranger.write_text("not a dataset")
    res = _run_cli(cfg, stranger, "--workers", 1)
    assert res.returncode == 2 and "is not a NetCDF file; pass --overwrite" in res.stderr
    assert stranger.read_text() == "not a dataset"


def test_a_dataset_that_reads_back_wrong_keeps_its_parts(tmp_path, monkeypatch):
    """The parts are removed only after the written file is read back equal to what was
    meant: a write that lands something else (here a changed number) is an error and the
    parts stay, so a rerun can write it again."""
    from sweep import runner

    from .helpers import run_config

    real = dataset.write_dataset

    def wrong(ds, out):
        ds = ds.copy(deep=True)
        ds["rel_error"][(0,) * ds["rel_error"].ndim] += 1.0
        real(ds, out)

    monkeypatch.setattr(dataset, "write_dataset", wrong)
    out = tmp_path / "small.nc"
    with pytest.raises(runner.RunError, match="read back differs"):
        run_config(SMALL, out, workers=1, keep_parts=False)
    assert len(Parts(parts_path(out)).done()) > 0
