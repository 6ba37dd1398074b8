"""The sweep engine as users run it: real LocalClusters, real NetCDF, real kills."""

import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from sweep import config, conventions
from sweep import plan as plan_mod
from sweep.parts import Parts, parts_path

from .helpers import ADAPTIVE, SLOW, SMALL, assert_same_numbers
from .helpers import run_config as _run
from .helpers import sweep_cli as _sweep_cli
from .helpers import wait_for_parts as _wait_for_parts


def test_dataset_follows_the_contract(small_reference):
    """A config without step_sizes writes no step_size dimension: the files it always wrote."""
    ds = small_reference
    for v in ("rel_error", "success", "iterations", "slope", "support_recovered", "diverged"):
        assert ds[v].dims == tuple(d for d in conventions.DIMS if d != "step_size")
    assert ds.trace.dims == tuple(d for d in conventions.TRACE_DIMS if d != "step_size")
    assert "step_size" not in ds.variables
    assert ds.n.dims == ("d", "s", "ratio") and ds.n.dtype.kind == "i"
    assert ds.n0.dims == ("d", "s")
    n0 = 2 * 4 * math.log(100 / 4)
    assert int(ds.n.sel(d=100, s=4, ratio=3.0)) == math.ceil(3.0 * n0)
    for name in list(ds.data_vars) + ["n", "n0"]:  # flags carry meanings, the rest units
        assert "long_name" in ds[name].attrs, name
        assert ("units" in ds[name].attrs) != ("flag_meanings" in ds[name].attrs), name
    for attr in (
        "config",
        "relu_phase_version",
        "created",
        "numpy_version",
        "dask_version",
        "xarray_version",
        "n0_method",
        "tolerance",
        "seed",
        "Conventions",
    ):
        assert attr in ds.attrs, attr
    assert config.loads(ds.attrs["config"]).canonical() == config.loads(SMALL).canonical()
    assert ds.attrs["created"].endswith("+00:00")


def test_results_are_consistent(small_reference):
    ds = small_reference
    assert ((ds.success == 1) == (ds.rel_error <= 1e-4)).all()
    assert (ds.rel_error.where(ds.diverged == 1) == np.inf).sum() == (ds.diverged == 1).sum()
    assert not ds.rel_error.isnull().any()
    # the first `traces` trials keep a trace, on a dimension of their own, ending where
    # each trial's run ended with its final error
    assert ds.trace.sizes["traced_trial"] == 2 and list(ds.traced_trial.values) == [0, 1]
    first = ds[["iterations_run", "rel_error"]].sel(trial=[0, 1]).rename(trial="traced_trial")
    assert ds.trace.notnull().any("iteration").all()
    last = ds.trace.sel(iteration=first.iterations_run.astype(int))
    assert (last == first.rel_error).all()
    hit = ds.iterations.where(ds.success == 1)
    assert (hit >= 1).sum() == (ds.success == 1).sum()


def test_phase_transition_shows_in_the_quick_grid(small_reference):
    rate = small_reference.success.mean("trial")
    assert float(rate.sel(ratio=0.5).max()) <= 0.2
    assert float(rate.sel(ratio=6.0, regularizer="l0").min()) >= 0.8


@pytest.mark.parametrize("in_process", [False, True], ids=["processes", "threads"])
def test_same_numbers_whatever_workers_and_batches(small_reference, tmp_path, in_process):
    out = tmp_path / "one.nc"
    _run(SMALL, out, workers=1, batch_size=1, in_process=in_process)
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), small_reference)


def test_a_small_sweep_runs_on_threads_of_the_client(tmp_path):
    """Below the estimate's threshold, no worker process is started (starting them costs
    more than the work); above it, they are."""
    from sweep import runner

    said = []
    for text, threads in [(SMALL, True), (SLOW, False)]:
        cfg = config.loads(text)
        plan = plan_mod.Plan.from_config(cfg)
        assert (plan_mod.sweep_seconds(plan, plan_mod.make_tasks(cfg, 2)) < runner.IN_PROCESS_SECONDS) == threads
    runner.run(
        config.loads(SMALL),
        tmp_path / "s.nc",
        workers=2,
        progress=False,
        dashboard_address="127.0.0.1:0",
        log=said.append,
    )
    assert any(line.endswith("on threads of this process (a small sweep)") for line in said), said


def test_rerun_skips_done_work_and_a_changed_config_is_refused(tmp_path):
    out = tmp_path / "small.nc"
    first = _run(SMALL, out, workers=1)
    again = _run(SMALL, out, workers=1)
    assert first.computed == first.total and again.computed == 0
    changed = SMALL.replace("trials = 6", "trials = 7")
    with pytest.raises(config.InputError, match="trials"):
        _run(changed, out, workers=1)
    # parts computed by other code (another commit, an uncommitted edit) are not mixed in
    manifest = parts_path(out) / "manifest.json"
    m = json.loads(manifest.read_text())
    assert m["code"] == conventions.code_id()
    manifest.write_text(json.dumps(dict(m, code="0123456789abcdef")))
    with pytest.raises(config.InputError, match="^code = .*0123456789abcdef"):
        _run(SMALL, out, workers=1)


def test_killing_a_worker_loses_nothing(tmp_path, slow_reference):
    from distributed import Client, LocalCluster

    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "slow.nc"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        proc = _sweep_cli(cfg, "--out", out, "--cluster", cluster.scheduler_address, "--batch-size", 2, "--keep-parts")
        _wait_for_parts(parts_path(out), 2, proc)
        victim = next(iter(client.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    total = len(Parts(parts_path(out)).done())
    assert total == 24  # 2 cells x 12 tasks of 2 trials
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), slow_reference)


def test_killing_the_sweep_process_then_rerunning_finishes_the_same(tmp_path, slow_reference):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "slow.nc"
    parts = parts_path(out)
    proc = _sweep_cli(cfg, "--out", out, "--workers", 2, "--batch-size", 2, start_new_session=True)
    _wait_for_parts(parts, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the client, its cluster and workers: a dead machine
    proc.communicate()
    done = Parts(parts).done()
    # a fast machine may finish every task before the kill lands: then only assembly is left
    assert 3 <= len(done) <= 24 and (len(done) == 24 or not out.exists())
    out.unlink(missing_ok=True)
    for name in done:  # only complete part files
        with np.load(parts / f"{name}.npz") as z:
            assert z["rel_error"].shape == (2, 1, 1, 5, 2)
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweep",
            "run",
            str(cfg),
            "--out",
            str(out),
            "--workers",
            "2",
            "--no-progress",
            "--dashboard",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done)} already done, {24 - len(done)} to run" in rerun.stderr
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), slow_reference)


def test_status_and_resume(tmp_path):
    out = tmp_path / "small.nc"
    _run(SMALL, out, workers=1, batch_size=3)
    parts = parts_path(out)
    (parts / "d60-s2-t000000-000003.npz").unlink()
    out.unlink()
    status = subprocess.run([sys.executable, "-m", "sweep", "status", str(parts)], capture_output=True, text=True)
    assert status.returncode == 0 and "7 / 8 tasks" in status.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweep",
            "resume",
            str(parts),
            "--workers",
            "1",
            "--no-progress",
            "--dashboard",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
    )
    assert res.returncode == 0, res.stderr
    assert "7 already done, 1 to run" in res.stderr and out.exists()
    assert list(elsewhere.iterdir()) == []


def test_independent_sampling_draws_fresh_data(tmp_path, small_reference):
    out = tmp_path / "ind.nc"
    _run(SMALL.replace('name = "small"', 'name = "small"\nsampling = "independent"'), out, workers=2)
    with xr.open_dataset(out) as ds:
        assert not np.array_equal(ds.rel_error.values, small_reference.rel_error.values)
        assert float(ds.success.sel(ratio=0.5).mean()) <= 0.2


@pytest.mark.parametrize(
    "case",
    [
        dict(d=1000, s=20, trials=3, ratio="[0.5, 1.0, 2.0, 3.0, 4.0, 5.0]", dtype="float64"),
        dict(d=300, s=5, trials=3, ratio="[0.5, 6.0]", dtype="float64"),
        dict(d=800, s=16, trials=1, ratio="[1.0, 4.0]", dtype="float32"),
    ],
)
def test_a_task_stays_within_its_memory_estimate(case):
    """The estimate that validates memory_budget and sizes batches bounds the real peak."""
    import tracemalloc

    from sweep import engine, kernel

    text = (
        SMALL.replace("trials = 6", f"trials = {case['trials']}")
        .replace("traces = 2", f"traces = {min(2, case['trials'])}")
        .replace("d = [60, 100]", f"d = [{case['d']}]")
    )
    text = text.replace("s = [2, 4]", f"s = [{case['s']}]").replace(
        "ratio = [0.5, 1.0, 3.0, 6.0]", f"ratio = {case['ratio']}"
    )
    text = text.replace("iterations = 120", f'iterations = 200\ndtype = "{case["dtype"]}"')
    cfg = config.loads(text)
    plan = plan_mod.Plan.from_config(cfg)
    kernel.warm_up(case["dtype"])  # the compile is once a process, not a task's memory
    tracemalloc.start()
    engine.run_task(plan, plan_mod.Task(case["d"], case["s"], 0, case["trials"]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= plan_mod.task_bytes(cfg, case["d"], plan.ns(case["d"], case["s"]), case["trials"])


@pytest.mark.parametrize("round_", [0, 1])
def test_a_probe_task_stays_within_its_memory_estimate(round_):
    """Adaptive mode too: round 0 solves every ratio of a trial on its one X, a later round
    ``probes_per_trial`` sizes per (model, regularizer), here the largest the range allows
    (the biggest design), different for each model."""
    import tracemalloc

    from sweep import adaptive, engine, kernel

    text = ADAPTIVE.replace("d = [100]", "d = [1000]").replace("s = [2, 4]", "s = [20]")
    text = text.replace("iterations = 150", "iterations = 200")
    cfg = config.loads(text)
    plan = plan_mod.Plan.from_config(cfg)
    ns = plan.ns(1000, 20)
    if round_ == 0:
        per_trial = adaptive.first_placement(cfg, {(1000, 20): ns})[(1000, 20)]
    else:
        top = [tuple(range(ns[-1] - 5 * k - cfg.probes_per_trial + 1, ns[-1] - 5 * k + 1)) for k in range(2)]
        per_trial = tuple(tuple((top[i],) for _ in cfg.regularizers) for i in range(len(cfg.models)))
    batch = 2
    task = plan_mod.ProbeTask(1000, 20, 0, batch, round_, (per_trial,) * batch)
    kernel.warm_up(cfg.dtype)
    tracemalloc.start()
    engine.run_probe_task(plan, task)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= plan_mod.task_bytes(cfg, 1000, ns, batch)
