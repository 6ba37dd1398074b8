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


# ---- group sparsity and low rank -------------------------------------------------------


@pytest.mark.parametrize("s, d", [(20, 1000), (1, 100), (5, 200), (50, 100)])
def test_group_l1_of_groups_of_one_is_the_l1_statistical_dimension(s, d):
    assert theory.n0_group_l1(s, 1, d) == pytest.approx(theory.n0_l1(s, d), rel=1e-12)


def _group_quadrature(s, g, d):
    """The group formula with E(chi_g - tau)_+^2 by quadrature of chi_g's density."""
    groups = d // g
    log_norm = (1 - g / 2) * math.log(2) - math.lgamma(g / 2)

    def f(tau):
        tail = integrate.quad(
            lambda u: (u - tau) ** 2 * math.exp(log_norm + (g - 1) * math.log(u) - u * u / 2) if u > 0 else 0.0,
            tau,
            np.inf,
            epsabs=1e-13,
            epsrel=1e-13,
        )[0]
        return s * (g + tau * tau) + (groups - s) * tail

    res = optimize.minimize_scalar(f, bounds=(0, 20), method="bounded", options=dict(xatol=1e-12))
    return f(res.x)


@pytest.mark.parametrize("s, g, d", [(4, 4, 1024), (16, 4, 1024), (3, 8, 400), (1, 2, 50)])
def test_group_l1_matches_quadrature_and_monte_carlo(s, g, d):
    """The incomplete-gamma closed form against quadrature of chi_g's density, and against a
    Monte-Carlo mean of the squared distance of a Gaussian vector to tau times the
    subdifferential of the group-l1 norm, taken at the formula's own minimising tau."""
    value = theory.n0_group_l1(s, g, d)
    assert value == pytest.approx(_group_quadrature(s, g, d), rel=1e-7)
    groups = d // g
    tau = optimize.brentq(theory._group_l1_derivative, 0.0, 50.0, args=(s, g, groups))
    rng = np.random.default_rng(3)
    h = rng.standard_normal((20000, groups, g))
    u = rng.standard_normal((s, g))
    u /= np.linalg.norm(u, axis=1, keepdims=True)  # w*'s direction on each active group
    active = ((h[:, :s] - tau * u) ** 2).sum(axis=(1, 2))
    inactive = (np.maximum(np.linalg.norm(h[:, s:], axis=2) - tau, 0) ** 2).sum(axis=1)
    dist2 = active + inactive
    assert abs(dist2.mean() - value) < 4 * dist2.std() / math.sqrt(len(dist2))
    assert value < theory.n0_group_approx(s, g, d)


def test_group_l1_with_every_group_active_is_d():
    assert theory.n0_group_l1(8, 4, 32) == 32.0
    with pytest.raises(ValueError, match="multiple of the group size"):
        theory.n0_group_l1(2, 3, 32)


@pytest.mark.parametrize("r, p", [(1, 12), (3, 12), (2, 20)])
def test_nuclear_statistical_dimension_against_the_full_matrix_distance(r, p):
    """The reduced formula (tangent space plus a (p - r)-square Gaussian's spectrum) against
    the squared distance of a full p x p Gaussian matrix to tau times the nuclear norm's
    subdifferential at a random rank-r matrix, computed with its projections."""
    value, se = theory.n0_nuclear_mc(r, p * p)
    m = p - r
    rng0 = np.random.Generator(np.random.SFC64(np.random.SeedSequence(0, spawn_key=(p * p, r, 0x20))))
    sigma = np.linalg.svd(rng0.standard_normal((theory.L0_MC_SAMPLES, m, m)), compute_uv=False)
    tau = optimize.brentq(lambda t: r * t - np.maximum(sigma - t, 0).sum(axis=1).mean(), 0.0, float(sigma.max()))
    rng = np.random.default_rng(7)
    U, _ = np.linalg.qr(rng.standard_normal((p, r)))
    V, _ = np.linalg.qr(rng.standard_normal((p, r)))
    PU, PV = np.eye(p) - U @ U.T, np.eye(p) - V @ V.T
    G = rng.standard_normal((4000, p, p))
    perp = PU @ G @ PV
    tangent = G - perp
    dist2 = ((tangent - tau * (U @ V.T)) ** 2).sum(axis=(1, 2))
    dist2 += (np.maximum(np.linalg.svd(perp, compute_uv=False)[:, :m] - tau, 0) ** 2).sum(axis=1)
    spread = math.hypot(se, dist2.std() / math.sqrt(len(dist2)))
    assert abs(dist2.mean() - value) < 4 * spread
    assert r * (2 * p - r) < value < theory.n0_rank_approx(r, p * p)


def test_nuclear_at_full_rank_is_d_and_d_must_be_square():
    assert theory.n0_nuclear_mc(6, 36) == (36.0, 0.0)
    with pytest.raises(ValueError, match="not a square"):
        theory.n0_nuclear_mc(1, 1000)
    values = [theory.n0_nuclear_mc(r, 1024)[0] for r in (1, 2, 4)]
    assert values == sorted(values)
