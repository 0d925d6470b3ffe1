#!/usr/bin/env bash
# scripts/demo.sh — the README's main command: build ipm, move messages with
# ipm-send / ipm-recv over every transport that was built (sender/receiver and
# publisher/subscriber pairs), then print the benchmark table (ipm against
# raw libzmq). Works from a fresh clone on Debian 12 in under a minute; needs
# no server. Usage: scripts/demo.sh   (IPM_BUILD_DIR overrides the build dir)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t0=$(date +%s)
build=${IPM_BUILD_DIR:-build}

bold() { if [[ -t 1 ]]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
say() { printf '%s\n' "$*"; }

bold "== 1. dependencies and build (into $build/)"
scripts/deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Only what the demo runs (tools, baseline, plugins): the tests are for scripts/test.sh.
cmake --build "$build" -j"$(nproc)" --target ipm-demo >/dev/null
bin="$root/$build/bin"
plugins=$(cd "$build/lib/ipm" && ls libipm_*.so 2>/dev/null | sed 's/^libipm_//; s/\.so$//' | tr '\n' ' ')
say "built in $(($(date +%s) - t0)) s; plugins in $build/lib/ipm: $plugins"
has() { [[ " $plugins " == *" $1 "* ]]; }

work=$(mktemp -d /tmp/ipm-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    exec 3>&- 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Wait (up to 10 s) until file $1 holds a line matching $2; print that line.
wait_for() {
    local i
    for ((i = 0; i < 200; i++)); do
        if grep -m1 -e "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

passed=0
failed=0
messages=("run 42 started" "trigger record 7: 3 TPs" "run 42 stopped")

# The receiving program of pair(): ipm-recv, or another that takes the same
# -c/-w/-T options and prints the same "ready on" line (the Python example).
recv_cmd=("$bin/ipm-recv")
recv_label=ipm-recv

# pair NAME ORDER SENDER_SPEC RECEIVER_SPEC SEND_OPTS [ipm-recv options...]
# ORDER is "receiver-first" when the receiver binds (sender/receiver types) or
# "sender-first" when the sender does (publishers). A '*' port in the binding
# side's endpoint is replaced, for the other side, by the port it picked.
# The sender reads its messages from a pipe that is written only once both
# ends are up, so nothing depends on guessing how long a start takes.
pair() {
    local name=$1 order=$2 sspec=$3 rspec=$4 sopts=$5
    shift 5
    local d="$work/$name" ep
    mkdir -p "$d"
    mkfifo "$d/in"
    bold "== $name"
    if [[ $order == receiver-first ]]; then
        "${recv_cmd[@]}" -c ${#messages[@]} -w 10s "$@" "$rspec" >"$d/out" 2>"$d/recv.err" &
        pids+=($!)
        local rpid=$!
        ep=$(wait_for "$d/recv.err" "ready on" | sed 's/.* ready on //') || {
            say "FAILED: the receiver did not start:"; cat "$d/recv.err"; failed=$((failed + 1)); return; }
        sspec=${sspec//@ENDPOINT@/$ep}
        say "\$ $recv_label -c ${#messages[@]} ${*:+$* }'$rspec'    # ready on $ep"
        "$bin/ipm-send" -v -w 10s $sopts "$sspec" <"$d/in" 2>"$d/send.err" &
        pids+=($!)
        local spid=$!
        exec 3>"$d/in"
        wait_for "$d/send.err" "connected" >/dev/null || true
        say "\$ ipm-send ${sopts:+$sopts }'$sspec'    # one message per stdin line"
    else
        "$bin/ipm-send" -v -w 10s $sopts "$sspec" <"$d/in" 2>"$d/send.err" &
        pids+=($!)
        local spid=$!
        exec 3>"$d/in"
        ep=$(wait_for "$d/send.err" "connected to" | sed 's/.* connected to //') || {
            say "FAILED: the sender did not start:"; cat "$d/send.err"; failed=$((failed + 1)); return; }
        rspec=${rspec//@ENDPOINT@/$ep}
        say "\$ ipm-send ${sopts:+$sopts }'$sspec'    # bound to $ep; one message per stdin line"
        "${recv_cmd[@]}" -c ${#messages[@]} -w 10s "$@" "$rspec" >"$d/out" 2>"$d/recv.err" &
        pids+=($!)
        local rpid=$!
        wait_for "$d/recv.err" "ready on" >/dev/null || {
            say "FAILED: the receiver did not start:"; cat "$d/recv.err"; failed=$((failed + 1)); return; }
        say "\$ $recv_label -c ${#messages[@]} ${*:+$* }'$rspec'"
        # A subscription travels to the publisher asynchronously (ZeroMQ's
        # "slow joiner"); give it a moment before publishing.
        sleep 0.3
    fi
    printf '%s\n' "${messages[@]}" >&3
    exec 3>&-
    local src=0 rrc=0
    wait "$spid" || src=$?
    wait "$rpid" || rrc=$?
    sed 's/^/    /' "$d/out"
    if ((src == 0 && rrc == 0)) && [[ $(wc -l <"$d/out") -eq ${#messages[@]} ]]; then
        say "ok: ${#messages[@]} of ${#messages[@]} messages"
        passed=$((passed + 1))
    else
        say "FAILED (ipm-send exit $src, $recv_label exit $rrc):"
        sed 's/^/    /' "$d/send.err" "$d/recv.err"
        failed=$((failed + 1))
    fi
}

bold "== 2. ipm-send | ipm-recv over every transport"
ipc="ipc://$work/demo.ipc"
if has ZmqSender && has ZmqReceiver; then
    pair "ZmqSender -> ZmqReceiver over tcp" receiver-first \
        "type=ZmqSender; connection_string=@ENDPOINT@" \
        "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*" ""
    pair "ZmqSender -> ZmqReceiver over ipc" receiver-first \
        "type=ZmqSender; connection_string=@ENDPOINT@" \
        "type=ZmqReceiver; connection_string=$ipc" "--topic run42"
fi
if has ZmqPublisher && has ZmqSubscriber; then
    pair "ZmqPublisher -> ZmqSubscriber over tcp, topic 'run'" sender-first \
        "type=ZmqPublisher; connection_string=tcp://127.0.0.1:*" \
        "type=ZmqSubscriber; connection_string=@ENDPOINT@" "--topic run42" --topic run
    pair "ZmqPublisher -> ZmqSubscriber over ipc" sender-first \
        "type=ZmqPublisher; connection_string=$ipc-pub" \
        "type=ZmqSubscriber; connection_string=@ENDPOINT@" "--topic hsi"
fi
if has ShmSender && has ShmReceiver; then
    pair "ShmSender -> ShmReceiver over shared memory" receiver-first \
        "type=ShmSender; connection_string=@ENDPOINT@" \
        "type=ShmReceiver; connection_string=shm://ipm-demo-$$" ""
fi
if has ShmPublisher && has ShmSubscriber; then
    pair "ShmPublisher -> ShmSubscriber over shared memory" sender-first \
        "type=ShmPublisher; connection_string=shm://ipm-demo-pub-$$" \
        "type=ShmSubscriber; connection_string=@ENDPOINT@" "--topic tp"
fi
if has MqSender && has MqReceiver; then
    pair "MqSender -> MqReceiver over a POSIX message queue" receiver-first \
        "type=MqSender; connection_string=@ENDPOINT@" \
        "type=MqReceiver; connection_string=mq://ipm-demo-$$" "--topic run42"
fi
say "(inproc:// joins threads of one process, so it is shown by the benchmark below)"

# A Python subscriber (python/examples/subscriber.py, the ipm package over
# libipm with ctypes) receiving from the C publisher ipm-send.
if command -v python3 >/dev/null && has ZmqPublisher && has ZmqSubscriber; then
    recv_cmd=(env "IPM_LIBRARY=$root/$build/lib/libipm.so" "PYTHONPATH=$root/python"
              python3 "$root/python/examples/subscriber.py")
    recv_label="python3 python/examples/subscriber.py"
    pair "C publisher (ipm-send, ZmqPublisher over tcp) -> Python subscriber" sender-first \
        "type=ZmqPublisher; connection_string=tcp://127.0.0.1:*" \
        "type=ZmqSubscriber; connection_string=@ENDPOINT@" "--topic run42" --topic run
    if has ShmPublisher && has ShmSubscriber; then
        pair "C publisher (ipm-send, ShmPublisher) -> Python subscriber" sender-first \
            "type=ShmPublisher; connection_string=shm://ipm-demo-py-$$" \
            "type=ShmSubscriber; connection_string=@ENDPOINT@" "--topic tp"
    fi
    recv_cmd=("$bin/ipm-recv")
    recv_label=ipm-recv
elif ! command -v python3 >/dev/null; then
    say "(no python3: the Python subscriber example is skipped)"
fi

bold "== 3. benchmark: ipm against raw libzmq on this machine (bench/run.sh -q)"
bench_rc=0
bench/run.sh -q -b "$build" || bench_rc=$?

bold "== done in $(($(date +%s) - t0)) s: $passed transfers ok, $failed failed"
say "More: bench/run.sh (full benchmark), $build/bin/ipm-bench --help, $build/bin/ipm-send --help,"
say "      $build/bin/ipm-recv --help, scripts/test.sh (the test suite)"
((failed == 0 && bench_rc == 0))
