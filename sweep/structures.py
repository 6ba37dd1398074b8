"""Structures of the planted ``w*``: what ``s`` counts, how ``w*`` is drawn, which ``d`` fit,
and the n0 methods of its descent cones.

:data:`STRUCTURES` is the one registry. Each constraint set (:mod:`sweep.projections`)
names its structure; a sweep's sets share one, since every set of a trial sees the same
``w*``. Config validation, the trial's draw, the n0 tables, the dataset's CF attributes,
``sweep n0`` and the analysis's labels read it: a new structure is one ``@register`` here
(with its n0 formulas in :mod:`sweep.theory`).

- ``sparse``: ``s`` nonzero coordinates (the paper's).
- ``group``: ``s`` nonzero groups among the ``d / g`` consecutive groups of ``g =
  group_size`` coordinates.
- ``lowrank``: a ``p x p`` matrix of rank ``s`` (``d = p^2``), read row by row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import theory

if TYPE_CHECKING:
    from typing import Any

SIGNALS = ("gaussian", "rademacher")


@dataclass(frozen=True)
class N0Method:
    """One way to get ``n0`` for a structure of ``w*``.

    ``compute(s, d, g, seed)`` gives ``(n0, standard error)``, the error 0 where the value is
    computed rather than sampled (``sampled``: a Monte-Carlo estimate, whose standard error
    the dataset keeps as ``n0_<method>_se``). ``words`` is how a figure's label and theory
    line say it (``n = ...``); ``long_name`` the CF long name of its coordinate ``n0_<method>``.
    """

    compute: Callable
    words: str
    long_name: str
    sampled: bool = False


@dataclass(frozen=True)
class Structure:
    """A kind of planted ``w*``.

    ``limit(d, g)`` is the bound ``s`` must stay below; ``misfit(d, g)`` says why ``d`` and
    ``g`` do not fit the structure (or None), and ``blames`` which of the two it is (``d``
    or ``group_size``); ``signal(rng, d, s, g, kind, dtype)`` draws a unit-norm ``w*``;
    ``n0`` maps method names to :class:`N0Method` (``l1`` is always the statistical
    dimension of the structure's convex descent cone, ``approx`` its closed-form bound);
    ``signals`` are the kinds of nonzeros it draws; ``grouped`` whether it reads
    ``group_size``. Its words, the one source of every label and sentence about it:
    ``counts`` what ``s`` counts, in a sentence; ``s_words`` as an axis says it;
    ``s_long_name`` as the dataset's ``s`` coordinate says it; ``convex`` the norm of its
    convex set; ``where(d, g)`` the shape a one-line answer adds after ``d`` (``, p=32``).
    """

    name: str
    counts: str
    limit: Callable
    misfit: Callable
    signal: Callable
    n0: dict[str, N0Method]
    signals: tuple
    s_words: str
    s_long_name: str
    convex: str
    grouped: bool = False
    blames: str = "d"
    where: Callable = lambda d, g: ""

    @property
    def n0_words(self) -> dict[str, str]:
        """``{method: words}`` (:attr:`N0Method.words`)."""
        return {method: m.words for method, m in self.n0.items()}


STRUCTURES: dict[str, Structure] = {}
#: The paper's structure: what a dataset without a ``structure`` attribute holds.
DEFAULT = "sparse"


def register(name: str, **fields: Any) -> Callable[[Callable], Callable]:
    """Decorator registering ``signal`` as the draw of structure ``name`` (the other
    :class:`Structure` fields by keyword)."""

    def wrap(signal):
        STRUCTURES[name] = Structure(name=name, signal=signal, **fields)
        return signal

    return wrap


def get(name: str) -> Structure:
    try:
        return STRUCTURES[name]
    except KeyError:
        raise KeyError(f"unknown structure {name!r}; known: {sorted(STRUCTURES)}") from None


def methods() -> tuple[str, ...]:
    """Every n0 method name of any structure, in the registry's order."""
    return tuple(dict.fromkeys(m for kind in STRUCTURES.values() for m in kind.n0))


def n0(
    structure: str, s: int, d: int, method: str = "approx", group_size: int = 1, seed: int = 0
) -> tuple[float, float]:
    """``(n0, standard error)`` by ``method`` for a ``w*`` of the given structure."""
    kind = STRUCTURES.get(structure)
    if kind is None:
        raise ValueError(f"structure must be one of {sorted(STRUCTURES)}, got {structure!r}")
    if method not in kind.n0:
        raise ValueError(f"n0 method for {structure} must be one of {sorted(kind.n0)}, got {method!r}")
    return kind.n0[method].compute(s, d, group_size, seed)


def _unit(values):
    # fsum is correctly rounded: the same norm on every machine (a BLAS dot's order is not)
    return values / math.sqrt(math.fsum(values.ravel() * values.ravel()))


@register(
    "sparse",
    counts="nonzero coordinates",
    limit=lambda d, g: d,
    misfit=lambda d, g: None,
    signals=SIGNALS,
    s_words="sparsity s (nonzero entries)",
    s_long_name="sparsity of w*",
    n0={
        "approx": N0Method(lambda s, d, g, seed: (theory.n0_approx(s, d), 0.0), "2 s log(d/s)", "n0 = 2 s log(d/s)"),
        "l1": N0Method(
            lambda s, d, g, seed: (theory.n0_l1(s, d), 0.0),
            "l1 statistical dimension",
            "statistical dimension of the l1 descent cone at an s-sparse point",
        ),
        "l0-mc": N0Method(
            lambda s, d, g, seed: theory.n0_l0_mc(s, d, seed=seed),
            "l0 union-bound width² (MC)",
            "Monte-Carlo squared Gaussian width of the union of 2s-sparse coordinate subspaces containing "
            "supp(w*), an upper bound on the l0 descent set's",
            sampled=True,
        ),
    },
    convex="l1",
)
def sparse_signal(
    rng: np.random.Generator, d: int, s: int, g: int = 1, kind: str = "gaussian", dtype: Any = np.float64
) -> np.ndarray:
    """Unit-norm ``s``-sparse ``w*`` with a uniformly random support; ``kind="gaussian"``
    draws the nonzeros i.i.d. N(0, 1), ``"rademacher"`` gives them equal magnitude and
    random signs (IHT's transition depends on this: docs/design.md#library-facts)."""
    support = np.sort(rng.choice(d, size=s, replace=False))
    if kind == "gaussian":
        values = rng.standard_normal(s)
    else:
        values = np.where(rng.integers(0, 2, size=s) == 1, 1.0, -1.0)
    w = np.zeros(d, dtype=dtype)
    w[support] = _unit(values)
    return w


@register(
    "group",
    counts="nonzero groups",
    limit=lambda d, g: d // g,
    misfit=lambda d, g: None if d % g == 0 else f"d = {d} is not a multiple of group_size = {g}",
    signals=("gaussian",),
    s_words="s (nonzero groups)",
    s_long_name="number of nonzero groups of w* (group_size coordinates each)",
    n0={
        "approx": N0Method(
            lambda s, d, g, seed: (theory.n0_group_approx(s, g, d), 0.0),
            "s (√g + √(2 log(G/s)))²",
            "n0 = s (sqrt(g) + sqrt(2 log(G/s)))^2, G = d / g groups of g",
        ),
        "l1": N0Method(
            lambda s, d, g, seed: (theory.n0_group_l1(s, g, d), 0.0),
            "group-l1 statistical dimension",
            "statistical dimension of the group-l1 descent cone at w*",
        ),
    },
    convex="group-l1",
    grouped=True,
    blames="group_size",
    where=lambda d, g: f", g={g}",
)
def group_signal(
    rng: np.random.Generator, d: int, s: int, g: int = 1, kind: str = "gaussian", dtype: Any = np.float64
) -> np.ndarray:
    """Unit-norm ``w*`` with ``s`` uniformly random groups of ``g`` consecutive coordinates,
    their entries i.i.d. N(0, 1)."""
    groups = np.sort(rng.choice(d // g, size=s, replace=False))
    values = rng.standard_normal((s, g))
    w = np.zeros((d // g, g), dtype=dtype)
    w[groups] = _unit(values)
    return w.ravel()


def _side(d):
    return math.isqrt(d)


@register(
    "lowrank",
    counts="rank",
    limit=lambda d, g: _side(d),
    misfit=lambda d, g: None if _side(d) ** 2 == d else f"d = {d} is not a square p^2 (a p x p matrix)",
    signals=("gaussian",),
    s_words="s (rank r of the p × p W*)",
    s_long_name="rank of w* as a p x p matrix (d = p^2)",
    n0={
        "approx": N0Method(
            lambda s, d, g, seed: (theory.n0_rank_approx(s, d), 0.0), "3 r (2p − r)", "n0 = 3 r (2p - r)"
        ),
        "l1": N0Method(
            lambda s, d, g, seed: theory.n0_nuclear_mc(s, d, seed=seed),
            "nuclear-norm statistical dimension (MC)",
            "Monte-Carlo statistical dimension of the nuclear-norm descent cone at w*",
            sampled=True,
        ),
    },
    convex="nuclear-norm",
    where=lambda d, g: f", p={_side(d)}",
)
def lowrank_signal(
    rng: np.random.Generator, d: int, s: int, g: int = 1, kind: str = "gaussian", dtype: Any = np.float64
) -> np.ndarray:
    """Unit-Frobenius-norm ``W* = A B^T`` with ``A, B`` ``p x s`` Gaussian factors (rank
    ``s``), row by row into ``w*``. The product is summed one rank-one term at a time, in
    order: elementwise, so the same bits on every machine (a BLAS product's are not)."""
    p = _side(d)
    A, B = rng.standard_normal((p, s)), rng.standard_normal((p, s))
    W = np.zeros((p, p))
    for k in range(s):
        W += A[:, k, None] * B[None, :, k]
    return _unit(W).ravel().astype(dtype)
