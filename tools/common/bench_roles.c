/*
 * bench_roles.c — the two roles of every measurement, and the startup
 * measurement. A role talks to its peer over a pair of pipes (endpoints,
 * readiness, "done") and sends one bench_role_report to the coordinator.
 *
 * Waits on the pipes are poll() with a timeout; waits on the transport are
 * the backend's own timed receive/send. Nothing here sleeps in steps.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a peer may take to answer during setup, and how long a send or an
 * awaited reply may take before the measurement is declared stalled. Far
 * above any real figure: they only turn hangs into errors. */
#define SETUP_TIMEOUT_MS 20000
#define STALL_TIMEOUT_MS 10000
/* Receive slice while waiting for the peer's control message. */
#define SLICE_MS 100

/* Metadata of the two kinds of message: readiness probes and measured data.
 * Both one byte, the same for every backend. */
static const char META_PROBE[] = "p";
static const char META_DATA[] = "d";

enum { CTL_SETUP = 1, CTL_ENDPOINT, CTL_READY, CTL_STOP, CTL_DONE };

/* A control message; small enough to be written atomically to a pipe. */
typedef struct ctl {
    int kind;
    int flag;
    uint64_t value;
    char text[512];
} ctl;

typedef struct role {
    bench_role_io *io;
    const bench_backend *be;
    bench_role_report rep;
} role;

static void fail(role *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(role *r, const char *fmt, ...)
{
    if (!r->rep.ok) return; /* keep the first, root cause */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->rep.error, sizeof r->rep.error, fmt, ap);
    va_end(ap);
    r->rep.ok = 0;
}

/* Fail because the other role went away or stopped answering: most likely
 * a consequence of its own failure, which the coordinator then prefers. */
static void fail_peer(role *r, const char *what)
{
    if (r->rep.ok) r->rep.peer_failure = 1;
    fail(r, "%s", what);
}

/* Fail with the backend's detail appended. */
static void fail_be(role *r, const char *what)
{
    fail(r, "%s: %s", what, r->be->error());
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int ctl_send(role *r, int kind, int flag, uint64_t value, const char *text)
{
    ctl c = {.kind = kind, .flag = flag, .value = value};
    if (text) snprintf(c.text, sizeof c.text, "%s", text);
    if (write_all(r->io->to_peer, &c, sizeof c) != 0) {
        fail_peer(r, "the other role has gone");
        return -1;
    }
    return 0;
}

/* The last word to the peer ("done", "stop"): the peer may rightly have
 * finished already (it knew the count), so a closed pipe is no error. */
static void ctl_notify(role *r, int kind, uint64_t value)
{
    ctl c = {.kind = kind, .value = value};
    write_all(r->io->to_peer, &c, sizeof c);
}

static int ctl_poll(role *r, ctl *c, int timeout_ms);

/* Before closing its transport objects a role waits for the peer's last
 * word (or its end): a receiving end may see the other side's close as an
 * error (a shared-memory subscriber does), and what is still queued must not
 * depend on the transport's linger. Bounded, so a dead peer cannot hang us. */
static void await_peer(role *r)
{
    ctl c;
    uint64_t end = tool_now_ns() + (uint64_t)STALL_TIMEOUT_MS * 1000000u;
    while (ctl_poll(r, &c, 100) == 0 && tool_now_ns() < end) {
    }
}

/* 1: got one, 0: nothing within timeout_ms, -1: the peer is gone. */
static int ctl_poll(role *r, ctl *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = r->io->from_peer, .events = POLLIN};
    int n;
    do {
        n = poll(&pfd, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n == 0) return 0;
    size_t got = 0;
    while (got < sizeof *c) {
        ssize_t k = read(r->io->from_peer, (char *)c + got, sizeof *c - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    return 1;
}

/* Wait for a control message of the given kind; fail otherwise. */
static int ctl_expect(role *r, int kind, ctl *c)
{
    int got = ctl_poll(r, c, SETUP_TIMEOUT_MS);
    if (got == 1 && c->kind == kind) return 0;
    if (got == 0)
        fail_peer(r, "the other role did not answer within the setup timeout");
    else if (got < 0)
        fail_peer(r, "the other role has gone");
    else
        fail(r, "protocol error: control message %d, expected %d", c->kind, kind);
    return -1;
}

/* ------------------------------------------------------ channel setup */

/* The receiving end of channel ch. A non-subscriber binds first and tells
 * the peer where; a subscriber lets the sending end (a publisher) bind and
 * connects to where it says. */
static int chan_rx(role *r, int ch, void **rx, int *lossless)
{
    char ep[512], resolved[512] = "";
    bench_channel_endpoint(r->io->endpoint, ch, ep, sizeof ep);
    bool sub = false;
    if (r->be->rx_create(r->io->cfg, rx, &sub) != BENCH_OK) {
        fail_be(r, "cannot create the receiver");
        return -1;
    }
    *lossless = !sub;
    if (!sub) {
        if (r->be->rx_connect(*rx, ep, resolved, sizeof resolved) != BENCH_OK) {
            char what[600];
            snprintf(what, sizeof what, "cannot connect the receiver to '%s'", ep);
            fail_be(r, what);
            return -1;
        }
        return ctl_send(r, CTL_SETUP, 1, 0, resolved);
    }
    ctl c;
    if (ctl_send(r, CTL_SETUP, 0, 0, ep) != 0 || ctl_expect(r, CTL_ENDPOINT, &c) != 0)
        return -1;
    if (r->be->rx_connect(*rx, c.text, resolved, sizeof resolved) != BENCH_OK) {
        char what[600];
        snprintf(what, sizeof what, "cannot connect the subscriber to '%s'", c.text);
        fail_be(r, what);
        return -1;
    }
    return 0;
}

/* The sending end of channel ch: connect to the receiver's resolved
 * endpoint, or bind (publisher) and tell the receiving end where. */
static int chan_tx(role *r, void **tx)
{
    if (r->be->tx_create(r->io->cfg, tx) != BENCH_OK) {
        fail_be(r, "cannot create the sender");
        return -1;
    }
    ctl c;
    if (ctl_expect(r, CTL_SETUP, &c) != 0) return -1;
    char resolved[512] = "";
    if (r->be->tx_connect(*tx, c.text, resolved, sizeof resolved) != BENCH_OK) {
        char what[600];
        snprintf(what, sizeof what, "cannot connect the sender to '%s'", c.text);
        fail_be(r, what);
        return -1;
    }
    if (!c.flag) return ctl_send(r, CTL_ENDPOINT, 0, 0, resolved[0] ? resolved : c.text);
    return 0;
}

/* Send probes until the receiving end says one arrived: the channel is
 * connected (and, for pub/sub, subscribed) before anything is measured. */
static int probe_tx(role *r, void *tx)
{
    uint64_t end = tool_now_ns() + (uint64_t)SETUP_TIMEOUT_MS * 1000000u;
    static const char probe[8];
    for (;;) {
        int s = r->be->send(tx, probe, sizeof probe, META_PROBE, 50);
        if (s == BENCH_ERROR) {
            fail_be(r, "sending a probe failed");
            return -1;
        }
        ctl c;
        int got = ctl_poll(r, &c, 10);
        if (got == 1 && c.kind == CTL_READY) return 0;
        if (got != 0) {
            fail_peer(r, got < 0 ? "the other role has gone"
                                 : "protocol error while probing");
            return -1;
        }
        if (tool_now_ns() > end) {
            fail(r, "no probe reached the receiver within %d s", SETUP_TIMEOUT_MS / 1000);
            return -1;
        }
    }
}

static int probe_rx(role *r, void *rx)
{
    uint64_t end = tool_now_ns() + (uint64_t)SETUP_TIMEOUT_MS * 1000000u;
    for (;;) {
        bench_msg m;
        int s = r->be->recv(rx, &m, SLICE_MS);
        if (s == BENCH_OK) {
            r->be->release(rx, &m);
            return ctl_send(r, CTL_READY, 0, 0, NULL);
        }
        if (s == BENCH_ERROR) {
            fail_be(r, "receiving a probe failed");
            return -1;
        }
        if (tool_now_ns() > end) {
            fail(r, "no probe arrived within %d s", SETUP_TIMEOUT_MS / 1000);
            return -1;
        }
    }
}

static void put_seq(char *buf, size_t size, uint64_t seq)
{
    if (size >= sizeof seq) memcpy(buf, &seq, sizeof seq);
}

static bool get_seq(const bench_msg *m, uint64_t *seq)
{
    if (m->size < sizeof *seq) return false;
    memcpy(seq, m->data, sizeof *seq);
    return true;
}

static char *payload(role *r)
{
    char *buf = malloc(r->io->size ? r->io->size : 1);
    if (buf == NULL)
        fail(r, "out of memory for a %zu-byte payload", r->io->size);
    else
        memset(buf, 0xa5, r->io->size);
    return buf;
}

/* ----------------------------------------------------------- throughput */

static void stream_send(role *r, void *tx)
{
    char *buf = payload(r);
    if (buf == NULL) return;
    const bench_config *cfg = r->io->cfg;
    uint64_t limit = r->io->count;
    uint64_t stop_at = 0;
    r->rep.t_start = tool_now_ns();
    if (cfg->duration > 0) stop_at = r->rep.t_start + (uint64_t)(cfg->duration * 1e9);
    uint64_t i;
    for (i = 0; i < limit; i++) {
        if (stop_at && (i & 15) == 0 && tool_now_ns() >= stop_at) break;
        put_seq(buf, r->io->size, i);
        int s = r->be->send(tx, buf, r->io->size, META_DATA, STALL_TIMEOUT_MS);
        if (s == BENCH_TIMEOUT) {
            fail(r, "message %llu not taken within %d s: the receiver stalled",
                 (unsigned long long)i, STALL_TIMEOUT_MS / 1000);
            break;
        }
        if (s != BENCH_OK) {
            fail_be(r, "send failed");
            break;
        }
    }
    r->rep.t_end = tool_now_ns();
    r->rep.sent = i;
    free(buf);
    ctl_notify(r, CTL_DONE, i);
    await_peer(r);
}

static void stream_receive(role *r, void *rx, bool lossless)
{
    const bench_config *cfg = r->io->cfg;
    /* Without a duration the count is known up front, and the clock is read
     * once at the end; otherwise (or when messages may be dropped, so the
     * last one may never come) at every arrival. */
    bool stamp_each = cfg->duration > 0 || !lossless;
    uint64_t expected = cfg->duration > 0 ? UINT64_MAX : r->io->count;
    uint64_t next = 0, received = 0, lost = 0, misordered = 0;
    uint64_t last = tool_now_ns();
    /* Idleness is judged at receive timeouts only, so the hot path reads no
     * clock: the time since the count last moved. */
    uint64_t idle_from = last, seen = 0;
    bool done = false;
    for (;;) {
        bench_msg m;
        int s = r->be->recv(rx, &m, SLICE_MS);
        if (s == BENCH_OK) {
            if (m.meta[0] == META_PROBE[0]) {
                r->be->release(rx, &m);
                continue;
            }
            uint64_t seq;
            if (!get_seq(&m, &seq)) seq = next;
            if (seq >= next) {
                if (seq > next && lost == 0) r->rep.first_lost = next;
                lost += seq - next;
                next = seq + 1;
            } else {
                misordered++;
            }
            received++;
            r->be->release(rx, &m);
            if (stamp_each) last = tool_now_ns();
            if (next >= expected) {
                last = tool_now_ns();
                break;
            }
            continue;
        }
        if (s == BENCH_ERROR) {
            fail_be(r, "receive failed");
            break;
        }
        ctl c;
        /* After "done" the sender closes its end: EOF is then expected. */
        int got = done ? 0 : ctl_poll(r, &c, 0);
        if (got < 0) {
            fail_peer(r, "the sender has gone");
            break;
        }
        if (got == 1 && c.kind == CTL_DONE) {
            done = true;
            expected = c.value;
            if (next >= expected) break;
        }
        uint64_t now = tool_now_ns();
        if (received != seen) {
            seen = received;
            idle_from = now;
        }
        uint64_t idle = now - idle_from;
        if (done && idle > 2000000000u) break; /* the rest will not come */
        if (!done && idle > (uint64_t)STALL_TIMEOUT_MS * 1000000u) {
            fail(r, "nothing received for %d s after %llu messages",
                 STALL_TIMEOUT_MS / 1000, (unsigned long long)received);
            break;
        }
    }
    if (expected != UINT64_MAX && next < expected) {
        if (lost == 0) r->rep.first_lost = next;
        lost += expected - next;
    }
    ctl_notify(r, CTL_STOP, 0);
    r->rep.t_end = last;
    r->rep.received = received;
    r->rep.lost = lost;
    r->rep.misordered = misordered;
}

/* -------------------------------------------------------------- latency */

static void ping(role *r, void *tx, void *rx, bool lossless)
{
    char *buf = payload(r);
    const bench_config *cfg = r->io->cfg;
    uint64_t count = r->io->count;
    uint64_t warm =
        cfg->warmup_set ? cfg->warmup : (count / 10 < 1000 ? count / 10 : 1000);
    size_t cap = count < (1u << 20) ? (size_t)count : (1u << 20);
    uint64_t *rtt = malloc((cap ? cap : 1) * sizeof *rtt);
    if (buf == NULL || rtt == NULL) {
        fail(r, "out of memory for latency samples");
        free(buf);
        free(rtt);
        return;
    }
    size_t n = 0;
    uint64_t lost = 0, stop_at = 0;
    for (uint64_t i = 0; i < warm + count && r->rep.ok; i++) {
        if (i == warm) {
            r->rep.t_start = tool_now_ns();
            if (cfg->duration > 0)
                stop_at = r->rep.t_start + (uint64_t)(cfg->duration * 1e9);
        }
        if (stop_at && tool_now_ns() >= stop_at) break;
        put_seq(buf, r->io->size, i);
        uint64_t t0 = tool_now_ns();
        int s = r->be->send(tx, buf, r->io->size, META_DATA, STALL_TIMEOUT_MS);
        if (s != BENCH_OK) {
            if (s == BENCH_TIMEOUT)
                fail(r, "ping %llu not taken within %d s", (unsigned long long)i,
                     STALL_TIMEOUT_MS / 1000);
            else
                fail_be(r, "send failed");
            break;
        }
        for (;;) {
            bench_msg m;
            s = r->be->recv(rx, &m, STALL_TIMEOUT_MS);
            if (s == BENCH_TIMEOUT) {
                if (lossless)
                    fail(r, "no reply to ping %llu within %d s", (unsigned long long)i,
                         STALL_TIMEOUT_MS / 1000);
                else if (i >= warm)
                    lost++;
                break;
            }
            if (s != BENCH_OK) {
                fail_be(r, "receive failed");
                break;
            }
            uint64_t seq;
            bool stale = m.meta[0] == META_PROBE[0] || (get_seq(&m, &seq) && seq != i);
            uint64_t t1 = tool_now_ns();
            r->be->release(rx, &m);
            if (stale) continue; /* a probe, or the late reply to a lost ping */
            if (i >= warm) {
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 1024;
                    uint64_t *bigger = realloc(rtt, ncap * sizeof *rtt);
                    if (bigger == NULL) {
                        fail(r, "out of memory for latency samples");
                        break;
                    }
                    rtt = bigger;
                    cap = ncap;
                }
                rtt[n++] = t1 - t0;
            }
            break;
        }
    }
    r->rep.t_end = tool_now_ns();
    r->rep.rounds = n + lost;
    r->rep.received = n;
    r->rep.lost = lost;
    tool_percentiles(rtt, n, &r->rep.lat);
    free(rtt);
    free(buf);
    ctl_notify(r, CTL_STOP, 0);
    await_peer(r);
}

static void pong(role *r, void *rx, void *tx)
{
    for (;;) {
        bench_msg m;
        int s = r->be->recv(rx, &m, SLICE_MS);
        if (s == BENCH_OK) {
            if (m.meta[0] == META_PROBE[0]) {
                r->be->release(rx, &m);
                continue;
            }
            /* Echo the bytes as received: what an application that
             * forwards a message does with either API. */
            s = r->be->send(tx, m.data, m.size, META_DATA, STALL_TIMEOUT_MS);
            r->be->release(rx, &m);
            if (s != BENCH_OK) {
                if (s == BENCH_TIMEOUT)
                    fail(r, "reply not taken within %d s", STALL_TIMEOUT_MS / 1000);
                else
                    fail_be(r, "send failed");
                return;
            }
            r->rep.sent++;
            continue;
        }
        if (s == BENCH_ERROR) {
            fail_be(r, "receive failed");
            return;
        }
        ctl c;
        int got = ctl_poll(r, &c, 0);
        if (got == 1 && c.kind == CTL_STOP) {
            ctl_notify(r, CTL_STOP, 0); /* the pinging role may close now */
            return;
        }
        if (got < 0) {
            fail_peer(r, "the pinging role has gone");
            return;
        }
    }
}

/* ---------------------------------------------------------------- roles */

static void finish(role *r, void *tx, void *rx)
{
    if (rx) {
        r->rep.dropped = r->be->dropped(rx);
        r->be->rx_destroy(rx);
    }
    if (tx) r->be->tx_destroy(tx);
    write_all(r->io->to_coord, &r->rep, sizeof r->rep);
    close(r->io->to_coord);
    close(r->io->to_peer);
    close(r->io->from_peer);
}

void bench_role_sender(bench_role_io *io)
{
    role r = {.io = io, .be = io->cfg->backend, .rep = {.ok = 1}};
    void *tx = NULL, *rx = NULL;
    int lossless = 1;
    if (chan_tx(&r, &tx) == 0) {
        if (io->pattern == BENCH_THROUGHPUT) {
            if (probe_tx(&r, tx) == 0) stream_send(&r, tx);
        } else if (chan_rx(&r, 1, &rx, &lossless) == 0 && probe_tx(&r, tx) == 0 &&
                   probe_rx(&r, rx) == 0) {
            ping(&r, tx, rx, lossless);
        }
    }
    r.rep.lossless = lossless;
    finish(&r, tx, rx);
}

void bench_role_receiver(bench_role_io *io)
{
    role r = {.io = io, .be = io->cfg->backend, .rep = {.ok = 1}};
    void *tx = NULL, *rx = NULL;
    int lossless = 1;
    if (chan_rx(&r, 0, &rx, &lossless) == 0) {
        if (io->pattern == BENCH_THROUGHPUT) {
            if (probe_rx(&r, rx) == 0) stream_receive(&r, rx, lossless);
        } else if (chan_tx(&r, &tx) == 0 && probe_rx(&r, rx) == 0 &&
                   probe_tx(&r, tx) == 0) {
            pong(&r, rx, tx);
        }
    }
    r.rep.lossless = lossless;
    finish(&r, tx, rx);
}

/* The time to start a sender by type name: create and connect, the first
 * time (the plugin is loaded then) and then cfg->startup_iterations times. A
 * receiver is bound first so that the connects have a peer, unless the
 * receiving type is a subscriber, whose publisher binds by itself. */
void bench_role_startup(bench_role_io *io)
{
    role r = {.io = io, .be = io->cfg->backend, .rep = {.ok = 1}};
    const bench_config *cfg = io->cfg;
    char ep[512], target[512];
    bench_channel_endpoint(io->endpoint, 2, ep, sizeof ep);
    snprintf(target, sizeof target, "%s", ep);
    void *rx = NULL;
    bool sub = false;
    if (r.be->rx_create(cfg, &rx, &sub) != BENCH_OK) {
        fail_be(&r, "cannot create the receiver");
    } else if (sub) {
        r.be->rx_destroy(rx);
        rx = NULL;
    } else if (r.be->rx_connect(rx, ep, target, sizeof target) != BENCH_OK) {
        fail_be(&r, "cannot connect the receiver");
    }
    int n = cfg->startup_iterations;
    uint64_t *t = calloc((size_t)n, sizeof *t);
    if (t == NULL) fail(&r, "out of memory");
    for (int i = -1; i < n && r.rep.ok; i++) {
        void *tx = NULL;
        char resolved[512];
        uint64_t t0 = tool_now_ns();
        int s = r.be->tx_create(cfg, &tx);
        if (s == BENCH_OK) s = r.be->tx_connect(tx, target, resolved, sizeof resolved);
        uint64_t t1 = tool_now_ns();
        if (s != BENCH_OK) fail_be(&r, "cannot start the sender");
        if (tx) r.be->tx_destroy(tx);
        if (i < 0)
            r.rep.first_ns = (double)(t1 - t0);
        else
            t[i] = t1 - t0;
    }
    if (r.rep.ok) tool_percentiles(t, (size_t)n, &r.rep.start);
    free(t);
    r.rep.lossless = !sub;
    finish(&r, NULL, rx);
}
