"""PGD against the paper: the sgn(0) trap, linear convergence, and the Figure-1 numbers."""

import math

import numpy as np
import pytest

from sweep import figure1, kernel, pgd, problem


def test_relu_gradient_at_zero_is_minus_xty(figure1_trial):
    X, w_star, labels = figure1_trial
    g = pgd.relu_gradient(np.zeros_like(w_star), X, labels["relu"])
    np.testing.assert_allclose(g, -X.T @ labels["relu"] / len(X), rtol=1e-13)
    assert np.linalg.norm(g) > 0.1


def test_first_iterate_is_projected_correlation(figure1_trial):
    """w_1 = P_K((2/n) sum y_i x_i) (proof of Theorem 3.1)."""
    X, w_star, labels = figure1_trial
    y = labels["relu"]
    w1 = pgd.pgd_step(np.zeros_like(w_star), X, y, pgd.step_size("relu", 0), pgd.relu_gradient, lambda v: v)
    np.testing.assert_allclose(w1, 2 * X.T @ y / len(y), rtol=1e-13)


def test_the_gradient_at_zero_takes_sgn_0_as_0(figure1_trial):
    """The trap of docs/design.md#science: with the textbook 1[z > 0] the gradient at w = 0
    vanishes and PGD never moves; the (1 + sgn) form with sgn(0) = 0 gives -(1/n) X^T y."""
    X, w_star, labels = figure1_trial
    y = labels["relu"]
    g = pgd.relu_gradient(np.zeros_like(w_star), X, y)
    np.testing.assert_allclose(g, -X.T @ y / len(y), rtol=1e-13)
    assert np.linalg.norm(g) > 0.1
    errors = pgd.pgd(X, y, w_star, "relu", "l0", 3)
    assert errors[3] < 0.5


@pytest.mark.parametrize("case", [dict(model="relu", rate=0.65), dict(model="linear", rate=0.45)])
def test_single_trial_converges_linearly(figure1_trial, case):
    X, w_star, labels = figure1_trial
    e = pgd.pgd(X, labels[case["model"]], w_star, case["model"], "l0", 20)
    assert e[20] < 1e-3
    assert np.median(e[1:12] / e[:11]) <= case["rate"]


@pytest.fixture(scope="module")
def figure1_runs():
    return figure1.run_figure1(trials=100, iterations=50, seed=2017)


def test_figure1_n_is_625():
    assert figure1.figure1_n() == 625 == math.floor(8 * 20 * math.log(1000 / 20))


def test_figure1_median_errors(figure1_runs):
    at20 = figure1_runs.trace.sel(iteration=20).median("trial")
    assert float(at20.sel(model="relu")) < 1e-4
    assert float(at20.sel(model="linear")) < 1e-7


def test_figure1_nearly_all_trials_converge(figure1_runs):
    below = (figure1_runs.trace.sel(iteration=50) < 1e-6).sum("trial")
    assert int(below.sel(model="relu")) >= 95
    assert int(below.sel(model="linear")) == 100


def test_figure1_contraction_per_iteration(figure1_runs):
    """Median ratio e_{t+1}/e_t over the decaying part (e_t above 1e-8, t >= 1)."""
    for model, bound in [("relu", 0.65), ("linear", 0.45)]:
        tr = figure1_runs.trace.sel(model=model).values
        with np.errstate(invalid="ignore", divide="ignore"):  # exact zeros late in linear runs
            ratios = tr[:, 2:] / tr[:, 1:-1]
        decaying = (tr[:, 1:-1] > 1e-8) & (tr[:, 2:] < tr[:, 1:-1])
        assert np.median(ratios[decaying]) <= bound, model


def test_threshold_failure_far_below_and_success_far_above():
    """n = 0.25 n0: at most 5% of 50 trials succeed; n = 4 n0: at least 90%, both models."""
    d, s, trials, tol = 1000, 20, 50, 1e-4
    n0 = 2 * s * math.log(d / s)
    ns = {r: math.ceil(r * n0) for r in (0.25, 4.0)}
    probs = [kernel.Problem(m, "l0", n) for m in ("relu", "linear") for n in ns.values()]
    success = np.zeros(len(probs))
    for t in range(trials):
        X, w_star = problem.draw_trial(2017, (d, s, t), d, s, max(ns.values()))
        labels = {m: problem.observe(X, w_star, m) for m in ("relu", "linear")}
        res = kernel.solve(X, w_star, labels, probs, 200, tol)
        success += res.rel_error <= tol
    rate = dict(zip([(p.model, p.n) for p in probs], success / trials, strict=True))
    for m in ("relu", "linear"):
        assert rate[m, ns[0.25]] <= 0.05, (m, rate)
        assert rate[m, ns[4.0]] >= 0.90, (m, rate)


def test_pgd_is_deterministic_bit_for_bit():
    a = figure1.run_figure1(trials=3, iterations=10, seed=5)
    b = figure1.run_figure1(trials=3, iterations=10, seed=5)
    assert a.trace.values.tobytes() == b.trace.values.tobytes()
    c = figure1.run_figure1(trials=3, iterations=10, seed=6)
    assert not np.array_equal(a.trace.values, c.trace.values)
