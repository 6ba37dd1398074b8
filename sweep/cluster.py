"""One function builds any Dask cluster the sweep runs on: local, SLURM, or an address.

Nothing listens beyond this machine unless asked: local clusters and dashboards bind to
loopback, and a SLURM cluster's scheduler, which must be reachable from the compute
nodes, takes only TLS connections from holders of the run's certificates
(``docs/design.md#clusters``).

The ``[cluster]`` table it is built from is validated, with the rest of the config, by
:mod:`sweep.cluster_config`. Dask is imported only inside the functions that need it.
"""

import contextlib
from pathlib import Path

from .cluster_config import DASHBOARD, walltime_minutes
from .errors import InputError

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


def tls_enabled(table):
    return bool(table["security"] or table["tls_ca_file"])


def site_security(table):
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
def private_directory(base):
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


def slurm_kwargs(table, workers=None, dashboard_address=DASHBOARD):
    """Keyword arguments of ``dask_jobqueue.SLURMCluster`` and the adaptive bounds.

    Workers retire ``--lifetime`` before the walltime (default: 5 minutes before, staggered)
    so that tasks are handed over cleanly rather than lost when SLURM kills the job; the
    adaptive bounds let dask-jobqueue submit a replacement job when one ends (a plain
    ``scale()`` never does, dask-jobqueue #122, #691).
    """
    wall = walltime_minutes("cluster.walltime", table["walltime"])
    lifetime = table["lifetime"] or f"{max(1, int(wall - 5 if wall > 10 else wall * 0.8))}m"
    kwargs = dict(
        queue=table["queue"],
        account=table["account"],
        cores=table["cores"],
        processes=table["processes"],
        memory=table["memory"],
        walltime=table["walltime"],
        job_extra_directives=list(table["job_extra_directives"]),
        job_script_prologue=list(table["job_script_prologue"]) + worker_exports(),
        worker_extra_args=["--lifetime", lifetime, "--lifetime-stagger", table["lifetime_stagger"]],
        local_directory=table["local_directory"],
        log_directory=table["log_directory"],
        python=table["python"],
    )
    kwargs["scheduler_options"] = {"dashboard_address": dashboard_address}
    if table["interface"]:
        kwargs["interface"] = table["interface"]
        kwargs["scheduler_options"]["interface"] = table["interface"]
    if table["scheduler_host"]:
        kwargs["scheduler_options"]["host"] = table["scheduler_host"]
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    maximum = table["maximum_jobs"] or workers or table["workers"] or 1
    minimum = min(table["minimum_jobs"], maximum)
    return kwargs, dict(minimum_jobs=minimum, maximum_jobs=maximum)


def worker_exports(settings=QUIET):
    """``export DASK_...`` lines that give batch-job workers ``settings`` (dask reads its
    config from the environment; a job does not inherit the client's)."""

    def var(key):
        return "DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split("."))

    return [f"export {var(key)}={value}" for key, value in settings.items()]


def job_script(table, workers=None, tls_dir="PATH.nc.parts"):
    """The ``#SBATCH`` script each worker job will run, as plain text.

    Rendered from dask-jobqueue's ``SLURMJob`` without starting a scheduler, so it can be
    shown (``sweep run --dry-run``) and tested on a machine without SLURM or the cluster's
    network interface; the scheduler address is filled in at submission. With TLS the
    workers start with ``--protocol tls://`` and the certificate files: the site's, or the
    run's temporary ones, whose names dask-jobqueue picks in ``tls_dir`` at submission.
    """
    from dask_jobqueue.slurm import SLURMJob
    from distributed.security import Security

    kwargs, _ = slurm_kwargs(table, workers)
    kwargs.pop("scheduler_options", None)
    security = site_security(table)
    if security is None and table["security"]:
        where = table["shared_temp_directory"] or tls_dir
        parts = {key: f"{where}/tls-XXXX/.dask-jobqueue.worker.{key}.XXXX" for key in ("ca_file", "cert", "key")}
        security = Security(tls_ca_file=parts["ca_file"], tls_worker_cert=parts["cert"], tls_worker_key=parts["key"])
    scheme = "tls" if security is not None else "tcp"
    job = SLURMJob(
        scheduler=f"{scheme}://SCHEDULER-ADDRESS:8786",
        name="dask-worker",
        security=security,
        protocol=f"{scheme}://" if security is not None else None,
        **kwargs,
    )
    return job.job_script()


def check_interface(table):
    """An ``interface`` this machine lacks is a config error, not a scheduler crash."""
    import psutil

    name = table.get("interface")
    if name and name not in psutil.net_if_addrs():
        raise InputError(
            "cluster.interface",
            name,
            f"is not a network interface here; known: {', '.join(sorted(psutil.net_if_addrs()))}",
        )


def slurm_cluster(table, workers=None, dashboard_address=DASHBOARD, tls_dir=None):
    """A ``SLURMCluster`` (not yet scaled) and its adaptive bounds.

    With TLS (the default) the scheduler speaks ``tls://`` only: with the site's
    certificates, or with temporary ones made for this run (``security=True``), whose
    workers' part dask-jobqueue writes to ``tls_dir`` (``shared_temp_directory``: the
    workers on other nodes read them there).
    """
    from dask_jobqueue import SLURMCluster

    kwargs, bounds = slurm_kwargs(table, workers, dashboard_address)
    security = site_security(table)
    if security is not None:
        kwargs["security"] = security
    elif table["security"]:
        kwargs.update(security=True, shared_temp_directory=str(tls_dir))
    return SLURMCluster(**kwargs), bounds


@contextlib.contextmanager
def connect(kind, workers, table, dashboard_address=DASHBOARD, tls_dir=None, log=None):
    """A ``distributed.Client`` on the cluster named by ``kind``.

    Parameters
    ----------
    kind : str
        ``"local"`` (a ``LocalCluster`` of single-threaded worker processes), ``"slurm"``
        (dask-jobqueue, adaptive between ``minimum_jobs`` and ``maximum_jobs``) or a
        scheduler address (an existing cluster).
    workers : int or None
        Local worker processes (default: the machine's cores) or SLURM jobs.
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
    """
    import dask
    from distributed import Client, LocalCluster

    # Long sweeps outlive many worker deaths (preemption, walltime); a task is only
    # failed after this many (distributed#1433, #5234). Tasks are short, so it is cheap.
    # Nannies hand this config on to the local workers they start; SLURM jobs get it as
    # exports (worker_exports); an existing cluster's workers keep their own.
    with dask.config.set({"distributed.scheduler.allowed-failures": 20, **QUIET}):
        if kind == "local":
            import os

            n = workers or table.get("workers") or os.cpu_count() or 1
            with (
                LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=dashboard_address
                ) as cluster,
                Client(cluster) as client,
            ):
                yield client
        elif kind == "slurm":
            if not tls_enabled(table):
                (log or print)(NO_TLS_WARNING)
            where = table["shared_temp_directory"] or tls_dir
            with contextlib.ExitStack() as stack:
                if table["security"] and not table["tls_ca_file"]:
                    where = stack.enter_context(private_directory(where or "."))
                cluster, bounds = slurm_cluster(table, workers, dashboard_address, where)
                with cluster, Client(cluster) as client:
                    cluster.adapt(**bounds)
                    yield client
        else:
            with Client(kind) as client:
                yield client
