#!/usr/bin/env bash
# Training throughput of probe-train on this machine: the MNIST MLP and small CNN on
# mnist-10k (8,000 training samples, batch 32, Adam), and the synthetic MLP. Prints samples
# per second of the training steps, read from each run's metrics.jsonl.
# Usage: scripts/bench-train.sh [EPOCHS]   (default 2; the first epoch includes warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-2}"
shared="${PROBE_SHARED:-../shared}"
data="$shared/data/mnist-10k"
[[ -d $data ]] || { echo "error: $data not found; set PROBE_SHARED to the shared folder" >&2; exit 1; }
cargo build --release --quiet -p probe-cli --bin probe-train
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores; $epochs epoch(s) each; samples/s of the last epoch's training steps"
run() {
  local name=$1; shift
  target/release/probe-train "$@" --epochs "$epochs" --out "$work/$name" --quiet > /dev/null
  python3 - "$work/$name/metrics.jsonl" "$name" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
last = rows[-1]
print(f"{sys.argv[2]:<16} {last['samples_per_second']:>10.0f} samples/s   "
      f"epoch {last['seconds']:.1f} s   val acc {100 * last['val_accuracy']:.2f}%")
PY
}
run mnist-mlp --env mnist --model mlp --data "$data"
run mnist-cnn --env mnist --model cnn --data "$data"
run synthetic-mlp --env synthetic
