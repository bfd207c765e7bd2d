#!/usr/bin/env bash
# Repair until proved on ACAS Xu (issue 21's benchmark): each task is a VNN-COMP 2021 network
# (normalized-input ONNX) and a property; the network is quantized W8A8 per channel with
# "decision": "argmin" (as bench/acas_verify.sh), repaired on 2000 uniform points of the
# normalized box with `--property`, and the written network is evaluated against the float
# advisory on 100000 other uniform points of the box (numpy default_rng(7)).
# Usage: bench/acas_property_repair.sh OUT_DIR [--data DIR] [--tasks "1_1:3 1_1:6"]
#        [--time-limit S] [--property-time-limit S] [--init rtn|gptq-float]
# Prints one Markdown row per task; the reports stay in OUT_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/acas_property_repair.sh OUT_DIR [options]}
shift
data=$root/../shared/data
tasks="1_1:3 1_1:6"
limit=600
plimit=60
init=gptq-float
while [ $# -gt 0 ]; do
  case $1 in
    --data) data=$2; shift 2 ;;
    --tasks) tasks=$2; shift 2 ;;
    --time-limit) limit=$2; shift 2 ;;
    --property-time-limit) plimit=$2; shift 2 ;;
    --init) init=$2; shift 2 ;;
    *) echo "acas_property_repair.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
q=${QREPAIR_BIN:-$root/build/qrepair}
mkdir -p "$out"
/usr/bin/python3 - "$out" <<'PY'
import sys
import numpy as np
lo = np.array([-0.3284, -0.5, -0.5, -0.5, -0.5])
hi = np.array([0.6799, 0.5, 0.5, 0.5, 0.5])
for name, seed, n in (("cal.npy", 2021, 10000), ("uniform.npy", 7, 100000)):
    x = lo + (hi - lo) * np.random.default_rng(seed).random((n, 5))
    np.save(f"{sys.argv[1]}/{name}", x.astype(np.float32))
PY
printf '{"weights": {"bits": 8, "granularity": "per-channel"}, "activations": {"bits": 8}, "decision": "argmin"}\n' \
  >"$out/w8a8.json"
echo "| network | property | before | after | rounds | counterexamples (safe at end) | stage neurons | widening | agreement on 100000 points: RTN / repaired | exit | seconds |"
echo "|---|---|---|---|---:|---:|---:|---|---|---:|---:|"
for t in $tasks; do
  net=${t%%:*}
  prop=${t##*:}
  onnx=$data/networks/acasxu/ACASXU_run2a_${net}_batch_2000.onnx
  vnn=$data/vnnlib/acasxu/prop_${prop}.vnnlib
  tag=N${net}_p${prop}
  start=$SECONDS
  rc=0
  "$q" -q repair "$onnx" --config "$out/w8a8.json" --data "$out/cal.npy" --repair-range 0:2000 \
    --init "$init" --property "$vnn" --time-limit "$limit" --property-time-limit "$plimit" \
    -o "$out/$tag.json" --report "$out/$tag.report.json" --report-md "$out/$tag.md" \
    >"$out/$tag.log" 2>&1 || rc=$?
  took=$((SECONDS - start))
  # Round to nearest with the repair's calibration (the repair range of cal.npy).
  "$q" -q quantize "$onnx" --config "$out/w8a8.json" --data "$out/cal.npy" --range 0:2000 \
    -o "$out/$tag.rtn.json" >/dev/null 2>&1
  rtn=$("$q" eval "$out/$tag.rtn.json" --data "$out/uniform.npy" --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print("%.3f" % (100*json.load(sys.stdin)["quantized"]["agreement"]))' || echo "-")
  rep=-
  if [ -f "$out/$tag.json" ]; then
    rep=$("$q" eval "$out/$tag.json" --data "$out/uniform.npy" --json 2>/dev/null |
      /usr/bin/python3 -c 'import json,sys; print("%.3f" % (100*json.load(sys.stdin)["quantized"]["agreement"]))' || echo "-")
  fi
  if [ -f "$out/$tag.report.json" ]; then
    /usr/bin/python3 - "$out/$tag.report.json" "$net" "$prop" "$rtn" "$rep" "$rc" "$took" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
net, prop, rtn, rep, rc, took = sys.argv[2:8]
p = r["properties"][0]
st = r["property_stage"]
print(f"| N{net} | prop_{prop} | {p['before']} | {p['after']}{' (' + p['reason'] + ')' if p.get('reason') else ''} "
      f"| {st['rounds']} | {st['counterexamples']} ({st['counterexamples_fixed']}) | {st['neurons_repaired']} "
      f"| {', '.join(st['widenings']) or 'none'} | {rtn} / {rep} | {rc} | {took} |")
PY
  else
    echo "| N$net | prop_$prop | - | no report (exit $rc: see $out/$tag.log) | | | | | $rtn / - | $rc | $took |"
  fi
done
