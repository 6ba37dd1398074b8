"""The compiled iteration loop of :func:`sweep.kernel.solve` (numba).

Why compiled: past the first dozen iterations only a few problems of a trial are still
running (ReLU just above the threshold runs to the cap), so each iteration is a handful of
small products, and numpy's per-call overhead (~40 calls an iteration) cost more than the
arithmetic. Here one call runs every iteration of every problem, and three
things numpy cannot do cheaply come free:

- ``X^T r`` skips the rows where ``r`` is zero: for ReLU every row with ``<x_i, w> < 0``
  (the factor ``1 + sgn``), about half of them.
- Rows of ``X`` are visited in blocks of :data:`ROW_BLOCK`; every live problem takes a block
  while it is in cache, so ``X`` is streamed from memory once per iteration for all of them.
  Two problems that use every row of a block (linear ones) take it together, each row
  loaded once for both: reading the block from L2 is what bounds this part.
- ``z = X w`` reads only the rows of ``X^T`` at the nonzeros of ``w`` (``s`` of them after an
  l0 projection), contiguously: gathering ``s`` scattered entries from every row of ``X``
  instead costs a cache miss each.
- An l0 problem needs only the ``s`` entries of ``v = w - grad`` that survive the cut,
  exactly. It sums its gradient from an int16 copy of ``X`` (a quarter of float64's
  bytes, half of float32's) in float32, in whatever order and with whatever fused
  multiply-adds the compiler likes, rules out every entry whose rigorous error bound keeps
  it under the cut, and sums the few others in ``X``'s dtype in the order the full
  gradient would (:func:`_screen`): the same bits, in less time.

Each problem's arithmetic depends on its own data alone (its rows, in a fixed order and
grouping), never on which other problems are live, so results do not depend on how
problems or trials are batched. :mod:`sweep.pgd` is the plain reference it is tested
against (``tests/sweep/test_kernel.py``).
"""

import math
from collections import namedtuple
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from . import _cache

_cache.install()  # compiled functions cached in the user's folder, not site-packages

# compiled projections, by code (sweep.kernel maps names to codes)
L0, L1, NONE, GL0, GL1, RANK, NUCLEAR = 0, 1, 2, 3, 4, 5, 6
FIXED, NORMALIZED = 0, 1  # step rules, by code: a fixed step[p], or sweep.steps.RULES' twins
# sweep.steps' constants, restated here because this module imports nothing of the package (but its cache's place)
# (tests/sweep/test_kernel.py holds them equal)
PAPER_STEP = 1.0
SAFEGUARD_C = 0.01
SHRINK = 2.0 * (1 - SAFEGUARD_C)
MAX_SHRINKS = 64
NARROW_OVER = 16  # l0 candidates beyond s + this are narrowed first (_narrow)
RANK_MAX = 100  # l0 cuts among more candidates than this use a heap (_cut_among)
QUANT = 32767  # the screen's copy of X: X in int16 steps of max|X| / QUANT (:func:`quantize`)
TILE = 8  # transposes go tile by tile (:func:`transpose`)
ROW_BLOCK = 32  # 32 rows x d = 1000 float64 = 256 KiB: stays in L2 while the live problems use it

# Typed constants are written one way: ``a.dtype.type(c)`` for a float in an array's dtype (a
# Python literal would promote float32 to float64) and ``np.int64(c)`` for an integer that
# is passed on (a bare literal is typed as a literal, and numba compiles a copy of each
# callee for it).
_JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)
# The screen's sums need only their error bound, which holds in any order and with fused
# multiply-adds (fewer roundings): LLVM may reorder and fuse them (docs/performance.md).
# Nothing whose bits are results is compiled with these flags. They are functions of their own
# (_screen_sum*), not _accumulate compiled twice: numba's cache keys a function by its code,
# not its flags, so two compilations of one function could load each other's machine code.
_JIT_SCREEN = dict(_JIT, fastmath={"contract", "reassoc"})


# The arguments of :func:`run`, grouped by role so a call names five things. numba compiles
# each as a tuple of its fields' types; the names (and the hints) are for the reader.
class Design(NamedTuple):
    """The trial: ``X (n_max, d)`` and ``XT = X^T`` (C-contiguous), the screen's int16
    copy ``XQ`` with ``x_max = max|X|`` and its step ``x_step`` (:func:`quantize`), whether l0
    problems are screened, and ``w_star (d,)``, all floats in ``X``'s dtype; and the group size
    of the group sets (:data:`GL0`, :data:`GL1`)."""

    X: np.ndarray
    XT: np.ndarray
    XQ: np.ndarray
    x_max: float
    x_step: float
    screen: bool
    w_star: np.ndarray
    group_size: np.int64


class Problems(NamedTuple):
    """Per problem ``p``: labels ``Y[p] (n_max,)``, sample size ``ns[p]`` (it uses
    ``X[:ns[p]]``), the model (``relu[p]``), the projection's code ``proj[p]`` (:data:`L0`...),
    the radius ``R(w*)``, ``scale[p] = 1 / ns[p]`` and the step ``step[p]`` (``mu_t``, t >= 1),
    the last three in ``X``'s dtype, and the step rule's code ``rule[p]`` (:data:`FIXED`: the
    step is ``step[p]``; :data:`NORMALIZED`: :func:`_normalized`)."""

    Y: np.ndarray
    ns: np.ndarray
    relu: np.ndarray
    proj: np.ndarray
    radius: np.ndarray
    scale: np.ndarray
    step: np.ndarray
    rule: np.ndarray


class Rules(NamedTuple):
    """When a problem stops: the cap, success (relative error <= ``tolerance``), and
    with ``stop_early`` the stall rule (:func:`_check`); divergence beyond ``diverge_at``."""

    iterations: int
    tolerance: float
    stop_early: bool
    stall_streak: int
    path_margin: float
    diverge_at: float


class Outputs(NamedTuple):
    """Written in place: ``W (P, d)`` in zero, out as the last iterates;
    ``trace (P, iterations + 1)`` in NaN with column 0 set; ``hit`` (first iteration at
    tolerance) in -1; ``rel_error``, ``diverged``, ``stalled``, ``ran`` (iterations run) and
    ``shrinks`` (in zero: the safeguard's shrinks of a step rule, summed over iterations)."""

    W: np.ndarray
    trace: np.ndarray
    hit: np.ndarray
    rel_error: np.ndarray
    diverged: np.ndarray
    stalled: np.ndarray
    ran: np.ndarray
    shrinks: np.ndarray


class Scratch(NamedTuple):
    """Room allocated by the caller, where a task's memory is counted: gradients
    ``G (P, d)`` (``G32 (P, d)`` float32 for screened problems, else empty) and products
    ``Z (P, n_max)``."""

    G: np.ndarray
    G32: np.ndarray
    Z: np.ndarray


Work = namedtuple(
    "Work",
    [
        "V",
        "nz",
        "rows",
        "r",
        "per_block",
        "used",
        "r32",
        "r_l1",
        "heap",
        "cand",
        "exact",
        "supp",
        "k_supp",
        "star",
        "norm_star",
        "hard",
        "screened",
        "prev_step",
        "cuts",
        "streak",
        "need",
        "w_prev",
        "supp_prev",
        "union",
        "move",
        "xu",
    ],
)
Work.__doc__ = """The loop's own state and scratch (:func:`_workspace`)."""


@njit(**_JIT)
def run(design, probs, rules, out, scratch):
    """Run PGD (eq. 3.2) from ``w_0 = 0`` on every problem, writing :class:`Outputs` in place.

    Every iteration takes the live problems through the phases of eq. 3.2, each phase for
    all of them, as :func:`sweep.pgd.pgd` takes one problem through the same update::

        w_{t+1} = P_K(w_t - mu_t grad L(w_t)),  mu_0 = 2 (ReLU) or 1,  mu_t = step[p],  w_0 = 0
        1. gradient   grad L(w_t) = X^T r, r_i from eq. 3.1 with sgn(0) = 0     _gradients
        2. step       v = w_t - mu_t grad L(w_t)                                 _step_and_project
                      (a normalized problem picks mu_t first, and may redo 2-3) _normalized
        3. project    w_{t+1} = P_K(v); ||w_{t+1} - w_t|| and ||w_{t+1} - w*||   (same)
        4. check      tolerance, divergence, stall: the problem leaves            _check
        5. product    z = X w_{t+1} for the next gradient                         _design_times

    Screened l0 problems fuse phases 1-3 in part: their gradient is summed approximately
    (``G32``) and only the entries that can survive the cut are summed exactly
    (:func:`_screen`); the result is the same bits.
    """
    P = out.W.shape[0]
    ws = _workspace(design, probs, out.W, rules)
    live = np.arange(P)
    m = P
    scratch.Z[:] = 0  # z = X w_0 = 0
    one = design.X.dtype.type(1)
    for t in range(rules.iterations):
        _gradients(design, probs, scratch, ws, live, m)  # phase 1
        kept = 0
        for q in range(m):
            p = live[q]
            if t > 0 and probs.rule[p] == NORMALIZED:  # phases 2, 3 at NIHT's step
                step, err = _normalized(design, probs, scratch, ws, out, p, q)
            else:
                # mu_0 = 2 for ReLU (Theorem 3.1), 1 for linear; the problem's own step after
                mu = (one + one if probs.relu[p] else one) if t == 0 else probs.step[p]
                step, err = _step_and_project(design, probs, scratch, ws, out.W, p, q, mu)  # phases 2, 3
            if _check(rules, out, ws, p, t, step, err):  # phase 4
                continue
            live[kept] = p
            kept += 1
            _design_times(design.XT, out.W[p], ws.supp[p], ws.k_supp[p], probs.ns[p], scratch.Z[p])  # phase 5
        m = kept
        if m == 0:
            break


@njit(**_JIT)
def _workspace(design, probs, W, rules):
    """The loop's state: per problem, its residual rows and values block after block (the
    screen recomputes gradient entries in that order), its support, last l0 cut, stall
    streak and the streak that stalls it; and scratch for one problem at a time."""
    P, d = W.shape
    n_max = design.X.shape[0]
    star = np.empty(d, np.int64)  # the nonzeros of w*, increasing
    k_star = np.int64(0)
    norm_star = 0.0
    for j in range(d):
        star[k_star] = j
        k_star += design.w_star[j] != 0
        norm_star += np.float64(design.w_star[j]) ** 2
    hard = np.zeros(P, np.bool_)  # l0 with s < d: hard thresholding, screened
    need = np.empty(P, np.int64)  # the stall streak, in iterations (_check)
    screened = np.zeros(P, np.bool_)
    for p in range(P):
        hard[p] = probs.proj[p] == L0 and int(probs.radius[p]) < d
        # a step rule reads the whole gradient on the support: no screen
        screened[p] = hard[p] and design.screen and probs.rule[p] == FIXED
        # the geometric bound was measured sound at the paper's step only: below it, a
        # problem can wander slowly for hundreds of iterations and still recover (_check)
        need[p] = rules.stall_streak if probs.rule[p] == FIXED and probs.step[p] == 1 else rules.iterations + 1
    return Work(
        V=np.empty(d, design.X.dtype),
        nz=np.empty(d, np.int64),  # the nonzeros of one iterate
        rows=np.empty((P, n_max), np.int64),  # per live problem: its rows with r_i != 0,
        r=np.empty((P, n_max), design.X.dtype),  # their r_i,
        per_block=np.empty((P, (n_max + ROW_BLOCK - 1) // ROW_BLOCK), np.int64),  # how many in each block
        used=np.zeros(P, np.int64),
        r32=np.empty((P, ROW_BLOCK), np.float32),
        r_l1=np.zeros(P),  # sum |r_i|, for the screen's error bound
        heap=np.empty(d, design.X.dtype),
        cand=np.empty(d, np.int64),  # the entries an l0 cut can keep
        exact=np.empty(d, design.X.dtype),  # the gradient at the screen's candidates
        supp=np.empty((P, d), np.int64),  # each iterate's nonzeros, increasing
        k_supp=np.zeros(P, np.int64),
        star=star[:k_star],
        norm_star=math.sqrt(norm_star),
        hard=hard,
        screened=screened,
        prev_step=np.full(P, np.nan),
        cuts=np.full(P, -1.0),  # each problem's last l0 cut: a guess for the next
        streak=np.zeros(P, np.int64),
        need=need,
        w_prev=np.empty(d, design.X.dtype),  # a normalized problem's w_t and its support,
        supp_prev=np.empty(d, np.int64),  # kept while its safeguard may redo the update
        union=np.empty(d, np.int64),
        move=np.empty(d),
        xu=np.empty(n_max),
    )


@njit(inline="always", **_JIT)
def _gradients(design, probs, scratch, ws, live, m):
    """Phase 1: ``G[p] = X^T r`` (screened problems: ``G32[p]``, approximately) for the ``m``
    live problems, ``r`` the residuals of eq. 3.1 (:func:`_residual`).

    Rows are visited in blocks of :data:`ROW_BLOCK` that every live problem uses while the
    block is in cache; two problems that use every row of a block share its loads.
    """
    # every array taken out of its tuple once: inside the loops each access would move its
    # reference count (an atomic add and subtract per use)
    X, XQ, G, G32, Z = design.X, design.XQ, scratch.G, scratch.G32, scratch.Z
    rows, r, r32, used, per_block = ws.rows, ws.r, ws.r32, ws.used, ws.per_block
    screened, r_l1, ns, Y, relu, scale = ws.screened, ws.r_l1, probs.ns, probs.Y, probs.relu, probs.scale
    zero = X.dtype.type(0)
    two = X.dtype.type(2)
    n_hi = 0
    for q in range(m):
        p = live[q]
        if screened[p]:
            G32[p, :] = 0
        else:
            G[p, :] = 0
        n_hi = max(n_hi, ns[p])
        used[q] = 0
        r_l1[q] = 0.0
    for lo in range(0, n_hi, ROW_BLOCK):
        hi = min(lo + ROW_BLOCK, n_hi)
        block = lo // ROW_BLOCK
        pending = pending32 = -1  # a problem using every row of the block, waiting for a partner
        for q in range(m):
            p = live[q]
            if lo >= ns[p]:
                continue
            u = used[q]
            k = _residual(Z[p], Y[p], relu[p], scale[p], zero, two, lo, min(hi, ns[p]), rows[q, u:], r[q, u:])
            per_block[q, block] = k
            used[q] = u + k
            full = k == hi - lo  # every row of the block: can share the loads of X with another
            if screened[p]:
                l1 = 0.0  # a local: r_l1[q] could alias r32, so each add would go through memory
                for a in range(k):
                    r32[q, a] = np.float32(r[q, u + a])
                    l1 += abs(np.float64(r[q, u + a]))
                r_l1[q] += l1
                if not full:
                    _screen_sum(XQ, rows[q, u:], r32[q], k, G32[p])
                elif pending32 < 0:
                    pending32 = q
                else:
                    _screen_sum_pair(XQ, rows[q, u:], r32[pending32], r32[q], k, G32[live[pending32]], G32[p])
                    pending32 = -1
            elif not full:  # its own rows (ReLU, or the end of its sample)
                _accumulate(X, rows[q, u:], r[q, u:], k, G[p])
            elif pending < 0:
                pending = q
            else:  # two problems on the same rows share the loads of X (linear ones, mostly)
                u0 = used[pending] - k
                _accumulate_pair(X, rows[q, u:], r[pending, u0:], r[q, u:], k, G[live[pending]], G[p])
                pending = -1
        if pending >= 0:
            u0 = used[pending] - (hi - lo)
            _accumulate(X, rows[pending, u0:], r[pending, u0:], hi - lo, G[live[pending]])
        if pending32 >= 0:
            u0 = used[pending32] - (hi - lo)
            _screen_sum(XQ, rows[pending32, u0:], r32[pending32], hi - lo, G32[live[pending32]])


@njit(inline="always", **_JIT)
def _step_and_project(design, probs, scratch, ws, W, p, q, mu):
    """Phases 2 and 3 for problem ``p`` (slot ``q`` of the live list): ``v = w - mu grad``,
    then ``w <- P_K(v)``; returns ``||w_{t+1} - w_t||^2`` and ``||w_{t+1} - w*||^2`` (float64)
    and leaves the new support in ``ws.supp[p]``.

    A screened problem computes exactly only the entries of ``v`` that can survive the l0
    cut (:func:`_screen`); when its bound leaves too many, it sums the whole gradient, as an
    unscreened problem does.
    """
    G, d = scratch.G, W.shape[1]
    done = False
    step, err, k_nz = 0.0, 0.0, np.int64(0)
    if ws.screened[p]:
        done, step, err, k_nz, cut = _screen(design, probs, ws, scratch.G32[p], W[p], mu, p, q)
        if done:
            ws.cuts[p] = cut
        else:  # the bound left too many candidates: the whole gradient, as unscreened
            G[p, :] = 0
            u = 0
            for b in range((probs.ns[p] + ROW_BLOCK - 1) // ROW_BLOCK):
                _accumulate(design.X, ws.rows[q, u:], ws.r[q, u:], ws.per_block[q, b], G[p])
                u += ws.per_block[q, b]
    if not done:
        for j in range(d):
            ws.V[j] = W[p, j] - mu * G[p, j]  # phase 2: the gradient step
        if ws.hard[p]:  # phase 3: the projection
            step, err, k_nz, ws.cuts[p] = _hard_threshold(
                ws.V,
                probs.radius[p],
                W[p],
                ws.supp[p],
                ws.k_supp[p],
                design.w_star,
                ws.star,
                ws.heap,
                ws.cand,
                ws.nz,
                ws.cuts[p],
            )
        else:
            step, err, k_nz, ws.cuts[p] = _update(
                ws.V, probs.proj[p], probs.radius[p], W[p], design.w_star, ws.heap, ws.nz, ws.cuts[p], design.group_size
            )
    ws.supp[p, :k_nz] = ws.nz[:k_nz]
    ws.k_supp[p] = k_nz
    return step, err


@njit(**_JIT)
def _normalized(design, probs, scratch, ws, out, p, q):
    """Phases 2 and 3 at the normalized step (:func:`sweep.steps.normalized_update`)::

        Gamma = supp(w_t),  a_i = 1 + sgn(<x_i, w_t>) (ReLU) or 1 (linear)
        mu = ||g_Gamma||^2 / ((1/n) sum_i a_i <x_i, g_Gamma>^2)              (paper's step if flat)
        w_{t+1} = P_K(w_t - mu g)                                            _step_and_project
        while supp(w_{t+1}) != Gamma and mu > (1 - c) ||D||^2 / ((1/n) sum_i a_i <x_i, D>^2),
              D = w_{t+1} - w_t:  mu /= k (1 - c),  redo the update

    Returns what :func:`_step_and_project` does and adds the shrinks to ``out.shrinks[p]``.
    """
    W, G, z, n = out.W, scratch.G[p], scratch.Z[p], probs.ns[p]
    d = W.shape[1]
    dtype = design.X.dtype.type
    k_old = ws.k_supp[p]
    for j in range(d):
        ws.w_prev[j] = W[p, j]
    for a in range(k_old):
        ws.supp_prev[a] = ws.supp[p, a]  # Gamma
        ws.move[a] = np.float64(G[ws.supp[p, a]])  # g_Gamma
    slope = 0.0
    for a in range(k_old):
        slope += ws.move[a] * ws.move[a]
    curve = _curvature(design.XT, z, probs.relu[p], n, ws.supp_prev, k_old, ws.move, ws.xu)
    mu = slope / curve if slope > 0 and curve > 0 else PAPER_STEP
    shrinks = 0
    while True:
        step, err = _step_and_project(design, probs, scratch, ws, W, p, q, dtype(mu))
        k_new = ws.k_supp[p]
        same = k_new == k_old
        for a in range(k_new if same else 0):
            same = same and ws.supp[p, a] == ws.supp_prev[a]
        if same or shrinks == MAX_SHRINKS:
            break
        # omega = (1 - c) ||D||^2 / ((1/n) sum_i a_i <x_i, D>^2) over supp(w_t) | supp(w_{t+1})
        k_union = _merge(ws.supp_prev, k_old, ws.supp[p], k_new, ws.union)
        length = 0.0
        for a in range(k_union):
            j = ws.union[a]
            ws.move[a] = np.float64(W[p, j] - ws.w_prev[j])  # the move in X's dtype, as the reference
            length += ws.move[a] * ws.move[a]
        curve = _curvature(design.XT, z, probs.relu[p], n, ws.union, k_union, ws.move, ws.xu)
        omega = (1 - SAFEGUARD_C) * (length / curve) if length > 0 and curve > 0 else np.nan
        if not mu > omega:  # NaN: no curvature along the move, nothing to object
            break
        mu /= SHRINK
        shrinks += 1
        for j in range(d):  # back to w_t for the shorter step
            W[p, j] = ws.w_prev[j]
        ws.supp[p, :k_old] = ws.supp_prev[:k_old]
        ws.k_supp[p] = k_old
    out.shrinks[p] += shrinks
    return step, err


@njit(**_JIT)
def _curvature(XT, z, relu, n, idx, k, u, xu):
    """``(1/n) sum_i a_i <x_i, u>^2`` for ``u`` given on ``idx[:k]`` (values ``u[:k]``, float64),
    with ``a_i = 1 + sgn(z_i)`` for ReLU and 1 for linear: the local quadratic model's
    curvature along ``u`` (:func:`sweep.steps.curvature_weights`)."""
    xu[:n] = 0.0
    for a in range(k):
        j, v = idx[a], u[a]
        for i in range(n):
            xu[i] += np.float64(XT[j, i]) * v
    total = 0.0
    for i in range(n):
        if relu:
            weight = 0.0 if z[i] < 0 else (1.0 if z[i] == 0 else 2.0)
        else:
            weight = 1.0
        total += weight * xu[i] * xu[i]
    return total / n


@njit(**_JIT)
def _merge(a, ka, b, kb, out):
    """The union of increasing index lists ``a[:ka]`` and ``b[:kb]``, increasing, in
    ``out``; returns its length."""
    i = j = k = 0
    while i < ka or j < kb:
        if j >= kb or (i < ka and a[i] < b[j]):
            out[k] = a[i]
            i += 1
        elif i >= ka or b[j] < a[i]:
            out[k] = b[j]
            j += 1
        else:
            out[k] = a[i]
            i += 1
            j += 1
        k += 1
    return k


@njit(inline="always", **_JIT)
def _check(rules, out, ws, p, t, step2, err2):
    """Phase 4 for problem ``p`` after iteration ``t``: record its relative error, and stop it
    (returns True, with its outputs written) at the cap, on divergence, and with
    ``stop_early`` at tolerance or once it has stalled.

    Stalled: an exact fixed point, or steps shrinking geometrically (``rho = step_t /
    step_{t-1} < 0.99``) whose summed remaining length ``step rho / (1 - rho)`` stays under
    ``path_margin`` times the distance still to go for ``ws.need[p]`` iterations in a row:
    PGD converges to a point other than ``w*``. A problem converging to ``w*`` has a
    remaining path at least its error, so the bound never holds for it while its steps stay
    geometric. That holds at step 1 (``mu_t = 1``), where it was measured; at other steps the
    bound is not used (``ws.need[p]`` is past the cap) and only an exact fixed point stalls:
    hard thresholding converging slowly on a wrong support moves the gradient until an entry
    off the support crosses the cut, after any number of geometric steps, and slow ReLU
    problems wander for hundreds of iterations before they recover. A streak of
    ``stall_streak / mu`` iterations still cut both (``docs/performance.md``;
    ``tests/sweep/test_kernel.py`` pins the cases).
    """
    step, err = math.sqrt(step2), math.sqrt(err2) / ws.norm_star
    bad = not (err <= rules.diverge_at)  # NaN or beyond
    if bad:
        err = np.inf
    out.trace[p, t + 1] = err
    if err <= rules.tolerance and out.hit[p] < 0:
        out.hit[p] = t + 1
    stop = bad or t + 1 == rules.iterations
    if rules.stop_early:
        stop = stop or err <= rules.tolerance
        rho = step / ws.prev_step[p]
        if rho < 0.99 and step * rho / (1 - rho) < rules.path_margin * (err - rules.tolerance):
            ws.streak[p] += 1
        else:
            ws.streak[p] = 0
        out.stalled[p] = (step == 0 or ws.streak[p] >= ws.need[p]) and not stop
        stop = stop or out.stalled[p]
    ws.prev_step[p] = step
    if stop:
        out.rel_error[p] = err
        out.diverged[p] = bad
        out.ran[p] = t + 1
    return stop


@njit(**_JIT)
def slopes(trace, hit, ran, out):
    """``out[p]``: least-squares slope of ``log10 trace[p, t]`` against ``t`` over
    ``t = 0 .. T`` (``T = hit[p]`` if the problem reached tolerance, else ``ran[p]``), left
    out the entries that are not finite and positive; NaN under two points.

    Plain sequential sums in a fixed order: the same bits on every machine (a BLAS dot
    product's order depends on the CPU its kernel was picked for).
    """
    P = trace.shape[0]
    t_ok = np.empty(trace.shape[1])
    y_ok = np.empty(trace.shape[1])
    for p in range(P):
        end = hit[p] if hit[p] >= 0 else ran[p]
        k, sum_t, sum_y = 0, 0.0, 0.0
        for t in range(end + 1):
            e = trace[p, t]
            if e > 0 and e < np.inf:
                t_ok[k], y_ok[k] = t, math.log10(e)
                sum_t += t_ok[k]
                sum_y += y_ok[k]
                k += 1
        if k < 2:
            out[p] = np.nan
            continue
        mean_t, mean_y = sum_t / k, sum_y / k
        cov, var = 0.0, 0.0
        for b in range(k):
            dt = t_ok[b] - mean_t
            cov += dt * (y_ok[b] - mean_y)
            var += dt * dt
        out[p] = cov / var


@njit(**_JIT)
def support_is(W, support, out):
    """``out[p]``: whether the ``s = support.size`` largest ``|W[p, j]|`` sit exactly on
    ``support`` (increasing): every entry there larger than every entry elsewhere; a tie
    across the boundary is not a recovered support."""
    P, d = W.shape
    for p in range(P):
        inside, outside, b = np.inf, 0.0, 0
        for j in range(d):
            a = abs(np.float64(W[p, j]))
            if b < support.size and support[b] == j:
                inside = min(inside, a)
                b += 1
            else:
                outside = max(outside, a)
        out[p] = inside > outside


@njit(**_JIT)
def sparse_times(X, w, support, z):
    """``z = X w`` for ``w`` zero off ``support`` (increasing): each ``z_i`` summed over the
    support in order, from zero. The labels' product (:func:`sweep.problem.observe`): the
    same sums as :func:`_design_times` makes from ``X^T`` in the loop, so ``w = w*`` leaves
    a residual of exactly zero."""
    zero = z.dtype.type(0.0)
    for i in range(X.shape[0]):
        acc = zero
        for j in support:
            acc += X[i, j] * w[j]
        z[i] = acc


@njit(**_JIT)
def transpose(X, XT):
    """``XT = X^T`` (both C-contiguous), in 8 x 8 tiles whose loads and stores stay in
    registers and L1.

    numpy's transposing copy walks ``X`` down its columns, a new page every few rows once
    ``X`` is large (the measurements are in ``docs/performance.md``).
    """
    n, d = X.shape
    for i0 in range(0, n - n % TILE, TILE):
        _stripe(X, XT, i0)
    # the last rows column by column: row by row, each store would fall on its own line of XT
    for j in range(d):
        for i in range(n - n % TILE, n):
            XT[j, i] = X[i, j]


def quantize(X, XQ):
    """``XQ = X / step`` rounded to integers (int16), ``step = max|X| / QUANT``; returns
    ``max |X|`` (exact, as float64) and ``step``. ``X`` is float64 or float32, C-contiguous.

    Each ``|x - step * XQ|`` is at most ``step / 2`` and a few roundings of ``x``
    (:func:`_screen` bounds it by ``0.50001 step``); no ``|XQ|`` exceeds ``QUANT``. An ``X``
    too small for the scale (``max|X| < 2**-900``), or not finite, gives ``step = 0``: no
    screen then.
    """
    bits = np.int64 if X.dtype == np.float64 else np.int32  # the largest magnitude has the
    return _quantize(X.ravel(), X.ravel().view(bits), np.iinfo(bits).max, XQ.ravel())  # largest bits


@njit(**_JIT)
def _quantize(x, bits, magnitude, xq):
    top = np.int64(0)
    for i in range(x.size):  # an integer max vectorizes, and NaN's bits are above infinity's
        top = max(top, bits[i] & magnitude)
    x_max = 0.0
    for i in range(x.size):
        if bits[i] & magnitude == top:
            x_max = abs(np.float64(x[i]))
            break
    if not 2.0**-900 < x_max < np.inf:
        return x_max, 0.0
    scale = QUANT / x_max
    for i in range(x.size):
        xq[i] = np.int16(np.rint(x[i] * scale))
    return x_max, x_max / QUANT


@njit(inline="always", **_JIT)
def _stripe(X, XT, i0):
    """Rows ``i0 : i0 + TILE`` of ``X`` into columns of ``XT``, tile by tile."""
    d = X.shape[1]
    for j0 in range(0, d - d % TILE, TILE):
        for jj in range(TILE):
            for ii in range(TILE):
                XT[j0 + jj, i0 + ii] = X[i0 + ii, j0 + jj]
    for j in range(d - d % TILE, d):
        for ii in range(TILE):
            XT[j, i0 + ii] = X[i0 + ii, j]


@njit(**_JIT)
def _design_times(XT, w, nz, k, n, z):
    """``z[:n] = X[:n] w``, summed over the nonzeros of ``w`` (``nz[:k]``, increasing).

    Four nonzeros per pass over ``z`` (one load and store of ``z[i]`` instead of four), each
    added in turn: the same sums, in the same order, as one pass per nonzero.
    """
    z[:n] = 0
    a = 0
    while a + 4 <= k:
        j0, j1, j2, j3 = nz[a], nz[a + 1], nz[a + 2], nz[a + 3]
        w0, w1, w2, w3 = w[j0], w[j1], w[j2], w[j3]
        for i in range(n):
            zi = z[i] + XT[j0, i] * w0
            zi = zi + XT[j1, i] * w1
            zi = zi + XT[j2, i] * w2
            z[i] = zi + XT[j3, i] * w3
        a += 4
    while a < k:
        j0 = nz[a]
        w0 = w[j0]
        for i in range(n):
            z[i] += XT[j0, i] * w0
        a += 1


@njit(**_JIT)
def _residual(z, y, relu, scale, zero, two, lo, hi, rows, r):
    """The nonzero residuals of eq. 3.1 on rows ``lo:hi`` into ``rows``, ``r``; their count.

    ``r_i = (1/n) (1 + sgn(z_i)) (relu(z_i) - y_i)`` (ReLU) or ``(1/n) (z_i - y_i)``.
    Rows with ``r_i = 0`` are left out of ``X^T r``.
    """
    k = 0
    for i in range(lo, hi):
        zi, yi = z[i], y[i]
        if not relu:
            ri = (zi - yi) * scale
        else:
            # selects, not branches: the sign of z_i is a coin flip the CPU cannot predict.
            # Both values come from y_i loaded up front: with the load under the condition,
            # LLVM kept a branch there, mispredicted half the time
            pos, at_zero = ((zi - yi) * two) * scale, (zero - yi) * scale
            ri = pos if zi > 0 else zero
            ri = at_zero if zi == 0 else ri  # sgn(0) = 0: factor 1, not 0 (docs/design.md#science)
            ri = zi if zi != zi else ri  # NaN: it reaches the error, which then reads as divergence
        rows[k] = i  # kept only if nonzero: the count moves on without a branch
        r[k] = ri
        k += ri != 0
    return k


@njit(**_JIT)
def _accumulate(X, rows, r, k, g):
    """``g += sum_a r[a] X[rows[a]]``, four rows at a time (one load and store of ``g`` per
    four rows)."""
    a = 0
    while a + 4 <= k:
        r0, r1, r2, r3 = r[a], r[a + 1], r[a + 2], r[a + 3]
        x0, x1, x2, x3 = X[rows[a]], X[rows[a + 1]], X[rows[a + 2]], X[rows[a + 3]]
        for j in range(g.size):
            g[j] += r0 * x0[j] + r1 * x1[j] + r2 * x2[j] + r3 * x3[j]
        a += 4
    while a < k:
        r0, x0 = r[a], X[rows[a]]
        for j in range(g.size):
            g[j] += r0 * x0[j]
        a += 1


@njit(**_JIT)
def _accumulate_pair(X, rows, rp, rq, k, gp, gq):
    """:func:`_accumulate` for two problems on the same rows: each row of ``X`` is loaded
    once for both, and each ``g`` gets exactly the sums it would get alone."""
    a = 0
    while a + 4 <= k:
        p0, p1, p2, p3 = rp[a], rp[a + 1], rp[a + 2], rp[a + 3]
        q0, q1, q2, q3 = rq[a], rq[a + 1], rq[a + 2], rq[a + 3]
        x0, x1, x2, x3 = X[rows[a]], X[rows[a + 1]], X[rows[a + 2]], X[rows[a + 3]]
        for j in range(gp.size):
            a0, a1, a2, a3 = x0[j], x1[j], x2[j], x3[j]
            gp[j] += p0 * a0 + p1 * a1 + p2 * a2 + p3 * a3
            gq[j] += q0 * a0 + q1 * a1 + q2 * a2 + q3 * a3
        a += 4
    while a < k:
        p0, q0, x0 = rp[a], rq[a], X[rows[a]]
        for j in range(gp.size):
            gp[j] += p0 * x0[j]
            gq[j] += q0 * x0[j]
        a += 1


@njit(**_JIT_SCREEN)
def _screen_sum(XQ, rows, r, k, g):
    """``g += sum_a r[a] XQ[rows[a]]`` for the screen, from its int16 copy of ``X``: the
    same sums as :func:`_accumulate`, but in whatever order and with whatever fused
    multiply-adds the compiler picks (only the screen's bound needs to hold)."""
    a = 0
    while a + 4 <= k:
        r0, r1, r2, r3 = r[a], r[a + 1], r[a + 2], r[a + 3]
        x0, x1, x2, x3 = XQ[rows[a]], XQ[rows[a + 1]], XQ[rows[a + 2]], XQ[rows[a + 3]]
        for j in range(g.size):
            g[j] += r0 * np.float32(x0[j]) + r1 * np.float32(x1[j]) + r2 * np.float32(x2[j]) + r3 * np.float32(x3[j])
        a += 4
    while a < k:
        r0, x0 = r[a], XQ[rows[a]]
        for j in range(g.size):
            g[j] += r0 * np.float32(x0[j])
        a += 1


@njit(**_JIT_SCREEN)
def _screen_sum_pair(XQ, rows, rp, rq, k, gp, gq):
    """:func:`_screen_sum` for two problems on the same rows, each row loaded once."""
    a = 0
    while a + 4 <= k:
        p0, p1, p2, p3 = rp[a], rp[a + 1], rp[a + 2], rp[a + 3]
        q0, q1, q2, q3 = rq[a], rq[a + 1], rq[a + 2], rq[a + 3]
        x0, x1, x2, x3 = XQ[rows[a]], XQ[rows[a + 1]], XQ[rows[a + 2]], XQ[rows[a + 3]]
        for j in range(gp.size):
            a0, a1 = np.float32(x0[j]), np.float32(x1[j])
            a2, a3 = np.float32(x2[j]), np.float32(x3[j])
            gp[j] += p0 * a0 + p1 * a1 + p2 * a2 + p3 * a3
            gq[j] += q0 * a0 + q1 * a1 + q2 * a2 + q3 * a3
        a += 4
    while a < k:
        p0, q0, x0 = rp[a], rq[a], XQ[rows[a]]
        for j in range(gp.size):
            a0 = np.float32(x0[j])
            gp[j] += p0 * a0
            gq[j] += q0 * a0
        a += 1


@njit(**_JIT)
def _update(v, code, radius, w, w_star, heap, nz, guess, group_size):
    """``w <- P_K(v)`` in one pass; returns ``||w_new - w_old||^2`` (the step) and
    ``||w_new - w*||^2``, in float64, and how many nonzeros ``w_new`` has (their indices in
    ``nz``, increasing)."""
    d = v.size
    cut, ties = -1.0, 0  # l0: keep |v_j| > cut, and the first `ties` entries equal to it
    if code == L0 and int(radius) < d:
        cut, ties, _ = _l0_cut(v, int(radius), heap, guess, nz)  # nz: scratch until the loop below
    elif code == L1:
        _project_l1(v, radius)
    elif code == GL0:
        _group_hard_threshold(v, int(radius), group_size)
    elif code == GL1:
        _project_group_l1(v, radius, group_size, heap)
    elif code == RANK or code == NUCLEAR:
        _project_matrix(v, radius, code == NUCLEAR)
    step, err = 0.0, 0.0
    k = 0
    zero = v.dtype.type(0)
    for j in range(d):
        x = v[j]
        a = abs(x)
        if a < cut:
            x = zero
        elif a == cut:
            if ties > 0:
                ties -= 1
            else:
                x = zero
        e = np.float64(x) - np.float64(w[j])
        step += e * e
        e = np.float64(x) - np.float64(w_star[j])
        err += e * e
        w[j] = x
        nz[k] = j
        k += x != 0
    return step, err, k, cut


@njit(**_JIT)
def _hard_threshold(v, radius, w, old, k_old, w_star, star, heap, cand, nz, guess):
    """:func:`_update` for l0 (``s < d``) in ``O(d)`` comparisons and ``O(s)`` arithmetic:
    the same results bit for bit (:func:`_apply_cut`). A full pass over ``d``, branching on
    each entry and summing two squares for each, cost more than the cut itself.
    """
    cut, ties, c = _l0_cut(v, int(radius), heap, guess, cand)
    if not cut > 0:  # non-finite, or fewer than s nonzeros: the general path
        return _update(v, np.int64(L0), radius, w, w_star, heap, nz, guess, np.int64(1))  # not a literal: one compile
    k, step, err = _apply_cut(v, cand, c, cut, ties, w, old, k_old, w_star, star, nz)
    return step, err, k, cut


@njit(**_JIT)
def _screen(design, probs, ws, g32, w, mu, p, q):
    """The l0 update of a problem from its screened gradient ``g32``, computing exactly only
    the entries that can survive the cut; returns ``(done, step, err, k, cut)``.

    Bit for bit what :func:`_hard_threshold` gives from the exact gradient. ``x_step g32``
    sums the same ``n_rows`` terms ``r_i x_ij`` in float32, in any order, from ``X`` in
    int16 steps of ``x_step`` (:func:`quantize`); each entry's error against the exact sum
    (in ``XT``'s dtype) is bounded, rigorously, by ``E = kappa x_max sum|r_i|``: Higham's
    ``gamma_n`` for both sums (any order, fused or not), the rounding of ``r`` to float32,
    half a step per entry of ``X`` (``0.50001 / QUANT``: the step and the scaling round
    too), underflow. An entry whose screened ``|v_j|`` plus the bound stays under the s-th
    largest screened ``|v|`` minus the bound cannot be kept: only the others (``s`` and a
    handful, as the bound is ~3e-5 of a typical entry) are summed from ``XT``, in the order
    :func:`_accumulate` sums them. ``done`` is False when the bound is not small enough to
    leave few candidates; the caller then computes the whole gradient.
    """
    # problem p's inputs, read from its records by name (q: its slot among the live problems)
    XT, x_max, x_step, w_star = design.XT, design.x_max, design.x_step, design.w_star
    rows, r, per_block, n_rows, r_l1 = ws.rows[q], ws.r[q], ws.per_block[q], ws.used[q], ws.r_l1[q]
    n, radius, old, k_old, guess = probs.ns[p], probs.radius[p], ws.supp[p], ws.k_supp[p], ws.cuts[p]
    v, star, heap, cand, exact, nz = ws.V, ws.star, ws.heap, ws.cand, ws.exact, ws.nz
    d, s = v.size, int(radius)
    for j in range(d):
        v[j] = w[j] - mu * (x_step * np.float64(g32[j]))
    u32, m = 2.0**-24, n_rows + 2
    u = u32 if v.itemsize == 4 else 2.0**-53  # the exact sums' unit roundoff
    kappa = m * u / (1 - m * u) + 3 * u32 + m * u32 / (1 - m * u32) * (1 + u32) ** 2 + 0.50001 / QUANT
    # float32 underflow: at most 2**-150 absolute per rounding, scaled by the other factor
    e = mu * (kappa * x_max * r_l1 + m * 2.0**-125 * (1 + r_l1 + x_max)) * (1 + 1e-6)
    # every j: |v_j - screened v_j| <= e + eta |screened v_j|: eta covers both roundings of
    # v to its dtype (float64's are far under 1e-12)
    eta = max(1e-12, 4 * u)
    # narrowed candidates keep room under the cut for the bound: tau below stays over the floor
    c, floor = _candidates(v, s, guess, cand, heap, 4 * e * (1 + eta), 8 * eta)
    if c < 0:
        return False, 0.0, 0.0, 0, -1.0
    t_hat, _ = _cut_among(v, cand, c, s, heap)
    tau = t_hat * (1 - 4 * eta) - 2 * e * (1 + eta)
    if not (tau > 0 and tau > floor):  # too loose, or candidates were not all collected
        return False, 0.0, 0.0, 0, -1.0
    k = np.int64(0)
    for b in range(c):
        j = cand[b]
        cand[k] = j
        k += abs(v[j]) >= tau
    if k > max(4 * s, d // 16):  # exact entries cost more than the whole gradient
        return False, 0.0, 0.0, 0, -1.0
    _gradient_at(XT, cand, k, rows, r, per_block, (n + ROW_BLOCK - 1) // ROW_BLOCK, exact)
    for b in range(k):
        j = cand[b]
        v[j] = w[j] - mu * exact[b]
    cut, ties = _cut_among(v, cand, k, s, heap)
    k, step, err = _apply_cut(v, cand, k, cut, ties, w, old, k_old, w_star, star, nz)
    return True, step, err, k, cut


@njit(**_JIT)
def _gradient_at(XT, cand, k, rows, r, per_block, blocks, g):
    """``g[c] = sum_i r_i X[rows_i, cand[c]]`` for ``c < k``, each summed as
    :func:`_accumulate` sums an entry: block by block, four rows at a time, from zero.

    The candidates advance together, row group by row group: each one's sum is a chain of
    dependent additions, and a single chain waits on every load it gathers.
    """
    for c in range(k):
        g[c] = 0.0
    u = 0
    for b in range(blocks):
        a, end = u, u + per_block[b]
        while a + 4 <= end:
            i0, i1, i2, i3 = rows[a], rows[a + 1], rows[a + 2], rows[a + 3]
            r0, r1, r2, r3 = r[a], r[a + 1], r[a + 2], r[a + 3]
            for c in range(k):
                j = cand[c]
                g[c] += r0 * XT[j, i0] + r1 * XT[j, i1] + r2 * XT[j, i2] + r3 * XT[j, i3]
            a += 4
        while a < end:
            i0, r0 = rows[a], r[a]
            for c in range(k):
                g[c] += r0 * XT[cand[c], i0]
            a += 1
        u = end


@njit(**_JIT)
def _apply_cut(v, cand, c, cut, ties, w, old, k_old, w_star, star, nz):
    """``w <- v`` cut to ``|v_j| > cut`` and the first ``ties`` entries equal to it, given
    every entry that can be kept in ``cand[:c]`` (increasing); returns the new support's
    size (indices in ``nz``), ``||w_new - w_old||^2`` and ``||w_new - w*||^2``.

    The same bits as :func:`_update`'s full pass: only the entries kept, those of the old
    support ``old[:k_old]`` and those of ``w*`` (``star``) give nonzero terms of the step
    and the error, and they are summed in the same increasing order (adding the zeros in
    between changes no bit).
    """
    k = np.int64(0)
    for b in range(c):
        j = cand[b]
        a = abs(v[j])
        if a > cut or (a == cut and ties > 0):
            ties -= a == cut
            nz[k] = j
            k += 1
    step = _distance2(v, nz, k, w, old, k_old)
    err = _distance2(v, nz, k, w_star, star, star.size)
    for i in range(k_old):
        w[old[i]] = 0
    for b in range(k):
        w[nz[b]] = v[nz[b]]
    return k, step, err


@njit(**_JIT)
def _distance2(v, new, k, u, other, k_other):
    """``||x - u||^2`` in float64, ``x`` being ``v`` on ``new[:k]`` and zero elsewhere, ``u``
    zero off ``other[:k_other]`` (both lists increasing): the terms over the union of the
    two supports in increasing order, which are the nonzero terms of the full sum in its
    order, so the same bits."""
    total = 0.0
    i = b = 0
    while i < k_other or b < k:
        jo = other[i] if i < k_other else v.size
        jn = new[b] if b < k else v.size
        if jn <= jo:
            e = np.float64(v[jn]) - np.float64(u[jn])
            b += 1
            i += jo == jn
        else:
            e = 0.0 - np.float64(u[jo])
            i += 1
        total += e * e
    return total


@njit(**_JIT)
def _l0_cut(v, s, heap, guess, cand):
    """Hard thresholding to ``s`` entries as a cut: keep ``|v_j| > cut`` and, among ties at
    the cut, the lowest indices (exactly ``s`` in all). Returns the cut, the number of ties
    to keep, and how many entries (indices in ``cand``, increasing) can be kept: every
    ``j`` with ``|v_j| >= cut`` is among them. A non-finite ``v`` is left whole (cut -1):
    its error then reads as divergence.
    """
    c, _ = _candidates(v, s, guess, cand, heap, 0.0, 0.0)
    if c < 0:
        return -1.0, 0, 0
    cut, ties = _cut_among(v, cand, c, s, heap)
    return cut, ties, c


@njit(**_JIT)
def _candidates(v, s, guess, cand, scratch, slack, slack_rel):
    """The entries above a floor that at least ``s`` entries exceed, in ``cand`` (increasing):
    they hold the ``s`` largest ``|v_j|``. Returns their count (-1 if ``v`` is not finite)
    and the floor.

    The cut moves by less than 20% in most iterations: a floor a little under the last one
    (``guess``) keeps the candidates to a few over ``s``. One pass marks the entries over the
    floor and checks finiteness, in ``v``'s dtype and in bytes (a float64 floor would widen
    every float32 entry; integer counts would halve the lanes), so it vectorizes; the marks
    are then read off eight to a word (:func:`_marked`). When the cut has jumped up (or there
    is no guess yet), the floor is raised among the candidates (:func:`_narrow`), as every
    later step costs in proportion to their number; it then stays at least
    ``slack + slack_rel max|v|`` under the ``s``-th largest ``|v_j|``.
    """
    d = v.size
    mask = np.empty((d + 7) // 8 * 8, np.uint8)
    mask[d:] = 0
    floor = v.dtype.type(guess * 0.84) if guess > 0 else v.dtype.type(-1.0)
    bad = np.uint8(0)
    for j in range(d):
        a = abs(v[j])
        e = a - a  # NaN for inf and NaN
        bad |= np.uint8(e != e)
        mask[j] = np.uint8(a > floor)
    if bad:
        return -1, -1.0
    c = _marked(mask, d, cand) if guess > 0 else _every(d, cand)
    if c < s and guess > 0:  # the cut fell: the first lower floor over which s entries lie
        for f in (0.6, 0.35, 0.125):
            floor = v.dtype.type(guess * f)
            for j in range(d):
                mask[j] = np.uint8(abs(v[j]) > floor)
            c = _marked(mask, d, cand)
            if c >= s:
                break
        if c < s:  # under every floor: no floor, every entry
            floor, c = v.dtype.type(-1.0), _every(d, cand)
    if c > NARROW_OVER + s:
        c, floor = _narrow(v, s, cand, c, floor, scratch, slack, slack_rel)
    return c, np.float64(floor)


@njit(**_JIT)
def _narrow(v, s, cand, c, floor, a, slack, slack_rel):
    """Raise ``floor`` by bisection until at most :data:`NARROW_OVER` more than ``s`` of the
    candidates ``cand[:c]`` lie above it (or it cannot rise: ties), keeping at least ``s``
    above it plus ``slack + slack_rel max|v|``; drop those under it. Returns the new count
    and floor.

    Counts are branch-free passes over the candidates' ``|v_j|`` (in ``a``), in int32 (numba
    widens integer sums to int64, which halves the lanes).
    """
    top = floor
    for b in range(c):
        a[b] = abs(v[cand[b]])
        top = max(top, a[b])
    lo, hi, over = floor, top, c  # over: how many lie above lo
    if not top > 0:  # every candidate is zero: nothing to narrow
        return c, floor
    two = v.dtype.type(2)
    room = v.dtype.type(slack + slack_rel * top)  # in v's dtype: float32 is not widened
    for _ in range(40):
        mid = lo + (hi - lo) / two
        if not (lo < mid < hi):  # the interval cannot be split further
            break
        k, above = np.int32(0), np.int32(0)  # over mid with room to spare, and over mid
        for b in range(c):
            k = np.int32(k + np.int32(a[b] > mid + room))
            above = np.int32(above + np.int32(a[b] > mid))
        if k >= s:
            lo, over = mid, above
            if over <= NARROW_OVER + s:
                break
        else:
            hi = mid
    if over < c:
        k = 0
        for b in range(c):
            cand[k] = cand[b]
            k += a[b] > lo
        c = k
    return c, lo


@njit(**_JIT)
def _marked(mask, d, cand):
    """The indices ``j < d`` with ``mask[j]`` (0 or 1, zero past ``d``) set, in ``cand``
    (increasing); their count.

    Eight marks to a word, each mark's index from the word's trailing zeros: the marks are
    few and scattered, and a loop over each marked word's eight bytes cost ~4x more (its
    branch on whether a word holds a mark is a coin flip).
    """
    words = mask.view(np.uint64)
    c = 0
    for w in range(words.size):
        x = words[w]
        while x:
            cand[c] = 8 * w + (trailing_zeros(x) >> 3)
            c += 1
            x &= x - np.uint64(1)  # each mark is a byte's lowest bit: this clears one mark
    return c


@njit(**_JIT)
def _every(d, cand):
    """Every index ``j < d`` in ``cand``: the candidates when there is no floor."""
    for j in range(d):
        cand[j] = j
    return d


@njit(**_JIT)
def _cut_among(v, cand, c, s, heap):
    """The ``s``-th largest ``|v_j|`` over ``j`` in ``cand[:c]`` and how many entries equal
    to it are kept (ties: the lowest indices).

    Up to :data:`RANK_MAX` candidates, by ranks: the largest ``|v_j|`` that at least ``s``
    candidates reach, counted in branch-free passes that vectorize. A heap's sift-downs
    branch on data and mispredict; they cost several times more here. Beyond that, one
    pass with a min-heap of the largest so far: most entries cost one comparison with the
    heap's root.
    """
    if c <= RANK_MAX:
        for b in range(c):
            heap[b] = abs(v[cand[b]])
        cut = heap.dtype.type(-1)  # below every candidate
        for b in range(c):
            x = heap[b]
            reach = np.int32(0)  # int32 throughout: numba widens integer sums to int64,
            for e in range(c):  # which halves the lanes
                reach = np.int32(reach + np.int32(heap[e] >= x))
            if reach >= s and x > cut:
                cut = x
    else:
        k = 0
        for b in range(c):
            a = abs(v[cand[b]])
            if k < s:
                heap[k] = a
                k += 1
                if k == s:
                    for i in range(s // 2 - 1, -1, -1):
                        _sift_down(heap, i, s)
            elif a > heap[0]:
                heap[0] = a
                _sift_down(heap, np.int64(0), s)  # the root
        cut = heap[0]
        c = s  # the heap holds the s largest
    above = np.int32(0)
    for b in range(c):
        above += np.int32(heap[b] > cut)
    return np.float64(cut), s - above


@njit(**_JIT)
def _sift_down(heap, j, s):
    x = heap[j]
    while True:
        c = 2 * j + 1
        if c >= s:
            break
        if c + 1 < s and heap[c + 1] < heap[c]:
            c += 1
        if heap[c] >= x:
            break
        heap[j] = heap[c]
        j = c
    heap[j] = x


@njit(**_JIT)
def _group_norms2(v, g):
    """Squared norms of ``v``'s consecutive groups of ``g``, in float64, each summed over its
    coordinates in order (:func:`sweep.projections.group_norms2`)."""
    norms2 = np.zeros(v.size // g)
    for a in range(norms2.size):
        for k in range(g):
            e = np.float64(v[a * g + k])
            norms2[a] += e * e
    return norms2


@njit(**_JIT)
def _group_hard_threshold(v, s, g):
    """Keep the ``s`` groups of largest norm (ties to the lowest index) in place, as
    :func:`sweep.projections.project_group_l0`."""
    norms2 = _group_norms2(v, g)
    if s >= norms2.size:
        return
    order = np.argsort(-norms2, kind="mergesort")  # stable: ties keep index order
    keep = np.zeros(norms2.size, np.bool_)
    for a in range(s):
        keep[order[a]] = True
    zero = v.dtype.type(0)
    for a in range(norms2.size):
        if not keep[a]:
            for k in range(g):
                v[a * g + k] = zero


@njit(**_JIT)
def _project_group_l1(v, radius, g, norms):
    """Projection onto the group-l1 ball in place, as :func:`sweep.projections.project_group_l1`:
    the group norms (in ``norms``, ``v``'s dtype) onto the l1 ball, each group rescaled."""
    G = v.size // g
    norms2 = _group_norms2(v, g)
    for a in range(G):
        norms[a] = v.dtype.type(math.sqrt(norms2[a]))
    shrunk = norms[:G].copy()
    _project_l1(shrunk, radius)
    zero = v.dtype.type(0)
    for a in range(G):
        factor = shrunk[a] / norms[a] if norms[a] > 0 else zero
        for k in range(g):
            v[a * g + k] = v[a * g + k] * factor


@njit(**_JIT)
def _project_matrix(v, radius, nuclear):
    """``v`` read row by row as a ``p x p`` matrix, projected in place as
    :func:`sweep.projections.project_rank` (the SVD truncated to rank ``radius``) or
    :func:`sweep.projections.project_nuclear` (the singular values onto the l1 ball of
    ``radius``): the SVD in float64, rebuilt one rank-one term at a time in order. LAPACK's
    SVD here is not numpy's: the two agree to rounding, not bit for bit."""
    p = int(round(math.sqrt(v.size)))
    M = np.empty((p, p))
    for i in range(p):
        for j in range(p):
            M[i, j] = np.float64(v[i * p + j])
    U, S, Vt = np.linalg.svd(M)
    if nuclear:
        _project_l1(S, np.float64(radius))
        k = p
    else:
        k = min(int(radius), p)
    out = np.zeros((p, p))
    for a in range(k):
        for i in range(p):
            ua = U[i, a] * S[a]
            for j in range(p):
                out[i, j] += ua * Vt[a, j]
    for i in range(p):
        for j in range(p):
            v[i * p + j] = v.dtype.type(out[i, j])


@njit(**_JIT)
def _project_l1(v, radius):
    """Projection onto the l1 ball (Duchi et al. 2008) in place, step for step as
    :func:`sweep.projections.project_l1` takes it, in ``v``'s dtype."""
    d = v.size
    a = np.abs(v)
    total = v.dtype.type(0)
    for j in range(d):
        total += a[j]
    if total <= radius:
        return
    u = -np.sort(-a)
    css = np.cumsum(u) - radius
    ranks = np.arange(1, d + 1).astype(v.dtype)
    rho = 0
    for j in range(d):
        if u[j] * ranks[j] > css[j]:  # holds for a prefix
            rho += 1
    theta = max(css[rho - 1] / ranks[rho - 1], v.dtype.type(0))
    for j in range(d):
        m = a[j] - theta
        v[j] = math.copysign(m, v[j]) if m > 0 else 0
