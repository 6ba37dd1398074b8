"""Fan a sweep's tasks out to Dask workers and persist each result as it arrives.

Results come back to the client, which writes the part files: the client's filesystem is
the only one a remote cluster (``tcp://``, SLURM) is sure to share with the user.
"""

import uuid

from tqdm.auto import tqdm

from . import engine

_pinned = False


def _run(plan, task):
    """Worker side: one BLAS thread per worker process, then the task."""
    global _pinned
    if not _pinned:
        # Workers are single-threaded processes; a multi-threaded BLAS in each would
        # oversubscribe the cores (distributed also sets OMP_NUM_THREADS=1 in nannies).
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        _pinned = True
    return engine.run_task(plan, task)


def compute(client, plan, tasks, on_result, progress=True, retries=3):
    """Run ``tasks`` on ``client``; call ``on_result(task, arrays)`` as each finishes.

    Tasks are submitted all at once (they are short, DESIGN.md §7) and consumed with
    ``as_completed``; a worker that dies has its tasks rescheduled by the scheduler, and a
    task that raises is retried ``retries`` times before the error reaches the caller.
    """
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]
    futures = {client.submit(_run, plan, t, key=f"relu-phase-{t.name}-{run}", pure=False, retries=retries): t for t in tasks}
    bar = tqdm(total=len(tasks), disable=not progress, unit="task", desc="sweep", mininterval=0.5, smoothing=0.1)
    try:
        for fut in as_completed(futures):
            on_result(futures[fut], fut.result())
            fut.release()
            bar.update(1)
    finally:
        bar.close()
        client.cancel(list(futures))
