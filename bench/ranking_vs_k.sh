#!/usr/bin/env bash
# Ranker benchmark of issue 3 (docs/ranking-benchmark.md): holdout accuracy recovered by repairing
# the top-k neurons of every ranking, k = 1..32, on mnist-net_256x4 and mnist-net_256x6 at 4-bit
# per-tensor weights and 8-bit activations. A measurement, not a test: about 30 minutes of wall
# time with two runs at once (every run is bounded by its --time-limit).
#
# Usage: bench/ranking_vs_k.sh [SHARED_DATA_DIR] [OUT_DIR]
#   QREPAIR_BIN       binary to run (default: a copy of build-rankbench/qrepair, built here, in
#                     OUT_DIR, so that rebuilds of the tree do not change it mid-benchmark)
#   RANK_BENCH_SECONDS  --time-limit of one run (default 30)
#   RANK_BENCH_JOBS     runs at once (default 2; each run uses one solver process)
#   RANK_BENCH_LONG=1   also phase 3: k = 32 with ten times the time limit, best method and random
# Then rewrites the table of docs/ranking-benchmark.md from OUT_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$root/../shared/data}
out=${2:-$root/out/ranking-vs-k}
seconds=${RANK_BENCH_SECONDS:-30}
jobs=${RANK_BENCH_JOBS:-2}
mkdir -p "$out"
if [ -z "${QREPAIR_BIN:-}" ]; then
  cmake -S "$root" -B "$root/build-rankbench" -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build "$root/build-rankbench" -j2 --target qrepair > /dev/null
  cp "$root/build-rankbench/qrepair" "$out/qrepair"
  QREPAIR_BIN=$out/qrepair
fi
py=(python3 "$root/bench/ranking_vs_k.py")
common=(--qrepair "$QREPAIR_BIN" --data-dir "$data" --out "$out" --time-limit "$seconds" --jobs "$jobs")
"${py[@]}" run "${common[@]}" --phase 1
"${py[@]}" run "${common[@]}" --phase 2
if [ "${RANK_BENCH_LONG:-0}" = 1 ]; then
  "${py[@]}" run "${common[@]}" --phase 3
fi
"${py[@]}" table --out "$out" --doc "$root/docs/ranking-benchmark.md"
