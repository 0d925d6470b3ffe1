/*
 * The ZeroMQ context shared by the Zmq plugins: its parameters from the
 * environment and the INI [ipm] section, their errors, and the socket limit.
 * Each test starts with no Zmq object alive, so that the next create makes
 * a new context from the current settings.
 */
#define _GNU_SOURCE
#include "zmq_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void exchange_one(void)
{
    ipm_sender *s;
    ipm_receiver *r;
    zt_tcp_pair(&s, &r);
    IPM_ASSERT_OK(ipm_send(s, "ctx", 3, 5000, NULL));
    zt_expect(r, 5000, "ctx", 3, "");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

static void test_env_io_threads(void **state)
{
    (void)state;
    setenv("IPM_ZMQ_IO_THREADS", "2", 1);
    exchange_one();
    unsetenv("IPM_ZMQ_IO_THREADS");
}

static void test_env_invalid_values(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"IPM_ZMQ_IO_THREADS", "two"}, {"IPM_ZMQ_IO_THREADS", "0"},
        {"IPM_ZMQ_IO_THREADS", "4x"},  {"IPM_ZMQ_MAX_SOCKETS", "-5"},
        {"IPM_ZMQ_MAX_SOCKETS", ""},   {"IPM_ZMQ_MAX_SOCKETS", "99999999999"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        ipm_sender *s = (ipm_sender *)&s;
        IPM_ASSERT_ERR(ipm_sender_create("ZmqSender", &s), IPM_ECONFIG, bad[i][0]);
        assert_null(s);
        ipm_receiver *r;
        IPM_ASSERT_ERR(ipm_subscriber_create("ZmqSubscriber", &r), IPM_ECONFIG,
                       bad[i][0]);
        unsetenv(bad[i][0]);
    }
    exchange_one(); /* fine again once the variables are gone */
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_ini_settings(void **state)
{
    (void)state;
    char name[128], path[200];
    snprintf(path, sizeof path, "/tmp/%s.ini", ipm_test_unique(name, sizeof name, "ctx"));
    ipm_config *cfg;

    write_file(path, "[ipm]\nzmq_io_threads = lots\n");
    IPM_ASSERT_OK(ipm_config_load(path, &cfg));
    ipm_receiver *r;
    IPM_ASSERT_ERR(ipm_receiver_create("ZmqReceiver", &r), IPM_ECONFIG, "zmq_io_threads");
    /* The environment overrides the file. */
    setenv("IPM_ZMQ_IO_THREADS", "1", 1);
    IPM_ASSERT_OK(ipm_receiver_create("ZmqReceiver", &r));
    ipm_receiver_destroy(r);
    unsetenv("IPM_ZMQ_IO_THREADS");
    ipm_config_free(cfg);

    write_file(path, "[ipm]\nzmq_io_threads = 2\nzmq_max_sockets = 0\n");
    IPM_ASSERT_OK(ipm_config_load(path, &cfg));
    IPM_ASSERT_ERR(ipm_receiver_create("ZmqReceiver", &r), IPM_ECONFIG,
                   "zmq_max_sockets");
    ipm_config_free(cfg);

    /* Good values: settings persist process-wide after the config is freed. */
    write_file(path, "[ipm]\nzmq_io_threads = 2\nzmq_max_sockets = 2000\n");
    IPM_ASSERT_OK(ipm_config_load(path, &cfg));
    ipm_config_free(cfg);
    exchange_one();
    unlink(path);
}

/* DAQ processes hold thousands of sockets: ZeroMQ's own default is 1023,
 * ours is 16384. Needs enough file descriptors (each socket has one). */
static void test_more_than_1023_sockets(void **state)
{
    (void)state;
    enum { N = 1500 };
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < N + 200) {
        rl.rlim_cur = rl.rlim_max < N + 200 ? rl.rlim_max : N + 200;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < N + 200) {
        printf("[ skipped  ] file limit %lu is too low for %d sockets\n",
               (unsigned long)rl.rlim_cur, N);
        skip();
    }
    /* The [ipm] settings of the previous test persist: the environment
     * overrides them with the default. */
    setenv("IPM_ZMQ_MAX_SOCKETS", "16384", 1);
    static ipm_sender *s[N];
    for (int i = 0; i < N; i++)
        IPM_ASSERT_OK(ipm_sender_create("ZmqPublisher", &s[i]));
    for (int i = 0; i < N; i++)
        ipm_sender_destroy(s[i]);
    unsetenv("IPM_ZMQ_MAX_SOCKETS");

    /* And a limit set lower is enforced, with a message that says what to do. */
    setenv("IPM_ZMQ_MAX_SOCKETS", "10", 1);
    int made = 0;
    ipm_status st = IPM_OK;
    while (made < 100 && (st = ipm_sender_create("ZmqPublisher", &s[made])) == IPM_OK)
        made++;
    assert_int_equal(st, IPM_ESYS);
    assert_non_null(strstr(ipm_last_error(), "IPM_ZMQ_MAX_SOCKETS"));
    assert_in_range(made, 1, 10);
    for (int i = 0; i < made; i++)
        ipm_sender_destroy(s[i]);
    unsetenv("IPM_ZMQ_MAX_SOCKETS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_io_threads),
        cmocka_unit_test(test_env_invalid_values),
        cmocka_unit_test(test_ini_settings),
        cmocka_unit_test(test_more_than_1023_sockets),
    };
    return cmocka_run_group_tests_name("zmq_context", tests, NULL, NULL);
}
