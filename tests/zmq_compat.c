/*
 * Wire compatibility with plain libzmq peers, and so with DUNE-DAQ's ipm:
 * a message is two frames, metadata then data; a single frame from a foreign
 * peer is data with empty metadata; extra frames are dropped.
 */
#define _GNU_SOURCE
#include "zmq_util.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

static void raw_send(void *sock, const char *frame, int flags)
{
    assert_int_equal(zmq_send(sock, frame, strlen(frame), flags), (int)strlen(frame));
}

/* Receive one frame into buf (NUL-terminated); returns whether more follow. */
static bool raw_recv(void *sock, char *buf, size_t cap)
{
    int timeout = 5000;
    assert_int_equal(zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout), 0);
    zmq_msg_t m;
    zmq_msg_init(&m);
    int n = zmq_msg_recv(&m, sock, 0);
    if (n < 0) fail_msg("raw receive: %s", zmq_strerror(zmq_errno()));
    assert_true((size_t)n < cap);
    memcpy(buf, zmq_msg_data(&m), (size_t)n);
    buf[n] = '\0';
    bool more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    return more;
}

static void *raw_socket(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    assert_non_null(s);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    return s;
}

static void test_single_frame_from_raw_push(void **state)
{
    (void)state;
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    zt_connect_receiver(r, "tcp://127.0.0.1:*", NULL);
    void *ctx = zmq_ctx_new();
    void *push = raw_socket(ctx, ZMQ_PUSH);
    assert_int_equal(zmq_connect(push, ipm_receiver_endpoint(r)), 0);

    raw_send(push, "lonely frame", 0);
    zt_expect(r, 5000, "lonely frame", 12, ""); /* data, empty metadata */
    raw_send(push, "", 0);
    zt_expect(r, 5000, NULL, 0, "");

    /* Three frames: metadata, data, and one we do not know -> dropped, and
     * the next message is read from its own start. */
    raw_send(push, "meta", ZMQ_SNDMORE);
    raw_send(push, "data", ZMQ_SNDMORE);
    raw_send(push, "extra", 0);
    raw_send(push, "m2", ZMQ_SNDMORE);
    raw_send(push, "d2", 0);
    zt_expect(r, 5000, "data", 4, "meta");
    zt_expect(r, 5000, "d2", 2, "m2");
    zt_expect_nothing(r, 100);

    zmq_close(push);
    zmq_ctx_term(ctx);
    ipm_receiver_destroy(r);
}

static void test_raw_pull_gets_dune_frames(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *pull = raw_socket(ctx, ZMQ_PULL);
    assert_int_equal(zmq_bind(pull, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t len = sizeof ep;
    assert_int_equal(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len), 0);

    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", &s));
    zt_connect_sender(s, ep, NULL);
    IPM_ASSERT_OK(ipm_send(s, "payload", 7, 5000, "the-metadata"));
    IPM_ASSERT_OK(ipm_send(s, NULL, 0, 5000, NULL));

    char buf[64];
    assert_true(raw_recv(pull, buf, sizeof buf)); /* frame 1, more follows */
    assert_string_equal(buf, "the-metadata");
    assert_false(raw_recv(pull, buf, sizeof buf)); /* frame 2, the last */
    assert_string_equal(buf, "payload");
    assert_true(raw_recv(pull, buf, sizeof buf)); /* empty metadata frame */
    assert_string_equal(buf, "");
    assert_false(raw_recv(pull, buf, sizeof buf));
    assert_string_equal(buf, "");

    ipm_sender_destroy(s);
    zmq_close(pull);
    zmq_ctx_term(ctx);
}

static void test_raw_sub_filters_on_our_topic_frame(void **state)
{
    (void)state;
    ipm_sender *pub;
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &pub));
    zt_connect_sender(pub, "tcp://127.0.0.1:*", NULL);
    void *ctx = zmq_ctx_new();
    void *sub = raw_socket(ctx, ZMQ_SUB);
    assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "tp", 2), 0);
    assert_int_equal(zmq_connect(sub, ipm_sender_endpoint(pub)), 0);

    /* Publish until the subscription has reached the publisher. */
    char buf[64];
    int timeout = 20;
    assert_int_equal(zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout), 0);
    double end = ipm_test_now_ms() + 20000;
    for (;;) {
        IPM_ASSERT_OK(ipm_send(pub, "sync", 4, 1000, "tp-sync"));
        if (zmq_recv(sub, buf, sizeof buf, 0) >= 0) break;
        assert_true(ipm_test_now_ms() < end);
    }
    int more = 0;
    size_t ml = sizeof more;
    zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
    assert_true(more);
    timeout = 100;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    while (zmq_recv(sub, buf, sizeof buf, 0) >= 0) { /* drain sync messages */
    }

    IPM_ASSERT_OK(ipm_send(pub, "no", 2, 1000, "hsi"));
    IPM_ASSERT_OK(ipm_send(pub, "yes", 3, 1000, "tpc"));
    assert_true(raw_recv(sub, buf, sizeof buf));
    assert_string_equal(buf, "tpc");
    assert_false(raw_recv(sub, buf, sizeof buf));
    assert_string_equal(buf, "yes");

    zmq_close(sub);
    zmq_ctx_term(ctx);
    ipm_sender_destroy(pub);
}

static void test_raw_pub_to_our_subscriber(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *pub = raw_socket(ctx, ZMQ_PUB);
    assert_int_equal(zmq_bind(pub, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t len = sizeof ep;
    assert_int_equal(zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, ep, &len), 0);

    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", &sub));
    IPM_ASSERT_OK(ipm_subscribe(sub, "hsi"));
    zt_connect_receiver(sub, ep, NULL);
    ipm_message m;
    double end = ipm_test_now_ms() + 20000;
    for (;;) {
        raw_send(pub, "hsi-sync", ZMQ_SNDMORE);
        raw_send(pub, "s", 0);
        if (ipm_receive(sub, &m, 20) == IPM_OK) break;
        assert_true(ipm_test_now_ms() < end);
    }
    ipm_message_release(&m);
    while (ipm_receive(sub, &m, 100) == IPM_OK)
        ipm_message_release(&m);

    raw_send(pub, "hsi", ZMQ_SNDMORE);
    raw_send(pub, "dune", 0);
    zt_expect(sub, 5000, "dune", 4, "hsi");
    ipm_receiver_destroy(sub);
    zmq_close(pub);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_frame_from_raw_push),
        cmocka_unit_test(test_raw_pull_gets_dune_frames),
        cmocka_unit_test(test_raw_sub_filters_on_our_topic_frame),
        cmocka_unit_test(test_raw_pub_to_our_subscriber),
    };
    return cmocka_run_group_tests_name("zmq_compat", tests, NULL, NULL);
}
