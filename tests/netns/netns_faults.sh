#!/bin/bash
# netns_faults.sh BINDIR [TRANSPORTS] — network faults between hosts.
#
# Makes three network namespaces (hosts A, B, C), each with one veth link to
# a bridge that lives in a fourth namespace (the "switch"), addresses in
# 10.213.0.0/24, which exists only inside these namespaces. For each
# transport of TRANSPORTS (default "zmq nats nng"; a transport whose plugins
# are not built is skipped with the reason printed):
#   - a sender on A streams sequence-numbered messages (ipm-send, 1000/s)
#     to a receiver on B (ipm-recv): ZmqSender -> ZmqReceiver over tcp;
#     NatsSender -> nats-server on C -> NatsReceiver (JetStream);
#     NngSender -> NngReceiver;
#   - in mid-stream B is cut off (its link set down) for CUT_S seconds and
#     restored; then, where the kernel has sch_netem, the same with 50 ms
#     delay and 5 % loss on B's link instead of a cut;
#   - it reports per transport and case what was lost, duplicated or
#     reordered, and how long delivery took to resume after the restore.
# Needs root and network namespaces: otherwise it says why and exits 77
# (ctest SKIP_RETURN_CODE). The namespaces and every process are removed on
# exit (trap). Bounded: each run at most RUN_S seconds, the whole < 2 min.
# Exit status: 0 when the lossless transports (ZmqSender/NatsSender) lost,
# doubled and reordered nothing; 1 otherwise; 77 skipped.
set -u
BIN=${1:?usage: netns_faults.sh BINDIR [TRANSPORTS]}
TRANSPORTS=${2:-"zmq nats nng"}
N=${NETNS_COUNT:-6000}   # messages per run (6 s at 1000/s)
RATE=1000
CUT_AT_S=2
CUT_S=3
tag=$$
A=ipmA$tag B=ipmB$tag C=ipmC$tag SW=ipmS$tag
work=$(mktemp -d /tmp/ipm-netns-XXXXXX)
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    for ns in $A $B $C $SW; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, links, qdiscs); CI runs as root"
command -v ip >/dev/null || skip "iproute2's ip is not installed"
ip netns add $SW 2>/dev/null || skip "cannot create a network namespace (no CAP_SYS_ADMIN or no netns support)"

# The switch: a bridge in its own namespace; each host gets one veth link.
ip -n $SW link add br0 type bridge || skip "no bridge support in this kernel"
ip -n $SW link set br0 up
i=1
for h in $A $B $C; do
    ip netns add $h || exit 1
    ip link add h$tag$i netns $h type veth peer name p$tag$i netns $SW || skip "no veth support"
    ip -n $SW link set p$tag$i master br0 up
    ip -n $h link set h$tag$i name eth0
    ip -n $h addr add 10.213.0.$i/24 dev eth0
    ip -n $h link set eth0 up
    ip -n $h link set lo up
    i=$((i + 1))
done
IP_A=10.213.0.1 IP_B=10.213.0.2 IP_C=10.213.0.3
# Reachable: a connection to a closed port of B is refused (not timed out).
reach=$(ip netns exec $A timeout 3 bash -c "exec 3<>/dev/tcp/$IP_B/9" 2>&1)
case $reach in *refused*) ;; *) echo "FAIL: A cannot reach B over the bridge: $reach"; exit 1 ;; esac

netem=yes
if ! command -v tc >/dev/null; then netem="tc is not installed (iproute2)"
elif ! ip netns exec $B tc qdisc add dev eth0 root netem delay 1ms 2>/dev/null; then
    netem="the kernel has no sch_netem (tc: 'Specified qdisc kind is unknown'); delay/loss cases skipped"
else ip netns exec $B tc qdisc del dev eth0 root; fi

# run NS LOGNAME CMD...: start CMD in namespace NS in a process group of its
# own; its pid is in $last.
run() {
    local ns=$1 log=$2; shift 2
    ip netns exec "$ns" setsid "$@" >"$work/$log" 2>"$work/$log.err" &
    last=$!
    pids+=("$last")
}

# Timestamped receiver: each line "EPOCH.us SEQ".
stamp() { while IFS= read -r l; do echo "$EPOCHREALTIME $l"; done; }
export -f stamp

# one_run NAME SENDSPEC RECVSPEC FAULT: stream N messages with the fault
# (cut | netem) on B; prints the result line; returns 1 if a lossless
# pattern lost, doubled or reordered anything.
one_run() {
    local name=$1 sspec=$2 rspec=$3 fault=$4 lossless=$5
    rm -f "$work/recv" "$work/recv.err"
    run $B recv bash -c "'$BIN/ipm-recv' --lines --quiet --timeout 8000 '$rspec' | stamp"
    local rpid=$last
    sleep 1 # the receiver binds / connects
    local t_start=$EPOCHREALTIME
    run $A send bash -c "seq 1 $N | '$BIN/ipm-send' --rate $RATE --timeout 20000 '$sspec'"
    local spid=$last
    sleep $CUT_AT_S
    local t_cut=$EPOCHREALTIME
    if [ "$fault" = cut ]; then
        ip -n $B link set eth0 down
        sleep $CUT_S
        ip -n $B link set eth0 up
    else
        ip netns exec $B tc qdisc add dev eth0 root netem delay 50ms loss 5%
        sleep $CUT_S
        ip netns exec $B tc qdisc del dev eth0 root
    fi
    local t_restore=$EPOCHREALTIME
    # Bounded: the sender has N/RATE s plus the fault; the receiver exits
    # 8 s after the last message.
    local waited=0
    while kill -0 $spid 2>/dev/null && [ $waited -lt 400 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill -KILL -- -$spid 2>/dev/null
    local sent_rc
    wait $spid; sent_rc=$?
    waited=0
    while kill -0 $rpid 2>/dev/null && [ $waited -lt 200 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill -KILL -- -$rpid 2>/dev/null
    wait $rpid 2>/dev/null
    awk -v n=$N -v tc=$t_cut -v tr=$t_restore -v name="$name" -v fault="$fault" \
        -v src=$sent_rc -v lossless=$lossless '
        { t = $1; s = $2 + 0; got++
          if (seen[s]++) { dup++; next }
          uniq++
          if (s < max) reord++; else max = s
          if (t > tr && first_after == 0) first_after = t
          if (t < tc) before = s
        }
        END {
          lost = n - uniq
          rec = first_after ? sprintf("%.0f ms", (first_after - tr) * 1000) : "never"
          printf "%-5s %-6s sent=%d(exit %d) received=%d lost=%d duplicated=%d reordered=%d resumed %s after the restore\n",
                 name, fault, n, src, got, lost, dup + 0, reord + 0, rec
          exit (lossless && (lost || dup || reord)) ? 1 : 0
        }' "$work/recv"
}

status=0
results=()
for t in $TRANSPORTS; do
    case $t in
    zmq)
        [ -e "$BIN/../lib/ipm/libipm_ZmqSender.so" ] || { echo "zmq   skipped: the Zmq plugins are not built"; continue; }
        ss="type=ZmqSender; connection_string=tcp://$IP_B:7000"
        rs="type=ZmqReceiver; connection_string=tcp://$IP_B:7000"
        ;;
    nats)
        [ -e "$BIN/../lib/ipm/libipm_NatsSender.so" ] || { echo "nats  skipped: the NATS plugins are not built"; continue; }
        srv=$(command -v nats-server || echo /usr/sbin/nats-server)
        [ -x "$srv" ] || { echo "nats  skipped: nats-server is not installed"; continue; }
        run $C nats-log "$srv" -a $IP_C -p 4222 -js -sd "$work/js"
        for _ in $(seq 50); do ip netns exec $C bash -c "exec 3<>/dev/tcp/$IP_C/4222" 2>/dev/null && break; sleep 0.1; done
        ss="type=NatsSender; connection_string=nats://$IP_C:4222/ipm.netns"
        rs="type=NatsReceiver; connection_string=nats://$IP_C:4222/ipm.netns"
        ;;
    nng)
        [ -e "$BIN/../lib/ipm/libipm_NngSender.so" ] || { echo "nng   skipped: the nng plugins are not built in this tree"; continue; }
        ss="type=NngSender; connection_string=tcp://$IP_B:7100"
        rs="type=NngReceiver; connection_string=tcp://$IP_B:7100"
        ;;
    *) echo "$t skipped: unknown transport"; continue ;;
    esac
    if one_run $t "$ss" "$rs" cut 1; then
        [ -n "${NETNS_VERBOSE:-}" ] && [ -s "$work/recv.err" ] && grep -v "fetch: Timeout" "$work/recv.err" | sed "s/^/  receiver: /" | tail -8
    else
        status=1
        [ -s "$work/recv.err" ] && grep -v "fetch: Timeout" "$work/recv.err" | sed "s/^/  receiver: /" | tail -${NETNS_LOG_LINES:-5}
    fi
    if [ "$netem" = yes ]; then
        one_run $t "$ss" "$rs" netem 1 || status=1
    else
        echo "$t   netem skipped: $netem"
    fi
    [ -s "$work/send.err" ] && sed 's/^/  sender: /' "$work/send.err" | head -3
done
exit $status
