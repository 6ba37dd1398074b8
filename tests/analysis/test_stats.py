import math

import numpy as np
import pytest

from analysis import stats


def test_wilson_known_values():
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = stats.wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)


def test_wilson_covers_at_the_nominal_rate():
    rng = np.random.default_rng(0)
    p, m = 0.3, 40
    k = rng.binomial(m, p, size=4000)
    lo, hi = stats.wilson_interval(k, m)
    assert 0.93 <= np.mean((lo <= p) & (p <= hi)) <= 0.97


def test_fit_recovers_a_known_logistic():
    a, b = -12.0, 2.5  # n50 = exp(4.8) ~ 121.5
    x = np.log(np.repeat([40, 60, 80, 100, 120, 140, 170, 200, 260, 340], 30))
    (ah, bh), cov = stats.fit_logistic(x, np.random.default_rng(1).random(x.size) < 1 / (1 + np.exp(-(a + b * x))))
    assert abs(ah - a) < 4 * math.sqrt(cov[0, 0]) and abs(bh - b) < 4 * math.sqrt(cov[1, 1])


def test_n50_inside_its_interval_in_90_percent_of_replications():
    """The transition fit's 95% interval for n50 covers the truth (a test that can fail)."""
    n50, scale = 150.0, 0.25  # P(success) = logistic((log n - log n50) / scale)
    ns = np.repeat(np.round(np.geomspace(50, 450, 10)), 20)
    rng = np.random.default_rng(2017)
    covered = 0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(np.log(ns) - math.log(n50)) / scale))
        fit = stats.transition(ns, (rng.random(ns.size) < p).astype(float))
        covered += fit["n50_lower"] <= n50 <= fit["n50_upper"]
        true_width = n50 * (math.exp(scale * math.log(9)) - math.exp(-scale * math.log(9)))
        assert 0.5 * true_width < fit["width"] < 2 * true_width
    assert covered >= 90


def test_separated_data_still_fits_and_all_failures_do_not():
    n = np.repeat([10.0, 20, 40, 80], 10)
    fit = stats.transition(n, (n >= 40).astype(float))
    assert 20 < fit["n50"] < 40
    assert np.isnan(stats.transition(n, np.zeros_like(n))["n50"])
