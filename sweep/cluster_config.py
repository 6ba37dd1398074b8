"""The ``[cluster]`` table of a config and the ``--cluster`` flag, validated with no Dask.

:mod:`sweep.config` checks this table with the rest of a config, before any work starts;
:mod:`sweep.cluster` turns it into a Dask cluster. See ``docs/design.md#config``.
"""

import re

from .errors import InputError

SLURM_DEFAULTS = dict(
    queue=None,
    account=None,
    cores=1,
    processes=1,
    memory="4GiB",
    walltime="01:00:00",
    job_extra_directives=[],
    job_script_prologue=[],
    interface=None,
    scheduler_host=None,
    local_directory=None,
    log_directory=None,
    lifetime=None,  # default: walltime minus 5 minutes
    lifetime_stagger="2m",
    minimum_jobs=1,
    maximum_jobs=None,  # default: workers
    python=None,
    # TLS between the scheduler and its workers (docs/design.md#clusters): temporary
    # certificates for the run by default, or the site's own three files
    security=True,
    tls_ca_file=None,
    tls_cert=None,
    tls_key=None,
    shared_temp_directory=None,  # where the workers' certificates go; default: inside the parts folder
)
TLS_FILES = ("tls_ca_file", "tls_cert", "tls_key")
#: The dashboard's default address: this machine only. ``--dashboard :PORT`` exposes it on
#: every interface, deliberately; an SSH tunnel reaches it from a laptop.
DASHBOARD = "127.0.0.1:8787"
KEYS = {"kind", "workers"} | set(SLURM_DEFAULTS)
_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d{1,3}):(\d{2})(?::(\d{2}))?$")


def validate_cluster(table):
    """Check a ``[cluster]`` table; returns it with SLURM defaults filled in."""
    for key in table:
        if key not in KEYS:
            raise InputError(f"cluster.{key}", table[key], f"unknown key; known keys: {', '.join(sorted(KEYS))}")
    out = dict(SLURM_DEFAULTS, kind=table.get("kind", "local"), workers=table.get("workers"))
    out.update({k: v for k, v in table.items() if k in SLURM_DEFAULTS})
    check_kind("cluster.kind", out["kind"])
    for key in ("workers", "cores", "processes", "minimum_jobs", "maximum_jobs"):
        v = out[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "minimum_jobs" else 1)):
            raise InputError(f"cluster.{key}", v, "must be a positive integer")
    for key in (
        "queue",
        "account",
        "memory",
        "interface",
        "scheduler_host",
        "local_directory",
        "log_directory",
        "python",
        "lifetime",
        "lifetime_stagger",
        "shared_temp_directory",
        *TLS_FILES,
    ):
        if out[key] is not None and not isinstance(out[key], str):
            raise InputError(f"cluster.{key}", out[key], "must be a string")
    for key in ("job_extra_directives", "job_script_prologue"):
        if not isinstance(out[key], list) or not all(isinstance(x, str) for x in out[key]):
            raise InputError(f"cluster.{key}", out[key], "must be a list of strings")
    if not isinstance(out["security"], bool):
        raise InputError("cluster.security", out["security"], "must be true or false")
    given = [key for key in TLS_FILES if out[key] is not None]
    if given and len(given) < len(TLS_FILES):
        missing = [key for key in TLS_FILES if out[key] is None]
        raise InputError(
            f"cluster.{given[0]}", out[given[0]], f"needs {', '.join(missing)} too (a CA, a certificate, a key)"
        )
    if given and not out["security"]:
        raise InputError("cluster.security", False, f"contradicts cluster.{given[0]}: site certificates mean TLS")
    walltime_minutes("cluster.walltime", out["walltime"])
    if out["maximum_jobs"] is not None and out["minimum_jobs"] > out["maximum_jobs"]:
        raise InputError("cluster.minimum_jobs", out["minimum_jobs"], f"exceeds maximum_jobs = {out['maximum_jobs']}")
    return out


def check_kind(field, kind):
    if not isinstance(kind, str) or not (kind in ("local", "slurm") or re.match(r"^(tcp|tls|inproc|ucx)://.+", kind)):
        raise InputError(field, kind, "must be local, slurm or a scheduler address such as tcp://HOST:PORT")
    return kind


def walltime_minutes(field, text):
    """Minutes in a SLURM walltime ``[D-]HH:MM[:SS]``."""
    m = _WALLTIME.match(text) if isinstance(text, str) else None
    if not m:
        raise InputError(field, text, "must be a SLURM walltime such as '01:00:00' or '2-00:00:00'")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    total = days * 1440 + hours * 60 + minutes + seconds / 60
    if total <= 0:
        raise InputError(field, text, "must be positive")
    return total
