"""Write a file so that readers see the old file or the whole new one, never a part, and
so that a power loss after the rename cannot leave the new name on unwritten blocks."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def fsync_path(path: str | Path) -> None:
    """Flush ``path`` (a file or a directory) to the disk; a filesystem that cannot sync a
    directory (some network ones refuse) is left as it is."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        if not os.path.isdir(path):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, before_rename: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same directory, so the rename is atomic on POSIX. It is
    fsynced before the rename and the directory after: without that a crash can leave the
    new name pointing at a truncated or zero-filled file (the rename reaches the disk before
    the data). ``before_rename(tmp)`` runs after the sync, before the rename. On any error
    the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result is an ordinary file
    try:
        yield Path(tmp)
        fsync_path(tmp)
        if before_rename is not None:
            before_rename(Path(tmp))
        os.replace(tmp, path)
        fsync_path(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
