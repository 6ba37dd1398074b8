"""The compiled kernel is cached in the user's cache folder, and a first run says so."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import SMALL

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_kernel_compiles_once_into_the_users_cache_and_says_so(tmp_path):
    """A copy of the package stands in for an installed one: nothing is cached beside its
    source (where ``pip uninstall`` would leave it), the first run says it compiles, the
    second loads the cache without a word."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "sweep", clone / "sweep", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(clone), XDG_CACHE_HOME=str(tmp_path / "cache"))
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)

    def run(out):
        return subprocess.run(
            [sys.executable, "-m", "sweep", "run", str(cfg), "--out", str(tmp_path / out), "--no-progress"]
            + ["--workers", "1", "--dashboard", "127.0.0.1:0"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=600,
        )

    first, second = run("a.nc"), run("b.nc")
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    said = [line for line in first.stderr.splitlines() if line.startswith("compiling the kernel")]
    assert len(said) == 1 and str(tmp_path / "cache" / "relu-phase" / "numba") in said[0], first.stderr
    assert "compiling" not in second.stderr, second.stderr
    assert list((tmp_path / "cache" / "relu-phase" / "numba").glob("**/_loop.*.nbi"))
    assert not list((clone / "sweep").glob("**/*.nbi")), "numba cached beside the package"
