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

import functools
import math

import numpy as np

METHODS = ("approx", "l1", "l0-mc")
L0_MC_SAMPLES = 4000


def n0_approx(s, d):
    """``2 s log(d/s)``."""
    return 2.0 * s * math.log(d / s)


# scipy is imported where it is used: importing it costs about a second, which every
# worker process paid at start (the engine imports this module for METHODS) although
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


def n0_l1(s, d):
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
def n0_l0_mc(s, d, samples=L0_MC_SAMPLES, seed=0):
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


def n0(s, d, method="approx", seed=0):
    """``n0`` by ``method`` (one of :data:`METHODS`); ``l0-mc`` uses ``seed``."""
    if method == "approx":
        return n0_approx(s, d)
    if method == "l1":
        return n0_l1(s, d)
    if method == "l0-mc":
        return n0_l0_mc(s, d, seed=seed)[0]
    raise ValueError(f"n0 method must be one of {METHODS}, got {method!r}")
