"""Where numba keeps the compiled kernel: the user's cache folder, not the package's.

numba writes ``cache=True`` functions beside their source when it can: inside
``site-packages/sweep/__pycache__`` for an installed package, where ``pip uninstall`` leaves
them behind (about 80 files) and a later editable install of another checkout finds a
``sweep`` folder in the way. Here the package's own compiled functions go to
``$XDG_CACHE_HOME/relu-phase/numba`` (``~/.cache/relu-phase/numba``), one subfolder per
source folder, keyed as numba keys them (source path, modification time, signature,
CPU), so two checkouts never share an entry. ``NUMBA_CACHE_DIR``, when set, wins, as it
does for numba itself (the tests and the mutation runs use it for a fresh cache).
"""

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def cache_root():
    """The folder the package's compiled functions are cached in (``NUMBA_CACHE_DIR`` aside)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "relu-phase" / "numba"


def is_cached(source):
    """Whether a compiled function of the module file ``source`` (this copy of it: the
    cache keeps one folder per source folder) has been cached already."""
    from numba.core import caching, config

    root = Path(config.CACHE_DIR) if config.CACHE_DIR else cache_root()
    try:
        folder = root / caching.UserWideCacheLocator.get_suitable_cache_subpath(str(source))
    except AttributeError:  # a numba whose internals differ: any copy's cache will do
        folder = root
    return any(folder.glob(f"**/{Path(source).stem}.*.nbi"))


def install():
    """Put the package's locator first in numba's list (once per process; a numba whose
    internals differ keeps its own default)."""
    try:
        from numba.core import caching, config
    except ImportError:  # pragma: no cover - numba is a dependency
        return

    locators = getattr(getattr(caching, "CacheImpl", None), "_locator_classes", None)
    base = getattr(caching, "UserWideCacheLocator", None)
    if locators is None or base is None or any(getattr(c, "_relu_phase", False) for c in locators):
        return

    class PackageCacheLocator(base):
        _relu_phase = True

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(cache_root(), self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            if config.CACHE_DIR or Path(py_file).resolve().parent != _PACKAGE:
                return None  # NUMBA_CACHE_DIR, or not ours: numba's own locators decide
            return super().from_function(py_func, py_file)

    locators.insert(0, PackageCacheLocator)
