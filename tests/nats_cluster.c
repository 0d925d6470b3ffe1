/*
 * NatsSender / NatsReceiver on a three-server JetStream cluster
 * (replicas=3): 20 000 sequence-numbered messages stream from a sender
 * process while the server that leads the stream is killed (kill -9) in
 * mid-stream; every message arrives, once, in order.
 */
#define _GNU_SOURCE
#include "nats_util.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT 20000
#define KILL_AT 5000
#define STREAM "IPM_T_FAILOVER"

static nt_cluster cl;

static int setup(void **state)
{
    (void)state;
    nt_cluster_start(&cl);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nt_cluster_stop(&cl);
    return 0;
}

/* The server_name of the stream's leader, asked with a stock cnats client
 * (bounded: 10 s). */
static int leader_index(void)
{
    char urls[NT_MAX_SERVERS][48];
    const char *servers[NT_MAX_SERVERS];
    for (int i = 0; i < cl.n; i++) {
        snprintf(urls[i], sizeof urls[i], "nats://127.0.0.1:%d", cl.s[i].port);
        servers[i] = urls[i];
    }
    natsConnection *nc = NULL;
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetServers(o, servers, cl.n);
    natsOptions_SetTimeout(o, 2000);
    if (natsConnection_Connect(&nc, o) != NATS_OK)
        fail_msg("cannot connect to the cluster");
    natsOptions_Destroy(o);
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    int idx = -1;
    double end = nt_now_ms() + 10000;
    while (idx < 0 && nt_now_ms() < end) {
        jsStreamInfo *si = NULL;
        if (js_GetStreamInfo(&si, js, STREAM, NULL, NULL) == NATS_OK && si->Cluster &&
            si->Cluster->Leader) {
            for (int i = 0; i < cl.n; i++)
                if (strcmp(si->Cluster->Leader, cl.s[i].name) == 0) idx = i;
        }
        jsStreamInfo_Destroy(si);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (idx < 0) fail_msg("no leader for stream %s", STREAM);
    return idx;
}

static void test_leader_killed_mid_stream(void **state)
{
    (void)state;
    const nt_server *all[3] = {&cl.s[0], &cl.s[1], &cl.s[2]};
    char ep[256], rspec[400], sspec[400];
    nt_endpoint(ep, sizeof ep, all, 3, "ipm.t.failover");
    snprintf(rspec, sizeof rspec,
             "type=NatsReceiver; connection_string=%s; replicas=3; stream=%s", ep,
             STREAM);
    snprintf(sspec, sizeof sspec,
             "type=NatsSender; connection_string=%s; replicas=3; stream=%s", ep, STREAM);
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_open(rspec, &r));
    int leader = leader_index();
    pid_t sender = nt_spawn_sender(sspec, 0, COUNT);

    double t0 = nt_now_ms(), killed_at = 0, gap_max = 0, last_t = t0;
    for (uint64_t i = 0; i < COUNT; i++) {
        if (i == KILL_AT) {
            nt_kill(&cl.s[leader]);
            killed_at = nt_now_ms();
            printf("# killed %s (the stream's leader) after %d messages\n",
                   cl.s[leader].name, KILL_AT);
        }
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, 30000);
        if (st != IPM_OK)
            fail_msg("message %llu of %d: %s: %s", (unsigned long long)i, COUNT,
                     ipm_strerror(st), ipm_last_error());
        uint64_t seq;
        assert_int_equal(m.size, sizeof seq);
        memcpy(&seq, m.data, sizeof seq);
        ipm_message_release(&m);
        if (seq != i)
            fail_msg("expected message %llu, got %llu (%s)", (unsigned long long)i,
                     (unsigned long long)seq, seq < i ? "a duplicate" : "one was lost");
        double now = nt_now_ms();
        if (now - last_t > gap_max) gap_max = now - last_t;
        last_t = now;
    }
    ipm_message m;
    ipm_status st = ipm_receive(r, &m, 1000);
    if (st == IPM_OK) {
        ipm_message_release(&m);
        fail_msg("a message after the last one: a duplicate");
    }
    assert_int_equal(ipm_test_wait(sender, 30000), 0);
    printf("# %d messages once and in order in %.0f ms; longest pause %.0f ms (the kill "
           "at %.0f ms)\n",
           COUNT, nt_now_ms() - t0, gap_max, killed_at - t0);
    ipm_receiver_destroy(r);
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
        cmocka_unit_test(test_leader_killed_mid_stream),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
