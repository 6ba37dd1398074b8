"""Success rates with Wilson intervals and logistic fits of the phase transition."""

import math

import numpy as np
import pandas as pd
import xarray as xr

Z95 = 1.959963984540054
N0_METHODS = {"approx": "n0_approx", "l1": "n0_l1", "l0_mc": "n0_l0_mc"}


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


def transition(n, success):
    """n50, its 95% interval and the 10-90% width from per-trial successes at sizes ``n``.

    The logistic is fitted in ``log n``; the interval is the delta method on
    ``log n50 = -a / b``. NaN where the trials hold no success or no failure, or the fitted
    slope is not positive (no transition to locate).
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
    q = math.log(9) / b  # logit(0.9) = log 9
    return dict(
        n50=math.exp(log50),
        n50_lower=math.exp(log50 - Z95 * se),
        n50_upper=math.exp(log50 + Z95 * se),
        width=math.exp(log50 + q) - math.exp(log50 - q),
    )


def transitions(ds):
    """Transition fit per ``(model, regularizer, d, s)`` and ``c = n50 / n0`` per method.

    Returns
    -------
    xarray.Dataset
        ``n50``, ``n50_lower``, ``n50_upper``, ``width`` and ``c_approx``, ``c_l1``,
        ``c_l0_mc`` (the empirical constant against each n0) over
        ``(model, regularizer, d, s)``.
    """
    dims = ("model", "regularizer", "d", "s")
    shape = tuple(ds.sizes[d] for d in dims)
    fields = {k: np.full(shape, np.nan) for k in ("n50", "n50_lower", "n50_upper", "width")}
    succ = ds.success.transpose(*dims, "ratio", "trial").values
    nvals = ds.n.transpose("d", "s", "ratio").values
    for idx in np.ndindex(*shape):
        _, _, i, j = idx
        n = np.repeat(nvals[i, j][:, None], succ.shape[-1], axis=1)
        for k, v in transition(n.ravel(), succ[idx].ravel()).items():
            fields[k][idx] = v
    coords = {d: ds[d].values for d in dims}
    out = xr.Dataset({k: (dims, v) for k, v in fields.items()}, coords=coords)
    for method, var in N0_METHODS.items():
        if var in ds.coords or var in ds:
            out[f"c_{method}"] = out.n50 / ds[var]
            out[f"c_{method}"].attrs.update(long_name=f"n50 / {var}", units="1")
    out["n50"].attrs.update(long_name="samples at 50% success (logistic fit in log n)", units="1")
    out["width"].attrs.update(long_name="n at 90% minus n at 10% success", units="1")
    return out


def transition_table(ds):
    """:func:`transitions` as a tidy DataFrame, one row per ``(model, regularizer, d, s)``."""
    return transitions(ds).to_dataframe().reset_index()


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
