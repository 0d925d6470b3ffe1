/*
 * ZmqSender / ZmqReceiver in one process: sizes, metadata, the checks of
 * API.md §3, timeouts, wake-up on arrival, binds and their errors.
 */
#define _GNU_SOURCE
#include "zmq_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_four_bytes(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    assert_true(ipm_sender_can_send(s));
    assert_true(ipm_receiver_can_receive(r));
    IPM_ASSERT_OK(ipm_send(s, "abcd", 4, 5000, NULL));
    zt_expect(r, 5000, "abcd", 4, "");

    ipm_stats st;
    ipm_sender_stats(s, &st);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.bytes, 4);
    ipm_receiver_stats(r, &st);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.bytes, 4);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_sixteen_mib(void **state)
{
    (void)state;
    const size_t size = 16u << 20;
    unsigned char *buf = malloc(size);
    assert_non_null(buf);
    for (size_t i = 0; i < size; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    IPM_ASSERT_OK(ipm_send(s, buf, size, 10000, "big"));
    memset(buf, 0, 64); /* the caller may reuse its buffer once send returns */
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive_exact(r, &m, 20000, size));
    assert_string_equal(m.metadata, "big");
    const unsigned char *got = m.data;
    for (size_t i = 64; i < size; i += 4093)
        assert_int_equal(got[i], (unsigned char)(i * 2654435761u >> 13));
    assert_memory_equal(got + 64, buf + 64, size - 64);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(got[i], (unsigned char)(i * 2654435761u >> 13));
    ipm_message_release(&m);
    free(buf);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_empty_messages(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    IPM_ASSERT_OK(ipm_send(s, NULL, 0, 5000, "empty-with-metadata"));
    IPM_ASSERT_OK(ipm_send(s, "ignored", 0, 5000, NULL));
    IPM_ASSERT_OK(ipm_send(s, NULL, 0, 5000, ""));
    zt_expect(r, 5000, NULL, 0, "empty-with-metadata");
    zt_expect(r, 5000, NULL, 0, "");
    zt_expect(r, 5000, NULL, 0, "");
    ipm_stats st;
    ipm_receiver_stats(r, &st);
    assert_int_equal(st.messages, 3);
    assert_int_equal(st.bytes, 0);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_metadata_round_trip(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    char long_meta[5000];
    for (size_t i = 0; i < sizeof long_meta - 1; i++)
        long_meta[i] = (char)('a' + i % 26);
    long_meta[sizeof long_meta - 1] = '\0';
    const char *metas[] = {"tp", "hsi/crate-3;slot=7", "with spaces and = signs",
                           "ü-utf8", long_meta};
    for (size_t i = 0; i < sizeof metas / sizeof metas[0]; i++)
        IPM_ASSERT_OK(ipm_send(s, &i, sizeof i, 5000, metas[i]));
    for (size_t i = 0; i < sizeof metas / sizeof metas[0]; i++)
        zt_expect(r, 5000, &i, sizeof i, metas[i]);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* ---- received messages held at once, released in any order ---- */

/* A byte of message i at offset k: every message's content is its own. */
static unsigned char held_byte(size_t i, size_t k)
{
    return (unsigned char)(i * 131 + k * 7 + 1);
}

struct release_job {
    ipm_message *m;
    size_t n;
};

static void *release_all(void *arg)
{
    struct release_job *job = arg;
    for (size_t i = 0; i < job->n; i++)
        ipm_message_release(&job->m[i]);
    return NULL;
}

/* Sizes on both sides of the frame size a released holder keeps (1 KiB)
 * and metadata on both sides of the byte-loop copy (16 bytes) and of a new
 * holder's room (64 bytes). Messages are held several at once and released
 * out of order, some on another thread: a message's data and metadata stay
 * intact however the holders are reused, until its own release. */
static void test_held_messages_any_release_order(void **state)
{
    (void)state;
    char name[128], ep[200];
    snprintf(ep, sizeof ep, "inproc://%s", ipm_test_unique(name, sizeof name, "held"));
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    zt_connect_receiver(r, ep, NULL);
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", &s));
    zt_connect_sender(s, ep, NULL);

    static const size_t sizes[] = {64, 1024, 1025, 0, 70000, 5, 1023, 4096, 1, 64};
    enum { N = sizeof sizes / sizeof sizes[0] };
    static const size_t meta_lens[] = {0, 1, 15, 16, 17, 63, 64, 65, 200, 2};
    char metas[N][256];
    unsigned char *bufs[N];
    for (size_t i = 0; i < N; i++) {
        for (size_t k = 0; k < meta_lens[i]; k++)
            metas[i][k] = (char)('a' + (i + k) % 26);
        metas[i][meta_lens[i]] = '\0';
        bufs[i] = malloc(sizes[i] + 1);
        assert_non_null(bufs[i]);
        for (size_t k = 0; k < sizes[i]; k++)
            bufs[i][k] = held_byte(i, k);
    }
    /* Three rounds: hold all, release backwards; hold all, release every
     * other one early; hold all, release on another thread. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < N; i++)
            IPM_ASSERT_OK(ipm_send(s, bufs[i], sizes[i], 5000, metas[i]));
        ipm_message m[N];
        for (size_t i = 0; i < N; i++) {
            IPM_ASSERT_OK(ipm_receive(r, &m[i], 5000));
            if (round == 1 && i % 2 == 1) ipm_message_release(&m[i - 1]);
        }
        for (size_t i = 0; i < N; i++) {
            if (round == 1 && i % 2 == 0) continue; /* released above */
            assert_int_equal(m[i].size, sizes[i]);
            for (size_t k = 0; k < sizes[i]; k++)
                if (((const unsigned char *)m[i].data)[k] != held_byte(i, k))
                    fail_msg("round %d, message %zu: byte %zu changed", round, i, k);
            assert_string_equal(m[i].metadata, metas[i]);
            assert_int_equal(m[i].metadata_size, meta_lens[i]);
        }
        if (round == 0) {
            for (size_t i = N; i-- > 0;)
                ipm_message_release(&m[i]);
        } else if (round == 1) {
            for (size_t i = 1; i < N; i += 2)
                ipm_message_release(&m[i]);
        } else {
            struct release_job job = {m, N};
            pthread_t t;
            assert_int_equal(pthread_create(&t, NULL, release_all, &job), 0);
            assert_int_equal(pthread_join(t, NULL), 0);
        }
    }
    ipm_stats st;
    ipm_receiver_stats(r, &st);
    assert_int_equal(st.messages, 3 * N);
    for (size_t i = 0; i < N; i++)
        free(bufs[i]);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_state_before_connect(void **state)
{
    (void)state;
    const char *senders[] = {"ZmqSender", "ZmqPublisher"};
    for (int i = 0; i < 2; i++) {
        ipm_sender *s;
        IPM_ASSERT_OK(ipm_sender_create(senders[i], &s));
        assert_false(ipm_sender_can_send(s));
        assert_null(ipm_sender_endpoint(s));
        IPM_ASSERT_ERR(ipm_send(s, "x", 1, 100, NULL), IPM_ESTATE, senders[i]);
        ipm_sender_destroy(s);
    }
    const char *receivers[] = {"ZmqReceiver", "ZmqSubscriber"};
    for (int i = 0; i < 2; i++) {
        ipm_receiver *r;
        IPM_ASSERT_OK(ipm_receiver_create(receivers[i], &r));
        assert_false(ipm_receiver_can_receive(r));
        assert_null(ipm_receiver_endpoint(r));
        ipm_message m;
        double t0 = ipm_test_now_ms();
        IPM_ASSERT_ERR(ipm_receive(r, &m, 1000), IPM_ESTATE, receivers[i]);
        assert_true(ipm_test_now_ms() - t0 < 500); /* refused, not waited */
        ipm_receiver_destroy(r);
    }
}

static void test_null_data(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    IPM_ASSERT_ERR(ipm_send(s, NULL, 5, 1000, "m"), IPM_EINVAL, "NULL");
    IPM_ASSERT_OK(ipm_send(s, "after", 5, 5000, NULL));
    zt_expect(r, 5000, "after", 5, ""); /* the refused send left nothing behind */
    zt_expect_nothing(r, 100);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_receive_exact_mismatch(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    IPM_ASSERT_OK(ipm_send(s, "0123456789", 10, 5000, "ten"));
    IPM_ASSERT_OK(ipm_send(s, "01234567", 8, 5000, "eight"));
    ipm_message m;
    IPM_ASSERT_ERR(ipm_receive_exact(r, &m, 5000, 8), IPM_ESIZE, "10");
    /* The message was consumed and is the caller's to release. */
    assert_int_equal(m.size, 10);
    assert_string_equal(m.metadata, "ten");
    ipm_message_release(&m);
    ipm_message_release(&m); /* idempotent */
    IPM_ASSERT_OK(ipm_receive_exact(r, &m, 5000, 8));
    assert_string_equal(m.metadata, "eight");
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_message_outlives_receiver(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    IPM_ASSERT_OK(ipm_send(s, "survivor", 8, 5000, "meta"));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 5000));
    ipm_receiver_destroy(r);
    ipm_sender_destroy(s); /* the last Zmq object: the context goes too */
    assert_int_equal(m.size, 8);
    assert_memory_equal(m.data, "survivor", 8);
    assert_string_equal(m.metadata, "meta");
    ipm_message_release(&m);
}

static void test_receive_timeout(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    zt_check_timeout(r, 100, 10, NULL, NULL);
    zt_check_timeout(r, 37, 10, NULL, NULL); /* not a multiple of any clock step */
    zt_check_timeout(r, 1, 10, NULL, NULL);
    ipm_message m;
    IPM_ASSERT_ERR(ipm_receive(r, &m, 100), IPM_ETIMEDOUT, "100 ms");
    assert_null(m.data);
    IPM_ASSERT_ERR(ipm_receive(r, &m, IPM_NO_BLOCK), IPM_ETIMEDOUT, "ZmqReceiver");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* ---- a blocking receive woken by a send: the wake is in the kernel ---- */

enum { WAKE_ROUNDS = 20 };

struct waker {
    ipm_receiver *r;
    long long latency_ns[WAKE_ROUNDS];
    int failures;
};

static void *blocking_receiver(void *arg)
{
    struct waker *w = arg;
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        ipm_message m;
        if (ipm_receive(w->r, &m, IPM_BLOCK) != IPM_OK || m.size != sizeof(long long)) {
            w->failures++;
            continue;
        }
        long long now = zt_now_ns(), sent;
        memcpy(&sent, m.data, sizeof sent);
        w->latency_ns[i] = now - sent;
        ipm_message_release(&m);
    }
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void test_blocking_receive_woken_by_send(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    /* One message first so that the TCP connection is up before timing. */
    IPM_ASSERT_OK(ipm_send(s, "warm", 4, 5000, NULL));
    zt_expect(r, 5000, "warm", 4, "");

    struct waker w = {.r = r};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocking_receiver, &w), 0);
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        sleep_ms(20); /* the receiver is asleep in ipm_receive by now */
        long long t0 = zt_now_ns();
        IPM_ASSERT_OK(ipm_send(s, &t0, sizeof t0, 5000, NULL));
    }
    pthread_join(th, NULL);
    assert_int_equal(w.failures, 0);
    for (int i = 0; i < WAKE_ROUNDS; i++)
        assert_true(w.latency_ns[i] > 0);
    qsort(w.latency_ns, WAKE_ROUNDS, sizeof w.latency_ns[0], cmp_ll);
    printf("[ wake     ] blocking ipm_receive woken by ipm_send over tcp loopback: "
           "median %.1f us, min %.1f us, max %.1f us (%d rounds)\n",
           (double)w.latency_ns[WAKE_ROUNDS / 2] / 1e3, (double)w.latency_ns[0] / 1e3,
           (double)w.latency_ns[WAKE_ROUNDS - 1] / 1e3, WAKE_ROUNDS);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* ---- ZMQ_IMMEDIATE: nothing is queued for an absent receiver ---- */

static void test_send_without_receiver_times_out(void **state)
{
    (void)state;
    char name[128], ep[200];
    ipm_test_unique(name, sizeof name, "absent");
    snprintf(ep, sizeof ep, "ipc:///tmp/%s.ipc", name);
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", &s));
    zt_connect_sender(s, ep, NULL);
    assert_true(ipm_sender_can_send(s));
    assert_string_equal(ipm_sender_endpoint(s), ep);

    double t0 = ipm_test_now_ms();
    IPM_ASSERT_ERR(ipm_send(s, "lost?", 5, IPM_NO_BLOCK, NULL), IPM_ETIMEDOUT, ep);
    assert_true(ipm_test_now_ms() - t0 <
                500); /* did not wait (generous: loaded machines) */
    t0 = ipm_test_now_ms();
    IPM_ASSERT_ERR(ipm_send(s, "lost?", 5, 100, NULL), IPM_ETIMEDOUT, "nothing was sent");
    assert_true(ipm_test_now_ms() - t0 >= 100);
    ipm_stats st;
    ipm_sender_stats(s, &st);
    assert_int_equal(st.messages, 0);

    /* The slow joiner: the receiver binds after the sender connected. The
     * timed-out messages were not queued, so it sees only what follows. */
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    zt_connect_receiver(r, ep, NULL);
    for (int i = 0; i < 100; i++)
        IPM_ASSERT_OK(ipm_send(s, &i, sizeof i, 10000, "late"));
    for (int i = 0; i < 100; i++)
        zt_expect(r, 5000, &i, sizeof i, "late");
    zt_expect_nothing(r, 200);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* ---- high-water marks: DUNE's capacity, over inproc ---- */

static void test_capacity_bounds_the_queue(void **state)
{
    (void)state;
    char name[128], ep[200];
    snprintf(ep, sizeof ep, "inproc://%s", ipm_test_unique(name, sizeof name, "hwm"));
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    zt_connect_receiver(r, ep, "capacity=1");
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", &s));
    zt_connect_sender(s, ep, "capacity=1");
    /* inproc queues at most sender HWM + receiver HWM messages. */
    int accepted = 0;
    ipm_status st = IPM_OK;
    while (accepted < 100 &&
           (st = ipm_send(s, &accepted, sizeof accepted, 50, NULL)) == IPM_OK)
        accepted++;
    assert_int_equal(st, IPM_ETIMEDOUT);
    assert_in_range(accepted, 1, 4);
    for (int i = 0; i < accepted; i++)
        zt_expect(r, 5000, &i, sizeof i, "");
    zt_expect_nothing(r, 50); /* the timed-out send left no half message */
    IPM_ASSERT_OK(ipm_send(s, "room", 4, 5000, NULL));
    zt_expect(r, 5000, "room", 4, "");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* ---- binds ---- */

static void test_bind_host_name(void **state)
{
    (void)state;
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    zt_connect_receiver(r, "tcp://localhost:*", NULL);
    const char *ep = ipm_receiver_endpoint(r);
    assert_non_null(ep);
    if (strncmp(ep, "tcp://127.0.0.1:", 16) != 0 && strncmp(ep, "tcp://[::1]:", 12) != 0)
        fail_msg("localhost resolved to '%s'", ep);
    const char *port = strrchr(ep, ':') + 1;
    assert_true(atoi(port) > 0);
    char by_name[100];
    snprintf(by_name, sizeof by_name, "tcp://localhost:%s", port);
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", &s));
    zt_connect_sender(s, by_name, NULL); /* ZeroMQ resolves names on connect */
    IPM_ASSERT_OK(ipm_send(s, "named", 5, 5000, NULL));
    zt_expect(r, 5000, "named", 5, "");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_bind_wildcard_port_zero(void **state)
{
    (void)state;
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    zt_connect_receiver(r, "tcp://*:0", NULL);
    const char *ep = ipm_receiver_endpoint(r);
    assert_non_null(ep);
    const char *port = strrchr(ep, ':') + 1;
    assert_true(atoi(port) > 0);
    char local[100];
    snprintf(local, sizeof local, "tcp://127.0.0.1:%s", port);
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", &s));
    zt_connect_sender(s, local, NULL);
    IPM_ASSERT_OK(ipm_send(s, "any", 3, 5000, NULL));
    zt_expect(r, 5000, "any", 3, "");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_bind_unknown_host(void **state)
{
    (void)state;
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse("tcp://no-such-host.invalid:5555", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(r, p), IPM_ECONNECT, "'no-such-host.invalid'");
    assert_false(ipm_receiver_can_receive(r));
    ipm_params_free(p);
    ipm_receiver_destroy(r);
}

static void test_port_in_use(void **state)
{
    (void)state;
    ipm_receiver *a, *b;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &a));
    zt_connect_receiver(a, "tcp://127.0.0.1:*", NULL);
    char ep[128];
    snprintf(ep, sizeof ep, "%s", ipm_receiver_endpoint(a));
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &b));
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse(ep, &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(b, p), IPM_ECONNECT, ep);
    IPM_ASSERT_ERR(ipm_receiver_connect(b, p), IPM_ECONNECT, "in use");
    assert_false(ipm_receiver_can_receive(b));
    ipm_params_free(p);

    /* The same for a publisher. */
    ipm_sender *pub;
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &pub));
    IPM_ASSERT_OK(ipm_params_parse(ep, &p));
    IPM_ASSERT_ERR(ipm_sender_connect(pub, p), IPM_ECONNECT, ep);
    ipm_params_free(p);
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(b);
    ipm_receiver_destroy(a);
}

static void test_bad_endpoints(void **state)
{
    (void)state;
    ipm_receiver *r;
    ipm_sender *s;
    ipm_params *p;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", &s));

    IPM_ASSERT_OK(ipm_params_parse("bogus://somewhere", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(r, p), IPM_ECONNECT, "'bogus://somewhere'");
    IPM_ASSERT_ERR(ipm_sender_connect(s, p), IPM_ECONNECT, "'bogus://somewhere'");
    ipm_params_free(p);

    IPM_ASSERT_OK(ipm_params_parse("connection_string=tcp://127.0.0.1", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(r, p), IPM_ECONNECT, "tcp://127.0.0.1");
    IPM_ASSERT_ERR(ipm_sender_connect(s, p), IPM_ECONNECT, "tcp://127.0.0.1");
    ipm_params_free(p);

    IPM_ASSERT_OK(ipm_params_parse("send_hwm=10", &p));
    IPM_ASSERT_ERR(ipm_sender_connect(s, p), IPM_ECONFIG, "connection_string");
    ipm_params_free(p);
    IPM_ASSERT_OK(ipm_params_parse("connection_string=", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(r, p), IPM_ECONFIG, "connection_string");
    ipm_params_free(p);

    assert_false(ipm_sender_can_send(s));
    assert_false(ipm_receiver_can_receive(r));
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_bad_option_values(void **state)
{
    (void)state;
    struct {
        const char *spec, *needle;
    } cases[] = {
        {"connection_string=tcp://127.0.0.1:*; send_hwm=lots", "send_hwm"},
        {"connection_string=tcp://127.0.0.1:*; capacity=-3", "capacity"},
        {"connection_string=tcp://127.0.0.1:*; linger_ms=-1", "linger_ms"},
        {"connection_string=tcp://127.0.0.1:*; linger_ms=1000000", "linger_ms"},
        {"connection_string=tcp://127.0.0.1:*; tcp_keepalive=maybe", "tcp_keepalive"},
        {"connection_string=tcp://127.0.0.1:*; recv_hwm=10",
         "recv_hwm"}, /* not a sender key */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ipm_sender *s;
        IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &s));
        ipm_params *p;
        IPM_ASSERT_OK(ipm_params_parse(cases[i].spec, &p));
        IPM_ASSERT_ERR(ipm_sender_connect(s, p), IPM_ECONFIG, cases[i].needle);
        assert_false(ipm_sender_can_send(s));
        ipm_params_free(p);
        ipm_sender_destroy(s);
    }
    /* Good values of every key are accepted. */
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &s));
    zt_connect_sender(s, "tcp://127.0.0.1:*",
                      "send_hwm=10k; capacity=5; linger_ms=0; tcp_keepalive=on");
    ipm_sender_destroy(s);
}

static void test_connect_twice(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse("tcp://127.0.0.1:*", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(r, p), IPM_ENOTSUP, "already bound");
    IPM_ASSERT_ERR(ipm_sender_connect(s, p), IPM_ENOTSUP, "already connected");
    ipm_params_free(p);
    /* Still working on the first endpoint. */
    IPM_ASSERT_OK(ipm_send(s, "still", 5, 5000, NULL));
    zt_expect(r, 5000, "still", 5, "");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_open_by_spec(void **state)
{
    (void)state;
    ipm_receiver *r;
    IPM_ASSERT_OK(
        ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*; "
                          "recv_hwm=100",
                          &r));
    char spec[256];
    snprintf(spec, sizeof spec, "type=ZmqSender; connection_string=%s; send_hwm=100",
             ipm_receiver_endpoint(r));
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_open(spec, &s));
    IPM_ASSERT_OK(ipm_send(s, "spec", 4, 5000, "m"));
    zt_expect(r, 5000, "spec", 4, "m");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_four_bytes),
        cmocka_unit_test(test_sixteen_mib),
        cmocka_unit_test(test_empty_messages),
        cmocka_unit_test(test_metadata_round_trip),
        cmocka_unit_test(test_held_messages_any_release_order),
        cmocka_unit_test(test_state_before_connect),
        cmocka_unit_test(test_null_data),
        cmocka_unit_test(test_receive_exact_mismatch),
        cmocka_unit_test(test_message_outlives_receiver),
        cmocka_unit_test(test_receive_timeout),
        cmocka_unit_test(test_blocking_receive_woken_by_send),
        cmocka_unit_test(test_send_without_receiver_times_out),
        cmocka_unit_test(test_capacity_bounds_the_queue),
        cmocka_unit_test(test_bind_host_name),
        cmocka_unit_test(test_bind_wildcard_port_zero),
        cmocka_unit_test(test_bind_unknown_host),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_bad_endpoints),
        cmocka_unit_test(test_bad_option_values),
        cmocka_unit_test(test_connect_twice),
        cmocka_unit_test(test_open_by_spec),
    };
    return cmocka_run_group_tests_name("zmq_sendrecv", tests, NULL, NULL);
}
