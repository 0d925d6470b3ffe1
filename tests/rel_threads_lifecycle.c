/*
 * rel_threads_lifecycle.c — objects created, used and destroyed on many
 * threads at once (API.md §2: distinct objects may be used from distinct
 * threads), for the TSan run.
 *
 *  - churn: every thread creates a connected receiver/sender pair, passes a
 *    message, destroys both, over and over. All threads' objects share the
 *    per-process ZeroMQ context, whose reference count crosses zero and back
 *    (context terminated and re-created) while other threads create sockets;
 *  - fan-in: several threads each stream sequence-numbered messages through
 *    their own sender into one receiver; per sender, nothing is lost,
 *    duplicated or reordered;
 *  - destroy under load: a receiver with a callback is destroyed while
 *    another thread streams into it; no callback runs after destroy returns.
 * Shm pairs take part when the Shm plugins are built.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <ipm/plugin.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4

static int churn_rounds(void)
{
    /* TSan makes each round ~10x slower; keep the run short. */
    return rel_under_tsan() ? 40 : 150;
}

struct churn_arg {
    int id;
    const char *family; /* "Zmq" or "Shm" */
    char error[512];
};

static pthread_barrier_t start;

static bool churn_once(struct churn_arg *a, int round)
{
    char name[96], spec[256];
    ipm_receiver *r = NULL;
    ipm_sender *s = NULL;
    bool ok = false;
    ipm_test_unique(name, sizeof name, "life");
    if (strcmp(a->family, "Zmq") == 0) {
        /* Alternate transports: inproc needs the shared context, tcp/ipc the
         * I/O thread. */
        static const char *const fmt[] = {"inproc://%s", "tcp://127.0.0.1:*", "ipc:///tmp/%s"};
        char ep[160];
        snprintf(ep, sizeof ep, fmt[round % 3], name);
        snprintf(spec, sizeof spec, "type=ZmqReceiver; connection_string=%s", ep);
    } else {
        snprintf(spec, sizeof spec, "type=ShmReceiver; connection_string=shm://%s", name);
    }
    if (ipm_receiver_open(spec, &r) != IPM_OK) goto out;
    snprintf(spec, sizeof spec, "type=%sSender; connection_string=%s", a->family,
             ipm_receiver_endpoint(r));
    if (ipm_sender_open(spec, &s) != IPM_OK) goto out;
    char payload[32];
    int len = snprintf(payload, sizeof payload, "t%d r%d", a->id, round);
    if (ipm_send(s, payload, (size_t)len, 10000, "m") != IPM_OK) goto out;
    ipm_message m;
    if (ipm_receive(r, &m, 10000) != IPM_OK) goto out;
    ok = m.size == (size_t)len && memcmp(m.data, payload, m.size) == 0;
    ipm_message_release(&m);
    if (!ok) ipm_set_error(IPM_ESYS, "wrong message content");
out:
    if (!ok) snprintf(a->error, sizeof a->error, "round %d (%s): %s", round, spec, ipm_last_error());
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    return ok;
}

static void *churn(void *arg)
{
    struct churn_arg *a = arg;
    pthread_barrier_wait(&start);
    for (int round = 0; round < churn_rounds(); round++)
        if (!churn_once(a, round)) return NULL;
    return a;
}

static void run_churn(const char *family)
{
    pthread_t t[THREADS];
    struct churn_arg args[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct churn_arg){.id = i, .family = family};
        assert_int_equal(pthread_create(&t[i], NULL, churn, &args[i]), 0);
    }
    int good = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        if (ok)
            good++;
        else
            print_error("thread %d: %s\n", i, args[i].error);
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(good, THREADS);
}

static void test_churn_zmq(void **state)
{
    (void)state;
    if (!rel_plugin_available("ZmqSender")) skip();
    run_churn("Zmq");
}

static void test_churn_shm(void **state)
{
    (void)state;
    if (!rel_plugin_available("ShmSender")) skip();
    run_churn("Shm");
}

/* ----------------------------------------------------------- fan-in */

#define FAN_MESSAGES 5000

struct fan_arg {
    int id;
    const char *endpoint;
    ipm_status st;
    char error[512];
};

static void *fan_sender(void *arg)
{
    struct fan_arg *a = arg;
    char spec[256];
    snprintf(spec, sizeof spec, "type=ZmqSender; connection_string=%s", a->endpoint);
    ipm_sender *s = NULL;
    a->st = ipm_sender_open(spec, &s);
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; a->st == IPM_OK && i < FAN_MESSAGES; i++) {
        uint64_t word[2] = {(uint64_t)a->id, i};
        a->st = ipm_send(s, word, sizeof word, 20000, NULL);
    }
    if (a->st != IPM_OK) snprintf(a->error, sizeof a->error, "%s", ipm_last_error());
    ipm_sender_destroy(s);
    return NULL;
}

static void test_fan_in(void **state)
{
    (void)state;
    if (!rel_plugin_available("ZmqSender")) skip();
    ipm_receiver *r;
    IPM_ASSERT_OK(ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", &r));
    pthread_t t[THREADS];
    struct fan_arg args[THREADS];
    pthread_barrier_init(&start, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct fan_arg){.id = i, .endpoint = ipm_receiver_endpoint(r)};
        assert_int_equal(pthread_create(&t[i], NULL, fan_sender, &args[i]), 0);
    }
    pthread_barrier_wait(&start);
    uint64_t next[THREADS] = {0};
    for (int n = 0; n < THREADS * FAN_MESSAGES; n++) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, 20000);
        if (st != IPM_OK) fail_msg("message %d: %s: %s", n, ipm_strerror(st), ipm_last_error());
        uint64_t word[2];
        assert_int_equal(m.size, sizeof word);
        memcpy(word, m.data, sizeof word);
        ipm_message_release(&m);
        assert_true(word[0] < THREADS);
        if (word[1] != next[word[0]])
            fail_msg("sender %llu: got %llu, expected %llu", (unsigned long long)word[0],
                     (unsigned long long)word[1], (unsigned long long)next[word[0]]);
        next[word[0]]++;
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        if (args[i].st != IPM_OK) fail_msg("sender %d: %s", i, args[i].error);
    }
    pthread_barrier_destroy(&start);
    ipm_stats st;
    ipm_receiver_stats(r, &st);
    assert_int_equal(st.messages, THREADS * FAN_MESSAGES);
    ipm_receiver_destroy(r);
}

/* ------------------------------------------------ destroy under load */

struct load {
    const char *endpoint;
    atomic_bool stop;
    atomic_int calls;
    atomic_bool destroyed;
    atomic_int late; /* callbacks that started after destroy returned */
};

static void on_message(const ipm_message *m, void *user)
{
    (void)m;
    struct load *l = user;
    if (atomic_load(&l->destroyed)) atomic_fetch_add(&l->late, 1);
    atomic_fetch_add(&l->calls, 1);
}

static void *streamer(void *arg)
{
    struct load *l = arg;
    char spec[256];
    snprintf(spec, sizeof spec, "type=ZmqSender; connection_string=%s", l->endpoint);
    ipm_sender *s = NULL;
    if (ipm_sender_open(spec, &s) != IPM_OK) return NULL;
    uint64_t i = 0;
    while (!atomic_load(&l->stop)) {
        /* Short timeouts: the receiver goes away under us. */
        if (ipm_send(s, &i, sizeof i, 10, NULL) == IPM_OK) i++;
    }
    ipm_sender_destroy(s);
    return NULL;
}

static void test_destroy_under_load(void **state)
{
    (void)state;
    if (!rel_plugin_available("ZmqSender")) skip();
    int rounds = rel_under_tsan() ? 5 : 20;
    for (int round = 0; round < rounds; round++) {
        char name[96], spec[256];
        snprintf(spec, sizeof spec, "type=ZmqReceiver; connection_string=ipc:///tmp/%s",
                 ipm_test_unique(name, sizeof name, "dul"));
        ipm_receiver *r;
        IPM_ASSERT_OK(ipm_receiver_open(spec, &r));
        struct load l = {.endpoint = ipm_receiver_endpoint(r)};
        char endpoint[256];
        snprintf(endpoint, sizeof endpoint, "%s", l.endpoint);
        l.endpoint = endpoint;
        IPM_ASSERT_OK(ipm_receiver_set_callback(r, on_message, &l));
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, streamer, &l), 0);
        /* Let messages flow, then destroy mid-stream. */
        double end = ipm_test_now_ms() + 5000;
        while (atomic_load(&l.calls) < 50 && ipm_test_now_ms() < end)
            rel_sleep_ms(1);
        ipm_receiver_destroy(r);
        atomic_store(&l.destroyed, true);
        rel_sleep_ms(20);
        atomic_store(&l.stop, true);
        pthread_join(t, NULL);
        assert_true(atomic_load(&l.calls) >= 50);
        assert_int_equal(atomic_load(&l.late), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_churn_zmq),
        cmocka_unit_test(test_churn_shm),
        cmocka_unit_test(test_fan_in),
        cmocka_unit_test(test_destroy_under_load),
    };
    return cmocka_run_group_tests_name("rel_threads_lifecycle", tests, NULL, NULL);
}
