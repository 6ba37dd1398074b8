"""The ``[cluster]`` table of a config and the ``--cluster`` flag, validated with no Dask.

:mod:`sweep.config` checks this table with the rest of a config, before any work starts;
:mod:`sweep.cluster` turns it into a Dask cluster. See ``docs/design.md#clusters``.

The table holds two kinds of keys. The sweep's own (:data:`OWN`: the kind, worker and job
counts, lifetimes, TLS) always have a value. Every other key is an argument of the
dask-jobqueue cluster class of the kind, passed through as it is: a key left out is left
unset, so the site's ``jobqueue.yaml`` (and dask-jobqueue's defaults) apply. Arguments
whose type is known are checked here; the class itself judges the rest when it is built.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    from typing import Any

#: The batch schedulers dask-jobqueue drives, by the name ``kind`` gives them: the class
#: that drives each. The one list of kinds; everything else is derived from it.
JOBQUEUE = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
    "oar": "OARCluster",
}
KINDS = ("local", *JOBQUEUE)

#: The sweep's own keys and their defaults.
OWN = dict(
    kind="local",
    workers=None,  # local worker processes, or the jobs a jobqueue cluster may run at once
    minimum_jobs=1,
    maximum_jobs=None,  # default: workers
    lifetime=None,  # default: walltime (the table's or the site's) minus 5 minutes
    lifetime_stagger="2m",
    scheduler_host=None,  # the scheduler's address, instead of interface
    # TLS between the scheduler and its workers (docs/design.md#clusters): temporary
    # certificates for the run by default, or the site's own three files
    security=True,
    tls_ca_file=None,
    tls_cert=None,
    tls_key=None,
    shared_temp_directory=None,  # where the workers' certificates go; default: inside the parts folder
)
TLS_FILES = ("tls_ca_file", "tls_cert", "tls_key")

#: Types of the pass-through arguments that most sites set (dask-jobqueue's names).
_INTS = ("cores", "processes")
_STRINGS = (
    "queue",
    "account",
    "project",
    "memory",
    "walltime",
    "interface",
    "local_directory",
    "log_directory",
    "python",
    "resource_spec",
    "job_name",
)
_STRING_LISTS = ("job_extra_directives", "job_script_prologue", "worker_extra_args", "job_directives_skip")

#: The dashboard's default address: this machine only. ``--dashboard :PORT`` exposes it on
#: every interface, deliberately; an SSH tunnel reaches it from a laptop.
DASHBOARD = "127.0.0.1:8787"
#: Seconds to wait for a scheduler given by address (distributed's own connect timeout).
CONNECT_TIMEOUT = 30
# More worker processes or batch jobs than a scheduler serves well (distributed's own
# guidance is thousands of workers at most); a larger number is a typo, refused in one line.
MAX_WORKERS = 10_000
_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d{1,3}):(\d{2})(?::(\d{2}))?$")


def validate_cluster(table: dict[str, Any]) -> dict[str, Any]:
    """Check a ``[cluster]`` table; returns it with the sweep's own defaults filled in and
    the pass-through arguments as given."""
    out = dict(OWN, **table)
    check_kind("cluster.kind", out["kind"])
    for key in ("workers", "minimum_jobs", "maximum_jobs", *_INTS):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "minimum_jobs" else 1)):
            raise InputError(f"cluster.{key}", v, "must be a positive integer")
        if v is not None and key in ("workers", "minimum_jobs", "maximum_jobs") and v > MAX_WORKERS:
            raise InputError(f"cluster.{key}", v, f"must be at most {MAX_WORKERS} (worker processes or batch jobs)")
    for key in ("lifetime", "lifetime_stagger", "scheduler_host", "shared_temp_directory", *TLS_FILES, *_STRINGS):
        if out.get(key) is not None and not isinstance(out[key], str):
            raise InputError(f"cluster.{key}", out[key], "must be a string")
    for key in _STRING_LISTS:
        if key in out and not (isinstance(out[key], list) and all(isinstance(x, str) for x in out[key])):
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
    if out.get("walltime") is not None:
        walltime_minutes("cluster.walltime", out["walltime"])
    if out["maximum_jobs"] is not None and out["minimum_jobs"] > out["maximum_jobs"]:
        raise InputError("cluster.minimum_jobs", out["minimum_jobs"], f"exceeds maximum_jobs = {out['maximum_jobs']}")
    return out


def passthrough(table: dict[str, Any]) -> dict[str, Any]:
    """The table's arguments for the dask-jobqueue class: every key that is not the sweep's own."""
    return {k: v for k, v in table.items() if k not in OWN}


def check_kind(field: str, kind: str) -> str:
    if not isinstance(kind, str) or not (kind in KINDS or re.match(r"^(tcp|tls|inproc|ucx)://.+", kind)):
        raise InputError(field, kind, f"must be {', '.join(KINDS)} or a scheduler address such as tcp://HOST:PORT")
    return kind


def walltime_minutes(field: str, text: str) -> float:
    """Minutes in a walltime ``[D-]HH:MM[:SS]`` (SLURM, PBS, SGE, OAR; LSF's ``HH:MM``)."""
    m = _WALLTIME.match(text) if isinstance(text, str) else None
    if not m:
        raise InputError(field, text, "must be a walltime such as '01:00:00' or '2-00:00:00'")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    total = days * 1440 + hours * 60 + minutes + seconds / 60
    if total <= 0:
        raise InputError(field, text, "must be positive")
    return total
