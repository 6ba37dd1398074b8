"""The transition fit of nested sweeps, shared by the adaptive sweep's stopping rule
(:mod:`sweep.adaptive`) and the analysis (:mod:`analysis.stats`).

A success curve ``p(n)`` is fitted as a Firth-penalised binomial regression in ``log n``;
``n50`` is where it crosses 1/2. With nested designs a trial's outcomes at every ``n``
share one ``X``, so the interval resamples whole trials.
"""

import math
import warnings

import numpy as np
from scipy import special

Z95 = 1.959963984540054
SQRT_2PI = math.sqrt(2 * math.pi)
# the links whose bootstrap intervals the nested interval joins (see transition_nested)
LINKS = ("logit", "probit")
RESAMPLES = 1000  # trials resampled for nested intervals: percentiles steady to ~1%


def fit_logistic_grouped(x, k, m, link="logit", start=None, max_iter=100):
    """Firth-penalised binomial regression ``P(y = 1) = F(a + b x)`` on grouped data, many
    data sets at once.

    Group ``r`` sits at ``x[..., r]`` with ``k[..., r]`` successes in ``m[..., r]`` trials;
    the leading axes are independent data sets (e.g. bootstrap resamples, or cells),
    fitted together. ``link`` is ``"logit"`` (``F`` the logistic: the same estimate as
    :func:`fit_logistic` on the ungrouped outcomes) or ``"probit"`` (``F`` the normal CDF:
    what log-normally spread per-trial thresholds give). Firth's adjusted score for a
    general link (Kosmidis & Firth 2009) adds ``h_r f'_r / (2 f_r)`` per group, ``h`` the
    hat values and ``f = F'``; fitted by Fisher scoring from ``start = (a, b)`` (arrays of
    the leading shape; default zero), e.g. the full data's fit for its bootstrap resamples.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        ``a`` and ``b`` with the leading shape, and their covariances ``(..., 2, 2)``
        (inverse Fisher information); NaN where a data set has no success or no failure.
    """
    k, m, x = np.broadcast_arrays(np.asarray(k, float), np.asarray(m, float), np.asarray(x, float))
    shape, R = k.shape[:-1], k.shape[-1]
    k, m, x = (v.reshape(-1, R) for v in (k, m, x))
    xbar = x.mean(-1)
    xc = x - xbar[:, None]  # centred for conditioning
    beta = np.zeros((k.shape[0], 2))
    if start is not None:
        a0, b0 = (np.nan_to_num(np.broadcast_to(v, shape).reshape(-1)) for v in start)
        beta[:, 0], beta[:, 1] = a0 + b0 * xbar, b0
    if link not in ("logit", "probit"):
        raise ValueError(f"link must be logit or probit, got {link!r}")

    def model(b, xc, k, m):
        eta = np.clip(b[:, :1] + b[:, 1:] * xc, -35, 35)  # both tails stay above zero
        if link == "logit":
            mu, nu = 1 / (1 + np.exp(-eta)), 1 / (1 + np.exp(eta))  # nu = 1 - mu, without cancelling
            f, half_slope = mu * nu, 0.5 - mu  # f = F'(eta); half_slope = f' / (2 f)
        else:
            mu, nu = special.ndtr(eta), special.ndtr(-eta)
            f, half_slope = np.exp(-0.5 * eta * eta) / SQRT_2PI, -0.5 * eta
        var = mu * nu
        w = m * f * (f / var)
        i00, i01, i11 = w.sum(-1), (w * xc).sum(-1), (w * xc * xc).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            det = i00 * i11 - i01 * i01
            inv = np.stack([np.stack([i11, -i01], -1), np.stack([-i01, i00], -1)], -2) / det[:, None, None]
            h = w * (inv[:, :1, 0] + 2 * inv[:, :1, 1] * xc + inv[:, 1:, 1] * xc * xc)
        resid = (k - m * mu) * (f / var) + h * half_slope
        return resid, inv

    live = np.arange(k.shape[0])  # data sets still moving: each stops once its step is negligible
    for _ in range(max_iter):
        sub = xc[live]
        resid, inv = model(beta[live], sub, k[live], m[live])
        score = np.stack([resid.sum(-1), (resid * sub).sum(-1)], -1)
        step = np.einsum("...ij,...j->...i", inv, score)
        step = np.clip(np.nan_to_num(step), -5, 5)  # far from the optimum, a full step can overshoot
        beta[live] += step
        live = live[np.max(np.abs(step), axis=-1) >= 1e-10]
        if live.size == 0:
            break
    _, cov = model(beta, xc, k, m)
    total, wins = m.sum(-1), k.sum(-1)
    bad = ~((wins > 0) & (wins < total))
    # undo the centring: a = a_c - b * mean, with the matching covariance
    J = np.zeros((k.shape[0], 2, 2))
    J[:, 0, 0] = J[:, 1, 1] = 1.0
    J[:, 0, 1] = -xbar
    a = np.where(bad, np.nan, beta[:, 0] - beta[:, 1] * xbar)
    b = np.where(bad, np.nan, beta[:, 1])
    cov = np.where(bad[:, None, None], np.nan, J @ cov @ np.swapaxes(J, -1, -2))
    return a.reshape(shape), b.reshape(shape), cov.reshape(shape + (2, 2))


def _n50(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, np.exp(-a / b), np.nan)


def _width(a, b):
    """``n`` at 90% minus ``n`` at 10% success of the logistic ``a + b log n`` (arrays too)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        q = math.log(9) / b  # logit(0.9) = log 9
        return np.exp(-a / b + q) - np.exp(-a / b - q)


def transition_nested(n, success, resamples=RESAMPLES, seed=0):
    """n50, its 95% interval and the 10-90% width when one design serves every ``n``.

    With nested sampling a trial's outcomes at different ``n`` come from one ``X``: they
    are strongly correlated (a trial far below its own transition fails everywhere), so
    the outcomes are clusters, one per trial, not independent draws. The point estimate
    is the logistic fit of :func:`transition`. The interval is a percentile bootstrap that
    resamples whole trials (Davison & Hinkley 1997, sec. 3.8), ``resamples`` times with a
    fixed ``seed``: each resample is a multinomial weighting of the trials, fitted on its
    grouped counts (:func:`fit_logistic_grouped`), all at once. On a coarse grid the data
    barely say where between two sizes the curve crosses 1/2, and the answer there is
    the link's: the interval joins the bootstrap intervals of the logit and probit links
    (log-normally spread per-trial thresholds give a probit), so it covers either shape.

    Parameters
    ----------
    n : (..., R) array
        Sample size of each ratio.
    success : (..., R, T) array
        Outcome of trial ``t`` at ``n[..., r]`` (0/1; NaN where not run); leading axes
        are separate cells, fitted together.

    Returns
    -------
    dict of numpy.ndarray
        ``n50``, ``n50_lower``, ``n50_upper``, ``width`` with the leading shape; the
        interval is NaN when more than 2.5% of the resamples hold no transition (it would
        be open on one side), everything NaN where there is no transition to locate.
    """
    success = np.asarray(success, float)
    ran = np.isfinite(success)
    y = np.where(ran, success, 0.0)
    x = np.log(np.asarray(n, float))
    a, b, _ = fit_logistic_grouped(x, y.sum(-1), ran.sum(-1))
    k, m = _resampled_counts(y, ran, resamples, seed)
    lower, upper = np.full(a.shape, np.inf), np.full(a.shape, -np.inf)
    for link in LINKS:
        full = fit_logistic_grouped(x, y.sum(-1), ran.sum(-1), link)[:2]
        start = tuple(v[..., None] for v in full)  # each resample starts from its cell's fit
        ab, bb, _ = fit_logistic_grouped(x[..., None, :], k, m, link, start)
        logs = np.log(_n50(ab, bb))
        open_ = np.mean(~np.isfinite(logs), axis=-1) > 0.025
        with warnings.catch_warnings():  # a cell with every resample open: NaN, as documented
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.exp(np.nanquantile(logs, [0.025, 0.975], axis=-1))
        lower = np.where(open_, np.nan, np.fmin(lower, lo))
        upper = np.where(open_, np.nan, np.fmax(upper, hi))
    n50 = _n50(a, b)
    none = ~np.isfinite(n50)
    out = dict(n50=n50, n50_lower=lower, n50_upper=upper, width=_width(a, b))
    return {key: np.where(none, np.nan, v) for key, v in out.items()}


def _resampled_counts(y, ran, resamples, seed):
    """Successes and probes per size of ``resamples`` multinomial reweightings of the trials
    (the last axis): ``(..., resamples, R)`` each."""
    T = y.shape[-1]
    weights = np.random.default_rng(seed).multinomial(T, np.full(T, 1 / T), size=resamples).astype(float)
    k = np.einsum("bt,...rt->...br", weights, y)
    m = np.einsum("bt,...rt->...br", weights, ran.astype(float))
    return k, m


def curve_band(n, success, at, resamples=RESAMPLES, seed=0, level=0.95):
    """The fitted success curve ``p(n)`` (logit link) at sizes ``at`` with a pointwise
    ``level`` band from the same trial-resampling bootstrap as :func:`transition_nested`.

    ``n`` is ``(R,)`` and ``success`` ``(R, T)`` as there (one cell). Returns ``(p, lower,
    upper)`` at ``at``; NaN where the data hold no transition.
    """
    success = np.asarray(success, float)
    ran = np.isfinite(success)
    y = np.where(ran, success, 0.0)
    x = np.log(np.asarray(n, float))
    xa = np.log(np.asarray(at, float))
    a, b, _ = fit_logistic_grouped(x, y.sum(-1), ran.sum(-1))
    k, m = _resampled_counts(y, ran, resamples, seed)
    ab, bb, _ = fit_logistic_grouped(x[None, :], k, m, "logit", (a, b))
    with np.errstate(over="ignore"):
        p = 1 / (1 + np.exp(-(a + b * xa)))
        draws = 1 / (1 + np.exp(-(ab[:, None] + bb[:, None] * xa[None, :])))
    tail = (1 - level) / 2
    with warnings.catch_warnings():  # resamples without a transition are NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lower, upper = np.nanquantile(draws, [tail, 1 - tail], axis=0)
    return p, lower, upper


def ratio_nested(n_a, success_a, n_b, success_b, resamples=RESAMPLES, seed=0):
    """``n50_a / n50_b`` of two cells measured on the same trials, with a 95% interval that
    uses the pairing: each resample weights the trials once for both cells (a trial's two
    outcomes share its ``X``, so their errors largely cancel in the ratio).

    ``n_*`` are ``(R_*,)`` sizes and ``success_*`` ``(R_*, T)`` outcomes over the same ``T``
    trials (NaN where a trial has no outcome there). The interval joins the logit and probit
    links' percentile intervals, as :func:`transition_nested` does. Returns ``ratio``,
    ``ratio_lower``, ``ratio_upper`` (NaN where either cell has no transition, or more than
    2.5% of the resamples lack one).
    """
    cells = []
    for n, success in ((n_a, success_a), (n_b, success_b)):
        success = np.asarray(success, float)
        ran = np.isfinite(success)
        y = np.where(ran, success, 0.0)
        k, m = _resampled_counts(y, ran, resamples, seed)  # the same seed: the same weights
        cells.append((np.log(np.asarray(n, float)), y.sum(-1), ran.sum(-1), k, m))
    logs = {}
    for link in LINKS:
        per_cell = []
        for x, k0, m0, k, m in cells:
            full = fit_logistic_grouped(x, k0, m0, link)[:2]
            ab, bb, _ = fit_logistic_grouped(x[None, :], k, m, link, full)
            per_cell.append((np.log(_n50(*full)), np.log(_n50(ab, bb))))
        logs[link] = (per_cell[0][0] - per_cell[1][0], per_cell[0][1] - per_cell[1][1])
    point = logs["logit"][0]
    lower, upper = np.inf, -np.inf
    for _, draws in logs.values():
        if np.mean(~np.isfinite(draws)) > 0.025:
            return dict(ratio=float(np.exp(point)), ratio_lower=np.nan, ratio_upper=np.nan)
        lo, hi = np.nanquantile(draws, [0.025, 0.975])
        lower, upper = min(lower, lo), max(upper, hi)
    return dict(ratio=float(np.exp(point)), ratio_lower=float(np.exp(lower)), ratio_upper=float(np.exp(upper)))
