"""The plan of a sweep: how many samples each cell takes, and how its trials are cut into tasks.

The sample sizes come from ``n0`` (:mod:`sweep.structures`, by the structure of ``w*``): this
module is the one route from a config to ``n0`` and ``n``. The tasks are batches of trials
of one ``(d, s)`` cell, sized by a rough cost model and a memory bound that config
validation also checks. Nothing here runs a trial (:mod:`sweep.engine` does).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import structures

if TYPE_CHECKING:  # the config sits above the plan: it checks its sizes with it
    from collections.abc import Sequence
    from typing import Any

    from .config import SweepConfig

TARGET_TASK_SECONDS = 10.0  # short tasks: worker deaths and --lifetime lose little (docs/design.md#storage)


@dataclass(frozen=True)
class Task:
    """Trials ``start .. stop-1`` of cell ``(d, s)``."""

    d: int
    s: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"d{self.d}-s{self.s}-t{self.start:06d}-{self.stop:06d}"

    def trial_sizes(self, plan: Plan) -> Sequence[int]:
        """The sample sizes each of its trials solves at, per (model, regularizer, step)."""
        return plan.ns(self.d, self.s)

    def cost(self, plan: Plan) -> int:
        """Its relative cost: trials times ``d`` times the rows of every ratio (what its draws
        and products scale with)."""
        return (self.stop - self.start) * self.d * sum(plan.ns(self.d, self.s))


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
    def name(self) -> str:
        return f"r{self.round:03d}-d{self.d}-s{self.s}-t{self.start:06d}-{self.stop:06d}"

    def sizes(self) -> list[int]:
        """Every sample size the task solves at (with repeats), for cost estimates."""
        return [n for trial in self.probes for row in trial for cell in row for ns in cell for n in ns]

    def trial_sizes(self, plan: Plan) -> Sequence[int]:
        """Its problems per trial and (model, regularizer, step), as that many of its
        largest sample size: an upper bound for the cost model."""
        sizes, config = self.sizes(), plan.config
        cells = (self.stop - self.start) * len(config.models) * len(config.regularizers) * len(config.step_choices)
        return [max(sizes, default=1)] * max(1, len(sizes) // cells)

    def cost(self, plan: Plan) -> int:
        """Its relative cost: ``d`` times the rows of every probe."""
        return self.d * sum(self.sizes())


@dataclass(frozen=True)
class Plan:
    """What a worker needs to run any task of a sweep; small and picklable.

    ``config`` is the sweep's config without its cluster table and text (only the fields
    that decide the numbers matter to a worker); ``sizes`` is ``((d, s, (n per ratio)), ...)``.
    """

    config: SweepConfig
    sizes: tuple

    @classmethod
    def from_config(cls, config: SweepConfig, sizes: dict[tuple[int, int], list[int]] | None = None) -> Plan:
        sizes = sizes or sample_sizes(config)
        lean = dataclasses.replace(config, cluster={}, text="")
        return cls(lean, tuple((d, s, tuple(ns)) for (d, s), ns in sorted(sizes.items())))

    def ns(self, d: int, s: int) -> tuple[int, ...]:
        for d_, s_, ns in self.sizes:
            if (d_, s_) == (d, s):
                return ns
        raise KeyError((d, s))


def default_batch_size(config: SweepConfig, sizes: dict[tuple[int, int], list[int]]) -> int:
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


def trial_seconds(config: SweepConfig, d: int, ns: Sequence[int]) -> float:
    """A rough time for one trial at dimension ``d`` with sample sizes ``ns`` (see
    :func:`default_batch_size`: an order of magnitude, not a prediction)."""
    problems = len(config.models) * len(config.regularizers) * len(config.step_choices) * len(ns)
    n_max = max(ns)
    return n_max * d / 1e8 + n_max * d * problems * min(config.iterations, 20) / 5e9


def sweep_seconds(plan: Plan, tasks: Sequence[Task | ProbeTask]) -> float:
    """A rough time for ``tasks`` on one core (:func:`trial_seconds`)."""
    return sum((t.stop - t.start) * trial_seconds(plan.config, t.d, t.trial_sizes(plan)) for t in tasks)


def make_tasks(config: SweepConfig, batch_size: int) -> list[Task]:
    """Every task of the sweep, in a fixed order."""
    return [
        Task(d, s, start, min(start + batch_size, config.trials))
        for d in config.d
        for s in config.s
        for start in range(0, config.trials, batch_size)
    ]


def task_cost(plan: Plan, task: Task | ProbeTask) -> int:
    """A task's relative cost (its ``cost``). Only an order: heavier tasks go first
    (:func:`sweep.fanout.compute`)."""
    return task.cost(plan)


def n0_table(config: SweepConfig, tables: dict[str, np.ndarray] | None = None) -> dict[tuple[int, int], float]:
    """``{(d, s): n0}`` by the config's method for its structure of ``w*`` (a Monte-Carlo
    estimate is seeded by ``seed``): read from ``tables`` (:func:`n0_tables`) when given."""
    if tables is not None:
        return {(d, s): tables["n0"][i, j] for i, d in enumerate(config.d) for j, s in enumerate(config.s)}
    return {(d, s): _n0(config, config.n0, d, s)[0] for d in config.d for s in config.s}


def n0_tables(config: SweepConfig) -> dict[str, np.ndarray]:
    """``n0`` over ``(d, s)`` by every method of the config's structure of ``w*`` (``n0_<method>``,
    with ``n0_<method>_se`` where it is a Monte-Carlo estimate), and the one that sets ``n``
    (``n0``): the dataset's coordinates."""
    shape = (len(config.d), len(config.s))
    tables: dict[str, Any] = {"n0": None}  # first: the coordinates' order in the file, as it always was
    for method, how in structures.get(config.structure).n0.items():
        name = "n0_" + method.replace("-", "_")
        tables[name] = np.empty(shape)
        if how.sampled:
            tables[name + "_se"] = np.empty(shape)
        for i, d in enumerate(config.d):
            for j, s in enumerate(config.s):
                value, se = _n0(config, method, d, s)
                tables[name][i, j] = value
                if name + "_se" in tables:
                    tables[name + "_se"][i, j] = se
    tables["n0"] = tables["n0_" + config.n0.replace("-", "_")].copy()
    return tables


def _n0(config, method, d, s):
    return structures.n0(config.structure, s, d, method, config.block, seed=config.seed)


def sample_sizes(
    config: SweepConfig, n0: dict[tuple[int, int], float] | None = None
) -> dict[tuple[int, int], list[int]]:
    """``{(d, s): [n, ...]}`` from ``n0`` (``{(d, s): n0}``, default :func:`n0_table`):
    ``n = ceil(ratio * n0)`` per ratio (adaptive mode: round 0's), or every ``n`` of the ratio
    range, ``ceil(lo * n0)`` up to ``floor(hi * n0)`` in steps of ``n_step``."""
    table = n0 if n0 is not None else n0_table(config)
    if config.ratio is None:
        lo, hi = config.ratio_range
        return {
            key: list(range(max(1, math.ceil(lo * n0)), math.floor(hi * n0) + 1, config.n_step))
            for key, n0 in table.items()
        }
    return {key: [max(1, math.ceil(r * n0)) for r in config.ratio] for key, n0 in table.items()}


def probes_per_draw(config: SweepConfig, ns: Sequence[int]) -> int:
    """Sample sizes one design serves per (model, regularizer), at most: every ``n`` of the
    cell (nested), one (independent), or in adaptive mode the larger of round 0's and a
    later round's."""
    if config.sampling != "nested":
        return 1
    return max(len(ns), config.probes_per_trial) if config.mode == "adaptive" else len(ns)


def trial_bytes(config: SweepConfig, d: int, ns: Sequence[int]) -> int:
    """Upper bound on the peak bytes of one trial in :func:`sweep.engine.run_task`, whose
    cell has sample sizes ``ns``.

    The design ``X`` (n_max x d) and its transpose (the kernel reads both); labels,
    products and residuals (three n_max x P arrays, four allowed); iterates and gradients
    (two d x P arrays, six allowed: the support check once took int64 ranks); the
    kernel's float64 error traces and its int64 supports and residual rows; the screen's
    int16 copy of ``X`` and its float32 gradients.
    ``tests/sweep/test_engine.py`` checks it against the measured peak.
    """
    item = 8 if config.dtype == "float64" else 4
    n_max = max(ns)
    P = len(config.models) * len(config.regularizers) * len(config.step_choices) * probes_per_draw(config, ns)
    arrays = 2 * n_max * d + 4 * n_max * P + 6 * d * P
    wide = 8 * P * (config.iterations + 1 + d + n_max) + 8 * 2 * n_max
    screen = 2 * n_max * d + 4 * P * d
    # the convex program (convex_limit): X's rows in float64, [A, -A] of the LP and the
    # solver's own copy, after the PGD problems' scratch is freed
    convex = 8 * 6 * n_max * d if config.convex_limit else 0
    return int(item * arrays + wide + screen + convex)


def task_bytes(config: SweepConfig, d: int, ns: Sequence[int], batch: int) -> int:
    """Peak bytes of a task of ``batch`` trials: one trial at a time, plus the outputs."""
    width = len(ns) if config.layout == "ratio" else probes_per_draw(config, ns)
    P = len(config.models) * len(config.regularizers) * len(config.step_choices) * width
    outputs = 8 * P * (11 * batch + min(batch, config.traces) * (config.iterations + 1))
    return trial_bytes(config, d, ns) + outputs


#: Float64 arrays the assembled dataset holds per trial and sample size: the per-trial
#: variables of sweep.engine (PROBE_VARS) and the probe layout's round, with room to spare
#: (tests/sweep/test_config.py holds it above their count).
DATASET_VARIABLES = 16


def dataset_bytes(config: SweepConfig, sizes: dict[tuple[int, int], list[int]]) -> int:
    """Bytes of the dataset a sweep plans with sample sizes ``sizes``, as assembled in memory
    (float64): every per-trial variable over every cell, trial and sample size (or probe
    slot), and the traces."""
    cells = len(config.models) * len(config.regularizers) * len(config.step_choices) * len(config.d) * len(config.s)
    width = max(probes_per_draw(config, ns) if config.layout == "probe" else len(ns) for ns in sizes.values())
    trials = 8 * cells * width * config.trials * DATASET_VARIABLES
    traces = 8 * cells * width * config.traces * (config.iterations + 1)
    return trials + traces
