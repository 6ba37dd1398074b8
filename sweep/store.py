"""Durable results: one file per finished task, combined into the contract's NetCDF.

``PATH.nc.parts/`` holds ``manifest.json`` (the config that owns the folder and the batch
size) and one ``.npz`` per finished task, each written to a temporary name and renamed, so
the folder only ever holds complete parts (``docs/design.md#storage``). xarray cannot append to a
NetCDF file: the final file is assembled from the parts at the end and is
itself written to a temporary name and renamed.
"""

import json
import re
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__, conventions, theory
from .atomic import atomic_path
from .engine import RESULT_VARS, make_tasks
from .errors import InputError

MANIFEST = "manifest.json"
_PART = re.compile(r"^d(\d+)-s(\d+)-t(\d+)-(\d+)\.npz$")


def parts_path(out):
    return Path(str(out) + ".parts")


class Parts:
    """The parts folder of one sweep."""

    def __init__(self, path):
        self.path = Path(path)

    @property
    def manifest_path(self):
        return self.path / MANIFEST

    def manifest(self):
        """The manifest; :class:`InputError` if the folder is not a sweep's parts folder."""
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise InputError("parts", str(self.path), f"is not a sweep parts folder (no {MANIFEST})") from None
        except (OSError, ValueError) as exc:
            raise InputError("parts", str(self.path), f"has an unreadable {MANIFEST}: {exc}") from None

    def open(self, config, batch_size, default_batch_size, out):
        """Create the folder for ``config``, or check that it already belongs to it.

        ``batch_size`` is what the user asked for (or None); a new folder takes it or
        ``default_batch_size``. Returns the batch size in force (the manifest's, when
        resuming).
        """
        if self.manifest_path.exists():
            for stale in self.path.glob(".*.tmp"):  # writes cut short by a kill
                stale.unlink(missing_ok=True)
            m = self.manifest()
            old = json.loads(m["canonical"])
            new = json.loads(config.canonical())
            diff = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
            if diff:
                k = diff[0]
                raise InputError(
                    k,
                    new.get(k),
                    f"differs from the sweep already in {self.path} ({old.get(k)!r}); "
                    "use another --out or remove that folder",
                )
            if batch_size is not None and batch_size != m["batch_size"]:
                raise InputError("--batch-size", batch_size, f"differs from {m['batch_size']} used by {self.path}")
            # the dataset's provenance names the code that assembles it: parts computed by
            # other code would be mixed in under that name (folders from before this check
            # carry no code hash and are taken as they are)
            code = conventions.code_id()
            if m.get("code", code) != code:
                raise InputError(
                    "code",
                    code,
                    f"differs from the code that computed the parts in {self.path} ({m['code']}, git "
                    f"commit {m.get('git_commit') or 'unknown'}); use another --out or remove that folder",
                )
            return m["batch_size"]
        batch_size = batch_size or default_batch_size
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = dict(
            canonical=config.canonical(),
            config=config.text,
            batch_size=batch_size,
            out=str(out),
            version=__version__,
            code=conventions.code_id(),
            git_commit=conventions.git_commit(),
            tasks=len(make_tasks(config, batch_size)),
        )
        with atomic_path(self.manifest_path) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1))
        return batch_size

    def done(self):
        """Names of the tasks whose part file is complete."""
        return {p.name[:-4] for p in self.path.glob("*.npz") if _PART.match(p.name)}

    def write(self, task, arrays):
        with atomic_path(self.path / f"{task.name}.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    def read(self, task):
        with np.load(self.path / f"{task.name}.npz") as z:
            return {k: z[k] for k in z.files}

    def assemble(self, config, plan, tables):
        """The contract Dataset (``docs/design.md#dataset``) from every part of the sweep.

        Cells without a part hold NaN.
        """
        M, G, R, T = len(config.models), len(config.regularizers), len(config.ratio), config.trials
        nd, ns_ = len(config.d), len(config.s)
        data = {v: np.full((M, G, nd, ns_, R, T), np.nan) for v in RESULT_VARS}
        trace = np.full((M, G, nd, ns_, R, T, config.iterations + 1), np.nan) if config.traces else None
        di = {d: i for i, d in enumerate(config.d)}
        si = {s: i for i, s in enumerate(config.s)}
        done = self.done()
        batch_size = self.manifest()["batch_size"]
        for task in make_tasks(config, batch_size):
            if task.name not in done:
                continue
            part = self.read(task)
            i, j = di[task.d], si[task.s]
            for v in RESULT_VARS:
                data[v][:, :, i, j, :, task.start : task.stop] = part[v]
            if trace is not None and part["trace"].shape[3]:
                k = part["trace"].shape[3]
                trace[:, :, i, j, :, task.start : task.start + k] = part["trace"]
        dims = conventions.DIMS
        ds = xr.Dataset({v: (dims, a) for v, a in data.items()})
        if trace is not None:
            ds["trace"] = (conventions.TRACE_DIMS, trace)
        n = np.array([[plan.ns(d, s) for s in config.s] for d in config.d], dtype=np.int64)
        ds = ds.assign_coords(
            model=list(config.models),
            regularizer=list(config.regularizers),
            d=list(config.d),
            s=list(config.s),
            ratio=list(config.ratio),
            trial=np.arange(T),
            iteration=np.arange(config.iterations + 1),
            n=(("d", "s", "ratio"), n),
            **{name: (("d", "s"), table) for name, table in tables.items()},
        )
        if "trace" not in ds:
            ds = ds.drop_vars("iteration")
        conventions.annotate(ds)
        ds["n0"].attrs["method"] = config.n0
        ds.attrs.update(
            conventions.provenance(f"relu-phase sweep {config.name}", f"sweep run ({config.name})"),
            name=config.name,
            config=config.text,
            n0_method=config.n0,
            tolerance=config.tolerance,
            seed=config.seed,
            trials=config.trials,
            iterations=config.iterations,
            sampling=config.sampling,
            dtype=config.dtype,
            signal=config.signal,
            traces=config.traces,
            batch_size=batch_size,
        )
        return ds


def n0_tables(config):
    """``n0`` over ``(d, s)`` by every method, and the one that sets ``n`` (``n0``)."""
    shape = (len(config.d), len(config.s))
    tables = {k: np.empty(shape) for k in ("n0", "n0_approx", "n0_l1", "n0_l0_mc", "n0_l0_mc_se")}
    for i, d in enumerate(config.d):
        for j, s in enumerate(config.s):
            tables["n0_approx"][i, j] = theory.n0_approx(s, d)
            tables["n0_l1"][i, j] = theory.n0_l1(s, d)
            tables["n0_l0_mc"][i, j], tables["n0_l0_mc_se"][i, j] = theory.n0_l0_mc(s, d, seed=config.seed)
    tables["n0"] = tables[{"approx": "n0_approx", "l1": "n0_l1", "l0-mc": "n0_l0_mc"}[config.n0]].copy()
    return tables


def write_dataset(ds, out):
    """Write ``ds`` to ``out`` atomically, compressed per :mod:`sweep.conventions`."""
    with atomic_path(out) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=conventions.encoding(ds))
