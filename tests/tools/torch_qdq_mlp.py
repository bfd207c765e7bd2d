#!/usr/bin/python3
"""PyTorch's own int8 export of the bundled Fashion-MNIST MLP, and torch's integer outputs.

Usage: torch_qdq_mlp.py MODELS_DIR IMAGES_IDX_GZ OUT_DIR [COUNT]

Loads the float weights of models/fashion_mlp.onnx into a torch MLP (784-64-32-10, ReLU as its own
module: torch 1.13 cannot export the fused Linear+ReLU), quantizes it with
torch.ao.quantization (eager mode, the qnnpack engine: Debian's torch 1.13 has no fbgemm;
calibration on the first 500 images, inputs pixels / 255), and exports it with torch.onnx
(opset 13): OUT_DIR/torch_mlp_int8.onnx. Writes OUT_DIR/torch_reference.txt, per image of the
first COUNT: "prediction code_0 ... code_9", torch's own uint8 logit codes (the last Linear's
quantized output).
"""
import gzip
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def main():
    models_dir, images, out_dir = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    with gzip.open(images, "rb") as f:
        data = f.read()
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 784)
    x = torch.from_numpy(pixels[:max(count, 500)].astype(np.float32) / 255.0)

    init = {t.name: numpy_helper.to_array(t)
            for t in onnx.load(os.path.join(models_dir, "fashion_mlp.onnx")).graph.initializer}
    torch.backends.quantized.engine = "qnnpack"

    class Mlp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = torch.ao.quantization.QuantStub()
            self.fc1, self.relu1 = torch.nn.Linear(784, 64), torch.nn.ReLU()
            self.fc2, self.relu2 = torch.nn.Linear(64, 32), torch.nn.ReLU()
            self.fc3 = torch.nn.Linear(32, 10)
            self.dequant = torch.ao.quantization.DeQuantStub()

        def forward(self, v):
            v = self.relu2(self.fc2(self.relu1(self.fc1(self.quant(v)))))
            return self.dequant(self.fc3(v))

    model = Mlp().eval()
    with torch.no_grad():
        for name, layer in (("1", model.fc1), ("3", model.fc2), ("5", model.fc3)):
            layer.weight.copy_(torch.from_numpy(init[name + ".weight"]))
            layer.bias.copy_(torch.from_numpy(init[name + ".bias"]))
    model.qconfig = torch.ao.quantization.get_default_qconfig("qnnpack")
    prepared = torch.ao.quantization.prepare(model)
    prepared(x[:500])
    quantized = torch.ao.quantization.convert(prepared)
    torch.onnx.export(quantized, x[:1], os.path.join(out_dir, "torch_mlp_int8.onnx"),
                      opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})

    # torch's logit codes: the quantized output of fc3, before the DeQuantStub.
    with torch.no_grad():
        q = quantized.quant(x[:count])
        q = quantized.relu2(quantized.fc2(quantized.relu1(quantized.fc1(q))))
        codes = quantized.fc3(q).int_repr().numpy().astype(np.int64)
    with open(os.path.join(out_dir, "torch_reference.txt"), "w") as f:
        for row in codes:
            f.write(" ".join(str(int(v)) for v in [int(np.argmax(row))] + list(row)) + "\n")


if __name__ == "__main__":
    main()
