/*
 * Interop with peers that do not speak ipm: a plain C program using only
 * mq_open/mq_send (mq_foreign_sender, built without ipm, opening the queue
 * as the usual example does: O_CREAT, default attributes) reaches an
 * MqReceiver, and each of its messages arrives whole as data with empty
 * metadata, including ones too short for the header and ones that start
 * with the magic but do not hold together. The other way, a plain
 * mq_receive reads MqSender's wire form as docs/mq.md describes it.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "mq_common.h"
#include "mq_util.h"

#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_foreign(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(MQ_FOREIGN_SENDER, argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static long sysctl_or(const char *name, long def)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", name);
    FILE *f = fopen(path, "r");
    long v = def;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = def;
        fclose(f);
    }
    return v;
}

static void expect_data(ipm_receiver *r, const void *data, size_t size)
{
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 5000));
    assert_int_equal(m.size, size);
    assert_memory_equal(m.data, data, size);
    assert_non_null(m.metadata);
    assert_string_equal(m.metadata, "");
    assert_int_equal(m.metadata_size, 0);
    ipm_message_release(&m);
}

static void t_plain_sender_to_receiver(void **st)
{
    (void)st;
    char name[96], q[100];
    ipm_test_unique(name, sizeof name, "plain");
    snprintf(q, sizeof q, "/%s", name);
    ipm_receiver *r;
    IPM_ASSERT_OK(mq_t_receiver(name, NULL, &r));
    /* "\x89IQM" version 1, metadata length 300: not ipm's (over 255). Then
     * the magic with metadata longer than what follows, and a bad version. */
    char *argv[] = {(char *)"mq_foreign_sender",
                    q,
                    (char *)"Hello from the sender!",
                    (char *)"@hex:4142",
                    (char *)"@hex:89495"
                            "14d01002c01",
                    (char *)"@hex:89495"
                            "14d0100050061",
                    (char *)"@hex:89495"
                            "14d0200000078",
                    NULL};
    assert_int_equal(run_foreign(argv), 0);
    expect_data(r, "Hello from the sender!", 23);
    expect_data(r, "AB", 2);
    expect_data(r, "\x89IQM\x01\x00\x2c\x01", 8);
    expect_data(r, "\x89IQM\x01\x00\x05\x00\x61", 9);
    expect_data(r, "\x89IQM\x02\x00\x00\x00\x78", 9);
    ipm_message m;
    assert_int_equal(ipm_receive(r, &m, 0), IPM_ETIMEDOUT);
    ipm_receiver_destroy(r);
    mq_t_cleanup(name);
}

/* A plain program's queue (made by mq_foreign_sender with its O_CREAT and
 * default attributes, before any receiver) is taken over by an MqReceiver
 * asking for those attributes, with the message that waits in it. */
static void t_plain_sender_first(void **st)
{
    (void)st;
    char name[96], q[100];
    ipm_test_unique(name, sizeof name, "plainfirst");
    snprintf(q, sizeof q, "/%s", name);
    char *argv[] = {(char *)"mq_foreign_sender", q, (char *)"early", NULL};
    assert_int_equal(run_foreign(argv), 0);
    long msgsize = sysctl_or("msgsize_default", 8192);
    long msgmax = sysctl_or("msg_default", 10);
    char extra[128];
    snprintf(extra, sizeof extra, "max_messages=%ld; max_message_size=%ld", msgmax,
             msgsize - (long)IPM_MQ_OVERHEAD);
    ipm_receiver *r;
    IPM_ASSERT_OK(mq_t_receiver(name, extra, &r));
    expect_data(r, "early", 6);
    ipm_receiver_destroy(r);
    mq_t_cleanup(name);
}

/* MqSender's wire form, read by a plain mq_receive. */
static void t_sender_to_plain_receiver(void **st)
{
    (void)st;
    char name[96], q[100];
    ipm_test_unique(name, sizeof name, "plainrx");
    snprintf(q, sizeof q, "/%s", name);
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 512};
    mqd_t d = mq_open(q, O_RDONLY | O_CREAT, 0600, &a);
    assert_true(d != (mqd_t)-1);
    ipm_sender *s;
    IPM_ASSERT_OK(mq_t_sender(name, NULL, &s));
    IPM_ASSERT_OK(ipm_send(s, "payload", 7, 1000, "topic"));
    unsigned char buf[512];
    unsigned prio = 99;
    ssize_t n = mq_receive(d, (char *)buf, sizeof buf, &prio);
    assert_int_equal(n, 8 + 7 + 5);
    assert_int_equal(prio, 0);
    assert_memory_equal(buf, "\x89IQM\x01\x00\x05\x00", 8);
    assert_memory_equal(buf + 8, "payload", 7);
    assert_memory_equal(buf + 15, "topic", 5);
    ipm_sender_destroy(s);
    mq_close(d);
    mq_unlink(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_plain_sender_to_receiver),
        cmocka_unit_test(t_plain_sender_first),
        cmocka_unit_test(t_sender_to_plain_receiver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
