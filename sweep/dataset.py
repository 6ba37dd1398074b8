"""The dataset of a sweep (``docs/design.md#dataset``): assembled from its parts in either
layout, written by the one writer, read back before its parts are removed.

The grid layout holds one sample size per ratio (dimension ``ratio``); the probe layout each
trial's own sample sizes (dimension ``probe``). CF conventions are :mod:`sweep.conventions`'.
"""

from __future__ import annotations

import abc
import contextlib
import errno
from pathlib import Path
from typing import TYPE_CHECKING

import dask
import numpy as np
import xarray as xr

from . import adaptive, conventions, structures
from . import config as config_mod
from .atomic import atomic_path
from .engine import PROBE_VARS, RESULT_VARS
from .errors import InputError, RunError
from .parts import Parts
from .plan import Plan, Task, make_tasks, n0_table, n0_tables, sample_sizes, sweep_seconds

if TYPE_CHECKING:
    from collections.abc import Callable

    from .adaptive import Progress
    from .config import SweepConfig
    from .plan import ProbeTask


def assemble_grid(
    parts: Parts,
    config: SweepConfig,
    plan: Plan,
    tables: dict[str, np.ndarray],
    done: set[str],
    batch_size: int,
) -> xr.Dataset:
    """The grid layout's Dataset (``docs/design.md#dataset``) from the parts of the tasks in
    ``done`` (names :meth:`~sweep.parts.Parts.check` found intact, or parts written since),
    each checked once more as it is read; ``batch_size`` is the one in force (the
    manifest's), which names the tasks.

    Cells without a part hold NaN.
    """
    cell = (len(config.models), len(config.regularizers), len(config.step_choices))
    R, T, nd, ns_ = len(config.ratio), config.trials, len(config.d), len(config.s)
    data = {v: np.full(cell + (nd, ns_, R, T), np.nan) for v in RESULT_VARS}
    trace = np.full(cell + (nd, ns_, R, config.traces, config.iterations + 1), np.nan) if config.traces else None
    di = {d: i for i, d in enumerate(config.d)}
    si = {s: i for i, s in enumerate(config.s)}
    ledger = parts.ledger()
    for task in make_tasks(config, batch_size):
        if task.name not in done:
            continue
        part = parts.read(task, ledger)
        i, j = di[task.d], si[task.s]
        for v in RESULT_VARS:
            data[v][:, :, :, i, j, :, task.start : task.stop] = part[v]
        if trace is not None and part["trace"].shape[4]:
            k = part["trace"].shape[4]
            trace[:, :, :, i, j, :, task.start : task.start + k] = part["trace"]
    dims = conventions.DIMS
    ds = xr.Dataset({v: (dims, a) for v, a in data.items()})
    if trace is not None:
        ds["trace"] = (conventions.TRACE_DIMS, trace)
    n = np.array([[plan.ns(d, s) for s in config.s] for d in config.d], dtype=np.int64)
    ds = ds.assign_coords(
        model=list(config.models),
        regularizer=list(config.regularizers),
        step_size=list(config.step_coordinates),
        d=list(config.d),
        s=list(config.s),
        ratio=list(config.ratio),
        trial=np.arange(T),
        traced_trial=np.arange(config.traces),
        iteration=np.arange(config.iterations + 1),
        n=(("d", "s", "ratio"), n),
    ).assign_coords({name: (("d", "s"), table) for name, table in tables.items()})
    if "trace" not in ds:
        ds = ds.drop_vars(["traced_trial", "iteration"])
    ds = _as_configured(ds, config)
    conventions.annotate(ds, structure=config.structure)
    ds["n0"].attrs["method"] = config.n0
    ds.attrs.update(_global_attrs(config, batch_size))
    return ds


def _as_configured(ds, config):
    """Without ``step_sizes`` in the config, the dataset has no ``step_size`` dimension: the
    file such a config always wrote; without a step rule among them, no ``shrinks``; without
    ``convex_limit``, no ``convex_success``, and with it the count of programs the solver
    failed on as an attribute (``convex_failed`` is that count's source, not a variable)."""
    ds = conventions.without_unused(ds)
    if config.convex_limit:
        ds.attrs["convex_solver_failures"] = int(np.nansum(ds["convex_failed"].values))
        ds = ds.drop_vars("convex_failed")
    else:
        ds = ds.drop_vars(["convex_success", "convex_failed"])
    return ds if config.step_axis else conventions.without_step_axis(ds)


def probe_arrays(config: SweepConfig, sizes: dict[tuple[int, int], list[int]]) -> dict[str, np.ndarray]:
    """Empty (NaN) per-probe arrays of a probe-layout sweep, each of :data:`PROBE_VARS`
    over ``(model, regularizer, step_size, d, s, trial, probe)``."""
    cell = (len(config.models), len(config.regularizers), len(config.step_choices))
    shape = cell + (len(config.d), len(config.s), config.trials)
    return {v: np.full(shape + (adaptive.width(config, sizes),), np.nan) for v in PROBE_VARS}


def fill_probes(
    parts: Parts,
    config: SweepConfig,
    data: dict[str, np.ndarray],
    tasks: list[ProbeTask],
    ledger: dict[str, str] | None = None,
) -> None:
    """Read the parts of ``tasks`` (each checked against the ledger) into ``data``
    (:func:`probe_arrays`)."""
    ledger = ledger or parts.ledger()
    di = {d: i for i, d in enumerate(config.d)}
    si = {s: i for i, s in enumerate(config.s)}
    for task in tasks:
        part = parts.read(task, ledger)
        w = part["n"].shape[-1]
        for v in PROBE_VARS:
            data[v][:, :, :, di[task.d], si[task.s], task.start : task.stop, :w] = part[v]


def assemble_probes(
    config: SweepConfig, tables: dict[str, np.ndarray], data: dict[str, np.ndarray], batch_size: int
) -> xr.Dataset:
    """The probe-layout Dataset (``docs/design.md#dataset``): per-probe variables over
    ``(model, regularizer, step_size, d, s, trial, probe)`` (no ``step_size`` without
    ``step_sizes`` in the config), ``n`` and ``round`` among them, NaN where a trial has no
    such probe."""
    dims = conventions.PROBE_DIMS
    ds = xr.Dataset({v: (dims, a) for v, a in data.items()})
    starts = [start for start, _ in adaptive.rounds(config)]
    trial_round = np.searchsorted(starts, np.arange(config.trials), side="right") - 1.0
    ds["round"] = xr.where(ds.n.notnull(), xr.DataArray(trial_round, dims="trial"), np.nan).transpose(*dims)
    ds = ds.assign_coords(
        model=list(config.models),
        regularizer=list(config.regularizers),
        step_size=list(config.step_coordinates),
        d=list(config.d),
        s=list(config.s),
        trial=np.arange(config.trials),
        probe=np.arange(ds.sizes["probe"]),
    ).assign_coords({name: (("d", "s"), table) for name, table in tables.items()})
    ds = _as_configured(ds, config)
    conventions.annotate(ds, layout="probe", structure=config.structure)
    ds["n0"].attrs["method"] = config.n0
    ds.attrs.update(_global_attrs(config, batch_size))
    return ds


def _global_attrs(config, batch_size):
    attrs = dict(
        conventions.provenance(f"relu-phase sweep {config.name}", f"sweep run ({config.name})"),
        name=config.name,
        config=config.text,
        mode=config.mode,
        layout=config.layout,
        n0_method=config.n0,
        tolerance=config.tolerance,
        seed=config.seed,
        trials=config.trials,
        iterations=config.iterations,
        sampling=config.sampling,
        dtype=config.dtype,
        signal=config.signal,
        traces=config.traces,
        batch_size=batch_size,
    )

    if config.ratio_range is not None:
        attrs.update(ratio_range=list(config.ratio_range), n_step=config.n_step)
    if config.structure != structures.DEFAULT:  # a sparse w*'s files stay as they were
        attrs.update(structure=config.structure, **({"group_size": config.group_size} if config.group_size else {}))
    if config.mode == "adaptive":
        attrs.update(
            ratio_range=[min(config.ratio), max(config.ratio)],
            first_trials=config.first_trials,
            round_trials=config.round_trials,
            probes_per_trial=config.probes_per_trial,
            quantiles=list(config.quantiles),
            precision=config.precision,
        )
    return attrs


class Layout(abc.ABC):
    """How a sweep's trials meet their sample sizes: :class:`Grid` or :class:`Probes`, with one
    interface (``task_names``, ``words``, ``run``, ``progress``) that the runner, ``sweep
    status`` and :func:`open_parts` use without asking which.

    A layout plans, runs and assembles one sweep: ``config``, its sample sizes ``sizes``
    (``{(d, s): [n]}``), the batch size in force and the n0 tables
    (:func:`sweep.plan.n0_tables`, computed when first needed).
    """

    def __init__(
        self,
        config: SweepConfig,
        sizes: dict[tuple[int, int], list[int]],
        batch_size: int,
        tables: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.config, self.sizes, self.batch_size, self._tables = config, sizes, batch_size, tables
        self.plan = Plan.from_config(config, sizes)

    @property
    def tables(self) -> dict[str, np.ndarray]:
        """The n0 tables: the dataset's coordinates."""
        if self._tables is None:
            self._tables = n0_tables(self.config)
        return self._tables

    @abc.abstractmethod
    def task_names(self) -> set[str] | None:
        """Every task's name where they are known before the first runs, else None."""

    @abc.abstractmethod
    def words(self) -> str:
        """The plan in words (a dry run, the first log line)."""

    @abc.abstractmethod
    def run(
        self, parts: Parts, done: set[str], compute: Callable[[list, float, str], None], log: Callable[[str], None]
    ) -> tuple[xr.Dataset, int]:
        """Run the tasks not in ``done`` (``compute(todo, estimate, desc)`` writes their
        parts) and assemble the dataset; returns it and the number of tasks."""

    @abc.abstractmethod
    def progress(
        self, parts: Parts, done: set[str], assemble: bool = True
    ) -> tuple[xr.Dataset | None, set[str], Progress | None]:
        """``(dataset so far or None, names of the tasks known so far, where the rounds stand
        or None)``, from the intact parts in ``done``."""


class Grid(Layout):
    """The ratio layout: every trial at each ratio's ``n``, so every task is known before the
    first runs (:func:`sweep.plan.make_tasks`)."""

    def task_names(self) -> set[str]:
        """Every task's name: all are known in advance."""
        return {t.name for t in make_tasks(self.config, self.batch_size)}

    def words(self) -> str:
        """The plan in words (a dry run, the first log line)."""
        return f"{len(make_tasks(self.config, self.batch_size))} tasks of {self.batch_size} trials"

    def run(
        self, parts: Parts, done: set[str], compute: Callable[[list, float, str], None], log: Callable[[str], None]
    ) -> tuple[xr.Dataset, int]:
        """Run the tasks not in ``done`` (``compute(todo, estimate, desc)`` writes their
        parts) and assemble the dataset; returns it and the number of tasks."""
        tasks = make_tasks(self.config, self.batch_size)
        todo = [t for t in tasks if t.name not in done]
        log(f"{self.config.name}: {self.words()}; {len(tasks) - len(todo)} already done, {len(todo)} to run")
        if todo:
            compute(todo, sweep_seconds(self.plan, todo), "sweep")
        return self.assemble(parts, done | {t.name for t in todo}), len(tasks)

    def assemble(self, parts: Parts, done: set[str]) -> xr.Dataset:
        """The dataset from the intact parts of the tasks in ``done`` (:func:`assemble_grid`)."""
        return assemble_grid(parts, self.config, self.plan, self.tables, done, self.batch_size)

    def progress(
        self, parts: Parts, done: set[str], assemble: bool = True
    ) -> tuple[xr.Dataset | None, set[str], Progress | None]:
        """``(dataset so far or None, every task's name, None)``."""
        return self.assemble(parts, done) if assemble else None, self.task_names(), None


class Probes(Layout):
    """The probe layout: each trial at its own sample sizes (a ratio range, or the probes an
    adaptive round placed), round after round (:func:`sweep.adaptive.drive`); a round's
    tasks are known once the rounds before it are done."""

    def task_names(self) -> set[str] | None:
        """``None``: later rounds' tasks depend on the results."""
        return None

    def words(self) -> str:
        config, rounds = self.config, adaptive.rounds(self.config)
        first = adaptive.make_tasks(
            config, 0, *rounds[0], self.batch_size, adaptive.first_placement(config, self.sizes)
        )
        return f"{len(rounds)} round(s) at most, {len(first)} tasks of up to {self.batch_size} trials in round 0"

    def run(
        self, parts: Parts, done: set[str], compute: Callable[[list, float, str], None], log: Callable[[str], None]
    ) -> tuple[xr.Dataset, int]:
        config = self.config
        data = probe_arrays(config, self.sizes)
        rounds = adaptive.rounds(config)
        # the whole budget at round 0's sizes: an upper bound on the work, which picks threads or processes
        estimate = sweep_seconds(self.plan, [Task(d, s, 0, config.trials) for d in config.d for s in config.s])
        log(f"{config.name}: {self.words()}; {len(done)} tasks already done")

        def run_round(round_, todo, open_cells):
            desc = (
                f"round {round_ + 1}/{len(rounds)}, {open_cells} cells open" if config.mode == "adaptive" else "sweep"
            )
            compute(todo, estimate, desc)

        progress = adaptive.drive(
            config,
            self.sizes,
            self.batch_size,
            data,
            done,
            lambda tasks: fill_probes(parts, config, data, tasks),
            run_round,
        )
        if config.mode == "adaptive":
            cells = len(adaptive.cells(config))
            log(
                f"{config.name}: {max(t.round for t in progress.tasks) + 1} round(s) run; "
                f"{cells - progress.open_cells} of {cells} cells reached the precision before the budget ran out"
            )
        return assemble_probes(config, self.tables, data, self.batch_size), len(progress.tasks)

    def progress(
        self, parts: Parts, done: set[str], assemble: bool = True
    ) -> tuple[xr.Dataset | None, set[str], Progress | None]:
        """``(dataset so far or None, names of the tasks of the rounds placed so far, its
        :class:`~sweep.adaptive.Progress`)``, replaying its rounds from the intact parts in
        ``done``."""
        data = probe_arrays(self.config, self.sizes)
        ledger = parts.ledger()
        progress = adaptive.drive(
            self.config,
            self.sizes,
            self.batch_size,
            data,
            done,
            lambda tasks: fill_probes(parts, self.config, data, tasks, ledger),
        )
        ds = assemble_probes(self.config, self.tables, data, self.batch_size) if assemble else None
        return ds, {t.name for t in progress.tasks}, progress


#: The layouts, by :attr:`sweep.config.SweepConfig.layout`.
LAYOUTS = {"ratio": Grid, "probe": Probes}


def layout(
    config: SweepConfig,
    sizes: dict[tuple[int, int], list[int]],
    batch_size: int,
    tables: dict[str, np.ndarray] | None = None,
) -> Layout:
    """The :class:`Grid` or :class:`Probes` of a sweep."""
    return LAYOUTS[config.layout](config, sizes, batch_size, tables)


def from_parts(parts: Parts) -> Layout:
    """The layout of the sweep whose parts folder is ``parts`` (its manifest's config,
    sample sizes and batch size)."""
    m = parts.manifest()
    config = config_mod.loads(m["config"])
    if "n" in m:
        sizes = {(int(key.split("-")[0]), int(key.split("-")[1])): ns for key, ns in m["n"].items()}
        return layout(config, sizes, m["batch_size"])
    tables = n0_tables(config)  # a folder from before the manifest kept its sizes
    return layout(config, sample_sizes(config, n0_table(config, tables)), m["batch_size"], tables)


def open_parts(path: str | Path) -> xr.Dataset:
    """The dataset of a running or interrupted sweep, from its parts folder: the tasks done
    so far (each checked against its checksum; a damaged one is left out), NaN elsewhere.

    Reads only: a sweep writing the folder goes on undisturbed. The attrs ``tasks_done``
    and ``tasks`` say how far it is.
    """
    parts = Parts(path)
    done = parts.done()
    ds, names, _ = from_parts(parts).progress(parts, done)
    assert ds is not None  # asked for (assemble=True)
    ds.attrs.update(tasks_done=len(done & names), tasks=len(names), parts=str(parts.path))
    return ds


def verify(ds: xr.Dataset, out: str | Path) -> None:
    """:class:`RunError` unless the dataset at ``out``, read back, equals ``ds`` (every
    variable's values, dimensions and coordinates): what makes the parts folder safe to
    remove."""
    try:
        with xr.open_dataset(out) as back:  # a variable at a time: one copy of the dataset in memory, not two
            same = set(back.variables) == set(ds.variables) and all(back[v].equals(ds[v]) for v in ds.variables)
    except (OSError, ValueError) as exc:
        raise RunError(f"{out} cannot be read back ({exc}); the parts folder is kept") from exc
    if not same:
        raise RunError(f"{out} read back differs from the dataset written; the parts folder is kept")


def made_by(out: str | Path, config: SweepConfig) -> str | None:
    """What the file at ``out`` is to a run of ``config``: ``None`` when there is none,
    ``""`` when it is the dataset this config and this code make (nothing to run), else
    why it is not, in words."""
    import netCDF4

    if not Path(out).exists():
        return None
    try:
        with netCDF4.Dataset(out) as nc:
            attrs = {k: nc.getncattr(k) for k in ("config", "relu_phase_code") if k in nc.ncattrs()}
    except OSError:
        return "is not a NetCDF file"
    if "config" not in attrs:
        return "is not a relu-phase sweep dataset"
    try:
        same = config_mod.loads(attrs["config"]).canonical() == config.canonical()
    except InputError:
        same = False
    if not same:
        return "holds the dataset of another config"
    if attrs.get("relu_phase_code") != conventions.code_id():
        return f"was made by other code ({attrs.get('relu_phase_code', 'unrecorded')}; this is {conventions.code_id()})"
    return ""


def write_dataset(ds: xr.Dataset, out: str | Path) -> None:
    """Write ``ds`` to ``out`` atomically, compressed per :mod:`sweep.conventions`; a failed
    write is an :class:`OSError`, whatever library reported it.

    xarray asks dask for the current scheduler even when every variable is in memory, and a
    failed ``Client(...)`` elsewhere in the process can leave dask pointing at a client that
    no longer exists; in-memory data is written without asking.
    """
    in_memory = not ds.chunks
    with dask.config.set(scheduler="synchronous") if in_memory else contextlib.nullcontext(), atomic_path(out) as tmp:
        try:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=conventions.encoding(ds))
        except RuntimeError as exc:  # how the NetCDF library reports a write that failed (a full disk, a quota)
            raise OSError(errno.EIO, f"the NetCDF library could not write it ({exc}); is the disk full?") from exc
