/*
 * zmq_baseline.c — the raw-libzmq baseline that ipm-bench is compared with.
 *
 * Same harness as ipm-bench (tools/common/bench_*.c: same processes, message
 * pattern, payloads, clock and statistics); only the backend differs: plain
 * libzmq calls, written as a careful application would write them without
 * ipm, with the wire form and socket setup of the Zmq plugins:
 *   - PUSH (connects, ZMQ_IMMEDIATE, linger 1000 ms) -> PULL (binds);
 *   - each message is two frames, metadata (ZMQ_SNDMORE) then data, sent
 *     from the caller's buffers (zmq_send copies, as ipm_send must);
 *   - received frames are zmq_msg_t, not copied;
 *   - one context per process, 1 I/O thread; timeouts as ZMQ_SNDTIMEO /
 *     ZMQ_RCVTIMEO, set only when they change.
 *
 * --strategy dune receives the way DUNE-DAQ's ZmqReceiver does: a
 * non-blocking receive, and usleep(1000) while nothing is there, until the
 * timeout. It is a reference row that shows what waiting in the kernel buys.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/bench.h"

#define LINGER_MS 1000

static const char usage_head[] =
    "Usage: zmq-baseline [options]\n"
    "The raw-libzmq baseline of ipm-bench: the same measurements over plain\n"
    "ZeroMQ PUSH/PULL sockets with the same two-frame wire form.\n"
    "\n";

static const char extra_help[] =
    "      --strategy S      how the receiver waits: block (in zmq_msg_recv with\n"
    "                        ZMQ_RCVTIMEO; default) or dune (non-blocking receive\n"
    "                        and usleep(1000) while empty, as DUNE-DAQ's ipm does)\n";

static _Thread_local char last_error[512];

static int failed(const char *what)
{
    snprintf(last_error, sizeof last_error, "%s: %s", what, zmq_strerror(zmq_errno()));
    return BENCH_ERROR;
}

static const char *be_error(void)
{
    return last_error;
}

/* One context per process, shared by the roles' threads (inproc:// needs
 * it). The harness runs each measurement in a fresh process, so the context
 * is never inherited across fork. */
static void *g_ctx;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_dune; /* --strategy dune */

/* At the exit of a role process: like ipm's last destroy, terminating the
 * context waits (up to the linger) until queued messages are delivered. */
static void end_context(void)
{
    if (g_ctx) zmq_ctx_term(g_ctx);
}

static void make_context(void)
{
    g_ctx = zmq_ctx_new();
    if (g_ctx) {
        zmq_ctx_set(g_ctx, ZMQ_IO_THREADS, 1);
        atexit(end_context);
    }
}

typedef struct zsock {
    void *s;
    int sndtimeo, rcvtimeo; /* as last set; -2: never */
    zmq_msg_t meta, data;   /* the message out at a time (receiving end) */
    char meta_text[256];
} zsock;

static int new_socket(int type, zsock **out)
{
    pthread_once(&g_once, make_context);
    if (g_ctx == NULL) return failed("zmq_ctx_new");
    zsock *z = calloc(1, sizeof *z);
    if (z == NULL) {
        snprintf(last_error, sizeof last_error, "out of memory");
        return BENCH_ERROR;
    }
    z->s = zmq_socket(g_ctx, type);
    if (z->s == NULL) {
        free(z);
        return failed("zmq_socket");
    }
    int linger = LINGER_MS;
    zmq_setsockopt(z->s, ZMQ_LINGER, &linger, sizeof linger);
    z->sndtimeo = z->rcvtimeo = -2;
    zmq_msg_init(&z->meta);
    zmq_msg_init(&z->data);
    *out = z;
    return BENCH_OK;
}

static void close_socket(zsock *z)
{
    zmq_msg_close(&z->meta);
    zmq_msg_close(&z->data);
    zmq_close(z->s);
    free(z);
}

static int be_rx_create(const bench_config *cfg, void **rx, bool *subscriber)
{
    (void)cfg;
    *subscriber = false;
    zsock *z;
    int rc = new_socket(ZMQ_PULL, &z);
    if (rc == BENCH_OK) *rx = z;
    return rc;
}

static int last_endpoint(zsock *z, const char *endpoint, char *resolved, size_t cap)
{
    size_t len = cap;
    if (zmq_getsockopt(z->s, ZMQ_LAST_ENDPOINT, resolved, &len) != 0)
        snprintf(resolved, cap, "%s", endpoint);
    /* A wildcard bind reports 0.0.0.0; connect to loopback, as the Zmq
     * plugins' resolved endpoints let a sender do. */
    char *any = strstr(resolved, "0.0.0.0");
    if (any) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%.*s127.0.0.1%s", (int)(any - resolved), resolved,
                 any + 7);
        snprintf(resolved, cap, "%s", tmp);
    }
    return BENCH_OK;
}

static int be_rx_connect(void *rx, const char *endpoint, char *resolved, size_t cap)
{
    zsock *z = rx;
    if (zmq_bind(z->s, endpoint) != 0) return failed(endpoint);
    return last_endpoint(z, endpoint, resolved, cap);
}

static int be_tx_create(const bench_config *cfg, void **tx)
{
    (void)cfg;
    zsock *z;
    int rc = new_socket(ZMQ_PUSH, &z);
    if (rc != BENCH_OK) return rc;
    int one = 1;
    zmq_setsockopt(z->s, ZMQ_IMMEDIATE, &one, sizeof one);
    *tx = z;
    return BENCH_OK;
}

static int be_tx_connect(void *tx, const char *endpoint, char *resolved, size_t cap)
{
    zsock *z = tx;
    if (zmq_connect(z->s, endpoint) != 0) return failed(endpoint);
    snprintf(resolved, cap, "%s", endpoint);
    return BENCH_OK;
}

static void set_timeout(zsock *z, int opt, int *cached, int ms)
{
    if (*cached == ms) return;
    zmq_setsockopt(z->s, opt, &ms, sizeof ms);
    *cached = ms;
}

static int be_send(void *tx, const void *data, size_t size, const char *meta,
                   int timeout_ms)
{
    zsock *z = tx;
    set_timeout(z, ZMQ_SNDTIMEO, &z->sndtimeo, timeout_ms);
    for (;;) {
        if (zmq_send(z->s, meta, strlen(meta), ZMQ_SNDMORE) >= 0) break;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return BENCH_TIMEOUT;
        return failed("zmq_send");
    }
    /* The first frame committed the message to a pipe: the second fits. */
    for (;;) {
        if (zmq_send(z->s, data, size, ZMQ_DONTWAIT) >= 0) return BENCH_OK;
        if (errno != EINTR) return failed("zmq_send");
    }
}

static uint64_t now_ns(void)
{
    return tool_now_ns();
}

/* DUNE-DAQ's ZmqReceiver: try without waiting; while nothing is there,
 * usleep(1000) and try again until the timeout has passed. */
static int recv_dune(zsock *z, int timeout_ms)
{
    uint64_t start = now_ns();
    for (;;) {
        if (zmq_msg_recv(&z->meta, z->s, ZMQ_DONTWAIT) >= 0) return BENCH_OK;
        if (errno != EAGAIN && errno != EINTR) return failed("zmq_msg_recv");
        if (timeout_ms > 0) usleep(1000);
        if (timeout_ms >= 0 && now_ns() - start >= (uint64_t)timeout_ms * 1000000u)
            return BENCH_TIMEOUT;
    }
}

static int be_recv(void *rx, bench_msg *m, int timeout_ms)
{
    zsock *z = rx;
    int rc;
    if (g_dune) {
        rc = recv_dune(z, timeout_ms);
    } else {
        set_timeout(z, ZMQ_RCVTIMEO, &z->rcvtimeo, timeout_ms);
        for (;;) {
            if (zmq_msg_recv(&z->meta, z->s, 0) >= 0) {
                rc = BENCH_OK;
                break;
            }
            if (errno == EINTR) continue;
            rc = errno == EAGAIN ? BENCH_TIMEOUT : failed("zmq_msg_recv");
            break;
        }
    }
    if (rc != BENCH_OK) return rc;
    if (!zmq_msg_more(&z->meta)) {
        snprintf(last_error, sizeof last_error, "a one-frame message: not the wire form");
        return BENCH_ERROR;
    }
    if (zmq_msg_recv(&z->data, z->s, ZMQ_DONTWAIT) < 0)
        return failed("zmq_msg_recv (data)");
    size_t n = zmq_msg_size(&z->meta);
    if (n >= sizeof z->meta_text) n = sizeof z->meta_text - 1;
    memcpy(z->meta_text, zmq_msg_data(&z->meta), n);
    z->meta_text[n] = '\0';
    m->data = zmq_msg_data(&z->data);
    m->size = zmq_msg_size(&z->data);
    m->meta = z->meta_text;
    return BENCH_OK;
}

static void be_release(void *rx, bench_msg *m)
{
    (void)rx;
    (void)m;
    /* The frames are reused by the next zmq_msg_recv, which closes them. */
}

static uint64_t be_dropped(void *rx)
{
    (void)rx;
    return 0;
}

static void be_destroy(void *sock)
{
    close_socket(sock);
}

static const bench_backend zmq_backend = {
    .impl = "zmq",
    .rx_create = be_rx_create,
    .rx_connect = be_rx_connect,
    .tx_create = be_tx_create,
    .tx_connect = be_tx_connect,
    .send = be_send,
    .recv = be_recv,
    .release = be_release,
    .dropped = be_dropped,
    .tx_destroy = be_destroy,
    .rx_destroy = be_destroy,
    .error = be_error,
};

int main(int argc, char **argv)
{
    tool_set_name(argv[0]);
    bench_backend backend = zmq_backend;
    bench_config cfg = {
        .backend = &backend, .sender_type = "PUSH", .receiver_type = "PULL"};
    int rc =
        bench_parse_args(&cfg, argc, argv, BENCH_OPT_STRATEGY, usage_head, extra_help);
    if (rc < 0) {
        if (cfg.strategy == NULL || strcmp(cfg.strategy, "block") == 0) {
            rc = -1;
        } else if (strcmp(cfg.strategy, "dune") == 0) {
            g_dune = true;
            backend.impl = "zmq-dune";
        } else {
            rc = tool_usage_error("--strategy '%s': use block or dune", cfg.strategy);
        }
    }
    if (rc < 0) {
        tool_install_signals();
        rc = bench_run(&cfg);
    }
    bench_config_free(&cfg);
    return rc;
}
