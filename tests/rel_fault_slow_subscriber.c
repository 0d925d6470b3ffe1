/*
 * rel_fault_slow_subscriber.c — a subscriber process that stops reading
 * (hung, or stopped in a debugger) while the publisher keeps publishing.
 * Publish/subscribe may drop for a slow subscriber, so the publisher must
 * neither block nor buffer without bound:
 *
 *  - every ipm_send returns IPM_OK (a publisher never waits for a
 *    subscriber), none takes longer than a second;
 *  - the publisher's resident memory (/proc/self/statm) stays within a
 *    bound while it publishes far more than that bound;
 *  - its send rate holds: the last quarter of the run is not much slower
 *    than the first (numbers printed; the bound is loose, for loaded CI).
 *
 * The subscriber is a process of its own that connects, receives one
 * message (so it is known to be subscribed), then sleeps until killed. Runs for
 * ZmqPublisher/ZmqSubscriber over tcp://, and ShmPublisher/ShmSubscriber
 * when built.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

REL_SMALL_ASAN_QUARANTINE()

#define MSG_SIZE (16 * 1024)
#define MESSAGES 50000 /* 800 MB published */
#define RSS_BOUND_MIB 96

/* The subscriber program: argv = {name, spec, fd of the pipe to the
 * publisher's test}. */
static int stalled_subscriber(int argc, char **argv)
{
    if (argc != 3) return 99;
    rel_child_signals();
    int up = atoi(argv[2]);
    ipm_receiver *r = NULL;
    if (ipm_receiver_open(argv[1], &r) != IPM_OK) {
        rel_pipe_send(up, ipm_last_error());
        return 1;
    }
    ipm_message m;
    if (ipm_receive(r, &m, 30000) != IPM_OK) {
        rel_pipe_send(up, ipm_last_error());
        return 2;
    }
    ipm_message_release(&m);
    rel_pipe_send(up, "stalled");
    for (;;)
        pause(); /* reads nothing more, until killed */
}

static void run(const char *family, const char *endpoint)
{
    char pub_type[32], sub_type[32];
    snprintf(pub_type, sizeof pub_type, "%sPublisher", family);
    snprintf(sub_type, sizeof sub_type, "%sSubscriber", family);
    if (!rel_plugin_available(pub_type) || !rel_plugin_available(sub_type)) skip();

    char spec[400];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s", pub_type, endpoint);
    ipm_sender *pub;
    IPM_ASSERT_OK(ipm_sender_open(spec, &pub));
    char sub_spec[400], fd[16];
    snprintf(sub_spec, sizeof sub_spec, "type=%s; connection_string=%s; topics=", sub_type,
             ipm_sender_endpoint(pub));
    int up[2];
    assert_int_equal(pipe(up), 0);
    snprintf(fd, sizeof fd, "%d", up[1]);
    /* A program of its own, not a fork of this process with ZeroMQ's
     * threads (see ipm_test_fork). */
    const char *args[] = {sub_spec, fd, NULL};
    pid_t pid = ipm_test_spawn("subscriber", args);
    assert_true(pid > 0);

    /* Publish until the subscriber has one message (ZeroMQ's slow joiner). */
    unsigned char *buf = calloc(1, MSG_SIZE);
    assert_non_null(buf);
    char line[600] = "";
    bool stalled = false;
    double end = ipm_test_now_ms() + 30000;
    while (!stalled && ipm_test_now_ms() < end) {
        IPM_ASSERT_OK(ipm_send(pub, "sync", 4, 1000, "sync"));
        stalled = rel_pipe_recv(up[0], line, sizeof line, 10);
    }
    if (!stalled || strcmp(line, "stalled") != 0) {
        kill(pid, SIGKILL);
        ipm_test_wait(pid, 10000);
        fail_msg("subscriber did not start: %s", line);
    }

    /* Publish; the first tenth warms up (allocator, pipes filling). */
    const int warm = MESSAGES / 10, quarter = MESSAGES / 4;
    long rss0 = 0, rss_max = 0;
    double worst = 0, t_start = ipm_test_now_ms(), t_q1 = 0, t_q3 = 0;
    for (int i = 0; i < MESSAGES; i++) {
        memcpy(buf, &i, sizeof i);
        double t0 = ipm_test_now_ms();
        ipm_status st = ipm_send(pub, buf, MSG_SIZE, 1000, "data");
        double took = ipm_test_now_ms() - t0;
        if (st != IPM_OK)
            fail_msg("publish %d: %s: %s", i, ipm_strerror(st), ipm_last_error());
        if (took > worst) worst = took;
        if (i == warm) rss0 = rel_rss_kib();
        if (i > warm && i % 1000 == 0) {
            long rss = rel_rss_kib();
            if (rss > rss_max) rss_max = rss;
        }
        if (i == quarter) t_q1 = ipm_test_now_ms();
        if (i == MESSAGES - quarter) t_q3 = ipm_test_now_ms();
    }
    double t_end = ipm_test_now_ms();
    kill(pid, SIGKILL);
    ipm_test_wait(pid, 10000);
    close(up[0]);
    close(up[1]);
    free(buf);
    ipm_sender_destroy(pub);

    double rate_first = quarter / ((t_q1 - t_start) / 1000.0);
    double rate_last = quarter / ((t_end - t_q3) / 1000.0);
    long growth_mib = (rss_max - rss0) / 1024;
    printf("[ slowsub  ] %s: %d x %d B published to a stalled subscriber in %.0f ms; "
           "slowest send %.1f ms; rate first/last quarter %.0f/%.0f msg/s; RSS %ld -> "
           "max %ld KiB (+%ld MiB, bound %d)\n",
           family, MESSAGES, MSG_SIZE, t_end - t_start, worst, rate_first, rate_last,
           rss0, rss_max, growth_mib, RSS_BOUND_MIB);
    assert_true(worst < 1000);
    assert_true(growth_mib < RSS_BOUND_MIB);
    assert_true(rate_last > rate_first * 0.2);
}

static void test_zmq_tcp(void **state)
{
    (void)state;
    run("Zmq", "tcp://127.0.0.1:*");
}

static void test_shm(void **state)
{
    (void)state;
    char name[96], ep[160];
    snprintf(ep, sizeof ep, "shm://%s", ipm_test_unique(name, sizeof name, "slowsub"));
    run("Shm", ep);
}

int main(int argc, char **argv)
{
    static const ipm_test_child children[] = {{"subscriber", stalled_subscriber},
                                              {NULL, NULL}};
    ipm_test_child_dispatch(argc, argv, children);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zmq_tcp),
        cmocka_unit_test(test_shm),
    };
    return cmocka_run_group_tests_name("rel_fault_slow_subscriber", tests, NULL, NULL);
}
