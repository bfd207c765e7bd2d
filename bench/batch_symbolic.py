#!/usr/bin/python3
"""Copies an ONNX model with its batch dimension made symbolic ("N"), so ONNX Runtime can run a
whole batch per call. Only the first dimension of the graph's inputs and outputs changes; the
intermediate shape annotations are dropped (ONNX Runtime infers them again).
Usage: /usr/bin/python3 bench/batch_symbolic.py IN.onnx OUT.onnx   (needs python3-onnx)"""
import sys

import onnx


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: batch_symbolic.py IN.onnx OUT.onnx")
    model = onnx.load(sys.argv[1])
    initializers = {t.name for t in model.graph.initializer}
    for value in list(model.graph.input) + list(model.graph.output):
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if not dims:
            sys.exit(f"{sys.argv[1]}: '{value.name}' has no shape to make batch-symbolic")
        dims[0].Clear()
        dims[0].dim_param = "N"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[2])


if __name__ == "__main__":
    main()
