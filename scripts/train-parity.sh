#!/usr/bin/env bash
# The training recipe of probe-train against PyTorch's, probed the same way
# (scripts/train_parity.py): mean alpha per layer over 3 seeds and validation accuracy, for
# the MNIST MLP and small CNN. Installs PyTorch and safetensors into the Python package's
# environment (scripts/python-build.sh). Extra arguments go to the Python script
# (--seeds N, --epochs N, --models mlp,cnn, --init kaiming-normal).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
scripts/python-build.sh safetensors
cargo build --release --quiet -p probe-cli
exec "$venv/bin/python" scripts/train_parity.py "$@"
