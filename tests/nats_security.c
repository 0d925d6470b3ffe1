/*
 * NATS authentication and encryption with real servers: user/password
 * (an authorization block) and TLS with client certificates (a CA, server
 * and client certificates made here with openssl). A peer without the
 * right password or certificate cannot connect, so it can neither deliver
 * nor receive; a client that trusts one CA will not talk to a server whose
 * certificate another CA signed (an impostor). Credentials files (a user
 * JWT and its nkey seed) against a server in operator mode: the trust
 * chain is made by tests/nats/make_creds.py, since Debian ships no nsc.
 */
#define _GNU_SOURCE
#include "nats_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) fail_msg("command failed: %s", cmd);
}

/* A CA (name) and a certificate signed by it (cn), with 127.0.0.1 as its
 * address, in dir. */
static void make_ca(const char *name)
{
    sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=%s "
       "-keyout %s.key -out %s.pem 2>/dev/null",
       dir, name, name, name);
}

static void make_cert(const char *ca, const char *cn)
{
    sh("cd %s && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > %s.ext && "
       "openssl req -newkey rsa:2048 -nodes -subj /CN=%s -keyout %s.key -out %s.csr "
       "2>/dev/null && openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key "
       "-CAcreateserial -days 2 -extfile %s.ext -out %s.pem 2>/dev/null",
       dir, cn, cn, cn, cn, cn, ca, ca, cn, cn);
}

/* The operator-mode chain of make_creds.py in dir/creds, or false (and
 * why, in the test's output) when python3 is missing. */
static bool make_creds(void)
{
    if (system("python3 -c pass >/dev/null 2>&1") != 0) {
        printf("# python3 is not installed: it makes the test's credentials\n");
        return false;
    }
    sh("mkdir -p %s/creds && python3 %s %s/creds", dir, IPM_MAKE_CREDS, dir);
    return true;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ipm-nats-sec-XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    make_ca("ca");
    make_cert("ca", "server");
    make_cert("ca", "client");
    make_ca("evilca");
    make_cert("evilca", "evilclient");
    make_cert("evilca", "evilserver");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static ipm_status open_pair(const nt_server *s, const char *subject, const char *keys,
                            bool jetstream, ipm_sender **tx, ipm_receiver **rx)
{
    char ep[200], spec[1200];
    nt_endpoint1(ep, sizeof ep, s, subject);
    *tx = NULL;
    *rx = NULL;
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s%s%s",
             jetstream ? "NatsReceiver" : "NatsSubscriber", ep, keys[0] ? "; " : "",
             keys);
    ipm_status st = ipm_receiver_open(spec, rx);
    if (st != IPM_OK) return st;
    if (!jetstream && (st = ipm_subscribe(*rx, "")) != IPM_OK) return st;
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s%s%s",
             jetstream ? "NatsSender" : "NatsPublisher", ep, keys[0] ? "; " : "", keys);
    return ipm_sender_open(spec, tx);
}

/* The pair works: a message goes through. */
static void expect_works(const nt_server *s, const char *subject, const char *keys,
                         bool jetstream)
{
    ipm_sender *tx;
    ipm_receiver *rx;
    IPM_ASSERT_OK(open_pair(s, subject, keys, jetstream, &tx, &rx));
    IPM_ASSERT_OK(ipm_send(tx, "auth", 4, 5000, "m"));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(rx, &m, 5000));
    assert_int_equal(m.size, 4);
    ipm_message_release(&m);
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(rx);
}

/* Neither side can connect with keys: no delivering, no receiving. The
 * server's refusal comes back at once; the connect timeout is generous so
 * that a loaded machine (a parallel ctest, a sanitizer build) gets the
 * refusal, not a timeout, before it gives up (1000 ms failed once). */
static void expect_refused(const nt_server *s, const char *keys, const char *needle)
{
    static const char *const types[] = {"NatsPublisher", "NatsSender"};
    static const char *const rtypes[] = {"NatsSubscriber", "NatsReceiver"};
    char ep[200], spec[1200];
    nt_endpoint1(ep, sizeof ep, s, "ipm.t.sec");
    for (int i = 0; i < 2; i++) {
        ipm_sender *tx = NULL;
        ipm_receiver *rx = NULL;
        snprintf(spec, sizeof spec,
                 "type=%s; connection_string=%s; connect_timeout_ms=5000%s%s", types[i],
                 ep, keys[0] ? "; " : "", keys);
        IPM_ASSERT_ERR(ipm_sender_open(spec, &tx), IPM_ECONNECT, needle);
        snprintf(spec, sizeof spec,
                 "type=%s; connection_string=%s; connect_timeout_ms=5000%s%s", rtypes[i],
                 ep, keys[0] ? "; " : "", keys);
        IPM_ASSERT_ERR(ipm_receiver_open(spec, &rx), IPM_ECONNECT, needle);
        if (i == 0)
            printf("# refused (%s): %s\n", keys[0] ? keys : "no keys", ipm_last_error());
        assert_null(tx);
        assert_null(rx);
    }
}

static void test_user_password(void **state)
{
    (void)state;
    nt_server s;
    nt_start(&s, "authorization { users = [ { user: daq, password: \"s3cret-pw\" } ] }");
    expect_works(&s, "ipm.t.sec", "user=daq; password=s3cret-pw", false);
    expect_works(&s, "ipm.t.secjs", "user=daq; password=s3cret-pw", true);
    expect_refused(&s, "user=daq; password=wrong", "uthoriz");
    expect_refused(&s, "", "uthoriz");
    nt_stop(&s);
}

static void test_tls_client_certificates(void **state)
{
    (void)state;
    char conf[1024];
    snprintf(conf, sizeof conf,
             "tls { cert_file: \"%s/server.pem\", key_file: \"%s/server.key\", "
             "ca_file: \"%s/ca.pem\", verify: true, timeout: 2 }",
             dir, dir, dir);
    nt_server s;
    nt_start(&s, conf);
    char good[600], keys[600];
    snprintf(good, sizeof good,
             "tls_ca=%s/ca.pem; tls_cert=%s/client.pem; tls_key=%s/client.key", dir, dir,
             dir);
    expect_works(&s, "ipm.t.tls", good, false);
    expect_works(&s, "ipm.t.tlsjs", good, true);
    /* No TLS at all, TLS without a client certificate, a certificate of
     * another CA. */
    expect_refused(&s, "", "connect");
    snprintf(keys, sizeof keys, "tls_ca=%s/ca.pem", dir);
    expect_refused(&s, keys, "connect");
    snprintf(keys, sizeof keys,
             "tls_ca=%s/ca.pem; tls_cert=%s/evilclient.pem; tls_key=%s/evilclient.key",
             dir, dir, dir);
    expect_refused(&s, keys, "connect");
    nt_stop(&s);

    /* An impostor server (its certificate from another CA): a client that
     * trusts only the real CA does not connect, so sends reach nobody. */
    snprintf(conf, sizeof conf,
             "tls { cert_file: \"%s/evilserver.pem\", key_file: \"%s/evilserver.key\", "
             "timeout: 2 }",
             dir, dir);
    nt_start(&s, conf);
    expect_refused(&s, good, "connect");
    nt_stop(&s);
}

/* A user JWT signed by an account the operator signed, with the user's
 * seed, is admitted on both patterns; a user of an account the operator
 * never signed, a stolen JWT without its seed, no credentials and a file
 * that is not a credentials file are refused on both sides. */
static void test_creds_files(void **state)
{
    (void)state;
    if (!make_creds()) skip();
    /* Its lines go into the server's config as they are: nats-server reads
     * an include relative to the including file, which is elsewhere. */
    char path[128], conf[8192], keys[300];
    snprintf(path, sizeof path, "%s/creds/server.conf", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(conf, 1, sizeof conf - 1, f);
    fclose(f);
    assert_true(n > 0 && n < sizeof conf - 1);
    conf[n] = '\0';
    nt_server s;
    nt_start(&s, conf);
    snprintf(keys, sizeof keys, "creds=%s/creds/daq.creds", dir);
    expect_works(&s, "ipm.t.creds", keys, false);
    expect_works(&s, "ipm.t.credsjs", keys, true);
    snprintf(keys, sizeof keys, "creds=%s/creds/stranger.creds", dir);
    expect_refused(&s, keys, "uthoriz");
    snprintf(keys, sizeof keys, "creds=%s/creds/forged.creds", dir);
    expect_refused(&s, keys, "uthoriz");
    expect_refused(&s, "", "uthoriz");
    /* A PEM key is no credentials file: the error says so at open. */
    snprintf(keys, sizeof keys, "creds=%s/ca.key", dir);
    expect_refused(&s, keys, "seed");
    nt_stop(&s);
}

int main(int argc, char **argv)
{
    nt_main_hook(argc, argv);
    if (nt_server_path() == NULL) {
        printf(
            "SKIP: nats-server is not installed (Debian: apt-get install nats-server)\n");
        return 77;
    }
    if (system("openssl version >/dev/null 2>&1") != 0) {
        printf("SKIP: openssl is not installed (needed to make test certificates)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_password),
        cmocka_unit_test(test_tls_client_certificates),
        cmocka_unit_test(test_creds_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
