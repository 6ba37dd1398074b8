"""Shared by the engine tests: small configs and dataset comparison."""

import numpy as np

SMALL = """
name = "small"
seed = 7
trials = 6
iterations = 120
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0", "l1"]
traces = 2
[grid]
d = [60, 100]
s = [2, 4]
ratio = [0.5, 1.0, 3.0, 6.0]
"""

# Tasks long enough (~0.1-0.3 s) that a kill lands mid-sweep.
SLOW = """
name = "slow"
seed = 11
trials = 24
iterations = 200
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["l0"]
[grid]
d = [1000]
s = [10, 20]
ratio = [0.5, 1.0, 2.0, 3.0, 4.0]
"""


def assert_same_numbers(a, b):
    """Every data variable and coordinate of two sweep datasets equal bit for bit."""
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in list(a.data_vars) + list(a.coords):
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name
