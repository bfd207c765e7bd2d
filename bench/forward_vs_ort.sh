#!/usr/bin/env bash
# qrepair's forward passes against ONNX Runtime, side by side in one run, on all 10000 MNIST test
# images: mnist-net_256x6 (W4A8 and W8A8 per-tensor) and Convnet_maxpool (W8A8). ONNX Runtime
# (onnxruntime-node, CPU) runs the float model with its batch dimension made symbolic
# (bench/batch_symbolic.py) and qrepair's own QDQ export of the same integer network (`qrepair
# export --onnx`), all 10000 images in one call, with 1 and 2 intra-op threads; qrepair runs
# build/forward_bench with --threads 1 and 2. Each figure is the best of REPEATS runs.
# Usage: bench/forward_vs_ort.sh [SHARED_DATA_DIR] [OUT_DIR]
#   needs build/qrepair, build/forward_bench, scripts/install-ort.sh, /usr/bin/python3 + onnx.
# QREPAIR_BENCH_REPEATS (default 5), QREPAIR_BENCH_THREADS (default "1 2").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$root/../shared/data}
out=${2:-$root/out/bench-forward}
repeats=${QREPAIR_BENCH_REPEATS:-5}
threads_list=${QREPAIR_BENCH_THREADS:-1 2}
q=${QREPAIR_BIN:-$root/build/qrepair}
bench=${QREPAIR_FORWARD_BENCH:-$root/build/forward_bench}
images=$data/mnist/t10k-images-idx3-ubyte.gz
scale=0.00392156862745098
mkdir -p "$out"
"$root/scripts/install-ort.sh"

seconds() {  # the figure after a label in forward_bench's or ort_time.js's output
  awk -v key="$1" 'index($0, key) == 1 { for (i = 2; i <= NF; ++i) if ($i == "s") { print $(i-1); exit } }'
}

# network, weight bits, granularity, one sample's shape in the float model and in the QDQ export
cases=(
  "mnistfc/mnist-net_256x6.onnx 4 per-tensor 1,784,1 1,784"
  "mnistfc/mnist-net_256x6.onnx 8 per-tensor 1,784,1 1,784"
  "cnn/Convnet_maxpool.onnx 8 per-tensor 1,1,28,28 1,1,28,28"
)
printf '| network | weights | threads | ORT float | qrepair float | ratio | ORT QDQ (int8) | qrepair integer | ratio | peak MB |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for c in "${cases[@]}"; do
  read -r net bits gran dims qdq_dims <<<"$c"
  name=$(basename "$net" .onnx)
  tag=$name-w${bits}a8-$gran
  [ -f "$out/$name.batch.onnx" ] || /usr/bin/python3 "$root/bench/batch_symbolic.py" \
    "$data/networks/$net" "$out/$name.batch.onnx"
  printf '{"weights": {"bits": %s, "granularity": "%s"}, "activations": {"bits": 8}}\n' \
    "$bits" "$gran" >"$out/$tag.q.json"
  "$q" -q quantize "$data/networks/$net" --config "$out/$tag.q.json" --data "$images" \
    --input-scale "$scale" -o "$out/$tag.json" >/dev/null
  "$q" -q export "$out/$tag.json" --onnx "$out/$tag.qdq.onnx" --force >/dev/null
  for t in $threads_list; do
    ours=$(/usr/bin/time -f 'peak %M KB' "$bench" "$data/networks/$net" --data "$images" \
      --config "$out/$tag.q.json" --input-scale "$scale" --repeats "$repeats" --threads "$t" 2>&1)
    echo "$ours" >"$out/$tag.t$t.forward_bench.txt"
    f_ours=$(seconds "float pass" <<<"$ours")
    i_ours=$(seconds "integer pass" <<<"$ours")
    peak=$(awk '/^peak [0-9]/ { printf "%.0f", $2 / 1024 }' <<<"$ours")
    f_ort=$(ORT_DIMS=$dims node "$root/bench/ort_time.js" "$out/$name.batch.onnx" "$images" "$scale" \
      "$t" "$repeats" 10000 | seconds onnxruntime)
    i_ort=$(ORT_DIMS=$qdq_dims node "$root/bench/ort_time.js" "$out/$tag.qdq.onnx" "$images" "$scale" \
      "$t" "$repeats" 10000 | seconds onnxruntime)
    awk -v n="$name" -v w="W${bits}A8 $gran" -v t="$t" -v fo="$f_ort" -v fq="$f_ours" \
      -v io="$i_ort" -v iq="$i_ours" -v p="$peak" 'BEGIN {
      printf "| %s | %s | %s | %.4f | %.4f | %.2fx | %.4f | %.4f | %.2fx | %s |\n",
             n, w, t, fo, fq, fq / fo, io, iq, iq / io, p }'
  done
done
echo "(ratio = qrepair seconds / ONNX Runtime seconds; best of $repeats runs each; forward_bench's full output in $out)"
