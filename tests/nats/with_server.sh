#!/bin/sh
# with_server.sh COMMAND ARGS... — run COMMAND against a nats-server of its
# own: the server (JetStream on, a temporary store, loopback only, a port
# of its choosing) is started first, every "@NATS_PORT@" in ARGS becomes its
# port, and the server is stopped (its process group killed) and its store
# removed when COMMAND ends, however it ends. Exit status: COMMAND's; 77
# (ctest SKIP_RETURN_CODE) without nats-server.
set -u
server=$(command -v nats-server || echo /usr/sbin/nats-server)
if [ ! -x "$server" ]; then
    echo "SKIP: nats-server is not installed (Debian: apt-get install nats-server)"
    exit 77
fi
dir=$(mktemp -d /tmp/ipm-nats-conf-XXXXXX) || exit 1
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A process group of its own (setsid), so that cleanup takes everything.
setsid "$server" -a 127.0.0.1 -p -1 -js -sd "$dir/js" >"$dir/log" 2>&1 &
pid=$!
port=
i=0
while [ $i -lt 200 ]; do # at most 10 s
    port=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/log" | head -n 1)
    [ -n "$port" ] && grep -q "Server is ready" "$dir/log" && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "with_server.sh: nats-server exited at start:"; cat "$dir/log"; exit 1
    fi
    sleep 0.05
    i=$((i + 1))
done
if [ -z "$port" ]; then
    echo "with_server.sh: nats-server did not start within 10 s:"; cat "$dir/log"; exit 1
fi
cmd=$1
shift
for a in "$@"; do
    set -- "$@" "$(printf '%s' "$a" | sed "s/@NATS_PORT@/$port/g")"
    shift
done
"$cmd" "$@"
