/*
 * sdk_loopback.c — the LoopSender/LoopReceiver test plugins, written against
 * plugin.h alone, used through the public API exactly as an application uses
 * the shipped transports: connect, send/receive, metadata, empty messages,
 * timeouts both ways, exact-size receive, callbacks, stats, messages that
 * outlive their receiver, and a lossless stream between two threads.
 */
#define _GNU_SOURCE
#include "ipm_test.h"

#include <ipm/plugin.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TP_DIR IPM_BINARY_DIR "/test_plugins"

/* A fresh loop:// queue name per call, so tests never share a queue. */
static const char *loop_spec(char *buf, size_t cap, const char *type, const char *extra)
{
    char name[128];
    ipm_test_unique(name, sizeof name, "loop");
    snprintf(buf, cap, "type=%s; connection_string=loop://%s%s%s", type, name,
             extra ? "; " : "", extra ? extra : "");
    return buf;
}

/* Open a connected sender/receiver pair on a new queue. */
static void open_pair(ipm_sender **s, ipm_receiver **r, const char *extra)
{
    char spec[512];
    loop_spec(spec, sizeof spec, "LoopReceiver", extra);
    IPM_ASSERT_OK(ipm_receiver_open(spec, r));
    /* Same queue for the sender: swap the type only. */
    char sspec[512];
    const char *rest = strchr(spec, ';');
    snprintf(sspec, sizeof sspec, "type=LoopSender%s", rest);
    IPM_ASSERT_OK(ipm_sender_open(sspec, s));
    assert_true(ipm_sender_can_send(*s));
    assert_true(ipm_receiver_can_receive(*r));
}

/* A plugin without loan operations (as every ABI 1.0 plugin) still lends:
 * the core's fallback is a heap buffer that the plugin's send then takes.
 * On a full queue the loan send times out and the buffer stays on loan. */
static void test_fallback_loans(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, "capacity=1");
    void *a = NULL, *b = NULL;
    IPM_ASSERT_OK(ipm_sender_loan(s, 5, IPM_NO_BLOCK, &a));
    IPM_ASSERT_OK(ipm_sender_loan(s, 0, IPM_NO_BLOCK, &b));
    assert_non_null(b); /* an empty loan is still a usable pointer */
    memcpy(a, "hello", 5);
    IPM_ASSERT_OK(ipm_send_loan(s, a, 5, IPM_NO_BLOCK, "m"));
    /* The queue holds one message: the second loan send times out. */
    IPM_ASSERT_ERR(ipm_send_loan(s, b, 0, 20, "n"), IPM_ETIMEDOUT, "");
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_int_equal(m.size, 5);
    assert_memory_equal(m.data, "hello", 5);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_send_loan(s, b, 0, 1000, "n"));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_int_equal(m.size, 0);
    assert_string_equal(m.metadata, "n");
    ipm_message_release(&m);
    /* Sent loans are gone; one left outstanding is freed by destroy. */
    IPM_ASSERT_ERR(ipm_send_loan(s, a, 1, 0, NULL), IPM_EINVAL, "is not a buffer");
    IPM_ASSERT_OK(ipm_sender_loan(s, 4096, IPM_NO_BLOCK, &a));
    ipm_stats st;
    ipm_sender_stats(s, &st);
    assert_int_equal(st.messages, 2);
    assert_int_equal(st.bytes, 5);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_send_receive_in_order(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, NULL);
    assert_int_equal(strncmp(ipm_sender_endpoint(s), "loop://", 7), 0);
    assert_string_equal(ipm_sender_endpoint(s), ipm_receiver_endpoint(r));

    for (int i = 0; i < 100; i++) {
        char data[64], topic[32];
        int n = snprintf(data, sizeof data, "message %d", i);
        snprintf(topic, sizeof topic, "topic-%d", i % 7);
        IPM_ASSERT_OK(ipm_send(s, data, (size_t)n, IPM_NO_BLOCK, topic));
    }
    for (int i = 0; i < 100; i++) {
        char data[64], topic[32];
        int n = snprintf(data, sizeof data, "message %d", i);
        snprintf(topic, sizeof topic, "topic-%d", i % 7);
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
        assert_int_equal(m.size, (size_t)n);
        assert_memory_equal(m.data, data, (size_t)n);
        assert_string_equal(m.metadata, topic);
        assert_int_equal(m.metadata_size, strlen(topic));
        ipm_message_release(&m);
        assert_null(m.data);
        ipm_message_release(&m); /* idempotent */
    }

    ipm_stats st;
    ipm_sender_stats(s, &st);
    assert_int_equal(st.messages, 100);
    ipm_receiver_stats(r, &st);
    assert_int_equal(st.messages, 100);
    assert_int_equal(st.dropped, 0);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_empty_message_and_null_metadata(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, NULL);
    IPM_ASSERT_OK(ipm_send(s, NULL, 0, IPM_NO_BLOCK, "only-metadata"));
    IPM_ASSERT_OK(ipm_send(s, "x", 1, IPM_NO_BLOCK, NULL));
    assert_int_equal(ipm_send(s, NULL, 5, IPM_NO_BLOCK, NULL), IPM_EINVAL);

    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_int_equal(m.size, 0);
    assert_string_equal(m.metadata, "only-metadata");
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_int_equal(m.size, 1);
    assert_non_null(m.metadata);
    assert_string_equal(m.metadata, "");
    assert_int_equal(m.metadata_size, 0);
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* Receive timeout T: never before T; within T + 20 ms at least once in three
 * tries (a loaded machine may deschedule one of them). */
static void test_receive_timeout(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, NULL);
    const int timeouts[] = {0, 30, 100};
    for (size_t t = 0; t < sizeof timeouts / sizeof timeouts[0]; t++) {
        double best = 1e9;
        for (int attempt = 0; attempt < 3; attempt++) {
            ipm_message m;
            double t0 = ipm_test_now_ms();
            IPM_ASSERT_ERR(ipm_receive(r, &m, timeouts[t]), IPM_ETIMEDOUT, "");
            double took = ipm_test_now_ms() - t0;
            assert_null(m.data);
            if (took < timeouts[t])
                fail_msg("timeout %d ms returned after %.3f ms", timeouts[t], took);
            if (took - timeouts[t] < best) best = took - timeouts[t];
        }
        if (best > 20)
            fail_msg("timeout %d ms overshot by %.1f ms at best", timeouts[t], best);
    }
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

struct delayed {
    ipm_sender *s;
    int delay_ms;
};

static void *send_later(void *arg)
{
    struct delayed *d = arg;
    struct timespec ts = {d->delay_ms / 1000, (long)(d->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    ipm_send(d->s, "late", 4, IPM_BLOCK, "wake");
    return NULL;
}

/* A message arriving during a blocking receive wakes it, long before the
 * receive's own timeout. */
static void test_arrival_wakes_receive(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, NULL);
    struct delayed d = {s, 100};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_later, &d), 0);
    ipm_message m;
    double t0 = ipm_test_now_ms();
    IPM_ASSERT_OK(ipm_receive(r, &m, 20000));
    /* IPM_OK already proves the wake-up: without it the receive would have
     * timed out after 20 s. */
    assert_true(ipm_test_now_ms() - t0 < 15000);
    assert_string_equal(m.metadata, "wake");
    ipm_message_release(&m);
    pthread_join(th, NULL);

    /* IPM_BLOCK as well. */
    assert_int_equal(pthread_create(&th, NULL, send_later, &d), 0);
    IPM_ASSERT_OK(ipm_receive(r, &m, IPM_BLOCK));
    assert_memory_equal(m.data, "late", 4);
    ipm_message_release(&m);
    pthread_join(th, NULL);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* A full queue (capacity key) makes send time out with nothing sent, and
 * room made by a receive lets it through again. */
static void test_send_timeout_when_full(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, "capacity=2");
    IPM_ASSERT_OK(ipm_send(s, "a", 1, IPM_NO_BLOCK, NULL));
    IPM_ASSERT_OK(ipm_send(s, "b", 1, IPM_NO_BLOCK, NULL));
    IPM_ASSERT_ERR(ipm_send(s, "c", 1, IPM_NO_BLOCK, NULL), IPM_ETIMEDOUT, "full");
    double t0 = ipm_test_now_ms();
    IPM_ASSERT_ERR(ipm_send(s, "c", 1, 50, NULL), IPM_ETIMEDOUT, "full");
    assert_true(ipm_test_now_ms() - t0 >= 50);

    ipm_stats st;
    ipm_sender_stats(s, &st);
    assert_int_equal(st.messages, 2);

    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "a", 1);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_send(s, "d", 1, IPM_NO_BLOCK, NULL));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "b", 1);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "d", 1);
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_receive_exact(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, NULL);
    IPM_ASSERT_OK(ipm_send(s, "12345", 5, IPM_NO_BLOCK, NULL));
    IPM_ASSERT_OK(ipm_send(s, "1234", 4, IPM_NO_BLOCK, NULL));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive_exact(r, &m, 1000, 5));
    ipm_message_release(&m);
    assert_int_equal(ipm_receive_exact(r, &m, 1000, 5), IPM_ESIZE);
    assert_int_equal(m.size, 4); /* consumed, still to be released */
    ipm_message_release(&m);
    IPM_ASSERT_ERR(ipm_receive(r, &m, IPM_NO_BLOCK), IPM_ETIMEDOUT, "");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* Received messages belong to the caller, not to the receiver or queue. */
static void test_message_outlives_receiver(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, NULL);
    IPM_ASSERT_OK(ipm_send(s, "survivor", 8, IPM_NO_BLOCK, "t"));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    ipm_receiver_destroy(r);
    ipm_sender_destroy(s); /* last reference: the queue is gone too */
    assert_memory_equal(m.data, "survivor", 8);
    assert_string_equal(m.metadata, "t");
    ipm_message_release(&m);
}

struct collector {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int count;
    int in_order;
};

static void collect(const ipm_message *m, void *user)
{
    struct collector *c = user;
    pthread_mutex_lock(&c->lock);
    char want[32];
    int n = snprintf(want, sizeof want, "cb %d", c->count);
    if (m->size != (size_t)n || memcmp(m->data, want, (size_t)n) != 0 ||
        strcmp(m->metadata, "cb") != 0)
        c->in_order = 0;
    c->count++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void test_callback(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, NULL);
    struct collector c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 1};
    IPM_ASSERT_OK(ipm_receiver_set_callback(r, collect, &c));
    ipm_message m;
    assert_int_equal(ipm_receive(r, &m, IPM_NO_BLOCK), IPM_ESTATE);

    for (int i = 0; i < 50; i++) {
        char data[32];
        int n = snprintf(data, sizeof data, "cb %d", i);
        IPM_ASSERT_OK(ipm_send(s, data, (size_t)n, 1000, "cb"));
    }
    double end = ipm_test_now_ms() + 10000;
    pthread_mutex_lock(&c.lock);
    while (c.count < 50 && ipm_test_now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&c.cond, &c.lock, &ts);
    }
    int count = c.count, in_order = c.in_order;
    pthread_mutex_unlock(&c.lock);
    assert_int_equal(count, 50);
    assert_true(in_order);

    IPM_ASSERT_OK(ipm_receiver_set_callback(r, NULL, NULL));
    IPM_ASSERT_OK(ipm_send(s, "after", 5, 1000, NULL));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "after", 5);
    ipm_message_release(&m);
    assert_int_equal(c.count, 50);

    ipm_stats st;
    ipm_receiver_stats(r, &st);
    assert_int_equal(st.messages, 51);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

struct stream {
    ipm_sender *s;
    int n;
    int failures;
};

static void *produce(void *arg)
{
    struct stream *st = arg;
    for (int i = 0; i < st->n; i++)
        if (ipm_send(st->s, &i, sizeof i, 10000, "stream") != IPM_OK) st->failures++;
    return NULL;
}

/* A small queue between two threads: the sender blocks and wakes as the
 * receiver drains, and nothing is lost or reordered. */
static void test_lossless_stream(void **state)
{
    ipm_sender *s;
    ipm_receiver *r;
    open_pair(&s, &r, "capacity=4");
    struct stream st = {s, 20000, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, produce, &st), 0);
    for (int i = 0; i < st.n; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive_exact(r, &m, 10000, sizeof i));
        int got;
        memcpy(&got, m.data, sizeof got);
        ipm_message_release(&m);
        if (got != i) fail_msg("message %d arrived as number %d", got, i);
    }
    pthread_join(th, NULL);
    assert_int_equal(st.failures, 0);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* The core checks keys against the plugin's list before connect, and the
 * plugin reports its own connection errors. */
static void test_config_errors(void **state)
{
    ipm_sender *s = NULL;
    IPM_ASSERT_ERR(ipm_sender_open("type=LoopSender; conection_string=loop://x", &s),
                   IPM_ECONFIG, "connection_string");
    assert_null(s);
    IPM_ASSERT_ERR(ipm_sender_open("type=LoopSender; connection_string=tcp://x:1", &s),
                   IPM_ECONFIG, "loop://NAME");
    IPM_ASSERT_ERR(
        ipm_sender_open("type=LoopSender; connection_string=loop://x; capacity=0", &s),
        IPM_ECONFIG, "capacity");

    /* Before connect the core refuses to send or receive. */
    IPM_ASSERT_OK(ipm_sender_create("LoopSender", &s));
    assert_false(ipm_sender_can_send(s));
    assert_int_equal(ipm_send(s, "x", 1, IPM_NO_BLOCK, NULL), IPM_ESTATE);
    ipm_sender_destroy(s);
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_create("LoopReceiver", &r));
    ipm_message m;
    assert_int_equal(ipm_receive(r, &m, IPM_NO_BLOCK), IPM_ESTATE);
    ipm_receiver_destroy(r);
}

/* Rule 1 of the search order: a path instead of a type name. */
static void test_load_by_path(void **state)
{
    char name[64], spec[512];
    ipm_test_unique(name, sizeof name, "path");
    ipm_receiver *r;
    snprintf(spec, sizeof spec,
             "type=%s/libipm_LoopReceiver.so; connection_string=loop://%s", TP_DIR, name);
    IPM_ASSERT_OK(ipm_receiver_open(spec, &r));
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create(TP_DIR "/libipm_LoopSender.so", &s));
    ipm_params *p;
    char cs[128];
    snprintf(cs, sizeof cs, "loop://%s", name);
    IPM_ASSERT_OK(ipm_params_parse(cs, &p));
    IPM_ASSERT_OK(ipm_sender_connect(s, p));
    ipm_params_free(p);
    IPM_ASSERT_OK(ipm_send(s, "by path", 7, IPM_NO_BLOCK, NULL));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "by path", 7);
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

int main(void)
{
    setenv("IPM_PLUGIN_PATH", TP_DIR, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_receive_in_order),
        cmocka_unit_test(test_empty_message_and_null_metadata),
        cmocka_unit_test(test_receive_timeout),
        cmocka_unit_test(test_arrival_wakes_receive),
        cmocka_unit_test(test_send_timeout_when_full),
        cmocka_unit_test(test_receive_exact),
        cmocka_unit_test(test_message_outlives_receiver),
        cmocka_unit_test(test_callback),
        cmocka_unit_test(test_lossless_stream),
        cmocka_unit_test(test_fallback_loans),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_load_by_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
