/*
 * ShmSender / ShmReceiver: a million numbered messages across processes
 * with none lost, duplicated or reordered; a full queue times out with
 * nothing half-written; timeouts; size limits; a single sender; a crashed or
 * closed receiver is reported and never hangs the sender.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "shm_util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MILLION 1000000u

static size_t fill(unsigned char *buf, uint64_t n)
{
    memcpy(buf, &n, 8);
    size_t extra = (size_t)(n % 61);
    for (size_t i = 0; i < extra; i++)
        buf[8 + i] = (unsigned char)(n ^ i);
    return 8 + extra;
}

static bool check(const ipm_message *m, uint64_t want)
{
    uint64_t n;
    if (m->size < 8) return false;
    memcpy(&n, m->data, 8);
    if (n != want || m->size != 8 + n % 61) return false;
    const unsigned char *p = m->data;
    for (size_t i = 8; i < m->size; i++)
        if (p[i] != (unsigned char)(n ^ (i - 8))) return false;
    return strcmp(m->metadata, (n % 1000) ? "" : "k") == 0;
}

static int million_sender(void *arg)
{
    const char *name = arg;
    ipm_sender *s;
    if (shm_t_open_sender("ShmSender", name, NULL, &s) != IPM_OK) {
        fprintf(stderr, "sender: %s\n", ipm_last_error());
        return 10;
    }
    unsigned char buf[128];
    for (uint64_t n = 0; n < MILLION; n++) {
        size_t len = fill(buf, n);
        if (ipm_send(s, buf, len, 10000, (n % 1000) ? NULL : "k") != IPM_OK) {
            fprintf(stderr, "sender at %llu: %s\n", (unsigned long long)n,
                    ipm_last_error());
            return 11;
        }
    }
    ipm_sender_destroy(s);
    return 0;
}

static void test_million_lossless(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "million");
    ipm_receiver *r;
    /* A small queue: the sender fills it often and has to wait for room. */
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=64Ki", &r));
    pid_t pid = ipm_test_fork(million_sender, name);
    for (uint64_t n = 0; n < MILLION; n++) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, 10000);
        if (st != IPM_OK)
            fail_msg("receive %llu: %s", (unsigned long long)n, ipm_last_error());
        if (!check(&m, n))
            fail_msg("message %llu wrong (size %zu)", (unsigned long long)n, m.size);
        ipm_message_release(&m);
    }
    assert_int_equal(ipm_test_wait(pid, 30000), 0);
    ipm_message m;
    IPM_ASSERT_ERR(ipm_receive(r, &m, 50), IPM_ETIMEDOUT, "no message");
    ipm_stats s;
    ipm_receiver_stats(r, &s);
    assert_int_equal(s.messages, MILLION);
    ipm_receiver_destroy(r);
    assert_false(shm_t_exists(name, NULL));
}

static void assert_timeout_window(ipm_status (*op)(void *), void *arg, int T)
{
    double best = 1e9;
    for (int k = 0; k < 3; k++) {
        double t0 = ipm_test_now_ms();
        ipm_status st = op(arg);
        double el = ipm_test_now_ms() - t0;
        if (st != IPM_ETIMEDOUT)
            fail_msg("want a timeout, got %s: %s", ipm_strerror(st), ipm_last_error());
        if (el < T) fail_msg("timeout %d ms ended after %.2f ms", T, el);
        best = el < best ? el : best;
    }
    if (best > T + 20) fail_msg("timeout %d ms ended after %.2f ms", T, best);
}

typedef struct op_arg {
    ipm_sender *s;
    ipm_receiver *r;
    int T;
    const void *data;
    size_t size;
} op_arg;

static ipm_status op_send(void *p)
{
    op_arg *a = p;
    return ipm_send(a->s, a->data, a->size, a->T, "full");
}

static ipm_status op_recv(void *p)
{
    op_arg *a = p;
    ipm_message m;
    ipm_status st = ipm_receive(a->r, &m, a->T);
    if (st == IPM_OK) ipm_message_release(&m);
    return st;
}

/* A full queue: the timed send ends in [T, T+20 ms] and leaves nothing
 * half-written; the receiver then gets exactly what was accepted. */
static void test_full_queue_timeout(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "full");
    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=16Ki", &r));
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    unsigned char buf[1000];
    uint64_t accepted = 0;
    for (;;) {
        memset(buf, (int)accepted, sizeof buf);
        memcpy(buf, &accepted, 8);
        ipm_status st = ipm_send(s, buf, sizeof buf, IPM_NO_BLOCK, "full");
        if (st == IPM_ETIMEDOUT) break;
        IPM_ASSERT_OK(st);
        accepted++;
    }
    assert_true(accepted >= 10 && accepted < 17);
    op_arg a = {.s = s, .data = buf, .size = sizeof buf};
    for (a.T = 30; a.T <= 100; a.T += 70)
        assert_timeout_window(op_send, &a, a.T);
    IPM_ASSERT_ERR(op_send(&a), IPM_ETIMEDOUT, "queue stayed full");

    for (uint64_t n = 0; n < accepted; n++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 0));
        assert_int_equal(m.size, sizeof buf);
        uint64_t v;
        memcpy(&v, m.data, 8);
        assert_int_equal(v, n);
        assert_int_equal(((const unsigned char *)m.data)[999], (unsigned char)n);
        assert_string_equal(m.metadata, "full");
        ipm_message_release(&m);
    }
    a.r = r;
    a.T = 0;
    assert_int_equal(op_recv(&a), IPM_ETIMEDOUT);
    for (a.T = 30; a.T <= 100; a.T += 70)
        assert_timeout_window(op_recv, &a, a.T);
    /* Room again: sending works. */
    IPM_ASSERT_OK(ipm_send(s, buf, sizeof buf, 0, NULL));
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_sizes(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "sizes");
    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "max_message_size=1000", &r));
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    char buf[1001] = {0};
    IPM_ASSERT_ERR(ipm_send(s, buf, 1001, 0, NULL), IPM_ETOOBIG, "max_message_size 1000");
    char meta[300];
    memset(meta, 'q', sizeof meta);
    meta[256] = '\0';
    IPM_ASSERT_ERR(ipm_send(s, buf, 1, 0, meta), IPM_ETOOBIG, "255");
    IPM_ASSERT_OK(ipm_send(s, NULL, 0, 0, "nothing"));
    IPM_ASSERT_OK(ipm_send(s, buf, 1000, 0, NULL));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_int_equal(m.size, 0);
    assert_non_null(m.data);
    assert_string_equal(m.metadata, "nothing");
    assert_int_equal(m.metadata_size, 7);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_receive_exact(r, &m, 1000, 1000));
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* Sender first: sends wait for a receiver (then time out); a second
 * sender takes a lane of its own (fan-in) unless max_senders=1 leaves
 * none; a second receiver is refused. */
static void test_roles(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "roles");
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    op_arg a = {.s = s, .T = 60, .data = "x", .size = 1};
    assert_timeout_window(op_send, &a, 60);
    IPM_ASSERT_ERR(op_send(&a), IPM_ETIMEDOUT, "no ShmReceiver");
    ipm_receiver *r, *r2;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, NULL, &r));
    IPM_ASSERT_OK(ipm_send(s, "hello", 5, 1000, NULL));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "hello", 5);
    ipm_message_release(&m);

    ipm_sender *s2;
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s2));
    IPM_ASSERT_OK(ipm_send(s2, "second", 6, 1000, NULL));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "second", 6);
    ipm_message_release(&m);
    ipm_sender_destroy(s2);
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmReceiver", name, NULL, &r2), IPM_ECONNECT,
                   "live ShmReceiver");
    ipm_receiver *sub;
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmSubscriber", name, NULL, &sub), IPM_ECONNECT,
                   "not a ShmPublisher ring");
    /* Once the first sender leaves, another may attach. */
    ipm_sender_destroy(s);
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s2));
    IPM_ASSERT_OK(ipm_send(s2, "again", 5, 1000, NULL));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "again", 5);
    ipm_message_release(&m);

    /* A closed receiver is reported at once, and the name is gone. */
    ipm_receiver_destroy(r);
    assert_false(shm_t_exists(name, NULL));
    IPM_ASSERT_ERR(ipm_send(s2, "x", 1, 1000, NULL), IPM_ECONNECT, "closed");
    double t0 = ipm_test_now_ms();
    IPM_ASSERT_ERR(ipm_send(s2, "x", 1, 50, NULL), IPM_ECONNECT, "gone");
    assert_true(ipm_test_now_ms() - t0 >= 50);
    /* A new receiver on the name is picked up. */
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, NULL, &r));
    IPM_ASSERT_OK(ipm_send(s2, "third", 5, 1000, NULL));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "third", 5);
    ipm_message_release(&m);
    ipm_sender_destroy(s2);
    ipm_receiver_destroy(r);
}

typedef struct crash_arg {
    const char *name;
    shm_t_pipe *up;
} crash_arg;

static int idle_receiver(void *p)
{
    crash_arg *a = p;
    ipm_receiver *r;
    if (shm_t_open_receiver("ShmReceiver", a->name, "buffer_size=16Ki", &r) != IPM_OK)
        return 10;
    shm_t_put(a->up, 'r');
    ipm_message m;
    for (;;) /* blocked in receive, counted as sleeping, until killed */
        if (ipm_receive(r, &m, IPM_BLOCK) == IPM_OK) ipm_message_release(&m);
}

/* kill -9 of the receiver: the sender reports it (never hangs), the stale
 * name is removed, and a new receiver works. */
static void test_receiver_crash(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "rcrash");
    shm_t_pipe up;
    shm_t_pipe_open(&up);
    crash_arg a = {name, &up};
    pid_t pid = ipm_test_fork(idle_receiver, &a);
    assert_int_equal(shm_t_get(&up, 10000), 'r');
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    IPM_ASSERT_OK(ipm_send(s, "one", 3, 1000, NULL));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    char buf[1000] = {0};
    double t0 = ipm_test_now_ms();
    ipm_status st;
    int sent = 0;
    while ((st = ipm_send(s, buf, sizeof buf, IPM_BLOCK, NULL)) == IPM_OK)
        sent++;
    double el = ipm_test_now_ms() - t0;
    if (st != IPM_ECONNECT || strstr(ipm_last_error(), "died") == NULL)
        fail_msg("after %d sends: %s: %s", sent, ipm_strerror(st), ipm_last_error());
    assert_true(el < 2000);
    assert_false(shm_t_exists(name, NULL));
    IPM_ASSERT_ERR(ipm_send(s, buf, 10, 30, NULL), IPM_ECONNECT, "gone");

    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, NULL, &r));
    IPM_ASSERT_OK(ipm_send(s, "new", 3, 1000, NULL));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "new", 3);
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    assert_false(shm_t_exists(name, NULL));
    shm_t_pipe_close(&up);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_lossless),
        cmocka_unit_test(test_full_queue_timeout),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_receiver_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
