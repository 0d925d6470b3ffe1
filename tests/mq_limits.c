/*
 * The kernel's limits on POSIX queues, each a clear IPM_ECONNECT naming the
 * sysctl or ulimit to raise, its current value and what was asked:
 * fs.mqueue.msg_max, fs.mqueue.msgsize_max, fs.mqueue.queues_max and
 * RLIMIT_MSGQUEUE. Each runs in a forked child that (as root) first moves
 * into an IPC namespace of its own, so that the machine's queues and
 * sysctls are not touched, and then becomes 'nobody': CAP_SYS_RESOURCE
 * would lift msg_max, msgsize_max and queues_max.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "mq_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define SKIP 77

typedef struct limit_case {
    char kind; /* 'm' msg_max, 's' msgsize_max, 'q' queues_max, 'r' rlimit */
    char name[96];
} limit_case;

static long sysctl_read(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", name);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

static bool sysctl_write(const char *name, long v)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", name);
    FILE *f = fopen(path, "w");
    if (!f) return false;
    bool ok = fprintf(f, "%ld\n", v) > 0;
    return fclose(f) == 0 && ok;
}

/* 0: refused with every needle in the message; else a code, and why. */
static int expect(ipm_status st, const char *n1, const char *n2)
{
    const char *e = ipm_last_error();
    if (st != IPM_ECONNECT || strstr(e, n1) == NULL || strstr(e, n2) == NULL) {
        printf("status %s, message '%s', wanted '%s' and '%s'\n", ipm_strerror(st), e, n1,
               n2);
        fflush(stdout);
        return 1;
    }
    printf("as expected: %s\n", e);
    fflush(stdout);
    return 0;
}

static int limit_child(void *arg)
{
    limit_case *c = arg;
    bool own_ns = geteuid() == 0 && unshare(CLONE_NEWIPC) == 0;
    if (c->kind == 'q') {
        /* Needs a namespace of its own: the machine's queue count is shared. */
        if (!own_ns || !sysctl_write("queues_max", 1)) return SKIP;
    }
    if (!mq_t_drop_privileges()) return 2;
    char extra[128], n1[128], n2[128];
    ipm_receiver *r = NULL;
    ipm_status st;
    switch (c->kind) {
    case 'm': {
        long max = sysctl_read("msg_max");
        snprintf(extra, sizeof extra, "max_messages=%ld", max + 1);
        snprintf(n1, sizeof n1, "fs.mqueue.msg_max, which is %ld", max);
        snprintf(n2, sizeof n2, "max_messages=%ld", max + 1);
        st = mq_t_receiver(c->name, extra, &r);
        break;
    }
    case 's': {
        long max = sysctl_read("msgsize_max");
        snprintf(extra, sizeof extra, "max_message_size=%ld; max_messages=1", max);
        snprintf(n1, sizeof n1, "fs.mqueue.msgsize_max, which is %ld", max);
        snprintf(n2, sizeof n2, "lower max_message_size to %ld", max - 263);
        st = mq_t_receiver(c->name, extra, &r);
        break;
    }
    case 'q': {
        ipm_receiver *first;
        if (mq_t_receiver(c->name, "max_messages=1; max_message_size=16", &first) !=
            IPM_OK) {
            printf("first queue: %s\n", ipm_last_error());
            return 3;
        }
        char other[128];
        snprintf(other, sizeof other, "%s-2", c->name);
        st = mq_t_receiver(other, "max_messages=1; max_message_size=16", &r);
        snprintf(n1, sizeof n1, "fs.mqueue.queues_max (1)");
        snprintf(n2, sizeof n2, "sysctl -w fs.mqueue.queues_max=");
        ipm_receiver_destroy(first);
        break;
    }
    default: {
        struct rlimit rl = {4096, 4096};
        if (setrlimit(RLIMIT_MSGQUEUE, &rl) != 0) return 4;
        st = mq_t_receiver(c->name, "max_messages=10; max_message_size=4Ki", &r);
        snprintf(n1, sizeof n1, "RLIMIT_MSGQUEUE (ulimit -q) is 4096 bytes");
        snprintf(n2, sizeof n2, "max_messages=10 x message size 4359");
        break;
    }
    }
    if (r) {
        printf("receiver connected, expected a refusal\n");
        ipm_receiver_destroy(r);
        return 5;
    }
    return expect(st, n1, n2);
}

static void run_case(char kind)
{
    limit_case c = {.kind = kind};
    ipm_test_unique(c.name, sizeof c.name, "limit");
    int rc = ipm_test_wait(ipm_test_fork(limit_child, &c), 30000);
    mq_t_cleanup(c.name);
    if (rc == SKIP) {
        print_message("skipped: needs root and a new IPC namespace (unshare)\n");
        return;
    }
    assert_int_equal(rc, 0);
}

static void t_msg_max(void **st)
{
    (void)st;
    run_case('m');
}

static void t_msgsize_max(void **st)
{
    (void)st;
    run_case('s');
}

static void t_queues_max(void **st)
{
    (void)st;
    run_case('q');
}

static void t_rlimit_msgqueue(void **st)
{
    (void)st;
    run_case('r');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_msg_max),
        cmocka_unit_test(t_msgsize_max),
        cmocka_unit_test(t_queues_max),
        cmocka_unit_test(t_rlimit_msgqueue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
