"""Euclidean projections onto ``K = {w : R(w) <= R(w*)}`` (eq. 3.3).

Each projection acts column by column on a ``(d, P)`` array (one column per problem) or
on a single vector, and takes the radius ``R(w*)`` of each column.

:data:`CONSTRAINTS` is the one registry of constraint sets: each entry names its
regularizer, this reference projection and its compiled twin in the sweep's loop (the
name of its code in :mod:`sweep._loop`, given as text: this module sits below the kernel
and imports nothing of it). Config validation offers exactly the registered sets, and the
tests run every one through both implementations. How to add one:
``docs/design.md#adding-a-constraint-set``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConstraintSet:
    """A regularizer ``R``, the Euclidean projection onto ``{R(w) <= radius}``, and the
    name of the projection's code in the compiled loop (:mod:`sweep._loop`)."""

    name: str
    regularizer: Callable[[np.ndarray], float]
    project: Callable[[np.ndarray, np.ndarray], np.ndarray]
    compiled: str


CONSTRAINTS: dict[str, ConstraintSet] = {}


def register(name, regularizer, compiled):
    """Decorator registering ``project(V, radius)`` as constraint set ``name``, whose twin
    in the compiled loop is dispatched on ``sweep._loop.<compiled>``."""

    def wrap(project):
        CONSTRAINTS[name] = ConstraintSet(name, regularizer, _columnwise(project), compiled)
        return project

    return wrap


def _columnwise(project):
    # Projections are written for (d, P); vectors are one-column matrices.
    def apply(V, radius):
        V = np.asarray(V)
        if V.ndim == 1:
            return project(V[:, None], np.atleast_1d(radius))[:, 0]
        return project(V, np.broadcast_to(np.asarray(radius), V.shape[1:]))

    return apply


def get(name):
    """The :class:`ConstraintSet` called ``name``; ``KeyError`` names the known ones."""
    try:
        return CONSTRAINTS[name]
    except KeyError:
        raise KeyError(f"unknown regularizer {name!r}; known: {sorted(CONSTRAINTS)}") from None


@register("l0", regularizer=lambda w: int(np.count_nonzero(w)), compiled="L0")
def project_l0(V, radius):
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


@register("l1", regularizer=lambda w: float(np.abs(w).sum()), compiled="L1")
def project_l1(V, radius):
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


@register("none", regularizer=lambda w: 0.0, compiled="NONE")
def project_none(V, radius):
    """No constraint: the identity (meaningful only for ``n >= d``)."""
    return V.copy()
