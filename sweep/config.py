"""Sweep configuration: load a TOML file and validate every field (``docs/design.md#config``).

:class:`SweepConfig` is the one list of fields: each carries its TOML table, its default
(or none: required), its check and a one-line doc in its metadata. Validation, the
worker's :class:`~sweep.plan.Plan`, the manifest's identity of a sweep and the README's
config section (tested against it) all derive from that list. All validation happens
here, before any work starts; the rest of the engine trusts a :class:`SweepConfig`. Each
error is an :class:`~sweep.errors.InputError` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dask.utils

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]  # the same module under its old name

from . import MAX_SEED, MODELS, oracle, plan, projections, steps, structures
from .cluster_config import validate_cluster
from .errors import InputError
from .problem import SIGNALS

if TYPE_CHECKING:
    from typing import Any

    from .steps import Step

SAMPLING = ("nested", "independent")
DTYPES = ("float64", "float32")
MODES = ("grid", "adaptive")
# On the directions PGD moves in (s-sparse ones, n >> s) the linear loss has curvature about
# 1, so a step past 2 diverges; ReLU's has about half of it (half the rows are active), so
# past about 4. Beyond that no step can recover anything.
MAX_STEP = 4.0
# Bounds past which a sweep could not run, refused before anything derived from them is
# enumerated: a million trials per cell (days per cell even at a millisecond a trial);
# d = 10^6 (each (d, s) draws 4000 d-vectors for the l0 width, ~80 s there, and one row of
# X is 8 MB); a sample size must fit the int32 the dataset stores it in; a ratio range of a
# million sizes per cell is more problems than any trial can hold.
MAX_TRIALS = 10**6
MAX_D = 10**6
MAX_N = 2**31 - 1
MAX_SIZES = 10**6


def _spec(check, doc, default=dataclasses.MISSING, table=None):
    """A field of :class:`SweepConfig`: ``check(name, value) -> value`` validates and
    normalises the TOML value; ``table`` is the TOML table it lives in (``None``: top
    level)."""
    meta = dict(check=check, doc=doc, table=table)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


#: A name is printed in every log line and written in the dataset's title: printable text.
MAX_NAME = 200


def _name(name, value):
    if not isinstance(value, str) or not value.strip():
        raise InputError(name, value, "must be a non-empty string")
    if not value.isprintable():  # a NUL, an escape sequence a terminal would act on, a line break
        raise InputError(name, value, "must be printable text (no control characters)")
    if len(value) > MAX_NAME:
        raise InputError(name, value[:40] + "...", f"must be at most {MAX_NAME} characters, got {len(value)}")
    return value


def _int_at_least(minimum, maximum=None):
    def check(name, value):
        value = _int(name, value, minimum)
        if maximum is not None and value > maximum:
            raise InputError(name, value, f"must be at most {maximum}")
        return value

    return check


def _tolerance(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(name, value, "must be a finite number")
    if not 0 < value < 1:
        raise InputError(name, value, "must be between 0 and 1 (a relative error)")
    return float(value)


def _one_of(allowed):
    return lambda name, value: _choice(name, value, allowed)


def _list_of(allowed):
    return lambda name, value: _choices(name, value, allowed() if callable(allowed) else allowed)


def _int_list_at_least(minimum, maximum=None):
    return lambda name, value: _int_list(name, value, minimum, maximum)


def _ratios(name, values):
    if not isinstance(values, list) or not values:
        raise InputError(name, values, "must be a non-empty list of positive numbers")
    for r in values:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0:
            raise InputError(name, r, "must be a positive finite number")
    if len(set(values)) != len(values):
        raise InputError(name, values, "has repeated values")
    return tuple(sorted(float(r) for r in values))


def _steps(name, values):
    rules = " | ".join(f'"{r}"' for r in steps.RULES)
    if not isinstance(values, list) or not values:
        raise InputError(name, values, f"must be a non-empty list of step sizes in (0, 4] or step rules ({rules})")
    for mu in values:
        if isinstance(mu, str):
            if mu not in steps.RULES:
                raise InputError(name, mu, f"is not a step rule; known: {rules}")
            continue
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not math.isfinite(mu):
            raise InputError(name, mu, f"must be a finite number (a step size in (0, 4]) or a step rule ({rules})")
        if not 0 < mu <= MAX_STEP:
            raise InputError(name, mu, f"must be in (0, {MAX_STEP:g}] (a step size)")
    # each entry as its value on the dataset's step_size axis: rules sit at <= 0, before the steps
    coordinates = [steps.coordinate(mu) for mu in values]
    if len(set(coordinates)) != len(coordinates):
        raise InputError(name, values, "has repeated values")
    return tuple(sorted(coordinates))


def _optional(check):
    """A check that lets ``None`` (the key left out) through: the cross-field rules decide."""
    return lambda name, value: None if value is None else check(name, value)


def _ratio_range(name, value):
    if not isinstance(value, list) or len(value) != 2:
        raise InputError(name, value, "must be a list [lo, hi] of two positive numbers")
    for r in value:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0:
            raise InputError(name, r, "must be a positive finite number")
    if not value[0] < value[1]:
        raise InputError(name, value, "must be [lo, hi] with lo < hi")
    return (float(value[0]), float(value[1]))


def _quantiles(name, values):
    if not isinstance(values, (list, tuple)) or not values:
        raise InputError(name, values, "must be a non-empty list of numbers between 0 and 1")
    for q in values:
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise InputError(name, q, "must be a number strictly between 0 and 1 (a success probability)")
    if len(set(values)) != len(values):
        raise InputError(name, values, "has repeated values")
    return tuple(sorted(float(q) for q in values))


def _precision(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InputError(name, value, "must be a number between 0 and 1 (relative half-width of the n50 interval)")
    return float(value)


def _regularizers():
    # every registered constraint set has its reference projection and its compiled twin
    return tuple(projections.CONSTRAINTS)


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep configuration: one field per config key, documented in its metadata."""

    name: str = _spec(_name, "a label for the sweep (dataset title, progress messages)")
    seed: int = _spec(_int_at_least(0, MAX_SEED), "every trial's data derives from it deterministically")
    trials: int = _spec(_int_at_least(1, MAX_TRIALS), "trials per grid cell")
    iterations: int = _spec(_int_at_least(1, 30000), "PGD iteration cap")
    tolerance: float = _spec(_tolerance, "success: ||w_T - w*|| / ||w*|| <= tolerance")
    models: tuple = _spec(_list_of(MODELS), "observation models: relu, linear")
    regularizers: tuple = _spec(
        _list_of(_regularizers),
        "constraint sets, all of one structure of w*: l0 | l1 | none; group-l0 | group-l1; rank | nuclear",
    )
    d: tuple = _spec(_int_list_at_least(2, MAX_D), "dimensions", table="grid")
    s: tuple = _spec(
        _int_list_at_least(1),
        "sparsities (group sets: nonzero groups; rank, nuclear: the rank); s >= d (d / group_size, sqrt(d)) "
        "is an error, not silently dropped",
        table="grid",
    )
    ratio: tuple = _spec(
        _optional(_ratios), "n / n0 of each sample size: n = ceil(ratio * n0) (or ratio_range)", None, table="grid"
    )
    ratio_range: tuple = _spec(
        _optional(_ratio_range),
        "instead of ratio: every n from ceil(lo * n0) to floor(hi * n0) in steps of n_step (nested)",
        None,
        table="grid",
    )
    n_step: int = _spec(_int_at_least(1), "step between sample sizes of a ratio_range", 1, table="grid")
    mode: str = _spec(_one_of(MODES), "grid: every n for every trial; adaptive: probes where p(n) turns", "grid")
    first_trials: int = _spec(_int_at_least(1), "trials of round 0, run at every ratio", 20, table="adaptive")
    round_trials: int = _spec(_int_at_least(1), "new trials per later round", 20, table="adaptive")
    probes_per_trial: int = _spec(
        _int_at_least(1), "sample sizes given to each new trial, per model and regularizer", 5, table="adaptive"
    )
    quantiles: tuple = _spec(
        _quantiles, "success probabilities whose fitted n the probes sit at", (0.1, 0.3, 0.5, 0.7, 0.9), "adaptive"
    )
    precision: float = _spec(
        _precision, "a cell stops when its n50 95% interval's half-width is this share of n50", 0.02, "adaptive"
    )
    step_sizes: tuple = _spec(
        _optional(_steps),
        "mu_t for t >= 1, each in (0, 4] or a step rule: normalized (mu_0 stays 2 for ReLU, 1 for linear); "
        "the dataset's step_size axis, where a rule is its coordinate (normalized: 0). "
        "Left out: the paper's 1, no axis",
        None,
    )
    group_size: int = _spec(
        _optional(_int_at_least(1)), "group sets: coordinates per group (every d a multiple of it)", None
    )
    n0: str = _spec(
        lambda name, value: _choice(name, value, structures.methods()),
        "which n0 sets n: approx | l1 | l0-mc (sparse w* only)",
        "approx",
    )
    sampling: str = _spec(
        _one_of(SAMPLING), "nested: one X per (d, s, trial), X[:n] per ratio; independent: fresh X per cell", "nested"
    )
    dtype: str = _spec(_one_of(DTYPES), "float64 or float32 (its own normals: other samples)", "float64")
    signal: str = _spec(_one_of(SIGNALS), "nonzeros of w*: gaussian | rademacher (equal magnitude)", "gaussian")
    traces: int = _spec(_int_at_least(0), "trials per cell whose full error trace is kept (0 = none)", 5)
    convex_limit: bool = _spec(
        lambda name, value: _bool(name, value),
        "also solve each convex set's program (l1, group-l1, nuclear, none) on every trial and n: convex_success, "
        "the line PGD is read against",
        False,
    )
    memory_budget: int = _spec(
        lambda name, value: parse_bytes(name, value), "per task; a trial that cannot fit is a config error", "1GiB"
    )
    dataset_budget: int = _spec(
        lambda name, value: parse_bytes(name, value),
        "the most the dataset may take in memory when it is assembled (every variable, traces included); "
        "a larger plan is refused before any work",
        "8GiB",
    )
    cluster: dict = dataclasses.field(default_factory=dict, compare=False)
    text: str = dataclasses.field(default="", compare=False, repr=False)

    def canonical(self) -> str:
        """JSON of every config key's value (not the cluster table, not the text): the
        sweep's identity, which a parts folder is checked against on resume."""
        data = {k: v for k, v in asdict(self).items() if k in KEYS}
        return json.dumps(data, sort_keys=True)

    @property
    def structure(self) -> str:
        """The structure of ``w*`` every constraint set of the sweep is for
        (:mod:`sweep.structures`)."""
        return projections.get(self.regularizers[0]).structure

    @property
    def block(self) -> int:
        """The group size the group sets read (1 for other structures)."""
        return self.group_size or 1

    @property
    def step_coordinates(self) -> tuple[float, ...]:
        """The steps ``mu_t`` (t >= 1) the sweep runs, as values of the ``step_size`` axis (a
        step rule at its coordinate, :mod:`sweep.steps`): ``step_sizes``, or the paper's
        alone when the key is left out."""
        return self.step_sizes or (steps.PAPER_STEP,)

    @property
    def step_choices(self) -> tuple[Step, ...]:
        """The same steps as PGD is given them: a fixed step, or a
        :class:`~sweep.steps.StepRule`, in the axis's order."""
        return tuple(steps.on_axis(c) for c in self.step_coordinates)

    @property
    def step_axis(self) -> bool:
        """Whether the dataset has a ``step_size`` dimension: only when ``step_sizes`` is
        given, so that a config without it writes the datasets it always wrote."""
        return self.step_sizes is not None

    @property
    def layout(self) -> str:
        """``"ratio"``: one sample size per ratio, the same for every trial (dimension
        ``ratio``); ``"probe"``: each trial's own sample sizes (dimension ``probe``), for a
        ratio range and for adaptive mode."""
        return _layout({"mode": self.mode, "ratio": self.ratio})


#: The config keys, in order: the fields of :class:`SweepConfig` that carry a check.
FIELDS = tuple(f for f in dataclasses.fields(SweepConfig) if "check" in f.metadata)
KEYS = tuple(f.name for f in FIELDS)
#: Tables of the TOML file and the keys in each (``None``: the top level).
TABLES = {t: tuple(f.name for f in FIELDS if f.metadata["table"] == t) for t in (None, "grid", "adaptive")}


def key_of(f: dataclasses.Field) -> str:
    """A field's name as the TOML file spells it (``grid.d``)."""
    return f"{f.metadata['table']}.{f.name}" if f.metadata["table"] else f.name


def load(path: str | Path) -> SweepConfig:
    """Read and validate a TOML config file.

    Raises
    ------
    InputError
        For an unreadable file, invalid TOML or any invalid field.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError("config", str(path), f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError("config", str(path), f"is not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    return loads(text, source=str(path))


def loads(text: str, source: str = "<text>") -> SweepConfig:
    """Validate config text; see :func:`load`. ``source`` names it in a TOML syntax error."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("config", source, f"is not valid TOML: {exc}") from None
    return validate(raw, text)


def validate(raw: dict[str, Any], text: str = "") -> SweepConfig:
    """Validate a parsed config mapping and return a :class:`SweepConfig`."""
    _check_keys(None, raw, set(TABLES[None]) | {"grid", "adaptive", "cluster"})
    if "grid" not in raw:
        raise InputError("grid", None, "is required but missing")
    tables: dict[str | None, dict[str, Any]] = {None: raw}
    for table in ("grid", "adaptive"):
        tables[table] = raw.get(table, {})
        if not isinstance(tables[table], dict):
            raise InputError(table, tables[table], "must be a table")
        _check_keys(table, tables[table], set(TABLES[table]))
    values: dict[str, Any] = {}
    for f in FIELDS:
        source = tables[f.metadata["table"]]
        if f.name in source:
            value = source[f.name]
        elif f.default is dataclasses.MISSING:
            raise InputError(key_of(f), None, "is required but missing")
        else:
            value = f.default
        values[f.name] = f.metadata["check"](key_of(f), value)
    _check_design(raw, values)
    if "traces" not in raw:
        values["traces"] = min(values["traces"], values["trials"]) if _layout(values) == "ratio" else 0
    elif values["traces"] > values["trials"]:
        raise InputError("traces", values["traces"], f"must be at most trials = {values['trials']}")
    elif values["traces"] and _layout(values) == "probe":
        raise InputError("traces", values["traces"], "must be 0 with ratio_range or mode = 'adaptive' (no traces kept)")
    _check_structure(values)
    _check_convex(values)
    cluster = raw.get("cluster", {})
    if not isinstance(cluster, dict):
        raise InputError("cluster", cluster, "must be a table")
    config = SweepConfig(**values, cluster=validate_cluster(cluster), text=text)
    n0 = plan.n0_table(config)
    _check_sizes(config, n0)
    sizes = plan.sample_sizes(config, n0)
    _check_memory(config, sizes)
    _check_dataset(config, sizes)
    return config


def _check_structure(values):
    """The rules of the structure of ``w*``: one for every set, the group size where (and
    only where) it is read, dimensions it fits, ``s`` below its limit, a signal and an n0
    method it has."""
    kinds = {g: projections.get(g).structure for g in values["regularizers"]}
    if len(set(kinds.values())) > 1:
        raise InputError(
            "regularizers",
            list(values["regularizers"]),
            "mixes structures of w* (" + ", ".join(f"{g}: {k}" for g, k in kinds.items()) + "); a trial has one w*",
        )
    kind = structures.get(next(iter(kinds.values())))
    g = values["group_size"]
    if kind.grouped and g is None:
        raise InputError("group_size", None, "is required with group sets (coordinates per group)")
    if not kind.grouped and g is not None:
        grouped = [name for name, c in projections.CONSTRAINTS.items() if structures.get(c.structure).grouped]
        raise InputError("group_size", g, f"is read only with group sets ({', '.join(grouped)})")
    g = g or 1
    for d in values["d"]:
        why = kind.misfit(d, g)
        if why:
            raise InputError("grid.d", d, f"does not fit {kind.name} w*: {why}")
    for d in values["d"]:
        for s in values["s"]:
            if s >= kind.limit(d, g):
                raise InputError(
                    "grid.s",
                    s,
                    f"must be below {kind.limit(d, g)} at d = {d} ({kind.name} w*: s counts {kind.counts}); "
                    "cells beyond it are not defined",
                )
    if values["signal"] not in kind.signals:
        raise InputError(
            "signal", values["signal"], f"is not drawn for {kind.name} w* (known: {', '.join(kind.signals)})"
        )
    if values["n0"] not in kind.n0:
        raise InputError("n0", values["n0"], f"is not an n0 method for {kind.name} w* (known: {', '.join(kind.n0)})")


def _check_convex(values):
    """``convex_limit`` needs a convex set among the sweep's, its solver installed, and a
    tolerance the solver's answer can meet (:data:`sweep.oracle.PROGRAMS`)."""
    if not values["convex_limit"]:
        return
    sets = [g for g in values["regularizers"] if oracle.convex(g)]
    if not sets:
        raise InputError(
            "convex_limit",
            True,
            f"needs a convex set among regularizers {list(values['regularizers'])} "
            f"(known: {', '.join(oracle.PROGRAMS)})",
        )
    for g in sets:
        module = oracle.missing(g)
        if module:
            raise InputError(
                "convex_limit",
                True,
                f'with {g} needs {module}, from the {oracle.EXTRA!r} extra: pip install ".[{oracle.EXTRA}]"',
            )
        accuracy = oracle.PROGRAMS[g].accuracy
        if values["tolerance"] < accuracy:
            raise InputError(
                "tolerance",
                values["tolerance"],
                f"is below what the {g} program's solver reaches ({accuracy:g}); convex_limit needs at least that",
            )


def _check_design(raw, values):
    """The rules between the sample-size fields: a ratio list or a ratio range (not both),
    ``n_step`` only with a range, adaptive mode from a ratio list, nested sampling for both."""
    grid, adaptive = raw["grid"], raw.get("adaptive", {})
    if (values["ratio"] is None) == (values["ratio_range"] is None):
        given = values["ratio"] or values["ratio_range"]
        raise InputError("grid.ratio", given, "give exactly one of grid.ratio and grid.ratio_range")
    if "n_step" in grid and values["ratio_range"] is None:
        raise InputError("grid.n_step", values["n_step"], "is read only with grid.ratio_range")
    if values["mode"] == "adaptive":
        if values["ratio"] is None:
            raise InputError("grid.ratio_range", list(values["ratio_range"]), "adaptive mode starts from grid.ratio")
        if len(values["ratio"]) < 2:
            raise InputError("grid.ratio", list(values["ratio"]), "adaptive mode needs at least two ratios (a range)")
        if values["first_trials"] > values["trials"]:
            raise InputError(
                "adaptive.first_trials", values["first_trials"], f"must be at most trials = {values['trials']}"
            )
    elif adaptive:
        raise InputError("adaptive", adaptive, "is read only with mode = 'adaptive'")
    if _layout(values) == "probe" and values["sampling"] != "nested":
        raise InputError("sampling", values["sampling"], "must be nested with ratio_range or mode = 'adaptive'")


def _layout(values):
    return "ratio" if values["mode"] == "grid" and values["ratio"] is not None else "probe"


def _check_keys(table, raw, known):
    for key in raw:
        if key not in known:
            where = f"{table}.{key}" if table else key
            raise InputError(where, raw[key], f"unknown key; known keys: {', '.join(sorted(known))}")


def _check_sizes(config, table):
    """Sample sizes that fit the dataset's int32, and a ratio range of an enumerable length,
    checked by arithmetic before any list of sizes is made."""
    for (d, s), n0 in table.items():
        if config.ratio is not None:
            field, top = "grid.ratio", max(config.ratio)
        else:
            field, top = "grid.ratio_range", config.ratio_range[1]
        n_max = top * n0
        if not n_max <= MAX_N:  # inf too
            raise InputError(field, top, f"gives n = {n_max:.3g} at d = {d}, s = {s}; n must be at most {MAX_N}")
        if config.ratio is None:
            lo, hi = config.ratio_range
            count = (math.floor(hi * n0) - max(1, math.ceil(lo * n0))) // config.n_step + 1
            if count > MAX_SIZES:
                raise InputError(
                    field,
                    list(config.ratio_range),
                    f"gives {count} sample sizes at d = {d}, s = {s} (n_step {config.n_step}); at most {MAX_SIZES}",
                )


def _check_memory(config, sizes):
    for (d, s), ns in sizes.items():
        need = plan.task_bytes(config, d, ns, 1)
        if need > config.memory_budget:
            raise InputError(
                "memory_budget",
                dask.utils.format_bytes(config.memory_budget),
                f"is too small for d = {d}, s = {s}, n = {max(ns)}: one trial needs {dask.utils.format_bytes(need)}",
            )


def _check_dataset(config, sizes):
    need = plan.dataset_bytes(config, sizes)
    if need > config.dataset_budget:
        raise InputError(
            "dataset_budget",
            dask.utils.format_bytes(config.dataset_budget),
            f"is below the planned dataset, {dask.utils.format_bytes(need)} (trials, sizes, traces and iterations); "
            "raise dataset_budget or plan a smaller sweep",
        )


def parse_bytes(field_name: str, value: Any) -> int:
    """``"1GiB"``, ``"512 MiB"``, ``"2GB"`` or an integer number of bytes, read by
    :func:`dask.utils.parse_bytes` (the units Dask's own memory settings take)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError(field_name, value, "must be a size such as '1GiB' or a number of bytes")
    try:
        n = dask.utils.parse_bytes(value)
    except (ValueError, OverflowError):  # "1e400": past any float
        raise InputError(field_name, value, "must be a size such as '1GiB', '512MiB' or '2GB'") from None
    if n <= 0:
        raise InputError(field_name, value, "must be positive")
    return n


def _bool(name, value):
    if not isinstance(value, bool):
        raise InputError(name, value, "must be true or false")
    return value


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, value, "must be an integer")
    if value < minimum:
        raise InputError(name, value, f"must be at least {minimum}")
    return value


def _int_list(name, values, minimum, maximum=None):
    if not isinstance(values, list) or not values:
        raise InputError(name, values, "must be a non-empty list of integers")
    for v in values:
        _int(name, v, minimum)
        if maximum is not None and v > maximum:
            raise InputError(name, v, f"must be at most {maximum}")
    if len(set(values)) != len(values):
        raise InputError(name, values, "has repeated values")
    return tuple(sorted(values))


def _choice(name, value, allowed):
    if value not in allowed:
        raise InputError(name, value, f"must be one of {', '.join(allowed)}")
    return value


def _choices(name, values, allowed):
    if not isinstance(values, list) or not values:
        raise InputError(name, values, f"must be a non-empty list drawn from {', '.join(allowed)}")
    for v in values:
        _choice(name, v, allowed)
    if len(set(values)) != len(values):
        raise InputError(name, values, "has repeated values")
    return tuple(values)
