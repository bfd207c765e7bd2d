#!/usr/bin/env bash
# The ACAS Xu verification benchmark of docs/verification.md (not in CI): VNN-COMP 2021's 186
# instances (45 networks, properties 1..10) on the networks quantized by round to nearest in two
# configs, W16A16 and W8A8 per channel ("decision": "argmin": the advisory is the lowest output),
# calibrated on 10000 uniform points of the normalized input box (numpy seed 2021). The verdicts
# are joined with the float networks' verdicts of the competition's tools.
#
#   bench/acas_verify.sh OUT_DIR [--data DIR] [--configs "w16a16 w8a8"] [--first K]
#                        [--props "1 2 3 4"] [--networks REGEX] [--timeout S] [--jobs N]
#
# --first K keeps the first K instances (after the filters), --props the listed properties,
# --networks the networks whose file name matches REGEX (e.g. '_[12]_[1-3]_'), --timeout
# overrides the list's 116 s per instance. The full run takes hours on 2 cores. Re-running with
# the same arguments resumes (results.csv is trusted per instance when the set-up is the same).
# Writes OUT_DIR/{cal.npy,CONFIG.json,instances.csv} and OUT_DIR/CONFIG/{results.csv,summary.md,
# comparison.md}; prints each comparison's counts. QREPAIR_BIN picks the binary (build/qrepair).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/acas_verify.sh OUT_DIR [options]}
shift
data=$root/../shared/data
configs="w16a16 w8a8"
first=0
props=""
networks=""
timeout=""
jobs=2
while [ $# -gt 0 ]; do
  case $1 in
    --data) data=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --first) first=$2; shift 2 ;;
    --props) props=$2; shift 2 ;;
    --networks) networks=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "acas_verify.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
q=${QREPAIR_BIN:-$root/build/qrepair}
list=$data/vnnlib/acasxu/acasxu_instances.csv
verdicts=$data/results/vnncomp2021-acasxu/verdicts.csv
for f in "$list" "$verdicts" "$q"; do
  [ -e "$f" ] || { echo "acas_verify.sh: $f is missing" >&2; exit 3; }
done
mkdir -p "$out"

# Calibration: 10000 uniform points of the normalized box, seeded.
/usr/bin/python3 - "$out/cal.npy" <<'PY'
import sys
import numpy as np
lo = np.array([-0.3284, -0.5, -0.5, -0.5, -0.5])
hi = np.array([0.6799, 0.5, 0.5, 0.5, 0.5])
x = lo + (hi - lo) * np.random.default_rng(2021).random((10000, 5))
np.save(sys.argv[1], x.astype(np.float32))
PY
for bits in 16 8; do
  printf '{"weights": {"bits": %s, "granularity": "per-channel"}, "activations": {"bits": %s}, "decision": "argmin"}\n' \
    "$bits" "$bits" > "$out/w${bits}a${bits}.json"
done

# The competition's list names the networks next to the properties; here they live in
# networks/acasxu/. The rewritten list uses absolute paths, filtered and cut as asked.
/usr/bin/python3 - "$list" "$data" "$out/instances.csv" "$first" "$props" "$networks" <<'PY'
import re, sys
src, data, dst, first, props, networks = sys.argv[1:7]
keep_props = {f"prop_{p}.vnnlib" for p in props.split()}
rows = []
for line in open(src):
    line = line.strip()
    if not line:
        continue
    onnx, prop, timeout = [f.strip() for f in line.split(",")]
    if keep_props and prop not in keep_props:
        continue
    if networks and not re.search(networks, onnx):
        continue
    rows.append(f"{data}/networks/acasxu/{onnx},{data}/vnnlib/acasxu/{prop},{timeout}\n")
if int(first) > 0:
    rows = rows[: int(first)]
open(dst, "w").writelines(rows)
print(f"{len(rows)} instances in {dst}", file=sys.stderr)
PY

for config in $configs; do
  dir=$out/$config
  args=(verify --instances "$out/instances.csv" --config "$out/$config.json" --data "$out/cal.npy"
        --out-dir "$dir" --jobs "$jobs" --resume)
  [ -n "$timeout" ] && args+=(--time-limit "$timeout")
  echo "== $config: $q ${args[*]}" >&2
  rc=0
  "$q" "${args[@]}" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 7 ]; then exit "$rc"; fi
  /usr/bin/python3 - "$dir/results.csv" "$verdicts" "$dir/comparison.md" "$config" <<'PY'
import csv, os, sys
results, verdicts, dst, config = sys.argv[1:5]
base = lambda p: os.path.basename(p)
floats = {(r["network"], r["property"]): r for r in csv.DictReader(open(verdicts))}
rows, counts, seconds = [], {"agree": 0, "differ": 0, "undecided": 0}, 0.0
for r in csv.DictReader(open(results)):
    key = (base(r["network"]), base(r["property"]))
    f = floats.get(key)
    fv = f["float_verdict"] if f else "?"
    v = r["verdict"]
    seconds += float(r["seconds"])
    status = "undecided" if v not in ("holds", "violated") else ("agree" if v == fv else "differ")
    counts[status] += 1
    rows.append(f"| {key[0].replace('ACASXU_run2a_', 'N').replace('_batch_2000.onnx', '')} | "
                f"{key[1].replace('.vnnlib', '')} | {fv} | {v} | {float(r['seconds']):.1f} | "
                f"{f['nnenum_seconds'] if f else ''} | {status} |")
head = (f"# ACAS Xu, {config}: quantized verdicts vs the float networks' (VNN-COMP 2021)\n\n"
        f"{len(rows)} instances: {counts['agree']} agree, {counts['differ']} differ, "
        f"{counts['undecided']} undecided; {seconds:.0f} s in total.\n\n"
        "| network | property | float | quantized | seconds | nnenum seconds (float) | |\n"
        "|---|---|---|---|---:|---:|---|\n")
open(dst, "w").write(head + "\n".join(rows) + "\n")
print(f"{config}: {len(rows)} instances, {counts['agree']} agree, {counts['differ']} differ, "
      f"{counts['undecided']} undecided, {seconds:.0f} s (table: {dst})")
PY
done
