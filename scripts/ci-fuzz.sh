#!/usr/bin/env bash
# Build the libFuzzer targets of fuzz/ with clang (a standalone CMake project
# that compiles the core, and the shm plugin's parsers, with
# -fsanitize=fuzzer,address,undefined) and run each for a bounded time.
# Fails on any crash, leak, timeout, out-of-memory or sanitizer report.
#
# Every run first replays the committed corpus fuzz/corpus/<target>/ (seeds,
# and the inputs of crashes found so far, named crash-* / timeout-*), then
# explores; new interesting inputs go to <build>/corpus/<target>/, crash
# inputs to <build>/artifacts/<target>/.
#
# Usage: scripts/ci-fuzz.sh [target...]       (default: every fuzz_* built)
# Environment:
#   FUZZ_SECONDS         time per target (default 60)
#   FUZZ_CC              compiler (default: clang-14, else clang)
#   IPM_FUZZ_BUILD_DIR   default build-fuzz
#   FUZZ_MERGE=1         afterwards, merge the new inputs that add coverage
#                        into fuzz/corpus/<target>/ (for committing)
#   FUZZ_ARGS            extra libFuzzer flags
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${IPM_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
read -r -a extra <<<"${FUZZ_ARGS:-}"

cc=${FUZZ_CC:-}
if [[ -z $cc ]]; then
    for c in clang-14 clang; do
        if command -v "$c" >/dev/null; then
            cc=$c
            break
        fi
    done
fi
[[ -n $cc ]] || {
    echo "ci-fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
}

mkdir -p "$build"
echo "-- configure $build ($cc)"
cmake -S "$root/fuzz" -B "$build" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/ci-configure.log" 2>&1 || {
    cat "$build/ci-configure.log"
    exit 1
}
echo "-- build $build"
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target ipm_fuzzers \
    >"$build/ci-build.log" 2>&1 || {
    tail -n 60 "$build/ci-build.log"
    exit 1
}

targets=("$@")
if ((${#targets[@]} == 0)); then
    for t in "$build"/bin/fuzz_*; do
        [[ -x $t ]] && targets+=("$(basename "$t")")
    done
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
status=0
summary=()
for t in "${targets[@]}"; do
    bin=$build/bin/$t
    [[ -x $bin ]] || {
        echo "ci-fuzz: no target $t" >&2
        exit 2
    }
    seeds=$root/fuzz/corpus/$t
    work=$build/corpus/$t
    art=$build/artifacts/$t
    rm -rf "$art"
    mkdir -p "$work" "$art" "$seeds"
    dict=()
    [[ -f $root/fuzz/dict/$t.dict ]] && dict=(-dict="$root/fuzz/dict/$t.dict")
    log=$build/$t.log
    echo "-- $t: ${seconds}s (seeds: $(find "$seeds" -type f | wc -l))"
    rc=0
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a blow-up.
    # The committed corpus is read from $seeds, new inputs are written to
    # $work (the first directory), so the tree is never modified.
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "${extra[@]}" \
        "$work" "$seeds" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    found=$(find "$art" -type f | wc -l)
    if ((rc != 0 || found > 0)) || grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:" "$log"; then
        status=1
        summary+=("$t: FAILED (exit $rc, ${runs:-?} runs, $found artifact(s))")
        echo "!! $t failed; last lines of $log:"
        grep -E "ERROR|SUMMARY|invariant|runtime error|#[0-9]+ 0x.* in (ipm|LLVM)" "$log" | head -40 || true
        for a in "$art"/*; do
            [[ -f $a ]] || continue
            echo "   artifact: $a ($(stat -c %s "$a") bytes); reproduce: $bin $a"
            echo "   base64: $(head -c 2000 "$a" | base64 -w0)"
        done
    else
        summary+=("$t: ok (${runs:-?} runs in ${seconds}s)")
    fi
    if [[ ${FUZZ_MERGE:-0} == 1 ]]; then
        "$bin" -merge=1 "$seeds" "$work" >"$build/$t.merge.log" 2>&1 || true
    fi
done
echo "-- fuzzing summary"
printf '   %s\n' "${summary[@]}"
if ((status)); then
    echo "ci-fuzz: FAILED"
else
    echo "ci-fuzz: passed"
fi
exit $status
