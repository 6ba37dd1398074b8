"""The sample-size threshold ``n0 = omega^2(C_R(w*) ∩ B^d)`` (Definition 2.3, Theorem 3.1).

Three ways to get it for an ``s``-sparse ``w*`` in ``R^d``:

``approx``
    ``2 s log(d/s)`` (natural log), the usual Gaussian-width bound.
``l1``
    The exact statistical dimension of the l1 descent cone (Amelunxen, Lotz, McCoy and
    Tropp 2014, Prop. 4.5), which equals the squared width up to an additive 1.
``l0-mc``
    A Monte-Carlo estimate, with its standard error, of the squared Gaussian width of the
    union of the 2s-dimensional coordinate subspaces that contain ``supp(w*)`` (vectors
    supported on ``supp(w*)`` plus any ``s`` further coordinates), in the unit ball. That
    union contains the l0 descent set, so this is an upper bound on its width.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing import Any

L0_MC_SAMPLES = 4000


def n0_approx(s: int, d: int) -> float:
    """``2 s log(d/s)``."""
    return 2.0 * s * math.log(d / s)


# scipy is imported where it is used: importing it costs about a second, which every
# worker process paid at start (the structures' registry imports this module) although
# only the client computes the statistical dimension.


def _l1_objective(tau, s, d):
    # sqrt(2/pi) ∫_tau^∞ (u - tau)^2 e^{-u^2/2} du = 2 [(1 + tau^2) Q(tau) - tau phi(tau)]
    from scipy import special

    q = special.ndtr(-tau)
    phi = math.exp(-tau * tau / 2) / math.sqrt(2 * math.pi)
    return s * (1 + tau * tau) + 2 * (d - s) * ((1 + tau * tau) * q - tau * phi)


def _l1_derivative(tau, s, d):
    from scipy import special

    q = special.ndtr(-tau)
    phi = math.exp(-tau * tau / 2) / math.sqrt(2 * math.pi)
    return 2 * s * tau + 4 * (d - s) * (tau * q - phi)


def n0_l1(s: int, d: int) -> float:
    """Statistical dimension of the l1 descent cone at an ``s``-sparse point of ``R^d``.

    ``inf_{tau >= 0} s (1 + tau^2) + (d - s) sqrt(2/pi) ∫_tau^∞ (u - tau)^2 e^{-u^2/2} du``.
    The objective is convex in ``tau`` with derivative ``-4 (d - s) phi(0) < 0`` at 0 and
    positive for large ``tau``, so its minimiser is the one root of the derivative.
    """
    from scipy import optimize

    if s >= d:
        return float(d)
    hi = 1.0
    while _l1_derivative(hi, s, d) <= 0:
        hi *= 2
    tau = optimize.brentq(_l1_derivative, 0.0, hi, args=(s, d), xtol=1e-14, rtol=4 * np.finfo(float).eps)
    return float(_l1_objective(tau, s, d))


@functools.lru_cache(maxsize=1024)  # pure in its arguments; config validation and the dataset both ask
def n0_l0_mc(s: int, d: int, samples: int = L0_MC_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """Monte-Carlo squared Gaussian width of the 2s-sparse union containing ``supp(w*)``
    (an upper bound on the l0 descent set's), with its standard error.

    For ``g ~ N(0, I_d)``, ``sup_u <g, u>`` over unit ``u`` supported on ``S ∪ T``
    (``|T| <= s``) is the norm of ``g`` on ``S`` and on the ``s`` largest ``|g_j|`` outside
    ``S``. By symmetry ``S = {0, .., s-1}``. The width is the mean of that supremum; its
    square's standard error follows by the delta method.

    Returns
    -------
    (float, float)
        The estimate of ``omega^2`` and its standard error.
    """
    rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(d, s, 0x10))))
    sup = np.empty(samples)
    extra = min(s, d - s)
    chunk = max(1, min(samples, 2**22 // d))
    for start in range(0, samples, chunk):
        g2 = rng.standard_normal((min(chunk, samples - start), d)) ** 2
        inside = g2[:, :s].sum(axis=1)
        if extra:
            outside = np.partition(g2[:, s:], g2.shape[1] - s - extra, axis=1)[:, -extra:].sum(axis=1)
        else:
            outside = 0.0
        sup[start : start + g2.shape[0]] = np.sqrt(inside + outside)
    width = sup.mean()
    se = sup.std(ddof=1) / math.sqrt(samples)
    return float(width**2), float(2 * width * se)


def _chi_moments(tau, g):
    """``E[chi^k 1{chi > tau}]`` for ``k = 0, 1, 2``, ``chi ~ chi_g``: ``2^(k/2) Gamma((g+k)/2) /
    Gamma(g/2)`` times the regularized upper incomplete gamma ``Q((g+k)/2, tau^2/2)``."""
    from scipy import special

    x = tau * tau / 2
    m0 = special.gammaincc(g / 2, x)
    m1 = (
        math.sqrt(2)
        * math.exp(special.gammaln((g + 1) / 2) - special.gammaln(g / 2))
        * special.gammaincc((g + 1) / 2, x)
    )
    m2 = g * special.gammaincc(g / 2 + 1, x)
    return m0, m1, m2


def _group_l1_objective(tau, s, g, groups):
    # s E||h_G - tau u_G||^2 over the active groups, (G - s) E(chi_g - tau)_+^2 over the others
    m0, m1, m2 = _chi_moments(tau, g)
    return s * (g + tau * tau) + (groups - s) * (m2 - 2 * tau * m1 + tau * tau * m0)


def _group_l1_derivative(tau, s, g, groups):
    m0, m1, _ = _chi_moments(tau, g)
    return 2 * s * tau - 2 * (groups - s) * (m1 - tau * m0)


@functools.lru_cache(maxsize=1024)
def n0_group_l1(s: int, g: int, d: int) -> float:
    """Statistical dimension of the group-l1 descent cone at a point of ``R^d`` with ``s``
    nonzero groups among ``G = d / g`` consecutive groups of size ``g``.

    ``inf_{tau >= 0} s (g + tau^2) + (G - s) E (chi_g - tau)_+^2``: the expected squared
    distance of a Gaussian vector to ``tau`` times the subdifferential of ``sum_G ||w_G||``
    (unit vectors on the active groups, the unit ball on the others), minimized over
    ``tau`` (Amelunxen, Lotz, McCoy and Tropp 2014, Theorem 4.3 and Recipe 4.1). At
    ``g = 1`` it is :func:`n0_l1`. The objective is convex in ``tau``, its derivative
    ``-2 (G - s) E chi_g < 0`` at 0, so its minimiser is the one root of the derivative.
    """
    from scipy import optimize

    if d % g:
        raise ValueError(f"d = {d} is not a multiple of the group size {g}")
    groups = d // g
    if s >= groups:
        return float(d)
    hi = 1.0
    while _group_l1_derivative(hi, s, g, groups) <= 0:
        hi *= 2
    tau = optimize.brentq(_group_l1_derivative, 0.0, hi, args=(s, g, groups), xtol=1e-14, rtol=4 * np.finfo(float).eps)
    return float(_group_l1_objective(tau, s, g, groups))


def n0_group_approx(s: int, g: int, d: int) -> float:
    """``s (sqrt(g) + sqrt(2 log(G / s)))^2``, ``G = d / g``: the group analogue of
    ``2 s log(d/s)`` (Rao, Recht and Nowak 2012, Proposition 3.2; at ``g = 1`` it is
    ``s (1 + sqrt(2 log(d/s)))^2``, the bound with its lower-order terms)."""
    groups = d // g
    return s * (math.sqrt(g) + math.sqrt(2 * math.log(groups / s))) ** 2 if s < groups else float(d)


def n0_rank_approx(r: int, d: int) -> float:
    """``3 r (2p - r)`` for a rank-``r`` ``p x p`` matrix (``d = p^2``): the nuclear-norm
    bound of Chandrasekaran, Recht, Parrilo and Willsky 2012 (Proposition 3.11)."""
    p = _side(d)
    return float(min(3 * r * (2 * p - r), d))


def _side(d):
    p = math.isqrt(d)
    if p * p != d:
        raise ValueError(f"d = {d} is not a square: a p x p matrix has d = p^2 entries")
    return p


@functools.lru_cache(maxsize=1024)
def n0_nuclear_mc(r: int, d: int, samples: int = L0_MC_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """Monte-Carlo statistical dimension of the nuclear-norm descent cone at a rank-``r``
    ``p x p`` matrix (``d = p^2``), with its standard error.

    ``r (2p - r) + inf_tau [r tau^2 + E sum_i (sigma_i(G') - tau)_+^2]`` with ``G'`` a
    ``(p - r) x (p - r)`` Gaussian matrix (Amelunxen, Lotz, McCoy and Tropp 2014, Recipe
    4.1 with the nuclear norm's subdifferential): the first term is the tangent space, the
    second the distance of its complement's Gaussian part to ``tau`` times the unit
    spectral-norm ball. The expectation is a mean over ``samples`` draws, minimized over
    ``tau``; the standard error is the per-draw values' at that ``tau``.

    Returns
    -------
    (float, float)
        The estimate and its standard error.
    """
    from scipy import optimize

    p = _side(d)
    if r >= p:
        return float(d), 0.0
    m = p - r
    rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(d, r, 0x20))))
    sigma = np.linalg.svd(rng.standard_normal((samples, m, m)), compute_uv=False)

    def derivative(tau):
        return 2 * r * tau - 2 * np.maximum(sigma - tau, 0).sum(axis=1).mean()

    tau = optimize.brentq(derivative, 0.0, float(sigma.max()), xtol=1e-12)
    values = r * tau * tau + (np.maximum(sigma - tau, 0) ** 2).sum(axis=1)
    return float(r * (2 * p - r) + values.mean()), float(values.std(ddof=1) / math.sqrt(samples))


# --- the convex limit of linear and ReLU observations (docs/design.md#the-convex-limit) ---


def linear_limit(m: Any, delta: float, spread: float = 0.0) -> np.ndarray:
    """Probability that ``m`` Gaussian linear observations make ``w*`` the unique solution
    of a convex program whose descent cone has statistical dimension ``delta``.

    The kinematic formula (Amelunxen, Lotz, McCoy and Tropp 2014, Theorem II): the null
    space of ``m`` Gaussian rows misses the cone with probability about ``P(V <= m)``, ``V``
    the cone's intrinsic-volume variable, whose mean is ``delta``. ``spread = 0`` takes
    ``V = delta`` (the formula's limit: success exactly when ``m >= delta``); a positive
    ``spread`` takes ``V`` normal with that standard deviation (it is ``O(sqrt(d))``).
    """
    from scipy import special

    m = np.asarray(m, dtype=np.float64)
    if spread <= 0:
        return (m >= delta).astype(np.float64)
    return special.ndtr((m - delta) / spread)


def relu_limit(n: Any, delta: float, spread: float = 0.0) -> np.ndarray:
    """Probability that ``n`` Gaussian ReLU observations make ``w*`` the unique solution of the
    convex program (:mod:`sweep.oracle`): :func:`linear_limit` at ``n_+ ~ Binomial(n, 1/2)``
    rows, ``sum_k C(n, k) 2^-n linear_limit(k)``.

    Why: the zero outputs' constraints are inactive at ``w*``, so only the positive rows
    decide uniqueness; a row's sign does not change the span, so those rows' null space is
    distributed as a Gaussian one of ``n_+`` rows; each row is positive with probability 1/2.
    """
    from scipy import stats

    n = np.atleast_1d(np.asarray(n, dtype=np.int64))
    out = np.empty(n.shape, dtype=np.float64)
    for idx, size in np.ndenumerate(n):
        k = np.arange(size + 1)
        out[idx] = float(np.dot(stats.binom.pmf(k, size, 0.5), linear_limit(k, delta, spread)))
    return out


def relu_limit_n50(delta: float, spread: float = 0.0) -> float:
    """Where :func:`relu_limit` crosses 1/2, interpolated linearly between the integers
    around it (about ``2 delta``)."""
    n = max(1, int(2 * delta) - 8)
    while relu_limit(n, delta, spread)[0] < 0.5:
        n += 1
    lo, hi = relu_limit(n - 1, delta, spread)[0], relu_limit(n, delta, spread)[0]
    return float(n - 1 + (0.5 - lo) / (hi - lo)) if hi > lo else float(n)


def limit_n50(model: str, delta: float, spread: float = 0.0) -> float:
    """The convex limit's ``n50`` for observation ``model``: ``delta`` for linear observations
    (where :func:`linear_limit` crosses 1/2), :func:`relu_limit_n50` for ReLU ones."""
    if model == "linear":
        return float(delta)
    if model == "relu":
        return relu_limit_n50(delta, spread)
    raise ValueError(f"model must be 'relu' or 'linear', got {model!r}")
