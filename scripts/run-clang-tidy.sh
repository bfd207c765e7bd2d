#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy at the top; Debian clang-tidy 14) over every source under src/
# with the compile commands of a build folder, and fails on any finding.
# Usage: scripts/run-clang-tidy.sh [BUILD_DIR]   (default build-rel, configured when missing)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-rel}
cd "$root"
if [ ! -f "$build/compile_commands.json" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
fi
# The generated version header must exist before the sources can be parsed.
[ -f "$build/generated/qrepair/version.h" ] || cmake "$build" >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
nice -n 10 run-clang-tidy -p "$build" -j "${TIDY_JOBS:-2}" -quiet "$root/src/" 2>&1 |
  sed 's/\x1b\[[0-9;]*m//g' >"$log" || status=$?
grep -E '(error|warning): .*\[[a-z0-9.,-]+\]$' "$log" | sort -u || true
findings=$(grep -cE '(error|warning): .*\[[a-z0-9.,-]+\]$' "$log" || true)
echo "clang-tidy: ${findings} findings in src/" >&2
if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
  grep -E 'error: ' "$log" | grep -vE '\[[a-z0-9.,-]+\]$' | head -20 >&2 || true
  exit 1
fi
