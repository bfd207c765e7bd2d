#!/usr/bin/env bash
# Compares variants of the repair options on the five MLP cases at equal deterministic work
# (--work-limit, so runs of a case differ only by the options compared). Every run starts from
# the same init (--augment shift8:28x28). Prints one line per run.
# Usage: bench/option_compare.sh DATA_DIR OUT_DIR "NAME:OPTIONS" ["NAME:OPTIONS" ...]
#   e.g. bench/option_compare.sh ../shared/data out/cmp "guard:--guard augment" "none:--guard none"
# (needs build/qrepair; WORK_LIMIT, default 1500 million units)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=$1
out=$2
shift 2
work=${WORK_LIMIT:-1500}
q=${QREPAIR_BIN:-$root/build/qrepair}
mkdir -p "$out"
cases=(
  "mnist-net_256x4 4 per-tensor"
  "mnist-net_256x6 4 per-tensor"
  "mnist-net_256x4 3 per-tensor"
  "mnist-net_256x2 3 per-tensor"
  "mnist-net_256x2 3 per-channel"
)
for c in "${cases[@]}"; do
  read -r net bits gran <<<"$c"
  config="$out/q$bits-$gran.json"
  printf '{"weights": {"bits": %s, "granularity": "%s"}, "activations": {"bits": 8}}\n' "$bits" "$gran" > "$config"
  for variant in "$@"; do
    name=${variant%%:*}
    read -r -a options <<<"${variant#*:}"
    tag=$net-$bits-$gran-$name
    set +e
    "$q" -q repair "$data/networks/mnistfc/$net.onnx" --config "$config" \
      --data "$data/mnist/t10k-images-idx3-ubyte.gz" --labels "$data/mnist/t10k-labels-idx1-ubyte.gz" \
      --input-scale 0.00392156862745098 --repair-range 0:5000 --holdout-range 5000:10000 \
      --augment shift8:28x28 --work-limit "$work" --time-limit 900 --jobs 2 "${options[@]}" \
      -o "$out/$tag.json" --report "$out/$tag.report.json" --force > /dev/null
    rc=$?
    set -e
    /usr/bin/python3 - "$out/$tag.report.json" "$tag" "$rc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
h = lambda s: f"{100 * d[s]['holdout']['accuracy']:.2f} / {100 * d[s]['holdout']['agreement']:.2f}"
g = d['guard']
guard = (f"guard {100 * g['agreement_before']:.3f} -> {100 * g['agreement_after']:.3f} %, "
         f"{g['patches_refused']} refused") if g['inputs'] else "no guard"
print(f"{sys.argv[2]} exit={sys.argv[3]}: init {h('init')}, after {h('after')}, "
      f"{d['neurons_repaired']} neurons; {guard}; work {d['solver']['work'] / 1e6:.0f} M")
PY
  done
done
