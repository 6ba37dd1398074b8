"""Adaptive mode against the paper's 12-ratio grid, on the same trials, in one run.

    python benchmarks/adaptive.py                 # d = 1000, s = 20, up to 300 trials, 3 runs
    python benchmarks/adaptive.py --quick         # d = 200, s = 4, 60 trials, 1 run (a smoke run)

Both sweeps run through ``sweep.runner.run`` on a LocalCluster of one worker process, on the
same seed, so trial ``t`` has the same ``X`` in both. Per run and per (model, regularizer)
it prints the wall time of each sweep, the PGD problem-iterations it spent, ``n50`` and the
half-width of its nested 95% interval, and the efficiency ratio

    (adaptive half-width^2 x adaptive wall time) / (grid half-width^2 x grid wall time)

(the project's target: at most 0.5; an interval's squared half-width falls as 1/trials, so
this compares the time each needs for the same precision). It also says where the time
goes: the share of problem-iterations spent on sample sizes within 25% of ``n50``.
Nothing here is a pass/fail test; results go to docs/performance.md.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import analysis  # noqa: E402
from sweep import config, runner  # noqa: E402

GRID = """
name = "bench-{mode}"
seed = {seed}
trials = {trials}
iterations = 300
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0", "l1"]
traces = 0
mode = "{mode}"
[grid]
d = [{d}]
s = [{s}]
ratio = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0]
"""
ADAPTIVE = """
[adaptive]
first_trials = 20
round_trials = 20
precision = 0.02
"""


def run(mode, seed, d, s, trials, folder):
    text = GRID.format(mode=mode, seed=seed, trials=trials, d=d, s=s) + (ADAPTIVE if mode == "adaptive" else "")
    out = Path(folder) / f"{mode}-{seed}.nc"
    t0 = time.perf_counter()
    runner.run(
        config.loads(text),
        out,
        workers=1,
        progress=False,
        dashboard_address="127.0.0.1:0",
        in_process=False,
        log=lambda m: None,
    )
    wall = time.perf_counter() - t0
    return analysis.open_sweep(out), wall


def spend(ds, fit):
    """Problem-iterations in all, and the share on sizes within 25% of each cell's n50."""
    total, near = 0.0, 0.0
    n = ds.n if "probe" in ds.dims else ds.n.broadcast_like(ds.iterations_run)
    for m in ds.model.values:
        for g in ds.regularizer.values:
            it = ds.iterations_run.sel(model=m, regularizer=g)
            nn = n.sel(model=m, regularizer=g)
            n50 = float(fit.n50.sel(model=m, regularizer=g).squeeze())
            close = np.abs(nn / n50 - 1) <= 0.25
            total += float(it.sum())
            near += float(it.where(close).sum())
    return total, near / total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs", type=int, default=None)
    args = p.parse_args()
    d, s, trials, runs = (200, 4, 60, 1) if args.quick else (1000, 20, 300, 3)
    runs = args.runs or runs
    print(f"d = {d}, s = {s}, up to {trials} trials, 1 worker, cap 300, tolerance 1e-4")
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        for k in range(runs):
            seed = 2017 + k
            rows = {}
            for mode in ("grid", "adaptive"):
                ds, wall = run(mode, seed, d, s, trials, folder)
                fit = analysis.transitions(ds)
                its, near = spend(ds, fit)
                rows[mode] = (ds, wall, fit)
                print(
                    f"run {k + 1} (seed {seed}) {mode:>8}: {wall:7.1f} s, {its:.3g} problem-iterations, "
                    f"{100 * near:.0f}% of them within 25% of n50"
                )
            for m in ("relu", "linear"):
                for g in ("l0", "l1"):
                    line, eff = [], []
                    for mode in ("grid", "adaptive"):
                        ds, wall, fit = rows[mode]
                        f = fit.sel(model=m, regularizer=g).squeeze()
                        half = float(f.n50_upper - f.n50_lower) / 2
                        used = int(
                            ds.success.sel(model=m, regularizer=g)
                            .notnull()
                            .any([dim for dim in ("ratio", "probe") if dim in ds.dims])
                            .sum()
                        )
                        line.append(f"{mode} n50 {float(f.n50):6.1f} ± {half:5.1f} ({used} trials)")
                        eff.append(half**2 * wall)
                    ratio = eff[1] / eff[0]
                    ratios.append(ratio)
                    print(f"    {m:>6} {g}: " + "; ".join(line) + f"; efficiency ratio {ratio:.2f}")
    print(
        f"efficiency ratio (target <= 0.5): median {np.median(ratios):.2f}, "
        f"geometric mean {np.exp(np.mean(np.log(ratios))):.2f}, range {min(ratios):.2f}-{max(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
