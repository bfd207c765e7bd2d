#!/usr/bin/env bash
# Regenerates the repair benchmark table of docs/benchmarks.md: for each network and bit width,
# round-to-nearest, the --init stage and the repaired network (qrepair's default strategy and
# --strategy qnnrepair), all measured in this one run by the reference integer pass.
# Usage: bench/repair_anchors.sh [SHARED_DATA_DIR] [OUT_DIR]   (needs build/qrepair)
# QREPAIR_BENCH_SCALE sets the config's weight scale rule (default max-abs, the anchors' own;
# mse: the scale search of the "mse" rule).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$root/../shared/data}
out=${2:-$root/out/bench-repair}
seconds=${QREPAIR_BENCH_SECONDS:-110}
scale=${QREPAIR_BENCH_SCALE:-max-abs}
mkdir -p "$out"
q=${QREPAIR_BIN:-$root/build/qrepair}
mnist=(--data "$data/mnist/t10k-images-idx3-ubyte.gz" --labels "$data/mnist/t10k-labels-idx1-ubyte.gz"
       --input-scale 0.00392156862745098 --repair-range 0:5000 --holdout-range 5000:10000)
# network, weight bits, granularity, --augment of the default strategy's init: the one-pixel
# shifts in 8 directions (shift8, the best on average in init_bench; the flat-input MLPs need the
# image size). With --augment the shifted copies also guard the SMT stage (--guard augment).
cases=(
  "mnistfc/mnist-net_256x4.onnx 4 per-tensor shift8:28x28"
  "mnistfc/mnist-net_256x6.onnx 4 per-tensor shift8:28x28"
  "mnistfc/mnist-net_256x4.onnx 3 per-tensor shift8:28x28"
  "mnistfc/mnist-net_256x2.onnx 3 per-tensor shift8:28x28"
  "mnistfc/mnist-net_256x2.onnx 3 per-channel shift8:28x28"
  "cnn/Convnet_maxpool.onnx 3 per-tensor shift8"
  "cnn/Convnet_maxpool.onnx 3 per-channel shift8"
)
for c in "${cases[@]}"; do
  read -r net bits gran augment <<<"$c"
  tag=$(basename "$net" .onnx)-${bits}bit-$gran
  printf '{"weights": {"bits": %s, "granularity": "%s", "scale": "%s"}, "activations": {"bits": 8}}\n' \
    "$bits" "$gran" "$scale" > "$out/$tag.q.json"
  for strategy in default qnnrepair; do
    extra=(--augment "$augment")
    [ "$strategy" = qnnrepair ] && extra=(--init rtn)
    start=$(date +%s)
    set +e
    "$q" -q repair "$data/networks/$net" --config "$out/$tag.q.json" "${mnist[@]}" --strategy "$strategy" \
      --time-limit "$seconds" --jobs 2 "${extra[@]}" -o "$out/$tag.$strategy.json" \
      --report "$out/$tag.$strategy.report.json" > /dev/null
    rc=$?
    set -e
    end=$(date +%s)
    echo "$tag $strategy exit=$rc wall=$((end - start)) s" | tee -a "$out/runs.txt"
  done
done
/usr/bin/python3 "$root/bench/anchors_table.py" "$out"
