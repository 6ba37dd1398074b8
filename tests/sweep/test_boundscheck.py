"""The compiled code's tests again, with numba's bounds checks on and a fresh cache.

The kernel is compiled with ``boundscheck=False`` for speed; ``NUMBA_BOUNDSCHECK=1``
overrides that flag everywhere, so an index past an array's end raises instead of reading
a neighbour's memory. A fresh ``NUMBA_CACHE_DIR`` makes sure nothing is loaded that was
compiled without the checks.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import numba, numpy as np
from numba import njit
assert numba.config.BOUNDSCHECK == 1
@njit(boundscheck=False)
def at(a, i):
    return a[i]
try:
    at(np.zeros(3), 3)
except IndexError:
    print("checked")
"""


@pytest.mark.slow
def test_compiled_code_passes_its_tests_with_bounds_checked(tmp_path):
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert probe.stdout.strip() == "checked", probe.stderr  # the override reaches boundscheck=False code
    tests = ["tests/sweep/test_kernel.py", "tests/sweep/test_normal.py", "tests/sweep/test_pgd.py"]
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert any(p.suffix == ".nbc" for p in (tmp_path / "numba-cache").rglob("*"))  # compiled afresh, there
