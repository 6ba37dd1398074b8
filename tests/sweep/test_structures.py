"""Structures of w* beyond sparse vectors: how w* is drawn, what the config accepts, and a
group-sparse sweep end to end (every cell the kernel's and the reference's)."""

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sweep import config, kernel, problem, projections, steps, structures, theory
from sweep.errors import InputError

from .helpers import ADAPTIVE, SMALL, check_cell_against_kernel_and_reference, random_cell, run_config

GROUP = SMALL.replace('regularizers = ["l0", "l1"]', 'regularizers = ["group-l0", "group-l1"]\ngroup_size = 4').replace(
    "d = [60, 100]", "d = [80, 120]"
)


@pytest.mark.parametrize("seed", range(5))
def test_a_group_signal_has_s_unit_norm_groups(seed):
    rng = problem.trial_rng(seed, (120, 3, 0))
    w = problem.planted_signal(rng, 120, 3, structure="group", group_size=4)
    norms = np.linalg.norm(w.reshape(30, 4), axis=1)
    assert np.count_nonzero(norms) == 3 and math.isclose(np.linalg.norm(w), 1.0, rel_tol=1e-15)
    assert np.count_nonzero(w) == 12  # whole groups, Gaussian entries


def test_group_signals_choose_groups_uniformly():
    hits = np.zeros(10)
    for t in range(2000):
        w = problem.planted_signal(problem.trial_rng(0, (40, 2, t)), 40, 2, structure="group", group_size=4)
        hits += np.linalg.norm(w.reshape(10, 4), axis=1) > 0
    assert hits.min() > 0.8 * 400 and hits.max() < 1.2 * 400


@pytest.mark.parametrize("r", [1, 2, 5])
def test_a_lowrank_signal_has_its_rank_and_unit_frobenius_norm(r):
    w = problem.planted_signal(problem.trial_rng(1, (144, r, 0)), 144, r, structure="lowrank")
    W = w.reshape(12, 12)
    assert np.linalg.matrix_rank(W) == r and math.isclose(np.linalg.norm(W), 1.0, rel_tol=1e-15)


def test_sparse_signals_are_the_ones_they_always_were():
    """The paper's draw is unchanged by the registry: the same bits as drawn by hand."""
    rng, again = problem.trial_rng(3, (50, 5, 1)), problem.trial_rng(3, (50, 5, 1))
    support = np.sort(again.choice(50, size=5, replace=False))
    values = again.standard_normal(5)
    want = np.zeros(50)
    want[support] = values / math.sqrt(math.fsum(values * values))
    np.testing.assert_array_equal(problem.planted_signal(rng, 50, 5), want)


def test_every_set_names_a_registered_structure_with_n0_methods():
    for cset in projections.CONSTRAINTS.values():
        kind = structures.get(cset.structure)
        assert {"approx", "l1"} <= set(kind.n0)


def test_an_unknown_structure_or_method_names_the_known_ones():
    with pytest.raises(ValueError, match="approx"):
        structures.n0("sparse", 2, 10, "l2")
    with pytest.raises(ValueError, match="lowrank"):
        structures.n0("banded", 2, 10)


@pytest.mark.parametrize(
    "base, old, new, field",
    [
        ("sparse", 'regularizers = ["l0", "l1"]', 'regularizers = ["l0", "group-l1"]\ngroup_size = 4', "regularizers"),
        ("sparse", 'regularizers = ["l0", "l1"]', 'regularizers = ["group-l0"]', "group_size"),
        ("sparse", "seed = 7", "seed = 7\ngroup_size = 4", "group_size"),
        ("group", "group_size = 4", "group_size = 3", "grid.d"),
        ("group", "s = [2, 4]", "s = [2, 20]", "grid.s"),
        ("group", "seed = 7", 'seed = 7\nsignal = "rademacher"', "signal"),
        ("group", "seed = 7", 'seed = 7\nn0 = "l0-mc"', "n0"),
        ("group", "group_size = 4", "group_size = 0", "group_size"),
    ],
)
def test_group_configs_are_checked_field_by_field(base, old, new, field):
    text = {"sparse": SMALL, "group": GROUP}[base]
    assert old in text
    with pytest.raises(InputError) as err:
        config.loads(text.replace(old, new))
    assert str(err.value).startswith(field + " ")


LOWRANK = SMALL.replace('regularizers = ["l0", "l1"]', 'regularizers = ["rank", "nuclear"]').replace(
    "d = [60, 100]", "d = [64, 100]"
)


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("d = [64, 100]", "d = [64, 90]", "grid.d"),
        ("s = [2, 4]", "s = [2, 8]", "grid.s"),
        ("seed = 7", "seed = 7\ngroup_size = 2", "group_size"),
        ("seed = 7", 'seed = 7\nn0 = "l0-mc"', "n0"),
    ],
)
def test_lowrank_configs_are_checked_field_by_field(old, new, field):
    assert old in LOWRANK
    with pytest.raises(InputError) as err:
        config.loads(LOWRANK.replace(old, new))
    assert str(err.value).startswith(field + " ")


def test_a_lowrank_sweep_keeps_its_monte_carlo_n0_and_its_error(tmp_path):
    out = tmp_path / "lr.nc"
    run_config(LOWRANK.replace("ratio = [0.5, 1.0, 3.0, 6.0]", "ratio = [1.0, 6.0]"), out, workers=1, in_process=True)
    with xr.open_dataset(out) as ds:
        assert ds.attrs["structure"] == "lowrank" and "group_size" not in ds.attrs
        value, se = theory.n0_nuclear_mc(2, 64, seed=7)
        assert float(ds.n0_l1.sel(d=64, s=2)) == value and float(ds.n0_l1_se.sel(d=64, s=2)) == se
        assert float(ds.n0.sel(d=64, s=2)) == theory.n0_rank_approx(2, 64)
        cfg = config.loads(LOWRANK)
        X, w = problem.draw_trial(7, (64, 2, 0), 64, 2, int(ds.n.sel(d=64, s=2, ratio=6.0)), structure="lowrank")
        y = problem.observe(X, w, "linear")
        res = kernel.solve(X, w, {"linear": y}, [kernel.Problem("linear", "nuclear", len(y))], cfg.iterations, 1e-4)
        assert (
            float(ds.iterations.sel(model="linear", regularizer="nuclear", d=64, s=2, ratio=6.0, trial=0))
            == (res.iterations[0])
        )


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    out = tmp_path_factory.mktemp("group") / "group.nc"
    run_config(GROUP.replace("seed = 7", 'seed = 7\nstep_sizes = [1.0, "normalized"]'), out, workers=1, in_process=True)
    with xr.open_dataset(out) as ds:
        return ds.load()


def test_a_group_sweep_says_its_structure_and_its_n0(grouped):
    assert grouped.attrs["structure"] == "group" and grouped.attrs["group_size"] == 4
    assert "n0_l0_mc" not in grouped.coords
    for d in grouped.d.values:
        for s in grouped.s.values:
            assert float(grouped.n0_l1.sel(d=d, s=s)) == theory.n0_group_l1(int(s), 4, int(d))
            assert float(grouped.n0.sel(d=d, s=s)) == theory.n0_group_approx(int(s), 4, int(d))
    assert "group-l1" in grouped.n0_l1.attrs["long_name"] and "groups" in grouped.s.attrs["long_name"]
    assert float(grouped.success.mean()) > 0.2  # not a sweep of failures


def test_group_cells_are_their_direct_computation_and_the_reference(grouped):
    cfg = config.loads(GROUP)
    rng = np.random.default_rng(2)
    for _ in range(8):
        cell = random_cell(grouped, rng)
        step = float(rng.choice(grouped.step_size.values))
        check_cell_against_kernel_and_reference(grouped, cfg, int(rng.integers(grouped.sizes["trial"])), step, **cell)


def test_an_adaptive_group_sweep_runs(tmp_path):
    text = ADAPTIVE.replace('regularizers = ["l0", "l1"]', 'regularizers = ["group-l1"]\ngroup_size = 5').replace(
        "s = [2, 4]", "s = [2]"
    )
    out = tmp_path / "a.nc"
    run_config(text, out, workers=1, in_process=True)
    with xr.open_dataset(out) as ds:
        assert ds.attrs["structure"] == "group" and ds.n.dims[-1] == "probe"
        assert int(ds["round"].max()) >= 1 and float(ds.success.mean()) > 0


@pytest.mark.parametrize("name", ["structures-group.nc", "structures-lowrank.nc"])
def test_the_committed_structure_studies_have_not_drifted(name):
    """Probes of the committed studies recomputed alone by the kernel: bit for bit where the
    kernel is its own loops (group), to rounding where it calls LAPACK (low rank)."""
    path = Path(__file__).resolve().parents[2] / "data" / name
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    cfg = config.loads(ds.attrs["config"])
    rng = np.random.default_rng(len(name))
    checked = 0
    while checked < 4:
        dims = ("model", "regularizer", "s", "trial", "probe") + (("step_size",) if "step_size" in ds.dims else ())
        pick = {dim: int(rng.integers(ds.sizes[dim])) for dim in dims}
        cell = ds.isel(d=0, **pick)
        if np.isnan(float(cell.n)):
            continue
        d, s, n, model = int(cell.d), int(cell.s), int(cell.n), str(cell.model.values)
        X, w = problem.draw_trial(
            cfg.seed, (d, s, int(cell.trial)), d, s, n, structure=cfg.structure, group_size=cfg.block
        )
        y = problem.observe(X, w, model)
        step = float(cell.step_size) if "step_size" in ds.dims else 1.0
        p = kernel.Problem(model, str(cell.regularizer.values), n, steps.on_axis(step))
        res = kernel.solve(X, w, {model: y}, [p], cfg.iterations, cfg.tolerance, group_size=cfg.block)
        names = ("rel_error", "iterations", "iterations_run", "stalled") + (("shrinks",) if "shrinks" in ds else ())
        if cfg.structure == "lowrank":
            # The SVD is LAPACK's, whose kernels (and so its rounding) the CPU picks: bit for
            # bit on the machine that wrote the file only. Elsewhere a converged trial ends the
            # same to rounding; one that does not contract may wander anywhere, but not to w*.
            converged = float(cell.rel_error) < cfg.tolerance
            assert converged == (res.rel_error[0] < cfg.tolerance), (name, pick)
            if converged:
                assert float(cell.rel_error) == pytest.approx(res.rel_error[0], rel=1e-6), (name, pick)
                assert int(cell.iterations) == res.iterations[0], (name, pick)
        else:
            for var in names:
                assert float(cell[var]) == np.float64(getattr(res, var)[0]), (name, pick, var)
        checked += 1
