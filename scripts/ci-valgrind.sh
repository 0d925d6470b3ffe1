#!/usr/bin/env bash
# valgrind memcheck over the core tests (ctest label `core`): configures its
# own build directory with -DIPM_VALGRIND=ON, which adds a copy
# valgrind.<test> of each core test running under memcheck (see
# tests/reliability.cmake), builds, and runs those. A memory error or a
# definite leak makes valgrind exit 1 and the test fail; suppressions are
# only for third-party one-time allocations (tests/valgrind.supp).
#
# Environment: IPM_VALGRIND_BUILD_DIR (default build-rel), CTEST_JOBS (default 2:
# valgrind is CPU-bound and the core tests have no timing contracts).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${IPM_VALGRIND_BUILD_DIR:-$root/build-rel}
jobs=${CTEST_JOBS:-2}
command -v valgrind >/dev/null || {
    echo "ci-valgrind: valgrind is not installed" >&2
    exit 1
}
mkdir -p "$dir"
echo "-- configure $dir (IPM_VALGRIND=ON)"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPM_SANITIZE= \
    -DIPM_VALGRIND=ON >"$dir/ci-configure.log" 2>&1 || {
    cat "$dir/ci-configure.log"
    exit 1
}
echo "-- build $dir"
cmake --build "$dir" -j"$(nproc 2>/dev/null || echo 2)" >"$dir/ci-build.log" 2>&1 || {
    tail -n 60 "$dir/ci-build.log"
    exit 1
}
n=$(ctest --test-dir "$dir" -N -L valgrind | sed -n 's/^Total Tests: //p')
if [[ -z $n || $n -eq 0 ]]; then
    echo "ci-valgrind: no test carries the label core; nothing checked" >&2
    exit 1
fi
echo "-- ctest under valgrind memcheck ($n tests)"
if ctest --test-dir "$dir" --output-on-failure -L valgrind -j "$jobs"; then
    echo "ci-valgrind: passed"
else
    echo "ci-valgrind: FAILED"
    exit 1
fi
