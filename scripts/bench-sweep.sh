#!/usr/bin/env bash
# The sweep of configs/sweep.toml (3 checkpoints x 3 layers, 3 forests each), timed whole in one
# process and then in shards: every stage split over N local processes run side by side, then
# merged. Prints both wall times, their ratio, and checks the alphas are the same bit for bit.
#
#   scripts/bench-sweep.sh [N]      # N: processes per stage (default: the number of cores)
#   RAYON_NUM_THREADS=1 scripts/bench-sweep.sh 2   # one core per process, as one node each
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --release --locked --quiet --bin probe
probe="$target/release/probe"
n="${1:-$(nproc)}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/whole" "$tmp/shards"
cp configs/sweep.toml "$tmp/whole/"
cp configs/sweep.toml "$tmp/shards/"
now() { date +%s.%N; }

start=$(now)
(cd "$tmp/whole" && "$probe" run sweep.toml --quiet >/dev/null)
whole=$(echo "$(now) - $start" | bc)

cd "$tmp/shards"
start=$(now)
"$probe" run sweep.toml --stage train --quiet >/dev/null
trained=$(now)
for stage in extract alpha; do
  for ((i = 0; i < n; i++)); do
    "$probe" run sweep.toml --stage "$stage" --shard "$i/$n" --quiet >/dev/null &
  done
  wait
done
"$probe" merge runs/sweep --quiet
sharded=$(echo "$(now) - $start" | bc)
after_training=$(echo "$(now) - $trained" | bc)

python3 - "$tmp/whole/runs/sweep/results.json" "$tmp/shards/runs/sweep/results.json" <<'PY'
import json, sys
def alphas(p):
    return [(c["checkpoint"], l["layer"], l["alpha"].hex()) for c in json.load(open(p))["checkpoints"] for l in c["layers"]]
a, b = alphas(sys.argv[1]), alphas(sys.argv[2])
assert a == b, (a, b)
print(f"{len(a)} alphas, the same bit for bit")
PY
printf 'one process:           %6.2f s\n' "$whole"
printf '%d processes per stage: %6.2f s (training %.2f s, then extract + alpha + merge %.2f s)\n' \
  "$n" "$sharded" "$(echo "$sharded - $after_training" | bc)" "$after_training"
printf 'ratio (one / sharded):  %6.2fx on %d cores\n' "$(echo "$whole / $sharded" | bc -l)" "$(nproc)"
