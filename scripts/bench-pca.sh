#!/usr/bin/env bash
# Our randomized PCA (probe-reduce) against linfa-reduction's PCA at layer sizes.
#
#   scripts/bench-pca.sh            # the three sizes below, each impl in its own process
#   TIMEOUT=300 scripts/bench-pca.sh
#
# Each run is one process of crates/probe-reduce/examples/pca_vs_linfa.rs under GNU time, so
# "peak MiB" is that process's peak RSS: the f32 input (n·d·4 bytes, column "input MiB") plus
# whatever the implementation allocates. "PCA s" is the fit + transform only. "EVR" is
# scikit-learn's explained_variance_ratio_.sum() over the K components. The ratio columns
# (ours/linfa) are on the ours row: below 1 means ours is faster / smaller.
set -euo pipefail
cd "$(dirname "$0")/.."

TIMEOUT=${TIMEOUT:-600}
# matrixmultiply (linfa's products, via ndarray) uses physical cores unless told; give it
# every core, as faer + rayon use for ours.
export MATMUL_NUM_THREADS=${MATMUL_NUM_THREADS:-$(nproc)}
SIZES=("5000 512 64" "20000 1024 128" "50000 2048 256")

cargo build --release -p probe-reduce --example pca_vs_linfa
BIN=target/release/examples/pca_vs_linfa
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

field() { # field NAME JSON -> the value of a number field
    sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"
}

echo "$(nproc) cores, timeout ${TIMEOUT}s per run, MATMUL_NUM_THREADS=$MATMUL_NUM_THREADS"
printf '\n%-18s %-6s %9s %10s %10s %9s %12s %12s\n' \
    "size (n×d→k)" impl "PCA s" "peak MiB" "input MiB" EVR "time o/l" "mem o/l"
for size in "${SIZES[@]}"; do
    read -r n d k <<<"$size"
    label="${n}×${d}→${k}"
    input_mib=$(awk -v n="$n" -v d="$d" 'BEGIN { printf "%.0f", n * d * 4 / 1048576 }')
    declare -A secs=() mib=() line=()
    for impl in linfa ours; do
        rc=0
        /usr/bin/time -f '%e %M' -o "$TMP/time" \
            timeout "$TIMEOUT" "$BIN" --impl "$impl" --n "$n" --d "$d" --k "$k" \
            >"$TMP/out" 2>"$TMP/err" || rc=$?
        peak_kib=$(tail -n 1 "$TMP/time" | awk '{ print $2 }')
        peak=$(awk -v m="$peak_kib" 'BEGIN { printf "%.0f", m / 1024 }')
        if [[ $rc -eq 0 ]]; then
            json=$(tail -n 1 "$TMP/out")
            echo "$json" >>"$TMP/json"
            secs[$impl]=$(field seconds "$json")
            mib[$impl]=$peak
            line[$impl]=$(printf '%-18s %-6s %9.2f %10s %10s %9.6f' "$label" "$impl" \
                "${secs[$impl]}" "$peak" "$input_mib" "$(field explained_variance_ratio "$json")")
        else
            if [[ $impl == linfa && $rc -eq 124 ]]; then
                killed_linfa=1
                linfa_peak=$peak
            fi
            case $rc in
                124) why="timed out after ${TIMEOUT}s" ;;
                137) why="killed (SIGKILL, likely out of memory)" ;;
                *) why="failed (exit $rc): $(tail -n 1 "$TMP/err")" ;;
            esac
            line[$impl]=$(printf '%-18s %-6s %9s %10s %10s %9s  %s' "$label" "$impl" \
                ">$TIMEOUT" "≥$peak" "$input_mib" - "$why")
        fi
    done
    echo "${line[linfa]}"
    if [[ -n ${secs[ours]:-} && -n ${secs[linfa]:-} ]]; then
        ratios=$(awk -v a="${secs[ours]}" -v b="${secs[linfa]}" -v m="${mib[ours]}" \
            -v l="${mib[linfa]}" 'BEGIN { printf "%12.3f %12.3f", a / b, m / l }')
    elif [[ -n ${secs[ours]:-} && ${killed_linfa:-} == 1 ]]; then
        # linfa ran past the timeout: it took longer and held at least what it had.
        ratios=$(awk -v a="${secs[ours]}" -v b="$TIMEOUT" -v m="${mib[ours]}" \
            -v l="$linfa_peak" 'BEGIN { printf "%12s %12s", sprintf("<%.3f", a / b), sprintf("≤%.3f", m / l) }')
    else
        ratios=$(printf '%12s %12s' - -)
    fi
    echo "${line[ours]} $ratios"
    unset secs mib line killed_linfa linfa_peak
done

echo
echo "raw JSON:"
cat "$TMP/json" 2>/dev/null || true
