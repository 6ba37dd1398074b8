import math

import numpy as np
import pytest
from scipy import integrate, optimize

from sweep import theory


def _reference_statdim(s, d):
    """The ALMT formula by quadrature, minimised by a bounded scalar search."""

    def f(tau):
        tail = integrate.quad(lambda u: (u - tau) ** 2 * math.exp(-u * u / 2), tau, np.inf, epsabs=1e-13, epsrel=1e-13)[
            0
        ]
        return s * (1 + tau * tau) + (d - s) * math.sqrt(2 / math.pi) * tail

    res = optimize.minimize_scalar(f, bounds=(0, 10), method="bounded", options=dict(xatol=1e-12))
    return f(res.x)


@pytest.mark.parametrize("case", [dict(s=20, d=1000), dict(s=1, d=100), dict(s=5, d=200), dict(s=50, d=100)])
def test_l1_statdim_matches_quadrature(case):
    assert theory.n0_l1(**case) == pytest.approx(_reference_statdim(**case), rel=1e-6)


def test_l1_statdim_known_value_and_bound():
    # s = 20, d = 1000: about 104.18, well below 2 s log(d/s) + 1.25 s = 181.5
    assert theory.n0_l1(20, 1000) == pytest.approx(104.18, abs=0.01)
    for s, d in [(1, 10), (5, 200), (20, 1000), (100, 1000), (400, 1000)]:
        assert theory.n0_l1(s, d) < theory.n0_approx(s, d) + 1.25 * s


def test_l1_statdim_monotone_in_s():
    vals = [theory.n0_l1(s, 500) for s in range(1, 500, 7)]
    assert np.all(np.diff(vals) > 0)
    assert vals[-1] <= 500


def test_approx_is_natural_log():
    assert theory.n0_approx(20, 1000) == pytest.approx(2 * 20 * math.log(50))


def test_l0_width_standard_error_shrinks_and_covers():
    small = theory.n0_l0_mc(10, 300, samples=500, seed=1)
    big = theory.n0_l0_mc(10, 300, samples=8000, seed=1)
    assert big[1] < small[1] / 3  # ~1/sqrt(16)
    assert abs(small[0] - big[0]) < 4 * math.hypot(small[1], big[1])
    # The tangent set contains the s-dimensional support subspace and lies inside 2s dims
    assert 10 < big[0] < 300


def test_unknown_method():
    with pytest.raises(ValueError, match="approx"):
        theory.n0(2, 10, "l2")


@pytest.mark.parametrize("s, d", [(1, 6), (2, 8), (3, 9)])
def test_l0_mc_equals_exact_enumeration_over_supports(s, d):
    """On the estimator's own Gaussian draws, the supremum over every support S ∪ T
    (|T| = s, T outside S) by enumeration: the top-s shortcut must give the same width."""
    import itertools

    samples = 500
    rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(3, spawn_key=(d, s, 0x10))))
    g = rng.standard_normal((samples, d))
    S = list(range(s))
    sups = [
        max(np.linalg.norm(row[S + list(T)]) for T in itertools.combinations(range(s, d), min(s, d - s))) for row in g
    ]
    value, _ = theory.n0_l0_mc(s, d, samples=samples, seed=3)
    assert value == pytest.approx(np.mean(sups) ** 2, rel=1e-12)
