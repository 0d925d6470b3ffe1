/*
 * nats_subscriber.c — NatsSubscriber: core NATS subscriptions below the
 * endpoint's SUBJECT, one per topic prefix, matched by the server (see
 * nats_topic.c). One connection per endpoint of connection_string(s);
 * connecting again adds endpoints not connected yet.
 *
 * Subscriptions are asynchronous: cnats' delivery threads append arriving
 * messages to one bounded queue (the inbox) that receive waits on with a
 * condition variable, so one receive waits for every subscription and every
 * connection at once, and an arrival wakes it at once. A message that finds
 * the inbox full (recv_hwm messages, default 65536, or 256 MiB) is dropped
 * and counted in `dropped`; cnats' own per-subscription queues are
 * unbounded, so no message is lost anywhere uncounted in this process.
 *
 * Overlapping prefixes ("a" and "ab") must not deliver a message twice, so
 * only the covering prefixes have a NATS subscription ("a" covers "ab");
 * ipm counts subscriptions as ZeroMQ does (two subscribes need two
 * unsubscribes). A message whose topic matches no subscribed prefix any more
 * when it is received (it was queued before an unsubscribe) is discarded.
 * Keys: the common ones, connection_strings, recv_hwm (or capacity).
 */
#define _GNU_SOURCE
#include "nats_common.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INBOX_MAX_BYTES (256ull << 20)

typedef struct queued {
    struct queued *next;
    natsMsg *m;
} queued;

/* Shared by the subscriber and its live NATS subscriptions: freed when the
 * last of them lets go (a subscription lets go in its on-complete callback,
 * after which cnats runs no callback of it). */
typedef struct inbox {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    queued *head, *tail;
    size_t count;
    uint64_t bytes;
    size_t hwm;
    int refs;
    /* destroy sets closed and waits until no receive is inside (waiters 0),
     * so that a receive woken by it never touches freed state. */
    bool closed;
    int waiters;
    atomic_uint_fast64_t dropped;
} inbox;

typedef struct topic {
    char *text;
    size_t len;
    int count;
} topic;

typedef struct conn {
    natsConnection *nc;
    ipm_nats_endpoint ep;
    char *text;
    /* One entry per topic of the subscriber (same index), non-NULL where
     * that topic covers: its NATS subscription on this connection. */
    natsSubscription **subs;
    size_t subs_cap;
} conn;

typedef struct nats_sub {
    inbox *in;
    topic *topics;
    size_t ntopics, topics_cap;
    conn *conns;
    size_t nconns;
    char *endpoint;
    pid_t pid; /* the process that made it: a forked child must not use it */
    char subject[IPM_NATS_MAX_SUBJECT + 3 * IPM_NATS_MAX_METADATA + 8];
} nats_sub;

static void inbox_unref(inbox *in)
{
    pthread_mutex_lock(&in->lock);
    int left = --in->refs;
    pthread_mutex_unlock(&in->lock);
    if (left > 0) return;
    for (queued *q = in->head, *n; q; q = n) {
        n = q->next;
        natsMsg_Destroy(q->m);
        free(q);
    }
    pthread_cond_destroy(&in->cond);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

/* cnats delivery thread: queue the message or count it dropped. */
static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    inbox *in = closure;
    queued *q = malloc(sizeof *q);
    uint64_t size = (uint64_t)natsMsg_GetDataLength(m);
    pthread_mutex_lock(&in->lock);
    if (q == NULL || in->count >= in->hwm || in->bytes + size > INBOX_MAX_BYTES) {
        pthread_mutex_unlock(&in->lock);
        atomic_fetch_add(&in->dropped, 1);
        natsMsg_Destroy(m);
        free(q);
        return;
    }
    q->next = NULL;
    q->m = m;
    if (in->tail)
        in->tail->next = q;
    else
        in->head = q;
    in->tail = q;
    in->count++;
    in->bytes += size;
    pthread_cond_signal(&in->cond);
    pthread_mutex_unlock(&in->lock);
}

static void on_complete(void *closure)
{
    inbox_unref(closure);
}

static ipm_status sub_create(void **state)
{
    nats_sub *s = calloc(1, sizeof *s);
    inbox *in = calloc(1, sizeof *in);
    if (s == NULL || in == NULL) {
        free(s);
        free(in);
        return ipm_set_error(IPM_ENOMEM, "NatsSubscriber: out of memory");
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&in->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&in->lock, NULL);
    in->hwm = IPM_NATS_DEFAULT_RECV_HWM;
    in->refs = 1;
    atomic_init(&in->dropped, 0);
    s->in = in;
    s->pid = getpid();
    *state = s;
    return IPM_OK;
}

/* True if topic i is covered by another subscribed topic (a proper prefix,
 * or an equal one earlier in the list, which cannot happen: topics are
 * unique). */
static bool covered(const nats_sub *s, size_t i)
{
    for (size_t j = 0; j < s->ntopics; j++)
        if (j != i && s->topics[j].len < s->topics[i].len &&
            memcmp(s->topics[j].text, s->topics[i].text, s->topics[j].len) == 0)
            return true;
    return false;
}

static ipm_status subs_room(conn *c, size_t n)
{
    if (c->subs_cap >= n) return IPM_OK;
    size_t cap = n < 8 ? 8 : 2 * n;
    natsSubscription **subs = realloc(c->subs, cap * sizeof *subs);
    if (subs == NULL) return ipm_set_error(IPM_ENOMEM, "NatsSubscriber: out of memory");
    memset(subs + c->subs_cap, 0, (cap - c->subs_cap) * sizeof *subs);
    c->subs = subs;
    c->subs_cap = cap;
    return IPM_OK;
}

static void drop_sub(natsSubscription **sp)
{
    if (*sp == NULL) return;
    natsSubscription_Unsubscribe(*sp);
    natsSubscription_Destroy(*sp);
    *sp = NULL;
}

/* Make c's NATS subscriptions match the covering topics: first remove what
 * no longer covers, then add what now does, so that two overlapping
 * subscriptions never exist at once (a message would come twice). The
 * server handles UNSUB and SUB of one connection in order, back to back. */
static ipm_status sync_conn(nats_sub *s, conn *c)
{
    ipm_status st = subs_room(c, s->ntopics + 1);
    if (st != IPM_OK) return st;
    bool changed = false;
    for (size_t i = 0; i < c->subs_cap; i++)
        if (c->subs[i] != NULL && (i >= s->ntopics || covered(s, i)))
            drop_sub(&c->subs[i]);
    for (size_t i = 0; i < s->ntopics; i++) {
        if (c->subs[i] != NULL || covered(s, i)) continue;
        if (!ipm__nats_topic_subject(c->ep.subject, s->topics[i].text, s->topics[i].len,
                                     true, s->subject, sizeof s->subject))
            return ipm_set_error(IPM_EINVAL, "NatsSubscriber: topic too long");
        pthread_mutex_lock(&s->in->lock);
        s->in->refs++;
        pthread_mutex_unlock(&s->in->lock);
        natsSubscription *sub = NULL;
        natsStatus ns = natsConnection_Subscribe(&sub, c->nc, s->subject, on_msg, s->in);
        if (ns == NATS_OK) ns = natsSubscription_SetOnCompleteCB(sub, on_complete, s->in);
        if (ns == NATS_OK) ns = natsSubscription_SetPendingLimits(sub, 1 << 30, INT_MAX);
        if (ns != NATS_OK) {
            if (sub != NULL) {
                natsSubscription_Unsubscribe(sub);
                natsSubscription_Destroy(sub);
            } else {
                inbox_unref(s->in);
            }
            return ipm__nats_error(IPM_ESYS, "NatsSubscriber", c->text, "subscribe", ns);
        }
        c->subs[i] = sub;
        changed = true;
    }
    /* When subscribe returns, the server has the subscription: a message
     * published after that (through this server) is delivered. */
    if (changed) natsConnection_FlushTimeout(c->nc, 2000);
    return IPM_OK;
}

static ipm_status sync_all(nats_sub *s)
{
    for (size_t k = 0; k < s->nconns; k++) {
        ipm_status st = sync_conn(s, &s->conns[k]);
        if (st != IPM_OK) return st;
    }
    return IPM_OK;
}

static void conn_close(conn *c)
{
    /* The connection first: its reader thread stops, and closing it closes
     * every subscription (each runs its on-complete callback). cnats 3.4's
     * reader can crash on a subscription unsubscribed while it is still
     * parsing a burst of messages for it. */
    if (c->nc != NULL) natsConnection_Close(c->nc);
    for (size_t i = 0; i < c->subs_cap; i++)
        if (c->subs[i] != NULL) natsSubscription_Destroy(c->subs[i]);
    free(c->subs);
    if (c->nc != NULL) natsConnection_Destroy(c->nc);
    ipm__nats_endpoint_free(&c->ep);
    free(c->text);
    memset(c, 0, sizeof *c);
}

static ipm_status join_endpoints(nats_sub *s)
{
    size_t len = 1;
    for (size_t k = 0; k < s->nconns; k++)
        len += strlen(s->conns[k].text) + 1;
    char *e = malloc(len);
    if (e == NULL) return ipm_set_error(IPM_ENOMEM, "NatsSubscriber: out of memory");
    e[0] = '\0';
    for (size_t k = 0; k < s->nconns; k++) {
        if (k) strcat(e, ",");
        strcat(e, s->conns[k].text);
    }
    free(s->endpoint);
    s->endpoint = e;
    return IPM_OK;
}

static ipm_status check_keys(const ipm_params *p, bool need_endpoint)
{
    char **eps = NULL;
    size_t n = 0;
    ipm_status st = IPM_OK;
    if (need_endpoint || ipm_params_get(p, "connection_string") ||
        ipm_params_get(p, "connection_strings"))
        st = ipm_params_get_endpoints(p, "NatsSubscriber", &eps, &n);
    if (st != IPM_OK) return st;
    for (size_t i = 0; st == IPM_OK && i < n; i++) {
        ipm_nats_endpoint e;
        st = ipm__nats_endpoint_parse("NatsSubscriber", eps[i], &e);
        if (st == IPM_OK) ipm__nats_endpoint_free(&e);
    }
    free(eps);
    uint64_t hwm;
    if (st == IPM_OK)
        st = ipm_params_get_size(p,
                                 ipm_params_get(p, "recv_hwm") ? "recv_hwm" : "capacity",
                                 IPM_NATS_DEFAULT_RECV_HWM, 1, 1ull << 30, &hwm);
    return st;
}

/* The check op: the values given, without connecting. */
static ipm_status sub_check(const ipm_params *p)
{
    return check_keys(p, false);
}

static ipm_status sub_connect(void *state, const ipm_params *p)
{
    nats_sub *s = state;
    ipm_status st = check_keys(p, true);
    if (st != IPM_OK) return st;
    uint64_t hwm;
    ipm_params_get_size(p, ipm_params_get(p, "recv_hwm") ? "recv_hwm" : "capacity",
                        IPM_NATS_DEFAULT_RECV_HWM, 1, 1ull << 30, &hwm);
    char **eps;
    size_t n;
    ipm_params_get_endpoints(p, "NatsSubscriber", &eps, &n);
    /* The common keys apply to every endpoint: check them once with the
     * first endpoint as connection_string. */
    conn *conns = realloc(s->conns, (s->nconns + n) * sizeof *conns);
    if (conns == NULL) {
        free(eps);
        return ipm_set_error(IPM_ENOMEM, "NatsSubscriber: out of memory");
    }
    s->conns = conns;
    size_t before = s->nconns;
    ipm_params *q = NULL;
    for (size_t i = 0; st == IPM_OK && i < n; i++) {
        bool have = false;
        for (size_t k = 0; k < s->nconns; k++)
            if (strcmp(s->conns[k].text, eps[i]) == 0) have = true;
        if (have) continue;
        conn *c = &s->conns[s->nconns];
        memset(c, 0, sizeof *c);
        /* Connect with this endpoint as the connection_string and the
         * rest of p's keys. */
        st = ipm_params_new(&q);
        if (st == IPM_OK) {
            static const char *const keys[] = {
                "user",    "password",          "creds", "tls_ca", "tls_cert",
                "tls_key", "connect_timeout_ms"};
            st = ipm_params_set(q, "connection_string", eps[i]);
            for (size_t k = 0; st == IPM_OK && k < sizeof keys / sizeof keys[0]; k++)
                if (ipm_params_get(p, keys[k]))
                    st = ipm_params_set(q, keys[k], ipm_params_get(p, keys[k]));
        }
        if (st == IPM_OK) st = ipm__nats_endpoint_parse("NatsSubscriber", eps[i], &c->ep);
        if (st == IPM_OK && (c->text = strdup(eps[i])) == NULL)
            st = ipm_set_error(IPM_ENOMEM, "NatsSubscriber: out of memory");
        if (st == IPM_OK)
            st = ipm__nats_connect("NatsSubscriber", q, &c->ep, NULL, NULL, 0, &c->nc);
        s->nconns++;
        if (st == IPM_OK) st = sync_conn(s, c);
        ipm_params_free(q);
        q = NULL;
    }
    free(eps);
    if (st == IPM_OK) st = join_endpoints(s);
    if (st != IPM_OK) {
        while (s->nconns > before)
            conn_close(&s->conns[--s->nconns]);
        return st;
    }
    pthread_mutex_lock(&s->in->lock);
    s->in->hwm = (size_t)hwm;
    pthread_mutex_unlock(&s->in->lock);
    return IPM_OK;
}

static const char *sub_endpoint(const void *state)
{
    const nats_sub *s = state;
    return s->nconns ? s->endpoint : NULL;
}

static bool matches(const nats_sub *s, const char *t, size_t len)
{
    for (size_t i = 0; i < s->ntopics; i++)
        if (s->topics[i].len <= len &&
            memcmp(s->topics[i].text, t, s->topics[i].len) == 0)
            return true;
    return false;
}

/* The length of the base subject a message came in on: the connection
 * whose subject prefixes it (the longest, if several do). */
static size_t base_len(const nats_sub *s, const char *subject)
{
    size_t best = 0;
    for (size_t k = 0; k < s->nconns; k++) {
        size_t l = strlen(s->conns[k].ep.subject);
        if (l > best && strncmp(subject, s->conns[k].ep.subject, l) == 0 &&
            subject[l] == '.')
            best = l;
    }
    return best;
}

static ipm_status receive_inner(nats_sub *s, ipm_message *msg, int timeout_ms)
{
    inbox *in = s->in;
    int64_t deadline = ipm_deadline_ns(timeout_ms);
    struct timespec ts;
    bool timed = ipm_deadline_timespec(deadline, CLOCK_MONOTONIC, &ts);
    char topic_buf[IPM_NATS_MAX_METADATA + 1];
    for (;;) {
        pthread_mutex_lock(&in->lock);
        while (in->head == NULL && !in->closed) {
            if (timeout_ms == 0) break;
            int rc = timed ? pthread_cond_timedwait(&in->cond, &in->lock, &ts)
                           : pthread_cond_wait(&in->cond, &in->lock);
            if (rc != 0 && in->head == NULL && ipm_remaining_ms(deadline) == 0) break;
        }
        if (in->closed) {
            pthread_mutex_unlock(&in->lock);
            return ipm_set_error(IPM_ESTATE, "NatsSubscriber: destroyed while receiving");
        }
        queued *q = in->head;
        if (q != NULL) {
            in->head = q->next;
            if (in->head == NULL) in->tail = NULL;
            in->count--;
            in->bytes -= (uint64_t)natsMsg_GetDataLength(q->m);
        }
        pthread_mutex_unlock(&in->lock);
        if (q == NULL) {
            /* Name a connection that is down, if one is. */
            natsConnection *down = NULL;
            for (size_t i = 0; i < s->nconns && down == NULL; i++)
                if (s->conns[i].nc != NULL &&
                    natsConnection_Status(s->conns[i].nc) != NATS_CONN_STATUS_CONNECTED)
                    down = s->conns[i].nc;
            return ipm__nats_timed_out("NatsSubscriber", s->endpoint, down, timeout_ms);
        }
        natsMsg *m = q->m;
        free(q);
        const char *subject = natsMsg_GetSubject(m);
        size_t len = ipm__nats_subject_topic(subject, base_len(s, subject), topic_buf,
                                             sizeof topic_buf);
        if (!matches(s, topic_buf, len)) {
            natsMsg_Destroy(m);
            continue;
        }
        return ipm__nats_hand_over(m, topic_buf, len, msg);
    }
}

static ipm_status sub_receive(void *state, ipm_message *msg, int timeout_ms)
{
    nats_sub *s = state;
    if (getpid() != s->pid)
        return ipm_set_error(IPM_ESTATE,
                             "NatsSubscriber: made by process %ld, cannot be used in "
                             "its forked child %ld (the client's threads exist only in "
                             "the parent); create a new one",
                             (long)s->pid, (long)getpid());
    inbox *in = s->in;
    pthread_mutex_lock(&in->lock);
    in->waiters++;
    pthread_mutex_unlock(&in->lock);
    ipm_status st = receive_inner(s, msg, timeout_ms);
    pthread_mutex_lock(&in->lock);
    if (--in->waiters == 0 && in->closed) pthread_cond_broadcast(&in->cond);
    pthread_mutex_unlock(&in->lock);
    return st;
}

static ipm_status sub_subscribe(void *state, const char *t)
{
    nats_sub *s = state;
    size_t len = strlen(t);
    if (len > IPM_NATS_MAX_METADATA)
        return ipm_set_error(IPM_EINVAL,
                             "NatsSubscriber: cannot subscribe to a topic of %zu bytes: "
                             "topics are limited to %d bytes",
                             len, IPM_NATS_MAX_METADATA);
    for (size_t i = 0; i < s->ntopics; i++)
        if (s->topics[i].len == len && memcmp(s->topics[i].text, t, len) == 0) {
            s->topics[i].count++;
            return IPM_OK;
        }
    if (s->ntopics == s->topics_cap) {
        size_t cap = s->topics_cap ? 2 * s->topics_cap : 8;
        topic *nt = realloc(s->topics, cap * sizeof *nt);
        if (nt == NULL) return ipm_set_error(IPM_ENOMEM, "NatsSubscriber: out of memory");
        s->topics = nt;
        s->topics_cap = cap;
    }
    char *copy = strdup(t);
    if (copy == NULL) return ipm_set_error(IPM_ENOMEM, "NatsSubscriber: out of memory");
    s->topics[s->ntopics++] = (topic){copy, len, 1};
    ipm_status st = sync_all(s);
    if (st != IPM_OK) {
        free(s->topics[--s->ntopics].text);
        sync_all(s);
    }
    return st;
}

static ipm_status sub_unsubscribe(void *state, const char *t)
{
    nats_sub *s = state;
    size_t len = strlen(t);
    for (size_t i = 0; i < s->ntopics; i++) {
        if (s->topics[i].len != len || memcmp(s->topics[i].text, t, len) != 0) continue;
        if (--s->topics[i].count > 0) return IPM_OK;
        free(s->topics[i].text);
        /* Keep indexes aligned with every connection's subs[]: move the
         * last topic (and its subscriptions) into slot i. */
        size_t last = --s->ntopics;
        for (size_t k = 0; k < s->nconns; k++) {
            conn *c = &s->conns[k];
            drop_sub(&c->subs[i]);
            c->subs[i] = c->subs[last];
            c->subs[last] = NULL;
        }
        s->topics[i] = s->topics[last];
        return sync_all(s);
    }
    return IPM_OK;
}

static uint64_t sub_dropped(const void *state)
{
    const nats_sub *s = state;
    return atomic_load(&s->in->dropped);
}

static void sub_limits(const void *state, ipm_limits *out)
{
    const nats_sub *s = state;
    for (size_t k = 0; k < s->nconns; k++) {
        ipm_limits l = *out;
        ipm__nats_limits_from(s->conns[k].nc, false, &l);
        if (l.max_message_size < out->max_message_size || k == 0)
            out->max_message_size = l.max_message_size;
    }
}

static void sub_destroy(void *state)
{
    nats_sub *s = state;
    if (s == NULL) return;
    if (getpid() == s->pid) {
        /* Wake a receive waiting in another thread and let it leave first
         * (bounded: it leaves as soon as it wakes). */
        inbox *in = s->in;
        pthread_mutex_lock(&in->lock);
        in->closed = true;
        pthread_cond_broadcast(&in->cond);
        struct timespec ts;
        ipm_deadline_timespec(ipm_deadline_ns(2000), CLOCK_MONOTONIC, &ts);
        while (in->waiters > 0)
            if (pthread_cond_timedwait(&in->cond, &in->lock, &ts) != 0) break;
        pthread_mutex_unlock(&in->lock);
        for (size_t k = 0; k < s->nconns; k++)
            conn_close(&s->conns[k]);
    } else {
        /* A forked child: the client's threads and sockets are the
         * parent's; free only this process's copy of our own memory. */
        for (size_t k = 0; k < s->nconns; k++) {
            free(s->conns[k].subs);
            ipm__nats_endpoint_free(&s->conns[k].ep);
            free(s->conns[k].text);
        }
        s->nconns = 0;
        s->in = NULL;
    }
    free(s->conns);
    for (size_t i = 0; i < s->ntopics; i++)
        free(s->topics[i].text);
    free(s->topics);
    free(s->endpoint);
    if (s->in != NULL) inbox_unref(s->in);
    free(s);
}

static const ipm_plugin_ops sub_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = sub_create,
    .connect = sub_connect,
    .endpoint = sub_endpoint,
    .destroy = sub_destroy,
    .receive = sub_receive,
    .release = ipm__nats_release,
    .subscribe = sub_subscribe,
    .unsubscribe = sub_unsubscribe,
    .dropped = sub_dropped,
    .check = sub_check,
    .limits = sub_limits,
};

static const char *const sub_keys[] = {IPM_NATS_COMMON_KEYS, "connection_strings",
                                       "recv_hwm", "capacity", NULL};

static const ipm_plugin sub_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SUBSCRIBER,
    .name = "NatsSubscriber",
    .version = "1.0.0",
    .description = "NATS core subscription by topic prefix (server-side matching)",
    .keys = sub_keys,
    .ops = &sub_ops,
    .limits = &ipm__nats_pubsub_limits,
};

IPM_PLUGIN_DEFINE(NatsSubscriber, &sub_plugin)
