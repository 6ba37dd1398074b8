"""The step size as an axis: a config without it writes the files it always wrote, one
with it writes a step_size dimension whose step-1 slice is that same sweep, and every cell
at every step is the reference algorithm's."""

import numpy as np
import pytest
import xarray as xr

from sweep import config, kernel, pgd, problem
from sweep.engine import RESULT_VARS

from .helpers import ADAPTIVE, SMALL, run_config

STEPS = SMALL.replace("seed = 7", "seed = 7\nstep_sizes = [1.0, 0.5, 0.25]")


@pytest.fixture(scope="module")
def stepped(tmp_path_factory):
    out = tmp_path_factory.mktemp("steps") / "steps.nc"
    run_config(STEPS, out, workers=2, batch_size=3)
    with xr.open_dataset(out) as ds:
        return ds.load()


def test_step_sizes_add_the_step_size_dimension(stepped):
    assert stepped.success.dims == ("model", "regularizer", "step_size", "d", "s", "ratio", "trial")
    assert stepped.trace.dims[:3] == ("model", "regularizer", "step_size")
    assert list(stepped.step_size.values) == [0.25, 0.5, 1.0]
    assert stepped.step_size.attrs["long_name"].startswith("PGD step size")


def test_the_paper_step_of_a_stepped_sweep_is_the_sweep_without_steps(stepped, small_reference):
    """Bit for bit: the step-1 slice is the sweep of the config without step_sizes (what
    every committed dataset is), so adding steps to a config changes no number at step 1."""
    at_one = stepped.sel(step_size=1.0, drop=True)
    for name in list(small_reference.data_vars) + ["n", "n0"]:
        want = small_reference[name]
        got = at_one[name].transpose(*want.dims)
        assert got.values.tobytes() == want.values.tobytes(), name


def test_the_steps_change_the_outcomes(stepped):
    """Not three copies of one step: the smaller steps succeed differently."""
    rate = stepped.success.mean("trial")
    assert float(abs(rate.sel(step_size=0.25) - rate.sel(step_size=1.0)).max()) > 0.2


@pytest.mark.parametrize("step", [1.0, 0.5, 0.25])
def test_cells_at_every_step_are_their_direct_computation_and_the_reference(stepped, step):
    """Each cell recomputed alone by the kernel equals the dataset bit for bit; the plain
    reference reaches tolerance at the same iteration where it is far from chaos."""
    cfg = config.loads(STEPS)
    rng = np.random.default_rng(int(step * 8))
    for _ in range(6):
        cell = dict(
            model=str(rng.choice(stepped.model.values)),
            regularizer=str(rng.choice(stepped.regularizer.values)),
            d=int(rng.choice(stepped.d.values)),
            s=int(rng.choice(stepped.s.values)),
            ratio=float(rng.choice(stepped.ratio.values)),
        )
        trial = int(rng.integers(stepped.sizes["trial"]))
        n = int(stepped.n.sel(d=cell["d"], s=cell["s"], ratio=cell["ratio"]))
        X, w = problem.draw_trial(cfg.seed, (cell["d"], cell["s"], trial), cell["d"], cell["s"], n)
        y = problem.observe(X, w, cell["model"])
        p = kernel.Problem(cell["model"], cell["regularizer"], n, step)
        res = kernel.solve(X, w, {cell["model"]: y}, [p], cfg.iterations, cfg.tolerance)
        got = stepped.sel(step_size=step, trial=trial, **cell)
        for name in RESULT_VARS:
            want = res.rel_error[0] <= cfg.tolerance if name == "success" else getattr(res, name)[0]
            assert float(got[name]) == np.float64(want) or np.isnan(want) and np.isnan(float(got[name])), name
        errors = pgd.pgd(X, y, w, cell["model"], cell["regularizer"], cfg.iterations, cfg.tolerance, step=step)
        hit = np.flatnonzero(errors <= cfg.tolerance)
        if res.rel_error[0] < 1e-6 or not np.isfinite(res.rel_error[0]) or res.rel_error[0] > 0.5:
            assert float(got.iterations) == (hit[0] if hit.size else -1), (cell, trial, step)


def test_adaptive_cells_are_per_step(tmp_path):
    text = ADAPTIVE.replace("seed = 5", "seed = 5\nstep_sizes = [1.0, 0.5]").replace(
        'regularizers = ["l0", "l1"]', 'regularizers = ["l1"]'
    )
    out = tmp_path / "a.nc"
    run_config(text, out, workers=1, in_process=True)
    with xr.open_dataset(out) as ds:
        assert ds.n.dims == ("model", "regularizer", "step_size", "d", "s", "trial", "probe")
        # each step's probes follow its own fit: the later rounds' sizes differ between steps
        later = ds.n.where(ds["round"] > 0)
        assert not np.array_equal(later.sel(step_size=1.0).values, later.sel(step_size=0.5).values, equal_nan=True)


def test_step_sizes_are_validated_and_sorted():
    cfg = config.loads(SMALL.replace("seed = 7", "seed = 7\nstep_sizes = [1, 0.25, 4]"))
    assert cfg.steps == (0.25, 1.0, 4.0) and cfg.step_axis
    plain = config.loads(SMALL)
    assert plain.steps == (pgd.PAPER_STEP,) and not plain.step_axis
