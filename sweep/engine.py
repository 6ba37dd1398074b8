"""Running a task of the plan (:mod:`sweep.plan`): a batch of trials of one ``(d, s)`` cell, plain numpy.

A :class:`~sweep.plan.Task` runs every ratio, model, regularizer and step of its trials; a
:class:`~sweep.plan.ProbeTask` runs each trial at its own sample sizes (a ratio range, or the
probes an adaptive round placed). :mod:`sweep.fanout` sends tasks to Dask workers. A trial's data
depends only on ``(seed, d, s, trial)`` (plus the ratio with independent sampling), so
results never depend on how trials are batched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import kernel, oracle, problem
from .plan import ProbeTask, Task

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .config import SweepConfig
    from .plan import Plan

#: Per-trial variables a task returns (shape: model, regularizer, step_size, ratio, trial).
RESULT_VARS = (
    "rel_error",
    "success",
    "iterations",
    "slope",
    "support_recovered",
    "diverged",
    "stalled",
    "iterations_run",
    "shrinks",
    "convex_success",
    "convex_failed",
)
#: The convex program's variables (:mod:`sweep.oracle`): NaN unless the config asks for them
#: (``convex_limit``) and the set is convex; ``convex_failed`` marks a program the solver
#: failed on, on the first step's slot of its size only, so that summing it counts programs.
CONVEX_VARS = ("convex_success", "convex_failed")
#: Per-probe variables of a :class:`~sweep.plan.ProbeTask` (shape: model, regularizer, step_size,
#: trial, probe).
PROBE_VARS = RESULT_VARS + ("n",)


def run_task(plan: Plan, task: Task | ProbeTask) -> dict[str, np.ndarray]:
    """Run a task's trials: a :class:`~sweep.plan.Task` by :func:`run_grid_task`, a
    :class:`~sweep.plan.ProbeTask` by :func:`run_probe_task`."""
    return RUNS[type(task)](plan, task)


def run_grid_task(plan: Plan, task: Task) -> dict[str, np.ndarray]:
    """Run a grid task's trials.

    Returns
    -------
    dict of numpy.ndarray
        Each of :data:`RESULT_VARS` with shape ``(model, regularizer, step_size, ratio,
        trial)``, float64; and ``trace`` with shape ``(model, regularizer, step_size, ratio,
        k, iteration)`` for the ``k`` trials of the task whose index is below
        ``plan.config.traces``.
    """
    config = plan.config
    cell = (len(config.models), len(config.regularizers), len(config.step_choices))
    R, B = len(config.ratio), task.stop - task.start
    out = {v: np.full(cell + (R, B), np.nan) for v in RESULT_VARS}
    k = max(0, min(task.stop, config.traces) - task.start)
    out["trace"] = np.full(cell + (R, k, config.iterations + 1), np.nan)
    ns = plan.ns(task.d, task.s)
    for b, trial in enumerate(range(task.start, task.stop)):
        groups: list[tuple[Sequence[int], tuple[int, ...], int]]
        if config.sampling == "nested":
            groups = [(range(R), (task.d, task.s, trial), max(ns))]
        else:
            groups = [([r], (task.d, task.s, trial, round(config.ratio[r] * 1e6)), ns[r]) for r in range(R)]
        for rs, key, n_max in groups:
            res, limits = _solve_draw(plan, task, key, n_max, [ns[r] for r in rs])
            shape = cell + (len(rs),)
            for v in RESULT_VARS:
                if v in CONVEX_VARS:
                    continue
                value = res.rel_error <= config.tolerance if v == "success" else getattr(res, v)
                out[v][..., list(rs), b] = np.asarray(value, dtype=np.float64).reshape(shape)
            for (i, j), (success, failed) in limits.items():
                for r in rs:  # a failed program counted once: first step, first ratio of its n
                    out["convex_success"][i, j, :, r, b] = success[ns[r]]
                    out["convex_failed"][i, j, :, r, b] = 0.0
                    out["convex_failed"][i, j, 0, r, b] = ns[r] in failed and ns.index(ns[r]) == r
            if b < k:
                out["trace"][..., list(rs), b, :] = res.trace.reshape(shape + (-1,))
    return out


def run_probe_task(plan: Plan, task: ProbeTask, width: int | None = None) -> dict[str, np.ndarray]:
    """Run a probe task's trials: every (model, regularizer, step, n) of a trial on its one
    ``X`` (nested prefixes), in one kernel call.

    Returns
    -------
    dict of numpy.ndarray
        Each of :data:`PROBE_VARS` with shape ``(model, regularizer, step_size, trial,
        probe)``, float64, NaN where a trial has fewer probes than ``width`` (default: the
        task's widest).
    """
    config = plan.config
    cell = (len(config.models), len(config.regularizers), len(config.step_choices))
    B = task.stop - task.start
    width = width or max(len(ns) for trial in task.probes for ns in _cells(trial, cell))
    out = {v: np.full(cell + (B, width), np.nan) for v in PROBE_VARS}
    for b, trial in enumerate(range(task.start, task.stop)):
        slots = [(i, j, k, p, n) for i, j, k in np.ndindex(*cell) for p, n in enumerate(task.probes[b][i][j][k])]
        if not slots:
            continue
        n_max = max(n for *_, n in slots)
        X, w_star = problem.draw_trial(
            config.seed,
            (task.d, task.s, trial),
            task.d,
            task.s,
            n_max,
            config.signal,
            np.dtype(config.dtype),
            config.structure,
            config.block,
        )
        labels = {m: problem.observe(X, w_star, m) for m in config.models}
        probs = [
            kernel.Problem(config.models[i], config.regularizers[j], n, config.step_choices[k])
            for i, j, k, _, n in slots
        ]
        res = kernel.solve(X, w_star, labels, probs, config.iterations, config.tolerance, group_size=config.block)
        sizes: dict[tuple[int, int], list[int]] = {}
        for i, j, _, _, n in slots:
            sizes.setdefault((i, j), []).append(n)
        limits = convex_limits(config, X, w_star, labels, sizes)
        del X  # freed before the next trial's draw: a task's peak is one trial's
        i, j, k, p, n = np.array(slots).T
        for v in RESULT_VARS:
            if v in CONVEX_VARS:
                continue
            value = res.rel_error <= config.tolerance if v == "success" else getattr(res, v)
            out[v][i, j, k, b, p] = np.asarray(value, dtype=np.float64)
        out["n"][i, j, k, b, p] = n
        counted = set()
        for i, j, k, p, n in slots:
            if (i, j) in limits:
                success, failed = limits[i, j]
                out["convex_success"][i, j, k, b, p] = success[n]
                out["convex_failed"][i, j, k, b, p] = n in failed and (i, j, n) not in counted
                counted.add((i, j, n))
    return out


#: How each kind of task of :mod:`sweep.plan` is run.
RUNS: dict[type, Callable[..., dict[str, np.ndarray]]] = {Task: run_grid_task, ProbeTask: run_probe_task}


def _cells(probes, cell):
    """A trial's sample sizes of every (model, regularizer, step) cell, in order."""
    return [probes[i][j][k] for i, j, k in np.ndindex(*cell)]


def _solve_draw(plan, task, key, n_max, ns):
    """Draw one design and solve every (model, regularizer, step, n) on it, and the convex
    program of every convex set at every ``n`` (:func:`convex_limits`).

    A function of its own so that the design is freed before the next one is drawn: a
    task's peak memory is one trial's, whatever its batch size.
    """
    config = plan.config
    X, w_star = problem.draw_trial(
        config.seed, key, task.d, task.s, n_max, config.signal, np.dtype(config.dtype), config.structure, config.block
    )
    labels = {m: problem.observe(X, w_star, m) for m in config.models}
    probs = [
        kernel.Problem(m, g, n, mu)
        for m in config.models
        for g in config.regularizers
        for mu in config.step_choices
        for n in ns
    ]
    res = kernel.solve(X, w_star, labels, probs, config.iterations, config.tolerance, group_size=config.block)
    sizes = {(i, j): ns for i in range(len(config.models)) for j in range(len(config.regularizers))}
    return res, convex_limits(config, X, w_star, labels, sizes)


def convex_limits(
    config: SweepConfig,
    X: np.ndarray,
    w_star: np.ndarray,
    labels: dict[str, np.ndarray],
    sizes: dict[tuple[int, int], list[int]],
) -> dict[tuple[int, int], tuple[dict[int, bool], set[int]]]:
    """The convex program's outcome on one design for every convex set of the sweep, when
    the config asks for it (``convex_limit``): ``{(model index, regularizer index):
    ({n: success}, {n the solver failed on})}`` over the sizes ``sizes[i, j]`` of that cell.

    Once per (model, set, n) of the trial, whatever the steps: the program has no step and
    no cap. The same ``X``, ``w*`` and labels as PGD's problems.
    """
    if not config.convex_limit:
        return {}
    return {
        (i, j): oracle.limit(g, X, labels[m], m, w_star, ns, config.tolerance, config.block)
        for (i, j), ns in sizes.items()
        for m, g in [(config.models[i], config.regularizers[j])]
        if oracle.convex(g)
    }
