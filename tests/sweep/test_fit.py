"""The transition fit's solver on the data that once broke it: a steep curve seen at few
sizes (an adaptive sweep's probes), checked against a direct maximisation."""

import math
import warnings

import numpy as np
import pytest
from scipy import optimize, special

from sweep import fit

# relu, l1, d = 10000, s = 40 of the scale study after two rounds: successes k of m trials
SIZES = np.array([221, 442, 663, 884, 1326, 1767, 1919, 2067, 2165, 2268, 2442, 2651, 3534.0])
K = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 14, 20, 20.0])
M = np.array([20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20.0])


def _penalised(beta, x, link):
    """Log-likelihood plus half the log-determinant of the information, written plainly."""
    eta = beta[0] + beta[1] * x
    if link == "logit":
        mu, nu, f = special.expit(eta), special.expit(-eta), special.expit(eta) * special.expit(-eta)
    else:
        mu, nu, f = special.ndtr(eta), special.ndtr(-eta), np.exp(-0.5 * eta**2) / np.sqrt(2 * np.pi)
    X = np.column_stack([np.ones_like(x), x])
    info = X.T @ ((M * f * f / np.maximum(mu * nu, 1e-300))[:, None] * X)
    loglik = np.sum(K * np.log(np.maximum(mu, 1e-300)) + (M - K) * np.log(np.maximum(nu, 1e-300)))
    return loglik + 0.5 * np.log(max(np.linalg.det(info), 1e-300))


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_the_fit_is_the_penalised_maximum_from_any_start(link):
    x = np.log(SIZES)
    xc = x - x.mean()
    best = optimize.minimize(
        lambda b: -_penalised(b, xc, link),
        [0.0, 10.0],
        method="Nelder-Mead",
        options=dict(xatol=1e-9, fatol=1e-12, maxiter=40000),
    )
    want = np.exp(x.mean() - best.x[0] / best.x[1])
    for start in (None, (np.array(-188.5), np.array(24.2)), (np.array(-400.0), np.array(50.0))):
        a, b, _ = fit.fit_logistic_grouped(x, K, M, link, start)
        assert np.exp(-a / b) == pytest.approx(want, rel=1e-6), start


def test_the_interval_of_a_steep_curve_is_not_pinned_to_its_point():
    """Each resample is fitted from the full data's fit. Scoring that bounced between two
    points for ever once left 68% of this cell's resamples at their start, and the upper
    end of the interval on the point estimate."""
    outcome = (np.arange(20)[None, :] < K[:, None]).astype(float)  # nested: k_r trials succeed at size r
    est = fit.transition_nested(SIZES, outcome)
    assert est["n50_lower"] < 0.99 * est["n50"] and est["n50"] * 1.01 < est["n50_upper"]


def test_an_empty_data_set_beside_others_is_nan_without_a_warning():
    """A cell not yet run (every count zero, e.g. a sweep opened from its parts) is fitted
    with the others: NaN, and no floating-point warning (tests turn ours into errors)."""
    k = np.stack([K, np.zeros_like(K)])
    m = np.stack([M, np.zeros_like(M)])
    a, b, _ = fit.fit_logistic_grouped(np.log(SIZES), k, m)
    assert np.isfinite(a[0]) and np.isnan(a[1]) and np.isnan(b[1])


def test_a_nearly_flat_fit_has_an_infinite_n50_and_no_warning():
    """A bootstrap resample with a slope near 0 puts n50 past any float: inf (the interval
    open above), silently; found on a group-l1 sweep whose cells mostly failed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fit._n50(np.array([-4.0, -4.0, 1.0]), np.array([1e-3, 0.5, -0.1]))
    assert got[0] == np.inf and got[1] == pytest.approx(np.exp(8.0)) and np.isnan(got[2])


def test_fit_recovers_a_known_logistic():
    a, b = -12.0, 2.5  # n50 = exp(4.8) ~ 121.5
    x = np.log(np.repeat([40, 60, 80, 100, 120, 140, 170, 200, 260, 340], 30))
    (ah, bh), cov = fit.fit_logistic(x, np.random.default_rng(1).random(x.size) < 1 / (1 + np.exp(-(a + b * x))))
    assert abs(ah - a) < 4 * math.sqrt(cov[0, 0]) and abs(bh - b) < 4 * math.sqrt(cov[1, 1])


def test_n50_inside_its_interval_in_90_percent_of_replications():
    """The transition fit's 95% interval for n50 covers the truth (a test that can fail)."""
    n50, scale = 150.0, 0.25  # P(success) = logistic((log n - log n50) / scale)
    ns = np.repeat(np.round(np.geomspace(50, 450, 10)), 20)
    rng = np.random.default_rng(2017)
    covered = 0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(np.log(ns) - math.log(n50)) / scale))
        est = fit.transition(ns, (rng.random(ns.size) < p).astype(float))
        covered += est["n50_lower"] <= n50 <= est["n50_upper"]
        true_width = n50 * (math.exp(scale * math.log(9)) - math.exp(-scale * math.log(9)))
        assert 0.5 * true_width < est["width"] < 2 * true_width
    assert covered >= 90


def test_separated_data_still_fits_and_all_failures_do_not():
    n = np.repeat([10.0, 20, 40, 80], 10)
    est = fit.transition(n, (n >= 40).astype(float))
    assert 20 < est["n50"] < 40
    assert np.isnan(fit.transition(n, np.zeros_like(n))["n50"])


def _firth_ungrouped(x, y, max_iter=100):
    """Firth's modified score on ungrouped outcomes, by plain Newton steps (Firth 1993,
    eq. 4.1): an implementation independent of the grouped solver."""
    X = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(X @ beta)))
        w = p * (1 - p)
        inv = np.linalg.inv(X.T @ (w[:, None] * X))
        h = w * np.einsum("ij,jk,ik->i", X, inv, X)
        step = inv @ (X.T @ (y - p + h * (0.5 - p)))
        beta += step
        if np.max(np.abs(step)) < 1e-12:
            break
    p = 1 / (1 + np.exp(-(X @ beta)))
    return beta, np.linalg.inv(X.T @ ((p * (1 - p))[:, None] * X))


def test_the_fit_of_ungrouped_outcomes_is_firths():
    rng = np.random.default_rng(3)
    sizes = np.round(np.geomspace(50, 450, 10))
    n = np.repeat(sizes, 20)
    y = (rng.random(n.size) < 1 / (1 + np.exp(-(np.log(n) - math.log(150)) / 0.25))).astype(float)
    (a, b), cov = _firth_ungrouped(np.log(n), y)
    (au, bu), covu = fit.fit_logistic(np.log(n), y)
    ag, bg, covg = fit.fit_logistic_grouped(np.log(sizes), y.reshape(10, 20).sum(1), np.full(10, 20.0))
    for a_, b_, cov_ in ((au, bu, covu), (ag, bg, covg)):
        assert a_ == pytest.approx(a, rel=1e-7) and b_ == pytest.approx(b, rel=1e-7)
        np.testing.assert_allclose(cov_, cov, rtol=1e-6)
