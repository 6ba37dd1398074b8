"""Shared by the engine tests: small configs and dataset comparison."""

import subprocess
import sys
import time

import pytest

from sweep import config, runner, store

SMALL = """
name = "small"
seed = 7
trials = 6
iterations = 120
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0", "l1"]
traces = 2
[grid]
d = [60, 100]
s = [2, 4]
ratio = [0.5, 1.0, 3.0, 6.0]
"""

# Tasks long enough (~0.1-0.3 s) that a kill lands mid-sweep.
SLOW = """
name = "slow"
seed = 11
trials = 24
iterations = 200
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0"]
[grid]
d = [1000]
s = [10, 20]
ratio = [0.5, 1.0, 2.0, 3.0, 4.0]
"""

# Adaptive mode on small cells: rounds of 8 trials, a loose precision so some cells close.
ADAPTIVE = """
name = "adaptive"
seed = 5
trials = 40
iterations = 150
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0", "l1"]
mode = "adaptive"
[grid]
d = [100]
s = [2, 4]
ratio = [0.5, 1.0, 2.0, 3.0, 4.0]
[adaptive]
first_trials = 8
round_trials = 8
precision = 0.1
"""

# Adaptive rounds whose tasks take long enough (~0.2 s) that a kill lands mid-round.
ADAPTIVE_SLOW = """
name = "adaptive-slow"
seed = 13
trials = 36
iterations = 200
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0"]
mode = "adaptive"
[grid]
d = [1000]
s = [10]
ratio = [0.5, 1.0, 2.0, 3.0, 4.0]
[adaptive]
first_trials = 12
round_trials = 12
precision = 0.01
"""


def assert_same_numbers(a, b):
    """Every data variable and coordinate of two sweep datasets equal bit for bit."""
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in list(a.data_vars) + list(a.coords):
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name


def run_config(text, out, workers, batch_size=None, kind=None, in_process=None):
    """Run a sweep from this process, quietly, with a dashboard on a free port."""
    return runner.run(
        config.loads(text),
        out,
        kind=kind,
        workers=workers,
        batch_size=batch_size,
        progress=False,
        dashboard_address="127.0.0.1:0",
        in_process=in_process,
        log=lambda m: None,
    )


def sweep_cli(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "sweep", "run", *map(str, args), "--no-progress", "--dashboard", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_for_parts(parts, count, proc, timeout=120, prefix=""):
    """Wait until ``count`` intact parts whose names start with ``prefix`` exist."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if parts.exists() and sum(n.startswith(prefix) for n in store.Parts(parts).done()) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"sweep ended before {count} parts: {proc.communicate()}")
        time.sleep(0.02)
    pytest.fail("no parts appeared")
