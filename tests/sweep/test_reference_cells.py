"""Dataset cells recomputed directly, one problem at a time, from the trial's own data.

Every other dataset test compares runs with runs; these recompute single cells of a fresh
sweep and of the committed datasets from ``draw_trial`` and ``kernel.solve`` (a problem
alone: results do not depend on batching) and compare every variable bit for bit, so an
axis or slot mixed up in assembly (ReLU stored under "linear", a ratio shifted) or drift
of the committed data fails here. A few cells far from chaos are checked against the plain
reference ``sweep.pgd.pgd`` too.
"""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sweep import config, kernel, pgd, problem
from sweep.engine import CONVEX_VARS, RESULT_VARS

ROOT = Path(__file__).resolve().parents[2]


def _recompute(ds, model, regularizer, d, s, ratio, trial):
    cfg = config.loads(ds.attrs["config"])
    n = int(ds.n.sel(d=d, s=s, ratio=ratio))
    key = (d, s, trial) if cfg.sampling == "nested" else (d, s, trial, round(ratio * 1e6))
    X, w_star = problem.draw_trial(cfg.seed, key, d, s, n, cfg.signal, np.dtype(cfg.dtype))
    labels = {model: problem.observe(X, w_star, model)}
    res = kernel.solve(X, w_star, labels, [kernel.Problem(model, regularizer, n)], cfg.iterations, cfg.tolerance)
    return res, (X, w_star, labels[model])


def _check_cell(ds, model, regularizer, d, s, ratio, trial):
    res, _ = _recompute(ds, model, regularizer, d, s, ratio, trial)
    cell = ds.sel(model=model, regularizer=regularizer, d=d, s=s, ratio=ratio, trial=trial)
    for name in [v for v in RESULT_VARS if v in ds and v not in CONVEX_VARS]:  # PGD's (the oracle: test_oracle)
        want = np.float64(getattr(res, name)[0] if name != "success" else res.rel_error[0] <= ds.attrs["tolerance"])
        got = float(cell[name])
        assert got == want or (np.isnan(got) and np.isnan(want)), (name, model, regularizer, d, s, ratio, trial)
    if "trace" in ds and trial < ds.attrs["traces"]:
        np.testing.assert_array_equal(cell.trace.sel(traced_trial=trial).values, res.trace[0])


def _cells(ds, count, rng):
    """``count`` cells spread over the dataset's axes, both models at each."""
    picks = []
    for _ in range(count):
        pick = dict(
            regularizer=str(rng.choice(ds.regularizer.values)),
            d=int(rng.choice(ds.d.values)),
            s=int(rng.choice(ds.s.values)),
            ratio=float(rng.choice(ds.ratio.values)),
            trial=int(rng.integers(ds.sizes["trial"])),
        )
        picks += [dict(pick, model=str(m)) for m in ds.model.values]
    return picks


def test_cells_of_a_fresh_sweep_equal_their_direct_computation(small_reference):
    for cell in _cells(small_reference, 6, np.random.default_rng(1)):
        _check_cell(small_reference, **cell)


@pytest.mark.parametrize("name, count", [("example.nc", 6), ("cap.nc", 2)])
def test_committed_datasets_have_not_drifted(name, count):
    with xr.open_dataset(ROOT / "data" / name) as ds:
        ds = ds.load()
    cells = _cells(ds, count, np.random.default_rng(len(name)))
    # the cell where ReLU and linear differ most in the example: a model swap cannot pass
    if name == "example.nc":
        cells += [
            dict(model=m, regularizer="l0", d=200, s=5, ratio=1.5, trial=t) for m in ("relu", "linear") for t in (0, 1)
        ]
    for cell in cells:
        _check_cell(ds, **cell)


def test_cells_far_from_chaos_agree_with_the_plain_reference():
    """Linear l0 well above its transition and ReLU well below: pgd.pgd (numpy, one
    problem) reaches the same verdict at the same iteration as the dataset."""
    with xr.open_dataset(ROOT / "data" / "example.nc") as ds:
        ds = ds.load()
    for model, ratio in (("linear", 4.0), ("linear", 0.5), ("relu", 6.0), ("relu", 0.5)):
        for trial in (0, 3):
            _, (X, w_star, y) = _recompute(ds, model, "l0", 200, 5, ratio, trial)
            cell = ds.sel(model=model, regularizer="l0", d=200, s=5, ratio=ratio, trial=trial)
            errors = pgd.pgd(X, y, w_star, model, "l0", ds.attrs["iterations"], ds.attrs["tolerance"])
            hit = np.flatnonzero(errors <= ds.attrs["tolerance"])
            assert float(cell.iterations) == (hit[0] if hit.size else -1), (model, ratio, trial)
            assert float(cell.success) == float(hit.size > 0)
