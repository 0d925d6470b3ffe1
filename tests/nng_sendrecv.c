/*
 * NngSender / NngReceiver in one process, over every carrier: sizes,
 * metadata, empty messages, the checks of API.md §3, timeouts, nothing
 * accepted without a receiver, nothing lost when the sender is destroyed
 * right after sending, fan-in, endpoints and their errors.
 */
#define _GNU_SOURCE
#include "nng_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipm/plugin.h>

/* Each carrier's listening endpoint, fresh per call. */
static const char *carrier(int i, char *buf, size_t cap)
{
    char u[128];
    switch (i) {
    case 0:
        return "tcp://127.0.0.1:0";
    case 1:
        snprintf(buf, cap, "ipc:///tmp/%s", ipm_test_unique(u, sizeof u, "nng"));
        return buf;
    case 2:
        snprintf(buf, cap, "inproc://%s", ipm_test_unique(u, sizeof u, "nng"));
        return buf;
    default:
        return "ws://127.0.0.1:0/ipm";
    }
}
#define NCARRIERS 4

static void test_round_trip_every_carrier(void **state)
{
    (void)state;
    for (int c = 0; c < NCARRIERS; c++) {
        char buf[256];
        ipm_sender *s;
        ipm_receiver *r;
        nt_pair(carrier(c, buf, sizeof buf), NULL, NULL, &s, &r);
        IPM_ASSERT_OK(ipm_send(s, "abcd", 4, 5000, NULL));
        nt_expect(r, 5000, "abcd", 4, "");
        IPM_ASSERT_OK(ipm_send(s, "xyz", 3, 5000, "meta/data"));
        nt_expect(r, 5000, "xyz", 3, "meta/data");
        IPM_ASSERT_OK(ipm_send(s, NULL, 0, 5000, "only-meta"));
        nt_expect(r, 5000, "", 0, "only-meta");
        IPM_ASSERT_OK(ipm_send(s, NULL, 0, 5000, NULL));
        nt_expect(r, 5000, "", 0, "");
        ipm_stats st;
        ipm_sender_stats(s, &st);
        assert_int_equal(st.messages, 4);
        ipm_receiver_stats(r, &st);
        assert_int_equal(st.messages, 4);
        assert_int_equal(st.bytes, 7);
        ipm_sender_destroy(s);
        ipm_receiver_destroy(r);
    }
}

static void test_resolved_endpoint(void **state)
{
    (void)state;
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    assert_null(ipm_receiver_endpoint(r));
    nt_connect_receiver(r, "tcp://127.0.0.1:0", NULL);
    const char *ep = ipm_receiver_endpoint(r);
    assert_non_null(ep);
    assert_true(strncmp(ep, "tcp://127.0.0.1:", 16) == 0);
    assert_string_not_equal(ep, "tcp://127.0.0.1:0");
    ipm_receiver_destroy(r);

    /* ZeroMQ's spelling of "any port" works too. */
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    nt_connect_receiver(r, "tcp://127.0.0.1:*", NULL);
    ep = ipm_receiver_endpoint(r);
    assert_true(strncmp(ep, "tcp://127.0.0.1:", 16) == 0);
    assert_null(strchr(ep, '*'));
    assert_string_not_equal(ep, "tcp://127.0.0.1:0");
    ipm_receiver_destroy(r);

    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    nt_connect_receiver(r, "ws://127.0.0.1:*/some/path", NULL);
    ep = ipm_receiver_endpoint(r);
    assert_true(strncmp(ep, "ws://127.0.0.1:", 15) == 0);
    assert_non_null(strstr(ep, "/some/path"));
    assert_null(strstr(ep, ":0/"));
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
    for (int c = 0; c < 2; c++) {
        char eb[256];
        ipm_sender *s;
        ipm_receiver *r;
        nt_pair(carrier(c, eb, sizeof eb), NULL, NULL, &s, &r);
        IPM_ASSERT_OK(ipm_send(s, buf, size, 10000, "big"));
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive_exact(r, &m, 20000, size));
        assert_string_equal(m.metadata, "big");
        assert_memory_equal(m.data, buf, size);
        ipm_message_release(&m);
        ipm_sender_destroy(s);
        ipm_receiver_destroy(r);
    }
    free(buf);
}

static void test_state_and_arguments(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_sender_create("NngSender", &s));
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    assert_false(ipm_sender_can_send(s));
    assert_int_equal(ipm_send(s, "x", 1, 0, NULL), IPM_ESTATE);
    ipm_message m;
    assert_int_equal(ipm_receive(r, &m, 0), IPM_ESTATE);
    nt_connect_receiver(r, "tcp://127.0.0.1:0", NULL);
    nt_connect_sender(s, ipm_receiver_endpoint(r), NULL);
    assert_int_equal(ipm_send(s, NULL, 5, 1000, NULL), IPM_EINVAL);
    /* A second connect of a single-endpoint type is refused, not leaked. */
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse("tcp://127.0.0.1:0", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(r, p), IPM_ENOTSUP, "already listening");
    ipm_params_free(p);
    IPM_ASSERT_OK(ipm_receive_exact(r, &m, 0, 1) == IPM_ETIMEDOUT ? IPM_OK : IPM_ESYS);
    IPM_ASSERT_OK(ipm_send(s, "12345", 5, 5000, NULL));
    assert_int_equal(ipm_receive_exact(r, &m, 5000, 4), IPM_ESIZE);
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_receive_timeouts(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    nt_pair("tcp://127.0.0.1:0", NULL, NULL, &s, &r);
    nt_check_timeout(r, 0, 5);
    nt_check_timeout(r, 1, 5);
    nt_check_timeout(r, 50, 5);
    nt_check_timeout(r, 200, 3);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* With no receiver, nothing is accepted: the send times out within
 * [T, T + 20 ms] (best of a few) and sends nothing. */
static void test_send_without_receiver(void **state)
{
    (void)state;
    char ep[128];
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("NngSender", &s));
    nt_connect_sender(s, nt_free_tcp(ep, sizeof ep, "tcp"), NULL);
    assert_int_equal(ipm_send(s, "x", 1, 0, NULL), IPM_ETIMEDOUT);
    bool in_bounds = false;
    for (int i = 0; i < 5 && !in_bounds; i++) {
        long long t0 = nt_now_ns();
        IPM_ASSERT_ERR(ipm_send(s, "lost?", 5, 100, "m"), IPM_ETIMEDOUT,
                       "no receiver connected");
        double ms = (double)(nt_now_ns() - t0) / 1e6;
        assert_true(ms >= 100);
        in_bounds = ms <= 120;
    }
    assert_true(in_bounds);
    /* A receiver that comes later gets none of the refused messages. */
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    nt_connect_receiver(r, ep, NULL);
    IPM_ASSERT_OK(ipm_send(s, "first", 5, 10000, NULL));
    nt_expect(r, 5000, "first", 5, "");
    nt_expect_nothing(r, 100);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* Every accepted message arrives, in order, when the sender is destroyed
 * right after its last send: destroy waits (linger) until nng wrote them.
 * The receiver runs in its own thread (for inproc:// it must take the
 * messages while destroy waits). */
typedef struct drain_job {
    ipm_receiver *r;
    int n;
    int got;         /* messages received in order */
    char error[256]; /* first mismatch */
} drain_job;

static void *drain_main(void *arg)
{
    drain_job *j = arg;
    for (int i = 0; i < j->n; i++) {
        ipm_message m;
        ipm_status st = ipm_receive(j->r, &m, 10000);
        if (st != IPM_OK) {
            snprintf(j->error, sizeof j->error, "message %d: %s", i, ipm_last_error());
            return NULL;
        }
        char b[16];
        int len = snprintf(b, sizeof b, "%d", i);
        bool ok = m.size == (size_t)len && memcmp(m.data, b, m.size) == 0 &&
                  strcmp(m.metadata, i % 2 ? "odd" : "") == 0;
        ipm_message_release(&m);
        if (!ok) {
            snprintf(j->error, sizeof j->error, "message %d out of order or wrong", i);
            return NULL;
        }
        j->got++;
    }
    return NULL;
}

static void test_destroy_right_after_send(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++) {
        char eb[256];
        const char *ep = carrier(c, eb, sizeof eb);
        ipm_sender *s;
        ipm_receiver *r;
        nt_pair(ep, NULL, "linger_ms=20000", &s, &r);
        drain_job job = {.r = r, .n = 20000};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, drain_main, &job), 0);
        for (int i = 0; i < job.n; i++) {
            char b[16];
            int len = snprintf(b, sizeof b, "%d", i);
            IPM_ASSERT_OK(ipm_send(s, b, (size_t)len, 10000, i % 2 ? "odd" : NULL));
        }
        ipm_sender_destroy(s);
        pthread_join(t, NULL);
        if (job.error[0]) fail_msg("%s: %s", ep, job.error);
        assert_int_equal(job.got, job.n);
        nt_expect_nothing(r, 50);
        ipm_receiver_destroy(r);
    }
}

/* Many senders into one receiver (fan-in), each stream in order. */
static void test_fan_in(void **state)
{
    (void)state;
    enum { SENDERS = 4, N = 500 };
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    nt_connect_receiver(r, "tcp://127.0.0.1:0", NULL);
    ipm_sender *s[SENDERS];
    for (int k = 0; k < SENDERS; k++) {
        IPM_ASSERT_OK(ipm_sender_create("NngSender", &s[k]));
        nt_connect_sender(s[k], ipm_receiver_endpoint(r), NULL);
    }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < SENDERS; k++) {
            char topic[8];
            snprintf(topic, sizeof topic, "s%d", k);
            IPM_ASSERT_OK(ipm_send(s[k], &i, sizeof i, 10000, topic));
        }
    int next[SENDERS] = {0};
    for (int i = 0; i < N * SENDERS; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 10000));
        int k = m.metadata[1] - '0';
        assert_true(k >= 0 && k < SENDERS);
        int v;
        assert_int_equal(m.size, sizeof v);
        memcpy(&v, m.data, sizeof v);
        assert_int_equal(v, next[k]);
        next[k]++;
        ipm_message_release(&m);
    }
    for (int k = 0; k < SENDERS; k++)
        ipm_sender_destroy(s[k]);
    ipm_receiver_destroy(r);
}

static void expect_connect_error(const char *type, const char *spec, ipm_status want,
                                 const char *needle)
{
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse(spec, &p));
    if (strstr(type, "Sender") || strstr(type, "Publisher")) {
        ipm_sender *s;
        IPM_ASSERT_OK(ipm_sender_create(type, &s));
        IPM_ASSERT_ERR(ipm_sender_connect(s, p), want, needle);
        assert_false(ipm_sender_can_send(s));
        ipm_sender_destroy(s);
    } else {
        ipm_receiver *r;
        IPM_ASSERT_OK(ipm_receiver_create(type, &r));
        IPM_ASSERT_ERR(ipm_receiver_connect(r, p), want, needle);
        assert_false(ipm_receiver_can_receive(r));
        ipm_receiver_destroy(r);
    }
    ipm_params_free(p);
}

static void test_endpoint_errors(void **state)
{
    (void)state;
    expect_connect_error("NngReceiver", "connection_string=tcp://127.0.0.1:99999",
                         IPM_ECONFIG, "port in 0..65535");
    expect_connect_error("NngSender", "connection_string=tcp://127.0.0.1", IPM_ECONFIG,
                         "needs a port");
    expect_connect_error("NngSender", "connection_string=udp://127.0.0.1:5", IPM_ECONFIG,
                         "unknown scheme 'udp'");
    expect_connect_error("NngSender", "connection_string=127.0.0.1:5", IPM_ECONFIG,
                         "not an nng URL");
    expect_connect_error("NngReceiver", "send_buffer=4", IPM_ECONFIG, "unknown key");
    expect_connect_error("NngSender",
                         "connection_string=tcp://127.0.0.1:5; send_buffer=9000",
                         IPM_ECONFIG, "send_buffer");
    expect_connect_error("NngSender",
                         "connection_string=tcp://127.0.0.1:5; tls_ca=/etc/hostname",
                         IPM_ECONFIG, "only for tls+tcp://");
    expect_connect_error("NngReceiver", "connection_string=tls+tcp://127.0.0.1:0",
                         IPM_ECONFIG, "needs its certificate");
    expect_connect_error("NngReceiver",
                         "connection_string=tcp://127.0.0.1:0; permissions=0644",
                         IPM_ECONFIG, "only for ipc://");

    /* Address in use. */
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    nt_connect_receiver(r, "tcp://127.0.0.1:0", NULL);
    char spec[256];
    snprintf(spec, sizeof spec, "connection_string=%s", ipm_receiver_endpoint(r));
    expect_connect_error("NngReceiver", spec, IPM_ECONNECT, "cannot listen on");
    ipm_receiver_destroy(r);

    /* ipc://: a regular file at the path is left alone. */
    char u[128], path[200];
    snprintf(path, sizeof path, "/tmp/%s", ipm_test_unique(u, sizeof u, "nngfile"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("precious\n", f);
    fclose(f);
    snprintf(spec, sizeof spec, "connection_string=ipc://%s", path);
    expect_connect_error("NngReceiver", spec, IPM_ECONNECT, "is not a socket");
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 9);
    unlink(path);
}

static void test_ipc_permissions(void **state)
{
    (void)state;
    char u[128], ep[256];
    snprintf(ep, sizeof ep, "ipc:///tmp/%s", ipm_test_unique(u, sizeof u, "nngperm"));
    for (int k = 0; k < 2; k++) {
        ipm_receiver *r;
        IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
        nt_connect_receiver(r, ep, k ? "permissions=0660" : NULL);
        struct stat sb;
        assert_int_equal(stat(ep + 6, &sb), 0);
        assert_true(S_ISSOCK(sb.st_mode));
        assert_int_equal(sb.st_mode & 0777, k ? 0660 : 0600);
        ipm_receiver_destroy(r);
    }
}

/* The check op validates without touching the network. */
static void test_check_op(void **state)
{
    (void)state;
    const ipm_plugin *d;
    IPM_ASSERT_OK(ipm_plugin_load("NngSender", &d));
    assert_non_null(d->ops->check);
    ipm_params *p;
    IPM_ASSERT_OK(
        ipm_params_parse("connection_string=tcp://127.0.0.1:1; send_buffer=0", &p));
    IPM_ASSERT_OK(d->ops->check(p));
    ipm_params_free(p);
    /* An endpoint left out is connect's to refuse, not check's. */
    IPM_ASSERT_OK(ipm_params_parse("send_buffer=5", &p));
    IPM_ASSERT_OK(d->ops->check(p));
    ipm_params_free(p);
    IPM_ASSERT_OK(ipm_params_parse("connection_string=tcp://127.0.0.1:x", &p));
    IPM_ASSERT_ERR(d->ops->check(p), IPM_ECONFIG, "port");
    ipm_params_free(p);
    IPM_ASSERT_OK(ipm_plugin_load("NngSubscriber", &d));
    IPM_ASSERT_OK(ipm_params_parse(
        "connection_strings=tcp://127.0.0.1:1, tls+tcp://h:2; tls_ca=/nonexistent", &p));
    IPM_ASSERT_ERR(d->ops->check(p), IPM_ECONFIG, "tls_ca");
    ipm_params_free(p);
}

static void test_limits(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    ipm_limits l;
    char eb[256];
    nt_pair(carrier(2, eb, sizeof eb), NULL, NULL, &s, &r);
    IPM_ASSERT_OK(ipm_sender_limits(s, &l));
    assert_int_equal(l.features & (IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST),
                     0);
    assert_true(l.features & IPM_FEATURE_FAN_IN);
    assert_int_equal(l.max_metadata_size, 1u << 20);
    /* Metadata at the limit goes, one past it is IPM_ETOOBIG. */
    char *meta = malloc((1u << 20) + 2);
    memset(meta, 'm', (1u << 20) + 1);
    meta[(1u << 20) + 1] = '\0';
    IPM_ASSERT_ERR(ipm_send(s, "x", 1, 1000, meta), IPM_ETOOBIG, "metadata");
    meta[1u << 20] = '\0';
    IPM_ASSERT_OK(ipm_send(s, "x", 1, 5000, meta));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 5000));
    assert_int_equal(m.metadata_size, 1u << 20);
    ipm_message_release(&m);
    free(meta);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);

    nt_pair(carrier(1, eb, sizeof eb), NULL, NULL, &s, &r);
    IPM_ASSERT_OK(ipm_receiver_limits(r, &l));
    assert_true(l.features & IPM_FEATURE_CROSS_PROCESS);
    assert_false(l.features & IPM_FEATURE_CROSS_HOST);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    nt_pair(carrier(0, eb, sizeof eb), NULL, NULL, &s, &r);
    IPM_ASSERT_OK(ipm_receiver_limits(r, &l));
    assert_true(l.features & IPM_FEATURE_CROSS_HOST);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* max_message_size: a larger message is refused by the receiver (nng drops
 * the connection), never delivered. */
static void test_max_message_size(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    nt_pair("tcp://127.0.0.1:0", "max_message_size=4Ki", NULL, &s, &r);
    static char big[8192];
    IPM_ASSERT_OK(ipm_send(s, "ok", 2, 5000, NULL));
    nt_expect(r, 5000, "ok", 2, "");
    IPM_ASSERT_OK(ipm_send(s, big, sizeof big, 5000, NULL));
    nt_expect_nothing(r, 300);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_carrier),
        cmocka_unit_test(test_resolved_endpoint),
        cmocka_unit_test(test_sixteen_mib),
        cmocka_unit_test(test_state_and_arguments),
        cmocka_unit_test(test_receive_timeouts),
        cmocka_unit_test(test_send_without_receiver),
        cmocka_unit_test(test_destroy_right_after_send),
        cmocka_unit_test(test_fan_in),
        cmocka_unit_test(test_endpoint_errors),
        cmocka_unit_test(test_ipc_permissions),
        cmocka_unit_test(test_check_op),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_max_message_size),
    };
    return nt_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
