"""Durable results: one file per finished task, combined into the contract's NetCDF.

``PATH.nc.parts/`` holds ``manifest.json`` (the config that owns the folder, the batch size,
the sample sizes and the code identity), one ``.npz`` per finished task, ``parts.sha256``
(each part's checksum, in ``sha256sum`` format, recorded before the part takes its name) and
``lock`` (held by the one process writing the folder). Parts are written to a temporary
name, synced and renamed, so the folder only ever holds complete parts; a part that is
damaged anyway (a disk, a copy, a hand) fails its checksum and is set aside and recomputed
(``docs/design.md#storage``). xarray cannot append to a NetCDF file: the final file is
assembled from the parts at the end and is itself written to a temporary name and renamed.
"""

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import socket
from pathlib import Path

import dask
import numpy as np
import xarray as xr

from . import __version__, adaptive, conventions, theory
from . import config as config_mod
from .atomic import atomic_path, fsync_path
from .engine import PROBE_VARS, RESULT_VARS, Plan, make_tasks
from .errors import InputError, RunError

MANIFEST = "manifest.json"
LEDGER = "parts.sha256"
LOCK = "lock"
_PART = re.compile(r"^(?:r(\d+)-)?d(\d+)-s(\d+)-t(\d+)-(\d+)\.npz$")
_LEDGER_LINE = re.compile(r"^([0-9a-f]{64})  (\S+\.npz)$")


def parts_path(out):
    return Path(str(out) + ".parts")


def describe(name, why, tasks=None):
    """What a part that failed its check is, in words: a damaged part of the sweep, or a
    file that no task of the sweep writes (``tasks``: every task name, where known)."""
    if tasks is None:
        return f"is damaged ({why}); its task, if the sweep has it, is computed again"
    if name[: -len(".npz")] not in tasks:
        return f"is not a part of this sweep ({why}); ignored"
    return f"is damaged ({why}); to be recomputed"


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

    def open(self, config, batch_size, default_batch_size, out, sizes):
        """Create the folder for ``config``, or check that it already belongs to it.

        ``batch_size`` is what the user asked for (or None); a new folder takes it or
        ``default_batch_size``. ``sizes`` are the sweep's sample sizes (``{(d, s): [n]}``).
        Returns the batch size in force (the manifest's, when resuming). Call it holding
        :meth:`lock`.
        """
        sizes = {f"{d}-{s}": list(ns) for (d, s), ns in sorted(sizes.items())}
        if self.manifest_path.exists():
            for stale in self.path.glob(".*.tmp"):  # writes cut short by a kill
                stale.unlink(missing_ok=True)
            self._mend_ledger()
            m = self.manifest()
            self._check_belongs(m, config, batch_size, sizes)
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
            code_covers=[f"sweep/{name}.py" for name in conventions.RESULT_MODULES],
            git_commit=conventions.git_commit(),
            tasks=len(make_tasks(config, batch_size)) if config.layout == "ratio" else None,
            n=sizes,
        )
        with atomic_path(self.manifest_path) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1))
        return batch_size

    def _check_belongs(self, m, config, batch_size, sizes):
        """:class:`InputError` unless the manifest ``m`` is this config's, at this batch size,
        computed by this code: parts made otherwise are never mixed in."""
        old = json.loads(m["canonical"])
        new = json.loads(config.canonical())
        diff = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        start_afresh = "use another --out or remove that folder"
        if diff:
            k = diff[0]
            raise InputError(
                k, new.get(k), f"differs from the sweep already in {self.path} ({old.get(k)!r}); {start_afresh}"
            )
        if batch_size is not None and batch_size != m["batch_size"]:
            raise InputError("--batch-size", batch_size, f"differs from {m['batch_size']} used by {self.path}")
        code = conventions.code_id()
        if m.get("code") != code:
            raise InputError(
                "code",
                code,
                f"the code that computes results ({', '.join(conventions.RESULT_MODULES)}) differs from the one that "
                f"computed the parts in {self.path} ({m.get('code')}, git commit {m.get('git_commit') or 'unknown'}); "
                f"{start_afresh}",
            )
        if m.get("n", sizes) != sizes:
            raise InputError("n", sizes, f"differs from the sample sizes of the parts in {self.path}; {start_afresh}")

    def remove(self):
        """Delete the folder and everything in it (its dataset written and verified)."""
        for p in sorted(self.path.iterdir()):
            p.unlink()
        self.path.rmdir()

    @contextlib.contextmanager
    def lock(self):
        """Hold the folder for this process: a second writer is refused with one line naming
        the holder. The lock is the kernel's (``flock``), so it goes with the process that
        held it, however that process ends."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            f = open(self.path / LOCK, "a+")
        except OSError as exc:
            raise RunError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "a process that has not yet said which"
                raise InputError(
                    "parts", str(self.path), f"is being written by another sweep ({holder}); wait for it or stop it"
                ) from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} on {socket.gethostname()} since {conventions.utc_now()}\n")
            f.flush()
            try:
                yield self
            finally:
                f.seek(0)
                f.truncate()

    def check(self):
        """The tasks whose part is intact, and ``{file name: why}`` of the parts that are not.

        A part is intact when its checksum is the one ``parts.sha256`` recorded for its
        name: a truncated or zero-filled file, or another task's part under this name, is
        not. The names are listed before the ledger is read: a writer records a part before
        renaming it, so a part seen here is already in the ledger.
        """
        files = sorted(p for p in self.path.glob("*.npz") if _PART.match(p.name))
        ledger = self._ledger()
        good, bad = set(), {}
        for p in files:
            want = ledger.get(p.name)
            if want is None:
                bad[p.name] = f"not recorded in {LEDGER}"
            elif _sha256(p.read_bytes()) != want:
                bad[p.name] = f"its checksum is not the one in {LEDGER}: truncated, damaged or another task's part"
            else:
                good.add(p.name[:-4])
        return good, bad

    def done(self):
        """Names of the tasks whose part is intact (:meth:`check`)."""
        return self.check()[0]

    def set_aside(self, bad, log, tasks=None):
        """Rename each damaged part ``NAME.npz`` to ``NAME.npz.corrupt`` (kept for a look,
        never read again), saying so in one line each: ``tasks``, the names of the sweep's
        tasks where the layout knows them all, tells a damaged part of the sweep (to be
        recomputed) from a file that is not one of its tasks."""
        for name, why in sorted(bad.items()):
            os.replace(self.path / name, self.path / f"{name}.corrupt")
            log(f"sweep: {self.path / name} {describe(name, why, tasks)}; set aside as {name}.corrupt")

    def write(self, task, arrays):
        name = f"{task.name}.npz"
        with atomic_path(self.path / name, before_rename=lambda tmp: self._record(name, tmp)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    def read(self, task, ledger=None):
        """A part's arrays, after checking them against the ledger (:class:`RunError` if
        the part has been damaged since it was checked)."""
        name = f"{task.name}.npz"
        data = (self.path / name).read_bytes()
        if _sha256(data) != (ledger or self._ledger()).get(name):
            raise RunError(f"{self.path / name} was damaged while the sweep ran; rerun to recompute it")
        with np.load(io.BytesIO(data)) as z:
            return {k: z[k] for k in z.files}

    def _ledger(self):
        """``{part file: sha256}``, the last record of each name; a line cut short by a
        crash is not a record."""
        try:
            lines = (self.path / LEDGER).read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return {}
        return {m[2]: m[1] for m in map(_LEDGER_LINE.match, lines) if m}

    def _record(self, name, tmp):
        with open(self.path / LEDGER, "a") as f:
            f.write(f"{_sha256(Path(tmp).read_bytes())}  {name}\n")
            f.flush()
            os.fsync(f.fileno())

    def _mend_ledger(self):
        """End a last line cut short by a crash, so that the next record starts a line."""
        path = self.path / LEDGER
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with open(path, "a") as f:
                f.write("\n")
            fsync_path(path)

    def assemble(self, config, plan, tables, done):
        """The contract Dataset (``docs/design.md#dataset``) from the parts of the tasks in
        ``done`` (names :meth:`check` found intact, or parts written since), each checked
        once more as it is read.

        Cells without a part hold NaN.
        """
        cell = (len(config.models), len(config.regularizers), len(config.steps))
        R, T, nd, ns_ = len(config.ratio), config.trials, len(config.d), len(config.s)
        data = {v: np.full(cell + (nd, ns_, R, T), np.nan) for v in RESULT_VARS}
        trace = np.full(cell + (nd, ns_, R, config.traces, config.iterations + 1), np.nan) if config.traces else None
        di = {d: i for i, d in enumerate(config.d)}
        si = {s: i for i, s in enumerate(config.s)}
        ledger = self._ledger()
        batch_size = self.manifest()["batch_size"]
        for task in make_tasks(config, batch_size):
            if task.name not in done:
                continue
            part = self.read(task, ledger)
            i, j = di[task.d], si[task.s]
            for v in RESULT_VARS:
                data[v][:, :, :, i, j, :, task.start : task.stop] = part[v]
            if trace is not None and part["trace"].shape[4]:
                k = part["trace"].shape[4]
                trace[:, :, :, i, j, :, task.start : task.start + k] = part["trace"]
        dims = conventions.DIMS
        ds = xr.Dataset({v: (dims, a) for v, a in data.items()})
        if trace is not None:
            ds["trace"] = (conventions.TRACE_DIMS, trace)
        n = np.array([[plan.ns(d, s) for s in config.s] for d in config.d], dtype=np.int64)
        ds = ds.assign_coords(
            model=list(config.models),
            regularizer=list(config.regularizers),
            step_size=list(config.steps),
            d=list(config.d),
            s=list(config.s),
            ratio=list(config.ratio),
            trial=np.arange(T),
            traced_trial=np.arange(config.traces),
            iteration=np.arange(config.iterations + 1),
            n=(("d", "s", "ratio"), n),
            **{name: (("d", "s"), table) for name, table in tables.items()},
        )
        if "trace" not in ds:
            ds = ds.drop_vars(["traced_trial", "iteration"])
        ds = _as_configured(ds, config)
        conventions.annotate(ds, structure=config.structure)
        ds["n0"].attrs["method"] = config.n0
        ds.attrs.update(_global_attrs(config, batch_size))
        return ds


def _as_configured(ds, config):
    """Without ``step_sizes`` in the config, the dataset has no ``step_size`` dimension: the
    file such a config always wrote; without a step rule among them, no ``shrinks``; without
    ``convex_limit``, no ``convex_success``, and with it the count of programs the solver
    failed on as an attribute (``convex_failed`` is that count's source, not a variable)."""
    ds = conventions.without_unused(ds)
    if config.convex_limit:
        ds.attrs["convex_solver_failures"] = int(np.nansum(ds["convex_failed"].values))
        ds = ds.drop_vars("convex_failed")
    else:
        ds = ds.drop_vars(["convex_success", "convex_failed"])
    return ds if config.step_axis else conventions.without_step_axis(ds)


def probe_arrays(config, sizes):
    """Empty (NaN) per-probe arrays of a probe-layout sweep, each of :data:`PROBE_VARS`
    over ``(model, regularizer, step_size, d, s, trial, probe)``."""
    cell = (len(config.models), len(config.regularizers), len(config.steps))
    shape = cell + (len(config.d), len(config.s), config.trials)
    return {v: np.full(shape + (adaptive.width(config, sizes),), np.nan) for v in PROBE_VARS}


def fill_probes(parts, config, data, tasks, ledger=None):
    """Read the parts of ``tasks`` (each checked against the ledger) into ``data``
    (:func:`probe_arrays`)."""
    ledger = ledger or parts._ledger()
    di = {d: i for i, d in enumerate(config.d)}
    si = {s: i for i, s in enumerate(config.s)}
    for task in tasks:
        part = parts.read(task, ledger)
        w = part["n"].shape[-1]
        for v in PROBE_VARS:
            data[v][:, :, :, di[task.d], si[task.s], task.start : task.stop, :w] = part[v]


def assemble_probes(config, tables, data, batch_size):
    """The probe-layout Dataset (``docs/design.md#dataset``): per-probe variables over
    ``(model, regularizer, step_size, d, s, trial, probe)`` (no ``step_size`` without
    ``step_sizes`` in the config), ``n`` and ``round`` among them, NaN where a trial has no
    such probe."""
    dims = conventions.PROBE_DIMS
    ds = xr.Dataset({v: (dims, a) for v, a in data.items()})
    starts = [start for start, _ in adaptive.rounds(config)]
    trial_round = np.searchsorted(starts, np.arange(config.trials), side="right") - 1.0
    ds["round"] = xr.where(ds.n.notnull(), xr.DataArray(trial_round, dims="trial"), np.nan).transpose(*dims)
    ds = ds.assign_coords(
        model=list(config.models),
        regularizer=list(config.regularizers),
        step_size=list(config.steps),
        d=list(config.d),
        s=list(config.s),
        trial=np.arange(config.trials),
        probe=np.arange(ds.sizes["probe"]),
        **{name: (("d", "s"), table) for name, table in tables.items()},
    )
    ds = _as_configured(ds, config)
    conventions.annotate(ds, layout="probe", structure=config.structure)
    ds["n0"].attrs["method"] = config.n0
    ds.attrs.update(_global_attrs(config, batch_size))
    return ds


def _global_attrs(config, batch_size):
    attrs = dict(
        conventions.provenance(f"relu-phase sweep {config.name}", f"sweep run ({config.name})"),
        name=config.name,
        config=config.text,
        mode=config.mode,
        layout=config.layout,
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

    if config.ratio_range is not None:
        attrs.update(ratio_range=list(config.ratio_range), n_step=config.n_step)
    if config.structure != "sparse":  # a sparse w*'s files stay as they were
        attrs.update(structure=config.structure, **({"group_size": config.group_size} if config.group_size else {}))
    if config.mode == "adaptive":
        attrs.update(
            ratio_range=[min(config.ratio), max(config.ratio)],
            first_trials=config.first_trials,
            round_trials=config.round_trials,
            probes_per_trial=config.probes_per_trial,
            quantiles=list(config.quantiles),
            precision=config.precision,
        )
    return attrs


def open_parts(path):
    """The dataset of a running or interrupted sweep, from its parts folder: the tasks done
    so far (each checked against its checksum; a damaged one is left out), NaN elsewhere.

    Reads only: a sweep writing the folder goes on undisturbed. The attrs ``tasks_done``
    and ``tasks`` say how far it is.
    """
    parts = Parts(path)
    m = parts.manifest()
    config = config_mod.loads(m["config"])
    tables = n0_tables(config)
    done = parts.done()
    if config.layout == "probe":
        data, progress = probe_progress(parts, config, m, done)
        ds = assemble_probes(config, tables, data, m["batch_size"])
        names = {t.name for t in progress.tasks}  # of the rounds placed so far
    else:
        ds = parts.assemble(config, Plan.from_config(config, _manifest_sizes(config, m, tables)), tables, done)
        names = {t.name for t in make_tasks(config, m["batch_size"])}
    ds.attrs.update(tasks_done=len(done & names), tasks=len(names), parts=str(parts.path))
    return ds


def _manifest_sizes(config, m, tables):
    if "n" in m:
        return {tuple(map(int, key.split("-"))): ns for key, ns in m["n"].items()}
    return sample_sizes(config, tables)


def probe_progress(parts, config, m, done):
    """A probe-layout sweep's results so far (:func:`probe_arrays`) and its
    :class:`~sweep.adaptive.Progress`, replaying its rounds from the intact parts in ``done``."""
    sizes = _manifest_sizes(config, m, None if "n" in m else n0_tables(config))
    data = probe_arrays(config, sizes)
    ledger = parts._ledger()
    progress = adaptive.drive(
        config, sizes, m["batch_size"], data, done, lambda tasks: fill_probes(parts, config, data, tasks, ledger)
    )
    return data, progress


def sample_sizes(config, tables):
    """``{(d, s): [n per ratio]}`` from the n0 that sets ``n`` in :func:`n0_tables`."""
    return config.sample_sizes(
        {(d, s): tables["n0"][i, j] for i, d in enumerate(config.d) for j, s in enumerate(config.s)}
    )


def n0_tables(config):
    """``n0`` over ``(d, s)`` by every method of the config's structure of ``w*`` (``n0_<method>``,
    with ``n0_<method>_se`` where it is a Monte-Carlo estimate), and the one that sets ``n``
    (``n0``)."""
    shape = (len(config.d), len(config.s))
    tables = {"n0": None}  # first: the coordinates' order in the file, as it always was
    for method in theory.STRUCTURES[config.structure]:
        name = "n0_" + method.replace("-", "_")
        tables[name] = np.empty(shape)
        if (config.structure, method) in theory.SAMPLED:
            tables[name + "_se"] = np.empty(shape)
        for i, d in enumerate(config.d):
            for j, s in enumerate(config.s):
                value, se = theory.structure_n0(config.structure, s, d, method, config.block, seed=config.seed)
                tables[name][i, j] = value
                if name + "_se" in tables:
                    tables[name + "_se"][i, j] = se
    tables["n0"] = tables["n0_" + config.n0.replace("-", "_")].copy()
    return tables


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def verify(ds, out):
    """:class:`RunError` unless the dataset at ``out``, read back, equals ``ds`` (every
    variable's values, dimensions and coordinates): what makes the parts folder safe to
    remove."""
    try:
        with xr.open_dataset(out) as back:  # a variable at a time: one copy of the dataset in memory, not two
            same = set(back.variables) == set(ds.variables) and all(back[v].equals(ds[v]) for v in ds.variables)
    except (OSError, ValueError) as exc:
        raise RunError(f"{out} cannot be read back ({exc}); the parts folder is kept") from exc
    if not same:
        raise RunError(f"{out} read back differs from the dataset written; the parts folder is kept")


def made_by(out, config):
    """What the file at ``out`` is to a run of ``config``: ``None`` when there is none,
    ``""`` when it is the dataset this config and this code make (nothing to run), else
    why it is not, in words."""
    import netCDF4

    if not Path(out).exists():
        return None
    try:
        with netCDF4.Dataset(out) as nc:
            attrs = {k: nc.getncattr(k) for k in ("config", "relu_phase_code") if k in nc.ncattrs()}
    except OSError:
        return "is not a NetCDF file"
    if "config" not in attrs:
        return "is not a relu-phase sweep dataset"
    try:
        same = config_mod.loads(attrs["config"]).canonical() == config.canonical()
    except InputError:
        same = False
    if not same:
        return "holds the dataset of another config"
    if attrs.get("relu_phase_code") != conventions.code_id():
        return f"was made by other code ({attrs.get('relu_phase_code', 'unrecorded')}; this is {conventions.code_id()})"
    return ""


def write_dataset(ds, out):
    """Write ``ds`` to ``out`` atomically, compressed per :mod:`sweep.conventions`; a failed
    write is an :class:`OSError`, whatever library reported it.

    xarray asks dask for the current scheduler even when every variable is in memory, and a
    failed ``Client(...)`` elsewhere in the process can leave dask pointing at a client that
    no longer exists; in-memory data is written without asking.
    """
    in_memory = not ds.chunks
    with dask.config.set(scheduler="synchronous") if in_memory else contextlib.nullcontext(), atomic_path(out) as tmp:
        try:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=conventions.encoding(ds))
        except RuntimeError as exc:  # how the NetCDF library reports a write that failed (a full disk, a quota)
            raise OSError(errno.EIO, f"the NetCDF library could not write it ({exc}); is the disk full?") from exc
