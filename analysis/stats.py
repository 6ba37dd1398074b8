"""Success rates with Wilson intervals and logistic fits of the phase transition."""

import math
import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

Z95 = 1.959963984540054
N0_METHODS = {"approx": "n0_approx", "l1": "n0_l1", "l0_mc": "n0_l0_mc"}
SQRT_2PI = math.sqrt(2 * math.pi)
# the links whose bootstrap intervals the nested interval joins (see transition_nested)
LINKS = ("logit", "probit")
RESAMPLES = 1000  # trials resampled for nested intervals: percentiles steady to ~1%


def wilson_interval(k, m, z=Z95):
    """Wilson score interval for ``k`` successes in ``m`` trials (arrays broadcast)."""
    k, m = np.asarray(k, float), np.asarray(m, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / m
        denom = 1 + z * z / m
        centre = (p + z * z / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / denom
    return centre - half, centre + half


def success_rate(ds):
    """Per-cell success rate, trial count and Wilson 95% interval.

    Returns
    -------
    xarray.Dataset
        ``rate``, ``lower``, ``upper``, ``trials`` over ``(model, regularizer, d, s, ratio)``;
        cells that were not run have ``trials = 0`` and NaN rate.
    """
    ran = ds.success.notnull()
    m = ran.sum("trial")
    k = ds.success.where(ran, 0).sum("trial")
    lo, hi = wilson_interval(k.values, m.values)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = k / m
    out = xr.Dataset(dict(rate=rate, lower=(k.dims, lo), upper=(k.dims, hi), trials=m))
    out["rate"].attrs.update(long_name="success rate", units="1")
    out["lower"].attrs.update(long_name="Wilson 95% lower bound of the success rate", units="1")
    out["upper"].attrs.update(long_name="Wilson 95% upper bound of the success rate", units="1")
    return out


def fit_logistic(x, y, max_iter=100):
    """Firth-penalised logistic regression ``P(y = 1) = 1 / (1 + exp(-(a + b x)))``.

    Firth's penalty (Firth 1993) keeps the maximum-likelihood estimate finite when the
    successes are perfectly separated in ``x``, as they often are on a coarse grid.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(a, b)`` and their 2 x 2 covariance (inverse Fisher information).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    X = np.column_stack([np.ones_like(x), x - x.mean()])  # centred for conditioning
    beta = np.zeros(2)
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(X @ beta)))
        w = p * (1 - p)
        info = X.T @ (w[:, None] * X)
        inv = np.linalg.inv(info)
        h = w * np.einsum("ij,jk,ik->i", X, inv, X)
        step = inv @ (X.T @ (y - p + h * (0.5 - p)))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = 1 / (1 + np.exp(-(X @ beta)))
    cov = np.linalg.inv(X.T @ ((p * (1 - p))[:, None] * X))
    # undo the centring: a = a_c - b * mean, with the matching covariance
    J = np.array([[1.0, -x.mean()], [0.0, 1.0]])
    return J @ beta, J @ cov @ J.T


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


def transition(n, success):
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
        width=float(_width(a, b)),
    )


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
    T = success.shape[-1]
    weights = np.random.default_rng(seed).multinomial(T, np.full(T, 1 / T), size=resamples).astype(float)
    # (..., resamples, R): every resample of every cell
    k = np.einsum("bt,...rt->...br", weights, y)
    m = np.einsum("bt,...rt->...br", weights, ran.astype(float))
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


def success_at(ds, cap=None):
    """Per-trial success within ``cap`` iterations: ``iterations <= cap`` (the first iteration
    at tolerance), NaN where not run. ``cap=None`` is the dataset's own cap (``success``).

    A trial that stopped early without reaching tolerance (stalled or diverged) fails at
    every cap; one that reached it at iteration ``i`` succeeds at every cap ``>= i``.
    """
    if cap is None:
        return ds.success
    it = ds.iterations
    return xr.where(it.notnull(), ((it >= 0) & (it <= cap)).astype(float), np.nan)


def cap_ladder(cap):
    """Iteration caps ``25, 50, 100, 200, ...`` below ``cap``, then ``cap`` itself."""
    rungs, c = [], 25
    while c < cap:
        rungs.append(c)
        c *= 2
    return rungs + [int(cap)]


def transitions(ds, cap=None, resamples=RESAMPLES, seed=0):
    """Transition fit per ``(model, regularizer, d, s)`` and ``c = n50 / n0`` per method.

    Nested sweeps get the cluster bootstrap interval (:func:`transition_nested`),
    independent ones the delta method (:func:`transition`). ``cap`` refits success as
    "reached tolerance within ``cap`` iterations" (:func:`success_at`).

    Returns
    -------
    xarray.Dataset
        ``n50``, ``n50_lower``, ``n50_upper``, ``width`` and ``c_approx``, ``c_l1``,
        ``c_l0_mc`` (the empirical constant against each n0) over
        ``(model, regularizer, d, s)``; the attrs name the cap and the interval's method.
    """
    dims = ("model", "regularizer", "d", "s")
    shape = tuple(ds.sizes[d] for d in dims)
    fields = {k: np.full(shape, np.nan) for k in ("n50", "n50_lower", "n50_upper", "width")}
    succ = success_at(ds, cap).transpose(*dims, "ratio", "trial").values
    nvals = ds.n.transpose("d", "s", "ratio").values
    nested = ds.attrs.get("sampling", "nested") == "nested"
    if nested:  # every cell at once: its sizes broadcast over the models and regularizers
        fit = transition_nested(nvals[None, None], succ, resamples, seed)
        for key, v in fit.items():
            fields[key][...] = v
    for idx in np.ndindex(*shape) if not nested else ():
        _, _, i, j = idx
        n = np.repeat(nvals[i, j][:, None], succ.shape[-1], axis=1)
        for key, v in transition(n.ravel(), succ[idx].ravel()).items():
            fields[key][idx] = v
    coords = {d: ds[d].values for d in dims}
    out = xr.Dataset({k: (dims, v) for k, v in fields.items()}, coords=coords)
    for method, var in N0_METHODS.items():
        if var in ds.coords or var in ds:
            out[f"c_{method}"] = out.n50 / ds[var]
            out[f"c_{method}"].attrs.update(long_name=f"n50 / {var}", units="1")
    out["n50"].attrs.update(long_name="samples at 50% success (logistic fit in log n)", units="1")
    out["width"].attrs.update(long_name="n at 90% minus n at 10% success", units="1")
    out.attrs.update(
        cap=int(ds.attrs.get("iterations", -1) if cap is None else cap),
        interval=f"cluster bootstrap over trials ({resamples} resamples)" if nested else "delta method",
    )
    return out


def transition_table(ds, cap=None, resamples=RESAMPLES, seed=0):
    """:func:`transitions` as a tidy DataFrame, one row per ``(model, regularizer, d, s)``."""
    return transitions(ds, cap, resamples, seed).to_dataframe().reset_index()


#: The columns of ``transitions.csv`` (``analysis report``), in order: keep them stable.
CSV_COLUMNS = (
    *("model", "regularizer", "d", "s", "cap"),
    *("n50", "n50_lower", "n50_upper", "width", "c_approx", "c_l1", "c_l0_mc"),
)


def cap_table(ds, resamples=RESAMPLES, seed=0):
    """:func:`transition_table` at every rung of :func:`cap_ladder` of the dataset's cap, one
    row per ``(model, regularizer, d, s, cap)`` with :data:`CSV_COLUMNS`."""
    cap = int(ds.attrs["iterations"])
    frames = []
    for rung in cap_ladder(cap):
        table = transition_table(ds, None if rung == cap else rung, resamples, seed)
        table["cap"] = rung
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    return table[[c for c in CSV_COLUMNS if c in table]]


def settled(ds, resamples=RESAMPLES, seed=0):
    """Per ``(model, regularizer, d, s)``: whether n50 at half the cap lies inside n50's 95%
    interval at the cap (the cap no longer moves the answer), as a boolean DataArray."""
    cap = int(ds.attrs["iterations"])
    full, half = transitions(ds, None, resamples, seed), transitions(ds, cap // 2, resamples, seed)
    return (half.n50 >= full.n50_lower) & (half.n50 <= full.n50_upper)


def median_slope(ds):
    """Median convergence slope per cell over the trials that did not diverge."""
    return ds.slope.where(ds.diverged != 1).median("trial")


def pd_table_markdown(df, floatfmt=".3g"):
    """A DataFrame as a Markdown table (no optional tabulate dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = [
            format(v, floatfmt) if isinstance(v, float) and not pd.isna(v) else ("–" if pd.isna(v) else str(v))
            for v in row
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
