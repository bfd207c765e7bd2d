#!/usr/bin/env python3
"""Formats the reports written by bench/repair_anchors.sh as the Markdown table of
docs/benchmarks.md (holdout accuracy / holdout agreement with float, in %)."""
import glob
import json
import os
import sys

out = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(out, "*.report.json"))):
    name = os.path.basename(path)[: -len(".report.json")]
    tag, strategy = name.rsplit(".", 1)
    rows.setdefault(tag, {})[strategy] = json.load(open(path))


def cell(stage):
    h = stage["holdout"]
    return f"{100 * h['accuracy']:.2f} / {100 * h['agreement']:.2f}"


print("| network, weights | float | round-to-nearest | qnnrepair strategy | init gptq-float (--augment) | qrepair (init + SMT) "
      "| SMT stage: repair-set fixed / broken | neurons, weights changed | solver sat/unsat/unknown | seconds |")
print("|---|---|---|---|---|---|---|---|---|---|")
for tag, r in rows.items():
    d = r.get("default")
    q = r.get("qnnrepair")
    ref = d or q
    flt = 100 * ref["before"]["holdout"]["float_accuracy"]
    s = d["solver"] if d else {}
    print(f"| {tag} | {flt:.2f} | {cell(ref['before'])} | {cell(q['after']) if q else '-'} | "
          f"{cell(d['init']) + ' (' + str(d['options'].get('augment', 'none')) + ')' if d else '-'} | {cell(d['after']) if d else '-'} | "
          f"{d['smt_stage']['samples_fixed']} / {d['smt_stage']['samples_broken'] if d else '-'} | "
          f"{d['neurons_repaired']}, {d['weights_changed']} | {s.get('sat')}/{s.get('unsat')}/{s.get('unknown')} | "
          f"{d['seconds']:.0f} |" if d else f"| {tag} | - |")
