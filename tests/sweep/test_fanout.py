"""The worker-side preparation of sweep.fanout and sweep.cluster, inside real Dask worker
processes."""

import resource
import sys

import pytest

from sweep import cluster, config, engine, fanout
from sweep import plan as plan_mod

from .helpers import SMALL

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")


def _faults(plan, task, prepare, runs=5):
    """The minor page faults of each of ``runs`` runs of ``task``, after one to warm up."""
    if prepare:
        fanout.prepare_process()
    else:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    engine.run_task(plan, task)  # warm up
    counts = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        engine.run_task(plan, task)
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return counts


def test_worker_preparation_stops_page_fault_churn():
    """Dask nannies set MALLOC_TRIM_THRESHOLD_=65536, which makes every large temporary of
    every PGD iteration a fresh mmap; after prepare_process the same task faults far less.
    Each side is the median of five runs in its worker: one run's count moves with whatever
    else the machine does (once 1684 against 861 in a full suite)."""
    from distributed import Client, LocalCluster

    text = (
        SMALL.replace("d = [60, 100]", "d = [1000]")
        .replace("s = [2, 4]", "s = [20]")
        .replace("trials = 6", "trials = 1")
    )
    text = text.replace("traces = 2", "traces = 1")
    plan = plan_mod.Plan.from_config(config.loads(text))
    task = plan_mod.Task(1000, 20, 0, 1)
    import dask

    counts = {}
    # the nannies' setting as distributed ships it, whatever the user's own dask config says
    trim = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 65536}
    for prepare in (False, True):  # a fresh worker process each time
        with (
            dask.config.set(trim),
            LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0") as c,
            Client(c) as client,
        ):
            assert client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_")).popitem()[1] == "65536"
            counts[prepare] = client.submit(_faults, plan, task, prepare, pure=False).result()
    median = {k: sorted(v)[len(v) // 2] for k, v in counts.items()}
    assert median[True] * 5 < median[False], counts


def test_the_sweeps_local_workers_keep_dask_housekeeping_quiet():
    """cluster.connect's workers run without the stack profiler and with slow health ticks
    (they are nannied processes: the settings must travel to them)."""
    import dask

    def settings():
        return {key: dask.config.get(key) for key in cluster.QUIET}

    table = config.loads(SMALL).cluster
    with cluster.connect("local", 2, table, dashboard_address="127.0.0.1:0") as client:
        seen = client.run(settings)
    assert len(seen) == 2 and all(s == cluster.QUIET for s in seen.values()), seen
    assert settings() != cluster.QUIET  # and only there: this process keeps dask's defaults


def test_the_heaviest_tasks_run_first():
    """A sweep ends on its smallest tasks, so workers run out of work together: one worker
    runs them heaviest first, although the grid lists the smallest d first."""
    from distributed import Client, LocalCluster

    cfg = config.loads(SMALL)
    plan = plan_mod.Plan.from_config(cfg)
    tasks = plan_mod.make_tasks(cfg, 2)
    done = []
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0") as c, Client(c) as client:
        fanout.compute(client, plan, tasks, lambda task, arrays: done.append(task), progress=False)
    costs = [plan_mod.task_cost(plan, t) for t in done]
    assert sorted(done, key=tasks.index) == tasks
    assert costs == sorted(costs, reverse=True) and costs[0] > 2 * costs[-1], costs
