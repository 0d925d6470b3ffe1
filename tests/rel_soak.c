/*
 * rel_soak.c — sequence-numbered messages through each lossless transport,
 * sender and receiver in two processes, checking that none is lost,
 * duplicated, reordered or corrupted (the sender/receiver contract: every
 * message ipm_send accepted arrives once, in order).
 *
 * rel_soak (default run): 200 000 messages per transport.
 * rel_soak_long (label soak): 10 000 000 per transport; skipped (exit 77)
 * unless IPM_SOAK=1. IPM_SOAK_MESSAGES overrides either count.
 *
 * Transports: ZmqSender/ZmqReceiver over tcp:// and ipc://, and
 * ShmSender/ShmReceiver when built. Payloads are 16..256 bytes whose
 * content is derived from the sequence number, and checked.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXTRA 240
#define WAIT_MS 30000 /* a single message that takes this long is a failure */

static uint64_t count;

struct child {
    const char *type;
    int down[2]; /* parent -> child: the endpoint */
};

static int sender_main(void *arg)
{
    rel_child_signals();
    struct child *c = arg;
    close(c->down[1]);
    char endpoint[300];
    if (!rel_pipe_recv(c->down[0], endpoint, sizeof endpoint, WAIT_MS)) return 1;
    char spec[400];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s", c->type, endpoint);
    ipm_sender *s = NULL;
    if (ipm_sender_open(spec, &s) != IPM_OK) {
        fprintf(stderr, "soak sender: %s\n", ipm_last_error());
        return 2;
    }
    unsigned char buf[16 + EXTRA];
    for (uint64_t seq = 0; seq < count; seq++) {
        size_t size = rel_msg_size(seq, EXTRA);
        rel_msg_fill(buf, seq, size);
        ipm_status st = ipm_send(s, buf, size, WAIT_MS, NULL);
        if (st != IPM_OK) {
            fprintf(stderr, "soak sender: seq %llu: %s: %s\n", (unsigned long long)seq,
                    ipm_strerror(st), ipm_last_error());
            return 3;
        }
    }
    ipm_sender_destroy(s); /* linger delivers what is still queued */
    return 0;
}

static void run(const char *family, const char *bind_endpoint)
{
    char sender_type[32], receiver_type[32];
    snprintf(sender_type, sizeof sender_type, "%sSender", family);
    snprintf(receiver_type, sizeof receiver_type, "%sReceiver", family);
    if (!rel_plugin_available(sender_type) || !rel_plugin_available(receiver_type)) skip();

    struct child c = {.type = sender_type};
    assert_int_equal(pipe(c.down), 0);
    pid_t pid = ipm_test_fork(sender_main, &c);
    close(c.down[0]);

    char spec[400];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s", receiver_type, bind_endpoint);
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_open(spec, &r));
    assert_true(rel_pipe_send(c.down[1], ipm_receiver_endpoint(r)));

    double t0 = ipm_test_now_ms();
    uint64_t bytes = 0;
    for (uint64_t next = 0; next < count; next++) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, WAIT_MS);
        if (st != IPM_OK) {
            kill(pid, SIGKILL);
            ipm_test_wait(pid, 10000);
            fail_msg("%s: waiting for seq %llu of %llu: %s: %s (lost?)", bind_endpoint,
                     (unsigned long long)next, (unsigned long long)count, ipm_strerror(st),
                     ipm_last_error());
        }
        uint64_t seq = rel_msg_check(m.data, m.size, EXTRA);
        bytes += m.size;
        ipm_message_release(&m);
        if (seq != next) {
            kill(pid, SIGKILL);
            ipm_test_wait(pid, 10000);
            if (seq == UINT64_MAX)
                fail_msg("%s: message %llu corrupted", bind_endpoint, (unsigned long long)next);
            fail_msg("%s: got seq %llu where %llu was due (%s)", bind_endpoint,
                     (unsigned long long)seq, (unsigned long long)next,
                     seq < next ? "duplicate or reordered" : "lost");
        }
    }
    double took = ipm_test_now_ms() - t0;
    /* Nothing after the last one either. */
    ipm_message m;
    assert_int_equal(ipm_receive(r, &m, 100), IPM_ETIMEDOUT);
    assert_int_equal(ipm_test_wait(pid, WAIT_MS), 0);
    ipm_stats st;
    ipm_receiver_stats(r, &st);
    assert_int_equal(st.messages, count);
    assert_int_equal(st.bytes, bytes);
    printf("[ soak     ] %-12s %s: %llu messages, %.1f MB in %.0f ms (%.0f msg/s), none "
           "lost, duplicated or reordered\n",
           family, bind_endpoint, (unsigned long long)count, bytes / 1e6, took,
           count / (took / 1000.0));
    ipm_receiver_destroy(r);
    close(c.down[1]);
}

static void test_zmq_tcp(void **state)
{
    (void)state;
    run("Zmq", "tcp://127.0.0.1:*");
}

static void test_zmq_ipc(void **state)
{
    (void)state;
    char name[96], ep[160];
    snprintf(ep, sizeof ep, "ipc:///tmp/%s", ipm_test_unique(name, sizeof name, "soak"));
    run("Zmq", ep);
}

static void test_shm(void **state)
{
    (void)state;
    char name[96], ep[160];
    snprintf(ep, sizeof ep, "shm://%s", ipm_test_unique(name, sizeof name, "soak"));
    run("Shm", ep);
}

int main(void)
{
    bool soak = getenv("IPM_REL_SOAK_MODE") != NULL;
    if (soak && !(getenv("IPM_SOAK") && strcmp(getenv("IPM_SOAK"), "1") == 0)) {
        printf("rel_soak_long: 10 million messages per transport; set IPM_SOAK=1 to run it\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    count = rel_env_count("IPM_SOAK_MESSAGES", soak ? 10000000 : 200000);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zmq_tcp),
        cmocka_unit_test(test_zmq_ipc),
        cmocka_unit_test(test_shm),
    };
    return cmocka_run_group_tests_name(soak ? "rel_soak_long" : "rel_soak", tests, NULL, NULL);
}
