/*
 * Interop with nngcat (Debian nng-utils), a stock nng client nobody here
 * wrote, as a separate process, over tcp, ipc and tls+tcp:
 *   nngcat --push0 --dial      -> NngReceiver (plain data, empty metadata)
 *   NngSender                  -> nngcat --pull0 --listen (bare data; the
 *                                 framed form when there is metadata)
 *   NngPublisher               -> nngcat --sub0 --subscribe tp (sub0's own
 *                                 prefix filter on ipm's topic)
 *   nngcat --pub0 --listen     -> NngSubscriber (plain data, empty metadata)
 * Skipped (not failed) only if nngcat is not installed.
 */
#define _GNU_SOURCE
#include "nng_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAGIC "\xFFipmnng\x01"

static char dir[256];
static char nngcat[256];

static int setup(void **state)
{
    (void)state;
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin");
    for (char *d = strtok(buf, ":"); d; d = strtok(NULL, ":")) {
        snprintf(nngcat, sizeof nngcat, "%s/nngcat", d);
        if (access(nngcat, X_OK) == 0) break;
        nngcat[0] = '\0';
    }
    snprintf(dir, sizeof dir, "/tmp/ipm-nng-cat-XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    char cmd[2048];
    snprintf(
        cmd, sizeof cmd,
        "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
        "-days 2 -subj /CN=ca >/dev/null 2>&1 && openssl req -newkey rsa:2048 -nodes "
        "-keyout server.key -out server.csr -subj /CN=localhost >/dev/null 2>&1 && "
        "printf 'subjectAltName=DNS:localhost\\n' > ext && openssl x509 -req -in "
        "server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile ext >/dev/null 2>&1",
        dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct proc {
    pid_t pid;
    int out; /* its stdout, or -1 */
} proc;

/* Start nngcat with args (NULL-terminated), its stdout on a pipe. */
static proc spawn(const char *const *args)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        close(fds[0]);
        close(fds[1]);
        const char *argv[40] = {nngcat};
        for (int i = 0; args[i] && i < 38; i++)
            argv[i + 1] = args[i];
        execv(nngcat, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    return (proc){pid, fds[0]};
}

/* Read what p writes until it exits or timeout_ms; returns the bytes. */
static size_t collect(proc p, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    double end = ipm_test_now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - ipm_test_now_ms());
        if (left <= 0) break;
        struct pollfd pfd = {.fd = p.out, .events = POLLIN};
        int rc = poll(&pfd, 1, left);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) break;
        ssize_t k = read(p.out, buf + n, cap - n);
        if (k <= 0) break;
        n += (size_t)k;
        if (n == cap) break;
    }
    return n;
}

static int finish(proc p)
{
    close(p.out);
    kill(p.pid, SIGTERM);
    int st;
    waitpid(p.pid, &st, 0);
    return st;
}

/* Three carriers: each an endpoint for ipm to listen on (or nngcat), the
 * same for the dialler, and the TLS arguments of each side. */
typedef struct carrier {
    char listen[256], dial[256];
    char ipm_listen_keys[700], ipm_dial_keys[320];
    const char *cat_listen[5], *cat_dial[3];
    char cert[300], key[300], ca[300];
} carrier;

static void make_carrier(int i, carrier *c)
{
    memset(c, 0, sizeof *c);
    char u[128];
    switch (i) {
    case 0:
        nt_free_tcp(c->listen, sizeof c->listen, "tcp");
        snprintf(c->dial, sizeof c->dial, "%s", c->listen);
        break;
    case 1:
        snprintf(c->listen, sizeof c->listen, "ipc:///tmp/%s",
                 ipm_test_unique(u, sizeof u, "nngcat"));
        snprintf(c->dial, sizeof c->dial, "%s", c->listen);
        break;
    default: {
        char tcp[128];
        nt_free_tcp(tcp, sizeof tcp, "tls+tcp");
        snprintf(c->listen, sizeof c->listen, "%s", tcp);
        snprintf(c->dial, sizeof c->dial, "tls+tcp://localhost%s", strrchr(tcp, ':'));
        snprintf(c->cert, sizeof c->cert, "%s/server.pem", dir);
        snprintf(c->key, sizeof c->key, "%s/server.key", dir);
        snprintf(c->ca, sizeof c->ca, "%s/ca.pem", dir);
        snprintf(c->ipm_listen_keys, sizeof c->ipm_listen_keys, "tls_cert=%s; tls_key=%s",
                 c->cert, c->key);
        snprintf(c->ipm_dial_keys, sizeof c->ipm_dial_keys, "tls_ca=%s", c->ca);
        const char *l[] = {"--cert", c->cert, "--key", c->key, NULL};
        memcpy(c->cat_listen, l, sizeof l);
        const char *d[] = {"--cacert", c->ca, NULL};
        memcpy(c->cat_dial, d, sizeof d);
    }
    }
}

static const char *const carrier_names[] = {"tcp", "ipc", "tls+tcp"};

static void test_nngcat_push_into_receiver(void **state)
{
    (void)state;
    if (!nngcat[0]) skip();
    for (int i = 0; i < 3; i++) {
        carrier c;
        make_carrier(i, &c);
        ipm_receiver *r;
        IPM_ASSERT_OK(ipm_receiver_create("NngReceiver", &r));
        nt_connect_receiver(r, c.listen, c.ipm_listen_keys[0] ? c.ipm_listen_keys : NULL);
        const char *args[16] = {"--push0", "--dial",      c.dial,
                                "--data",  "from nngcat", "--count",
                                "2",       "--interval",  "1"};
        int n = 9;
        for (int k = 0; c.cat_dial[k]; k++)
            args[n++] = c.cat_dial[k];
        proc p = spawn(args);
        for (int k = 0; k < 2; k++)
            nt_expect(r, 10000, "from nngcat", 11, "");
        finish(p);
        ipm_receiver_destroy(r);
        printf("[ nngcat   ] %s: nngcat --push0 -> NngReceiver ok\n", carrier_names[i]);
    }
}

static void test_sender_into_nngcat_pull(void **state)
{
    (void)state;
    if (!nngcat[0]) skip();
    for (int i = 0; i < 3; i++) {
        carrier c;
        make_carrier(i, &c);
        const char *args[16] = {"--pull0", "--listen", c.listen, "--raw", "--count", "2"};
        int n = 6;
        for (int k = 0; c.cat_listen[k]; k++)
            args[n++] = c.cat_listen[k];
        proc p = spawn(args);
        ipm_sender *s;
        IPM_ASSERT_OK(ipm_sender_create("NngSender", &s));
        nt_connect_sender(s, c.dial, c.ipm_dial_keys[0] ? c.ipm_dial_keys : NULL);
        /* nngcat's listener may come up after the dial: the send waits. */
        IPM_ASSERT_OK(ipm_send(s, "bare data", 9, 20000, NULL));
        IPM_ASSERT_OK(ipm_send(s, "D", 1, 20000, "md"));
        char buf[256];
        static const char want[] = "bare data"
                                   "md\0D\x00\x00\x00\x02" MAGIC;
        size_t got = collect(p, buf, sizeof buf, 20000);
        if (got != sizeof want - 1 || memcmp(buf, want, got) != 0)
            fail_msg("%s: nngcat --pull0 printed %zu bytes, not the %zu expected",
                     carrier_names[i], got, sizeof want - 1);
        ipm_sender_destroy(s);
        finish(p);
        printf("[ nngcat   ] %s: NngSender -> nngcat --pull0 ok\n", carrier_names[i]);
    }
}

static void test_publisher_into_nngcat_sub(void **state)
{
    (void)state;
    if (!nngcat[0]) skip();
    for (int i = 0; i < 3; i++) {
        carrier c;
        make_carrier(i, &c);
        ipm_sender *pub;
        IPM_ASSERT_OK(ipm_sender_create("NngPublisher", &pub));
        nt_connect_sender(pub, c.listen, c.ipm_listen_keys[0] ? c.ipm_listen_keys : NULL);
        const char *args[16] = {"--sub0", "--dial", c.dial,    "--subscribe",
                                "tp",     "--raw",  "--count", "1"};
        int n = 8;
        for (int k = 0; c.cat_dial[k]; k++)
            args[n++] = c.cat_dial[k];
        proc p = spawn(args);
        /* Publish, with other topics around it, until nngcat has one. */
        char buf[256];
        size_t got = 0;
        for (int k = 0; k < 400 && got == 0; k++) {
            IPM_ASSERT_OK(ipm_send(pub, "no", 2, 0, "hsi"));
            IPM_ASSERT_OK(ipm_send(pub, "no", 2, 0, "t"));
            IPM_ASSERT_OK(ipm_send(pub, "yes", 3, 0, "tpc"));
            got = collect(p, buf, sizeof buf, 50);
        }
        static const char want[] = "tpc\0yes\x00\x00\x00\x03" MAGIC;
        if (got != sizeof want - 1 || memcmp(buf, want, got) != 0)
            fail_msg("%s: nngcat --sub0 --subscribe tp printed %zu bytes, not the %zu of "
                     "the tpc message",
                     carrier_names[i], got, sizeof want - 1);
        finish(p);
        ipm_sender_destroy(pub);
        printf("[ nngcat   ] %s: NngPublisher -> nngcat --sub0 --subscribe tp ok\n",
               carrier_names[i]);
    }
}

static void test_nngcat_pub_into_subscriber(void **state)
{
    (void)state;
    if (!nngcat[0]) skip();
    for (int i = 0; i < 3; i++) {
        carrier c;
        make_carrier(i, &c);
        const char *args[20] = {"--pub0", "--listen",   c.listen,
                                "--data", "tp: plain",  "--count",
                                "20",     "--interval", "1"};
        int n = 9;
        for (int k = 0; c.cat_listen[k]; k++)
            args[n++] = c.cat_listen[k];
        proc p = spawn(args);
        ipm_receiver *sub;
        IPM_ASSERT_OK(ipm_subscriber_create("NngSubscriber", &sub));
        IPM_ASSERT_OK(ipm_subscribe(sub, "tp"));
        nt_connect_receiver(sub, c.dial, c.ipm_dial_keys[0] ? c.ipm_dial_keys : NULL);
        /* A plain publisher's message: data, empty metadata. */
        nt_expect(sub, 15000, "tp: plain", 9, "");
        ipm_receiver_destroy(sub);
        finish(p);
        printf("[ nngcat   ] %s: nngcat --pub0 -> NngSubscriber ok\n", carrier_names[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nngcat_push_into_receiver),
        cmocka_unit_test(test_sender_into_nngcat_pull),
        cmocka_unit_test(test_publisher_into_nngcat_sub),
        cmocka_unit_test(test_nngcat_pub_into_subscriber),
    };
    return nt_finish(cmocka_run_group_tests(tests, setup, teardown));
}
