#!/usr/bin/env bash
# Installs onnxruntime-node (ONNX Runtime's CPU library, from npm) into tests/ort for the ONNX
# export tests and bench/ort_agreement.sh. Idempotent: does nothing when it is already there.
# ONNXRUNTIME_NODE_INSTALL=skip keeps the package's install script from fetching GPU binaries.
set -euo pipefail
cd "$(dirname "$0")/../tests/ort"
if node -e "require('onnxruntime-node')" >/dev/null 2>&1; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-ort.sh: npm not found (Debian's nodejs package ships it)" >&2
  exit 1
fi
echo "installing onnxruntime-node into tests/ort" >&2
if [ -f package-lock.json ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2
else
  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >&2
fi
node -e "require('onnxruntime-node')"
