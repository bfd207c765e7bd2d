#!/usr/bin/env bash
# Issue "certify data sets", benchmark: mnist-net_256x2 (../shared/data), MNIST test images
# 0..99, local robustness against the labels and float-vs-integer equivalence, on the W8A8
# per-tensor round-to-nearest network and on the W4A8 network `qrepair repair` writes with its
# defaults (images 0..4999 repair, 5000..9999 holdout, --time-limit 120). 60 s per (sample,
# radius), --jobs 2. Prints each run's summary table (the Markdown reports are in OUT_DIR).
# Usage: bench/certify_mnist.sh OUT_DIR [DATA_DIR]
# Env: ROBUST_RADII (default 1,2,3,4), EQUIVALENT_RADII (default 1,2,4), NETS (default "w8a8 w4a8").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/certify_mnist.sh OUT_DIR [DATA_DIR]}
data=${2:-$root/../shared/data}
q=${QREPAIR_BIN:-$root/build/qrepair}
mkdir -p "$out"
net="$data/networks/mnistfc/mnist-net_256x2.onnx"
images="$data/mnist/t10k-images-idx3-ubyte.gz"
labels="$data/mnist/t10k-labels-idx1-ubyte.gz"
scale=0.00392156862745098
echo '{"weights": {"bits": 8, "granularity": "per-tensor"}, "activations": {"bits": 8}}' >"$out/w8a8.q.json"
echo '{"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": {"bits": 8}}' >"$out/w4a8.q.json"
[ -f "$out/w8a8.json" ] || "$q" -q quantize "$net" --config "$out/w8a8.q.json" --data "$images" \
  --input-scale "$scale" --range 0:5000 -o "$out/w8a8.json"
if [ ! -f "$out/w4a8.json" ]; then
  rc=0
  "$q" -q repair "$net" --config "$out/w4a8.q.json" --data "$images" --labels "$labels" \
    --input-scale "$scale" --repair-range 0:5000 --holdout-range 5000:10000 --time-limit 120 \
    -o "$out/w4a8.json" --report "$out/w4a8.report.json" >"$out/w4a8.repair.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] || { echo "repair failed (exit $rc)" >&2; exit 1; }
fi
for n in ${NETS:-w8a8 w4a8}; do
  for p in robust equivalent; do
    radii=${ROBUST_RADII:-1,2,3,4}
    [ "$p" = equivalent ] && radii=${EQUIVALENT_RADII:-1,2,4}
    start=$SECONDS
    rc=0
    /usr/bin/time -f "%e s wall, %M KB peak" -o "$out/$n.$p.time" \
      "$q" verify "$out/$n.json" --data "$images" --labels "$labels" --input-scale "$scale" \
      --range 0:100 --radius "$radii" --property "$p" --time-limit 60 --jobs 2 \
      --report "$out/$n.$p.json" --report-md "$out/$n.$p.md" >"$out/$n.$p.log" 2>&1 || rc=$?
    echo "== $n $p (exit $rc, $((SECONDS - start)) s; $(cat "$out/$n.$p.time"))"
    sed -n '/^| radius/,/^$/p' "$out/$n.$p.md"
  done
done
