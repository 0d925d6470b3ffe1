/*
 * ShmReceiver fan-in: three ShmSender processes into one ShmReceiver with
 * nothing lost, doubled or reordered per sender; a sender killed with
 * kill -9 in the middle of a message (between loan and send_loan, with its
 * bytes half written) never blocks or corrupts the others, and its lane is
 * taken over by a newcomer; every message whose send returned is delivered;
 * max_senders bounds the lanes.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "shm_util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PER_SENDER 200000u

typedef struct stream {
    const char *name;
    uint32_t id;
    uint32_t count;
    bool loans; /* send through loans (else ipm_send) */
} stream;

typedef struct rec {
    uint32_t id, seq;
} rec;

static int sender_main(void *p)
{
    const stream *a = p;
    ipm_sender *s;
    if (shm_t_open_sender("ShmSender", a->name, NULL, &s) != IPM_OK) return 10;
    for (uint32_t i = 0; i < a->count; i++) {
        rec r = {a->id, i};
        size_t n = sizeof r + (i % 97);
        ipm_status st;
        if (a->loans && i % 2) {
            void *b;
            if ((st = ipm_sender_loan(s, n, 10000, &b)) != IPM_OK) return 11;
            memset(b, (int)a->id, n);
            memcpy(b, &r, sizeof r);
            st = ipm_send_loan(s, b, n, 10000, "f");
        } else {
            unsigned char buf[256];
            memset(buf, (int)a->id, n);
            memcpy(buf, &r, sizeof r);
            st = ipm_send(s, buf, n, 10000, "f");
        }
        if (st != IPM_OK) return 12;
    }
    ipm_sender_destroy(s);
    return 0;
}

/* Take messages until every sender's stream is complete, checking order per
 * sender and the payload's filler. */
static void drain(ipm_receiver *r, uint32_t *next, int nsenders, uint32_t per,
                  uint32_t skip_id)
{
    uint64_t want = 0;
    for (int i = 0; i < nsenders; i++)
        if ((uint32_t)i + 1 != skip_id) want += per;
    for (uint64_t got = 0; got < want;) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, 10000);
        if (st != IPM_OK)
            fail_msg("after %llu: %s", (unsigned long long)got, ipm_last_error());
        rec v;
        assert_true(m.size >= sizeof v);
        memcpy(&v, m.data, sizeof v);
        uint32_t idx = v.id - 1; /* the sender's index; v.id 0 wraps and is refused */
        if (idx >= (uint32_t)nsenders) {
            fail_msg("a message from unknown sender %u", v.id);
            return;
        }
        if (v.id == skip_id) { /* the killed one: whatever it sent, in order */
            if (v.seq != next[idx])
                fail_msg("killed sender: #%u where #%u was due", v.seq, next[idx]);
            next[idx]++;
            ipm_message_release(&m);
            continue;
        }
        if (v.seq != next[idx])
            fail_msg("sender %u: #%u arrived where #%u was due", v.id, v.seq, next[idx]);
        if (m.size != sizeof v + v.seq % 97)
            fail_msg("sender %u #%u: %zu bytes", v.id, v.seq, m.size);
        for (size_t k = sizeof v; k < m.size; k++)
            if (((const unsigned char *)m.data)[k] != (unsigned char)v.id)
                fail_msg("sender %u #%u: byte %zu corrupt", v.id, v.seq, k);
        next[idx]++;
        got++;
        ipm_message_release(&m);
    }
}

static void test_three_senders(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "fanin3");
    ipm_receiver *r;
    /* Small lanes: every sender waits for room often. */
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=64Ki", &r));
    stream a[3];
    pid_t pid[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (stream){name, (uint32_t)i + 1, PER_SENDER, i == 1};
        pid[i] = ipm_test_fork(sender_main, &a[i]);
    }
    uint32_t next[3] = {0};
    drain(r, next, 3, PER_SENDER, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(next[i], PER_SENDER);
        assert_int_equal(ipm_test_wait(pid[i], 30000), 0);
    }
    ipm_message m;
    IPM_ASSERT_ERR(ipm_receive(r, &m, 50), IPM_ETIMEDOUT, "no message");
    ipm_receiver_destroy(r);
}

typedef struct victim_arg {
    const char *name;
    shm_t_pipe *up;
    bool mid_write; /* killed inside a loan with its bytes half written */
} victim_arg;

/* Sends 100 messages (all owed), then takes a loan of 16 KiB, half fills
 * it and says so: the parent then kills it before send_loan. */
static int victim(void *p)
{
    victim_arg *a = p;
    ipm_sender *s;
    if (shm_t_open_sender("ShmSender", a->name, NULL, &s) != IPM_OK) return 10;
    for (uint32_t i = 0; i < 100; i++) {
        rec r = {2, i};
        if (ipm_send(s, &r, sizeof r, 10000, "f") != IPM_OK) return 11;
    }
    void *b;
    if (ipm_sender_loan(s, 16384, 10000, &b) != IPM_OK) return 12;
    memset(b, 0xEE, 8192);
    shm_t_put(a->up, 'l');
    for (;;)
        pause();
}

static void test_sender_killed_mid_message(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "fankill");
    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=64Ki", &r));
    shm_t_pipe up;
    shm_t_pipe_open(&up);
    victim_arg va = {name, &up, true};
    pid_t vp = ipm_test_fork(victim, &va);
    assert_int_equal(shm_t_get(&up, 10000), 'l');
    /* Two healthy senders run while the victim holds its loan, then it dies
     * between loan and send_loan. */
    stream a1 = {name, 1, PER_SENDER / 4, true}, a3 = {name, 3, PER_SENDER / 4, false};
    pid_t p1 = ipm_test_fork(sender_main, &a1);
    pid_t p3 = ipm_test_fork(sender_main, &a3);
    shm_t_sleep_ms(20);
    kill(vp, SIGKILL);
    waitpid(vp, NULL, 0);
    uint32_t next[3] = {0};
    drain(r, next, 3, PER_SENDER / 4, 2);
    assert_int_equal(next[0], PER_SENDER / 4);
    assert_int_equal(next[2], PER_SENDER / 4);
    assert_int_equal(next[1], 100); /* every message it sent; not the loan */
    assert_int_equal(ipm_test_wait(p1, 30000), 0);
    assert_int_equal(ipm_test_wait(p3, 30000), 0);
    /* A newcomer takes a lane (maybe the dead one's) and is delivered. */
    stream a4 = {name, 2, 1000, true};
    next[1] = 0;
    pid_t p4 = ipm_test_fork(sender_main, &a4);
    for (uint32_t i = 0; i < 1000; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 10000));
        rec v;
        memcpy(&v, m.data, sizeof v);
        assert_int_equal(v.id, 2);
        assert_int_equal(v.seq, i);
        ipm_message_release(&m);
    }
    assert_int_equal(ipm_test_wait(p4, 30000), 0);
    ipm_message m;
    IPM_ASSERT_ERR(ipm_receive(r, &m, 50), IPM_ETIMEDOUT, "no message");
    shm_t_pipe_close(&up);
    ipm_receiver_destroy(r);
}

static void test_max_senders(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "fanmax");
    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "max_senders=2", &r));
    ipm_sender *s1, *s2, *s3;
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s1));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s2));
    IPM_ASSERT_ERR(shm_t_open_sender("ShmSender", name, NULL, &s3), IPM_ECONNECT,
                   "max_senders");
    ipm_sender_destroy(s1); /* its lane is free again */
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s3));
    IPM_ASSERT_OK(ipm_send(s3, "3", 1, 1000, NULL));
    IPM_ASSERT_OK(ipm_send(s2, "2", 1, 1000, NULL));
    char seen[2] = {0};
    for (int i = 0; i < 2; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
        seen[((const char *)m.data)[0] - '2'] = 1;
        ipm_message_release(&m);
    }
    assert_true(seen[0] && seen[1]);
    ipm_receiver *bad;
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmReceiver", "x-fanbad", "max_senders=65", &bad),
                   IPM_ECONFIG, "max_senders");
    ipm_sender_destroy(s2);
    ipm_sender_destroy(s3);
    ipm_receiver_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_senders),
        cmocka_unit_test(test_sender_killed_mid_message),
        cmocka_unit_test(test_max_senders),
    };
    return cmocka_run_group_tests_name("shm_fanin", tests, NULL, NULL);
}
