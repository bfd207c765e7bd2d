"""Malformed model files for make_malformed_corpus.py: ONNX, NNet and qrepair JSON models.

Each case is run through a real subcommand with small valid companions (a 4-input MLP, a 4-bit
config, 8 CSV rows), so the only thing wrong in a command line is the case's file. ONNX files are
built with the onnx Python package (Debian's python3-onnx); the valid bases are also written as
companions and run as controls, so a case fails because of its one defect, not a broken base.
"""

import copy
import json
import math
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MODEL = "companions/mlp4.onnx"
CONFIG = "companions/q4.json"
DATA = "companions/data4.csv"
QMODEL = "companions/mlp4_quantized.json"
FMODEL = "companions/mlp4_float.json"
NNET = "companions/mlp4.nnet"


def eval_model(path):
    return ["eval", path, "--config", CONFIG, "--data", DATA]


def eval_quantized(path):
    return ["eval", path, "--data", DATA]


def quantize_model(path):
    return ["quantize", path, "--config", CONFIG, "--data", DATA, "-o", "out/never.json"]


def rank_model(path):
    return ["rank", path, "--config", CONFIG, "--data", DATA]


def repair_model(path):
    return ["repair", path, "--config", CONFIG, "--data", DATA, "--repair-range", "0:8",
            "--time-limit", "5", "-o", "out/never.json"]


# ---- ONNX ----------------------------------------------------------------------------------------

W1 = np.array([[0.5, -0.25, 0.125, 1.0], [-1, 0.5, 0.25, 0.75], [0.3, 0.2, -0.1, 0.4]],
              np.float32)
B1 = np.array([0.1, -0.2, 0.05], np.float32)
W2 = np.array([[1, -1, 0.5], [-0.5, 0.25, 1]], np.float32)
B2 = np.array([0.0, 0.1], np.float32)


def mlp_parts():
    """Nodes, initializers, input and output of the valid base: Gemm-Relu-Gemm, 4 -> 3 -> 2."""
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("Gemm", ["r", "W2", "b2"], ["y"], name="fc2", transB=1)]
    inits = [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(B1, "b1"),
             numpy_helper.from_array(W2, "W2"), numpy_helper.from_array(B2, "b2")]
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    return nodes, inits, [inp], [out]


def model_bytes(nodes, inits, inputs, outputs, opset=13):
    graph = helper.make_graph(nodes, "mlp4", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model.SerializeToString()


def base_model():
    nodes, inits, inputs, outputs = mlp_parts()
    return model_bytes(nodes, inits, inputs, outputs)


def with_init(name, tensor):
    """The base with initializer `name` replaced by `tensor`."""
    nodes, inits, inputs, outputs = mlp_parts()
    inits = [tensor if t.name == name else t for t in inits]
    return model_bytes(nodes, inits, inputs, outputs)


def external(name, location, length=None, offset=None, dims=(3, 4)):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            entry = t.external_data.add()
            entry.key, entry.value = key, str(value)
    return t


def raw_tensor(name, data_type, dims, raw):
    t = TensorProto()
    t.name = name
    t.data_type = data_type
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def conv_model(**conv_attrs):
    """Input 1x4x4 -> Conv(2 channels, 3x3) -> Flatten -> Gemm(2)."""
    k = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32) * 0.1, "K")
    w = numpy_helper.from_array(np.ones((2, 8), np.float32) * 0.1, "W")
    attrs = {"kernel_shape": [3, 3]}
    attrs.update(conv_attrs)
    nodes = [helper.make_node("Conv", ["x", "K"], ["c"], name="conv1", **attrs),
             helper.make_node("Flatten", ["c"], ["f"], name="flat", axis=1),
             helper.make_node("Gemm", ["f", "W"], ["y"], name="fc", transB=1)]
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    return model_bytes(nodes, [k, w], [inp], [out])


def pool_model(op, **attrs):
    """Input 1x2x2 -> pool -> Flatten -> Gemm(2)."""
    w = numpy_helper.from_array(np.ones((2, 1), np.float32), "W")
    nodes = [helper.make_node(op, ["x"], ["p"], name="pool1", **attrs),
             helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
             helper.make_node("Gemm", ["f", "W"], ["y"], name="fc", transB=1)]
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 2, 2])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    return model_bytes(nodes, [w], [inp], [out])


def before_first_gemm(node, inits=()):
    """The base with `node` (x -> x0) inserted before fc1."""
    nodes, base_inits, inputs, outputs = mlp_parts()
    nodes[0].input[0] = "x0"
    return model_bytes([node] + nodes, base_inits + list(inits), inputs, outputs)


def onnx_cases(c):
    good = base_model()
    c.companion(MODEL, good, "onnx", "Gemm-Relu-Gemm 4->3->2, valid", control=eval_model(MODEL))
    c.companion(CONFIG, json.dumps({"weights": {"bits": 4, "granularity": "per-tensor"},
                                    "activations": {"bits": 8}}).encode(),
                "config", "4-bit per-tensor weights, 8-bit activations, valid")
    rows = "".join("%d,%d,%d,%d,%d\n" % (i, (i * 3) % 5, (i * 7) % 4, i % 2, i % 2)
                   for i in range(8))
    c.companion(DATA, rows.encode(), "csv", "8 rows of 4 features and a label, valid")

    def add(name, data, problem, expect, command=eval_model):
        c.add("onnx/" + name, data, "onnx", problem, expect, argv=command)

    nodes, inits, inputs, outputs = mlp_parts()
    tiny = open(c.source_path("models/tiny_mlp.onnx"), "rb").read()

    # -- the protobuf itself
    add("empty.onnx", b"", "empty file", "has no nodes")
    add("garbage.onnx", bytes((i * 37 + 11) % 256 for i in range(512)), "512 bytes of noise",
        "not a valid ONNX model")
    add("text.onnx", b"this is not a model\n", "a line of text", "not a valid ONNX model")
    for fraction in (10, 50, 90):
        add("truncated_tiny_mlp_%d.onnx" % fraction, tiny[: len(tiny) * fraction // 100],
            "models/tiny_mlp.onnx cut at %d%%" % fraction, "not a valid ONNX model")
    add("truncated_last_byte.onnx", good[:-1], "the base without its last byte",
        "not a valid ONNX model", command=quantize_model)
    add("length_past_end.onnx", good + b"\x3a\xff\xff\x03", "a trailing graph field whose "
        "length runs past the end of the file", "not a valid ONNX model")
    add("no_nodes.onnx", model_bytes([], inits, inputs, outputs), "a graph without nodes",
        "has no nodes")
    add("no_opset.onnx", _without_opset(nodes, inits, inputs, outputs),
        "only an ai.onnx.ml opset", "no ai.onnx opset")
    add("opset_5.onnx", model_bytes(nodes, inits, inputs, outputs, opset=5), "opset 5",
        "opset 5 is too old")

    # -- operators
    add("unsupported_op_lstm.onnx", before_first_gemm(helper.make_node("LSTM", ["x"], ["x0"],
                                                                      name="lstm0")),
        "an LSTM node", "operator LSTM is not supported")
    add("unsupported_op_softmax.onnx", before_first_gemm(
        helper.make_node("Softmax", ["x"], ["x0"], name="sm0")), "a Softmax node",
        "operator Softmax is not supported", command=rank_model)
    add("custom_domain.onnx", before_first_gemm(
        helper.make_node("Relu", ["x"], ["x0"], name="r0", domain="com.example")),
        "a Relu from domain com.example", "domain 'com.example' is not supported")
    add("gemm_one_input.onnx", model_bytes(
        [helper.make_node("Gemm", ["x"], ["y"], name="fc1")], [], inputs, outputs),
        "Gemm with one input", "has 1 inputs, expected 2 to 3")
    add("gemm_trans_a.onnx", _replace_node(0, helper.make_node(
        "Gemm", ["x", "W1", "b1"], ["h"], name="fc1", transA=1, transB=1)),
        "Gemm transA=1", "transA=1 is not supported")
    add("matmul_w_at_x.onnx", model_bytes(
        [helper.make_node("MatMul", ["W", "x"], ["y"], name="mm")],
        [numpy_helper.from_array(np.ones((2, 4), np.float32), "W")], inputs, outputs),
        "MatMul W @ x", "W @ x is not supported")
    add("conv_dilations.onnx", conv_model(dilations=[2, 2]), "Conv dilations 2",
        "dilations must all be 1")
    add("conv_kernel_larger_than_input.onnx", conv_model(kernel_shape=[5, 5]),
        "Conv kernel 5x5 attribute against a 3x3 weight on a 4x4 input", "conv1")
    add("maxpool_ceil_mode.onnx", pool_model("MaxPool", kernel_shape=[2, 2], ceil_mode=1),
        "MaxPool ceil_mode=1", "ceil_mode=1 is not supported")
    add("div_by_zero.onnx", before_first_gemm(
        helper.make_node("Div", ["x", "z"], ["x0"], name="div0"),
        [numpy_helper.from_array(np.zeros((1,), np.float32), "z")]),
        "x / 0", "div0")
    add("const_div_x.onnx", before_first_gemm(
        helper.make_node("Div", ["z", "x"], ["x0"], name="div0"),
        [numpy_helper.from_array(np.ones((1,), np.float32), "z")]),
        "1 / x", "constant / x is not linear")
    add("flatten_axis0.onnx", before_first_gemm(
        helper.make_node("Flatten", ["x"], ["x0"], name="flat0", axis=0)),
        "Flatten axis=0", "axis=0 would merge the samples")
    add("reshape_merges_batch.onnx", before_first_gemm(
        helper.make_node("Reshape", ["x", "s"], ["x0"], name="reshape0"),
        [numpy_helper.from_array(np.array([-1, 5], np.int64), "s")]),
        "Reshape 4 features to [-1, 5]", "reshape0")
    add("constant_sparse.onnx", _constant_with_attribute(),
        "Constant node with a sparse_value attribute",
        "attribute 'sparse_value' is not supported")
    add("sigmoid_quantized.onnx", _insert_after_relu(helper.make_node(
        "Sigmoid", ["r"], ["s"], name="sig1")), "a Sigmoid, which has no integer semantics",
        "sigmoid")

    # -- tensors: values, shapes and types
    nan_w = W1.copy()
    nan_w[1, 2] = float("nan")
    add("nan_weight.onnx", with_init("W1", numpy_helper.from_array(nan_w, "W1")),
        "NaN in fc1's weight", "NaN or infinite")
    inf_b = B2.copy()
    inf_b[1] = float("inf")
    add("inf_bias.onnx", with_init("b2", numpy_helper.from_array(inf_b, "b2")),
        "+Inf in fc2's bias", "NaN or infinite", command=repair_model)
    add("double_overflows_float.onnx", with_init("b1", helper.make_tensor(
        "b1", TensorProto.DOUBLE, [3], [1e300, 0, 0])), "DOUBLE bias 1e300 beyond float",
        "NaN or infinite")
    add("weight_3x5.onnx", with_init("W1", numpy_helper.from_array(
        np.ones((3, 5), np.float32), "W1")), "fc1 weight 3x5 for 4 inputs", "fc1")
    add("weight_chain_broken.onnx", with_init("W2", numpy_helper.from_array(
        np.ones((2, 4), np.float32), "W2")), "fc2 weight 2x4 after 3 units", "fc2")
    add("bias_wrong_size.onnx", with_init("b1", numpy_helper.from_array(
        np.ones((5,), np.float32), "b1")), "fc1 bias of 5 for 3 units", "fc1")
    add("dims_product_huge.onnx", with_init("W1", raw_tensor(
        "W1", TensorProto.FLOAT, [100000, 100000, 100000], b"\0" * 48)),
        "W1 dims 10^15 elements", "more than 2^28 elements")
    add("dims_overflow_int64.onnx", with_init("W1", raw_tensor(
        "W1", TensorProto.FLOAT, [2 ** 62, 4, 3], b"\0" * 48)),
        "W1 dims whose product overflows int64", "more than 2^28 elements")
    add("negative_dims.onnx", with_init("W1", raw_tensor(
        "W1", TensorProto.FLOAT, [-3, 4], b"\0" * 48)), "W1 dims -3x4", "are negative")
    add("zero_dims.onnx", with_init("W1", raw_tensor(
        "W1", TensorProto.FLOAT, [0, 4], b"")), "W1 dims 0x4", "fc1")
    add("raw_data_short.onnx", with_init("W1", raw_tensor(
        "W1", TensorProto.FLOAT, [3, 4], b"\0" * 47)), "W1 raw_data 47 of 48 bytes",
        "raw_data has 47 bytes, expected 48")
    short = helper.make_tensor("W1", TensorProto.FLOAT, [3, 4], [1.0] * 12)
    del short.float_data[-1]
    add("float_data_count.onnx", with_init("W1", short), "W1 float_data 11 of 12 values",
        "float_data has 11 values, expected 12")
    for type_name in ("STRING", "FLOAT16", "BOOL", "INT16", "COMPLEX64"):
        t = TensorProto()
        t.name, t.data_type = "W1", getattr(TensorProto, type_name)
        t.dims.extend([3, 4])
        t.raw_data = b"\0" * 48
        add("dtype_%s.onnx" % type_name.lower(), with_init("W1", t), "W1 as %s" % type_name,
            "is not supported; expected FLOAT")
    # UINT8 decodes (int8 models' codes and zero points); a float model's weight must be FLOAT.
    t = TensorProto()
    t.name, t.data_type = "W1", TensorProto.UINT8
    t.dims.extend([3, 4])
    t.raw_data = b"\0" * 12
    add("dtype_uint8.onnx", with_init("W1", t), "W1 as UINT8", "is an integer tensor, expected FLOAT")
    add("segmented_tensor.onnx", with_init("W1", _segmented()), "W1 with a segment",
        "segmented tensors are not supported")

    # -- external data
    outside = np.ones((3, 4), np.float32).tobytes()
    c.write("onnx_outside.bin", outside)  # beside the onnx/ folder, not inside it
    add("external_parent.onnx", with_init("W1", external("W1", "../onnx_outside.bin")),
        "W1 external data '../onnx_outside.bin'", "leaves the model's folder")
    add("external_absolute.onnx", with_init("W1", external("W1", "/etc/passwd")),
        "W1 external data '/etc/passwd'", "is absolute")
    c.write("onnx/ext/escape", b"")  # placeholder; replaced by a symbolic link below
    c.symlink("onnx/ext/escape", "../../onnx_outside.bin")
    add("ext/symlink_outside.onnx", with_init("W1", external("W1", "escape")),
        "W1 external data through a symbolic link that leads outside the folder",
        "resolves outside the model's folder")
    add("external_missing.onnx", with_init("W1", external("W1", "no_such_weights.bin")),
        "W1 external data file that does not exist", "cannot open external data file")
    c.write("onnx/weights.bin", outside)
    add("external_length.onnx", with_init("W1", external("W1", "weights.bin", length=40)),
        "W1 external data length 40 for 48 bytes", "external data has 40 bytes, expected 48")
    add("external_offset.onnx", with_init("W1", external("W1", "weights.bin", offset=24)),
        "W1 external data offset 24 into a 48-byte file", "expected 48")
    add("external_offset_past_end.onnx",
        with_init("W1", external("W1", "weights.bin", offset=1000, length=48)),
        "W1 external data offset beyond the file", "expected at least 1048")
    add("external_bad_offset.onnx", with_init("W1", external("W1", "weights.bin", offset="-8")),
        "W1 external data offset -8", "is not a non-negative integer")
    add("external_no_location.onnx", with_init("W1", external("W1", "")),
        "W1 external data without a location", "external data has no location")
    add("external_directory.onnx", with_init("W1", external("W1", "ext")),
        "W1 external data naming a folder", "cannot open external data file")

    # -- graph structure
    add("input_int64.onnx", model_bytes(nodes, inits, [helper.make_tensor_value_info(
        "x", TensorProto.INT64, ["N", 4])], outputs), "graph input of type INT64",
        "expected a FLOAT tensor")
    add("input_no_shape.onnx", model_bytes(nodes, inits, [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, None)], outputs), "graph input without a shape", "has no shape")
    add("input_symbolic_features.onnx", model_bytes(nodes, inits, [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", "F"])], outputs), "feature dimension symbolic",
        "is symbolic or not positive")
    add("input_negative_dim.onnx", model_bytes(nodes, inits, [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", -4])], outputs), "feature dimension -4",
        "is symbolic or not positive")
    add("input_huge.onnx", model_bytes(nodes, inits, [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 100000, 100000, 100000])], outputs),
        "input 10^15 elements", "at most 2^28 elements")
    add("input_rank5.onnx", model_bytes(nodes, inits, [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 1, 1, 2, 2])], outputs), "5-D input", "expected [batch")
    extra_in = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4])
    add("two_inputs.onnx", model_bytes(nodes, inits, inputs + [extra_in], outputs),
        "two graph inputs", "expected exactly one")
    add("no_inputs.onnx", model_bytes(nodes, inits, [], outputs), "no graph input",
        "found 0 inputs")
    extra_out = helper.make_tensor_value_info("h", TensorProto.FLOAT, ["N", 3])
    add("two_outputs.onnx", model_bytes(nodes, inits, inputs, outputs + [extra_out]),
        "two graph outputs", "expected exactly one")
    branch = copy.deepcopy(nodes) + [helper.make_node("Relu", ["x"], ["side"], name="side_relu")]
    add("branch.onnx", model_bytes(branch, inits, inputs, outputs), "two nodes read the input",
        "no branches")
    merge = copy.deepcopy(nodes)
    merge[2] = helper.make_node("Add", ["r", "h"], ["y"], name="merge_add")
    add("merge.onnx", model_bytes(merge, inits, inputs, outputs), "Add of two graph tensors",
        "merge_add")
    cycle = [helper.make_node("Relu", ["x", "y"], ["a"], name="loop_a"),
             helper.make_node("Relu", ["a"], ["y"], name="loop_b")]
    add("cycle.onnx", model_bytes(cycle, [], inputs, outputs), "a Relu that reads the output",
        "loop_a")
    cycle2 = [helper.make_node("Identity", ["x"], ["a"], name="id_a"),
              helper.make_node("Identity", ["a"], ["b"], name="id_b"),
              helper.make_node("Identity", ["b"], ["a"], name="id_c")]
    add("cycle_without_output.onnx", model_bytes(cycle2, [], inputs, outputs),
        "a -> b -> a, never reaching y", "id_")
    missing = [i for i in inits if i.name != "W2"]
    add("missing_initializer.onnx", model_bytes(nodes, missing, inputs, outputs),
        "fc2 reads W2, which no initializer defines", "'W2' is not a constant")
    dead_end = copy.deepcopy(nodes)[:2]
    add("output_unreached.onnx", model_bytes(dead_end, inits, inputs, outputs),
        "the chain ends at 'r', not at the output 'y'", "is read by no node")
    dangling = copy.deepcopy(nodes) + [helper.make_node("Relu", ["W1"], ["unused"],
                                                        name="stray")]
    add("stray_node.onnx", model_bytes(dangling, inits, inputs, outputs),
        "a node off the chain", "stray")
    add("node_without_output.onnx", _replace_node(1, helper.make_node(
        "Relu", ["h"], [], name="relu1")), "Relu with no output", "relu1")
    reads_output = copy.deepcopy(nodes) + [helper.make_node("Relu", ["y"], ["z"], name="after")]
    add("output_read_again.onnx", model_bytes(reads_output, inits, inputs, outputs),
        "a node reads the graph output", "after")


def _without_opset(nodes, inits, inputs, outputs):
    graph = helper.make_graph(nodes, "mlp4", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("ai.onnx.ml", 2)])
    model.ir_version = 7
    return model.SerializeToString()


def _replace_node(index, node):
    nodes, inits, inputs, outputs = mlp_parts()
    nodes[index] = node
    return model_bytes(nodes, inits, inputs, outputs)


def _insert_after_relu(node):
    nodes, inits, inputs, outputs = mlp_parts()
    nodes[2].input[0] = node.output[0]
    return model_bytes(nodes[:2] + [node] + nodes[2:], inits, inputs, outputs)


def _constant_with_attribute():
    nodes, inits, inputs, outputs = mlp_parts()
    const = helper.make_node("Constant", [], ["W1"], name="const_w1")
    attr = const.attribute.add()
    attr.name = "sparse_value"
    attr.type = onnx.AttributeProto.SPARSE_TENSOR
    return model_bytes([const] + nodes, [t for t in inits if t.name != "W1"], inputs, outputs)


def _segmented():
    t = numpy_helper.from_array(W1, "W1")
    t.segment.begin, t.segment.end = 0, 6
    return t


# ---- NNet ----------------------------------------------------------------------------------------

def nnet_lines():
    """The valid base as a list of lines: 2 layers, 4 -> 3 -> 2."""
    lines = ["// a small network for malformed-input tests", "2,4,2,4,", "4,3,2,", "0,",
             "0,0,0,0,", "1,1,1,1,", "0,0,0,0,0,", "1,1,1,1,1,"]
    lines += [",".join("%g" % v for v in row) + "," for row in W1]
    lines += ["%g," % v for v in B1]
    lines += [",".join("%g" % v for v in row) + "," for row in W2]
    lines += ["%g," % v for v in B2]
    return lines


def nnet_bytes(lines):
    return ("\n".join(lines) + "\n").encode()


def nnet_with(index, text):
    lines = nnet_lines()
    lines[index] = text
    return nnet_bytes(lines)


def nnet_cases(c):
    c.companion(NNET, nnet_bytes(nnet_lines()), "nnet", "4 -> 3 -> 2, valid",
                control=eval_model(NNET))

    def add(name, data, problem, expect, command=eval_model):
        c.add("nnet/" + name, data, "nnet", problem, expect, argv=command)

    good = nnet_lines()
    add("empty.nnet", b"", "empty file", "line 1: unexpected end of file")
    add("comments_only.nnet", b"// one\n// two\n", "only comment lines", "unexpected end of file")
    add("header_only.nnet", nnet_bytes(good[:2]), "the first line only",
        "unexpected end of file; expected layer sizes")
    for cut in (5, 9, 12, 16):
        add("truncated_line_%d.nnet" % cut, nnet_bytes(good[:cut]),
            "the first %d lines" % cut, "line %d: unexpected end of file" % (cut + 1))
    add("truncated_last_bias.nnet", nnet_bytes(good)[: len(nnet_bytes(good)) - 7],
        "cut inside the second-last bias line", "unexpected end of file")
    add("zero_layers.nnet", nnet_with(1, "0,4,2,4,"), "numLayers 0",
        "numLayers is 0.000000, expected an integer from 1 to 10000")
    add("negative_layers.nnet", nnet_with(1, "-2,4,2,4,"), "numLayers -2", "numLayers is -2")
    add("fractional_layers.nnet", nnet_with(1, "2.5,4,2,4,"), "numLayers 2.5",
        "numLayers is 2.5")
    add("billion_layers.nnet", nnet_with(1, "1000000000,4,2,4,"), "numLayers 10^9",
        "expected an integer from 1 to 10000")
    add("huge_input_size.nnet", nnet_with(1, "2,100000000,2,4,"), "inputSize 10^8",
        "inputSize is 100000000")
    add("header_three_values.nnet", nnet_with(1, "2,4,2,"), "3 header numbers",
        "expected 4 comma-separated numbers")
    add("sizes_count.nnet", nnet_with(2, "4,3,"), "2 layer sizes for 2 layers",
        "expected 3 comma-separated numbers (layer sizes), found 2")
    add("sizes_disagree.nnet", nnet_with(2, "5,3,2,"), "layer sizes start at 5, inputSize 4",
        "layer sizes run from 5 to 2")
    add("size_zero.nnet", nnet_with(2, "4,0,2,"), "a layer of size 0", "layer size is 0")
    add("huge_layer_sizes.nnet", nnet_bytes(["3,4,2,1000000,", "4,1000000,1000000,2,"] +
                                            good[3:]),
        "two layers of 10^6 units: 10^12 weights", "at most 2^28 are supported")
    add("not_a_number.nnet", nnet_with(9, "0.5,abc,0.25,0.75,"), "'abc' in fc1's weights",
        "line 10: value 2 'abc' is not a number")
    add("nan_weight.nnet", nnet_with(8, "nan,-0.25,0.125,1,"), "NaN weight",
        "line 9: value 1 'nan' is not finite")
    add("inf_bias.nnet", nnet_with(11, "inf,"), "Inf bias", "line 12: value 1 'inf' is not finite")
    add("overflow_number.nnet", nnet_with(12, "1e999,"), "1e999", "is not finite")
    add("empty_field.nnet", nnet_with(8, "0.5,,0.125,1,"), "an empty field",
        "line 9: value 2 '' is not a number")
    add("short_row.nnet", nnet_with(8, "0.5,-0.25,0.125,"), "3 weights for 4 inputs",
        "line 9: expected 4 comma-separated numbers")
    add("long_row.nnet", nnet_with(8, "0.5,-0.25,0.125,1,7,"), "5 weights for 4 inputs",
        "line 9: expected 4 comma-separated numbers")
    add("zero_range.nnet", nnet_with(7, "1,0,1,1,1,"), "input range 0",
        "range of input 2 is 0.000000, expected a positive number")
    add("negative_range.nnet", nnet_with(7, "1,1,-1,1,1,"), "input range -1",
        "range of input 3 is -1")
    add("semicolons.nnet", nnet_with(1, "2;4;2;4;"), "semicolon separators",
        "value 1 '2;4;2;4;' is not a number")
    add("binary.nnet", b"7" + bytes((i * 91 + 3) % 256 for i in range(300)),
        "a digit, then binary noise", "\\x")
    add("trailing_layer.nnet", nnet_bytes(good + ["1,2,", "3,"]),
        "extra lines after the last bias", "line 19: unexpected data after the biases")


# ---- qrepair JSON --------------------------------------------------------------------------------

def float_network():
    return {"name": "mlp4", "input_shape": [4, 1, 1], "layers": [
        {"name": "fc1", "type": "dense", "weights": [float(v) for v in W1.flatten()],
         "bias": [float(v) for v in B1]},
        {"name": "relu1", "type": "relu"},
        {"name": "fc2", "type": "dense", "weights": [float(v) for v in W2.flatten()],
         "bias": [float(v) for v in B2]}]}


def float_model():
    return {"format": "qrepair-model", "version": 1, "kind": "float", "network": float_network(),
            "provenance": {"created_by": "make_malformed_corpus.py"}}


def quantized_model():
    """What `qrepair quantize companions/mlp4.onnx --config q4.json --data data4.csv` writes."""
    code_in = {"bits": 8, "scale": 0.027450980392156862, "signed": False}
    code_hidden = {"bits": 8, "scale": 0.01754901923385321, "signed": False}
    code_out = {"bits": 32, "scale": 0.0025070027476933156, "signed": True}
    layer = {"granularity": "per-tensor", "type": "dense", "weight_bits": 4,
             "weight_scales": [0.14285714285714285]}
    fc1 = dict(layer, name="fc1", activation="relu", bias_q=[26, -51, 13], input=code_in,
               output=code_hidden, input_shape=[4, 1, 1], output_shape=[3, 1, 1],
               weights_q=[4, -2, 1, 7, -7, 4, 2, 5, 2, 1, -1, 3])
    fc2 = dict(layer, name="fc2", activation="none", bias_q=[0, 40], input=code_hidden,
               output=code_out, input_shape=[3, 1, 1], output_shape=[2, 1, 1],
               weights_q=[7, -7, 4, -4, 2, 7])
    model = float_model()
    model["kind"] = "quantized"
    model["quantized"] = {"config": {"activations": {"bits": 8}, "weights": {
        "bits": 4, "granularity": "per-tensor", "scale": "max-abs"}},
        "float_activations": False, "input": code_in, "layers": [fc1, fc2]}
    return model


def mutate(model, path, value):
    """A deep copy of `model` with the value at `path` (a list of keys) set, or deleted when
    value is DELETE."""
    out = copy.deepcopy(model)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


DELETE = object()


def dump(obj):
    return json.dumps(obj, indent=1, allow_nan=True).encode()


def fixed_point_model():
    """A hand-written fixed-point network on the 4 features of data4.csv (README "Fixed-point
    models"): 4 -> 3 (ReLU) -> 2, 4-bit weights with 2 fraction bits, round half up."""
    return {"format": "qrepair-model", "version": 1, "kind": "fixed-point", "fixed_point": {
        "input_shape": [4], "input": {"bits": 8, "fraction_bits": 4, "signed": False},
        "rounding": "half-up",
        "layers": [
            {"name": "fc1", "type": "dense", "weight_bits": 4, "weight_fraction_bits": 2,
             "weights": [[4, -2, 1, 7], [-7, 4, 2, 5], [2, 1, -1, 3]], "bias": [16, -32, 0],
             "activation": "relu", "output": {"bits": 6, "fraction_bits": 3, "signed": False}},
            {"name": "fc2", "type": "dense", "weight_bits": 4, "weight_fraction_bits": 2,
             "weights": [[7, -7, 4], [-4, 2, 7]], "bias": [0, 8], "activation": "none",
             "output": {"bits": 8, "fraction_bits": 3, "signed": True}}]}}


FPMODEL = "companions/fixed_point.json"


def fixed_point_cases(c):
    c.companion(FPMODEL, dump(fixed_point_model()), "model-json", "fixed-point 4-3-2, valid",
                control=eval_quantized(FPMODEL))
    fp = fixed_point_model()
    F = ["fixed_point", "layers"]

    def add(name, obj, problem, expect):
        c.add("fixed_point/" + name, dump(obj), "model-json", problem, expect,
              argv=eval_quantized)

    add("weight_out_of_range.json", mutate(fp, F + [0, "weights", 1, 2], 8), "4-bit weight 8",
        "$.fixed_point.layers[0].weights[1][2]: value 8 out of range -8..7")
    add("weights_count.json", mutate(fp, F + [1, "weights"], [[1, 2], [3, 4]]),
        "2x2 weights for 2 units x 3 inputs", "expected 2 units x 3 inputs")
    add("shift_too_far.json", mutate(fp, F + [0, "output", "fraction_bits"], -30),
        "output fraction bits giving a shift of 36", "$.fixed_point.layers[0].output.fraction_bits")
    add("unsigned_logits.json", mutate(fp, F + [1, "output", "signed"], False),
        "unsigned logits", "the logits' code is signed")
    add("unknown_key.json", mutate(fp, F + [0, "scale"], 0.5), "a 'scale' key",
        "$.fixed_point.layers[0].scale: unknown key")
    add("rounding_unknown.json", mutate(fp, ["fixed_point", "rounding"], "up"), "rounding 'up'",
        "$.fixed_point.rounding: expected")
    add("input_shape_missing.json", mutate(fp, ["fixed_point", "input_shape"], DELETE),
        "no input_shape", "missing key \"input_shape\"")
    add("input_shape_mismatch.json", mutate(fp, ["fixed_point", "input_shape"], [5]),
        "input_shape 5 for fc1's 4-input weights", "expected 3 units x 5 inputs")
    add("bias_fraction.json", mutate(fp, F + [0, "bias", 0], 1.5), "bias 1.5",
        "$.fixed_point.layers[0].bias[0]: expected an integer")
    add("layer_type_unknown.json", mutate(fp, F + [0, "type"], "softmax"), "layer type softmax",
        "$.fixed_point.layers[0].type: expected")


def json_model_cases(c):
    c.companion(FMODEL, dump(float_model()), "model-json", "float mlp4, valid",
                control=eval_model(FMODEL))
    c.companion(QMODEL, dump(quantized_model()), "model-json", "quantized mlp4, valid",
                control=eval_quantized(QMODEL))

    def add(name, obj_or_bytes, problem, expect, command=eval_model):
        data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else dump(obj_or_bytes)
        c.add("model_json/" + name, data, "model-json", problem, expect, argv=command)

    fm, qm = float_model(), quantized_model()
    L = ["network", "layers"]
    Q = ["quantized", "layers"]
    text = dump(fm)
    add("empty.json", b"", "empty file", "invalid JSON")
    add("truncated.json", text[: len(text) // 2], "cut in half", "invalid JSON")
    add("nan_literal.json", text.replace(b"0.125", b"NaN"), "a NaN literal in fc1's weights",
        "invalid JSON")
    add("number_overflow.json", text.replace(b"0.125", b"1e999"), "1e999 in fc1's weights",
        "1e999")
    add("top_level_array.json", b"[" + text + b"]", "the model inside an array",
        "expected a JSON object")
    add("wrong_format.json", mutate(fm, ["format"], "onnx"), "format 'onnx'",
        "$.format: expected \"qrepair-model\"")
    add("version_2.json", mutate(fm, ["version"], 2), "version 2, newer than the reader",
        "$.version: format version 2 is newer")
    add("version_0.json", mutate(fm, ["version"], 0), "version 0", "$.version: value 0 out of range")
    add("version_string.json", mutate(fm, ["version"], "1"), "version as a string",
        "$.version: expected an integer")
    add("version_missing.json", mutate(fm, ["version"], DELETE), "no version",
        "missing key \"version\"")
    add("kind_unknown.json", mutate(fm, ["kind"], "int8"), "kind 'int8'",
        "$.kind: expected \"float\", \"quantized\" or \"fixed-point\"")
    add("network_missing.json", mutate(fm, ["network"], DELETE), "no network",
        "missing key \"network\"")
    add("layers_missing.json", mutate(fm, ["network", "layers"], DELETE), "no layers",
        "missing key \"layers\"")
    add("layers_empty.json", mutate(fm, L, []), "no layers", "the network has no layers")
    add("layers_object.json", mutate(fm, L, {}), "layers as an object",
        "$.network.layers: expected an array")
    add("layer_type_unknown.json", mutate(fm, L + [1, "type"], "softmax"), "layer type softmax",
        "$.network.layers[1].type: unknown layer type 'softmax'")
    add("layer_name_missing.json", mutate(fm, L + [0, "name"], DELETE), "a layer without name",
        "missing key \"name\"")
    add("weights_string.json", mutate(fm, L + [0, "weights", 3], "1.0"), "a weight as a string",
        "$.network.layers[0].weights[3]: expected a number")
    add("weights_null.json", mutate(fm, L + [0, "weights"], None), "weights null",
        "$.network.layers[0].weights: expected an array")
    add("weights_dont_chain.json", mutate(fm, L + [2, "weights"], [0.5] * 8),
        "fc2 has 8 weights, 2x3 expected", "weight has 8 values, expected 2x3")
    add("bias_missing.json", mutate(fm, L + [0, "bias"], DELETE), "fc1 without bias",
        "missing key \"bias\"")
    add("input_shape_zero.json", mutate(fm, ["network", "input_shape"], [0, 1, 1]),
        "input shape 0x1x1", "dimension out of range")
    add("input_shape_negative.json", mutate(fm, ["network", "input_shape"], [4, -1, 1]),
        "input shape 4x-1x1", "dimension out of range")
    add("input_shape_huge.json", mutate(fm, ["network", "input_shape"], [65536, 65536, 65536]),
        "input shape 2^48 elements", "input shape")
    add("input_shape_rank2.json", mutate(fm, ["network", "input_shape"], [4, 1]),
        "input shape of two numbers", "expected [channels, height, width]")
    add("input_shape_int64_max.json", text.replace(b'"input_shape": [\n   4,',
                                                   b'"input_shape": [\n   9223372036854775807,'),
        "a dimension of 2^63-1", "dimension out of range")
    conv = {"name": "conv1", "type": "conv2d", "weights": [0.1] * 18, "bias": [0, 0],
            "kernel": [3, 3], "stride": [1, 1], "pads": [0, 0, 0, 0]}
    conv_net = mutate(fm, ["network", "input_shape"], [1, 4, 4])
    conv_net["network"]["layers"] = [conv, {"name": "flat", "type": "flatten"},
                                     {"name": "fc", "type": "dense", "weights": [0.1] * 16,
                                      "bias": [0, 0]}]
    add("conv_stride_zero.json", mutate(conv_net, L + [0, "stride"], [0, 1]), "stride 0",
        "kernel and stride must be positive")
    add("conv_kernel_too_big.json", mutate(conv_net, L + [0, "kernel"], [9, 9]),
        "kernel 9x9 with 18 weights", "conv1")
    add("conv_negative_pad.json", mutate(conv_net, L + [0, "pads"], [0, -1, 0, 0]),
        "padding -1", "padding >= 0")
    add("conv_kernel_int_overflow.json", mutate(conv_net, L + [0, "kernel"], [2 ** 31, 1]),
        "kernel 2^31", "integer out of range")
    pool = {"name": "pool", "type": "max_pool", "kernel": [2, 2], "stride": [2, 2],
            "pads": [2, 0, 0, 0]}
    add("pool_pad_ge_kernel.json", mutate(conv_net, L + [1], pool), "max pool pad 2, kernel 2",
        "padding must be smaller than the kernel")
    norm = {"name": "norm", "type": "normalize", "offset": [0], "divisor": [1, 0, 1, 1]}
    add("normalize_divisor_zero.json", mutate(fm, L, [norm] + fm["network"]["layers"]),
        "normalization divisor 0", "division by zero")
    add("leaky_relu_no_alpha.json", mutate(fm, L + [1], {"name": "lr", "type": "leaky_relu"}),
        "leaky ReLU without alpha", "missing key \"alpha\"")

    # quantized
    def addq(name, obj, problem, expect):
        add(name, obj, problem, expect, command=eval_quantized)

    addq("q_missing_quantized.json", mutate(qm, ["quantized"], DELETE), "kind quantized, no "
         "quantized object", "missing key \"quantized\"")
    addq("q_weight_out_of_range.json", mutate(qm, Q + [0, "weights_q", 3], 8),
         "4-bit weight 8", "$.quantized.layers[0].weights_q[3]: value 8 outside the 4-bit range")
    addq("q_weight_below_range.json", mutate(qm, Q + [1, "weights_q", 0], -9),
         "4-bit weight -9", "value -9 outside the 4-bit range")
    addq("q_weight_fraction.json", mutate(qm, Q + [0, "weights_q", 0], 1.5), "weight 1.5",
         "weights_q[0]: expected an integer")
    addq("q_weight_int64.json", mutate(qm, Q + [0, "weights_q", 0], 2 ** 40), "weight 2^40",
         "weights_q[0]: integer out of range")
    addq("q_weights_count.json", mutate(qm, Q + [0, "weights_q"], [1] * 11),
         "11 weights for 3x4", "weight has 11 values, expected 3x4")
    addq("q_weight_bits_1.json", mutate(qm, Q + [0, "weight_bits"], 1), "weight_bits 1",
         "weight_bits: value 1 out of range 2..16")
    addq("q_weight_bits_17.json", mutate(qm, Q + [1, "weight_bits"], 17), "weight_bits 17",
         "weight_bits: value 17 out of range 2..16")
    addq("q_scale_negative.json", mutate(qm, Q + [0, "weight_scales"], [-0.1]),
         "negative weight scale", "expected positive scales")
    addq("q_scale_nan_string.json", mutate(qm, Q + [0, "weight_scales"], ["NaN"]),
         "weight scale \"NaN\"", "expected a number")
    addq("q_scales_per_channel_count.json", mutate(qm, Q + [0, "granularity"], "per-channel"),
         "per-channel with one scale for 3 units", "has 1 values, expected 3")
    addq("q_granularity.json", mutate(qm, Q + [0, "granularity"], "per-row"),
         "granularity per-row", "expected \"per-tensor\" or \"per-channel\"")
    addq("q_bias_int32.json", mutate(qm, Q + [0, "bias_q", 0], 2 ** 31), "bias 2^31",
         "bias outside the int32 range")
    addq("q_input_shape_chain.json", mutate(qm, Q + [1, "input_shape"], [4, 1, 1]),
         "fc2 input 4x1x1 after fc1's 3x1x1", "is 4x1x1, expected 3x1x1 from the previous layer")
    addq("q_output_shape.json", mutate(qm, Q + [1, "output_shape"], [3, 1, 1]),
         "fc2 output 3x1x1 for 2 units", "is 3x1x1, expected 2x1x1")
    addq("q_code_bits_40.json", mutate(qm, Q + [0, "output", "bits"], 40), "activation bits 40",
         "bits: value 40 out of range 2..32")
    addq("q_code_scale_zero.json", mutate(qm, Q + [0, "input", "scale"], 0), "input scale 0",
         "expected a positive scale")
    addq("q_code_signed_string.json", mutate(qm, ["quantized", "input", "signed"], "no"),
         "signed as a string", "$.quantized.input.signed: expected true or false")
    addq("q_float_activations_string.json", mutate(qm, ["quantized", "float_activations"], "no"),
         "float_activations as a string", "expected true or false")
    addq("q_layers_empty.json", mutate(qm, Q, []), "no quantized layers",
         "expected a non-empty array")
    addq("q_activation_unknown.json", mutate(qm, Q + [0, "activation"], "gelu"),
         "activation gelu", "expected \"none\", \"relu\" or \"leaky_relu\"")
    addq("q_config_bits.json", mutate(qm, ["quantized", "config", "weights", "bits"], 99),
         "embedded config with 99-bit weights", "bit width 99 out of range")
    addq("q_requant_huge.json", mutate(qm, Q + [0, "output", "scale"], 1e-300),
         "output scale 1e-300: requantization multiplier beyond 2^31", "multiplier")
    def normalized(offset, divisor):
        return mutate(mutate(qm, ["quantized", "input_offset"], offset),
                      ["quantized", "input_divisor"], divisor)

    addq("q_input_offset_count.json", normalized([0, 1], [1, 1]),
         "input normalization with 2 values for 4 inputs",
         "$.quantized.input_offset: has 2 values, expected 1 or 4")
    addq("q_input_divisor_zero.json", normalized([0], [0]), "input normalization divisor 0",
         "$.quantized.input_divisor[0]: expected a non-zero divisor")
    addq("q_code_unsigned_32.json",
         mutate(qm, ["quantized", "input"], {"bits": 32, "scale": 1e-9, "signed": False}),
         "an unsigned 32-bit input code (beyond int32)",
         "$.quantized.input.bits: an unsigned code has at most 31 bits")
    def with_input(model, code):  # the network's and the first layer's input code
        return mutate(mutate(model, Q + [0, "input"], code), ["quantized", "input"], code)

    huge_in = with_input(qm, {"bits": 8, "scale": 1e300, "signed": False})
    addq("q_multiplier_inf.json", mutate(huge_in, Q + [0, "weight_scales"], [1e300]),
         "scales whose product overflows a double", "requantization multiplier >= 2^31")
    wide_in = mutate(with_input(qm, {"bits": 32, "scale": 1.0, "signed": True}),
                     Q + [0, "weight_scales"], [1.0])
    addq("q_requant_product_range.json", mutate(wide_in, Q + [0, "output", "scale"], 1e-9),
         "32-bit inputs times a multiplier of 1e9: products beyond 2^62",
         "$.quantized.layers[0]: accumulators (up to")
    leaky = mutate(qm, Q + [0, "activation"], "leaky_relu")
    addq("q_leaky_alpha_negative.json", mutate(leaky, Q + [0, "alpha"], -0.5),
         "leaky ReLU with alpha -0.5", "$.quantized.layers[0].alpha: expected alpha >= 0")
    add("leaky_relu_negative_alpha.json",
        mutate(fm, L + [1], {"name": "lr", "type": "leaky_relu", "alpha": -0.5}),
        "quantizing a leaky ReLU with alpha -0.5", "negative alpha has no integer semantics",
        command=quantize_model)
    addq("q_outputs_mismatch.json", mutate(qm, Q, qm["quantized"]["layers"][:1]),
         "a quantized network of fc1 only: 3 outputs against the float network's 2",
         "the quantized network has 3 outputs, the float network 2")
    hidden = qm["quantized"]["layers"][0]["output"]
    addq("q_code_chain.json", mutate(qm, Q + [1, "input"], dict(hidden, scale=0.02)),
         "fc2's input scale differs from fc1's output scale",
         "$.quantized.layers[1].input: differs from the code the previous layer")
    addq("q_sigmoid_layer.json", mutate(qm, Q + [1], {
        "name": "sig", "type": "sigmoid", "input_shape": [3, 1, 1], "output_shape": [3, 1, 1],
        "input": hidden, "output": hidden}),
         "a quantized sigmoid layer", "has no integer semantics")
