"""Time per trial against d, the share spent drawing X, and whether float32 gives the
float64 outcomes, for the scale study (data/scale.toml).

    python benchmarks/scale.py                      # times at d = 1000, 3000, 10000; float32 on d = 3000, s = 10
    python benchmarks/scale.py --quick              # d = 1000 only, 5 trials of the float32 check

Times: one round-0 trial of the scale study per (d, s) — every ratio of data/scale.toml, both
models, l0 and l1, on one X — timed in this process under a worker's settings, against
drawing that X alone. Float32: every probe of the committed data/scale.nc for one cell is
solved again on the same X rounded to float32 (the sweep's float32 mode draws other normals,
so only this isolates the arithmetic); it prints how many outcomes differ and both n50s.
Nothing here is a pass/fail test; results go to docs/performance.md.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import analysis  # noqa: E402
from sweep import config, fanout, kernel, problem  # noqa: E402
from sweep import plan as plan_mod
from sweep.adaptive import by_size  # noqa: E402
from sweep.fit import transition_nested  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def time_trials(cfg, d, s, trials=2):
    ns = plan_mod.sample_sizes(cfg)[(d, s)]
    probs = [kernel.Problem(m, g, n) for m in cfg.models for g in cfg.regularizers for n in ns]
    solve, draw = [], []
    for t in range(trials):
        t0 = time.perf_counter()
        X, w = problem.draw_trial(cfg.seed, (d, s, t), d, s, max(ns))
        t1 = time.perf_counter()
        labels = {m: problem.observe(X, w, m) for m in cfg.models}
        kernel.solve(X, w, labels, probs, cfg.iterations, cfg.tolerance)
        t2 = time.perf_counter()
        draw.append(t1 - t0)
        solve.append(t2 - t0)
    return float(np.median(solve)), float(np.median(draw)), max(ns)


def float32_check(ds, cfg, d, s, trials):
    cell = ds.sel(d=d, s=s)
    print(f"float32 against float64 on the same X, d = {d}, s = {s}, {trials} trials:")
    for m in cfg.models:
        for g in cfg.regularizers:
            n = cell.n.sel(model=m, regularizer=g).values[:trials]
            ok64 = cell.success.sel(model=m, regularizer=g).values[:trials]
            ok32 = np.full_like(ok64, np.nan)
            for t in range(n.shape[0]):
                ns = n[t][np.isfinite(n[t])].astype(int)
                if not ns.size:
                    continue
                X, w = problem.draw_trial(cfg.seed, (d, s, t), d, s, int(ns.max()))
                X32, w32 = X.astype(np.float32), w.astype(np.float32)
                labels = {m: problem.observe(X32, w32, m)}
                res = kernel.solve(
                    X32, w32, labels, [kernel.Problem(m, g, int(k)) for k in ns], cfg.iterations, cfg.tolerance
                )
                ok32[t, : ns.size] = res.rel_error <= cfg.tolerance
            ran = np.isfinite(ok64) & np.isfinite(ok32)
            differ = int((ok64[ran] != ok32[ran]).sum())
            fits = [transition_nested(*by_size(n, ok)) for ok in (ok64, ok32)]
            text = [f"{float(f['n50']):.1f} [{float(f['n50_lower']):.1f}, {float(f['n50_upper']):.1f}]" for f in fits]
            print(f"  {m:>6} {g}: {differ} of {int(ran.sum())} probes differ; n50 float64 {text[0]}, float32 {text[1]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    fanout.prepare_process()
    cfg = config.load(ROOT / "data" / "scale.toml")
    kernel.warm_up("float64")
    kernel.warm_up("float32")
    dims = [1000] if args.quick else list(cfg.d)
    print(
        f"one round-0 trial (every ratio, both models, l0 and l1, cap {cfg.iterations}), median of 2; drawing X alone:"
    )
    for d in dims:
        for s in cfg.s:
            total, draw, n_max = time_trials(cfg, d, s)
            print(
                f"  d = {d:>5}, s = {s:>2}, n_max = {n_max:>4}: {total:6.2f} s per trial, "
                f"drawing X {draw:.3f} s ({100 * draw / total:.1f}%)"
            )
    path = ROOT / "data" / "scale.nc"
    if path.exists():
        float32_check(analysis.open_sweep(path), cfg, 3000, 10, 5 if args.quick else cfg.trials)


if __name__ == "__main__":
    main()
