#!/usr/bin/env bash
# The Kubernetes jobs `probe plan --k8s` writes, validated against the Job schema:
#
#   scripts/k8s-check.sh
#
# Writes the jobs of configs/sweep.toml into a temp folder and validates each with
# kubernetes-validate (the Kubernetes OpenAPI schemas, offline; installed into the project's
# virtual environment when missing), strictly (unknown fields fail), for an old and a current
# Kubernetes. A broken copy must fail, so the check is known to look.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="${PROBE_VENV:-${HOME:-/tmp}/.cache/sparsity-probe-venv}"
cargo build --release --locked --quiet --bin probe
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import kubernetes_validate" 2>/dev/null; then
  "$venv/bin/pip" install --quiet kubernetes-validate
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp configs/sweep.toml "$tmp/"
(cd "$tmp" && "$target/release/probe" plan sweep.toml --k8s --quiet 2>/dev/null)
files=("$tmp"/runs/sweep/jobs/k8s/*.yaml)
[[ ${#files[@]} -eq 4 ]] || { echo "k8s-check: expected 4 job files, got ${files[*]}" >&2; exit 1; }
for version in 1.27.0 1.37.0; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${files[@]}"
done
# Broken two ways: a count that is not a number, and a misspelt field.
sed 's/completions: \([0-9]*\)/completions: many/' "${files[2]}" > "$tmp/broken-type.yaml"
sed 's/parallelism:/paralelism:/' "${files[2]}" > "$tmp/broken-field.yaml"
for broken in "$tmp"/broken-*.yaml; do
  if "$venv/bin/kubernetes-validate" --strict --quiet "$broken" >/dev/null 2>&1; then
    echo "k8s-check: $(basename "$broken") passed validation; the check is not looking" >&2
    exit 1
  fi
done
echo "k8s-check: ${#files[@]} Jobs valid against the batch/v1 Job schema of Kubernetes 1.27 and 1.37 (strict); broken ones fail" >&2
