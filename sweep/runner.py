"""``sweep run | resume | status``: config -> tasks -> cluster -> parts -> NetCDF."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import adaptive, cluster, cluster_config, dataset, fanout, kernel
from . import config as config_mod
from . import plan as planning
from .errors import InputError, RunError
from .parts import Parts, describe, parts_path

if TYPE_CHECKING:
    import argparse

    from .config import SweepConfig

#: A local sweep whose work is estimated below this (seconds on one core, a rough model:
#: :func:`sweep.plan.sweep_seconds`) runs on threads of the client process: starting
#: worker processes would cost more than the work (docs/performance.md).
IN_PROCESS_SECONDS = 0.5


@dataclass
class Summary:
    """What a run did: tasks in the sweep, computed now, and the file written."""

    total: int
    computed: int
    out: Path


def run(
    config: SweepConfig,
    out: str | Path,
    kind: str | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    dashboard_address: str = cluster_config.DASHBOARD,
    dry_run: bool = False,
    log: Callable[[str], None] | None = None,
    in_process: bool | None = None,
    connect_timeout: float = cluster.CONNECT_TIMEOUT,
    keep_parts: bool = False,
) -> Summary:
    """Run (or resume) the sweep of ``config`` and write its dataset to ``out``.

    Parameters
    ----------
    config : SweepConfig
    out : path
        The NetCDF to write; finished tasks go to ``out + ".parts"`` meanwhile.
    kind : str, optional
        ``local``, a batch scheduler (``slurm``, ``pbs``, ``sge``, ``lsf``, ``htcondor``,
        ``oar``) or a scheduler address; default the config's cluster kind.
    workers : int, optional
        Local worker processes or batch jobs; default the config's, else the cores.
    batch_size : int, optional
        Trials per task; default :func:`sweep.plan.default_batch_size`.
    dry_run : bool
        Print the plan (and a batch scheduler's job script) and stop before writing anything.
    in_process : bool, optional
        For a local cluster: tasks on threads of this process (True) or on worker
        processes (False); default: threads when the work is estimated below
        :data:`IN_PROCESS_SECONDS`. The numbers are the same either way.
    connect_timeout : float
        Seconds to wait for a scheduler given by address; one that does not answer is a
        :class:`~sweep.errors.ClusterError` before the parts folder is touched.
    keep_parts : bool
        Keep the parts folder after the dataset is written and read back equal; by default
        it is removed then (the dataset holds every number it held).

    Returns
    -------
    Summary
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out)
    if out.suffix != ".nc":
        raise InputError("--out", str(out), "must end in .nc")
    kind = cluster_config.check_kind("--cluster", kind or config.cluster["kind"])
    workers = workers or config.cluster.get("workers")
    script = _check_cluster(config, kind, workers, out, dry_run)
    tables = planning.n0_tables(config)
    sizes = planning.sample_sizes(config, planning.n0_table(config, tables))
    parts, default = Parts(parts_path(out)), planning.default_batch_size(config, sizes)
    if dry_run:
        _print_plan(config, dataset.layout(config, sizes, batch_size or default), kind, workers, out, log)
        if script:
            print(script)
        return Summary(0, 0, out)
    if kind not in cluster_config.KINDS:  # an address: is anyone there, before the lock and the manifest?
        cluster.check_reachable(kind, connect_timeout)
    where = (kind, workers, config.cluster, dashboard_address, parts.path.resolve(), log)
    connect = functools.partial(cluster.connect, *where, connect_timeout=connect_timeout)
    with parts.lock():
        with _writing(parts.path):
            bs = parts.open(
                config, batch_size, default, out, sizes, lambda b: dataset.layout(config, sizes, b).task_names()
            )
        layout = dataset.layout(config, sizes, bs, tables)
        done, damaged = parts.check()
        parts.set_aside(damaged, log, layout.task_names())
        with contextlib.ExitStack() as stack:
            session = _Session(layout.plan, kind, connect, stack, progress, log, in_process, parts)
            ds, total = layout.run(parts, done, session.compute, log)
        _finish(ds, out, parts, keep_parts, log)
        return Summary(total, session.computed, out)


def _check_cluster(config, kind, workers, out, dry_run):
    """The cluster's table judged before anything is written: its keys, and for a batch
    scheduler the class's own judgement (its job script, returned) and the interface."""
    cluster.check_known_keys(config.cluster)
    if kind not in cluster_config.JOBQUEUE:
        return None
    script = cluster.job_script(config.cluster, workers, parts_path(out).resolve(), kind=kind)
    if not dry_run:
        cluster.check_interface(config.cluster)
    return script


def _finish(ds, out, parts, keep_parts, log):
    """Write the dataset; read it back and remove the parts folder unless asked to keep it."""
    with _writing(out):
        dataset.write_dataset(ds, out)
    log(f"wrote {out}")
    if not keep_parts:
        dataset.verify(ds, out)
        parts.remove()


def _print_plan(config, layout, kind, workers, out, log):
    """What a dry run says: the plan, and for a batch scheduler its scaling bounds."""
    log(f"{config.name}: {layout.words()} on {kind}; would write {out}")
    if kind in cluster_config.JOBQUEUE:
        _, bounds = cluster.jobqueue_kwargs(config.cluster, workers, kind=kind)
        if not cluster.tls_enabled(config.cluster):
            log(cluster.NO_TLS_WARNING)
        log(f"adaptive scaling between {bounds['minimum_jobs']} and {bounds['maximum_jobs']} jobs")


@dataclass
class _Session:
    """The cluster of a run, started at the first task to compute (a finished sweep starts
    none) by ``connect`` into ``stack``, and the tasks computed on it, whose parts go to
    ``parts``; ``in_process`` as :func:`run` takes it."""

    plan: planning.Plan
    kind: str
    connect: Callable
    stack: contextlib.ExitStack
    show_progress: bool
    log: Callable
    in_process: bool | None
    parts: Parts
    client: object = None
    computed: int = 0

    def compute(self, todo, estimate, desc="sweep"):
        """Run ``todo`` and write their parts; ``estimate`` is the sweep's rough one-core
        time (:func:`sweep.plan.sweep_seconds`), which picks threads or processes."""
        if self.client is None:
            kernel.warm_up(self.plan.config.dtype, self.log)  # compiled once here; the workers then load numba's cache
            in_process = self.in_process if self.in_process is not None else estimate < IN_PROCESS_SECONDS
            self.client = self.stack.enter_context(self.connect(in_process=in_process))
            where = "threads of this process (a small sweep)" if in_process and self.kind == "local" else ""
            self.log(
                f"scheduler: {self.client.scheduler.address}; dashboard: {cluster.dashboard_link(self.client)}"
                + (f"; on {where}" if where else "")
            )
        fanout.compute(self.client, self.plan, todo, _write_part(self.parts), progress=self.show_progress, desc=desc)
        self.computed += len(todo)


@contextlib.contextmanager
def _writing(path):
    """An OSError while writing ``path`` as a :class:`RunError` naming it."""
    try:
        yield
    except OSError as exc:
        raise RunError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_part(parts):
    def write(task, arrays):
        with _writing(parts.path / task.name):
            parts.write(task, arrays)

    return write


def _remove_stale_writes(out, log):
    """Remove the temporary files of a final write of ``out`` cut short by a kill."""
    for stale in Path(out).parent.glob(f".{Path(out).name}.*.tmp"):
        log(f"sweep: removing {stale}, left by a write that was cut short")
        stale.unlink(missing_ok=True)


def cli_run(args: argparse.Namespace, cfg: SweepConfig) -> int:
    """``sweep run``, with the config the CLI has already loaded and validated."""
    out = args.out or args.config.with_suffix(".nc")
    if not args.overwrite:
        why = dataset.made_by(out, cfg)
        if why == "":
            print(f"{cfg.name}: {out} is up to date (this config, this code); nothing to run", file=sys.stderr)
            return 0
        if why is not None:
            raise InputError("--out", str(out), f"{why}; pass --overwrite to replace it")
    _remove_stale_writes(out, lambda m: print(m, file=sys.stderr))
    run(
        cfg,
        out,
        args.cluster,
        args.workers,
        args.batch_size,
        progress=not args.no_progress,
        dashboard_address=args.dashboard,
        dry_run=args.dry_run,
        connect_timeout=args.connect_timeout,
        keep_parts=args.keep_parts,
    )
    return 0


def _open_parts(path):
    """A parts folder, its manifest and the config that owns it."""
    parts = Parts(path)
    m = parts.manifest()
    return parts, m, config_mod.loads(m["config"])


def cli_resume(args: argparse.Namespace) -> int:
    parts, m, cfg = _open_parts(args.parts)
    # PATH.nc.parts -> PATH.nc, wherever the command is run from
    out = (
        parts.path.with_name(parts.path.name[: -len(".parts")])
        if parts.path.name.endswith(".parts")
        else Path(m["out"])
    )
    _remove_stale_writes(out, lambda msg: print(msg, file=sys.stderr))
    run(
        cfg,
        out,
        args.cluster,
        args.workers,
        m["batch_size"],
        progress=not args.no_progress,
        dashboard_address=args.dashboard,
        connect_timeout=args.connect_timeout,
        keep_parts=args.keep_parts,
    )
    return 0


def _tasks_done(parts, good):
    """``(layout, done, total, progress)`` of a parts folder: the intact parts among the
    sweep's tasks (an adaptive sweep's: those of the rounds placed so far, with its
    :class:`~sweep.adaptive.Progress`; a grid's: every task, and no progress)."""
    layout = dataset.from_parts(parts)
    _, names, progress = layout.progress(parts, good, assemble=False)
    return layout, len(good & names), len(names), progress


def kept(path: str | Path) -> str:
    """What a stopped sweep leaves in the parts folder ``path``, in words: ``N of M tasks
    kept in PATH`` (intact parts only), or that nothing was kept yet."""
    try:
        parts = Parts(path)
        _, done, total, _ = _tasks_done(parts, parts.check()[0])
    except InputError:  # stopped before the sweep had a folder
        return f"nothing kept yet in {path}"
    return f"{done} of {total} tasks kept in {path}"


def cli_status(args: argparse.Namespace) -> int:
    parts = Parts(args.parts)
    m = parts.manifest()
    good, damaged = parts.check()
    layout, done, total, progress = _tasks_done(parts, good)
    cfg = layout.config
    for name, why in sorted(damaged.items()):  # status only looks; a run or resume sets them aside
        print(f"sweep: {parts.path / name} {describe(name, why, layout.task_names())}; not counted", file=sys.stderr)
    if progress is None:
        print(f"{cfg.name}: {done} / {total} tasks done ({100 * done / total:.0f}%); output {m['out']}")
        return 0
    where = "every round done" if progress.complete else f"in round {progress.round + 1}"
    print(
        f"{cfg.name}: {done} / {total} tasks done of the rounds placed so far ({where}, at most "
        f"{len(adaptive.rounds(cfg))}); {progress.open_cells} cells open; output {m['out']}"
    )
    return 0
