#!/usr/bin/env bash
# Writes seed corpora for the fuzz targets into OUT/<target>/ (not committed: regenerate them).
# Seeds: the bundled models, the malformed-input corpus (near-valid files are good mutation
# starts) with its valid companions, and small valid files of every format.
# Usage: fuzz/make_seeds.sh OUT
set -euo pipefail
out=${1:?usage: fuzz/make_seeds.sh OUT}
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
/usr/bin/python3 "$root/scripts/make_malformed_corpus.py" "$corpus" >/dev/null
mkdir -p "$out"/{onnx,nnet,model_json,quant_config,idx,csv,npy,manifest}

# Copies files under the corpus folder(s) given, flattened, into a target's seed folder.
seed() {
  local target=$1; shift
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    cp "$f" "$out/$target/$(echo "${f#"$corpus"/}" | tr '/' '_')"
  done
}

seed onnx "$root"/models/tiny_*.onnx "$root"/models/fashion_cnn.onnx "$corpus"/onnx/*.onnx \
  "$corpus"/onnx/ext/*.onnx "$corpus"/companions/*.onnx
seed nnet "$corpus"/nnet/*.nnet "$corpus"/companions/*.nnet
seed model_json "$corpus"/model_json/*.json "$corpus"/companions/mlp4_*.json
seed quant_config "$corpus"/config/*.json "$corpus"/companions/q4.json
seed idx "$corpus"/idx/* "$corpus"/idx_gz/* "$corpus"/companions/*-idx* "$corpus"/labels/*idx*
seed csv "$corpus"/csv/* "$corpus"/companions/*.csv "$corpus"/labels/*.txt
seed npy "$corpus"/npy/* "$corpus"/labels/*.npy
seed manifest "$corpus"/manifest/*.json

# Int8 (QDQ) models in ONNX Runtime's quantizer layout, for the importer (needs Fashion-MNIST).
images=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
if [ -f "$images" ]; then
  /usr/bin/python3 "$root/tests/tools/qdq_models.py" "$root/models" "$images" "$corpus" 500
  cp "$corpus"/mlp_int8.onnx "$corpus"/cnn_int8.onnx "$out/onnx/"
  if /usr/bin/python3 -c "import torch" 2>/dev/null; then  # PyTorch's own QDQ export
    /usr/bin/python3 "$root/tests/tools/torch_qdq_mlp.py" "$root/models" "$images" "$corpus" 10 \
      2>/dev/null
    cp "$corpus"/torch_mlp_int8.onnx "$out/onnx/"
  fi
fi

# Valid variants the corpus does not hold.
cat > "$out/quant_config/valid_full.json" <<'JSON'
{"weights": {"bits": 8, "granularity": "per-channel", "scale": "power-of-two"},
 "activations": "float", "layers": {"fc1": {"bits": 2}, "fc2": {"granularity": "per-tensor"}}}
JSON
printf '{"weights": {"bits": 16}, "activations": {"bits": 16}, "scale": "max-abs"}' \
  > "$out/quant_config/valid_16.json"
printf '// tiny\n1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n0.5,0.25,\n0.1,\n' \
  > "$out/nnet/valid_tiny.nnet"
/usr/bin/python3 - "$out" <<'PY'
import gzip, struct, sys
import numpy as np
out = sys.argv[1]
img = bytes(range(2 * 3 * 3))
with open(out + "/idx/valid_u8.idx", "wb") as f:
    f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 3, 3) + img)
with open(out + "/idx/valid_f32.idx.gz", "wb") as f:
    f.write(gzip.compress(bytes([0, 0, 0x0D, 2]) + struct.pack(">2I", 2, 2) +
                          struct.pack(">4f", 0.5, 1, 2, 3), mtime=0))
np.save(out + "/npy/valid_f32.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
np.save(out + "/npy/valid_u8.npy", np.arange(12, dtype=np.uint8).reshape(3, 2, 2))
np.save(out + "/npy/valid_i64_labels.npy", np.arange(3, dtype=np.int64))
with open(out + "/csv/valid_header.csv", "w") as f:
    f.write("a,b,label\n1.5,-2e3,0\n0,1,1\n")
PY
for d in "$out"/*/; do echo "$(basename "$d"): $(ls "$d" | wc -l) seeds"; done
