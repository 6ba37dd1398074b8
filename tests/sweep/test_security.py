"""No one else's code runs in the sweep's workers: TLS for scheduler clusters, loopback
listeners for local runs (docs/design.md#clusters)."""

import os
import stat
import subprocess
import sys
import time

import dask
import psutil
import pytest
import xarray as xr

from sweep import cluster, config
from sweep.parts import Parts, parts_path

from .helpers import SLOW, SMALL, assert_same_numbers, wait_for_parts
from .test_slurm import _local_slurm, needs_slurm

SITE = '\n[cluster]\nkind = "slurm"\ncores = 1\nmemory = "2GiB"\ninterface = "ib0"\n'
LOOPBACK = {"127.0.0.1", "::1"}


def _table(extra=""):
    return config.loads(SMALL + SITE + extra).cluster


def test_jobqueue_workers_start_with_tls_by_default():
    script = cluster.job_script(_table(), tls_dir="/shared/run.nc.parts")
    assert "tls://SCHEDULER-ADDRESS:8786" in script and "--protocol tls://" in script
    for flag in ("--tls-ca-file", "--tls-cert", "--tls-key"):
        assert f"{flag} /shared/run.nc.parts/tls-" in script, flag


def test_site_certificates_are_named_in_the_job_script():
    certs = 'tls_ca_file = "/etc/ca.pem"\ntls_cert = "/etc/me.pem"\ntls_key = "/etc/me.key"\n'
    script = cluster.job_script(_table(certs))
    assert "--tls-ca-file /etc/ca.pem --tls-cert /etc/me.pem --tls-key /etc/me.key" in script
    assert cluster.site_security(_table(certs)).require_encryption


def test_security_off_is_plain_tcp_and_says_what_it_exposes(tmp_path):
    text = SMALL + SITE + "security = false\n"
    script = cluster.job_script(config.loads(text).cluster)
    assert "tcp://SCHEDULER-ADDRESS" in script and "--tls" not in script
    path = tmp_path / "open.toml"
    path.write_text(text.replace('interface = "ib0"\n', ""))
    res = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(path), "--dry-run"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "security = false" in line]
    assert len(warnings) == 1 and "run code as you" in warnings[0]


@pytest.mark.parametrize(
    "extra, field",
    [
        ('security = "yes"\n', "cluster.security"),
        ('tls_ca_file = "/etc/ca.pem"\n', "cluster.tls_ca_file"),  # a CA alone
        ('tls_ca_file = "a"\ntls_cert = "b"\ntls_key = "c"\nsecurity = false\n', "cluster.security"),
        ("tls_key = 3\n", "cluster.tls_key"),
    ],
)
def test_bad_tls_settings_are_refused(extra, field):
    with pytest.raises(config.InputError) as err:
        _table(extra)
    assert err.value.field == field


def test_a_private_directory_is_0700_and_gone_afterwards(tmp_path):
    with cluster.private_directory(tmp_path) as where:
        assert stat.S_IMODE(where.stat().st_mode) == 0o700 and where.parent == tmp_path
        (where / "key").write_text("secret")
    assert not where.exists() and tmp_path.exists()  # the base (perhaps the user's own) stays


def _listening(pid):
    """``(process name, address)`` of every listening inet socket of ``pid`` and its children."""
    found = set()
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((proc.pid, conn.laddr.ip, conn.laddr.port))
        except psutil.NoSuchProcess:
            pass
    return found


def _run_with_default_listeners(cfg, out):
    """`sweep run` on 2 local workers, with no --dashboard: the listeners users get."""
    return subprocess.Popen(
        [sys.executable, "-m", "sweep", "run", str(cfg), "--out", str(out), "--workers", "2", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_local_run_listens_on_loopback_only(tmp_path):
    """The sweep's scheduler, workers, nannies and dashboard, as `sweep run` starts them by
    default (no --dashboard): every listening socket of its process tree is loopback."""
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "slow.nc"
    proc = _run_with_default_listeners(cfg, out)
    seen = set()
    parts = parts_path(out)
    while proc.poll() is None:
        seen |= _listening(proc.pid)
        if parts.exists() and len(Parts(parts).done()) >= 4:
            break
        time.sleep(0.1)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert len({pid for pid, _, _ in seen}) >= 3  # the client's scheduler and two workers at least
    assert {ip for _, ip, _ in seen} <= LOOPBACK, sorted(seen)


def test_a_small_run_on_threads_listens_on_loopback_only(tmp_path):
    """A small sweep runs on threads of the `sweep run` process: its scheduler and its
    worker's dashboard listen on loopback too."""
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL.replace("trials = 6", "trials = 60"))
    out = tmp_path / "small.nc"
    proc = _run_with_default_listeners(cfg, out)
    seen = set()
    while proc.poll() is None:
        seen |= _listening(proc.pid)
        time.sleep(0.05)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "on threads of this process" in err
    assert len(seen) >= 2 and {pid for pid, _, _ in seen} == {proc.pid}  # scheduler and dashboard, one process
    assert {ip for _, ip, _ in seen} <= LOOPBACK, sorted(seen)


@pytest.mark.slurm
@needs_slurm
def test_slurm_sweep_with_default_tls_refuses_strangers_and_equals_the_local_one(tmp_path):
    from distributed import Client
    from distributed.security import Security

    cfg = tmp_path / "small.toml"
    cfg.write_text(SLOW + _local_slurm(tmp_path / "logs"))
    out = tmp_path / "slow.nc"
    parts = parts_path(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweep", "run", str(cfg), "--out", str(out), "--no-progress", "--batch-size", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    address = None
    for line in proc.stderr:
        if line.startswith("scheduler: "):
            address = line.split()[1].rstrip(";")
            break
    assert address and address.startswith("tls://"), address
    tls_dirs = list(parts.glob("tls-*"))
    assert len(tls_dirs) == 1 and stat.S_IMODE(tls_dirs[0].stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in tls_dirs[0].iterdir())
    host_port = address[len("tls://") :]
    # plain tcp://, tls:// with no certificates, tls:// with certificates of another CA
    for stranger, security in ((f"tcp://{host_port}", None), (address, None), (address, Security.temporary())):
        # a Client that fails to connect leaves scheduler = "dask.distributed" in the global
        # config (it sets it before connecting): restore it, or later writes in this process fail
        with pytest.raises(Exception), dask.config.set(scheduler=dask.config.get("scheduler", None)):  # noqa: B017
            Client(stranger, timeout=5, security=security)
    assert dask.config.get("scheduler", None) is None
    wait_for_parts(parts, 2, proc, timeout=300)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert not list(parts.glob("tls-*"))  # the certificates are gone with the run
    reference = tmp_path / "local.nc"
    local = subprocess.run(
        [sys.executable, "-m", "sweep", "run", str(cfg), "--out", str(reference), "--cluster", "local"],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert local.returncode == 0, local.stderr
    with xr.open_dataset(out) as a, xr.open_dataset(reference) as b:
        assert_same_numbers(a.load(), b.load())
