#!/usr/bin/env bash
# Installs the Debian packages qrepair needs; idempotent (installs only what is missing).
set -euo pipefail
pkgs=(build-essential cmake pkg-config git libz3-dev libeigen3-dev libcli11-dev nlohmann-json3-dev
      libspdlog-dev libgtest-dev libgmp-dev libonnx-dev libprotobuf-dev protobuf-compiler zlib1g-dev
      python3 python3-numpy python3-torch python3-onnx dataset-fashion-mnist librsvg2-bin
      nodejs clang libclang-rt-14-dev clang-tidy llvm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
