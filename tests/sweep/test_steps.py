"""The step size as an axis: a config without it writes the files it always wrote, one
with it writes a step_size dimension whose step-1 slice is that same sweep, and every cell
at every step is the reference algorithm's. The normalized rule's step is the exact line
minimizer of the loss itself, and its safeguard holds."""

import numpy as np
import pytest
import xarray as xr

from sweep import config, conventions, pgd, problem, projections, steps
from sweep.errors import InputError

from .helpers import ADAPTIVE, SMALL, check_cell_against_kernel_and_reference, random_cell, run_config

STEPS = SMALL.replace("seed = 7", 'seed = 7\nstep_sizes = [1.0, 0.5, "normalized", 0.25]')


@pytest.fixture(scope="module")
def stepped(tmp_path_factory):
    out = tmp_path_factory.mktemp("steps") / "steps.nc"
    run_config(STEPS, out, workers=2, batch_size=3)
    with xr.open_dataset(out) as ds:
        return ds.load()


def test_step_sizes_add_the_step_size_dimension(stepped):
    assert stepped.success.dims == ("model", "regularizer", "step_size", "d", "s", "ratio", "trial")
    assert stepped.trace.dims[:3] == ("model", "regularizer", "step_size")
    assert list(stepped.step_size.values) == [0.0, 0.25, 0.5, 1.0]  # the normalized rule at 0
    assert stepped.step_size.attrs["long_name"].startswith("PGD step size")
    assert "0 = normalized" in stepped.step_size.attrs["comment"]
    # shrinks: kept with a rule on the axis, zero at every fixed step, and the rule does shrink
    assert stepped.shrinks.dims == stepped.success.dims
    assert int(stepped.shrinks.sel(step_size=[0.25, 0.5, 1.0]).max()) == 0
    assert int(stepped.shrinks.sel(step_size=0.0).max()) > 0


def test_the_paper_step_of_a_stepped_sweep_is_the_sweep_without_steps(stepped, small_reference):
    """Bit for bit: the step-1 slice is the sweep of the config without step_sizes (what
    every committed dataset is), so adding steps to a config changes no number at step 1."""
    at_one = stepped.sel(step_size=1.0, drop=True)
    for name in list(small_reference.data_vars) + ["n", "n0"]:
        want = small_reference[name]
        got = at_one[name].transpose(*want.dims)
        assert got.values.tobytes() == want.values.tobytes(), name


def test_the_steps_change_the_outcomes(stepped):
    """Not three copies of one step: the smaller steps succeed differently."""
    rate = stepped.success.mean("trial")
    assert float(abs(rate.sel(step_size=0.25) - rate.sel(step_size=1.0)).max()) > 0.2


def test_fixed_steps_alone_write_no_shrinks(small_reference):
    assert "shrinks" not in small_reference
    fixed = small_reference.expand_dims(step_size=[0.5]).assign(shrinks=small_reference.success * 0)
    assert "shrinks" not in conventions.without_unused(fixed)


@pytest.mark.parametrize("step", [1.0, 0.5, 0.25, 0.0])
def test_cells_at_every_step_are_their_direct_computation_and_the_reference(stepped, step):
    """Each cell recomputed alone by the kernel equals the dataset bit for bit; the plain
    reference reaches tolerance at the same iteration where it is far from chaos."""
    cfg = config.loads(STEPS)
    rng = np.random.default_rng(int(step * 8) + 1)
    for _ in range(6):
        cell = random_cell(stepped, rng)
        trial = int(rng.integers(stepped.sizes["trial"]))
        check_cell_against_kernel_and_reference(stepped, cfg, trial, step, **cell)


def test_adaptive_cells_are_per_step(tmp_path):
    text = ADAPTIVE.replace("seed = 5", 'seed = 5\nstep_sizes = [1.0, "normalized"]').replace(
        'regularizers = ["l0", "l1"]', 'regularizers = ["l1"]'
    )
    out = tmp_path / "a.nc"
    run_config(text, out, workers=1, in_process=True)
    with xr.open_dataset(out) as ds:
        assert ds.n.dims == ("model", "regularizer", "step_size", "d", "s", "trial", "probe")
        # each step's probes follow its own fit: the later rounds' sizes differ between steps
        later = ds.n.where(ds["round"] > 0)
        assert not np.array_equal(later.sel(step_size=1.0).values, later.sel(step_size=0.0).values, equal_nan=True)
        assert int(ds.shrinks.sel(step_size=0.0).max()) > 0 and int(ds.shrinks.sel(step_size=1.0).max()) == 0


def test_step_sizes_are_validated_and_sorted():
    cfg = config.loads(SMALL.replace("seed = 7", "seed = 7\nstep_sizes = [1, 0.25, 4]"))
    assert cfg.step_coordinates == (0.25, 1.0, 4.0) and cfg.step_choices == (0.25, 1.0, 4.0) and cfg.step_axis
    cfg = config.loads(SMALL.replace("seed = 7", 'seed = 7\nstep_sizes = [1, "normalized"]'))
    assert cfg.step_coordinates == (0.0, 1.0) and [steps.label(mu) for mu in cfg.step_coordinates] == [
        "normalized",
        "1",
    ]
    assert cfg.step_choices == (steps.RULES["normalized"], 1.0)  # what PGD is given: a rule object, not its coordinate
    for bad, word in [('["normalised"]', "is not a step rule"), ('["normalized", "normalized"]', "repeated")]:
        with pytest.raises(InputError, match=word):
            config.loads(SMALL.replace("seed = 7", f"seed = 7\nstep_sizes = {bad}"))
    plain = config.loads(SMALL)
    assert plain.step_coordinates == (pgd.PAPER_STEP,) and not plain.step_axis


def _line(model, seed, d=80, s=4, n=60):
    """A problem at an iterate ``w_t`` of its PGD run and the normalized rule's first step there."""
    X, w_star = problem.draw_trial(seed, (d, s, 0), d, s, n)
    y = problem.observe(X, w_star, model)
    cset = projections.get("l0")
    w = pgd.pgd_step(np.zeros(d), X, y, pgd.step_size(model, 0), pgd.GRADIENTS[model], lambda v: cset.project(v, s))
    g = pgd.GRADIENTS[model](w, X, y)
    g_support = np.where(w != 0, g, 0.0)
    mu = steps.quadratic_step(g_support, g_support, X, steps.curvature_weights(model, X @ w))
    return X, y, w, g_support, mu


def _loss(X, y, w):
    return 0.5 * np.mean((np.maximum(X @ w, 0) - y) ** 2)


@pytest.mark.parametrize("seed", range(6))
def test_the_normalized_step_minimizes_the_linear_loss_along_the_support_gradient(seed):
    """NIHT's step, checked against the loss: ``(1/2n) ||X (w - mu g) - y||^2`` is a parabola
    in ``mu``, whose vertex three evaluations find."""
    X, y, w, g, mu = _line("linear", seed)
    f = [0.5 * np.mean((X @ (w - m * g) - y) ** 2) for m in (0.0, 1.0, 2.0)]
    vertex = (3 * f[0] - 4 * f[1] + f[2]) / (2 * (f[0] - 2 * f[1] + f[2]))
    assert mu == pytest.approx(vertex, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_the_normalized_step_minimizes_the_relu_loss_up_to_the_first_sign_change(seed):
    """For ReLU observations the rule's step, with eq. 3.1's weights ``1 + sgn``, is the
    vertex of the ReLU loss itself along ``-g_Gamma``, taken as the parabola it is until the
    first ``<x_i, w - mu g>`` changes sign: three evaluations of the loss short of that point
    find it. Unweighted curvature (``a_i = 1``: every row, active or not) gives another step."""
    X, y, w, g, mu = _line("relu", seed)
    z, dz = X @ w, X @ g
    with np.errstate(divide="ignore"):
        to_flip = np.where(z * dz > 0, z / dz, np.inf)  # mu at which row i changes sign
    h = 0.4 * to_flip.min()
    f = [_loss(X, y, w - m * g) for m in (0.0, h, 2 * h)]
    vertex = h * (3 * f[0] - 4 * f[1] + f[2]) / (2 * (f[0] - 2 * f[1] + f[2]))
    assert mu == pytest.approx(vertex, rel=1e-6)
    unweighted = steps.quadratic_step(g, g, X, np.ones(len(y)))
    assert unweighted != pytest.approx(vertex, rel=1e-3)


@pytest.mark.parametrize("model", ["relu", "linear"])
@pytest.mark.parametrize("regularizer", ["l0", "l1"])
def test_the_safeguard_leaves_a_step_the_model_vouches_for(model, regularizer):
    """After each update: the support is unchanged, or ``mu`` is at most ``(1 - c)`` times
    the quadratic model's step along the move made; and a shrunk step was needed (the
    step before the last shrink failed that test)."""
    d, s, n = 100, 5, 45
    X, w_star = problem.draw_trial(3, (d, s, 1), d, s, n)
    y = problem.observe(X, w_star, model)
    cset = projections.get(regularizer)
    radius = cset.regularizer(w_star)
    project = lambda v: cset.project(v, radius)  # noqa: E731
    grad = pgd.GRADIENTS[model]
    w = project(pgd.step_size(model, 0) * -grad(np.zeros(d), X, y))
    total = 0
    for _ in range(60):
        g = grad(w, X, y)
        w_next, mu, k = steps.normalized_update(w, g, X, y, model, project)
        a = steps.curvature_weights(model, X @ w)
        move = w_next - w
        omega = (1 - steps.SAFEGUARD_C) * steps.quadratic_step(move, move, X, a)
        assert np.array_equal(np.flatnonzero(w_next), np.flatnonzero(w)) or mu <= omega
        if k:
            longer = project(w - mu * steps.SHRINK * g)
            move = longer - w
            assert mu * steps.SHRINK > (1 - steps.SAFEGUARD_C) * steps.quadratic_step(move, move, X, a)
        total += k
        w = w_next
    assert total > 0
