/*
 * check_callbacks.c — callbacks registered before and after connect,
 * ownership of the receiver while one is registered, unregistering (within
 * 100 ms, nothing runs after it returns), and unregistering from inside the
 * callback itself. Sender/receiver pairs also lose nothing across the
 * switch from callback back to ipm_receive.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNREGISTER_MS 100.0

typedef struct cb_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ipm_receiver *rx;
    uint64_t seqs;   /* sequence messages seen */
    uint64_t probes; /* probes seen */
    uint64_t next;   /* the next sequence number due */
    bool misordered;
    bool unregistered; /* set_callback(NULL) has returned */
    uint64_t late;     /* callbacks that ran after that */
    bool inside;       /* unregister from inside on the first seq message */
    bool inside_done;
    ipm_status inside_status;
    double inside_ms;
} cb_state;

static void on_message(const ipm_message *m, void *user)
{
    cb_state *s = user;
    bool unregister_now = false;
    pthread_mutex_lock(&s->mu);
    if (s->unregistered || s->inside_done) s->late++;
    if (strcmp(m->metadata, CONF_SYNC_TOPIC) == 0) {
        s->probes++;
    } else {
        conf_seq q = {0, UINT64_MAX};
        if (m->size == sizeof q) memcpy(&q, m->data, sizeof q);
        if (q.seq != s->next) s->misordered = true;
        s->next = q.seq + 1;
        s->seqs++;
        unregister_now = s->inside && !s->inside_done;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (unregister_now) {
        /* No lock of ours is held: the library must not deadlock either. */
        uint64_t t0 = tool_now_ns();
        ipm_status st = ipm_receiver_set_callback(s->rx, NULL, NULL);
        double ms = conf_ms_since(t0);
        pthread_mutex_lock(&s->mu);
        s->inside_status = st;
        s->inside_ms = ms;
        s->inside_done = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

/* Wait until pred(s) or timeout_ms; returns pred's last value. */
static bool wait_for(cb_state *s, bool (*pred)(const cb_state *, uint64_t), uint64_t arg,
                     int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    bool ok;
    while (!(ok = pred(s, arg)))
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0) {
            ok = pred(s, arg);
            break;
        }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static bool have_probe(const cb_state *s, uint64_t n)
{
    return s->probes >= n;
}
static bool have_seqs(const cb_state *s, uint64_t n)
{
    return s->seqs >= n;
}
static bool inside_done(const cb_state *s, uint64_t n)
{
    (void)n;
    return s->inside_done;
}

static int send_seqs(conf_ctx *c, ipm_sender *tx, uint64_t from, uint64_t n)
{
    for (uint64_t i = from; i < from + n; i++) {
        conf_seq q = {1, i};
        ipm_status st = ipm_send(tx, &q, sizeof q, 5000, CONF_SEQ_TOPIC);
        if (st != IPM_OK)
            return conf_fail_st(c, st, "sending message %llu", (unsigned long long)i);
    }
    return CONF_PASS;
}

/* After the callback is gone: ipm_receive works, and for sender/receiver
 * gets #from .. #to-1 in order (nothing lost in the switch). */
static int receive_rest(conf_ctx *c, ipm_receiver *rx, uint64_t from, uint64_t to)
{
    if (!ipm_receiver_can_receive(rx))
        return conf_fail(c, "ipm_receiver_can_receive is false after unregistering");
    for (uint64_t i = from; i < to; i++) {
        ipm_message m;
        ipm_status st = conf_receive(rx, &m, c->pubsub ? 1000 : 5000);
        if (st == IPM_ETIMEDOUT && c->pubsub) return CONF_PASS; /* may have dropped */
        if (st != IPM_OK)
            return conf_fail_st(c, st, "ipm_receive after unregistering (message %llu)",
                                (unsigned long long)i);
        conf_seq q = {0, UINT64_MAX};
        if (m.size == sizeof q) memcpy(&q, m.data, sizeof q);
        ipm_message_release(&m);
        if (q.seq != i && !c->pubsub)
            return conf_fail(c,
                             "after unregistering, #%llu arrived where #%llu was due "
                             "(the callback thread took or lost messages)",
                             (unsigned long long)q.seq, (unsigned long long)i);
        if (c->pubsub) i = q.seq;
    }
    return CONF_PASS;
}

static int run(conf_ctx *c, bool before_connect, bool inside)
{
    cb_state s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.inside = inside;
    int r = CONF_PASS;
    ipm_sender *tx = NULL;
    ipm_receiver *rx = NULL;
    char ep[CONF_EP_CAP], bound[CONF_EP_CAP];
    conf_endpoint_fresh(c, 0, ep, sizeof ep);
    ipm_status st = IPM_OK;
    if (c->sender_binds) {
        st = conf_sender_open(c, ep, &tx, bound, sizeof bound);
        if (st != IPM_OK) r = conf_fail_st(c, st, "binding the sender on %s", ep);
    } else {
        snprintf(bound, sizeof bound, "%s", ep);
    }
    if (r == CONF_PASS && (st = ipm_receiver_create(c->o->receiver_type, &rx)) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_receiver_create");
    s.rx = rx;
    if (r == CONF_PASS && c->pubsub && (st = ipm_subscribe(rx, "")) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_subscribe(\"\") before connect");
    if (r == CONF_PASS && before_connect &&
        (st = ipm_receiver_set_callback(rx, on_message, &s)) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_receiver_set_callback before connect");
    if (r == CONF_PASS) {
        ipm_params *p = NULL;
        st = conf_params(c, "connection_string", bound, &p);
        if (st == IPM_OK) st = ipm_receiver_connect(rx, p);
        ipm_params_free(p);
        if (st != IPM_OK) r = conf_fail_st(c, st, "connecting the receiver to %s", bound);
    }
    if (r == CONF_PASS && !tx) {
        const char *e = ipm_receiver_endpoint(rx);
        st = conf_sender_open(c, e ? e : bound, &tx, NULL, 0);
        if (st != IPM_OK) r = conf_fail_st(c, st, "connecting the sender");
    }
    if (r == CONF_PASS && !before_connect) {
        if (c->pubsub) r = conf_sync(c, tx, rx, 5000);
        if (r == CONF_PASS &&
            (st = ipm_receiver_set_callback(rx, on_message, &s)) != IPM_OK)
            r = conf_fail_st(c, st, "ipm_receiver_set_callback after connect");
    }
    /* pub/sub: a subscription takes a moment; probe until the callback sees one. */
    uint64_t t0 = tool_now_ns();
    while (r == CONF_PASS && c->pubsub && !wait_for(&s, have_probe, 1, 10)) {
        ipm_send(tx, "probe", 5, IPM_NO_BLOCK, CONF_SYNC_TOPIC);
        if (conf_ms_since(t0) > 5000)
            r = conf_fail(c, "no probe reached the callback in 5 s");
    }
    ipm_message m;
    if (r == CONF_PASS && ipm_receiver_can_receive(rx))
        r = conf_fail(c,
                      "ipm_receiver_can_receive is true while a callback is registered");
    if (r == CONF_PASS && (st = ipm_receive(rx, &m, 10)) != IPM_ESTATE) {
        if (st == IPM_OK) ipm_message_release(&m);
        r = conf_fail(c,
                      "ipm_receive while a callback is registered returned %s, not "
                      "IPM_ESTATE",
                      ipm_strerror(st));
    }
    /* Few enough to sit in a small transport queue (a UNIX datagram socket
     * holds 10) while nobody reads them. */
    const uint64_t first = 6;
    if (r == CONF_PASS) r = send_seqs(c, tx, 0, first);
    if (r == CONF_PASS && inside) {
        if (!wait_for(&s, inside_done, 0, 3000))
            r = conf_fail(c, "ipm_receiver_set_callback(NULL) called inside the callback "
                             "did not return within 3 s (deadlock?)");
        else if (s.inside_status != IPM_OK)
            r = conf_fail(
                c, "ipm_receiver_set_callback(NULL) inside the callback returned %s",
                ipm_strerror(s.inside_status));
        else if (s.inside_ms > UNREGISTER_MS)
            r = conf_fail(c, "unregistering inside the callback took %.1f ms",
                          s.inside_ms);
    } else if (r == CONF_PASS) {
        if (!wait_for(&s, have_seqs, first, 5000))
            r = conf_fail(c, "the callback got %llu of %llu messages within 5 s",
                          (unsigned long long)s.seqs, (unsigned long long)first);
        else if (s.misordered)
            r = conf_fail(c, "the callback got the messages out of order");
        if (r == CONF_PASS) {
            uint64_t ts = tool_now_ns();
            st = ipm_receiver_set_callback(rx, NULL, NULL);
            double ms = conf_ms_since(ts);
            pthread_mutex_lock(&s.mu);
            s.unregistered = true;
            pthread_mutex_unlock(&s.mu);
            if (st != IPM_OK)
                r = conf_fail_st(c, st, "ipm_receiver_set_callback(NULL)");
            else if (ms > UNREGISTER_MS)
                r = conf_fail(c, "ipm_receiver_set_callback(NULL) took %.1f ms", ms);
        }
    }
    /* Nothing runs any more; the receiver is the caller's again. */
    if (r == CONF_PASS) r = send_seqs(c, tx, first, 3);
    if (r == CONF_PASS) {
        conf_sleep_ms(200);
        pthread_mutex_lock(&s.mu);
        uint64_t late = s.late, seen = s.seqs;
        pthread_mutex_unlock(&s.mu);
        if (late)
            r = conf_fail(c, "%llu callback(s) ran after unregistering returned",
                          (unsigned long long)late);
        else if (r == CONF_PASS)
            r = receive_rest(c, rx, inside ? seen : first, first + 3);
    }
    ipm_receiver_destroy(rx);
    ipm_sender_destroy(tx);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    return r;
}

int conf_check_callback_before(conf_ctx *c)
{
    return run(c, true, false);
}

int conf_check_callback_after(conf_ctx *c)
{
    return run(c, false, false);
}

int conf_check_callback_unregister_inside(conf_ctx *c)
{
    return run(c, false, true);
}
