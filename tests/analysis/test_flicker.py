"""The flicker zone's per-trial quantities on constructed strips, and the median's
order-statistic interval by its coverage on data with a known median."""

import math

import numpy as np
import pytest
from scipy import stats

from analysis import flicker

# the strip of the issue that found the flicker: ReLU, d = 200, s = 4, trial 0, from n = 16
STRIP = "0000011111101011101111111111101111000111000110001111111111011111110111"


def _strip(text):
    return np.array([[int(c) for c in text]], float)


def test_zones_of_the_strip_that_found_it():
    s = _strip(STRIP + "1111")  # ends in successes: the zone closes inside the range
    n = np.arange(16, 16 + s.shape[1])
    z = flicker.zones(s, n)
    first = 16 + STRIP.index("1")
    last_fail = 16 + len(STRIP) - 1 - STRIP[::-1].index("0")
    assert z["n_first"][0] == first and z["n_stable"][0] == last_fail + 1
    inside = (STRIP + "1111")[first - 16 : last_fail + 1 - 16]
    assert z["inside"][0] == pytest.approx(inside.count("1") / len(inside))


@pytest.mark.parametrize(
    "row, first, stable, inside",
    [
        ("00001111", 4, 4, np.nan),  # monotone: an empty zone
        ("11111111", 0, 0, np.nan),
        ("00000000", np.nan, np.nan, np.nan),  # never succeeds
        ("00110100", 2, np.nan, np.nan),  # fails at the largest n: the zone reaches past the range
        ("01011011", 1, 6, 3 / 5),
    ],
)
def test_zones_of_constructed_rows(row, first, stable, inside):
    n = np.arange(10, 18)
    z = flicker.zones(_strip(row), n)
    for key, want in (("n_first", first), ("n_stable", stable), ("inside", inside)):
        got = z[key][0]
        assert (np.isnan(got) and np.isnan(want)) or got == (want + 10 if key != "inside" else want), (key, got)


def test_a_trial_not_run_everywhere_has_no_zone():
    s = _strip("0011")
    s[0, 1] = np.nan
    z = flicker.zones(s, np.arange(4))
    assert all(np.isnan(z[k][0]) for k in z)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        flicker.zones(np.zeros((2, 3)), np.arange(4))
    with pytest.raises(ValueError):
        flicker.zones(np.zeros((2, 3)), np.array([1, 3, 2]))


@pytest.mark.parametrize("m", [6, 10, 30, 61])
def test_the_median_interval_is_the_textbook_one(m):
    """The largest j with 2 P(B <= j - 1) <= 0.05 for B ~ binomial(m, 1/2): [x_(j), x_(m+1-j)]."""
    j = max(j for j in range(0, m // 2 + 1) if 2 * stats.binom.cdf(j - 1, m, 0.5) <= 0.05)
    _, lo, hi = flicker.median_interval(np.arange(1.0, m + 1))
    assert (lo, hi) == (j, m + 1 - j)


def test_too_few_trials_give_no_interval():
    med, lo, hi = flicker.median_interval(np.arange(5.0))
    assert med == 2.0 and math.isnan(lo) and math.isnan(hi)


@pytest.mark.parametrize("shape", ["continuous", "discrete"])
def test_the_median_interval_covers_the_true_median(shape):
    """2000 replications of 30 draws with a known median: coverage at least 95% (the
    interval's exact level for a continuous law at m = 30 is 95.7%); widths measured in
    whole samples over n0 tie often, which can only raise it."""
    rng = np.random.default_rng(5)
    m, reps = 30, 2000
    if shape == "continuous":
        x = rng.exponential(size=(reps, m))
        median = math.log(2)
    else:  # (n_stable - n_first) / n0 with n0 = 17: geometric counts of samples
        x = rng.geometric(0.15, size=(reps, m)) / 17
        median = stats.geom(0.15).median() / 17
    covered = 0
    for row in x:
        _, lo, hi = flicker.median_interval(row)
        covered += lo <= median <= hi
    coverage = covered / reps
    assert 0.945 <= coverage <= (0.975 if shape == "continuous" else 1.0), coverage


def test_summary_of_a_cell():
    rows = ["00001111", "00101111", "01001011", "00011111"]
    s = np.array([[int(c) for c in r] for r in rows], float)
    out = flicker.summary(np.vstack([s, [[0, 1, 1, 0, 1, 1, 1, 0]]]), np.arange(8), n0=2.0)
    assert out["trials"] == 4 and out["beyond_range"] == 1 and out["non_monotone"] == 0.5
    assert out["width_median"] == pytest.approx(np.median([0, 2, 5, 0]) / 2)
