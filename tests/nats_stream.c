/*
 * NatsSender / NatsReceiver on JetStream with a real nats-server: messages
 * sent while no receiver runs reach the next receiver; a receiver restart
 * in mid-stream loses and doubles nothing; a server restart with file
 * storage keeps what was stored; an absent or silent server is a clear
 * IPM_ECONNECT within the connect timeout. Senders run in processes of
 * their own.
 */
#define _GNU_SOURCE
#include "nats_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static nt_server srv;

static int setup(void **state)
{
    (void)state;
    nt_start(&srv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nt_stop(&srv);
    return 0;
}

static void spec_for(char *spec, size_t cap, const char *type, const char *subject)
{
    char ep[200];
    nt_endpoint1(ep, sizeof ep, &srv, subject);
    snprintf(spec, cap, "type=%s; connection_string=%s", type, ep);
}

static void run_sender(const char *subject, uint64_t first, uint64_t count)
{
    char spec[300];
    spec_for(spec, sizeof spec, "NatsSender", subject);
    pid_t pid = nt_spawn_sender(spec, first, count);
    assert_int_equal(ipm_test_wait(pid, 60000), 0);
}

/* Receive count messages, which must be first, first+1, ... in order. */
static void expect_seq(ipm_receiver *r, uint64_t first, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, 10000);
        if (st != IPM_OK)
            fail_msg("message %llu: %s: %s", (unsigned long long)(first + i),
                     ipm_strerror(st), ipm_last_error());
        uint64_t seq;
        assert_int_equal(m.size, sizeof seq);
        memcpy(&seq, m.data, sizeof seq);
        if (seq != first + i)
            fail_msg("expected message %llu, got %llu", (unsigned long long)(first + i),
                     (unsigned long long)seq);
        assert_string_equal(m.metadata, "seq");
        ipm_message_release(&m);
    }
}

static void expect_nothing(ipm_receiver *r, int ms)
{
    ipm_message m;
    ipm_status st = ipm_receive(r, &m, ms);
    if (st == IPM_OK) {
        uint64_t seq = 0;
        if (m.size == sizeof seq) memcpy(&seq, m.data, sizeof seq);
        ipm_message_release(&m);
        fail_msg("an extra message arrived (sequence %llu): a duplicate",
                 (unsigned long long)seq);
    }
    assert_int_equal(st, IPM_ETIMEDOUT);
}

static void test_sent_while_no_receiver(void **state)
{
    (void)state;
    run_sender("ipm.t.offline", 0, 1000); /* no receiver has ever existed */
    char spec[300];
    spec_for(spec, sizeof spec, "NatsReceiver", "ipm.t.offline");
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_open(spec, &r));
    expect_seq(r, 0, 1000);
    expect_nothing(r, 300);
    ipm_receiver_destroy(r);
}

static void test_receiver_restart(void **state)
{
    (void)state;
    char spec[300];
    spec_for(spec, sizeof spec, "NatsReceiver", "ipm.t.restart");
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_open(spec, &r));
    run_sender("ipm.t.restart", 0, 1000);
    expect_seq(r, 0, 300); /* it has fetched more than it delivered */
    ipm_receiver_destroy(r);
    run_sender("ipm.t.restart", 1000, 1000); /* while no receiver runs */
    IPM_ASSERT_OK(ipm_receiver_open(spec, &r));
    expect_seq(r, 300, 1700);
    expect_nothing(r, 300);
    ipm_receiver_destroy(r);
}

static void test_server_restart_file_storage(void **state)
{
    (void)state;
    run_sender("ipm.t.srvrestart", 0, 500);
    char sspec[300], rspec[300];
    spec_for(sspec, sizeof sspec, "NatsSender", "ipm.t.srvrestart");
    spec_for(rspec, sizeof rspec, "NatsReceiver", "ipm.t.srvrestart");
    ipm_sender *s = NULL;
    IPM_ASSERT_OK(ipm_sender_open(sspec, &s));
    nt_kill(&srv); /* kill -9: no orderly shutdown */
    /* While the server is down a send is not confirmed. */
    uint64_t seq = 500;
    IPM_ASSERT_ERR(ipm_send(s, &seq, sizeof seq, 200, "seq"), IPM_ETIMEDOUT,
                   "did not acknowledge");
    nt_restart(&srv);
    /* The connected sender reconnects by itself; its first send may wait for
     * that and for JetStream to recover the stream. */
    for (uint64_t i = 500; i < 600; i++)
        IPM_ASSERT_OK(ipm_send(s, &i, sizeof i, 20000, "seq"));
    ipm_sender_destroy(s);
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_open(rspec, &r));
    /* The unconfirmed send of 500 met a dead server: it was not stored, and
     * the loop above stored 500 again. */
    expect_seq(r, 0, 600);
    expect_nothing(r, 300);
    ipm_receiver_destroy(r);
}

static void test_absent_server(void **state)
{
    (void)state;
    char spec[300];
    int port = nt_free_port(); /* nothing listens: refused at once */
    snprintf(spec, sizeof spec,
             "type=NatsSender; connection_string=nats://127.0.0.1:%d/ipm.t.absent", port);
    ipm_sender *s = NULL;
    double t0 = nt_now_ms();
    IPM_ASSERT_ERR(ipm_sender_open(spec, &s), IPM_ECONNECT, "cannot connect");
    assert_true(nt_now_ms() - t0 < 3000);
    snprintf(spec, sizeof spec,
             "type=NatsReceiver; connection_string=nats://127.0.0.1:%d/ipm.t.absent",
             port);
    ipm_receiver *r = NULL;
    IPM_ASSERT_ERR(ipm_receiver_open(spec, &r), IPM_ECONNECT, "cannot connect");

    /* A peer that accepts and never speaks (a hung server, a wrong port):
     * IPM_ECONNECT once connect_timeout_ms has passed, not a hang. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(spec, sizeof spec,
             "type=NatsReceiver; connection_string=nats://127.0.0.1:%d/ipm.t.silent; "
             "connect_timeout_ms=300",
             ntohs(a.sin_port));
    t0 = nt_now_ms();
    IPM_ASSERT_ERR(ipm_receiver_open(spec, &r), IPM_ECONNECT, "connect_timeout_ms=300");
    double took = nt_now_ms() - t0;
    close(fd);
    if (took < 290 || took > 3000)
        fail_msg("connect gave up after %.0f ms, timeout 300", took);
    assert_null(r);
}

int main(int argc, char **argv)
{
    nt_main_hook(argc, argv);
    if (nt_server_path() == NULL) {
        printf(
            "SKIP: nats-server is not installed (Debian: apt-get install nats-server)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sent_while_no_receiver),
        cmocka_unit_test(test_receiver_restart),
        cmocka_unit_test(test_server_restart_file_storage),
        cmocka_unit_test(test_absent_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
