#!/usr/bin/env bash
# Extraction throughput of probe-extract on this machine: ResNet-18 on CIFAR-shaped inputs
# (generated CIFAR-10 binary batches, random weights) at the eight default probe layers, and
# the MNIST CNN on mnist-10k at seven layers; each as one pass over all layers against one
# pass per layer (what the original tool did). Then peak memory (max RSS) of extracting 2,000
# vs 8,000 MNIST samples, to show that streaming keeps memory flat.
# Usage: scripts/bench-extract.sh [RESNET_SAMPLES]   (default 512)
set -euo pipefail
cd "$(dirname "$0")/.."
n_resnet="${1:-512}"
shared="${PROBE_SHARED:-../shared}"
mnist="$shared/data/mnist-10k"
[[ -d $mnist ]] || { echo "error: $mnist not found; set PROBE_SHARED to the shared folder" >&2; exit 1; }
cargo build --release --quiet -p probe-cli --bin probe-extract
bin=target/release/probe-extract
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# CIFAR-shaped data: 5 training batches and a test batch of random records.
python3 - "$work/cifar" <<'PY'
import os, sys, random
d = sys.argv[1]; os.makedirs(d)
rng = random.Random(0)
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    with open(os.path.join(d, name), "wb") as f:
        for _ in range(200):
            f.write(bytes([rng.randrange(10)]) + rng.randbytes(3072))
PY

config() { # name env arch data limit layers...
  local name=$1 env=$2 arch=$3 data=$4 limit=$5; shift 5
  local layers; layers=$(printf '"%s", ' "$@")
  printf 'layers = [%s]\nbatch_size = 128\nout = "%s"\n[model]\nenv = "%s"\narch = "%s"\nweights = "random"\n[dataset]\ndata = "%s"\nlimit = %s\n' \
    "${layers%, }" "$work/out-$name" "$env" "$arch" "$data" "$limit" > "$work/$name.toml"
  echo "$work/$name.toml"
}
seconds() { local s; s=$(date +%s.%N); "$@" > /dev/null; echo "$(date +%s.%N) - $s" | bc; }

compare() { # label env arch data limit layers...
  local label=$1 env=$2 arch=$3 data=$4 limit=$5; shift 5
  local all; all=$(config all "$env" "$arch" "$data" "$limit" "$@")
  local t_all; t_all=$(seconds $bin --config "$all" --quiet --force)
  local t_each=0 i=0
  for layer in "$@"; do
    local one; one=$(config "one-$i" "$env" "$arch" "$data" "$limit" "$layer")
    t_each=$(echo "$t_each + $(seconds $bin --config "$one" --quiet --force)" | bc)
    i=$((i + 1))
  done
  printf '%-34s %d layers   one pass: %6.1f s (%5.0f samples/s)   a pass per layer: %6.1f s   ratio %.1fx\n' \
    "$label ($limit samples)" "$#" "$t_all" "$(echo "$limit / $t_all" | bc -l)" "$t_each" "$(echo "$t_each / $t_all" | bc -l)"
}

echo "machine: $(nproc) cores, CPU; wall time of whole probe-extract processes"
compare "ResNet-18, CIFAR-shaped" cifar10 resnet18 "$work/cifar" "$n_resnet" \
  input layer1.0.conv1 layer1.0.conv2 layer2.0.conv1 layer2.0.conv2 layer3.0.conv1 layer3.0.conv2 avgpool
compare "MNIST CNN" mnist cnn "$mnist" 8000 input conv1 pool1 conv2 pool2 fc1 relu3

for limit in 2000 8000; do
  cfg=$(config "mem-$limit" mnist cnn "$mnist" "$limit" input conv1 pool1 conv2 pool2 fc1 relu3)
  rss=$( { /usr/bin/time -f '%M' $bin --config "$cfg" --quiet --force > /dev/null; } 2>&1 | tail -1 )
  out=$(du -sm "$work/out-mem-$limit/features" | cut -f1)
  printf 'MNIST CNN, 7 layers, %5d samples: peak RSS %5.0f MiB, %4d MB of features written\n' \
    "$limit" "$(echo "$rss / 1024" | bc -l)" "$out"
done
