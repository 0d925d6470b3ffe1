/*
 * MqSender/MqReceiver in one process: the contract of API.md §3 on a POSIX
 * queue (state, NULL data, empty messages, metadata round trip and its
 * limit, sizes up to the stated limit and ETOOBIG one past, timeouts and
 * waking on arrival), the keys (permissions, check without creating), and
 * the ownership rule (destroy removes the queue, keep_queue keeps it, a
 * second receiver is refused, a queue with messages and other attributes is
 * refused, an empty one replaced). Cross-process behaviour: mq_process.c.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "mq_util.h"

#include <fcntl.h>
#include <ipm/plugin.h>
#include <mqueue.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct pair {
    char name[96];
    ipm_sender *tx;
    ipm_receiver *rx;
} pair;

static void open_pair(pair *p, const char *tag, const char *rx_extra)
{
    ipm_test_unique(p->name, sizeof p->name, tag);
    IPM_ASSERT_OK(mq_t_receiver(p->name, rx_extra, &p->rx));
    IPM_ASSERT_OK(mq_t_sender(p->name, NULL, &p->tx));
}

static void close_pair(pair *p)
{
    ipm_sender_destroy(p->tx);
    ipm_receiver_destroy(p->rx);
    mq_t_cleanup(p->name);
}

static void t_state_and_null(void **st)
{
    (void)st;
    ipm_sender *s;
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_sender_create("MqSender", &s));
    IPM_ASSERT_OK(ipm_receiver_create("MqReceiver", &r));
    assert_false(ipm_sender_can_send(s));
    assert_int_equal(ipm_send(s, "x", 1, 100, NULL), IPM_ESTATE);
    ipm_message m;
    assert_int_equal(ipm_receive(r, &m, 10), IPM_ESTATE);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);

    pair p;
    open_pair(&p, "null", NULL);
    assert_int_equal(ipm_send(p.tx, NULL, 5, 100, NULL), IPM_EINVAL);
    close_pair(&p);
}

static void t_empty_and_metadata(void **st)
{
    (void)st;
    pair p;
    open_pair(&p, "meta", NULL);
    ipm_limits lim;
    IPM_ASSERT_OK(ipm_sender_limits(p.tx, &lim));
    assert_int_equal(lim.max_metadata_size, 255);

    char meta[257];
    memset(meta, 'm', 255);
    meta[255] = '\0';
    IPM_ASSERT_OK(ipm_send(p.tx, NULL, 0, 1000, "tp"));
    IPM_ASSERT_OK(ipm_send(p.tx, "abc", 3, 1000, meta));
    IPM_ASSERT_OK(ipm_send(p.tx, "xyz", 3, 1000, NULL));
    meta[255] = 'm';
    meta[256] = '\0';
    IPM_ASSERT_ERR(ipm_send(p.tx, "abc", 3, 1000, meta), IPM_ETOOBIG, "255");

    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(p.rx, &m, 1000));
    assert_int_equal(m.size, 0);
    assert_string_equal(m.metadata, "tp");
    assert_int_equal(m.metadata_size, 2);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_receive(p.rx, &m, 1000));
    assert_int_equal(m.size, 3);
    assert_memory_equal(m.data, "abc", 3);
    assert_int_equal(m.metadata_size, 255);
    assert_int_equal(strlen(m.metadata), 255);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_receive(p.rx, &m, 1000));
    assert_string_equal(m.metadata, "");
    assert_memory_equal(m.data, "xyz", 3);
    ipm_message_release(&m);
    /* Nothing of the refused message went out. */
    assert_int_equal(ipm_receive(p.rx, &m, 0), IPM_ETIMEDOUT);
    close_pair(&p);
}

static void t_sizes(void **st)
{
    (void)st;
    pair p;
    open_pair(&p, "size", "max_message_size=1000; max_messages=4");
    ipm_limits lim;
    IPM_ASSERT_OK(ipm_sender_limits(p.tx, &lim));
    assert_int_equal(lim.max_message_size, 1000);
    IPM_ASSERT_OK(ipm_receiver_limits(p.rx, &lim));
    assert_int_equal(lim.max_message_size, 1000);
    assert_true(lim.features & IPM_FEATURE_FAN_IN);
    assert_true(lim.features & IPM_FEATURE_CROSS_PROCESS);

    unsigned char buf[1001];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7);
    char meta[256];
    memset(meta, 'k', 255);
    meta[255] = '\0';
    IPM_ASSERT_OK(
        ipm_send(p.tx, buf, 1000, 1000, meta)); /* the limit, with full metadata */
    IPM_ASSERT_ERR(ipm_send(p.tx, buf, 1001, 1000, NULL), IPM_ETOOBIG,
                   "1000 bytes at most");
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive_exact(p.rx, &m, 1000, 1000));
    assert_memory_equal(m.data, buf, 1000);
    assert_int_equal(m.metadata_size, 255);
    ipm_message_release(&m);
    assert_int_equal(ipm_receive(p.rx, &m, 0), IPM_ETIMEDOUT);
    close_pair(&p);
}

/* Best of three: a loaded machine may oversleep once. */
static void t_timeouts(void **st)
{
    (void)st;
    pair p;
    open_pair(&p, "tmo", "max_messages=2; max_message_size=64");
    ipm_message m;
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        double t0 = ipm_test_now_ms();
        assert_int_equal(ipm_receive(p.rx, &m, 100), IPM_ETIMEDOUT);
        double dt = ipm_test_now_ms() - t0;
        assert_true(dt >= 100.0);
        if (dt < best) best = dt;
    }
    if (best > 120.0) fail_msg("receive timeout of 100 ms took %.1f ms", best);
    double t0 = ipm_test_now_ms();
    assert_int_equal(ipm_receive(p.rx, &m, IPM_NO_BLOCK), IPM_ETIMEDOUT);
    assert_true(ipm_test_now_ms() - t0 < 20.0);

    IPM_ASSERT_OK(ipm_send(p.tx, "1", 1, 100, NULL));
    IPM_ASSERT_OK(ipm_send(p.tx, "2", 1, 100, NULL));
    IPM_ASSERT_ERR(ipm_send(p.tx, "3", 1, IPM_NO_BLOCK, NULL), IPM_ETIMEDOUT, "full");
    best = 1e9;
    for (int i = 0; i < 3; i++) {
        t0 = ipm_test_now_ms();
        IPM_ASSERT_ERR(ipm_send(p.tx, "3", 1, 150, NULL), IPM_ETIMEDOUT, "full");
        double dt = ipm_test_now_ms() - t0;
        assert_true(dt >= 150.0);
        if (dt < best) best = dt;
    }
    if (best > 170.0) fail_msg("send timeout of 150 ms took %.1f ms", best);
    for (int i = 1; i <= 2; i++) {
        IPM_ASSERT_OK(ipm_receive(p.rx, &m, 100));
        assert_int_equal(((const char *)m.data)[0], '0' + i);
        ipm_message_release(&m);
    }
    assert_int_equal(ipm_receive(p.rx, &m, 0), IPM_ETIMEDOUT);
    close_pair(&p);
}

typedef struct delayed {
    ipm_sender *tx;
    int delay_ms;
    double sent_at;
    const char *name; /* when set: create the receiver late instead */
    ipm_receiver *rx;
} delayed;

static void *send_later(void *arg)
{
    delayed *d = arg;
    mq_t_sleep_ms(d->delay_ms);
    d->sent_at = ipm_test_now_ms();
    ipm_send(d->tx, "w", 1, 1000, "wake");
    return NULL;
}

static void t_wake_on_arrival(void **st)
{
    (void)st;
    pair p;
    open_pair(&p, "wake", NULL);
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        delayed d = {.tx = p.tx, .delay_ms = 50};
        pthread_t th;
        pthread_create(&th, NULL, send_later, &d);
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(p.rx, &m, 5000));
        double late = ipm_test_now_ms() - d.sent_at;
        pthread_join(th, NULL);
        assert_string_equal(m.metadata, "wake");
        ipm_message_release(&m);
        if (late < best) best = late;
    }
    if (best > 10.0) fail_msg("a waiting receive woke %.1f ms after the send", best);
    close_pair(&p);
}

static void *receiver_later(void *arg)
{
    delayed *d = arg;
    mq_t_sleep_ms(d->delay_ms);
    mq_t_receiver(d->name, NULL, &d->rx);
    return NULL;
}

/* A sender connected before its receiver waits for the queue (woken by the
 * receiver's lock file) and delivers. */
static void t_sender_first(void **st)
{
    (void)st;
    char name[96];
    ipm_test_unique(name, sizeof name, "first");
    ipm_sender *tx;
    IPM_ASSERT_OK(mq_t_sender(name, NULL, &tx));
    IPM_ASSERT_ERR(ipm_send(tx, "a", 1, 50, NULL), IPM_ETIMEDOUT, "no queue");
    delayed d = {.delay_ms = 100, .name = name};
    pthread_t th;
    pthread_create(&th, NULL, receiver_later, &d);
    double t0 = ipm_test_now_ms();
    IPM_ASSERT_OK(ipm_send(tx, "b", 1, 5000, "first"));
    double dt = ipm_test_now_ms() - t0;
    pthread_join(th, NULL);
    assert_non_null(d.rx);
    assert_true(dt < 1000.0);
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(d.rx, &m, 1000));
    assert_memory_equal(m.data, "b", 1);
    ipm_message_release(&m);
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(d.rx);
    mq_t_cleanup(name);
}

static void t_permissions(void **st)
{
    (void)st;
    pair p;
    open_pair(&p, "perm", "permissions=0640");
    unsigned mode = 0;
    assert_true(mq_t_exists(p.name, &mode));
    assert_int_equal(mode, 0640);
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/.ipm-mq.%s.lock", p.name);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    close_pair(&p);

    char name[96];
    ipm_test_unique(name, sizeof name, "perm-bad");
    ipm_receiver *r;
    IPM_ASSERT_ERR(mq_t_receiver(name, "permissions=0400", &r), IPM_ECONFIG,
                   "permissions");
    IPM_ASSERT_ERR(mq_t_receiver(name, "permissions=abc", &r), IPM_ECONFIG,
                   "permissions");
    IPM_ASSERT_ERR(mq_t_receiver(name, "max_messages=0", &r), IPM_ECONFIG,
                   "max_messages");
    IPM_ASSERT_ERR(mq_t_receiver(name, "max_message_size=big", &r), IPM_ECONFIG,
                   "max_message_size");
    assert_false(mq_t_exists(name, NULL));
}

/* The check op validates keys and the name, and creates nothing. */
static void t_check(void **st)
{
    (void)st;
    const ipm_plugin *rx, *tx;
    IPM_ASSERT_OK(ipm_plugin_load("MqReceiver", &rx));
    IPM_ASSERT_OK(ipm_plugin_load("MqSender", &tx));
    assert_non_null(rx->ops->check);
    assert_non_null(tx->ops->check);
    char name[96], spec[256];
    ipm_test_unique(name, sizeof name, "check");
    snprintf(spec, sizeof spec,
             "connection_string=mq://%s; max_messages=5; max_message_size=2Ki; "
             "permissions=0660",
             name);
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_parse(spec, &p));
    IPM_ASSERT_OK(rx->ops->check(p));
    ipm_params_free(p);
    assert_false(mq_t_exists(name, NULL));
    char lock[256];
    snprintf(lock, sizeof lock, "/dev/shm/.ipm-mq.%s.lock", name);
    assert_int_not_equal(access(lock, F_OK), 0);

    static const char *const bad[] = {"connection_string=mq://a/b",
                                      "connection_string=mq://",
                                      "connection_string=mq://.hidden",
                                      "connection_string=shm://x",
                                      "connection_string=mq://x; max_messages=70000",
                                      "connection_string=mq://x; permissions=0777x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        IPM_ASSERT_OK(ipm_params_parse(bad[i], &p));
        if (rx->ops->check(p) != IPM_ECONFIG) fail_msg("check accepted '%s'", bad[i]);
        ipm_params_free(p);
    }
    IPM_ASSERT_OK(ipm_params_parse("connection_string=mq://a b", &p));
    IPM_ASSERT_ERR(tx->ops->check(p), IPM_ECONFIG, "NAME may hold only");
    ipm_params_free(p);
}

static void t_second_receiver(void **st)
{
    (void)st;
    pair p;
    open_pair(&p, "second", NULL);
    ipm_receiver *r2;
    char pid[32];
    snprintf(pid, sizeof pid, "in use by pid %d", (int)getpid());
    IPM_ASSERT_ERR(mq_t_receiver(p.name, NULL, &r2), IPM_ECONNECT, pid);
    assert_null(r2);
    /* The refused one took nothing: the first still works. */
    IPM_ASSERT_OK(ipm_send(p.tx, "ok", 2, 100, NULL));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(p.rx, &m, 1000));
    ipm_message_release(&m);
    close_pair(&p);
}

static void t_destroy_removes_keep_keeps(void **st)
{
    (void)st;
    char name[96];
    ipm_test_unique(name, sizeof name, "own");
    ipm_receiver *r;
    IPM_ASSERT_OK(mq_t_receiver(name, NULL, &r));
    assert_true(mq_t_exists(name, NULL));
    ipm_receiver_destroy(r);
    assert_false(mq_t_exists(name, NULL));

    IPM_ASSERT_OK(mq_t_receiver(name, "keep_queue=true", &r));
    ipm_sender *s;
    IPM_ASSERT_OK(mq_t_sender(name, NULL, &s));
    IPM_ASSERT_OK(ipm_send(s, "kept", 4, 100, "k"));
    ipm_receiver_destroy(r);
    assert_true(mq_t_exists(name, NULL));
    /* Sent while no receiver exists: kept too. */
    IPM_ASSERT_OK(ipm_send(s, "meanwhile", 9, 100, "k"));
    IPM_ASSERT_OK(mq_t_receiver(name, NULL, &r));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "kept", 4);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "meanwhile", 9);
    ipm_message_release(&m);
    ipm_receiver_destroy(r);
    assert_false(mq_t_exists(name, NULL));

    /* The sender finds that its queue was removed and, once a new receiver
     * made the name again, sends there. */
    mq_t_sleep_ms(20);
    IPM_ASSERT_OK(mq_t_receiver(name, NULL, &r));
    mq_t_sleep_ms(20);
    IPM_ASSERT_OK(ipm_send(s, "new", 3, 1000, NULL));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "new", 3);
    ipm_message_release(&m);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    mq_t_cleanup(name);
}

static void t_attributes(void **st)
{
    (void)st;
    char name[96];
    ipm_test_unique(name, sizeof name, "attr");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(mq_t_receiver(name, "keep_queue=1; max_messages=3", &r));
    IPM_ASSERT_OK(mq_t_sender(name, NULL, &s));
    IPM_ASSERT_OK(ipm_send(s, "held", 4, 100, NULL));
    ipm_receiver_destroy(r);
    /* Other attributes while messages wait: refused, nothing thrown away. */
    IPM_ASSERT_ERR(mq_t_receiver(name, "max_messages=5", &r), IPM_ECONNECT,
                   "holds 1 message");
    IPM_ASSERT_OK(mq_t_receiver(name, "max_messages=3; keep_queue=1", &r));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    ipm_message_release(&m);
    ipm_receiver_destroy(r);
    /* Empty with other attributes: made anew. */
    IPM_ASSERT_OK(mq_t_receiver(name, "max_messages=5; max_message_size=100", &r));
    ipm_limits lim;
    IPM_ASSERT_OK(ipm_receiver_limits(r, &lim));
    assert_int_equal(lim.max_message_size, 100);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    mq_t_cleanup(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_state_and_null),
        cmocka_unit_test(t_empty_and_metadata),
        cmocka_unit_test(t_sizes),
        cmocka_unit_test(t_timeouts),
        cmocka_unit_test(t_wake_on_arrival),
        cmocka_unit_test(t_sender_first),
        cmocka_unit_test(t_permissions),
        cmocka_unit_test(t_check),
        cmocka_unit_test(t_second_receiver),
        cmocka_unit_test(t_destroy_removes_keep_keeps),
        cmocka_unit_test(t_attributes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
