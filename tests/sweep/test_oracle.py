"""The convex limit (docs/design.md#the-convex-limit): the programs against instances whose
answer is known, the ReLU program against the linear one on the positive rows, bisection
against solving every size, the theory's ReLU limit against measured programs, and the
sweep's ``convex_success`` against the program solved again on the trial's own data."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sweep import config, oracle, problem, steps, structures, theory
from sweep.errors import InputError

from .helpers import run_config

ROOT = Path(__file__).resolve().parents[2]

CONVEX = """
name = "convex"
seed = 3
trials = 40
iterations = 400
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0", "l1"]
n0 = "l1"
convex_limit = true
[grid]
d = [100]
s = [4]
ratio = [0.5, 0.7, 0.85, 1.0, 1.15, 1.3, 1.6, 1.8, 2.0, 2.2, 2.5, 3.0, 4.0]
"""


@pytest.fixture(scope="module")
def convex_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("convex") / "convex.nc"
    run_config(CONVEX, out, workers=2)
    with xr.open_dataset(out) as ds:
        return ds.load()


# --- the programs on instances whose answer is known -------------------------------------------


def test_l1_program_on_hand_built_instances():
    """``w* = e1`` in R^2 with one row: ``(1, 0.5)`` makes it the unique l1 minimizer (any move
    along the row's null space (-0.5, 1) raises the norm); ``(1, 2)`` does not ((0, 0.5) has
    norm 0.5 < 1)."""
    w = np.array([1.0, 0.0])
    assert oracle.recovers("l1", np.array([[1.0, 0.5]]), np.array([1.0]), "linear", w, 1e-6) == (True, False)
    assert oracle.recovers("l1", np.array([[1.0, 2.0]]), np.array([1.0]), "linear", w, 1e-6) == (False, False)


def test_relu_program_reads_zero_outputs_as_inequalities():
    """A zero output is ``<x_i, w> <= 0``. With ``w* = e1``, the positive row ``(1, 2)`` alone
    lets ``(0, 0.5)`` win; the zero row ``(0, 1)`` (``<x, w*> = 0``: active, the one case where
    a zero row binds) forbids ``w_2 > 0`` and leaves ``w*`` the unique minimizer. Read as an
    equality ``<x, w> = 0`` it would also give ``w*``; dropped, it would not."""
    w = np.array([1.0, 0.0])
    X = np.array([[1.0, 2.0], [0.0, 1.0]])
    y = np.maximum(X @ w, 0)
    assert y[1] == 0
    assert oracle.recovers("l1", X, y, "relu", w, 1e-6) == (True, False)
    A_eq, b_eq, A_ub = oracle.constraints(X, y, "relu")
    assert A_eq.tolist() == [[1.0, 2.0]] and b_eq.tolist() == [1.0] and A_ub.tolist() == [[0.0, 1.0]]
    assert oracle.recovers("l1", X[:1], y[:1], "relu", w, 1e-6) == (False, False)


def test_none_is_unique_exactly_at_full_column_rank(rng):
    d = 12
    w = rng.standard_normal(d)
    X = rng.standard_normal((40, d))
    for n, want in [(d - 1, False), (d, True), (30, True)]:
        assert oracle.recovers("none", X[:n], X[:n] @ w, "linear", w, 1e-6) == (want, False)


@pytest.mark.parametrize(
    "regularizer, structure, d, s, g", [("group-l1", "group", 64, 2, 4), ("nuclear", "lowrank", 64, 1, 1)]
)
def test_conic_programs_recover_far_above_and_fail_far_below(regularizer, structure, d, s, g):
    """Clarabel through cvxpy: every trial at 2 δ (linear) succeeds, none at δ / 2."""
    delta = structures.n0(structure, s, d, "l1", g)[0]
    for trial in range(3):
        X, w = problem.draw_trial(5, (d, s, trial), d, s, int(2 * delta), structure=structure, group_size=g)
        y = problem.observe(X, w, "linear")
        assert oracle.recovers(regularizer, X, y, "linear", w, 1e-4, g) == (True, False)
        half = int(delta / 2)
        assert oracle.recovers(regularizer, X[:half], y[:half], "linear", w, 1e-4, g) == (False, False)


def test_a_solver_failure_is_a_recorded_failure(monkeypatch):
    monkeypatch.setitem(oracle.PROGRAMS, "l1", dataclasses.replace(oracle.PROGRAMS["l1"], solve=lambda *a: None))
    w = np.array([1.0, 0.0])
    assert oracle.recovers("l1", np.array([[1.0, 0.5]]), np.array([1.0]), "linear", w, 1e-6) == (False, True)
    success, failed = oracle.limit("l1", np.array([[1.0, 0.5]]), np.array([1.0]), "linear", w, [1], 1e-6)
    assert success == {1: False} and failed == {1}


# --- the argument, on random instances -----------------------------------------------------


def test_the_relu_program_equals_the_linear_program_on_the_positive_rows(rng):
    """Step 1 of the argument: on Gaussian data the zero rows never decide (both programs
    succeed or fail together, and a success is the same point)."""
    d, s, agree = 80, 4, 0
    for trial in range(30):
        X, w = problem.draw_trial(11, (d, s, trial), d, s, 90)
        y = problem.observe(X, w, "relu")
        n = int(rng.integers(20, 60))  # around 2 δ (about 40 here)
        relu = oracle.recovers("l1", X[:n], y[:n], "relu", w, 1e-6)
        positive = y[:n] > 0
        linear = oracle.recovers("l1", X[:n][positive], y[:n][positive], "linear", w, 1e-6)
        assert relu == linear, (trial, n)
        agree += relu[0]
    assert 5 <= agree <= 25  # both outcomes were seen


def test_bisection_equals_solving_every_size():
    """Uniqueness is monotone in n on nested designs: the bisection's answer is every size's."""
    d, s = 80, 4
    ns = list(range(10, 120, 6))
    for trial in range(4):
        X, w = problem.draw_trial(13, (d, s, trial), d, s, max(ns))
        for model in ("relu", "linear"):
            y = problem.observe(X, w, model)
            success, failed = oracle.limit("l1", X, y, model, w, ns, 1e-6)
            direct = {n: oracle.recovers("l1", X[:n], y[:n], model, w, 1e-6)[0] for n in ns}
            assert success == direct and not failed, (trial, model)
            assert any(direct.values()) and not all(direct.values())


def _thresholds(model, d, s, trials, seed=17):
    """Each trial's smallest n at which the l1 program succeeds (bisection over 1 .. 3d)."""
    ns = list(range(1, 3 * d))
    out = []
    for trial in range(trials):
        X, w = problem.draw_trial(seed, (d, s, trial), d, s, max(ns))
        y = problem.observe(X, w, model)
        success, _ = oracle.limit("l1", X, y, model, w, ns, 1e-6)
        out.append(min(n for n in ns if success[n]))
    return np.array(out)


def test_the_relu_limit_is_the_linear_curve_convolved_with_the_binomial():
    """Step 2 of the argument, measured: the ReLU programs' success curve equals the linear
    programs' curve (measured on other trials) at ``n_+ ~ Binomial(n, 1/2)`` rows, to within
    the sampling error of 120 trials each; and the ReLU n50 is twice the linear one."""
    from scipy import stats

    d, s, T = 100, 5, 120
    lin, relu = _thresholds("linear", d, s, T), _thresholds("relu", d, s, T, seed=18)
    for n in range(int(1.2 * np.quantile(relu, 0.05)), int(np.quantile(relu, 0.95) * 1.1)):
        k = np.arange(n + 1)
        predicted = float(np.dot(stats.binom.pmf(k, n, 0.5), [np.mean(lin <= j) for j in k]))
        measured = float(np.mean(relu <= n))
        assert abs(measured - predicted) < 4 * math.sqrt(0.25 / T), n
    delta = theory.n0_l1(s, d)
    assert abs(np.median(lin) / delta - 1) < 0.1
    assert abs(np.median(relu) / theory.relu_limit_n50(delta) - 1) < 0.1
    assert 1.8 <= np.median(relu) / np.median(lin) <= 2.2


def test_the_theory_line_against_a_monte_carlo_of_the_kinematic_formula(rng):
    """``relu_limit`` against drawing ``n_+ ~ Binomial(n, 1/2)`` and ``V`` of the linear curve
    (normal with the given spread) and counting ``V <= n_+``; its n50 is about 2 δ."""
    delta, spread = 104.18, 6.0
    for n in (180, 200, 208, 215, 240):
        draws = 200_000
        n_plus = rng.binomial(n, 0.5, size=draws)
        V = rng.normal(delta, spread, size=draws)
        assert abs(theory.relu_limit(n, delta, spread)[0] - np.mean(V <= n_plus)) < 0.005, n
    for delta in (10.3, 53.7, 104.18, 426.0):
        assert abs(theory.relu_limit_n50(delta) - 2 * delta) <= 1.5
        assert abs(theory.relu_limit_n50(delta, 0.3 * math.sqrt(delta)) - 2 * delta) <= 1.5
    assert theory.limit_n50("linear", 104.18) == 104.18


# --- the sweep -----------------------------------------------------------------------------


def test_a_sweep_writes_the_convex_limit_beside_pgd(convex_sweep):
    ds = convex_sweep
    cs = ds.convex_success
    assert cs.dims == ds.success.dims and "convex_failed" not in ds
    assert cs.sel(regularizer="l0").isnull().all() and cs.sel(regularizer="l1").notnull().all()
    assert ds.attrs["convex_solver_failures"] == 0
    assert "comment" in cs.attrs and cs.attrs["flag_meanings"] == "failed succeeded"


def test_pgd_numbers_do_not_depend_on_the_convex_limit(tmp_path, convex_sweep):
    without = tmp_path / "without.nc"
    run_config(CONVEX.replace("convex_limit = true", "convex_limit = false"), without, workers=1)
    with xr.open_dataset(without) as ds:
        assert "convex_success" not in ds and "convex_solver_failures" not in ds.attrs
        for name in ds.data_vars:
            assert ds[name].values.tobytes() == convex_sweep[name].values.tobytes(), name


def test_convex_success_is_the_program_solved_again_on_that_trial(convex_sweep):
    """Cells of the dataset against the program solved alone at that n, on the trial's data
    drawn again from (seed, d, s, trial): the same X, w* and y as PGD."""
    ds, cfg = convex_sweep, config.loads(CONVEX)
    rng = np.random.default_rng(0)
    for _ in range(12):
        trial = int(rng.integers(ds.sizes["trial"]))
        ratio = float(rng.choice(ds.ratio.values[2:10]))
        model = str(rng.choice(ds.model.values))
        n = int(ds.n.sel(d=100, s=4, ratio=ratio))
        X, w = problem.draw_trial(cfg.seed, (100, 4, trial), 100, 4, n)
        y = problem.observe(X, w, model)
        want, _ = oracle.recovers("l1", X, y, model, w, cfg.tolerance)
        got = float(ds.convex_success.sel(model=model, regularizer="l1", d=100, s=4, ratio=ratio, trial=trial))
        assert got == want, (model, ratio, trial)


def test_the_oracle_n50_sits_at_delta_and_twice_delta(convex_sweep):
    """The done-when of the convex limit, on a fresh small sweep: linear within 10% of δ, ReLU
    within 10% of 2 δ, their ratio in [1.8, 2.2]."""
    from sweep.fit import transition_nested

    ds = convex_sweep
    delta = float(ds.n0_l1.sel(d=100, s=4))
    n = ds.n.sel(d=100, s=4).values
    n50 = {
        m: float(transition_nested(n, ds.convex_success.sel(model=m, regularizer="l1", d=100, s=4).values)["n50"])
        for m in ("linear", "relu")
    }
    assert abs(n50["linear"] / delta - 1) < 0.1
    assert abs(n50["relu"] / (2 * delta) - 1) < 0.1
    assert 1.8 <= n50["relu"] / n50["linear"] <= 2.2


# --- the config ----------------------------------------------------------------------------


def test_config_refuses_a_convex_limit_it_cannot_give(monkeypatch):
    with pytest.raises(InputError, match="convex_limit = True: needs a convex set"):
        config.loads(CONVEX.replace('["l0", "l1"]', '["l0"]'))
    with pytest.raises(InputError, match="tolerance = 1e-10: is below"):
        config.loads(CONVEX.replace("tolerance = 1e-4", "tolerance = 1e-10"))
    with pytest.raises(InputError, match="convex_limit = 1: must be true or false"):
        config.loads(CONVEX.replace("convex_limit = true", "convex_limit = 1"))
    group = CONVEX.replace('["l0", "l1"]', '["group-l1"]').replace("[grid]", "group_size = 4\n[grid]")
    assert config.loads(group).convex_limit
    monkeypatch.setattr(oracle.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match=r'needs cvxpy, from the \'convex\' extra: pip install ".\[convex\]"'):
        config.loads(group)
    assert config.loads(CONVEX).convex_limit  # l1 needs scipy only


def test_the_committed_convex_limit_study_is_the_program_on_its_trials():
    """``data/step-settle.nc``: cells of ``convex_success`` against the program solved again on
    the trial's data, and PGD's against the kernel (the probe layout: one trial, one n)."""
    from sweep import kernel

    ds = xr.open_dataset(ROOT / "data" / "step-settle.nc").load()
    cfg = config.loads(ds.attrs["config"])
    rng = np.random.default_rng(1)
    cell = ds.sel(regularizer="l1", d=1000, s=20)
    checked = 0
    while checked < 4:
        model, trial, probe = (str(rng.choice(ds.model.values)), int(rng.integers(60)), int(rng.integers(5)))
        mu = float(rng.choice(ds.step_size.values))
        at = cell.sel(model=model, trial=trial, probe=probe, step_size=mu)
        if not np.isfinite(float(at.n)):
            continue
        n = int(at.n)
        X, w = problem.draw_trial(cfg.seed, (1000, 20, trial), 1000, 20, n)
        y = problem.observe(X, w, model)
        assert float(at.convex_success) == oracle.recovers("l1", X, y, model, w, cfg.tolerance)[0], (model, trial, n)
        if float(at.success) == 1:  # a success is cheap to recompute: the same iteration, bit for bit
            res = kernel.solve(
                X, w, {model: y}, [kernel.Problem(model, "l1", n, steps.on_axis(mu))], cfg.iterations, cfg.tolerance
            )
            assert res.iterations[0] == float(at.iterations)
        checked += 1


def test_the_committed_group_study_is_the_group_l1_program_on_its_trials():
    """``data/structures-group.nc``: cells of ``convex_success`` (group-l1 only; NaN for the
    nonconvex group-l0) against the conic program solved again on the trial's data."""
    ds = xr.open_dataset(ROOT / "data" / "structures-group.nc").load()
    cfg = config.loads(ds.attrs["config"])
    assert np.isnan(ds.convex_success.sel(regularizer="group-l0")).all()
    rng = np.random.default_rng(2)
    checked = 0
    while checked < 4:
        s = int(rng.choice(ds.s.values))
        model, trial, probe = (str(rng.choice(ds.model.values)), int(rng.integers(60)), int(rng.integers(5)))
        at = ds.sel(regularizer="group-l1", d=1024, s=s, model=model, trial=trial, probe=probe).isel(step_size=0)
        if not np.isfinite(float(at.n)) or not np.isfinite(float(at.convex_success)):
            continue
        n = int(at.n)
        X, w = problem.draw_trial(cfg.seed, (1024, s, trial), 1024, s, n, structure="group", group_size=cfg.block)
        y = problem.observe(X, w, model)
        again = oracle.recovers("group-l1", X, y, model, w, cfg.tolerance, group_size=cfg.block)[0]
        assert float(at.convex_success) == again, (model, s, trial, n)
        checked += 1
