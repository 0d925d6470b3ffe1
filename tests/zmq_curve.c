/*
 * ZeroMQ CURVE for the Zmq family: a client on the server's allow-list
 * delivers and receives; a client with another key, a client without
 * CURVE, and a server with the wrong secret key (an impostor) can neither
 * deliver nor receive. Clients run in processes of their own. Plain (NULL)
 * links in the same process keep working once the ZAP handler runs.
 */
#define _GNU_SOURCE
#include "zmq_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

typedef struct keypair {
    char pub[41], sec[41];
} keypair;

static keypair server, alice, mallory;
static char alice_pub_file[128];

static int setup(void **state)
{
    (void)state;
    if (!zmq_has("curve")) return -1;
    zmq_curve_keypair(server.pub, server.sec);
    zmq_curve_keypair(alice.pub, alice.sec);
    zmq_curve_keypair(mallory.pub, mallory.sec);
    snprintf(alice_pub_file, sizeof alice_pub_file, "/tmp/ipm-curve-%d.pub",
             (int)getpid());
    FILE *f = fopen(alice_pub_file, "w");
    if (f == NULL) return -1;
    fprintf(f, "# alice\n%s\n", alice.pub);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(alice_pub_file);
    return 0;
}

static ipm_receiver *curve_receiver(const char *type, const char *secret)
{
    char extra[300];
    snprintf(extra, sizeof extra, "curve_secret_key=%s; curve_allowed_clients=%s", secret,
             alice_pub_file);
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_create(type, &r));
    zt_connect_receiver(r, "tcp://127.0.0.1:*", extra);
    return r;
}

/* A client program: argv = {name, endpoint, extra (CURVE keys, or "" for
 * none), timeout_ms, want (the ipm_status the send must give)}. Exits 0 when
 * the send gave want, 10 + the status otherwise. */
static int client_main(int argc, char **argv)
{
    if (argc != 5) return 99;
    const char *endpoint = argv[1], *extra = argv[2];
    int timeout_ms = atoi(argv[3]), want = atoi(argv[4]);
    ipm_sender *s = NULL;
    if (ipm_sender_create("ZmqSender", &s) != IPM_OK) return 100;
    char spec[600];
    snprintf(spec, sizeof spec, "connection_string=%s%s%s", endpoint, extra[0] ? "; " : "",
             extra);
    ipm_params *p = NULL;
    if (ipm_params_parse(spec, &p) != IPM_OK || ipm_sender_connect(s, p) != IPM_OK) {
        fprintf(stderr, "client: %s\n", ipm_last_error());
        return 101;
    }
    ipm_params_free(p);
    ipm_status st = ipm_send(s, "secret", 6, timeout_ms, "curve");
    ipm_sender_destroy(s);
    return (int)st == want ? 0 : 10 + (int)st;
}

/* Clients are programs of their own (ipm_test_spawn), as a user's are; a
 * fork of this process, which has ZeroMQ's threads, could deadlock under
 * AddressSanitizer (see ipm_test_fork). */
static void run_client(const char *endpoint, const char *extra, int timeout_ms,
                       ipm_status want)
{
    char timeout[16], status[16];
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    snprintf(status, sizeof status, "%d", (int)want);
    const char *args[] = {endpoint, extra, timeout, status, NULL};
    pid_t pid = ipm_test_spawn("client", args);
    assert_true(pid > 0);
    int rc = ipm_test_wait(pid, 20000);
    if (rc != 0)
        fail_msg("client with '%s': exit %d (want %s; 10 + status otherwise)", extra, rc,
                 ipm_strerror(want));
}

static void test_allowed_client_delivers(void **state)
{
    (void)state;
    ipm_receiver *r = curve_receiver("ZmqReceiver", server.sec);
    char keys[200];
    snprintf(keys, sizeof keys, "curve_server_public_key=%s; curve_secret_key=%s",
             server.pub, alice.sec);
    run_client(ipm_receiver_endpoint(r), keys, 5000, IPM_OK);
    zt_expect(r, 5000, "secret", 6, "curve");
    ipm_receiver_destroy(r);
}

static void test_others_cannot_deliver(void **state)
{
    (void)state;
    ipm_receiver *r = curve_receiver("ZmqReceiver", server.sec);
    const char *ep = ipm_receiver_endpoint(r);
    char keys[200];
    /* A key pair that is not on the allow-list. */
    snprintf(keys, sizeof keys, "curve_server_public_key=%s; curve_secret_key=%s",
             server.pub, mallory.sec);
    run_client(ep, keys, 1000, IPM_ETIMEDOUT);
    /* A fresh key pair (no curve_secret_key). */
    snprintf(keys, sizeof keys, "curve_server_public_key=%s", server.pub);
    run_client(ep, keys, 1000, IPM_ETIMEDOUT);
    /* No CURVE at all. */
    run_client(ep, "", 1000, IPM_ETIMEDOUT);
    zt_expect_nothing(r, 300);
    ipm_receiver_destroy(r);
}

/* A receiver that does not hold the server's secret key cannot pose as
 * the server: the client's handshake fails and nothing reaches it. */
static void test_impostor_receives_nothing(void **state)
{
    (void)state;
    ipm_receiver *impostor = curve_receiver("ZmqReceiver", mallory.sec);
    char keys[200];
    snprintf(keys, sizeof keys, "curve_server_public_key=%s; curve_secret_key=%s",
             server.pub, alice.sec);
    run_client(ipm_receiver_endpoint(impostor), keys, 1000, IPM_ETIMEDOUT);
    zt_expect_nothing(impostor, 300);
    ipm_receiver_destroy(impostor);
}

static void test_pubsub_allow_list(void **state)
{
    (void)state;
    char extra[300];
    snprintf(extra, sizeof extra, "curve_secret_key=%s; curve_allowed_clients=%s",
             server.sec, alice.pub);
    ipm_sender *pub = NULL;
    IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &pub));
    zt_connect_sender(pub, "tcp://127.0.0.1:*", extra);
    const char *ep = ipm_sender_endpoint(pub);
    ipm_receiver *ok = NULL, *bad = NULL, *plain = NULL;
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", &ok));
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", &bad));
    IPM_ASSERT_OK(ipm_subscriber_create("ZmqSubscriber", &plain));
    snprintf(extra, sizeof extra, "curve_server_public_key=%s; curve_secret_key=%s",
             server.pub, alice.sec);
    zt_connect_receiver(ok, ep, extra);
    snprintf(extra, sizeof extra, "curve_server_public_key=%s; curve_secret_key=%s",
             server.pub, mallory.sec);
    zt_connect_receiver(bad, ep, extra);
    zt_connect_receiver(plain, ep, NULL);
    IPM_ASSERT_OK(ipm_subscribe(ok, ""));
    IPM_ASSERT_OK(ipm_subscribe(bad, ""));
    IPM_ASSERT_OK(ipm_subscribe(plain, ""));
    zt_pubsub_sync(pub, ok, "");
    for (int i = 0; i < 50; i++)
        IPM_ASSERT_OK(ipm_send(pub, "news", 4, 1000, "t"));
    zt_expect(ok, 5000, "news", 4, "t");
    zt_expect_nothing(bad, 300);
    zt_expect_nothing(plain, 100);
    ipm_receiver_destroy(ok);
    ipm_receiver_destroy(bad);
    ipm_receiver_destroy(plain);
    ipm_sender_destroy(pub);
}

/* Once the ZAP handler runs in the context, plain binds (domain "ipm") are
 * asked about too: NULL peers must still get in. */
static void test_plain_links_still_work(void **state)
{
    (void)state;
    ipm_receiver *c = curve_receiver("ZmqReceiver", server.sec); /* starts the handler */
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    IPM_ASSERT_OK(ipm_send(s, "plain", 5, 5000, NULL));
    zt_expect(r, 5000, "plain", 5, "");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    ipm_receiver_destroy(c);
}

static void test_bad_keys(void **state)
{
    (void)state;
    ipm_receiver *r = NULL;
    IPM_ASSERT_ERR(
        ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*; "
                          "curve_secret_key=tooshort",
                          &r),
        IPM_ECONFIG, "curve_secret_key");
    char spec[300];
    snprintf(spec, sizeof spec,
             "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*; "
             "curve_allowed_clients=%s",
             alice.pub);
    IPM_ASSERT_ERR(ipm_receiver_open(spec, &r), IPM_ECONFIG, "curve_secret_key");
    ipm_sender *s = NULL;
    snprintf(spec, sizeof spec,
             "type=ZmqSender; connection_string=tcp://127.0.0.1:5; curve_secret_key=%s",
             alice.sec);
    IPM_ASSERT_ERR(ipm_sender_open(spec, &s), IPM_ECONFIG, "curve_server_public_key");
}

int main(int argc, char **argv)
{
    static const ipm_test_child children[] = {{"client", client_main}, {NULL, NULL}};
    ipm_test_child_dispatch(argc, argv, children);
    if (!zmq_has("curve")) {
        printf("SKIP: this libzmq has no CURVE\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_client_delivers),
        cmocka_unit_test(test_others_cannot_deliver),
        cmocka_unit_test(test_impostor_receives_nothing),
        cmocka_unit_test(test_pubsub_allow_list),
        cmocka_unit_test(test_plain_links_still_work),
        cmocka_unit_test(test_bad_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
