"""relu-phase analysis: open sweep datasets, fit the phase transitions, plot them.

In a notebook::

    import analysis
    ds = analysis.open_sweep("data/example.nc")
    analysis.transition_table(ds)          # n50 / n0 per (model, regularizer, step_size, d, s), with intervals
    analysis.cap_table(ds)                 # the same at every rung of the iteration-cap ladder
    analysis.plot_heatmaps(ds)             # success rate over (n/n0, s) with the n0 lines
    analysis.plot_steps(analysis.transitions(ds), ds)  # n50 / n0 against the step size

A ratio range or an adaptive sweep (per-probe variables over ``probe``) takes the same
tables; ``plot_probes`` draws where its probes went with the fitted curve, and for a ratio
range ``plot_strips`` and ``flicker_table`` show where one trial's success is not monotone.
"""

from sweep.fit import fit_logistic, fit_logistic_grouped, transition

from .flicker import flicker_table
from .io import open_figure1, open_sweep
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
from .stats import (
    cap_table,
    model_ratio,
    settled,
    spending,
    success_at,
    success_rate,
    time_data,
    transition_nested,
    transition_table,
    transitions,
    wilson_interval,
)

__all__ = [
    "open_sweep",
    "open_figure1",
    "success_rate",
    "wilson_interval",
    "fit_logistic",
    "fit_logistic_grouped",
    "transition",
    "transitions",
    "transition_nested",
    "transition_table",
    "model_ratio",
    "success_at",
    "cap_table",
    "settled",
    "spending",
    "plot_heatmaps",
    "plot_donoho_tanner",
    "plot_curves",
    "plot_slopes",
    "plot_caps",
    "plot_figure1",
    "plot_probes",
    "plot_scale",
    "plot_steps",
    "plot_time_data",
    "time_data",
    "plot_strips",
    "flicker_table",
]
