"""Malformed VNN-LIB properties for make_malformed_corpus.py: each goes to `qrepair verify` with
the quantized mlp4 companion (4 inputs, 2 outputs) and must be refused with exit code 3 and a
message naming the file, the line and the column."""

from corpus_models import QMODEL

HEAD = ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)\n"
        "(declare-const X_3 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n")
BOX = "".join("(assert (>= X_%d -1))\n(assert (<= X_%d 1))\n" % (i, i) for i in range(4))
# Lines 1..6 declare, 7..14 bound the inputs: a defect on line 15 is "vnnlib/NAME:15:COL".


def verify(name):
    return ["verify", QMODEL, "--property", name]


def vnnlib_cases(c):
    good = c.companion("companions/holds.vnnlib", (HEAD + BOX + "(assert (>= Y_0 1e30))\n").encode(),
                       "vnnlib", "an unreachable output on mlp4, valid")
    c.controls.append({"argv": verify(good), "expect_exit": 0})

    def add(name, text, problem, expect):
        c.add("vnnlib/" + name, text.encode(), "vnnlib", problem, expect, argv=verify)

    add("unclosed.vnnlib", HEAD + BOX + "(assert (<= Y_0 1)\n", "an unclosed parenthesis",
        ":15:1: this '(' is never closed")
    add("extra_close.vnnlib", HEAD + BOX + "(assert (<= Y_0 1)))\n", "an extra parenthesis",
        ":15:20: unexpected ')'")
    add("undeclared.vnnlib", HEAD + BOX + "(assert (<= Y_2 1))\n", "an undeclared output",
        ":15:13: 'Y_2' is not declared")
    add("sort.vnnlib", "(declare-const X_0 Int)\n", "an Int input", ":1:20: expected the sort Real")
    add("number.vnnlib", HEAD + BOX + "(assert (<= Y_0 0x1p3))\n", "a hexadecimal float",
        ":15:17: malformed number '0x1p3'")
    add("exponent.vnnlib", HEAD + BOX + "(assert (<= Y_0 1e-99999))\n", "a huge exponent",
        ":15:17: malformed number")
    add("nonlinear.vnnlib", HEAD + BOX + "(assert (<= (* Y_0 Y_1) 1))\n", "a product of outputs",
        ":15:20: a product of two variables is not linear")
    add("mixed.vnnlib", HEAD + BOX + "(assert (<= X_0 Y_0))\n", "an input against an output",
        ":15:9: mixes inputs and outputs")
    add("not_a_box.vnnlib", HEAD + BOX + "(assert (<= (+ X_0 X_1) 1))\n",
        "a linear combination of inputs", ":15:9: an input constraint must bound one input")
    add("unbounded.vnnlib", HEAD + "(assert (>= X_0 0))\n(assert (<= Y_0 1))\n",
        "inputs without bounds", ":1:16: input X_0 has no upper bound")
    add("strict.vnnlib", HEAD + BOX + "(assert (< Y_0 1))\n", "a strict comparison",
        ":15:10: expected (and ...), (or ...), (<= a b) or (>= a b), got '<'")
    add("check_sat.vnnlib", HEAD + BOX + "(check-sat)\n", "an SMT-LIB command",
        ":15:2: expected declare-const or assert")
    add("gap.vnnlib", "(declare-const X_0 Real)\n(declare-const X_2 Real)\n"
        "(declare-const Y_0 Real)\n(assert (<= Y_0 1))\n", "input indices with a gap",
        ":2:16: 'X_2' is declared but X_1 is not")
    add("empty_set.vnnlib", HEAD + BOX + "(assert (>= X_0 2))\n", "an empty input box",
        "the unsafe set is empty")
    add("no_assert.vnnlib", HEAD, "declarations only", "no (assert ...)")
    add("deep.vnnlib", HEAD + "(assert " + "(and " * 3000, "3000 nested parentheses",
        "nested deeper than 1000")
    add("binary.vnnlib", "\x00\x01\x02(", "binary bytes", ":1:4: this '(' is never closed")
    add("inputs_count.vnnlib", HEAD.replace("(declare-const Y_0", "(declare-const X_4 Real)\n"
        "(declare-const Y_0") + BOX + "(assert (>= X_4 0))\n(assert (<= X_4 1))\n"
        "(assert (<= Y_0 1))\n", "5 inputs for a 4-input network", "input")
