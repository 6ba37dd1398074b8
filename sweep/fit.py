"""The transition fit of nested sweeps, shared by the adaptive sweep's stopping rule
(:mod:`sweep.adaptive`) and the analysis (:mod:`analysis.stats`).

A success curve ``p(n)`` is fitted as a Firth-penalised binomial regression in ``log n``;
``n50`` is where it crosses 1/2. With nested designs a trial's outcomes at every ``n``
share one ``X``, so the interval resamples whole trials.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

if TYPE_CHECKING:
    from typing import Any

Z95 = 1.959963984540054
SQRT_2PI = math.sqrt(2 * math.pi)
# the links whose bootstrap intervals the nested interval joins (see transition_nested)
LINKS = ("logit", "probit")
RESAMPLES = 1000  # trials resampled for nested intervals: percentiles steady to ~1%


def fit_logistic_grouped(
    x: Any,
    k: Any,
    m: Any,
    link: str = "logit",
    start: tuple[np.ndarray, ...] | None = None,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jeffreys-penalised binomial regression ``P(y = 1) = F(a + b x)`` on grouped data,
    many data sets at once.

    Group ``r`` sits at ``x[..., r]`` with ``k[..., r]`` successes in ``m[..., r]`` trials;
    the leading axes are independent data sets (e.g. bootstrap resamples, or cells),
    fitted together. ``link`` is ``"logit"`` (``F`` the logistic: the same estimate as
    :func:`fit_logistic` on the ungrouped outcomes) or ``"probit"`` (``F`` the normal CDF:
    what log-normally spread per-trial thresholds give). The estimate maximises the
    log-likelihood plus ``0.5 log det I``, ``I`` the Fisher information (Firth 1993; for
    the logit link this is Firth's bias reduction): it is finite on separated data, which
    small cells and adaptive probes often are. Its score adds ``h_r (d log w_r / d eta) / 2``
    per group, ``h`` the hat values and ``w`` the working weights. Fitted by Fisher scoring
    from ``start = (a, b)`` (arrays of the leading shape; default zero), e.g. the full
    data's fit for its bootstrap resamples, with each step halved until the penalised
    likelihood does not fall.

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
    cov = _scoring(link, beta, xc, k, m, max_iter)
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


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Firth-penalised logistic regression ``P(y = 1) = 1 / (1 + exp(-(a + b x)))`` on
    ungrouped outcomes ``y`` (0 or 1) at ``x``: :func:`fit_logistic_grouped` with one trial
    per group.

    Firth's penalty (Firth 1993) keeps the maximum-likelihood estimate finite when the
    successes are perfectly separated in ``x``, as they often are on a coarse grid.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(a, b)`` and their 2 x 2 covariance (inverse Fisher information).
    """
    a, b, cov = fit_logistic_grouped(np.asarray(x, float), np.asarray(y, float), 1.0)
    return np.array([a, b]), cov


def _penalised(link, b, xc, k, m):
    """Penalised log-likelihood, its score and the inverse information at ``b``."""
    eta = np.clip(b[:, :1] + b[:, 1:] * xc, -35, 35)  # both tails stay above zero
    # the smaller of F and 1 - F straight from the tail, the larger by subtraction: both
    # keep full relative precision, for one evaluation of the CDF
    tail = (special.expit if link == "logit" else special.ndtr)(-np.abs(eta))
    left = eta < 0
    mu, nu = np.where(left, tail, 1 - tail), np.where(left, 1 - tail, tail)
    if link == "logit":  # F' = F (1 - F): the weights and the score simplify
        w, gain = m * mu * nu, 1.0  # gain = f / var, the score's weight on k - m mu
        half_dlogw = 0.5 - mu  # half of d log w / d eta: the penalty's weight on each hat value
        loglik = k * eta + m * np.log(nu)
    else:
        f = np.exp(-0.5 * eta * eta) / SQRT_2PI
        var = mu * nu
        gain = f / var
        w = m * f * gain
        half_dlogw = -eta - 0.5 * gain * (nu - mu)
        loglik = k * np.log(mu) + (m - k) * np.log(nu)
    i00, i01, i11 = w.sum(-1), (w * xc).sum(-1), (w * xc * xc).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        det = i00 * i11 - i01 * i01
        inv = np.stack([np.stack([i11, -i01], -1), np.stack([-i01, i00], -1)], -2) / det[:, None, None]
        h = w * (inv[:, :1, 0] + 2 * inv[:, :1, 1] * xc + inv[:, 1:, 1] * xc * xc)
        penalised = loglik.sum(-1) + 0.5 * np.log(det)
    resid = (k - m * mu) * gain + h * half_dlogw
    score = np.stack([resid.sum(-1), (resid * xc).sum(-1)], -1)
    return np.where(np.isnan(penalised), -np.inf, penalised), score, inv


def _scoring(link, beta, xc, k, m, max_iter):
    """Fisher scoring on the penalised likelihood of every data set from ``beta`` (updated
    in place); returns the inverse information at the end.

    Far from the optimum a full step can overshoot, and on a steep curve seen at few sizes
    a step clipped per component can point downhill and bounce between two points for ever:
    the whole step is shortened instead, then halved until the penalised likelihood does
    not fall.
    """
    value, score, inv = _penalised(link, beta, xc, k, m)
    live = np.arange(k.shape[0])  # data sets still moving: each stops once its step is negligible
    for _ in range(max_iter):
        step = np.nan_to_num(np.einsum("...ij,...j->...i", inv[live], score[live]))
        step *= np.minimum(1.0, 5.0 / np.maximum(np.max(np.abs(step), axis=-1), 1e-300))[:, None]
        moved = np.zeros(live.size, bool)
        todo = np.arange(live.size)  # positions in live whose step is not yet accepted
        for _ in range(40):
            idx = live[todo]
            cand = beta[idx] + step[todo]
            v, sc, iv = _penalised(link, cand, xc[idx], k[idx], m[idx])
            ok = v >= value[idx] - 1e-12 * (1 + np.abs(value[idx]))
            acc = idx[ok]
            beta[acc], value[acc], score[acc], inv[acc] = cand[ok], v[ok], sc[ok], iv[ok]
            moved[todo[ok]] = True
            todo = todo[~ok]
            if todo.size == 0:
                break
            step[todo] *= 0.5
        # a data set stops when its accepted step is negligible, or no step helps
        live = live[moved & (np.max(np.abs(step), axis=-1) >= 1e-10)]
        if live.size == 0:
            break
    return inv


def _n50(a, b):
    # a nearly flat resample puts its n50 beyond any float: infinite, an interval open above
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(b > 0, np.exp(-a / b), np.nan)


def width(a: Any, b: Any) -> Any:
    """``n`` at 90% minus ``n`` at 10% success of the logistic ``a + b log n`` (arrays too)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        q = math.log(9) / b  # logit(0.9) = log 9
        return np.exp(-a / b + q) - np.exp(-a / b - q)


def transition(n: np.ndarray, success: np.ndarray) -> dict[str, float]:
    """n50, its 95% interval and the 10-90% width from independent outcomes at sizes ``n``.

    The logistic is fitted in ``log n``; the interval is the delta method on
    ``log n50 = -a / b``, right for outcomes that are independent (``sampling =
    "independent"``). NaN where the trials hold no success or no failure, or the fitted
    slope is not positive (no transition to locate). Nested sweeps need
    :func:`transition_nested`.
    """
    ok = np.isfinite(success)
    n, success = np.asarray(n, float)[ok], np.asarray(success, float)[ok]
    nan = dict(n50=np.nan, n50_lower=np.nan, n50_upper=np.nan, width=np.nan)
    if success.size == 0 or success.min() == success.max():
        return nan
    (a, b), cov = fit_logistic(np.log(n), success)
    if not b > 0:
        return nan
    log50 = -a / b
    g = np.array([-1 / b, a / b**2])
    se = math.sqrt(g @ cov @ g)
    return dict(
        n50=math.exp(log50),
        n50_lower=math.exp(log50 - Z95 * se),
        n50_upper=math.exp(log50 + Z95 * se),
        width=float(width(a, b)),
    )


def transition_nested(n: np.ndarray, success: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
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
    out = dict(n50=n50, n50_lower=lower, n50_upper=upper, width=width(a, b))
    return {key: np.where(none, np.nan, v) for key, v in out.items()}


def _resampled_counts(y, ran, resamples, seed):
    """Successes and probes per size of ``resamples`` multinomial reweightings of the trials
    (the last axis): ``(..., resamples, R)`` each."""
    T = y.shape[-1]
    weights = np.random.default_rng(seed).multinomial(T, np.full(T, 1 / T), size=resamples).astype(float)
    k = np.einsum("bt,...rt->...br", weights, y)
    m = np.einsum("bt,...rt->...br", weights, ran.astype(float))
    return k, m


def curve_band(
    n: np.ndarray, success: np.ndarray, at: np.ndarray, resamples: int = RESAMPLES, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def ratio_nested(
    n_a: np.ndarray,
    success_a: np.ndarray,
    n_b: np.ndarray,
    success_b: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, float]:
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
