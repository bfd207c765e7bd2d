#!/usr/bin/python3
"""Int8 QDQ ONNX models in ONNX Runtime's quantizer style, and a numpy reference of their integers.

Usage: qdq_models.py MODELS_DIR IMAGES_IDX_GZ OUT_DIR [COUNT]

From the float weights of the bundled models/fashion_mlp.onnx and models/fashion_cnn.onnx, writes
what onnxruntime.quantization.quantize_static(quant_format=QDQ, activation_type=QUInt8,
weight_type=QInt8) writes, built here with the onnx package alone (no ONNX Runtime needed):
  - a QuantizeLinear/DequantizeLinear pair on every activation, uint8 with a zero point from
    MinMax calibration (range [min(lo, 0), max(hi, 0)], scale = width / 255,
    zero point = round(-lo / scale)), so tensors that reach below 0 get non-zero zero points;
  - weights as INT8 initializers (symmetric, zero point 0) with a DequantizeLinear, per tensor
    (MLP) or per output channel (CNN, axis 0); biases as INT32 initializers with a
    DequantizeLinear at scale s_x * s_w (float32);
  - MLP (OUT_DIR/mlp_int8.onnx): Gemm+Relu fused before the Q; then Gemm -> Q -> DQ -> Relu ->
    Q -> DQ (the Relu between DQ and Q, same parameters); requantized uint8 logits (Q -> DQ).
  - CNN (OUT_DIR/cnn_int8.onnx): Conv -> Relu -> QDQ -> MaxPool -> QDQ twice, Reshape -> QDQ,
    Gemm with a float output (int32 logits).
Calibration: the first 500 images of IMAGES_IDX_GZ (inputs are pixels / 255).

The reference (OUT_DIR/{mlp,cnn}_reference.txt: per image "prediction logit_0 ... logit_9") is
computed here with integers only, by the integer semantics of qrepair's reference pass, which
are the ONNX operators' with the requantization multiplier s_w * s_x / s_y held as a 31-bit
fixed-point number m * 2^-shift (include/qrepair/quant/integer_ops.h):
  acc = sum w_q (x_q - zp_x) + b_q;  y_q = sat(round_half_even(acc * m / 2^shift) + zp_y)
with ReLU as max(acc, 0) before the rounding (or max(code, zp) on codes), max pooling on codes,
and int32 logits at the scale min(s_w) * s_x (multiplier s_w[u] / min(s_w)).
"""
import gzip
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def read_idx_images(path, count):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    return pixels[:count]


def float_layers(path):
    """(op, W, b, attributes) of each Gemm/Conv, in graph order (W as stored, Gemm transB=1)."""
    model = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type in ("Gemm", "Conv"):
            w = init[node.input[1]]
            if node.op_type == "Gemm" and not next(
                    (a.i for a in node.attribute if a.name == "transB"), 0):
                w = w.T
            out.append((w, init[node.input[2]]))
    return out


# ---- the float computation (for calibration) ----

def conv(x, w, pad):
    """x [N, C, H, W], w [M, C, 3, 3], stride 1."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    cols = np.stack([xp[:, :, i:i + h, j:j + wd] for i in range(k) for j in range(k)], axis=2)
    # cols [N, C, k*k, H, W]
    return np.einsum("nckhw,mck->nmhw", cols, w.reshape(w.shape[0], c, k * k))


def maxpool(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def act_params(values):
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    scale = np.float32((hi - lo) / 255.0)
    zero = int(np.clip(np.rint(-lo / float(scale)), 0, 255))
    return scale, zero


# ---- the integer reference ----

def multiplier(real):
    """qrepair's MakeMultiplier: (m, shift) with m in [2^30, 2^31)."""
    mantissa, exponent = math.frexp(real)
    m = int(np.rint(math.ldexp(mantissa, 31)))
    if m == 1 << 31:
        m //= 2
        exponent += 1
    return m, 31 - exponent


def requantize(acc, real):
    """round_half_even(acc * m / 2^shift), exactly (Python integers)."""
    m, shift = multiplier(real)
    prod = acc.astype(object) * m
    floor = prod // (1 << shift)
    rem = prod - floor * (1 << shift)
    half = 1 << (shift - 1)
    up = (rem > half) | ((rem == half) & (floor % 2 == 1))
    return (floor + up).astype(np.int64)


def requantize_units(acc, reals, axis):
    out = np.empty_like(acc)
    for u, real in enumerate(reals):
        idx = [slice(None)] * acc.ndim
        idx[axis] = u
        out[tuple(idx)] = requantize(acc[tuple(idx)], real)
    return out


def int_conv(x, w, pad):
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    cols = np.stack([xp[:, :, i:i + h, j:j + wd] for i in range(k) for j in range(k)], axis=2)
    return np.einsum("nckhw,mck->nmhw", cols, w.reshape(w.shape[0], c, k * k).astype(np.int64))


# ---- ONNX writing ----

class Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def qdq(self, x, scale, zero, name):
        s = self.const(name + "_scale", np.array(scale, dtype=np.float32))
        z = self.const(name + "_zero_point", np.array(zero, dtype=np.uint8))
        q = self.node("QuantizeLinear", [x, s, z], name + "_QuantizeLinear")
        return self.node("DequantizeLinear", [q, s, z], name + "_DequantizeLinear")

    def weights(self, name, w_q, w_scale, b_q, b_scale, per_axis):
        axis = {"axis": 0} if per_axis else {}
        shape = lambda v: np.array(v, dtype=np.float32) if per_axis else np.float32(v[0])
        wq = self.const(name + ".weight_quantized", w_q.astype(np.int8))
        ws = self.const(name + ".weight_scale", shape(w_scale))
        wz = self.const(name + ".weight_zero_point",
                        np.zeros(len(w_scale), np.int8) if per_axis else np.int8(0))
        w = self.node("DequantizeLinear", [wq, ws, wz], name + ".weight_DequantizeLinear", **axis)
        bq = self.const(name + ".bias_quantized", b_q.astype(np.int32))
        bs = self.const(name + ".bias_scale", shape(b_scale))
        b = self.node("DequantizeLinear", [bq, bs], name + ".bias_DequantizeLinear", **axis)
        return w, b

    def save(self, path, input_dims, output):
        graph = helper.make_graph(
            self.nodes, "qdq", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                              ["N"] + input_dims)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 10])], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                  producer_name="qrepair tests/tools/qdq_models.py")
        model.ir_version = 7
        onnx.checker.check_model(model)
        onnx.save(model, path)


def quantize_weights(w, b, s_x, per_axis):
    """INT8 weights (max-abs, zero point 0) and INT32 bias codes at s_x * s_w (float32)."""
    flat = w.reshape(w.shape[0], -1)
    if per_axis:
        s_w = (np.abs(flat).max(axis=1) / 127.0).astype(np.float32)
    else:
        s_w = np.full(w.shape[0], np.float32(np.abs(flat).max() / 127.0), dtype=np.float32)
    w_q = np.clip(np.rint(flat / s_w[:, None].astype(np.float64)), -127, 127).astype(np.int64)
    b_scale = (np.float32(s_x) * s_w).astype(np.float32)
    b_q = np.rint(b / b_scale.astype(np.float64)).astype(np.int64)
    return w_q.reshape(w.shape), s_w, b_q, b_scale


def build_mlp(models_dir, calib, test, out_dir):
    layers = float_layers(os.path.join(models_dir, "fashion_mlp.onnx"))
    g = Graph()
    s_in, z_in = np.float32(1.0 / 255.0), 0
    x = g.qdq("input", s_in, z_in, "input")
    xf = calib.reshape(len(calib), -1) / 255.0
    xq = test.reshape(len(test), -1).astype(np.int64)  # the input codes are the pixels
    s_x, z_x = s_in, z_in
    for i, (w, b) in enumerate(layers):
        name = "fc%d" % (i + 1)
        w_q, s_w, b_q, b_scale = quantize_weights(w, b, s_x, per_axis=False)
        wn, bn = g.weights(name, w_q, s_w, b_q, b_scale, per_axis=False)
        y = g.node("Gemm", [x, wn, bn], name + "_Gemm", transB=1)
        pre = xf @ w.T + b
        acc = (xq - z_x) @ w_q.T + b_q
        m = float(s_w[0]) * float(s_x)
        if i == 0:  # Relu fused: between the Gemm and its Q
            y = g.node("Relu", [y], name + "_Relu")
            xf = np.maximum(pre, 0)
            s_y, z_y = act_params(xf)
            x = g.qdq(y, s_y, z_y, name + "_output")
            xq = np.clip(requantize(np.maximum(acc, 0), m / float(s_y)) + z_y, 0, 255)
        elif i == 1:  # Q -> DQ -> Relu -> Q -> DQ with the same parameters
            s_y, z_y = act_params(pre)
            x = g.qdq(y, s_y, z_y, name + "_output")
            x = g.node("Relu", [x], name + "_Relu")
            x = g.qdq(x, s_y, z_y, name + "_relu_output")
            xf = np.maximum(pre, 0)
            xq = np.maximum(np.clip(requantize(acc, m / float(s_y)) + z_y, 0, 255), z_y)
        else:  # requantized uint8 logits
            s_y, z_y = act_params(pre)
            x = g.qdq(y, s_y, z_y, "logits")
            xq = np.clip(requantize(acc, m / float(s_y)) + z_y, 0, 255)
        s_x, z_x = s_y, z_y
    g.save(os.path.join(out_dir, "mlp_int8.onnx"), [784], x)
    return xq


def build_cnn(models_dir, calib, test, out_dir):
    (w0, b0), (w1, b1), (w2, b2) = float_layers(os.path.join(models_dir, "fashion_cnn.onnx"))
    g = Graph()
    s_x, z_x = np.float32(1.0 / 255.0), 0
    x = g.qdq("input", s_x, z_x, "input")
    xf = calib[:, None, :, :] / 255.0
    xq = test[:, None, :, :].astype(np.int64)
    for name, w, b in (("conv1", w0, b0), ("conv2", w1, b1)):
        w_q, s_w, b_q, b_scale = quantize_weights(w, b, s_x, per_axis=True)
        wn, bn = g.weights(name, w_q, s_w, b_q, b_scale, per_axis=True)
        y = g.node("Conv", [x, wn, bn], name + "_Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        pre = conv(xf, w, 1) + b[None, :, None, None]
        acc = int_conv(xq - z_x, w_q, 1) + b_q[None, :, None, None]
        reals = [float(s) * float(s_x) for s in s_w]
        if name == "conv1":  # Relu fused before the Q
            y = g.node("Relu", [y], name + "_Relu")
            xf = np.maximum(pre, 0)
            s_y, z_y = act_params(xf)
            x = g.qdq(y, s_y, z_y, name + "_output")
            xq = requantize_units(np.maximum(acc, 0), [r / float(s_y) for r in reals], 1)
            xq = np.clip(xq + z_y, 0, 255)
        else:  # Q (non-zero zero point) -> DQ -> Relu -> Q -> DQ
            s_y, z_y = act_params(pre)
            x = g.qdq(y, s_y, z_y, name + "_output")
            x = g.node("Relu", [x], name + "_Relu")
            x = g.qdq(x, s_y, z_y, name + "_relu_output")
            xf = np.maximum(pre, 0)
            xq = requantize_units(acc, [r / float(s_y) for r in reals], 1)
            xq = np.maximum(np.clip(xq + z_y, 0, 255), z_y)
        x = g.node("MaxPool", [x], name + "_MaxPool", kernel_shape=[2, 2], strides=[2, 2])
        x = g.qdq(x, s_y, z_y, name + "_pool_output")
        xf, xq = maxpool(xf), maxpool(xq)
        s_x, z_x = s_y, z_y
    shape = g.const("flat_shape", np.array([-1, 784], dtype=np.int64))
    x = g.node("Reshape", [x, shape], "flat_Reshape")
    x = g.qdq(x, s_x, z_x, "flat_output")
    xq = xq.reshape(len(xq), -1)
    w_q, s_w, b_q, b_scale = quantize_weights(w2, b2, s_x, per_axis=True)
    wn, bn = g.weights("fc", w_q, s_w, b_q, b_scale, per_axis=True)
    y = g.node("Gemm", [x, wn, bn], "logits", transB=1)
    acc = (xq - z_x) @ w_q.T + b_q
    s_min = float(s_w.min())  # int32 logits at min(s_w) * s_x
    logits = requantize_units(acc, [float(s) / s_min for s in s_w], 1)
    g.save(os.path.join(out_dir, "cnn_int8.onnx"), [1, 28, 28], y)
    return logits


def write_reference(path, logits):
    with open(path, "w") as f:
        for row in logits:
            # argmax with ties to the lowest index, as qrepair decides
            f.write(" ".join(str(int(v)) for v in [int(np.argmax(row))] + list(row)) + "\n")


def main():
    models_dir, images, out_dir = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    pixels = read_idx_images(images, max(count, 500)).astype(np.float64)
    calib, test = pixels[:500], pixels[:count]
    write_reference(os.path.join(out_dir, "mlp_reference.txt"),
                    build_mlp(models_dir, calib, test, out_dir))
    write_reference(os.path.join(out_dir, "cnn_reference.txt"),
                    build_cnn(models_dir, calib, test, out_dir))


if __name__ == "__main__":
    main()
