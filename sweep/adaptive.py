"""Rounds of probe tasks: a ratio range in one round, adaptive mode in many
(``docs/design.md#adaptive``).

A ratio range (``grid.ratio_range``) gives every trial every sample size of the range, in
one round. Adaptive mode spends its trials where the success curve turns: round 0 runs the
grid's ratios on ``first_trials`` trials; after each round every ``(model, regularizer,
step, d, s)`` cell still open has its success curve ``p(n)`` fitted (Firth logistic in
``log n``, :mod:`sweep.fit`) and the next ``round_trials`` trials get ``probes_per_trial`` sample
sizes at the fitted ``n`` of the configured ``quantiles`` of ``p``, clipped to the range of
the grid's ratios. A cell closes once the half-width of its nested (trial-resampling) 95%
interval of ``n50`` is at most ``precision`` times ``n50``, or when the trials run out.

Rounds are barriers, a trial's data depends only on ``(seed, d, s, trial)`` and a round's
placement only on earlier rounds' results: the dataset is the same whatever the workers,
the batch size or the resumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import fit
from .plan import ProbeTask, probes_per_draw

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import SweepConfig


def rounds(config: SweepConfig) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: the trials of each round, in order."""
    if config.mode != "adaptive":
        return [(0, config.trials)]
    out = [(0, config.first_trials)]
    while out[-1][1] < config.trials:
        start = out[-1][1]
        out.append((start, min(start + config.round_trials, config.trials)))
    return out


def first_placement(config: SweepConfig, sizes: dict[tuple[int, int], list[int]]) -> dict[tuple[int, int], tuple]:
    """Round 0's probes: every ``n`` of each cell for every model, regularizer and step."""
    return {key: _same_for_all(config, ns) for key, ns in sizes.items()}


def _same_for_all(config, ns):
    return tuple(
        tuple(tuple(tuple(ns) for _ in config.step_choices) for _ in config.regularizers) for _ in config.models
    )


def make_tasks(
    config: SweepConfig, round_: int, start: int, stop: int, batch_size: int, placement: dict[tuple[int, int], tuple]
) -> list[ProbeTask]:
    """Round ``round_``'s tasks: trials ``start .. stop-1`` of every ``(d, s)`` with a probe
    to place, ``batch_size`` trials each; every trial of a round gets its cell's placement."""
    tasks = []
    for d in config.d:
        for s in config.s:
            cells = placement.get((d, s))
            if cells is None or not any(ns for row in cells for cell in row for ns in cell):
                continue
            for a in range(start, stop, batch_size):
                b = min(a + batch_size, stop)
                tasks.append(ProbeTask(d, s, a, b, round_, (cells,) * (b - a)))
    return tasks


def cell_fit(
    n: np.ndarray, success: np.ndarray, resamples: int = fit.RESAMPLES
) -> tuple[tuple[float, float], dict[str, float]]:
    """A cell's transition from its probes, as the analysis fits it: ``n`` and ``success``
    are ``(trial, probe)`` arrays (NaN: no probe). Returns ``(a, b)`` of the logit fit in
    ``log n`` and the nested ``n50``, ``n50_lower``, ``n50_upper`` (NaN where there is no
    transition to locate) with ``separated`` (:func:`separated`)."""
    sizes, outcome = by_size(n, success)
    if sizes.size == 0:
        return (np.nan, np.nan), dict(n50=np.nan, n50_lower=np.nan, n50_upper=np.nan, width=np.nan, separated=False)
    ran = np.isfinite(outcome)
    a, b, _ = fit.fit_logistic_grouped(np.log(sizes), np.where(ran, outcome, 0).sum(-1), ran.sum(-1))
    nested = fit.transition_nested(sizes, outcome, resamples)
    est = {k: float(v) for k, v in nested.items()}
    return (float(a), float(b)), dict(est, separated=separated(sizes, outcome))


def separated(sizes: np.ndarray, outcome: np.ndarray) -> bool:
    """Whether every failure lies below every success (complete separation): the data
    then say only that the turn lies between two sizes, and every resample agrees with
    the fit, so the bootstrap interval shrinks to a point that means nothing."""
    fails = sizes[np.nanmax(np.where(np.isfinite(outcome), outcome == 0, False), axis=1)]
    wins = sizes[np.nanmax(np.where(np.isfinite(outcome), outcome == 1, False), axis=1)]
    return bool(fails.size and wins.size and fails.max() < wins.min())


def by_size(n: np.ndarray, success: np.ndarray, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probes ``(trial, probe)`` as ``(sizes, outcome)``: the distinct ``n`` ascending and
    each probed trial's outcome at each (``(len(sizes), trials with a probe)``, NaN where
    the trial has no probe there): the layout :func:`sweep.fit.transition_nested` takes.
    ``keep`` (a boolean mask over trials) keeps those trials instead, probed or not: two
    cells on the same trials, resampled together."""
    n, success = np.asarray(n, float), np.asarray(success, float)
    probed = np.isfinite(n) & np.isfinite(success)
    if keep is None:
        keep = probed.any(axis=1)  # a trial without a probe here is no cluster: resampling it would add noise
    n, success, probed = n[keep], success[keep], probed[keep]
    sizes = np.unique(n[probed])
    outcome = np.full((sizes.size, n.shape[0]), np.nan)
    t, _ = np.nonzero(probed)
    outcome[np.searchsorted(sizes, n[probed]), t] = success[probed]
    return sizes, outcome


def is_precise(est: dict[str, float], precision: float) -> bool:
    """Whether an interval from :func:`cell_fit` is within ``precision`` of ``n50``, on
    data that are not completely separated (:func:`separated`)."""
    lo, hi, mid = est["n50_lower"], est["n50_upper"], est["n50"]
    finite = bool(np.isfinite([lo, hi, mid]).all())
    return finite and not est.get("separated", False) and (hi - lo) / 2 <= precision * mid


def quantile_sizes(config: SweepConfig, ab: tuple[float, float], n_lo: int, n_hi: int) -> tuple[int, ...]:
    """The probes of an open cell: ``ceil`` of the fitted ``n`` at each quantile, clipped to
    ``[n_lo, n_hi]``, distinct. Without a fitted transition (no success or no failure yet,
    or a slope that is not positive) the quantiles are spread over the range in ``log n``."""
    a, b = ab
    q = np.asarray(config.quantiles)
    if np.isfinite(a) and np.isfinite(b) and b > 0:
        n = np.exp((np.log(q / (1 - q)) - a) / b)
    else:
        n = n_lo * (n_hi / n_lo) ** q
    n = np.clip(np.ceil(np.minimum(n, n_hi)), n_lo, n_hi)
    return tuple(int(v) for v in np.unique(n))


def place(
    config: SweepConfig,
    sizes: dict[tuple[int, int], list[int]],
    data: dict[str, np.ndarray],
    closed: set[tuple],
    may_close: bool = True,
) -> dict[tuple[int, int], tuple]:
    """The next round's placement from every result so far.

    ``data`` holds ``n`` and ``success`` over ``(model, regularizer, step_size, d, s, trial,
    probe)``; ``closed`` is the set of ``(model, regularizer, step, d, s)`` cells already
    precise enough (updated here, only if ``may_close``). Returns ``{(d, s): probes per
    (model, regularizer, step)}``, empty tuples for closed cells.
    """
    placement = {}
    for k, d in enumerate(config.d):
        for q, s in enumerate(config.s):
            ns = sizes[(d, s)]
            rows = []
            for i, m in enumerate(config.models):
                row = []
                for j, g in enumerate(config.regularizers):
                    steps: list[tuple[int, ...]] = []
                    for h, mu in enumerate(config.step_coordinates):
                        key = (m, g, mu, d, s)
                        if key in closed:
                            steps.append(())
                            continue
                        ab, est = cell_fit(data["n"][i, j, h, k, q], data["success"][i, j, h, k, q])
                        if may_close and is_precise(est, config.precision):
                            closed.add(key)
                            steps.append(())
                        else:
                            steps.append(quantile_sizes(config, ab, min(ns), max(ns)))
                    row.append(tuple(steps))
                rows.append(tuple(row))
            placement[(d, s)] = tuple(rows)
    return placement


def cells(config: SweepConfig) -> list[tuple]:
    """Every ``(model, regularizer, step, d, s)`` cell, in the dataset's order."""
    return [
        (m, g, mu, d, s)
        for m in config.models
        for g in config.regularizers
        for mu in config.step_coordinates
        for d in config.d
        for s in config.s
    ]


def width(config: SweepConfig, sizes: dict[tuple[int, int], list[int]]) -> int:
    """The dataset's ``probe`` dimension: the most sample sizes a trial gets in any cell."""
    return max(probes_per_draw(config, ns) for ns in sizes.values())


class Progress:
    """Where a probe sweep stands: the tasks of the rounds reached (``tasks``), whether every
    round is done (``complete``), the round in progress and the cells still open."""

    def __init__(self, tasks: list[ProbeTask], complete: bool, round_: int | None, open_cells: int) -> None:
        self.tasks, self.complete, self.round, self.open_cells = tasks, complete, round_, open_cells


def drive(
    config: SweepConfig,
    sizes: dict[tuple[int, int], list[int]],
    batch_size: int,
    data: dict[str, np.ndarray],
    done: set[str],
    read: Callable[[list[ProbeTask]], None],
    compute: Callable[..., None] | None = None,
) -> Progress:
    """Walk the rounds of a probe sweep.

    Each round's tasks follow from the results of the rounds before it. Tasks named in
    ``done`` are read (``read(tasks)`` fills ``data``, :func:`sweep.dataset.fill_probes`); the
    others are run by ``compute(round, todo, open_cells)`` and then read. Without
    ``compute`` the walk stops at the first round with a task not done (reading the done
    ones): what ``sweep status`` and a running sweep's parts folder show.

    Returns
    -------
    Progress
    """
    placement, seen = first_placement(config, sizes), []
    closed: set[tuple] = set()
    total = len(cells(config))
    for round_, (start, stop) in enumerate(rounds(config)):
        tasks = make_tasks(config, round_, start, stop, batch_size, placement)
        if not tasks:  # every cell closed
            break
        seen += tasks
        todo = [t for t in tasks if t.name not in done]
        open_cells = total - len(closed)
        if todo and compute is None:
            read([t for t in tasks if t.name in done])
            return Progress(seen, False, round_, open_cells)
        if todo and compute is not None:
            compute(round_, todo, open_cells)
        read(tasks)
        if config.mode == "adaptive":  # after the last round too: which cells closed
            # Round 0's grid says between which two ratios a curve turns; where in between is
            # the link's guess more than the data's (on the paper's grid at d = 1000, a cell
            # closed after round 0 with an interval half as wide as the grid's at 300 trials).
            # So a cell closes only once probes placed by a fit have been run.
            placement = place(config, sizes, data, closed, may_close=round_ > 0)
    return Progress(seen, True, None, total - len(closed))
