/* callback.c — the thread that owns a receiver while a callback is
 * registered: it receives, calls the callback with no library lock held,
 * releases the message, and stops when unregistered. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ipm_callback_worker {
    ipm_receiver *r;
    ipm_callback fn;
    void *user;
    pthread_t tid;
    atomic_bool stop;
    /* Set on the worker's own thread when its callback unregistered it: the
     * thread then frees the worker itself, since nobody joins it. */
    bool self_stopped;
    pthread_mutex_t wait_lock; /* for the back-off after a receive error */
    pthread_cond_t wake;
};

static void worker_free(struct ipm_callback_worker *w)
{
    pthread_mutex_destroy(&w->wait_lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}

/* After a receive error (a dead peer, say) wait before retrying, so that a
 * persistent error does not spin a core; a stop request ends the wait. */
static void back_off(struct ipm_callback_worker *w)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 100 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->wait_lock);
    while (!atomic_load(&w->stop) &&
           pthread_cond_timedwait(&w->wake, &w->wait_lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&w->wait_lock);
}

static void *run(void *arg)
{
    struct ipm_callback_worker *w = arg;
    /* Only w is read once a callback has returned: if the callback
     * unregistered itself the receiver may be gone already. */
    while (!atomic_load(&w->stop)) {
        ipm_message msg;
        ipm_receiver *r = w->r;
        pthread_mutex_lock(&r->op_lock);
        ipm_status st = ipm__receive_raw(r, &msg, IPM__CALLBACK_SLICE_MS);
        pthread_mutex_unlock(&r->op_lock);
        if (st == IPM_OK) {
            /* Delivered even if a stop came during the receive: the
             * unregistering thread is still joining, and dropping it would
             * lose a message of a lossless transport. */
            w->fn(&msg, w->user);
            ipm_message_release(&msg);
        } else if (st != IPM_ETIMEDOUT) {
            ipm_log(IPM_LOG_WARN, "callback thread of %s: receive failed: %s: %s",
                    r->plugin->name, ipm_strerror(st), ipm_last_error());
            back_off(w);
        }
    }
    if (w->self_stopped) worker_free(w);
    return NULL;
}

ipm_status ipm__callback_start(ipm_receiver *r)
{
    struct ipm_callback_worker *w = calloc(1, sizeof *w);
    if (!w)
        return ipm_set_error(IPM_ENOMEM,
                             "starting the callback thread of %s: out of memory",
                             r->plugin->name);
    w->r = r;
    w->fn = r->cb_fn;
    w->user = r->cb_user;
    pthread_mutex_init(&w->wait_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    int err = pthread_create(&w->tid, NULL, run, w);
    if (err) {
        worker_free(w);
        return ipm_set_error(IPM_ESYS, "starting the callback thread of %s: %s",
                             r->plugin->name, strerror(err));
    }
    r->worker = w;
    return IPM_OK;
}

struct ipm_callback_worker *ipm__callback_detach(ipm_receiver *r)
{
    struct ipm_callback_worker *w = r->worker;
    r->worker = NULL;
    return w;
}

void ipm__callback_finish(struct ipm_callback_worker *w)
{
    if (!w) return;
    if (pthread_equal(w->tid, pthread_self())) {
        /* Unregistered from inside its own callback: joining would deadlock.
         * The thread stops when the callback returns and frees itself. */
        w->self_stopped = true;
        atomic_store(&w->stop, true);
        pthread_detach(w->tid);
        return;
    }
    pthread_mutex_lock(&w->wait_lock);
    atomic_store(&w->stop, true);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->wait_lock);
    pthread_join(w->tid, NULL);
    worker_free(w);
}

void ipm__callback_forget(struct ipm_callback_worker *w)
{
    /* Its locks may have been held by threads that do not exist here. */
    free(w);
}

ipm_status ipm_receiver_set_callback(ipm_receiver *r, ipm_callback fn, void *user)
{
    if (!r)
        return ipm_set_error(IPM_EINVAL, "ipm_receiver_set_callback: receiver is NULL");
    if (ipm__forked(&r->owner))
        return ipm__forked_error(&r->owner, "ipm_receiver_set_callback", r->plugin->name);
    ipm_status st = IPM_OK;
    pthread_mutex_lock(&r->reg_lock);
    struct ipm_callback_worker *old = ipm__callback_detach(r);
    r->cb_fn = fn;
    r->cb_user = fn ? user : NULL;
    atomic_store(&r->cb_registered, fn != NULL);
    if (fn && atomic_load(&r->connected)) st = ipm__callback_start(r);
    if (st != IPM_OK) {
        r->cb_fn = NULL;
        r->cb_user = NULL;
        atomic_store(&r->cb_registered, false);
    }
    pthread_mutex_unlock(&r->reg_lock);
    /* Joined outside reg_lock: the callback being waited for may itself call
     * ipm_receiver_set_callback. */
    ipm__callback_finish(old);
    return st;
}
