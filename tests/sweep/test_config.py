"""Bad configs are refused before any work: exit 2, one line naming the field, no files."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest

from sweep import cli, config
from sweep import plan as plan_mod
from sweep.errors import InputError

from .helpers import ADAPTIVE, SMALL

RANGE = """
name = "range"
seed = 7
trials = 4
iterations = 100
tolerance = 1e-4
models = ["relu"]
regularizers = ["l0"]
traces = 0
[grid]
d = [60]
s = [2]
ratio_range = [0.5, 3.0]
n_step = 2
"""

ROOT = Path(__file__).resolve().parents[2]


def edit(old, new):
    assert old in SMALL, old
    return SMALL.replace(old, new)


BAD = [
    dict(text=edit('name = "small"\n', ""), field="name"),
    dict(text=edit("trials = 6", 'trials = "6"'), field="trials"),
    dict(text=edit("trials = 6", "trials = -3"), field="trials"),
    dict(text=edit("trials = 6", "trials = 2.5"), field="trials"),
    dict(text=edit("s = [2, 4]", "s = [2, 60]"), field="grid.s"),
    dict(text=edit("ratio = [0.5, 1.0, 3.0, 6.0]", "ratio = [0.5, 0.0]"), field="grid.ratio"),
    dict(text=edit("ratio = [0.5, 1.0, 3.0, 6.0]", "ratio = [0.5, -1.0]"), field="grid.ratio"),
    dict(text=edit("ratio = [0.5, 1.0, 3.0, 6.0]", "ratio = []"), field="grid.ratio"),
    dict(text=edit("d = [60, 100]", "d = []"), field="grid.d"),
    dict(text=edit('models = ["relu", "linear"]', 'models = ["relu", "sigmoid"]'), field="models"),
    dict(text=edit('regularizers = ["l0", "l1"]', 'regularizers = ["l2"]'), field="regularizers"),
    dict(text=edit("tolerance = 1e-4", "tolerance = nan"), field="tolerance"),
    dict(text=edit("tolerance = 1e-4", "tolerance = 2.0"), field="tolerance"),
    dict(text=edit("seed = 7", "seed = 7\ncolour = 'blue'"), field="colour"),
    dict(text=edit("[grid]", "[grid]\nn = [10]"), field="grid.n"),
    dict(text=edit("traces = 2", "traces = 99"), field="traces"),
    dict(text=edit("seed = 7", 'seed = 7\nn0 = "l2"'), field="n0"),
    dict(text=edit("seed = 7", 'seed = 7\nsampling = "shuffled"'), field="sampling"),
    dict(text=edit("seed = 7", 'seed = 7\ndtype = "float16"'), field="dtype"),
    dict(text=edit("seed = 7", 'seed = 7\nmemory_budget = "10KiB"\n'), field="memory_budget"),
    dict(text=edit("seed = 7", 'seed = 7\nmemory_budget = "lots"\n'), field="memory_budget"),
    dict(text=edit("iterations = 120", "iterations = 0"), field="iterations"),
    dict(text=SMALL + '[cluster]\nkind = "mars"\n', field="cluster.kind"),
    dict(text=SMALL + '[cluster]\nwalltime = "soon"\n', field="cluster.walltime"),
    dict(text=SMALL + "[cluster]\nworkers = 0\n", field="cluster.workers"),
    dict(text="name = 'x'\nseed = [", field="config"),
    dict(text=edit("s = [2, 4]", "s = [2, 2]"), field="grid.s"),
    dict(text=edit("ratio = [0.5, 1.0, 3.0, 6.0]", "ratio = [0.5, 1.0, 0.5]"), field="grid.ratio"),
    dict(text=edit('models = ["relu", "linear"]', 'models = ["relu", "relu"]'), field="models"),
    dict(text=edit('models = ["relu", "linear"]', "models = []"), field="models"),
    dict(text=edit('regularizers = ["l0", "l1"]', "regularizers = []"), field="regularizers"),
    dict(text=edit("s = [2, 4]", "s = []"), field="grid.s"),
    dict(text=edit("tolerance = 1e-4", "tolerance = true"), field="tolerance"),
    dict(text=edit("trials = 6", "trials = true"), field="trials"),
    dict(text=SMALL + "[cluster]\nminimum_jobs = 4\nmaximum_jobs = 2\n", field="cluster.minimum_jobs"),
    # ratio ranges and adaptive mode
    dict(text=edit("[grid]", "[grid]\nratio_range = [0.5, 2.0]"), field="grid.ratio"),
    dict(text=RANGE.replace("ratio_range = [0.5, 3.0]", ""), field="grid.ratio"),
    dict(text=RANGE.replace("[0.5, 3.0]", "[3.0, 0.5]"), field="grid.ratio_range"),
    dict(text=RANGE.replace("[0.5, 3.0]", "[0.5]"), field="grid.ratio_range"),
    dict(text=RANGE.replace("[0.5, 3.0]", "[0.0, 3.0]"), field="grid.ratio_range"),
    dict(text=RANGE.replace("n_step = 2", "n_step = 0"), field="grid.n_step"),
    dict(text=edit("[grid]", "[grid]\nn_step = 2"), field="grid.n_step"),
    dict(text=RANGE.replace("traces = 0", "traces = 2"), field="traces"),
    dict(text=RANGE.replace("seed = 7", 'seed = 7\nsampling = "independent"'), field="sampling"),
    dict(text=SMALL + "[adaptive]\nfirst_trials = 2\n", field="adaptive"),
    dict(text=ADAPTIVE.replace("first_trials = 8", "first_trials = 80"), field="adaptive.first_trials"),
    dict(text=ADAPTIVE.replace("first_trials = 8", "first_trials = 0"), field="adaptive.first_trials"),
    dict(text=ADAPTIVE.replace("round_trials = 8", "round_trials = 1.5"), field="adaptive.round_trials"),
    dict(text=ADAPTIVE.replace("precision = 0.1", "precision = 0"), field="adaptive.precision"),
    dict(text=ADAPTIVE.replace("precision = 0.1", "precision = 1.5"), field="adaptive.precision"),
    dict(text=ADAPTIVE.replace("precision = 0.1", "quantiles = [0.5, 1.0]"), field="adaptive.quantiles"),
    dict(text=ADAPTIVE.replace("precision = 0.1", "quantiles = []"), field="adaptive.quantiles"),
    dict(text=ADAPTIVE.replace("precision = 0.1", "quantiles = [0.5, 0.5]"), field="adaptive.quantiles"),
    dict(text=ADAPTIVE.replace("precision = 0.1", "probes_per_trial = 0"), field="adaptive.probes_per_trial"),
    dict(text=ADAPTIVE.replace("precision = 0.1", "probes = 3"), field="adaptive.probes"),
    dict(text=ADAPTIVE.replace('mode = "adaptive"', 'mode = "bisect"'), field="mode"),
    dict(text=ADAPTIVE.replace("ratio = [0.5, 1.0, 2.0, 3.0, 4.0]", "ratio = [1.0]"), field="grid.ratio"),
    dict(
        text=ADAPTIVE.replace("ratio = [0.5, 1.0, 2.0, 3.0, 4.0]", "ratio_range = [0.5, 4.0]"),
        field="grid.ratio_range",
    ),
    dict(text=ADAPTIVE.replace("trials = 40", "trials = 40\ntraces = 1"), field="traces"),
    dict(text=ADAPTIVE.replace("[adaptive]", "adaptive = 3\n[x]"), field="adaptive"),
    *(
        dict(text=edit("seed = 7", f"seed = 7\nstep_sizes = {value}"), field="step_sizes")
        for value in ("[0.0]", "[-0.5]", "[4.5]", "[nan]", "[inf]", "[]", "[0.5, 0.5]", "['1']", "[true]", "0.5")
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[c["field"] + str(i) for i, c in enumerate(BAD)])
def test_bad_config_exits_2_naming_the_field(tmp_path, capsys, case):
    path = tmp_path / "bad.toml"
    path.write_text(case["text"])
    out = tmp_path / "out" / "bad.nc"
    assert cli.main(["run", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and case["field"] in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # no out dir, no parts


UNPRINTABLE = "must be printable text (no control characters)"


@pytest.mark.parametrize(
    "old,new,line",
    [
        ("s = [2, 4]", "s = [2, 2]", "grid.s = [2, 2]: has repeated values"),
        ("tolerance = 1e-4", "tolerance = true", "tolerance = True: must be a finite number"),
        ("trials = 6", "trials = -3", "trials = -3: must be at least 1"),
        # a terminal's escape sequence and a NUL, shown escaped, never acted on
        ('name = "small"', 'name = "\\u001b[31mred"', "name = '\\x1b[31mred': " + UNPRINTABLE),
        ('name = "small"', 'name = "a\\u0000b"', "name = 'a\\x00b': " + UNPRINTABLE),
    ],
)
def test_the_validators_line_is_field_value_problem(tmp_path, capsys, old, new, line):
    """The whole line: ``sweep: error: FIELD = VALUE: PROBLEM`` (VALUE as Python writes it)."""
    path = tmp_path / "bad.toml"
    path.write_text(edit(old, new))
    assert cli.main(["run", str(path), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"sweep: error: {line}\n"


def test_bad_config_through_the_console_script(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(edit("s = [2, 4]", "s = [2, 100]"))
    res = subprocess.run([sys.executable, "-m", "sweep", "run", str(path)], capture_output=True, text=True)
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        == "sweep: error: grid.s = 100: must be below 60 at d = 60 (sparse w*: s counts nonzero coordinates); "
        "cells beyond it are not defined"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_missing_config_file(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


def test_not_a_parts_folder(tmp_path, capsys):
    assert cli.main(["status", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err


def test_defaults_and_normalisation():
    cfg = config.loads(SMALL.replace("traces = 2\n", ""))
    assert cfg.traces == 5 and cfg.n0 == "approx" and cfg.sampling == "nested" and cfg.memory_budget == 2**30
    assert cfg.ratio == (0.5, 1.0, 3.0, 6.0) and cfg.d == (60, 100)


@pytest.mark.parametrize(
    "case",
    [dict(text="1GiB", n=2**30), dict(text="512 MiB", n=2**29), dict(text="2GB", n=2 * 10**9), dict(text=4096, n=4096)],
)
def test_parse_bytes(case):
    assert config.parse_bytes("memory_budget", case["text"]) == case["n"]


def test_shipped_configs_are_valid():
    for name in ("quick", "paper"):
        config.load(ROOT / "data" / f"{name}.toml")
    paper = (ROOT / "data" / "paper.toml").read_text().replace('[cluster]\nkind = "local"\n', "")
    site = config.loads(paper + (ROOT / "cluster" / "slurm.example.toml").read_text())
    assert site.cluster["kind"] == "slurm" and site.cluster["maximum_jobs"] == 25


def _readme_configs():
    """The TOML blocks of the README's config section: the main example, then the ratio
    range and adaptive mode."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Config (TOML)", 1)[1].split("\n## ", 1)[0]
    return [tomllib.loads(block.split("```", 1)[0]) for block in section.split("```toml")[1:]]


def _keys(block):
    # [cluster] is cluster_config's table, tested in test_cluster.py
    return {k for k, v in block.items() if not isinstance(v, dict)} | {
        f"{t}.{k}" for t, v in block.items() if isinstance(v, dict) and t != "cluster" for k in v
    }


def _value(block, f):
    table = block.get(f.metadata["table"], {}) if f.metadata["table"] else block
    return table[f.name]


def test_the_readme_config_shows_every_field_and_its_default():
    """The README's examples are the field list of SweepConfig: every key is shown, at its
    default where it has one (the main example's, or where only a later block shows it),
    and each later block validates on top of the main one."""
    main, *more = _readme_configs()
    assert {k for block in (main, *more) for k in _keys(block)} == {config.key_of(f) for f in config.FIELDS}
    for f in config.FIELDS:
        first = next(block for block in (main, *more) if config.key_of(f) in _keys(block))
        if f.default not in (dataclasses.MISSING, None):
            check = f.metadata["check"]
            assert check(config.key_of(f), _value(first, f)) == check("default", f.default), config.key_of(f)
    config.validate(main)
    for block in more:
        # ranges and adaptive mode keep no traces, as the README says beside them
        merged = {**main, "traces": 0, **{k: v for k, v in block.items() if not isinstance(v, dict)}}
        merged["grid"] = dict(main["grid"], **block.get("grid", {}))
        if "ratio_range" in merged["grid"]:
            del merged["grid"]["ratio"]
        if "adaptive" in block:
            merged["adaptive"] = block["adaptive"]
        config.validate(merged)


def test_the_readme_names_the_required_fields():
    text = (ROOT / "README.md").read_text()
    required = [config.key_of(f) for f in config.FIELDS if f.default is dataclasses.MISSING]
    line = re.search(r"Required: (.*?); `grid.ratio` or", text, re.S).group(1)
    named = re.findall(r"`([^`]+)`", line)
    listed = [
        n
        for part in named
        for n in (
            part.split(", ") if "{" not in part else [f"grid.{k}" for k in re.findall(r"\w+", part.split("{")[1])]
        )
    ]
    assert sorted(listed) == sorted(required)


def test_a_plan_past_the_dataset_budget_is_refused_with_its_size():
    """A million traced trials at a cap of 30000: hundreds of GiB planned, refused in one line
    naming the key that raises the limit, before anything is enumerated or run."""
    from sweep.engine import PROBE_VARS

    assert plan_mod.DATASET_VARIABLES >= len(PROBE_VARS) + 1  # the per-trial variables and round
    text = SMALL.replace("trials = 6", "trials = 1000000").replace("traces = 2", "traces = 1000000")
    text = text.replace("iterations = 120", "iterations = 30000")
    with pytest.raises(InputError, match=r"dataset_budget = '8.00 GiB': is below the planned dataset, \d+\.\d+ TiB"):
        config.loads(text)
    assert config.loads(text.replace("[grid]", 'dataset_budget = "16TiB"\n[grid]')).trials == 1000000


def test_cluster_workers_are_bounded():
    with pytest.raises(InputError, match="cluster.workers = 20000: must be at most 10000"):
        config.loads(SMALL + "[cluster]\nworkers = 20000\n")
