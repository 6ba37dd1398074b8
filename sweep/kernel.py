"""Many PGD problems on one design matrix, advanced together.

A trial of the sweep is one ``X`` and one ``w*`` shared by every sample size (nested
prefixes ``X[:n]``), both observation models and every constraint set. All of them advance
together in one compiled loop (:mod:`sweep._loop`), and a problem leaves the live set once
it has succeeded, diverged or stalled (``docs/design.md#kernel``). Results equal :func:`sweep.pgd.pgd`
run problem by problem (``tests/sweep/test_kernel.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import _cache, _loop, pgd, problem, projections, steps

if TYPE_CHECKING:
    from collections.abc import Callable

    from .steps import StepRule

DIVERGE_AT = 1e8  # relative error; far beyond any recovery, still far from overflow
# Measured on 3920 problems (d = 100..2000, l0 and l1, both models): with the geometric bound
# alone (streak 8 or 15) early stopping changed no `iterations`, hence no `success`, against
# running to the cap. A rule "no new best error for 60 iterations" cut 5 of them: ReLU PGD
# can wander to 20x its best error for 80 iterations and still recover, so there is no such
# rule. tests/sweep/test_kernel.py pins two of those problems. Rechecked with the compiled
# loop: 0 of 5640 problems (seeds 5 and 9, d = 100..2000) changed `iterations`. All at the
# paper's step: below it the bound cut problems that recover, with a streak of 15 / mu too,
# so the loop uses it at step 1 only (sweep._loop._check; benchmarks/early_stop.py).
STALL_STREAK = 15  # iterations the geometric bound must hold before a problem is stalled
PATH_MARGIN = 0.5  # stalled when the remaining path is under this share of the distance to go


def compiled_code(regularizer: str) -> int:
    """The code the compiled loop dispatches a constraint set's projection on: the constant
    of :mod:`sweep._loop` that the registry (:data:`sweep.projections.CONSTRAINTS`) names."""
    cset = projections.get(regularizer)
    return _code(cset.compiled, f"constraint set {regularizer!r}")


def step_code(step: float | StepRule) -> int:
    """The compiled loop's code of a step: :data:`sweep._loop.FIXED` for a fixed step (a
    positive number), else the constant of :mod:`sweep._loop` that the
    :class:`~sweep.steps.StepRule` names."""
    if isinstance(step, steps.StepRule):
        return _code(step.compiled, f"step rule {step.name!r}")
    if isinstance(step, (bool, str)) or not step > 0:  # a name or an axis value is decoded above the kernel
        raise TypeError(f"a step is a positive number or a StepRule, got {step!r}")
    return _loop.FIXED


def _code(name, what):
    code = getattr(_loop, name, None)
    if not isinstance(code, int):
        raise LookupError(f"{what} has no compiled twin: sweep._loop.{name} is not a code")
    return code


@dataclass
class Problem:
    """One PGD run on the first ``n`` rows of a trial's design, with step ``step`` for
    ``t >= 1`` (:func:`sweep.pgd.step_size`): a fixed step, or a
    :class:`~sweep.steps.StepRule`."""

    model: str
    regularizer: str
    n: int
    step: steps.Step = pgd.PAPER_STEP


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
    shrinks : (P,) int64
        How often a step rule's safeguard shortened a step, summed over the run (0 for a
        fixed step).
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
    shrinks: np.ndarray
    trace: np.ndarray

    @classmethod
    def empty(cls, P: int, iterations: int) -> KernelResult:
        """The outcomes of ``P`` problems before they run: ``w_0 = 0`` (relative error 1)."""
        out = cls(
            rel_error=np.full(P, np.nan),
            iterations=np.full(P, -1, dtype=np.int64),
            slope=np.full(P, np.nan),
            support_recovered=np.zeros(P, dtype=bool),
            diverged=np.zeros(P, dtype=bool),
            stalled=np.zeros(P, dtype=bool),
            iterations_run=np.zeros(P, dtype=np.int64),
            shrinks=np.zeros(P, dtype=np.int64),
            trace=np.full((P, iterations + 1), np.nan),
        )
        out.trace[:, 0] = 1.0
        return out


def solve(
    X: np.ndarray,
    w_star: np.ndarray,
    labels: dict[str, np.ndarray],
    problems: list[Problem],
    iterations: int,
    tolerance: float,
    stop_early: bool = True,
    screen: bool = True,
    group_size: int = 1,
) -> KernelResult:
    """Run PGD from ``w_0 = 0`` for every problem on prefixes of ``X``.

    Parameters
    ----------
    X : (n_max, d) array
        The trial's design; problem ``p`` uses ``X[:p.n]``. Its dtype (float64 or float32)
        is the dtype of every iterate.
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
    screen : bool
        Fixed-step l0 problems (a step rule reads the exact gradient): find the entries
        that can survive the cut from an int16 copy of ``X`` and compute only those exactly
        (the same results, bit for bit, in less time). False computes every entry.
    group_size : int
        The size of the groups of a group-sparse ``w*`` (the group sets' projections).

    Returns
    -------
    KernelResult
    """
    P, dtype = len(problems), X.dtype
    X = np.ascontiguousarray(X)
    w_star = np.ascontiguousarray(w_star, dtype=dtype)
    Y = np.zeros((P, X.shape[0]), dtype=dtype)
    for j, p in enumerate(problems):
        Y[j, : p.n] = labels[p.model][: p.n]
    ns = np.array([p.n for p in problems], dtype=np.int64)
    radius = np.array([projections.get(p.regularizer).regularizer(w_star, group_size) for p in problems], dtype=dtype)
    W = np.zeros((P, X.shape[1]), dtype=dtype)
    out = KernelResult.empty(P, iterations)
    if P == 0:
        return out
    rule = np.array([step_code(p.step) for p in problems], dtype=np.int64)
    # X^T first, while the draw has left X in cache (after the screen's copy, evicted)
    XT = np.empty(X.shape[::-1], dtype=dtype)
    _loop.transpose(X, XT)
    XQ, x_max, x_step, screen = _quantized(X, problems, rule, screen)
    relu = np.array([p.model == "relu" for p in problems])
    codes = np.array([compiled_code(p.regularizer) for p in problems], dtype=np.int64)
    # mu * g in X's dtype, as the reference; a step rule keeps the paper's step for a flat model
    fixed = np.array(
        [steps.PAPER_STEP if isinstance(p.step, steps.StepRule) else p.step for p in problems], dtype=dtype
    )
    _loop.run(
        _loop.Design(X, XT, XQ, float(x_max), float(x_step), bool(screen), w_star, np.int64(group_size)),
        _loop.Problems(Y, ns, relu, codes, radius, (1.0 / ns).astype(dtype), fixed, rule),
        _loop.Rules(int(iterations), float(tolerance), bool(stop_early), STALL_STREAK, PATH_MARGIN, DIVERGE_AT),
        _loop.Outputs(
            W, out.trace, out.iterations, out.rel_error, out.diverged, out.stalled, out.iterations_run, out.shrinks
        ),
        _loop.Scratch(np.empty_like(W), np.empty((P if screen else 0, W.shape[1]), np.float32), np.empty_like(Y)),
    )
    _loop.support_is(W, np.flatnonzero(w_star), out.support_recovered)
    out.support_recovered &= ~out.diverged
    _loop.slopes(out.trace, out.iterations, out.iterations_run, out.slope)
    return out


def _quantized(X, problems, rule, screen):
    """The screen's int16 copy of ``X``, its scale and step, and whether the screen is used:
    only for a fixed step on a screened set (a step rule reads the exact gradient), and
    not on an ``X`` of zeros. Without it the copy is empty and unused."""
    screen = screen and any(
        projections.get(p.regularizer).screened and code == _loop.FIXED for p, code in zip(problems, rule, strict=True)
    )
    if not screen:
        return np.empty((0, X.shape[1]), np.int16), 0.0, 0.0, False
    XQ = np.empty(X.shape, dtype=np.int16)
    x_max, x_step = _loop.quantize(X, XQ)
    return XQ, x_max, x_step, x_step > 0


def warm_up(dtype: str = "float64", log: Callable[[str], None] | None = None) -> None:
    """Compile the loop and the normal generator for ``dtype`` (or load them from numba's
    cache) on a tiny trial, drawn as a sweep draws one.

    The first compile is slow and is cached in the user's cache folder
    (:mod:`sweep._cache`); calling this once in the client before workers start means each
    worker loads the cache instead of all compiling at once. The draw also runs the
    generator's one-off check against numpy. ``log``, when given, hears once that a first
    compile is about to take its time.
    """
    if log is not None and not _cache.is_cached(_loop.__file__):
        log(
            f"compiling the kernel for this machine ({dtype}): about a minute, once; later runs load it "
            f"from {_cache.cache_root()}"
        )
    X, w_star = problem.draw_trial(0, (2, 1, 0), 2, 1, 2, dtype=np.dtype(dtype))
    solve(X, w_star, {"relu": problem.observe(X, w_star, "relu")}, [Problem("relu", "l0", 2)], 1, 0.0)
