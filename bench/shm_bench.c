/*
 * ipm-shm-bench — the shared-memory transports measured beside their
 * references, in one run:
 *   - one-way latency p50/p99 (ping-pong between two processes, RTT/2) for
 *     64 B, 4 KiB and 64 KiB, with blocking and with spinning receive;
 *   - throughput (msgs/s, GB/s) for 64 B and 64 KiB between two processes;
 *   - single-core memcpy bandwidth (the ceiling for a copying transport) and
 *     a bare futex ping-pong between two processes (the blocking floor);
 *   - the same figures for ZmqSender/ZmqReceiver over ipc:// through the ipm
 *     API when those plugins load, and for iceoryx's C binding when it was
 *     found at build time (iox-roudi is started if needed).
 *
 *   - loans: the producer loans, writes every byte and sends, the consumer
 *     reads every byte in place, for 64 B, 64 KiB, 4 MiB and 40 MiB, beside
 *     iceoryx's loan API doing the same and the producer's bare fill of the
 *     same memory with no transport (the limit); 64 B blocking throughput
 *     over five runs (min, median, max); fan-in of 4 senders beside one.
 *
 * Usage: ipm-shm-bench [--json] [--quick] [--loans]
 *   --json   one JSON object per measurement on stdout instead of the table
 *   --quick  fewer iterations (a smoke run)
 *   --loans  only the loan, five-run and fan-in rows (and the latency rows
 *            of 64 B blocking: shm and the futex ping-pong)
 */
#define _GNU_SOURCE
#include "shm_bench_util.h"

#include <ipm/plugin.h>

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ results */

enum { COL_SHM, COL_SHMPS, COL_ZMQ, COL_IOX, COL_REF, COL_HOF, NCOL };
static const char *const col_name[NCOL] = {"shm",     "shm-pubsub", "zmq-ipc",
                                           "iceoryx", "reference",  "hand-off"};

typedef struct row {
    char label[48];
    bool is_rate;      /* throughput: bigger is better */
    double v[NCOL][2]; /* latency: p50, p99 (us); rate: msgs/s, GB/s */
    bool have[NCOL];
} row;

static row rows[48];
static int nrows;
static bool json;
static bool quick;
static bool loans_only;

static row *get_row(const char *label, bool is_rate)
{
    for (int i = 0; i < nrows; i++)
        if (strcmp(rows[i].label, label) == 0) return &rows[i];
    row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->label, sizeof r->label, "%s", label);
    r->is_rate = is_rate;
    return r;
}

static void record(const char *label, bool is_rate, int col, double a, double b,
                   const char *transport, const char *metric, size_t size,
                   const char *mode)
{
    row *r = get_row(label, is_rate);
    r->v[col][0] = a;
    r->v[col][1] = b;
    r->have[col] = true;
    if (!json) {
        fprintf(stderr, "  %-28s %-10s %12.3f %12.3f\n", label, col_name[col], a, b);
        return;
    }
    if (is_rate)
        printf("{\"transport\":\"%s\",\"metric\":\"%s\",\"size\":%zu,\"mode\":\"%s\","
               "\"msgs_per_s\":%.0f,\"gb_per_s\":%.4f}\n",
               transport, metric, size, mode, a, b);
    else
        printf("{\"transport\":\"%s\",\"metric\":\"%s\",\"size\":%zu,\"mode\":\"%s\","
               "\"p50_us\":%.3f,\"p99_us\":%.3f}\n",
               transport, metric, size, mode, a, b);
    fflush(stdout);
}

/* --------------------------------------------------------- transports */

typedef struct transport {
    int col;
    const char *name;      /* for JSON */
    const char *send_type; /* ShmSender, ShmPublisher, ZmqSender */
    const char *recv_type;
    bool zmq; /* ipc:// endpoints, spin = poll loop */
    bool pubsub;
} transport;

static void endpoint(const transport *t, char *buf, size_t cap, const char *tag)
{
    static int counter;
    if (t->zmq)
        snprintf(buf, cap, "ipc:///tmp/ipm-bench-%d-%d-%s", (int)getpid(), counter++,
                 tag);
    else
        snprintf(buf, cap, "shm://ipm-bench-%d-%d-%s", (int)getpid(), counter++, tag);
}

static ipm_status open_recv(const transport *t, const char *ep, bool spin,
                            ipm_receiver **r)
{
    char spec[512];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s%s%s", t->recv_type, ep,
             t->pubsub ? "; topics=" : "", (spin && !t->zmq) ? "; spin_us=500000" : "");
    return ipm_receiver_open(spec, r);
}

static ipm_status open_send(const transport *t, const char *ep, bool spin, ipm_sender **s)
{
    char spec[512];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s%s", t->send_type, ep,
             (spin && !t->zmq) ? "; spin_us=500000" : "");
    return ipm_sender_open(spec, s);
}

/* Receive one message: blocking, or (zmq "spinning") polling with
 * IPM_NO_BLOCK; shm spins inside the plugin (spin_us). */
static ipm_status recv_one(const transport *t, ipm_receiver *r, bool spin, ipm_message *m)
{
    if (spin && t->zmq) {
        ipm_status st;
        while ((st = ipm_receive(r, m, IPM_NO_BLOCK)) == IPM_ETIMEDOUT) {
        }
        return st;
    }
    return ipm_receive(r, m, 10000);
}

typedef struct pp_arg {
    const transport *t;
    const char *ping, *pong;
    size_t size;
    bool spin;
    int total;
    bench_pipe *ready;
} pp_arg;

/* The echo side of the ping-pong. */
static int echo_child(pp_arg *a)
{
    ipm_receiver *r;
    ipm_sender *s;
    if (open_recv(a->t, a->ping, a->spin, &r) != IPM_OK) {
        fprintf(stderr, "echo: %s\n", ipm_last_error());
        return 1;
    }
    char c = 'r';
    bench_put(a->ready, &c, 1);
    if (open_send(a->t, a->pong, false, &s) != IPM_OK) {
        fprintf(stderr, "echo: %s\n", ipm_last_error());
        return 1;
    }
    for (int i = 0; i < a->total; i++) {
        ipm_message m;
        if (recv_one(a->t, r, a->spin, &m) != IPM_OK) {
            fprintf(stderr, "echo %d: %s\n", i, ipm_last_error());
            return 2;
        }
        ipm_status st = ipm_send(s, m.data, m.size, 10000, "");
        ipm_message_release(&m);
        if (st != IPM_OK) {
            fprintf(stderr, "echo send: %s\n", ipm_last_error());
            return 3;
        }
    }
    ipm_message m;
    /* Let the other side finish before our queue disappears. */
    ipm_receive(r, &m, 200);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    return 0;
}

static int latency_ipm(const transport *t, size_t size, bool spin, int iters, double *p50,
                       double *p99)
{
    char ping[128], pong[128];
    endpoint(t, ping, sizeof ping, "ping");
    endpoint(t, pong, sizeof pong, "pong");
    int warm = iters / 10 + 100;
    bench_pipe ready;
    if (!bench_pipe_open(&ready)) return -1;
    pp_arg a = {t, ping, pong, size, spin, warm + iters, &ready};
    ipm_receiver *r = NULL;
    ipm_sender *s = NULL;
    int rc = -1;
    /* Receivers first: for pub/sub the ring must exist before sends. */
    if (open_recv(t, pong, spin, &r) != IPM_OK) {
        fprintf(stderr, "latency: %s\n", ipm_last_error());
        bench_pipe_close(&ready);
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(echo_child(&a));
    char c;
    int64_t *samples = malloc(sizeof(int64_t) * (size_t)iters);
    unsigned char *buf = calloc(1, size ? size : 1);
    if (!bench_get(&ready, &c, 1, 10000) || open_send(t, ping, false, &s) != IPM_OK ||
        !samples || !buf) {
        fprintf(stderr, "latency: %s\n", ipm_last_error());
        goto out;
    }
    if (t->pubsub) {
        /* The echo side must be attached to our ring before we start. */
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < warm + iters; i++) {
        memcpy(buf, &i, sizeof i);
        int64_t t0 = bench_now_ns();
        if (ipm_send(s, buf, size, 10000, "") != IPM_OK) {
            fprintf(stderr, "latency send %d: %s\n", i, ipm_last_error());
            goto out;
        }
        ipm_message m;
        if (recv_one(t, r, spin, &m) != IPM_OK) {
            fprintf(stderr, "latency receive %d: %s\n", i, ipm_last_error());
            goto out;
        }
        int64_t t1 = bench_now_ns();
        ipm_message_release(&m);
        if (i >= warm) samples[i - warm] = (t1 - t0) / 2; /* one way = RTT / 2 */
    }
    *p50 = bench_quantile_us(samples, iters, 0.50);
    *p99 = bench_quantile_us(samples, iters, 0.99);
    rc = 0;
out:
    ipm_sender_destroy(s);
    if (bench_wait(pid, 20000) != 0) rc = -1;
    ipm_receiver_destroy(r);
    free(samples);
    free(buf);
    bench_pipe_close(&ready);
    return rc;
}

typedef struct thr_arg {
    const transport *t;
    const char *ep;
    long count;
    bool spin;
    bench_pipe *up;
} thr_arg;

static int sink_child(thr_arg *a)
{
    ipm_receiver *r;
    if (open_recv(a->t, a->ep, a->spin, &r) != IPM_OK) {
        fprintf(stderr, "sink: %s\n", ipm_last_error());
        return 1;
    }
    int64_t ready = 0;
    bench_put(a->up, &ready, sizeof ready);
    for (long i = 0; i < a->count; i++) {
        ipm_message m;
        if (ipm_receive(r, &m, 10000) != IPM_OK) {
            fprintf(stderr, "sink %ld: %s\n", i, ipm_last_error());
            return 2;
        }
        ipm_message_release(&m);
    }
    int64_t end = bench_now_ns();
    bench_put(a->up, &end, sizeof end);
    ipm_receiver_destroy(r);
    return 0;
}

static int throughput_ipm(const transport *t, size_t size, long count, bool spin,
                          double *rate)
{
    char ep[128];
    endpoint(t, ep, sizeof ep, "thr");
    bench_pipe up;
    if (!bench_pipe_open(&up)) return -1;
    thr_arg a = {t, ep, count, spin, &up};
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(sink_child(&a));
    int rc = -1;
    ipm_sender *s = NULL;
    unsigned char *buf = calloc(1, size);
    int64_t tmp, end;
    if (!bench_get(&up, &tmp, sizeof tmp, 10000) ||
        open_send(t, ep, a.spin, &s) != IPM_OK || !buf) {
        fprintf(stderr, "throughput: %s\n", ipm_last_error());
        goto out;
    }
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < count; i++) {
        if (ipm_send(s, buf, size, 10000, "") != IPM_OK) {
            fprintf(stderr, "throughput send %ld: %s\n", i, ipm_last_error());
            goto out;
        }
    }
    if (!bench_get(&up, &end, sizeof end, 60000)) goto out;
    *rate = (double)count / ((double)(end - t0) / 1e9);
    rc = 0;
out:
    if (bench_wait(pid, 60000) != 0) rc = -1;
    ipm_sender_destroy(s);
    free(buf);
    bench_pipe_close(&up);
    return rc;
}

/* ------------------------------------------------------- references */

/* memcpy of block-sized pieces cycling through src_size bytes. */
static double memcpy_bandwidth(size_t block, size_t src_size)
{
    unsigned char *src = malloc(src_size), *dst = malloc(block);
    if (!src || !dst) return 0;
    memset(src, 1, src_size);
    memset(dst, 2, block);
    size_t off = 0;
    long n = 0;
    int64_t t0 = bench_now_ns(), t1;
    do {
        for (int k = 0; k < 64; k++, n++) {
            memcpy(dst, src + off, block);
            off = (off + block) % (src_size - block);
        }
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        t1 = bench_now_ns();
    } while (t1 - t0 < (quick ? 100000000 : 500000000));
    free(src);
    free(dst);
    return (double)n * (double)block / ((double)(t1 - t0) / 1e9);
}

static long futex_op(_Atomic uint32_t *w, int op, uint32_t v)
{
    return syscall(SYS_futex, (uint32_t *)w, op, v, NULL, NULL, 0);
}

/* Two processes hand a token back and forth through one shared word, with
 * FUTEX_WAIT/FUTEX_WAKE every time: the cost of a blocking wake-up. */
static int futex_pingpong(int iters, double *p50, double *p99)
{
    _Atomic uint32_t *w =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) return -1;
    atomic_store(w, 0);
    int warm = iters / 10 + 100, total = warm + iters;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (uint32_t i = 0; i < (uint32_t)total; i++) {
            uint32_t v;
            while ((v = atomic_load(w)) != 2 * i + 1)
                futex_op(w, FUTEX_WAIT, v);
            atomic_store(w, 2 * i + 2);
            futex_op(w, FUTEX_WAKE, 1);
        }
        _exit(0);
    }
    int64_t *samples = malloc(sizeof(int64_t) * (size_t)iters);
    for (uint32_t i = 0; i < (uint32_t)total; i++) {
        int64_t t0 = bench_now_ns();
        atomic_store(w, 2 * i + 1);
        futex_op(w, FUTEX_WAKE, 1);
        uint32_t v;
        while ((v = atomic_load(w)) != 2 * i + 2)
            futex_op(w, FUTEX_WAIT, v);
        int64_t t1 = bench_now_ns();
        if (i >= (uint32_t)warm) samples[i - (uint32_t)warm] = (t1 - t0) / 2;
    }
    bench_wait(pid, 10000);
    *p50 = bench_quantile_us(samples, iters, 0.5);
    *p99 = bench_quantile_us(samples, iters, 0.99);
    free(samples);
    munmap((void *)w, 4096);
    return 0;
}

/* ------------------------------------------------------------- table */

static void fmt(char *buf, size_t cap, const row *r, int col)
{
    if (!r->have[col]) {
        snprintf(buf, cap, "-");
        return;
    }
    if (r->is_rate)
        snprintf(buf, cap, "%.2fM/s %.2fGB/s", r->v[col][0] / 1e6, r->v[col][1]);
    else
        snprintf(buf, cap, "%.2f / %.2f", r->v[col][0], r->v[col][1]);
}

/* shm's advantage over another column: >1 means shm is better. */
static void ratio(char *buf, size_t cap, const row *r, int other)
{
    if (!r->have[COL_SHM] || !r->have[other] || r->v[COL_SHM][0] <= 0 ||
        r->v[other][0] <= 0) {
        snprintf(buf, cap, "-");
        return;
    }
    double x = r->is_rate ? r->v[COL_SHM][0] / r->v[other][0]
                          : r->v[other][0] / r->v[COL_SHM][0];
    snprintf(buf, cap, "%.2fx", x);
}

static void print_table(void)
{
    printf("\nipm shared-memory benchmark (latency: one-way p50 / p99 in us; throughput: "
           "msgs/s and GB/s)\n");
    printf("%-26s %-22s %-22s %-22s %-22s %-22s %-22s %-9s %-9s %-9s %-9s\n",
           "measurement", "shm (S/R)", "shm (pub/sub)", "zmq ipc://", "iceoryx",
           "reference", "hand-off", "vs iox", "vs zmq", "vs ref", "vs h-off");
    for (int i = 0; i < nrows; i++) {
        char c[NCOL][48], ri[16], rz[16], rr[16], rh[16];
        for (int k = 0; k < NCOL; k++)
            fmt(c[k], sizeof c[k], &rows[i], k);
        ratio(ri, sizeof ri, &rows[i], COL_IOX);
        ratio(rz, sizeof rz, &rows[i], COL_ZMQ);
        ratio(rr, sizeof rr, &rows[i], COL_REF);
        ratio(rh, sizeof rh, &rows[i], COL_HOF);
        printf("%-26s %-22s %-22s %-22s %-22s %-22s %-22s %-9s %-9s %-9s %-9s\n",
               rows[i].label, c[COL_SHM], c[COL_SHMPS], c[COL_ZMQ], c[COL_IOX],
               c[COL_REF], c[COL_HOF], ri, rz, rr, rh);
    }
    printf(
        "ratios: how many times better shm (S/R) is (lower latency p50, higher rate).\n"
        "reference: latency rows = bare futex ping-pong between two processes (blocking "
        "floor);\n  throughput rows = single-core memcpy of the same block size, cycling "
        "through 64 MiB.\n"
        "loan rows: the producer loans, writes every byte and sends; the consumer reads "
        "every byte in place\n  (iceoryx: its loan API doing the same; reference: the "
        "bare fill of the same memory, no transport;\n  hand-off: the same fill read "
        "by a second process, handed over by two spinning counters: the machine's "
        "limit\n  for data written on one core and read on another).\n"
        "iceoryx throughput rows write every byte too; its echo (latency) copies once; "
        "shm's ordinary send copies in, its receive is in place.\n");
}

/* ------------------------------------------------ loans and fan-in */

#define SHM_LANE (8u << 20) /* a lane's bytes when buffer_size is not set */

/* One stream: nsenders processes each sending count messages of size
 * bytes to one ShmReceiver (this process's child). With loans, each
 * producer loans, writes every byte, and sends; the consumer reads every
 * byte in place. Otherwise ipm_send of a prepared buffer and a consumer
 * that only takes and releases. Rate: all messages over the time from the
 * first send to the last receive. */
typedef struct stream_arg {
    char ep[128];
    char extra[128];
    size_t size;
    long count; /* per sender */
    long warm;  /* untimed messages per sender first: one lap of its lane */
    int nsenders;
    bool loans;
    bench_pipe *up;
} stream_arg;

static int stream_sink(stream_arg *a)
{
    char spec[512];
    snprintf(spec, sizeof spec, "type=ShmReceiver; connection_string=%s; %s", a->ep,
             a->extra);
    ipm_receiver *r;
    if (ipm_receiver_open(spec, &r) != IPM_OK) {
        fprintf(stderr, "stream sink: %s\n", ipm_last_error());
        return 1;
    }
    int64_t ready = 0;
    bench_put(a->up, &ready, sizeof ready);
    /* One untimed lap of every lane first, read as the timed messages
     * are, so that the rows measure the stream, not its start: the fill
     * and hand-off references touch their memory before they time it
     * too. (The first lap used to run 25x slower on this VM, whose first
     * access to each page of a mapping costs ~4.7 us per process even
     * after MADV_POPULATE_WRITE; the plugin now pays that at set-up,
     * shm_segment.c's touch_pages.) */
    uint64_t acc = 0;
    for (long i = 0; i < a->warm * a->nsenders; i++) {
        ipm_message m;
        if (ipm_receive(r, &m, 20000) != IPM_OK) {
            fprintf(stderr, "stream sink warm-up: %s\n", ipm_last_error());
            return 2;
        }
        if (a->loans) acc += bench_read_all(m.data, m.size);
        ipm_message_release(&m);
    }
    bench_put(a->up, &ready, sizeof ready);
    long total = a->count * a->nsenders;
    int64_t quarter = 0;
    for (long i = 0; i < total; i++) {
        if (i == total / 4) quarter = bench_now_ns();
        ipm_message m;
        if (ipm_receive(r, &m, 20000) != IPM_OK) {
            fprintf(stderr, "stream sink %ld: %s\n", i, ipm_last_error());
            return 2;
        }
        if (a->loans) acc += bench_read_all(m.data, m.size);
        ipm_message_release(&m);
    }
    int64_t end[2] = {quarter, bench_now_ns()};
    bench_sink(acc);
    bench_put(a->up, end, sizeof end);
    ipm_receiver_destroy(r);
    return 0;
}

/* One message of the stream: loaned, written and sent, or sent by copy. */
static ipm_status stream_send(ipm_sender *s, const stream_arg *a, const void *buf, long i)
{
    if (!a->loans) return ipm_send(s, buf, a->size, 20000, "");
    void *b;
    ipm_status st = ipm_sender_loan(s, a->size, 20000, &b);
    if (st != IPM_OK) return st;
    memset(b, (int)i, a->size);
    return ipm_send_loan(s, b, a->size, 20000, "");
}

static int stream_source(stream_arg *a, bench_pipe *go)
{
    char spec[512];
    snprintf(spec, sizeof spec, "type=ShmSender; connection_string=%s", a->ep);
    ipm_sender *s;
    if (ipm_sender_open(spec, &s) != IPM_OK) {
        fprintf(stderr, "stream source: %s\n", ipm_last_error());
        return 1;
    }
    unsigned char *buf = a->loans ? NULL : calloc(1, a->size ? a->size : 1);
    for (long i = 0; i < a->warm; i++)
        if (stream_send(s, a, buf, i) != IPM_OK) {
            fprintf(stderr, "stream source warm-up: %s\n", ipm_last_error());
            return 3;
        }
    char c;
    if (!bench_get(go, &c, 1, 30000)) return 2;
    for (long i = 0; i < a->count; i++)
        if (stream_send(s, a, buf, i) != IPM_OK) {
            fprintf(stderr, "stream source %ld: %s\n", i, ipm_last_error());
            return 3;
        }
    free(buf);
    ipm_sender_destroy(s);
    return 0;
}

/* lane: the bytes of one sender's lane (extra's buffer_size, or the
 * default). rate: messages per second over the whole run; steady (if not
 * NULL): over its last three quarters. */
static int stream_run(size_t size, long count, int nsenders, bool loans,
                      const char *extra, size_t lane, double *rate, double *steady)
{
    stream_arg a = {.size = size,
                    .count = count,
                    .warm = (long)(lane / (size ? size : 1)) + 1,
                    .nsenders = nsenders,
                    .loans = loans};
    static int counter;
    snprintf(a.ep, sizeof a.ep, "shm://ipm-bench-%d-s%d", (int)getpid(), counter++);
    snprintf(a.extra, sizeof a.extra, "%s", extra);
    bench_pipe up, go;
    if (!bench_pipe_open(&up)) return -1;
    if (!bench_pipe_open(&go)) {
        bench_pipe_close(&up);
        return -1;
    }
    a.up = &up;
    fflush(stdout);
    pid_t sink = fork();
    if (sink == 0) _exit(stream_sink(&a));
    int rc = -1;
    pid_t src[16];
    int nsrc = 0;
    int64_t tmp, end[2], t0 = 0;
    if (!bench_get(&up, &tmp, sizeof tmp, 20000)) goto out;
    for (; nsrc < nsenders; nsrc++) {
        src[nsrc] = fork();
        if (src[nsrc] == 0) _exit(stream_source(&a, &go));
    }
    /* Every sender attached and its lane warm (stream_sink). */
    if (!bench_get(&up, &tmp, sizeof tmp, 30000)) goto out;
    t0 = bench_now_ns();
    for (int i = 0; i < nsenders; i++)
        bench_put(&go, "g", 1);
    if (!bench_get(&up, end, sizeof end, 120000)) goto out;
    long total = count * nsenders;
    *rate = (double)total / ((double)(end[1] - t0) / 1e9);
    if (steady != NULL)
        *steady = (double)(total - total / 4) / ((double)(end[1] - end[0]) / 1e9);
    rc = 0;
out:
    for (int i = 0; i < nsrc; i++)
        if (bench_wait(src[i], 60000) != 0) rc = -1;
    if (bench_wait(sink, 60000) != 0) rc = -1;
    bench_pipe_close(&up);
    bench_pipe_close(&go);
    return rc;
}

/* The producer's bare fill: memset of size-byte pieces cycling through a
 * working set as large as the queue the loan path writes, no transport. */
static double fill_bandwidth(size_t size, size_t set)
{
    if (set < size) set = size;
    unsigned char *m = malloc(set);
    if (!m) return 0;
    /* Not zero: GCC turns malloc + memset(0) into calloc, whose untouched
     * pages then fault inside the timed loop (a 40 MiB fill measured
     * 1.8 GB/s that way instead of ~17). */
    memset(m, 0xa5, set);
    size_t pieces = set / size, k = 0;
    long n = 0;
    int64_t t0 = bench_now_ns(), t1;
    do {
        for (int j = 0; j < 16; j++, n++) {
            memset(m + (k % pieces) * size, (int)n, size);
            k++;
        }
        __asm__ __volatile__("" : : "r"(m) : "memory");
        t1 = bench_now_ns();
    } while (t1 - t0 < (quick ? 50000000 : 300000000));
    free(m);
    return (double)n * (double)size / ((double)(t1 - t0) / 1e9);
}

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The machine's own limit for what a loan row does, write here and read
 * in another process: a producer fills size-byte pieces of a shared area
 * of set bytes (the queue the loan path writes) and a forked consumer
 * reads every byte of each, handed over by two counters, both sides
 * spinning; no transport, no futex, no metadata. The fill above is one
 * core writing; this one has the data cross to the consumer's core. */
typedef struct handoff_ctl {
    _Atomic uint64_t head; /* pieces filled (producer) */
    char pad0[56];
    _Atomic uint64_t tail; /* pieces read (consumer) */
    char pad1[56];
    _Atomic int ready; /* the consumer has mapped every page */
    _Atomic int stop;
} handoff_ctl;

static double handoff_bandwidth(size_t size, size_t set)
{
    size_t pieces = set / size < 2 ? 2 : set / size;
    size_t bytes = pieces * size;
    unsigned char *m = mmap(NULL, bytes + 4096, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 0;
    handoff_ctl *c = (handoff_ctl *)m;
    unsigned char *area = m + 4096;
    memset(area, 0xa5, bytes);
    pid_t pid = fork();
    if (pid < 0) {
        munmap(m, bytes + 4096);
        return 0;
    }
    if (pid == 0) {
        /* A shared mapping's pages fault in anew in the child: before the
         * clock starts, not inside it. */
        uint64_t t = 0, acc = 0;
        for (size_t k = 0; k < bytes; k += 4096)
            acc += area[k];
        atomic_store_explicit(&c->ready, 1, memory_order_release);
        for (;;) {
            uint64_t h = atomic_load_explicit(&c->head, memory_order_acquire);
            if (h == t) {
                if (atomic_load_explicit(&c->stop, memory_order_acquire)) break;
                cpu_pause();
                continue;
            }
            for (; t < h; t++) {
                acc += bench_read_all(area + (t % pieces) * size, size);
                atomic_store_explicit(&c->tail, t + 1, memory_order_release);
            }
        }
        bench_sink(acc);
        _exit(0);
    }
    for (int64_t give_up = bench_now_ns() + 10000000000;
         !atomic_load_explicit(&c->ready, memory_order_acquire);)
        if (bench_now_ns() > give_up) {
            atomic_store_explicit(&c->stop, 1, memory_order_release);
            bench_wait(pid, 1000);
            munmap(m, bytes + 4096);
            return 0;
        }
    uint64_t n = 0;
    int64_t t0 = bench_now_ns(), t1;
    do {
        for (int j = 0; j < 16; j++, n++) {
            while (n - atomic_load_explicit(&c->tail, memory_order_acquire) >= pieces)
                cpu_pause();
            memset(area + (n % pieces) * size, (int)n, size);
            atomic_store_explicit(&c->head, n + 1, memory_order_release);
        }
        t1 = bench_now_ns();
    } while (t1 - t0 < (quick ? 50000000 : 300000000));
    /* Count what was read, not just written. */
    while (atomic_load_explicit(&c->tail, memory_order_acquire) != n)
        cpu_pause();
    t1 = bench_now_ns();
    atomic_store_explicit(&c->stop, 1, memory_order_release);
    int rc = bench_wait(pid, 10000);
    munmap(m, bytes + 4096);
    return rc == 0 ? (double)n * (double)size / ((double)(t1 - t0) / 1e9) : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Loans beside iceoryx's loans and the bare fill; 64 B blocking over five
 * runs; fan-in of 4 senders beside one. */
static void run_loans(void)
{
    static const struct {
        size_t size;
        long count;
        const char *extra; /* queue keys that hold it */
        size_t set;
    } L[] = {
        {64, 2000000, "buffer_size=8Mi", 8u << 20},
        {65536, 60000, "buffer_size=8Mi", 8u << 20},
        /* 12 GB each: the first laps of a lane pay its page faults (~2 us
         * each here), which 60 messages of 40 MiB did not amortise
         * (8 GB/s measured, 21 GB/s once the run is long enough). */
        {4u << 20, 3000, "buffer_size=16Mi; max_message_size=4Mi", 16u << 20},
        {40u << 20, 300, "buffer_size=128Mi; max_message_size=40Mi", 128u << 20},
    };
    static const char *const names[] = {"64 B", "64 KiB", "4 MiB", "40 MiB"};
    for (int i = 0; i < 4; i++) {
        char label[48];
        snprintf(label, sizeof label, "loan write+read %s", names[i]);
        long count = quick ? L[i].count / 10 : L[i].count;
        double rate;
        if (stream_run(L[i].size, count, 1, true, L[i].extra, L[i].set, &rate, NULL) == 0)
            record(label, true, COL_SHM, rate, rate * (double)L[i].size / 1e9, "shm",
                   "loan", L[i].size, "blocking");
        double bw = fill_bandwidth(L[i].size, L[i].set);
        record(label, true, COL_REF, bw / (double)L[i].size, bw / 1e9, "fill", "loan",
               L[i].size, "bare-fill");
        bw = handoff_bandwidth(L[i].size, L[i].set);
        if (bw > 0)
            record(label, true, COL_HOF, bw / (double)L[i].size, bw / 1e9, "hand-off",
                   "loan", L[i].size, "two-process");
#ifdef IPM_BENCH_HAVE_ICEORYX
        if (L[i].size <= 65536 && bench_iox_throughput(L[i].size, count, &rate) == 0)
            record(label, true, COL_IOX, rate, rate * (double)L[i].size / 1e9, "iceoryx",
                   "loan", L[i].size, "blocking");
#endif
    }
    double r[5];
    int nr = 0;
    for (int k = 0; k < 5; k++)
        if (stream_run(64, quick ? 300000 : 3000000, 1, false, "", SHM_LANE, &r[nr],
                       NULL) == 0)
            nr++;
    if (nr > 0) {
        qsort(r, (size_t)nr, sizeof r[0], cmp_double);
        if (!json)
            fprintf(stderr,
                    "  64 B blocking x%d: min %.2f median %.2f max %.2f M/s "
                    "(max/min %.2f)\n",
                    nr, r[0] / 1e6, r[nr / 2] / 1e6, r[nr - 1] / 1e6, r[nr - 1] / r[0]);
        record("64 B blocking min", true, COL_SHM, r[0], r[0] * 64 / 1e9, "shm",
               "throughput-min", 64, "blocking");
        record("64 B blocking median", true, COL_SHM, r[nr / 2], r[nr / 2] * 64 / 1e9,
               "shm", "throughput-median", 64, "blocking");
        record("64 B blocking max", true, COL_SHM, r[nr - 1], r[nr - 1] * 64 / 1e9, "shm",
               "throughput-max", 64, "blocking");
    }
    /* Fan-in of 4 senders beside one, over 8 M messages and over their
     * last three quarters. */
    double one = 0, four = 0, one_st = 0, four_st = 0;
    long n = quick ? 400000 : 8000000;
    if (stream_run(64, n, 1, false, "", SHM_LANE, &one, &one_st) == 0) {
        record("fan-in 64 B, 1 sender", true, COL_SHM, one, one * 64 / 1e9, "shm",
               "fan-in-1", 64, "blocking");
        record("fan-in 1 sender, last 3/4", true, COL_SHM, one_st, one_st * 64 / 1e9,
               "shm", "fan-in-1-steady", 64, "blocking");
    }
    if (stream_run(64, n / 4, 4, false, "", SHM_LANE, &four, &four_st) == 0) {
        record("fan-in 64 B, 4 senders", true, COL_SHM, four, four * 64 / 1e9, "shm",
               "fan-in-4", 64, "blocking");
        record("fan-in 4 senders, last 3/4", true, COL_SHM, four_st, four_st * 64 / 1e9,
               "shm", "fan-in-4-steady", 64, "blocking");
    }
    if (!json && one > 0 && four > 0)
        fprintf(stderr,
                "  fan-in 4 senders / 1 sender: %.2fx whole run, %.2fx last 3/4\n",
                four / one, four_st / one_st);
}

/* ------------------------------------------------------------- main */

static void run_latency(const transport *t, bool have)
{
    static const size_t sizes[] = {64, 4096, 65536};
    for (int si = 0; si < 3; si++) {
        if (t->pubsub && sizes[si] != 64) continue;
        for (int spin = 0; spin < 2; spin++) {
            char label[48];
            snprintf(label, sizeof label, "latency %s %s",
                     sizes[si] == 64     ? "64 B"
                     : sizes[si] == 4096 ? "4 KiB"
                                         : "64 KiB",
                     spin ? "spinning" : "blocking");
            get_row(label, false);
            if (!have) continue;
            int iters = quick ? 2000 : (sizes[si] == 65536 ? 5000 : 20000);
            double p50, p99;
            if (latency_ipm(t, sizes[si], spin, iters, &p50, &p99) == 0)
                record(label, false, t->col, p50, p99, t->name, "latency", sizes[si],
                       spin ? "spinning" : "blocking");
        }
    }
}

static void run_throughput(const transport *t, bool have)
{
    static const size_t sizes[] = {64, 65536};
    for (int si = 0; si < 2; si++) {
        for (int spin = 0; spin < 2; spin++) {
            /* Spinning only changes the picture for shm (spin_us). */
            if (spin && t->zmq) continue;
            char label[48];
            snprintf(label, sizeof label, "throughput %s%s", si == 0 ? "64 B" : "64 KiB",
                     spin ? " spin" : "");
            get_row(label, true);
            if (!have || t->pubsub) continue;
            long count = si == 0 ? (t->zmq ? 500000 : 3000000) : (t->zmq ? 20000 : 60000);
            if (quick) count /= 10;
            double rate;
            if (throughput_ipm(t, sizes[si], count, spin, &rate) == 0)
                record(label, true, t->col, rate, rate * (double)sizes[si] / 1e9, t->name,
                       "throughput", sizes[si], spin ? "spinning" : "blocking");
        }
    }
}

static bool plugin_ok(const char *type)
{
    const ipm_plugin *p;
    return ipm_plugin_load(type, &p) == IPM_OK;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--loans") == 0)
            loans_only = true;
        else {
            fprintf(stderr, "usage: %s [--json] [--quick] [--loans]\n", argv[0]);
            return 2;
        }
    }
    const transport shm = {COL_SHM, "shm", "ShmSender", "ShmReceiver", false, false};
    const transport shmps = {COL_SHMPS,       "shm-pubsub", "ShmPublisher",
                             "ShmSubscriber", false,        true};
    const transport zmq = {COL_ZMQ, "zmq-ipc", "ZmqSender", "ZmqReceiver", true, false};
    bool have_shm = plugin_ok("ShmSender") && plugin_ok("ShmReceiver");
    bool have_ps = plugin_ok("ShmPublisher") && plugin_ok("ShmSubscriber");
    bool have_zmq = plugin_ok("ZmqSender") && plugin_ok("ZmqReceiver");
    if (!have_shm) {
        fprintf(stderr, "ipm-shm-bench: Shm plugins not found: %s\n", ipm_last_error());
        return 1;
    }

    int iters = quick ? 2000 : 20000;
    double p50, p99;
    if (futex_pingpong(iters, &p50, &p99) == 0) {
        record("latency 64 B blocking", false, COL_REF, p50, p99, "futex", "latency", 4,
               "blocking");
    }
    if (loans_only) {
        double a, b;
        if (latency_ipm(&shm, 64, false, iters, &a, &b) == 0)
            record("latency 64 B blocking", false, COL_SHM, a, b, "shm", "latency", 64,
                   "blocking");
        run_loans();
#ifdef IPM_BENCH_HAVE_ICEORYX
        bench_iox_stop_roudi();
#endif
        if (!json) print_table();
        return 0;
    }
    run_latency(&shm, true);
    run_latency(&shmps, have_ps);
    run_latency(&zmq, have_zmq);
#ifdef IPM_BENCH_HAVE_ICEORYX
    static const size_t lsizes[] = {64, 4096, 65536};
    for (int si = 0; si < 3; si++)
        for (int spin = 0; spin < 2; spin++) {
            char label[48];
            snprintf(label, sizeof label, "latency %s %s",
                     lsizes[si] == 64     ? "64 B"
                     : lsizes[si] == 4096 ? "4 KiB"
                                          : "64 KiB",
                     spin ? "spinning" : "blocking");
            int n = quick ? 2000 : (lsizes[si] == 65536 ? 5000 : 20000);
            if (bench_iox_latency(lsizes[si], spin, n, &p50, &p99) == 0)
                record(label, false, COL_IOX, p50, p99, "iceoryx", "latency", lsizes[si],
                       spin ? "spinning" : "blocking");
        }
#endif
    /* Single-core memcpy: over 64 MiB (memory bound, the classic figure),
     * and over 8 MiB (the default queue size; cache resident here). */
    for (int si = 0; si < 3; si++) {
        size_t block = si == 0 ? 64 : 65536;
        size_t set = si == 2 ? (8u << 20) : (64u << 20);
        double bw = memcpy_bandwidth(block, set);
        const char *label = si == 0   ? "throughput 64 B"
                            : si == 1 ? "throughput 64 KiB"
                                      : "memcpy 64 KiB, 8 MiB set";
        record(label, true, COL_REF, bw / (double)block, bw / 1e9, "memcpy", "throughput",
               block, si == 2 ? "single-core-8MiB" : "single-core-64MiB");
    }
    run_throughput(&shm, true);
    run_throughput(&zmq, have_zmq);
    run_loans();
#ifdef IPM_BENCH_HAVE_ICEORYX
    for (int si = 0; si < 2; si++) {
        size_t size = si == 0 ? 64 : 65536;
        long count = si == 0 ? 1000000 : 50000;
        if (quick) count /= 10;
        double rate;
        if (bench_iox_throughput(size, count, &rate) == 0)
            record(si == 0 ? "throughput 64 B" : "throughput 64 KiB", true, COL_IOX, rate,
                   rate * (double)size / 1e9, "iceoryx", "throughput", size, "blocking");
    }
    bench_iox_stop_roudi();
#endif
    if (!json) print_table();
    return 0;
}
