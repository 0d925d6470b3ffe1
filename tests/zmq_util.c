#define _GNU_SOURCE
#include "zmq_util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void connect_with(const char *endpoint, const char *extra, ipm_sender *s,
                         ipm_receiver *r)
{
    char spec[1024];
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

void zt_connect_sender(ipm_sender *s, const char *endpoint, const char *extra)
{
    connect_with(endpoint, extra, s, NULL);
}

void zt_connect_receiver(ipm_receiver *r, const char *endpoint, const char *extra)
{
    connect_with(endpoint, extra, NULL, r);
}

void zt_tcp_pair(ipm_sender **s, ipm_receiver **r)
{
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", r));
    zt_connect_receiver(*r, "tcp://127.0.0.1:*", NULL);
    const char *ep = ipm_receiver_endpoint(*r);
    assert_non_null(ep);
    assert_true(strncmp(ep, "tcp://127.0.0.1:", 16) == 0);
    assert_string_not_equal(ep, "tcp://127.0.0.1:*");
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", s));
    zt_connect_sender(*s, ep, NULL);
}

void zt_tcp_pubsub(ipm_sender **pub, ipm_receiver **sub, const char *topic)
{
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", pub));
    zt_connect_sender(*pub, "tcp://127.0.0.1:*", NULL);
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", sub));
    IPM_ASSERT_OK(ipm_subscribe(*sub, topic));
    zt_connect_receiver(*sub, ipm_sender_endpoint(*pub), NULL);
    zt_pubsub_sync(*pub, *sub, topic);
}

void zt_pubsub_sync(ipm_sender *pub, ipm_receiver *sub, const char *topic)
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
    /* Drain sync messages still in flight. */
    while (ipm_receive(sub, &m, 50) == IPM_OK) {
        assert_int_equal(m.size, 4);
        assert_memory_equal(m.data, "sync", 4);
        ipm_message_release(&m);
    }
}

void zt_expect(ipm_receiver *r, int timeout_ms, const void *data, size_t size,
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

void zt_expect_nothing(ipm_receiver *r, int timeout_ms)
{
    ipm_message m;
    ipm_status st = ipm_receive(r, &m, timeout_ms);
    if (st == IPM_OK) {
        char shown[64] = "", topic[64] = "";
        memcpy(shown, m.data, m.size < 63 ? m.size : 63);
        snprintf(topic, sizeof topic, "%s", m.metadata);
        ipm_message_release(&m);
        fail_msg("unexpected message '%s' (topic '%s')", shown, topic);
    }
    assert_int_equal(st, IPM_ETIMEDOUT);
}

void zt_check_timeout(ipm_receiver *r, int T, int tries, void (*before)(void *),
                      void *arg)
{
    char seen[512] = "";
    size_t used = 0;
    for (int i = 0; i < tries; i++) {
        if (before) before(arg);
        ipm_message m;
        long long t0 = zt_now_ns();
        ipm_status st = ipm_receive(r, &m, T);
        double ms = (double)(zt_now_ns() - t0) / 1e6;
        if (st != IPM_ETIMEDOUT)
            fail_msg("receive with timeout %d ms: %s after %.3f ms", T, ipm_strerror(st),
                     ms);
        if (ms < T)
            fail_msg("receive with timeout %d ms timed out early, after %.3f ms", T, ms);
        if (ms <= T + 20) {
            printf("[ timeout  ] %d ms receive timed out after %.3f ms%s%s\n", T, ms,
                   used ? "; earlier tries (late by the scheduler): " : "", seen);
            return;
        }
        if (used < sizeof seen)
            used += (size_t)snprintf(seen + used, sizeof seen - used, "%s%.3f",
                                     used ? ", " : "", ms);
    }
    fail_msg("receive with timeout %d ms never returned within %d ms in %d tries: %s ms",
             T, T + 20, tries, seen);
}

long long zt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
