#!/usr/bin/env bash
# The bindings as users of an installed ipm meet them:
#   1. cmake --install into a temporary prefix; the C++ headers, the CMake
#      targets ipm::ipmcxx / ipm::dune and the Python package are there;
#   2. a C++ project finds ipm with find_package(ipm) alone and builds the
#      binding tests' programs against the installed headers, which then
#      pass (cxx wrapper, DUNE-style on zmq-tcp/zmq-ipc/shm, DUNE README);
#   3. Python imports the installed package with only PYTHONPATH set (no
#      IPM_LIBRARY): it finds the prefix's libipm.so, and the pytest suite
#      passes against it and the installed ipm-send / ipm-recv; the same
#      after the prefix is moved;
#   4. pip installs the package offline into a venv, which then works with
#      IPM_LIBRARY pointing at the prefix.
#
# Usage: install_test.sh SRC_DIR BUILD_DIR CXX_COMPILER PYTHON
#   CXX_COMPILER, PYTHON: may be empty (those parts are skipped, saying so)
set -euo pipefail

src=$1 build=$2 cxx=${3:-} py=${4:-}
# A sanitizer build (IPM_SANITIZER_FLAGS / IPM_SANITIZER_RUNTIME, set by
# ctest): the consumer is built with the same flags, and python3 preloads
# the runtime to load the installed libipm.so.
san_flags=${IPM_SANITIZER_FLAGS:-}
preload=()
[[ -z ${IPM_SANITIZER_RUNTIME:-} ]] || preload=("LD_PRELOAD=$IPM_SANITIZER_RUNTIME")
pyrun=(env "${preload[@]}" "$py")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipm-bindings-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset IPM_PLUGIN_PATH IPM_LIBRARY LD_LIBRARY_PATH PYTHONPATH

step() { printf '\n== %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
quiet() {
    local log=$tmp/last.log
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "command failed: $*"
    fi
}

prefix=$tmp/prefix
step "cmake --install $build --prefix $prefix"
quiet cmake --install "$build" --prefix "$prefix"
for f in include/ipm/ipm.hpp include/ipm/Sender.hpp include/ipm/Receiver.hpp \
    include/ipm/Subscriber.hpp include/ipm/detail/cxx.hpp include/ipm/detail/dune.hpp \
    lib/python3/dist-packages/ipm/__init__.py lib/python3/dist-packages/ipm/_install.py; do
    [[ -e $prefix/$f ]] || fail "not installed: $f"
done
cmake_dir=$(dirname "$(find "$prefix" -name ipmConfig.cmake | head -n 1)")
grep -q 'ipm::ipmcxx' "$cmake_dir/ipmTargets.cmake" || fail "ipm::ipmcxx not exported"
echo "ok: headers, CMake targets and the Python package are installed"

# ------------------------------------------------------------------ C++
if [[ -n $cxx ]]; then
    step "a C++ project against the prefix: find_package(ipm), ipm::ipmcxx, ipm::dune"
    quiet cmake -S "$src/tests/bindings/consumer" -B "$tmp/consumer" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror $san_flags" \
        "-DCMAKE_EXE_LINKER_FLAGS=$san_flags"
    found=$(sed -n 's/^ipm_DIR:PATH=//p' "$tmp/consumer/CMakeCache.txt")
    [[ $(realpath "$found") == $(realpath "$cmake_dir") ]] || fail "find_package(ipm) used $found"
    quiet cmake --build "$tmp/consumer" -j2
    # Compiled against the prefix's headers, not the source tree's.
    grep -rq "$prefix/include" "$tmp/consumer/CMakeFiles" || fail "the consumer did not use $prefix/include"
    quiet "$tmp/consumer/consumer_cxx"
    echo "ok: consumer_cxx (ipm.hpp) passes against the installed tree"
    if [[ -x $tmp/consumer/consumer_dune_style ]]; then
        for family in zmq-tcp zmq-ipc shm; do
            quiet "$tmp/consumer/consumer_dune_style" "$family"
        done
        quiet "$tmp/consumer/consumer_dune_readme"
        echo "ok: DUNE-style program (zmq-tcp, zmq-ipc, shm) and DUNE's README examples"
    else
        echo "skip: ipm::dune not available (nlohmann_json)"
    fi
else
    echo "skip: no C++ compiler"
fi

# --------------------------------------------------------------- Python
if [[ -z $py ]]; then
    echo "skip: no python3 with pytest"
    step "PASS"
    exit 0
fi
site=$prefix/lib/python3/dist-packages
check_import() { # PREFIX: the package and the libipm.so it loads are both inside it
    local where
    where=$(cd "$tmp" && PYTHONPATH=$1/lib/python3/dist-packages "${pyrun[@]}" -c \
        'import ipm, os; print(os.path.realpath(ipm.__file__)); print(os.path.realpath(ipm.library_path))')
    while read -r p; do
        [[ $p == "$(realpath "$1")"/* ]] || fail "python loaded $p, outside $1"
    done <<<"$where"
}
step "Python: the installed package finds the prefix's libipm.so by itself"
check_import "$prefix"
echo "ok: $(cd "$tmp" && PYTHONPATH=$site "${pyrun[@]}" -c 'import ipm; print(ipm.library_path)')"
step "the pytest suite against the installed package and tools"
mkdir -p "$tmp/py" # tests and examples, as laid out in the source tree
cp -r "$src/python/tests" "$src/python/examples" "$tmp/py/"
(cd "$tmp" && PYTHONPATH=$site IPM_BIN_DIR=$prefix/bin PYTHONDONTWRITEBYTECODE=1 \
    quiet "${pyrun[@]}" -m pytest -q -p no:cacheprovider -W error "$tmp/py/tests")
echo "ok: $(tail -n 1 "$tmp/last.log")"

step "mv the prefix: the package still finds libipm.so"
mv "$prefix" "$tmp/moved"
check_import "$tmp/moved"
(cd "$tmp" && PYTHONPATH=$tmp/moved/lib/python3/dist-packages IPM_BIN_DIR=$tmp/moved/bin \
    PYTHONDONTWRITEBYTECODE=1 quiet "${pyrun[@]}" -m pytest -q -p no:cacheprovider -W error \
    "$tmp/py/tests/test_interop.py")
echo "ok: after the move: $(tail -n 1 "$tmp/last.log")"

step "pip install into a venv, offline"
cp -r "$src/python" "$tmp/pysrc" # pip builds in the source directory
quiet "$py" -m venv --system-site-packages "$tmp/venv"
quiet "$tmp/venv/bin/pip" install --no-index --no-build-isolation --disable-pip-version-check "$tmp/pysrc"
lib=$(find "$tmp/moved" -name 'libipm.so.1' | head -n 1)
(cd "$tmp" && IPM_LIBRARY=$lib quiet env "${preload[@]}" "$tmp/venv/bin/python" -c '
import ipm, os, sys
assert ipm.__file__.startswith(sys.prefix), ipm.__file__
with ipm.Receiver("type=ShmReceiver; connection_string=shm://ipm-venv-%d" % os.getpid()) as rx, \
     ipm.Sender("type=ShmSender; connection_string=shm://ipm-venv-%d" % os.getpid()) as tx:
    tx.send(b"from the venv", metadata="pip")
    m = rx.receive(timeout=5)
    assert (m.data, m.metadata) == (b"from the venv", "pip"), m
print("venv ok", ipm.__file__)
')
(cd "$tmp" && IPM_LIBRARY=$lib IPM_BIN_DIR=$tmp/moved/bin PYTHONDONTWRITEBYTECODE=1 \
    quiet env "${preload[@]}" "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider -W error "$tmp/py/tests")
echo "ok: pip-installed package passes the suite: $(tail -n 1 "$tmp/last.log")"
step "PASS"
