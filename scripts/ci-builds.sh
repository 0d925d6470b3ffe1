#!/usr/bin/env bash
# The builds people type, each from a clean directory with warnings as
# errors: GCC and clang, Release and Debug (RelWithDebInfo with GCC is the
# test build of scripts/test.sh). Then a build without the ZeroMQ family,
# whose tests must pass as they would on a machine without libzmq.
# Usage: scripts/ci-builds.sh   (build directories under ${IPM_CI_DIR:-build-ci})
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${IPM_CI_DIR:-$root/build-ci}
jobs=$(nproc 2>/dev/null || echo 2)

build() {
    local name=$1 cc=$2
    shift 2
    local dir=$out/$name
    rm -rf "$dir"
    echo "-- build $name (CC=$cc $*)"
    if ! CC=$cc cmake -S "$root" -B "$dir" -DIPM_WERROR=ON "$@" >"$dir.log" 2>&1 ||
        ! cmake --build "$dir" -j"$jobs" >>"$dir.log" 2>&1; then
        grep -E "error:|warning:" "$dir.log" | head -40 || tail -40 "$dir.log"
        echo "ci-builds: $name failed (log: $dir.log)" >&2
        return 1
    fi
}

mkdir -p "$out"
for cc in gcc clang; do
    for type in Release Debug; do
        build "$cc-$type" "$cc" -DCMAKE_BUILD_TYPE="$type"
    done
done
build clang-RelWithDebInfo clang -DCMAKE_BUILD_TYPE=RelWithDebInfo
build no-zmq gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPM_WITH_ZMQ=OFF
echo "-- tests of the build without ZeroMQ"
ctest --test-dir "$out/no-zmq" --output-on-failure -LE soak -j2
rm -rf "$out"
echo "ci-builds: all builds warning-free"
