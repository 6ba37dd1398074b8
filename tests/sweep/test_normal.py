"""sweep._normal draws numpy's own normals: equal arrays and equal generator states.

The comparisons call the compiled path (``_normal._draw``) directly, so a fallback to numpy
could not pass them.
"""

import numpy as np
import pytest

from sweep import _normal, problem
from sweep._normal import standard_normal

R_TAIL = 3.6541528853610088  # the ziggurat's base strip ends here: beyond it only the tail path draws

CASES = [
    dict(dtype="float64", shape=(700, 300), skip32=0),
    dict(dtype="float64", shape=(700, 300), skip32=1),  # numpy's 32-bit half held: 64-bit draws keep it
    dict(dtype="float32", shape=(700, 300), skip32=0),
    dict(dtype="float32", shape=(700, 300), skip32=1),  # starts with the held half
    dict(dtype="float32", shape=(1, 1), skip32=1),
    dict(dtype="float32", shape=(3,), skip32=0),  # ends with a half held
    dict(dtype="float64", shape=(0, 5), skip32=0),
]


def _pair(seed, skip32):
    """Two SFC64 generators in one state, after ``skip32`` 32-bit draws."""
    ours, theirs = (np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed))) for _ in range(2))
    for g in (ours, theirs):
        g.integers(0, 2**32, size=skip32, dtype=np.uint32)
    return ours, theirs


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['dtype']}-{c['shape']}-skip{c['skip32']}")
def test_same_values_and_state_as_numpy(case):
    for seed in range(3):
        ours, theirs = _pair(seed, case["skip32"])
        got = _normal._draw(ours.bit_generator, case["shape"], np.dtype(case["dtype"]))
        want = theirs.standard_normal(case["shape"], dtype=case["dtype"])
        assert got.dtype == want.dtype and got.shape == want.shape and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
        assert _normal._same_state(ours.bit_generator, theirs.bit_generator)
        # and the streams stay in step afterwards
        np.testing.assert_array_equal(ours.random(4), theirs.random(4))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rare_paths_drawn_and_equal(dtype):
    """4 M draws take the wedge path ~40 000 times and the tail ~1 000 times."""
    ours, theirs = _pair(11, 0)
    got = _normal._draw(ours.bit_generator, 4_000_000, np.dtype(dtype))
    want = theirs.standard_normal(4_000_000, dtype=dtype)
    assert np.count_nonzero(np.abs(want) > R_TAIL) > 500
    np.testing.assert_array_equal(got, want)


def test_this_numpy_takes_the_fast_path():
    assert _normal._agrees_with_numpy()


def test_trial_design_is_numpys():
    """The sweep's designs are what rng.standard_normal gives: seeds and datasets carry over."""
    for dtype in (np.float64, np.float32):
        X, w = problem.draw_trial(4, (60, 3, 7), 60, 3, 50, dtype=dtype)
        rng = problem.trial_rng(4, (60, 3, 7))
        np.testing.assert_array_equal(problem.planted_signal(rng, 60, 3, dtype=dtype), w)
        np.testing.assert_array_equal(rng.standard_normal((50, 60), dtype=dtype), X)


def test_other_bit_generators_go_to_numpy():
    a, b = (np.random.Generator(np.random.PCG64(5)) for _ in range(2))
    np.testing.assert_array_equal(standard_normal(a, 100), b.standard_normal(100))


def test_a_numpy_that_differs_is_caught_and_used(monkeypatch):
    """Should numpy ever change its normals, the one-off check warns and numpy draws."""
    monkeypatch.setattr(_normal, "_draw", lambda bits, shape, dtype: np.zeros(shape, dtype))
    _normal._agrees_with_numpy.cache_clear()
    try:
        ours, theirs = _pair(2, 0)
        with pytest.warns(RuntimeWarning, match="differ"):
            got = standard_normal(ours, 10)
        np.testing.assert_array_equal(got, theirs.standard_normal(10))
    finally:
        _normal._agrees_with_numpy.cache_clear()


def test_a_numba_without_the_tables_draws_with_numpy(monkeypatch):
    monkeypatch.setattr(_normal, "_zig", None)
    ours, theirs = _pair(3, 0)
    np.testing.assert_array_equal(
        standard_normal(ours, (4, 5), "float32"), theirs.standard_normal((4, 5), dtype="float32")
    )
