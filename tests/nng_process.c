/*
 * NngSender and NngReceiver in two processes (each makes its nng objects
 * after the fork, as users must): a stream across processes arrives whole;
 * a receiver killed with SIGKILL or stopped with SIGSTOP leaves the sender
 * with timeouts, never a hang, and a destroy bounded by linger_ms; a sender
 * killed mid-stream leaves the receiver with timeouts.
 */
#define _GNU_SOURCE
#include "nng_util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_ep[128];

/* Each test runs in a fresh child of the test process, which never uses
 * nng itself, so that the peers it forks may (see nng_fork.c). A check
 * that fails prints why and ends that child with its line number. */
#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                    ipm_last_error());                                                   \
            return __LINE__ % 200 + 1;                                                   \
        }                                                                                \
    } while (0)

static void run_isolated(int (*fn)(void *))
{
    pid_t pid = ipm_test_fork(fn, NULL);
    int rc = ipm_test_wait(pid, 120000);
    if (rc != 0) fail_msg("test process failed: %d (see stderr)", rc);
}

static ipm_status connect_to(ipm_sender *s, ipm_receiver *r, const char *spec)
{
    ipm_params *p;
    ipm_status st = ipm_params_parse(spec, &p);
    if (st != IPM_OK) return st;
    st = s ? ipm_sender_connect(s, p) : ipm_receiver_connect(r, p);
    ipm_params_free(p);
    return st;
}

/* Child: receive n messages in order (n < 0: forever), exit 0 if all ok. */
static int receiver_child(void *arg)
{
    long n = (long)arg;
    ipm_receiver *r;
    CHECK(ipm_receiver_create("NngReceiver", &r) == IPM_OK);
    CHECK(connect_to(NULL, r, g_ep) == IPM_OK);
    for (long i = 0; n < 0 || i < n; i++) {
        ipm_message m;
        CHECK(ipm_receive(r, &m, 30000) == IPM_OK);
        long v = -1;
        if (m.size == sizeof v) memcpy(&v, m.data, sizeof v);
        ipm_message_release(&m);
        CHECK(v == i);
    }
    ipm_receiver_destroy(r);
    return 0;
}

static int stream_across_processes(void *arg)
{
    (void)arg;
    enum { N = 50000 };
    pid_t pid = ipm_test_fork(receiver_child, (void *)(long)N);
    ipm_sender *s;
    CHECK(ipm_sender_create("NngSender", &s) == IPM_OK);
    CHECK(connect_to(s, NULL, g_ep) == IPM_OK);
    for (long i = 0; i < N; i++)
        CHECK(ipm_send(s, &i, sizeof i, 30000, "seq") == IPM_OK);
    ipm_sender_destroy(s);
    CHECK(ipm_test_wait(pid, 60000) == 0);
    return 0;
}

static void test_stream_across_processes(void **state)
{
    (void)state;
    nt_free_tcp(g_ep, sizeof g_ep, "tcp");
    run_isolated(stream_across_processes);
}

/* Send until a send times out (the peer is gone or stopped): 0, or -1 if
 * sends never time out or fail otherwise. */
static int send_until_timeout(ipm_sender *s)
{
    double end = ipm_test_now_ms() + 30000;
    for (long i = 0; ipm_test_now_ms() < end; i++) {
        ipm_status st = ipm_send(s, &i, sizeof i, 200, NULL);
        if (st == IPM_ETIMEDOUT) return 0;
        if (st != IPM_OK) return -1;
    }
    return -1;
}

static int g_stop; /* SIGSTOP instead of SIGKILL */

static int receiver_killed_or_stopped(void *arg)
{
    (void)arg;
    {
        int stop = g_stop;
        nt_free_tcp(g_ep, sizeof g_ep, "tcp");
        pid_t pid = ipm_test_fork(receiver_child, (void *)-1L);
        ipm_sender *s;
        CHECK(ipm_sender_create("NngSender", &s) == IPM_OK);
        CHECK(connect_to(s, NULL, g_ep) == IPM_OK);
        long v = 0;
        CHECK(ipm_send(s, &v, sizeof v, 20000, NULL) == IPM_OK);
        kill(pid, stop ? SIGSTOP : SIGKILL);
        CHECK(send_until_timeout(s) == 0);
        double t0 = ipm_test_now_ms();
        ipm_sender_destroy(s);
        double took = ipm_test_now_ms() - t0;
        /* linger_ms (1000 by default) bounds it; slack for a loaded box. */
        if (took > 4000) fprintf(stderr, "destroy took %.0f ms\n", took);
        CHECK(took <= 4000);
        if (stop) kill(pid, SIGKILL);
        ipm_test_wait(pid, 10000);
    }
    return 0;
}

static void test_receiver_killed_or_stopped(void **state)
{
    (void)state;
    g_stop = 0;
    run_isolated(receiver_killed_or_stopped);
    g_stop = 1;
    run_isolated(receiver_killed_or_stopped);
}

static int sender_child(void *arg)
{
    (void)arg;
    ipm_sender *s;
    CHECK(ipm_sender_create("NngSender", &s) == IPM_OK);
    CHECK(connect_to(s, NULL, g_ep) == IPM_OK);
    for (long i = 0;; i++)
        CHECK(ipm_send(s, &i, sizeof i, 30000, NULL) == IPM_OK);
}

static int sender_killed(void *arg)
{
    (void)arg;
    nt_free_tcp(g_ep, sizeof g_ep, "tcp");
    pid_t pid = ipm_test_fork(sender_child, NULL);
    ipm_receiver *r;
    CHECK(ipm_receiver_create("NngReceiver", &r) == IPM_OK);
    CHECK(connect_to(NULL, r, g_ep) == IPM_OK);
    for (long i = 0; i < 1000; i++) {
        ipm_message m;
        CHECK(ipm_receive(r, &m, 20000) == IPM_OK);
        long v = -1;
        if (m.size == sizeof v) memcpy(&v, m.data, sizeof v);
        ipm_message_release(&m);
        CHECK(v == i);
    }
    kill(pid, SIGKILL);
    ipm_test_wait(pid, 10000);
    ipm_message m;
    ipm_status st;
    while ((st = ipm_receive(r, &m, 300)) == IPM_OK)
        ipm_message_release(&m);
    CHECK(st == IPM_ETIMEDOUT);
    ipm_receiver_destroy(r);
    return 0;
}

static void test_sender_killed(void **state)
{
    (void)state;
    run_isolated(sender_killed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_across_processes),
        cmocka_unit_test(test_receiver_killed_or_stopped),
        cmocka_unit_test(test_sender_killed),
    };
    return nt_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
