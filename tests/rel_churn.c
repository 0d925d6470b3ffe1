/*
 * rel_churn.c — senders and receivers created, connected and destroyed in a
 * loop, as a DAQ run control does across thousands of runs: nothing may
 * grow. After a warm-up, the process's open file descriptors, threads and
 * resident memory are sampled; at the end (after ZeroMQ's asynchronous
 * closes settle) fds and threads must be back at the warm-up level and
 * memory within a small bound.
 *
 * Counts: the issue asks for 10 000. With bind+connect each ZeroMQ cycle
 * costs about 1 ms natively and several under ASan, so the default run
 * (rel_churn) uses 2000 per kind, which finishes in seconds even on a loaded
 * 2-core machine; rel_churn_long (label soak, IPM_SOAK=1) runs the full
 * 10 000 per kind. Both print the time each kind took.
 *
 * Kinds: ZmqReceiver (bind tcp *:0), ZmqSender (connect to a live receiver),
 * ZmqReceiver+ZmqSender over ipc://, ZmqPublisher+ZmqSubscriber over tcp,
 * ShmReceiver, ShmSender (attach to a live receiver) when built, and a
 * shorter run without any other object alive, so that the shared ZeroMQ
 * context itself is created and terminated each time.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define REL_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REL_ASAN_BUILD 1
#endif
#endif
#ifdef REL_ASAN_BUILD
/* A small quarantine, so that freed memory ASan holds back does not look
 * like growth; ASAN_OPTIONS from the environment still override it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16";
}
#endif

#define RSS_BOUND_MIB 24

static int count;     /* cycles per kind */
static bool soak;

typedef bool (*cycle_fn)(int i, void *arg);

/* Run fn count times; sample after the first tenth; check at the end. */
static void churn(const char *what, cycle_fn fn, void *arg, int n)
{
    int warm = n / 10 > 0 ? n / 10 : 1;
    int fd0 = 0, th0 = 0;
    long rss0 = 0;
    double t0 = ipm_test_now_ms();
    for (int i = 0; i < n; i++) {
        if (i == warm) {
            fd0 = rel_fd_count();
            th0 = rel_thread_count();
            rss0 = rel_rss_kib();
        }
        if (!fn(i, arg)) fail_msg("%s, cycle %d: %s", what, i, ipm_last_error());
    }
    double took = ipm_test_now_ms() - t0;
    int fds = rel_settle(rel_fd_count, fd0, 5000);
    int threads = rel_settle(rel_thread_count, th0, 5000);
    long rss = rel_rss_kib();
    printf("[ churn    ] %-34s %6d cycles in %7.0f ms (%.3f ms each); fds %d -> %d, "
           "threads %d -> %d, RSS %ld -> %ld KiB\n",
           what, n, took, took / n, fd0, fds, th0, threads, rss0, rss);
    if (fds > fd0) fail_msg("%s: %d fds leaked", what, fds - fd0);
    if (threads > th0) fail_msg("%s: %d threads leaked", what, threads - th0);
    if ((rss - rss0) / 1024 >= RSS_BOUND_MIB)
        fail_msg("%s: memory grew by %ld MiB", what, (rss - rss0) / 1024);
}

static bool open_receiver(const char *type, const char *endpoint, const char *extra,
                          ipm_receiver **r)
{
    char spec[400];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s%s%s", type, endpoint,
             extra ? "; " : "", extra ? extra : "");
    return ipm_receiver_open(spec, r) == IPM_OK;
}

static bool open_sender(const char *type, const char *endpoint, const char *extra,
                        ipm_sender **s)
{
    char spec[400];
    snprintf(spec, sizeof spec, "type=%s; connection_string=%s%s%s", type, endpoint,
             extra ? "; " : "", extra ? extra : "");
    return ipm_sender_open(spec, s) == IPM_OK;
}

static bool receiver_bind_tcp(int i, void *arg)
{
    (void)i, (void)arg;
    ipm_receiver *r = NULL;
    bool ok = open_receiver("ZmqReceiver", "tcp://127.0.0.1:*", NULL, &r);
    ok = ok && ipm_receiver_endpoint(r) != NULL;
    ipm_receiver_destroy(r);
    return ok;
}

static bool sender_connect(int i, void *arg)
{
    (void)i;
    ipm_sender *s = NULL;
    bool ok = open_sender("ZmqSender", arg, NULL, &s);
    ipm_sender_destroy(s);
    return ok;
}

static bool pair_ipc(int i, void *arg)
{
    (void)i, (void)arg;
    char name[96], ep[160];
    snprintf(ep, sizeof ep, "ipc:///tmp/%s", ipm_test_unique(name, sizeof name, "churn"));
    ipm_receiver *r = NULL;
    ipm_sender *s = NULL;
    bool ok = open_receiver("ZmqReceiver", ep, NULL, &r) && open_sender("ZmqSender", ep, NULL, &s);
    /* Every tenth pair carries a message, so connections really form. */
    if (ok && i % 10 == 0) {
        ipm_message m;
        ok = ipm_send(s, "x", 1, 10000, NULL) == IPM_OK && ipm_receive(r, &m, 10000) == IPM_OK;
        if (ok) ipm_message_release(&m);
    }
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    return ok;
}

static bool pubsub_tcp(int i, void *arg)
{
    (void)i, (void)arg;
    ipm_sender *p = NULL;
    ipm_receiver *r = NULL;
    bool ok = open_sender("ZmqPublisher", "tcp://127.0.0.1:*", NULL, &p) &&
              open_receiver("ZmqSubscriber", ipm_sender_endpoint(p), "topics=", &r);
    ipm_receiver_destroy(r);
    ipm_sender_destroy(p);
    return ok;
}

static bool shm_receiver(int i, void *arg)
{
    (void)i, (void)arg;
    char name[96], ep[160];
    snprintf(ep, sizeof ep, "shm://%s", ipm_test_unique(name, sizeof name, "churn"));
    ipm_receiver *r = NULL;
    bool ok = open_receiver("ShmReceiver", ep, "buffer_size=64Ki", &r);
    ipm_receiver_destroy(r);
    return ok;
}

static bool shm_sender(int i, void *arg)
{
    (void)i;
    ipm_sender *s = NULL;
    bool ok = open_sender("ShmSender", arg, NULL, &s);
    if (ok && i % 10 == 0) ok = ipm_send(s, "x", 1, 10000, NULL) == IPM_OK;
    ipm_sender_destroy(s);
    return ok;
}

static void test_zmq(void **state)
{
    (void)state;
    if (!rel_plugin_available("ZmqSender") || !rel_plugin_available("ZmqReceiver")) skip();
    /* The keeper holds the context, and is what the senders connect to. */
    ipm_receiver *keeper;
    assert_true(open_receiver("ZmqReceiver", "tcp://127.0.0.1:*", NULL, &keeper));
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "%s", ipm_receiver_endpoint(keeper));
    churn("ZmqReceiver bind tcp + destroy", receiver_bind_tcp, NULL, count);
    churn("ZmqSender connect tcp + destroy", sender_connect, endpoint, count);
    churn("ZmqReceiver+ZmqSender ipc", pair_ipc, NULL, count / 2);
    if (rel_plugin_available("ZmqPublisher") && rel_plugin_available("ZmqSubscriber"))
        churn("ZmqPublisher+ZmqSubscriber tcp", pubsub_tcp, NULL, count / 2);
    ipm_receiver_destroy(keeper);
}

static void test_zmq_context(void **state)
{
    (void)state;
    if (!rel_plugin_available("ZmqSender") || !rel_plugin_available("ZmqReceiver")) skip();
    /* Nothing else alive: each cycle creates and terminates the context. */
    churn("ZmqReceiver alone (context churn)", receiver_bind_tcp, NULL, count / 10);
}

static void test_shm(void **state)
{
    (void)state;
    if (!rel_plugin_available("ShmSender") || !rel_plugin_available("ShmReceiver")) skip();
    char name[96], ep[160];
    snprintf(ep, sizeof ep, "shm://%s", ipm_test_unique(name, sizeof name, "churnkeep"));
    ipm_receiver *keeper;
    assert_true(open_receiver("ShmReceiver", ep, "buffer_size=64Ki", &keeper));
    churn("ShmReceiver create + destroy", shm_receiver, NULL, count);
    churn("ShmSender attach + destroy", shm_sender, ep, count);
    ipm_receiver_destroy(keeper);
}

int main(void)
{
    soak = getenv("IPM_REL_SOAK_MODE") != NULL;
    if (soak && !(getenv("IPM_SOAK") && strcmp(getenv("IPM_SOAK"), "1") == 0)) {
        printf("rel_churn_long: the 10 000-cycle soak; set IPM_SOAK=1 to run it\n");
        return 77;
    }
    count = (int)rel_env_count("IPM_CHURN_COUNT", soak ? 10000 : 2000);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zmq),
        cmocka_unit_test(test_zmq_context),
        cmocka_unit_test(test_shm),
    };
    return cmocka_run_group_tests_name(soak ? "rel_churn_long" : "rel_churn", tests, NULL,
                                       NULL);
}
