"""Fan a sweep's tasks out to Dask workers and persist each result as it arrives.

Results come back to the client, which writes the part files: the client's filesystem is
the only one a remote cluster (``tcp://``, SLURM) is sure to share with the user.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import uuid
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from . import engine
from .errors import RunError
from .plan import task_cost

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    import numpy as np

    from .plan import Plan

_prepared = False
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def prepare_process() -> None:
    """Once per worker process: one BLAS thread, and malloc settings for numeric loops
    (``benchmarks/run.py`` runs its timings under the same).

    Workers are single-threaded processes; a multi-threaded BLAS in each would
    oversubscribe the cores (distributed also sets OMP_NUM_THREADS=1 in nannies).
    Nannies also set MALLOC_TRIM_THRESHOLD_=65536, which switches off glibc's adaptive mmap
    threshold: every large temporary of every PGD iteration is then mmap'ed, page-faulted
    and unmapped again (measured in ``docs/performance.md``). Memory above 64 MiB is still
    returned to the system.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    path = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(path)
        libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)  # glibc's maximum on 64-bit
        libc.mallopt(M_TRIM_THRESHOLD, 64 * 2**20)
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to tune
        pass


def _run(plan, task):
    """Worker side: prepare the process once, then run the task."""
    global _prepared
    if not _prepared:
        prepare_process()
        _prepared = True
    return engine.run_task(plan, task)


def compute(
    client: Any,
    plan: Plan,
    tasks: list,
    on_result: Callable[[Any, dict[str, np.ndarray]], None],
    progress: bool = True,
    retries: int = 3,
    desc: str = "sweep",
) -> None:
    """Run ``tasks`` on ``client``; call ``on_result(task, arrays)`` as each finishes.

    Tasks are submitted all at once (they are short: ``docs/design.md#storage``) and consumed with
    ``as_completed``; a worker that dies has its tasks rescheduled by the scheduler, and a
    task that raises is retried ``retries`` times, then stops the run with a
    :class:`~sweep.errors.RunError` naming it (the parts written so far are kept).

    The heaviest tasks run first (:func:`sweep.plan.task_cost`): the sweep then ends on its
    smallest ones and the workers run out of work together, instead of one finishing a large
    task alone (in the order of the grid, the largest ``d`` came last). Dask runs queued
    tasks by user priority before submission order, and takes submits within 100 ms of each
    other as simultaneous, so the order is given as priorities.
    """
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]
    order = sorted(tasks, key=lambda t: task_cost(plan, t), reverse=True)  # stable: ties keep grid order
    futures = {
        client.submit(
            _run, plan, t, key=f"relu-phase-{t.name}-{run}", pure=False, retries=retries, priority=len(order) - i
        ): t
        for i, t in enumerate(order)
    }
    bar = tqdm(total=len(tasks), disable=not progress, unit="task", desc=desc, mininterval=0.5, smoothing=0.1)
    try:
        for fut in as_completed(futures):
            try:
                arrays = fut.result()
            except Exception as exc:  # the task's own error, or KilledWorker: the same for the user
                raise RunError(
                    f"task {futures[fut].name} failed {retries + 1} times; last error: {type(exc).__name__}: {exc}"
                ) from exc
            on_result(futures[fut], arrays)
            fut.release()
            bar.update(1)
    finally:
        bar.close()
        client.cancel(list(futures))
