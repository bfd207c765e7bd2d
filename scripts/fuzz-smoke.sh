#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time (CI: ~30 s each) and fails on any finding.
# Builds the "fuzz" preset (clang, ASan + UBSan) and the seed corpora first when missing.
# Usage: scripts/fuzz-smoke.sh SECONDS [TARGET...]
# Env: FUZZ_PARALLEL (targets at once, default 2), FUZZ_STATS (JSON file with executions and
# findings per target, default build-fuzz/fuzz-stats.json), FUZZ_BUILD (default build-fuzz).
set -euo pipefail
seconds=${1:?usage: scripts/fuzz-smoke.sh SECONDS [TARGET...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
stats=${FUZZ_STATS:-$build/fuzz-stats.json}
parallel=${FUZZ_PARALLEL:-2}
cd "$root"

if [ ! -f "$build/CMakeCache.txt" ]; then cmake --preset fuzz -B "$build" >/dev/null; fi
nice -n 10 cmake --build "$build" --target fuzz_all -j 2 >/dev/null
[ -d "$build/seeds" ] || fuzz/make_seeds.sh "$build/seeds" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for exe in "$build"/fuzz/fuzz_*; do targets+=("$(basename "$exe" | sed 's/^fuzz_//')"); done
fi

run_one() {  # TARGET: runs it, writes $build/fuzz-logs/TARGET.{log,result}
  local t=$1 dict=()
  case $t in model_json|quant_config|manifest) dict=(-dict="$root/fuzz/json.dict") ;; esac
  mkdir -p "$build/fuzz-corpus/$t" "$build/fuzz-artifacts/$t" "$build/fuzz-logs"
  local rc=0
  nice -n 10 "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=25 -max_len=262144 "${dict[@]}" \
    -artifact_prefix="$build/fuzz-artifacts/$t/" "$build/fuzz-corpus/$t" "$build/seeds/$t" \
    > "$build/fuzz-logs/$t.log" 2>&1 || rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-logs/$t.log" | tail -1)
  local findings
  findings=$(find "$build/fuzz-artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) -newer "$build/fuzz-logs/$t.log.start" | wc -l)
  echo "$t ${execs:-0} $findings $rc" > "$build/fuzz-logs/$t.result"
}
export -f run_one
export build seconds root
mkdir -p "$build/fuzz-logs"
for t in "${targets[@]}"; do touch "$build/fuzz-logs/$t.log.start"; done
printf '%s\n' "${targets[@]}" | xargs -P "$parallel" -I{} bash -c 'run_one {}'

status=0
echo "| target | seconds | executions | findings | exit |"
echo "|---|---:|---:|---:|---:|"
json="["
for t in "${targets[@]}"; do
  read -r name execs findings rc < "$build/fuzz-logs/$t.result"
  echo "| $name | $seconds | $execs | $findings | $rc |"
  json+="{\"target\": \"$name\", \"seconds\": $seconds, \"executions\": $execs, \"findings\": $findings, \"exit\": $rc},"
  if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
    status=1
    echo "  $name: see $build/fuzz-logs/$t.log and $build/fuzz-artifacts/$t/" >&2
    # The log stays on the CI machine: print the report and the reproducer here.
    grep -n -m1 -A40 -E 'ERROR: |runtime error|unexpected error|message does not name|deadly signal' \
      "$build/fuzz-logs/$t.log" | head -60 | sed 's/^/    /' >&2 || tail -30 "$build/fuzz-logs/$t.log" >&2
    for a in $(find "$build/fuzz-artifacts/$t" -type f -newer "$build/fuzz-logs/$t.log.start"); do
      echo "    artifact $(basename "$a") ($(wc -c < "$a") bytes), base64:" >&2
      head -c 4096 "$a" | base64 -w 100 | sed 's/^/      /' >&2
    done
  fi
done
echo "${json%,}]" > "$stats"
exit $status
