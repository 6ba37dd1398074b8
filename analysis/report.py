"""``analysis report``: every figure of a dataset and a Markdown report with the table."""

from pathlib import Path

import matplotlib.pyplot as plt

from .io import open_figure1
from .plots import plot_caps, plot_curves, plot_donoho_tanner, plot_figure1, plot_heatmaps, plot_slopes
from .stats import cap_table, pd_table_markdown, settled

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
    "numpy_version",
    "dask_version",
    "xarray_version",
)


def save_figures(figs, out, fmt="png", dpi=130):
    """Write each ``name -> Figure`` to ``out/name.fmt``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figs.items():
        path = out / f"{name}.{fmt}"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        paths.append(path)
    return paths


def heatmaps(ds, out, fmt="png"):
    return save_figures(plot_heatmaps(ds), out, fmt)


def report(ds, out, fmt="png", figure1=None):
    """Every figure of ``ds`` (and of a Figure-1 dataset), ``out/report.md`` and
    ``out/transitions.csv`` (n50 at every rung of the cap ladder; columns
    :data:`analysis.stats.CSV_COLUMNS`)."""
    out = Path(out)
    caps = cap_table(ds)
    figs = {}
    for fn in (plot_heatmaps, plot_donoho_tanner, plot_curves, plot_slopes):
        figs.update(fn(ds))
    figs.update(plot_caps(caps, ds))
    if figure1 is not None:
        figs.update(plot_figure1(open_figure1(figure1)))
    paths = save_figures(figs, out, fmt)
    cap = int(ds.attrs["iterations"])
    table = caps[caps.cap == cap].drop(columns="cap").reset_index(drop=True)
    keys = ["model", "regularizer", "d", "s"]
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
        "`c_<method>` is `n50 / n0` with n0 by `approx` (2 s log(d/s)), `l1` (exact statistical "
        "dimension of the l1 descent cone) and `l0_mc` (Monte-Carlo squared width of the union of 2s-sparse "
        "coordinate subspaces containing supp(w*): an upper bound on the l0 set's width). `settled`: n50 at half "
        "the cap lies inside this interval, so the cap no longer moves it. A dash: no transition inside the grid, "
        "or an interval open on one side.",
        "",
        f"## n50 / n0 per (model, regularizer, d, s) at the cap of {cap} iterations",
        "",
        pd_table_markdown(table),
        "",
        "Every rung of the cap ladder is in [`transitions.csv`](transitions.csv) (columns: "
        + ", ".join(f"`{c}`" for c in caps.columns)
        + ").",
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{p.stem}]({p.name})\n" for p in paths]
    lines += ["## Provenance", ""]
    lines += [f"- `{k}`: {ds.attrs[k]}" for k in PROVENANCE if k in ds.attrs]
    lines += ["", "Config:", "", "```toml", ds.attrs.get("config", "").strip(), "```", ""]
    caps.to_csv(out / "transitions.csv", index=False, float_format="%.6g")
    (out / "report.md").write_text("\n".join(lines))
    return paths + [out / "transitions.csv", out / "report.md"]
