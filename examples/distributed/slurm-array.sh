#!/usr/bin/env bash
# A model zoo on a Slurm cluster: one array task per shard (`qrepair batch --shard I/N`), then a
# merge job that starts when every task has ended (afterany: a failed shard still gets merged,
# and batch-merge then names the jobs that are missing).
#
#   examples/distributed/slurm-array.sh MANIFEST OUT_DIR [SHARDS]     # submits both, prints ids
#
# OUT_DIR must be on a file system every node sees. The same script is the body of the array
# tasks and of the merge job (it tells them apart by SLURM_ARRAY_TASK_ID and QREPAIR_MERGE).
# A preempted or requeued task re-runs with --resume and continues where it stopped.
#SBATCH --job-name=qrepair-zoo
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=%x-%A_%a.out
set -euo pipefail

QREPAIR=${QREPAIR:-qrepair}

if [ -z "${SLURM_JOB_ID:-}" ]; then  # on the login node: submit
  manifest=$(realpath "$1")
  out=$(realpath -m "$2")
  shards=${3:-4}
  mkdir -p "$out"
  export QREPAIR QREPAIR_MANIFEST="$manifest" QREPAIR_OUT="$out"
  array=$(sbatch --parsable --array="0-$((shards - 1))" --export=ALL "$0")
  array=${array%%;*}
  merge=$(sbatch --parsable --dependency="afterany:$array" --cpus-per-task=1 --time=00:10:00 \
          --job-name=qrepair-merge --export=ALL,QREPAIR_MERGE=1 "$0")
  echo "array job $array ($shards shards), merge job ${merge%%;*}; results in $out/merged"
  exit 0
fi

if [ -n "${QREPAIR_MERGE:-}" ]; then  # the merge job
  # Exit 7 when a shard lost jobs or a job failed; the merged summary still lists the rest.
  exec "$QREPAIR" batch-merge "$QREPAIR_OUT"/shard-* --out-dir "$QREPAIR_OUT/merged"
fi

# An array task: shard I of N, I = task id + 1 (the array must be 0..N-1, step 1).
shard="$((SLURM_ARRAY_TASK_ID + 1))/$SLURM_ARRAY_TASK_COUNT"
rc=0
"$QREPAIR" batch "$QREPAIR_MANIFEST" --shard "$shard" --jobs "${SLURM_CPUS_PER_TASK:-1}" --resume \
    --out-dir "$QREPAIR_OUT/shard-$SLURM_ARRAY_TASK_ID" || rc=$?
# 6 (a gate) and 7 (a job failed) are results for the merge to report, not a broken task.
if [ "$rc" -eq 6 ] || [ "$rc" -eq 7 ]; then exit 0; fi
exit "$rc"
