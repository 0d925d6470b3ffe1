/*
 * nng and fork(): libnng aborts a child that uses it after its parent did
 * ("nng is not fork-reentrant safe"). The family refuses instead, with
 * IPM_ESTATE and a message saying what to do; objects inherited by such a
 * child are destroyed without an nng call. A child of a parent that never
 * used nng may use it, as users must arrange (create after the fork).
 */
#define _GNU_SOURCE
#include "nng_util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipm/plugin.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

/* In the child: every nng entry point of the family refuses; inherited
 * objects are refused and destroyed without aborting. Exit 0 on success,
 * 1..9 naming the failed check. */
typedef struct inherited {
    ipm_sender *s;
    ipm_message held; /* received before the fork, released in the child */
} inherited;

static int child_after_use(void *arg)
{
    inherited *in = arg;
    ipm_sender *old = in->s;
    ipm_sender *s;
    if (ipm_sender_create("NngSender", &s) != IPM_ESTATE) return 1;
    if (strstr(ipm_last_error(), "forked from one that already used it") == NULL)
        return 2;
    ipm_receiver *r;
    if (ipm_receiver_create("NngReceiver", &r) != IPM_ESTATE) return 3;
    if (ipm_subscriber_create("NngSubscriber", &r) != IPM_ESTATE) return 4;
    if (ipm_send(old, "x", 1, 100, NULL) != IPM_ESTATE) return 5;
    ipm_sender_destroy(old);
    if (in->held.size != 1 || memcmp(in->held.data, "h", 1) != 0) return 9;
    ipm_message_release(&in->held);
    /* The check op makes no nng call that would abort. */
    const ipm_plugin *d;
    if (ipm_plugin_load("NngReceiver", &d) != IPM_OK) return 6;
    ipm_params *p;
    if (ipm_params_parse("tcp://127.0.0.1:0", &p) != IPM_OK) return 7;
    ipm_status st = d->ops->check(p);
    ipm_params_free(p);
    return st == IPM_OK ? 0 : 8;
}

static void test_child_after_parent_used_nng(void **state)
{
    (void)state;
    ipm_receiver *r;
    ipm_sender *s;
    nt_pair("tcp://127.0.0.1:0", NULL, NULL, &s, &r);
    IPM_ASSERT_OK(ipm_send(s, "h", 1, 5000, NULL));
    inherited in = {.s = s};
    IPM_ASSERT_OK(ipm_receive(r, &in.held, 5000));
    IPM_ASSERT_OK(ipm_send(s, "a", 1, 5000, NULL));
    pid_t pid = ipm_test_fork(child_after_use, &in);
    int rc = ipm_test_wait(pid, 30000);
    if (rc != 0) fail_msg("child failed check %d (134 = aborted by libnng)", rc);
    ipm_message_release(&in.held);
    /* The parent's objects are unharmed. */
    nt_expect(r, 5000, "a", 1, "");
    IPM_ASSERT_OK(ipm_send(s, "b", 1, 5000, NULL));
    nt_expect(r, 5000, "b", 1, "");
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* A grandchild of a child that used nng is refused too. */
static int grandchild_check(void *arg)
{
    (void)arg;
    ipm_sender *s;
    return ipm_sender_create("NngPublisher", &s) == IPM_ESTATE ? 0 : 1;
}

/* A child whose parent never used nng (only loaded the plugins) uses it:
 * objects made after the fork work, across processes. */
static int child_fresh(void *arg)
{
    const char *ep = arg;
    ipm_sender *s;
    if (ipm_sender_create("NngSender", &s) != IPM_OK) return 1;
    ipm_params *p;
    if (ipm_params_parse(ep, &p) != IPM_OK) return 2;
    ipm_status st = ipm_sender_connect(s, p);
    ipm_params_free(p);
    if (st != IPM_OK) return 3;
    if (ipm_send(s, "from child", 10, 10000, "c") != IPM_OK) return 4;
    ipm_sender_destroy(s);
    pid_t pid = ipm_test_fork(grandchild_check, NULL);
    return ipm_test_wait(pid, 10000) == 0 ? 0 : 5;
}

static int child_receiver(void *arg)
{
    const char *ep = arg;
    ipm_receiver *r;
    if (ipm_receiver_create("NngReceiver", &r) != IPM_OK) return 1;
    ipm_params *p;
    if (ipm_params_parse(ep, &p) != IPM_OK) return 2;
    ipm_status st = ipm_receiver_connect(r, p);
    ipm_params_free(p);
    if (st != IPM_OK) return 3;
    ipm_message m;
    if (ipm_receive(r, &m, 20000) != IPM_OK) return 4;
    bool ok = m.size == 10 && memcmp(m.data, "from child", 10) == 0 &&
              strcmp(m.metadata, "c") == 0;
    ipm_message_release(&m);
    ipm_receiver_destroy(r);
    return ok ? 0 : 5;
}

static void test_children_of_an_unused_parent(void **state)
{
    (void)state;
    const ipm_plugin *d;
    IPM_ASSERT_OK(ipm_plugin_load("NngSender", &d));
    IPM_ASSERT_OK(ipm_plugin_load("NngReceiver", &d));
    char ep[128];
    nt_free_tcp(ep, sizeof ep, "tcp");
    pid_t rx = ipm_test_fork(child_receiver, ep);
    pid_t tx = ipm_test_fork(child_fresh, ep);
    int trc = ipm_test_wait(tx, 30000);
    int rrc = ipm_test_wait(rx, 30000);
    if (trc != 0 || rrc != 0) fail_msg("sender child %d, receiver child %d", trc, rrc);
}

/* nng used by the application itself (not through ipm) before the fork is
 * seen too: its threads are there at the fork. */
static int child_after_foreign_use(void *arg)
{
    (void)arg;
    ipm_receiver *r;
    if (ipm_receiver_create("NngReceiver", &r) != IPM_ESTATE) return 1;
    return 0;
}

static void test_child_after_foreign_nng_use(void **state)
{
    (void)state;
    /* This test runs in its own process, so ipm has not used nng here. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const ipm_plugin *d;
        if (ipm_plugin_load("NngReceiver", &d) != IPM_OK) _exit(10);
        nng_socket raw;
        if (nng_push0_open(&raw) != 0) _exit(11);
        pid_t c = ipm_test_fork(child_after_foreign_use, NULL);
        _exit(ipm_test_wait(c, 20000));
    }
    int rc = ipm_test_wait(pid, 30000);
    if (rc != 0) fail_msg("check failed: %d (134 = aborted by libnng)", rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* Before any nng use in this process. */
        cmocka_unit_test(test_children_of_an_unused_parent),
        cmocka_unit_test(test_child_after_foreign_nng_use),
        cmocka_unit_test(test_child_after_parent_used_nng),
    };
    return nt_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
