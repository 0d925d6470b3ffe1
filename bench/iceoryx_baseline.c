/*
 * iceoryx_baseline.c — the same ping-pong latency and one-way throughput
 * as ipm-shm-bench measures, written directly against iceoryx's C binding
 * (v2), so the two can be compared in one run. Built only when CMake finds
 * libiceoryx_binding_c.
 *
 * iceoryx needs its daemon: if iox-roudi is installed and not running we
 * start it and stop it at the end (bench_iox_stop_roudi). Each measurement
 * runs its two sides in two fresh forked processes (an iceoryx runtime is
 * per process and cannot be re-initialised).
 *
 * Usage pattern, as iceoryx intends it (zero-copy): the sender loans a
 * chunk and writes only a sequence number into it; the echo side copies the
 * payload into its reply chunk; receivers read in place.
 */
#define _GNU_SOURCE
#include "shm_bench_util.h"

#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/notification_info.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/types.h>
#include <iceoryx_binding_c/wait_set.h>

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t roudi_pid = -1;
static bool roudi_checked;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Make sure a RouDi runs: start one if none does. */
static bool ensure_roudi(void)
{
    if (roudi_checked) return true;
    roudi_checked = true;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("iox-roudi", "iox-roudi", (char *)NULL);
        _exit(127);
    }
    if (pid < 0) return false;
    /* A second RouDi exits at once; ours stays and creates its segments. */
    for (int i = 0; i < 100; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
                fprintf(stderr, "iceoryx: iox-roudi is not installed\n");
                return false;
            }
            return true; /* another RouDi is running already */
        }
        struct stat sb;
        if (i >= 10 && stat("/dev/shm/iceoryx_mgmt", &sb) == 0) {
            roudi_pid = pid;
            sleep_ms(200);
            return true;
        }
        sleep_ms(50);
    }
    roudi_pid = pid;
    return true;
}

void bench_iox_stop_roudi(void)
{
    if (roudi_pid <= 0) return;
    kill(roudi_pid, SIGINT);
    if (bench_wait(roudi_pid, 60000) < 0)
        fprintf(stderr, "iceoryx: iox-roudi did not stop on SIGINT; killed\n");
    roudi_pid = -1;
    /* The RouDi we started is gone; it does not always remove its segments
     * (iceoryx_mgmt and one named after the user): remove them, since no
     * client can use them any more. */
    char path[256];
    struct passwd *pw = getpwuid(getuid());
    unlink("/dev/shm/iceoryx_mgmt");
    if (pw != NULL) {
        snprintf(path, sizeof path, "/dev/shm/%s", pw->pw_name);
        unlink(path);
    }
}

typedef struct side {
    iox_pub_storage_t pub_storage;
    iox_sub_storage_t sub_storage;
    iox_ws_storage_t ws_storage;
    iox_pub_t pub;
    iox_sub_t sub;
    iox_ws_t ws;
} side;

static void side_init(side *s, const char *name, const char *instance, const char *out,
                      const char *in, bool waitset)
{
    iox_set_loglevel(Iceoryx_LogLevel_Warn);
    iox_runtime_init(name);
    iox_pub_options_t po;
    iox_pub_options_init(&po);
    po.historyCapacity = 0;
    po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
    s->pub = out ? iox_pub_init(&s->pub_storage, "ipmbench", instance, out, &po) : NULL;
    iox_sub_options_t so;
    iox_sub_options_init(&so);
    so.queueCapacity = 64;
    so.historyRequest = 0;
    so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
    s->sub = in ? iox_sub_init(&s->sub_storage, "ipmbench", instance, in, &so) : NULL;
    s->ws = NULL;
    if (waitset && s->sub) {
        s->ws = iox_ws_init(&s->ws_storage);
        iox_ws_attach_subscriber_state(s->ws, s->sub, SubscriberState_HAS_DATA, 0, NULL);
    }
}

static void side_fini(side *s)
{
    if (s->ws) iox_ws_deinit(s->ws);
    if (s->sub) iox_sub_deinit(s->sub);
    if (s->pub) iox_pub_deinit(s->pub);
    iox_runtime_shutdown();
}

/* Wait until our publisher has a subscriber and our subscriber is matched. */
static bool side_connected(side *s)
{
    for (int i = 0; i < 1000; i++) {
        bool p = !s->pub || iox_pub_has_subscribers(s->pub);
        bool q = !s->sub ||
                 iox_sub_get_subscription_state(s->sub) == SubscribeState_SUBSCRIBED;
        if (p && q) return true;
        sleep_ms(10);
    }
    return false;
}

static const void *take(side *s, bool spin)
{
    const void *chunk;
    for (;;) {
        if (iox_sub_take_chunk(s->sub, &chunk) == ChunkReceiveResult_SUCCESS)
            return chunk;
        if (!spin) {
            iox_notification_info_t info[4];
            uint64_t missed;
            iox_ws_wait(s->ws, info, 4, &missed);
        }
    }
}

static void *loan(side *s, size_t size)
{
    void *chunk;
    while (iox_pub_loan_chunk(s->pub, &chunk, (uint32_t)size) !=
           AllocationResult_SUCCESS) {
    }
    return chunk;
}

typedef struct lat_args {
    size_t size;
    bool spin;
    int iters;
    char instance[64];
    bench_pipe *pipe;
} lat_args;

static int echo_side(lat_args *a)
{
    side s;
    char name[96];
    snprintf(name, sizeof name, "ipmbench-echo-%d", (int)getpid());
    side_init(&s, name, a->instance, "pong", "ping", !a->spin);
    if (!side_connected(&s)) return 1;
    int warm = a->iters / 10 + 100;
    for (int i = 0; i < warm + a->iters; i++) {
        const void *in = take(&s, a->spin);
        void *out = loan(&s, a->size);
        memcpy(out, in, a->size);
        iox_sub_release_chunk(s.sub, in);
        iox_pub_publish_chunk(s.pub, out);
    }
    sleep_ms(100);
    side_fini(&s);
    return 0;
}

static int ping_side(lat_args *a)
{
    side s;
    char name[96];
    snprintf(name, sizeof name, "ipmbench-ping-%d", (int)getpid());
    side_init(&s, name, a->instance, "ping", "pong", !a->spin);
    if (!side_connected(&s)) return 1;
    sleep_ms(50);
    int warm = a->iters / 10 + 100;
    int64_t *samples = malloc(sizeof(int64_t) * (size_t)a->iters);
    for (int i = 0; i < warm + a->iters; i++) {
        int64_t t0 = bench_now_ns();
        void *out = loan(&s, a->size);
        memcpy(out, &i, sizeof i);
        iox_pub_publish_chunk(s.pub, out);
        const void *in = take(&s, a->spin);
        iox_sub_release_chunk(s.sub, in);
        int64_t t1 = bench_now_ns();
        if (i >= warm) samples[i - warm] = (t1 - t0) / 2;
    }
    double q[2] = {bench_quantile_us(samples, a->iters, 0.5),
                   bench_quantile_us(samples, a->iters, 0.99)};
    bench_put(a->pipe, q, sizeof q);
    free(samples);
    side_fini(&s);
    return 0;
}

int bench_iox_latency(size_t size, bool spin, int iters, double *p50_us, double *p99_us)
{
    if (!ensure_roudi()) return -1;
    bench_pipe p;
    if (!bench_pipe_open(&p)) return -1;
    lat_args a = {size, spin, iters, "", &p};
    snprintf(a.instance, sizeof a.instance, "lat%d-%zu-%d", (int)getpid(), size,
             (int)spin);
    fflush(stdout);
    pid_t e = fork();
    if (e == 0) _exit(echo_side(&a));
    pid_t g = fork();
    if (g == 0) _exit(ping_side(&a));
    double q[2];
    bool ok = bench_get(&p, q, sizeof q, 120000);
    int rg = bench_wait(g, 10000), re = bench_wait(e, 10000);
    bench_pipe_close(&p);
    if (!ok || rg != 0 || re != 0) {
        fprintf(stderr, "iceoryx latency %zu: failed (ping %d, echo %d)\n", size, rg, re);
        return -1;
    }
    *p50_us = q[0];
    *p99_us = q[1];
    return 0;
}

typedef struct thr_args {
    size_t size;
    long count;
    char instance[64];
    bench_pipe *pipe;
} thr_args;

static int sink_side(thr_args *a)
{
    side s;
    char name[96];
    snprintf(name, sizeof name, "ipmbench-sink-%d", (int)getpid());
    side_init(&s, name, a->instance, NULL, "data", true);
    if (!side_connected(&s)) return 1;
    int64_t ready = 0;
    bench_put(a->pipe, &ready, sizeof ready);
    /* The consumer reads every byte in place, as ipm-shm-bench's does. */
    uint64_t acc = 0;
    for (long i = 0; i < a->count; i++) {
        const void *in = take(&s, false);
        acc += bench_read_all(in, a->size);
        iox_sub_release_chunk(s.sub, in);
    }
    int64_t end = bench_now_ns();
    bench_sink(acc);
    bench_put(a->pipe, &end, sizeof end);
    side_fini(&s);
    return 0;
}

static int source_side(thr_args *a, bench_pipe *go)
{
    side s;
    char name[96];
    snprintf(name, sizeof name, "ipmbench-source-%d", (int)getpid());
    side_init(&s, name, a->instance, "data", NULL, false);
    if (!side_connected(&s)) return 1;
    int64_t t0 = bench_now_ns();
    bench_put(go, &t0, sizeof t0);
    for (long i = 0; i < a->count; i++) {
        void *out = loan(&s, a->size);
        memset(out, (int)i, a->size); /* every byte, as the ipm loan path */
        iox_pub_publish_chunk(s.pub, out);
    }
    sleep_ms(200);
    side_fini(&s);
    return 0;
}

int bench_iox_throughput(size_t size, long count, double *msgs_per_s)
{
    if (!ensure_roudi()) return -1;
    bench_pipe p, go;
    if (!bench_pipe_open(&p) || !bench_pipe_open(&go)) return -1;
    thr_args a = {size, count, "", &p};
    snprintf(a.instance, sizeof a.instance, "thr%d-%zu", (int)getpid(), size);
    fflush(stdout);
    pid_t k = fork();
    if (k == 0) _exit(sink_side(&a));
    int64_t ready, t0, end;
    if (!bench_get(&p, &ready, sizeof ready, 30000)) {
        bench_wait(k, 1000);
        return -1;
    }
    pid_t src = fork();
    if (src == 0) _exit(source_side(&a, &go));
    bool ok =
        bench_get(&go, &t0, sizeof t0, 30000) && bench_get(&p, &end, sizeof end, 120000);
    int r1 = bench_wait(src, 10000), r2 = bench_wait(k, 10000);
    bench_pipe_close(&p);
    bench_pipe_close(&go);
    if (!ok || r1 != 0 || r2 != 0) return -1;
    *msgs_per_s = (double)count / ((double)(end - t0) / 1e9);
    return 0;
}
