#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as errors, runs
# every test (unit, smt, e2e; `slow` too unless QREPAIR_SKIP_SLOW=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ -x scripts/install-ort.sh ]; then scripts/install-ort.sh || echo "onnxruntime-node unavailable: ORT tests will skip" >&2; fi
scripts/build.sh -DQREPAIR_WERROR=ON
cd build
label_args=()
if [ "${QREPAIR_SKIP_SLOW:-0}" = 1 ]; then label_args=(-LE slow); fi
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" "${label_args[@]}"
