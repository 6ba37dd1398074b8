"""Euclidean projections onto ``K = {w : R(w) <= R(w*)}`` (eq. 3.3).

Each projection acts column by column on a ``(d, P)`` array (one column per problem) or
on a single vector, and takes the radius ``R(w*)`` of each column and the group size of
its structure (read by the group sets alone).

:data:`CONSTRAINTS` is the one registry of constraint sets: each entry names its
regularizer, this reference projection and its compiled twin in the sweep's loop (the
name of its code in :mod:`sweep._loop`, given as text: this module sits below the kernel
and imports nothing of it). Config validation offers exactly the registered sets, and the
tests run every one through both implementations. How to add one:
``docs/design.md#adding-a-constraint-set``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import structures

if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class ConstraintSet:
    """A regularizer ``R(w, group_size)``, the Euclidean projection onto ``{R(w) <= radius}``
    (``project(V, radius, group_size=1)``), the name of the projection's code in the
    compiled loop (:mod:`sweep._loop`) and the structure of ``w*`` it is for
    (:data:`sweep.structures.STRUCTURES`). ``screened``: a hard threshold, whose surviving
    entries a cheap int16 pass over ``X`` can find before the exact gradient (the kernel's
    screen)."""

    name: str
    regularizer: Callable[[np.ndarray, int], float]
    project: Callable[..., np.ndarray]
    compiled: str
    structure: str
    screened: bool = False


CONSTRAINTS: dict[str, ConstraintSet] = {}


def register(
    name: str,
    regularizer: Callable[..., float],
    compiled: str,
    structure: str = structures.DEFAULT,
    screened: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator registering ``project(V, radius, group_size)`` as constraint set ``name``
    for ``structure``, whose twin in the compiled loop is dispatched on
    ``sweep._loop.<compiled>``."""
    structures.get(structure)

    def wrap(project):
        CONSTRAINTS[name] = ConstraintSet(name, regularizer, _columnwise(project), compiled, structure, screened)
        return project

    return wrap


def _columnwise(project):
    # Projections are written for (d, P); vectors are one-column matrices.
    def apply(V, radius, group_size=1):
        V = np.asarray(V)
        if V.ndim == 1:
            return project(V[:, None], np.atleast_1d(radius), group_size)[:, 0]
        return project(V, np.broadcast_to(np.asarray(radius), V.shape[1:]), group_size)

    return apply


def get(name: str) -> ConstraintSet:
    """The :class:`ConstraintSet` called ``name``; ``KeyError`` names the known ones."""
    try:
        return CONSTRAINTS[name]
    except KeyError:
        raise KeyError(f"unknown regularizer {name!r}; known: {sorted(CONSTRAINTS)}") from None


@register("l0", regularizer=lambda w, g=1: int(np.count_nonzero(w)), compiled="L0", screened=True)
def project_l0(V: np.ndarray, radius: Any, group_size: int = 1) -> np.ndarray:
    """Keep the ``s = radius`` largest magnitudes of each column (hard thresholding).

    Exactly ``s`` entries are kept even among ties, and ties at the cut keep the lowest
    indices: the rule of the compiled twin (``sweep._loop._l0_cut``), so both keep the
    same entries. A stable sort of the magnitudes puts equal ones in index order.
    """
    d = V.shape[0]
    k = int(np.max(radius))
    if np.any(radius != k):
        return np.column_stack([project_l0(V[:, [j]], radius[[j]]) for j in range(V.shape[1])])
    if k >= d:
        return V.copy()
    keep = np.argsort(-np.abs(V), axis=0, kind="stable")[:k]
    cols = np.arange(V.shape[1])
    out = np.zeros_like(V)
    out[keep, cols] = V[keep, cols]
    return out


@register("l1", regularizer=lambda w, g=1: float(np.abs(w).sum()), compiled="L1")
def project_l1(V: np.ndarray, radius: Any, group_size: int = 1) -> np.ndarray:
    """Exact projection onto the l1 ball of the given radius, O(d log d) per column.

    The sort-based method of Duchi, Shalev-Shwartz, Singer and Chandra (ICML 2008): the
    projection soft-thresholds at the ``theta`` that puts the result on the sphere.
    """
    radius = np.asarray(radius, dtype=V.dtype)
    absV = np.abs(V)
    inside = absV.sum(axis=0) <= radius
    if np.all(inside):
        return V.copy()
    u = -np.sort(-absV, axis=0)
    cssv = np.cumsum(u, axis=0) - radius
    j = np.arange(1, V.shape[0] + 1, dtype=V.dtype)[:, None]
    rho = np.count_nonzero(u * j > cssv, axis=0)  # u_j > (cssv_j - r)/j holds for a prefix
    theta = np.take_along_axis(cssv, (rho - 1)[None, :], axis=0)[0] / rho.astype(V.dtype)  # keep float32 float32
    theta = np.where(inside, 0, np.maximum(theta, 0)).astype(V.dtype)
    return np.sign(V) * np.maximum(absV - theta, 0)


@register("none", regularizer=lambda w, g=1: 0.0, compiled="NONE")
def project_none(V: np.ndarray, radius: Any, group_size: int = 1) -> np.ndarray:
    """No constraint: the identity (meaningful only for ``n >= d``)."""
    return V.copy()


def group_norms2(V: np.ndarray, g: int) -> np.ndarray:
    """Squared norms of the ``d / g`` consecutive groups of each column of ``V`` (``(d, P)``),
    in float64, each summed over its coordinates in order: the compiled twins' sums."""
    groups = V.reshape(V.shape[0] // g, g, V.shape[1]).astype(np.float64)
    total = groups[:, 0] ** 2
    for k in range(1, g):
        total = total + groups[:, k] ** 2
    return total


@register(
    "group-l0",
    regularizer=lambda w, g: int(np.count_nonzero(group_norms2(w[:, None], g))),
    compiled="GL0",
    structure="group",
)
def project_group_l0(V: np.ndarray, radius: Any, group_size: int = 1) -> np.ndarray:
    """Keep the ``s = radius`` groups of largest norm in each column (group hard thresholding).

    Exactly ``s`` groups are kept, ties to the lowest index, as in :func:`project_l0`.
    """
    g, P = group_size, V.shape[1]
    k = int(np.max(radius))
    if np.any(radius != k):
        return np.column_stack([project_group_l0(V[:, [j]], radius[[j]], g) for j in range(P)])
    norms2 = group_norms2(V, g)
    if k >= norms2.shape[0]:
        return V.copy()
    keep = np.zeros(norms2.shape, dtype=bool)
    keep[np.argsort(-norms2, axis=0, kind="stable")[:k], np.arange(P)] = True
    return np.where(np.repeat(keep, g, axis=0), V, 0).astype(V.dtype)


@register(
    "group-l1",
    regularizer=lambda w, g: float(np.sqrt(group_norms2(w[:, None], g)).sum()),
    compiled="GL1",
    structure="group",
)
def project_group_l1(V: np.ndarray, radius: Any, group_size: int = 1) -> np.ndarray:
    """Projection onto the ball of the group-l1 norm ``sum_G ||w_G||``: the vector of group
    norms projected onto the l1 ball (:func:`project_l1`), each group rescaled to its new
    norm (the group-l1 norm's proximal structure: a group's direction is kept)."""
    g = group_size
    norms = np.sqrt(group_norms2(V, g)).astype(V.dtype)
    shrunk = project_l1(norms, radius)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(norms > 0, shrunk / norms, 0).astype(V.dtype)
    return V * np.repeat(factor, g, axis=0)


def _matrices(V):
    """Each column of ``V`` (``(p^2, P)``) as a ``p x p`` matrix, row by row: ``(P, p, p)``."""
    p = math.isqrt(V.shape[0])
    return np.ascontiguousarray(V.T).reshape(V.shape[1], p, p)


def _columns(M, like):
    return np.ascontiguousarray(M.reshape(M.shape[0], -1).T).astype(like.dtype)


def _rebuild(U, S, Vt, k):
    """``U[:, :k] diag(S[:k]) Vt[:k]``, one rank-one term at a time in order (the compiled
    twin's sums)."""
    out = np.zeros((U.shape[0], Vt.shape[1]))
    for a in range(k):
        out += (U[:, a] * S[a])[:, None] * Vt[a][None, :]
    return out


@register(
    "rank",
    regularizer=lambda w, g=1: float(np.linalg.matrix_rank(_matrices(w[:, None])[0])),
    compiled="RANK",
    structure="lowrank",
)
def project_rank(V: np.ndarray, radius: Any, group_size: int = 1) -> np.ndarray:
    """The nearest matrix of rank at most ``r = radius`` (Eckart-Young): the truncated SVD."""
    out = np.empty(V.shape[1:] + (math.isqrt(V.shape[0]),) * 2)
    for j, M in enumerate(_matrices(V).astype(np.float64)):
        U, S, Vt = np.linalg.svd(M)
        out[j] = _rebuild(U, S, Vt, min(int(radius[j]), S.size))
    return _columns(out, V)


@register(
    "nuclear",
    regularizer=lambda w, g=1: float(np.linalg.svd(_matrices(w[:, None])[0], compute_uv=False).sum()),
    compiled="NUCLEAR",
    structure="lowrank",
)
def project_nuclear(V: np.ndarray, radius: Any, group_size: int = 1) -> np.ndarray:
    """Projection onto the nuclear-norm ball: the singular values projected onto the l1 ball
    (:func:`project_l1`; they are non-negative), the singular vectors kept."""
    out = np.empty(V.shape[1:] + (math.isqrt(V.shape[0]),) * 2)
    for j, M in enumerate(_matrices(V).astype(np.float64)):
        U, S, Vt = np.linalg.svd(M)
        shrunk = project_l1(S[:, None], np.array([radius[j]], dtype=np.float64))[:, 0]
        out[j] = _rebuild(U, shrunk, Vt, S.size)
    return _columns(out, V)
