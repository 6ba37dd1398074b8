"""Open datasets and check them against the contract (``docs/design.md#dataset``) at the boundary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import xarray as xr

from sweep.conventions import DIMS, PROBE_DIMS, with_step_axis
from sweep.dataset import open_parts
from sweep.errors import InputError

if TYPE_CHECKING:
    from typing import Any

REQUIRED_VARS = ("rel_error", "success", "iterations", "slope", "support_recovered", "diverged")
REQUIRED_COORDS = ("n", "n0")


def _open(path, chunks=None):
    """The file at ``path``: loaded whole (a truncated file fails here, not in a plot), or,
    with ``chunks``, opened lazily with dask (the file stays open; a damaged block fails
    when it is computed)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("dataset", str(path), "does not exist")
    try:
        ds = xr.open_dataset(path, engine="netcdf4", chunks=chunks)
        if chunks is None:
            ds.load()
            ds.close()
    except Exception as exc:  # netCDF4 raises OSError, ValueError, RuntimeError ... for bad files
        raise InputError("dataset", str(path), f"is not a readable NetCDF file ({type(exc).__name__}: {exc})") from None
    return ds


def open_sweep(path: str | Path, chunks: Any = None) -> xr.Dataset:
    """Open a sweep dataset (``sweep run`` output) and check it is one.

    Parameters
    ----------
    path : path
        A ``sweep run`` NetCDF file (either layout: a ``ratio`` dimension, or per-probe
        variables over ``probe`` from a ratio range or an adaptive sweep), or the parts
        folder ``PATH.nc.parts`` of a sweep that is running or was interrupted: the tasks
        done so far are assembled on the fly (cells not yet run are NaN; the attrs
        ``tasks_done`` and ``tasks`` say how far it is), so a notebook can watch a long
        sweep.
    chunks : dict, optional
        Open the file lazily with dask, in these chunks (``{}``: the file's own); the
        contract is checked on the metadata alone. Default: load everything.

    Returns
    -------
    xarray.Dataset
        Always with a ``step_size`` dimension: a sweep whose config left out ``step_sizes``
        ran at the paper's step alone, and gets ``step_size = [1.0]``.

    Raises
    ------
    InputError
        If the file is missing, unreadable or truncated, or lacks the contract's
        dimensions, variables or coordinates.
    """
    ds = with_step_axis(open_parts(path) if Path(path).is_dir() else _open(path, chunks))
    probe = "probe" in ds.dims  # a ratio range or an adaptive sweep: each trial's own sample sizes
    dims = PROBE_DIMS if probe else DIMS
    for dim in dims:
        if dim not in ds.dims:
            raise InputError("dataset", str(path), f"is not a relu-phase sweep: dimension {dim!r} is missing")
    for name in REQUIRED_VARS + (("n",) if probe else ()):
        if name not in ds.data_vars:
            raise InputError("dataset", str(path), f"is not a relu-phase sweep: variable {name!r} is missing")
        if ds[name].dims != dims:
            raise InputError("dataset", str(path), f"variable {name!r} has dims {ds[name].dims}, expected {dims}")
    for name in REQUIRED_COORDS[probe:]:  # n is a variable of the probe layout
        if name not in ds.coords:
            raise InputError("dataset", str(path), f"is not a relu-phase sweep: coordinate {name!r} is missing")
    return _traces_on_their_own_dimension(ds)


def _traces_on_their_own_dimension(ds):
    """Files written before traces had the ``traced_trial`` dimension kept ``trace`` over
    every trial, NaN past the first ``traces``: give them today's layout."""
    if "trace" not in ds or "trial" not in ds.trace.dims:
        return ds
    k = int(ds.attrs.get("traces", ds.sizes["trial"]))
    trace = ds.trace.isel(trial=slice(0, k)).rename(trial="traced_trial")
    return ds.drop_vars("trace").assign(trace=trace)


def open_figure1(path: str | Path) -> xr.Dataset:
    """Open a ``sweep figure1`` dataset (``trace(model, trial, iteration)``)."""
    ds = _open(path)
    if "trace" not in ds or ds["trace"].dims != ("model", "trial", "iteration"):
        raise InputError("dataset", str(path), "is not a Figure-1 dataset: needs trace(model, trial, iteration)")
    return ds
