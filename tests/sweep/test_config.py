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

from .helpers import SMALL

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


@pytest.mark.parametrize(
    "old,new,line",
    [
        ("s = [2, 4]", "s = [2, 2]", "grid.s = [2, 2]: has repeated values"),
        ("tolerance = 1e-4", "tolerance = true", "tolerance = True: must be a finite number"),
        ("trials = 6", "trials = -3", "trials = -3: must be at least 1"),
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
        == "sweep: error: grid.s = 100: must be below every d (smallest d = 60); cells with s >= d are not defined"
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


def _readme_config():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Config (TOML)", 1)[1]
    return tomllib.loads(section.split("```toml", 1)[1].split("```", 1)[0])


def test_the_readme_config_shows_every_field_and_its_default():
    """The README's example is the field list of SweepConfig: same keys, same tables,
    optional fields at their defaults, and it validates."""
    shown = _readme_config()
    for f in config.FIELDS:
        table = shown.get(f.metadata["table"], {}) if f.metadata["table"] else shown
        assert f.name in table, f"README config lacks {config.key_of(f)}"
        if f.default is not dataclasses.MISSING:
            assert table[f.name] == f.default, config.key_of(f)
    keys = {k for k, v in shown.items() if not isinstance(v, dict)} | {f"grid.{k}" for k in shown["grid"]}
    assert keys == {config.key_of(f) for f in config.FIELDS}
    config.validate(shown)


def test_the_readme_names_the_required_fields():
    text = (ROOT / "README.md").read_text()
    required = [config.key_of(f) for f in config.FIELDS if f.default is dataclasses.MISSING]
    line = re.search(r"Required: (.*?); the others", text, re.S).group(1)
    named = re.findall(r"`([^`]+)`", line)
    listed = [
        n
        for part in named
        for n in (
            part.split(", ") if "{" not in part else [f"grid.{k}" for k in re.findall(r"\w+", part.split("{")[1])]
        )
    ]
    assert sorted(listed) == sorted(required)
