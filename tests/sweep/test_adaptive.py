"""Rounds of probes: adaptive mode and ratio ranges, against known answers, the plain
reference solver, other worker counts and batch sizes, and kills."""

import dataclasses
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from scipy import stats as sps

from sweep import adaptive, config, dataset, fit, pgd, problem
from sweep import plan as plan_mod
from sweep.parts import Parts, parts_path

from .helpers import ADAPTIVE, ADAPTIVE_SLOW, assert_same_numbers
from .helpers import run_config as _run
from .helpers import sweep_cli as _sweep_cli
from .helpers import wait_for_parts as _wait_for_parts


def _synthetic(cfg, thresholds):
    """Drive a one-cell adaptive config on a known success model: trial ``t`` succeeds at
    ``n`` exactly when ``n >= thresholds[t]`` (so ``p(n) = P(threshold <= n)``), with no
    PGD in the loop. Returns the data and the drive's progress."""
    sizes = plan_mod.sample_sizes(cfg, {(cfg.d[0], cfg.s[0]): 100.0})
    data = dataset.probe_arrays(cfg, sizes)

    def read(tasks):
        for task in tasks:
            for b, trial in enumerate(range(task.start, task.stop)):
                ns = task.probes[b][0][0][0]
                data["n"][0, 0, 0, 0, 0, trial, : len(ns)] = ns
                data["success"][0, 0, 0, 0, 0, trial, : len(ns)] = np.asarray(ns) >= thresholds[trial]

    progress = adaptive.drive(cfg, sizes, 8, data, set(), read, compute=lambda *a: None)
    return data, progress


def _one_cell(**adaptive_table):
    text = ADAPTIVE.replace('regularizers = ["l0", "l1"]', 'regularizers = ["l0"]')
    text = text.replace('models = ["relu", "linear"]', 'models = ["relu"]').replace("s = [2, 4]", "s = [2]")
    text = text.replace("trials = 40", "trials = 400").replace("precision = 0.1", "precision = 0.02")
    cfg = config.loads(text)
    return dataclasses.replace(cfg, **adaptive_table)


@pytest.mark.parametrize("spread, precision", [(0.15, 0.02), (0.4, 0.04)])
def test_probes_converge_to_the_true_n50_of_a_known_curve(spread, precision):
    """Per-trial thresholds log-normal around n50 = 180 (n0 = 100, ratios 0.5-4): the
    probes move to the turn of the curve, the cell stops at the precision asked for,
    before the budget, and its n50 is the true one within twice that precision."""
    cfg = _one_cell(precision=precision)
    rng = np.random.default_rng(1)
    thresholds = np.exp(np.log(180.0) + spread * rng.standard_normal(cfg.trials))
    data, progress = _synthetic(cfg, thresholds)
    (a, b), est = adaptive.cell_fit(data["n"][0, 0, 0, 0, 0], data["success"][0, 0, 0, 0, 0])
    assert adaptive.is_precise(est, cfg.precision) and progress.open_cells == 0
    used = int(np.isfinite(data["n"][0, 0, 0, 0, 0]).any(axis=1).sum())
    assert used < cfg.trials
    assert abs(est["n50"] / 180.0 - 1) <= 2 * cfg.precision
    # later rounds' probes sit between the curve's 5% and 95% points, not on the grid's ends
    later = data["n"][0, 0, 0, 0, 0, cfg.first_trials : used]
    band = np.exp(np.log(180.0) + spread * sps.norm.ppf([0.05, 0.95]))
    inside = (later >= band[0] - 1) & (later <= band[1] + 1)
    assert inside[np.isfinite(later)].mean() > 0.8


@pytest.mark.parametrize("seed", range(4))
def test_a_closed_cell_is_as_precise_as_promised(seed):
    """The promise itself, on a known curve: a cell that stopped before its budget has an
    interval (refitted by the fit itself, not the stopping rule) whose half-width is at most
    ``precision`` times n50."""
    cfg = _one_cell(precision=0.03)
    thresholds = np.exp(np.log(180.0) + 0.15 * np.random.default_rng(seed).standard_normal(cfg.trials))
    data, _ = _synthetic(cfg, thresholds)
    n, success = data["n"][0, 0, 0, 0, 0], data["success"][0, 0, 0, 0, 0]
    assert np.isfinite(n).any(axis=1).sum() < cfg.trials  # closed
    sizes, outcome = adaptive.by_size(n, success)
    est = fit.transition_nested(sizes, outcome)
    assert (est["n50_upper"] - est["n50_lower"]) / 2 <= cfg.precision * est["n50"]


def test_the_interval_the_sweep_stops_on_covers_the_true_n50():
    """Over 12 replications of the synthetic sweep (optional stopping included), the final
    interval holds the true n50 in at least 10 (9 or fewer of 12 happens with probability 2%
    if its coverage is 95%; run to 20 replications it held in 20, and in 18 at a precision of
    0.02 with a narrower curve)."""
    cfg = _one_cell(precision=0.04)
    hits = 0
    for rep in range(12):
        thresholds = np.exp(np.log(180.0) + 0.3 * np.random.default_rng(100 + rep).standard_normal(cfg.trials))
        data, _ = _synthetic(cfg, thresholds)
        _, est = adaptive.cell_fit(data["n"][0, 0, 0, 0, 0], data["success"][0, 0, 0, 0, 0])
        hits += est["n50_lower"] <= 180.0 <= est["n50_upper"]
    assert hits >= 10


def test_without_a_transition_the_probes_spread_over_the_range():
    cfg = _one_cell()
    assert adaptive.quantile_sizes(cfg, (np.nan, np.nan), 50, 400) == (62, 94, 142, 215, 325)
    # a fit far outside the range is clipped to its ends
    assert adaptive.quantile_sizes(cfg, (-100.0, 1.0), 50, 400) == (400,)


def test_same_numbers_whatever_workers_and_batches(tmp_path):
    """Rounds are barriers and placement depends only on earlier rounds: threads or
    processes, one task per trial or four trials a task, the same dataset."""
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    _run(ADAPTIVE, a, workers=1, batch_size=1, in_process=True)
    _run(ADAPTIVE, b, workers=2, batch_size=4, in_process=False)
    with xr.open_dataset(a) as x, xr.open_dataset(b) as y:
        assert_same_numbers(x.load(), y.load())
        assert x.attrs["mode"] == "adaptive" and x.sizes["probe"] == 5
        r = x["round"].max().item()
        assert r >= 2  # more than the grid's round ran
        # a trial of a later round has at most probes_per_trial probes, between the grid's ends
        later = x.n.where(x["round"] >= 1)
        assert int(later.notnull().sum("probe").max()) <= 5
        sizes = plan_mod.sample_sizes(config.loads(ADAPTIVE))
        for k, s in enumerate(x.s.values):
            n = x.n.isel(d=0, s=k)
            assert float(n.min()) >= min(sizes[(100, s)]) and float(n.max()) <= max(sizes[(100, s)])


def test_a_trial_at_any_n_is_the_grid_trial_at_that_n(tmp_path):
    """A probe at n solves X[:n] of the trial's one design, as the grid mode does: a ratio
    range's outcome at each n equals the plain reference solver's (``sweep.pgd.pgd``) on
    the same data, for every n of the range."""
    text = """
name = "range"
seed = 4
trials = 2
iterations = 150
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0"]
[grid]
d = [40]
s = [2]
ratio_range = [0.8, 3.0]
"""
    out = tmp_path / "r.nc"
    _run(text, out, workers=1, in_process=True)
    cfg = config.loads(text)
    with xr.open_dataset(out) as ds:
        ds.load()
    ns = plan_mod.sample_sizes(cfg)[(40, 2)]
    assert ns == list(range(ns[0], ns[-1] + 1)) and ds.sizes["probe"] == len(ns)
    for trial in range(2):
        X, w_star = problem.draw_trial(cfg.seed, (40, 2, trial), 40, 2, max(ns))
        for model in cfg.models:
            y = problem.observe(X, w_star, model)
            flags = [
                np.nanmin(pgd.pgd(X[:n], y[:n], w_star, model, "l0", cfg.iterations, cfg.tolerance)) <= cfg.tolerance
                for n in ns
            ]
            got = ds.success.sel(model=model, regularizer="l0").isel(d=0, s=0, trial=trial).values
            np.testing.assert_array_equal(got, np.array(flags, dtype=float))
            np.testing.assert_array_equal(ds.n.sel(model=model, regularizer="l0").isel(d=0, s=0, trial=trial), ns)


def test_status_and_a_running_sweeps_parts_folder(tmp_path):
    import analysis

    out = tmp_path / "ad.nc"
    _run(ADAPTIVE, out, workers=1, in_process=True)
    parts = parts_path(out)
    last = sorted(p.name for p in parts.glob("r*.npz"))[-1]
    (parts / last).unlink()
    out.unlink()
    status = subprocess.run([sys.executable, "-m", "sweep", "status", str(parts)], capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    assert "cells open" in status.stdout and "in round" in status.stdout
    ds = analysis.open_sweep(parts)
    assert ds.attrs["tasks_done"] == ds.attrs["tasks"] - 1
    assert ds.n.notnull().any()


@pytest.fixture(scope="module")
def adaptive_slow_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("adaptive-slow") / "a.nc"
    _run(ADAPTIVE_SLOW, out, workers=2, batch_size=3, in_process=False)
    with xr.open_dataset(out) as ds:
        return ds.load()


def test_killing_a_worker_mid_round_loses_nothing(tmp_path, adaptive_slow_reference):
    from distributed import Client, LocalCluster

    cfg = tmp_path / "a.toml"
    cfg.write_text(ADAPTIVE_SLOW)
    out = tmp_path / "a.nc"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        proc = _sweep_cli(cfg, "--out", out, "--cluster", cluster.scheduler_address, "--batch-size", 1)
        _wait_for_parts(parts_path(out), 2, proc, prefix="r001")
        victim = next(iter(client.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), adaptive_slow_reference)


def test_killing_the_sweep_mid_round_then_rerunning_finishes_the_same(tmp_path, adaptive_slow_reference):
    cfg = tmp_path / "a.toml"
    cfg.write_text(ADAPTIVE_SLOW)
    out = tmp_path / "a.nc"
    parts = parts_path(out)
    proc = _sweep_cli(cfg, "--out", out, "--workers", 2, "--batch-size", 2, start_new_session=True)
    _wait_for_parts(parts, 1, proc, prefix="r001")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    done = Parts(parts).done()
    assert any(n.startswith("r001") for n in done)
    out.unlink(missing_ok=True)
    rerun = _sweep_cli(cfg, "--out", out, "--workers", 2)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"{len(done)} tasks already done" in err
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), adaptive_slow_reference)


def test_separated_outcomes_never_close_a_cell():
    """Every trial failing at n <= 100 and succeeding at n >= 200: the fit puts n50 at their
    geometric mean and every resample agrees, a zero-width interval that says nothing. The
    cell stays open."""
    n = np.tile([50.0, 100.0, 200.0, 300.0], (8, 1))
    success = (n >= 200).astype(float)
    _, est = adaptive.cell_fit(n, success)
    assert est["separated"] and est["n50_upper"] - est["n50_lower"] < 1
    assert not adaptive.is_precise(est, 0.02)
    success[0, 1] = 1.0  # one trial succeeds at 100: no longer separated
    _, est = adaptive.cell_fit(n, success)
    assert not est["separated"]


def test_no_cell_closes_on_the_grid_alone():
    """However loose the precision, a cell runs one round of fitted probes before it
    closes: round 0's interval between two grid sizes is the link's guess."""
    cfg = _one_cell(precision=0.5)
    thresholds = np.exp(np.log(180.0) + 0.3 * np.random.default_rng(7).standard_normal(cfg.trials))
    data, progress = _synthetic(cfg, thresholds)
    used = int(np.isfinite(data["n"][0, 0, 0, 0, 0]).any(axis=1).sum())
    assert progress.open_cells == 0 and used == cfg.first_trials + cfg.round_trials
