"""Many PGD problems on one design matrix, advanced together.

A trial of the sweep is one ``X`` and one ``w*`` shared by every sample size (nested
prefixes ``X[:n]``), both observation models and every constraint set. Each such problem
is one column of ``W``; one iteration is two matrix products for all live columns, and a
problem leaves the live set once it has succeeded, diverged or stalled (DESIGN.md §6).
Results equal :func:`sweep.pgd.pgd` run problem by problem (``tests/sweep/test_kernel.py``).
"""

from dataclasses import dataclass

import numpy as np

from . import projections

DIVERGE_AT = 1e8  # relative error; far beyond any recovery, still far from overflow
# Measured on 3920 problems (d = 100..2000, l0 and l1, both models): with the geometric bound
# alone (streak 8 or 15) early stopping changed no `iterations`, hence no `success`, against
# running to the cap. A rule "no new best error for 60 iterations" cut 5 of them: ReLU PGD
# can wander to 20x its best error for 80 iterations and still recover, so there is no such
# rule. tests/sweep/test_kernel.py pins one of those problems.
STALL_STREAK = 15  # iterations the geometric bound must hold before a problem is stalled
PATH_MARGIN = 0.5  # stalled when the remaining path is under this share of the distance to go
SPARSE_FRACTION = 0.5  # below this share of nonzero rows in W, X @ W gathers those rows
MIN_BLOCK_ROWS = 128  # row blocks of X^T R are merged up to this many rows (fewer, wider products)


@dataclass
class Problem:
    """One PGD run on the first ``n`` rows of a trial's design."""

    model: str
    regularizer: str
    n: int


@dataclass
class KernelResult:
    """Per-problem outcomes, in the order the problems were given.

    Attributes
    ----------
    rel_error : (P,) float64
        ``||w_T - w*|| / ||w*||`` where the problem stopped; ``inf`` if it diverged.
    iterations : (P,) int64
        First iteration with ``rel_error <= tolerance``; -1 if never.
    slope : (P,) float64
        Least-squares slope of ``log10`` of the relative error against ``t`` over
        ``t = 0 .. T``, ``T`` the first iteration at tolerance or the last one run.
    support_recovered, diverged, stalled : (P,) bool
    iterations_run : (P,) int64
    trace : (P, iterations + 1) float64
        Relative error per iteration; NaN after the problem stopped.
    """

    rel_error: np.ndarray
    iterations: np.ndarray
    slope: np.ndarray
    support_recovered: np.ndarray
    diverged: np.ndarray
    stalled: np.ndarray
    iterations_run: np.ndarray
    trace: np.ndarray


def solve(X, w_star, labels, problems, iterations, tolerance, stop_early=True):
    """Run PGD from ``w_0 = 0`` for every problem on prefixes of ``X``.

    Parameters
    ----------
    X : (n_max, d) array
        The trial's design; problem ``p`` uses ``X[:p.n]``.
    w_star : (d,) array
    labels : dict
        ``model -> (n_max,) labels`` computed from this ``X`` and ``w_star``.
    problems : sequence of Problem
    iterations : int
        Iteration cap.
    tolerance : float
        Success threshold on the relative error.
    stop_early : bool
        Stop a problem once it is at tolerance or has stalled (a sweep); without it only
        divergence stops a problem (Figure 1 draws full curves).

    Returns
    -------
    KernelResult
    """
    P = len(problems)
    # ReLU columns first: the live set stays ordered, so they remain a leading slice.
    order = sorted(range(P), key=lambda p: (problems[p].model != "relu", p))
    probs = [problems[p] for p in order]
    dtype = X.dtype
    n_max = max(p.n for p in probs)
    ns = np.array([p.n for p in probs])
    regs = np.array([p.regularizer for p in probs])
    radius = np.array([projections.get(p.regularizer).regularizer(w_star) for p in probs], dtype=np.float64)
    is_relu = np.array([p.model == "relu" for p in probs])
    Y = np.zeros((n_max, P), dtype=dtype)
    scale = np.zeros((n_max, P), dtype=dtype)  # 1/n on the problem's rows, 0 below them
    for j, p in enumerate(probs):
        Y[: p.n, j] = labels[p.model][: p.n]
        scale[: p.n, j] = 1.0 / p.n
    norm_star = float(np.linalg.norm(w_star))
    support = np.flatnonzero(w_star)

    out = KernelResult(
        rel_error=np.full(P, np.nan),
        iterations=np.full(P, -1, dtype=np.int64),
        slope=np.full(P, np.nan),
        support_recovered=np.zeros(P, dtype=bool),
        diverged=np.zeros(P, dtype=bool),
        stalled=np.zeros(P, dtype=bool),
        iterations_run=np.zeros(P, dtype=np.int64),
        trace=np.full((P, iterations + 1), np.nan),
    )
    out.trace[:, 0] = 1.0  # w_0 = 0

    live = np.arange(P)
    groups = [(reg, regs == reg) for reg in dict.fromkeys(regs)]  # constraint set -> live columns
    W = np.zeros((X.shape[1], P), dtype=dtype)
    prev_step = np.full(P, np.nan)
    streak = np.zeros(P, dtype=np.int64)
    mu0 = np.where(is_relu, 2.0, 1.0).astype(dtype)  # mu_0 = 2 for ReLU, then 1
    # what depends only on the live set is recomputed when it shrinks, not every iteration
    k, n_hi, blocks = _live_layout(ns, is_relu)
    with np.errstate(all="ignore"):
        for t in range(iterations):
            Z = _design_times(X[:n_hi], W)
            R = Z - Y[:n_hi]
            if k:
                Zr = Z[:, :k]
                R[:, :k] = (np.maximum(Zr, 0) - Y[:n_hi, :k]) * (1 + np.sign(Zr))
            R *= scale[:n_hi]
            G = _design_t_times(X, R, blocks)
            V = W - mu0 * G if t == 0 else W - G
            for reg, cols in groups:
                if cols.all():
                    V = projections.get(reg).project(V, radius[live])
                elif cols.any():
                    V[:, cols] = projections.get(reg).project(V[:, cols], radius[live][cols])
            step = np.linalg.norm(V - W, axis=0).astype(np.float64)
            W = V
            err = np.linalg.norm(W - w_star[:, None], axis=0).astype(np.float64) / norm_star

            diverged = ~np.isfinite(err) | (err > DIVERGE_AT)
            err = np.where(diverged, np.inf, err)
            out.trace[live, t + 1] = err
            first = (err <= tolerance) & (out.iterations[live] < 0)
            out.iterations[live[first]] = t + 1
            stop = diverged | (t + 1 == iterations)
            if stop_early:
                stop |= err <= tolerance
                stalled = _stalled(err - tolerance, step, prev_step[live], streak, live) & ~stop
                out.stalled[live] = stalled
                stop |= stalled
            prev_step[live] = step
            if not stop.any():
                continue
            done = live[stop]
            out.rel_error[done] = err[stop]
            out.diverged[done] = diverged[stop]
            out.iterations_run[done] = t + 1
            out.support_recovered[done] = _top_support_is(W[:, stop], support) & ~diverged[stop]
            keep = ~stop
            live, W, Y, scale = live[keep], W[:, keep], Y[:, keep], scale[:, keep]
            groups = [(reg, cols[keep]) for reg, cols in groups]
            if live.size == 0:
                break
            k, n_hi, blocks = _live_layout(ns[live], is_relu[live])

    for j in range(P):
        out.slope[j] = _slope(out.trace[j], out.iterations[j], out.iterations_run[j])
    inverse = np.argsort(order)  # back to the caller's order
    for name, value in vars(out).items():
        setattr(out, name, value[inverse])
    return out


def _design_times(X, W):
    """``X @ W`` reading only the rows of ``W`` that are nonzero in some column.

    After an l0 projection each column has ``s`` nonzeros, so this costs ``n |U|`` per
    column (``U`` the union of supports) rather than ``n d``.
    """
    rows = np.flatnonzero(W.any(axis=1))
    if rows.size == 0:
        return np.zeros((X.shape[0], W.shape[1]), dtype=X.dtype)
    if rows.size > SPARSE_FRACTION * W.shape[0]:
        return X @ W
    return X[:, rows] @ W[rows]


def _live_layout(n, is_relu):
    """For the live problems: how many ReLU columns lead, the rows any of them uses, and
    the row blocks of ``X^T R``.

    Nested problems use prefixes of one ``X``: the rows between consecutive sample sizes
    (merged up to ``MIN_BLOCK_ROWS``) are multiplied only into the columns that use them,
    so ``X^T R`` costs about ``d * sum_j n[j]`` rather than ``d * n_max * P``.
    """
    cuts, last = [], 0
    for c in np.unique(n):
        if c - last >= MIN_BLOCK_ROWS or c == n.max():
            cuts.append(int(c))
            last = c
    blocks, lo = [], 0
    for hi in cuts:
        cols = n > lo  # columns that use any row of this block; R is zero below each n
        blocks.append((lo, hi, None if cols.all() else cols))
        lo = hi
    return int(np.count_nonzero(is_relu)), int(n.max()), blocks


def _design_t_times(X, R, blocks):
    """``X[:n_max].T @ R`` block by block (see :func:`_live_layout`)."""
    G = np.zeros((X.shape[1], R.shape[1]), dtype=R.dtype)
    for lo, hi, cols in blocks:
        if cols is None:
            G += X[lo:hi].T @ R[lo:hi]
        else:
            G[:, cols] += X[lo:hi].T @ R[lo:hi, cols]
    return G


def _stalled(to_go, step, prev_step, streak, live):
    """Problems that can no longer reach the tolerance (``to_go``: error minus tolerance).

    Two signs: an exact fixed point (the step is 0); or steps shrinking geometrically
    (``rho = step_t / step_{t-1} < 0.99``) whose summed remaining length
    ``step * rho / (1 - rho)`` is under ``PATH_MARGIN`` times the distance still to go, for
    ``STALL_STREAK`` iterations in a row: PGD is converging to a point other than ``w*``.
    A problem converging to ``w*`` has a remaining path at least its error, so the bound
    never holds for it while its steps stay geometric.
    """
    rho = step / prev_step
    bound = (rho < 0.99) & (step * rho / (1 - rho) < PATH_MARGIN * to_go)
    streak[live] = np.where(bound, streak[live] + 1, 0)
    return (step == 0) | (streak[live] >= STALL_STREAK)


def _top_support_is(W, support):
    """Whether the ``s`` largest magnitudes of each column sit exactly on ``support``."""
    s = support.size
    top = np.sort(np.argpartition(-np.abs(W), s - 1, axis=0)[:s], axis=0)
    return np.all(top == support[:, None], axis=0)


def _slope(trace, first_hit, last):
    """Least-squares slope of ``log10 trace[t]`` over ``t = 0 .. T`` (finite entries)."""
    end = first_hit if first_hit >= 0 else last
    t = np.arange(end + 1)
    e = trace[: end + 1]
    ok = np.isfinite(e) & (e > 0)
    if ok.sum() < 2:
        return np.nan
    return float(np.polyfit(t[ok], np.log10(e[ok]), 1)[0])
