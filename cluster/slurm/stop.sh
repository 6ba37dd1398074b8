#!/usr/bin/env bash
# Stop the single-node SLURM started by start.sh (by PID; there is no systemd).
set -uo pipefail
scancel --user="$(id -un)" 2>/dev/null
for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
done
pkill -x munged 2>/dev/null
for _ in $(seq 1 20); do
    pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
    sleep 0.25
done
exit 0
