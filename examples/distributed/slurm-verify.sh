#!/usr/bin/env bash
# A VNN-COMP instance list verified on a Slurm cluster: one array task per shard
# (`qrepair verify --instances LIST --shard I/N`), then a job that joins the shards' results.csv
# when every task has ended (afterany: a shard that failed still gets joined, and the joined
# table then lacks its instances).
#
#   examples/distributed/slurm-verify.sh LIST CONFIG CALIBRATION OUT_DIR [SHARDS]
#
# LIST is `onnx,vnnlib,timeout` per line (paths relative to it); CONFIG and CALIBRATION quantize
# the float networks as `eval` does (leave CONFIG and CALIBRATION empty, "", for quantized qrepair
# JSON networks). OUT_DIR must be on a file system every node sees. A preempted or requeued task
# re-runs with --resume and keeps every instance it had finished.
#SBATCH --job-name=qrepair-verify
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --output=%x-%A_%a.out
set -euo pipefail

QREPAIR=${QREPAIR:-qrepair}

if [ -z "${SLURM_JOB_ID:-}" ]; then  # on the login node: submit
  export QREPAIR QREPAIR_LIST QREPAIR_CONFIG QREPAIR_DATA QREPAIR_OUT
  QREPAIR_LIST=$(realpath "$1")
  QREPAIR_CONFIG=${2:+$(realpath "$2")}
  QREPAIR_DATA=${3:+$(realpath "$3")}
  QREPAIR_OUT=$(realpath -m "$4")
  shards=${5:-4}
  mkdir -p "$QREPAIR_OUT"
  array=$(sbatch --parsable --array="0-$((shards - 1))" --export=ALL "$0")
  array=${array%%;*}
  join=$(sbatch --parsable --dependency="afterany:$array" --cpus-per-task=1 --time=00:10:00 \
         --job-name=qrepair-verify-join --export=ALL,QREPAIR_JOIN=1 "$0")
  echo "array job $array ($shards shards), join job ${join%%;*}; results in $QREPAIR_OUT/results.csv"
  exit 0
fi

if [ -n "${QREPAIR_JOIN:-}" ]; then  # the join job: one header, then every shard's lines
  awk 'FNR > 1 || NR == 1' "$QREPAIR_OUT"/shard-*/results.csv > "$QREPAIR_OUT/results.csv.tmp"
  mv "$QREPAIR_OUT/results.csv.tmp" "$QREPAIR_OUT/results.csv"
  cut -d, -f3 "$QREPAIR_OUT/results.csv" | tail -n +2 | sort | uniq -c
  exit 0
fi

# An array task: shard I of N, I = task id + 1. --jobs spreads each property's sub-boxes.
shard="$((SLURM_ARRAY_TASK_ID + 1))/$SLURM_ARRAY_TASK_COUNT"
quantize=()
if [ -n "$QREPAIR_CONFIG" ]; then quantize=(--config "$QREPAIR_CONFIG" --data "$QREPAIR_DATA"); fi
rc=0
"$QREPAIR" verify --instances "$QREPAIR_LIST" "${quantize[@]}" --shard "$shard" \
    --jobs "${SLURM_CPUS_PER_TASK:-1}" --resume --out-dir "$QREPAIR_OUT/shard-$SLURM_ARRAY_TASK_ID" || rc=$?
# 7 (an instance could not be run: its `error` line says why) is a result, not a broken task.
if [ "$rc" -eq 7 ]; then exit 0; fi
exit "$rc"
