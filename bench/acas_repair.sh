#!/usr/bin/env bash
# ACAS Xu 1_1 (NNet) repaired at several weight bit widths, deciding by the LOWEST output (the
# advisory; config "decision": "argmin"). Points: 10000 uniform in the NNet's input box (numpy
# seed 0); 0:5000 repair, 5000:10000 holdout. Prints one Markdown row per case: holdout agreement
# with the float advisory for round to nearest, the init, and the repaired network.
# Usage: bench/acas_repair.sh DATA_DIR OUT_DIR   (needs build/qrepair and /usr/bin/python3 numpy)
# QREPAIR_BENCH_SCALE sets the configs' weight scale rule (default max-abs; mse; "unset": the
# configs name no scale, so repair's init searches them as its defaults do).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=$1
out=$2
q=${QREPAIR_BIN:-$root/build/qrepair}
limit=${TIME_LIMIT:-110}
scale=${QREPAIR_BENCH_SCALE:-max-abs}
mkdir -p "$out"
/usr/bin/python3 - "$out/points.npy" <<'PY'
import sys
import numpy as np
lo = np.array([0.0, -3.141593, -3.141593, 100.0, 0.0])
hi = np.array([60760.0, 3.141593, 3.141593, 1200.0, 1200.0])
x = lo + (hi - lo) * np.random.default_rng(0).random((10000, 5))
np.save(sys.argv[1], x.astype(np.float32))
PY
echo "| weights | RTN | init gptq-float | qrepair (init + SMT) | init scales; augmentation | SMT stage: repair-set fixed / broken | neurons, weights | seconds |"
echo "|---|---|---|---|---|---|---|---|"
for c in "8 per-tensor" "6 per-tensor" "6 per-channel" "4 per-channel"; do
  read -r bits gran <<<"$c"
  tag=acas-$bits-$gran
  scale_key=", \"scale\": \"$scale\""
  [ "$scale" = unset ] && scale_key=
  printf '{"weights": {"bits": %s, "granularity": "%s"%s}, "activations": {"bits": 8}, "decision": "argmin"}\n' \
    "$bits" "$gran" "$scale_key" > "$out/$tag.q.json"
  set +e
  "$q" -q repair "$data/networks/acasxu/ACASXU_experimental_v2a_1_1.nnet" --config "$out/$tag.q.json" \
    --data "$out/points.npy" --repair-range 0:5000 --holdout-range 5000:10000 \
    --time-limit "$limit" --jobs 2 -o "$out/$tag.json" --report "$out/$tag.report.json" --force > /dev/null
  rc=$?
  set -e
  /usr/bin/python3 - "$out/$tag.report.json" "$bits-bit $gran" "$rc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
pct = lambda s: f"{100 * r[s]['holdout']['agreement']:.2f}"
print(f"| {sys.argv[2]} | {pct('before')} | {pct('init')} | {pct('after')} | "
      f"{r['scales']['init']}; augment {r['augment']['chosen']} | "
      f"{r['smt_stage']['samples_fixed']} / {r['smt_stage']['samples_broken']} | {r['neurons_repaired']}, {r['weights_changed']} | "
      f"{r['seconds']:.0f} (exit {sys.argv[3]}) |")
PY
done
