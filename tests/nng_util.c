#define _GNU_SOURCE
#include "nng_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

static void connect_with(const char *endpoint, const char *extra, ipm_sender *s,
                         ipm_receiver *r)
{
    char spec[2048];
    snprintf(spec, sizeof spec, "connection_string=%s%s%s", endpoint, extra ? "; " : "",
             extra ? extra : "");
    ipm_params *p = NULL;
    IPM_ASSERT_OK(ipm_params_parse(spec, &p));
    if (s)
        IPM_ASSERT_OK(ipm_sender_connect(s, p));
    else
        IPM_ASSERT_OK(ipm_receiver_connect(r, p));
    ipm_params_free(p);
}

void nt_connect_sender(ipm_sender *s, const char *endpoint, const char *extra)
{
    connect_with(endpoint, extra, s, NULL);
}

void nt_connect_receiver(ipm_receiver *r, const char *endpoint, const char *extra)
{
    connect_with(endpoint, extra, NULL, r);
}

void nt_pair(const char *endpoint, const char *extra, const char *sender_extra,
             ipm_sender **s, ipm_receiver **r)
{
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", r));
    nt_connect_receiver(*r, endpoint, extra);
    const char *ep = ipm_receiver_endpoint(*r);
    assert_non_null(ep);
    IPM_ASSERT_OK(ipm_sender_create("NngSender", s));
    nt_connect_sender(*s, ep, sender_extra);
}

void nt_pubsub(const char *endpoint, ipm_sender **pub, ipm_receiver **sub,
               const char *topic)
{
    IPM_ASSERT_OK(ipm_sender_create("NngPublisher", pub));
    nt_connect_sender(*pub, endpoint, NULL);
    IPM_ASSERT_OK(ipm_subscriber_create("NngSubscriber", sub));
    IPM_ASSERT_OK(ipm_subscribe(*sub, topic));
    nt_connect_receiver(*sub, ipm_sender_endpoint(*pub), NULL);
    nt_pubsub_sync(*pub, *sub, topic);
}

void nt_pubsub_sync(ipm_sender *pub, ipm_receiver *sub, const char *topic)
{
    ipm_message m;
    double end = ipm_test_now_ms() + 20000;
    for (;;) {
        IPM_ASSERT_OK(ipm_send(pub, "sync", 4, 1000, topic));
        ipm_status st = ipm_receive(sub, &m, 20);
        if (st == IPM_OK) {
            ipm_message_release(&m);
            break;
        }
        assert_int_equal(st, IPM_ETIMEDOUT);
        if (ipm_test_now_ms() > end)
            fail_msg("subscription to '%s' never took effect", topic);
    }
    while (ipm_receive(sub, &m, 50) == IPM_OK) {
        assert_int_equal(m.size, 4);
        assert_memory_equal(m.data, "sync", 4);
        ipm_message_release(&m);
    }
}

void nt_expect(ipm_receiver *r, int timeout_ms, const void *data, size_t size,
               const char *metadata)
{
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, timeout_ms));
    assert_int_equal(m.size, size);
    if (size) assert_memory_equal(m.data, data, size);
    assert_non_null(m.metadata);
    assert_string_equal(m.metadata, metadata);
    assert_int_equal(m.metadata_size, strlen(metadata));
    ipm_message_release(&m);
}

void nt_expect_nothing(ipm_receiver *r, int timeout_ms)
{
    ipm_message m;
    ipm_status st = ipm_receive(r, &m, timeout_ms);
    if (st == IPM_OK) {
        char shown[64] = "";
        memcpy(shown, m.data, m.size < 63 ? m.size : 63);
        ipm_message_release(&m);
        fail_msg("unexpected message '%s'", shown);
    }
    assert_int_equal(st, IPM_ETIMEDOUT);
}

void nt_check_timeout(ipm_receiver *r, int T, int tries)
{
    char seen[512] = "";
    size_t used = 0;
    for (int i = 0; i < tries; i++) {
        ipm_message m;
        long long t0 = nt_now_ns();
        ipm_status st = ipm_receive(r, &m, T);
        double ms = (double)(nt_now_ns() - t0) / 1e6;
        if (st != IPM_ETIMEDOUT)
            fail_msg("receive with timeout %d ms: %s after %.3f ms", T, ipm_strerror(st),
                     ms);
        if (ms < T) fail_msg("receive with timeout %d ms ended early: %.3f ms", T, ms);
        if (ms <= T + 20) return;
        if (used < sizeof seen)
            used += (size_t)snprintf(seen + used, sizeof seen - used, "%s%.3f",
                                     used ? ", " : "", ms);
    }
    fail_msg("receive with timeout %d ms never within %d ms in %d tries: %s", T, T + 20,
             tries, seen);
}

const char *nt_free_tcp(char *out, size_t cap, const char *scheme)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    snprintf(out, cap, "%s://127.0.0.1:%u", scheme, (unsigned)ntohs(a.sin_port));
    return out;
}

long long nt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* nng_fini on a thread of its own, so that nt_finish can stop waiting. */
static pthread_mutex_t fini_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fini_cond = PTHREAD_COND_INITIALIZER;
static bool fini_done;

static void *fini_main(void *arg)
{
    (void)arg;
    nng_fini();
    pthread_mutex_lock(&fini_lock);
    fini_done = true;
    pthread_cond_signal(&fini_cond);
    pthread_mutex_unlock(&fini_lock);
    return NULL;
}

int nt_finish(int rc)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fini_main, NULL) != 0) return rc;
    pthread_detach(t);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += NT_FINI_BOUND_S;
    pthread_mutex_lock(&fini_lock);
    int w = 0;
    while (!fini_done && w != ETIMEDOUT)
        w = pthread_cond_timedwait(&fini_cond, &fini_lock, &until);
    bool done = fini_done;
    pthread_mutex_unlock(&fini_lock);
    if (!done)
        printf("[ nng      ] nng_fini did not return within %d s: a socket whose nng_close "
               "deadlocked in libnng 1.5 was abandoned by the plugin (see "
               "ipm__nng_close); exiting without it\n",
               NT_FINI_BOUND_S);
    return rc;
}
