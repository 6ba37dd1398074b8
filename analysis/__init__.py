"""relu-phase analysis: open sweep datasets, fit the phase transitions, plot them.

In a notebook::

    import analysis
    ds = analysis.open_sweep("data/example.nc")
    analysis.transition_table(ds)          # n50 / n0 per (model, regularizer, d, s)
    analysis.plot_heatmaps(ds)             # success rate over (n/n0, s) with the n0 lines
"""

from .io import open_figure1, open_sweep
from .plots import (
    plot_curves,
    plot_donoho_tanner,
    plot_figure1,
    plot_heatmaps,
    plot_slopes,
)
from .stats import fit_logistic, success_rate, transition_table, transitions, wilson_interval

__all__ = [
    "open_sweep",
    "open_figure1",
    "success_rate",
    "wilson_interval",
    "fit_logistic",
    "transitions",
    "transition_table",
    "plot_heatmaps",
    "plot_donoho_tanner",
    "plot_curves",
    "plot_slopes",
    "plot_figure1",
]
