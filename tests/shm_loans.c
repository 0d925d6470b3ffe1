/*
 * Zero-copy on the shm family (API.md §7): a ShmSender's and a
 * ShmPublisher's loaned buffer lies inside the segment's mapping (checked
 * against /proc/self/maps of /dev/shm/NAME), and so does a message a
 * ShmReceiver hands out; releases in any order give the room back over the
 * released prefix only; a loan on a full queue times out with nothing lent;
 * metadata of any length stays intact while its message is held;
 * a message outlives its receiver; a loan given up by an ordinary send in
 * between is still delivered, in send order; loans are returned.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "shm_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* True if [p, p + n) lies inside one mapping of /dev/shm/name in
 * /proc/self/maps. */
static bool in_segment(const void *p, size_t n, const char *name)
{
    char want[300];
    snprintf(want, sizeof want, "/dev/shm/%s", name);
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[1024];
    bool found = false;
    uintptr_t a = (uintptr_t)p;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char path[600] = "";
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %599s", &lo, &hi, path) < 2) continue;
        if (strcmp(path, want) == 0 && a >= lo && a + n <= hi) found = true;
    }
    fclose(f);
    return found;
}

static void test_loan_and_receive_in_place(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "loanmap");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=1Mi", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    const size_t n = 100000;
    void *buf;
    IPM_ASSERT_OK(ipm_sender_loan(s, n, 1000, &buf));
    assert_true(in_segment(buf, n, name));
    assert_int_equal((uintptr_t)buf % 32, 0);
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)buf)[i] = (unsigned char)(i * 7);
    IPM_ASSERT_OK(ipm_send_loan(s, buf, n - 10, 1000, "frag"));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_int_equal(m.size, n - 10);
    assert_string_equal(m.metadata, "frag");
    assert_true(in_segment(m.data, m.size, name));
    for (size_t i = 0; i < m.size; i++)
        if (((const unsigned char *)m.data)[i] != (unsigned char)(i * 7))
            fail_msg("byte %zu differs", i);
    ipm_message_release(&m);
    /* An ordinary send is received in place too. */
    IPM_ASSERT_OK(ipm_send(s, "plain", 5, 1000, NULL));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_true(in_segment(m.data, m.size, name));
    assert_memory_equal(m.data, "plain", 5);
    assert_string_equal(m.metadata, "");
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_publisher_loan_in_place(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "publoan");
    ipm_sender *p;
    ipm_receiver *sub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, "buffer_size=1Mi", &p));
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, "topics=t", &sub));
    for (int k = 0; k < 50; k++) { /* laps the ring several times */
        void *buf;
        size_t n = 60000 + (size_t)k;
        IPM_ASSERT_OK(ipm_sender_loan(p, n, 0, &buf));
        assert_true(in_segment(buf, n, name));
        memset(buf, k, n);
        IPM_ASSERT_OK(ipm_send_loan(p, buf, n, 0, "t"));
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(sub, &m, 1000));
        assert_int_equal(m.size, n);
        assert_string_equal(m.metadata, "t");
        assert_int_equal(((const unsigned char *)m.data)[n - 1], k);
        ipm_message_release(&m);
    }
    /* A loan given up by an ordinary send in between: both arrive, in the
     * order of the sends, and the ring writes around the loan meanwhile. */
    void *buf;
    static unsigned char other[30000];
    IPM_ASSERT_OK(ipm_sender_loan(p, 1000, 0, &buf));
    for (int k = 0; k < 40; k++)
        IPM_ASSERT_OK(ipm_send(p, other, sizeof other, 0, "t"));
    memset(buf, 'L', 1000);
    IPM_ASSERT_OK(ipm_send_loan(p, buf, 1000, 0, "t"));
    ipm_message m;
    ipm_status st;
    int got = 0;
    bool loan_seen = false;
    while ((st = ipm_receive(sub, &m, 100)) == IPM_OK) {
        if (m.size == 1000) {
            assert_int_equal(((const unsigned char *)m.data)[999], 'L');
            loan_seen = true;
        } else {
            assert_false(loan_seen); /* sent before the loan */
        }
        got++;
        ipm_message_release(&m);
    }
    assert_true(loan_seen);
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(p);
}

/* Several messages held, released out of order: the sender's room comes
 * back only over the released prefix. */
static void test_out_of_order_release(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "ooo");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=16Ki", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    char buf[1000];
    int accepted = 0;
    for (;; accepted++) {
        memset(buf, accepted, sizeof buf);
        if (ipm_send(s, buf, sizeof buf, 0, NULL) != IPM_OK) break;
    }
    assert_true(accepted >= 10);
    ipm_message m[32];
    for (int i = 0; i < accepted; i++) {
        IPM_ASSERT_OK(ipm_receive(r, &m[i], 0));
        assert_true(in_segment(m[i].data, m[i].size, name));
        assert_int_equal(((const unsigned char *)m[i].data)[0], (unsigned char)i);
    }
    /* All held: still full. Release every one but the first: still full. */
    IPM_ASSERT_ERR(ipm_send(s, buf, sizeof buf, 0, NULL), IPM_ETIMEDOUT, "full");
    for (int i = accepted - 1; i >= 1; i--)
        ipm_message_release(&m[i]);
    IPM_ASSERT_ERR(ipm_send(s, buf, sizeof buf, 20, NULL), IPM_ETIMEDOUT, "full");
    /* The held first message is intact, then its release frees everything. */
    assert_int_equal(((const unsigned char *)m[0].data)[999], 0);
    ipm_message_release(&m[0]);
    ipm_message_release(&m[0]); /* idempotent */
    for (int i = 0; i < accepted; i++)
        IPM_ASSERT_OK(ipm_send(s, buf, sizeof buf, 1000, NULL));
    for (int i = 0; i < accepted; i++) {
        IPM_ASSERT_OK(ipm_receive(r, &m[i], 1000));
        ipm_message_release(&m[i]);
    }
    /* Released from another order again: middle first. */
    for (int i = 0; i < 3; i++)
        IPM_ASSERT_OK(ipm_send(s, buf, sizeof buf, 1000, NULL));
    for (int i = 0; i < 3; i++)
        IPM_ASSERT_OK(ipm_receive(r, &m[i], 1000));
    ipm_message_release(&m[1]);
    ipm_message_release(&m[0]);
    ipm_message_release(&m[2]);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* The metadata a ShmReceiver hands out is its own copy, short or long (in
 * the receiver's slot below 16 bytes, else on the heap; and the message
 * copied out once the application holds more messages than a lane has
 * slots, 16384): it stays intact while held, whatever else arrives. */
static void meta_of(char *out, int i)
{
    int len = i % 10 == 9 ? 16 + i % 24 : i % 16; /* both sides of 16 */
    if (i % 100 == 99) len = 255;
    for (int k = 0; k < len; k++)
        out[k] = (char)('a' + (i + k) % 26);
    out[len] = '\0';
}

static void test_metadata_held(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "meta");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=4Mi", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    enum { N = 20000 };
    static ipm_message m[N];
    char meta[256];
    int sent = 0;
    while (sent < N) {
        meta_of(meta, sent);
        if (ipm_send(s, &sent, sizeof sent, 0, meta) != IPM_OK) break;
        sent++;
    }
    assert_true(sent > 17000); /* more than a lane's slots */
    for (int i = 0; i < sent; i++) {
        IPM_ASSERT_OK(ipm_receive(r, &m[i], 1000));
        int v;
        memcpy(&v, m[i].data, sizeof v);
        assert_int_equal(v, i);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < sent; i++) {
            if (m[i].data == NULL) continue;
            meta_of(meta, i);
            assert_string_equal(m[i].metadata, meta);
            assert_int_equal(m[i].metadata_size, strlen(meta));
        }
        for (int i = pass; i < sent; i += 2)
            ipm_message_release(&m[i]);
    }
    /* Everything is back: the lane takes as much again. */
    for (int i = 0; i < sent; i++) {
        meta_of(meta, i);
        IPM_ASSERT_OK(ipm_send(s, &i, sizeof i, 0, meta));
    }
    for (int i = 0; i < sent; i++) {
        IPM_ASSERT_OK(ipm_receive(r, &m[0], 1000));
        meta_of(meta, i);
        assert_string_equal(m[0].metadata, meta);
        ipm_message_release(&m[0]);
    }
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* A loan on a full queue waits for room up to its timeout and lends
 * nothing on IPM_ETIMEDOUT; room released by the receiver makes it succeed. */
static void test_loan_timeout_full(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "loanfull");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=16Ki", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    int accepted = 0;
    for (;; accepted++) {
        void *b;
        ipm_status st = ipm_sender_loan(s, 1000, 0, &b);
        if (st == IPM_ETIMEDOUT) {
            assert_null(b);
            break;
        }
        IPM_ASSERT_OK(st);
        memset(b, accepted, 1000);
        IPM_ASSERT_OK(ipm_send_loan(s, b, 1000, 0, NULL));
    }
    assert_true(accepted >= 8);
    for (int T = 30; T <= 100; T += 70) {
        double best = 1e9;
        for (int k = 0; k < 3; k++) {
            void *b = (void *)1;
            double t0 = ipm_test_now_ms();
            IPM_ASSERT_ERR(ipm_sender_loan(s, 1000, T, &b), IPM_ETIMEDOUT, "full");
            double el = ipm_test_now_ms() - t0;
            assert_null(b);
            if (el < T) fail_msg("loan timeout %d ms ended after %.2f ms", T, el);
            best = el < best ? el : best;
        }
        if (best > T + 20) fail_msg("loan timeout %d ms ended after %.2f ms", T, best);
    }
    /* Nothing half-sent: exactly what was accepted arrives. */
    for (int i = 0; i < accepted; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 0));
        assert_int_equal(m.size, 1000);
        assert_int_equal(((const unsigned char *)m.data)[500], (unsigned char)i);
        ipm_message_release(&m);
    }
    ipm_message m;
    IPM_ASSERT_ERR(ipm_receive(r, &m, 0), IPM_ETIMEDOUT, "no message");
    void *b;
    IPM_ASSERT_OK(ipm_sender_loan(s, 1000, 0, &b));
    ipm_sender_loan_return(s, b);
    IPM_ASSERT_ERR(ipm_receive(r, &m, 20), IPM_ETIMEDOUT, "no message"); /* unsent */
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* A message held after its receiver is destroyed stays readable until it
 * is released; the name is gone at once. */
static void test_message_outlives_receiver(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "outlive");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=64Ki", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    IPM_ASSERT_OK(ipm_send(s, "kept alive", 10, 1000, "meta"));
    IPM_ASSERT_OK(ipm_send(s, "second", 6, 1000, NULL));
    ipm_message m, m2;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    IPM_ASSERT_OK(ipm_receive(r, &m2, 1000));
    assert_true(in_segment(m.data, m.size, name));
    ipm_receiver_destroy(r);
    assert_false(shm_t_exists(name, NULL));
    ipm_sender_destroy(s);
    assert_true(in_segment(m.data, m.size, name)); /* still mapped */
    assert_memory_equal(m.data, "kept alive", 10);
    assert_string_equal(m.metadata, "meta");
    ipm_message_release(&m2);
    assert_memory_equal(m.data, "kept alive", 10);
    ipm_message_release(&m);
}

/* Two loans at once (the second by copy), an ordinary send while the
 * in-place loan is out, and loans returned: everything sent arrives once,
 * in the order of the sends. */
static void test_loans_interleaved(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "interleave");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=64Ki", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    void *a, *b, *c;
    IPM_ASSERT_OK(ipm_sender_loan(s, 100, 0, &a));
    IPM_ASSERT_OK(ipm_sender_loan(s, 100, 0, &b));
    assert_true(in_segment(a, 100, name));
    memset(a, 'A', 100);
    memset(b, 'B', 100);
    IPM_ASSERT_OK(ipm_send_loan(s, b, 100, 0, "b"));
    IPM_ASSERT_OK(ipm_send(s, "C", 1, 0, "c"));
    IPM_ASSERT_OK(ipm_send_loan(s, a, 50, 0, "a"));
    IPM_ASSERT_OK(ipm_sender_loan(s, 10, 0, &c));
    ipm_sender_loan_return(s, c);
    /* A returned loan's room is reused, and a fresh loan goes in place. */
    for (int i = 0; i < 200; i++) {
        IPM_ASSERT_OK(ipm_sender_loan(s, 1000, 1000, &c));
        assert_true(in_segment(c, 1000, name));
        memset(c, i, 1000);
        if (i % 3 == 0)
            ipm_sender_loan_return(s, c);
        else
            IPM_ASSERT_OK(ipm_send_loan(s, c, 1000, 1000, "n"));
        ipm_message m;
        if (i == 0) {
            const char *want[] = {"b", "c", "a"};
            for (int k = 0; k < 3; k++) {
                IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
                assert_string_equal(m.metadata, want[k]);
                ipm_message_release(&m);
            }
        }
        if (i % 3 != 0) {
            IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
            assert_int_equal(((const unsigned char *)m.data)[999], (unsigned char)i);
            ipm_message_release(&m);
        }
    }
    ipm_message m;
    IPM_ASSERT_ERR(ipm_receive(r, &m, 20), IPM_ETIMEDOUT, "no message");
    /* Destroying the sender returns a loan still out. */
    IPM_ASSERT_OK(ipm_sender_loan(s, 1000, 0, &c));
    ipm_sender_destroy(s);
    IPM_ASSERT_ERR(ipm_receive(r, &m, 20), IPM_ETIMEDOUT, "no message");
    ipm_receiver_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loan_and_receive_in_place),
        cmocka_unit_test(test_publisher_loan_in_place),
        cmocka_unit_test(test_out_of_order_release),
        cmocka_unit_test(test_metadata_held),
        cmocka_unit_test(test_loan_timeout_full),
        cmocka_unit_test(test_message_outlives_receiver),
        cmocka_unit_test(test_loans_interleaved),
    };
    return cmocka_run_group_tests_name("shm_loans", tests, NULL, NULL);
}
