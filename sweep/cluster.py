"""One function builds any Dask cluster the sweep runs on: local, SLURM, or an address.

The ``[cluster]`` table it is built from is validated, with the rest of the config, by
:mod:`sweep.cluster_config`. Dask is imported only inside the functions that need it.
"""

import contextlib

from .cluster_config import walltime_minutes
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


def slurm_kwargs(table, workers=None):
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
    if table["interface"]:
        kwargs["interface"] = table["interface"]
        kwargs["scheduler_options"] = {"interface": table["interface"]}
    if table["scheduler_host"]:
        kwargs["scheduler_options"] = {"host": table["scheduler_host"]}
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


def job_script(table, workers=None, scheduler="tcp://SCHEDULER-ADDRESS:8786"):
    """The ``#SBATCH`` script each worker job will run, as plain text.

    Rendered from dask-jobqueue's ``SLURMJob`` without starting a scheduler, so it can be
    shown (``sweep run --dry-run``) and tested on a machine without SLURM or the cluster's
    network interface; the scheduler address is filled in at submission.
    """
    from dask_jobqueue.slurm import SLURMJob

    kwargs, _ = slurm_kwargs(table, workers)
    kwargs.pop("scheduler_options", None)
    return SLURMJob(scheduler=scheduler, name="dask-worker", **kwargs).job_script()


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


def slurm_cluster(table, workers=None):
    """A ``SLURMCluster`` (not yet scaled) and its adaptive bounds."""
    from dask_jobqueue import SLURMCluster

    kwargs, bounds = slurm_kwargs(table, workers)
    return SLURMCluster(**kwargs), bounds


@contextlib.contextmanager
def connect(kind, workers, table, dashboard_address=":8787"):
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
            cluster, bounds = slurm_cluster(table, workers)
            with cluster, Client(cluster) as client:
                cluster.adapt(**bounds)
                yield client
        else:
            with Client(kind) as client:
                yield client
