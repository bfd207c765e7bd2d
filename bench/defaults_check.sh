#!/usr/bin/env bash
# Issue 16's acceptance: `qrepair repair` with no flag beyond data, labels, input scale, ranges and
# --time-limit 120, on the MNIST networks of ../shared/data (images 0..4999 repair, 5000..9999
# holdout), 8-bit activations, per-tensor weights, configs that name no scale.
# Usage: bench/defaults_check.sh OUT_DIR [DATA_DIR]   Prints one Markdown row per case.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/defaults_check.sh OUT_DIR [DATA_DIR]}
data=${2:-$root/../shared/data}
q=${QREPAIR_BIN:-$root/build/qrepair}
mkdir -p "$out"
echo "| network | weights | holdout accuracy / agreement | goal | init scales | start | stopped | verified | wall s |"
echo "|---|---|---|---|---|---|---|---|---:|"
for c in "256x4 4 98.55/99.75" "256x6 4 97.90/99.60" "256x4 3 98.20/99.10"; do
  read -r net bits goal <<<"$c"
  tag=$net-w$bits
  printf '{"weights": {"bits": %s, "granularity": "per-tensor"}, "activations": {"bits": 8}}\n' "$bits" \
    >"$out/$tag.q.json"
  start=$SECONDS
  rc=0
  "$q" -q repair "$data/networks/mnistfc/mnist-net_$net.onnx" --config "$out/$tag.q.json" \
    --data "$data/mnist/t10k-images-idx3-ubyte.gz" --labels "$data/mnist/t10k-labels-idx1-ubyte.gz" \
    --input-scale 0.00392156862745098 --repair-range 0:5000 --holdout-range 5000:10000 \
    --time-limit 120 -o "$out/$tag.json" --report "$out/$tag.report.json" >"$out/$tag.log" 2>&1 || rc=$?
  took=$((SECONDS - start))
  /usr/bin/python3 - "$out/$tag.report.json" "$net" "$bits" "$goal" "$took" "$rc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
net, bits, goal, took, rc = sys.argv[2:7]
h = r["after"]["holdout"]
print(f"| mnist-net_{net} | {bits}-bit | {100*h['accuracy']:.2f} / {100*h['agreement']:.2f} | >= {goal} "
      f"| {r['scales']['init']} | {r['start']} | {r['stopped']} | {r['verified']} (exit {rc}) | {took} |")
PY
done
