#!/usr/bin/env bash
# Sanitizer builds of ipm, each in its own build directory:
#   1. ASan + UBSan (IPM_SANITIZE=address): the whole test suite, soak excluded;
#   2. TSan (IPM_SANITIZE=thread): the threaded tests (ctest label `threads`).
# Exits non-zero if any test fails or any sanitizer reports anything, also in
# a forked child whose exit status a test might not look at: every report is
# written to a log file (log_path) and any such file fails the run.
#
# Usage: scripts/ci-sanitizers.sh [asan|tsan]...   (default: both)
# Environment:
#   IPM_ASAN_BUILD_DIR  default build-rel-asan
#   IPM_TSAN_BUILD_DIR  default build-rel-tsan
#   CTEST_JOBS          tests run at once (default 1: the timing contracts
#                       are checked on a shared 2-core machine)
#   CTEST_ARGS          extra ctest arguments, e.g. "-R rel_"
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${CTEST_JOBS:-1}
build_jobs=$(nproc 2>/dev/null || echo 2)
read -r -a extra <<<"${CTEST_ARGS:-}"
status=0

# configure + build one sanitizer variant
build() {
    local dir=$1 sanitize=$2
    mkdir -p "$dir"
    echo "-- configure $dir (IPM_SANITIZE=$sanitize)"
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPM_SANITIZE="$sanitize" \
        -DIPM_BUILD_TESTS=ON >"$dir/ci-configure.log" 2>&1 || {
        cat "$dir/ci-configure.log"
        return 1
    }
    echo "-- build $dir"
    cmake --build "$dir" -j"$build_jobs" >"$dir/ci-build.log" 2>&1 || {
        tail -n 60 "$dir/ci-build.log"
        return 1
    }
}

# Print and count the sanitizer logs in $1; returns 1 if there are any.
reports() {
    local logs=$1 n=0 f
    for f in "$logs"/*; do
        [[ -s $f ]] || continue
        n=$((n + 1))
        echo "==== sanitizer report: $f"
        head -c 20000 "$f"
        echo
    done
    if ((n > 0)); then
        echo "!! $n sanitizer report(s) in $logs"
        return 1
    fi
    return 0
}

run_asan() {
    local dir=${IPM_ASAN_BUILD_DIR:-$root/build-rel-asan}
    build "$dir" address || return 1
    local logs=$dir/sanitizer-logs
    rm -rf "$logs" && mkdir -p "$logs"
    echo "-- ctest under ASan+UBSan (all tests but soak)"
    local rc=0
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:log_path=$logs/asan" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" \
        ctest --test-dir "$dir" --output-on-failure -LE soak -j "$jobs" "${extra[@]}" || rc=1
    reports "$logs" || rc=1
    return $rc
}

run_tsan() {
    local dir=${IPM_TSAN_BUILD_DIR:-$root/build-rel-tsan}
    build "$dir" thread || return 1
    local logs=$dir/sanitizer-logs
    rm -rf "$logs" && mkdir -p "$logs"
    echo "-- ctest under TSan (label threads)"
    local rc=0
    # second_deadlock_stack: lock-order reports show both stacks.
    # tests/tsan.supp: libzmq's own calls only (it is not TSan-built).
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp:log_path=$logs/tsan" \
        ctest --test-dir "$dir" --output-on-failure -L threads -LE soak -j "$jobs" "${extra[@]}" || rc=1
    reports "$logs" || rc=1
    return $rc
}

variants=("$@")
((${#variants[@]})) || variants=(asan tsan)
for v in "${variants[@]}"; do
    start=$SECONDS
    case $v in
    asan) run_asan || status=1 ;;
    tsan) run_tsan || status=1 ;;
    *)
        echo "unknown variant '$v' (asan or tsan)" >&2
        exit 2
        ;;
    esac
    echo "-- $v done in $((SECONDS - start)) s"
done
if ((status)); then
    echo "ci-sanitizers: FAILED"
else
    echo "ci-sanitizers: passed"
fi
exit $status
