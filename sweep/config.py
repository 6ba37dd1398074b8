"""Sweep configuration (DESIGN.md §4): load a TOML file and validate every field.

All validation happens here, before any work starts; the rest of the engine trusts a
:class:`SweepConfig`. Each error is an :class:`~sweep.errors.InputError` naming the field.
"""

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from . import MODELS, kernel, projections, theory
from .errors import InputError
from .problem import SIGNALS

SAMPLING = ("nested", "independent")
DTYPES = ("float64", "float32")
REQUIRED = ("name", "seed", "trials", "iterations", "tolerance", "models", "regularizers", "grid")
OPTIONAL = dict(n0="approx", sampling="nested", dtype="float64", signal="gaussian", traces=5, memory_budget="1GiB")
GRID_KEYS = ("d", "s", "ratio")
_UNITS = {"": 1, "b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep configuration; see DESIGN.md §4 for the meaning of each field."""

    name: str
    seed: int
    trials: int
    iterations: int
    tolerance: float
    models: tuple
    regularizers: tuple
    d: tuple
    s: tuple
    ratio: tuple
    n0: str = "approx"
    sampling: str = "nested"
    dtype: str = "float64"
    signal: str = "gaussian"
    traces: int = 5
    memory_budget: int = 2**30
    cluster: dict = field(default_factory=dict, compare=False)
    text: str = field(default="", compare=False, repr=False)

    def canonical(self):
        """JSON of every field that decides the numbers (not the cluster, not the text)."""
        data = {k: v for k, v in asdict(self).items() if k not in ("cluster", "text")}
        return json.dumps(data, sort_keys=True)

    def n0_table(self):
        """``{(d, s): n0}`` by the config's method; the l0-mc estimate is seeded by ``seed``."""
        return {(d, s): theory.n0(s, d, self.n0, seed=self.seed) for d in self.d for s in self.s}

    def sample_sizes(self, n0_table=None):
        """``{(d, s): [n per ratio]}`` with ``n = ceil(ratio * n0)``."""
        table = n0_table or self.n0_table()
        return {key: [max(1, math.ceil(r * n0)) for r in self.ratio] for key, n0 in table.items()}


def load(path):
    """Read and validate a TOML config file.

    Raises
    ------
    InputError
        For an unreadable file, invalid TOML or any invalid field.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError("config", str(path), f"cannot be read ({exc.strerror})") from None
    return loads(text)


def loads(text):
    """Validate config text; see :func:`load`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("config", "TOML", f"is not valid TOML: {exc}") from None
    return validate(raw, text)


def validate(raw, text=""):
    """Validate a parsed config mapping and return a :class:`SweepConfig`."""
    known = set(REQUIRED) | set(OPTIONAL) | {"cluster"}
    for key in raw:
        if key not in known:
            raise InputError(key, raw[key], f"unknown key; known keys: {', '.join(sorted(known))}")
    for key in REQUIRED:
        if key not in raw:
            raise InputError(key, None, "is required but missing")
    cfg = {**OPTIONAL, **raw}
    grid = cfg["grid"]
    if not isinstance(grid, dict):
        raise InputError("grid", grid, "must be a table with d, s and ratio")
    for key in grid:
        if key not in GRID_KEYS:
            raise InputError(f"grid.{key}", grid[key], "unknown key; known keys: d, s, ratio")
    for key in GRID_KEYS:
        if key not in grid:
            raise InputError(f"grid.{key}", None, "is required but missing")

    name = cfg["name"]
    if not isinstance(name, str) or not name.strip():
        raise InputError("name", name, "must be a non-empty string")
    seed = _int("seed", cfg["seed"], 0)
    trials = _int("trials", cfg["trials"], 1)
    iterations = _int("iterations", cfg["iterations"], 1)
    if iterations > 30000:
        raise InputError("iterations", iterations, "must be at most 30000")
    tolerance = cfg["tolerance"]
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance):
        raise InputError("tolerance", tolerance, "must be a finite number")
    if not 0 < tolerance < 1:
        raise InputError("tolerance", tolerance, "must be between 0 and 1 (a relative error)")
    models = _choices("models", cfg["models"], MODELS)
    # a set the sweep can run needs both its projection and the compiled loop's twin
    runnable = tuple(name for name in projections.CONSTRAINTS if name in kernel.COMPILED)
    regularizers = _choices("regularizers", cfg["regularizers"], runnable)
    n0 = _choice("n0", cfg["n0"], theory.METHODS)
    sampling = _choice("sampling", cfg["sampling"], SAMPLING)
    dtype = _choice("dtype", cfg["dtype"], DTYPES)
    signal = _choice("signal", cfg["signal"], SIGNALS)
    if "traces" in raw:
        traces = _int("traces", raw["traces"], 0)
        if traces > trials:
            raise InputError("traces", traces, f"must be at most trials = {trials}")
    else:
        traces = min(OPTIONAL["traces"], trials)
    budget = parse_bytes("memory_budget", cfg["memory_budget"])

    ds_ = _int_list("grid.d", grid["d"], 2)
    ss = _int_list("grid.s", grid["s"], 1)
    for s in ss:
        if s >= ds_[0]:
            raise InputError("grid.s", s, f"must be below every d (smallest d = {ds_[0]}); cells with s >= d are not defined")
    ratios = grid["ratio"]
    if not isinstance(ratios, list) or not ratios:
        raise InputError("grid.ratio", ratios, "must be a non-empty list of positive numbers")
    for r in ratios:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0:
            raise InputError("grid.ratio", r, "must be a positive finite number")
    if len(set(ratios)) != len(ratios):
        raise InputError("grid.ratio", ratios, "has repeated values")
    ratios = tuple(sorted(float(r) for r in ratios))

    cluster = raw.get("cluster", {})
    if not isinstance(cluster, dict):
        raise InputError("cluster", cluster, "must be a table")
    from .cluster import validate_cluster  # the cluster section is checked by the code that uses it

    cluster = validate_cluster(cluster)

    config = SweepConfig(
        name=name, seed=seed, trials=trials, iterations=iterations, tolerance=float(tolerance),
        models=models, regularizers=regularizers, d=ds_, s=ss, ratio=ratios, n0=n0,
        sampling=sampling, dtype=dtype, signal=signal, traces=traces, memory_budget=budget,
        cluster=cluster, text=text,
    )  # fmt: skip
    _check_memory(config)
    return config


def trial_bytes(config, d, n_max):
    """Upper bound on the peak bytes of one trial in :func:`sweep.engine.run_task`.

    The design ``X`` (n_max x d) and its transpose (the kernel reads both); labels,
    products and residuals (three n_max x P arrays, four allowed); iterates and gradients
    (two d x P arrays, six allowed: the support check once took int64 ranks); the
    kernel's float64 error traces and its int64 supports and residual rows; the screen's
    int16 copy of ``X`` and its float32 gradients.
    ``tests/sweep/test_engine.py`` checks it against the measured peak.
    """
    item = 8 if config.dtype == "float64" else 4
    P = _problems_per_draw(config)
    arrays = 2 * n_max * d + 4 * n_max * P + 6 * d * P
    wide = 8 * P * (config.iterations + 1 + d + n_max) + 8 * 2 * n_max
    screen = 2 * n_max * d + 4 * P * d
    return int(item * arrays + wide + screen)


def task_bytes(config, d, n_max, batch):
    """Peak bytes of a task of ``batch`` trials: one trial at a time, plus the outputs."""
    P = len(config.models) * len(config.regularizers) * len(config.ratio)
    outputs = 8 * P * (9 * batch + min(batch, config.traces) * (config.iterations + 1))
    return trial_bytes(config, d, n_max) + outputs


def _problems_per_draw(config):
    # nested: every ratio shares one X; independent: each ratio draws its own
    return len(config.models) * len(config.regularizers) * (len(config.ratio) if config.sampling == "nested" else 1)


def _check_memory(config):
    sizes = config.sample_sizes()
    for (d, s), ns in sizes.items():
        need = task_bytes(config, d, max(ns), 1)
        if need > config.memory_budget:
            raise InputError(
                "memory_budget",
                format_bytes(config.memory_budget),
                f"is too small for d = {d}, s = {s}, n = {max(ns)}: one trial needs {format_bytes(need)}",
            )


def parse_bytes(field_name, value):
    """``"1GiB"``, ``"512 MiB"``, ``"2GB"`` or an integer number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", value)
        if not m or m.group(2).lower() not in _UNITS:
            raise InputError(field_name, value, "must be a size such as '1GiB', '512MiB' or '2GB'")
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    else:
        raise InputError(field_name, value, "must be a size such as '1GiB' or a number of bytes")
    if n <= 0:
        raise InputError(field_name, value, "must be positive")
    return n


def format_bytes(n):
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if n >= _UNITS[unit.lower()]:
            return f"{n / _UNITS[unit.lower()]:.1f} {unit}"
    return f"{n} B"


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, value, "must be an integer")
    if value < minimum:
        raise InputError(name, value, f"must be at least {minimum}")
    return value


def _int_list(name, values, minimum):
    if not isinstance(values, list) or not values:
        raise InputError(name, values, "must be a non-empty list of integers")
    for v in values:
        _int(name, v, minimum)
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
