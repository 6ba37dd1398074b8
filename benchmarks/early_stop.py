"""Does early stopping change any outcome? Every problem solved twice, with and without the
stall rule, at each step size; prints the problems whose ``iterations`` (first iteration at
tolerance, hence ``success``) differ, and the share of iterations saved.

    python benchmarks/early_stop.py [--steps 1 0.5 0.25 normalized] [--seeds 5 9] [--trials 6]

The rule must change nothing: ``docs/performance.md`` records each run.
"""

import argparse
import math
import time

import numpy as np

from sweep import kernel, problem, steps, theory

CELLS = ((100, 3), (200, 5), (500, 10), (1000, 20))
RATIOS = (0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0)  # n / n0_l1: both sides of every transition


def run(steps, seeds, trials, cap, tolerance=1e-4):
    changed, total, saved, full_its = [], 0, 0, 0
    for seed in seeds:
        for d, s in CELLS:
            delta = theory.n0_l1(s, d)
            ns = [math.ceil(r * delta) for r in RATIOS]
            for trial in range(trials):
                X, w = problem.draw_trial(seed, (d, s, trial), d, s, max(ns))
                labels = {m: problem.observe(X, w, m) for m in ("relu", "linear")}
                probs = [
                    kernel.Problem(m, g, n, mu)
                    for m in ("relu", "linear")
                    for g in ("l0", "l1")
                    for mu in steps
                    for n in ns
                ]
                early = kernel.solve(X, w, labels, probs, cap, tolerance)
                full = kernel.solve(X, w, labels, probs, cap, tolerance, stop_early=False)
                total += len(probs)
                saved += int(full.iterations_run.sum() - early.iterations_run.sum())
                full_its += int(full.iterations_run.sum())
                for j in np.flatnonzero(early.iterations != full.iterations):
                    p = probs[j]
                    changed.append((seed, d, s, trial, p, int(early.iterations_run[j]), int(full.iterations[j])))
    return changed, total, saved / max(full_its, 1)


def _step(text):
    """A fixed step or a step rule's name (``normalized``)."""
    return steps.step_of(text if text in steps.RULES else float(text))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=_step, nargs="+", default=[1.0, 0.5, 0.25], help="numbers or step rules")
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 9])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--cap", type=int, default=2000)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    changed, total, share = run(args.steps, args.seeds, args.trials, args.cap)
    for seed, d, s, trial, p, stopped, hit in changed:
        print(
            f"changed: seed {seed}, d {d}, s {s}, trial {trial}, {p}: stopped at {stopped}, reaches tolerance at {hit}"
        )
    print(
        f"steps {args.steps}, seeds {args.seeds}, {args.trials} trials per (d, s), cap {args.cap}: "
        f"{len(changed)} of {total} problems changed `iterations`; early stopping saved {share:.0%} of the "
        f"iterations ({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
