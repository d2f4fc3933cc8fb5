#!/usr/bin/env bash
# The report's UMAP and t-SNE against umap-learn and scikit-learn on the same MNIST points, in
# one session: wall time, trustworthiness and 5-NN accuracy in 2-D of both.
# Usage: scripts/bench-embedding.sh [POINTS]   (default 2500, at most 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import numpy, sklearn, safetensors, umap' 2>/dev/null ||
  python3 -m pip install -q numpy scikit-learn safetensors umap-learn
cargo build --release --quiet -p probe-cli --bin probe
python3 scripts/bench_embedding.py --points "${1:-2500}"
