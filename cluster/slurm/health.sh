#!/usr/bin/env bash
# Health check: the node is up and a trivial batch job runs to completion.
set -euo pipefail
sinfo
out=$(mktemp -d)
id=$(sbatch --parsable --output="$out/hello.out" --wrap 'echo hello from $(hostname) job $SLURM_JOB_ID')
for _ in $(seq 1 60); do
    [ -s "$out/hello.out" ] && ! squeue -h -j "$id" 2>/dev/null | grep -q . && break
    sleep 0.5
done
cat "$out/hello.out"
grep -q "hello from" "$out/hello.out" || { echo "test job $id did not run" >&2; exit 1; }
rm -rf "$out"
echo "SLURM healthy"
