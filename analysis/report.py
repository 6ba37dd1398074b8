"""``analysis report``: every figure of a dataset and a Markdown report with the table."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import pandas as pd

from sweep import conventions, structures
from sweep.atomic import atomic_path

from .flicker import flicker_table
from .io import open_figure1
from .plots import (
    plot_caps,
    plot_curves,
    plot_donoho_tanner,
    plot_figure1,
    plot_heatmaps,
    plot_probes,
    plot_scale,
    plot_slopes,
    plot_steps,
    plot_strips,
    plot_time_data,
)
from .stats import CELL, cap_table, model_ratio, pd_table_markdown, settled, spending, transitions

if TYPE_CHECKING:
    from typing import Any

    import xarray as xr

FORMATS = ("png", "pdf", "svg")
PROVENANCE = (
    "title",
    "created",
    "relu_phase_version",
    "git_commit",
    "n0_method",
    "tolerance",
    "seed",
    "trials",
    "iterations",
    "sampling",
    "dtype",
    "signal",
    "mode",
    "ratio_range",
    "n_step",
    "first_trials",
    "round_trials",
    "probes_per_trial",
    "quantiles",
    "precision",
    "numpy_version",
    "dask_version",
    "xarray_version",
)


def save_figures(figs: dict[str, Any], out: Path, fmt: str = "png", dpi: int = 130) -> list[Path]:
    """Write each ``name -> Figure`` to ``out/name.fmt``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figs.items():
        path = out / f"{name}.{fmt}"
        with atomic_path(path) as tmp:  # whole or absent, if the run is stopped
            fig.savefig(tmp, dpi=dpi, format=fmt)
        plt.close(fig)
        paths.append(path)
    return paths


def _write_csv(table, path):
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def heatmaps(ds: xr.Dataset, out: Path, fmt: str = "png") -> list[Path]:
    return save_figures(plot_heatmaps(ds) if "ratio" in ds.dims else plot_probes(ds), out, fmt)


def _figures(ds, fit):
    """The figure functions of a dataset, by layout: heatmaps and curves over the ratios, or
    the probes with the fitted curve ``fit`` (and the success strips of a ratio range)."""
    probes = functools.partial(plot_probes, fit=fit)
    if "probe" not in ds.dims:
        return [functools.partial(fn, ds) for fn in (plot_heatmaps, plot_donoho_tanner, plot_curves, plot_slopes)]
    if ds.attrs.get("mode") == "adaptive":
        return [functools.partial(probes, ds)]
    return [functools.partial(probes, ds), functools.partial(plot_strips, ds)]


def _is_range(ds):
    return "probe" in ds.dims and ds.attrs.get("mode") != "adaptive"


def _constants_words(ds):
    """What ``c_<method>`` divides by, in the words of the dataset's structure of ``w*``."""
    kind = structures.get(ds.attrs.get("structure", structures.DEFAULT))
    said = {
        "approx": f"`approx` ({kind.n0_words['approx']})",
        "l1": f"`l1` (the exact statistical dimension δ of the {kind.convex} descent cone at w*)",
        "l0-mc": "`l0_mc` (Monte-Carlo squared width of the union of 2s-sparse coordinate subspaces containing "
        "supp(w*): an upper bound on the l0 set's width)",
    }
    methods = [said[m] for m in kind.n0_words]
    return f"`c_<method>` is `n50 / n0` with n0 by {', '.join(methods[:-1])} and {methods[-1]}."


def report(ds: xr.Dataset, out: Path, fmt: str = "png", figure1: str | Path | None = None) -> list[Path]:
    """Every figure of ``ds`` (and of a Figure-1 dataset), ``out/report.md`` and
    ``out/transitions.csv`` (n50 at every rung of the cap ladder; columns
    :data:`analysis.stats.CSV_COLUMNS`)."""
    out = Path(out)
    caps = cap_table(ds)
    fit = transitions(ds)  # at the cap: shared by the figures and the tables below
    figures = _figures(ds, fit) + [functools.partial(plot_caps, caps, ds)]
    both = {"relu", "linear"} <= set(ds.model.values)
    ratios = model_ratio(ds) if both else pd.DataFrame()
    if ds.sizes["d"] > 1:
        figures.append(functools.partial(plot_scale, fit, ratios))
    if ds.sizes["step_size"] > 1:
        figures += [functools.partial(plot_steps, fit, ds), functools.partial(plot_time_data, ds)]
    if figure1 is not None:
        figures.append(functools.partial(plot_figure1, open_figure1(figure1)))
    # drawn and saved one function at a time: a sweep of several steps draws dozens
    paths = [path for draw in figures for path in save_figures(draw(), out, fmt)]
    cap = int(ds.attrs["iterations"])
    table = caps[caps.cap == cap].drop(columns="cap").reset_index(drop=True)
    keys = list(CELL)
    flags = settled(ds).to_dataframe(name="settled").reset_index()[keys + ["settled"]]
    table = table.merge(flags, on=keys)
    table["settled"] = table["settled"].map({True: "yes", False: "no"})
    nested = ds.attrs.get("sampling", "nested") == "nested"
    interval = (
        "a percentile bootstrap over whole trials (1000 resamples; a trial's outcomes at every n share one X), "
        "joining the intervals of the logit and probit links"
        if nested
        else "the delta method (independent outcomes)"
    )
    lines = [
        f"# relu-phase report: {ds.attrs.get('name', '')}",
        "",
        "Success means a final relative error `||w_T - w*|| / ||w*||` at most the tolerance within the iteration "
        f"cap ({cap}). `n50` is the sample size at 50% success from a logistic fit in `log n` (Firth-penalised "
        f"maximum likelihood); its 95% interval is {interval}. `width` is n at 90% minus n at 10%; "
        + _constants_words(ds)
        + " `settled`: n50 at half "
        "the cap lies inside this interval, so the cap no longer moves it. A dash: no transition inside the grid, "
        "or an interval open on one side. `step_size` is `mu_t` for t >= 1 (`mu_0` = 2 for ReLU, 1 for linear; "
        f"the paper's `mu_t` is 1); {conventions.step_size_attrs()['comment']}."
        + (
            " `n50_limit` is the convex limit of the model in theory (δ = `n0_l1` for linear observations, about 2δ "
            "for ReLU ones: docs/design.md#the-convex-limit)."
            if "n50_limit" in fit
            else ""
        )
        + (
            " `n50_convex` is the convex program's n50 on the same trials (`convex_success`, every step's probes "
            "pooled: it has no step and no cap), with the same interval; `over_convex` is `n50 / n50_convex` with "
            "a paired interval (each resample weights a trial once for both)."
            if "n50_convex" in fit
            else ""
        ),
        "",
        f"## n50 / n0 per (model, regularizer, step_size, d, s) at the cap of {cap} iterations",
        "",
        pd_table_markdown(table),
        "",
        "Every rung of the cap ladder is in [`transitions.csv`](transitions.csv) (columns: "
        + ", ".join(f"`{c}`" for c in caps.columns)
        + ").",
        "",
    ]
    lines += _ratio_lines(ratios, out) + _probe_lines(ds, fit) + _flicker_lines(ds, out)
    lines += ["## Figures", ""]
    lines += [f"![{p.stem}]({p.name})\n" for p in paths]
    lines += ["## Provenance", ""]
    lines += [f"- `{k}`: {ds.attrs[k]}" for k in PROVENANCE if k in ds.attrs]
    lines += ["", "Config:", "", "```toml", ds.attrs.get("config", "").strip(), "```", ""]
    _write_csv(caps, out / "transitions.csv")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))
    extra = ([out / "flicker.csv"] if _is_range(ds) else []) + ([out / "relu_over_linear.csv"] if len(ratios) else [])
    return paths + [out / "transitions.csv", *extra, out / "report.md"]


def _ratio_lines(ratios, out):
    """ReLU's n50 over linear's per cell, with the paired interval; also a CSV."""
    if not len(ratios):
        return []
    _write_csv(ratios, Path(out) / "relu_over_linear.csv")
    return [
        "## ReLU's extra cost: n50 (ReLU) / n50 (linear)",
        "",
        "Both models see each trial's X, so the 95% interval resamples trials once for both (paired), joining "
        "the logit and probit links; in [`relu_over_linear.csv`](relu_over_linear.csv).",
        "",
        pd_table_markdown(ratios),
        "",
    ]


def _probe_lines(ds, fit):
    """An adaptive sweep's spending per cell (:func:`analysis.stats.spending`)."""
    if ds.attrs.get("mode") != "adaptive":
        return []
    table = spending(ds, fit)
    table["precision_reached"] = table.precision_reached.map({True: "yes", False: "no"})
    table["stopped"] = table.closed.map({True: "at precision", False: "trials spent"})
    return [
        "## Where the adaptive sweep spent its trials",
        "",
        f"Each cell stopped when the half-width of its n50 95% interval was at most {ds.attrs['precision']:g} n50, "
        f"or when its {ds.attrs['trials']} trials were spent. `half_width` is that half-width over n50 at the end.",
        "",
        pd_table_markdown(table.drop(columns="closed")),
        "",
    ]


def _flicker_lines(ds, out):
    """A ratio range's flicker zone per cell, also written to ``flicker.csv``."""
    if not _is_range(ds):
        return []
    table = flicker_table(ds)
    _write_csv(table, Path(out) / "flicker.csv")
    shown = table[
        [
            "model",
            "regularizer",
            "step_size",
            "d",
            "s",
            "trials",
            "beyond_range",
            "width_median",
            "width_lower",
            "width_upper",
            "non_monotone",
            "non_monotone_lower",
            "non_monotone_upper",
            "inside_median",
        ]
    ]
    return [
        "## The flicker zone: where one trial's success is not monotone in n",
        "",
        "Per trial on its nested designs X[:n]: `n_first` is the first n that succeeds, `n_stable` the n from which "
        "every larger n in the range succeeds. `width_*`: the median of (n_stable − n_first) / n0 over the trials "
        "with a 95% order-statistic interval; `non_monotone`: the share of trials with n_stable > n_first (Wilson "
        "95%); `inside_median`: the median share of successes between them; `beyond_range`: trials still failing at "
        "the largest n (not counted). Every column is in [`flicker.csv`](flicker.csv).",
        "",
        pd_table_markdown(shown),
        "",
    ]
