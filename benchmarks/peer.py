"""PGD as a researcher would write it today — in JAX, jit-compiled, batched over a trial's
problems — against the sweep's kernel, on the same X, w* and labels.

    pip install ".[peer]"
    python benchmarks/peer.py                 # d = 1000 and 5000, 5 trials each
    python benchmarks/peer.py --sets l0       # hard thresholding alone
    python benchmarks/peer.py --quick         # d = 1000, 2 trials

The peer: every problem of a trial (both models, l0 and l1, 10 sample sizes 0.5-5 n0 on
nested prefixes X[:n]) advances together in one ``jax.lax.while_loop`` of batched matrix
products, masked rows past each problem's ``n``, the paper's steps (``mu_0`` = 2 for ReLU, 1
for linear, then 1), until every problem has reached the tolerance or diverged, or the cap.
float64, as the kernel. It runs on whatever device JAX picks (a GPU if it finds one) and
says which. Printed per d: time per trial of each (the peer after its compilation, which is
timed apart), their ratio, and how many success flags agree. Nothing here is a test; the
numbers go to benchmarks/README.md and docs/performance.md.
"""

import argparse
import functools
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweep import kernel, problem, projections  # noqa: E402

MODELS, SETS = ("relu", "linear"), ("l0", "l1")
TOL, CAP, DIVERGE = 1e-4, 200, 1e8


def _jax():
    try:
        import jax
    except ImportError:
        raise SystemExit('benchmarks/peer.py needs JAX: pip install ".[peer]"') from None
    jax.config.update("jax_enable_x64", True)
    return jax


@functools.cache
def peer(s):
    """The jit-compiled batched PGD for sparsity ``s`` (top-k needs it static)."""
    jax = _jax()
    jnp = jax.numpy

    def project_l0(v):
        keep = jax.lax.top_k(jnp.abs(v), s)[1]
        return jnp.zeros_like(v).at[keep].set(v[keep])

    def project_l1(v, radius):  # Duchi et al. 2008, by sorting
        a = jnp.abs(v)
        u = -jnp.sort(-a)
        css = jnp.cumsum(u) - radius
        k = jnp.arange(1, v.size + 1)
        rho = jnp.sum(u * k > css)
        theta = jnp.maximum(css[rho - 1] / rho, 0.0)
        inside = jnp.sum(a) <= radius
        return jnp.where(inside, v, jnp.sign(v) * jnp.maximum(a - theta, 0.0))

    @jax.jit
    def run(X, Y, ns, relu, l1, radius, w_star):
        mask = jnp.arange(X.shape[0])[None, :] < ns[:, None]
        norm = jnp.linalg.norm(w_star)

        def gradient(W):
            Z = W @ X.T  # (P, n_max): every problem's <x_i, w>
            R = jnp.where(relu[:, None], (jnp.maximum(Z, 0) - Y) * (1 + jnp.sign(Z)), Z - Y)
            return (jnp.where(mask, R, 0.0) @ X) / ns[:, None]

        def step(state):
            W, t, done, hit = state
            mu = jnp.where(t == 0, jnp.where(relu, 2.0, 1.0), 1.0)
            V = W - mu[:, None] * gradient(W)
            W_new = jnp.where(l1[:, None], jax.vmap(project_l1)(V, radius), jax.vmap(project_l0)(V))
            err = jnp.linalg.norm(W_new - w_star, axis=1) / norm
            reached = (err <= TOL) & ~done
            hit = jnp.where(reached, t + 1, hit)
            done = done | (err <= TOL) | ~(err <= DIVERGE)
            return jnp.where(done[:, None] & ~reached[:, None], W, W_new), t + 1, done, hit

        def going(state):
            _, t, done, _ = state
            return (t < CAP) & ~jnp.all(done)

        P = Y.shape[0]
        start = (jnp.zeros((P, X.shape[1])), 0, jnp.zeros(P, bool), jnp.full(P, -1))
        return jax.lax.while_loop(going, step, start)[3]

    return run


def trial_data(d, s, t, sets=SETS, seed=1):
    n0 = 2 * s * math.log(d / s)
    ns = [math.ceil(r * n0) for r in np.linspace(0.5, 5.0, 10)]
    X, w = problem.draw_trial(seed, (d, s, t), d, s, max(ns))
    labels = {m: problem.observe(X, w, m) for m in MODELS}
    probs = [kernel.Problem(m, g, n) for m in MODELS for g in sets for n in ns]
    return X, w, labels, probs


def run_peer(X, w, labels, probs):
    jax = _jax()
    jnp = jax.numpy
    Y = np.zeros((len(probs), X.shape[0]))
    for j, p in enumerate(probs):
        Y[j, : p.n] = labels[p.model][: p.n]
    args = (
        jnp.asarray(X),
        jnp.asarray(Y),
        jnp.asarray([p.n for p in probs], dtype=jnp.float64),
        jnp.asarray([p.model == "relu" for p in probs]),
        jnp.asarray([p.regularizer == "l1" for p in probs]),
        jnp.asarray([projections.get(p.regularizer).regularizer(w) for p in probs]),
        jnp.asarray(w),
    )
    jax.block_until_ready(args)
    t0 = time.perf_counter()
    hit = np.asarray(jax.block_until_ready(peer(int(np.count_nonzero(w)))(*args)))
    return hit, time.perf_counter() - t0


def compare(d, s, trials, sets=SETS):
    kernel.warm_up()
    t_kernel = t_peer = compile_time = 0.0
    agree = total = 0
    for t in range(trials + 1):  # trial 0 compiles the peer; it is timed apart
        X, w, labels, probs = trial_data(d, s, t, sets)
        t0 = time.perf_counter()
        res = kernel.solve(X, w, labels, probs, CAP, TOL)
        elapsed = time.perf_counter() - t0
        hit, peer_time = run_peer(X, w, labels, probs)
        if t == 0:
            compile_time = peer_time
            continue
        t_kernel += elapsed
        t_peer += peer_time
        agree += int(np.sum((hit >= 0) == (res.rel_error <= TOL)))
        total += len(probs)
    return t_kernel / trials, t_peer / trials, compile_time, agree, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 1000 only, 2 trials")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="constraint sets (default both)")
    args = parser.parse_args(argv)
    jax = _jax()
    device = jax.devices()[0]
    print(f"peer: JAX {jax.__version__} on {device.platform} ({device.device_kind}); kernel: numba on the CPU")
    cells = [(1000, 20)] if args.quick else [(1000, 20), (5000, 100)]
    trials = 2 if args.quick else args.trials
    sets = tuple(args.sets)
    what = f"both models, {' and '.join(sets)}, 10 sizes"
    print(f"{len(MODELS) * len(sets) * 10} problems a trial ({what}), cap {CAP}, step 1")
    for d, s in cells:
        k, p, c, agree, total = compare(d, s, trials, sets)
        print(
            f"d = {d}, s = {s}: kernel {k * 1e3:.1f} ms/trial, peer {p * 1e3:.1f} ms/trial "
            f"(its compilation {c:.1f} s apart): peer / kernel = {p / k:.1f}x; "
            f"success flags agree in {agree} of {total}"
        )


if __name__ == "__main__":
    main()
