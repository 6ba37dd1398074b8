"""Shared by the engine tests: small configs and dataset comparison."""

import subprocess
import sys
import time

import pytest

from sweep import config, runner
from sweep.parts import Parts

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


def run_config(text, out, workers, batch_size=None, kind=None, in_process=None, keep_parts=True):
    """Run a sweep from this process, quietly, with a dashboard on a free port; its parts
    folder kept for the tests that look into it."""
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
        keep_parts=keep_parts,
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
        if parts.exists() and sum(n.startswith(prefix) for n in Parts(parts).done()) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"sweep ended before {count} parts: {proc.communicate()}")
        time.sleep(0.02)
    pytest.fail("no parts appeared")


def check_cell_against_kernel_and_reference(ds, cfg, trial, step=1.0, **cell):
    """One cell of a ratio-layout dataset recomputed alone: the kernel's numbers equal the
    dataset's bit for bit, and the plain reference (``sweep.pgd.pgd``) reaches the
    tolerance at the same iteration where the cell is far from chaos (at tolerance, blown
    up, or still far away)."""
    import numpy as np

    from sweep import kernel, pgd, problem, steps
    from sweep.engine import CONVEX_VARS, RESULT_VARS

    d, s, model, regularizer = cell["d"], cell["s"], cell["model"], cell["regularizer"]
    n = int(ds.n.sel(d=d, s=s, ratio=cell["ratio"]))
    X, w = problem.draw_trial(cfg.seed, (d, s, trial), d, s, n, structure=cfg.structure, group_size=cfg.block)
    y = problem.observe(X, w, model)
    res = kernel.solve(
        X,
        w,
        {model: y},
        [kernel.Problem(model, regularizer, n, steps.on_axis(step))],
        cfg.iterations,
        cfg.tolerance,
        group_size=cfg.block,
    )
    got = ds.sel(trial=trial, **cell, **({"step_size": step} if "step_size" in ds.dims else {}))
    for name in [v for v in RESULT_VARS if v in ds and v not in CONVEX_VARS]:  # PGD's (the oracle: test_oracle)
        want = res.rel_error[0] <= cfg.tolerance if name == "success" else getattr(res, name)[0]
        assert float(got[name]) == np.float64(want) or np.isnan(want) and np.isnan(float(got[name])), (name, cell)
    errors = pgd.pgd(
        X, y, w, model, regularizer, cfg.iterations, cfg.tolerance, step=steps.on_axis(step), group_size=cfg.block
    )
    hit = np.flatnonzero(errors <= cfg.tolerance)
    if res.rel_error[0] < 1e-6 or not np.isfinite(res.rel_error[0]) or res.rel_error[0] > 0.5:
        assert float(got.iterations) == (hit[0] if hit.size else -1), (cell, trial, step)


def random_cell(ds, rng):
    """A ``(model, regularizer, d, s, ratio)`` cell of a ratio-layout dataset, drawn by ``rng``."""
    return dict(
        model=str(rng.choice(ds.model.values)),
        regularizer=str(rng.choice(ds.regularizer.values)),
        d=int(rng.choice(ds.d.values)),
        s=int(rng.choice(ds.s.values)),
        ratio=float(rng.choice(ds.ratio.values)),
    )
