#!/usr/bin/env bash
# ipm-plugins: --help and usage errors, listing the shipped plugins (text and
# JSON), explaining unusable libraries, shadowing, `show`, and `check` on a
# good and on a bad INI file (every problem named with its section).
#
# Usage: ipm_plugins_test.sh IPM_PLUGINS TEST_PLUGIN_DIR SHIPPED_TYPES
#   SHIPPED_TYPES: comma-separated types this build ships (may be empty)
set -euo pipefail

tool=$1 tp=$2 shipped=$3
IFS=, read -r -a shipped_types <<<"$shipped"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipm-plugins-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset IPM_PLUGIN_PATH

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    [[ -f $tmp/out ]] && { echo "--- output:" >&2; cat "$tmp/out" >&2; }
    exit 1
}
# run WANT_RC CMD...: run with stdout+stderr in $tmp/out, check the exit code.
run() {
    local want=$1 rc=0
    shift
    "$@" >"$tmp/out" 2>&1 || rc=$?
    [[ $rc == "$want" ]] || fail "exit $rc, want $want: $*"
}
has() { grep -qF -- "$1" "$tmp/out" || fail "output lacks '$1'"; }
lacks() { ! grep -qF -- "$1" "$tmp/out" || fail "output has '$1'"; }
# JSON validity, with whichever validator this machine has.
valid_json() {
    if command -v python3 >/dev/null; then
        python3 -m json.tool "$tmp/out" >/dev/null || fail "invalid JSON"
    elif command -v jq >/dev/null; then
        jq . "$tmp/out" >/dev/null || fail "invalid JSON"
    fi
}

echo "== help and usage"
run 0 "$tool" --help
has "ipm-plugins check"
has "Exit status"
run 0 "$tool" --version
has "plugin ABI 1."
run 2 "$tool" frobnicate
has "unknown command"
run 2 "$tool" check
run 2 "$tool" --sender x list
run 2 "$tool" --no-such-option

echo "== list: the shipped plugins, all usable"
run 0 "$tool"
for t in "${shipped_types[@]}"; do
    grep -qE "^$t  \((sender|receiver|subscriber), version [^,]+, ABI 1\.[0-9]+\)$" "$tmp/out" ||
        fail "$t is not listed as usable"
    has "/libipm_$t.so"
done
has "0 unusable"
run 0 "$tool" --json list
valid_json
for t in "${shipped_types[@]}"; do
    grep -qE "\{\"type\": \"$t\", \"path\": \"[^\"]+/libipm_$t.so\", \"usable\": true, \"role\": \"(sender|receiver|subscriber)\"" \
        "$tmp/out" || fail "JSON lacks usable $t"
done
run 0 "$tool" path
[[ $(tail -n 1 "$tmp/out") == */lib/ipm ]] || fail "the last search directory is not .../lib/ipm"

echo "== list with the fixtures: unusable libraries and why"
export IPM_PLUGIN_PATH=$tp
run 1 "$tool"
has "LoopSender  (sender, version 1.0.0, ABI 1.1)"
has "keys: connection_string, capacity"
has "path: $tp/libipm_LoopReceiver.so"
has "BadMagic  UNUSABLE: plugin unusable"
has "bad magic"
has "libipm_fixture_missing.so"
has "does not export ipm_plugin_NoFactory"
has "ABI 2.0"
has "calls itself 'RightName'"
has "lacks required operation 'send'"
has "$((2 + ${#shipped_types[@]})) usable, 11 unusable, 0 shadowed"
run 1 "$tool" --json
valid_json
has '"type": "BadMagic", "path": "'"$tp"'/libipm_BadMagic.so", "usable": false, "status": "IPM_EPLUGIN"'

echo "== shadowing: the first directory wins"
mkdir "$tmp/first"
cp "$tp/libipm_LoopSender.so" "$tmp/first/"
IPM_PLUGIN_PATH=$tmp/first:$tp run 1 "$tool"
has "path: $tmp/first/libipm_LoopSender.so"
has "LoopSender  (shadowed: not used)"
has "$tmp/first/libipm_LoopSender.so comes first"
has "1 shadowed"

echo "== show"
run 0 "$tool" show LoopSender "$tp/libipm_LoopReceiver.so"
has "LoopSender  (sender"
has "LoopReceiver  (receiver"
run 1 "$tool" show NoSuchType LoopSender
has "NoSuchType  UNUSABLE: plugin not found on the search path"
has "plugin 'NoSuchType' not found"
run 1 "$tool" show "$tp/libipm_NullFactory.so"
has "NullFactory  UNUSABLE"
has "returned NULL"
unset IPM_PLUGIN_PATH

echo "== check: a good INI (plugins found through its [ipm] plugin_path)"
cat >"$tmp/good.ini" <<EOF
[ipm]
plugin_path = $tp

[trigger_decisions]
type = LoopSender
connection_string = loop://td
capacity = 100

[trigger_input]
type = LoopReceiver
connection_string = loop://td
EOF
run 0 "$tool" check --sender trigger_decisions --receiver trigger_input "$tmp/good.ini"
has "$tmp/good.ini: OK, 2 connections checked"
run 0 "$tool" --json check "$tmp/good.ini"
valid_json
has '"ok": true'
if ((${#shipped_types[@]})); then
    # And a config of shipped types, found next to libipm.so.
    for t in "${shipped_types[@]}"; do printf '[c_%s]\ntype = %s\n\n' "$t" "$t"; done >"$tmp/shipped.ini"
    run 0 "$tool" check "$tmp/shipped.ini"
    has "OK, ${#shipped_types[@]} connections checked"
fi

echo "== check: a bad INI, every problem with its section"
cat >"$tmp/bad.ini" <<EOF
[ipm]
plugin_path = $tp

[unknown_type]
type = NoSuchTransport

[typos]
type = LoopSender
conection_string = loop://x
colour = red

[topics_on_sender]
type = LoopSender
connection_string = loop://b
topics = tp

[broken]
type = BadMagic

[wrong_role]
type = LoopReceiver
connection_string = loop://c
EOF
run 1 "$tool" check --sender wrong_role --receiver not_there "$tmp/bad.ini"
f=$tmp/bad.ini
has "$f: [unknown_type] type 'NoSuchTransport': plugin 'NoSuchTransport' not found"
has "$f: [typos] unknown key 'conection_string' for LoopSender; did you mean 'connection_string'?"
has "$f: [typos] unknown key 'colour' for LoopSender"
has "$f: [topics_on_sender] key 'topics'"
has "$f: [broken] type 'BadMagic':"
has "bad magic"
has "$f: [wrong_role] must be a sender, but LoopReceiver is a receiver"
has "$f: [not_there] no such section"
has "$f: 7 problems"
lacks "[trigger"
run 1 "$tool" --json check --sender wrong_role "$tmp/bad.ini"
valid_json
has '"ok": false'
has '{"section": "typos", "problem": "unknown key '"'colour'"' for LoopSender'

echo "== check: files that the library refuses to load"
printf '[ipm]\nplugin_path = %s\n\n[ok]\ntype = LoopSender\n\n[no_type]\nconnection_string = loop://a\n' \
    "$tp" >"$tmp/notype.ini"
run 1 "$tool" check "$tmp/notype.ini"
has "$tmp/notype.ini:7: section [no_type] has no 'type' key"
has "$tmp/notype.ini: 1 problem"
run 1 "$tool" check "$tmp/no-such.ini"
has "no-such.ini"
printf '[s]\ntype = LoopSender\nthis line is not ini\n' >"$tmp/syntax.ini"
run 1 "$tool" check "$tmp/syntax.ini"
has "syntax.ini:3"

echo "== check: a candidate library is checked without running it (issue 10)"
# RunsCode has a constructor that creates \$IPM_TEST_MARKER and no factory:
# the ELF check refuses it before dlopen, so the marker never appears.
printf '[ipm]\nplugin_path = %s\n\n[c]\ntype = RunsCode\n' "$tp" >"$tmp/runs.ini"
IPM_TEST_MARKER=$tmp/marker run 1 "$tool" check "$tmp/runs.ini"
has "does not export ipm_plugin_RunsCode"
[[ ! -e $tmp/marker ]] || fail "checking runs.ini ran the library's constructor"
IPM_TEST_MARKER=$tmp/marker run 1 "$tool" show "$tp/libipm_RunsCode.so"
[[ ! -e $tmp/marker ]] || fail "show ran the library's constructor"
mkfifo "$tmp/fifo.ini"
run 1 timeout 20 "$tool" check "$tmp/fifo.ini"
has "not a regular file"

echo "PASS"
