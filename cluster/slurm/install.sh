#!/usr/bin/env bash
# Install a SLURM controller, node daemon, client and munge from Debian's packages.
# For tests and for trying the SLURM path on one machine; real clusters have their own SLURM.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
echo "installed: $(slurmctld -V) and munge $(munged --version 2>&1 | head -1)"
