"""Structures of the planted ``w*``: what ``s`` counts, how ``w*`` is drawn, which ``d`` fit,
and the n0 methods of its descent cones.

:data:`STRUCTURES` is the one registry. Each constraint set (:mod:`sweep.projections`)
names its structure; a sweep's sets share one, since every set of a trial sees the same
``w*``. Config validation, the trial's draw, the n0 tables and ``sweep n0`` read it.

- ``sparse``: ``s`` nonzero coordinates (the paper's).
- ``group``: ``s`` nonzero groups among the ``d / g`` consecutive groups of ``g =
  group_size`` coordinates.
- ``lowrank``: a ``p x p`` matrix of rank ``s`` (``d = p^2``), read row by row.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import theory

SIGNALS = ("gaussian", "rademacher")


@dataclass(frozen=True)
class Structure:
    """A kind of planted ``w*``.

    ``limit(d, g)`` is the bound ``s`` must stay below; ``misfit(d, g)`` says why ``d`` and
    ``g`` do not fit the structure (or None); ``signal(rng, d, s, g, kind, dtype)`` draws
    a unit-norm ``w*``; ``n0`` maps method names to ``(s, d, g, seed) -> (n0, se)``
    (:data:`sweep.theory.STRUCTURES`); ``signals`` are the kinds of nonzeros it draws.
    Its words, the one source of every label and sentence about it: ``s_words`` what ``s``
    counts, as an axis says it; ``n0_words`` each n0 method as a label and a theory line
    say it (``n = ...``); ``convex`` the norm of its convex set.
    """

    name: str
    counts: str
    limit: Callable
    misfit: Callable
    signal: Callable
    n0: dict
    signals: tuple
    s_words: str
    n0_words: dict
    convex: str


STRUCTURES: dict[str, Structure] = {}


def register(name, counts, limit, misfit, signals, s_words, n0_words, convex):
    """Decorator registering ``signal`` as the draw of structure ``name``."""

    def wrap(signal):
        n0 = theory.STRUCTURES[name]
        assert set(n0_words) == set(n0), (name, sorted(n0_words), sorted(n0))  # a word for every method
        STRUCTURES[name] = Structure(name, counts, limit, misfit, signal, n0, signals, s_words, n0_words, convex)
        return signal

    return wrap


def get(name):
    try:
        return STRUCTURES[name]
    except KeyError:
        raise KeyError(f"unknown structure {name!r}; known: {sorted(STRUCTURES)}") from None


def _unit(values):
    # fsum is correctly rounded: the same norm on every machine (a BLAS dot's order is not)
    return values / math.sqrt(math.fsum(values.ravel() * values.ravel()))


@register(
    "sparse",
    "nonzero coordinates",
    limit=lambda d, g: d,
    misfit=lambda d, g: None,
    signals=SIGNALS,
    s_words="sparsity s (nonzero entries)",
    n0_words={"approx": "2 s log(d/s)", "l1": "l1 statistical dimension", "l0-mc": "l0 union-bound width² (MC)"},
    convex="l1",
)
def sparse_signal(rng, d, s, g=1, kind="gaussian", dtype=np.float64):
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
    "nonzero groups",
    limit=lambda d, g: d // g,
    misfit=lambda d, g: None if d % g == 0 else f"d = {d} is not a multiple of group_size = {g}",
    signals=("gaussian",),
    s_words="s (nonzero groups)",
    n0_words={"approx": "s (√g + √(2 log(G/s)))²", "l1": "group-l1 statistical dimension"},
    convex="group-l1",
)
def group_signal(rng, d, s, g=1, kind="gaussian", dtype=np.float64):
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
    "rank",
    limit=lambda d, g: _side(d),
    misfit=lambda d, g: None if _side(d) ** 2 == d else f"d = {d} is not a square p^2 (a p x p matrix)",
    signals=("gaussian",),
    s_words="s (rank r of the p × p W*)",
    n0_words={"approx": "3 r (2p − r)", "l1": "nuclear-norm statistical dimension (MC)"},
    convex="nuclear-norm",
)
def lowrank_signal(rng, d, s, g=1, kind="gaussian", dtype=np.float64):
    """Unit-Frobenius-norm ``W* = A B^T`` with ``A, B`` ``p x s`` Gaussian factors (rank
    ``s``), row by row into ``w*``. The product is summed one rank-one term at a time, in
    order: elementwise, so the same bits on every machine (a BLAS product's are not)."""
    p = _side(d)
    A, B = rng.standard_normal((p, s)), rng.standard_normal((p, s))
    W = np.zeros((p, p))
    for k in range(s):
        W += A[:, k, None] * B[None, :, k]
    return _unit(W).ravel().astype(dtype)
