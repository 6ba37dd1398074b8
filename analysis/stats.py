"""Success rates with Wilson intervals and logistic fits of the phase transition."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from sweep import structures, theory
from sweep.adaptive import by_size
from sweep.fit import RESAMPLES, Z95, ratio_nested, transition, transition_nested

if TYPE_CHECKING:
    from typing import Any


def n0_methods() -> dict[str, str]:
    """``{method: n0 variable}`` for every n0 method of any structure of ``w*``, as a
    dataset spells them (``l0_mc: n0_l0_mc``), in the registry's order."""
    return {m.replace("-", "_"): "n0_" + m.replace("-", "_") for m in structures.methods()}


def wilson_interval(k: Any, m: Any, z: float = Z95) -> tuple[Any, Any]:
    """Wilson score interval for ``k`` successes in ``m`` trials (arrays broadcast)."""
    k, m = np.asarray(k, float), np.asarray(m, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / m
        denom = 1 + z * z / m
        centre = (p + z * z / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / denom
    return centre - half, centre + half


def success_rate(ds: xr.Dataset) -> xr.Dataset:
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


def success_at(ds: xr.Dataset, cap: int | None = None) -> xr.DataArray:
    """Per-trial success within ``cap`` iterations: ``iterations <= cap`` (the first iteration
    at tolerance), NaN where not run. ``cap=None`` is the dataset's own cap (``success``).

    A trial that stopped early without reaching tolerance (stalled or diverged) fails at
    every cap; one that reached it at iteration ``i`` succeeds at every cap ``>= i``.
    """
    if cap is None:
        return ds.success
    it = ds.iterations
    return xr.where(it.notnull(), ((it >= 0) & (it <= cap)).astype(float), np.nan)


def cap_ladder(cap: int) -> list[int]:
    """Iteration caps ``25, 50, 100, 200, ...`` below ``cap``, then ``cap`` itself."""
    rungs, c = [], 25
    while c < cap:
        rungs.append(c)
        c *= 2
    return rungs + [int(cap)]


#: A transition's cell: one success curve p(n).
CELL = ("model", "regularizer", "step_size", "d", "s")


def transitions(ds: xr.Dataset, cap: int | None = None, resamples: int = RESAMPLES, seed: int = 0) -> xr.Dataset:
    """Transition fit per ``(model, regularizer, step_size, d, s)`` and ``c = n50 / n0`` per method.

    Nested sweeps get the cluster bootstrap interval (:func:`transition_nested`),
    independent ones the delta method (:func:`transition`). ``cap`` refits success as
    "reached tolerance within ``cap`` iterations" (:func:`success_at`).

    Returns
    -------
    xarray.Dataset
        ``n50``, ``n50_lower``, ``n50_upper``, ``width`` and ``c_approx``, ``c_l1``,
        ``c_l0_mc`` (the empirical constant against each n0) over
        ``(model, regularizer, step_size, d, s)``; ``n50_limit``, the convex limit of the
        model (:func:`limit_n50`), where the dataset has the statistical dimension; and where
        it has ``convex_success`` the convex program's own ``n50_convex`` with its interval and
        PGD's ``over_convex = n50 / n50_convex`` with its paired interval
        (:func:`convex_fits`); the attrs name the cap and the interval's method. A dataset
        taken at one step (no ``step_size`` dimension) gives the same without it.
    """
    dims = tuple(d for d in CELL if d in ds.dims)
    shape = tuple(ds.sizes[d] for d in dims)
    fields = {k: np.full(shape, np.nan) for k in ("n50", "n50_lower", "n50_upper", "width")}
    if "probe" in ds.dims:
        _probe_transitions(ds, cap, resamples, seed, dims, fields)
        out = _transition_dataset(ds, cap, resamples, dims, fields, "cluster bootstrap over trials")
        return _with_limits(ds, cap, resamples, seed, out)
    succ = success_at(ds, cap).transpose(*dims, "ratio", "trial").values
    nvals = ds.n.transpose("d", "s", "ratio").values
    nested = ds.attrs.get("sampling", "nested") == "nested"
    if nested:  # every cell at once: its sizes broadcast over the models and regularizers
        fit = transition_nested(nvals.reshape((1,) * (len(dims) - 2) + nvals.shape), succ, resamples, seed)
        for key, v in fit.items():
            fields[key][...] = v
    for idx in np.ndindex(*shape) if not nested else ():
        *_, i, j = idx
        n = np.repeat(nvals[i, j][:, None], succ.shape[-1], axis=1)
        for key, v in transition(n.ravel(), succ[idx].ravel()).items():
            fields[key][idx] = v
    interval = "cluster bootstrap over trials" if nested else "delta method"
    return _with_limits(ds, cap, resamples, seed, _transition_dataset(ds, cap, resamples, dims, fields, interval))


def _probe_transitions(ds, cap, resamples, seed, dims, fields):
    """Per cell: the fit over every probe of every trial, grouped by distinct ``n``, with
    trials resampled whole (:func:`sweep.adaptive.by_size`: the adaptive stopping rule's
    own layout, so that the interval here is the one the sweep stopped on)."""
    succ = success_at(ds, cap).transpose(*dims, "trial", "probe").values
    n = ds.n.transpose(*dims, "trial", "probe").values
    for idx in np.ndindex(*succ.shape[: len(dims)]):
        sizes, outcome = by_size(n[idx], succ[idx])
        if sizes.size:
            for key, v in transition_nested(sizes, outcome, resamples, seed).items():
                fields[key][idx] = v


def _transition_dataset(ds, cap, resamples, dims, fields, interval):
    coords = {d: ds[d].values for d in dims}
    out = xr.Dataset({k: (dims, v) for k, v in fields.items()}, coords=coords)
    for method, var in n0_methods().items():
        if var in ds.coords or var in ds:
            out[f"c_{method}"] = out.n50 / ds[var]
            out[f"c_{method}"].attrs.update(long_name=f"n50 / {var}", units="1")
    out["n50"].attrs.update(long_name="samples at 50% success (logistic fit in log n)", units="1")
    out["width"].attrs.update(long_name="n at 90% minus n at 10% success", units="1")
    out.attrs.update(
        cap=int(ds.attrs.get("iterations", -1) if cap is None else cap),
        interval=f"{interval} ({resamples} resamples)" if "bootstrap" in interval else interval,
        structure=ds.attrs.get("structure", structures.DEFAULT),  # whose words label the constants
    )
    return out


def limit_n50(ds: xr.Dataset) -> xr.DataArray | None:
    """The convex limit's ``n50`` per ``(model, d, s)``: ``δ`` (the ``n0_l1`` coordinate: the
    statistical dimension of the structure's convex set) for linear observations, the ReLU
    limit (about ``2 δ``, :func:`sweep.theory.limit_n50`) for ReLU ones; ``None`` without
    ``n0_l1``. For the nonconvex sets it is the line of their structure's convex set."""
    if "n0_l1" not in ds.coords and "n0_l1" not in ds:
        return None
    delta = ds["n0_l1"].transpose("d", "s").values
    values = np.array([[[theory.limit_n50(str(m), float(x)) for x in row] for row in delta] for m in ds.model.values])
    out = xr.DataArray(values, dims=("model", "d", "s"), coords=dict(model=ds.model, d=ds.d, s=ds.s))
    out.attrs.update(long_name="n50 of the convex limit: delta (linear), about 2 delta (ReLU)", units="1")
    return out


def _convex_cell(ds, cell, keep=None):
    """``(sizes, outcome)`` of the convex program in one ``(model, regularizer, d, s)`` cell, in
    :func:`sweep.fit.transition_nested`'s layout. The program has no step: a probe dataset's
    probes of every step are pooled (a trial's repeated sizes are one outcome)."""
    cs = ds.convex_success.sel(**cell)
    if "probe" not in ds.dims:
        first = cs.isel(step_size=0) if "step_size" in cs.dims else cs
        return ds.n.sel(d=cell["d"], s=cell["s"]).values, first.transpose("ratio", "trial").values
    n = ds.n.sel(**cell)
    order = ("trial", *(d for d in ("step_size",) if d in n.dims), "probe")
    T = ds.sizes["trial"]
    return by_size(n.transpose(*order).values.reshape(T, -1), cs.transpose(*order).values.reshape(T, -1), keep)


def _pgd_cell(ds, succ, cell, keep=None):
    """``(sizes, outcome)`` of PGD in one cell (a step among its keys), as :func:`_convex_cell`."""
    if "probe" not in ds.dims:
        return ds.n.sel(d=cell["d"], s=cell["s"]).values, succ.sel(**cell).transpose("ratio", "trial").values
    n = ds.n.sel(**cell).transpose("trial", "probe").values
    return by_size(n, succ.sel(**cell).transpose("trial", "probe").values, keep)


def convex_fits(ds: xr.Dataset, cap: int | None = None, resamples: int = RESAMPLES, seed: int = 0) -> xr.Dataset | None:
    """The convex program's transition and PGD's distance from it, where ``ds`` has
    ``convex_success`` (``docs/design.md#the-convex-limit``).

    Returns
    -------
    xarray.Dataset
        ``n50_convex`` with ``n50_convex_lower`` and ``n50_convex_upper`` (trial bootstrap, as
        ``n50``) over ``(model, regularizer, d, s)``, NaN for the sets that are not convex;
        ``over_convex`` = PGD's ``n50`` over ``n50_convex`` with ``over_convex_lower`` and
        ``over_convex_upper`` over ``(model, regularizer, step_size, d, s)``: a paired
        interval (:func:`sweep.fit.ratio_nested`: both see each trial's ``X``, and each
        resample weights a trial once for both). ``cap`` as in :func:`transitions` (PGD's
        only: the program has no cap).
    """
    dims = tuple(d for d in CELL if d in ds.dims)
    cell_dims = tuple(d for d in dims if d != "step_size")
    conv = {k: np.full(tuple(ds.sizes[d] for d in cell_dims), np.nan) for k in ("n50", "n50_lower", "n50_upper")}
    over = {k: np.full(tuple(ds.sizes[d] for d in dims), np.nan) for k in ("ratio", "ratio_lower", "ratio_upper")}
    succ = success_at(ds, cap)
    steps = ds.step_size.values if "step_size" in dims else [None]
    for idx in np.ndindex(*conv["n50"].shape):
        cell = {d: ds[d].values[i] for d, i in zip(cell_dims, idx, strict=True)}
        if ds.convex_success.sel(**cell).isnull().all():
            continue  # a set that is not convex
        sizes, outcome = _convex_cell(ds, cell)
        if sizes.size:
            for key, v in transition_nested(sizes, outcome, resamples, seed).items():
                if key in conv:
                    conv[key][idx] = v
        for k, mu in enumerate(steps):
            at = dict(cell, **({"step_size": mu} if mu is not None else {}))
            keep = _probed(ds, succ, at) if "probe" in ds.dims else None
            (na, sa), (nb, sb) = _pgd_cell(ds, succ, at, keep), _convex_cell(ds, cell, keep)
            fit = ratio_nested(na, sa, nb, sb, resamples, seed) if na.size and nb.size else {}
            full = tuple(k if d == "step_size" else idx[cell_dims.index(d)] for d in dims)
            for key in over:
                over[key][full] = fit.get(key, np.nan)
    coords = {d: ds[d].values for d in dims}
    out = xr.Dataset(
        {f"n50_convex{suffix}": (cell_dims, conv[f"n50{suffix}"]) for suffix in ("", "_lower", "_upper")}
        | {f"over_convex{suffix}": (dims, over[f"ratio{suffix}"]) for suffix in ("", "_lower", "_upper")},
        coords=coords,
    )
    out["n50_convex"].attrs.update(long_name="samples at 50% success of the convex program", units="1")
    out["over_convex"].attrs.update(long_name="n50 of PGD over n50 of the convex program, same trials", units="1")
    return out


def _probed(ds, succ, cell):
    """The trials with a PGD probe or a program outcome in ``cell``: both sides of a paired
    ratio are resampled over the same trials."""
    n = ds.n.sel(**cell)
    pgd = (np.isfinite(n) & succ.sel(**cell).notnull()).any("probe")
    cell_wo = {k: v for k, v in cell.items() if k != "step_size"}
    conv = ds.convex_success.sel(**cell_wo).notnull().any([d for d in ("step_size", "probe") if d in ds.dims])
    return (pgd | conv).values


def _with_limits(ds, cap, resamples, seed, out):
    """:func:`transitions`' dataset with the convex limit's lines (:func:`limit_n50`) and, where
    measured, the convex program's fits (:func:`convex_fits`)."""
    limit = limit_n50(ds)
    if limit is not None:
        out["n50_limit"] = limit.broadcast_like(out.n50).transpose(*out.n50.dims)
    if "convex_success" in ds:
        out = out.merge(convex_fits(ds, cap, resamples, seed))
    return out


def transition_table(ds: xr.Dataset, cap: int | None = None, resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """:func:`transitions` as a tidy DataFrame, one row per ``(model, regularizer, step_size,
    d, s)``."""
    return transitions(ds, cap, resamples, seed).to_dataframe().reset_index()


#: The columns of ``transitions.csv`` that only a dataset with ``convex_success`` has.
CONVEX_COLUMNS = (
    *("n50_convex", "n50_convex_lower", "n50_convex_upper"),
    *("over_convex", "over_convex_lower", "over_convex_upper"),
)
#: The columns of ``transitions.csv`` (``analysis report``), in order: keep them stable.
CSV_COLUMNS = (
    *("model", "regularizer", "step_size", "d", "s", "cap"),
    *("n50", "n50_lower", "n50_upper", "width", "c_approx", "c_l1", "c_l0_mc"),
    # the convex limit: its theory line (where the dataset has the statistical dimension), then
    # the program's measured n50 and PGD over it (where the dataset has convex_success)
    "n50_limit",
    *CONVEX_COLUMNS,
)


def cap_table(ds: xr.Dataset, resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """:func:`transition_table` at every rung of :func:`cap_ladder` of the dataset's cap, one
    row per ``(model, regularizer, step_size, d, s, cap)`` with :data:`CSV_COLUMNS`."""
    cap = int(ds.attrs["iterations"])
    frames = []
    for rung in cap_ladder(cap):
        table = transition_table(ds, None if rung == cap else rung, resamples, seed)
        table["cap"] = rung
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    return table[[c for c in CSV_COLUMNS if c in table]]


def settled(ds: xr.Dataset, resamples: int = RESAMPLES, seed: int = 0) -> xr.DataArray:
    """Per ``(model, regularizer, step_size, d, s)``: whether n50 at half the cap lies inside n50's 95%
    interval at the cap (the cap no longer moves the answer), as a boolean DataArray."""
    cap = int(ds.attrs["iterations"])
    full, half = transitions(ds, None, resamples, seed), transitions(ds, cap // 2, resamples, seed)
    return (half.n50 >= full.n50_lower) & (half.n50 <= full.n50_upper)


def model_ratio(
    ds: xr.Dataset,
    cap: int | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    numerator: str = "relu",
    denominator: str = "linear",
) -> pd.DataFrame:
    """``n50`` of ReLU over linear observations per ``(regularizer, step_size, d, s)``, with
    the paired 95% interval of :func:`sweep.fit.ratio_nested` (both models see each trial's
    ``X``, so each resample weights a trial once for both). Either layout; ``cap`` as in
    :func:`transitions`.

    Returns
    -------
    pandas.DataFrame
        ``regularizer, step_size, d, s, ratio, ratio_lower, ratio_upper``, one row per cell.
    """
    succ = success_at(ds, cap)
    rows = []
    for g in ds.regularizer.values:
        for mu in ds.step_size.values:
            for d in ds.d.values:
                for s in ds.s.values:
                    cell = dict(regularizer=g, step_size=mu, d=d, s=s)
                    fit = _paired_ratio(ds, succ, cell, (numerator, denominator), resamples, seed)
                    rows.append(
                        dict(
                            regularizer=g,
                            step_size=float(mu),
                            d=int(d),
                            s=int(s),
                            ratio=fit.get("ratio", np.nan),
                            ratio_lower=fit.get("ratio_lower", np.nan),
                            ratio_upper=fit.get("ratio_upper", np.nan),
                        )
                    )
    return pd.DataFrame(rows)


def _paired_ratio(ds, succ, cell, models, resamples, seed):
    """:func:`sweep.fit.ratio_nested` of one cell's two models (empty where either has no data)."""
    cells = [succ.sel(model=m, **cell) for m in models]
    if "probe" in ds.dims:
        ns = [ds.n.sel(model=m, **cell).transpose("trial", "probe").values for m in models]
        vals = [c.transpose("trial", "probe").values for c in cells]
        keep = np.logical_or(*[(np.isfinite(n) & np.isfinite(v)).any(axis=1) for n, v in zip(ns, vals, strict=True)])
        (na, sa), (nb, sb) = (by_size(n, v, keep) for n, v in zip(ns, vals, strict=True))
    else:
        na = nb = ds.n.sel(d=cell["d"], s=cell["s"]).values
        sa, sb = (c.transpose("ratio", "trial").values for c in cells)
    return ratio_nested(na, sa, nb, sb, resamples, seed) if na.size and nb.size else {}


def time_data(ds: xr.Dataset, min_count: int = 3, bins: int = 16) -> pd.DataFrame:
    """The time–data trade-off as a table: per ``(model, regularizer, step_size, d, s)`` and
    sample size, the quartiles of the iterations to tolerance among the trials that
    succeeded. Over the ratios of a grid; a probe dataset's ``n / n0`` is binned
    geometrically (``bins`` bins per cell), each bin at its successes' median ``n / n0``.
    Groups of fewer than ``min_count`` successes are left out.

    Returns
    -------
    pandas.DataFrame
        ``model, regularizer, step_size, d, s, ratio, successes, trials, q25, median, q75``
        (``trials``: every trial run at that ratio or in that bin, failures included).
    """
    rows = []
    for m in ds.model.values:
        for g in ds.regularizer.values:
            for mu in ds.step_size.values:
                for d in ds.d.values:
                    for s in ds.s.values:
                        cell = ds.sel(model=m, regularizer=g, step_size=mu, d=d, s=s)
                        n = cell.n if "probe" in ds.dims else cell.n.broadcast_like(cell.success)
                        ok = (cell.success == 1).values
                        tried = np.isfinite(cell.success.values)  # a trial run at that n, whatever its end
                        ratios = n.values / float(cell.n0)
                        x, it = ratios[ok], cell.iterations.values[ok]
                        for r, group, total in _groups(x, it, "probe" in ds.dims, bins, ratios[tried]):
                            if group.size >= min_count:
                                q = np.percentile(group, [25, 50, 75])
                                rows.append(
                                    dict(
                                        model=str(m),
                                        regularizer=str(g),
                                        step_size=float(mu),
                                        d=int(d),
                                        s=int(s),
                                        ratio=r,
                                        successes=int(group.size),
                                        trials=int(total),
                                        q25=q[0],
                                        median=q[1],
                                        q75=q[2],
                                    )
                                )
    cols = ["model", "regularizer", "step_size", "d", "s", "ratio", "successes", "trials", "q25", "median", "q75"]
    return pd.DataFrame(rows, columns=cols)


def _groups(x, it, binned, bins, tried):
    """``(ratio, iterations, trials)`` groups of the successes at ``x``: per distinct ratio,
    or per geometric bin of ``x``; ``trials`` counts the trials run there (``tried``: the
    ratios of every trial, failures included), so that a figure can say how many failed."""
    if not x.size:
        return []
    if not binned:
        return [(float(r), it[x == r], int(np.sum(tried == r))) for r in np.unique(x)]
    edges = np.geomspace(x.min(), x.max() * (1 + 1e-12), bins + 1)
    which, every = np.digitize(x, edges) - 1, np.digitize(tried, edges) - 1
    return [(float(np.median(x[which == b])), it[which == b], int(np.sum(every == b))) for b in np.unique(which)]


def spending(ds: xr.Dataset, fit: xr.Dataset | None = None) -> pd.DataFrame:
    """Where an adaptive sweep spent its trials, per ``(model, regularizer, step_size, d, s)``
    cell: trials and probes used, rounds, and n50's 95% interval at the end (``fit``:
    :func:`transitions` of ``ds``, computed when not given).

    ``closed``: the cell stopped before its trials were spent. A cell gets probes in every
    round until the sweep closes it, and it closes only when its interval's half-width is at
    most ``precision`` times n50, so a cell with fewer trials than the budget is one the
    sweep closed; ``precision_reached`` is that test on the interval refitted here, which
    sees the data the sweep stopped on. (A cell that closed on its budget's last round is
    not told apart from one that ran out.)

    Returns
    -------
    pandas.DataFrame
        ``model, regularizer, step_size, d, s, trials, probes, rounds, half_width,
        precision_reached, closed``.
    """
    fit = transitions(ds) if fit is None else fit
    precision, budget = float(ds.attrs["precision"]), int(ds.attrs["trials"])
    rows = []
    for idx in np.ndindex(*(ds.sizes[d] for d in CELL)):
        at = {d: ds[d].values[i] for d, i in zip(CELL, idx, strict=True)}
        cell, f = ds.sel(at), fit.sel(at)
        probed = cell.n.notnull()
        lo, hi, mid = float(f.n50_lower), float(f.n50_upper), float(f.n50)
        trials = int(probed.any("probe").sum())
        rows.append(
            dict(
                model=str(at["model"]),
                regularizer=str(at["regularizer"]),
                step_size=float(at["step_size"]),
                d=int(at["d"]),
                s=int(at["s"]),
                trials=trials,
                probes=int(probed.sum()),
                rounds=int(cell["round"].max()) + 1,
                half_width=(hi - lo) / 2 / mid,
                precision_reached=bool((hi - lo) / 2 <= precision * mid),
                closed=trials < budget,
            )
        )
    return pd.DataFrame(rows)


def median_slope(ds: xr.Dataset) -> xr.DataArray:
    """Median convergence slope per cell over the trials that did not diverge."""
    return ds.slope.where(ds.diverged != 1).median("trial")


def pd_table_markdown(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
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
