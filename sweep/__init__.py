"""relu-phase sweep engine: planted problems, projections, PGD, n0 theory and the Dask fan-out.

The science core (:mod:`sweep.problem`, :mod:`sweep.projections`, :mod:`sweep.pgd`,
:mod:`sweep.theory`) is plain numpy; :mod:`sweep.kernel` runs the same algorithm for a whole
trial in a numba-compiled loop (:mod:`sweep._loop`), tested against :mod:`sweep.pgd`. Only
:mod:`sweep.fanout` and :mod:`sweep.cluster` import Dask.
"""

__version__ = "0.1.0"

MODELS = ("relu", "linear")
# A seed is stored as a NetCDF int64 attribute: one past 2^63 - 1 could never be written.
# Here, in the base layer, so that the config and the CLI (which loads Dask only for the
# commands that need it) read the one bound.
MAX_SEED = 2**63 - 1
