#!/usr/bin/env bash
# ONNX models against onnxruntime and against the built-in ResNet-18 (see
# scripts/onnx_parity.py): builds probe-extract with the onnx feature (needs protoc) and runs
# the comparison in the project's virtual environment (torch, torchvision, onnx, onnxruntime,
# safetensors; installed when missing).
#
#   scripts/onnx-parity.sh [--n 512] [--repeat 3]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
cargo build --release --locked --quiet -p probe-cli --features onnx --bin probe-extract
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/python" -c "import torch, torchvision, onnx, onnxruntime, safetensors" 2>/dev/null \
  || "$venv/bin/pip" install --quiet torch torchvision onnx onnxruntime safetensors
"$venv/bin/python" scripts/onnx_parity.py --bin "$target/release" "$@"
