#!/usr/bin/env bash
# Our models against PyTorch side by side on this machine (scripts/bench_models.py): ResNet-18
# extraction, MLP and small-CNN training, with the ratio of throughputs. Installs PyTorch and
# torchvision into the Python package's environment; if that fails, says so and stops.
# Extra arguments go to the Python script (--images N, --epochs N, --only extract,mlp,cnn).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import torch, torchvision, numpy, safetensors" 2>/dev/null; then
  if ! "$venv/bin/python" -m pip install --quiet torch torchvision numpy safetensors; then
    echo "skipped: PyTorch could not be installed into $venv (no registry?)" >&2
    exit 0
  fi
fi
cargo build --release --quiet -p probe-cli --bin probe-extract --bin probe-train
exec "$venv/bin/python" scripts/bench_models.py "$@"
