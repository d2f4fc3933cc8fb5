#!/usr/bin/env bash
# A sharded sweep through a real one-node Slurm cluster on this machine:
#
#   scripts/slurm-check.sh
#
# Installs Debian's slurm-wlm and munge when missing (as root), starts munged, slurmctld and
# slurmd with a config in a temp folder, writes the jobs of a 3-checkpoint x 3-layer sweep with
# `probe plan --slurm`, submits them with their submit.sh, waits, and checks that results.json
# holds the same alphas, bit for bit, as an unsharded `probe run` of the same config. Prints a
# loud SKIPPED line (and succeeds) only when the packages cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --release --locked --quiet --bin probe
probe="$target/release/probe"

if ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]]; then
    timeout 900 sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge' >/dev/null 2>&1 || true
  fi
fi
if ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  echo "SKIPPED (loudly): slurm-wlm and munge are not installed and could not be (apt-get install slurm-wlm munge, as root); the Slurm jobs were not run" >&2
  exit 0
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for f in "$tmp"/slurmctld.pid "$tmp"/slurmd.pid; do
    [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 1
  rm -rf "$tmp"
}
trap cleanup EXIT

# munge: our own daemon on our own socket, with a fresh key.
mkdir -p "$tmp/munge"
chmod 700 "$tmp/munge"
dd if=/dev/urandom bs=1 count=1024 of="$tmp/munge/munge.key" 2>/dev/null
chmod 400 "$tmp/munge/munge.key"
socket="$tmp/munge/munge.socket"
munged --force --key-file="$tmp/munge/munge.key" --socket="$socket" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" \
  --seed-file="$tmp/munge/munged.seed"
pids+=("$(cat "$tmp/munge/munged.pid")")

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
mkdir -p "$tmp/state" "$tmp/spool"
cat > "$tmp/slurm.conf" <<CONF
ClusterName=probecheck
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=probe Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)'; then break; fi
  sleep 1
done
if ! sinfo -h -o '%T' | grep -qE '^(idle|mixed)'; then
  echo "slurm-check: the one-node cluster did not come up:" >&2
  sinfo >&2 || true
  tail -20 "$tmp/slurmctld.log" "$tmp/slurmd.log" >&2 || true
  exit 1
fi

# The sweep: the test suite's, with tasks of one core so that two run side by side.
config='name = "sweep"
layers = ["input", "relu1", "relu2"]
batch_size = 1000
[model]
env = "synthetic"
checkpoints = "runs/sweep/checkpoint/epoch-*.safetensors"
[train]
epochs = 3
save_every = 1
seed = 0
[dataset]
limit = 1500
[probe]
trees = 4
depth = 12
repeats = 2
[cluster]
shards = 4
cpus = 1
mem = "1G"
time = "00:10:00"'
mkdir -p "$tmp/cluster" "$tmp/local"
printf '%s\n' "$config" > "$tmp/cluster/sweep.toml"
printf '%s\n' "$config" > "$tmp/local/sweep.toml"
start=$SECONDS
(cd "$tmp/cluster" && "$probe" plan sweep.toml --slurm --quiet && runs/sweep/jobs/submit.sh)
for _ in $(seq 600); do
  [[ -z $(squeue -h 2>/dev/null) ]] && break
  sleep 1
done
if [[ -n $(squeue -h) ]]; then
  echo "slurm-check: jobs still queued after 600 s:" >&2
  squeue >&2
  exit 1
fi
echo "slurm-check: the sweep's array jobs finished in $((SECONDS - start)) s" >&2
if [[ ! -f $tmp/cluster/runs/sweep/results.json ]]; then
  echo "slurm-check: the jobs wrote no results.json; their logs:" >&2
  tail -n 20 "$tmp"/cluster/runs/sweep/jobs/logs/*.out >&2 || true
  tail -n 20 "$tmp/slurmctld.log" >&2 || true
  exit 1
fi
(cd "$tmp/local" && "$probe" run sweep.toml --quiet >/dev/null)
python3 - "$tmp/cluster/runs/sweep/results.json" "$tmp/local/runs/sweep/results.json" <<'PY'
import json, sys
def alphas(path):
    r = json.load(open(path))
    return [(c["checkpoint"], l["layer"], l["alpha"].hex(),
             [a.hex() for a in l.get("alphas_by_repeat", [])])
            for c in r["checkpoints"] for l in c["layers"]]
cluster, local = alphas(sys.argv[1]), alphas(sys.argv[2])
assert len(cluster) == 9, cluster
assert cluster == local, (cluster, local)
print(f"slurm-check: {len(cluster)} alphas (3 checkpoints x 3 layers) from Slurm equal the unsharded run's bit for bit")
PY
