/*
 * tools_sendrecv.c — ipm-send and ipm-recv as a user runs them from two
 * shells: real processes, real sockets and shared memory, checked on what
 * they print and how they exit.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "tools_proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T_MS 20000 /* generous: the machine may be loaded */

/* Start ipm-recv with extra args and CONNECTION; wait for its ready line and
 * copy the endpoint it reports into ep. */
static void start_recv(tproc *p, const char *const *args, const char *conn, char *ep,
                       size_t cap)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = tools_bin("ipm-recv");
    for (; args && *args; args++)
        argv[n++] = *args;
    argv[n++] = conn;
    argv[n] = NULL;
    assert_int_equal(tproc_start(p, argv), 0);
    const char *at = tproc_wait_err(p, "ready on ", T_MS);
    if (at == NULL) fail_msg("ipm-recv did not get ready; stderr: %s", p->e.data);
    size_t len = strcspn(at, "\n");
    snprintf(ep, cap, "%.*s", (int)len, at);
}

static int send_tool(tproc *s, const char *const *args, const char *conn,
                     const char *input)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = tools_bin("ipm-send");
    for (; args && *args; args++)
        argv[n++] = *args;
    argv[n++] = conn;
    argv[n] = NULL;
    return tools_run(s, argv, input, input ? strlen(input) : 0, T_MS);
}

static void round_trip(const char *recv_conn, const char *send_type)
{
    tproc r, s;
    char ep[512], conn[700];
    const char *rargs[] = {"-c", "3", "-w", "20s", NULL};
    start_recv(&r, rargs, recv_conn, ep, sizeof ep);
    snprintf(conn, sizeof conn, "type=%s; connection_string=%s", send_type, ep);
    const char *sargs[] = {"-m", "first", "-m", "sec ond", "-T", "tp", "-m", "", NULL};
    int rc = send_tool(&s, sargs, conn, NULL);
    if (rc != 0) fail_msg("ipm-send exit %d: %s", rc, s.e.data);
    rc = tproc_finish(&r, T_MS);
    if (rc != 0) fail_msg("ipm-recv exit %d: %s", rc, r.e.data);
    assert_string_equal(r.o.data, "#1 [tp] 5 B: first\n"
                                  "#2 [tp] 7 B: sec ond\n"
                                  "#3 [tp] 0 B: \n");
    tproc_free(&r);
    tproc_free(&s);
}

static void tcp_round_trip(void **state)
{
    (void)state;
    round_trip("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", "ZmqSender");
}

static void ipc_round_trip(void **state)
{
    (void)state;
    char name[128], conn[256];
    ipm_test_unique(name, sizeof name, "tools-ipc");
    snprintf(conn, sizeof conn, "type=ZmqReceiver; connection_string=ipc:///tmp/%s",
             name);
    round_trip(conn, "ZmqSender");
}

static bool plugin_built(const char *type)
{
    char path[512];
    snprintf(path, sizeof path, "%s/lib/ipm/libipm_%s.so", IPM_BINARY_DIR, type);
    return access(path, F_OK) == 0;
}

static void shm_round_trip(void **state)
{
    (void)state;
    if (!plugin_built("ShmSender") || !plugin_built("ShmReceiver")) {
        print_message("ShmSender/ShmReceiver not built: skipped\n");
        skip();
    }
    char name[128], conn[256];
    ipm_test_unique(name, sizeof name, "tools-shm");
    snprintf(conn, sizeof conn, "type=ShmReceiver; connection_string=shm://%s", name);
    round_trip(conn, "ShmSender");
}

/* stdin lines in, --lines out: the bytes come back unchanged, over a bare
 * endpoint with the default types. */
static void stdin_lines_and_default_types(void **state)
{
    (void)state;
    char name[128], conn[256], ep[512];
    ipm_test_unique(name, sizeof name, "tools-lines");
    snprintf(conn, sizeof conn, "ipc:///tmp/%s", name);
    tproc r, s;
    const char *rargs[] = {"--lines", "-c", "4", "-w", "20s", NULL};
    start_recv(&r, rargs, conn, ep, sizeof ep);
    const char *text = "alpha\n\tbeta\n\ngamma with spaces\n";
    int rc = send_tool(&s, NULL, conn, text);
    if (rc != 0) fail_msg("ipm-send exit %d: %s", rc, s.e.data);
    assert_int_equal(tproc_finish(&r, T_MS), 0);
    assert_string_equal(r.o.data, text);
    assert_non_null(strstr(r.e.data, "ZmqReceiver ready on"));
    tproc_free(&r);
    tproc_free(&s);
}

/* --raw: a binary file (every byte value) arrives byte for byte. */
static void raw_binary_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ipm-tools-raw-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unsigned char bytes[1024];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 7 + 3);
    assert_int_equal(write(fd, bytes, sizeof bytes), (ssize_t)sizeof bytes);
    close(fd);

    tproc r, s;
    char ep[512], conn[600];
    const char *rargs[] = {"--raw", "-c", "1", "-w", "20s", NULL};
    start_recv(&r, rargs, "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", ep,
               sizeof ep);
    snprintf(conn, sizeof conn, "type=ZmqSender; connection_string=%s", ep);
    const char *sargs[] = {"-f", path, NULL};
    int rc = send_tool(&s, sargs, conn, NULL);
    if (rc != 0) fail_msg("ipm-send exit %d: %s", rc, s.e.data);
    assert_int_equal(tproc_finish(&r, T_MS), 0);
    assert_int_equal(r.o.len, sizeof bytes);
    assert_memory_equal(r.o.data, bytes, sizeof bytes);
    unlink(path);
    tproc_free(&r);
    tproc_free(&s);
}

static void hex_output(void **state)
{
    (void)state;
    tproc r, s;
    char ep[512], conn[600];
    const char *rargs[] = {"--hex", "-c", "1", "-w", "20s", NULL};
    start_recv(&r, rargs, "type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", ep,
               sizeof ep);
    snprintf(conn, sizeof conn, "type=ZmqSender; connection_string=%s", ep);
    const char *sargs[] = {"-m", "hello\x01world!!!!!!+", NULL};
    assert_int_equal(send_tool(&s, sargs, conn, NULL), 0);
    assert_int_equal(tproc_finish(&r, T_MS), 0);
    assert_string_equal(r.o.data,
                        "#1 18 B:\n"
                        "  00000000  68 65 6c 6c 6f 01 77 6f  72 6c 64 21 21 21 21 21  "
                        "|hello.world!!!!!|\n"
                        "  00000010  21 2b                                             "
                        "|!+|\n");
    tproc_free(&r);
    tproc_free(&s);
}

/* A connection from an INI file section, for both tools. */
static void ini_sections(void **state)
{
    (void)state;
    char name[128], path[] = "/tmp/ipm-tools-ini-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    ipm_test_unique(name, sizeof name, "tools-ini");
    FILE *f = fdopen(fd, "w");
    fprintf(f,
            "[from_daq]\ntype = ZmqReceiver\nconnection_string = ipc:///tmp/%s\n\n"
            "[to_daq]\ntype = ZmqSender\nconnection_string = ipc:///tmp/%s\n",
            name, name);
    fclose(f);
    char rconn[256], sconn[256], ep[512];
    snprintf(rconn, sizeof rconn, "%s:from_daq", path);
    snprintf(sconn, sizeof sconn, "%s:to_daq", path);
    tproc r, s;
    const char *rargs[] = {"-c", "1", "-w", "20s", NULL};
    start_recv(&r, rargs, rconn, ep, sizeof ep);
    const char *sargs[] = {"-m", "from a file", NULL};
    int rc = send_tool(&s, sargs, sconn, NULL);
    if (rc != 0) fail_msg("ipm-send exit %d: %s", rc, s.e.data);
    assert_int_equal(tproc_finish(&r, T_MS), 0);
    assert_string_equal(r.o.data, "#1 11 B: from a file\n");
    unlink(path);
    tproc_free(&r);
    tproc_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_round_trip),
        cmocka_unit_test(ipc_round_trip),
        cmocka_unit_test(shm_round_trip),
        cmocka_unit_test(stdin_lines_and_default_types),
        cmocka_unit_test(raw_binary_file),
        cmocka_unit_test(hex_output),
        cmocka_unit_test(ini_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
