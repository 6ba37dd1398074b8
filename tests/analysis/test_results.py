"""The README's results tables are the committed reports' numbers: regenerating a report
without updating the README fails here."""

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
LABEL = {"relu": "ReLU", "linear": "linear"}


def _at_cap(report):
    table = pd.read_csv(ROOT / "data" / report / "transitions.csv")
    return table[table.cap == table.cap.max()]


def _c(row):
    """``c = n50 / n0`` with its interval, as the README prints it."""
    n0 = row.n50 / row.c_approx
    return f"{row.c_approx:.2f} [{row.n50_lower / n0:.2f}, {row.n50_upper / n0:.2f}]"


def _range(values):
    return f"{values.median():.2f} ({values.min():.2f}–{values.max():.2f})"


@pytest.mark.parametrize("model,regularizer", [("linear", "l0"), ("relu", "l0"), ("linear", "l1"), ("relu", "l1")])
def test_the_paper_scale_table(model, regularizer):
    rows = _at_cap("paper_report")
    rows = rows[(rows.model == model) & (rows.regularizer == regularizer)]
    cells = [_c(rows[(rows.d == d) & (rows.s == 20)].iloc[0]) for d in (500, 1000, 2000)]
    line = f"| {LABEL[model]}, {regularizer} | " + " | ".join(cells)
    line += f" | {_range(rows.c_approx)} | {_range(rows.c_l1)} |"
    assert line in README


@pytest.mark.parametrize("model,regularizer", [("linear", "l0"), ("relu", "l0"), ("linear", "l1"), ("relu", "l1")])
def test_the_scale_table(model, regularizer):
    rows = _at_cap("scale_report")
    rows = rows[(rows.model == model) & (rows.regularizer == regularizer)]
    for s in sorted(rows.s.unique()):
        cells = [_c(row) for row in rows[rows.s == s].sort_values("d").itertuples()]
        assert f"| {LABEL[model]}, {regularizer}, s = {s} | " + " | ".join(cells) + " |" in README


def test_the_scale_ratio_table():
    ratios = pd.read_csv(ROOT / "data" / "scale_report" / "relu_over_linear.csv")
    for (regularizer, s), rows in ratios.groupby(["regularizer", "s"]):
        rows = rows.sort_values("d").itertuples()
        cells = [f"{r.ratio:.2f} [{r.ratio_lower:.2f}, {r.ratio_upper:.2f}]" for r in rows]
        assert f"| {regularizer}, s = {s} | " + " | ".join(cells) + " |" in README
