"""The parts folder: one file per finished task, durable across kills and resumes.

``PATH.nc.parts/`` holds ``manifest.json`` (the config that owns the folder, the batch size,
the sample sizes and the code identity), one ``.npz`` per finished task, ``parts.sha256``
(each part's checksum, in ``sha256sum`` format, recorded before the part takes its name) and
``lock`` (held by the one process writing the folder). Parts are written to a temporary
name, synced and renamed, so the folder only ever holds complete parts; a part that is
damaged anyway (a disk, a copy, a hand) fails its checksum and is set aside and recomputed
(``docs/design.md#storage``). xarray cannot append to a NetCDF file: the dataset is
assembled from the parts at the end (:mod:`sweep.dataset`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__, conventions
from .atomic import atomic_path, fsync_path
from .errors import InputError, RunError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from .config import SweepConfig
    from .plan import ProbeTask, Task

MANIFEST = "manifest.json"
LEDGER = "parts.sha256"
LOCK = "lock"
_PART = re.compile(r"^(?:r(\d+)-)?d(\d+)-s(\d+)-t(\d+)-(\d+)\.npz$")
_LEDGER_LINE = re.compile(r"^([0-9a-f]{64})  (\S+\.npz)$")


def parts_path(out: str | Path) -> Path:
    return Path(str(out) + ".parts")


def describe(name: str, why: str, tasks: set[str] | None = None) -> str:
    """What a part that failed its check is, in words: a damaged part of the sweep, or a
    file that no task of the sweep writes (``tasks``: every task name, where known)."""
    if tasks is None:
        return f"is damaged ({why}); its task, if the sweep has it, is computed again"
    if name[: -len(".npz")] not in tasks:
        return f"is not a part of this sweep ({why}); ignored"
    return f"is damaged ({why}); to be recomputed"


class Parts:
    """The parts folder of one sweep."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict[str, Any]:
        """The manifest; :class:`InputError` if the folder is not a sweep's parts folder."""
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise InputError("parts", str(self.path), f"is not a sweep parts folder (no {MANIFEST})") from None
        except (OSError, ValueError) as exc:
            raise InputError("parts", str(self.path), f"has an unreadable {MANIFEST}: {exc}") from None

    def open(
        self,
        config: SweepConfig,
        batch_size: int | None,
        default_batch_size: int,
        out: str | Path,
        sizes: dict[tuple[int, int], list[int]],
        task_names: Callable[[int], set[str] | None] = lambda bs: None,
    ) -> int:
        """Create the folder for ``config``, or check that it already belongs to it.

        ``batch_size`` is what the user asked for (or None); a new folder takes it or
        ``default_batch_size``. ``sizes`` are the sweep's sample sizes (``{(d, s): [n]}``);
        ``task_names(batch_size)`` every task's name where the layout knows them in advance
        (the manifest records their count), else None.
        Returns the batch size in force (the manifest's, when resuming). Call it holding
        :meth:`lock`.
        """
        by_cell = {f"{d}-{s}": list(ns) for (d, s), ns in sorted(sizes.items())}
        if self.manifest_path.exists():
            for stale in self.path.glob(".*.tmp"):  # writes cut short by a kill
                stale.unlink(missing_ok=True)
            self._mend_ledger()
            m = self.manifest()
            self._check_belongs(m, config, batch_size, by_cell)
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
            tasks=None if (names := task_names(batch_size)) is None else len(names),
            n=by_cell,
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

    def remove(self) -> None:
        """Delete the folder and everything in it (its dataset written and verified)."""
        for p in sorted(self.path.iterdir()):
            p.unlink()
        self.path.rmdir()

    @contextlib.contextmanager
    def lock(self) -> Iterator[Parts]:
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

    def check(self) -> tuple[set[str], dict[str, str]]:
        """The tasks whose part is intact, and ``{file name: why}`` of the parts that are not.

        A part is intact when its checksum is the one ``parts.sha256`` recorded for its
        name: a truncated or zero-filled file, or another task's part under this name, is
        not. The names are listed before the ledger is read: a writer records a part before
        renaming it, so a part seen here is already in the ledger.
        """
        files = sorted(p for p in self.path.glob("*.npz") if _PART.match(p.name))
        ledger = self.ledger()
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

    def done(self) -> set[str]:
        """Names of the tasks whose part is intact (:meth:`check`)."""
        return self.check()[0]

    def set_aside(self, bad: dict[str, str], log: Callable[[str], None], tasks: set[str] | None = None) -> None:
        """Rename each damaged part ``NAME.npz`` to ``NAME.npz.corrupt`` (kept for a look,
        never read again), saying so in one line each: ``tasks``, the names of the sweep's
        tasks where the layout knows them all, tells a damaged part of the sweep (to be
        recomputed) from a file that is not one of its tasks."""
        for name, why in sorted(bad.items()):
            os.replace(self.path / name, self.path / f"{name}.corrupt")
            log(f"sweep: {self.path / name} {describe(name, why, tasks)}; set aside as {name}.corrupt")

    def write(self, task: Task | ProbeTask, arrays: dict[str, np.ndarray]) -> None:
        name = f"{task.name}.npz"
        with atomic_path(self.path / name, before_rename=lambda tmp: self._record(name, tmp)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub reads a key as allow_pickle

    def read(self, task: Task | ProbeTask, ledger: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """A part's arrays, after checking them against the ledger (:class:`RunError` if
        the part has been damaged since it was checked)."""
        name = f"{task.name}.npz"
        data = (self.path / name).read_bytes()
        if _sha256(data) != (ledger or self.ledger()).get(name):
            raise RunError(f"{self.path / name} was damaged while the sweep ran; rerun to recompute it")
        with np.load(io.BytesIO(data)) as z:
            return {k: z[k] for k in z.files}

    def ledger(self) -> dict[str, str]:
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


def _sha256(data):
    return hashlib.sha256(data).hexdigest()
