"""CF conventions of the datasets: variable attrs, encodings and global provenance.

Kept apart from the writer (:mod:`sweep.dataset`) so that the schema is stated once; the
analysis package checks files against these tables.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__, steps, structures
from .steps import PAPER_STEP

if TYPE_CHECKING:
    from collections.abc import Hashable
    from typing import Any

    import xarray as xr

# step_size is written only by a sweep whose config names step_sizes (sweep.dataset); every
# dataset has it once opened by analysis.open_sweep (with_step_axis).
DIMS = ("model", "regularizer", "step_size", "d", "s", "ratio", "trial")
# Traces are kept for the first `traces` trials of each cell only: their own dimension,
# so that a sweep does not store NaN traces for every other trial.
TRACE_DIMS = DIMS[:-1] + ("traced_trial", "iteration")
# A ratio range or an adaptive sweep gives each trial its own sample sizes: per-probe
# variables, with n among them, in place of the ratio dimension.
PROBE_DIMS = ("model", "regularizer", "step_size", "d", "s", "trial", "probe")

VARIABLES = {
    "rel_error": dict(long_name="final relative error ||w_T - w*|| / ||w*|| (inf if diverged)", units="1"),
    "success": dict(long_name="rel_error <= tolerance", flag_meanings="failed succeeded"),
    "iterations": dict(long_name="first iteration with rel_error <= tolerance (-1 if never)", units="1"),
    "slope": dict(
        long_name="least-squares slope of log10 relative error against iteration, up to tolerance "
        "(change of log10 error per iteration)",
        units="1",
    ),
    "support_recovered": dict(long_name="the s largest |w_T| sit on supp(w*)", flag_meanings="missed recovered"),
    "diverged": dict(long_name="iterate blew up (rel_error > 1e8); a failure", flag_meanings="bounded diverged"),
    "stalled": dict(long_name="stopped early: could no longer reach tolerance", flag_meanings="not_stalled stalled"),
    "iterations_run": dict(long_name="PGD iterations run before the trial stopped", units="1"),
    "shrinks": dict(long_name="times a step rule's safeguard shortened a step, summed over the run", units="1"),
    "trace": dict(long_name="relative error ||w_t - w*|| / ||w*|| per iteration", units="1"),
    "convex_success": dict(
        long_name="the convex program min R(w) subject to the observations recovers w* within tolerance "
        "(same X, w* and y as PGD)",
        flag_meanings="failed succeeded",
        comment="the convex limit (docs/design.md#the-convex-limit): ReLU observations give equalities on the "
        "positive outputs and <x_i, w> <= 0 on the zero ones; the same for every step_size (the program has no "
        "step and no cap); NaN for sets that are not convex (l0, group-l0, rank); a program the solver failed on "
        "counts as failed (convex_solver_failures)",
    ),
}

# In-memory dtypes of the per-trial variables and the fill of cells that were not run.
# Integer and flag variables are float in memory so that "not run" can be NaN (never a
# fabricated value: docs/design.md#dataset); on disk they are packed as int8/int16 with a fill.
PACKED = {
    "success": ("i1", -1),
    "support_recovered": ("i1", -1),
    "diverged": ("i1", -1),
    "stalled": ("i1", -1),
    "iterations": ("i2", -2),
    "iterations_run": ("i2", -2),
    "shrinks": ("i4", -1),
    "convex_success": ("i1", -1),
    "n": ("i4", -1),
    "round": ("i2", -1),
}


def step_size_attrs() -> dict[str, str]:
    """The ``step_size`` axis's attributes, its comment naming every registered step rule's
    coordinate (:data:`sweep.steps.RULES`)."""
    return dict(
        long_name="PGD step size mu_t for t >= 1 (mu_0 = 2 for ReLU, 1 for linear)",
        units="1",
        comment="values <= 0 stand for step rules that choose mu_t themselves: "
        + ", ".join(f"{r.coordinate:g} = {r.name}" for r in steps.RULES.values())
        + " (docs/design.md#step-rules)",
    )


#: The coordinates' attributes; ``s``, the n0 tables (:func:`structure_coords`) and
#: ``step_size`` (:func:`step_size_attrs`) come from their registries.
COORDS = {
    "model": dict(long_name="observation model: y = ReLU(<x, w*>) or y = <x, w*>"),
    "regularizer": dict(long_name="constraint set K = {w : R(w) <= R(w*)}"),
    "d": dict(long_name="ambient dimension", units="1"),
    "ratio": dict(long_name="n / n0", units="1"),
    "trial": dict(long_name="trial index (seeds the data)", units="1"),
    "iteration": dict(long_name="PGD iteration t", units="1"),
    "traced_trial": dict(long_name="trial index of a kept error trace (the first traces trials)", units="1"),
    "n": dict(long_name="number of samples n = ceil(ratio * n0)", units="1"),
    "n0": dict(long_name="sample-size threshold used to set n (see n0_method)", units="1"),
    "probe": dict(long_name="index of a sample size given to a trial (ascending n)", units="1"),
}

GLOBAL = dict(
    Conventions="CF-1.10",
    institution="relu-phase",
    source="relu-phase sweep engine",
    references="M. Soltanolkotabi, Learning ReLUs via Gradient Descent, NIPS 2017 (arXiv:1705.04591)",
)


#: Attrs of the probe layout's own variables (``n`` is a coordinate in the ratio layout).
PROBE_VARIABLES = {
    "n": dict(long_name="number of samples of this probe: the trial's design X[:n]", units="1"),
    "round": dict(long_name="round of the sweep that ran this probe (0: the grid's ratios)", units="1"),
}


def structure_coords(structure: str) -> dict[str, dict[str, str]]:
    """What ``s`` and the n0 coordinates mean for a ``w*`` of ``structure``, in the words its
    entry of :data:`sweep.structures.STRUCTURES` gives them."""
    kind = structures.get(structure)
    out = {"s": dict(long_name=kind.s_long_name, units="1")}
    for method, m in kind.n0.items():
        name = "n0_" + method.replace("-", "_")
        out[name] = dict(long_name=m.long_name, units="1")
        if m.sampled:
            out[name + "_se"] = dict(long_name=f"standard error of {name}", units="1")
    return out


def annotate(ds: xr.Dataset, layout: str = "ratio", structure: str = structures.DEFAULT) -> xr.Dataset:
    """Set the CF attrs of every known variable and coordinate of ``ds``.

    Flag variables (those with ``flag_meanings``) get ``flag_values`` 0 and 1 in the type
    they are packed as on disk (CF wants the variable's own type) and no units.
    """
    known = {
        **VARIABLES,
        **COORDS,
        "step_size": step_size_attrs(),
        **(PROBE_VARIABLES if layout == "probe" else {}),
        **structure_coords(structure),
    }
    for name, attrs in known.items():
        if name in ds.variables:
            ds[name].attrs.update(attrs)
            if "flag_meanings" in attrs:
                ds[name].attrs["flag_values"] = np.array([0, 1], dtype=PACKED[name][0])
    return ds


def with_step_axis(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with a ``step_size`` dimension in its place in :data:`DIMS`: a dataset written
    without one (a config without ``step_sizes``) ran at the paper's step alone."""
    if "step_size" in ds.dims:
        return ds
    ds = ds.expand_dims(step_size=[PAPER_STEP])
    ds["step_size"].attrs.update(step_size_attrs())
    return ds.transpose("model", "regularizer", "step_size", ..., missing_dims="ignore")


def without_step_axis(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` less its ``step_size`` dimension of one step: what a config without
    ``step_sizes`` writes."""
    return ds.isel(step_size=0, drop=True)


def without_unused(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` less the variables its steps cannot fill: ``shrinks`` is written only with a
    step rule on the ``step_size`` axis (fixed steps never shrink)."""
    if "step_size" in ds.dims and not all(steps.is_fixed(mu) for mu in ds.step_size.values):
        return ds
    return ds.drop_vars("shrinks", errors="ignore")


def encoding(ds: xr.Dataset) -> dict[Hashable, dict[str, Any]]:
    """NetCDF encoding: zlib for every variable, integer packing for flags and counts, and
    no fill value on coordinates (CF: a coordinate has no missing values)."""
    enc: dict[Hashable, dict[str, Any]] = {}
    for name, var in ds.data_vars.items():
        enc[name] = dict(zlib=True, complevel=4)
        if name in PACKED:
            dtype, fill = PACKED[name]
            enc[name].update(dtype=dtype, _FillValue=np.array(fill, dtype=dtype))
        elif var.dtype.kind == "f":
            enc[name]["_FillValue"] = np.nan
    for name, var in ds.coords.items():
        if var.dtype.kind == "f":
            enc[name] = dict(_FillValue=None)
    return enc


def provenance(title: str, history: str) -> dict[str, str]:
    """Global attrs: CF fields, versions, git commit and UTC creation time."""
    versions = {}
    for pkg in ("numpy", "dask", "distributed", "xarray", "netCDF4"):
        try:
            versions[f"{pkg}_version"] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[f"{pkg}_version"] = "not installed"
    return dict(
        GLOBAL,
        title=title,
        history=f"{utc_now()} {history}",
        relu_phase_version=__version__,
        relu_phase_code=code_id(),
        git_commit=git_commit(),
        created=utc_now(),
        python_version=platform.python_version(),
        **versions,
    )


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def git_commit() -> str:
    """Commit of the source this package runs from, or "" where it is not known.

    An installed copy (``pip install .``) reads the commit its wheel was built from
    (``COMMIT``, written by ``setup.py``) and does not ask git: from a site-packages inside
    a checkout (a project's ``.venv``), git would answer with that checkout's HEAD of the
    day. A source tree or an editable install asks git.
    """
    recorded = Path(__file__).with_name("COMMIT")
    if recorded.is_file():
        return recorded.read_text().strip()
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


#: The modules whose source determines a sweep's numbers: the reference science, the
#: generator, the kernel, the engine that seeds and batches trials, and the adaptive
#: rounds with the fit that places their probes. The CLI, the cluster
#: layer, the parts and the dataset, these conventions and ``analysis`` only move or describe the numbers.
#: The sample sizes, which the config's code computes, are kept in the manifest instead.
RESULT_MODULES = (
    "_loop",
    "_normal",
    "adaptive",
    "engine",
    "fit",
    "kernel",
    "oracle",
    "problem",
    "projections",
    "steps",
    "structures",
    "theory",
)


def code_id() -> str:
    """A hash of the source of :data:`RESULT_MODULES`: the code that computes the numbers.

    Unlike the git commit it sees uncommitted edits, and it exists outside a checkout; unlike
    a hash of the whole package it does not change with a comment in the CLI.
    """
    h = hashlib.sha256()
    for name in RESULT_MODULES:
        path = Path(__file__).with_name(f"{name}.py")
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]
