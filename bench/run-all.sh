#!/usr/bin/env bash
# Runs every benchmark of a build and prints its figures (none is pass/fail).
#   bench/run-all.sh [BUILD_DIR]   (default: build)
# BB_BENCH_SECONDS sets the length of the node CPU run (default 60 s, the least that
# gives a steady figure).
set -euo pipefail
build=${1:-build}
dir="$build/bench"
[[ -d "$dir" ]] || { echo "no $dir: build the 'benchmarks' target first" >&2; exit 1; }
export BB_BIN_DIR="$build/bin"

run() {
    local prog="$dir/$1"; shift
    [[ -x "$prog" ]] || { echo "($prog not built)"; return 0; }
    echo "\$ $prog $*"
    "$prog" "$@"
    echo
}

run bench_ring 2
run bench_midi_jitter 2000 2.5
run bench_node_cpu "${BB_BENCH_SECONDS:-60}"
# Any other benchmark in the folder, with its defaults.
for prog in "$dir"/bench_*; do
    name=$(basename "$prog")
    case "$name" in bench_ring|bench_midi_jitter|bench_node_cpu) continue ;; esac
    [[ -x "$prog" && -f "$prog" ]] && run "$name"
done
