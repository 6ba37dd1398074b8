import numpy as np
import pytest

from sweep import problem


@pytest.fixture
def figure1_trial():
    """One trial at the Figure-1 size: X (625 x 1000), unit 20-sparse w*, both labels."""
    d, s, n = 1000, 20, 625
    X, w_star = problem.draw_trial(7, (d, s, 0), d, s, n)
    labels = {m: problem.observe(X, w_star, m) for m in ("relu", "linear")}
    return X, w_star, labels


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
