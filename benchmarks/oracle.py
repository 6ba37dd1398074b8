"""What the convex limit costs: the convex programs of a trial against PGD on the same trial.

    python benchmarks/oracle.py [--config data/step-settle.toml] [--trials 2]

For each trial of a config's first ``(d, s)`` at round 0's sample sizes, times PGD (every
model, constraint set, step and n: what ``engine.run_task`` runs, without the oracle) and
the oracle (``engine.convex_limits``: the program of every convex set, once per model, by
bisection over the sizes) on the same design, and prints the oracle's time over PGD's, and
over PGD's failures alone (the problems that ran to the cap). The target: the oracle costs
at most what PGD's failures cost at the same n. ``docs/performance.md`` records each run.
"""

import argparse
import dataclasses
import time

import numpy as np

from sweep import config, engine, kernel, problem
from sweep import plan as plan_mod


def run(path, trials):
    cfg = config.load(path)
    cfg = dataclasses.replace(cfg, convex_limit=True)
    d, s = cfg.d[0], cfg.s[0]
    ns = plan_mod.sample_sizes(cfg)[(d, s)]
    for trial in range(trials):
        X, w = problem.draw_trial(cfg.seed, (d, s, trial), d, s, max(ns), cfg.signal, np.dtype(cfg.dtype))
        labels = {m: problem.observe(X, w, m) for m in cfg.models}
        probs = [
            kernel.Problem(m, g, n, mu)
            for m in cfg.models
            for g in cfg.regularizers
            for mu in cfg.step_choices
            for n in ns
        ]
        t0 = time.perf_counter()
        res = kernel.solve(X, w, labels, probs, cfg.iterations, cfg.tolerance, group_size=cfg.block)
        pgd = time.perf_counter() - t0
        failed = res.iterations < 0
        share = float((res.iterations_run * np.array([p.n for p in probs]))[failed].sum())
        share /= float((res.iterations_run * np.array([p.n for p in probs])).sum())
        sizes = {(i, j): ns for i in range(len(cfg.models)) for j in range(len(cfg.regularizers))}
        t0 = time.perf_counter()
        limits = engine.convex_limits(cfg, X, w, labels, sizes)
        convex = time.perf_counter() - t0
        first = {cfg.models[i]: min((n for n, ok in v[0].items() if ok), default=None) for (i, _), v in limits.items()}
        print(
            f"d = {d}, s = {s}, trial {trial}: PGD {pgd:.1f} s ({len(probs)} problems, cap {cfg.iterations}, "
            f"{failed.sum()} failures), oracle {convex:.2f} s; oracle / PGD = {convex / pgd:.3f}, "
            f"oracle / PGD's failures ≈ {convex / (pgd * share):.3f}; the program's first success: {first}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="data/step-settle.toml")
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()
    run(args.config, args.trials)


if __name__ == "__main__":
    main()
