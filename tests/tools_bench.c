/*
 * tools_bench.c — ipm-bench and zmq-baseline as scripts use them: --json
 * gives one valid JSON object per measurement per line, the table has a row
 * per measurement, and a wrong type is one clear error. Tiny counts: this
 * checks behaviour, not speed.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "tools_proc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T_MS 60000

/* ------------------------------------------------ a strict JSON checker */

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

static const char *string(const char *p)
{
    if (*p != '"') return NULL;
    for (p++; *p != '"'; p++) {
        if (*p == '\0' || (unsigned char)*p < 0x20) return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i])) return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p) || *p == '\0') {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *number(const char *p)
{
    if (*p == '-') p++;
    if (*p == '0')
        p++;
    else if (isdigit((unsigned char)*p))
        while (isdigit((unsigned char)*p))
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return p;
}

static const char *value(const char *p, int depth);

static const char *object(const char *p, int depth)
{
    p = ws(p + 1);
    if (*p == '}') return p + 1;
    for (;;) {
        p = string(ws(p));
        if (!p) return NULL;
        p = ws(p);
        if (*p++ != ':') return NULL;
        p = value(ws(p), depth + 1);
        if (!p) return NULL;
        p = ws(p);
        if (*p == '}') return p + 1;
        if (*p++ != ',') return NULL;
    }
}

static const char *array(const char *p, int depth)
{
    p = ws(p + 1);
    if (*p == ']') return p + 1;
    for (;;) {
        p = value(ws(p), depth + 1);
        if (!p) return NULL;
        p = ws(p);
        if (*p == ']') return p + 1;
        if (*p++ != ',') return NULL;
    }
}

static const char *value(const char *p, int depth)
{
    if (depth > 32) return NULL;
    if (*p == '{') return object(p, depth);
    if (*p == '[') return array(p, depth);
    if (*p == '"') return string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return number(p);
}

/* True if line (without its newline) is exactly one JSON object. */
static bool json_object_line(const char *line)
{
    if (*line != '{') return false;
    const char *end = object(line, 0);
    return end != NULL && *end == '\0';
}

static void json_checker_works(void **state)
{
    (void)state;
    assert_true(json_object_line("{\"a\":1,\"b\":\"x\\\"y\",\"c\":[true,null,-1.5e3]}"));
    assert_false(json_object_line("{\"a\":1,}"));
    assert_false(json_object_line("{\"a\":nan}"));
    assert_false(json_object_line("{\"a\":1}{"));
    assert_false(json_object_line("[1]"));
}

/* Split out into lines, check each is an object, count those with needle. */
static int check_json_lines(const char *out, const char *needle, int *matching)
{
    char *copy = strdup(out), *save = NULL;
    int n = 0;
    *matching = 0;
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!json_object_line(line)) fail_msg("not one JSON object: %s", line);
        if (strstr(line, needle)) (*matching)++;
        n++;
    }
    free(copy);
    return n;
}

static void bench_json(const char *tool, const char *impl)
{
    tproc t;
    const char *argv[] = {tools_bin(tool),
                          "--json",
                          "-c",
                          "200",
                          "-W",
                          "10",
                          "-s",
                          "64,4k",
                          "-e",
                          "tcp",
                          "-e",
                          "inproc",
                          "--startup-iterations",
                          "20",
                          NULL};
    int rc = tools_run(&t, argv, NULL, 0, T_MS);
    if (rc != 0) fail_msg("%s exit %d: %s\n%s", tool, rc, t.e.data, t.o.data);
    int ok = 0;
    /* 2 endpoints x (2 sizes x 2 patterns + startup) = 10 objects. */
    assert_int_equal(check_json_lines(t.o.data, "\"ok\":true", &ok), 10);
    assert_int_equal(ok, 10);
    char want[64];
    snprintf(want, sizeof want, "\"impl\":\"%s\"", impl);
    int n;
    check_json_lines(t.o.data, want, &n);
    assert_int_equal(n, 10);
    check_json_lines(t.o.data, "\"pattern\":\"latency\"", &n);
    assert_int_equal(n, 4);
    check_json_lines(t.o.data, "\"lost\":0,", &n);
    assert_int_equal(n, 8);
    check_json_lines(t.o.data, "\"transport\":\"inproc\"", &n);
    assert_int_equal(n, 5);
    /* No progress line: stderr is not a terminal here. */
    assert_string_equal(t.e.data, "");
    tproc_free(&t);
}

static void ipm_bench_json(void **state)
{
    (void)state;
    bench_json("ipm-bench", "ipm");
}

static void zmq_baseline_json(void **state)
{
    (void)state;
    bench_json("zmq-baseline", "zmq");
}

static void ipm_bench_table_and_pubsub(void **state)
{
    (void)state;
    tproc t;
    const char *argv[] = {tools_bin("ipm-bench"),
                          "-S",
                          "ZmqPublisher",
                          "-R",
                          "ZmqSubscriber",
                          "-c",
                          "300",
                          "-s",
                          "1Ki",
                          "-e",
                          "ipc",
                          "-p",
                          "latency,throughput",
                          NULL};
    int rc = tools_run(&t, argv, NULL, 0, T_MS);
    if (rc != 0) fail_msg("exit %d: %s\n%s", rc, t.e.data, t.o.data);
    assert_non_null(strstr(t.o.data, "ZmqPublisher -> ZmqSubscriber"));
    assert_non_null(strstr(t.o.data, "\nthroughput ipc          1 KiB "));
    assert_non_null(strstr(t.o.data, "\nlatency    ipc          1 KiB "));
    tproc_free(&t);
}

static void shm_bench(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/lib/ipm/libipm_ShmSender.so", IPM_BINARY_DIR);
    if (access(path, F_OK) != 0) {
        print_message("ShmSender not built: skipped\n");
        skip();
    }
    tproc t;
    const char *argv[] = {tools_bin("ipm-bench"),
                          "--json",
                          "-S",
                          "ShmSender",
                          "-R",
                          "ShmReceiver",
                          "-e",
                          "shm",
                          "-c",
                          "300",
                          "-s",
                          "64,64k",
                          NULL};
    int rc = tools_run(&t, argv, NULL, 0, T_MS);
    if (rc != 0) fail_msg("exit %d: %s\n%s", rc, t.e.data, t.o.data);
    int ok;
    assert_int_equal(check_json_lines(t.o.data, "\"ok\":true", &ok), 5);
    assert_int_equal(ok, 5);
    tproc_free(&t);
}

static void bench_bad_types(void **state)
{
    (void)state;
    tproc t;
    const char *a1[] = {tools_bin("ipm-bench"), "-S", "NoSuchTransport", NULL};
    assert_int_equal(tools_run(&t, a1, NULL, 0, T_MS), 1);
    assert_non_null(strstr(t.e.data, "--sender-type NoSuchTransport"));
    assert_non_null(strstr(t.e.data, ipm_strerror(IPM_ENOPLUGIN)));
    tproc_free(&t);
    const char *a2[] = {tools_bin("ipm-bench"), "-S", "ZmqReceiver", NULL};
    assert_int_equal(tools_run(&t, a2, NULL, 0, T_MS), 1);
    assert_non_null(strstr(t.e.data, "is not a sender type"));
    tproc_free(&t);
    const char *a3[] = {tools_bin("ipm-bench"), "-s", "64,lots", NULL};
    assert_int_equal(tools_run(&t, a3, NULL, 0, T_MS), 2);
    tproc_free(&t);
    const char *a4[] = {tools_bin("zmq-baseline"), "--strategy", "spin", NULL};
    assert_int_equal(tools_run(&t, a4, NULL, 0, T_MS), 2);
    tproc_free(&t);
    /* An endpoint nobody can bind: the measurement fails with the library's
     * message, and the run exits 1. */
    const char *a5[] = {tools_bin("ipm-bench"),
                        "-e",
                        "tcp://256.1.1.1:5",
                        "-p",
                        "latency",
                        "-s",
                        "64",
                        "-c",
                        "10",
                        NULL};
    assert_int_equal(tools_run(&t, a5, NULL, 0, T_MS), 1);
    assert_non_null(strstr(t.o.data, "FAILED: cannot connect the receiver"));
    assert_non_null(strstr(t.o.data, ipm_strerror(IPM_ECONNECT)));
    tproc_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_checker_works),
        cmocka_unit_test(ipm_bench_json),
        cmocka_unit_test(zmq_baseline_json),
        cmocka_unit_test(ipm_bench_table_and_pubsub),
        cmocka_unit_test(shm_bench),
        cmocka_unit_test(bench_bad_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
