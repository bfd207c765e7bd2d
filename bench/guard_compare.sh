#!/usr/bin/env bash
# The guard-set comparison of docs/benchmarks.md §4: each MLP case repaired with --augment
# shift8:28x28 and --guard augment, then --guard none, with the same deterministic work budget
# (so the two runs of a case differ only by the guard). Prints one line per run.
# Usage: bench/guard_compare.sh [SHARED_DATA_DIR] [OUT_DIR]   (needs build/qrepair)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/bench/option_compare.sh" "${1:-$root/../shared/data}" "${2:-$root/out/bench-guard}" \
  "augment:--guard augment" "none:--guard none"
