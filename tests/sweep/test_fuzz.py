"""The config contract under hostile input, generated from the field registry: whatever a
config holds, ``sweep run --dry-run`` exits 0, or 2 with one line naming what is wrong;
never a traceback, never a file written, never a long wait.

The fields come from :data:`sweep.config.FIELDS` and :data:`sweep.cluster_config.OWN`, so a
field added there is fuzzed here without a change to this file. CI runs a fixed, bounded
set of examples (``derandomize``); ``FUZZ_RANDOM=1 FUZZ_EXAMPLES=5000 python -m pytest
tests/sweep/test_fuzz.py`` runs a longer, random search by hand.
"""

import contextlib
import io
import json
import math
import os
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sweep import cli, cluster_config, config

SECONDS = 20  # one dry run, at most: validation refuses what could not finish before enumerating it

BASE = {
    "name": "fuzz",
    "seed": 1,
    "trials": 2,
    "iterations": 10,
    "tolerance": 1e-4,
    "models": ["relu", "linear"],
    "regularizers": ["l0"],
    "traces": 0,
    "grid": {"d": [20], "s": [2], "ratio": [1.0, 2.0]},
}
ADAPTIVE = {**BASE, "mode": "adaptive", "adaptive": {"first_trials": 1, "round_trials": 1}}

#: Where each key lives: every config field, and the cluster table's own keys.
PLACES = [(f.metadata["table"], f.name) for f in config.FIELDS] + [("cluster", k) for k in cluster_config.OWN]

EXTREME_INTS = st.sampled_from([0, -1, 1, 2, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**12, -(2**63)])
EXTREME_FLOATS = st.sampled_from(
    [0.0, -0.0, 1e-300, 5e-324, 0.5, 1.0, 4.0, 4.000001, 1e308, -1e308, math.inf, -math.inf, math.nan]
)
STRINGS = st.sampled_from(
    [
        "",
        " ",
        "é",
        "\x00",
        "a" * 1000,
        "1GiB",
        "relu",
        "l0",
        "nested",
        "-1GiB",
        "1e400",
        "slurm",
        "pbs",
        "tcp://127.0.0.1:1",
        "10m",
    ]
)
SCALARS = st.one_of(EXTREME_INTS, EXTREME_FLOATS, STRINGS, st.booleans(), st.integers(), st.floats())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(STRINGS, inner, max_size=2)),
    max_leaves=6,
)


def toml_value(v):
    """``v`` as a TOML value (inline tables for dicts)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # TOML basic strings take JSON's escapes
    if isinstance(v, list):
        return "[" + ", ".join(map(toml_value, v)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml(raw):
    top = [f"{k} = {toml_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    tables = [
        f"[{k}]\n" + "\n".join(f"{json.dumps(key)} = {toml_value(x)}" for key, x in v.items())
        for k, v in raw.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top + tables) + "\n"


@st.composite
def configs(draw):
    """A valid base with one place changed: a value replaced, a key removed, or a stranger
    key or table added."""
    raw = json.loads(json.dumps(draw(st.sampled_from([BASE, ADAPTIVE]))))
    table, key = draw(st.sampled_from(PLACES))
    where = raw if table is None else raw.setdefault(table, {})
    action = draw(st.sampled_from(["replace", "replace", "replace", "remove", "stranger"]))
    if action == "replace":
        where[key] = draw(VALUES)
    elif action == "remove":
        where.pop(key, None)
    else:
        where[draw(STRINGS.filter(bool))] = draw(VALUES)
    return raw


@contextlib.contextmanager
def _at_most(seconds):
    def late(signum, frame):
        raise TimeoutError(f"a dry run took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, late)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _dry_run(text, flags=None):
    """``sweep run --dry-run`` of the config ``text`` in a fresh folder, with ``flags``
    (default: an output in a folder yet to be made); ``{tmp}`` in a flag is that folder."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_text(text)
        flags = ["--out", str(Path(tmp) / "out" / "fuzz.nc")] if flags is None else flags
        err = io.StringIO()
        with _at_most(SECONDS), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = cli.main(["run", str(path), "--dry-run", *(f.replace("{tmp}", tmp) for f in flags)])
            except SystemExit as exc:  # argparse's way out, with our one line (OneLineParser)
                status = exc.code
        left = sorted(p.name for p in Path(tmp).iterdir())
    return status, err.getvalue(), left


def _holds(text, flags=None):
    status, err, left = _dry_run(text, flags)
    assert status in (0, 2), (status, err)
    assert "Traceback" not in err, err
    if status == 2:
        lines = [line for line in err.strip().splitlines() if not line.startswith("sweep: warning: ")]
        assert len(lines) == 1 and lines[0].startswith(("sweep: error: ", "sweep run: error: ")), err
    assert left == ["fuzz.toml"], left  # nothing written, not even an empty folder


@pytest.mark.parametrize(
    "edit",
    [
        {"grid": {**BASE["grid"], "ratio": [1e308]}},
        {"trials": 2**63},
        {"grid": {**BASE["grid"], "d": [10**12]}},
        {"grid": {"d": [20], "s": [2], "ratio_range": [0.1, 1e9]}},
        {"step_sizes": [math.nan]},
        {"memory_budget": "1e400"},
    ],
)
def test_the_extremes_found_so_far(edit):
    """Each once broke the contract (an overflow traceback, a dry run of minutes)."""
    _holds(toml({**BASE, **edit}))


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)),
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@example(raw={**BASE, "grid": {**BASE["grid"], "ratio": [1e308]}})
@given(raw=configs())
def test_any_config_exits_0_or_2_with_one_line_and_writes_nothing(raw):
    _holds(toml(raw))


#: Values of each flag a user can pass to ``sweep run``: the sane, the edges and the absurd
#: (``{tmp}`` is the run's folder, which holds the config ``fuzz.toml``).
FLAG_VALUES = {
    "--out": st.sampled_from(
        [
            "{tmp}/a.nc",
            "{tmp}/new/deeper/a.nc",
            "{tmp}",
            "{tmp}/",
            "{tmp}/a.txt",
            "{tmp}/fuzz.toml/a.nc",
            "{tmp}/fuzz.toml",
            "",
            ".nc",
            "{tmp}/\u00e9.nc",
            "{tmp}/" + "a" * 300 + ".nc",
            "/proc/a.nc",
        ]
    ),
    "--dashboard": st.sampled_from(
        ["127.0.0.1:0", ":0", "0.0.0.0:0", "garbage", ":", "127.0.0.1:65536", ":-1", "[::]:0", "1.2.3.4:1", ":1,:2"]
    ),
    "--cluster": st.sampled_from(["local", "slurm", "tcp://127.0.0.1:1", "tcp://", "http://x:1", "", "LOCAL"]),
    "--workers": st.one_of(EXTREME_INTS.map(str), STRINGS),
    "--batch-size": st.one_of(EXTREME_INTS.map(str), STRINGS),
    "--connect-timeout": st.one_of(EXTREME_INTS.map(str), st.sampled_from(["1.5", "inf", "nan", ""])),
}


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 80)),
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    flags=st.dictionaries(st.sampled_from(sorted(FLAG_VALUES)), st.none(), min_size=1).flatmap(
        lambda keys: st.fixed_dictionaries({k: FLAG_VALUES[k] for k in keys})
    )
)
def test_any_flags_exit_0_or_2_with_one_line_and_write_nothing(flags):
    """The flags' contract is the config's: a dry run with any of them exits 0, or 2 with
    one line (an every-interface dashboard adds its warning line); nothing is written."""
    argv = [x for k, v in flags.items() for x in (k, v) if "\x00" not in v]
    if "--out" not in flags:
        argv += ["--out", "{tmp}/fuzz.nc"]
    _holds(toml(BASE), argv)
