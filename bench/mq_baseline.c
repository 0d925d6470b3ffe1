/*
 * mq_baseline.c — the raw POSIX message-queue baseline that ipm-bench's
 * MqSender -> MqReceiver is compared with.
 *
 * Same harness as ipm-bench (tools/common/bench_*.c: same processes, message
 * pattern, payloads, clock and statistics); only the backend differs: plain
 * mq_open/mq_send/mq_receive, written as a careful application would write
 * them without ipm, with the queue and wire form of the Mq plugins:
 *   - the receiving end creates /NAME (O_CREAT, max_messages 10, message
 *     size 4 KiB + 263 bytes or the largest --size + 263, mode 0600) and
 *     removes it at the end; the sending end opens it write-only;
 *   - each message is one mq_send, priority 0, of the 8-byte header, the
 *     data and the metadata (the harness tells probes from data by their
 *     metadata, so a raw application has to carry it too), assembled in one
 *     buffer, since mq_send takes one;
 *   - mq_receive into one reused buffer; timeouts as mq_timed* with an
 *     absolute CLOCK_REALTIME time, a time in the past for "try once".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bench.h"

#define HEADER 8
#define OVERHEAD (HEADER + 255)
#define MAX_MESSAGES 10
#define DEFAULT_DATA 4096

static const char usage_head[] =
    "Usage: mq-baseline [options]\n"
    "The raw POSIX message-queue baseline of ipm-bench: the same measurements\n"
    "over plain mq_send/mq_receive with the Mq plugins' queue and wire form.\n"
    "Endpoints are mq://NAME.\n"
    "\n";

static _Thread_local char last_error[512];

static int failed(const char *what)
{
    snprintf(last_error, sizeof last_error, "%s: %s", what, strerror(errno));
    return BENCH_ERROR;
}

static const char *be_error(void)
{
    return last_error;
}

typedef struct mqend {
    mqd_t q;
    bool owner;
    char qname[256];
    long msgsize;
    unsigned char *buf; /* msgsize + 1 bytes */
    size_t data_max;
} mqend;

static int new_end(const bench_config *cfg, mqend **out)
{
    mqend *e = calloc(1, sizeof *e);
    if (e == NULL) {
        snprintf(last_error, sizeof last_error, "out of memory");
        return BENCH_ERROR;
    }
    e->q = (mqd_t)-1;
    e->data_max = DEFAULT_DATA;
    for (size_t i = 0; i < cfg->nsizes; i++)
        if (cfg->sizes[i] > e->data_max) e->data_max = cfg->sizes[i];
    *out = e;
    return BENCH_OK;
}

static int queue_name(mqend *e, const char *endpoint)
{
    if (strncmp(endpoint, "mq://", 5) != 0 || strlen(endpoint + 5) > 200) {
        snprintf(last_error, sizeof last_error, "'%s' is not mq://NAME", endpoint);
        return BENCH_ERROR;
    }
    snprintf(e->qname, sizeof e->qname, "/%s", endpoint + 5);
    return BENCH_OK;
}

static int attach(mqend *e)
{
    struct mq_attr a;
    if (mq_getattr(e->q, &a) != 0) return failed("mq_getattr");
    e->msgsize = a.mq_msgsize;
    e->buf = malloc((size_t)a.mq_msgsize + 1);
    if (e->buf == NULL) {
        snprintf(last_error, sizeof last_error, "out of memory");
        return BENCH_ERROR;
    }
    return BENCH_OK;
}

static int be_rx_create(const bench_config *cfg, void **rx, bool *subscriber)
{
    *subscriber = false;
    mqend *e;
    int rc = new_end(cfg, &e);
    if (rc == BENCH_OK) *rx = e;
    return rc;
}

static int be_rx_connect(void *rx, const char *endpoint, char *resolved, size_t cap)
{
    mqend *e = rx;
    if (queue_name(e, endpoint) != BENCH_OK) return BENCH_ERROR;
    struct mq_attr a = {.mq_maxmsg = MAX_MESSAGES,
                        .mq_msgsize = (long)(e->data_max + OVERHEAD)};
    mq_unlink(e->qname); /* a fresh queue with these attributes */
    e->q = mq_open(e->qname, O_RDONLY | O_CREAT | O_EXCL, 0600, &a);
    if (e->q == (mqd_t)-1) return failed(e->qname);
    e->owner = true;
    snprintf(resolved, cap, "%s", endpoint);
    return attach(e);
}

static int be_tx_create(const bench_config *cfg, void **tx)
{
    mqend *e;
    int rc = new_end(cfg, &e);
    if (rc == BENCH_OK) *tx = e;
    return rc;
}

static int be_tx_connect(void *tx, const char *endpoint, char *resolved, size_t cap)
{
    mqend *e = tx;
    if (queue_name(e, endpoint) != BENCH_OK) return BENCH_ERROR;
    e->q = mq_open(e->qname, O_WRONLY);
    if (e->q == (mqd_t)-1) return failed(e->qname);
    snprintf(resolved, cap, "%s", endpoint);
    return attach(e);
}

/* The absolute CLOCK_REALTIME time timeout_ms from now. */
static struct timespec abs_time(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static int be_send(void *tx, const void *data, size_t size, const char *meta,
                   int timeout_ms)
{
    mqend *e = tx;
    size_t ml = strlen(meta);
    size_t n = HEADER + size + ml;
    if (ml > 255 || n > (size_t)e->msgsize) {
        snprintf(last_error, sizeof last_error, "message too large for the queue");
        return BENCH_ERROR;
    }
    static const unsigned char hdr[6] = {0x89, 'I', 'Q', 'M', 1, 0};
    memcpy(e->buf, hdr, 6);
    e->buf[6] = (unsigned char)ml;
    e->buf[7] = 0;
    memcpy(e->buf + HEADER, data, size);
    memcpy(e->buf + HEADER + size, meta, ml);
    static const struct timespec past = {0, 0};
    for (;;) {
        if (mq_timedsend(e->q, (const char *)e->buf, n, 0, &past) == 0) return BENCH_OK;
        if (errno == EINTR) continue;
        if (errno != ETIMEDOUT) return failed("mq_send");
        break;
    }
    if (timeout_ms == 0) return BENCH_TIMEOUT;
    struct timespec ts = abs_time(timeout_ms);
    for (;;) {
        int rc = timeout_ms < 0 ? mq_send(e->q, (const char *)e->buf, n, 0)
                                : mq_timedsend(e->q, (const char *)e->buf, n, 0, &ts);
        if (rc == 0) return BENCH_OK;
        if (errno == EINTR) continue;
        return errno == ETIMEDOUT ? BENCH_TIMEOUT : failed("mq_send");
    }
}

static int be_recv(void *rx, bench_msg *m, int timeout_ms)
{
    mqend *e = rx;
    struct timespec ts = {0, 0};
    if (timeout_ms > 0) ts = abs_time(timeout_ms);
    ssize_t n;
    for (;;) {
        n = timeout_ms < 0
                ? mq_receive(e->q, (char *)e->buf, (size_t)e->msgsize, NULL)
                : mq_timedreceive(e->q, (char *)e->buf, (size_t)e->msgsize, NULL, &ts);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        return errno == ETIMEDOUT ? BENCH_TIMEOUT : failed("mq_receive");
    }
    size_t ml = n >= HEADER ? e->buf[6] : 0;
    if (n < HEADER || e->buf[0] != 0x89 || ml > (size_t)n - HEADER) {
        snprintf(last_error, sizeof last_error, "not the wire form");
        return BENCH_ERROR;
    }
    size_t size = (size_t)n - HEADER - ml;
    m->data = e->buf + HEADER;
    m->size = size;
    e->buf[n] = '\0';
    m->meta = (const char *)e->buf + HEADER + size;
    return BENCH_OK;
}

static void be_release(void *rx, bench_msg *m)
{
    (void)rx;
    (void)m; /* the buffer is reused by the next receive */
}

static uint64_t be_dropped(void *rx)
{
    (void)rx;
    return 0;
}

static void be_destroy(void *end)
{
    mqend *e = end;
    if (e->q != (mqd_t)-1) mq_close(e->q);
    if (e->owner) mq_unlink(e->qname);
    free(e->buf);
    free(e);
}

static const bench_backend mq_backend = {
    .impl = "mq",
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
        .backend = &mq_backend, .sender_type = "mq_send", .receiver_type = "mq_receive"};
    int rc = bench_parse_args(&cfg, argc, argv, 0, usage_head, "");
    if (rc < 0) {
        tool_install_signals();
        rc = bench_run(&cfg);
    }
    bench_config_free(&cfg);
    return rc;
}
