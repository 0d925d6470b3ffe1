/*
 * ShmPublisher / ShmSubscriber: topics across processes, empty and oversize
 * messages, metadata limits, timeouts, late publishers, callbacks, several
 * publishers per subscriber.
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "shm_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_MSG 3000

static const char *const topic_of[3] = {"tp", "hsi", "other"};

/* Payload: 4-byte number, then (n % 300) bytes of (n + i) & 0xff. */
static size_t make_payload(unsigned char *buf, uint32_t n)
{
    memcpy(buf, &n, 4);
    size_t extra = n % 300;
    for (size_t i = 0; i < extra; i++)
        buf[4 + i] = (unsigned char)(n + i);
    return 4 + extra;
}

static bool check_payload(const ipm_message *m, uint32_t *n)
{
    *n = 0;
    if (m->size < 4) return false;
    memcpy(n, m->data, 4);
    const unsigned char *p = m->data;
    if (m->size != 4 + *n % 300) return false;
    for (size_t i = 4; i < m->size; i++)
        if (p[i] != (unsigned char)(*n + i - 4)) return false;
    return true;
}

typedef struct child_arg {
    const char *name;
    const char *topics;
    int want;  /* messages expected */
    int every; /* expected numbers: n % 3 in mask */
    unsigned mask;
    shm_t_pipe *ready;
} child_arg;

static int subscriber_child(void *argp)
{
    child_arg *a = argp;
    char extra[128];
    snprintf(extra, sizeof extra, "topics=%s", a->topics);
    ipm_receiver *r;
    if (shm_t_open_receiver("ShmSubscriber", a->name, extra, &r) != IPM_OK) {
        fprintf(stderr, "child: open: %s\n", ipm_last_error());
        return 10;
    }
    shm_t_put(a->ready, 'r');
    int got = 0;
    uint32_t last = 0;
    bool first = true;
    while (got < a->want) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, 10000);
        if (st != IPM_OK) {
            fprintf(stderr, "child %s: receive after %d: %s\n", a->topics, got,
                    ipm_last_error());
            return 11;
        }
        uint32_t n = 0;
        bool ok = check_payload(&m, &n);
        ok = ok && strcmp(m.metadata, topic_of[n % 3]) == 0 &&
             m.metadata_size == strlen(topic_of[n % 3]);
        ok = ok && ((a->mask >> (n % 3)) & 1) && (first || n > last);
        ipm_message_release(&m);
        if (!ok) {
            fprintf(stderr, "child %s: bad message %u after %u\n", a->topics, n, last);
            return 12;
        }
        first = false;
        last = n;
        got++;
    }
    ipm_message m;
    ipm_status st = ipm_receive(r, &m, 100);
    if (st == IPM_OK) {
        ipm_message_release(&m);
        return 13; /* more than expected */
    }
    ipm_stats s;
    ipm_receiver_stats(r, &s);
    ipm_receiver_destroy(r);
    return (s.dropped == 0 && s.messages == (uint64_t)a->want) ? 0 : 14;
}

/* Three subscriber processes with different topics on one publisher. */
static void test_topics_processes(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "topics");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, NULL, &pub));
    char ep[128];
    snprintf(ep, sizeof ep, "shm://%s", name);
    assert_string_equal(ipm_sender_endpoint(pub), ep);

    shm_t_pipe ready;
    shm_t_pipe_open(&ready);
    child_arg args[3] = {
        {name, "", N_MSG, 1, 7, &ready},
        {name, "tp", N_MSG / 3, 1, 1, &ready},
        {name, "hsi, oth", 2 * N_MSG / 3, 1, 6, &ready},
    };
    pid_t pids[3];
    for (int i = 0; i < 3; i++)
        pids[i] = ipm_test_fork(subscriber_child, &args[i]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(shm_t_get(&ready, 10000), 'r');

    unsigned char buf[512];
    for (uint32_t n = 0; n < N_MSG; n++) {
        size_t len = make_payload(buf, n);
        IPM_ASSERT_OK(ipm_send(pub, buf, len, IPM_BLOCK, topic_of[n % 3]));
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(ipm_test_wait(pids[i], 30000), 0);
    ipm_stats s;
    ipm_sender_stats(pub, &s);
    assert_int_equal(s.messages, N_MSG);
    ipm_sender_destroy(pub);
    assert_false(shm_t_exists(name, NULL));
    shm_t_pipe_close(&ready);
}

static void open_pair(const char *tag, const char *pub_extra, const char *topics,
                      char *name, size_t cap, ipm_sender **pub, ipm_receiver **sub)
{
    ipm_test_unique(name, cap, tag);
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, pub_extra, pub));
    char extra[128];
    snprintf(extra, sizeof extra, "topics=%s", topics);
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, extra, sub));
}

static void test_empty_and_metadata(void **state)
{
    (void)state;
    char name[96];
    ipm_sender *pub;
    ipm_receiver *sub;
    open_pair("empty", NULL, "", name, sizeof name, &pub, &sub);

    IPM_ASSERT_OK(ipm_send(pub, NULL, 0, 0, "empty"));
    IPM_ASSERT_OK(ipm_send(pub, "x", 0, 0, NULL));
    char meta[300];
    memset(meta, 'm', sizeof meta);
    meta[255] = '\0';
    IPM_ASSERT_OK(ipm_send(pub, "abc", 3, 0, meta));
    meta[255] = 'm';
    meta[256] = '\0';
    IPM_ASSERT_ERR(ipm_send(pub, "abc", 3, 0, meta), IPM_ETOOBIG, "255");

    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(sub, &m, 1000));
    assert_int_equal(m.size, 0);
    assert_non_null(m.data);
    assert_string_equal(m.metadata, "empty");
    assert_int_equal(m.metadata_size, 5);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_receive(sub, &m, 1000));
    assert_int_equal(m.size, 0);
    assert_string_equal(m.metadata, "");
    assert_int_equal(m.metadata_size, 0);
    ipm_message_release(&m);
    IPM_ASSERT_OK(ipm_receive(sub, &m, 1000));
    assert_int_equal(m.size, 3);
    assert_memory_equal(m.data, "abc", 3);
    assert_int_equal(m.metadata_size, 255);
    assert_int_equal(strlen(m.metadata), 255);
    ipm_message_release(&m);
    IPM_ASSERT_ERR(ipm_receive(sub, &m, 0), IPM_ETIMEDOUT, name);

    ipm_receiver_destroy(sub);
    ipm_sender_destroy(pub);
}

static void test_oversize(void **state)
{
    (void)state;
    char name[96];
    ipm_sender *pub;
    ipm_receiver *sub;
    open_pair("big", "buffer_size=64Ki; max_message_size=1000", "", name, sizeof name,
              &pub, &sub);
    char buf[1001];
    memset(buf, 7, sizeof buf);
    IPM_ASSERT_ERR(ipm_send(pub, buf, 1001, 0, "t"), IPM_ETOOBIG, "max_message_size");
    IPM_ASSERT_OK(ipm_send(pub, buf, 1000, 0, "t"));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive_exact(sub, &m, 1000, 1000));
    assert_memory_equal(m.data, buf, 1000);
    ipm_message_release(&m);
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(pub);

    /* A maximum that cannot fit twice in the ring is a configuration error. */
    ipm_sender *bad;
    char n2[96];
    ipm_test_unique(n2, sizeof n2, "big2");
    IPM_ASSERT_ERR(shm_t_open_sender("ShmPublisher", n2,
                                     "buffer_size=64Ki; max_message_size=40k", &bad),
                   IPM_ECONFIG, "max_message_size");
    IPM_ASSERT_ERR(shm_t_open_sender("ShmPublisher", n2, "spin_us=-1", &bad), IPM_ECONFIG,
                   "spin_us");
    assert_false(shm_t_exists(n2, NULL));
}

static void test_bad_endpoints(void **state)
{
    (void)state;
    ipm_sender *s;
    IPM_ASSERT_ERR(ipm_sender_open("type=ShmPublisher; connection_string=tcp://x:1", &s),
                   IPM_ECONNECT, "shm://NAME");
    IPM_ASSERT_ERR(ipm_sender_open("type=ShmPublisher; connection_string=shm://", &s),
                   IPM_ECONNECT, "NAME");
    IPM_ASSERT_ERR(ipm_sender_open("type=ShmPublisher; connection_string=shm://a/b", &s),
                   IPM_ECONNECT, "letters");
    ipm_receiver *r;
    IPM_ASSERT_ERR(
        ipm_receiver_open("type=ShmSubscriber; connection_string=shm://../x", &r),
        IPM_ECONNECT, "shm://../x");
}

/* Timeouts end no sooner than T and no later than T + 20 ms. */
static void test_receive_timeout(void **state)
{
    (void)state;
    char name[96];
    ipm_sender *pub;
    ipm_receiver *sub;
    open_pair("tmo", "spin_us=0", "", name, sizeof name, &pub, &sub);
    ipm_message m;
    double t0, best0 = 1e9;
    for (int k = 0; k < 3; k++) {
        t0 = ipm_test_now_ms();
        IPM_ASSERT_ERR(ipm_receive(sub, &m, IPM_NO_BLOCK), IPM_ETIMEDOUT, "no message");
        double el = ipm_test_now_ms() - t0;
        best0 = el < best0 ? el : best0;
    }
    assert_true(best0 <= 20);
    for (int T = 30; T <= 120; T += 45) {
        double best = 1e9;
        for (int k = 0; k < 3; k++) {
            t0 = ipm_test_now_ms();
            IPM_ASSERT_ERR(ipm_receive(sub, &m, T), IPM_ETIMEDOUT, "no message");
            double el = ipm_test_now_ms() - t0;
            if (el < T) fail_msg("timeout %d ms ended after %.2f ms", T, el);
            best = el < best ? el : best;
        }
        if (best > T + 20) fail_msg("timeout %d ms ended after %.2f ms", T, best);
    }
    ipm_receiver_destroy(sub);

    /* The same with a spinning subscriber, and one connected to nothing. */
    IPM_ASSERT_OK(
        shm_t_open_receiver("ShmSubscriber", name, "topics=; spin_us=5000", &sub));
    t0 = ipm_test_now_ms();
    IPM_ASSERT_ERR(ipm_receive(sub, &m, 40), IPM_ETIMEDOUT, "no message");
    double el = ipm_test_now_ms() - t0;
    assert_true(el >= 40 && el <= 60 + 40);
    ipm_receiver_destroy(sub);
    char none[96];
    ipm_test_unique(none, sizeof none, "none");
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", none, "topics=", &sub));
    t0 = ipm_test_now_ms();
    IPM_ASSERT_ERR(ipm_receive(sub, &m, 50), IPM_ETIMEDOUT, "no message");
    el = ipm_test_now_ms() - t0;
    assert_true(el >= 50 && el <= 50 + 40);
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(pub);
}

typedef struct late_arg {
    const char *name;
    shm_t_pipe *go;
} late_arg;

static int late_publisher(void *argp)
{
    late_arg *a = argp;
    if (shm_t_get(a->go, 10000) != 'g') return 20;
    ipm_sender *pub;
    if (shm_t_open_sender("ShmPublisher", a->name, NULL, &pub) != IPM_OK) return 21;
    for (uint32_t n = 0; n < 10; n++)
        if (ipm_send(pub, &n, sizeof n, 0, "late") != IPM_OK) return 22;
    shm_t_get(a->go, 10000); /* until the parent has read them */
    ipm_sender_destroy(pub);
    return 0;
}

/* A subscriber connected before its publisher exists gets everything the
 * publisher sends from its start; a publisher that closes is reported. */
static void test_subscriber_first(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "late");
    ipm_receiver *sub;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, "topics=", &sub));
    shm_t_pipe go;
    shm_t_pipe_open(&go);
    late_arg a = {name, &go};
    pid_t pid = ipm_test_fork(late_publisher, &a);
    shm_t_put(&go, 'g');
    for (uint32_t n = 0; n < 10; n++) {
        ipm_message m;
        IPM_ASSERT_OK(ipm_receive(sub, &m, 10000));
        assert_int_equal(m.size, 4);
        assert_memory_equal(m.data, &n, 4);
        ipm_message_release(&m);
    }
    shm_t_put(&go, 'x');
    assert_int_equal(ipm_test_wait(pid, 10000), 0);
    assert_false(shm_t_exists(name, NULL));
    ipm_message m;
    double t0 = ipm_test_now_ms();
    IPM_ASSERT_ERR(ipm_receive(sub, &m, 5000), IPM_ECONNECT, "closed");
    assert_true(ipm_test_now_ms() - t0 < 1000);
    /* Still gone at the next deadline: a timeout that says so (reported once). */
    t0 = ipm_test_now_ms();
    IPM_ASSERT_ERR(ipm_receive(sub, &m, 50), IPM_ETIMEDOUT, "gone");
    assert_true(ipm_test_now_ms() - t0 >= 50);
    ipm_stats st;
    ipm_receiver_stats(sub, &st);
    assert_int_equal(st.messages, 10);
    assert_int_equal(st.dropped, 0);
    ipm_receiver_destroy(sub);
    shm_t_pipe_close(&go);
}

static _Atomic int cb_count;
static void on_msg(const ipm_message *m, void *user)
{
    (void)user;
    if (m->size == 8) cb_count++;
}

static void test_callback(void **state)
{
    (void)state;
    char name[96];
    ipm_sender *pub;
    ipm_receiver *sub;
    open_pair("cb", NULL, "", name, sizeof name, &pub, &sub);
    cb_count = 0;
    IPM_ASSERT_OK(ipm_receiver_set_callback(sub, on_msg, NULL));
    for (uint64_t i = 0; i < 100; i++)
        IPM_ASSERT_OK(ipm_send(pub, &i, 8, 0, "cb"));
    for (int k = 0; k < 500 && cb_count < 100; k++)
        shm_t_sleep_ms(10);
    assert_int_equal(cb_count, 100);
    double t0 = ipm_test_now_ms();
    IPM_ASSERT_OK(ipm_receiver_set_callback(sub, NULL, NULL));
    assert_true(ipm_test_now_ms() - t0 < 150);
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(pub);
}

/* Topic filtering keeps the accounting exact: filtered messages are
 * neither received nor dropped. */
static void test_filter_accounting(void **state)
{
    (void)state;
    char name[96];
    ipm_sender *pub;
    ipm_receiver *sub;
    open_pair("filt", NULL, "a", name, sizeof name, &pub, &sub);
    ipm_receiver *none;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, NULL, &none));
    for (uint32_t i = 0; i < 1000; i++)
        IPM_ASSERT_OK(ipm_send(pub, &i, 4, 0, (i & 1) ? "b" : "a1"));
    ipm_message m;
    for (uint32_t i = 0; i < 1000; i += 2) {
        IPM_ASSERT_OK(ipm_receive(sub, &m, 1000));
        assert_memory_equal(m.data, &i, 4);
        assert_string_equal(m.metadata, "a1");
        ipm_message_release(&m);
    }
    IPM_ASSERT_ERR(ipm_receive(sub, &m, 10), IPM_ETIMEDOUT, "no message");
    /* Nothing is delivered before a subscribe. */
    IPM_ASSERT_ERR(ipm_receive(none, &m, 10), IPM_ETIMEDOUT, "no message");
    ipm_stats s;
    ipm_receiver_stats(sub, &s);
    assert_int_equal(s.messages, 500);
    assert_int_equal(s.dropped, 0);
    ipm_receiver_destroy(none);
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(pub);
}

static void *late_send(void *arg)
{
    shm_t_sleep_ms(50);
    uint32_t v = 77;
    ipm_send(arg, &v, 4, 0, "B");
    return NULL;
}

/* connection_strings: one subscriber, two publishers; connecting again adds. */
static void test_many_publishers(void **state)
{
    (void)state;
    char a[96], b[96], spec[512];
    ipm_test_unique(a, sizeof a, "ma");
    ipm_test_unique(b, sizeof b, "mb");
    ipm_sender *pa, *pb;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", a, NULL, &pa));
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", b, NULL, &pb));
    snprintf(spec, sizeof spec,
             "type=ShmSubscriber; connection_strings=shm://%s, shm://%s; topics=", a, b);
    ipm_receiver *sub;
    IPM_ASSERT_OK(ipm_receiver_open(spec, &sub));
    for (uint32_t i = 0; i < 50; i++) {
        IPM_ASSERT_OK(ipm_send(pa, &i, 4, 0, "A"));
        IPM_ASSERT_OK(ipm_send(pb, &i, 4, 0, "B"));
    }
    int na = 0, nb = 0;
    ipm_message m;
    for (int i = 0; i < 100; i++) {
        IPM_ASSERT_OK(ipm_receive(sub, &m, 1000));
        uint32_t v;
        memcpy(&v, m.data, 4);
        if (m.metadata[0] == 'A')
            assert_int_equal(v, na++);
        else
            assert_int_equal(v, nb++);
        ipm_message_release(&m);
    }
    assert_int_equal(na, 50);
    assert_int_equal(nb, 50);

    /* Sleeping on both rings: a message on the second wakes the receive. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, late_send, pb), 0);
    double t0 = ipm_test_now_ms();
    IPM_ASSERT_OK(ipm_receive(sub, &m, 5000));
    assert_true(ipm_test_now_ms() - t0 < 1000);
    assert_string_equal(m.metadata, "B");
    ipm_message_release(&m);
    pthread_join(th, NULL);
    ipm_receiver_destroy(sub);
    ipm_sender_destroy(pa);
    ipm_sender_destroy(pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics_processes),
        cmocka_unit_test(test_empty_and_metadata),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_bad_endpoints),
        cmocka_unit_test(test_receive_timeout),
        cmocka_unit_test(test_subscriber_first),
        cmocka_unit_test(test_callback),
        cmocka_unit_test(test_filter_accounting),
        cmocka_unit_test(test_many_publishers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
