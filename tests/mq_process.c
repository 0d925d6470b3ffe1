/*
 * MqSender/MqReceiver across processes: fan-in from several sender
 * processes (each in order), 100 000 messages in order, a receiver killed
 * with SIGKILL and restarted (the successor takes the queue over and nothing
 * accepted is lost), a killed receiver as a status for a sender on a full
 * queue, a killed sender as a timeout for the receiver, a second live
 * receiver in another process refused with its pid, and another user's
 * queue or lock file refused (when run as root).
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "mq_util.h"

#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct job {
    const char *name;
    int id;
    uint64_t count;
    uint64_t first;
    mq_t_pipe *pipe;
} job;

/* Send seq first..first+count-1 as 8-byte payloads with metadata "s<id>",
 * retrying a message refused because no receiver was there (IPM_ECONNECT:
 * it was not sent). */
static int send_seq(void *arg)
{
    job *j = arg;
    ipm_sender *s;
    if (mq_t_sender(j->name, NULL, &s) != IPM_OK) return 10;
    char meta[16];
    snprintf(meta, sizeof meta, "s%d", j->id);
    for (uint64_t i = j->first; i < j->first + j->count; i++) {
        ipm_status st;
        while ((st = ipm_send(s, &i, sizeof i, 2000, meta)) == IPM_ECONNECT)
            mq_t_sleep_ms(5);
        if (st != IPM_OK) {
            fprintf(stderr, "sender %d at %llu: %s\n", j->id, (unsigned long long)i,
                    ipm_last_error());
            return 11;
        }
    }
    ipm_sender_destroy(s);
    return 0;
}

static void t_fan_in(void **st)
{
    (void)st;
    char name[96];
    ipm_test_unique(name, sizeof name, "fanin");
    ipm_receiver *r;
    IPM_ASSERT_OK(mq_t_receiver(name, NULL, &r));
    enum { SENDERS = 4, EACH = 3000 };
    job jobs[SENDERS];
    pid_t pids[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        jobs[i] = (job){.name = name, .id = i, .count = EACH};
        pids[i] = ipm_test_fork(send_seq, &jobs[i]);
    }
    uint64_t next[SENDERS] = {0};
    for (int n = 0; n < SENDERS * EACH; n++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 10000));
        int id = m.metadata[0] == 's' ? atoi(m.metadata + 1) : -1;
        assert_true(id >= 0 && id < SENDERS);
        assert_int_equal(m.size, 8);
        uint64_t v;
        memcpy(&v, m.data, 8);
        if (v != next[id])
            fail_msg("sender %d: got %llu, expected %llu", id, (unsigned long long)v,
                     (unsigned long long)next[id]);
        next[id]++;
        ipm_message_release(&m);
    }
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(ipm_test_wait(pids[i], 30000), 0);
    ipm_message m;
    assert_int_equal(ipm_receive(r, &m, 50), IPM_ETIMEDOUT);
    ipm_receiver_destroy(r);
    mq_t_cleanup(name);
}

static void t_hundred_thousand(void **st)
{
    (void)st;
    char name[96];
    ipm_test_unique(name, sizeof name, "100k");
    ipm_receiver *r;
    IPM_ASSERT_OK(mq_t_receiver(name, "max_message_size=64", &r));
    job j = {.name = name, .count = 100000};
    pid_t pid = ipm_test_fork(send_seq, &j);
    for (uint64_t i = 0; i < 100000; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 10000));
        uint64_t v;
        memcpy(&v, m.data, 8);
        if (v != i)
            fail_msg("got %llu, expected %llu", (unsigned long long)v,
                     (unsigned long long)i);
        ipm_message_release(&m);
    }
    assert_int_equal(ipm_test_wait(pid, 30000), 0);
    ipm_receiver_destroy(r);
    mq_t_cleanup(name);
}

/* A receiver that takes `count` messages, checks they are first.., reports
 * ready on the pipe first, then dies by SIGKILL (no destroy). */
static int receive_then_die(void *arg)
{
    job *j = arg;
    ipm_receiver *r;
    if (mq_t_receiver(j->name, NULL, &r) != IPM_OK) {
        fprintf(stderr, "receiver: %s\n", ipm_last_error());
        return 10;
    }
    mq_t_put(j->pipe, 'R');
    for (uint64_t i = j->first; i < j->first + j->count; i++) {
        ipm_message m;
        if (ipm_receive(r, &m, 10000) != IPM_OK) return 11;
        uint64_t v;
        memcpy(&v, m.data, 8);
        if (v != i) return 12;
        ipm_message_release(&m);
    }
    raise(SIGKILL);
    return 13;
}

static void t_takeover_nothing_lost(void **st)
{
    (void)st;
    char name[96];
    ipm_test_unique(name, sizeof name, "takeover");
    mq_t_pipe p;
    mq_t_pipe_open(&p);
    job rj = {.name = name, .count = 25, .pipe = &p};
    pid_t r1 = ipm_test_fork(receive_then_die, &rj);
    assert_int_equal(mq_t_get(&p, 10000), 'R');
    job sj = {.name = name, .count = 200};
    pid_t s = ipm_test_fork(send_seq, &sj);
    assert_int_equal(ipm_test_wait(r1, 30000), 128 + SIGKILL);
    /* The sender goes on (into the queue, then refused while it is full and
     * nobody receives); the successor takes the queue over. */
    mq_t_sleep_ms(200);
    ipm_receiver *r;
    IPM_ASSERT_OK(mq_t_receiver(name, NULL, &r));
    for (uint64_t i = 25; i < 200; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 10000));
        uint64_t v;
        memcpy(&v, m.data, 8);
        if (v != i)
            fail_msg("after takeover: got %llu, expected %llu", (unsigned long long)v,
                     (unsigned long long)i);
        ipm_message_release(&m);
    }
    assert_int_equal(ipm_test_wait(s, 30000), 0);
    ipm_message m;
    assert_int_equal(ipm_receive(r, &m, 50), IPM_ETIMEDOUT);
    ipm_receiver_destroy(r);
    mq_t_pipe_close(&p);
    mq_t_cleanup(name);
}

static int receive_forever(void *arg)
{
    job *j = arg;
    ipm_receiver *r;
    if (mq_t_receiver(j->name, NULL, &r) != IPM_OK) return 10;
    mq_t_put(j->pipe, 'R');
    pause();
    return 0;
}

/* The receiver is killed: a blocking sender fills the queue, then gets
 * IPM_ECONNECT (a status, not a hang); a second receiver in the meantime
 * is refused with the live one's pid. */
static void t_killed_receiver(void **st)
{
    (void)st;
    char name[96];
    ipm_test_unique(name, sizeof name, "killrx");
    mq_t_pipe p;
    mq_t_pipe_open(&p);
    job rj = {.name = name, .pipe = &p};
    pid_t r1 = ipm_test_fork(receive_forever, &rj);
    assert_int_equal(mq_t_get(&p, 10000), 'R');

    ipm_receiver *r2;
    char want[64];
    snprintf(want, sizeof want, "in use by pid %d", (int)r1);
    IPM_ASSERT_ERR(mq_t_receiver(name, NULL, &r2), IPM_ECONNECT, want);

    ipm_sender *s;
    IPM_ASSERT_OK(mq_t_sender(name, NULL, &s));
    kill(r1, SIGKILL);
    assert_int_equal(ipm_test_wait(r1, 10000), 128 + SIGKILL);
    uint64_t sent = 0;
    ipm_status stt;
    double t0 = ipm_test_now_ms();
    while ((stt = ipm_send(s, &sent, sizeof sent, IPM_BLOCK, NULL)) == IPM_OK)
        sent++;
    double dt = ipm_test_now_ms() - t0;
    assert_int_equal(stt, IPM_ECONNECT);
    assert_non_null(strstr(ipm_last_error(), "is gone"));
    assert_int_equal(sent, 10); /* the default max_messages */
    assert_true(dt < 5000.0);

    /* The successor gets them all. */
    IPM_ASSERT_OK(mq_t_receiver(name, NULL, &r2));
    for (uint64_t i = 0; i < sent; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r2, &m, 1000));
        uint64_t v;
        memcpy(&v, m.data, 8);
        assert_int_equal(v, i);
        ipm_message_release(&m);
    }
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r2);
    mq_t_pipe_close(&p);
    mq_t_cleanup(name);
}

static int send_then_die(void *arg)
{
    job *j = arg;
    ipm_sender *s;
    if (mq_t_sender(j->name, NULL, &s) != IPM_OK) return 10;
    for (uint64_t i = 0; i < j->count; i++)
        if (ipm_send(s, &i, sizeof i, 5000, "d") != IPM_OK) return 11;
    raise(SIGKILL);
    return 12;
}

static void t_killed_sender(void **st)
{
    (void)st;
    char name[96];
    ipm_test_unique(name, sizeof name, "killtx");
    ipm_receiver *r;
    IPM_ASSERT_OK(mq_t_receiver(name, NULL, &r));
    job j = {.name = name, .count = 50};
    pid_t s = ipm_test_fork(send_then_die, &j);
    for (uint64_t i = 0; i < 50; i++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(r, &m, 10000));
        uint64_t v;
        memcpy(&v, m.data, 8);
        assert_int_equal(v, i);
        ipm_message_release(&m);
    }
    assert_int_equal(ipm_test_wait(s, 10000), 128 + SIGKILL);
    ipm_message m;
    double t0 = ipm_test_now_ms();
    assert_int_equal(ipm_receive(r, &m, 200), IPM_ETIMEDOUT);
    assert_true(ipm_test_now_ms() - t0 < 2000.0);
    ipm_receiver_destroy(r);
    mq_t_cleanup(name);
}

/* As another user (nobody), create the queue or the lock file of name. */
static int foreign_make(void *arg)
{
    const char *what = arg;
    const char *name = what + 2;
    if (!mq_t_drop_privileges()) return 20;
    if (what[0] == 'q') {
        char q[128];
        snprintf(q, sizeof q, "/%s", name);
        struct mq_attr a = {.mq_maxmsg = 10, .mq_msgsize = 4096 + 263};
        mqd_t d = mq_open(q, O_RDWR | O_CREAT, 0666, &a);
        if (d == (mqd_t)-1) return 21;
        mq_close(d);
        return 0;
    }
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/.ipm-mq.%s.lock", name);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) return 22;
    close(fd);
    return 0;
}

static void t_foreign_owner(void **st)
{
    (void)st;
    if (geteuid() != 0) {
        print_message("skipped: needs root to make another user's queue\n");
        return;
    }
    char name[96], what[128];
    ipm_test_unique(name, sizeof name, "foreign-q");
    snprintf(what, sizeof what, "q:%s", name);
    assert_int_equal(ipm_test_wait(ipm_test_fork(foreign_make, what), 10000), 0);
    ipm_receiver *r;
    IPM_ASSERT_ERR(mq_t_receiver(name, NULL, &r), IPM_ECONNECT, "belongs to uid 65534");
    assert_true(mq_t_exists(name, NULL)); /* not ours: left alone */
    mq_t_cleanup(name);

    ipm_test_unique(name, sizeof name, "foreign-l");
    snprintf(what, sizeof what, "l:%s", name);
    assert_int_equal(ipm_test_wait(ipm_test_fork(foreign_make, what), 10000), 0);
    IPM_ASSERT_ERR(mq_t_receiver(name, NULL, &r), IPM_ECONNECT, "uid 65534");
    assert_false(mq_t_exists(name, NULL));
    mq_t_cleanup(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_fan_in),
        cmocka_unit_test(t_hundred_thousand),
        cmocka_unit_test(t_takeover_nothing_lost),
        cmocka_unit_test(t_killed_receiver),
        cmocka_unit_test(t_killed_sender),
        cmocka_unit_test(t_foreign_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
