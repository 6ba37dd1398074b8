"""A sweep over step sizes and the normalized rule, as the analysis reads it: tables and the
CSV per step, the figures drawn per step, and the two figures of the step axis."""

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

import analysis
from analysis import report
from tests.sweep.helpers import SMALL, run_config

STEPS = SMALL.replace("seed = 7", 'seed = 7\nstep_sizes = [1.0, 0.5, "normalized"]').replace(
    "trials = 6", "trials = 10"
)


@pytest.fixture(scope="module")
def stepped(tmp_path_factory):
    out = tmp_path_factory.mktemp("steps") / "steps.nc"
    run_config(STEPS, out, workers=1, in_process=True)
    return analysis.open_sweep(out)


def test_a_dataset_without_steps_opens_at_the_paper_step(tmp_path):
    out = tmp_path / "plain.nc"
    run_config(SMALL, out, workers=1, in_process=True)
    ds = analysis.open_sweep(out)
    assert ds.success.dims[:3] == ("model", "regularizer", "step_size") and list(ds.step_size.values) == [1.0]
    lazy = analysis.open_sweep(out, chunks={})
    assert lazy.success.dims == ds.success.dims and lazy.success.chunks


def test_the_transition_table_has_a_row_per_step(stepped):
    table = analysis.transition_table(stepped)
    assert sorted(table.step_size.unique()) == [0.0, 0.5, 1.0]
    assert len(table) == stepped.sizes["model"] * stepped.sizes["regularizer"] * 3 * stepped.sizes["d"] * 2
    one = analysis.transitions(stepped.sel(step_size=[1.0]))
    row = table[(table.step_size == 1.0) & (table.model == "relu") & (table.regularizer == "l0")]
    want = one.sel(model="relu", regularizer="l0", step_size=1.0).n50.values.ravel()
    np.testing.assert_array_equal(row.sort_values(["d", "s"]).n50.values, want)


def test_time_data_is_the_quartiles_of_the_successes_iterations(stepped):
    table = analysis.time_data(stepped)
    row = table.iloc[len(table) // 2]
    cell = stepped.sel(model=row.model, regularizer=row.regularizer, step_size=row.step_size, d=row.d, s=row.s)
    ratio = float(cell.ratio.values[np.isclose(cell.n.values / float(cell.n0), row.ratio)][0])
    at = cell.sel(ratio=ratio)
    its = at.iterations.values[at.success.values == 1]
    assert row.successes == its.size >= 3
    assert row.trials == int(np.isfinite(at.success.values).sum()) >= row.successes  # failures counted too
    np.testing.assert_allclose([row.q25, row["median"], row.q75], np.percentile(its, [25, 50, 75]))


def test_the_report_of_a_stepped_sweep(stepped, tmp_path):
    paths = report.report(stepped, tmp_path)
    names = {p.name for p in paths}
    assert {"steps.png", "time_data_d100_s4.png", "heatmap_l0_step0.5.png", "heatmap_l0_step1.png"} <= names
    assert "heatmap_l0_stepnormalized.png" in names
    csv = pd.read_csv(tmp_path / "transitions.csv")
    assert list(csv.columns[:3]) == ["model", "regularizer", "step_size"] and set(csv.step_size) == {0.0, 0.5, 1.0}
    ratios = pd.read_csv(tmp_path / "relu_over_linear.csv")
    assert set(ratios.step_size) == {0.0, 0.5, 1.0}
    assert "0 = normalized" in (tmp_path / "report.md").read_text()
    for name in ("steps.png", "time_data_d100_s4.png"):
        img = mpimg.imread(tmp_path / name)
        assert img.shape[0] > 400 and len(np.unique(img[..., :3].reshape(-1, 3), axis=0)) > 50
    fig = analysis.plot_heatmaps(stepped)["heatmap_l0_step0.5"]
    assert fig.get_suptitle().endswith("step mu_t = 0.5")
    fig = analysis.plot_heatmaps(stepped)["heatmap_l0_stepnormalized"]
    assert fig.get_suptitle().endswith("normalized step")


def test_the_step_figure_draws_the_rule_as_a_level_at_its_n50(stepped):
    """The normalized rule has no step to stand at: a horizontal line at its n50 / n0 in
    every panel, and the fixed steps alone on the x axis."""
    fit = analysis.transitions(stepped)
    fig = analysis.plot_steps(fit, stepped)["steps"]
    d, s = int(stepped.d.values[0]), int(stepped.s.values[0])
    for ax in fig.axes:
        model, reg = ax.get_title().replace(" observations", "").split(", ")
        want = float(fit.n50.sel(model=model, regularizer=reg, step_size=0.0, d=d, s=s)) / float(
            stepped.n0.sel(d=d, s=s)
        )
        levels = [
            line.get_ydata()[0] for line in ax.get_lines() if line.get_label().startswith(f"normalized, d = {d},")
        ]
        assert levels and (np.isnan(want) or levels[0] == pytest.approx(want))
        assert list(ax.get_xticks()) == [0.5, 1.0]
