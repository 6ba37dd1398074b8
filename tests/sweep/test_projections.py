import re
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

from sweep import kernel, projections, structures
from sweep.errors import InputError

l0 = projections.get("l0").project
l1 = projections.get("l1").project


def test_l0_keeps_exactly_s_largest(rng):
    v = rng.standard_normal(200)
    u = l0(v, 7)
    assert np.count_nonzero(u) == 7
    kept = np.abs(v[u != 0])
    assert kept.min() >= np.abs(v[u == 0]).max()
    np.testing.assert_array_equal(u[u != 0], v[u != 0])


def test_l0_is_idempotent(rng):
    u = l0(rng.standard_normal(100), 10)
    np.testing.assert_array_equal(l0(u, 10), u)


def test_l0_ties_keep_exactly_s_the_lowest_indices():
    u = l0(np.ones(12), 5)
    np.testing.assert_array_equal(np.flatnonzero(u), [0, 1, 2, 3, 4])


def test_l0_columns_are_independent(rng):
    V = rng.standard_normal((50, 4))
    U = l0(V, np.array([1, 2, 3, 4]))
    assert [np.count_nonzero(U[:, j]) for j in range(4)] == [1, 2, 3, 4]
    np.testing.assert_array_equal(U[:, 2], l0(V[:, 2], 3))


@pytest.mark.parametrize("case", [dict(d=5, r=0.5), dict(d=8, r=1.0), dict(d=12, r=2.5), dict(d=30, r=0.1)])
def test_l1_is_the_nearest_point_of_the_ball(rng, case):
    for _ in range(5):
        v = 2 * rng.standard_normal(case["d"])
        u = l1(v, case["r"])
        assert np.abs(u).sum() <= case["r"] * (1 + 1e-12)
        x, best = _nearest_in_l1_ball_by_qp(v, case["r"])
        assert np.sum((u - v) ** 2) <= best + 1e-7
        np.testing.assert_allclose(u, x, atol=1e-4)


def _nearest_in_l1_ball_by_qp(v, r):
    """Smooth split x = p - q with p, q >= 0: a brute-force QP independent of the sort."""
    d = v.size
    res = optimize.minimize(
        lambda pq: np.sum((pq[:d] - pq[d:] - v) ** 2),
        np.zeros(2 * d),
        jac=lambda pq: np.concatenate([2 * (pq[:d] - pq[d:] - v), -2 * (pq[:d] - pq[d:] - v)]),
        bounds=[(0, None)] * (2 * d),
        constraints=[{"type": "ineq", "fun": lambda pq: r - pq.sum(), "jac": lambda pq: -np.ones(2 * d)}],
        method="SLSQP",
        options=dict(ftol=1e-15, maxiter=1000),
    )
    return res.x[:d] - res.x[d:], res.fun


def test_l1_matches_threshold_bisection(rng):
    v = rng.standard_normal(300)
    r = 3.0
    lo, hi = 0.0, np.abs(v).max()
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.maximum(np.abs(v) - mid, 0).sum() > r else (lo, mid)
    np.testing.assert_allclose(l1(v, r), np.sign(v) * np.maximum(np.abs(v) - hi, 0), atol=1e-12)


def test_l1_is_idempotent_and_leaves_inside_points(rng):
    v = rng.standard_normal(40)
    u = l1(v, 1.5)
    np.testing.assert_allclose(l1(u, 1.5), u, atol=1e-14)
    inside = 0.01 * v
    np.testing.assert_array_equal(l1(inside, 10.0), inside)


def test_a_registered_set_names_its_reference_and_its_compiled_twin():
    @projections.register("box", regularizer=lambda w, g=1: float(np.abs(w).max()), compiled="BOX")
    def project_box(V, radius, group_size=1):
        return np.clip(V, -radius, radius)

    try:
        cset = projections.get("box")
        np.testing.assert_array_equal(cset.project(np.array([3.0, -0.5, -4.0]), 1.0), [1.0, -0.5, -1.0])
        with pytest.raises(LookupError, match="no compiled twin: sweep._loop.BOX"):
            kernel.compiled_code("box")  # the loop has no such projection: refused, not guessed
    finally:
        del projections.CONSTRAINTS["box"]


def test_every_registered_set_has_both_twins_with_distinct_codes():
    codes = {name: kernel.compiled_code(name) for name in projections.CONSTRAINTS}
    assert all(callable(projections.get(name).project) for name in codes)
    assert len(set(codes.values())) == len(codes)


def test_config_offers_exactly_the_registered_sets():
    from sweep import config

    text = (Path(__file__).resolve().parents[2] / "data" / "quick.toml").read_text()
    text = re.sub(r"(?m)^d = .*$", "d = [1024]", text)  # a multiple of 4 and a square (32 x 32)
    for kind in structures.STRUCTURES:  # a sweep's sets share one structure of w*
        names = [name for name, cset in projections.CONSTRAINTS.items() if cset.structure == kind]
        every = ", ".join(f'"{name}"' for name in names)
        mine = re.sub(r"(?m)^regularizers = .*$", f"regularizers = [{every}]", text)
        mine = mine.replace("[grid]", "group_size = 4\n[grid]") if kind == "group" else mine
        assert config.loads(mine).regularizers == tuple(names)
    assert {cset.structure for cset in projections.CONSTRAINTS.values()} == set(structures.STRUCTURES)
    with pytest.raises(InputError, match="must be one of " + ", ".join(projections.CONSTRAINTS)):
        config.loads(text.replace('"l0"', '"l2"', 1))


def test_unknown_set_names_the_known_ones():
    with pytest.raises(KeyError, match="l0"):
        projections.get("l2")


@pytest.mark.parametrize("name", sorted(projections.CONSTRAINTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_projections_keep_the_dtype(rng, name, dtype):
    d = 49 if projections.get(name).structure == "lowrank" else 50  # a 7 x 7 matrix
    V = (3 * rng.standard_normal((d, 4))).astype(dtype)
    assert projections.get(name).project(V, np.array([2, 3, 4, 5])).dtype == dtype


def _compiled(name, v, radius):
    from sweep import _loop

    v = np.array(v, float)
    w, nz = np.zeros_like(v), np.empty(v.size, np.int64)
    _loop._update(
        v.copy(), kernel.compiled_code(name), float(radius), w, np.zeros_like(v), np.empty(v.size), nz, -1.0, 1
    )
    return w


@pytest.mark.parametrize(
    "v, s, kept",
    [
        ([1, -2, 2, 0.5, -2, 2, 0.1], 3, [1, 2, 4]),  # four tie at the cut: the lowest three indices
        ([3, -3, 3, -3], 1, [0]),
        ([1.0, 1.0, 1.0, 1.0, 1.0], 2, [0, 1]),
        ([0.0] * 6, 2, []),  # the zero vector stays zero
        ([0.0, 0.0, 5.0, 0.0], 2, [2]),  # fewer nonzeros than s
    ],
)
def test_l0_ties_keep_the_lowest_indices_in_both_implementations(v, s, kept):
    ref = l0(np.array(v, float), s)
    np.testing.assert_array_equal(np.flatnonzero(ref), kept)
    np.testing.assert_array_equal(_compiled("l0", v, s), ref)


@pytest.mark.parametrize(
    "v, r",
    [
        ([0.2, -0.3, 0.1], 1.0),  # inside: unchanged
        ([0.5, -0.25, 0.25], 1.0),  # on the boundary: unchanged
        ([0.0, 0.0, 0.0], 1.0),  # the zero vector
        ([2.0, -1.0, 0.5], 1.0),  # outside: soft-thresholded onto the sphere
        ([1.0, 1.0, -1.0, 1.0], 2.0),  # ties in magnitude
    ],
)
def test_l1_inside_boundary_and_outside_in_both_implementations(v, r):
    v = np.array(v, float)
    ref = l1(v, r)
    if np.abs(v).sum() <= r:
        np.testing.assert_array_equal(ref, v)
    else:
        assert np.abs(ref).sum() == pytest.approx(r, rel=1e-12)
    np.testing.assert_allclose(_compiled("l1", v, r), ref, rtol=1e-14, atol=1e-15)
