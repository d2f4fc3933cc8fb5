#!/usr/bin/env bash
# Times probe-alpha against the reference implementation (numpy + scikit-learn) side by side:
# mnist-10k pixels (5 trees, depth 15), a generated 50,000 x 512 Gaussian mixture (5 trees,
# depth 20) and a generated 50,000 x 2,500 ReLU layer (depths 15 and 20). The tools take turns;
# prints wall-time and engine ratios (best runs, and turn by turn), both alphas and peak
# memory. Extra arguments go to scripts/bench_alpha.py (--repeat N, --only mnist|mixture|relu).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Python package's virtual environment (scripts/python-build.sh), never the system's.
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import numpy, sklearn, safetensors" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet numpy scikit-learn safetensors
fi
cargo build --release --quiet -p probe-cli --bin probe-alpha
exec "$venv/bin/python" scripts/bench_alpha.py "$@"
