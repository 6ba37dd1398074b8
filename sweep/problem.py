"""Planted structured-signal problems with Gaussian designs (``docs/design.md#science``).

Every random draw of a trial comes from one generator seeded by
``SeedSequence(seed, spawn_key=key)``, so a trial's data depends only on the seed and
its key, never on which worker ran it or in which order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _loop, _normal, structures

if TYPE_CHECKING:
    from typing import Any

SIGNALS = structures.SIGNALS  # the kinds of nonzeros of a sparse w*


def trial_rng(seed: int, key: tuple[int, ...]) -> np.random.Generator:
    """Generator for one trial.

    Parameters
    ----------
    seed : int
        The sweep's seed.
    key : tuple of int
        The model-independent cell key, e.g. ``(d, s, trial)``.

    Returns
    -------
    numpy.random.Generator
        SFC64-backed: it draws normals faster than PCG64, and data generation is the
        floor of a trial's cost (``docs/design.md#determinism``).
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))
    return np.random.Generator(np.random.SFC64(ss))


def planted_signal(
    rng: np.random.Generator,
    d: int,
    s: int,
    signal: str = "gaussian",
    dtype: Any = np.float64,
    structure: str = "sparse",
    group_size: int = 1,
) -> np.ndarray:
    """Unit-norm ``w*`` of the given structure (:mod:`sweep.structures`); the paper's is
    ``s``-sparse with a uniformly random support.

    ``signal="gaussian"`` draws the nonzeros i.i.d. N(0, 1); ``"rademacher"`` (sparse only)
    gives them equal magnitude and random signs (IHT's transition depends on this:
    docs/design.md#library-facts).
    """
    kind = structures.get(structure)
    if signal not in kind.signals:
        raise ValueError(f"signal must be one of {kind.signals} for {structure} w*, got {signal!r}")
    return kind.signal(rng, d, s, group_size, signal, dtype)


def gaussian_design(rng: np.random.Generator, n: int, d: int, dtype: Any = np.float64) -> np.ndarray:
    """``n x d`` matrix of i.i.d. N(0, 1) entries, filled row by row.

    Rows are drawn in order from one stream, so ``gaussian_design(rng, n, d)[:m]`` equals
    ``gaussian_design(rng_copy, m, d)``: nested samples are prefixes of one draw. The values
    are ``rng.standard_normal((n, d), dtype=dtype)``'s, drawn faster by
    :mod:`sweep._normal`.
    """
    return _normal.standard_normal(rng, (n, d), dtype)


def observe(X: np.ndarray, w_star: np.ndarray, model: str) -> np.ndarray:
    """Labels ``ReLU(X w*)`` (``model="relu"``) or ``X w*`` (``model="linear"``).

    ``X w*`` is summed over the nonzeros of ``w*`` in increasing order, compiled: the same
    bits on every machine, where BLAS's matrix-vector product sums in the order of whichever
    kernel the CPU selects, and ``n s`` multiply-adds rather than ``n d``.
    """
    X = np.ascontiguousarray(X)
    z = np.empty(X.shape[0], dtype=np.result_type(X, w_star))
    _loop.sparse_times(X, w_star.astype(z.dtype, copy=False), np.flatnonzero(w_star), z)
    if model == "relu":
        return np.maximum(z, 0)
    if model == "linear":
        return z
    raise ValueError(f"model must be 'relu' or 'linear', got {model!r}")


def draw_trial(
    seed: int,
    key: tuple[int, ...],
    d: int,
    s: int,
    n: int,
    signal: str = "gaussian",
    dtype: Any = np.float64,
    structure: str = "sparse",
    group_size: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """``w*`` then ``X`` (``n x d``) for one trial, from one generator.

    ReLU and linear labels are both computed from this ``X`` and ``w*`` by the caller, so
    the two models are compared on identical data.
    """
    rng = trial_rng(seed, key)
    w_star = planted_signal(rng, d, s, signal, dtype, structure, group_size)
    X = gaussian_design(rng, n, d, dtype)
    return X, w_star
