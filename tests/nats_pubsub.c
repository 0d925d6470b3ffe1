/*
 * NatsPublisher / NatsSubscriber against a real nats-server: topics match by
 * byte prefix ("" = all, overlapping prefixes deliver once), the subjects on
 * the wire are the documented ones (a stock cnats client sees and sends
 * them), a slow subscriber's losses are counted, either way of writing
 * (key send_asap) delivers, an absent server is a clear status.
 */
#define _GNU_SOURCE
#include "nats_util.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static nt_server srv;

static int setup(void **state)
{
    (void)state;
    nt_start(&srv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nt_stop(&srv);
    return 0;
}

static ipm_receiver *open_sub(const char *subject, const char *extra)
{
    char ep[200], spec[400];
    nt_endpoint1(ep, sizeof ep, &srv, subject);
    snprintf(spec, sizeof spec, "type=NatsSubscriber; connection_string=%s%s%s", ep,
             extra ? "; " : "", extra ? extra : "");
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_open(spec, &r));
    return r;
}

static ipm_sender *open_pub_with(const char *subject, const char *extra)
{
    char ep[200], spec[400];
    nt_endpoint1(ep, sizeof ep, &srv, subject);
    snprintf(spec, sizeof spec, "type=NatsPublisher; connection_string=%s%s%s", ep,
             extra ? "; " : "", extra ? extra : "");
    ipm_sender *s = NULL;
    IPM_ASSERT_OK(ipm_sender_open(spec, &s));
    return s;
}

static ipm_sender *open_pub(const char *subject)
{
    return open_pub_with(subject, NULL);
}

/* Receive every message that arrives within quiet_ms of the last one into
 * got (topics joined with '|'). */
static int collect(ipm_receiver *r, char *got, size_t cap, int quiet_ms)
{
    int n = 0;
    got[0] = '\0';
    ipm_message m;
    while (ipm_receive(r, &m, quiet_ms) == IPM_OK) {
        size_t used = strlen(got);
        snprintf(got + used, cap - used, "%s%s=%.*s", n ? "|" : "", m.metadata,
                 (int)m.size, (const char *)m.data);
        ipm_message_release(&m);
        n++;
    }
    return n;
}

static void test_prefix(void **state)
{
    (void)state;
    ipm_receiver *tp = open_sub("ipm.t.prefix", NULL);
    ipm_receiver *all = open_sub("ipm.t.prefix", NULL);
    ipm_receiver *ab = open_sub("ipm.t.prefix", NULL);
    ipm_receiver *none = open_sub("ipm.t.prefix", NULL);
    IPM_ASSERT_OK(ipm_subscribe(tp, "tp"));
    IPM_ASSERT_OK(ipm_subscribe(all, ""));
    IPM_ASSERT_OK(ipm_subscribe(ab, "ab"));
    IPM_ASSERT_OK(ipm_subscribe(ab, "a")); /* covers "ab": once, not twice */
    ipm_sender *pub = open_pub("ipm.t.prefix");
    static const char *const topics[] = {"tp", "tpc", "t", "hsi", "",
                                         "ab", "abc", "a", "x\ny"};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        IPM_ASSERT_OK(ipm_send(pub, "d", 1, 1000, topics[i]));
    char got[512];
    assert_int_equal(collect(tp, got, sizeof got, 300), 2);
    assert_string_equal(got, "tp=d|tpc=d");
    assert_int_equal(collect(all, got, sizeof got, 300), 9);
    assert_string_equal(got, "tp=d|tpc=d|t=d|hsi=d|=d|ab=d|abc=d|a=d|x\ny=d");
    assert_int_equal(collect(ab, got, sizeof got, 300), 3);
    assert_string_equal(got, "ab=d|abc=d|a=d");
    assert_int_equal(collect(none, got, sizeof got, 200), 0);

    /* Unsubscribing the covering prefix leaves the covered one. */
    IPM_ASSERT_OK(ipm_unsubscribe(ab, "a"));
    IPM_ASSERT_OK(ipm_send(pub, "e", 1, 1000, "a"));
    IPM_ASSERT_OK(ipm_send(pub, "e", 1, 1000, "abz"));
    assert_int_equal(collect(ab, got, sizeof got, 300), 1);
    assert_string_equal(got, "abz=e");
    /* Another subject is another space of topics. */
    ipm_sender *other = open_pub("ipm.t.other");
    IPM_ASSERT_OK(ipm_send(other, "o", 1, 1000, "tp"));
    assert_int_equal(collect(tp, got, sizeof got, 300), 0);

    ipm_sender_destroy(other);
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(tp);
    ipm_receiver_destroy(all);
    ipm_receiver_destroy(ab);
    ipm_receiver_destroy(none);
}

/* The mapping of docs/nats.md, seen by a stock cnats client both ways. */
static void test_wire_form(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", srv.port);
    natsConnection *nc = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, url), NATS_OK);
    natsSubscription *raw = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&raw, nc, "ipm.t.wire.>"), NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);

    ipm_sender *pub = open_pub("ipm.t.wire");
    IPM_ASSERT_OK(ipm_send(pub, "hello", 5, 1000, "tp"));
    natsMsg *m = NULL;
    assert_int_equal(natsSubscription_NextMsg(&m, raw, 2000), NATS_OK);
    assert_string_equal(natsMsg_GetSubject(m), "ipm.t.wire.74.70._");
    assert_int_equal(natsMsg_GetDataLength(m), 5);
    assert_memory_equal(natsMsg_GetData(m), "hello", 5);
    natsMsg_Destroy(m);

    ipm_receiver *tp = open_sub("ipm.t.wire", NULL);
    ipm_receiver *all = open_sub("ipm.t.wire", NULL);
    IPM_ASSERT_OK(ipm_subscribe(tp, "tp"));
    IPM_ASSERT_OK(ipm_subscribe(all, ""));
    /* A stock client publishing on the encoded subject reaches "tp"; one
     * on a subject that is not ipm's encoding is data with empty metadata,
     * for "" subscribers only. */
    assert_int_equal(natsConnection_PublishString(nc, "ipm.t.wire.74.70._", "stock"),
                     NATS_OK);
    assert_int_equal(natsConnection_PublishString(nc, "ipm.t.wire.foreign", "plain"),
                     NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    char got[256];
    assert_int_equal(collect(tp, got, sizeof got, 300), 1);
    assert_string_equal(got, "tp=stock");
    assert_int_equal(collect(all, got, sizeof got, 300), 2);
    assert_string_equal(got, "tp=stock|=plain");

    ipm_receiver_destroy(tp);
    ipm_receiver_destroy(all);
    ipm_sender_destroy(pub);
    natsSubscription_Destroy(raw);
    natsConnection_Destroy(nc);
}

static void test_slow_subscriber_counts_drops(void **state)
{
    (void)state;
    ipm_receiver *sub = open_sub("ipm.t.slow", "recv_hwm=100");
    IPM_ASSERT_OK(ipm_subscribe(sub, ""));
    ipm_sender *pub = open_pub("ipm.t.slow");
    enum { N = 5000 };
    char payload[256] = {0};
    for (int i = 0; i < N; i++)
        IPM_ASSERT_OK(ipm_send(pub, payload, sizeof payload, 1000, "s"));
    ipm_sender_destroy(pub); /* flushes */
    /* Everything arrives at the subscriber's process: received + dropped
     * must account for every message (bounded wait). */
    double end = nt_now_ms() + 10000;
    ipm_stats st;
    ipm_receiver_stats(sub, &st);
    while (st.dropped < N - 100 && nt_now_ms() < end) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
        ipm_receiver_stats(sub, &st);
    }
    ipm_message m;
    uint64_t received = 0;
    while (ipm_receive(sub, &m, 300) == IPM_OK) {
        received++;
        ipm_message_release(&m);
    }
    ipm_receiver_stats(sub, &st);
    assert_true(st.dropped > 0);
    assert_true(received <= 100);
    assert_int_equal(received + st.dropped, N);
    ipm_receiver_destroy(sub);
}

/* send_asap = true (the default: each message written at once) and false
 * (cnats' buffering, flushed by its own thread) both deliver everything in
 * order; a value that is not a boolean is a configuration error naming the
 * key. */
static void test_send_asap_key(void **state)
{
    (void)state;
    static const char *const modes[] = {"send_asap=true", "send_asap=false"};
    for (size_t i = 0; i < 2; i++) {
        ipm_receiver *r = open_sub("asap", NULL);
        IPM_ASSERT_OK(ipm_subscribe(r, ""));
        ipm_sender *s = open_pub_with("asap", modes[i]);
        char want[400] = "", body[8];
        for (int k = 0; k < 20; k++) {
            snprintf(body, sizeof body, "m%d", k);
            IPM_ASSERT_OK(ipm_send(s, body, strlen(body), 1000, "t"));
            size_t used = strlen(want);
            snprintf(want + used, sizeof want - used, "%st=%s", k ? "|" : "", body);
        }
        char got[400];
        assert_int_equal(collect(r, got, sizeof got, 2000), 20);
        assert_string_equal(got, want);
        ipm_sender_destroy(s);
        ipm_receiver_destroy(r);
    }
    char ep[200], spec[400];
    nt_endpoint1(ep, sizeof ep, &srv, "asap");
    snprintf(spec, sizeof spec,
             "type=NatsPublisher; connection_string=%s; send_asap=maybe", ep);
    ipm_sender *s = NULL;
    IPM_ASSERT_ERR(ipm_sender_open(spec, &s), IPM_ECONFIG, "send_asap");
    assert_null(s);
}

static void test_absent_server(void **state)
{
    (void)state;
    char spec[200];
    snprintf(spec, sizeof spec,
             "type=NatsSubscriber; connection_string=nats://127.0.0.1:%d/x",
             nt_free_port());
    ipm_receiver *r = NULL;
    double t0 = nt_now_ms();
    IPM_ASSERT_ERR(ipm_receiver_open(spec, &r), IPM_ECONNECT, "cannot connect");
    assert_null(r);
    assert_true(nt_now_ms() - t0 < 3000);
    /* A bad endpoint is a configuration error naming it. */
    IPM_ASSERT_ERR(
        ipm_receiver_open("type=NatsSubscriber; connection_string=nats://h:1/a..b", &r),
        IPM_ECONFIG, "empty token");
    IPM_ASSERT_ERR(
        ipm_receiver_open("type=NatsSubscriber; connection_string=nats://h:99999/a", &r),
        IPM_ECONFIG, "1..65535");
}

/* A subscriber whose server is gone: a long receive times out, and its
 * message says that the connection is down (the last slice's reason),
 * not only that nothing came. Once the server is back, messages flow. */
static void test_server_lost_reason(void **state)
{
    (void)state;
    nt_server own;
    nt_start(&own, NULL);
    char ep[200], spec[400];
    nt_endpoint1(ep, sizeof ep, &own, "lost");
    snprintf(spec, sizeof spec, "type=NatsSubscriber; connection_string=%s; topics=", ep);
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_open(spec, &r));
    ipm_message m;
    IPM_ASSERT_ERR(ipm_receive(r, &m, 200), IPM_ETIMEDOUT, "within 200 ms");
    assert_null(strstr(ipm_last_error(), "the last try said"));
    nt_kill(&own);
    /* The client notices the closed socket at once; the wait is long
     * enough for several slices. */
    ipm_status st = IPM_OK;
    for (int i = 0; i < 20; i++) {
        st = ipm_receive(r, &m, 300);
        if (st != IPM_ETIMEDOUT || strstr(ipm_last_error(), "the last try said")) break;
    }
    printf("[ reason   ] %s\n", ipm_last_error());
    assert_int_equal(st, IPM_ETIMEDOUT);
    assert_non_null(strstr(ipm_last_error(), "the last try said: NatsSubscriber"));
    assert_non_null(strstr(ipm_last_error(), "the connection to the NATS server is"));
    nt_restart(&own);
    snprintf(spec, sizeof spec, "type=NatsPublisher; connection_string=%s", ep);
    ipm_sender *s = NULL;
    IPM_ASSERT_OK(ipm_sender_open(spec, &s));
    /* The subscriber reconnects by itself and subscribes again. */
    st = IPM_ETIMEDOUT;
    for (int i = 0; i < 100 && st != IPM_OK; i++) {
        IPM_ASSERT_OK(ipm_send(s, "back", 4, 1000, ""));
        st = ipm_receive(r, &m, 100);
    }
    IPM_ASSERT_OK(st);
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    nt_stop(&own);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (nt_server_path() == NULL) {
        printf(
            "SKIP: nats-server is not installed (Debian: apt-get install nats-server)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_wire_form),
        cmocka_unit_test(test_slow_subscriber_counts_drops),
        cmocka_unit_test(test_send_asap_key),
        cmocka_unit_test(test_absent_server),
        cmocka_unit_test(test_server_lost_reason),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
