/*
 * rel_fault_restart.c — a receiver process killed with SIGKILL in the middle
 * of a stream and started again on the same endpoint (a DAQ process that
 * crashed and was restarted by run control), with the sender process alive
 * throughout:
 *
 *  - while the receiver is down, ipm_send with a timeout returns a "not
 *    sent" status (IPM_ETIMEDOUT; ShmSender reports the loss once as
 *    IPM_ECONNECT) within the timeout plus slack: no send hangs;
 *  - after the restart, delivery resumes by itself (no reconnect call);
 *  - every message ipm_send reported as sent after the restarted receiver
 *    was up arrives, once, in order (the lossless sender/receiver pattern).
 *    Messages accepted before the kill may be lost with the dead process,
 *    as with any socket buffer; none may arrive twice or out of order.
 *
 * Real processes: each receiver is a forked child that records what it got
 * in shared memory; the test process is the sender. Runs for ZmqSender/
 * ZmqReceiver over tcp:// and ipc://, and ShmSender/ShmReceiver when built.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define AFTER 20000           /* messages sent after the restart */
#define MAX_SEEN (1u << 20)   /* seqs a receiver can record */
#define EXTRA 64              /* payload sizes 16..80 bytes */
#define END_SEQ (UINT64_MAX - 1)
#define SEND_TIMEOUT_MS 100

struct shared {
    _Atomic uint64_t count;
    uint64_t bad;          /* messages that failed rel_msg_check */
    uint64_t seq[MAX_SEEN];
};

struct child {
    const char *type;     /* receiver type */
    char endpoint[256];   /* what to bind; a tcp port of 0 picks one */
    struct shared *out;
    int up[2];            /* child -> parent lines */
};

/* The receiver process: bind, report the endpoint, record every message
 * until END_SEQ (or until killed). */
static int receiver_main(void *arg)
{
    rel_child_signals();
    struct child *c = arg;
    char spec[400];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s", c->type, c->endpoint);
    ipm_receiver *r = NULL;
    if (ipm_receiver_open(spec, &r) != IPM_OK) {
        char line[600];
        snprintf(line, sizeof line, "error %s", ipm_last_error());
        rel_pipe_send(c->up[1], line);
        return 1;
    }
    char line[400];
    snprintf(line, sizeof line, "ready %s", ipm_receiver_endpoint(r));
    rel_pipe_send(c->up[1], line);
    uint64_t n = 0;
    for (;;) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, 60000);
        if (st != IPM_OK) return 2;
        uint64_t seq = rel_msg_check(m.data, m.size, EXTRA);
        ipm_message_release(&m);
        if (seq == END_SEQ) break;
        if (seq == UINT64_MAX) c->out->bad++;
        if (n < MAX_SEEN) c->out->seq[n] = seq;
        atomic_store(&c->out->count, ++n);
        if (n == 1000) rel_pipe_send(c->up[1], "mid");
    }
    ipm_receiver_destroy(r);
    return 0;
}

static pid_t start_receiver(struct child *c, char *endpoint_out, int cap)
{
    memset(c->out, 0, sizeof *c->out);
    pid_t pid = ipm_test_fork(receiver_main, c);
    assert_true(pid > 0);
    char line[600];
    if (!rel_pipe_recv(c->up[0], line, sizeof line, 30000))
        fail_msg("receiver %s did not start", c->type);
    if (strncmp(line, "ready ", 6) != 0) fail_msg("receiver: %s", line);
    snprintf(endpoint_out, (size_t)cap, "%.*s", cap - 1, line + 6);
    return pid;
}

static ipm_status send_seq(ipm_sender *s, uint64_t seq, int timeout_ms)
{
    unsigned char buf[16 + EXTRA];
    size_t size = rel_msg_size(seq, EXTRA);
    rel_msg_fill(buf, seq, size);
    return ipm_send(s, buf, size, timeout_ms, NULL);
}

/* quick: restart at once after the kill, before the sender has had a
 * reason to notice (a run control restarting a crashed process); else wait
 * until sends report "not sent" first. */
static void run(const char *family, const char *bind_endpoint, bool quick)
{
    char sender_type[32], receiver_type[32];
    snprintf(sender_type, sizeof sender_type, "%sSender", family);
    snprintf(receiver_type, sizeof receiver_type, "%sReceiver", family);
    if (!rel_plugin_available(sender_type) || !rel_plugin_available(receiver_type)) skip();

    struct shared *out = mmap(NULL, sizeof *out, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(out != MAP_FAILED);
    struct child c = {.type = receiver_type, .out = out};
    snprintf(c.endpoint, sizeof c.endpoint, "%s", bind_endpoint);
    assert_int_equal(pipe(c.up), 0);

    /* 1. First receiver; stream until it has 1000 messages, then kill it. */
    char endpoint[256];
    pid_t a = start_receiver(&c, endpoint, (int)sizeof endpoint);
    snprintf(c.endpoint, sizeof c.endpoint, "%s", endpoint); /* the restart binds here */
    char spec[400];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s", sender_type, endpoint);
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_open(spec, &s));
    uint64_t seq = 0;
    char line[64];
    bool mid = false;
    double end = ipm_test_now_ms() + 30000;
    while (!mid && ipm_test_now_ms() < end) {
        if (send_seq(s, seq, SEND_TIMEOUT_MS) == IPM_OK) seq++;
        if (seq % 64 == 0) mid = rel_pipe_recv(c.up[0], line, sizeof line, 0);
    }
    assert_true(mid);
    for (int i = 0; i < 200; i++) /* mid-stream */
        if (send_seq(s, seq, SEND_TIMEOUT_MS) == IPM_OK) seq++;
    kill(a, SIGKILL);
    assert_int_equal(ipm_test_wait(a, 10000), 128 + SIGKILL);
    uint64_t before_kill = atomic_load(&out->count);

    /* 2. Down: sends end within the timeout (plus slack), "not sent". A
     * transport may accept messages into buffers of the dead process until
     * it notices (ShmSender: until the queue is full, ~8 MB), never hang. */
    int not_sent = 0, accepted_while_down = 0;
    double worst = 0;
    const int attempts = quick ? 10 : 1000000;
    double down_end = ipm_test_now_ms() + 60000;
    for (int i = 0; i < attempts && not_sent < 5 && ipm_test_now_ms() < down_end; i++) {
        double t0 = ipm_test_now_ms();
        ipm_status st = send_seq(s, seq, SEND_TIMEOUT_MS);
        double took = ipm_test_now_ms() - t0;
        if (took > worst) worst = took;
        if (st == IPM_OK) {
            seq++; /* taken by a pipe that ZeroMQ has not yet seen die */
            accepted_while_down++;
        } else {
            if (st != IPM_ETIMEDOUT && st != IPM_ECONNECT)
                fail_msg("send while down: %s: %s", ipm_strerror(st), ipm_last_error());
            not_sent++;
        }
    }
    printf("[ restart  ] %s %s%s: %llu received before the kill; while down %d sends "
           "accepted, %d not sent, slowest send %.1f ms (timeout %d ms)\n",
           family, endpoint, quick ? " (quick restart)" : "", (unsigned long long)before_kill,
           accepted_while_down, not_sent, worst, SEND_TIMEOUT_MS);
    if (!quick) assert_int_equal(not_sent, 5);
    assert_true(worst < SEND_TIMEOUT_MS + 2000); /* no hang */

    /* 3. Restart on the same endpoint; every send reported OK from now on
     * must arrive. A send that is not accepted is retried with the same
     * seq, so the accepted ones are contiguous. */
    pid_t b = start_receiver(&c, endpoint, (int)sizeof endpoint);
    const uint64_t first_after = seq;
    int retries = 0;
    double resume_t0 = ipm_test_now_ms(), resumed_ms = -1;
    while (seq < first_after + AFTER) {
        ipm_status st = send_seq(s, seq, SEND_TIMEOUT_MS);
        if (st == IPM_OK) {
            if (resumed_ms < 0) resumed_ms = ipm_test_now_ms() - resume_t0;
            seq++;
        } else if (st == IPM_ETIMEDOUT || st == IPM_ECONNECT) {
            if (++retries > 600) fail_msg("delivery did not resume: %s", ipm_last_error());
        } else {
            fail_msg("send after restart: %s: %s", ipm_strerror(st), ipm_last_error());
        }
    }
    while (send_seq(s, END_SEQ, SEND_TIMEOUT_MS) != IPM_OK)
        if (++retries > 1200) fail_msg("END not accepted: %s", ipm_last_error());
    assert_int_equal(ipm_test_wait(b, 60000), 0);
    ipm_sender_destroy(s);

    /* 4. What the restarted receiver got: increasing, no duplicates, and
     * everything from first_after on. */
    uint64_t n = atomic_load(&out->count);
    assert_int_equal(out->bad, 0);
    assert_true(n <= MAX_SEEN);
    uint64_t first_pos = n;
    for (uint64_t i = 0; i < n; i++) {
        if (i > 0 && out->seq[i] <= out->seq[i - 1])
            fail_msg("restarted receiver: seq %llu after %llu (duplicate or reordered)",
                     (unsigned long long)out->seq[i], (unsigned long long)out->seq[i - 1]);
        if (first_pos == n && out->seq[i] >= first_after) first_pos = i;
    }
    uint64_t got_after = n - first_pos;
    printf("[ restart  ] delivery resumed %.1f ms after the restart; %llu of %d messages "
           "sent after it arrived (%llu older ones too)\n",
           resumed_ms, (unsigned long long)got_after, AFTER,
           (unsigned long long)first_pos);
    if (got_after != AFTER || (got_after && out->seq[first_pos] != first_after))
        fail_msg("lost after the restart: got %llu of %d, first %llu (want %llu)",
                 (unsigned long long)got_after, AFTER,
                 (unsigned long long)(got_after ? out->seq[first_pos] : 0),
                 (unsigned long long)first_after);
    close(c.up[0]);
    close(c.up[1]);
    munmap(out, sizeof *out);
}

static void test_zmq_tcp(void **state)
{
    (void)state;
    run("Zmq", "tcp://127.0.0.1:*", false);
}

static void test_zmq_tcp_quick(void **state)
{
    (void)state;
    run("Zmq", "tcp://127.0.0.1:*", true);
}

static void test_zmq_ipc(void **state)
{
    (void)state;
    char name[96], ep[160];
    snprintf(ep, sizeof ep, "ipc:///tmp/%s", ipm_test_unique(name, sizeof name, "restart"));
    run("Zmq", ep, false);
    unlink(ep + 6);
}

static void shm(bool quick)
{
    char name[96], ep[160];
    snprintf(ep, sizeof ep, "shm://%s", ipm_test_unique(name, sizeof name, "restart"));
    run("Shm", ep, quick);
    char path[200];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    unlink(path); /* left by the killed owner if the restart did not reclaim it */
}

static void test_shm(void **state)
{
    (void)state;
    shm(false);
}

/* Restarted before the sender had to wait: ShmSender must see that the
 * queue it writes to was replaced (the reclaim marks it closed) and move to
 * the new one, or what it accepts after the restart is lost. */
static void test_shm_quick(void **state)
{
    (void)state;
    shm(true);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zmq_tcp),
        cmocka_unit_test(test_zmq_tcp_quick),
        cmocka_unit_test(test_zmq_ipc),
        cmocka_unit_test(test_shm),
        cmocka_unit_test(test_shm_quick),
    };
    return cmocka_run_group_tests_name("rel_fault_restart", tests, NULL, NULL);
}
