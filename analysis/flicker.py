"""The flicker zone: where one trial's success is not monotone in ``n``.

On a dense grid of sample sizes with nested designs (trial ``t`` solves on ``X_t[:n]`` for
every ``n``), a trial's success need not switch on once and stay on: PGD can succeed at
some ``n`` and fail at a larger one on the same ``X`` (it settles at a spurious fixed
point). Per trial, over an ascending run of sample sizes:

- ``n_first``: the smallest ``n`` that succeeds;
- ``n_stable``: the smallest ``n`` from which every larger ``n`` in the range succeeds;
- ``inside``: the share of successes among the ``n`` in ``[n_first, n_stable)``;
- the trial is *non-monotone* when ``n_stable > n_first``.

The per-cell summary is the median zone width ``(n_stable - n_first) / n0`` with a
distribution-free order-statistic 95% interval, and the share of non-monotone trials with
its Wilson interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .stats import wilson_interval

if TYPE_CHECKING:
    from typing import Any

    import xarray as xr


def zones(success: np.ndarray, n: np.ndarray) -> dict[str, np.ndarray]:
    """``n_first``, ``n_stable`` and ``inside`` of each trial.

    Parameters
    ----------
    success : (trials, len(n)) array of 0/1 (NaN: not run)
        Each trial's outcome at each sample size, ``n`` ascending.
    n : (len(n),) int array

    Returns
    -------
    dict of (trials,) float arrays
        ``n_first`` and ``n_stable`` (NaN when no ``n`` succeeds, or when the largest
        fails: the zone reaches past the range), ``inside`` (NaN when the zone is empty).
    """
    success = np.asarray(success, float)
    n = np.asarray(n, float)
    if success.ndim != 2 or success.shape[1] != n.size or np.any(np.diff(n) <= 0):
        raise ValueError("success must be (trials, len(n)) with n strictly ascending")
    ok = success == 1
    T = success.shape[0]
    out = {k: np.full(T, np.nan) for k in ("n_first", "n_stable", "inside")}
    for t in range(T):
        if np.isnan(success[t]).any() or not ok[t].any():
            continue
        first = int(np.argmax(ok[t]))
        out["n_first"][t] = n[first]
        if not ok[t, -1]:
            continue
        stable = n.size - int(np.argmax(~ok[t, ::-1])) if not ok[t].all() else 0
        out["n_stable"][t] = n[stable]
        if stable > first:
            out["inside"][t] = ok[t, first:stable].mean()
    return out


def median_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """The sample median of ``x`` (NaN dropped) and a distribution-free interval
    ``[x_(j), x_(k)]`` between order statistics, with ``P(x_(j) <= median <= x_(k)) >=
    level`` for any continuous distribution (binomial(m, 1/2) tails); NaN ends when ``m``
    is too small for the level."""
    x = np.sort(np.asarray(x, float)[~np.isnan(x)])
    m = x.size
    if m == 0:
        return np.nan, np.nan, np.nan
    # the largest j with P(B <= j - 1) <= (1 - level) / 2, B ~ binomial(m, 1/2): then the
    # median lies outside [x_(j), x_(m+1-j)] (1-based) with probability at most 1 - level
    j = 0
    while 2 * stats.binom.cdf(j, m, 0.5) <= 1 - level:
        j += 1
    if j < 1:
        return float(np.median(x)), np.nan, np.nan
    k = m - j  # 0-based index of x_(m+1-j)
    return float(np.median(x)), float(x[j - 1]), float(x[k])


def summary(success: np.ndarray, n: np.ndarray, n0: float) -> dict[str, Any]:
    """One cell's flicker summary: the zone widths in units of ``n0`` (median and interval),
    the share of non-monotone trials (and its Wilson interval), and the median ``inside``.

    Only trials whose zone closes inside the range count (``trials``); those that succeed
    somewhere but fail at the largest ``n`` are counted apart (``beyond_range``): their
    width is unknown, only bounded below, so a range too short biases the widths down.
    """
    z = zones(success, n)
    width = (z["n_stable"] - z["n_first"]) / n0
    counted = ~np.isnan(width)
    flicker = int((width[counted] > 0).sum())
    lo, hi = wilson_interval(flicker, int(counted.sum()))
    med, w_lo, w_hi = median_interval(width)
    return dict(
        trials=int(counted.sum()),
        beyond_range=int((~np.isnan(z["n_first"]) & np.isnan(z["n_stable"])).sum()),
        width_median=med,
        width_lower=w_lo,
        width_upper=w_hi,
        non_monotone=flicker / counted.sum() if counted.any() else np.nan,
        non_monotone_lower=float(lo),
        non_monotone_upper=float(hi),
        inside_median=float(np.nanmedian(z["inside"])) if np.isfinite(z["inside"]).any() else np.nan,
        n_first_median=float(np.nanmedian(z["n_first"])) / n0 if counted.any() else np.nan,
        n_stable_median=float(np.nanmedian(z["n_stable"])) / n0 if counted.any() else np.nan,
    )


def strips(ds: xr.Dataset, model: str, regularizer: str, d: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """One cell of a ratio-range dataset as ``(success, n)``: ``(trials, sizes)`` outcomes,
    NaN where not run, and the sizes every trial was given (ascending).

    Raises
    ------
    ValueError
        If the trials of the cell were not all given the same sizes (an adaptive dataset:
        its trials are probed at different ``n``, so there are no strips to read).
    """
    cell = ds.sel(model=model, regularizer=regularizer, d=d, s=s)
    if "step_size" in cell.dims:  # a dataset of one step; flicker_table takes each step in turn
        cell = cell.squeeze("step_size", drop=True)
    n = cell.n.transpose("trial", "probe").values
    success = cell.success.transpose("trial", "probe").values
    ran = np.isfinite(n).any(axis=1)
    if not ran.any():
        return np.empty((0, 0)), np.empty(0)
    n, success = n[ran], success[ran]
    sizes = n[0][np.isfinite(n[0])]
    if not all(np.array_equal(row[np.isfinite(row)], sizes) for row in n):
        raise ValueError("the trials of this cell have different sample sizes: not a ratio-range dataset")
    return success[:, : sizes.size], sizes


def flicker_table(ds: xr.Dataset) -> pd.DataFrame:
    """:func:`summary` of every ``(model, regularizer, step_size, d, s)`` cell of a
    ratio-range dataset, one row each, with the n0 (``approx``) the widths are in units of."""
    rows = []
    for m in ds.model.values:
        for g in ds.regularizer.values:
            for mu in ds.step_size.values:
                at_step = ds.sel(step_size=mu)
                for d in ds.d.values:
                    for s in ds.s.values:
                        success, n = strips(at_step, m, g, d, s)
                        if not n.size:
                            continue
                        n0 = float(ds.n0.sel(d=d, s=s))
                        cell = dict(model=m, regularizer=g, step_size=float(mu), d=int(d), s=int(s), n0=n0)
                        rows.append(dict(cell, **summary(success, n, n0)))
    return pd.DataFrame(rows)
