"""The parts folder under faults: damaged parts, two writers, and code that changed."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import xarray as xr

from sweep import conventions
from sweep.parts import _LEDGER_LINE, LEDGER, Parts, parts_path
from tests.mutations import copy_repository

from .helpers import SLOW, SMALL, assert_same_numbers, sweep_cli, wait_for_parts
from .helpers import run_config as _run

ROOT = Path(__file__).resolve().parents[2]


def _sweep(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "sweep", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def _resume(parts, cwd=None, env=None):
    return _sweep(
        "resume", parts, "--workers", 1, "--no-progress", "--dashboard", "127.0.0.1:0", "--keep-parts", cwd=cwd, env=env
    )


def test_damaged_parts_are_set_aside_and_recomputed(tmp_path, small_reference):
    """A truncated part (a power loss), a zero-filled one (a disk) and two swapped (a hand):
    status counts only the good ones, resume recomputes the rest, and the dataset is the
    clean run's."""
    out = tmp_path / "small.nc"
    _run(SMALL, out, workers=1, batch_size=3)
    out.unlink()
    parts = parts_path(out)
    names = sorted(p.name for p in parts.glob("*.npz"))
    assert len(names) == 8
    truncated, zeroed, a, b = (parts / n for n in names[:4])
    truncated.write_bytes(truncated.read_bytes()[:-100])
    zeroed.write_bytes(bytes(zeroed.stat().st_size))
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)

    junk = parts / names[0].replace("-s2-", "-s9-")  # named like a part, no task of this sweep
    assert junk.name not in names
    junk.write_bytes(b"left by a hand")

    status = _sweep("status", parts)
    assert status.returncode == 0 and "4 / 8 tasks" in status.stdout
    said = {line.split()[1]: line for line in status.stderr.splitlines()}
    assert sorted(said) == sorted([str(parts / n) for n in names[:4]] + [str(junk)])
    assert said[str(junk)].endswith("is not a part of this sweep (not recorded in parts.sha256); ignored; not counted")
    assert said[str(truncated)].endswith("to be recomputed; not counted")
    assert len(list(parts.glob("*.npz"))) == 9  # status only looks

    res = _resume(parts)
    assert res.returncode == 0, res.stderr
    assert "4 already done, 4 to run" in res.stderr
    aside = [line for line in res.stderr.splitlines() if "set aside" in line]
    assert len(aside) == 5 and "checksum" in aside[0]
    assert sum("not a part of this sweep" in line for line in aside) == 1
    assert sorted(p.name for p in parts.glob("*.corrupt")) == sorted(f"{n}.corrupt" for n in names[:4] + [junk.name])
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), small_reference)
    assert "8 / 8 tasks" in _sweep("status", parts).stdout


def test_a_ledger_line_cut_short_costs_one_part_at_most(tmp_path, small_reference):
    out = tmp_path / "small.nc"
    _run(SMALL, out, workers=1, batch_size=3)
    out.unlink()
    parts = parts_path(out)
    ledger = parts / LEDGER
    lines = ledger.read_text().splitlines(keepends=True)
    assert len(lines) == 8 and all(_LEDGER_LINE.match(line.strip()) for line in lines)
    ledger.write_text("".join(lines[:-1]) + lines[-1][:30])  # a crash in the middle of the last record
    res = _resume(parts)
    assert res.returncode == 0, res.stderr
    assert "7 already done, 1 to run" in res.stderr
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), small_reference)
    assert len(Parts(parts).done()) == 8


def test_a_second_writer_is_refused_and_a_dead_ones_lock_taken_over(tmp_path, slow_reference):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "slow.nc"
    parts = parts_path(out)
    first = sweep_cli(cfg, "--out", out, "--workers", 1, "--batch-size", 2, start_new_session=True)
    wait_for_parts(parts, 1, first)
    os.killpg(first.pid, signal.SIGSTOP)  # frozen mid-sweep, holding the folder, however fast this machine
    second = _sweep("run", cfg, "--out", out, "--workers", 1, "--no-progress", "--dashboard", "127.0.0.1:0")
    assert second.returncode == 2
    line = second.stderr.strip()
    assert line.startswith(f"sweep: error: parts = '{parts}': is being written by another sweep ")
    assert f"pid {first.pid} on {socket.gethostname()} since " in line and len(line.splitlines()) == 1
    assert _resume(parts).returncode == 2
    os.killpg(first.pid, signal.SIGKILL)  # the holder dies without a word: its lock goes with it
    first.communicate()
    third = _resume(parts)
    assert third.returncode == 0, third.stderr
    with xr.open_dataset(out) as ds:
        assert_same_numbers(ds.load(), slow_reference)


def test_resume_follows_the_code_that_computes_results_only(tmp_path):
    """A copy of the repository with a changed comment in the CLI resumes a sweep; a copy
    with a changed comment in the kernel refuses it, with one line saying how to start
    afresh."""
    out = tmp_path / "small.nc"
    _run(SMALL, out, workers=1, batch_size=3)
    out.unlink()
    parts = parts_path(out)
    for module, accepted in [("cli", True), ("kernel", False)]:
        copy = tmp_path / f"repo-{module}"
        copy_repository(copy)
        source = copy / "sweep" / f"{module}.py"
        source.write_text("# a comment\n" + source.read_text())
        env = dict(os.environ, PYTHONPATH=str(copy), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
        res = _resume(parts, cwd=copy, env=env)
        if accepted:
            assert res.returncode == 0, res.stderr
            assert "8 already done, 0 to run" in res.stderr and out.exists()
        else:
            assert res.returncode == 2
            line = res.stderr.strip()
            assert line.startswith("sweep: error: code = ") and len(line.splitlines()) == 1
            assert conventions.code_id() in line and line.endswith("use another --out or remove that folder")
    assert set(conventions.RESULT_MODULES) <= {p.stem for p in (ROOT / "sweep").glob("*.py")}
