"""The results' tables (docs/results.md, and the README's summary of them) are the committed
reports' numbers: regenerating a report without updating the documents fails here."""

from pathlib import Path

import pandas as pd
import pytest

from sweep import steps

ROOT = Path(__file__).resolve().parents[2]
RESULTS = (ROOT / "docs" / "results.md").read_text()
README = (ROOT / "README.md").read_text()
LABEL = {"relu": "ReLU", "linear": "linear"}
CELLS = [("linear", "l0"), ("relu", "l0"), ("linear", "l1"), ("relu", "l1")]


def _at_cap(report):
    table = pd.read_csv(ROOT / "data" / report / "transitions.csv")
    return table[table.cap == table.cap.max()]


def _c(row, method="approx"):
    """``c = n50 / n0`` with its interval, as the documents print it."""
    c = getattr(row, f"c_{method}")
    n0 = row.n50 / c
    return f"{c:.2f} [{row.n50_lower / n0:.2f}, {row.n50_upper / n0:.2f}]"


def _ratio(row):
    return f"{row.ratio:.2f} [{row.ratio_lower:.2f}, {row.ratio_upper:.2f}]"


def _range(values):
    return f"{values.median():.2f} ({values.min():.2f}–{values.max():.2f})"


@pytest.mark.parametrize("model,regularizer", CELLS)
def test_the_paper_scale_table(model, regularizer):
    rows = _at_cap("paper_report")
    rows = rows[(rows.model == model) & (rows.regularizer == regularizer)]
    cells = [_c(rows[(rows.d == d) & (rows.s == 20)].iloc[0]) for d in (500, 1000, 2000)]
    line = f"| {LABEL[model]}, {regularizer} | " + " | ".join(cells)
    line += f" | {_range(rows.c_approx)} | {_range(rows.c_l1)} |"
    assert line in RESULTS


@pytest.mark.parametrize("model,regularizer", CELLS)
def test_the_scale_table(model, regularizer):
    rows = _at_cap("scale_report")
    rows = rows[(rows.model == model) & (rows.regularizer == regularizer)]
    for s in sorted(rows.s.unique()):
        cells = [_c(row) for row in rows[rows.s == s].sort_values("d").itertuples()]
        assert f"| {LABEL[model]}, {regularizer}, s = {s} | " + " | ".join(cells) + " |" in RESULTS


def test_the_scale_ratio_table():
    ratios = pd.read_csv(ROOT / "data" / "scale_report" / "relu_over_linear.csv")
    for (regularizer, s), rows in ratios.groupby(["regularizer", "s"]):
        cells = [_ratio(r) for r in rows.sort_values("d").itertuples()]
        assert f"| {regularizer}, s = {s} | " + " | ".join(cells) + " |" in RESULTS


@pytest.mark.parametrize("model,regularizer", CELLS)
def test_the_step_table(model, regularizer):
    rows = _at_cap("step_report")
    rows = rows[(rows.model == model) & (rows.regularizer == regularizer)].sort_values("step_size", ascending=False)
    cells = [_c(row, "l1") for row in rows.itertuples()]
    assert f"| {LABEL[model]}, {regularizer} | " + " | ".join(cells) + " |" in RESULTS


def test_the_step_ratio_table():
    ratios = pd.read_csv(ROOT / "data" / "step_report" / "relu_over_linear.csv")
    for regularizer, rows in ratios.groupby("regularizer"):
        cells = [_ratio(r) for r in rows.sort_values("step_size", ascending=False).itertuples()]
        assert f"| {regularizer} | " + " | ".join(cells) + " |" in RESULTS


def test_the_readme_summary_quotes_the_results():
    """Each interval the README's results summary quotes is one of the results' own."""
    summary = README.split("## Results", 1)[1].split("\n## ", 1)[0]
    quoted = [" ".join(part.split("]")[0].split()) for part in summary.split("[")[1:] if part[:1].isdigit()]
    assert quoted, "the summary quotes no interval"
    for interval in quoted:
        assert f"[{interval}]" in RESULTS, interval


@pytest.mark.parametrize("report", ["flicker-step_report", "flicker-normalized_report"])
def test_the_flicker_step_tables(report):
    table = pd.read_csv(ROOT / "data" / report / "flicker.csv")
    for (model, d, s), rows in table.groupby(["model", "d", "s"]):
        rows = rows.sort_values("step_size", ascending=False).itertuples()
        cells = [
            f"{r.width_median:.2f} [{r.width_lower:.2f}, {r.width_upper:.2f}]; {100 * r.non_monotone:.0f}%"
            for r in rows
        ]
        assert f"| {LABEL[model]}, d = {d}, s = {s} | " + " | ".join(cells) + " |" in RESULTS


@pytest.mark.parametrize("report", ["structures-group_report", "structures-lowrank_report"])
def test_the_structure_tables(report):
    """c = n50 / delta (the structure's own statistical dimension) per s, and ReLU over linear."""
    rows = _at_cap(report)
    for (model, regularizer, step), cell in rows.groupby(["model", "regularizer", "step_size"]):
        cells = [_c(row, "l1") for row in cell.sort_values("s").itertuples()]
        line = f"| {LABEL[model]}, {regularizer}, {_step(step)} | " + " | ".join(cells) + " |"
        assert line in RESULTS
    ratios = pd.read_csv(ROOT / "data" / report / "relu_over_linear.csv")
    for (regularizer, step), cell in ratios.groupby(["regularizer", "step_size"]):
        cells = [_ratio(r) for r in cell.sort_values("s").itertuples()]
        assert f"| {regularizer}, {_step(step)} | " + " | ".join(cells) + " |" in RESULTS


def _step(mu):
    return f"step {mu:g}" if steps.is_fixed(mu) else steps.label(mu)


def test_the_convex_limit_table():
    """PGD against the convex program (data/step-settle_report), in units of δ, as results.md
    prints it."""
    rows = _at_cap("step-settle_report")
    delta = float((rows.n50 / rows.c_l1).iloc[0])

    def units(row, name):
        return f"{getattr(row, name) / delta:.3f} [{getattr(row, name + '_lower') / delta:.3f}, " + (
            f"{getattr(row, name + '_upper') / delta:.3f}]"
        )

    def over(row):
        return f"{row.over_convex:.3f} [{row.over_convex_lower:.3f}, {row.over_convex_upper:.3f}]"

    for model in ("linear", "relu"):
        cell = rows[rows.model == model]
        norm = next(cell[cell.step_size == 0].itertuples())
        small = next(cell[cell.step_size == 0.18].itertuples())
        line = f"| {LABEL[model]} | {units(norm, 'n50_convex')} | {norm.n50_limit / delta:.3f} | {units(norm, 'n50')}"
        line += f" | {over(norm)} | {units(small, 'n50')}"
        assert line in RESULTS, line
        assert f"| {over(small)} |" in RESULTS


def test_the_group_convex_limit_table():
    """The group-l1 program and PGD over it (data/structures-group_report), as results.md
    prints them: in units of the structure's δ, normalized rule, at the cap."""
    rows = _at_cap("structures-group_report")
    rows = rows[(rows.regularizer == "group-l1") & (rows.step_size == 0)].sort_values("s")

    def units(row, name):
        delta = row.n50 / row.c_l1
        low, high = getattr(row, name + "_lower") / delta, getattr(row, name + "_upper") / delta
        return f"{getattr(row, name) / delta:.3f} [{low:.3f}, {high:.3f}]"

    def over(row):
        return f"{row.over_convex:.3f} [{row.over_convex_lower:.3f}, {row.over_convex_upper:.3f}]"

    for model in ("linear", "relu"):
        cell = list(rows[rows.model == model].itertuples())
        program = f"| {LABEL[model]}, the program | " + " | ".join(units(r, "n50_convex") for r in cell) + " |"
        gap = f"| {LABEL[model]}, PGD (normalized) over the program | " + " | ".join(over(r) for r in cell) + " |"
        assert program in RESULTS and gap in RESULTS, (program, gap)
