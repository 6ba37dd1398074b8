"""``analysis report``: every figure of a dataset and a Markdown report with the table."""

from pathlib import Path

import matplotlib.pyplot as plt

from .io import open_figure1
from .plots import plot_curves, plot_donoho_tanner, plot_figure1, plot_heatmaps, plot_slopes
from .stats import pd_table_markdown, transition_table

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
    """Every figure of ``ds`` (and of a Figure-1 dataset) plus ``out/report.md``."""
    out = Path(out)
    figs = {}
    for fn in (plot_heatmaps, plot_donoho_tanner, plot_curves, plot_slopes):
        figs.update(fn(ds))
    if figure1 is not None:
        figs.update(plot_figure1(open_figure1(figure1)))
    paths = save_figures(figs, out, fmt)
    table = transition_table(ds)
    cols = ["model", "regularizer", "d", "s", "n50", "n50_lower", "n50_upper", "width", "c_approx", "c_l1", "c_l0_mc"]
    cols = [c for c in cols if c in table]
    lines = [
        f"# relu-phase report: {ds.attrs.get('name', '')}",
        "",
        "Success means a final relative error `||w_T - w*|| / ||w*||` at most the tolerance. "
        "`n50` is the sample size at 50% success from a logistic fit in `log n` (Firth-penalised "
        "maximum likelihood) with its 95% interval; `width` is n at 90% minus n at 10%; "
        "`c_<method>` is `n50 / n0` with n0 by `approx` (2 s log(d/s)), `l1` (exact statistical "
        "dimension of the l1 descent cone) and `l0_mc` (Monte-Carlo squared width of the l0 tangent set). "
        "A dash: no transition inside the grid.",
        "",
        "## n50 / n0 per (model, regularizer, d, s)",
        "",
        pd_table_markdown(table[cols]),
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{p.stem}]({p.name})\n" for p in paths]
    lines += ["## Provenance", ""]
    lines += [f"- `{k}`: {ds.attrs[k]}" for k in PROVENANCE if k in ds.attrs]
    lines += ["", "Config:", "", "```toml", ds.attrs.get("config", "").strip(), "```", ""]
    (out / "report.md").write_text("\n".join(lines))
    return paths + [out / "report.md"]
