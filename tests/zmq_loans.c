/*
 * zmq_loans.c — zero-copy sends on the Zmq family (API.md section 7): a
 * loaned buffer becomes the data frame without a copy, a send that times out
 * leaves the buffer on loan with its bytes, a returned or destroyed loan is
 * freed (LeakSanitizer would see it otherwise), and a pointer the sender did
 * not lend is refused.
 */
#define _GNU_SOURCE
#include "ipm_test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pair(ipm_sender **tx, ipm_receiver **rx)
{
    IPM_ASSERT_OK(
        ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", rx));
    char spec[256];
    snprintf(spec, sizeof spec, "type=ZmqSender; connection_string=%s",
             ipm_receiver_endpoint(*rx));
    IPM_ASSERT_OK(ipm_sender_open(spec, tx));
}

static void test_loan_round_trip(void **state)
{
    ipm_sender *tx;
    ipm_receiver *rx;
    pair(&tx, &rx);
    const size_t sizes[] = {0, 1, 64, 4096, 40u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *buf = NULL;
        IPM_ASSERT_OK(ipm_sender_loan(tx, n, 1000, &buf));
        assert_non_null(buf);
        assert_int_equal((uintptr_t)buf % 64, 0);
        for (size_t k = 0; k < n; k += 4096)
            ((unsigned char *)buf)[k] = (unsigned char)(k / 4096 + i);
        /* Send fewer bytes than lent: allowed. */
        size_t sent = n > 1 ? n - 1 : n;
        IPM_ASSERT_OK(ipm_send_loan(tx, buf, sent, 5000, "frag"));
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(rx, &m, 5000));
        assert_int_equal(m.size, sent);
        assert_string_equal(m.metadata, "frag");
        for (size_t k = 0; k < sent; k += 4096)
            assert_int_equal(((const unsigned char *)m.data)[k],
                             (unsigned char)(k / 4096 + i));
        ipm_message_release(&m);
    }
    ipm_stats st;
    ipm_sender_stats(tx, &st);
    assert_int_equal(st.messages, 5);
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(rx);
}

static void test_loan_rules(void **state)
{
    ipm_sender *tx;
    ipm_receiver *rx;
    pair(&tx, &rx);
    void *buf = NULL, *other = NULL;
    IPM_ASSERT_OK(ipm_sender_loan(tx, 100, 0, &buf));
    IPM_ASSERT_ERR(ipm_send_loan(tx, buf, 101, 0, NULL), IPM_EINVAL,
                   "more than the 100 bytes");
    char mine[8];
    IPM_ASSERT_ERR(ipm_send_loan(tx, mine, 1, 0, NULL), IPM_EINVAL, "is not a buffer");
    /* Returned: no longer on loan. */
    ipm_sender_loan_return(tx, buf);
    IPM_ASSERT_ERR(ipm_send_loan(tx, buf, 1, 0, NULL), IPM_EINVAL, "is not a buffer");
    ipm_sender_loan_return(tx, NULL);
    ipm_sender_loan_return(NULL, mine);
    /* Outstanding loans are returned by destroy. */
    IPM_ASSERT_OK(ipm_sender_loan(tx, 1 << 20, 0, &other));
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(rx);

    /* Before connect: ESTATE; and NULL arguments. */
    ipm_sender *s = NULL;
    IPM_ASSERT_OK(ipm_sender_create("ZmqSender", &s));
    IPM_ASSERT_ERR(ipm_sender_loan(s, 8, 0, &buf), IPM_ESTATE, "not connected");
    assert_null(buf);
    assert_int_equal(ipm_sender_loan(s, 8, 0, NULL), IPM_EINVAL);
    assert_int_equal(ipm_sender_loan(NULL, 8, 0, &buf), IPM_EINVAL);
    ipm_sender_destroy(s);
}

/* No receiver: the send times out and the buffer is still the caller's,
 * bytes intact, and can be sent once a receiver is there. */
static void test_loan_survives_timeout(void **state)
{
    ipm_receiver *rx;
    IPM_ASSERT_OK(
        ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", &rx));
    char ep[256];
    snprintf(ep, sizeof ep, "%s", ipm_receiver_endpoint(rx));
    ipm_receiver_destroy(rx);
    char spec[300];
    snprintf(spec, sizeof spec, "type=ZmqSender; connection_string=%s", ep);
    ipm_sender *tx;
    IPM_ASSERT_OK(ipm_sender_open(spec, &tx));
    void *buf;
    IPM_ASSERT_OK(ipm_sender_loan(tx, 1000, 0, &buf));
    memset(buf, 0x5a, 1000);
    IPM_ASSERT_ERR(ipm_send_loan(tx, buf, 1000, 50, "t"), IPM_ETIMEDOUT,
                   "nothing was sent");
    for (size_t k = 0; k < 1000; k++)
        assert_int_equal(((unsigned char *)buf)[k], 0x5a);
    snprintf(spec, sizeof spec, "type=ZmqReceiver; connection_string=%s", ep);
    IPM_ASSERT_OK(ipm_receiver_open(spec, &rx));
    IPM_ASSERT_OK(ipm_send_loan(tx, buf, 1000, 5000, "t"));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(rx, &m, 5000));
    assert_int_equal(m.size, 1000);
    assert_int_equal(((const unsigned char *)m.data)[999], 0x5a);
    ipm_message_release(&m);
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loan_round_trip),
        cmocka_unit_test(test_loan_rules),
        cmocka_unit_test(test_loan_survives_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
