"""One function builds any Dask cluster the sweep runs on: local, a batch scheduler that
dask-jobqueue drives (SLURM, PBS, SGE, LSF, HTCondor, OAR), or an address.

Nothing listens beyond this machine unless asked: local clusters and dashboards bind to
loopback, and a batch cluster's scheduler, which must be reachable from the compute
nodes, takes only TLS connections from holders of the run's certificates
(``docs/design.md#clusters``).

The ``[cluster]`` table it is built from is validated, with the rest of the config, by
:mod:`sweep.cluster_config`. Dask is imported only inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import urllib.parse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .cluster_config import CONNECT_TIMEOUT, DASHBOARD, JOBQUEUE, OWN, passthrough, walltime_minutes
from .errors import ClusterError, InputError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

# Dask's housekeeping, turned down for the sweep's clusters (local and SLURM): on a small
# machine the defaults burn a noticeable share of the cores the workers need
# (docs/performance.md).
QUIET = {
    # samples every worker's stacks every 10 ms; it cannot see inside the compiled loop
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",  # event-loop health check (default 20 ms)
    "distributed.admin.system-monitor.interval": "5s",  # dashboard's CPU/memory plots (0.5 s)
}


#: What ``security = false`` exposes, said once when a jobqueue cluster starts without TLS.
NO_TLS_WARNING = (
    "warning: cluster.security = false: the scheduler takes plain tcp:// connections from anyone who can reach "
    "it on the cluster's network, who can then run code as you and read or change results in flight"
)


def tls_enabled(table: dict[str, Any]) -> bool:
    return bool(table["security"] or table["tls_ca_file"])


def site_security(table: dict[str, Any]) -> Any:
    """A ``distributed.Security`` from the site's own certificate files, or None."""
    if not table["tls_ca_file"]:
        return None
    from distributed.security import Security

    cert, key = table["tls_cert"], table["tls_key"]
    return Security(
        tls_ca_file=table["tls_ca_file"],
        require_encryption=True,
        tls_client_cert=cert,
        tls_client_key=key,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
    )


@contextlib.contextmanager
def private_directory(base: str | Path) -> Iterator[Path]:
    """A new folder inside ``base``, readable by the user alone (``mkdtemp``: mode 0700),
    removed with what it holds on exit: where a run's temporary certificates live while
    its workers need them. ``base`` itself is never removed (it may be the user's own)."""
    import shutil
    import tempfile

    Path(base).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="tls-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


#: What every dask-jobqueue job needs from the table or the site's ``jobqueue.yaml``: a job's
#: cores and memory (its class refuses to build without them, in words for Python callers).
JOB_SIZE = ("cores", "memory")


def _jobqueue():
    """``dask_jobqueue``, imported with this process's Ctrl-C handler left as it was: its
    ``runner`` module (imported by the package) sets SIGINT to ``sys.exit()`` at import,
    for its own runner processes, which would turn the CLI's Ctrl-C into a ``SystemExit``
    (status 0, no line saying what is kept) for every batch scheduler run."""
    previous = signal.getsignal(signal.SIGINT)
    import dask_jobqueue

    if previous is not None and signal.getsignal(signal.SIGINT) is not previous:
        signal.signal(signal.SIGINT, previous)
    return dask_jobqueue


def site_defaults(kind: str) -> dict[str, Any]:
    """The site's settings for a jobqueue ``kind``: dask-jobqueue's ``jobqueue.yaml`` (the
    user's, the site's in ``/etc/dask``, or ``DASK_CONFIG``'s) over its packaged defaults."""
    import dask

    _jobqueue()  # importing it loads its defaults into dask's config
    return dask.config.get(f"jobqueue.{kind}", default={}) or {}


def jobqueue_kwargs(
    table: dict[str, Any], workers: int | None = None, dashboard_address: str = DASHBOARD, kind: str | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Keyword arguments of the dask-jobqueue class of ``kind`` and the adaptive bounds.

    The table's pass-through arguments go as they are; what the table leaves out stays
    unset, for the site's ``jobqueue.yaml``. Three lists are extended, not replaced, so
    that the site's entries stay: the job script's prologue gains the workers' quiet dask
    settings; the workers' arguments gain ``--lifetime``, so that they retire (default: 5
    minutes, staggered) before the walltime — the table's or the site's — and hand their
    tasks over cleanly rather than lose them; the scheduler's options gain the dashboard
    address. The adaptive bounds let dask-jobqueue submit a replacement job when one ends
    (a plain ``scale()`` never does, dask-jobqueue #122, #691).
    """
    kind = kind or table["kind"]
    site = site_defaults(kind)
    kwargs = passthrough(table)
    walltime = kwargs.get("walltime", site.get("walltime"))
    lifetime = table["lifetime"]
    if lifetime is None and walltime:
        wall = walltime_minutes("cluster.walltime", walltime)
        lifetime = f"{max(1, int(wall - 5 if wall > 10 else wall * 0.8))}m"
    retire = ["--lifetime", lifetime, "--lifetime-stagger", table["lifetime_stagger"]] if lifetime else []
    kwargs["worker_extra_args"] = list(kwargs.get("worker_extra_args", site.get("worker-extra-args") or [])) + retire
    prologue = kwargs.get("job_script_prologue", site.get("job-script-prologue") or site.get("env-extra") or [])
    kwargs["job_script_prologue"] = list(prologue) + worker_exports()
    options = dict(site.get("scheduler-options") or {}, dashboard_address=dashboard_address)
    if table["scheduler_host"]:
        options["host"] = table["scheduler_host"]
    kwargs["scheduler_options"] = options
    maximum = table["maximum_jobs"] or workers or table["workers"] or 1
    minimum = min(table["minimum_jobs"], maximum)
    return kwargs, dict(minimum_jobs=minimum, maximum_jobs=maximum)


def worker_exports(settings: dict[str, Any] = QUIET) -> list[str]:
    """``export DASK_...`` lines that give batch-job workers ``settings`` (dask reads its
    config from the environment; a job does not inherit the client's)."""

    def var(key):
        return "DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split("."))

    return [f"export {var(key)}={value}" for key, value in settings.items()]


def jobqueue_parameters() -> set[str]:
    """Every argument some dask-jobqueue cluster or job class takes, by name: read from the
    classes' signatures, so a release that adds one is followed without a change here."""
    import inspect

    dask_jobqueue = _jobqueue()
    from dask_jobqueue.core import Job, JobQueueCluster

    names = set()
    for name in JOBQUEUE.values():
        cls = getattr(dask_jobqueue, name)
        for f in (cls.__init__, cls.job_cls.__init__, Job.__init__, JobQueueCluster.__init__):
            named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)  # not *args, **kwargs
            names |= {p.name for p in inspect.signature(f).parameters.values() if p.kind in named}
    return names - {"self"}


def check_known_keys(table: dict[str, Any]) -> None:
    """A key of the ``[cluster]`` table that is neither the sweep's own nor an argument of
    any batch scheduler's class is a typo (``workrs = 2``): refused in one line, with the
    nearest key. A batch argument is accepted whatever the kind, so that a SLURM config also
    runs with ``--cluster local``."""
    import difflib

    strangers = [key for key in table if key not in OWN]
    if not strangers:
        return
    known = set(OWN) | jobqueue_parameters()
    for key in strangers:
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise InputError(
                f"cluster.{key}", table[key], f"is not a key of [cluster] nor a batch scheduler's argument{hint}"
            )


def cluster_class(kind: str) -> Any:
    """The dask-jobqueue cluster class that drives ``kind`` (:data:`JOBQUEUE`)."""
    return getattr(_jobqueue(), JOBQUEUE[kind])


def _built(kind, build):
    """``build()``, with the class's complaints about the table as one line (exit 2)."""
    try:
        return build()
    except (TypeError, ValueError) as exc:
        raise InputError("cluster", kind, f"dask_jobqueue.{JOBQUEUE[kind]} refuses the table: {exc}") from None


def _require_size(kind, kwargs):
    """Every jobqueue job class needs a job's cores and memory; say which are missing, and
    where to set them, before the class says it in words for Python callers."""
    site = site_defaults(kind)
    missing = [key for key in JOB_SIZE if kwargs.get(key) is None and site.get(key) is None]
    if missing:
        raise InputError(
            "cluster",
            kind,
            f"a {kind} job needs {' and '.join(missing)}, set in neither the config's [cluster] table ("
            + ", ".join(f"{key} = ..." for key in missing)
            + ") nor the site's jobqueue.yaml ("
            + ", ".join(f"jobqueue.{kind}.{key}" for key in missing)
            + "; ~/.config/dask/ or /etc/dask/)",
        )


def job_script(
    table: dict[str, Any],
    workers: int | None = None,
    tls_dir: str | Path | None = "PATH.nc.parts",
    kind: str | None = None,
) -> str:
    """The script each worker job of a jobqueue ``kind`` will run, as plain text.

    Rendered from dask-jobqueue's job class without starting a scheduler, so it can be
    shown (``sweep run --dry-run``) and tested on a machine without the scheduler or the
    cluster's network interface; the scheduler address is filled in at submission. With TLS
    the workers start with ``--protocol tls://`` and the certificate files: the site's, or
    the run's temporary ones, whose names dask-jobqueue picks in ``tls_dir`` at submission.
    """
    from distributed.security import Security

    kind = kind or table["kind"]
    kwargs, _ = jobqueue_kwargs(table, workers, kind=kind)
    _require_size(kind, kwargs)
    kwargs.pop("scheduler_options", None)
    security = site_security(table)
    if security is None and table["security"]:
        where = table["shared_temp_directory"] or tls_dir
        parts = {key: f"{where}/tls-XXXX/.dask-jobqueue.worker.{key}.XXXX" for key in ("ca_file", "cert", "key")}
        security = Security(tls_ca_file=parts["ca_file"], tls_worker_cert=parts["cert"], tls_worker_key=parts["key"])
    scheme = "tls" if security is not None else "tcp"
    job = _built(
        kind,
        lambda: cluster_class(kind).job_cls(
            scheduler=f"{scheme}://SCHEDULER-ADDRESS:8786",
            name="dask-worker",
            security=security,
            protocol=f"{scheme}://" if security is not None else None,
            **kwargs,
        ),
    )
    return job.job_script()


def check_interface(table: dict[str, Any]) -> None:
    """An ``interface`` this machine lacks is a config error, not a scheduler crash."""
    import psutil

    name = table.get("interface")
    if name and name not in psutil.net_if_addrs():
        raise InputError(
            "cluster.interface",
            name,
            f"is not a network interface here; known: {', '.join(sorted(psutil.net_if_addrs()))}",
        )


def jobqueue_cluster(
    kind: str,
    table: dict[str, Any],
    workers: int | None = None,
    dashboard_address: str = DASHBOARD,
    tls_dir: str | Path | None = None,
) -> tuple[Any, dict[str, int]]:
    """A dask-jobqueue cluster of ``kind`` (not yet scaled) and its adaptive bounds.

    With TLS (the default) the scheduler speaks ``tls://`` only: with the site's
    certificates, or with temporary ones made for this run (``security=True``), whose
    workers' part dask-jobqueue writes to ``tls_dir`` (``shared_temp_directory``: the
    workers on other nodes read them there).
    """
    kwargs, bounds = jobqueue_kwargs(table, workers, dashboard_address, kind=kind)
    _require_size(kind, kwargs)
    security = site_security(table)
    if security is not None:
        kwargs["security"] = security
    elif table["security"]:
        kwargs.update(security=True, shared_temp_directory=str(tls_dir))
    return _built(kind, lambda: cluster_class(kind)(**kwargs)), bounds


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise :class:`~sweep.errors.ClusterError` unless a Dask scheduler answers at
    ``address`` within ``timeout`` seconds.

    One connection with distributed's handshake, opened and closed: decided before the run
    takes its parts folder's lock or writes its manifest. Without it an address with
    nothing behind it (or something that is not a scheduler) fails inside distributed,
    after its timeout, in a traceback."""
    import asyncio
    import concurrent.futures

    from distributed import Security
    from distributed.comm import connect

    async def probe():
        comm = await connect(address, timeout=timeout, **Security().get_connection_args("client"))
        await comm.close()

    try:
        # on a thread of its own: a notebook's main thread already runs an event loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, probe()).result()
    except OSError as exc:  # refused, timed out, no such host (distributed retries until the timeout)
        why = str(exc).splitlines()[0][:200] or type(exc).__name__
        raise ClusterError(f"no Dask scheduler answered at {address} within {timeout:g} s: {why}") from None
    except (MemoryError, ValueError, TypeError, KeyError) as exc:  # a handshake read from bytes that are not Dask's
        why = f"what answered does not speak Dask's protocol ({type(exc).__name__})"
        if "TLS" in str(exc):
            why = "a tls:// address needs the client's certificates in Dask's config (distributed.comm.tls)"
        raise ClusterError(f"no Dask scheduler answered at {address}: {why}") from None


def dashboard_link(client: Any) -> str:
    """Where the dashboard really listens, as a link: distributed's own link names a
    loopback or the machine's name even when the server listens on every interface. The
    addresses are read from the scheduler's HTTP server where it runs in this process (a
    local or batch cluster); a remote scheduler's is its own link."""
    server = getattr(getattr(getattr(client, "cluster", None), "scheduler", None), "http_server", None)
    bound = sorted({s.getsockname()[:2] for s in getattr(server, "_sockets", {}).values()})
    if not bound:
        return client.dashboard_link
    links = [f"http://{f'[{host}]' if ':' in host else host}:{port}/status" for host, port in bound]
    every = any(host in ("0.0.0.0", "::") for host, _ in bound)
    return " and ".join(links) + (" (every interface)" if every else "")


#: What a terminal's Ctrl-C and ``timeout`` or ``scancel`` send to the whole process group.
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _own_words(dashboard_address, log, make, **kwargs):
    """``make(dashboard_address=..., **kwargs)`` as a context manager, with distributed's
    warning about a busy dashboard port (four lines, with a source path) said in one line
    of ours instead.

    The cluster is made with Ctrl-C and SIGTERM blocked in this thread. Its event-loop
    thread, started meanwhile, inherits the mask, and so does every worker process that
    thread spawns, now or after a worker dies (a blocked mask survives fork and exec): a
    signal sent to the whole process group reaches only this process, which then closes
    the cluster and its workers, instead of each worker dying in its own traceback. A
    signal that lands during the start waits until the cluster can be closed."""
    if kwargs.get("processes"):
        # multiprocessing's resource tracker, started with the first worker process,
        # unblocks both signals in the thread that starts it: started first, it is not again.
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cluster = make(dashboard_address=dashboard_address, **kwargs)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    with cluster:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a held signal lands here, where the cluster closes
        for w in caught:
            if "already in use" in str(w.message):
                asked, got = dashboard_address.rpartition(":")[2], urllib.parse.urlparse(cluster.dashboard_link).port
                (log or print)(f"dashboard: port {asked} busy, using {got}")
            else:  # not ours to reword: as it came
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        yield cluster


class _CancelRace(logging.Filter):
    """Drops one record: distributed's ``sync`` interrupted (Ctrl-C, SIGTERM) before its
    future exists schedules a ``cancel`` that reads the unbound name, and tornado logs the
    ``NameError`` with its traceback. Nothing is lost; the run is stopping anyway."""

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, NameError) and "sync.<locals>.cancel" in record.getMessage())


_CANCEL_RACE = _CancelRace()


@contextlib.contextmanager
def _quiet_when_stopped(client):
    """A run stopped with tasks in flight (Ctrl-C, SIGTERM, a task that kept failing, a
    full disk) closes its cluster mid-task, and distributed then logs every cancelled task
    and lost result as a warning, in the scheduler and in each worker: lines that bury the
    one line saying what happened. So the scheduler and the workers are quieted first."""

    def quiet():  # the workers' failed heartbeats to a closed scheduler are errors, with tracebacks
        logging.getLogger("distributed").setLevel(logging.CRITICAL)

    logging.getLogger("tornado.application").addFilter(_CANCEL_RACE)  # once: a Filterer keeps one of each
    try:
        yield
    except BaseException:
        quiet()
        for nanny in (False, True):
            with contextlib.suppress(Exception):
                client.run(quiet, on_error="ignore", nanny=nanny)
        raise


def _local(workers, table, in_process):
    """The arguments of a ``LocalCluster``: one worker process per core (or ``workers``), or
    one worker of as many threads in this process."""
    import os

    n = workers or table.get("workers") or os.cpu_count() or 1
    if in_process:
        return dict(
            n_workers=1,
            threads_per_worker=n,
            processes=False,
            protocol="tcp",  # inproc would show the machine's address in the dashboard link
            host="127.0.0.1",
            worker_dashboard_address="127.0.0.1:0",  # default: every interface
        )
    # preload: each worker process imports the engine as it starts, not on its first task
    return dict(n_workers=n, threads_per_worker=1, processes=True, preload=["sweep.fanout"])


@contextlib.contextmanager
def connect(
    kind: str,
    workers: int | None,
    table: dict[str, Any],
    dashboard_address: str = DASHBOARD,
    tls_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    in_process: bool = False,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> Iterator[Any]:
    """A ``distributed.Client`` on the cluster named by ``kind``.

    Parameters
    ----------
    kind : str
        ``"local"`` (a ``LocalCluster`` of single-threaded worker processes), a batch
        scheduler of :data:`~sweep.cluster_config.JOBQUEUE` (dask-jobqueue, adaptive
        between ``minimum_jobs`` and ``maximum_jobs``) or a scheduler address (an
        existing cluster).
    workers : int or None
        Local worker processes (default: the machine's cores) or batch jobs.
    table : dict
        The validated ``[cluster]`` table.
    dashboard_address : str
        Where the scheduler's dashboard listens (default: this machine only).
    tls_dir : path
        Where a jobqueue cluster's temporary certificates go, on the shared filesystem,
        unless the table names a ``shared_temp_directory``: in a new 0700 folder inside
        it, removed at the end.
    log : callable
        Takes the one warning line of ``security = false``.
    in_process : bool
        For ``"local"``: run the tasks on threads of this process instead of worker
        processes. Starting processes costs seconds (each imports numpy, numba and
        distributed), more than a small sweep's work; the compiled loop releases the GIL,
        so threads run it in parallel.
    connect_timeout : float
        Seconds to wait for a scheduler given by address.
    """
    import dask
    from distributed import Client, LocalCluster

    # Long sweeps outlive many worker deaths (preemption, walltime); a task is only
    # failed after this many (distributed#1433, #5234). Tasks are short, so it is cheap.
    # Nannies hand this config on to the local workers they start; SLURM jobs get it as
    # exports (worker_exports); an existing cluster's workers keep their own.
    with dask.config.set({"distributed.scheduler.allowed-failures": 20, **QUIET}):
        if kind == "local":
            with (
                _own_words(dashboard_address, log, LocalCluster, **_local(workers, table, in_process)) as cluster,
                Client(cluster) as client,
                _quiet_when_stopped(client),
            ):
                yield client
        elif kind in JOBQUEUE:
            if not tls_enabled(table):
                (log or print)(NO_TLS_WARNING)
            where = table["shared_temp_directory"] or tls_dir
            with contextlib.ExitStack() as stack:
                if table["security"] and not table["tls_ca_file"]:
                    where = stack.enter_context(private_directory(where or "."))
                cluster, bounds = jobqueue_cluster(kind, table, workers, dashboard_address, where)
                with cluster, Client(cluster) as client, _quiet_when_stopped(client):
                    cluster.adapt(**bounds)
                    yield client
        else:
            with Client(kind, timeout=connect_timeout) as client:
                yield client
