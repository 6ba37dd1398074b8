"""Open datasets and check them against the contract (``docs/design.md#dataset``) at the boundary."""

from pathlib import Path

import xarray as xr

from sweep.conventions import DIMS
from sweep.errors import InputError

REQUIRED_VARS = ("rel_error", "success", "iterations", "slope", "support_recovered", "diverged")
REQUIRED_COORDS = ("n", "n0")


def _open(path):
    path = Path(path)
    if not path.is_file():
        raise InputError("dataset", str(path), "does not exist")
    try:
        ds = xr.open_dataset(path, engine="netcdf4")
        ds.load()  # read everything now: a truncated file fails here, not in a plot
    except Exception as exc:  # netCDF4 raises OSError, ValueError, RuntimeError ... for bad files
        raise InputError("dataset", str(path), f"is not a readable NetCDF file ({type(exc).__name__}: {exc})") from None
    ds.close()
    return ds


def open_sweep(path):
    """Open a sweep dataset (``sweep run`` output) and check it is one.

    Raises
    ------
    InputError
        If the file is missing, unreadable or truncated, or lacks the contract's
        dimensions, variables or coordinates.
    """
    ds = _open(path)
    for dim in DIMS:
        if dim not in ds.dims:
            raise InputError("dataset", str(path), f"is not a relu-phase sweep: dimension {dim!r} is missing")
    for name in REQUIRED_VARS:
        if name not in ds.data_vars:
            raise InputError("dataset", str(path), f"is not a relu-phase sweep: variable {name!r} is missing")
        if ds[name].dims != DIMS:
            raise InputError("dataset", str(path), f"variable {name!r} has dims {ds[name].dims}, expected {DIMS}")
    for name in REQUIRED_COORDS:
        if name not in ds.coords:
            raise InputError("dataset", str(path), f"is not a relu-phase sweep: coordinate {name!r} is missing")
    return ds


def open_figure1(path):
    """Open a ``sweep figure1`` dataset (``trace(model, trial, iteration)``)."""
    ds = _open(path)
    if "trace" not in ds or ds["trace"].dims != ("model", "trial", "iteration"):
        raise InputError("dataset", str(path), "is not a Figure-1 dataset: needs trace(model, trial, iteration)")
    return ds
