"""The plan: the one route from a config to n0 and the sample sizes, against the formulas."""

import math

from sweep import config, plan

from .helpers import SMALL


def test_the_one_route_to_n0_and_n():
    cfg = config.loads(SMALL)
    tables = plan.n0_tables(cfg)
    assert plan.n0_table(cfg, tables) == plan.n0_table(cfg)  # read from the tables or computed: one value
    sizes = plan.sample_sizes(cfg)
    for (d, s), n0 in plan.n0_table(cfg).items():
        assert n0 == 2 * s * math.log(d / s)  # approx, the paper's n0
        assert sizes[(d, s)] == [max(1, math.ceil(r * n0)) for r in cfg.ratio]


def test_a_ratio_range_gives_every_n_between_its_ends():
    text = SMALL.replace("traces = 2\n", "traces = 0\n").replace(
        "ratio = [0.5, 1.0, 3.0, 6.0]", "ratio_range = [1.0, 2.0]\nn_step = 3"
    )
    cfg = config.loads(text)
    for (d, s), ns in plan.sample_sizes(cfg).items():
        n0 = 2 * s * math.log(d / s)
        assert ns == list(range(math.ceil(n0), math.floor(2 * n0) + 1, 3))
