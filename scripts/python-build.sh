#!/usr/bin/env bash
# Builds the Python package's wheel (maturin, reusing the workspace's release build) and
# installs it into a virtual environment this script creates.
#
# PROBE_VENV: the environment (default ~/.cache/sparsity-probe-venv; created when missing,
# with numpy, pytest, maturin, pandas, torch, ruff and mypy from PyPI). Extra arguments are more packages
# to install there.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
# Idempotent: a warm environment checks and moves on in seconds. torch's Linux wheel pulls
# its CUDA libraries (about 3 GB) and does not import without them, so it is installed whole.
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "maturin>=1.9,<2" "pytest>=7" "numpy>=1.21" pandas torch \
  ruff mypy "$@"

# A feature difference only costs time (the wheel compiles those crates again): say so.
scripts/check-py-features.sh >/dev/null 2>&1 \
  || echo "note: the wheel's features differ from the workspace's (scripts/check-py-features.sh)" >&2
target="${CARGO_TARGET_DIR:-$PWD/target}"
wheels="$target/wheels"
rm -rf "$wheels"
(cd python && CARGO_TARGET_DIR="$target" "$venv/bin/maturin" build --release --locked --strip \
  -o "$wheels" --quiet)
wheel=$(ls "$wheels"/sparsity_probe-*.whl)
echo "wheel: $(basename "$wheel") ($(du -h "$wheel" | cut -f1))" >&2
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
