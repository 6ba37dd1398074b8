"""Figure 1 of the paper: PGD error against iteration, ReLU and linear, l0 projection.

``d = 1000, s = 20, n = floor(8 s log(d/s)) = 625``; both models see the same ``X`` and
``w*`` in every trial, and every trial runs the full number of iterations.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from . import MODELS, conventions, kernel, problem

D, S = 1000, 20


def figure1_n(d: int = D, s: int = S) -> int:
    return math.floor(8 * s * math.log(d / s))


def run_figure1(
    trials: int = 100,
    iterations: int = 20,
    seed: int = 2017,
    d: int = D,
    s: int = S,
    n: int | None = None,
    signal: str = "gaussian",
) -> xr.Dataset:
    """Error traces of the Figure-1 experiment.

    Returns
    -------
    xarray.Dataset
        ``trace(model, trial, iteration)``, the relative error ``||w_t - w*|| / ||w*||``
        (``||w*|| = 1``), with ``stalled`` counts reported in the attrs by the CLI.
    """
    n = figure1_n(d, s) if n is None else n
    traces = np.empty((len(MODELS), trials, iterations + 1))
    problems = [kernel.Problem(m, "l0", n) for m in MODELS]
    for trial in range(trials):
        X, w_star = problem.draw_trial(seed, (d, s, trial), d, s, n, signal)
        labels = {m: problem.observe(X, w_star, m) for m in MODELS}
        res = kernel.solve(X, w_star, labels, problems, iterations, tolerance=0.0, stop_early=False)
        traces[:, trial] = res.trace
    ds = xr.Dataset(
        {"trace": (("model", "trial", "iteration"), traces)},
        coords=dict(model=list(MODELS), trial=np.arange(trials), iteration=np.arange(iterations + 1)),
    )
    conventions.annotate(ds)
    ds.attrs.update(
        conventions.provenance(
            "Figure 1 of Soltanolkotabi (2017): PGD for ReLU vs linear observations",
            f"sweep figure1 --trials {trials} --iterations {iterations}",
        )
    )
    ds.attrs.update(d=d, s=s, n=n, regularizer="l0", seed=seed, signal=signal, trials=trials, iterations=iterations)
    return ds
