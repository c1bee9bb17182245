#!/usr/bin/env bash
# scripts/ci-arm64.sh: the capture node for a 64-bit Raspberry Pi, built and tested on
# this machine (.ci/run's last step; `make arm64` runs it too):
#   1. Debian's arm64 packages of the node's libraries, the cross compiler and
#      qemu-user-static (scripts/arm64-sysroot.sh; skipped with a message when they
#      cannot be had here);
#   2. the node alone (BB_NODE_ONLY) cross-built with cmake/aarch64-linux-gnu.cmake into
#      build-arm64/;
#   3. its unit tests run as arm64 code under qemu (ctest through the emulator);
#   4. a sanity figure: the arm64 node run under qemu for a few seconds, its CPU time and
#      memory. These include qemu's own translation and bookkeeping, so they say only
#      that the node runs and stays in bounds, not what a Pi uses (bench/ measures the
#      node natively).
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
deps=${BB_ARM64_DEPS:-build-arm64-deps}
build=${BB_ARM64_BUILD:-build-arm64}
jobs=${JOBS:-2}

scripts/arm64-sysroot.sh "$deps"
rc=$?
if [[ $rc -eq 3 ]]; then
    echo "arm64: the cross build and its tests did not run (see above)"
    exit 0
elif [[ $rc -ne 0 ]]; then
    exit $rc
fi
sysroot="$(cd "$deps" && pwd)/sysroot"
t1=$(date +%s)

cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DBB_NODE_ONLY=ON \
    -DBB_ARM64_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; echo "arm64: configure failed" >&2; exit 1; }
cmake --build "$build" -j"$jobs" || { echo "arm64: the cross build failed" >&2; exit 1; }
readelf -h "$build/bin/batcherbird-node" | grep -q 'Machine: *AArch64' ||
    { echo "arm64: batcherbird-node is not an arm64 program" >&2; exit 1; }
t2=$(date +%s)

(cd "$build" && ctest --output-on-failure -j"$jobs") || { echo "arm64: unit tests failed under qemu" >&2; exit 1; }
t3=$(date +%s)

# sanity figure: 48 kHz stereo from the simulated instrument, no coordinator to talk to
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
tmp=$(mktemp -d)
"$qemu" -L "$sysroot" -E LD_LIBRARY_PATH=/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu \
    "$build/bin/batcherbird-node" --coordinator "ipc://$tmp/nobody.ipc" --name pi-sanity \
    --spool "$tmp/spool" --log-level error >"$tmp/node.log" 2>&1 &
pid=$!
secs=8
sleep 2
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat" 2>/dev/null || echo "0 0")
sleep "$secs"
if kill -0 "$pid" 2>/dev/null; then
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    hz=$(getconf CLK_TCK)
    cpu=$(awk -v d=$(( (u1 + s1) - (u0 + s0) )) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.1f", 100 * d / hz / s }')
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
    rss=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup")
    kill "$pid"; wait "$pid" 2>/dev/null
    echo "arm64: sanity figure under qemu (qemu's own overhead included, not a Pi's):" \
         "node capturing 48 kHz stereo, ${cpu}% of one core, PSS $((pss / 1024)) MB, RSS $((rss / 1024)) MB"
else
    cat "$tmp/node.log"
    echo "arm64: the node exited under qemu" >&2
    rm -rf "$tmp"
    exit 1
fi
rm -rf "$tmp"
t4=$(date +%s)
echo "arm64: packages $((t1 - t0)) s, cross build $((t2 - t1)) s, unit tests under qemu" \
     "$((t3 - t2)) s, sanity run $((t4 - t3)) s; $((t4 - t0)) s in all"
