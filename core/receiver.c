/* receiver.c — ipm_receiver: the checks of API.md §3 around a plugin's
 * receive (message.c does the receive itself), subscriptions, the topics
 * key, callbacks' registration and stats. */
#define _GNU_SOURCE
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ipm_status create(const char *type, unsigned roles, const char *want,
                         ipm_receiver **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_receiver_create: out is NULL");
    *out = NULL;
    const ipm_plugin *pl;
    ipm_status st = ipm__plugin_for_role(type, roles, want, &pl);
    if (st != IPM_OK) return st;
    ipm_receiver *r = calloc(1, sizeof *r);
    if (!r) return ipm_set_error(IPM_ENOMEM, "creating %s: out of memory", pl->name);
    r->plugin = pl;
    r->receive = pl->ops->receive;
    st = ipm__fork_stamp(&r->owner, pl->name);
    if (st != IPM_OK) {
        free(r);
        return st;
    }
    pthread_mutex_init(&r->op_lock, NULL);
    pthread_mutex_init(&r->reg_lock, NULL);
    pthread_mutex_init(&r->closing_lock, NULL);
    pthread_cond_init(&r->left, NULL);
    st = pl->ops->create(&r->state);
    if (st != IPM_OK) {
        ipm_prefix_error("creating %s", pl->name);
        pthread_mutex_destroy(&r->op_lock);
        pthread_mutex_destroy(&r->reg_lock);
        pthread_mutex_destroy(&r->closing_lock);
        pthread_cond_destroy(&r->left);
        free(r);
        return st;
    }
    *out = r;
    return IPM_OK;
}

ipm_status ipm_receiver_create(const char *type, ipm_receiver **out)
{
    return create(type, (1u << IPM_ROLE_RECEIVER) | (1u << IPM_ROLE_SUBSCRIBER),
                  "a receiver or subscriber", out);
}

ipm_status ipm_subscriber_create(const char *type, ipm_receiver **out)
{
    return create(type, 1u << IPM_ROLE_SUBSCRIBER, "a subscriber", out);
}

/* Subscribe r to each comma-separated topic of p's `topics` key (present
 * but empty: every topic; absent: none). */
static ipm_status subscribe_topics(ipm_receiver *r, const ipm_params *p)
{
    char **topics;
    size_t n;
    ipm_status st = ipm_params_get_list(p, "topics", &topics, &n);
    if (st != IPM_OK || !topics) return st;
    /* A present but empty `topics` means every topic. */
    st = n == 0 ? ipm_subscribe(r, "") : IPM_OK;
    for (size_t i = 0; st == IPM_OK && i < n; i++)
        st = ipm_subscribe(r, topics[i]);
    free(topics);
    return st;
}

ipm_status ipm_receiver_connect(ipm_receiver *r, const ipm_params *p)
{
    if (!r || !p)
        return ipm_set_error(IPM_EINVAL, "ipm_receiver_connect: %s is NULL",
                             !r ? "receiver" : "params");
    if (ipm__forked(&r->owner))
        return ipm__forked_error(&r->owner, "ipm_receiver_connect", r->plugin->name);
    ipm_status st = ipm_params_check_keys(p, r->plugin);
    if (st != IPM_OK) return st;
    const char *cs = ipm_params_get(p, "connection_string");
    if (!cs) cs = ipm_params_get(p, "connection_strings");
    char *hint = cs ? ipm__strdup(cs) : NULL;
    if (cs && !hint) return IPM_ENOMEM;

    pthread_mutex_lock(&r->op_lock); /* a callback thread may be receiving */
    st = r->plugin->ops->connect(r->state, p);
    pthread_mutex_unlock(&r->op_lock);
    if (st != IPM_OK) {
        free(hint);
        return st;
    }
    /* The `topics` key subscribes however the receiver was connected, so a
     * connection described in an INI file means the same everywhere. */
    if ((st = subscribe_topics(r, p)) != IPM_OK) {
        free(hint);
        return st;
    }
    pthread_mutex_lock(&r->reg_lock);
    free(r->endpoint_hint);
    r->endpoint_hint = hint;
    atomic_store(&r->connected, true);
    /* A callback registered before connect starts receiving now. */
    if (r->cb_fn && !r->worker) st = ipm__callback_start(r);
    pthread_mutex_unlock(&r->reg_lock);
    return st;
}

const char *ipm_receiver_endpoint(const ipm_receiver *r)
{
    if (!r || !atomic_load(&r->connected)) return NULL;
    if (r->plugin->ops->endpoint) {
        const char *e = r->plugin->ops->endpoint(r->state);
        if (e) return e;
    }
    return r->endpoint_hint;
}

bool ipm_receiver_can_receive(const ipm_receiver *r)
{
    return r && atomic_load(&r->connected) && !atomic_load(&r->cb_registered);
}

#define CLOSING 1u /* bit 0 of r->inside; the count is in steps of 2 */

static bool closing(ipm_receiver *r)
{
    return atomic_load(&r->inside) & CLOSING;
}

/* Count the caller in; false if the receiver is already closing (the caller
 * is counted in all the same and must leave()). */
static inline bool enter(ipm_receiver *r)
{
    return !(atomic_fetch_add(&r->inside, 2) & CLOSING);
}

/* leave() of a receiver that is closing: the count drops under
 * closing_lock, where destroy reads it. */
static __attribute__((noinline)) void leave_closing(ipm_receiver *r)
{
    pthread_mutex_lock(&r->closing_lock);
    atomic_fetch_sub(&r->inside, 2);
    pthread_cond_broadcast(&r->left);
    pthread_mutex_unlock(&r->closing_lock);
}

/* Count the caller out. While closing, the count drops under closing_lock,
 * where destroy reads it: destroy cannot see zero and free r before this
 * thread has let go of the lock, and nothing of r is touched after that.
 * Inline: it is on every receive's path, the closing case is not. */
static inline void leave(ipm_receiver *r)
{
    unsigned v = atomic_load(&r->inside);
    while (!(v & CLOSING))
        if (atomic_compare_exchange_weak(&r->inside, &v, v - 2)) return;
    leave_closing(r);
}

static ipm_status destroyed_error(const ipm_receiver *r, const char *fn)
{
    return ipm_set_error(IPM_ESTATE,
                         "%s: receiver destroyed while waiting: another thread "
                         "destroyed this %s",
                         fn, r->plugin->name);
}

/* A wait longer than one slice, in slices, so that a destroy from another
 * thread is noticed between them. A message ends any slice at once, so the
 * slicing costs no latency. A slice that runs out is IPM_ETIMEDOUT; any
 * other status is the plugin reporting an event (a peer lost) and is
 * returned at once (plugin.h states this for plugin authors). */
static ipm_status sliced_wait(ipm_receiver *r, ipm_message *msg, int64_t deadline_ns,
                              int timeout_ms, const char *fn)
{
    for (;;) {
        if (closing(r)) return destroyed_error(r, fn);
        int slice = IPM__RECEIVE_SLICE_MS;
        if (deadline_ns >= 0) {
            int left = ipm_remaining_ms(deadline_ns);
            if (left == 0) break;
            if (left < slice) slice = left;
        }
        ipm_status st = ipm__receive_raw(r, msg, slice);
        if (st != IPM_ETIMEDOUT) return st;
    }
    if (closing(r)) return destroyed_error(r, fn);
    const char *ep = ipm_receiver_endpoint(r);
    if (ipm__last_error_is_reason()) {
        /* The last slice said why it got nothing: keep it. */
        char why[1024];
        snprintf(why, sizeof why, "%s", ipm_last_error());
        return ipm_set_error(
            IPM_ETIMEDOUT, "%s: no message on %s %s within %d ms; the last try said: %s",
            fn, r->plugin->name, ep ? ep : "", timeout_ms, why);
    }
    return ipm_set_error(IPM_ETIMEDOUT, "%s: no message on %s %s within %d ms", fn,
                         r->plugin->name, ep ? ep : "", timeout_ms);
}

/* The checks of API.md section 3 before a receive, with the error of the
 * first that fails; out of line, as the fast path below only tests them. */
static __attribute__((noinline, cold)) ipm_status
check_receive(ipm_receiver *r, ipm_message *msg, int timeout_ms, const char *fn)
{
    if (!r || !msg)
        return ipm_set_error(IPM_EINVAL, "%s: %s is NULL", fn,
                             !r ? "receiver" : "message");
    memset(msg, 0, sizeof *msg);
    if (ipm__forked(&r->owner)) return ipm__forked_error(&r->owner, fn, r->plugin->name);
    if (!atomic_load(&r->connected))
        return ipm_set_error(
            IPM_ESTATE,
            "%s on a %s that is not connected; call ipm_receiver_connect first", fn,
            r->plugin->name);
    if (atomic_load(&r->cb_registered))
        return ipm_set_error(IPM_ESTATE,
                             "%s: a callback owns this %s; unregister it with "
                             "ipm_receiver_set_callback(r, NULL, NULL) first",
                             fn, r->plugin->name);
    if (timeout_ms < IPM_BLOCK) return ipm__bad_timeout(fn, timeout_ms);
    return IPM_OK;
}

/* True if every check of check_receive passes: the test alone, so that a
 * receive that may go ahead pays a few compares and no call. */
static inline bool receive_allowed(const ipm_receiver *r, const ipm_message *msg,
                                   int timeout_ms)
{
    return r && msg && !ipm__forked(&r->owner) && atomic_load(&r->connected) &&
           !atomic_load(&r->cb_registered) && timeout_ms >= IPM_BLOCK;
}

/* The rest of a long wait whose first slice ran out (out of line: only a
 * receive that waits longer than a slice gets here). */
static __attribute__((noinline)) ipm_status
sliced_wait_rest(ipm_receiver *r, ipm_message *msg, int timeout_ms, const char *fn)
{
    int64_t deadline =
        timeout_ms < 0 ? -1 : ipm_deadline_ns(timeout_ms - IPM__RECEIVE_SLICE_MS);
    return sliced_wait(r, msg, deadline, timeout_ms, fn);
}

/* Receive for the application, waiting in slices when the wait is long.
 * The fast path (a message waiting, a short or no wait) is the plugin's own
 * receive between two atomic operations: no clock, no lock, no call layer
 * of the core's own (ipm__receive_raw is inline). */
static inline __attribute__((always_inline)) ipm_status
receive_checked(ipm_receiver *r, ipm_message *msg, int timeout_ms, const char *fn)
{
    if (!receive_allowed(r, msg, timeout_ms)) {
        /* Another thread may have changed the state since the test: the
         * full checks decide. */
        ipm_status st = check_receive(r, msg, timeout_ms, fn);
        if (st != IPM_OK) return st;
    }
    ipm_status st;
    if (!enter(r)) {
        memset(msg, 0, sizeof *msg);
        st = destroyed_error(r, fn);
    } else if (timeout_ms >= 0 && timeout_ms <= IPM__RECEIVE_SLICE_MS) {
        st = ipm__receive_raw(r, msg, timeout_ms);
    } else {
        /* The first slice reads no clock, so a message that is waiting is
         * taken without one. A slice that ran out took at least its time
         * (the plugin contract), so the rest of the wait is what is left. */
        st = ipm__receive_raw(r, msg, IPM__RECEIVE_SLICE_MS);
        if (st == IPM_ETIMEDOUT) st = sliced_wait_rest(r, msg, timeout_ms, fn);
    }
    leave(r);
    return st;
}

ipm_status ipm_receive(ipm_receiver *r, ipm_message *msg, int timeout_ms)
{
    return receive_checked(r, msg, timeout_ms, "ipm_receive");
}

ipm_status ipm_receive_exact(ipm_receiver *r, ipm_message *msg, int timeout_ms,
                             size_t required_size)
{
    ipm_status st = receive_checked(r, msg, timeout_ms, "ipm_receive_exact");
    if (st == IPM_OK && msg->size != required_size)
        return ipm_set_error(
            IPM_ESIZE,
            "ipm_receive_exact: received %zu bytes on %s, but %zu were "
            "required; the message is consumed and must still be released",
            msg->size, r->plugin->name, required_size);
    return st;
}

static ipm_status subscription(ipm_receiver *r, const char *topic, bool on)
{
    const char *fn = on ? "ipm_subscribe" : "ipm_unsubscribe";
    if (!r || !topic)
        return ipm_set_error(IPM_EINVAL, "%s: %s is NULL", fn, !r ? "receiver" : "topic");
    if (ipm__forked(&r->owner)) return ipm__forked_error(&r->owner, fn, r->plugin->name);
    if (r->plugin->role != IPM_ROLE_SUBSCRIBER)
        return ipm_set_error(IPM_ENOTSUP, "%s: %s is %s; only subscribers take topics",
                             fn, r->plugin->name, ipm__role_name(r->plugin->role));
    pthread_mutex_lock(&r->op_lock);
    ipm_status st = on ? r->plugin->ops->subscribe(r->state, topic)
                       : r->plugin->ops->unsubscribe(r->state, topic);
    pthread_mutex_unlock(&r->op_lock);
    return st;
}

ipm_status ipm_subscribe(ipm_receiver *r, const char *topic)
{
    return subscription(r, topic, true);
}

ipm_status ipm_unsubscribe(ipm_receiver *r, const char *topic)
{
    return subscription(r, topic, false);
}

void ipm_receiver_stats(const ipm_receiver *r, ipm_stats *out)
{
    if (!out) return;
    *out = (ipm_stats){0, 0, 0};
    if (!r) return;
    out->messages = atomic_load_explicit(&r->messages, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&r->bytes, memory_order_relaxed);
    if (r->plugin->ops->dropped) out->dropped = r->plugin->ops->dropped(r->state);
}

void ipm_receiver_destroy(ipm_receiver *r)
{
    if (!r) return;
    if (ipm__forked(&r->owner)) {
        /* A forked child: the plugin's state, the callback thread and any
         * thread that held a lock at the fork belong to the parent. Free only
         * the core's memory; the plugin's destroy could unlink the parent's
         * segment or close sockets of the parent's ZeroMQ context. */
        ipm__callback_forget(r->worker);
        free(r->endpoint_hint);
        free(r);
        return;
    }
    pthread_mutex_lock(&r->reg_lock);
    r->cb_fn = NULL;
    r->cb_user = NULL;
    atomic_store(&r->cb_registered, false);
    struct ipm_callback_worker *w = ipm__callback_detach(r);
    pthread_mutex_unlock(&r->reg_lock);
    ipm__callback_finish(w);
    /* A thread waiting in ipm_receive leaves within a slice; the plugin's
     * state is destroyed only once nobody is inside it. */
    pthread_mutex_lock(&r->closing_lock);
    atomic_fetch_or(&r->inside, CLOSING);
    while (atomic_load(&r->inside) & ~CLOSING)
        pthread_cond_wait(&r->left, &r->closing_lock);
    pthread_mutex_unlock(&r->closing_lock);
    r->plugin->ops->destroy(r->state);
    pthread_mutex_destroy(&r->op_lock);
    pthread_mutex_destroy(&r->reg_lock);
    pthread_mutex_destroy(&r->closing_lock);
    pthread_cond_destroy(&r->left);
    free(r->endpoint_hint);
    free(r);
}

ipm_status ipm_receiver_limits(const ipm_receiver *r, ipm_limits *out)
{
    if (!r || !out)
        return ipm_set_error(IPM_EINVAL, "ipm_receiver_limits: %s is NULL",
                             !r ? "receiver" : "out");
    ipm__limits(r->plugin, atomic_load(&r->connected) ? r->state : NULL, out);
    return IPM_OK;
}
