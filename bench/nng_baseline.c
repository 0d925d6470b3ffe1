/*
 * nng_baseline.c — the raw-libnng baseline that ipm-bench's NngSender ->
 * NngReceiver rows are compared with.
 *
 * Same harness as ipm-bench (tools/common/bench_*.c: same processes,
 * message pattern, payloads, clock and statistics); only the backend
 * differs: plain libnng calls, written as a careful application would
 * write them without ipm, with the same buffer setting and the same bytes
 * on the wire as the Nng plugins:
 *   - push0 (dials) -> pull0 (listens), NNG_OPT_SENDBUF = 1024 (the
 *     NngSender's default send_buffer: that many messages may be in
 *     flight) and NNG_OPT_RECVMAXSZ = 256 MiB (the NngReceiver's default);
 *   - each message is the family's wire form (docs/nng.md): the
 *     harness's metadata, a 0x00, the data, a 12-byte trailer, built in
 *     one nng_msg (nng_sendmsg takes it; the caller's buffer is copied
 *     once, as ipm_send must);
 *   - received messages are nng_msg, not copied, freed at release;
 *   - timeouts as NNG_OPT_SENDTIMEO / NNG_OPT_RECVTIMEO, set only when
 *     they change.
 * The harness runs each role in a fresh process that touches nng only
 * after the fork, as nng requires.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "common/bench.h"

#define SEND_BUFFER 1024
#define RECV_MAX (256u << 20)
#define MAGIC "\xFFipmnng\x01"

static const char usage_head[] =
    "Usage: nng-baseline [options]\n"
    "The raw-libnng baseline of ipm-bench: the same measurements over plain\n"
    "nng push0/pull0 sockets with the nng family's wire form and buffers.\n"
    "\n";

static _Thread_local char last_error[512];

static int failed(const char *what, int rv)
{
    snprintf(last_error, sizeof last_error, "%.200s: %.200s", what, nng_strerror(rv));
    return BENCH_ERROR;
}

static const char *be_error(void)
{
    return last_error;
}

typedef struct nsock {
    nng_socket s;
    int sndtimeo, rcvtimeo; /* as last set; -3: never */
    nng_msg *held;          /* the message out at a time (receiving end) */
    char meta[256];
} nsock;

static int new_socket(bool push, nsock **out)
{
    nsock *n = calloc(1, sizeof *n);
    if (n == NULL) {
        snprintf(last_error, sizeof last_error, "out of memory");
        return BENCH_ERROR;
    }
    int rv = push ? nng_push0_open(&n->s) : nng_pull0_open(&n->s);
    if (rv != 0) {
        free(n);
        return failed("nng_*_open", rv);
    }
    n->sndtimeo = n->rcvtimeo = -3;
    *out = n;
    return BENCH_OK;
}

static int be_rx_create(const bench_config *cfg, void **rx, bool *subscriber)
{
    (void)cfg;
    *subscriber = false;
    nsock *n;
    int rc = new_socket(false, &n);
    if (rc != BENCH_OK) return rc;
    nng_socket_set_size(n->s, NNG_OPT_RECVMAXSZ, RECV_MAX);
    *rx = n;
    return BENCH_OK;
}

/* The harness writes ZeroMQ's "any port", tcp://host:*; nng says :0. */
static void nng_url_of(const char *endpoint, char *out, size_t cap)
{
    size_t len = strlen(endpoint);
    if (len >= 2 && strcmp(endpoint + len - 2, ":*") == 0)
        snprintf(out, cap, "%.*s:0", (int)(len - 2), endpoint);
    else
        snprintf(out, cap, "%s", endpoint);
}

static int be_rx_connect(void *rx, const char *endpoint, char *resolved, size_t cap)
{
    nsock *n = rx;
    char url[512];
    nng_url_of(endpoint, url, sizeof url);
    nng_listener l;
    int rv = nng_listen(n->s, url, &l, 0);
    if (rv != 0) return failed(url, rv);
    snprintf(resolved, cap, "%s", url);
    nng_sockaddr sa;
    if (strncmp(url, "tcp://", 6) == 0 &&
        nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0 && sa.s_family == NNG_AF_INET) {
        char *colon = strrchr(url, ':');
        snprintf(resolved, cap, "%.*s:%u", (int)(colon - url), url,
                 (unsigned)ntohs(sa.s_in.sa_port));
    }
    return BENCH_OK;
}

static int be_tx_create(const bench_config *cfg, void **tx)
{
    (void)cfg;
    nsock *n;
    int rc = new_socket(true, &n);
    if (rc != BENCH_OK) return rc;
    int rv = nng_socket_set_int(n->s, NNG_OPT_SENDBUF, SEND_BUFFER);
    if (rv != 0) {
        nng_close(n->s);
        free(n);
        return failed("NNG_OPT_SENDBUF", rv);
    }
    *tx = n;
    return BENCH_OK;
}

static int be_tx_connect(void *tx, const char *endpoint, char *resolved, size_t cap)
{
    nsock *n = tx;
    int rv = nng_dial(n->s, endpoint, NULL, NNG_FLAG_NONBLOCK);
    if (rv != 0) return failed(endpoint, rv);
    snprintf(resolved, cap, "%s", endpoint);
    return BENCH_OK;
}

static void set_timeout(nsock *n, const char *opt, int *cached, int ms)
{
    if (*cached == ms) return;
    nng_socket_set_ms(n->s, opt, ms < 0 ? NNG_DURATION_INFINITE : ms);
    *cached = ms;
}

static int be_send(void *tx, const void *data, size_t size, const char *meta,
                   int timeout_ms)
{
    nsock *n = tx;
    size_t mlen = strlen(meta);
    size_t total = mlen ? mlen + 1 + size + 12 : size;
    nng_msg *m;
    int rv = nng_msg_alloc(&m, total);
    if (rv != 0) return failed("nng_msg_alloc", rv);
    unsigned char *p = nng_msg_body(m);
    if (mlen) {
        memcpy(p, meta, mlen);
        p[mlen] = 0;
        p += mlen + 1;
    }
    memcpy(p, data, size);
    if (mlen) {
        uint32_t be = htonl((uint32_t)mlen);
        memcpy(p + size, &be, 4);
        memcpy(p + size + 4, MAGIC, 8);
    }
    set_timeout(n, NNG_OPT_SENDTIMEO, &n->sndtimeo, timeout_ms);
    rv = nng_sendmsg(n->s, m, 0);
    if (rv == 0) return BENCH_OK;
    nng_msg_free(m);
    return rv == NNG_ETIMEDOUT ? BENCH_TIMEOUT : failed("nng_sendmsg", rv);
}

static int be_recv(void *rx, bench_msg *bm, int timeout_ms)
{
    nsock *n = rx;
    set_timeout(n, NNG_OPT_RECVTIMEO, &n->rcvtimeo, timeout_ms);
    nng_msg *m;
    int rv = nng_recvmsg(n->s, &m, 0);
    if (rv == NNG_ETIMEDOUT) return BENCH_TIMEOUT;
    if (rv != 0) return failed("nng_recvmsg", rv);
    const unsigned char *b = nng_msg_body(m);
    size_t len = nng_msg_len(m);
    bm->data = b;
    bm->size = len;
    bm->meta = "";
    if (len >= 13 && memcmp(b + len - 8, MAGIC, 8) == 0) {
        uint32_t be;
        memcpy(&be, b + len - 12, 4);
        size_t mlen = ntohl(be);
        if (mlen + 13 <= len && b[mlen] == 0) {
            bm->meta = (const char *)b;
            bm->data = b + mlen + 1;
            bm->size = len - mlen - 13;
        }
    }
    n->held = m;
    return BENCH_OK;
}

static void be_release(void *rx, bench_msg *m)
{
    nsock *n = rx;
    (void)m;
    if (n->held) nng_msg_free(n->held);
    n->held = NULL;
}

static uint64_t be_dropped(void *rx)
{
    (void)rx;
    return 0;
}

static void be_destroy(void *sock)
{
    nsock *n = sock;
    if (n->held) nng_msg_free(n->held);
    nng_close(n->s);
    free(n);
}

static const bench_backend nng_backend = {
    .impl = "nng",
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
    bench_config cfg = {
        .backend = &nng_backend, .sender_type = "push0", .receiver_type = "pull0"};
    int rc = bench_parse_args(&cfg, argc, argv, 0, usage_head, "");
    if (rc < 0) {
        tool_install_signals();
        rc = bench_run(&cfg);
    }
    bench_config_free(&cfg);
    return rc;
}
