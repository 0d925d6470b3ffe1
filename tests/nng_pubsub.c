/*
 * NngPublisher / NngSubscriber: topic prefix filtering (sub0's own), "" for
 * everything, nothing before a subscribe, subscribe before connect, many
 * publishers, connecting again adds only new ones, all-or-nothing connect.
 */
#define _GNU_SOURCE
#include "nng_util.h"

#include <stdio.h>
#include <string.h>

static void test_topics(void **state)
{
    (void)state;
    ipm_sender *pub;
    ipm_receiver *sub;
    nt_pubsub("tcp://127.0.0.1:0", &pub, &sub, "tp");
    IPM_ASSERT_OK(ipm_send(pub, "a", 1, 0, "tp"));
    IPM_ASSERT_OK(ipm_send(pub, "b", 1, 0, "hsi"));
    IPM_ASSERT_OK(ipm_send(pub, "c", 1, 0, "tpc/x"));
    IPM_ASSERT_OK(ipm_send(pub, "d", 1, 0, NULL));
    nt_expect(sub, 5000, "a", 1, "tp");
    nt_expect(sub, 5000, "c", 1, "tpc/x");
    nt_expect_nothing(sub, 200);
    IPM_ASSERT_OK(ipm_unsubscribe(sub, "tp"));
    IPM_ASSERT_OK(ipm_unsubscribe(sub, "never-subscribed"));
    IPM_ASSERT_OK(ipm_subscribe(sub, ""));
    nt_pubsub_sync(pub, sub, "");
    IPM_ASSERT_OK(ipm_send(pub, "e", 1, 0, "hsi"));
    IPM_ASSERT_OK(ipm_send(pub, NULL, 0, 0, NULL));
    nt_expect(sub, 5000, "e", 1, "hsi");
    nt_expect(sub, 5000, "", 0, "");
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(sub);
}

static void test_nothing_before_subscribe(void **state)
{
    (void)state;
    ipm_sender *pub;
    ipm_receiver *sub, *probe;
    nt_pubsub("tcp://127.0.0.1:0", &pub, &probe, "");
    IPM_ASSERT_OK(ipm_subscriber_create("NngSubscriber", &sub));
    nt_connect_receiver(sub, ipm_sender_endpoint(pub), NULL);
    for (int i = 0; i < 20; i++) {
        IPM_ASSERT_OK(ipm_send(pub, "x", 1, 0, "any"));
        nt_expect(probe, 5000, "x", 1, "any");
    }
    nt_expect_nothing(sub, 200);
    ipm_receiver_destroy(sub);
    ipm_receiver_destroy(probe);
    ipm_sender_destroy(pub);
}

static void test_many_publishers(void **state)
{
    (void)state;
    ipm_sender *a, *b, *c;
    IPM_ASSERT_OK(ipm_sender_create("NngPublisher", &a));
    IPM_ASSERT_OK(ipm_sender_create("NngPublisher", &b));
    IPM_ASSERT_OK(ipm_sender_create("NngPublisher", &c));
    char u[128], ipc[200];
    snprintf(ipc, sizeof ipc, "ipc:///tmp/%s", ipm_test_unique(u, sizeof u, "nngpub"));
    nt_connect_sender(a, "tcp://127.0.0.1:0", NULL);
    nt_connect_sender(b, ipc, NULL);
    nt_connect_sender(c, "tcp://127.0.0.1:0", NULL);
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("NngSubscriber", &sub));
    IPM_ASSERT_OK(ipm_subscribe(sub, "t"));
    char spec[1024];
    snprintf(spec, sizeof spec, "connection_strings=%s, %s", ipm_sender_endpoint(a),
             ipm_sender_endpoint(b));
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse(spec, &p));
    IPM_ASSERT_OK(ipm_receiver_connect(sub, p));
    ipm_params_free(p);
    nt_pubsub_sync(a, sub, "t");
    nt_pubsub_sync(b, sub, "t");

    /* Again, overlapping, plus one bad endpoint: nothing is added. */
    snprintf(spec, sizeof spec, "connection_strings=%s, %s, bogus://x",
             ipm_sender_endpoint(a), ipm_sender_endpoint(c));
    IPM_ASSERT_OK(ipm_params_parse(spec, &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(sub, p), IPM_ECONFIG, "bogus");
    ipm_params_free(p);
    IPM_ASSERT_OK(ipm_send(c, "no", 2, 0, "t"));
    nt_expect_nothing(sub, 300);

    /* Again, overlapping: only c is new; a is not dialled twice. */
    snprintf(spec, sizeof spec, "connection_strings=%s, %s", ipm_sender_endpoint(a),
             ipm_sender_endpoint(c));
    IPM_ASSERT_OK(ipm_params_parse(spec, &p));
    IPM_ASSERT_OK(ipm_receiver_connect(sub, p));
    ipm_params_free(p);
    nt_pubsub_sync(c, sub, "t");
    IPM_ASSERT_OK(ipm_send(a, "A", 1, 0, "t1"));
    IPM_ASSERT_OK(ipm_send(b, "B", 1, 0, "t2"));
    IPM_ASSERT_OK(ipm_send(c, "C", 1, 0, "t3"));
    int seen[3] = {0};
    for (int i = 0; i < 3; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(sub, &m, 5000));
        assert_int_equal(m.size, 1);
        seen[((const char *)m.data)[0] - 'A']++;
        ipm_message_release(&m);
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 1);
    nt_expect_nothing(sub, 200);
    const char *ep = ipm_receiver_endpoint(sub);
    assert_non_null(strstr(ep, ipm_sender_endpoint(a)));
    assert_non_null(strstr(ep, ipm_sender_endpoint(c)));
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(a);
    ipm_sender_destroy(b);
    ipm_sender_destroy(c);
}

static void test_inproc_and_ws(void **state)
{
    (void)state;
    char u[128], ep[200];
    snprintf(ep, sizeof ep, "inproc://%s", ipm_test_unique(u, sizeof u, "nngps"));
    const char *eps[] = {ep, "ws://127.0.0.1:0/pub"};
    for (int i = 0; i < 2; i++) {
        ipm_sender *pub;
        ipm_receiver *sub;
        nt_pubsub(eps[i], &pub, &sub, "x");
        IPM_ASSERT_OK(ipm_send(pub, "hello", 5, 0, "xy"));
        nt_expect(sub, 5000, "hello", 5, "xy");
        ipm_limits l;
        IPM_ASSERT_OK(ipm_receiver_limits(sub, &l));
        assert_int_equal((l.features & IPM_FEATURE_CROSS_HOST) != 0, i == 1);
        ipm_receiver_destroy(sub);
        ipm_sender_destroy(pub);
    }
}

static void test_subscriber_keys(void **state)
{
    (void)state;
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("NngSubscriber", &sub));
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse("connection_strings=", &p));
    assert_int_equal(ipm_receiver_connect(sub, p), IPM_ECONFIG);
    ipm_params_free(p);
    IPM_ASSERT_OK(
        ipm_params_parse("connection_string=tcp://127.0.0.1:1; recv_buffer=9000", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(sub, p), IPM_ECONFIG, "recv_buffer");
    ipm_params_free(p);
    assert_false(ipm_receiver_can_receive(sub));
    ipm_receiver_destroy(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_nothing_before_subscribe),
        cmocka_unit_test(test_many_publishers),
        cmocka_unit_test(test_inproc_and_ws),
        cmocka_unit_test(test_subscriber_keys),
    };
    return nt_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
