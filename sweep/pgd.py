"""Projected gradient descent for ReLU and linear observations, one trial at a time.

This is the paper's algorithm written plainly; :mod:`sweep.kernel` runs many problems at
once and is checked against it. It is also the per-trial baseline of ``benchmarks/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import projections, steps
from .steps import PAPER_STEP

if TYPE_CHECKING:
    from collections.abc import Callable

    from .steps import StepRule


def relu_gradient(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Generalized gradient of eq. 3.1, with ``sgn(0) = 0``.

    At ``w = 0`` every ``<w, x_i>`` is 0 and the factor ``1 + sgn(0) = 1`` keeps the
    gradient at ``-(1/n) X^T y``; the textbook ``1[z > 0]`` would make it 0 and PGD would
    never leave the origin.
    """
    z = X @ w
    return X.T @ ((np.maximum(z, 0) - y) * (1 + np.sign(z))) / len(y)


def linear_gradient(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the least-squares loss ``(1/2n) ||X w - y||^2``."""
    return X.T @ (X @ w - y) / len(y)


GRADIENTS = {"relu": relu_gradient, "linear": linear_gradient}


def step_size(model: str, t: int, step: float = PAPER_STEP) -> float:
    """``mu_t``: at ``t = 0`` the paper's, 2 for ReLU (Theorem 3.1: ``w_1`` is then the projected
    correlation ``P_K((2/n) sum y_i x_i)``) and 1 for linear; ``step`` after (the paper's is 1).
    A step rule (:mod:`sweep.steps`) chooses its own ``mu_t`` for ``t >= 1``.
    """
    if t == 0:
        return 2.0 if model == "relu" else 1.0
    return step


def pgd_step(
    w: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    mu: float,
    gradient: Callable[..., np.ndarray],
    project: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """One update of eq. 3.2: ``w_{t+1} = P_K(w_t - mu_t grad L(w_t))``."""
    return project(w - mu * gradient(w, X, y))


def pgd(
    X: np.ndarray,
    y: np.ndarray,
    w_star: np.ndarray,
    model: str,
    regularizer: str,
    iterations: int,
    tolerance: float | None = None,
    diverge_at: float = 1e8,
    step: float | StepRule = PAPER_STEP,
    shrinks: list[int] | None = None,
    group_size: int = 1,
) -> np.ndarray:
    """Run PGD from ``w_0 = 0`` and return the relative error at ``t = 0..T``.

    Parameters
    ----------
    X : (n, d) array
    y : (n,) array
        Labels from ``model`` (:func:`sweep.problem.observe`).
    w_star : (d,) array
        The planted signal; it sets the radius ``R(w*)`` of the constraint set.
    model : {"relu", "linear"}
    regularizer : str
        A name in :data:`sweep.projections.CONSTRAINTS`.
    iterations : int
        Iteration cap ``T``.
    tolerance : float, optional
        Stop once the relative error is at most this (the baseline's break).
    diverge_at : float
        Stop once the relative error exceeds this; it is then recorded as ``inf``.
    step : float or sweep.steps.StepRule
        ``mu_t`` for ``t >= 1`` (:func:`step_size`), or a step rule of :mod:`sweep.steps`
        (``steps.RULES["normalized"]``).
    shrinks : list, optional
        A step rule's shrinks of each iteration are appended to it.
    group_size : int
        The groups' size, for a group-sparse ``w*``'s constraint sets.

    Returns
    -------
    numpy.ndarray
        ``errors[t] = ||w_t - w*|| / ||w*||``; entries after an early stop are NaN.
    """
    cset = projections.get(regularizer)
    radius = cset.regularizer(w_star, group_size)
    gradient = GRADIENTS[model]
    norm = np.linalg.norm(w_star)
    errors = np.full(iterations + 1, np.nan)
    w = np.zeros_like(w_star)
    errors[0] = 1.0
    rule = step if isinstance(step, steps.StepRule) else None
    fixed = PAPER_STEP if isinstance(step, steps.StepRule) else step  # a rule's first step is the paper's
    project = lambda v: cset.project(v, radius, group_size)  # noqa: E731
    with np.errstate(all="ignore"):
        for t in range(iterations):
            if rule is None or t == 0:
                w = pgd_step(w, X, y, step_size(model, t, fixed), gradient, project)
            else:
                w, _, k = rule.update(w, gradient(w, X, y), X, y, model, project)
                if shrinks is not None:
                    shrinks.append(k)
            e = np.linalg.norm(w - w_star) / norm
            if not np.isfinite(e) or e > diverge_at:
                errors[t + 1] = np.inf
                break
            errors[t + 1] = e
            if tolerance is not None and e <= tolerance:
                break
    return errors
