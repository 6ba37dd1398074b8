import numpy as np
import pytest

from sweep import problem


@pytest.mark.parametrize("signal", problem.SIGNALS)
def test_planted_signal_is_unit_norm_and_s_sparse(signal):
    w = problem.planted_signal(problem.trial_rng(1, (50, 5, 0)), 50, 5, signal)
    assert np.count_nonzero(w) == 5
    assert np.linalg.norm(w) == pytest.approx(1.0, abs=1e-15)
    if signal == "rademacher":
        assert np.allclose(np.abs(w[w != 0]), 1 / np.sqrt(5))


def test_support_is_uniform():
    hits = np.zeros(20)
    for t in range(4000):
        hits += problem.planted_signal(problem.trial_rng(0, (20, 2, t)), 20, 2) != 0
    # each coordinate is in the support with probability s/d = 0.1: 400 ± 3 sd of 19
    assert np.all(np.abs(hits - 400) < 60)


def test_nested_design_rows_are_prefixes():
    big, w1 = problem.draw_trial(3, (100, 4, 2), 100, 4, 80)
    small, w2 = problem.draw_trial(3, (100, 4, 2), 100, 4, 30)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(big[:30], small)


def test_same_key_same_bits_other_key_other_data():
    a = problem.draw_trial(9, (10, 2, 0), 10, 2, 5)
    b = problem.draw_trial(9, (10, 2, 0), 10, 2, 5)
    c = problem.draw_trial(9, (10, 2, 1), 10, 2, 5)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert not np.array_equal(a[0], c[0])


def test_relu_and_linear_labels_share_data():
    X, w = problem.draw_trial(1, (30, 3, 0), 30, 3, 40)
    lin, relu = problem.observe(X, w, "linear"), problem.observe(X, w, "relu")
    np.testing.assert_array_equal(relu, np.maximum(lin, 0))
    assert (relu == 0).any() and (relu > 0).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_labels_are_summed_in_a_fixed_order(dtype):
    # Elementwise IEEE operations in a Python loop give the same bits on every machine;
    # BLAS's X @ w does not (its order follows the kernel picked for the CPU).
    X, w = problem.draw_trial(4, (300, 12, 0), 300, 12, 50, dtype=np.dtype(dtype))
    ref = np.zeros(50, dtype)
    for j in np.flatnonzero(w):
        ref = ref + X[:, j] * w[j]
    lin = problem.observe(X, w, "linear")
    assert lin.dtype == dtype
    np.testing.assert_array_equal(lin, ref)
    np.testing.assert_array_equal(problem.observe(X, w, "relu"), np.maximum(ref, 0))
    np.testing.assert_allclose(lin, X.astype(np.float64) @ w.astype(np.float64), rtol=0, atol=1e-5)
