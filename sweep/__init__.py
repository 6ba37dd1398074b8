"""relu-phase sweep engine: planted problems, projections, PGD, n0 theory and the Dask fan-out.

The science core (:mod:`sweep.problem`, :mod:`sweep.projections`, :mod:`sweep.pgd`,
:mod:`sweep.theory`) is plain numpy; :mod:`sweep.kernel` runs the same algorithm for a whole
trial in a numba-compiled loop (:mod:`sweep._loop`), tested against :mod:`sweep.pgd`. Only
:mod:`sweep.fanout` and :mod:`sweep.cluster` import Dask.
"""

__version__ = "0.1.0"

MODELS = ("relu", "linear")
