"""The ``sweep`` command as users run it: a real subprocess, exit codes, files."""

import subprocess
import sys

import pytest
import xarray as xr


def sweep(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sweep", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_help_lists_the_commands():
    out = sweep("--help")
    assert out.returncode == 0
    for cmd in ("run", "resume", "status", "figure1", "n0"):
        assert cmd in out.stdout


def test_n0_l1_prints_the_statistical_dimension():
    out = sweep("n0", "--s", 20, "--d", 1000, "--method", "l1")
    assert out.returncode == 0 and "104.18" in out.stdout


@pytest.mark.parametrize(
    "case",
    [
        dict(args=["n0", "--s", 20, "--d", 10], field="--s"),
        dict(args=["n0", "--s", "x", "--d", 10], field="--s"),
        dict(args=["n0", "--s", 2, "--d", 10, "--method", "l2"], field="--method"),
        dict(args=["figure1", "--trials", 0], field="--trials"),
        dict(args=["figure1", "--out", "figure1.png"], field="--out"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, case):
    out = sweep(*case["args"], cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and case["field"] in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_figure1_writes_a_dataset(tmp_path):
    path = tmp_path / "f1.nc"
    out = sweep("figure1", "--trials", 10, "--iterations", 20, "--out", path)
    assert out.returncode == 0, out.stderr
    with xr.open_dataset(path) as ds:
        assert ds.trace.dims == ("model", "trial", "iteration")
        assert ds.trace.shape == (2, 10, 21)
        assert ds.attrs["n"] == 625 and ds.attrs["regularizer"] == "l0"
        assert ds.trace.attrs["units"] == "1"
        assert float(ds.trace.sel(model="linear", iteration=20).median()) < 1e-7
