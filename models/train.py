#!/usr/bin/python3
"""Trains the bundled Fashion-MNIST classifiers, exports them to ONNX and records them in models.json.

Run with Debian's interpreter (python3-torch, python3-onnx, python3-numpy), from any directory:
    /usr/bin/python3 models/train.py           # all four models
    /usr/bin/python3 models/train.py --tiny    # only tiny_mlp and tiny_cnn (a few seconds)
The data comes from Debian's dataset-fashion-mnist package at run time; nothing is copied here.
Each model has its own seed, so training one model alone gives the same weights as training all.
Accuracy in models.json is computed by an independent numpy forward pass over the ONNX file's
initializers, which must agree with torch on every test prediction before anything is written.
"""

import argparse
import gzip
import hashlib
import json
import os
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
from torch import nn

DATA_DIR = "/usr/share/datasets/fashion-mnist"
MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
OPSET = 13
NUM_THREADS = 1  # bitwise-reproducible CPU reductions do not survive a change of thread count
BATCH_SIZE = 128
LEARNING_RATE = 1e-3


def BuildFashionMlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def BuildFashionCnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, stride=1, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, stride=1, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 10))


def BuildTinyMlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))


def BuildTinyCnn():
    # 28x28 -> conv stride 2, pad 1 -> 4x14x14 -> avgpool 2 -> 4x7x7 -> 196 -> 10.
    # count_include_pad=False changes nothing at padding 0, but with the default (True) torch 1.13
    # exports a no-op Constant + Pad(zeros) in front of AveragePool.
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AvgPool2d(2, count_include_pad=False),
                         nn.Flatten(), nn.Linear(4 * 7 * 7, 10))


# name -> (builder, epochs, seed, one-line structure for the README/json)
MODELS = {
    "fashion_mlp": (BuildFashionMlp, 5, 1001,
                    "Flatten, Linear(784,64), ReLU, Linear(64,32), ReLU, Linear(32,10)"),
    "fashion_cnn": (BuildFashionCnn, 4, 1002,
                    "Conv2d(1,8,3,s1,p1), ReLU, MaxPool(2), Conv2d(8,16,3,s1,p1), ReLU, MaxPool(2), "
                    "Flatten, Linear(784,10)"),
    "tiny_mlp": (BuildTinyMlp, 1, 1003, "Flatten, Linear(784,16), ReLU, Linear(16,10)"),
    "tiny_cnn": (BuildTinyCnn, 2, 1004,
                 "Conv2d(1,4,3,s2,p1), ReLU, AvgPool(2), Flatten, Linear(196,10)"),
}
TINY = ["tiny_mlp", "tiny_cnn"]


def ReadIdx(path, expected_magic):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic != expected_magic:
        sys.exit(f"{path}: magic number {magic:#x}, expected {expected_magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        sys.exit(f"{path}: {data.size} bytes of data, expected {int(np.prod(dims))} from header {dims}")
    return data.reshape(dims)


def LoadSplit(prefix):
    images = ReadIdx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"), 0x00000803)
    labels = ReadIdx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"), 0x00000801)
    # Pixel / 255 with no mean/std normalisation, so the C++ side needs no preprocessing constants.
    x = (images.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    return x, labels.astype(np.int64)


def Train(model, x_train, y_train, epochs, seed):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.from_numpy(x_train)
    y = torch.from_numpy(y_train)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total_loss = 0.0
        for start in range(0, len(x), BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
        print(f"  epoch {epoch + 1}/{epochs}: mean loss {total_loss / len(x):.4f}", flush=True)
    model.eval()


def Export(model, path):
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), tmp, opset_version=OPSET,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    return tmp


# ---- Independent numpy evaluator: reads only the ONNX file, never the torch module. ----

def Im2Col(x, kh, kw, stride, pads):
    # x: N,C,H,W -> N, C*kh*kw, OH*OW (padding with zeros, as ONNX Conv does).
    n, c, h, w = x.shape
    top, left, bottom, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (h + top + bottom - kh) // stride[0] + 1
    ow = (w + left + right - kw) // stride[1] + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i:i + stride[0] * oh:stride[0], j:j + stride[1] * ow:stride[1]]
    return cols.reshape(n, c * kh * kw, oh * ow), oh, ow


def Pool(x, kernel, stride, pads, reduce):
    if any(pads):
        sys.exit(f"pooling with pads {pads} is not supported by the numpy evaluator")
    n, c, h, w = x.shape
    oh = (h - kernel[0]) // stride[0] + 1
    ow = (w - kernel[1]) // stride[1] + 1
    windows = np.stack([x[:, :, i:i + stride[0] * oh:stride[0], j:j + stride[1] * ow:stride[1]]
                        for i in range(kernel[0]) for j in range(kernel[1])])
    return windows.max(axis=0) if reduce == "max" else windows.mean(axis=0, dtype=np.float32)


def RunOnnxNumpy(graph, x):
    values = {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}
    values[graph.input[0].name] = x
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        ins = [values[name] for name in node.input if name]
        op = node.op_type
        if op == "Gemm":
            a, b = ins[0], ins[1]
            if attrs.get("transA", 0):
                a = a.T
            if attrs.get("transB", 0):
                b = b.T
            out = attrs.get("alpha", 1.0) * (a @ b)
            if len(ins) > 2:
                out = out + attrs.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            out = ins[0] @ ins[1]
        elif op == "Add":
            out = ins[0] + ins[1]
        elif op == "Relu":
            out = np.maximum(ins[0], 0)
        elif op == "Flatten":
            axis = attrs.get("axis", 1)
            out = ins[0].reshape(int(np.prod(ins[0].shape[:axis])), -1)
        elif op == "Reshape":
            out = ins[0].reshape(ins[1])
        elif op == "Conv":
            w = ins[1]
            if attrs.get("group", 1) != 1 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
                sys.exit(f"node '{node.name}': grouped/dilated Conv not supported by the evaluator")
            cols, oh, ow = Im2Col(ins[0], w.shape[2], w.shape[3], attrs.get("strides", [1, 1]),
                                  attrs.get("pads", [0, 0, 0, 0]))
            out = np.einsum("ok,nkp->nop", w.reshape(w.shape[0], -1), cols)
            if len(ins) > 2:
                out = out + ins[2][None, :, None]
            out = out.reshape(ins[0].shape[0], w.shape[0], oh, ow)
        elif op in ("MaxPool", "AveragePool"):
            kernel = attrs["kernel_shape"]
            out = Pool(ins[0], kernel, attrs.get("strides", kernel), attrs.get("pads", [0, 0, 0, 0]),
                       "max" if op == "MaxPool" else "mean")
        else:
            sys.exit(f"node '{node.name}': op {op} is not supported by the numpy evaluator")
        values[node.output[0]] = out.astype(np.float32, copy=False)
    return values[graph.output[0].name]


def Shape(value_info):
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_param if d.dim_param else d.dim_value for d in dims]


def Sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def BuildAndRecord(name, x_train, y_train, x_test, y_test):
    builder, epochs, seed, structure = MODELS[name]
    print(f"{name}: {structure}", flush=True)
    torch.manual_seed(seed)
    model = builder()
    start = time.perf_counter()
    Train(model, x_train, y_train, epochs, seed)
    train_seconds = time.perf_counter() - start

    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x_test)).numpy()
    torch_pred = torch_logits.argmax(axis=1)

    path = os.path.join(MODELS_DIR, f"{name}.onnx")
    tmp = Export(model, path)
    proto = onnx.load(tmp)
    onnx.checker.check_model(proto, full_check=True)

    numpy_logits = np.concatenate([RunOnnxNumpy(proto.graph, x_test[i:i + 1000])
                                   for i in range(0, len(x_test), 1000)])
    numpy_pred = numpy_logits.argmax(axis=1)
    disagreements = int((numpy_pred != torch_pred).sum())
    max_logit_diff = float(np.abs(numpy_logits - torch_logits).max())
    if disagreements:
        os.remove(tmp)
        sys.exit(f"{name}: numpy evaluator disagrees with torch on {disagreements} of "
                 f"{len(x_test)} test predictions (max logit difference {max_logit_diff:g})")
    os.replace(tmp, path)

    accuracy = float((numpy_pred == y_test).mean())
    record = {
        "file": os.path.basename(path),
        "sha256": Sha256(path),
        "size_bytes": os.path.getsize(path),
        "structure": structure,
        "onnx_ops": [node.op_type for node in proto.graph.node],
        "input": {"name": proto.graph.input[0].name, "shape": Shape(proto.graph.input[0])},
        "output": {"name": proto.graph.output[0].name, "shape": Shape(proto.graph.output[0])},
        "opset": OPSET,
        "parameters": sum(p.numel() for p in model.parameters()),
        "float_top1_test": accuracy,
        "test_images": len(x_test),
        "numpy_torch_max_logit_diff": max_logit_diff,
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "optimizer": f"Adam(lr={LEARNING_RATE})",
        "seed": seed,
        "train_seconds": round(train_seconds, 2),
        "torch_threads": NUM_THREADS,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "numpy_version": np.__version__,
        "command": "/usr/bin/python3 models/train.py" + (" --tiny" if name in TINY else ""),
    }
    print(f"  {record['file']}: top-1 {accuracy:.4f}, {record['parameters']} params, "
          f"{record['size_bytes']} bytes, trained in {train_seconds:.1f} s, "
          f"ops {' '.join(record['onnx_ops'])}", flush=True)
    return record


def WriteJson(records):
    path = os.path.join(MODELS_DIR, "models.json")
    existing = {}
    if os.path.exists(path):
        with open(path) as f:
            existing = json.load(f).get("models", {})
    existing.update(records)
    doc = {
        "generator": "models/train.py",
        "data": "Debian package dataset-fashion-mnist, " + DATA_DIR,
        "preprocessing": "pixel / 255, float32, NCHW 1x28x28, no mean/std normalisation",
        "models": {name: existing[name] for name in MODELS if name in existing},
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true",
                        help="train only tiny_mlp and tiny_cnn (keeps the other models.json entries)")
    args = parser.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(NUM_THREADS)
    x_train, y_train = LoadSplit("train")
    x_test, y_test = LoadSplit("t10k")
    names = TINY if args.tiny else list(MODELS)
    start = time.perf_counter()
    records = {name: BuildAndRecord(name, x_train, y_train, x_test, y_test) for name in names}
    WriteJson(records)
    total = sum(r["train_seconds"] for r in records.values())
    print(f"trained {len(records)} models in {total:.1f} s "
          f"({time.perf_counter() - start:.1f} s wall including export and evaluation)")


if __name__ == "__main__":
    main()
