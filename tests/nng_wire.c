/*
 * The nng family's wire form against plain libnng sockets (docs/nng.md):
 * a plain peer's message arrives as data with empty metadata; an ipm
 * message with empty metadata is its bare data; metadata is framed as
 * "M \0 data len32 magic"; bare data that ends like a trailer is framed so
 * that it round-trips; a plain sub0 subscribed to "tp" gets ipm messages
 * whose topic starts with "tp"; malformed trailers are plain data.
 */
#define _GNU_SOURCE
#include "nng_util.h"

#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#define MAGIC "\xFFipmnng\x01"

static void raw_send(nng_socket s, const void *data, size_t size)
{
    assert_int_equal(nng_send(s, (void *)data, size, 0), 0);
}

/* Receive one raw message (5 s), into buf; returns its length. */
static size_t raw_recv(nng_socket s, void *buf, size_t cap)
{
    assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000), 0);
    nng_msg *m;
    int rv = nng_recvmsg(s, &m, 0);
    if (rv != 0) fail_msg("raw receive: %s", nng_strerror(rv));
    size_t n = nng_msg_len(m);
    assert_true(n <= cap);
    memcpy(buf, nng_msg_body(m), n);
    nng_msg_free(m);
    return n;
}

static void test_plain_push_into_receiver(void **state)
{
    (void)state;
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    nt_connect_receiver(r, "tcp://127.0.0.1:0", NULL);
    nng_socket push;
    assert_int_equal(nng_push0_open(&push), 0);
    assert_int_equal(nng_dial(push, ipm_receiver_endpoint(r), NULL, 0), 0);
    raw_send(push, "hello", 5);
    raw_send(push, "", 0);
    raw_send(push, "tp\0data", 7);
    /* Magic at the end but a length that does not fit, or no 0x00 after
     * the metadata: not an ipm message, so plain data. */
    static const char bad1[] = "ab\0cd\x00\x00\x00\x09" MAGIC;
    static const char bad2[] = "abxcd\x00\x00\x00\x02" MAGIC;
    raw_send(push, bad1, sizeof bad1 - 1);
    raw_send(push, bad2, sizeof bad2 - 1);
    nt_expect(r, 5000, "hello", 5, "");
    nt_expect(r, 5000, "", 0, "");
    nt_expect(r, 5000, "tp\0data", 7, "");
    nt_expect(r, 5000, bad1, sizeof bad1 - 1, "");
    nt_expect(r, 5000, bad2, sizeof bad2 - 1, "");
    /* A well-formed trailer from a plain peer reads as ipm's form. */
    static const char good[] = "tp\0payload\x00\x00\x00\x02" MAGIC;
    raw_send(push, good, sizeof good - 1);
    nt_expect(r, 5000, "payload", 7, "tp");
    nng_close(push);
    ipm_receiver_destroy(r);
}

static void test_sender_into_plain_pull(void **state)
{
    (void)state;
    nng_socket pull;
    assert_int_equal(nng_pull0_open(&pull), 0);
    char ep[128];
    nt_free_tcp(ep, sizeof ep, "tcp");
    assert_int_equal(nng_listen(pull, ep, NULL, 0), 0);
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("NngSender", &s));
    nt_connect_sender(s, ep, NULL);
    IPM_ASSERT_OK(ipm_send(s, "bare", 4, 5000, NULL));
    IPM_ASSERT_OK(ipm_send(s, "data", 4, 5000, "m"));
    IPM_ASSERT_OK(ipm_send(s, NULL, 0, 5000, "tp"));
    char buf[256];
    size_t n = raw_recv(pull, buf, sizeof buf);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "bare", 4);
    static const char framed[] = "m\0data\x00\x00\x00\x01" MAGIC;
    n = raw_recv(pull, buf, sizeof buf);
    assert_int_equal(n, sizeof framed - 1);
    assert_memory_equal(buf, framed, n);
    static const char topic_only[] = "tp\0\x00\x00\x00\x02" MAGIC;
    n = raw_recv(pull, buf, sizeof buf);
    assert_int_equal(n, sizeof topic_only - 1);
    assert_memory_equal(buf, topic_only, n);
    ipm_sender_destroy(s);
    nng_close(pull);
}

/* Bare data that would read as ipm's form is framed, and round-trips. */
static void test_data_that_looks_framed(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    nt_pair("tcp://127.0.0.1:0", NULL, NULL, &s, &r);
    static const char tricky[] = "tp\0payload\x00\x00\x00\x02" MAGIC;
    IPM_ASSERT_OK(ipm_send(s, tricky, sizeof tricky - 1, 5000, NULL));
    nt_expect(r, 5000, tricky, sizeof tricky - 1, "");
    IPM_ASSERT_OK(ipm_send(s, tricky, sizeof tricky - 1, 5000, "t"));
    nt_expect(r, 5000, tricky, sizeof tricky - 1, "t");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_publisher_into_plain_sub(void **state)
{
    (void)state;
    ipm_sender *pub;
    IPM_ASSERT_OK(ipm_sender_create("NngPublisher", &pub));
    nt_connect_sender(pub, "tcp://127.0.0.1:0", NULL);
    nng_socket sub;
    assert_int_equal(nng_sub0_open(&sub), 0);
    assert_int_equal(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "tp", 2), 0);
    assert_int_equal(nng_dial(sub, ipm_sender_endpoint(pub), NULL, 0), 0);
    /* Publish until the subscription is in effect. */
    char buf[256];
    assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 20), 0);
    for (int i = 0;; i++) {
        assert_true(i < 1000);
        IPM_ASSERT_OK(ipm_send(pub, "sync", 4, 0, "tp"));
        nng_msg *m;
        if (nng_recvmsg(sub, &m, 0) == 0) {
            nng_msg_free(m);
            break;
        }
    }
    nng_msg *m;
    while (nng_recvmsg(sub, &m, 0) == 0)
        nng_msg_free(m);
    IPM_ASSERT_OK(ipm_send(pub, "one", 3, 0, "hsi"));
    IPM_ASSERT_OK(ipm_send(pub, "two", 3, 0, "tpc"));
    IPM_ASSERT_OK(ipm_send(pub, "six", 3, 0, "t"));
    size_t n = raw_recv(sub, buf, sizeof buf);
    static const char want[] = "tpc\0two\x00\x00\x00\x03" MAGIC;
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(buf, want, n);
    assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 200), 0);
    assert_int_equal(nng_recvmsg(sub, &m, 0), NNG_ETIMEDOUT);
    nng_close(sub);
    ipm_sender_destroy(pub);
}

static void test_plain_pub_into_subscriber(void **state)
{
    (void)state;
    nng_socket pub;
    assert_int_equal(nng_pub0_open(&pub), 0);
    char ep[128];
    nt_free_tcp(ep, sizeof ep, "tcp");
    assert_int_equal(nng_listen(pub, ep, NULL, 0), 0);
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("NngSubscriber", &sub));
    IPM_ASSERT_OK(ipm_subscribe(sub, "tp"));
    nt_connect_receiver(sub, ep, NULL);
    ipm_message msg;
    for (int i = 0;; i++) {
        assert_true(i < 1000);
        raw_send(pub, "tpsync", 6);
        if (ipm_receive(sub, &msg, 20) == IPM_OK) {
            ipm_message_release(&msg);
            break;
        }
    }
    while (ipm_receive(sub, &msg, 50) == IPM_OK)
        ipm_message_release(&msg);
    raw_send(pub, "hsi: no", 7);
    raw_send(pub, "tp: yes", 7);
    nt_expect(sub, 5000, "tp: yes", 7, "");
    nt_expect_nothing(sub, 200);
    ipm_receiver_destroy(sub);
    nng_close(pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_push_into_receiver),
        cmocka_unit_test(test_sender_into_plain_pull),
        cmocka_unit_test(test_data_that_looks_framed),
        cmocka_unit_test(test_publisher_into_plain_sub),
        cmocka_unit_test(test_plain_pub_into_subscriber),
    };
    return nt_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
