/*
 * tls+tcp:// with certificates made here by openssl (in a temp dir): a
 * listener with its certificate and key, a dialer verifying against the CA
 * (authentication required), mutual TLS when the listener has a CA too;
 * a dialer trusting another CA, a server certificate for another host, and
 * a client without a certificate when one is required are all refused:
 * nothing is delivered.
 */
#define _GNU_SOURCE
#include "nng_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) fail_msg("failed: %s", cmd);
}

/* A CA named ca, and a certificate name signed by it for host cn. */
static void make_ca(const char *ca)
{
    run("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout %s.key -out %s.pem "
        "-days 2 -subj /CN=%s >/dev/null 2>&1",
        dir, ca, ca, ca);
}

static void make_cert(const char *name, const char *ca, const char *cn)
{
    run("cd %s && openssl req -newkey rsa:2048 -nodes -keyout %s.key -out %s.csr "
        "-subj /CN=%s >/dev/null 2>&1 && printf 'subjectAltName=DNS:%s\\n' > %s.ext && "
        "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
        "-out %s.pem -days 2 -extfile %s.ext >/dev/null 2>&1",
        dir, name, name, cn, cn, name, name, ca, ca, name, name);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ipm-nng-tls-XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    make_ca("ca");
    make_ca("otherca");
    make_cert("server", "ca", "localhost");
    make_cert("wronghost", "ca", "elsewhere.invalid");
    make_cert("client", "ca", "client");
    make_cert("strangerclient", "otherca", "client");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void keys(char *out, size_t cap, const char *cert, const char *ca)
{
    int n = 0;
    out[0] = '\0';
    if (cert)
        n += snprintf(out + n, cap - (size_t)n, "tls_cert=%s/%s.pem; tls_key=%s/%s.key",
                      dir, cert, dir, cert);
    if (ca)
        snprintf(out + n, cap - (size_t)n, "%stls_ca=%s/%s.pem", n ? "; " : "", dir, ca);
}

/* The listener's endpoint by host name, for the certificate's name. */
static void by_name(const ipm_receiver *r, char *out, size_t cap)
{
    const char *ep = ipm_receiver_endpoint(r);
    const char *port = strrchr(ep, ':');
    snprintf(out, cap, "tls+tcp://localhost%s", port);
}

/* A receiver with rx keys, a sender with tx keys; whether a message gets
 * through. */
static bool delivered(const char *rx_cert, const char *rx_ca, const char *tx_cert,
                      const char *tx_ca)
{
    char rk[1024], tk[1024], ep[256];
    keys(rk, sizeof rk, rx_cert, rx_ca);
    keys(tk, sizeof tk, tx_cert, tx_ca);
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    nt_connect_receiver(r, "tls+tcp://127.0.0.1:0", rk);
    by_name(r, ep, sizeof ep);
    ipm_sender *s;
    IPM_ASSERT_OK(ipm_sender_create("NngSender", &s));
    nt_connect_sender(s, ep, tk[0] ? tk : NULL);
    /* A refused handshake leaves no connection: the send times out with
     * nothing sent, and nothing arrives. */
    ipm_status st = ipm_send(s, "secret", 6, 3000, "tls");
    bool ok = false;
    if (st == IPM_OK) {
        nt_expect(r, 5000, "secret", 6, "tls");
        ok = true;
    } else {
        assert_int_equal(st, IPM_ETIMEDOUT);
        nt_expect_nothing(r, 200);
    }
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    return ok;
}

static void test_verified_server(void **state)
{
    (void)state;
    assert_true(delivered("server", NULL, NULL, "ca"));
}

static void test_wrong_ca_refused(void **state)
{
    (void)state;
    assert_false(delivered("server", NULL, NULL, "otherca"));
}

static void test_wrong_host_refused(void **state)
{
    (void)state;
    assert_false(delivered("wronghost", NULL, NULL, "ca"));
}

static void test_mutual_tls(void **state)
{
    (void)state;
    assert_true(delivered("server", "ca", "client", "ca"));
    assert_false(delivered("server", "ca", NULL, "ca"));
    assert_false(delivered("server", "ca", "strangerclient", "ca"));
}

static void test_unverified_dialer_encrypts(void **state)
{
    (void)state;
    /* Without tls_ca the dialer takes any server: encrypted, not
     * authenticated (docs/nng.md). */
    assert_true(delivered("server", NULL, NULL, NULL));
}

static void test_pubsub_over_tls(void **state)
{
    (void)state;
    char pk[1024], sk[1024], ep[256];
    keys(pk, sizeof pk, "server", NULL);
    keys(sk, sizeof sk, NULL, "ca");
    ipm_sender *pub;
    IPM_ASSERT_OK(ipm_sender_create("NngPublisher", &pub));
    nt_connect_sender(pub, "tls+tcp://127.0.0.1:0", pk);
    const char *port = strrchr(ipm_sender_endpoint(pub), ':');
    snprintf(ep, sizeof ep, "tls+tcp://localhost%s", port);
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_subscriber_create("NngSubscriber", &sub));
    IPM_ASSERT_OK(ipm_subscribe(sub, "t"));
    nt_connect_receiver(sub, ep, sk);
    nt_pubsub_sync(pub, sub, "t");
    IPM_ASSERT_OK(ipm_send(pub, "hi", 2, 0, "tx"));
    nt_expect(sub, 5000, "hi", 2, "tx");
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(pub);
}

static void test_bad_files(void **state)
{
    (void)state;
    char spec[1024];
    ipm_params *p;
    ipm_receiver *r;
    /* A certificate file that is not PEM. */
    snprintf(spec, sizeof spec,
             "connection_string=tls+tcp://127.0.0.1:0; tls_cert=%s/server.csr; "
             "tls_key=%s/ca.pem",
             dir, dir);
    IPM_ASSERT_OK(ipm_params_parse(spec, &p));
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    IPM_ASSERT_ERR(ipm_receiver_connect(r, p), IPM_ECONFIG, "tls_cert");
    ipm_receiver_destroy(r);
    ipm_params_free(p);
    snprintf(spec, sizeof spec,
             "connection_string=tls+tcp://127.0.0.1:0; tls_cert=%s/server.pem", dir);
    IPM_ASSERT_OK(ipm_params_parse(spec, &p));
    IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
    IPM_ASSERT_ERR(ipm_receiver_connect(r, p), IPM_ECONFIG, "needs 'tls_key'");
    ipm_receiver_destroy(r);
    ipm_params_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verified_server),
        cmocka_unit_test(test_wrong_ca_refused),
        cmocka_unit_test(test_wrong_host_refused),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_unverified_dialer_encrypts),
        cmocka_unit_test(test_pubsub_over_tls),
        cmocka_unit_test(test_bad_files),
    };
    return nt_finish(cmocka_run_group_tests(tests, setup, teardown));
}
