"""The convex limit: each trial's best possible outcome, on the same data as PGD.

For a convex constraint set ``K = {w : R(w) <= R(w*)}`` the convex program

    minimize R(w)  subject to  <x_i, w> = y_i  (y_i > 0),  <x_i, w> <= 0  (y_i = 0)

(linear observations: ``<x_i, w> = y_i`` on every row) has ``w*`` among its solutions, and
``w*`` is its only one exactly when no method that sees ``X``, ``y`` and ``R(w*)`` alone can
tell ``w*`` from another point of ``K``: the *convex limit*. Its success on a trial is the
line PGD's success on that trial is read against (``docs/design.md#the-convex-limit``).

Why ReLU observations need about twice the samples: at ``w*`` the zero rows hold strictly
(``<x_i, w*> < 0``), so near ``w*`` they are inactive and ``w*`` is the unique solution
exactly when the descent cone of ``R`` at ``w*`` meets the null space of the positive rows
``X_+`` only at 0. Flipping a row's sign does not change a span, so ``null(X_+)`` is as
uniformly distributed as a Gaussian one with ``n_+ ~ Binomial(n, 1/2)`` rows, and the
kinematic formula puts the transition at ``n_+ ≈ δ``: ``n ≈ 2 δ``
(:func:`sweep.theory.relu_limit`).

:data:`PROGRAMS` is the one registry of convex programs, keyed by constraint set: ``l1``
is a linear program solved by HiGHS (scipy); ``group-l1`` and ``nuclear`` are conic
programs solved by Clarabel through cvxpy (``pip install ".[convex]"``); ``none`` (``K =
R^d``) is unique exactly when the equality rows have full column rank. Sets without an
entry (``l0``, ``group-l0``, ``rank``) are not convex and have no convex limit.

On nested designs the program's success is monotone in ``n``: adding a row keeps ``w*``
feasible and shrinks the feasible set, so uniqueness at ``n`` implies it at every larger
``n``. :func:`limit` therefore solves by bisection over a trial's sample sizes, about
``log2`` of their number programs instead of one per size.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Program:
    """The convex program of one constraint set.

    ``solve(A_eq, b_eq, A_ub, group_size)`` returns a minimizer of ``R`` over ``{w : A_eq w =
    b_eq, A_ub w <= 0}``, or ``None`` when the solver reports a failure (infeasible,
    numerical trouble, a limit reached). ``accuracy`` is the relative error the solver's
    answer reaches when the minimizer is unique: a success threshold below it could not
    be met, so the config refuses it. ``needs`` names the optional module (and extra) the
    solver comes from, or ``None``.
    """

    name: str
    solve: Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray | None]
    accuracy: float
    needs: str | None = None


PROGRAMS: dict[str, Program] = {}
#: The pip extra that brings the conic solvers.
EXTRA = "convex"


def register(name: str, accuracy: float, needs: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator registering ``solve`` as the convex program of constraint set ``name``."""

    def wrap(solve):
        PROGRAMS[name] = Program(name, solve, accuracy, needs)
        return solve

    return wrap


def convex(regularizer: str) -> bool:
    """Whether the constraint set has a convex program (and so a convex limit)."""
    return regularizer in PROGRAMS


def missing(regularizer: str) -> str | None:
    """The module a set's program needs that is not installed, or ``None``."""
    needs = PROGRAMS[regularizer].needs
    return needs if needs and importlib.util.find_spec(needs) is None else None


def constraints(X: np.ndarray, y: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of the program: ``(A_eq, b_eq, A_ub)`` in float64.

    Linear observations: every row is an equality. ReLU observations: the positive outputs
    are equalities, the zero outputs the inequalities ``<x_i, w> <= 0`` (their labels say
    only that the pre-activation was not positive).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if model == "linear":
        return X, y, X[:0]
    if model == "relu":
        positive = y > 0
        return X[positive], y[positive], X[~positive]
    raise ValueError(f"model must be 'relu' or 'linear', got {model!r}")


def recovers(
    regularizer: str,
    X: np.ndarray,
    y: np.ndarray,
    model: str,
    w_star: np.ndarray,
    tolerance: float,
    group_size: int = 1,
) -> tuple[bool, bool]:
    """Solve the program of ``regularizer`` on ``(X, y)``: ``(success, failed)``.

    ``success``: the solution lies within ``tolerance`` of ``w*`` (relative error, as PGD's
    success); ``failed``: the solver reported a failure, which counts as no success.
    """
    A_eq, b_eq, A_ub = constraints(X, y, model)
    w = PROGRAMS[regularizer].solve(A_eq, b_eq, A_ub, group_size)
    if w is None or not np.all(np.isfinite(w)):
        return False, True
    w_star = np.asarray(w_star, dtype=np.float64)
    return bool(np.linalg.norm(w - w_star) <= tolerance * np.linalg.norm(w_star)), False


def limit(
    regularizer: str,
    X: np.ndarray,
    y: np.ndarray,
    model: str,
    w_star: np.ndarray,
    ns: list[int],
    tolerance: float,
    group_size: int = 1,
) -> tuple[dict[int, bool], set[int]]:
    """The convex program's success on the nested prefixes ``X[:n]`` for every ``n`` of ``ns``.

    Bisection over the sorted distinct sizes (success is monotone in ``n``: module doc): the
    smallest size that succeeds is found with about ``log2(len(ns)) + 1`` programs, and every
    size is a success exactly when it is at least that one.

    Returns
    -------
    (dict, set)
        ``{n: success}`` for every ``n`` of ``ns``, and the sizes whose program the solver
        failed on (each counted as no success).
    """
    sizes = sorted(set(int(n) for n in ns))
    lo, hi = 0, len(sizes)  # the first success is at an index in [lo, hi]; hi = len: none
    failed = set()
    while lo < hi:
        mid = (lo + hi) // 2
        n = sizes[mid]
        ok, bad = recovers(regularizer, X[:n], y[:n], model, w_star, tolerance, group_size)
        if bad:
            failed.add(n)
        if ok:
            hi = mid
        else:
            lo = mid + 1
    return {n: i >= lo for i, n in enumerate(sizes)}, failed


# --- the programs ------------------------------------------------------------------------


@register("l1", accuracy=1e-9)
def l1_program(A_eq: np.ndarray, b_eq: np.ndarray, A_ub: np.ndarray, group_size: int = 1) -> np.ndarray | None:
    """``min ||w||_1`` as a linear program in ``w = u - v``, ``u, v >= 0``, by HiGHS.

    HiGHS's simplex ends on a vertex: a unique minimizer comes back to about 1e-11.
    """
    from scipy.optimize import linprog

    d = A_eq.shape[1]
    cost = np.ones(2 * d)
    res = linprog(
        cost,
        A_ub=np.hstack([A_ub, -A_ub]) if A_ub.shape[0] else None,
        b_ub=np.zeros(A_ub.shape[0]) if A_ub.shape[0] else None,
        A_eq=np.hstack([A_eq, -A_eq]) if A_eq.shape[0] else None,
        b_eq=b_eq if A_eq.shape[0] else None,
        bounds=(0, None),
        method="highs",
    )
    if res.status != 0:
        return None
    return res.x[:d] - res.x[d:]


@register("none", accuracy=1e-9)
def none_program(A_eq: np.ndarray, b_eq: np.ndarray, A_ub: np.ndarray, group_size: int = 1) -> np.ndarray | None:
    """``K = R^d``: the feasible set is one point exactly when the equality rows have full
    column rank (the inequalities are inactive there, as at ``w*``), and that point is
    their least-squares solution; otherwise the minimum-norm point of the equalities, which
    is not ``w*`` but for a measure-zero ``w*``."""
    if A_eq.shape[0] == 0:
        return np.zeros(A_eq.shape[1])
    w, *_ = np.linalg.lstsq(A_eq, b_eq, rcond=None)
    return w


def _conic(objective, A_eq, b_eq, A_ub):
    """Solve ``min objective(w)`` over the rows with cvxpy and Clarabel; ``None`` on failure."""
    import cvxpy as cp

    w = cp.Variable(A_eq.shape[1])
    rows = []
    if A_eq.shape[0]:
        rows.append(A_eq @ w == b_eq)
    if A_ub.shape[0]:
        rows.append(A_ub @ w <= 0)
    problem = cp.Problem(cp.Minimize(objective(w)), rows)
    try:
        with warnings.catch_warnings():  # "solution may be inaccurate": judged below
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=cp.CLARABEL)
    except cp.error.SolverError:
        return None
    # Clarabel flags a semidefinite solution as inaccurate at about 1e-7 from a unique
    # minimizer, well within any tolerance the config allows (``accuracy``): the distance to
    # w* judges it, as it judges an accurate one.
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or w.value is None:
        return None
    return np.asarray(w.value, dtype=np.float64)


@register("group-l1", accuracy=1e-6, needs="cvxpy")
def group_l1_program(A_eq: np.ndarray, b_eq: np.ndarray, A_ub: np.ndarray, group_size: int = 1) -> np.ndarray | None:
    """``min sum_G ||w_G||_2`` over consecutive groups of ``group_size``: a second-order cone
    program, by Clarabel (an interior-point method: about 1e-7 at a unique minimizer)."""
    import cvxpy as cp

    groups = A_eq.shape[1] // group_size
    return _conic(
        lambda w: cp.sum(cp.norm(cp.reshape(w, (groups, group_size), order="C"), 2, axis=1)), A_eq, b_eq, A_ub
    )


@register("nuclear", accuracy=1e-6, needs="cvxpy")
def nuclear_program(A_eq: np.ndarray, b_eq: np.ndarray, A_ub: np.ndarray, group_size: int = 1) -> np.ndarray | None:
    """``min ||W||_*`` with ``W`` the ``p x p`` matrix ``w`` holds row by row (as
    :func:`sweep.projections.project_nuclear` reads it): a semidefinite program, by Clarabel."""
    import cvxpy as cp

    p = math.isqrt(A_eq.shape[1])
    return _conic(lambda w: cp.normNuc(cp.reshape(w, (p, p), order="C")), A_eq, b_eq, A_ub)
