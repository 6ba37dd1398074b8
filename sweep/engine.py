"""The unit of work of a sweep: a batch of trials of one ``(d, s)`` cell, plain numpy.

A :class:`Task` runs every ratio, model and regularizer of its trials; a
:class:`ProbeTask` runs each trial at its own sample sizes (a ratio range, or the probes an
adaptive round placed). :mod:`sweep.fanout` sends tasks to Dask workers. A trial's data
depends only on ``(seed, d, s, trial)`` (plus the ratio with independent sampling), so
results never depend on how trials are batched.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from . import kernel, oracle, problem
from .config import SweepConfig, task_bytes

#: Per-trial variables a task returns (shape: model, regularizer, ratio, trial).
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
#: Per-probe variables of a :class:`ProbeTask` (shape: model, regularizer, trial, probe).
PROBE_VARS = RESULT_VARS + ("n",)
TARGET_TASK_SECONDS = 10.0  # short tasks: worker deaths and --lifetime lose little (docs/design.md#storage)


@dataclass(frozen=True)
class Task:
    """Trials ``start .. stop-1`` of cell ``(d, s)``."""

    d: int
    s: int
    start: int
    stop: int

    @property
    def name(self):
        return f"d{self.d}-s{self.s}-t{self.start:06d}-{self.stop:06d}"


@dataclass(frozen=True)
class ProbeTask:
    """Trials ``start .. stop-1`` of cell ``(d, s)`` in round ``round``, each at its own
    sample sizes: ``probes[b][i][j][k]`` are the ``n`` of trial ``start + b`` for model
    ``i``, regularizer ``j`` and step ``k`` (ascending; empty where that cell takes no
    probe)."""

    d: int
    s: int
    start: int
    stop: int
    round: int
    probes: tuple

    @property
    def name(self):
        return f"r{self.round:03d}-d{self.d}-s{self.s}-t{self.start:06d}-{self.stop:06d}"

    def sizes(self):
        """Every sample size the task solves at (with repeats), for cost estimates."""
        return [n for trial in self.probes for row in trial for cell in row for ns in cell for n in ns]


@dataclass(frozen=True)
class Plan:
    """What a worker needs to run any task of a sweep; small and picklable.

    ``config`` is the sweep's config without its cluster table and text (only the fields
    that decide the numbers matter to a worker); ``sizes`` is ``((d, s, (n per ratio)), ...)``.
    """

    config: SweepConfig
    sizes: tuple

    @classmethod
    def from_config(cls, config, sizes=None):
        sizes = sizes or config.sample_sizes()
        lean = dataclasses.replace(config, cluster={}, text="")
        return cls(lean, tuple((d, s, tuple(ns)) for (d, s), ns in sorted(sizes.items())))

    def ns(self, d, s):
        for d_, s_, ns in self.sizes:
            if (d_, s_) == (d, s):
                return ns
        raise KeyError((d, s))


def default_batch_size(config, sizes):
    """Trials per task: tasks of about ``TARGET_TASK_SECONDS``, within the memory budget.

    Every ``(d, s)`` is split into at least four tasks so that the progress bar moves and
    two workers share even a small grid; the cost model (normals at ~1e8/s, the compiled
    loop at ~5e9 multiply-adds/s over ~20 full-size iterations: a d = 1000 trial of 20
    problems takes ~40 ms) is rough by design: it only sets a granularity.
    """
    worst = max(sizes.items(), key=lambda kv: kv[0][0] * max(kv[1]))
    (d, _), ns = worst
    by_time = int(TARGET_TASK_SECONDS / trial_seconds(config, d, ns))
    # adaptive rounds are barriers: each round's trials are split in two at least
    per_round = math.ceil(min(config.first_trials, config.round_trials) / 2) if config.mode == "adaptive" else None
    batch = max(1, min(config.trials, by_time, math.ceil(config.trials / 4), per_round or config.trials))
    while batch > 1 and task_bytes(config, d, ns, batch) > config.memory_budget:
        batch -= 1
    return batch


def trial_seconds(config, d, ns):
    """A rough time for one trial at dimension ``d`` with sample sizes ``ns`` (see
    :func:`default_batch_size`: an order of magnitude, not a prediction)."""
    problems = len(config.models) * len(config.regularizers) * len(config.steps) * len(ns)
    n_max = max(ns)
    return n_max * d / 1e8 + n_max * d * problems * min(config.iterations, 20) / 5e9


def sweep_seconds(plan, tasks):
    """A rough time for ``tasks`` on one core (:func:`trial_seconds`)."""
    return sum((t.stop - t.start) * trial_seconds(plan.config, t.d, _ns(plan, t)) for t in tasks)


def _ns(plan, task):
    # a probe task's problems per trial, as sample sizes per (model, regularizer)
    if isinstance(task, ProbeTask):
        sizes = task.sizes()
        config = plan.config
        per_trial = max(
            1,
            len(sizes)
            // ((task.stop - task.start) * len(config.models) * len(config.regularizers) * len(config.steps)),
        )
        return [max(sizes, default=1)] * per_trial
    return plan.ns(task.d, task.s)


def make_tasks(config, batch_size):
    """Every task of the sweep, in a fixed order."""
    return [
        Task(d, s, start, min(start + batch_size, config.trials))
        for d in config.d
        for s in config.s
        for start in range(0, config.trials, batch_size)
    ]


def task_cost(plan, task):
    """A task's relative cost: its trials times ``d`` times the rows of every ratio (what
    its draws and products scale with). Only an order: heavier tasks go first
    (:func:`sweep.fanout.compute`)."""
    if isinstance(task, ProbeTask):
        return task.d * sum(task.sizes())
    return (task.stop - task.start) * task.d * sum(plan.ns(task.d, task.s))


def run_task(plan, task):
    """Run a task's trials.

    Returns
    -------
    dict of numpy.ndarray
        Each of :data:`RESULT_VARS` with shape ``(model, regularizer, step_size, ratio,
        trial)``, float64; and ``trace`` with shape ``(model, regularizer, step_size, ratio,
        k, iteration)`` for the ``k`` trials of the task whose index is below
        ``plan.config.traces``.
    """
    if isinstance(task, ProbeTask):
        return run_probe_task(plan, task)
    config = plan.config
    cell = (len(config.models), len(config.regularizers), len(config.steps))
    R, B = len(config.ratio), task.stop - task.start
    out = {v: np.full(cell + (R, B), np.nan) for v in RESULT_VARS}
    k = max(0, min(task.stop, config.traces) - task.start)
    out["trace"] = np.full(cell + (R, k, config.iterations + 1), np.nan)
    ns = plan.ns(task.d, task.s)
    for b, trial in enumerate(range(task.start, task.stop)):
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


def run_probe_task(plan, task, width=None):
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
    cell = (len(config.models), len(config.regularizers), len(config.steps))
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
            kernel.Problem(config.models[i], config.regularizers[j], n, config.steps[k]) for i, j, k, _, n in slots
        ]
        res = kernel.solve(X, w_star, labels, probs, config.iterations, config.tolerance, group_size=config.block)
        sizes = {}
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
        for mu in config.steps
        for n in ns
    ]
    res = kernel.solve(X, w_star, labels, probs, config.iterations, config.tolerance, group_size=config.block)
    sizes = {(i, j): ns for i in range(len(config.models)) for j in range(len(config.regularizers))}
    return res, convex_limits(config, X, w_star, labels, sizes)


def convex_limits(config, X, w_star, labels, sizes):
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
