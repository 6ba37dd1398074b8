"""Provenance of an installed copy: the commit its build recorded (``setup.py``)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _git(*args, cwd=ROOT):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(
    shutil.which("git") is None or _git("rev-parse", "HEAD").returncode != 0,
    reason="needs git and a checkout of the project",
)
def test_an_installed_copy_reports_the_commit_it_was_built_from(tmp_path):
    # Built from a clone (HEAD's commit) holding this tree's build hook and package, then
    # run from a folder outside any checkout, as from site-packages.
    clone = tmp_path / "clone"
    assert _git("clone", "-q", str(ROOT), str(clone)).returncode == 0
    shutil.copy(ROOT / "setup.py", clone)
    shutil.copytree(ROOT / "sweep", clone / "sweep", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    head = _git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    lib = tmp_path / "lib"
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert (lib / "sweep" / "COMMIT").read_text().strip() == head
    assert not (clone / "sweep" / "COMMIT").exists()  # the source tree is left as it was
    where, commit = _python_in(lib, "print(conventions.__file__, conventions.git_commit())").split()
    assert Path(where).parent == lib / "sweep" and commit == head
    # without the record, outside a checkout, the commit is unknown rather than invented
    (lib / "sweep" / "COMMIT").unlink()
    assert _python_in(lib, "print(repr(conventions.git_commit()))").strip() == "''"


def _python_in(lib, code):
    """Run ``code`` with ``sweep.conventions`` imported from ``lib``, as from a site-packages
    (git looks no further up than ``lib``'s parent for a checkout)."""
    env = {"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin", "GIT_CEILING_DIRECTORIES": str(lib.parent)}
    out = subprocess.run(
        [sys.executable, "-c", "from sweep import conventions; " + code],
        cwd=lib.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
