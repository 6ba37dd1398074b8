"""Step rules: how ``mu_t`` (t >= 1) is chosen, one registry.

A step is a number (a fixed ``mu_t``) or a :class:`StepRule`: that is what PGD, the kernel
and the compiled loop are given. A sweep's ``step_sizes`` lists fixed steps (numbers in
``(0, 4]``) and the names of the rules registered here. On disk every step has one value on
the dataset's numeric ``step_size`` axis: a fixed step is its own value; a rule has a
coordinate ``<= 0``, which no fixed step can take, so the axis stays numeric, sorted and
CF-clean (``docs/design.md#step-rules``). :func:`coordinate` and :func:`on_axis` are that
encoding's two directions, and nothing else reads a step by its sign.

:data:`RULES` is the one registry: each entry names its coordinate, its reference
(:func:`sweep.pgd.pgd` calls it) and the code of its compiled twin in :mod:`sweep._loop`
(given as text: this module sits below the kernel and imports nothing of it). Config
validation, the kernel, the dataset and the analysis read it. A new rule is one
``@register`` here, its twin in the loop, and its tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PAPER_STEP = 1.0  # mu_t for t >= 1 in Theorem 3.1

# NIHT's safeguard constants (Blumensath & Davies 2010, section III): a step is too long
# when it exceeds (1 - c) times the quadratic model's own step along the move it made, and
# is then divided by k (1 - c).
SAFEGUARD_C = 0.01
SAFEGUARD_K = 2.0
SHRINK = SAFEGUARD_K * (1 - SAFEGUARD_C)
# A bound on shrinks per iteration, never reached on a finite problem: after 64 the step is
# 2^-63 of where it started, far below any move the projection could make on a new support.
MAX_SHRINKS = 64


@dataclass(frozen=True)
class StepRule:
    """A named way of choosing ``mu_t`` for ``t >= 1``.

    ``update(w, g, X, y, model, project)`` returns ``(w_{t+1}, mu_t, shrinks)``: the
    projected step, the step it took and how often the rule shortened it.
    """

    name: str
    coordinate: float
    update: Callable
    compiled: str


RULES: dict[str, StepRule] = {}


def register(name: str, coordinate: float, compiled: str) -> Callable[[Callable], Callable]:
    """Decorator registering ``update`` as step rule ``name`` at ``coordinate`` (<= 0) on the
    ``step_size`` axis, with its compiled twin ``sweep._loop.<compiled>``."""
    if not coordinate <= 0:
        raise ValueError(f"a step rule's coordinate must be <= 0 (fixed steps are > 0), got {coordinate}")

    def wrap(update):
        RULES[name] = StepRule(name, float(coordinate), update, compiled)
        return update

    return wrap


#: What PGD is given for ``t >= 1``: a fixed step, or a rule that chooses it.
Step = float | StepRule


def on_axis(value: float) -> Step:
    """The step a value of the dataset's ``step_size`` axis stands for: the fixed step itself
    (``> 0``), or the rule registered at that coordinate."""
    if value > 0:
        return float(value)
    for r in RULES.values():
        if value == r.coordinate:
            return r
    raise KeyError(f"no step rule at step_size = {value!r}; known: {sorted(RULES)}")


def step_of(entry: float | str) -> Step:
    """The step a config entry names: a number is a fixed step, a string a rule's name."""
    if isinstance(entry, str):
        try:
            return RULES[entry]
        except KeyError:
            raise KeyError(f"unknown step rule {entry!r}; known: {sorted(RULES)}") from None
    return float(entry)


def coordinate(step: Step | str) -> float:
    """The value of ``step`` (a step, or a rule's name) on the ``step_size`` axis."""
    step = step_of(step) if isinstance(step, str) else step
    return step.coordinate if isinstance(step, StepRule) else float(step)


def is_fixed(step: Step | str) -> bool:
    """Whether ``step`` (a step, a rule's name, or a value of the ``step_size`` axis) is a
    fixed step."""
    return not isinstance(step, (StepRule, str)) and step > 0


def label(step: Step | str) -> str:
    """How a step (or a value of the ``step_size`` axis) reads in tables, legends and file
    names: ``"0.5"`` or ``"normalized"``."""
    if isinstance(step, str):
        step = step_of(step)
    if isinstance(step, StepRule):
        return step.name
    return f"{float(step):g}" if step > 0 else label(on_axis(step))


def curvature_weights(model: str, z: np.ndarray) -> np.ndarray:
    """The rows and weights of eq. 3.1's generalized gradient at ``w`` (``z = X w``): its
    gradient is that of the quadratic ``(1/2n) sum_i a_i (<x_i, w> - y_i)^2`` with
    ``a_i = 1 + sgn(z_i)`` for ReLU (0 on inactive rows, 2 on active ones) and ``a_i = 1``
    for linear observations, so that quadratic is the loss's local model at ``w``
    (``docs/design.md#step-rules``)."""
    if model == "relu":
        return 1.0 + np.sign(z)
    return np.ones_like(z)


def quadratic_step(u: np.ndarray, g: np.ndarray, X: np.ndarray, a: np.ndarray) -> float:
    """The minimizer along ``-u`` of the local model of a loss with gradient ``g``:
    ``<g, u> / ((1/n) sum_i a_i <x_i, u>^2)``, in float64.

    With ``u = g_Gamma`` (the gradient on the support) the numerator is ``||g_Gamma||^2``:
    NIHT's step. With ``u = w_{t+1} - w_t`` and ``g`` the same move, the safeguard's
    ``omega`` (up to its ``1 - c``). A flat or degenerate model (zero curvature or zero
    slope) has no minimizer: NaN.
    """
    num = float(np.dot(g.astype(np.float64), u.astype(np.float64)))
    Xu = X.astype(np.float64) @ u.astype(np.float64)
    den = float(np.dot(a, Xu * Xu)) / X.shape[0]
    return num / den if num > 0 and den > 0 else math.nan


@register("normalized", coordinate=0.0, compiled="NORMALIZED")
def normalized_update(
    w: np.ndarray, g: np.ndarray, X: np.ndarray, y: np.ndarray, model: str, project: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, float, int]:
    """Normalized IHT (Blumensath & Davies 2010), for both observation models.

    ``Gamma = supp(w_t)``; ``mu`` minimizes the local quadratic model of the loss along
    ``-g_Gamma`` (:func:`quadratic_step`; where the model has no minimizer, the paper's step).
    When the projected point leaves ``Gamma`` and ``mu`` exceeds ``(1 - c)`` times the
    model's step along the move ``w_{t+1} - w_t``, the step was longer than the model can
    vouch for off the support: ``mu`` is divided by ``k (1 - c)`` and the update redone.
    """
    a = curvature_weights(model, X @ w)  # the rows and weights of eq. 3.1 at w_t
    support = np.flatnonzero(w)  # Gamma
    g_support = np.zeros_like(g)
    g_support[support] = g[support]
    mu = quadratic_step(g_support, g_support, X, a)
    mu = PAPER_STEP if math.isnan(mu) else mu
    shrinks = 0
    while True:
        w_next = project(w - X.dtype.type(mu) * g)  # eq. 3.2 at this mu
        if np.array_equal(np.flatnonzero(w_next), support) or shrinks == MAX_SHRINKS:
            break
        move = w_next - w
        omega = (1 - SAFEGUARD_C) * quadratic_step(move, move, X, a)
        if not mu > omega:  # NaN (no curvature along the move): the model cannot object
            break
        mu /= SHRINK
        shrinks += 1
    return w_next, mu, shrinks
