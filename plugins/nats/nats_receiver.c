/*
 * nats_receiver.c — NatsReceiver: reads the endpoint's JetStream stream
 * through a durable pull consumer (key `durable`, default "ipm"; explicit
 * acknowledgement), and delivers every stored message once, in stream
 * order.
 *
 * The rule (docs/nats.md):
 *  - A message is acknowledged when receive hands it to the application.
 *    With work-queue retention the stream then drops it; what is not
 *    acknowledged stays stored for the next receiver.
 *  - The receiver remembers the stream sequence it delivered last. A
 *    message at or below it is a redelivery (its acknowledgement was lost
 *    or is still on its way): it is acknowledged again and dropped.
 *  - The stream's sequences of one subject have no holes (nothing but
 *    acknowledgement removes a message, and acknowledgements go in order),
 *    so a message above last + 1 means one was lost on its way here (a
 *    server died with it in flight). The receiver then does not deliver it:
 *    it recreates the consumer, which starts again at the oldest
 *    unacknowledged message, and accepts the first message that follows
 *    the restart whatever its sequence.
 *  - At connect the consumer is recreated the same way, so messages the
 *    previous receiver fetched but never delivered come first, not after an
 *    acknowledgement wait.
 * One NatsReceiver per endpoint: a second one takes the consumer over.
 * Messages are fetched in batches of up to FETCH_BATCH (a pull request that
 * the server answers the moment a message is stored, so an arrival wakes a
 * waiting receive at once).
 * Keys: the common ones, replicas, stream, durable.
 */
#define _GNU_SOURCE
#include "nats_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define FETCH_BATCH 64
/* How long the server waits for an acknowledgement before delivering a
 * message again (it matters only for a message lost in flight with nothing
 * after it to reveal the gap). */
#define ACK_WAIT_MS 5000
/* Longest single fetch: a pull request sent on a connection that then died
 * is never answered, so a long receive asks again at least this often. */
#define MAX_FETCH_MS 1000
/* Consecutive fetch failures (not timeouts) after which the consumer is
 * recreated: it may have been lost with a server. */
#define RESET_AFTER_FAILURES 3
#define RETRY_PAUSE_MS 20
/* Fetching nothing for this long while the consumer has messages pending
 * (not yet delivered, or delivered and not acknowledged: deliveries or
 * acknowledgements lost with a connection) restarts the consumer, instead
 * of waiting out the acknowledgement wait or a consumer stuck at its
 * limit of unacknowledged messages. */
#define STALL_MS 1500
/* libnats 3.4.1 (Debian 12) writes past its own batch array in a fetch
 * that finds some, but fewer than a batch, of messages already waiting in
 * the subscription: it lowers the batch by what it found, then counts on
 * against the lowered figure until its timeout (nats-io/nats.c#749, fixed
 * in 3.10.0; seen here as heap corruption in its garbage collector, and by
 * ASan as an overflow of the array). Messages wait there only when a pull
 * request outlived the fetch that sent it: a fetch that came back short of
 * its batch, whose request the server may still answer for a moment. So
 * while anything waits, and for LATE_GRACE_MS after a short fetch, the
 * receiver fetches one message at a time, where that cannot happen (it
 * finds none or all of a batch of one). */
#define LATE_GRACE_MS 3000

typedef struct nats_receiver {
    ipm_nats_js j;
    char durable[64];
    natsSubscription *sub;
    natsMsgList batch;
    int next; /* index of the next message of batch */
    uint64_t last;
    bool resync; /* accept the next message whatever its sequence */
    /* The next reset_consumer deletes the consumer first. Cleared once the
     * delete is done, so that retrying a creation that timed out never
     * deletes a consumer still being created (see reset_consumer). */
    bool delete_first;
    int failures;
    int64_t active_ns;     /* last delivery, reset or stall check */
    int64_t late_until_ns; /* a short fetch's request may still deliver */
    /* destroy from another thread while a receive waits: it sets closing,
     * closes the connection (which ends the fetch) and waits until busy is
     * 0, so the receive never touches freed state. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int busy;
    atomic_bool closing;
} nats_receiver;

static ipm_status receiver_create(void **state)
{
    nats_receiver *r = calloc(1, sizeof *r);
    if (r == NULL) return ipm_set_error(IPM_ENOMEM, "NatsReceiver: out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->lock, NULL);
    atomic_init(&r->closing, false);
    *state = r;
    return IPM_OK;
}

static ipm_status check_keys(const ipm_params *p, bool need_endpoint)
{
    ipm_status st = ipm__nats_js_check("NatsReceiver", p, need_endpoint);
    if (st != IPM_OK) return st;
    const char *d = ipm_params_get(p, "durable");
    if (d != NULL) {
        bool ok = d[0] != '\0' && strlen(d) < 64;
        for (const char *c = d; ok && *c; c++)
            ok = !(*c == '.' || *c == '*' || *c == '>' || (unsigned char)*c <= ' ' ||
                   (unsigned char)*c >= 0x7f);
        if (!ok)
            return ipm_set_error(IPM_ECONFIG,
                                 "NatsReceiver: key 'durable': '%s' is not a consumer "
                                 "name (1 to 63 printable bytes, none of . * > or space)",
                                 d);
    }
    return IPM_OK;
}

static void drop_batch(nats_receiver *r)
{
    /* Unacknowledged: the consumer delivers them again. */
    natsMsgList_Destroy(&r->batch);
    memset(&r->batch, 0, sizeof r->batch);
    r->next = 0;
}

/* Bind a pull subscription to the durable consumer, first deleting it if
 * delete_first is set (a restart: it begins again at the oldest
 * unacknowledged message) and then creating it.
 *
 * A creation that timed out is retried without deleting again: in a
 * cluster that has just lost a server, a new consumer's group may take
 * longer to elect its leader than the API wait (nats-server 2.9's
 * elections take 4-9 s), and deleting it on every retry started that
 * election over for as long as a receive waited (nats_cluster failed one
 * run in four). Creating a durable that exists with this configuration
 * returns it, so the retry binds the consumer once it is ready. */
/* A consumer call that failed. One that timed out, found no responder or
 * was refused while reconnecting is a cluster electing a leader or a link
 * coming back: it is
 * IPM_ETIMEDOUT, so that a receive with a long timeout goes on waiting
 * (the core calls the plugin again slice by slice, and the next call
 * retries) instead of ending with an error the application would have to
 * retry itself. nats_cluster saw one in CI, under ASan, when the stream's
 * leader was killed. Anything else is IPM_ECONNECT. */
static ipm_status consumer_error(const nats_receiver *r, const char *what, natsStatus s)
{
    /* A connection that is reconnecting (a host cut off) refuses requests
     * at once: NATS_INSUFFICIENT_BUFFER, as it keeps no reconnect buffer. */
    bool transient = s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS ||
                     s == NATS_INSUFFICIENT_BUFFER ||
                     natsConnection_Status(r->j.nc) == NATS_CONN_STATUS_RECONNECTING;
    if (!transient)
        return ipm__nats_error(IPM_ECONNECT, "NatsReceiver", r->j.endpoint, what, s);
    char w[240];
    snprintf(w, sizeof w,
             "%s (no answer yet: is the connection reconnecting, or the cluster "
             "electing a leader? the next receive tries again)",
             what);
    return ipm__nats_error(IPM_ETIMEDOUT, "NatsReceiver", r->j.endpoint, w, s);
}

static ipm_status reset_consumer(nats_receiver *r)
{
    drop_batch(r);
    if (r->sub != NULL) {
        natsSubscription_Destroy(r->sub);
        r->sub = NULL;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = r->j.api_wait_ms;
    jsErrCode jerr = 0;
    natsStatus s;
    if (r->delete_first) {
        s = js_DeleteConsumer(r->j.js, r->j.stream, r->durable, &jo, &jerr);
        if (s != NATS_OK && s != NATS_NOT_FOUND)
            return consumer_error(r, "delete the old consumer", s);
        r->delete_first = false;
    }
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = r->durable;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = (int64_t)ACK_WAIT_MS * 1000000;
    cc.MaxAckPending = 4 * FETCH_BATCH;
    jsConsumerInfo *ci = NULL;
    jerr = 0;
    s = js_AddConsumer(&ci, r->j.js, r->j.stream, &cc, &jo, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK && jerr != JSConsumerNameExistErr) {
        char what[160];
        snprintf(what, sizeof what, "create consumer '%s' (JetStream error %d)",
                 r->durable, (int)jerr);
        return consumer_error(r, what, s);
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = r->j.stream;
    so.Consumer = r->durable;
    s = js_PullSubscribe(&r->sub, r->j.js, r->j.ep.subject, r->durable, &jo, &so, &jerr);
    if (s != NATS_OK) return consumer_error(r, "subscribe to the consumer", s);
    r->resync = true;
    r->failures = 0;
    r->active_ns = ipm_now_ns();
    return IPM_OK;
}

/* Start the consumer again at the oldest unacknowledged message. */
static ipm_status restart_consumer(nats_receiver *r)
{
    r->delete_first = true;
    return reset_consumer(r);
}

/* Called after a fetch that brought nothing: restart the consumer if it
 * has been idle for STALL_MS with messages pending. */
static void check_stall(nats_receiver *r)
{
    int64_t now = ipm_now_ns();
    if (now - r->active_ns < (int64_t)STALL_MS * 1000000) return;
    r->active_ns = now;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 1000;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, r->j.js, r->j.stream, r->durable, &jo, &jerr);
    bool stuck = s != NATS_OK || ci->NumPending > 0 || ci->NumAckPending > 0;
    if (s == NATS_OK)
        ipm_log(IPM_LOG_INFO,
                "NatsReceiver %s: idle %d ms: consumer has %llu pending, %lld "
                "unacknowledged, "
                "%lld waiting requests%s",
                r->j.endpoint, STALL_MS, (unsigned long long)ci->NumPending,
                (long long)ci->NumAckPending, (long long)ci->NumWaiting,
                stuck ? ": restarting it" : "");
    jsConsumerInfo_Destroy(ci);
    if (stuck && s == NATS_OK) restart_consumer(r);
}

/* The check op: the values given, without connecting. */
static ipm_status receiver_check(const ipm_params *p)
{
    return check_keys(p, false);
}

static ipm_status receiver_connect(void *state, const ipm_params *p)
{
    nats_receiver *r = state;
    if (r->j.nc != NULL)
        return ipm_set_error(IPM_ENOTSUP, "NatsReceiver: already connected to '%s'",
                             r->j.endpoint);
    ipm_status st = check_keys(p, true);
    if (st != IPM_OK) return st;
    snprintf(r->durable, sizeof r->durable, "%s",
             ipm_params_get_str(p, "durable", IPM_NATS_DEFAULT_DURABLE));
    st = ipm__nats_js_open(&r->j, "NatsReceiver", p, NULL, NULL);
    if (st != IPM_OK) return st;
    st = restart_consumer(r);
    /* At connect, a consumer that cannot be made is a connection failure,
     * whatever the reason. */
    if (st == IPM_ETIMEDOUT) {
        char why[1024]; /* a copy: ipm_set_error writes where the text is */
        snprintf(why, sizeof why, "%s", ipm_last_error());
        st = ipm_set_error(IPM_ECONNECT, "%s", why);
    }
    if (st != IPM_OK) {
        if (r->sub) natsSubscription_Destroy(r->sub);
        r->sub = NULL;
        ipm__nats_js_close(&r->j);
    }
    return st;
}

static const char *receiver_endpoint(const void *state)
{
    const nats_receiver *r = state;
    return r->j.nc ? r->j.endpoint : NULL;
}

/* The batch for the next fetch: FETCH_BATCH, or 1 where libnats 3.4.1
 * could overflow a larger one (LATE_GRACE_MS). */
static int batch_size(const nats_receiver *r)
{
    int pending = 0;
    if (ipm_now_ns() < r->late_until_ns ||
        natsSubscription_GetPending(r->sub, &pending, NULL) != NATS_OK || pending > 0)
        return 1;
    return FETCH_BATCH;
}

/* Fetch into r->batch, waiting up to wait_ms (0: what is there now). */
static natsStatus fetch(nats_receiver *r, int wait_ms)
{
    drop_batch(r);
    int batch = batch_size(r);
    jsErrCode jerr = 0;
    natsStatus s;
    if (wait_ms == 0) {
        jsFetchRequest fr;
        jsFetchRequest_Init(&fr);
        fr.Batch = batch;
        fr.NoWait = true;
        /* The client still needs a bound for the server's answer. */
        fr.Expires = 1000LL * 1000000;
        s = natsSubscription_FetchRequest(&r->batch, r->sub, &fr);
    } else {
        s = natsSubscription_Fetch(&r->batch, r->sub, batch, wait_ms, &jerr);
    }
    if (r->batch.Count < batch)
        r->late_until_ns = ipm_now_ns() + (int64_t)LATE_GRACE_MS * 1000000;
    return s;
}

static ipm_status deliver(nats_receiver *r, natsMsg *m, ipm_message *msg)
{
    const char *value = NULL;
    char meta[IPM_NATS_MAX_METADATA + 1];
    size_t len = 0;
    if (natsMsgHeader_Get(m, IPM_NATS_METADATA_HEADER, &value) == NATS_OK &&
        value != NULL && strlen(value) <= 3 * IPM_NATS_MAX_METADATA) {
        char dec[3 * IPM_NATS_MAX_METADATA + 1];
        len = ipm__nats_meta_decode(value, dec);
        if (len > IPM_NATS_MAX_METADATA) len = IPM_NATS_MAX_METADATA;
        memcpy(meta, dec, len);
    }
    meta[len] = '\0';
    natsMsg_Ack(m, NULL);
    return ipm__nats_hand_over(m, meta, len, msg);
}

static ipm_status closed_error(void)
{
    return ipm_set_error(IPM_ESTATE, "NatsReceiver: destroyed while receiving");
}

static ipm_status receive_inner(nats_receiver *r, ipm_message *msg, int timeout_ms)
{
    int64_t deadline = ipm_deadline_ns(timeout_ms);
    bool tried = false;
    for (;;) {
        while (r->next < r->batch.Count) {
            natsMsg *m = r->batch.Msgs[r->next];
            r->batch.Msgs[r->next++] = NULL;
            jsMsgMetaData *md = NULL;
            if (natsMsg_GetMetaData(&md, m) != NATS_OK) {
                /* Not a stream message (a stray reply): not ours. */
                natsMsg_Destroy(m);
                continue;
            }
            uint64_t seq = md->Sequence.Stream;
            jsMsgMetaData_Destroy(md);
            if (seq <= r->last) {
                natsMsg_Ack(m, NULL);
                natsMsg_Destroy(m);
                continue;
            }
            if (seq != r->last + 1 && !r->resync) {
                ipm_log(IPM_LOG_INFO,
                        "NatsReceiver %s: stream sequence %llu after %llu: restarting "
                        "the consumer at the oldest unacknowledged message",
                        r->j.endpoint, (unsigned long long)seq,
                        (unsigned long long)r->last);
                natsMsg_Destroy(m);
                ipm_status st = restart_consumer(r);
                if (st != IPM_OK && !ipm__nats_js_backoff(deadline, RETRY_PAUSE_MS))
                    return st;
                break;
            }
            r->last = seq;
            r->resync = false;
            r->active_ns = ipm_now_ns();
            return deliver(r, m, msg);
        }
        if (r->sub == NULL) {
            ipm_status st = reset_consumer(r);
            if (st != IPM_OK) {
                if (!ipm__nats_js_backoff(deadline, RETRY_PAUSE_MS)) return st;
                continue;
            }
        }
        int left = ipm_remaining_ms(deadline);
        if (left == 0 && (timeout_ms != 0 || tried))
            return ipm__nats_timed_out("NatsReceiver", r->j.endpoint, r->j.nc,
                                       timeout_ms);
        tried = true;
        int wait = left < 0 || left > MAX_FETCH_MS ? MAX_FETCH_MS : left;
        if (atomic_load(&r->closing)) return closed_error();
        natsStatus s = fetch(r, wait);
        if (atomic_load(&r->closing)) return closed_error();
        if (s != NATS_OK)
            ipm_log(IPM_LOG_DEBUG, "NatsReceiver %s: fetch: %s (%d messages)",
                    r->j.endpoint, natsStatus_GetText(s), r->batch.Count);
        if (s == NATS_OK || s == NATS_TIMEOUT || r->batch.Count > 0) {
            r->failures = 0;
            if (r->batch.Count == 0 && r->sub != NULL) check_stall(r);
            continue;
        }
        /* Failed at once (a reconnect, no leader for a moment): pause, and
         * recreate the consumer if it keeps failing. */
        if (++r->failures >= RESET_AFTER_FAILURES) {
            if (r->sub) natsSubscription_Destroy(r->sub);
            r->sub = NULL;
            r->delete_first = true;
        }
        if (!ipm__nats_js_backoff(deadline, RETRY_PAUSE_MS) && timeout_ms != 0)
            return ipm_set_timeout_reason(
                "NatsReceiver %s: nothing received within %d ms "
                "(last fetch: %s)",
                r->j.endpoint, timeout_ms, natsStatus_GetText(s));
        if (timeout_ms == 0)
            return ipm_set_timeout_reason("NatsReceiver %s: nothing to receive (%s)",
                                          r->j.endpoint, natsStatus_GetText(s));
    }
}

static ipm_status receiver_receive(void *state, ipm_message *msg, int timeout_ms)
{
    nats_receiver *r = state;
    ipm_status st = ipm__nats_js_same_process(&r->j);
    if (st != IPM_OK) return st;
    pthread_mutex_lock(&r->lock);
    r->busy++;
    pthread_mutex_unlock(&r->lock);
    st = receive_inner(r, msg, timeout_ms);
    pthread_mutex_lock(&r->lock);
    if (--r->busy == 0) pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return st;
}

static void receiver_limits(const void *state, ipm_limits *out)
{
    const nats_receiver *r = state;
    ipm__nats_limits_from(r->j.nc, true, out);
}

static void receiver_destroy(void *state)
{
    nats_receiver *r = state;
    if (r == NULL) return;
    bool here = r->j.nc == NULL || ipm__nats_js_same_process(&r->j) == IPM_OK;
    if (here) {
        atomic_store(&r->closing, true);
        pthread_mutex_lock(&r->lock);
        if (r->busy > 0 && r->j.nc != NULL) {
            /* Ends the fetch that receive waits in. Acknowledgements sent
             * so far are flushed first. */
            natsConnection_FlushTimeout(r->j.nc, 1000);
            natsConnection_Close(r->j.nc);
            struct timespec ts;
            ipm_deadline_timespec(ipm_deadline_ns(2000), CLOCK_MONOTONIC, &ts);
            while (r->busy > 0)
                if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) != 0) break;
        }
        pthread_mutex_unlock(&r->lock);
        drop_batch(r);
        /* Not unsubscribed: that would delete the durable consumer. */
        if (r->sub != NULL) natsSubscription_Destroy(r->sub);
    }
    ipm__nats_js_close(&r->j);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static const ipm_plugin_ops receiver_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = receiver_create,
    .connect = receiver_connect,
    .endpoint = receiver_endpoint,
    .destroy = receiver_destroy,
    .receive = receiver_receive,
    .release = ipm__nats_release,
    .check = receiver_check,
    .limits = receiver_limits,
};

static const char *const receiver_keys[] = {IPM_NATS_COMMON_KEYS, IPM_NATS_STREAM_KEYS,
                                            "durable", NULL};

static const ipm_plugin receiver_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "NatsReceiver",
    .version = "1.0.0",
    .description =
        "NATS JetStream durable pull consumer; once, in order, across restarts",
    .keys = receiver_keys,
    .ops = &receiver_ops,
    .limits = &ipm__nats_stream_limits,
};

IPM_PLUGIN_DEFINE(NatsReceiver, &receiver_plugin)
