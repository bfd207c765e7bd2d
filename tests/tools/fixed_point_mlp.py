#!/usr/bin/python3
"""A fixed-point MLP in the quantized-verification literature's style, and its numpy reference.

Usage: fixed_point_mlp.py ONNX_MLP IMAGES_IDX_GZ OUT_DIR

From the float weights of a 784-64-32-10 MLP (the bundled models/fashion_mlp.onnx), builds the
network of Giacobbe et al. (TACAS'20) / Henzinger et al. (AAAI'21) style:
  - input: 8-bit pixel codes p, real value p / 256 (8 fraction bits);
  - weights: 6-bit signed codes with 5 fraction bits, round(w * 32) clamped to [-32, 31];
  - biases: integers at the accumulator's fraction bits (input + weight fraction bits);
  - hidden outputs: floor(acc / 2^k + 1/2) (round half up), clamped to [0, 63], 4 fraction bits;
  - output layer: requantized the same way and saturated to 6-bit signed codes [-32, 31];
  - decision: argmax, ties to the lowest index.
Writes OUT_DIR/fixed_point_mlp.json (qrepair's "kind": "fixed-point") and
OUT_DIR/reference.csv (index,prediction), the predictions of these rules computed here in numpy
with integer arithmetic only, on every image of IMAGES_IDX_GZ.
"""
import gzip
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

INPUT_FRAC, WEIGHT_FRAC, HIDDEN_FRAC, OUTPUT_FRAC = 8, 5, 4, 4
WEIGHT_BITS, HIDDEN_BITS, OUTPUT_BITS = 6, 6, 6


def gemm_layers(path):
    """(W [out, in], b [out]) of each Gemm, in graph order."""
    model = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layers = []
    for node in model.graph.node:
        if node.op_type != "Gemm":
            continue
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        w = init[node.input[1]].astype(np.float64)
        layers.append((w if trans_b else w.T, init[node.input[2]].astype(np.float64)))
    return layers


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, h * w).astype(np.int64)


def round_half_up_shift(acc, k):
    """floor(acc / 2^k + 1/2) on integers (k >= 1)."""
    return (acc + (1 << (k - 1))) >> k


def main():
    onnx_path, images_path, out_dir = sys.argv[1:4]
    layers = gemm_layers(onnx_path)
    assert [w.shape for w, _ in layers] == [(64, 784), (32, 64), (10, 32)], "expected 784-64-32-10"
    lo, hi = -(1 << (WEIGHT_BITS - 1)), (1 << (WEIGHT_BITS - 1)) - 1
    fracs_in = [INPUT_FRAC, HIDDEN_FRAC, HIDDEN_FRAC]
    fracs_out = [HIDDEN_FRAC, HIDDEN_FRAC, OUTPUT_FRAC]
    q_layers = []
    for (w, b), f_in in zip(layers, fracs_in):
        wq = np.clip(np.round(w * (1 << WEIGHT_FRAC)), lo, hi).astype(np.int64)
        bq = np.round(b * (1 << (f_in + WEIGHT_FRAC))).astype(np.int64)
        q_layers.append((wq, bq))

    x = read_idx_images(images_path)  # pixel codes, real value p / 256
    for i, ((wq, bq), f_in, f_out) in enumerate(zip(q_layers, fracs_in, fracs_out)):
        acc = x @ wq.T + bq
        y = round_half_up_shift(acc, f_in + WEIGHT_FRAC - f_out)
        if i < 2:
            x = np.clip(y, 0, (1 << HIDDEN_BITS) - 1)
        else:
            x = np.clip(y, -(1 << (OUTPUT_BITS - 1)), (1 << (OUTPUT_BITS - 1)) - 1)
    predictions = np.argmax(x, axis=1)  # the first maximum: ties to the lowest index

    model = {
        "format": "qrepair-model",
        "version": 1,
        "kind": "fixed-point",
        "fixed_point": {
            "name": "fashion-mlp-fixed-point",
            "input_shape": [784],
            "input": {"bits": 8, "fraction_bits": INPUT_FRAC, "signed": False},
            "rounding": "half-up",
            "layers": [],
        },
    }
    for i, (wq, bq) in enumerate(q_layers):
        last = i == len(q_layers) - 1
        model["fixed_point"]["layers"].append({
            "name": "fc%d" % (i + 1),
            "type": "dense",
            "weight_bits": WEIGHT_BITS,
            "weight_fraction_bits": WEIGHT_FRAC,
            "weights": wq.tolist(),
            "bias": bq.tolist(),
            "activation": "none" if last else "relu",
            "output": {"bits": OUTPUT_BITS if last else HIDDEN_BITS,
                       "fraction_bits": OUTPUT_FRAC if last else HIDDEN_FRAC,
                       "signed": last},
        })
    with open(out_dir + "/fixed_point_mlp.json", "w") as f:
        json.dump(model, f)
    with open(out_dir + "/reference.csv", "w") as f:
        f.write("index,prediction\n")
        for i, p in enumerate(predictions):
            f.write("%d,%d\n" % (i, p))


if __name__ == "__main__":
    main()
