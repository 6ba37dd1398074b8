"""Figures of a sweep: phase-transition heatmaps with the theory lines, the Donoho-Tanner
plane, success curves, convergence slopes, and the paper's Figure 1.

Every function returns matplotlib Figures and draws nothing on screen, so the same code
serves notebooks and the CLI.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import matplotlib.patheffects as pe
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from sweep import steps as step_rules
from sweep import structures

from .stats import limit_n50, median_slope, n0_methods, success_rate, time_data

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.figure import Figure

THEORY_LINES = (
    # coordinate, line style; the label is the structure's words for the method
    (
        "n0_approx",
        dict(color="white", ls="--", lw=2, path_effects=[pe.withStroke(linewidth=3.5, foreground="black")]),
    ),
    ("n0_l1", dict(color="#ff7f0e", ls=":", lw=2.5)),
    ("n0_l0_mc", dict(color="#d62728", ls="-.", lw=2)),
)
EMPIRICAL = dict(color="black", marker="o", ms=4, lw=1.5, label="empirical 50% success")
SLOPE_THEORY = math.log10(0.5)


def _steps_of(obj):
    """The step sizes an argument of a figure function holds, or None."""
    if isinstance(obj, (xr.Dataset, xr.DataArray)) and "step_size" in obj.dims:
        return [float(mu) for mu in obj.step_size.values]
    if isinstance(obj, pd.DataFrame) and "step_size" in obj.columns and len(obj):
        return sorted(float(mu) for mu in obj.step_size.unique())
    return None


def _at_step(obj, mu):
    if isinstance(obj, (xr.Dataset, xr.DataArray)) and "step_size" in obj.dims:
        return obj.sel(step_size=mu)
    if isinstance(obj, pd.DataFrame) and "step_size" in obj.columns:
        return obj[obj.step_size == mu]
    return obj


def per_step(plot: Callable[..., dict[str, Figure]]) -> Callable[..., dict[str, Figure]]:
    """Draw a figure function once per step size: its datasets and tables (any argument with
    a ``step_size`` dimension or column) taken at each step in turn. At one step the figures
    keep their names; at several each name gains ``_step<mu>`` (a step rule's name, such as
    ``_stepnormalized``) and each title the step."""

    @functools.wraps(plot)
    def drawn(*args, **kwargs):
        steps = next((st for st in map(_steps_of, [*args, *kwargs.values()]) if st is not None), [None])
        figs = {}
        for mu in steps:
            a = [_at_step(x, mu) for x in args]
            kw = {k: _at_step(v, mu) for k, v in kwargs.items()}
            for name, fig in plot(*a, **kw).items():
                if len(steps) > 1:
                    name = f"{name}_step{step_rules.label(mu)}"
                    title = fig.get_suptitle()
                    fig.suptitle(f"{title}; {_step_words(mu)}" if title else _step_words(mu))
                figs[name] = fig
        return figs

    return drawn


def _step_words(mu):
    """A step in a title or legend: ``step mu_t = 0.5`` or ``normalized step``."""
    return f"step mu_t = {mu:g}" if step_rules.is_fixed(mu) else f"{step_rules.label(mu)} step"


def _words(ds):
    """The words of the dataset's structure of ``w*`` (:class:`sweep.structures.Structure`):
    the one source of its labels, so a new structure cannot borrow another's."""
    return structures.get(ds.attrs.get("structure", structures.DEFAULT))


def _n0_words(ds, method):
    """An n0 method (``approx``, ``l1``, ``l0-mc`` or its variable spelling ``l0_mc``) in
    the structure's words."""
    return _words(ds).n0_words.get(method.replace("_", "-"), method)


def _n0_label(ds):
    return _n0_words(ds, ds.attrs.get("n0_method", "approx"))


def _theory_label(ds, var):
    """A theory line's legend entry, in the words of the dataset's structure."""
    return "n = " + _n0_words(ds, var.removeprefix("n0_"))


def _pos(r, ratios):
    """Position of ratio ``r`` on a heatmap's categorical x axis (cell centres at i + 0.5).

    Linear between cell centres and extrapolated with the end spacings, so a theory line
    outside the grid is drawn outside the cells rather than clipped onto them.
    """
    x = np.arange(len(ratios)) + 0.5
    if len(ratios) == 1:
        return np.full_like(np.asarray(r, float), 0.5)
    r = np.asarray(r, float)
    out = np.interp(r, ratios, x)
    lo, hi = r < ratios[0], r > ratios[-1]
    out[lo] = 0.5 + (r[lo] - ratios[0]) / (ratios[1] - ratios[0])
    out[hi] = x[-1] + (r[hi] - ratios[-1]) / (ratios[-1] - ratios[-2])
    return out


def _crossing(rate, ratios):
    """Ratio at which a success-rate row first crosses 0.5 (NaN if it never does)."""
    r = np.asarray(rate, float)
    for i in range(1, len(r)):
        if np.isfinite(r[i - 1]) and np.isfinite(r[i]) and r[i - 1] < 0.5 <= r[i]:
            return ratios[i - 1] + (0.5 - r[i - 1]) / (r[i] - r[i - 1]) * (ratios[i] - ratios[i - 1])
    return 0.0 if np.isfinite(r).any() and r[np.isfinite(r)][0] >= 0.5 else np.nan


def _bars(point, lower, upper):
    """Error bar lengths ``(2, N)`` below and above ``point``. A separated cell's interval is
    the point itself, and its ends may lie a rounding error on the wrong side of it."""
    return np.clip(np.array([np.asarray(point) - lower, np.asarray(upper) - point], float), 0, None)


def _log_x(ax, ticks):
    """A log x axis labelled at exactly ``ticks`` (caps, dimensions): the values a reader
    looks up, not matplotlib's decades."""
    ax.set_xscale("log")
    # a label closer than a quarter octave to the next one is left out (the last is kept): a cap
    # ladder ends 12800, 25600, 30000, and two labels that close overprint each other
    shown = [v for v, w in zip(ticks, [*ticks[1:], None], strict=True) if w is None or math.log2(w / v) >= 0.25]
    ax.set_xticks(ticks, [f"{v:g}" if v in shown else "" for v in ticks])
    ax.set_xticks([], minor=True)
    if len(ticks) == 1:  # one value: matplotlib would put it on the frame
        ax.set_xlim(ticks[0] / 2, ticks[0] * 2)


def _round_ticks(values):
    """Ticks for a log axis over ``values``: 1, 2 and 5 times the powers of ten within it."""
    lo, hi = float(np.min(values)), float(np.max(values))
    ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]
    inside = [t for t in ticks if lo <= t <= hi]
    return inside if len(inside) >= 2 else [lo, hi]


def _model_panels(regs, models, width):
    """A figure of one panel per (regularizer, model): regularizers down, models across,
    one x axis."""
    return plt.subplots(
        len(regs),
        len(models),
        figsize=(width * len(models) + 1, 3.8 * len(regs) + 0.8),
        squeeze=False,
        constrained_layout=True,
        sharex=True,
    )


def _facets(ds, title):
    """One figure per regularizer with a panel per ``(d, model)``.

    Yields ``(reg, fig, axes, panels)`` where ``panels`` lists ``(ax, d, model, panel_title)``;
    ``title`` may use ``{reg}``.
    """
    nd, nm = ds.sizes["d"], ds.sizes["model"]
    for reg in ds.regularizer.values:
        fig, axes = plt.subplots(nd, nm, figsize=(5.2 * nm + 1, 3.6 * nd + 0.8), squeeze=False, constrained_layout=True)
        fig.suptitle(title.format(reg=reg), fontsize=13)
        panels = [
            (axes[i, j], d, model, f"{model} observations, {reg}, d = {d}")
            for i, d in enumerate(ds.d.values)
            for j, model in enumerate(ds.model.values)
        ]
        yield reg, fig, axes, panels


def _cell_heatmap(ax, ds, values, title, cbar_label, **kwargs):
    """One ``(s, n/n0)`` panel: s upwards, ratios as columns, labelled axes and colour bar."""
    sns.heatmap(
        values,
        ax=ax,
        xticklabels=[f"{r:g}" for r in ds.ratio.values],
        yticklabels=[str(s) for s in ds.s.values],
        cbar_kws=dict(label=cbar_label),
        **kwargs,
    )
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(f"n / n0   (n0 = {_n0_label(ds)}; one column per ratio, not to scale)")
    ax.set_ylabel(f"{_words(ds).s_words}, one row each")


@per_step
def plot_heatmaps(ds: xr.Dataset) -> dict[str, Figure]:
    """Success rate over ``(n/n0, s)``, one figure per regularizer, panels per ``d`` x model.

    Each panel draws the theory lines ``n = n0`` (by every method available) and the
    empirical 50% contour.

    Returns
    -------
    dict
        ``"heatmap_<regularizer>" -> Figure``.
    """
    rates = success_rate(ds).rate
    ratios = ds.ratio.values
    figs = {}
    title = f"Phase transition of PGD, constraint {{reg}}: success rate (tolerance {ds.attrs.get('tolerance', '?')})"
    for reg, fig, axes, panels in _facets(ds, title):
        for ax, d, model, panel_title in panels:
            sub = rates.sel(model=model, regularizer=reg, d=d).transpose("s", "ratio")
            _cell_heatmap(ax, ds, sub.values, panel_title, "success rate", vmin=0, vmax=1, cmap="viridis")
            y = np.arange(ds.sizes["s"]) + 0.5
            n0 = ds.n0.sel(d=d).values
            for var, style in THEORY_LINES:
                if var in ds.coords and (var != "n0_l0_mc" or reg == "l0") and (var != "n0_l1" or reg != "none"):
                    ax.plot(_pos(ds[var].sel(d=d).values / n0, ratios), y, label=_theory_label(ds, var), **style)
            _draw_convex_limit(ax, ds, reg, model, d, n0, ratios, y)
            emp = [_crossing(sub.sel(s=s).values, ratios) for s in ds.s.values]
            ax.plot(_pos(np.array(emp), ratios), y, **EMPIRICAL)
            ax.set_xlim(0, len(ratios))
        handles, labels = axes[0, 0].get_legend_handles_labels()
        # at most three entries a row: the figure is as wide as its panels, and a legend wider is cut
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)), frameon=False)
        figs[f"heatmap_{reg}"] = fig
    return figs


RELU_LIMIT = dict(color="#ff7f0e", ls="-", lw=2.2)
CONVEX_MEASURED = dict(color="#ff7f0e", marker="D", ms=5, lw=0, mec="black")


def _limit_words(model):
    """The convex limit of an observation model in a legend (docs/design.md#the-convex-limit)."""
    return "convex limit of ReLU observations (≈ 2δ)" if model == "relu" else "convex limit (δ)"


def _draw_convex_limit(ax, ds, reg, model, d, n0, ratios, y):
    """On a heatmap panel: the ReLU observations' convex limit (about 2δ; the linear one is the δ
    line already drawn), and where the dataset has it the convex program's measured 50% point."""
    limit = limit_n50(ds)
    if limit is not None and model == "relu" and reg != "none":
        ax.plot(_pos(limit.sel(model=model, d=d).values / n0, ratios), y, label=_limit_words(model), **RELU_LIMIT)
    if "convex_success" in ds and ds.convex_success.sel(regularizer=reg).notnull().any():
        rate = ds.convex_success.sel(model=model, regularizer=reg, d=d).mean("trial").transpose("s", "ratio")
        at = [_crossing(rate.sel(s=s).values, ratios) for s in ds.s.values]
        ax.plot(_pos(np.array(at), ratios), y, label="convex program, 50% (measured)", **CONVEX_MEASURED)


@per_step
def plot_donoho_tanner(ds: xr.Dataset) -> dict[str, Figure]:
    """Success rate in the Donoho-Tanner plane ``(n/d, rho = s/n)`` (their ``delta`` is
    ``n/d``; here δ is kept for the statistical dimension).

    The predicted curves trace ``n = n0(s, d)`` as ``s`` varies: below a curve
    (``rho`` small for the given ``delta``) PGD should succeed.
    """
    rates = success_rate(ds).rate
    figs = {}
    for reg, fig, axes, panels in _facets(ds, "Donoho-Tanner plane, constraint {reg}"):
        for ax, d, model, panel_title in panels:
            structure, g = _words(ds).name, int(ds.attrs.get("group_size", 1))
            s_line = np.unique(np.geomspace(1, d / g / 4, 200))
            sub = rates.sel(model=model, regularizer=reg, d=d)
            n = ds.n.sel(d=d)
            delta = (n / d).broadcast_like(sub).values.ravel()
            rho = (ds.s / n).broadcast_like(sub).transpose(*sub.dims).values.ravel()
            sc = ax.scatter(delta, rho, c=sub.values.ravel(), cmap="viridis", vmin=0, vmax=1, s=40, edgecolors="none")
            # a Monte-Carlo n0 (the nuclear norm's) is not drawn as a curve: 200 estimates a panel
            for method, style in (("approx", dict(color="k", ls="--")), ("l1", dict(color="#ff7f0e", ls=":"))):
                if _words(ds).n0[method].sampled:
                    continue
                n0 = np.array([structures.n0(structure, s, d, method, g)[0] for s in s_line])
                ax.plot(n0 / d, s_line / n0, label="n = " + _n0_words(ds, method), lw=2, **style)
            ax.set_xlim(0, min(1.05 * float(delta.max()), 1.5))
            ax.set_ylim(0, min(1.0, 1.1 * float(rho.max())))
            ax.set_xlabel("n / d  (undersampling; Donoho–Tanner's δ)")
            ax.set_ylabel("ρ = s / n  (sparsity)")
            ax.set_title(panel_title)
            fig.colorbar(sc, ax=ax, label="success rate")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
        figs[f"donoho_tanner_{reg}"] = fig
    return figs


@per_step
def plot_curves(ds: xr.Dataset) -> dict[str, Figure]:
    """Success rate against ``n/n0`` with Wilson 95% bands, one line per ``s``."""
    sr = success_rate(ds)
    palette = sns.color_palette("rocket_r", ds.sizes["s"])
    figs = {}
    for reg, fig, axes, panels in _facets(ds, "Success rate against n / n0, constraint {reg} (bands: Wilson 95%)"):
        for ax, d, model, panel_title in panels:
            for k, s in enumerate(ds.s.values):
                c = sr.sel(model=model, regularizer=reg, d=d, s=s)
                ax.plot(ds.ratio, c.rate, marker="o", ms=3, color=palette[k], label=f"s = {s}")
                ax.fill_between(ds.ratio, c.lower, c.upper, color=palette[k], alpha=0.15, lw=0)
            ax.axvline(1.0, color="grey", ls="--", lw=1)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(f"n / n0   (n0 = {_n0_label(ds)})")
            ax.set_ylabel("success rate")
            ax.set_title(panel_title)
        axes[0, -1].legend(title="sparsity", fontsize=8)
        figs[f"curves_{reg}"] = fig
    return figs


@per_step
def plot_slopes(ds: xr.Dataset) -> dict[str, Figure]:
    """Median convergence slope per cell, over the trials that did not diverge; the theory's
    ``log10(1/2)`` marked on the colour bar. A cell where at least half the trials diverged
    is hatched, not coloured: the median of the few that did not would read as a fast cell
    (the slope of a diverging run is not a rate of convergence)."""
    diverged = ds.diverged.mean("trial")
    slopes = median_slope(ds).where(diverged < 0.5)
    lo = float(min(np.nanmin(slopes.values) if np.isfinite(slopes.values).any() else -1, 2 * SLOPE_THEORY))
    figs = {}
    title = (
        "Median convergence slope of log10 relative error per iteration, constraint {reg}\n"
        "(over the trials that did not diverge; hatched: at least half the trials diverged)"
    )
    for reg, fig, _axes, panels in _facets(ds, title):
        for ax, d, model, panel_title in panels:
            sub = slopes.sel(model=model, regularizer=reg, d=d).transpose("s", "ratio")
            _cell_heatmap(
                ax,
                ds,
                sub.values,
                panel_title,
                "median slope, non-diverged trials",
                vmin=lo,
                vmax=0,
                cmap="mako",
            )
            ax.set_facecolor("white")
            lost = diverged.sel(model=model, regularizer=reg, d=d).transpose("s", "ratio").values
            for i, j in zip(*np.nonzero(lost >= 0.5), strict=True):
                ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor="0.55", lw=0))
            cbar = ax.collections[0].colorbar
            cbar.ax.axhline(SLOPE_THEORY, color="#ff7f0e", lw=2.5)
            cbar.ax.text(
                -0.3,
                SLOPE_THEORY,
                "log10(1/2)",
                color="#ff7f0e",
                ha="right",
                va="center",
                fontsize=8,
                transform=cbar.ax.get_yaxis_transform(),
            )
        figs[f"slopes_{reg}"] = fig
    return figs


def plot_figure1(ds: xr.Dataset, faint: int = 5) -> dict[str, Figure]:
    """The paper's Figure 1: error against iteration, the median in bold (what the results
    quote: a mean on a log axis is carried by its worst trials), a few trials faint.

    Returns ``{"figure1": Figure}`` with a linear-scale panel (the paper's look) and a
    log-scale one (the linear convergence of Theorem 3.1 is a straight line there).
    """
    tr = ds.trace
    colors = {"relu": "#1f77b4", "linear": "#d62728"}
    names = {"relu": "ReLU observations y = ReLU(Xw*)", "linear": "linear observations y = Xw*"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    t = ds.iteration.values
    for ax, log in zip(axes, (False, True), strict=True):
        for model in tr.model.values:
            c = colors.get(str(model), None)
            for k in range(min(faint, tr.sizes["trial"])):
                ax.plot(t, tr.sel(model=model).isel(trial=k), color=c, alpha=0.3, lw=0.8)
            ax.plot(
                t,
                tr.sel(model=model).median("trial"),
                color=c,
                lw=3,
                label=names.get(str(model), str(model)) + " (median)",
            )
        if log:
            ax.set_yscale("log")
            ax.plot(t, 0.5**t, color="grey", ls="--", lw=1.2, label="(1/2)^t  (Theorem 3.1)")
        ax.set_xlabel("iteration t")
        ax.set_ylabel("estimation error ||w_t − w*||")
        ax.set_xlim(t[0], t[-1])
        ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))  # iterations are whole
        ax.legend(fontsize=8)
    a = ds.attrs
    fig.suptitle(
        f"Figure 1: PGD with l0 projection, d = {a.get('d')}, s = {a.get('s')}, n = {a.get('n')}, "
        f"{tr.sizes['trial']} trials (bold: median; faint: single trials)"
    )
    return {"figure1": fig}


@per_step
def plot_caps(table: pd.DataFrame, ds: xr.Dataset) -> dict[str, Figure]:
    """``n50 / n0`` against the iteration cap, one panel per ``(model, regularizer)``.

    ``table`` is :func:`analysis.stats.cap_table`'s: one line per ``(d, s)``, with the 95%
    interval as error bars, against a log cap axis. Where the line is flat over the last
    rungs, the cap no longer decides the answer; where it still falls, n50 at the dataset's
    cap is partly a statement about the cap.
    """
    models, regs = list(ds.model.values), list(ds.regularizer.values)
    fig, axes = _model_panels(regs, models, 5.4)
    cells = table[["d", "s"]].drop_duplicates().values.tolist()
    palette = sns.color_palette("viridis", len(cells))
    n0 = ds["n0_approx"] if "n0_approx" in ds.coords else ds["n0"]
    words = _n0_words(ds, "approx") if "n0_approx" in ds.coords else _n0_label(ds)
    limit = limit_n50(ds)
    for i, reg in enumerate(regs):
        for j, model in enumerate(models):
            ax = axes[i, j]
            for k, (d, s) in enumerate(cells):
                rows = table[(table.model == model) & (table.regularizer == reg) & (table.d == d) & (table.s == s)]
                base = float(n0.sel(d=d, s=s))
                err = _bars(rows.n50, rows.n50_lower, rows.n50_upper) / base
                ax.errorbar(
                    rows.cap,
                    rows.n50 / base,
                    yerr=err,
                    marker="o",
                    ms=3,
                    capsize=2,
                    color=palette[k],
                    label=f"d = {d}, s = {s}",
                )
                if limit is not None and reg != "none":
                    level = float(limit.sel(model=model, d=d, s=s)) / base
                    words_k = f"{_limit_words(model)}, d = {d}, s = {s}"
                    ax.axhline(level, color=palette[k], ls=":", lw=1.2, label=words_k)
            _log_x(ax, sorted(table.cap.unique()))
            ax.set_title(f"{model} observations, {reg}")
            ax.set_xlabel("iteration cap")
            ax.set_ylabel(f"n50 / ({words})")
    axes[0, -1].legend(fontsize=7, ncols=1 + len(cells) // 8)
    fig.suptitle("Where recovery starts, against the iteration cap (bars: 95% intervals)", fontsize=13)
    return {"caps": fig}


def _probe_cells(ds, title):
    """One figure per regularizer with a panel per ``((d, s), model)`` of a probe dataset."""
    keys = [(d, s) for d in ds.d.values for s in ds.s.values]
    nm = ds.sizes["model"]
    for reg in ds.regularizer.values:
        fig, axes = plt.subplots(
            len(keys), nm, figsize=(5.4 * nm + 1, 3.4 * len(keys) + 0.8), squeeze=False, constrained_layout=True
        )
        fig.suptitle(title.format(reg=reg), fontsize=12)
        yield (
            reg,
            fig,
            axes,
            [(axes[i, j], d, s, m) for i, (d, s) in enumerate(keys) for j, m in enumerate(ds.model.values)],
        )


@per_step
def plot_probes(ds: xr.Dataset, resamples: int = 1000, fit: xr.Dataset | None = None) -> dict[str, Figure]:
    """Where the probes went and the success curve they found, per cell of a probe dataset
    (a ratio range or an adaptive sweep).

    Bars: the probes' ``n / n0`` (stacked by round). Line: the fitted success curve (Firth
    logistic in ``log n``, over every probe) with its pointwise 95% band from resampling
    whole trials; dots: the success rate at each ``n`` probed by five trials or more; the
    shaded span: n50's 95% interval (:func:`analysis.stats.transitions`; pass ``fit`` when
    it is already computed).
    """
    from sweep.adaptive import by_size
    from sweep.fit import curve_band

    from .stats import transitions

    fit = transitions(ds, resamples=resamples) if fit is None else fit
    figs = {}
    title = (
        "Probes (bars; darker: later rounds) and the fitted success curve with its 95% band (orange: n50's 95% "
        "interval), constraint {reg}"
    )
    for reg, fig, _axes, panels in _probe_cells(ds, title):
        for ax, d, s, model in panels:
            cell = ds.sel(model=model, regularizer=reg, d=d, s=s)
            n0 = float(cell.n0)
            n, ok = cell.n.values, cell.success.values
            probed = np.isfinite(n) & np.isfinite(ok)
            rounds = cell["round"].values[probed] if "round" in cell else np.zeros(probed.sum())
            ax.set_title(f"{model} observations, {reg}, d = {d}, s = {s}")
            ax.set_xlabel(f"n / n0   (n0 = {_n0_label(ds)})")
            if not probed.any():
                continue
            x = n[probed] / n0
            bins = np.linspace(x.min(), x.max(), 41)
            groups = [x[rounds == r] for r in np.unique(rounds)]
            ax.hist(groups, bins=bins, stacked=True, color=sns.color_palette("crest", len(groups)), alpha=0.6)
            ax.set_ylabel("probes")
            twin = ax.twinx()
            sizes, outcome = by_size(n, ok)
            grid = np.geomspace(sizes.min(), sizes.max(), 200)
            p, lo, hi = curve_band(sizes, outcome, grid, resamples)
            twin.fill_between(grid / n0, lo, hi, color="black", alpha=0.15, lw=0)
            twin.plot(grid / n0, p, color="black", lw=1.5, label="fitted p(n), 95% band")
            count = np.isfinite(outcome).sum(axis=1)
            rate = np.nanmean(np.where(count[:, None] >= 5, outcome, np.nan), axis=1) if (count >= 5).any() else None
            if rate is not None:
                twin.plot(sizes / n0, rate, "o", ms=2.5, color="#d62728", label="success rate (≥ 5 trials)")
            f = fit.sel(model=model, regularizer=reg, d=d, s=s)
            if np.isfinite(f.n50_lower) and np.isfinite(f.n50_upper):
                twin.axvspan(float(f.n50_lower) / n0, float(f.n50_upper) / n0, color="#ff7f0e", alpha=0.3, lw=0)
            twin.set_ylim(-0.02, 1.02)
            twin.set_ylabel("success probability")
            twin.legend(fontsize=7, loc="center right")
        figs[f"probes_{reg}"] = fig
    return figs


@per_step
def plot_strips(ds: xr.Dataset) -> dict[str, Figure]:
    """Success strips of a ratio-range dataset: one row per trial, ``n / n0`` across, dark
    where PGD recovered ``w*`` on the trial's ``X[:n]``. A row that switches on and off
    again is a trial whose success is not monotone in ``n`` (:mod:`analysis.flicker`)."""
    from .flicker import strips

    figs = {}
    title = "Success per trial (rows) and n (columns) on nested designs, constraint {reg} (dark: success)"
    for reg, fig, _axes, panels in _probe_cells(ds, title):
        for ax, d, s, model in panels:
            success, n = strips(ds, model, reg, d, s)
            ax.set_title(f"{model} observations, {reg}, d = {d}, s = {s}")
            if not n.size:
                continue
            n0 = float(ds.n0.sel(d=d, s=s))
            step = (n[1] - n[0]) / n0 if n.size > 1 else 1 / n0
            extent = (n[0] / n0 - step / 2, n[-1] / n0 + step / 2, success.shape[0] - 0.5, -0.5)
            ax.imshow(
                np.nan_to_num(success, nan=0.5),
                aspect="auto",
                cmap="Greys",
                vmin=0,
                vmax=1,
                extent=extent,
                interpolation="nearest",
            )
            ax.axvline(1.0, color="#ff7f0e", ls="--", lw=1)
            ax.set_xlabel(f"n / n0   (n0 = {_n0_label(ds)})")
            ax.set_ylabel("trial")
        figs[f"strips_{reg}"] = fig
    return figs


@per_step
def plot_scale(fit: xr.Dataset, ratios: pd.DataFrame) -> dict[str, Figure]:
    """How the answer moves with ``d``: ``c = n50 / n0`` against ``d`` (log axis), one panel
    per (regularizer, n0 method) with a line per (model, s) and 95% intervals as bars; and
    ReLU's ``n50`` over linear's against ``d`` with the paired intervals.

    ``fit`` is :func:`analysis.stats.transitions`'s dataset and ``ratios``
    :func:`analysis.stats.model_ratio`'s table.
    """
    regs = list(fit.regularizer.values)
    methods = [m for m in n0_methods() if f"c_{m}" in fit]
    fig, axes = plt.subplots(
        len(regs),
        len(methods),
        figsize=(4.6 * len(methods) + 1, 3.6 * len(regs) + 0.8),
        squeeze=False,
        constrained_layout=True,
    )
    styles = {"relu": dict(marker="o", ls="-"), "linear": dict(marker="s", ls="--")}
    palette = sns.color_palette("viridis", fit.sizes["s"])
    d = fit.d.values
    for i, reg in enumerate(regs):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            for model in fit.model.values:
                for k, s in enumerate(fit.s.values):
                    f = fit.sel(model=model, regularizer=reg, s=s)
                    c = f[f"c_{method}"].values
                    scale = c / f.n50.values
                    err = _bars(f.n50.values, f.n50_lower.values, f.n50_upper.values) * scale
                    ax.errorbar(
                        d,
                        c,
                        yerr=err,
                        capsize=2,
                        ms=4,
                        color=palette[k],
                        label=f"{model}, s = {s}",
                        **styles.get(str(model), {}),
                    )
            _log_x(ax, d)
            ax.set_xlabel("d")
            ax.set_ylabel(f"c = n50 / ({_n0_words(fit, method)})")
            ax.set_title(f"{reg}, n0 = {_n0_words(fit, method)}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    fig.suptitle("The empirical constant c = n50 / n0 against d (bars: 95% intervals, trials resampled)", fontsize=12)
    out = {"scale": fig}
    if len(ratios):
        width = max(5 * len(regs) + 1, 7.5)  # the two-line title fits over one panel
        fig, axes = plt.subplots(1, len(regs), figsize=(width, 4.2), squeeze=False, constrained_layout=True)
        for i, reg in enumerate(regs):
            ax = axes[0, i]
            for k, s in enumerate(fit.s.values):
                r = ratios[(ratios.regularizer == reg) & (ratios.s == s)].sort_values("d")
                err = _bars(r.ratio, r.ratio_lower, r.ratio_upper)
                ax.errorbar(r.d, r.ratio, yerr=err, capsize=2, marker="o", ms=4, color=palette[k], label=f"s = {s}")
            ax.axhline(1.0, color="grey", lw=1, ls=":")
            _log_x(ax, d)
            ax.set_xlabel("d")
            ax.set_ylabel("n50 (ReLU) / n50 (linear)")
            ax.set_title(f"{reg}")
        axes[0, -1].legend(fontsize=8)
        fig.suptitle(
            "ReLU's extra cost: n50 of ReLU over linear observations\non the same trials (bars: paired 95% intervals)",
            fontsize=12,
        )
        out["relu_over_linear"] = fig
    return out


def plot_steps(fit: xr.Dataset, ds: xr.Dataset) -> dict[str, Figure]:
    """``n50 / n0`` against the step size ``mu_t``, one panel per (regularizer, model), a
    line per ``(d, s)`` with 95% intervals as bars; dotted at the l1 statistical dimension
    ``delta`` (``n0_l1``), where convex theory puts the transition of the l1 ball. A step
    rule has no step to stand at: its n50 is a dashed level across the panel, its interval
    shaded.

    ``fit`` is :func:`analysis.stats.transitions`'s dataset of ``ds``.
    """
    models, regs = list(fit.model.values), list(fit.regularizer.values)
    fig, axes = _model_panels(regs, models, 5.2)
    cells = [(d, s) for d in fit.d.values for s in fit.s.values]
    palette = sns.color_palette("viridis", len(cells))
    steps = [float(mu) for mu in fit.step_size.values if step_rules.is_fixed(mu)]
    rules = [float(mu) for mu in fit.step_size.values if not step_rules.is_fixed(mu)]
    for i, reg in enumerate(regs):
        for j, model in enumerate(models):
            ax = axes[i, j]
            for k, (d, s) in enumerate(cells):
                f = fit.sel(model=model, regularizer=reg, d=d, s=s)
                n0 = float(ds.n0.sel(d=d, s=s))
                for r, mu in enumerate(rules):
                    at = f.sel(step_size=mu)
                    ax.axhline(
                        float(at.n50) / n0,
                        color=palette[k],
                        ls=("--", "-.")[r % 2],
                        lw=1.5,
                        label=f"{step_rules.label(mu)}, d = {d}, s = {s}",
                    )
                    ax.axhspan(float(at.n50_lower) / n0, float(at.n50_upper) / n0, color=palette[k], alpha=0.15, lw=0)
                if not steps:
                    continue
                f = f.sel(step_size=steps)
                err = _bars(f.n50.values, f.n50_lower.values, f.n50_upper.values) / n0
                ax.errorbar(
                    steps,
                    f.n50 / n0,
                    yerr=err,
                    marker="o",
                    ms=4,
                    capsize=2,
                    color=palette[k],
                    label=f"d = {d}, s = {s}",
                )
                _steps_floor(ax, fit, ds, dict(model=model, regularizer=reg, d=d, s=s), n0, palette[k])
            if steps:
                _log_x(ax, steps)
            ax.set_title(f"{model} observations, {reg}")
            ax.set_xlabel("step size mu_t (t >= 1)")
            ax.set_ylabel(f"n50 / n0   (n0 = {_n0_label(ds)})")
    axes[0, -1].legend(fontsize=7)
    keys = [f"dotted: the convex limit (δ = the {_n0_words(ds, 'l1')} for linear, ≈ 2δ for ReLU)"]
    if "n50_convex" in fit:
        keys.append("solid, hatched: the convex program measured, 95%")
    if rules:
        keys.append("dashed: " + ", ".join(map(step_rules.label, rules)) + " step, 95% shaded")
    fig.suptitle(
        "Where recovery starts, against the step size; bars: 95% intervals; "
        f"cap {ds.attrs.get('iterations', '?')}\n" + ";\n".join(keys),
        fontsize=11,
    )
    return {"steps": fig}


def _steps_floor(ax, fit, ds, cell, n0, color):
    """What a step panel is read against: the model's convex limit (dotted) and, where
    measured, the convex program's n50 on the same trials (solid, its 95% interval hatched)."""
    words = f"d = {cell['d']}, s = {cell['s']}"
    if "n50_limit" in fit and cell["regularizer"] != "none":
        level = float(fit.n50_limit.sel(**cell).isel(step_size=0)) / n0
        ax.axhline(level, color=color, ls=":", lw=1.2, label=f"{_limit_words(cell['model'])}, {words}")
    if "n50_convex" in fit and np.isfinite(fit.n50_convex.sel(**cell)).all():
        at = fit.sel(**cell)
        ax.axhline(float(at.n50_convex) / n0, color=color, ls="-", lw=1.0, label=f"convex program n50, {words}")
        ax.axhspan(
            float(at.n50_convex_lower) / n0, float(at.n50_convex_upper) / n0, color=color, alpha=0.12, hatch="//", lw=0
        )


def plot_time_data(ds: xr.Dataset) -> dict[str, Figure]:
    """The time–data trade-off: the median iterations to tolerance among successes, with
    the quartiles as a band, against ``n / n0``, a curve per step size, one panel per
    (regularizer, model); a figure per ``(d, s)`` (:func:`time_data`)."""
    table = time_data(ds)
    models, regs = list(ds.model.values), list(ds.regularizer.values)
    steps = [float(mu) for mu in ds.step_size.values]
    fixed = [mu for mu in steps if step_rules.is_fixed(mu)]
    palette = dict(zip(fixed, sns.color_palette("rocket_r", len(fixed)), strict=True))
    rule_styles = iter([dict(color="#1f77b4", ls="--"), dict(color="#2ca02c", ls="-.")])
    palette.update({mu: next(rule_styles) for mu in steps if mu not in palette})
    cells = [(int(d), int(s)) for d in ds.d.values for s in ds.s.values]
    figs = {}
    for d, s in cells:
        fig, axes = _model_panels(regs, models, 5.2)
        for i, reg in enumerate(regs):
            for j, model in enumerate(models):
                ax = axes[i, j]
                share = ax.twinx()  # how many of the trials at that n the medians stand for
                share.set_ylim(0, 1.02)
                share.set_ylabel("share of trials that succeeded (dotted)", fontsize=8)
                for mu in steps:
                    t = table[
                        (table.model == model)
                        & (table.regularizer == reg)
                        & (table.step_size == mu)
                        & (table.d == d)
                        & (table.s == s)
                    ]
                    if not len(t):
                        continue
                    style = palette[mu] if isinstance(palette[mu], dict) else dict(color=palette[mu])
                    ax.plot(t.ratio, t["median"], marker="o", ms=3, label=_step_words(mu), **style)
                    ax.fill_between(t.ratio, t.q25, t.q75, color=style["color"], alpha=0.2, lw=0)
                    share.plot(t.ratio, t.successes / t.trials, color=style["color"], lw=0.8, alpha=0.7, ls=":")
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(mticker.LogLocator(subs=(1, 2, 5)))
                ax.yaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
                ax.yaxis.set_minor_formatter(mticker.NullFormatter())
                _log_x(ax, _round_ticks(table.ratio))
                ax.set_title(f"{model} observations, {reg}")
                ax.set_xlabel(f"n / n0   (n0 = {_n0_label(ds)})")
                ax.set_ylabel("iterations to tolerance")
        axes[0, -1].legend(fontsize=7)
        fig.suptitle(
            f"Time against data, d = {d}, s = {s}: iterations to tolerance among successes (median, "
            "quartiles shaded),\nper step size; dotted, right axis: the share of trials at that n that succeeded",
            fontsize=12,
        )
        figs["time_data" if len(cells) == 1 else f"time_data_d{d}_s{s}"] = fig
    return figs
