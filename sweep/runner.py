"""``sweep run | resume | status``: config -> tasks -> cluster -> parts -> NetCDF."""

import contextlib
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

from . import adaptive, cluster, cluster_config, engine, fanout, kernel, store
from . import config as config_mod
from .errors import InputError, RunError

#: A local sweep whose work is estimated below this (seconds on one core, a rough model:
#: :func:`sweep.engine.sweep_seconds`) runs on threads of the client process: starting
#: worker processes would cost more than the work (docs/performance.md).
IN_PROCESS_SECONDS = 0.5


@dataclass
class Summary:
    """What a run did: tasks in the sweep, computed now, and the file written."""

    total: int
    computed: int
    out: Path


def run(
    config,
    out,
    kind=None,
    workers=None,
    batch_size=None,
    progress=True,
    dashboard_address=cluster_config.DASHBOARD,
    dry_run=False,
    log=None,
    in_process=None,
    connect_timeout=cluster.CONNECT_TIMEOUT,
    keep_parts=False,
):
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
        Trials per task; default :func:`sweep.engine.default_batch_size`.
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
    tables = store.n0_tables(config)
    sizes = store.sample_sizes(config, tables)
    plan = engine.Plan.from_config(config, sizes)
    parts = store.Parts(store.parts_path(out))
    if dry_run:
        _print_plan(config, sizes, batch_size or engine.default_batch_size(config, sizes), kind, workers, out, log)
        if script:
            print(script)
        return Summary(0, 0, out)
    if kind not in cluster_config.KINDS:  # an address: is anyone there, before the lock and the manifest?
        cluster.check_reachable(kind, connect_timeout)
    where = (kind, workers, config.cluster, dashboard_address, parts.path.resolve(), log)
    connect = functools.partial(cluster.connect, *where, connect_timeout=connect_timeout)
    with parts.lock():
        with _writing(parts.path):
            bs = parts.open(config, batch_size, engine.default_batch_size(config, sizes), out, sizes)
        done, damaged = parts.check()
        parts.set_aside(damaged, log, _all_task_names(config, bs))
        with contextlib.ExitStack() as stack:
            session = _Session(config, plan, kind, connect, stack, progress, log, in_process, parts)
            if config.layout == "ratio":
                ds, total = _run_grid(config, parts, plan, tables, bs, done, session)
            else:
                ds, total = _run_probes(config, parts, sizes, tables, bs, done, session)
        _finish(ds, out, parts, keep_parts, log)
        return Summary(total, session.computed, out)


def _check_cluster(config, kind, workers, out, dry_run):
    """The cluster's table judged before anything is written: its keys, and for a batch
    scheduler the class's own judgement (its job script, returned) and the interface."""
    cluster.check_known_keys(config.cluster)
    if kind not in cluster_config.JOBQUEUE:
        return None
    script = cluster.job_script(config.cluster, workers, store.parts_path(out).resolve(), kind=kind)
    if not dry_run:
        cluster.check_interface(config.cluster)
    return script


def _finish(ds, out, parts, keep_parts, log):
    """Write the dataset; read it back and remove the parts folder unless asked to keep it."""
    with _writing(out):
        store.write_dataset(ds, out)
    log(f"wrote {out}")
    if not keep_parts:
        store.verify(ds, out)
        parts.remove()


def _print_plan(config, sizes, bs, kind, workers, out, log):
    """What a dry run says: the plan, and for a batch scheduler its scaling bounds."""
    log(f"{config.name}: {_plan_words(config, sizes, bs)} on {kind}; would write {out}")
    if kind in cluster_config.JOBQUEUE:
        _, bounds = cluster.jobqueue_kwargs(config.cluster, workers, kind=kind)
        if not cluster.tls_enabled(config.cluster):
            log(cluster.NO_TLS_WARNING)
        log(f"adaptive scaling between {bounds['minimum_jobs']} and {bounds['maximum_jobs']} jobs")


def _plan_words(config, sizes, bs):
    if config.layout == "ratio":
        return f"{len(engine.make_tasks(config, bs))} tasks of {bs} trials"
    rounds = adaptive.rounds(config)
    first = adaptive.make_tasks(config, 0, *rounds[0], bs, adaptive.first_placement(config, sizes))
    return f"{len(rounds)} round(s) at most, {len(first)} tasks of up to {bs} trials in round 0"


class _Session:
    """The cluster of a run, started at the first task to compute (a finished sweep starts
    none), and the tasks computed on it."""

    def __init__(self, config, plan, kind, connect, stack, progress, log, in_process, parts):
        self.config, self.plan, self.kind, self.connect, self.stack = config, plan, kind, connect, stack
        self.progress, self.log, self.in_process, self.parts = progress, log, in_process, parts
        self.client, self.computed = None, 0

    def compute(self, todo, estimate, desc="sweep"):
        """Run ``todo`` and write their parts; ``estimate`` is the sweep's rough one-core
        time (:func:`sweep.engine.sweep_seconds`), which picks threads or processes."""
        if self.client is None:
            kernel.warm_up(self.config.dtype, self.log)  # compiled once here; the workers then load numba's cache
            in_process = self.in_process if self.in_process is not None else estimate < IN_PROCESS_SECONDS
            self.client = self.stack.enter_context(self.connect(in_process=in_process))
            where = "threads of this process (a small sweep)" if in_process and self.kind == "local" else ""
            self.log(
                f"scheduler: {self.client.scheduler.address}; dashboard: {cluster.dashboard_link(self.client)}"
                + (f"; on {where}" if where else "")
            )
        fanout.compute(self.client, self.plan, todo, _write_part(self.parts), progress=self.progress, desc=desc)
        self.computed += len(todo)


def _run_grid(config, parts, plan, tables, bs, done, session):
    """The ratio layout: every task at once."""
    tasks = engine.make_tasks(config, bs)
    todo = [t for t in tasks if t.name not in done]
    session.log(
        f"{config.name}: {len(tasks)} tasks of {bs} trials; {len(tasks) - len(todo)} already done, {len(todo)} to run"
    )
    if todo:
        session.compute(todo, engine.sweep_seconds(plan, todo))
    return parts.assemble(config, plan, tables, done | {t.name for t in todo}), len(tasks)


def _run_probes(config, parts, sizes, tables, bs, done, session):
    """The probe layout: round after round (:func:`sweep.adaptive.drive`)."""
    data = store.probe_arrays(config, sizes)
    rounds = adaptive.rounds(config)
    # the whole budget at round 0's sizes: an upper bound on the work, which picks threads or processes
    budget = [engine.Task(d, s, 0, config.trials) for d in config.d for s in config.s]
    estimate = engine.sweep_seconds(session.plan, budget)
    session.log(f"{config.name}: {_plan_words(config, sizes, bs)}; {len(done)} tasks already done")

    def compute(round_, todo, open_cells):
        desc = f"round {round_ + 1}/{len(rounds)}, {open_cells} cells open" if config.mode == "adaptive" else "sweep"
        session.compute(todo, estimate, desc)

    progress = adaptive.drive(
        config, sizes, bs, data, done, lambda tasks: store.fill_probes(parts, config, data, tasks), compute
    )
    if config.mode == "adaptive":
        rounds_run = max(t.round for t in progress.tasks) + 1
        session.log(
            f"{config.name}: {rounds_run} round(s) run; {len(adaptive.cells(config)) - progress.open_cells} of "
            f"{len(adaptive.cells(config))} cells reached the precision before the budget ran out"
        )
    return store.assemble_probes(config, tables, data, bs), len(progress.tasks)


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


def cli_run(args, cfg):
    """``sweep run``, with the config the CLI has already loaded and validated."""
    out = args.out or args.config.with_suffix(".nc")
    if not args.overwrite:
        why = store.made_by(out, cfg)
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
    parts = store.Parts(path)
    m = parts.manifest()
    return parts, m, config_mod.loads(m["config"])


def cli_resume(args):
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


def _all_task_names(cfg, batch_size):
    """Every task name of a grid sweep; ``None`` for the probe layout, whose later rounds'
    tasks depend on the results."""
    return {t.name for t in engine.make_tasks(cfg, batch_size)} if cfg.layout == "ratio" else None


def _tasks_done(parts, m, cfg, good):
    """``(done, total, progress)``: the intact parts among the sweep's tasks (an adaptive
    sweep's: those of the rounds placed so far, with its :class:`~sweep.adaptive.Progress`;
    a grid's: every task, and no progress)."""
    if cfg.layout == "ratio":
        names = _all_task_names(cfg, m["batch_size"])
        return len(good & names), len(names), None
    progress = store.probe_progress(parts, cfg, m, good)[1]
    names = {t.name for t in progress.tasks}
    return len(good & names), len(names), progress


def kept(path):
    """What a stopped sweep leaves in the parts folder ``path``, in words: ``N of M tasks
    kept in PATH`` (intact parts only), or that nothing was kept yet."""
    try:
        parts, m, cfg = _open_parts(path)
        done, total, _ = _tasks_done(parts, m, cfg, parts.check()[0])
    except InputError:  # stopped before the sweep had a folder
        return f"nothing kept yet in {path}"
    return f"{done} of {total} tasks kept in {path}"


def cli_status(args):
    parts, m, cfg = _open_parts(args.parts)
    good, damaged = parts.check()
    tasks = _all_task_names(cfg, m["batch_size"])
    for name, why in sorted(damaged.items()):  # status only looks; a run or resume sets them aside
        print(f"sweep: {parts.path / name} {store.describe(name, why, tasks)}; not counted", file=sys.stderr)
    done, total, progress = _tasks_done(parts, m, cfg, good)
    if progress is None:
        print(f"{cfg.name}: {done} / {total} tasks done ({100 * done / total:.0f}%); output {m['out']}")
        return 0
    where = "every round done" if progress.complete else f"in round {progress.round + 1}"
    print(
        f"{cfg.name}: {done} / {total} tasks done of the rounds placed so far ({where}, at most "
        f"{len(adaptive.rounds(cfg))}); {progress.open_cells} cells open; output {m['out']}"
    )
    return 0
