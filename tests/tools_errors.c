/*
 * tools_errors.c — how ipm-send and ipm-recv fail: the exit codes their
 * --help documents, and the library's own message on stderr (compared with
 * what libipm says for the same input in this process).
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "tools_proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T_MS 20000

static int run(tproc *p, const char *tool, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = tools_bin(tool);
    for (; args && *args; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return tools_run(p, argv, NULL, 0, T_MS);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) fail_msg("'%s' lacks '%s'", hay, needle);
}

static void bad_connection_string(void **state)
{
    (void)state;
    const char *spec = "type=ZmqSender; connection_string tcp://127.0.0.1:5555";
    ipm_params *p = NULL;
    ipm_status st = ipm_params_parse(spec, &p);
    assert_int_equal(st, IPM_ECONFIG);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s", ipm_last_error());
    assert_true(expected[0] != '\0');

    const char *tools[] = {"ipm-send", "ipm-recv"};
    for (int i = 0; i < 2; i++) {
        tproc t;
        const char *args[] = {spec, NULL};
        const char *margs[] = {"-m", "x", spec, NULL};
        int rc = run(&t, tools[i], i == 0 ? margs : args);
        assert_int_equal(rc, 1);
        assert_contains(t.e.data, ipm_strerror(IPM_ECONFIG));
        assert_contains(t.e.data, expected);
        assert_string_equal(t.o.data, "");
        tproc_free(&t);
    }
}

static void unknown_type(void **state)
{
    (void)state;
    ipm_sender *s = NULL;
    assert_int_equal(ipm_sender_create("NoSuchTransport", &s), IPM_ENOPLUGIN);
    char expected[4096];
    snprintf(expected, sizeof expected, "%s", ipm_last_error());

    tproc t;
    const char *args[] = {"-m", "x", "type=NoSuchTransport; connection_string=tcp://h:1",
                          NULL};
    assert_int_equal(run(&t, "ipm-send", args), 1);
    assert_contains(t.e.data, "ipm-send: cannot open NoSuchTransport");
    assert_contains(t.e.data, ipm_strerror(IPM_ENOPLUGIN));
    assert_contains(t.e.data, expected);
    tproc_free(&t);

    /* --type names the type of a bare endpoint. */
    const char *rargs[] = {"--type", "NoSuchTransport", "tcp://127.0.0.1:*", NULL};
    assert_int_equal(run(&t, "ipm-recv", rargs), 1);
    assert_contains(t.e.data, ipm_strerror(IPM_ENOPLUGIN));
    tproc_free(&t);
}

static void wrong_role(void **state)
{
    (void)state;
    tproc t;
    /* A receiver type given to the sending tool. */
    const char *args[] = {"-m", "x",
                          "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", NULL};
    assert_int_equal(run(&t, "ipm-send", args), 1);
    assert_contains(t.e.data, ipm_strerror(IPM_EPLUGIN));
    tproc_free(&t);
    /* A topic for a receiver that cannot subscribe. */
    const char *rargs[] = {"-T", "tp",
                           "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", NULL};
    assert_int_equal(run(&t, "ipm-recv", rargs), 1);
    assert_contains(t.e.data, ipm_strerror(IPM_ENOTSUP));
    tproc_free(&t);
}

static void usage_errors(void **state)
{
    (void)state;
    struct {
        const char *tool;
        const char *args[6];
        const char *says;
    } cases[] = {
        {"ipm-send", {NULL}, "missing CONNECTION"},
        {"ipm-send", {"a", "b", NULL}, "exactly one CONNECTION"},
        {"ipm-send", {"--count", "x", "tcp://h:1", NULL}, "--count"},
        {"ipm-send", {"--rate", "0", "tcp://h:1", NULL}, "--rate"},
        {"ipm-send", {"--size", "12Q", "tcp://h:1", NULL}, "--size"},
        {"ipm-send", {"--bogus", "tcp://h:1", NULL}, "Try 'ipm-send --help'"},
        {"ipm-recv", {"--hex", "--raw", "tcp://h:1", NULL}, "exclude each other"},
        {"ipm-recv", {"--timeout", "soon", "tcp://h:1", NULL}, "--timeout"},
        {"ipm-recv", {NULL}, "missing CONNECTION"},
        {"ipm-send",
         {"--type", "ZmqPublisher", "type=ZmqSender; connection_string=tcp://h:1", NULL},
         "contradicts"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tproc t;
        int rc = run(&t, cases[i].tool, cases[i].args);
        if (rc != 2) fail_msg("case %zu: exit %d, want 2: %s", i, rc, t.e.data);
        assert_contains(t.e.data, cases[i].says);
        tproc_free(&t);
    }
    /* --help succeeds and documents the exit codes. */
    const char *tools[] = {"ipm-send", "ipm-recv", "ipm-bench", "zmq-baseline"};
    for (size_t i = 0; i < 4; i++) {
        tproc t;
        const char *args[] = {"--help", NULL};
        assert_int_equal(run(&t, tools[i], args), 0);
        assert_contains(t.o.data, "Exit status:");
        assert_contains(t.o.data, "130");
        tproc_free(&t);
    }
}

/* Exit 3 when nothing comes (ipm-recv) or nobody takes it (ipm-send). */
static void timeouts(void **state)
{
    (void)state;
    tproc t;
    double t0 = ipm_test_now_ms();
    const char *rargs[] = {"-w", "300",
                           "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", NULL};
    assert_int_equal(run(&t, "ipm-recv", rargs), 3);
    assert_true(ipm_test_now_ms() - t0 >= 300);
    assert_contains(t.e.data, "no message within 300 ms");
    tproc_free(&t);

    /* Nobody listens on this ipc path: the send cannot be handed over. */
    char name[128], conn[256];
    ipm_test_unique(name, sizeof name, "tools-nobody");
    snprintf(conn, sizeof conn, "type=ZmqSender; connection_string=ipc:///tmp/%s", name);
    const char *sargs[] = {"-m", "x", "-w", "300", conn, NULL};
    t0 = ipm_test_now_ms();
    assert_int_equal(run(&t, "ipm-send", sargs), 3);
    assert_true(ipm_test_now_ms() - t0 >= 300);
    assert_contains(t.e.data, "message 1 not sent within 300 ms");
    assert_contains(t.e.data, ipm_strerror(IPM_ETIMEDOUT));
    tproc_free(&t);
}

/* Ctrl-C ends a waiting tool at once, with status 130 (SIGTERM: 143). */
static void interrupted(void **state)
{
    (void)state;
    int sigs[] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        tproc r;
        const char *argv[] = {tools_bin("ipm-recv"),
                              "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*",
                              NULL};
        assert_int_equal(tproc_start(&r, argv), 0);
        assert_non_null(tproc_wait_err(&r, "ready on ", T_MS));
        double t0 = ipm_test_now_ms();
        kill(r.pid, sigs[i]);
        assert_int_equal(tproc_finish(&r, T_MS), 128 + sigs[i]);
        /* Noticed within one receive slice (200 ms), plus a loaded machine. */
        assert_true(ipm_test_now_ms() - t0 < 5000);
        tproc_free(&r);
    }
    /* A sender waiting for a receiver that never comes. */
    char name[128], conn[256];
    ipm_test_unique(name, sizeof name, "tools-int");
    snprintf(conn, sizeof conn, "type=ZmqSender; connection_string=ipc:///tmp/%s", name);
    tproc s;
    const char *argv[] = {tools_bin("ipm-send"), "-v", "-m", "x", conn, NULL};
    assert_int_equal(tproc_start(&s, argv), 0);
    assert_non_null(tproc_wait_err(&s, "connected to", T_MS));
    kill(s.pid, SIGINT);
    assert_int_equal(tproc_finish(&s, T_MS), 130);
    tproc_free(&s);
}

/* --rate paces: 5 messages at 20/s take at least 4 intervals of 50 ms. */
static void rate_paces(void **state)
{
    (void)state;
    tproc r, s;
    const char *rargs[] = {tools_bin("ipm-recv"),
                           "-c",
                           "5",
                           "-w",
                           "20s",
                           "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*",
                           NULL};
    assert_int_equal(tproc_start(&r, rargs), 0);
    const char *at = tproc_wait_err(&r, "ready on ", T_MS);
    assert_non_null(at);
    char conn[600];
    snprintf(conn, sizeof conn, "type=ZmqSender; connection_string=%.*s",
             (int)strcspn(at, "\n"), at);
    const char *sargs[] = {tools_bin("ipm-send"),
                           "--size",
                           "100",
                           "--count",
                           "5",
                           "--rate",
                           "20",
                           conn,
                           NULL};
    double t0 = ipm_test_now_ms();
    assert_int_equal(tools_run(&s, sargs, NULL, 0, T_MS), 0);
    assert_true(ipm_test_now_ms() - t0 >= 200);
    assert_int_equal(tproc_finish(&r, T_MS), 0);
    assert_non_null(strstr(r.o.data, "#5 100 B: abcdefghijklmnopqrstuvwxyzabcd"));
    tproc_free(&r);
    tproc_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_connection_string),
        cmocka_unit_test(unknown_type),
        cmocka_unit_test(wrong_role),
        cmocka_unit_test(usage_errors),
        cmocka_unit_test(timeouts),
        cmocka_unit_test(interrupted),
        cmocka_unit_test(rate_paces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
