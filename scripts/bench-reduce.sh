#!/usr/bin/env bash
# Times probe-reduce --method tsvd against scikit-learn's TruncatedSVD (randomized, n_iter=5)
# side by side on generated low-rank-plus-noise f32 matrices (20,000 x 4,096 to K = 256 and
# 50,000 x 2,048 to K = 512) and on the original tool's setting (a trained MNIST CNN's relu1,
# 10,000 x 25,088, to K = 2,500), printing wall-time ratios, explained-variance ratios and
# peak memory; then checks probe-alpha --reduce-to K against the reference on scikit-learn's
# reduction. Extra arguments go to scripts/bench_reduce.py (--repeat N, --quick, --skip-alpha,
# --skip-conv, --conv-only, --fidelity: the conv layer's alpha after ours, scikit-learn's and
# an exact SVD).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Python package's virtual environment (scripts/python-build.sh), never the system's.
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import numpy, sklearn, safetensors" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet numpy scikit-learn safetensors
fi
cargo build --release --quiet -p probe-cli --bin probe-reduce --bin probe-alpha --bin probe-train \
  --bin probe-extract
exec "$venv/bin/python" scripts/bench_reduce.py "$@"
