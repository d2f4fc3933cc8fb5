#!/usr/bin/env bash
# Lists the crates whose features differ between the workspace build (`cargo test
# --workspace`) and the Python wheel's (`maturin build`, which resolves crates/probe-py
# alone). Each difference makes the wheel compile those crates, and all that depends on them,
# a second time; crates/probe-py/Cargo.toml mirrors the workspace's features to avoid it.
set -euo pipefail
cd "$(dirname "$0")/.."
tree() { cargo tree "$@" -f '{p}|{f}' --prefix none 2>/dev/null | sed 's/ (\*)//' | sort -u; }
python3 - <(tree --workspace -e normal,build,dev) <(tree -p probe-py -e normal,build) <<'PY'
import sys

def load(path):
    features = {}
    for line in open(path):
        package, _, names = line.strip().partition("|")
        features.setdefault(package, set()).update(n for n in names.split(",") if n)
    return features

workspace, wheel = load(sys.argv[1]), load(sys.argv[2])
diff = [(p, sorted(workspace[p] - wheel[p]), sorted(wheel[p] - workspace[p]))
        for p in sorted(wheel) if p in workspace and workspace[p] != wheel[p]
        and not p.startswith("probe-")]
for p, ws, py in diff:
    print(f"{p}: workspace only {ws}, wheel only {py}")
print(f"{len(diff)} crates differ")
sys.exit(1 if diff else 0)
PY
