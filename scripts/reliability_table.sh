#!/usr/bin/env bash
# Regenerates the reliability table: runs the malformed-input corpus and the kill -9 trials
# through the release build, reads the fuzzing record (docs/fuzzing.json, written from
# scripts/fuzz-smoke.sh runs), and rewrites the part of README.md (or, without a README,
# docs/reliability.md) between the reliability-table markers.
# Usage: scripts/reliability_table.sh [BUILD_DIR]   (default build-rel; QREPAIR_NO_BUILD=1 skips
# building it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-rel}
cd "$root"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if [ -z "${QREPAIR_NO_BUILD:-}" ]; then  # set it to use the build folder's binaries as they are
  nice -n 10 cmake --build "$build" -j 2 --target qrepair malformed_corpus_test fault_test >/dev/null
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
QREPAIR_CORPUS_RESULTS="$results/corpus.json" "$build/tests/malformed_corpus_test" \
  >"$results/corpus.log" 2>&1 || echo "malformed_corpus_test failed (see the table)" >&2
QREPAIR_FAULT_RESULTS="$results" "$build/tests/fault_test" \
  --gtest_filter='*KillNine*:*AtomicWrite*' >"$results/fault.log" 2>&1 ||
  echo "fault_test failed (see the table)" >&2

target=README.md
[ -f "$target" ] || target=docs/reliability.md
/usr/bin/python3 - "$results" "$target" docs/fuzzing.json <<'PY'
import collections, json, os, sys

results, target, fuzz_path = sys.argv[1:4]
lines = []
corpus_path = os.path.join(results, "corpus.json")
corpus = json.load(open(corpus_path)) if os.path.exists(corpus_path) else {"cases": []}
per = collections.OrderedDict()
for case in sorted(corpus["cases"], key=lambda c: c["format"]):
    fmt = case["format"].split(".")[0]  # idx.gz counts as idx, csv.gz as csv
    t = per.setdefault(fmt, collections.Counter())
    if case["outcome"] == "skipped":
        t["skipped"] += 1
        continue
    t["tried"] += 1
    t["crashes"] += case["crashed"]
    t["wrong_exit"] += case["wrong_exit"]
    t["unnamed"] += not case["names_file"]
    t["wrong_message"] += not case["message_matches"]
lines += ["Malformed inputs (`scripts/make_malformed_corpus.py`, run through the CLI by "
          "`tests/malformed_corpus_test.cc`; every one must exit with code 3 and name the file):",
          "",
          "| format | tried | crashes or hangs | wrong exit code | message missing the file name "
          "| message without the expected detail |",
          "|---|---:|---:|---:|---:|---:|"]
total = collections.Counter()
for fmt, t in per.items():
    tried = str(t["tried"]) + (" (+%d skipped: no batch command)" % t["skipped"]
                               if t["skipped"] else "")
    lines.append("| %s | %s | %d | %d | %d | %d |" % (fmt, tried, t["crashes"], t["wrong_exit"],
                                                    t["unnamed"], t["wrong_message"]))
    total.update(t)
lines.append("| **all** | **%d** | **%d** | **%d** | **%d** | **%d** |" % (
    total["tried"], total["crashes"], total["wrong_exit"], total["unnamed"],
    total["wrong_message"]))

fuzz = json.load(open(fuzz_path)) if os.path.exists(fuzz_path) else {"targets": []}
lines += ["", "Fuzzing (libFuzzer + ASan + UBSan, `scripts/fuzz-smoke.sh`; record in "
          "`docs/fuzzing.json`, findings in `docs/fuzzing.md`):", "",
          "| target | loader | seconds | executions | findings (all fixed) |",
          "|---|---|---:|---:|---:|"]
for t in fuzz["targets"]:
    lines.append("| fuzz_%s | %s | %d | %s | %d |" % (t["target"], t["loader"], t["seconds"],
                                                     format(t["executions"], ","), t["findings"]))

lines += ["", "Kill -9 at random moments (`tests/fault_test.cc`):", "",
          "| what was killed | trials | old file kept | complete new file | corrupted "
          "| temporary files left |", "|---|---:|---:|---:|---:|---:|"]
for name, what in (("kill_repair.json", "`qrepair repair` on models/tiny_mlp.onnx, -o existing"),
                   ("kill_writer.json", "WriteFileAtomic rewriting a 4 MiB file in a loop")):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        lines.append("| %s | not run | | | | |" % what)
        continue
    r = json.load(open(path))
    lines.append("| %s | %d | %s | %s | %d | %d |" % (
        what, r["trials"], r.get("kept_old", "-"), r.get("complete_new", "-"), r["corrupted"],
        r["leftover_temp_files"]))

begin, end = "<!-- reliability-table:begin -->", "<!-- reliability-table:end -->"
block = begin + "\n" + "\n".join(lines) + "\n" + end
text = open(target).read() if os.path.exists(target) else ""
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
elif "## Reliability" in text:  # right under the heading
    cut = text.index("\n", text.index("## Reliability")) + 1
    text = text[:cut] + "\n" + block + "\n" + text[cut:]
else:
    text = text.rstrip("\n") + ("\n\n" if text else "") + "## Reliability\n\n" + block + "\n"
os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
open(target, "w").write(text)
print("\n".join(lines))
print("\nwritten to " + target, file=sys.stderr)
PY
