import math

import numpy as np
import pytest

from analysis import stats
from sweep import fit


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


PAPER_RATIOS = np.array([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0])


def _nested_sweeps(rng, sigma, replications=300, trials=100, d=1000, s=20):
    """Synthetic nested sweeps with a known answer: each trial has its own threshold,
    log-normal around n50 with spread ``sigma`` in log n, and succeeds at every n at or
    above it (one X serves every n). n50 sits anywhere from 1.5 to 3 n0."""
    n0 = 2 * s * math.log(d / s)
    n = np.ceil(PAPER_RATIOS * n0)
    n50 = rng.uniform(1.5, 3.0, replications) * n0
    thresholds = n50[:, None] * np.exp(sigma * rng.standard_normal((replications, trials)))
    return n, n50, (n[None, :, None] >= thresholds[:, None, :]).astype(float)


def test_probit_fit_recovers_a_known_probit():
    from scipy.special import ndtr

    x = np.linspace(-2, 2, 9)
    m = np.full(9, 4000.0)
    k = np.round(m * ndtr(0.3 + 1.7 * x))
    a, b, cov = fit.fit_logistic_grouped(x, k, m, "probit")
    assert abs(a - 0.3) < 3 * math.sqrt(cov[0, 0]) and abs(b - 1.7) < 3 * math.sqrt(cov[1, 1])


@pytest.mark.parametrize("sigma", [0.1, 0.2])
def test_nested_interval_covers_the_true_n50(sigma):
    """Outcomes of one trial across n are one cluster: the interval resamples trials.
    Nominal 95%: at least 93% over 1000 synthetic sweeps, and not absurdly wide. (1000, not
    300: the logit link's interval alone covers ~92% at sigma = 0.1, and 300 replications
    cannot tell that from 95%.)"""
    n, n50, success = _nested_sweeps(np.random.default_rng(int(sigma * 100)), sigma, replications=1000)
    fit = stats.transition_nested(n, success)
    covered = (fit["n50_lower"] <= n50) & (n50 <= fit["n50_upper"])
    assert 0.93 <= covered.mean() <= 0.995
    assert np.median((fit["n50_upper"] - fit["n50_lower"]) / n50) < 0.2


def test_independent_intervals_are_too_narrow_on_nested_data():
    """Why nested sweeps need their own interval: the delta method, right for independent
    outcomes, treats each trial's 12 correlated outcomes as 12 draws."""
    n, n50, success = _nested_sweeps(np.random.default_rng(7), 0.2, replications=200)
    covered = [
        (lambda f: f["n50_lower"] <= truth <= f["n50_upper"])(stats.transition(np.repeat(n, 100), cell.ravel()))
        for truth, cell in zip(n50, success, strict=True)
    ]
    assert np.mean(covered) < 0.92


def test_nested_interval_is_nan_without_a_transition():
    n = np.array([10.0, 20, 40, 80])
    fit = stats.transition_nested(n, np.zeros((4, 30)))
    assert all(np.isnan(v) for v in fit.values())
    separated = stats.transition_nested(n, np.repeat((n >= 40)[:, None], 30, axis=1).astype(float))
    # every resample of a separated design is that design: the interval shrinks to the point
    lower, n50, upper = (float(separated[key]) for key in ("n50_lower", "n50", "n50_upper"))
    assert 20 < n50 < 40 and lower == pytest.approx(n50, rel=1e-12) and upper == pytest.approx(n50, rel=1e-12)


def test_cap_ladder_and_success_within_a_cap():
    assert stats.cap_ladder(300) == [25, 50, 100, 200, 300]
    assert stats.cap_ladder(3000) == [25, 50, 100, 200, 400, 800, 1600, 3000]
    assert stats.cap_ladder(20) == [20]
    import xarray as xr

    ds = xr.Dataset(dict(iterations=("trial", [3.0, 40.0, -1.0, np.nan]), success=("trial", [1.0, 1.0, 0.0, np.nan])))
    np.testing.assert_array_equal(stats.success_at(ds, 10).values, [1.0, 0.0, 0.0, np.nan])
    np.testing.assert_array_equal(stats.success_at(ds, 40).values, [1.0, 1.0, 0.0, np.nan])
    assert stats.success_at(ds).identical(ds.success)


def test_paired_ratio_interval_covers_the_true_ratio():
    """Two models on the same trials: per-trial thresholds share a trial effect (the X) and
    differ by a known factor 1.2 and their own noise. Over 200 nested sweeps on the paper's
    12 ratios the paired 95% interval of n50_b / n50_a covers 1.2 at least 90% of the time,
    and is narrower than the interval of independent resamples would be (the pairing
    counts)."""
    ratios = np.array([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0])
    n = np.ceil(ratios * 40)
    hits, paired, unpaired = 0, [], []
    for rep in range(200):
        rng = np.random.default_rng(rep)
        z = 0.25 * rng.standard_normal(60)
        ta = np.exp(np.log(70) + z + 0.05 * rng.standard_normal(60))
        tb = np.exp(np.log(84) + z + 0.05 * rng.standard_normal(60))
        sa = (n[:, None] >= ta[None, :]).astype(float)
        sb = (n[:, None] >= tb[None, :]).astype(float)
        r = fit.ratio_nested(n, sb, n, sa, resamples=200)
        hits += r["ratio_lower"] <= 1.2 <= r["ratio_upper"]
        paired.append(np.log(r["ratio_upper"] / r["ratio_lower"]))
        if rep < 20:
            a = stats.transition_nested(n, sa, resamples=300, seed=1)
            b = stats.transition_nested(n, sb, resamples=300, seed=2)
            unpaired.append(np.log(b["n50_upper"] / a["n50_lower"]) - np.log(b["n50_lower"] / a["n50_upper"]))
    assert hits >= 180
    assert np.median(paired[:20]) < 0.5 * np.median(unpaired)
