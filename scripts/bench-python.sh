#!/usr/bin/env bash
# sparsity_probe.alpha against the reference (scikit-learn) on the same arrays, in one
# process (scripts/bench_python.py). Builds and installs the wheel first
# (scripts/python-build.sh), with scikit-learn and safetensors for the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
scripts/python-build.sh scikit-learn safetensors
cargo build --release --quiet -p probe-cli --bin probe-alpha
exec "$venv/bin/python" scripts/bench_python.py "$@"
