#!/usr/bin/python3
"""Writes a corpus of malformed input files for every format qrepair reads, and a manifest.

Usage: make_malformed_corpus.py OUTPUT_DIR

Formats: ONNX, NNet, qrepair JSON models, quantization configs, batch manifests, IDX (plain and
gzip), CSV, NumPy, labels files and VNN-LIB properties. Every case names the command line (`argv`, paths relative to
OUTPUT_DIR, run from there) that feeds its file to a real subcommand, next to small valid
companion files; the command must exit with code 3 (bad input) and print a message that names the
file and contains `expect_message`. Cases with "requires": "batch" need the batch subcommand.
"controls" are command lines on the valid companions alone that must exit 0, so a case fails
for its one defect and not because a companion is broken. The data-set cases need only the
standard library; the model cases need numpy and onnx (Debian's python3-numpy, python3-onnx).
"""

import gzip
import json
import os
import struct
import sys

BAD_INPUT = 3
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Data-set cases run through `eval` with the ONNX companion (see corpus_models.py).
EVAL_WITH_DATA = ["eval", "companions/mlp4.onnx", "--config", "companions/q4.json", "--data"]


class Corpus:
    def __init__(self, root):
        self.root = root
        self.cases = []
        self.companions = []
        self.controls = []

    def source_path(self, relative):
        return os.path.join(REPO, relative)

    def symlink(self, name, target):
        path = os.path.join(self.root, name)
        if os.path.lexists(path):
            os.remove(path)
        os.symlink(target, path)

    def write(self, name, data):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(data)
        return name

    def add(self, name, data, fmt, problem, expect, role="data", companion=None, argv=None,
            requires=None):
        """`argv`: the command line after `qrepair` (a list, or a function of the file name);
        by default the data or labels flag of `eval`."""
        if any(case["file"] == name for case in self.cases):
            raise SystemExit("duplicate case name: " + name)
        if argv is None:
            argv = EVAL_WITH_DATA + ([name] if role == "data" else [companion, "--labels", name])
        elif callable(argv):
            argv = argv(name)
        if name not in argv:
            raise SystemExit("case %s: its command line does not name the file" % name)
        case = {"file": self.write(name, data), "format": fmt, "role": role,
                "problem": problem, "expect_exit": BAD_INPUT, "expect_message": expect,
                "argv": argv}
        if companion is not None:
            case["data"] = companion
        if requires is not None:
            case["requires"] = requires
        self.cases.append(case)

    def companion(self, name, data, fmt, what, control=None, requires=None):
        self.companions.append({"file": self.write(name, data), "format": fmt, "what": what})
        if control is not None:
            entry = {"argv": control, "expect_exit": 0}
            if requires is not None:
                entry["requires"] = requires
            self.controls.append(entry)
        return name


# ---- encoders ----------------------------------------------------------------------------------

def idx_header(type_code, dims):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


def idx_u8(dims, values):
    return idx_header(0x08, dims) + bytes(values)


def gz(data):
    return gzip.compress(data, mtime=0)


def npy_raw(major, header, data, minor=0):
    prefix = 10 if major == 1 else 12
    text = header.encode("latin1")
    text += b" " * ((64 - (prefix + len(text) + 1) % 64) % 64) + b"\n"
    length = struct.pack("<H", len(text)) if major == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([major, minor]) + length + text + data


def npy(descr, shape, data, major=1, fortran=False):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape)
    return npy_raw(major, header, data)


def f32le(values):
    return struct.pack("<%df" % len(values), *values)


def f64le(values):
    return struct.pack("<%dd" % len(values), *values)


# ---- cases ---------------------------------------------------------------------------------------

def idx_cases(c):
    four = bytes([1, 2, 3, 4])
    c.add("idx/empty.idx", b"", "idx", "empty file", "empty file")
    c.add("idx/one_byte.idx", b"\x00", "idx", "one byte, shorter than the magic", "truncated")
    c.add("idx/two_bytes-idx3-ubyte", b"\x00\x00", "idx", "only half the magic", "truncated")
    c.add("idx/bad_magic.idx", b"\x01\x02\x08\x02" + struct.pack(">II", 2, 2) + four, "idx",
          "magic does not start with 00 00", "expected the IDX magic")
    c.add("idx/type_0a.idx", idx_header(0x0A, [2, 2]) + four, "idx", "unknown data type 0x0a",
          "unknown IDX data type")
    c.add("idx/type_07.idx", idx_header(0x07, [2, 2]) + four, "idx", "unknown data type 0x07",
          "unknown IDX data type")
    c.add("idx/zero_dims.idx", idx_header(0x08, []) + four, "idx", "header with 0 dimensions",
          "0 dimensions")
    c.add("idx/zero_rows.idx", idx_header(0x08, [0, 4]), "idx", "row count 0", "is 0")
    c.add("idx/zero_inner_dim.idx", idx_header(0x08, [2, 0]) + four, "idx",
          "inner dimension 0", "dimension 1 is 0")
    c.add("idx/truncated_header.idx", idx_header(0x08, [2, 2, 2])[:11], "idx",
          "header cut inside the dimension sizes", "truncated")
    c.add("idx/truncated_data_one_byte.idx", idx_u8([2, 2], [1, 2, 3]), "idx",
          "data one byte shorter than 2x2", "truncated: expected 4 bytes of data")
    c.add("idx/truncated_data_half.idx", idx_header(0x08, [100, 28, 28]) + bytes(39200), "idx",
          "only half of 100x28x28", "truncated: expected 78400 bytes of data")
    c.add("idx/trailing_one_byte.idx", idx_u8([2, 2], [1, 2, 3, 4, 5]), "idx",
          "one byte of data beyond the header's size", "trailing data")
    c.add("idx/trailing_garbage.idx", idx_u8([2, 2], [1, 2, 3, 4]) + b"garbage" * 100, "idx",
          "700 bytes of garbage after the data", "trailing data")
    c.add("idx/claims_1e12_elements.idx", idx_header(0x08, [10000, 10000, 10000]) + four, "idx",
          "header claims 10^12 elements", "at most 2147483648")
    c.add("idx/claims_over_cap.idx", idx_header(0x08, [1000000, 1000000]) + four, "idx",
          "header claims 10^12 elements in 2 dimensions", "at most 2147483648")
    c.add("idx/claims_2e9_elements.idx", idx_header(0x08, [1000000000, 2]) + four, "idx",
          "header claims 2*10^9 bytes (under the cap), file has 4", "truncated")
    c.add("idx/dim_ffffffff.idx", idx_header(0x08, [0xFFFFFFFF, 2]) + four, "idx",
          "dimension 0xffffffff (negative as int32)", "at most 2147483648")
    c.add("idx/one_dim_as_data.idx", idx_u8([4], [1, 2, 3, 4]), "idx",
          "a 1-D (labels) IDX file given as data", "labels file")
    c.add("idx/float32_nan.idx", idx_header(0x0D, [2, 2]) + struct.pack(">4f", 1, 2, float("nan"), 4),
          "idx", "float32 data with NaN in row 1", "row 1")
    c.add("idx/float32_inf.idx", idx_header(0x0D, [2, 2]) + struct.pack(">4f", float("inf"), 2, 3, 4),
          "idx", "float32 data with +Inf in row 0", "row 0")
    c.add("idx/float64_neg_inf.idx",
          idx_header(0x0E, [3, 1]) + struct.pack(">3d", 1, 2, float("-inf")), "idx",
          "float64 data with -Inf in row 2", "row 2")
    c.add("idx/float64_overflows_float.idx", idx_header(0x0E, [1, 2]) + struct.pack(">2d", 1, 1e300),
          "idx", "float64 value 1e300 that overflows float32", "not finite after scaling")
    c.add("idx/int16_odd_bytes.idx", idx_header(0x0B, [2, 2]) + bytes(7), "idx",
          "int16 data with an odd byte count (7 of 8)", "truncated")
    c.add("idx/255_dims_truncated.idx", bytes([0, 0, 8, 255]) + struct.pack(">I", 1) * 10, "idx",
          "header announces 255 dimensions, file holds 10", "truncated")


def idx_gz_cases(c):
    pixels = bytes((i * 7919) % 251 for i in range(20 * 1000))
    good = gz(idx_header(0x08, [20, 1000]) + pixels)
    c.add("idx_gz/claims_1e9.idx3-ubyte.gz", gz(idx_header(0x08, [1000000000, 1]) + b"abc"),
          "idx.gz", "gzip IDX claiming 10^9 bytes, holding 3", "file ends after 3")
    c.add("idx_gz/claims_over_cap.idx3-ubyte.gz", gz(idx_header(0x08, [100000, 100000]) + b"abc"),
          "idx.gz", "gzip IDX claiming 10^10 elements", "at most 2147483648")
    c.add("idx_gz/truncated_data.idx3-ubyte.gz", gz(idx_u8([10, 10], range(99))), "idx.gz",
          "gzip IDX with 99 of 100 data bytes", "truncated: expected 100 bytes of data")
    c.add("idx_gz/trailing.idx3-ubyte.gz", gz(idx_u8([2, 2], range(4)) + b"extra"), "idx.gz",
          "gzip IDX with 5 bytes after the data", "trailing data")
    corrupt = bytearray(good)
    for i in range(len(corrupt) // 2, len(corrupt) // 2 + 16):
        corrupt[i] ^= 0x5A
    c.add("idx_gz/corrupt_deflate.idx3-ubyte.gz", bytes(corrupt), "idx.gz",
          "16 flipped bytes in the middle of the deflate stream", "compressed byte")
    c.add("idx_gz/cut_stream.idx3-ubyte.gz", good[: len(good) // 2], "idx.gz",
          "compressed stream cut in half", "gzip")
    c.add("idx_gz/bad_crc.idx3-ubyte.gz", good[:-8] + b"\x01" * 8, "idx.gz",
          "gzip trailer (CRC32, size) overwritten", "corrupt gzip data")
    c.add("idx_gz/empty_member.idx3-ubyte.gz", gz(b""), "idx.gz",
          "valid gzip that decompresses to nothing", "empty file")
    c.add("idx_gz/magic_only.idx3-ubyte.gz", b"\x1f\x8b", "idx.gz",
          "just the two gzip magic bytes", "gzip")
    c.add("idx_gz/bad_inner_magic.idx3-ubyte.gz", gz(b"\x00\x00\x42\x02" + bytes(16)), "idx.gz",
          "gzip holding an IDX header with unknown type 0x42", "unknown IDX data type")
    c.add("idx_gz/float32_nan.idx3-ubyte.gz",
          gz(idx_header(0x0D, [2, 1]) + struct.pack(">2f", 0, float("nan"))), "idx.gz",
          "gzip float32 IDX with NaN in row 1", "row 1")


def csv_cases(c):
    rows = "".join("%d,%d,%d,%d,%d,0\n" % (i, i, i, i, i) for i in range(15))
    c.add("csv/not_a_number.csv", ("a,b,c,d,e,label\n" + rows + "1,2,3,4,abc,0\n").encode(), "csv",
          "cell 'abc' on line 17, column 5", "line 17, column 5: expected a number, found 'abc'")
    c.add("csv/ragged_row.csv", b"1,2,0\n3,4,1\n5,6,7,1\n", "csv", "line 3 has 4 columns, not 3",
          "line 3: found 4 columns")
    c.add("csv/short_row.csv", b"1,2,0\n3,1\n", "csv", "line 2 has 2 columns, not 3",
          "line 2: found 2 columns")
    c.add("csv/empty_cell.csv", b"1,2,0\n1,,0\n", "csv", "empty cell on line 2",
          "line 2, column 2: expected a number, found ''")
    c.add("csv/nan_value.csv", b"1,2,0\nnan,2,1\n", "csv", "NaN feature on line 2",
          "line 2, column 1")
    c.add("csv/inf_value.csv", b"1,inf,0\n", "csv", "Inf feature on line 1", "line 1, column 2")
    c.add("csv/negative_label.csv", b"1,2,0\n1,2,-1\n", "csv", "label -1 on line 2",
          "line 2, column 3: expected a label")
    c.add("csv/fractional_label.csv", b"1,2,0.5\n", "csv", "label 0.5", "line 1, column 3")
    c.add("csv/huge_label.csv", b"1,2,1e12\n", "csv", "label 10^12 beyond int", "line 1, column 3")
    c.add("csv/header_only.csv", b"x0,x1,label\n", "csv", "a header and no rows", "no data rows")
    c.add("csv/empty.csv", b"", "csv", "empty file", "empty file")
    c.add("csv/blank_lines_only.csv", b"\n\n  \n", "csv", "only blank lines", "no data rows")
    c.add("csv/one_column.csv", b"1\n2\n", "csv", "a label column and no features",
          "only one column")
    c.add("csv/control_bytes.csv", b"1,2,0\n\x01\x02,3,0\n", "csv", "control bytes on line 2",
          "line 2, column 1: expected a number")
    c.add("csv/quoted_numbers.csv", b'1,2,0\n"1","2",0\n', "csv", "quoted cells on line 2",
          "line 2, column 1")
    c.add("csv/semicolons.csv", b"1;2;0\n3;4;1\n", "csv",
          "semicolon separators (first line taken as a header, line 2 fails)", "line 2, column 1")
    c.add("csv/out_of_range_number.csv", b"1,2,0\n1e999,2,0\n", "csv",
          "1e999 does not fit a double", "line 2, column 1")
    c.add("csv/corrupt.csv.gz", gz(b"1,2,0\n" * 2000)[:-8] + b"\x00" * 8, "csv.gz",
          "gzip CSV with a broken trailer", "corrupt gzip data")


def npy_cases(c):
    f4 = f32le([1, 2, 3, 4])
    c.add("npy/bad_magic.npy", b"\x93NUMPZ" + bytes(100), "npy", "magic \\x93NUMPZ",
          "NumPy magic")
    c.add("npy/version_4.npy", b"\x93NUMPY\x04\x00" + bytes(100), "npy", "version 4.0",
          "version 4.0")
    c.add("npy/version_1_5.npy", npy_raw(1, "{'descr': '<f4', 'fortran_order': False, "
                                            "'shape': (2, 2), }", f4, minor=5),
          "npy", "version 1.5", "version 1.5")
    c.add("npy/big_endian.npy", npy(">f4", "(2, 2)", struct.pack(">4f", 1, 2, 3, 4)), "npy",
          "big-endian float32", "big-endian")
    c.add("npy/complex.npy", npy("<c8", "(2, 2)", f4 * 2), "npy", "complex64 dtype",
          "'descr' is '<c8'")
    c.add("npy/object.npy", npy("|O", "(2, 2)", f4 * 2), "npy", "object dtype", "'descr' is '|O'")
    c.add("npy/unicode.npy", npy("<U8", "(2, 2)", bytes(128)), "npy", "unicode string dtype",
          "'descr' is '<U8'")
    c.add("npy/structured.npy", npy_raw(1, "{'descr': [('a', '<f4')], 'fortran_order': False, "
                                           "'shape': (2, 2), }", f4),
          "npy", "structured dtype", "'descr' is not a string")
    c.add("npy/fortran_order.npy", npy("<f4", "(2, 2)", f4, fortran=True), "npy",
          "fortran_order True", "'fortran_order' is True")
    c.add("npy/scalar.npy", npy("<f4", "()", f32le([1])), "npy", "shape () (a scalar)",
          "a scalar")
    c.add("npy/zero_rows.npy", npy("<f4", "(0, 3)", b""), "npy", "shape (0, 3)",
          "dimension 0 = 0")
    c.add("npy/negative_dim.npy", npy("<f4", "(3, -1)", f4), "npy", "shape (3, -1)",
          "dimension 1 = -1")
    c.add("npy/claims_1e12.npy", npy("<f4", "(1000000, 1000000)", f4), "npy",
          "shape claims 10^12 elements", "at most 2147483648")
    c.add("npy/claims_1e8.npy", npy("<f4", "(100000000, 1)", f4, major=2), "npy",
          "shape claims 4*10^8 bytes (under the cap), file holds 16", "truncated")
    c.add("npy/truncated_data.npy", npy("<f8", "(2, 2)", f64le([1, 2, 3])), "npy",
          "float64 2x2 with 3 values", "truncated: expected 32 bytes of data")
    c.add("npy/trailing_data.npy", npy("<f4", "(2, 2)", f4 + b"xx"), "npy",
          "2 bytes after the data", "trailing data")
    c.add("npy/header_beyond_file.npy", b"\x93NUMPY\x01\x00\xff\x00{'descr'", "npy",
          "header length 255, file ends after 8 header bytes", "truncated")
    c.add("npy/header_too_long.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 10 ** 9) + b"{",
          "npy", "version 2 header length 10^9", "header length 1000000000")
    c.add("npy/missing_shape.npy", npy_raw(1, "{'descr': '<f4', 'fortran_order': False, }", f4),
          "npy", "no 'shape' key", "'shape' is missing")
    c.add("npy/extra_key.npy", npy_raw(1, "{'descr': '<f4', 'fortran_order': False, "
                                          "'shape': (2, 2), 'extra': 1, }", f4),
          "npy", "unknown key 'extra'", "unexpected header field 'extra'")
    c.add("npy/garbled_dict.npy", npy_raw(1, "{'descr' '<f4'", f4), "npy",
          "dict without ':'", "expected ':'")
    c.add("npy/shape_not_tuple.npy", npy_raw(1, "{'descr': '<f4', 'fortran_order': False, "
                                                "'shape': [2, 2], }", f4),
          "npy", "shape written as a list", "'shape' is not a tuple")
    c.add("npy/one_dim_as_data.npy", npy("<f4", "(4,)", f4), "npy",
          "1-D array (a labels file) given as data", "labels file")
    c.add("npy/float32_nan.npy", npy("<f4", "(2, 2)", f32le([1, 2, float("nan"), 4]), major=3),
          "npy", "v3 float32 with NaN in row 1", "row 1")
    c.add("npy/truncated_magic.npy", b"\x93NUM", "npy", "4 bytes of magic", "truncated")


def label_cases(c):
    data = c.companion("companions/data3-idx3-ubyte", idx_u8([3, 2, 2], range(12)), "idx",
                       "3 rows of 2x2 uint8, valid")
    labels = c.companion("companions/labels3-idx1-ubyte", idx_u8([3], [0, 1, 1]), "labels-idx",
                         "3 labels, valid")
    c.controls.append({"argv": EVAL_WITH_DATA + [data, "--labels", labels], "expect_exit": 0})

    def add(name, body, fmt, problem, expect):
        c.add(name, body, fmt, problem, expect, role="labels", companion=data)

    add("labels/count_mismatch-idx1-ubyte", idx_u8([2], [1, 2]), "labels-idx",
        "2 labels for 3 data rows", "2 labels, but")
    add("labels/negative-idx1", idx_header(0x09, [3]) + struct.pack(">3b", 1, -2, 3), "labels-idx",
        "int8 label -2", "label 1: expected a label")
    add("labels/out_of_classes-idx1-ubyte", idx_u8([3], [0, 42, 1]), "labels-idx",
        "label 42 for a network with fewer outputs", "row 1: label 42 is not a class")
    add("labels/trailing-idx1-ubyte", idx_u8([3], [1, 2, 3, 4]), "labels-idx",
        "one byte after the 3 labels", "trailing data")
    add("labels/truncated-idx1-ubyte", idx_u8([3], [1, 2]), "labels-idx",
        "2 of 3 label bytes", "truncated")
    add("labels/two_dims-idx2-ubyte", idx_u8([3, 2], range(6)), "labels-idx",
        "3x2 labels", "expected one dimension")
    add("labels/float_fraction-idx1", idx_header(0x0D, [3]) + struct.pack(">3f", 1, 2.5, 3),
        "labels-idx", "float label 2.5", "found 2.5")
    add("labels/fraction.npy", npy("<f4", "(3,)", f32le([1, 2.5, 3])), "labels-npy",
        "float label 2.5", "found 2.5")
    add("labels/negative.npy", npy("|i1", "(3,)", struct.pack("<3b", 0, -1, 2)), "labels-npy",
        "int8 label -1", "label 1")
    add("labels/matrix.npy", npy("<i4", "(3, 2)", struct.pack("<6i", *range(6))), "labels-npy",
        "labels of shape (3, 2)", "expected one dimension")
    add("labels/nan.npy", npy("<f8", "(3,)", f64le([0, float("nan"), 1])), "labels-npy",
        "NaN label", "label 1")
    add("labels/count_mismatch.npy", npy("<i8", "(4,)", struct.pack("<4q", 0, 1, 2, 3)),
        "labels-npy", "4 labels for 3 rows", "4 labels, but")
    add("labels/not_a_number.txt", b"1\nx\n2\n", "labels-txt", "'x' on line 2",
        "line 2, column 1: expected a number")
    add("labels/negative.txt", b"1\n-2\n3\n", "labels-txt", "label -2 on line 2",
        "line 2, column 1: expected a label")
    add("labels/two_columns.txt", b"1,2\n3,4\n5,6\n", "labels-txt", "two columns per line",
        "one integer label per line")
    add("labels/count_mismatch.txt", b"1\n2\n", "labels-txt", "2 labels for 3 rows",
        "2 labels, but")
    add("labels/corrupt-idx1-ubyte.gz", gz(idx_u8([3], [1, 2, 3]))[:-8] + b"\xff" * 8,
        "labels-idx.gz", "gzip labels with a broken trailer", "corrupt gzip data")


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    corpus = Corpus(argv[1])
    os.makedirs(os.path.join(argv[1], "out"), exist_ok=True)
    import corpus_configs  # pylint: disable=import-outside-toplevel
    import corpus_models  # pylint: disable=import-outside-toplevel
    import corpus_vnnlib  # pylint: disable=import-outside-toplevel
    corpus_models.onnx_cases(corpus)
    corpus_models.nnet_cases(corpus)
    corpus_models.json_model_cases(corpus)
    corpus_models.fixed_point_cases(corpus)
    corpus_configs.config_cases(corpus)
    corpus_configs.manifest_cases(corpus)
    idx_cases(corpus)
    idx_gz_cases(corpus)
    csv_cases(corpus)
    npy_cases(corpus)
    label_cases(corpus)
    corpus_vnnlib.vnnlib_cases(corpus)
    manifest = {"description": "malformed input files; running `qrepair ARGV` from this folder "
                               "must exit with expect_exit and print a message naming the file "
                               "and containing expect_message; controls must exit 0",
                "cases": corpus.cases, "companions": corpus.companions,
                "controls": corpus.controls}
    with open(os.path.join(argv[1], "manifest.json"), "w") as out:
        json.dump(manifest, out, indent=1)
        out.write("\n")
    print("%d malformed files in %s" % (len(corpus.cases), argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
