/*
 * rel_fault_endpoints.c — endpoints that cannot work: a port already in use,
 * an unreachable peer (a port nobody listens on), a host name that does not
 * resolve, an ipc:// path in a directory that does not exist, malformed
 * endpoints, a shm:// name that is taken or invalid. (A tcp port outside
 * 0..65535 is refused too; that case lives in rel_regress_zmq.)
 *
 * Each gives a clear status at the right call (a bind fails at connect, a
 * connect to an absent peer fails at send, with IPM_ETIMEDOUT within its
 * timeout) with ipm_last_error() naming the endpoint, and leaks nothing:
 * every case runs many times and the process's open file descriptors
 * (/proc/self/fd) and threads (/proc/self/status) come back to where they
 * were. A "keeper" object holds the shared ZeroMQ context for the whole test
 * so that its I/O threads are part of the baseline.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPEAT 100

static int fd_base, thread_base;

static void baseline(void)
{
    fd_base = rel_fd_count();
    thread_base = rel_thread_count();
}

/* fds and threads back to the baseline (ZeroMQ closes asynchronously). */
static void expect_no_leak(const char *what)
{
    int fds = rel_settle(rel_fd_count, fd_base, 5000);
    int threads = rel_settle(rel_thread_count, thread_base, 5000);
    printf("[ endpoint ] %-40s fds %d -> %d, threads %d -> %d\n", what, fd_base, fds,
           thread_base, threads);
    if (fds > fd_base) fail_msg("%s: %d file descriptors leaked", what, fds - fd_base);
    if (threads > thread_base)
        fail_msg("%s: %d threads leaked", what, threads - thread_base);
}

/* Open spec as a receiver; expect status and the message to contain needle. */
static void expect_receiver_fails(const char *spec, ipm_status want, const char *needle)
{
    ipm_receiver *r = (ipm_receiver *)(uintptr_t)1;
    ipm_status st = ipm_receiver_open(spec, &r);
    if (st != want)
        fail_msg("%s -> %s (want %s): %s", spec, ipm_strerror(st), ipm_strerror(want),
                 ipm_last_error());
    assert_null(r);
    if (!strstr(ipm_last_error(), needle))
        fail_msg("%s: message '%s' lacks '%s'", spec, ipm_last_error(), needle);
}

static void expect_sender_fails(const char *spec, ipm_status want, const char *needle)
{
    ipm_sender *s = (ipm_sender *)(uintptr_t)1;
    ipm_status st = ipm_sender_open(spec, &s);
    if (st != want)
        fail_msg("%s -> %s (want %s): %s", spec, ipm_strerror(st), ipm_strerror(want),
                 ipm_last_error());
    assert_null(s);
    if (!strstr(ipm_last_error(), needle))
        fail_msg("%s: message '%s' lacks '%s'", spec, ipm_last_error(), needle);
}

/* A sender to an endpoint with no peer: connect succeeds (it is
 * asynchronous), each send ends with IPM_ETIMEDOUT within its timeout, or
 * connect itself says why (e.g. a name that cannot resolve). */
static void expect_send_times_out(const char *spec, const char *needle, bool print)
{
    ipm_sender *s = NULL;
    ipm_status st = ipm_sender_open(spec, &s);
    if (st != IPM_OK) {
        if (st != IPM_ECONNECT || !strstr(ipm_last_error(), needle))
            fail_msg("%s -> %s: %s", spec, ipm_strerror(st), ipm_last_error());
        return;
    }
    double t0 = ipm_test_now_ms();
    st = ipm_send(s, "x", 1, 100, NULL);
    double took = ipm_test_now_ms() - t0;
    if (print)
        printf("[ endpoint ] %s: send -> %s after %.1f ms: %s\n", spec, ipm_strerror(st),
               took, ipm_last_error());
    if (st != IPM_ETIMEDOUT)
        fail_msg("%s: send -> %s: %s", spec, ipm_strerror(st), ipm_last_error());
    assert_true(took >= 99.0 && took < 100 + 2000);
    if (!strstr(ipm_last_error(), needle))
        fail_msg("%s: message '%s' lacks '%s'", spec, ipm_last_error(), needle);
    ipm_sender_destroy(s);
}

static ipm_receiver *keeper;
static char used_endpoint[256]; /* bound by the keeper */

static int setup(void **state)
{
    (void)state;
    if (!rel_plugin_available("ZmqReceiver")) return 0;
    if (ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*",
                          &keeper) != IPM_OK)
        return -1;
    snprintf(used_endpoint, sizeof used_endpoint, "%s", ipm_receiver_endpoint(keeper));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ipm_receiver_destroy(keeper);
    return 0;
}

static void test_port_in_use(void **state)
{
    (void)state;
    if (!keeper) skip();
    char spec[400];
    baseline();
    bool pub = rel_plugin_available("ZmqPublisher");
    for (int i = 0; i < REPEAT; i++) {
        if (i % 2 == 0) {
            snprintf(spec, sizeof spec, "type=ZmqReceiver; connection_string=%s",
                     used_endpoint);
            expect_receiver_fails(spec, IPM_ECONNECT, used_endpoint);
            assert_non_null(strstr(ipm_last_error(), "in use"));
        } else if (pub) {
            snprintf(spec, sizeof spec, "type=ZmqPublisher; connection_string=%s",
                     used_endpoint);
            expect_sender_fails(spec, IPM_ECONNECT, used_endpoint);
            assert_non_null(strstr(ipm_last_error(), "in use"));
        }
    }
    expect_no_leak("port already in use");
}

static void test_unreachable_port(void **state)
{
    (void)state;
    if (!keeper) skip();
    /* A port bound and never listened on, held for the whole test: a
     * connect to it is refused, and no other process can take it (a port
     * read and closed again was once taken by a test running beside this
     * one, and the sends went through). No SO_REUSEADDR, so that a
     * listener with it cannot share the port either. */
    int hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(hold >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(hold, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(hold, (struct sockaddr *)&a, &alen), 0);
    char endpoint[256], spec[400];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%u",
             (unsigned)ntohs(a.sin_port));
    snprintf(spec, sizeof spec, "type=ZmqSender; connection_string=%s", endpoint);
    baseline();
    for (int i = 0; i < REPEAT / 4; i++)
        expect_send_times_out(spec, endpoint, i == 0);
    expect_no_leak("unreachable tcp port");
    close(hold);
}

static void test_unresolvable_host(void **state)
{
    (void)state;
    if (!keeper) skip();
    baseline();
    for (int i = 0; i < REPEAT / 10; i++) {
        expect_receiver_fails(
            "type=ZmqReceiver; connection_string=tcp://no-such-host.invalid:5555",
            IPM_ECONNECT, "no-such-host.invalid");
        /* Once a send timing out was all a sender said of it. */
        expect_sender_fails(
            "type=ZmqSender; connection_string=tcp://no-such-host.invalid:5555",
            IPM_ECONNECT, "host 'no-such-host.invalid' cannot be resolved");
    }
    expect_no_leak("unresolvable host name");
}

static void test_ipc_path(void **state)
{
    (void)state;
    if (!keeper) skip();
    baseline();
    for (int i = 0; i < REPEAT; i++) {
        expect_receiver_fails(
            "type=ZmqReceiver; connection_string=ipc:///nonexistent/dir/sock",
            IPM_ECONNECT, "/nonexistent/dir/sock");
        if (i % 10 == 0)
            expect_send_times_out(
                "type=ZmqSender; connection_string=ipc:///nonexistent/dir/sock",
                "/nonexistent/dir/sock", i == 0);
    }
    expect_no_leak("ipc path that cannot be created");
}

static void test_malformed(void **state)
{
    (void)state;
    if (!keeper) skip();
    static const char *const bad[] = {"tcp://127.0.0.1", "tcp://:5555",
                                      "bogus://x",       "tcp://127.0.0.1:notaport",
                                      "ipc://",          "inproc://"};
    baseline();
    for (int i = 0; i < REPEAT; i++) {
        const char *ep = bad[(size_t)i % (sizeof bad / sizeof bad[0])];
        char spec[300];
        snprintf(spec, sizeof spec, "type=ZmqReceiver; connection_string=%s", ep);
        ipm_receiver *r = (ipm_receiver *)(uintptr_t)1;
        ipm_status st = ipm_receiver_open(spec, &r);
        if (st == IPM_OK) fail_msg("%s was accepted", spec);
        assert_null(r);
        assert_true(st == IPM_ECONNECT || st == IPM_ECONFIG);
        if (!strstr(ipm_last_error(), ep)) fail_msg("%s: '%s'", spec, ipm_last_error());
    }
    expect_no_leak("malformed endpoints");
}

static void test_shm(void **state)
{
    (void)state;
    if (!rel_plugin_available("ShmReceiver") || !rel_plugin_available("ShmSender"))
        skip();
    char name[96], spec[300];
    ipm_test_unique(name, sizeof name, "taken");
    snprintf(spec, sizeof spec, "type=ShmReceiver; connection_string=shm://%s", name);
    ipm_receiver *owner;
    IPM_ASSERT_OK(ipm_receiver_open(spec, &owner));
    baseline();
    for (int i = 0; i < REPEAT; i++) {
        expect_receiver_fails(spec, IPM_ECONNECT, name); /* a live owner has it */
        expect_receiver_fails("type=ShmReceiver; connection_string=shm://bad/name",
                              IPM_ECONNECT, "bad/name");
        expect_receiver_fails("type=ShmReceiver; connection_string=tcp://127.0.0.1:1",
                              IPM_ECONNECT, "tcp://127.0.0.1:1");
        if (i % 10 == 0) {
            char none[300], nname[96];
            snprintf(none, sizeof none, "type=ShmSender; connection_string=shm://%s",
                     ipm_test_unique(nname, sizeof nname, "nobody"));
            expect_send_times_out(none, nname, i == 0);
        }
    }
    expect_no_leak("shm name taken / invalid / absent");
    ipm_receiver_destroy(owner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_in_use),       cmocka_unit_test(test_unreachable_port),
        cmocka_unit_test(test_unresolvable_host), cmocka_unit_test(test_ipc_path),
        cmocka_unit_test(test_malformed),         cmocka_unit_test(test_shm),
    };
    return cmocka_run_group_tests_name("rel_fault_endpoints", tests, setup, teardown);
}
