#!/usr/bin/env bash
# Runs the Python package's pytest suite (python/tests) on a freshly built wheel:
#
#   scripts/python-test.sh [pytest args...]
#
# The wheel and its environment come from scripts/python-build.sh (PROBE_VENV). The suite
# also runs the command-line tools, so build them first (the README's test command does).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
scripts/python-build.sh
# Formatted, linted and type-checked (settings in python/pyproject.toml).
(cd python && "$venv/bin/ruff" format --check --quiet . && "$venv/bin/ruff" check --quiet . \
  && "$venv/bin/mypy" --cache-dir "${TMPDIR:-/tmp}/sparsity-probe-mypy" sparsity_probe)
target="${CARGO_TARGET_DIR:-$PWD/target}"
# From the tests' folder, so that they import the installed wheel, not the source tree.
cd python/tests
PROBE_BIN_DIR="$target/release" "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
