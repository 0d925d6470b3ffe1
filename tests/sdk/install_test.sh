#!/usr/bin/env bash
# The plugin SDK end to end, as a third party meets it:
#   1. `cmake --install` the build into a temporary prefix and check the layout
#      (headers, libipm.so with its SONAME, plugins in <libdir>/ipm, tools,
#      CMake package, ipm.pc, no absolute prefix paths, $ORIGIN RPATHs);
#   2. build a generic application against that prefix with pkg-config,
#      before any third-party plugin exists;
#   3. build examples/third_party_plugin against the prefix only
#      (find_package(ipm) through CMAKE_PREFIX_PATH), install it elsewhere and
#      name that directory in IPM_PLUGIN_PATH;
#   4. exchange messages through the new plugin with the unmodified
#      application (and the build tree's sdk_xfer, and ipm-send/ipm-recv if
#      this build has them);
#   5. move the prefix (mv) and check that the tools still find libipm.so and
#      the shipped plugins, that a plugin dropped into the moved plugin
#      directory works with no IPM_PLUGIN_PATH, and that pkg-config and
#      find_package follow the move.
#
# Usage: install_test.sh SRC_DIR BUILD_DIR C_COMPILER SDK_XFER SHIPPED_TYPES SAN_FLAGS
#   SHIPPED_TYPES: comma-separated plugin types the build has (may be empty)
#   SAN_FLAGS: sanitizer flags of the build (may be empty), used for what
#              this test compiles so that it can load the instrumented libipm
set -euo pipefail

src=$1 build=$2 cc=$3 built_xfer=$4 shipped=$5 san=${6:-}
IFS=, read -r -a shipped_types <<<"$shipped"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipm-sdk-install.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
unset IPM_PLUGIN_PATH LD_LIBRARY_PATH PKG_CONFIG_PATH

step() { printf '\n== %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
# Run a command, showing its output only if it fails.
quiet() {
    local log=$tmp/last.log
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "command failed: $*"
    fi
}

# Start a receiver in the background (its pid in $rpid); wait, bounded, for
# its ready line. Usage: start_receiver OUT ERR READY_REGEX CMD...
start_receiver() {
    local out=$1 err=$2 ready=$3
    shift 3
    "$@" >"$out" 2>"$err" &
    rpid=$!
    pids+=("$rpid")
    local i
    for ((i = 0; i < 400; i++)); do
        grep -qE "$ready" "$out" "$err" 2>/dev/null && return 0
        kill -0 "$rpid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$out" "$err" >&2
    fail "receiver did not become ready: $*"
}

# Wait for a background receiver; fail unless it exits 0.
finish_receiver() {
    local pid=$1 out=$2 err=$3
    if ! wait "$pid"; then
        cat "$out" "$err" >&2
        fail "receiver failed"
    fi
}

# Exchange COUNT messages of SIZE bytes: receiver app, sender app, spec
# suffix; env is inherited (IPM_PLUGIN_PATH).
exchange() {
    local recv_app=$1 send_app=$2 sock=$3 count=$4 size=$5
    start_receiver "$tmp/recv.out" "$tmp/recv.err" '^ready' \
        "$recv_app" recv "type=UdsReceiver; connection_string=uds://$sock" "$count" "$size"
    quiet "$send_app" send "type=UdsSender; connection_string=uds://$sock" "$count" "$size"
    finish_receiver "$rpid" "$tmp/recv.out" "$tmp/recv.err"
    grep -q "^received $count messages" "$tmp/recv.out" || fail "receiver output: $(cat "$tmp/recv.out")"
    echo "ok: $count x $size bytes through UdsSender -> UdsReceiver"
}

# --------------------------------------------------------------- install
prefix=$tmp/prefix
step "cmake --install $build --prefix $prefix"
quiet cmake --install "$build" --prefix "$prefix"

pc=$(find "$prefix" -name ipm.pc -path '*/pkgconfig/*' | head -n 1)
[[ -n $pc ]] || fail "ipm.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
rel_libdir=$(realpath --relative-to="$prefix" "$libdir")
echo "libdir: $rel_libdir"

for f in include/ipm/ipm.h include/ipm/plugin.h "$rel_libdir/libipm.so" \
    "$rel_libdir/cmake/ipm/ipmConfig.cmake" "$rel_libdir/cmake/ipm/ipmConfigVersion.cmake" \
    "$rel_libdir/cmake/ipm/ipmTargets.cmake" "$rel_libdir/cmake/ipm/IpmPluginHelpers.cmake"; do
    [[ -e $prefix/$f ]] || fail "not installed: $f"
done
[[ -d $libdir/ipm ]] || fail "plugin directory $rel_libdir/ipm not installed"
soname=$(readelf -d "$libdir/libipm.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == libipm.so.* ]] || fail "libipm.so has no versioned SONAME (got '$soname')"
[[ -e $libdir/$soname ]] || fail "$soname not installed"
echo "ok: libipm.so SONAME $soname"
for t in "${shipped_types[@]}"; do
    [[ -f $libdir/ipm/libipm_$t.so ]] || fail "plugin $t not installed in $rel_libdir/ipm"
done
echo "ok: shipped plugins installed: ${shipped_types[*]:-(none in this build)}"
if [[ -x $prefix/bin/ipm-plugins ]]; then
    readelf -d "$prefix/bin/ipm-plugins" | grep -E 'R(UN)?PATH' | grep -q '\$ORIGIN' ||
        fail "ipm-plugins has no \$ORIGIN-relative RPATH"
fi
# Relocatable: no installed text file may hold the absolute prefix.
if grep -rl --binary-files=without-match "$prefix" "$libdir/cmake" "$libdir/pkgconfig"; then
    fail "the files above contain the absolute prefix $prefix"
fi
echo "ok: package files are prefix-relative"

# ------------------------------------------------ an application, built first
step "build a generic application against the prefix with pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs ipm) || fail "pkg-config --cflags --libs ipm failed"
echo "pkg-config: $flags"
incdir=$(sed -n 's/.*-I\([^ ]*\).*/\1/p' <<<"$flags")
libflag=$(sed -n 's/.*-L\([^ ]*\).*/\1/p' <<<"$flags")
[[ $(realpath "$incdir") == $(realpath "$prefix/include") ]] || fail "pkg-config -I is $incdir"
[[ $(realpath "$libflag") == $(realpath "$libdir") ]] || fail "pkg-config -L is $libflag"
[[ $flags == *-lipm* ]] || fail "pkg-config lacks -lipm"
[[ $(pkg-config --variable=plugindir ipm | xargs realpath) == $(realpath "$libdir/ipm") ]] ||
    fail "pkg-config plugindir is wrong"
app=$prefix/bin/ipm-sdk-xfer
mkdir -p "$prefix/bin"
rel_bin_lib=$(realpath --relative-to="$prefix/bin" "$libdir")
# shellcheck disable=SC2086 # flags are words on purpose
quiet "$cc" -std=c11 -Wall -Wextra -Werror $san "$src/tests/sdk_xfer.c" -o "$app" $flags \
    "-Wl,-rpath,\$ORIGIN/$rel_bin_lib"
echo "ok: $app"

# ---------------------------------------------------- the third-party plugin
step "build examples/third_party_plugin against the prefix only"
quiet cmake -S "$src/examples/third_party_plugin" -B "$tmp/example" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_C_FLAGS=-Werror $san"
found=$(sed -n 's/^ipm_DIR:PATH=//p' "$tmp/example/CMakeCache.txt")
[[ $(realpath "$found") == $(realpath "$libdir/cmake/ipm") ]] ||
    fail "find_package(ipm) used $found, not the prefix"
quiet cmake --build "$tmp/example"
quiet cmake --install "$tmp/example" --prefix "$tmp/plugins"
plugdir=$tmp/plugins/$rel_libdir/ipm
for t in UdsSender UdsReceiver; do
    so=$plugdir/libipm_$t.so
    [[ -f $so ]] || fail "example did not install $so"
    # ipm_add_plugin: the factory is the only exported function...
    exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtWw]$/ {print $3}' | sort | tr '\n' ' ')
    [[ $exported == "ipm_plugin_$t " ]] || fail "$so exports: $exported"
    # ...and it links against libipm.so by SONAME.
    readelf -d "$so" | grep -q "NEEDED.*\[$soname\]" || fail "$so does not need $soname"
done
echo "ok: libipm_UdsSender.so, libipm_UdsReceiver.so in $plugdir, exporting only their factories"

step "build a plugin by hand with pkg-config, as docs/writing-a-plugin.md shows"
ex=$src/examples/third_party_plugin
mkdir -p "$tmp/byhand"
# shellcheck disable=SC2086 # flags are words on purpose
quiet "$cc" -std=c11 $san -fPIC -shared -fvisibility=hidden -Wl,--no-undefined \
    "$ex/uds_sender.c" "$ex/uds_address.c" $flags -o "$tmp/byhand/libipm_UdsSender.so"
if [[ -x $prefix/bin/ipm-plugins ]]; then
    quiet "$prefix/bin/ipm-plugins" show "$tmp/byhand/libipm_UdsSender.so"
    grep -q "UdsSender  (sender" "$tmp/last.log" || fail "by-hand plugin: $(cat "$tmp/last.log")"
fi
echo "ok: $tmp/byhand/libipm_UdsSender.so"

export IPM_PLUGIN_PATH=$plugdir
if [[ -x $prefix/bin/ipm-plugins ]]; then
    quiet "$prefix/bin/ipm-plugins" show UdsSender UdsReceiver
    grep -q "path: $plugdir/libipm_UdsSender.so" "$tmp/last.log" || fail "ipm-plugins show: $(cat "$tmp/last.log")"
    grep -q "UdsReceiver  (receiver" "$tmp/last.log" || fail "ipm-plugins show: $(cat "$tmp/last.log")"
    echo "ok: the installed ipm-plugins sees the new plugin"
fi

# ------------------------------------------------------------- exchange
step "exchange through the new plugin with applications built before it"
exchange "$app" "$app" "$tmp/a.sock" 2000 4096
exchange "$built_xfer" "$app" "$tmp/b.sock" 500 100000
exchange "$app" "$built_xfer" "$tmp/c.sock" 500 1

if [[ -x $prefix/bin/ipm-send && -x $prefix/bin/ipm-recv ]]; then
    start_receiver "$tmp/tool.out" "$tmp/tool.err" 'ready' \
        "$prefix/bin/ipm-recv" --count 3 --lines --timeout 20s \
        "type=UdsReceiver; connection_string=uds://$tmp/tools.sock"
    printf 'one\ntwo\nthree\n' |
        quiet "$prefix/bin/ipm-send" --timeout 20s "type=UdsSender; connection_string=uds://$tmp/tools.sock"
    finish_receiver "$rpid" "$tmp/tool.out" "$tmp/tool.err"
    [[ $(cat "$tmp/tool.out") == $'one\ntwo\nthree' ]] || fail "ipm-recv printed: $(cat "$tmp/tool.out")"
    echo "ok: ipm-send | UdsSender -> UdsReceiver | ipm-recv"
else
    echo "skip: ipm-send/ipm-recv not in this build"
fi
unset IPM_PLUGIN_PATH

# ------------------------------------------------------------- move
moved=$tmp/moved
step "mv $prefix $moved"
mv "$prefix" "$moved"
mlibdir=$moved/$rel_libdir
if [[ -x $moved/bin/ipm-plugins ]]; then
    last=$("$moved/bin/ipm-plugins" path | tail -n 1)
    [[ $(realpath "$last") == $(realpath "$mlibdir/ipm") ]] ||
        fail "moved ipm-plugins searches $last, not $mlibdir/ipm"
    "$moved/bin/ipm-plugins" >"$tmp/list.out" 2>&1 || {
        cat "$tmp/list.out" >&2
        fail "moved ipm-plugins list failed"
    }
    for t in "${shipped_types[@]}"; do
        grep -q "path: $(realpath "$mlibdir")/ipm/libipm_$t.so" "$tmp/list.out" ||
            grep -q "path: $mlibdir/ipm/libipm_$t.so" "$tmp/list.out" ||
            fail "moved ipm-plugins does not list $t from the moved tree: $(cat "$tmp/list.out")"
    done
    echo "ok: the moved ipm-plugins finds libipm.so and the shipped plugins in the moved tree"
fi

# Drop the third-party plugin into the moved tree's own plugin directory: no
# IPM_PLUGIN_PATH at all.
cp "$plugdir"/libipm_Uds*.so "$mlibdir/ipm/"
mapp=$moved/bin/ipm-sdk-xfer
exchange "$mapp" "$mapp" "$tmp/d.sock" 500 256
echo "ok: a plugin dropped into the moved plugin directory is found by name"

export PKG_CONFIG_PATH=$mlibdir/pkgconfig
mflags=$(pkg-config --cflags ipm)
[[ $(realpath "$(sed -n 's/.*-I\([^ ]*\).*/\1/p' <<<"$mflags")") == $(realpath "$moved/include") ]] ||
    fail "pkg-config after the move: $mflags"
echo "ok: pkg-config follows the move ($mflags)"

quiet cmake -S "$src/examples/third_party_plugin" -B "$tmp/example2" \
    -DCMAKE_PREFIX_PATH="$moved" -DCMAKE_C_COMPILER="$cc" "-DCMAKE_C_FLAGS=-Werror $san"
found=$(sed -n 's/^ipm_DIR:PATH=//p' "$tmp/example2/CMakeCache.txt")
[[ $(realpath "$found") == $(realpath "$mlibdir/cmake/ipm") ]] || fail "after the move find_package used $found"
quiet cmake --build "$tmp/example2"
echo "ok: find_package(ipm) follows the move"

step "PASS"
