"""numpy's standard normals from an SFC64 generator, bit for bit, drawn faster (numba).

Drawing ``X`` is the floor of a trial's cost (``docs/performance.md``). numpy draws each normal through an
indirect call into its bit generator and branches on the sign, which the CPU mispredicts
half the time. Here SFC64's four state words stay in registers and the ziggurat's fast path
(99% of draws) has no unpredictable branch. Everything else is numpy's: the algorithm
(``random_standard_normal`` and ``random_standard_normal_f`` of numpy's
``distributions.c``), its tables (as numba ships them for its own ``Generator`` support),
the order of draws, and the state the generator is left in. So datasets, seeds and nested
prefixes are unchanged, and :func:`standard_normal` is a drop-in for
``rng.standard_normal``.

That claim is checked, not assumed: the first call in a process compares both ways on
:data:`CHECK_DRAWS` draws of each dtype and, should numpy's generator ever
differ from this copy, warns once and uses numpy. ``tests/sweep/test_normal.py`` compares
millions of draws, rare paths included.
"""

import functools
import math
import warnings

import numpy as np
from numba import njit

from . import _cache

_cache.install()  # compiled functions cached in the user's folder, not site-packages

try:  # numba's private copy of numpy's tables; a numba without it means drawing with numpy
    from numba.np.random import _constants as _zig
except ImportError:
    _zig = None

CHECK_DRAWS = 1 << 17

_JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)

if _zig is not None:
    _WI64, _KI64, _FI64 = (
        np.array(_zig.wi_double, np.float64),
        np.array(_zig.ki_double, np.uint64),
        np.array(_zig.fi_double, np.float64),
    )
    _WI32, _KI32, _FI32 = (
        np.array(_zig.wi_float, np.float32),
        np.array(_zig.ki_float, np.uint32),
        np.array(_zig.fi_float, np.float32),
    )
    # wi signed by the draw's sign bit, which sits just above the strip's index: one lookup
    # by the low 9 bits gives -(rabs wi) as numpy's negation does (exact: IEEE products are
    # symmetric in sign), where an integer select cost four instructions of ~30 a draw
    _WIS64, _WIS32 = np.concatenate([_WI64, -_WI64]), np.concatenate([_WI32, -_WI32])
    _R64, _INV_R64 = float(_zig.ziggurat_nor_r), float(_zig.ziggurat_nor_inv_r)
    _R32, _INV_R32 = np.float32(_zig.ziggurat_nor_r_f), np.float32(_zig.ziggurat_nor_inv_r_f)

_U1, _U2, _U3, _U8, _U9, _U11, _U24, _U32, _U40 = (np.uint64(k) for k in (1, 2, 3, 8, 9, 11, 24, 32, 40))
_LOW8, _LOW9, _LOW32, _MANT52 = (np.uint64(k) for k in (0xFF, 0x1FF, 0xFFFFFFFF, 0x000FFFFFFFFFFFFF))
_M8, _M9, _M23 = np.uint32(0xFF), np.uint32(0x1FF), np.uint32(0x7FFFFF)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53
_TO_FLOAT = np.float32(1.0 / 16777216.0)  # 2**-24


def standard_normal(rng, shape, dtype=np.float64):
    """``rng.standard_normal(shape, dtype=dtype)``: the same values, and ``rng`` left in the
    same state.

    Parameters
    ----------
    rng : numpy.random.Generator
        Any generator; the fast path is taken for SFC64 (the sweep's), numpy for others.
    shape : int or tuple of int
    dtype : {float64, float32}

    Returns
    -------
    numpy.ndarray
        C-contiguous, filled in C order as numpy fills it.
    """
    dtype = np.dtype(dtype)
    bits = rng.bit_generator
    fast = _zig is not None and type(bits) is np.random.SFC64 and dtype in (np.float64, np.float32)
    if not (fast and _agrees_with_numpy()):
        return rng.standard_normal(shape, dtype=dtype)
    return _draw(bits, shape, dtype)


def _draw(bits, shape, dtype):
    state = bits.state
    words = np.array(state["state"]["state"], np.uint64)
    out = np.empty(shape, dtype)
    if dtype == np.float64:
        _fill64(words, out.reshape(-1))  # 64-bit draws leave numpy's 32-bit buffer alone
    else:
        held = np.array([state["has_uint32"], state["uinteger"]], np.uint64)
        _fill32(words, held, out.reshape(-1))
        state["has_uint32"], state["uinteger"] = int(held[0]), int(held[1])
    state["state"]["state"] = words
    bits.state = state
    return out


@functools.cache
def _agrees_with_numpy():
    for dtype in (np.float64, np.float32):
        ours = np.random.SFC64(np.random.SeedSequence(20171204))
        theirs = np.random.SFC64(np.random.SeedSequence(20171204))
        np.random.Generator(theirs).integers(2**32, dtype=np.uint32)  # numpy's 32-bit buffer now full
        ours.state = theirs.state
        a = _draw(ours, CHECK_DRAWS, dtype)
        b = np.random.Generator(theirs).standard_normal(CHECK_DRAWS, dtype=dtype)
        if not (np.array_equal(a, b) and _same_state(ours, theirs)):
            warnings.warn(
                "this numpy's normals differ from sweep._normal's copy of its ziggurat; "
                "drawing with numpy (correct, slower)",
                RuntimeWarning,
                stacklevel=3,
            )
            return False
    return True


def _same_state(x, y):
    x, y = x.state, y.state
    return np.array_equal(x["state"]["state"], y["state"]["state"]) and (x["has_uint32"], x["uinteger"]) == (
        y["has_uint32"],
        y["uinteger"],
    )


@njit(**_JIT)
def _sfc64(a, b, c, w):
    """One SFC64 output and the next state (numpy's ``sfc64_next``)."""
    r = a + b + w
    return r, b ^ (b >> _U11), c + (c << _U3), ((c << _U24) | (c >> _U40)) + r, w + _U1


@njit(**_JIT)
def _fill64(s, out):
    """numpy's ``random_standard_normal`` on SFC64, ``out.size`` times; ``s`` is updated."""
    a, b, c, w = s[0], s[1], s[2], s[3]
    k, size = _U1 - _U1, np.uint64(out.size)  # unsigned: numba adds no negative-index wraparound
    while k < size:
        r, a, b, c, w = _sfc64(a, b, c, w)
        idx = np.intp(r & _LOW8)
        rabs = (r >> _U9) & _MANT52
        x = np.float64(np.int64(rabs)) * _WIS64[np.intp(r & _LOW9)]
        if rabs < _KI64[idx]:
            out[k] = x
            k += _U1
            continue
        if idx == 0:  # the base strip's tail, by Marsaglia's exponential method
            while True:
                u, a, b, c, w = _sfc64(a, b, c, w)
                v, a, b, c, w = _sfc64(a, b, c, w)
                xx = -_INV_R64 * math.log1p(-(np.float64(u >> _U11) * _TO_DOUBLE))
                yy = -math.log1p(-(np.float64(v >> _U11) * _TO_DOUBLE))
                if yy + yy > xx * xx:
                    break
            out[k] = -(_R64 + xx) if (rabs >> _U8) & _U1 else _R64 + xx
            k += _U1
        else:  # a wedge: accept under the density, else draw afresh
            u, a, b, c, w = _sfc64(a, b, c, w)
            f = (_FI64[idx - 1] - _FI64[idx]) * (np.float64(u >> _U11) * _TO_DOUBLE) + _FI64[idx]
            if f < math.exp(-0.5 * x * x):
                out[k] = x
                k += _U1
    s[0], s[1], s[2], s[3] = a, b, c, w


@njit(**_JIT)
def _sfc32(a, b, c, w, full, high):
    """numpy's ``next_uint32`` for SFC64: the low half of a 64-bit output, then its high
    half (``full`` says a high half is held)."""
    if full:
        return np.uint32(high), a, b, c, w, False, high
    r, a, b, c, w = _sfc64(a, b, c, w)
    return np.uint32(r & _LOW32), a, b, c, w, True, r >> _U32


@njit(**_JIT)
def _fast32(r):
    """The ziggurat's fast path on a 32-bit draw: the value, and whether it is accepted."""
    rabs = (r >> np.uint32(9)) & _M23
    return np.float32(np.int32(rabs)) * _WIS32[np.intp(r & _M9)], rabs < _KI32[np.intp(r & _M8)]


@njit(**_JIT)
def _pairs32(a, b, c, w, high, out, k, size):
    """:func:`_fill32`'s common case in a loop of its own: both halves of each output on
    the fast path, while two draws are left. Returns the state, the buffered high half,
    ``k``, and the output that left the loop with whether it did (a half off the fast path).

    In the general loop, with everything the slow paths keep live, SFC64's state was
    spilled to memory on every draw.
    """
    while k + _U1 < size:
        r64, a, b, c, w = _sfc64(a, b, c, w)
        high = r64 >> _U32  # numpy buffers it, and the buffer keeps it once spent
        x0, ok0 = _fast32(np.uint32(r64 & _LOW32))
        x1, ok1 = _fast32(np.uint32(high))
        if not (ok0 and ok1):
            return a, b, c, w, high, k, r64, True
        out[k] = x0
        out[k + _U1] = x1
        k += _U2
    return a, b, c, w, high, k, _U1 - _U1, False


@njit(**_JIT)
def _fill32(s, held, out):
    """numpy's ``random_standard_normal_f`` on SFC64; ``held`` is numpy's 32-bit buffer
    ``(has_uint32, uinteger)``, updated with ``s``.

    numpy takes each 64-bit output as two 32-bit draws, low half first. With the buffer
    empty, both halves are tried on the fast path together (both pass 98% of the time),
    without the buffer's branch in between; otherwise one draw goes numpy's way.
    """
    a, b, c, w = s[0], s[1], s[2], s[3]
    full, high = held[0] != 0, held[1]
    k, size = _U1 - _U1, np.uint64(out.size)  # unsigned, as in _fill64
    while k < size:
        if not full and k + _U1 < size:
            a, b, c, w, high, k, r64, slow = _pairs32(a, b, c, w, high, out, k, size)
            if not slow:  # one draw left at most: the general path below
                continue
            x0, ok0 = _fast32(np.uint32(r64 & _LOW32))
            if ok0:  # the high half goes the slow way below
                out[k] = x0
                k += _U1
                r = np.uint32(high)
            else:  # the low half goes the slow way, the high half stays buffered
                r, full = np.uint32(r64 & _LOW32), True
        else:
            r, a, b, c, w, full, high = _sfc32(a, b, c, w, full, high)
        x, ok = _fast32(r)
        if ok:
            out[k] = x
            k += _U1
            continue
        idx = np.intp(r & _M8)
        rabs = (r >> np.uint32(9)) & _M23
        if idx == 0:
            while True:
                u, a, b, c, w, full, high = _sfc32(a, b, c, w, full, high)
                v, a, b, c, w, full, high = _sfc32(a, b, c, w, full, high)
                xx = -_INV_R32 * np.log1p(-(np.float32(u >> np.uint32(8)) * _TO_FLOAT))
                yy = -np.log1p(-(np.float32(v >> np.uint32(8)) * _TO_FLOAT))
                if yy + yy > xx * xx:
                    break
            out[k] = -(_R32 + xx) if (rabs >> np.uint32(8)) & np.uint32(1) else _R32 + xx
            k += _U1
        else:
            u, a, b, c, w, full, high = _sfc32(a, b, c, w, full, high)
            f = (_FI32[idx - 1] - _FI32[idx]) * (np.float32(u >> np.uint32(8)) * _TO_FLOAT) + _FI32[idx]
            if f < math.exp(-0.5 * np.float64(x) * np.float64(x)):
                out[k] = x
                k += _U1
    s[0], s[1], s[2], s[3] = a, b, c, w
    held[0], held[1] = full, high
