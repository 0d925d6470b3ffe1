#!/usr/bin/env bash
# Build ipm and run its test suite (installs missing build dependencies first).
# Usage: scripts/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build=${IPM_BUILD_DIR:-build}
# IPM_WERROR=ON (CI sets it) makes every warning an error.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPM_WERROR="${IPM_WERROR:-OFF}" >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure "$@"
