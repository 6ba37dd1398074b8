#!/usr/bin/env bash
# Start munged, slurmctld and slurmd on this machine without systemd (run as root), then
# wait until the node is idle. Safe to run twice: running daemons are left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CPUS=${CPUS:-8}

if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none; chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
    runuser -u munge -- /usr/sbin/munged
fi
munge -n | unmunge >/dev/null

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
bash "$here/slurm.conf.sh" >/etc/slurm/slurm.conf
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 1 120); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        bash "$here/health.sh"
        exit 0
    fi
    sleep 0.5
done
echo "SLURM did not come up; see /var/log/slurm/" >&2
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
