/*
 * ShmSubscriber drop accounting: a subscriber attached throughout always has
 * received + dropped == published, exactly, however far behind it falls.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "shm_util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PUBLISHED 200000

typedef struct slow_arg {
    const char *name;
    shm_t_pipe *up, *down;
} slow_arg;

/* Reads slowly (a pause every 64 messages) until the publisher says it is
 * done and nothing is left; checks that numbers only grow and that the gaps
 * add up to `dropped`. */
static int slow_subscriber(void *argp)
{
    slow_arg *a = argp;
    ipm_receiver *r;
    if (shm_t_open_receiver("ShmSubscriber", a->name, "topics=", &r) != IPM_OK) {
        fprintf(stderr, "slow: %s\n", ipm_last_error());
        return 10;
    }
    shm_t_put(a->up, 'r');
    uint64_t received = 0, gaps = 0, expect = 0;
    bool done = false;
    for (;;) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, done ? 0 : 20);
        if (st == IPM_ETIMEDOUT) {
            if (done) break;
            done = shm_t_get(a->down, 0) == 'd';
            continue;
        }
        if (st != IPM_OK) {
            fprintf(stderr, "slow: %s\n", ipm_last_error());
            return 11;
        }
        uint64_t n;
        if (m.size != 64) {
            ipm_message_release(&m);
            return 12;
        }
        memcpy(&n, m.data, 8);
        ipm_message_release(&m);
        if (n < expect) {
            fprintf(stderr, "slow: %llu after %llu\n", (unsigned long long)n,
                    (unsigned long long)expect);
            return 13;
        }
        gaps += n - expect;
        expect = n + 1;
        received++;
        if ((received & 63) == 0) shm_t_sleep_ms(1);
    }
    gaps += PUBLISHED - expect;
    ipm_stats s;
    ipm_receiver_stats(r, &s);
    ipm_receiver_destroy(r);
    fprintf(stderr, "slow subscriber: received %llu dropped %llu of %d\n",
            (unsigned long long)s.messages, (unsigned long long)s.dropped, PUBLISHED);
    if (s.messages != received) return 14;
    if (s.messages + s.dropped != PUBLISHED) return 15;
    if (s.dropped != gaps) return 16;
    if (s.dropped == 0 || received == 0)
        return 17; /* the test did not test what it should */
    return 0;
}

static void test_slow_subscriber_process(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "slow");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, "buffer_size=64Ki", &pub));
    shm_t_pipe up, down;
    shm_t_pipe_open(&up);
    shm_t_pipe_open(&down);
    slow_arg a = {name, &up, &down};
    pid_t pid = ipm_test_fork(slow_subscriber, &a);
    assert_int_equal(shm_t_get(&up, 10000), 'r');
    unsigned char buf[64] = {0};
    for (uint64_t n = 0; n < PUBLISHED; n++) {
        memcpy(buf, &n, 8);
        IPM_ASSERT_OK(ipm_send(pub, buf, sizeof buf, IPM_BLOCK, n % 7 ? "x" : "seven"));
        if (n % 2000 == 1999)
            shm_t_sleep_ms(1); /* bursts, so the subscriber reads some of each */
    }
    shm_t_put(&down, 'd');
    assert_int_equal(ipm_test_wait(pid, 50000), 0);
    ipm_sender_destroy(pub);
    shm_t_pipe_close(&up);
    shm_t_pipe_close(&down);
}

/* Overtaken many times over while not reading at all, with messages of
 * varying size (wrapping at different offsets), then read. */
static void test_lapped_while_idle(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "idle");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, "buffer_size=16Ki", &pub));
    ipm_receiver *sub;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, "topics=", &sub));
    unsigned char buf[3000];
    memset(buf, 0x5a, sizeof buf);
    uint64_t published = 0, received = 0;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 200 + round * 37; i++) {
            uint64_t n = published++;
            memcpy(buf, &n, 8);
            IPM_ASSERT_OK(ipm_send(pub, buf, 8 + (n * 131) % 2900, 0, "t"));
        }
        /* read only a few each round (the ring holds about ten) */
        for (int k = 0; k < round % 4; k++) {
            ipm_message m;
            IPM_ASSERT_OK(ipm_receive(sub, &m, 0));
            ipm_message_release(&m);
            received++;
        }
    }
    ipm_message m;
    while (ipm_receive(sub, &m, 0) == IPM_OK) {
        ipm_message_release(&m);
        received++;
    }
    ipm_stats s;
    ipm_receiver_stats(sub, &s);
    assert_int_equal(s.messages, received);
    assert_int_equal(s.messages + s.dropped, published);
    assert_true(s.dropped > 0);
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_subscriber_process),
        cmocka_unit_test(test_lapped_while_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
