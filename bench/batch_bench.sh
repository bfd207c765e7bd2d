#!/usr/bin/env bash
# Acceptance benchmark of `qrepair batch` (issue 6), not a test. On the three mnistfc networks and
# Convnet_maxpool (4-bit per-tensor weights, 8-bit activations, MNIST 0:5000 repair / 5000:10000
# holdout, time_limit 60 per job) it measures, in one run:
#   1. --jobs 1 (one job after another) against --jobs 2: wall times and their ratio (<= 0.6);
#   2. --shard 1/2 and --shard 2/2 (run at the same time, as two machines would) merged with
#      batch-merge against the unsharded summary;
#   3. kill -9 halfway through a --jobs 2 run, then --resume: finished jobs are not redone, every
#      output parses and matches the sha256 its job.json recorded, no temporary file is left.
# Usage: bench/batch_bench.sh [OUT_DIR]   (env: QREPAIR=path/to/qrepair, QREPAIR_SHARED_DATA,
#        TIME_LIMIT=60, KILL_AFTER=seconds into the killed run, default 1.25 x TIME_LIMIT,
#        INIT=rtn|gptq|gptq-float to set the jobs' --init; default: the repair command's,
#        WORK_LIMIT=M to give every job a deterministic budget of M million Z3 resource units;
#        then set TIME_LIMIT well above the time the jobs need, so that only the work ends them
#        and the shards' merged summary can equal the unsharded one byte for byte)
# The jobs' time limit bounds the search, not the initial rounding: with --init gptq-float, the
# GPTQ pass over Convnet_maxpool's convolution is CPU-bound work before the limit applies, so on
# a machine shared with other work its duration follows the CPU share it gets.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
qrepair=${QREPAIR:-$repo/build/qrepair}
data=${QREPAIR_SHARED_DATA:-$repo/../shared/data}
out=$(mkdir -p "${1:-$repo/out/batch_bench}" && cd "${1:-$repo/out/batch_bench}" && pwd)
time_limit=${TIME_LIMIT:-60}
init_option=${INIT:+\"init\": \"$INIT\",}
work_option=${WORK_LIMIT:+\"work_limit\": $WORK_LIMIT,}
kill_after=${KILL_AFTER:-$(python3 -c "print(round(1.25 * $time_limit))")}
[ -x "$qrepair" ] || { echo "no qrepair at $qrepair (set QREPAIR)" >&2; exit 2; }
[ -d "$data/networks" ] || { echo "no networks in $data (set QREPAIR_SHARED_DATA)" >&2; exit 2; }

rm -rf "${out:?}"/{seq,par,s1,s2,merged,killed}
cat > "$out/q4.json" <<'EOF'
{"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": {"bits": 8}}
EOF
cat > "$out/manifest.json" <<EOF
{
  "defaults": {
    "config": "q4.json",
    "data": "$data/mnist/t10k-images-idx3-ubyte.gz",
    "labels": "$data/mnist/t10k-labels-idx1-ubyte.gz",
    "input_scale": 0.00392156862745098,
    "repair_range": "0:5000",
    "holdout_range": "5000:10000", $init_option $work_option
    "time_limit": $time_limit
  },
  "jobs": [
    {"name": "mnist-net_256x2", "model": "$data/networks/mnistfc/mnist-net_256x2.onnx"},
    {"name": "mnist-net_256x4", "model": "$data/networks/mnistfc/mnist-net_256x4.onnx"},
    {"name": "mnist-net_256x6", "model": "$data/networks/mnistfc/mnist-net_256x6.onnx"},
    {"name": "Convnet_maxpool", "model": "$data/networks/cnn/Convnet_maxpool.onnx"}
  ]
}
EOF
cd "$out"
log() { echo "== $*" >&2; }
now() { date +%s.%N; }
# Exit codes 0 (all finished), 6 (a gate) and 7 (a job failed) still leave a summary to compare.
batch() { "$qrepair" -q batch manifest.json "$@" > /dev/null || { rc=$?; [ $rc -eq 7 ] || [ $rc -eq 6 ]; }; }
load() { cut -d' ' -f1 /proc/loadavg; }
# `batch` measured: CPU seconds (user + system) of the batch and every process it waited for
# (job processes, solver processes) go to $1.cpu.
timed_batch() {
  /usr/bin/time -f "%U %S" -o "$1.cpu" "$qrepair" -q batch manifest.json "${@:2}" > /dev/null ||
    { rc=$?; [ $rc -eq 7 ] || [ $rc -eq 6 ]; }
}

log "1. sequential (--jobs 1) and parallel (--jobs 2); each job is single-threaded"
load0=$(load)
t0=$(now); timed_batch seq --out-dir seq --jobs 1; t1=$(now)
load1=$(load)
timed_batch par --out-dir par --jobs 2; t2=$(now)
load2=$(load)
seq_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
par_s=$(python3 -c "print(f'{$t2 - $t1:.1f}')")
ratio=$(python3 -c "print(f'{($t2 - $t1) / ($t1 - $t0):.3f}')")
seq_cpu=$(awk '{printf "%.1f", $1 + $2}' seq.cpu)
par_cpu=$(awk '{printf "%.1f", $1 + $2}' par.cpu)

log "2. --shard 1/2 and --shard 2/2 at the same time, merged, against the unsharded run"
batch --out-dir s1 --shard 1/2 --jobs 1 & p1=$!
batch --out-dir s2 --shard 2/2 --jobs 1 & p2=$!
wait $p1; wait $p2
"$qrepair" -q batch-merge s1 s2 --out-dir merged > /dev/null || { rc=$?; [ $rc -eq 7 ] || [ $rc -eq 6 ]; }

log "3. --jobs 2 killed with SIGKILL after ${kill_after} s, then --resume"
"$qrepair" -q batch manifest.json --out-dir killed --jobs 2 > /dev/null 2>&1 & victim=$!
sleep "$kill_after"
kill -9 "$victim" 2> /dev/null || true
wait "$victim" 2> /dev/null || true
find killed -name job.json -newer manifest.json -printf '%P %T@\n' | sort > killed_before.txt
t3=$(now); batch --out-dir killed --jobs 2 --resume; t4=$(now)
resume_s=$(python3 -c "print(f'{$t4 - $t3:.1f}')")

python3 - "$seq_s" "$par_s" "$ratio" "$resume_s" "$seq_cpu" "$par_cpu" "$load0" "$load1" "$load2" \
    "$(nproc)" <<'EOF'
import hashlib, json, os, sys
seq_s, par_s, ratio, resume_s, seq_cpu, par_cpu, load0, load1, load2, cores = sys.argv[1:11]

def summary(d):
    return json.load(open(os.path.join(d, "summary.json")))

def strip(entries, keys=("seconds", "resumed")):
    return [{k: v for k, v in e.items() if k not in keys} for e in entries]

init = json.load(open("manifest.json"))["defaults"].get("init", "the repair command's default")
lines = ["# qrepair batch benchmark", "", f"Jobs' --init: {init}.", "",
         "| measure | value |", "|---|---|",
         f"| 4 jobs one after another (--jobs 1), wall s | {seq_s} |",
         f"| 4 jobs, 2 at once (--jobs 2), wall s | {par_s} |",
         f"| ratio (must be <= 0.6) | {ratio} |",
         f"| CPU s (user + system, all processes): --jobs 1 / --jobs 2 | {seq_cpu} / {par_cpu} |",
         f"| load average (1 min) before / between / after, on {cores} cores | {load0} / {load1} / {load2} |"]
full, merged = summary("par"), summary("merged")
names = lambda s: [e["name"] for e in s]
same_jobs = names(full) == names(merged) and len(set(names(merged))) == len(merged)
identical = strip(full) == strip(merged)
same_before = [e["before"] for e in full] == [e["before"] for e in merged]
lines += [f"| shards 1/2 + 2/2 merged: same jobs, each once | {same_jobs} |",
          f"| ... identical summary (timings aside) | {identical} |",
          f"| ... identical 'before' figures | {same_before} |"]

# Kill and resume: jobs finished before the kill must not have been touched by the resume.
before = dict(l.split() for l in open("killed_before.txt") if l.strip())
meta = json.load(open("killed/batch.json"))
untouched = all(abs(os.stat(os.path.join("killed", p)).st_mtime - float(t)) < 1e-3 for p, t in before.items())
problems = []
for e in summary("killed"):
    d = os.path.join("killed", e["name"])
    rec = json.load(open(os.path.join(d, "job.json")))
    for f, sha in rec["outputs"].items():
        b = open(os.path.join(d, f), "rb").read()
        if hashlib.sha256(b).hexdigest() != sha: problems.append(f"{d}/{f}: sha256 differs")
        if f.endswith(".json"): json.loads(b)
for root, _, files in os.walk("killed"):
    problems += [os.path.join(root, f) for f in files if ".tmp." in f]
lines += [f"| killed run: jobs finished before the kill | {len(before)} |",
          f"| resume: jobs run / taken from the killed run | {meta['jobs_run']} / {meta['jobs_resumed']} |",
          f"| resume: finished jobs' job.json untouched | {untouched} |",
          f"| resume wall s | {resume_s} |",
          f"| half-written or mismatching files after resume | {len(problems)} {problems[:3]} |", ""]

lines += ["## Per job (--jobs 2 run; holdout %, agreement with float %)", "",
          "| job | status | float | before acc / agree | after acc / agree | weights | s |",
          "|---|---|---:|---:|---:|---:|---:|"]
for e in full:
    b, a = e["before"]["holdout"], e["after"]["holdout"]
    lines.append(f"| {e['name']} | {e['status']} | {100*a['float_accuracy']:.2f} | "
                 f"{100*b['accuracy']:.2f} / {100*b['agreement']:.2f} | {100*a['accuracy']:.2f} / "
                 f"{100*a['agreement']:.2f} | {e['weights_changed']} | {e['seconds']:.1f} |")
if not identical:
    lines += ["", "## Where the merged shards differ from the unsharded run", ""]
    for x, y in zip(strip(full), strip(merged)):
        if x != y:
            lines.append(f"- {x['name']}: unsharded {x['status']} after {x['after']['holdout']}, "
                         f"sharded {y['status']} after {y['after']['holdout']}")
open("results.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
