"""Figures and reports from the committed example dataset, as a user makes them."""

import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import analysis
from sweep import fit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "data" / "example.nc"
FIGURE1 = ROOT / "data" / "figure1.nc"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def example():
    return analysis.open_sweep(EXAMPLE)


def test_example_is_small_and_a_sweep(example):
    assert EXAMPLE.stat().st_size < 5 * 2**20
    assert set(example.model.values) == {"relu", "linear"}


def test_heatmap_png_is_not_blank(tmp_path):
    res = cli("heatmap", EXAMPLE, "--out", tmp_path)
    assert res.returncode == 0, res.stderr
    img = mpimg.imread(tmp_path / "heatmap_l0.png")
    assert img.shape[0] > 400 and img.shape[1] > 600
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50


def test_heatmap_has_labels_and_theory_lines(example):
    fig = analysis.plot_heatmaps(example)["heatmap_l0"]
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == example.sizes["d"] * example.sizes["model"]
    titles = {ax.get_title() for ax in axes}
    assert "relu observations, l0, d = 200" in titles and "linear observations, l0, d = 500" in titles
    for ax in axes:
        assert ax.get_xlabel().startswith("n / n0") and ax.get_ylabel().startswith("sparsity s")
        labels = {line.get_label() for line in ax.get_lines()}
        assert {"n = 2 s log(d/s)", "n = l1 statistical dimension", "empirical 50% success"} <= labels
    cbar_labels = {ax.get_ylabel() for ax in fig.axes if not ax.get_title()}
    assert cbar_labels == {"success rate"}


def test_theory_line_sits_at_ratio_one_when_n0_is_approx(example):
    fig = analysis.plot_heatmaps(example)["heatmap_l0"]
    ax = fig.axes[0]
    line = next(line for line in ax.get_lines() if line.get_label() == "n = 2 s log(d/s)")
    ratios = list(example.ratio.values)
    assert np.allclose(line.get_xdata(), ratios.index(1.0) + 0.5)


def test_report_lists_every_cell(tmp_path, example):
    res = cli("report", EXAMPLE, "--out", tmp_path, "--figure1", FIGURE1)
    assert res.returncode == 0, res.stderr
    md = (tmp_path / "report.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| relu") or line.startswith("| linear")]
    assert len(rows) == example.sizes["model"] * example.sizes["regularizer"] * example.sizes["d"] * example.sizes["s"]
    for name in ("heatmap_l0", "donoho_tanner_l0", "curves_l0", "slopes_l0", "figure1", "scale", "relu_over_linear"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
        assert f"({name}.png)" in md
    assert "git_commit" in md and "```toml" in md
    ratios = pd.read_csv(tmp_path / "relu_over_linear.csv")
    assert len(ratios) == example.sizes["regularizer"] * example.sizes["d"] * example.sizes["s"]


def test_the_model_ratio_is_the_paired_fit_of_each_cell(example):
    """Each row of the ReLU-over-linear table is ``ratio_nested`` on that cell's two
    (ratio, trial) tables, and lies inside the ratio of the two n50 intervals' ends."""
    table = analysis.model_ratio(example)
    row = table[(table.d == 500) & (table.s == 10)].iloc[0]
    cell = example.success.sel(regularizer="l0", step_size=1.0, d=500, s=10)
    n = example.n.sel(d=500, s=10).values
    want = fit.ratio_nested(n, cell.sel(model="relu").values, n, cell.sel(model="linear").values)
    assert row.ratio == pytest.approx(want["ratio"]) and row.ratio_lower == pytest.approx(want["ratio_lower"])
    t = analysis.transitions(example).sel(regularizer="l0", step_size=1.0, d=500, s=10)
    assert row.ratio == pytest.approx(float(t.n50.sel(model="relu") / t.n50.sel(model="linear")))
    wide = float(t.n50_upper.sel(model="relu") / t.n50_lower.sel(model="linear"))
    assert row.ratio_lower < row.ratio < row.ratio_upper <= wide


def test_transition_constants_are_plausible(example):
    """ReLU needs more samples than linear; both need a constant above 1 times 2 s log(d/s)."""
    t = analysis.transitions(example)
    c = t.c_approx.sel(regularizer="l0")
    assert (c > 1).all() and (c < 6).all()
    assert (c.sel(model="relu") > c.sel(model="linear")).all()


def test_figure1_command(tmp_path):
    res = cli("figure1", FIGURE1, "--out", tmp_path, "--format", "svg")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "figure1.svg").read_text().startswith("<?xml")


@pytest.mark.parametrize("kind", ["truncated", "not_a_sweep", "not_netcdf", "missing"])
def test_bad_datasets_exit_2_with_one_line(tmp_path, kind):
    path = tmp_path / "bad.nc"
    if kind == "truncated":
        path.write_bytes(EXAMPLE.read_bytes()[:4000])
    elif kind == "not_a_sweep":
        xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(path)
    elif kind == "not_netcdf":
        path.write_text("hello")
    res = cli("report", path, "--out", tmp_path / "figs")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and str(path) in res.stderr
    assert not (tmp_path / "figs").exists()


def test_heatmap_cells_are_the_success_rates(example):
    """The colours drawn are the rates: each panel's mesh holds success_rate's (s, ratio)
    panel, s upwards, not its complement or its rows reversed."""
    import matplotlib.pyplot as plt

    from analysis import plots

    figs = analysis.plot_heatmaps(example)
    rates = analysis.success_rate(example).rate
    fig = figs["heatmap_l0"]
    panels = [(d, m) for d in example.d.values for m in example.model.values]
    heat_axes = [ax for ax in fig.axes if ax.collections and ax.get_title()]
    assert len(heat_axes) == len(panels)
    for ax, (d, model) in zip(heat_axes, panels, strict=True):
        mesh = ax.collections[0]
        want = rates.sel(model=model, regularizer="l0", step_size=1.0, d=d).transpose("s", "ratio").values
        np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(want.shape), want)
        assert ax.get_title().startswith(f"{model} observations, l0, d = {d}")
        assert ax.get_ylim()[0] < ax.get_ylim()[1]  # row 0 (the smallest s) at the bottom
    plt.close("all")
    assert plots._crossing([0.0, 0.2, 0.6, 1.0], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(2.75)
    assert np.isnan(plots._crossing([0.0, 0.1, 0.2], [1.0, 2.0, 3.0]))
    assert plots._crossing([0.7, 0.9], [1.0, 2.0]) == 0.0  # above 1/2 from the first size
    np.testing.assert_allclose(
        plots._pos(np.array([1.0, 1.5, 3.0, 0.5]), np.array([1.0, 2.0, 3.0])), [0.5, 1.0, 2.5, 0.0]
    )


def test_median_slope_and_the_tables_dash(example):
    slopes = analysis.stats.median_slope(example)
    cell = dict(model="linear", regularizer="l0", step_size=1.0, d=500, s=5, ratio=4.0)
    raw = example.slope.sel(**cell).where(example.diverged.sel(**cell) != 1).values
    assert float(slopes.sel(**cell)) == pytest.approx(np.nanmedian(raw))
    import pandas as pd

    table = pd.DataFrame({"n50": [1.5, np.nan], "model": ["relu", "linear"]})
    md = analysis.stats.pd_table_markdown(table)
    assert md.splitlines()[2] == "| 1.5 | relu |" and md.splitlines()[3] == "| – | linear |"


def test_a_separated_cells_interval_draws_as_its_point(example):
    """Completely separated outcomes give an interval of zero width whose ends can sit a
    rounding error past the point estimate (seen at a short cap of data/paper.nc)."""
    table = analysis.cap_table(example).iloc[:4].copy()
    table["n50_upper"] = table.n50 * (1 - 1e-12)
    fig = analysis.plot_caps(table, example)["caps"]
    assert fig.axes


def _texts(fig):
    """Every word a figure shows: titles, axis labels, legend entries, colour bars."""
    out = [fig.get_suptitle()] + [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    return [t for t in out if t]


@pytest.mark.parametrize("name", ["example", "structures-group", "structures-lowrank"])
def test_every_figure_of_a_committed_report_speaks_its_structures_words(tmp_path, monkeypatch, name):
    """The labels of each figure ``analysis report`` draws (matplotlib's text objects), held
    to the dataset's structure of w* (sweep.structures): each n0 it names is one of that
    structure's, and no other structure's n0 appears."""
    import matplotlib.pyplot as plt

    from analysis import report as report_mod
    from sweep import structures

    ds = analysis.open_sweep(ROOT / "data" / f"{name}.nc")
    own = structures.get(ds.attrs.get("structure", "sparse"))
    others = {w for s in structures.STRUCTURES.values() if s is not own for w in s.n0_words.values()}
    others -= set(own.n0_words.values())
    seen = []

    def collect(figs, out, fmt="png", dpi=130):
        for fig in figs.values():
            seen.extend(_texts(fig))
            plt.close(fig)
        return []

    monkeypatch.setattr(report_mod, "save_figures", collect)
    report_mod.report(ds, tmp_path, "png")
    assert seen
    for text in seen:
        rest = text
        for w in sorted(own.n0_words.values(), key=len, reverse=True):  # "group-l1 ..." holds "l1 ..."
            rest = rest.replace(w, "")
        assert not [w for w in others if w in rest], (name, text)
    named = [t for t in seen if "n0 = " in t or "n50 / (" in t]
    assert named and all(any(w in t for w in own.n0_words.values()) for t in named), named
    if own.name != "sparse":
        assert not any("sparsity" in t for t in seen)
    assert (tmp_path / "report.md").read_text().count(own.n0_words["approx"]) >= 1


def test_the_slopes_heatmap_hatches_cells_where_most_trials_diverged(example):
    """A median over the few trials that did not diverge would colour such a cell as a fast
    one (d = 500, s = 2, linear, ratio 0.75: 39 of 40 diverged)."""
    import matplotlib.pyplot as plt

    from analysis import plots

    figs = plots.plot_slopes(example)
    fig = figs["slopes_l0"]
    lost = example.diverged.mean("trial")
    lost = lost.isel(step_size=0) if "step_size" in lost.dims else lost  # one step: one figure
    for ax in fig.axes:
        title = ax.get_title()
        if " d = " not in title:
            continue  # a colour bar
        model, d = title.split()[0], int(title.rsplit("= ", 1)[1])
        cells = lost.sel(model=model, regularizer="l0", d=d).transpose("s", "ratio").values
        mesh = ax.collections[0].get_array().reshape(cells.shape)
        hatched = {(int(p.get_y()), int(p.get_x())) for p in ax.patches if p.get_hatch()}
        assert hatched == {tuple(map(int, ij)) for ij in zip(*np.nonzero(cells >= 0.5), strict=True)}
        assert np.ma.getmaskarray(mesh)[cells >= 0.5].all()  # not coloured
    plt.close(fig)
