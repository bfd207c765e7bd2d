#!/usr/bin/env python3
"""Ranker benchmark of issue 3: holdout accuracy recovered by repairing the top-k neurons of each
neuron ranking, versus k. A measurement, not a test. Standard library only.

  ranking_vs_k.py run   --qrepair BIN --data-dir SHARED/data --out DIR [--time-limit 30] [--jobs 2]
                        [--phase 1|2|3]
  ranking_vs_k.py table --out DIR [--doc docs/ranking-benchmark.md]

Every run is one `qrepair repair` of a 4-bit per-tensor / 8-bit activation network, started from
round-to-nearest (--init rtn, so only the SMT stage changes anything), one round (--max-rounds 1)
of the top-k neurons (--neurons k) of one ranking (--rank-method), with a wall-clock budget of
--time-limit seconds for the whole job and one solver process (--jobs 1). Images 0..4999 are
repaired, 5000..9999 held out. The gain is after - before holdout accuracy in points.

Phase 1: k in {1, 4, 16} for every method. Phase 2: k in {2, 8, 32} for the three methods with the
largest mean phase-1 gain, and for random. Phase 3 (optional): k = 32 with a ten times larger
time limit for the best method and random (how far the ranking goes when time does not bind).

`repair` has no --seed, so its random ranking always uses seed 1. Seeds 2 and 3 of the control
run the same random ranking on a copy of the network whose hidden units are permuted (a
function-preserving relabelling, and per-tensor quantization is invariant under it): the same
seed then picks different neurons of the same network. The before-repair accuracy of those
copies must equal the original's; `table` checks it.

Runs whose report already exists are skipped, so an interrupted run can be resumed.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

NETS = ["256x4", "256x6"]
METHODS = ["tarantula", "ochiai", "dstar2", "dstar3", "jaccard", "euclid", "ample", "wong3",
           "gradient", "quant-error"]
RANDOM_SEEDS = [1, 2, 3]
K_PHASE1 = [1, 4, 16]
K_PHASE2 = [2, 8, 32]
K_ALL = sorted(K_PHASE1 + K_PHASE2)
QCONFIG = {"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": {"bits": 8}}
BEGIN = "<!-- BEGIN ranking_vs_k.py table -->"
END = "<!-- END ranking_vs_k.py table -->"


def mnist_args(data_dir):
    return ["--data", os.path.join(data_dir, "mnist", "t10k-images-idx3-ubyte.gz"),
            "--labels", os.path.join(data_dir, "mnist", "t10k-labels-idx1-ubyte.gz"),
            "--input-scale", "0.00392156862745098"]


def onnx_path(data_dir, net):
    return os.path.join(data_dir, "networks", "mnistfc", "mnist-net_%s.onnx" % net)


def run_name(net, method, k, seed, phase3=False):
    tag = "%s-%s-k%d" % (net, method, k)
    if method == "random":
        tag += "-s%d" % seed
    if phase3:
        tag += "-long"
    return tag


# ----------------------------------------------------------------------------------- permutation
def permuted_model(qrepair, data_dir, out, net, seed):
    """Float qrepair JSON of `net` with every hidden layer's units permuted by Random(seed)."""
    path = os.path.join(out, "models", "mnist-net_%s.perm%d.json" % (net, seed))
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    dump = os.path.join(out, "models", "mnist-net_%s.rtn.json" % net)
    if not os.path.exists(dump):
        subprocess.run([qrepair, "-q", "quantize", onnx_path(data_dir, net), "--config",
                        os.path.join(out, "q.json")] + mnist_args(data_dir)
                       + ["--range", "0:5000", "-o", dump], check=True)
    with open(dump) as f:
        model = json.load(f)
    network = model["network"]
    rng = random.Random(seed)
    dense = [l for l in network["layers"] if l["type"] == "dense"]
    prev = None  # permutation of the previous dense layer's units (None: identity, the input)
    for i, layer in enumerate(dense):
        n_out = len(layer["bias"])
        n_in = len(layer["weights"]) // n_out
        w = layer["weights"]
        perm = list(range(n_out))
        if i + 1 < len(dense):  # the logits keep their order
            rng.shuffle(perm)
        cols = prev if prev is not None else list(range(n_in))
        layer["weights"] = [w[perm[r] * n_in + cols[c]] for r in range(n_out) for c in range(n_in)]
        layer["bias"] = [layer["bias"][perm[r]] for r in range(n_out)]
        prev = perm
    floatmodel = {"format": model["format"], "version": model["version"], "kind": "float",
                  "network": network}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(floatmodel, f)
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------------------------ runs
def repair_command(qrepair, data_dir, out, model, method, k, time_limit, name):
    return ["nice", "-n", "10", qrepair, "-q", "repair", model, "--config", os.path.join(out, "q.json")] \
        + mnist_args(data_dir) \
        + ["--repair-range", "0:5000", "--holdout-range", "5000:10000", "--init", "rtn",
           "--rank-method", method, "--neurons", str(k), "--max-rounds", "1",
           "--time-limit", str(time_limit), "--jobs", "1",
           "-o", os.path.join(out, "nets", name + ".json"),
           "--report", os.path.join(out, "reports", name + ".json")]


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def execute(job, out, lock):
    name, cmd, meta, time_limit = job
    report = os.path.join(out, "reports", name + ".json")
    if os.path.exists(report):
        return
    load0 = loadavg()
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4 gives this run's own CPU time, including the solver processes qrepair reaped.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    wall = time.time() - start
    meta = dict(meta, exit=proc.returncode, wall=wall, cpu=usage.ru_utime + usage.ru_stime,
                load_start=load0, load_end=loadavg(), time_limit=time_limit, command=cmd)
    net_json = os.path.join(out, "nets", name + ".json")
    if os.path.exists(net_json):
        os.remove(net_json)  # only the report is kept (the networks are several MB each)
    with lock:
        with open(os.path.join(out, "runs.jsonl"), "a") as f:
            f.write(json.dumps(meta) + "\n")
        print("%-32s exit=%d wall=%5.1f s cpu=%5.1f s load=%.1f %s" %
              (name, proc.returncode, wall, meta["cpu"], load0, err.strip()[:200]), flush=True)


def results(out):
    """name -> dict(meta + report fields) for every finished run."""
    rows = {}
    path = os.path.join(out, "runs.jsonl")
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            meta = json.loads(line)
            rep = os.path.join(out, "reports", meta["name"] + ".json")
            if not os.path.exists(rep):
                continue
            with open(rep) as g:
                r = json.load(g)
            meta.update(
                before=r["before"]["holdout"]["accuracy"], after=r["after"]["holdout"]["accuracy"],
                before_agree=r["before"]["holdout"]["agreement"],
                after_agree=r["after"]["holdout"]["agreement"],
                fixed=r["smt_stage"]["samples_fixed"], broken=r["smt_stage"]["samples_broken"],
                neurons=r["neurons_repaired"], weights=r["weights_changed"], seconds=r["seconds"],
                status=r["status"], problems=r["solver"]["problems"])
            meta["gain"] = 100.0 * (meta["after"] - meta["before"])
            rows[meta["name"]] = meta
    return rows


def best_methods(rows, count=3):
    def mean_gain(m):
        g = [r["gain"] for r in rows.values() if r["method"] == m and r["k"] in K_PHASE1 and not r["long"]]
        return sum(g) / len(g) if g else float("-inf")
    return sorted(METHODS, key=mean_gain, reverse=True)[:count]


def cmd_run(a):
    out = os.path.abspath(a.out)
    for d in ("reports", "nets", "models"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    with open(os.path.join(out, "q.json"), "w") as f:
        json.dump(QCONFIG, f)
    jobs = []

    def add(net, method, k, seed, time_limit, long=False):
        name = run_name(net, method, k, seed, long)
        model = onnx_path(a.data_dir, net)
        if method == "random" and seed != 1:
            model = permuted_model(a.qrepair, a.data_dir, out, net, seed)
        cmd = repair_command(a.qrepair, a.data_dir, out, model, method, k, time_limit, name)
        meta = {"name": name, "net": net, "method": method, "k": k, "seed": seed, "long": long}
        jobs.append((name, cmd, meta, time_limit))

    if a.phase == 1:
        for net in NETS:
            for k in K_PHASE1:
                for m in METHODS:
                    add(net, m, k, 1, a.time_limit)
                for s in RANDOM_SEEDS:
                    add(net, "random", k, s, a.time_limit)
    elif a.phase == 2:
        chosen = best_methods(results(out))
        print("phase 2 methods:", chosen + ["random"], flush=True)
        for net in NETS:
            for k in K_PHASE2:
                for m in chosen:
                    add(net, m, k, 1, a.time_limit)
                for s in RANDOM_SEEDS:
                    add(net, "random", k, s, a.time_limit)
    else:
        chosen = best_methods(results(out), 1)
        for net in NETS:
            add(net, chosen[0], 32, 1, 10 * a.time_limit, True)
            add(net, "random", 32, 1, 10 * a.time_limit, True)
    # Longest first (large k), so that the two slots finish together.
    jobs.sort(key=lambda j: -j[2]["k"])
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for f in [pool.submit(execute, j, out, lock) for j in jobs]:
            f.result()


# ----------------------------------------------------------------------------------------- table
def fmt(x):
    return "%+.2f" % x


def cmd_table(a):
    rows = results(os.path.abspath(a.out))
    lines = []
    runs = [r for r in rows.values() if not r["long"]]
    if not runs:
        sys.exit("no finished runs in " + a.out)
    limits = sorted({r["time_limit"] for r in runs})
    lines.append("Holdout accuracy recovered (after - before, percentage points) by one round of "
                 "repairing the top-k neurons; `--init rtn`, `--time-limit %s` s per run, "
                 "`--jobs 1`. `random` is the mean of 3 seeds with [min, max]; "
                 "blank: not run (phase 2 covers only the 3 best methods of phase 1 and random)."
                 % "/".join("%g" % t for t in limits))
    lines.append("")
    checks = []
    for net in NETS:
        base = [r for r in runs if r["net"] == net]
        if not base:
            continue
        b = base[0]
        lines.append("**mnist-net_%s** (before: holdout accuracy %.2f %%, agreement with float %.2f %%)"
                     % (net, 100 * b["before"], 100 * b["before_agree"]))
        lines.append("")
        lines.append("| method | " + " | ".join("k=%d" % k for k in K_ALL) + " | mean k=1,4,16 |")
        lines.append("|---|" + "---:|" * (len(K_ALL) + 1))
        order = sorted(METHODS, key=lambda m: -sum(r["gain"] for r in base if r["method"] == m and r["k"] in K_PHASE1))
        for m in order + ["random"]:
            cells, p1 = [], []
            for k in K_ALL:
                rs = [r for r in base if r["method"] == m and r["k"] == k]
                if not rs:
                    cells.append("")
                    continue
                g = [r["gain"] for r in rs]
                mean = sum(g) / len(g)
                if k in K_PHASE1:
                    p1.append(mean)
                if len(g) == 1:
                    cells.append(fmt(mean))
                else:
                    cells.append("%s [%s, %s]" % (fmt(mean), fmt(min(g)), fmt(max(g))))
            name = "**random** (control)" if m == "random" else m
            lines.append("| %s | %s | %s |" % (name, " | ".join(cells),
                                                fmt(sum(p1) / len(p1)) if p1 else ""))
        lines.append("")
        for r in base:
            if abs(r["before"] - b["before"]) > 1e-12 or abs(r["before_agree"] - b["before_agree"]) > 1e-12:
                checks.append("%s: before-repair holdout %.4f / %.4f differs from %.4f / %.4f"
                              % (r["name"], r["before"], r["before_agree"], b["before"], b["before_agree"]))
    if checks:
        lines.append("**Check failed:** " + "; ".join(checks))
    else:
        lines.append("Check: every run of a network, the permuted copies of the random control included, "
                     "started from the same round-to-nearest holdout accuracy and agreement.")
    lines.append("")
    longs = [r for r in rows.values() if r["long"]]
    if longs:
        lines.append("Phase 3, with ten times the time (k = 32, `--time-limit %g`, random: seed 1 only):" % longs[0]["time_limit"])
        lines.append("")
        lines.append("| network | method | gain (points) | neurons repaired | SMT samples fixed | seconds | status |")
        lines.append("|---|---|---:|---:|---:|---:|---|")
        for r in sorted(longs, key=lambda r: (r["net"], r["method"])):
            lines.append("| %s | %s | %s | %d | %d | %.0f | %s |" % (r["net"], r["method"], fmt(r["gain"]),
                                                                  r["neurons"], r["fixed"], r["seconds"], r["status"]))
        lines.append("")
    lines.append("<details><summary>Every run</summary>")
    lines.append("")
    lines.append("| run | gain | agreement gain | neurons repaired | weights changed | SMT fixed | status "
                 "| wall s | CPU s | load at start |")
    lines.append("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    key = lambda r: (r["net"], r["long"], METHODS.index(r["method"]) if r["method"] in METHODS else 99, r["seed"], r["k"])
    for r in sorted(rows.values(), key=key):
        lines.append("| %s | %s | %s | %d | %d | %d | %s | %.1f | %.1f | %.1f |" % (
            r["name"], fmt(r["gain"]), fmt(100 * (r["after_agree"] - r["before_agree"])), r["neurons"],
            r["weights"], r["fixed"], r["status"], r["wall"], r["cpu"], r["load_start"]))
    lines.append("")
    lines.append("</details>")
    text = "\n".join(lines) + "\n"
    if a.doc:
        with open(a.doc) as f:
            doc = f.read()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pattern.search(doc):
            sys.exit("%s has no %s ... %s markers" % (a.doc, BEGIN, END))
        doc = pattern.sub(lambda _: BEGIN + "\n" + text + END, doc)
        with open(a.doc, "w") as f:
            f.write(doc)
    else:
        sys.stdout.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--qrepair", required=True)
    r.add_argument("--data-dir", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--time-limit", type=float, default=30)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--phase", type=int, choices=[1, 2, 3], default=1)
    t = sub.add_parser("table")
    t.add_argument("--out", required=True)
    t.add_argument("--doc")
    a = p.parse_args()
    if a.cmd == "run":
        a.qrepair = os.path.abspath(a.qrepair)
        a.data_dir = os.path.abspath(a.data_dir)
        cmd_run(a)
    else:
        cmd_table(a)


if __name__ == "__main__":
    main()
