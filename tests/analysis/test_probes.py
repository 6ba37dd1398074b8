"""Probe datasets (ratio ranges, adaptive sweeps): transitions, flicker tables, figures and
reports, on constructed data with known answers and on the committed adaptive example."""

import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import analysis
from analysis import flicker, stats
from sweep import conventions, fit

ROOT = Path(__file__).resolve().parents[2]
ADAPTIVE = ROOT / "data" / "adaptive-quick.nc"

STRIPS = {  # trial -> outcome over n = 10 .. 19: known zones
    0: "0000011111",  # monotone: first = stable = 15
    1: "0010110111",  # first 12, stable 17, inside [12..16] = 1 0 1 1 0 -> 3/5
    2: "0000000000",  # never: no zone
    3: "0001111110",  # fails at the largest n: beyond the range
}


def _range_dataset(strips=STRIPS, n0=5.0):
    """A ratio-range dataset of one cell whose trials have the given strips."""
    n = np.arange(10, 20, dtype=float)
    T, P = len(strips), n.size
    success = np.array([[float(c) for c in strips[t]] for t in range(T)])
    shape = (1, 1, 1, 1, 1, T, P)
    ds = xr.Dataset(
        {
            "success": (conventions.PROBE_DIMS, success.reshape(shape)),
            "n": (conventions.PROBE_DIMS, np.broadcast_to(n, (T, P)).reshape(shape).copy()),
            "iterations": (conventions.PROBE_DIMS, np.where(success == 1, 10.0, -1.0).reshape(shape)),
        },
        coords=dict(
            model=["relu"],
            regularizer=["l0"],
            step_size=[1.0],
            d=[100],
            s=[2],
            trial=np.arange(T),
            probe=np.arange(P),
            n0=(("d", "s"), [[n0]]),
        ),
        attrs=dict(mode="grid", layout="probe", iterations=100),
    )
    return ds


def test_the_flicker_table_of_constructed_strips():
    table = flicker.flicker_table(_range_dataset())
    row = table.iloc[0]
    assert (row.trials, row.beyond_range) == (2, 1)  # trials 0 and 1 close; trial 3 does not
    assert row.non_monotone == 0.5
    assert row.width_median == pytest.approx(((15 - 15) / 5 + (17 - 12) / 5) / 2)
    assert row.inside_median == pytest.approx(3 / 5)
    assert row.n_first_median == pytest.approx(np.median([15, 12, 13]) / 5)


def test_strips_refuse_trials_probed_at_different_sizes():
    ds = _range_dataset()
    ds["n"][0, 0, 0, 0, 0, 1, 0] = 9.0
    with pytest.raises(ValueError, match="different sample sizes"):
        flicker.strips(ds, "relu", "l0", 100, 2)


def test_probe_transitions_are_the_fit_on_distinct_sizes():
    """On a probe dataset whose trials all share their sizes, the transition is
    ``transition_nested`` on the (size, trial) table, the grid's own estimator."""
    rng = np.random.default_rng(3)
    sizes = np.arange(20, 61, 4, dtype=float)
    thresholds = np.exp(np.log(38) + 0.2 * rng.standard_normal(40))
    success = (sizes[None, :] >= thresholds[:, None]).astype(float)
    ds = _range_dataset({t: "0" * 10 for t in range(40)})
    ds = ds.isel(probe=slice(0, 0)).reindex(probe=np.arange(sizes.size))
    ds["success"] = (conventions.PROBE_DIMS, success.reshape((1, 1, 1, 1, 1) + success.shape))
    ds["n"] = (conventions.PROBE_DIMS, np.broadcast_to(sizes, success.shape).reshape((1, 1, 1, 1, 1) + success.shape))
    got = stats.transitions(ds).isel(model=0, regularizer=0, step_size=0, d=0, s=0)
    want = fit.transition_nested(sizes, success.T)
    for key in ("n50", "n50_lower", "n50_upper"):
        assert float(got[key]) == pytest.approx(float(want[key]), rel=1e-12)
    assert abs(float(got.n50) / 38 - 1) < 0.1


@pytest.fixture(scope="module")
def adaptive_example():
    return analysis.open_sweep(ADAPTIVE)


def test_the_adaptive_example_is_small_and_adaptive(adaptive_example):
    assert ADAPTIVE.stat().st_size < 5 * 2**20
    ds = adaptive_example
    assert ds.attrs["mode"] == "adaptive" and "probe" in ds.dims and "ratio" not in ds.dims
    assert int(ds["round"].max()) >= 2
    # later rounds sit nearer the transition than the grid's ends
    fitted = stats.transitions(ds)
    for m in ds.model.values:
        cell = ds.sel(model=m, regularizer="l0", step_size=1.0).isel(d=0, s=0)
        n50 = float(fitted.n50.sel(model=m, regularizer="l0", step_size=1.0).isel(d=0, s=0))
        late = np.abs(np.log(cell.n.where(cell["round"] >= 2) / n50))
        early = np.abs(np.log(cell.n.where(cell["round"] == 0) / n50))
        assert float(late.median()) < float(early.median())


def test_the_report_of_an_adaptive_dataset(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(ADAPTIVE), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(tmp_path / "transitions.csv")
    assert list(table.columns) == [c for c in stats.CSV_COLUMNS if c not in stats.CONVEX_COLUMNS]
    assert table[table.cap == 200].n50.notnull().all()
    text = (tmp_path / "report.md").read_text()
    assert "Where the adaptive sweep spent its trials" in text and "![probes_l0](probes_l0.png)" in text
    img = mpimg.imread(tmp_path / "probes_l0.png")
    assert img.shape[0] > 400 and len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50


def test_the_report_of_a_range_dataset_has_strips_and_flicker_csv(tmp_path):
    from analysis import report

    ds = _range_dataset()
    for name in ("rel_error", "slope", "support_recovered", "diverged", "stalled", "iterations_run"):
        ds[name] = ds.success * 0
    for name in ("n0_approx", "n0_l1", "n0_l0_mc"):
        ds.coords[name] = ds.n0
    paths = report.report(ds, tmp_path)
    names = {p.name for p in paths}
    assert {"strips_l0.png", "probes_l0.png", "flicker.csv", "report.md"} <= names
    table = pd.read_csv(tmp_path / "flicker.csv")
    assert table.loc[0, "non_monotone"] == 0.5
    assert "The flicker zone" in (tmp_path / "report.md").read_text()


def _assert_the_precision_promise(ds):
    """Every cell the sweep closed before its budget (fewer trials than ``trials``: a cell
    gets probes each round until it closes) has, refitted by the analysis, a 95% interval
    whose half-width is at most ``precision`` times n50: what the README promises."""
    table = analysis.spending(ds)
    closed = table[table.closed]
    assert len(closed), "no cell closed early: the promise is not exercised"
    bad = closed[~closed.precision_reached]
    assert bad.empty, bad.to_string()
    assert (table[~table.closed].trials == ds.attrs["trials"]).all()


def test_a_real_adaptive_sweep_keeps_its_precision_promise(tmp_path):
    from tests.sweep.helpers import ADAPTIVE as TEXT
    from tests.sweep.helpers import run_config

    out = tmp_path / "adaptive.nc"
    run_config(TEXT.replace("precision = 0.1", "precision = 0.06"), out, workers=1, in_process=True)
    _assert_the_precision_promise(analysis.open_sweep(out))


@pytest.mark.parametrize("name", ["adaptive-quick.nc", "scale.nc", "step.nc"])
def test_the_committed_adaptive_datasets_keep_the_precision_promise(name):
    """A change to the fit that widens intervals after the fact fails here too."""
    _assert_the_precision_promise(analysis.open_sweep(ROOT / "data" / name))
