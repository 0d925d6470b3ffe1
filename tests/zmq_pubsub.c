/*
 * ZmqPublisher / ZmqSubscriber: topic filters, unsubscribe, timeouts, many
 * publishers, connecting again, and inproc:// through the shared context.
 */
#define _GNU_SOURCE
#include "zmq_util.h"

#include <stdio.h>
#include <string.h>

static void test_topic_filter(void **state)
{
    (void)state;
    ipm_sender *pub;
    ipm_receiver *sub;
    zt_tcp_pubsub(&pub, &sub, "tp");
    IPM_ASSERT_OK(ipm_send(pub, "h1", 2, 1000, "hsi"));
    IPM_ASSERT_OK(ipm_send(pub, "t1", 2, 1000, "tp"));
    IPM_ASSERT_OK(ipm_send(pub, "n1", 2, 1000, ""));
    IPM_ASSERT_OK(ipm_send(pub, "t2", 2, 1000, "tpc-crate4"));
    IPM_ASSERT_OK(ipm_send(pub, "x1", 2, 1000, "t"));
    IPM_ASSERT_OK(ipm_send(pub, "t3", 2, 1000, "tp"));
    zt_expect(sub, 5000, "t1", 2, "tp");
    zt_expect(sub, 5000, "t2", 2, "tpc-crate4"); /* prefix match */
    zt_expect(sub, 5000, "t3", 2, "tp");
    zt_expect_nothing(sub, 200);
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(sub);
}

static void test_unsubscribe(void **state)
{
    (void)state;
    ipm_sender *pub;
    ipm_receiver *sub;
    zt_tcp_pubsub(&pub, &sub, "a");
    IPM_ASSERT_OK(ipm_subscribe(sub, "b"));
    zt_pubsub_sync(pub, sub, "b");
    IPM_ASSERT_OK(ipm_send(pub, "1", 1, 1000, "a"));
    IPM_ASSERT_OK(ipm_send(pub, "2", 1, 1000, "b"));
    zt_expect(sub, 5000, "1", 1, "a");
    zt_expect(sub, 5000, "2", 1, "b");

    IPM_ASSERT_OK(ipm_unsubscribe(sub, "a"));
    for (int i = 0; i < 5; i++) {
        IPM_ASSERT_OK(ipm_send(pub, "3", 1, 1000, "a"));
        IPM_ASSERT_OK(ipm_send(pub, "4", 1, 1000, "b"));
    }
    for (int i = 0; i < 5; i++)
        zt_expect(sub, 5000, "4", 1, "b");
    zt_expect_nothing(sub, 200);

    IPM_ASSERT_OK(ipm_unsubscribe(sub, "b"));
    IPM_ASSERT_OK(ipm_send(pub, "5", 1, 1000, "b"));
    zt_expect_nothing(sub, 200);
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(sub);
}

static void publish_noise(void *pub)
{
    IPM_ASSERT_OK(ipm_send(pub, "noise", 5, 1000, "other"));
}

static void test_receive_times_out_on_time(void **state)
{
    (void)state;
    ipm_sender *pub;
    ipm_receiver *sub;
    zt_tcp_pubsub(&pub, &sub, "wanted");
    /* Traffic on another topic must not end the wait early or make it late. */
    zt_check_timeout(sub, 100, 10, publish_noise, pub);
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(sub);
}

static void test_nothing_before_subscribe(void **state)
{
    (void)state;
    ipm_sender *pub;
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &pub));
    zt_connect_sender(pub, "tcp://127.0.0.1:*", NULL);
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", &sub));
    zt_connect_receiver(sub, ipm_sender_endpoint(pub), NULL);
    for (int i = 0; i < 10; i++) {
        IPM_ASSERT_OK(ipm_send(pub, "early", 5, 1000, ""));
        zt_expect_nothing(sub, 30);
    }
    IPM_ASSERT_OK(ipm_subscribe(sub, "")); /* "" = every topic */
    zt_pubsub_sync(pub, sub, "any-topic");
    IPM_ASSERT_OK(ipm_send(pub, "late", 4, 1000, "whatever"));
    zt_expect(sub, 5000, "late", 4, "whatever");
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(sub);
}

static void test_one_subscriber_two_publishers(void **state)
{
    (void)state;
    ipm_sender *p1, *p2;
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &p1));
    zt_connect_sender(p1, "tcp://127.0.0.1:*", NULL);
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &p2));
    zt_connect_sender(p2, "tcp://127.0.0.1:*", NULL);
    char list[300];
    snprintf(list, sizeof list, "connection_strings= %s , %s ", ipm_sender_endpoint(p1),
             ipm_sender_endpoint(p2));
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", &sub));
    IPM_ASSERT_OK(ipm_subscribe(sub, "tp"));
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse(list, &p));
    IPM_ASSERT_OK(ipm_receiver_connect(sub, p));
    ipm_params_free(p);
    zt_pubsub_sync(p1, sub, "tp");
    zt_pubsub_sync(p2, sub, "tp");

    IPM_ASSERT_OK(ipm_send(p1, "from1", 5, 1000, "tp1"));
    zt_expect(sub, 5000, "from1", 5, "tp1");
    IPM_ASSERT_OK(ipm_send(p2, "from2", 5, 1000, "tp2"));
    zt_expect(sub, 5000, "from2", 5, "tp2");
    IPM_ASSERT_OK(ipm_send(p2, "skip", 4, 1000, "hsi"));
    zt_expect_nothing(sub, 100);

    /* The endpoint names both publishers. */
    const char *ep = ipm_receiver_endpoint(sub);
    assert_non_null(strstr(ep, ipm_sender_endpoint(p1)));
    assert_non_null(strstr(ep, ipm_sender_endpoint(p2)));
    ipm_sender_destroy(p1);
    ipm_sender_destroy(p2);
    ipm_receiver_destroy(sub);
}

static void test_connect_again_adds_only_new(void **state)
{
    (void)state;
    ipm_sender *p1, *p2;
    ipm_receiver *sub;
    zt_tcp_pubsub(&p1, &sub, "");
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &p2));
    zt_connect_sender(p2, "tcp://127.0.0.1:*", NULL);

    char ep1[128], ep2[128], list[600];
    snprintf(ep1, sizeof ep1, "%s", ipm_sender_endpoint(p1));
    snprintf(ep2, sizeof ep2, "%s", ipm_sender_endpoint(p2));
    /* Overlapping list, with p1 named twice and once via connection_string. */
    snprintf(list, sizeof list, "connection_string=%s; connection_strings=%s,%s,%s", ep1,
             ep1, ep2, ep1);
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse(list, &p));
    IPM_ASSERT_OK(ipm_receiver_connect(sub, p));
    IPM_ASSERT_OK(ipm_receiver_connect(sub, p)); /* again: nothing new */
    ipm_params_free(p);
    zt_pubsub_sync(p2, sub, "sync2");

    char want[300];
    snprintf(want, sizeof want, "%s,%s", ep1, ep2);
    assert_string_equal(ipm_receiver_endpoint(sub), want);

    /* A duplicate connection to p1 would deliver each of its messages twice. */
    for (int i = 0; i < 20; i++)
        IPM_ASSERT_OK(ipm_send(p1, &i, sizeof i, 1000, "one"));
    for (int i = 0; i < 20; i++)
        zt_expect(sub, 5000, &i, sizeof i, "one");
    IPM_ASSERT_OK(ipm_send(p2, "two", 3, 1000, "two"));
    zt_expect(sub, 5000, "two", 3, "two");
    zt_expect_nothing(sub, 200);
    ipm_sender_destroy(p1);
    ipm_sender_destroy(p2);
    ipm_receiver_destroy(sub);
}

static void test_subscriber_connect_errors(void **state)
{
    (void)state;
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", &sub));
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse("connection_strings= , ", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(sub, p), IPM_ECONFIG, "connection_strings");
    ipm_params_free(p);
    IPM_ASSERT_OK(ipm_params_parse("recv_hwm=5", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(sub, p), IPM_ECONFIG, "connection_string");
    ipm_params_free(p);
    /* One bad endpoint fails the whole call and connects none of it. */
    IPM_ASSERT_OK(ipm_params_parse(
        "connection_strings=tcp://127.0.0.1:45999, nope://x, ipc:///tmp/y", &p));
    IPM_ASSERT_ERR(ipm_receiver_connect(sub, p), IPM_ECONNECT, "'nope://x'");
    ipm_params_free(p);
    assert_false(ipm_receiver_can_receive(sub));
    assert_null(ipm_receiver_endpoint(sub));
    ipm_receiver_destroy(sub);
}

static void test_inproc_shared_context(void **state)
{
    (void)state;
    char name[128], ep[200];
    snprintf(ep, sizeof ep, "inproc://%s", ipm_test_unique(name, sizeof name, "pubsub"));
    ipm_sender *pub;
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &pub));
    zt_connect_sender(pub, ep, NULL);
    assert_string_equal(ipm_sender_endpoint(pub), ep);
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", &sub));
    IPM_ASSERT_OK(ipm_subscribe(sub, "in"));
    zt_connect_receiver(sub, ep, NULL);
    zt_pubsub_sync(pub, sub, "in");
    IPM_ASSERT_OK(ipm_send(pub, "proc", 4, 1000, "inproc"));
    IPM_ASSERT_OK(ipm_send(pub, "no", 2, 1000, "out"));
    zt_expect(sub, 5000, "proc", 4, "inproc");
    zt_expect_nothing(sub, 100);
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(sub);
}

static void test_pubsub_large_and_empty(void **state)
{
    (void)state;
    ipm_sender *pub;
    ipm_receiver *sub;
    zt_tcp_pubsub(&pub, &sub, "");
    static char big[1 << 20];
    memset(big, 'q', sizeof big);
    IPM_ASSERT_OK(ipm_send(pub, NULL, 0, 1000, "empty"));
    IPM_ASSERT_OK(ipm_send(pub, big, sizeof big, 1000, "big"));
    zt_expect(sub, 5000, NULL, 0, "empty");
    zt_expect(sub, 5000, big, sizeof big, "big");
    ipm_sender_destroy(pub);
    ipm_receiver_destroy(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_filter),
        cmocka_unit_test(test_unsubscribe),
        cmocka_unit_test(test_receive_times_out_on_time),
        cmocka_unit_test(test_nothing_before_subscribe),
        cmocka_unit_test(test_one_subscriber_two_publishers),
        cmocka_unit_test(test_connect_again_adds_only_new),
        cmocka_unit_test(test_subscriber_connect_errors),
        cmocka_unit_test(test_inproc_shared_context),
        cmocka_unit_test(test_pubsub_large_and_empty),
    };
    return cmocka_run_group_tests_name("zmq_pubsub", tests, NULL, NULL);
}
