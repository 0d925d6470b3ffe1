#!/usr/bin/env bash
# bench/run.sh — ipm against raw libzmq, side by side, in one invocation.
#
# For each transport (tcp, ipc, inproc) and size (64 B, 4 KiB, 1 MiB) it runs
# ipm-bench (ZmqSender -> ZmqReceiver) and zmq-baseline (raw PUSH -> PULL,
# the same two-frame wire form, on the same harness), interleaved so that a
# change in machine load hits both alike, repeats the round, and prints the
# median figures and, for throughput and latency, the median over rounds of
# each round's ipm/raw ratio (the two run back to back, so drift in machine
# load between rounds cancels). A third row measures DUNE-DAQ's receive
# strategy (non-blocking receive, usleep(1000) while empty) as a reference.
# Shm rows are added when the Shm plugins exist; POSIX mq rows (MqSender vs
# raw mq_send/mq_receive, 64 B and 4 KiB) when the Mq plugins exist.
# Nng rows (NngSender ->
# NngReceiver against bench/nng_baseline.c, raw libnng push0/pull0 with the
# same wire form and buffer settings, over tcp and ipc, interleaved in the
# same rounds) are added when the Nng plugins and nng-baseline exist.
# ZeroMQ CURVE rows (ZmqSender -> ZmqReceiver over tcp with CURVE against
# without) when ipm-keygen exists; NATS rows (core and JetStream against
# the raw cnats client, bench/nats_baseline.c, through a nats-server this
# script starts) when the NATS plugins, nats-baseline and nats-server exist.
#
# Usage: bench/run.sh [-b BUILD_DIR] [-r REPEATS] [-q] [-m FILE.md] [-t "tcp ipc inproc"]
#                     [-s "64 4Ki 1Mi"] [-k]
#   -b DIR   build directory holding bin/ipm-bench and bin/zmq-baseline (default: build)
#   -r N     rounds; each figure is the median of N runs (default 5)
#   -q       quick: short runs and one round (the demo uses it; figures are rougher)
#   -m FILE  also write the tables as markdown to FILE, with the machine they ran on
#   -t LIST  transports (default "tcp ipc inproc")
#   -s LIST  sizes (default "64 4Ki 1Mi"; k, M are 1000s as in connection strings)
#   -k       keep the raw JSON lines (printed path) instead of deleting them
# Exit status: 0 when every measurement ran (figures below target are reported,
# not failed), 1 if a measurement failed, 2 for a bad command line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build"
rounds=5
quick=0
md=""
transports="tcp ipc inproc"
sizes="64 4Ki 1Mi"
keep=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while getopts "b:r:qm:t:s:kh" opt; do
    case $opt in
    b) build=$(cd "$OPTARG" && pwd) ;;
    r) rounds=$OPTARG ;;
    q) quick=1 ;;
    m) md=$OPTARG ;;
    t) transports=$OPTARG ;;
    s) sizes=$OPTARG ;;
    k) keep=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -r wants a positive number" >&2; exit 2; }
((quick)) && rounds=1

bench="$build/bin/ipm-bench"
raw="$build/bin/zmq-baseline"
for b in "$bench" "$raw"; do
    [[ -x $b ]] || { echo "run.sh: $b not found; build first (cmake --build $build)" >&2; exit 1; }
done
have_shm=0
[[ -e $build/lib/ipm/libipm_ShmSender.so && -e $build/lib/ipm/libipm_ShmReceiver.so ]] && have_shm=1
rawnng="$build/bin/nng-baseline"
have_nng=0
[[ -e $build/lib/ipm/libipm_NngSender.so && -e $build/lib/ipm/libipm_NngReceiver.so &&
    -x $rawnng ]] && have_nng=1
nng_transports=""
for tr in $transports; do [[ $tr == tcp || $tr == ipc ]] && nng_transports+="$tr "; done

out=$(mktemp /tmp/ipm-bench-run.XXXXXX)
cleanup() { ((keep)) || rm -f "$out"; }
trap cleanup EXIT
failed=0

# Bytes of a size written as 64, 4Ki, 1Mi, 4k (4000), 1M: the tools' syntax.
bytes() {
    local s=$1
    case $s in
    *Ki | *KiB) echo $((${s%%K*} * 1024)) ;;
    *Mi | *MiB) echo $((${s%%M*} * 1048576)) ;;
    *[kK]) echo $((${s%?} * 1000)) ;;
    *M) echo $((${s%?} * 1000000)) ;;
    *) echo "$s" ;;
    esac
}

# Counts: empty (the harness's defaults: ~128 MiB streamed, 1000 to 5000 round
# trips) or, quick, a few hundred milliseconds per measurement.
counts() { # pattern bytes
    local p=$1 b=$2
    if ((quick)); then
        if [[ $p == throughput ]]; then
            if ((b <= 4096)); then echo "-c 20000"; else echo "-c 300"; fi
        else
            if ((b <= 4096)); then echo "-c 2000"; else echo "-c 200"; fi
        fi
    fi
}

# One measurement: impl transport size pattern. Appends JSON lines to $out,
# each tagged with the round.
run_one() {
    local impl=$1 tr=$2 size=$3 pattern=$4 round=$5
    local b c
    b=$(bytes "$size")
    c=$(counts "$pattern" "$b")
    local cmd
    case $impl in
    ipm) cmd=("$bench") ;;
    shm) cmd=("$bench" -S ShmSender -R ShmReceiver) ;;
    nngipm) cmd=("$bench" -S NngSender -R NngReceiver) ;;
    nngraw) cmd=("$rawnng") ;;
    zmq) cmd=("$raw") ;;
    dune)
        cmd=("$raw" --strategy dune)
        # Each DUNE round trip sleeps ~1 ms per hop: keep it short.
        [[ $pattern == latency ]] && c="-c $((quick ? 100 : 500))"
        ;;
    esac
    # shellcheck disable=SC2086
    if ! "${cmd[@]}" --json -e "$tr" -s "$b" -p "$pattern" -W 100 $c \
        2>/dev/null | sed "s/^{/{\"round\":$round,/" >>"$out"; then
        failed=1
    fi
}

nsizes=$(wc -w <<<"$sizes")
total=$(($(wc -w <<<"$transports") * nsizes * 2 * 3))
((have_shm)) && total=$((total + nsizes * 2))
((have_nng)) && total=$((total + $(wc -w <<<"$nng_transports") * nsizes * 2 * 2))
total=$((total * rounds))
step=0
progress() {
    step=$((step + 1))
    [[ -t 2 ]] && printf '\r\033[Kbench/run.sh: %d/%d %s' "$step" "$total" "$*" >&2
    return 0
}

for ((r = 1; r <= rounds; r++)); do
    for tr in $transports; do
        for size in $sizes; do
            for pattern in throughput latency; do
                for impl in ipm zmq dune; do
                    progress "round $r: $impl $tr $size $pattern"
                    run_one "$impl" "$tr" "$size" "$pattern" "$r"
                done
            done
        done
    done
    if ((have_nng)); then
        for tr in $nng_transports; do
            for size in $sizes; do
                for pattern in throughput latency; do
                    for impl in nngipm nngraw; do
                        progress "round $r: $impl $tr $size $pattern"
                        run_one "$impl" "$tr" "$size" "$pattern" "$r"
                    done
                done
            done
        done
    fi
    if ((have_shm)); then
        for size in $sizes; do
            for pattern in throughput latency; do
                progress "round $r: shm $size $pattern"
                run_one shm shm "$size" "$pattern" "$r"
            done
        done
    fi
done
[[ -t 2 ]] && printf '\r\033[K' >&2

# Startup: the time to start a sender by type name after the first load.
"$bench" --json -p startup -e tcp 2>/dev/null | sed 's/^{/{"round":0,/' >>"$out" || failed=1

# ---------------------------------------------------------------- report
machine_cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' || true)
machine="$(nproc) CPUs, ${machine_cpu:-unknown CPU}, Linux $(uname -r)"
zmqv=$(pkg-config --modversion libzmq 2>/dev/null || echo "?")
mode="median of $rounds round(s)"
((quick)) && mode="quick: one short round, rough figures"

# The sizes in bytes, by the one conversion above (bytes), for the tables.
size_bytes=$(for s in $sizes; do bytes "$s"; done | tr '\n' ' ')
nngv=$(dpkg-query -W -f '${Version}' libnng-dev 2>/dev/null || echo "?")
awk -v md="$md" -v machine="$machine" -v zmqv="$zmqv" -v mode="$mode" \
    -v transports="$transports" -v sizes="$size_bytes" -v have_shm="$have_shm" \
    -v have_nng="$have_nng" -v nng_transports="$nng_transports" -v nngv="$nngv" '
function field(line, key,   m) {
    if (match(line, "\"" key "\":\"[^\"]*\"")) {
        m = substr(line, RSTART + length(key) + 4, RLENGTH - length(key) - 5); return m
    }
    if (match(line, "\"" key "\":[^,}]*")) return substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    return ""
}
function median(key,   n, i, j, t, v) {
    n = cnt[key]; if (n == 0) return ""
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function add(key, x) { cnt[key]++; val[key, cnt[key]] = x + 0 }
function rate(x) {
    if (x == "") return "—"
    if (x >= 1e6) return sprintf("%.2f M", x / 1e6)
    if (x >= 1e3) return sprintf("%.1f k", x / 1e3)
    return sprintf("%.0f", x)
}
function us(x) { if (x == "") return "—"; return x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x) }
function mb(x) { if (x == "") return "—"; return sprintf("%.0f", x) }
# The ratio is the median over rounds of ipm/raw within each round: the two
# run back to back, so a change in machine load between rounds cancels out
# (the median of each column alone keeps it).
function ratio(pkey, k, target, higher) { return ratio_of(pkey, k, target, higher, "ipm", "zmq") }
function ratio_of(pkey, k, target, higher, A, B,   i, a, b, r, miss, key) {
    key = "ratio" SUBSEP pkey SUBSEP A SUBSEP k; cnt[key] = 0
    for (i = 1; i <= maxround; i++) {
        a = rv[pkey, A, k, i]; b = rv[pkey, B, k, i]
        if (a != "" && b != "" && b > 0) add(key, a / b)
    }
    r = median(key)
    if (r == "") return "—"
    miss = higher ? (r < target) : (r > target)
    return sprintf("%.2fx%s", r, miss ? " *" : "")
}
function human(b) { return b >= 1048576 ? (b / 1048576) " MiB" : b >= 1024 ? (b / 1024) " KiB" : b " B" }
function row(cells, n,   i, s) {
    if (n == 0) return
    s = ""
    for (i = 1; i <= n; i++) s = s sprintf(i <= 2 ? "%-10s" : " %13s", cells[i])
    print s
    if (md != "") {
        s = "|"
        for (i = 1; i <= n; i++) s = s " " cells[i] " |"
        print s > md
    }
}
function mdsep(n,   i, s) {
    if (md == "") return
    s = "|"; for (i = 1; i <= n; i++) s = s (i <= 2 ? " --- |" : " ---: |"); print s > md
}
{
    if (field($0, "ok") != "true") { errors[++nerr] = $0; next }
    impl = field($0, "impl"); p = field($0, "pattern"); tr = field($0, "transport")
    if (field($0, "sender") == "ShmSender") impl = "shm"
    if (field($0, "sender") == "NngSender") impl = "nngipm"
    if (impl == "nng") impl = "nngraw"
    if (impl == "zmq-dune") impl = "dune"
    if (p == "startup") { first = field($0, "first_us"); p50 = field($0, "start_p50_us"); p99 = field($0, "start_p99_us"); next }
    b = field($0, "size")
    k = impl SUBSEP tr SUBSEP b
    rnd = field($0, "round") + 0; if (rnd > maxround) maxround = rnd
    if (p == "throughput") { add("thr" SUBSEP k, field($0, "msgs_per_s")); add("mbs" SUBSEP k, field($0, "mb_per_s")); rv["thr", impl, tr SUBSEP b, rnd] = field($0, "msgs_per_s") }
    else { add("p50" SUBSEP k, field($0, "lat_p50_us")); add("p99" SUBSEP k, field($0, "lat_p99_us")); rv["p50", impl, tr SUBSEP b, rnd] = field($0, "lat_p50_us") }
    if (field($0, "lost") + 0 > 0 && field($0, "lossless") == "true") lost[impl " " tr " " b]++
}
END {
    ntr = split(transports, T, " "); nsz = split(sizes, B, " ")
    if (have_shm + 0) T[++ntr] = "shm"
    if (md != "") {
        print "Measured with `bench/run.sh` (" mode ") on " machine ", libzmq " zmqv "." > md
        print "ipm = ZmqSender → ZmqReceiver through libipm; raw = the same PUSH/PULL sockets and two-frame wire form with plain libzmq, on the same harness; DUNE poll = raw libzmq receiving the way DUNE-DAQ ipm does (non-blocking receive, `usleep(1000)` while empty). shm = ShmSender → ShmReceiver (no raw counterpart). ipm/raw is the median of the per-round ratios. `*` marks a ratio outside the target (throughput ≥ 0.90x, latency ≤ 1.10x raw)." > md
        print "" > md
    }
    print "ipm vs raw libzmq (" mode ")"
    print "machine: " machine ", libzmq " zmqv
    print ""
    print "Throughput, messages/s (MB/s = 10^6 bytes/s); target ipm/raw >= 0.90"
    if (md != "") { print "**Throughput** (messages/s; MB/s = 10^6 B/s)" > md; print "" > md }
    split("transport|size|ipm msg/s|raw msg/s|ipm/raw|ipm MB/s|raw MB/s|DUNE poll", H, "|"); row(H, 8); mdsep(8)
    for (t = 1; t <= ntr; t++) for (i = 1; i <= nsz; i++) {
        k = T[t] SUBSEP B[i]
        if (T[t] == "shm") {
            a = median("thr" SUBSEP "shm" SUBSEP k); if (a == "") continue
            c[1] = "shm"; c[2] = human(B[i]); c[3] = rate(a); c[4] = "—"; c[5] = "—"
            c[6] = mb(median("mbs" SUBSEP "shm" SUBSEP k)); c[7] = "—"; c[8] = "—"; row(c, 8); continue
        }
        a = median("thr" SUBSEP "ipm" SUBSEP k); z = median("thr" SUBSEP "zmq" SUBSEP k)
        c[1] = T[t]; c[2] = human(B[i]); c[3] = rate(a); c[4] = rate(z); c[5] = ratio("thr", k, 0.9, 1)
        c[6] = mb(median("mbs" SUBSEP "ipm" SUBSEP k)); c[7] = mb(median("mbs" SUBSEP "zmq" SUBSEP k))
        c[8] = rate(median("thr" SUBSEP "dune" SUBSEP k)); row(c, 8)
    }
    print ""
    print "One-way latency (round trip / 2), microseconds; target ipm/raw p50 <= 1.10"
    if (md != "") { print "" > md; print "**One-way latency** (round trip / 2, µs)" > md; print "" > md }
    split("transport|size|ipm p50|raw p50|ipm/raw|ipm p99|raw p99|DUNE poll p50", H, "|"); row(H, 8); mdsep(8)
    for (t = 1; t <= ntr; t++) for (i = 1; i <= nsz; i++) {
        k = T[t] SUBSEP B[i]
        if (T[t] == "shm") {
            a = median("p50" SUBSEP "shm" SUBSEP k); if (a == "") continue
            c[1] = "shm"; c[2] = human(B[i]); c[3] = us(a); c[4] = "—"; c[5] = "—"
            c[6] = us(median("p99" SUBSEP "shm" SUBSEP k)); c[7] = "—"; c[8] = "—"; row(c, 8); continue
        }
        a = median("p50" SUBSEP "ipm" SUBSEP k); z = median("p50" SUBSEP "zmq" SUBSEP k)
        c[1] = T[t]; c[2] = human(B[i]); c[3] = us(a); c[4] = us(z); c[5] = ratio("p50", k, 1.1, 0)
        c[6] = us(median("p99" SUBSEP "ipm" SUBSEP k)); c[7] = us(median("p99" SUBSEP "zmq" SUBSEP k))
        c[8] = us(median("p50" SUBSEP "dune" SUBSEP k)); row(c, 8)
    }
    if (have_nng + 0) {
        nnt = split(nng_transports, NT, " ")
        print ""
        print "nng: NngSender -> NngReceiver vs raw libnng " nngv " push0/pull0 (same wire form, send buffer 1024)"
        print "Throughput, messages/s; target ipm/raw >= 1.00"
        if (md != "") { print "" > md; print "**nng throughput** (NngSender → NngReceiver vs raw libnng " nngv " push0/pull0, same wire form and buffers; messages/s; target ipm/raw ≥ 1.00)" > md; print "" > md }
        split("transport|size|ipm msg/s|raw msg/s|ipm/raw|ipm MB/s|raw MB/s", H, "|"); row(H, 7); mdsep(7)
        for (t = 1; t <= nnt; t++) for (i = 1; i <= nsz; i++) {
            k = NT[t] SUBSEP B[i]
            c[1] = NT[t]; c[2] = human(B[i]); c[3] = rate(median("thr" SUBSEP "nngipm" SUBSEP k)); c[4] = rate(median("thr" SUBSEP "nngraw" SUBSEP k))
            c[5] = ratio_of("thr", k, 1.0, 1, "nngipm", "nngraw"); c[6] = mb(median("mbs" SUBSEP "nngipm" SUBSEP k)); c[7] = mb(median("mbs" SUBSEP "nngraw" SUBSEP k)); row(c, 7)
        }
        print ""
        print "One-way latency, microseconds; target ipm/raw p50 <= 1.05"
        if (md != "") { print "" > md; print "**nng one-way latency** (µs; target ipm/raw p50 ≤ 1.05)" > md; print "" > md }
        split("transport|size|ipm p50|raw p50|ipm/raw|ipm p99|raw p99", H, "|"); row(H, 7); mdsep(7)
        for (t = 1; t <= nnt; t++) for (i = 1; i <= nsz; i++) {
            k = NT[t] SUBSEP B[i]
            c[1] = NT[t]; c[2] = human(B[i]); c[3] = us(median("p50" SUBSEP "nngipm" SUBSEP k)); c[4] = us(median("p50" SUBSEP "nngraw" SUBSEP k))
            c[5] = ratio_of("p50", k, 1.05, 0, "nngipm", "nngraw"); c[6] = us(median("p99" SUBSEP "nngipm" SUBSEP k)); c[7] = us(median("p99" SUBSEP "nngraw" SUBSEP k)); row(c, 7)
        }
    }
    print ""
    line = sprintf("Starting a ZmqSender by type name (create + connect): first %s us (plugin load), then p50 %s us, p99 %s us (target < 1000 us)", us(first), us(p50), us(p99))
    print line
    if (md != "") { print "" > md; print line "." > md }
    for (x in lost) print "LOST messages on a lossless pattern: " x
    for (i = 1; i <= nerr; i++) print "FAILED: " errors[i]
    if (nerr) exit 1
}' "$out" || failed=1
# ------------------------------------------------- paired rows (pair_table)
# Each family below compares two commands, side a against side b, in the
# same rounds and interleaved (a, then b, for each size and pattern), into
# a JSON file of its own and a table by bench/pair_table.awk.
# pair_run FILE ROW SIDE ROUND SIZE PATTERN COUNT_ARGS -- CMD...: one
# measurement, its JSON lines tagged with round, row and side.
pair_run() {
    local file=$1 row=$2 side=$3 round=$4 size=$5 pattern=$6 c=$7
    shift 8
    local b
    b=$(bytes "$size")
    [[ -t 2 ]] && printf '\r\033[Kbench/run.sh: %s round %d: %s %s %s' \
        "$row" "$round" "$side" "$size" "$pattern" >&2
    # shellcheck disable=SC2086
    if ! "$@" --json -s "$b" -p "$pattern" -W 100 $c 2>/dev/null |
        sed "s/^{/{\"round\":$round,\"row\":\"$row\",\"side\":\"$side\",/" >>"$file"; then
        failed=1
    fi
    return 0
}
# pair_table FILE TITLE MDTITLE A B THR_TARGET LAT_TARGET: print FILE's table.
pair_table() {
    [[ -t 2 ]] && printf '\r\033[K' >&2
    echo ""
    awk -v md="$md" -v title="$2" -v mdtitle="$3" -v a="$4" -v b="$5" \
        -v thr_target="$6" -v lat_target="$7" -f "$here/pair_table.awk" "$1" || failed=1
    ((keep)) && echo "JSON lines kept in $1" || rm -f "$1"
}

# ------------------------------------------------------------ POSIX mq rows
# MqSender -> MqReceiver against raw mq_send/mq_receive (bench/mq_baseline.c:
# the same queue attributes and wire form) at 64 B and 4 KiB (the default
# queue carries 4 KiB; 1 MiB would need fs.mqueue.msgsize_max raised).
# Shown only when the Mq plugins and mq-baseline exist. mq_sizes overrides
# the sizes.
mq_raw="$build/bin/mq-baseline"
if [[ -x $mq_raw && -e $build/lib/ipm/libipm_MqSender.so && -e $build/lib/ipm/libipm_MqReceiver.so ]]; then
    mq_out=$(mktemp /tmp/ipm-bench-mq.XXXXXX)
    for ((r = 1; r <= rounds; r++)); do
        for size in ${mq_sizes:-64 4Ki}; do
            for pattern in throughput latency; do
                c=$(counts "$pattern" "$(bytes "$size")")
                pair_run "$mq_out" mq a "$r" "$size" "$pattern" "$c" -- \
                    "$bench" -S MqSender -R MqReceiver -e "mq://ipm-bench-mq-$$"
                pair_run "$mq_out" mq b "$r" "$size" "$pattern" "$c" -- \
                    "$mq_raw" -e "mq://ipm-bench-mqraw-$$"
            done
        done
    done
    pair_table "$mq_out" \
        "MqSender -> MqReceiver vs raw mq_send/mq_receive ($mode); targets: throughput >= 0.90x, latency p50 <= 1.10x raw" \
        "**POSIX message queues** (MqSender → MqReceiver vs raw \`mq_send\`/\`mq_receive\`, same queue and wire form)" \
        ipm raw 0.9 1.1
fi

# ---------------------------------------------------------- ZeroMQ CURVE rows
# ZmqSender -> ZmqReceiver over tcp with CURVE (keys from ipm-keygen, the
# client on the receiver's allow-list) against the same pair without: what
# encryption and authentication cost per message.
keygen="$build/bin/ipm-keygen"
if [[ -x $keygen ]]; then
    keys=$(mktemp -d /tmp/ipm-bench-keys.XXXXXX)
    "$keygen" -o "$keys/server" >/dev/null && "$keygen" -o "$keys/client" >/dev/null
    curve=(--receiver-param "curve_secret_key=$keys/server.key"
        --receiver-param "curve_allowed_clients=$keys/client.pub"
        --sender-param "curve_secret_key=$keys/client.key"
        --sender-param "curve_server_public_key=$keys/server.pub")
    curve_out=$(mktemp /tmp/ipm-bench-curve.XXXXXX)
    for ((r = 1; r <= rounds; r++)); do
        for size in $sizes; do
            for pattern in throughput latency; do
                c=$(counts "$pattern" "$(bytes "$size")")
                pair_run "$curve_out" "zmq tcp" a "$r" "$size" "$pattern" "$c" -- \
                    "$bench" -e tcp "${curve[@]}"
                pair_run "$curve_out" "zmq tcp" b "$r" "$size" "$pattern" "$c" -- \
                    "$bench" -e tcp
            done
        done
    done
    rm -rf "$keys"
    pair_table "$curve_out" \
        "ZmqSender -> ZmqReceiver over tcp, CURVE vs plain ($mode); CURVE/plain: the cost of encryption (no target)" \
        "**ZeroMQ CURVE** (ZmqSender → ZmqReceiver over tcp with CURVE keys and an allow-list, against the same pair without; no target, the cost of encryption)" \
        CURVE plain 0 1000
fi

# ------------------------------------------------------------------ NATS rows
# NATS core (NatsPublisher -> NatsSubscriber) and JetStream (NatsSender ->
# NatsReceiver) against the raw cnats client doing the same
# (bench/nats_baseline.c: same subjects, headers and options), through a
# nats-server -js started here on a free loopback port with a temporary
# store. JetStream waits for the stream's acknowledgement of every message,
# so its runs are counted, not sized. Shown only when the NATS plugins,
# nats-baseline and nats-server exist.
nats_raw="$build/bin/nats-baseline"
if [[ -x $nats_raw && -e $build/lib/ipm/libipm_NatsSender.so ]] && command -v nats-server >/dev/null; then
    nats_dir=$(mktemp -d /tmp/ipm-bench-nats.XXXXXX)
    nats_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$nats_dir" >"$nats_dir/log" 2>&1 &
    nats_pid=$!
    for ((i = 0; i < 100; i++)); do
        grep -q 'Server is ready' "$nats_dir/log" 2>/dev/null && break
        sleep 0.1
    done
    nats="nats://127.0.0.1:$nats_port"
    nats_out=$(mktemp /tmp/ipm-bench-nats.XXXXXX)
    for ((r = 1; r <= rounds; r++)); do
        for size in ${nats_sizes:-64 4Ki}; do
            for pattern in throughput latency; do
                c=$(counts "$pattern" "$(bytes "$size")")
                pair_run "$nats_out" core a "$r" "$size" "$pattern" "$c" -- \
                    "$bench" -S NatsPublisher -R NatsSubscriber -e "$nats/bench.core$r"
                pair_run "$nats_out" core b "$r" "$size" "$pattern" "$c" -- \
                    "$nats_raw" -e "$nats/raw.core$r"
                if [[ $pattern == throughput ]]; then c="-c $((quick ? 1000 : 20000))"; else c="-c $((quick ? 300 : 2000))"; fi
                pair_run "$nats_out" jetstream a "$r" "$size" "$pattern" "$c" -- \
                    "$bench" -S NatsSender -R NatsReceiver -e "$nats/bench.js$r"
                pair_run "$nats_out" jetstream b "$r" "$size" "$pattern" "$c" -- \
                    "$nats_raw" --strategy jetstream -e "$nats/raw.js$r"
            done
        done
    done
    kill "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
    rm -rf "$nats_dir"
    natsv=$(dpkg-query -W -f '${Version}' libnats-dev 2>/dev/null || echo "?")
    pair_table "$nats_out" \
        "NATS vs raw cnats $natsv ($mode): core = NatsPublisher -> NatsSubscriber, jetstream = NatsSender -> NatsReceiver; targets: throughput >= 0.90x, latency p50 <= 1.10x raw" \
        "**NATS** (core: NatsPublisher → NatsSubscriber; jetstream: NatsSender → NatsReceiver, each send acknowledged by the stream; against raw cnats $natsv with the same subjects, headers and options, through a local \`nats-server -js\`)" \
        ipm raw 0.9 1.1
fi
# ------------------------------------------------------ end of paired rows
[[ -n $md ]] && echo "markdown written to $md"
((keep)) && echo "raw JSON lines kept in $out"
exit $failed
