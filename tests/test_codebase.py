"""The codebase's own rules (docs/design.md#architecture), read from the source.

- Layers import only downward: base → reference science → kernel → engine → Dask → CLI,
  and ``analysis`` imports ``sweep``, never the reverse.
- No function in ``sweep/`` or ``analysis/`` is longer than :data:`MAX_LINES` unless its
  docstring says why (a paragraph starting "Long because").
- References point into the repository: no design document outside it, no issue numbers.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 80

LAYERS = {
    "base": ["__init__", "errors", "atomic"],
    "science": ["theory", "structures", "projections", "steps", "pgd", "fit", "oracle"],
    "kernel": ["_cache", "_normal", "_loop", "problem", "kernel"],
    "engine": ["cluster_config", "plan", "config", "engine", "adaptive", "conventions", "parts", "dataset", "figure1"],
    "dask": ["cluster", "fanout", "runner"],
    "cli": ["cli", "__main__"],
}
RANK = {name: i for i, names in enumerate(LAYERS.values()) for name in names}
# third-party packages a layer may not import (at any depth of the file)
FORBIDDEN = {
    "base": {"numpy", "numba", "dask", "distributed", "dask_jobqueue", "xarray"},
    "science": {"numba", "dask", "distributed", "dask_jobqueue", "xarray"},
    "kernel": {"dask", "distributed", "dask_jobqueue", "xarray"},
    "engine": {"distributed", "dask_jobqueue"},
}


def _modules(package):
    return sorted((ROOT / package).glob("*.py"))


def _imports(path, package):
    """``(module, top-level package)`` for every import in ``path``: sibling modules of
    ``package`` by name (relative or absolute), other packages by their top name."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from . import x / from .x import y
                if node.module:
                    out.append((node.module.split(".")[0], package))
                else:
                    out.extend((alias.name, package) for alias in node.names)
            elif node.module:
                top, _, rest = node.module.partition(".")
                if top == package and not rest:
                    out.extend((alias.name, package) for alias in node.names)
                else:
                    out.append((rest.split(".")[0] if top in ("sweep", "analysis") else "", top))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                out.append((rest.split(".")[0] if top in ("sweep", "analysis") else "", top))
    return out


def test_every_sweep_module_has_a_layer():
    assert {p.stem for p in _modules("sweep")} == set(RANK)


@pytest.mark.parametrize("path", _modules("sweep"), ids=lambda p: p.stem)
def test_sweep_imports_only_downward(path):
    rank = RANK[path.stem]
    layer = list(LAYERS)[rank]
    for module, package in _imports(path, "sweep"):
        assert package != "analysis", f"sweep/{path.name} imports analysis"
        if package == "sweep" and module in RANK:
            assert RANK[module] <= rank, f"sweep/{path.name} ({layer}) imports {module} ({list(LAYERS)[RANK[module]]})"
        assert package not in FORBIDDEN.get(layer, ()), f"sweep/{path.name} ({layer}) imports {package}"


@pytest.mark.parametrize("path", _modules("analysis"), ids=lambda p: p.stem)
def test_analysis_uses_no_dask_layer_or_cli_of_sweep(path):
    for module, package in _imports(path, "analysis"):
        if package == "sweep":
            assert RANK.get(module, 0) <= RANK["figure1"], f"analysis/{path.name} imports sweep.{module}"


def test_the_layer_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "projections.py"
    bad.write_text("from . import kernel\nfrom .cluster import connect\nimport numba\n")
    found = _imports(bad, "sweep")
    assert ("kernel", "sweep") in found and ("cluster", "sweep") in found and ("", "numba") in found


def _long_functions(paths):
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                doc = ast.get_docstring(node) or ""
                if length > MAX_LINES and "Long because" not in doc:
                    yield f"{path.name}:{node.lineno} {node.name} ({length} lines)"


def test_no_long_function_without_a_reason():
    paths = _modules("sweep") + _modules("analysis")
    assert list(_long_functions(paths)) == []


def test_the_length_check_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(f"def f():\n{body}\n")
    assert len(list(_long_functions([tmp_path / "m.py"]))) == 1


OUTSIDE = re.compile(r"DESIGN\.md|\.\./shared|shared/DESIGN|issue #\d|\(#\d+\)")


def test_references_point_into_the_repository():
    files = [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("benchmarks/*"), *ROOT.glob("cluster/**/*")]
    files += _modules("sweep") + _modules("analysis") + list((ROOT / "tests").rglob("*.py"))
    hits = []
    for path in files:
        if path.is_file() and path != Path(__file__).resolve():
            for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if OUTSIDE.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert hits == []


def test_design_sections_named_in_the_code_exist():
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in (ROOT / "docs" / "design.md").read_text().splitlines()
        if line.startswith("## ")
    }
    cited = set()
    for path in _modules("sweep") + _modules("analysis") + [ROOT / "README.md"]:
        cited |= set(re.findall(r"docs/design\.md#([a-z0-9-]+)", path.read_text()))
    assert cited and cited <= anchors, sorted(cited - anchors)


# --- one registry per kind of thing: a new entry reaches every table that reads it ---

TOY_CONFIG = """
name = "toy"
seed = 3
trials = 2
iterations = 30
tolerance = 1e-4
models = ["relu", "linear"]
regularizers = ["{reg}"]
step_sizes = [1.0, "{rule}"]
[grid]
d = [40]
s = [2]
ratio = [1.0, 3.0]
"""


def _sweep_of(text, tmp_path):
    from sweep import config, runner

    out = tmp_path / "toy.nc"
    cfg = config.loads(text)
    runner.run(
        cfg, out, workers=1, progress=False, dashboard_address="127.0.0.1:0", in_process=True, log=lambda m: None
    )
    import xarray as xr

    with xr.open_dataset(out) as ds:
        return cfg, ds.load()


def test_a_new_step_rule_reaches_every_table(monkeypatch, tmp_path):
    """One ``@register`` in sweep/steps.py (and its twin in sweep/_loop.py, borrowed here):
    config, the kernel, the dataset's CF attributes and the figures' words follow."""
    from analysis import plots
    from sweep import _loop, conventions, kernel, steps

    monkeypatch.setattr(steps, "RULES", dict(steps.RULES))
    steps.register("toy", coordinate=-1.0, compiled="NORMALIZED")(steps.normalized_update)
    cfg, ds = _sweep_of(TOY_CONFIG.format(reg="l1", rule="toy"), tmp_path)
    assert cfg.step_choices == (steps.RULES["toy"], 1.0)
    assert kernel.step_code(steps.RULES["toy"]) == _loop.NORMALIZED
    assert list(ds.step_size.values) == [-1.0, 1.0] and "-1 = toy" in ds.step_size.attrs["comment"]
    assert "-1 = toy" in conventions.step_size_attrs()["comment"]
    assert steps.label(-1.0) == "toy" and plots._step_words(-1.0) == "toy step"
    assert int(ds.shrinks.sel(step_size=-1.0).count()) > 0  # a rule's variable is written


def test_a_new_structure_reaches_every_table(monkeypatch, tmp_path, capsys):
    """One ``@register`` in sweep/structures.py (its n0 formulas would go in sweep/theory.py):
    config, the n0 tables, the draw, the dataset's CF attributes, ``sweep n0`` and the
    analysis's labels follow. Its constraint set borrows l1's projection and twin."""
    from analysis import plots, stats
    from sweep import cli, projections, structures

    monkeypatch.setattr(structures, "STRUCTURES", dict(structures.STRUCTURES))
    monkeypatch.setattr(projections, "CONSTRAINTS", dict(projections.CONSTRAINTS))
    structures.register(
        "toy",
        counts="nonzero toys",
        limit=lambda d, g: d // 4,
        misfit=lambda d, g: None if d % 4 == 0 else f"d = {d} is not a multiple of 4",
        signals=("gaussian",),
        s_words="s (toys)",
        s_long_name="number of toys of w*",
        n0={
            "approx": structures.N0Method(lambda s, d, g, seed: (6.0 * s, 0.0), "6 s", "n0 = 6 s"),
            "l1": structures.N0Method(lambda s, d, g, seed: (5.0 * s, 0.5), "toy dimension (MC)", "toy", sampled=True),
        },
        convex="toy-norm",
        where=lambda d, g: ", toy",
    )(structures.sparse_signal)
    projections.register("toy-l1", regularizer=lambda w, g=1: float(abs(w).sum()), compiled="L1", structure="toy")(
        projections.project_l1
    )
    cfg, ds = _sweep_of(TOY_CONFIG.format(reg="toy-l1", rule="normalized"), tmp_path)
    assert cfg.structure == "toy" and ds.attrs["structure"] == "toy"
    assert list(ds.n.sel(d=40, s=2).values) == [12, 36]  # n = ceil(ratio * 6 s)
    assert float(ds.n0_l1.sel(d=40, s=2)) == 10.0 and float(ds.n0_l1_se.sel(d=40, s=2)) == 0.5
    assert ds.s.attrs["long_name"] == "number of toys of w*" and ds.n0_approx.attrs["long_name"] == "n0 = 6 s"
    assert ds.n0_l1_se.attrs["long_name"] == "standard error of n0_l1"
    assert plots._n0_words(ds, "approx") == "6 s" and plots._theory_label(ds, "n0_l1") == "n = toy dimension (MC)"
    assert set(stats.n0_methods()) >= {"approx", "l1"}
    assert cli.main(["n0", "--structure", "toy", "--s", "2", "--d", "40"]) == 0
    assert capsys.readouterr().out.strip() == "n0 (approx, toy, s=2, d=40, toy) = 12.000000"
    assert cli.main(["n0", "--structure", "toy", "--s", "2", "--d", "42"]) == 2
    assert "--d = 42: d = 42 is not a multiple of 4" in capsys.readouterr().err


def _public_functions(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node.name, node
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for f in node.body:
                if isinstance(f, ast.FunctionDef) and (not f.name.startswith("_") or f.name == "__init__"):
                    yield f"{node.name}.{f.name}", f


def _untyped(paths):
    """``file:line name (what lacks a hint)`` for every public function of a public module
    whose parameters or return lack a type hint."""
    for path in paths:
        for name, f in _public_functions(path):
            a = f.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, [a.vararg, a.kwarg])]
            lacking = [p.arg for p in params if p.annotation is None and p.arg not in ("self", "cls")]
            lacking += ["return"] if f.returns is None else []
            if lacking:
                yield f"{path.name}:{f.lineno} {name} ({', '.join(lacking)})"


def test_every_public_function_has_type_hints():
    """The public API's hints, which ``mypy`` (pinned, in CI) checks against the code."""
    paths = [p for p in _modules("sweep") + _modules("analysis") if not p.stem.startswith("_") or p.stem == "__init__"]
    assert list(_untyped(paths)) == []


def test_the_hint_check_finds_a_missing_hint(tmp_path):
    (tmp_path / "m.py").write_text("def f(x: int, y) -> int:\n    return x\n\n\ndef g(x: int):\n    return x\n")
    assert [line.split(" ", 1)[1] for line in _untyped([tmp_path / "m.py"])] == ["f (y)", "g (return)"]
