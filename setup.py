"""Build hook: the commit a wheel is built from, recorded inside it.

``pip install .`` puts the package in site-packages, outside any git checkout, where
:func:`sweep.conventions.git_commit` cannot ask git; it reads ``sweep/COMMIT``, written here
into the build tree only (an editable install runs from the checkout and asks git).
Everything else about the build is in ``pyproject.toml``.
"""

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCommit(build_py):
    def run(self):
        super().run()
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):  # no git: the dataset says "" as before
            return
        if out.returncode == 0 and out.stdout.strip():
            Path(self.build_lib, "sweep", "COMMIT").write_text(out.stdout.strip() + "\n")


setup(cmdclass={"build_py": BuildWithCommit})
