/*
 * nng_sender.c — NngSender: the sending end of a lossless sender/receiver
 * pair, an nng push0 socket that dials an NngReceiver (or any pull0).
 *
 * Why a window of asynchronous sends instead of nng's NNG_OPT_SENDBUF:
 * nng_close drops whatever push0 still holds, and nng 1.5 has no linger
 * and no way to ask how much is queued. An unbuffered push0 tells when its
 * peer has written everything (NNG_OPT_SENDFD is readable exactly when a
 * connection is idle), so the sender keeps push0 unbuffered and lets the
 * caller run ahead with up to send_buffer sends in flight (nng_send_aio);
 * destroy then waits, up to linger_ms, until they have all been handed to
 * the connection and the connection has written the last one.
 *
 * As ZmqSender (ZMQ_IMMEDIATE), nothing is accepted while no receiver is
 * connected: such a send waits for one up to its timeout and then fails
 * with IPM_ETIMEDOUT, nothing sent, instead of being queued and lost.
 * Keys: connection_string, send_buffer (messages in flight, default 1024,
 * at most 8192), linger_ms (default 1000), tls_cert, tls_key, tls_ca.
 */
#define _GNU_SOURCE
#include "nng_common.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* nng's pipe callback (on an nng thread): count connected receivers. */
static void pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    ipm_nng *z = arg;
    pthread_mutex_lock(&z->lock);
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_fetch_add(&z->pipes, 1);
    else if (ev == NNG_PIPE_EV_REM_POST && atomic_load(&z->pipes) > 0)
        atomic_fetch_sub(&z->pipes, 1);
    pthread_cond_signal(&z->cond);
    pthread_mutex_unlock(&z->lock);
}

static ipm_status sender_create(void **state)
{
    ipm_status st = ipm__nng_create("NngSender", IPM_NNG_PUSH, state);
    if (st != IPM_OK) return st;
    ipm_nng *z = *state;
    atomic_init(&z->pipes, 0);
    bool ok = ipm__nng_sync_init(&z->lock, &z->cond);
    z->sync_ok = ok;
    int rv = 0;
    if (ok &&
        ((rv = nng_pipe_notify(z->sock, NNG_PIPE_EV_ADD_POST, pipe_event, z)) != 0 ||
         (rv = nng_pipe_notify(z->sock, NNG_PIPE_EV_REM_POST, pipe_event, z)) != 0))
        ok = false;
    if (!ok) {
        ipm__nng_destroy(z);
        *state = NULL;
        return ipm_set_error(IPM_ESYS, "NngSender: cannot set up the socket: %s",
                             rv != 0 ? nng_strerror(rv)
                                     : "no mutex or condition variable");
    }
    return IPM_OK;
}

static void free_slots(ipm_nng *z)
{
    for (size_t i = 0; i < z->nslots; i++)
        if (z->slots[i].aio != NULL) nng_aio_free(z->slots[i].aio);
    free(z->slots);
    z->slots = NULL;
    z->nslots = z->inflight = 0;
}

static ipm_status make_slots(ipm_nng *z, size_t n)
{
    z->slots = calloc(n, sizeof *z->slots);
    if (z->slots == NULL)
        return ipm_set_error(IPM_ENOMEM, "NngSender: out of memory for %zu sends", n);
    z->nslots = n;
    for (size_t i = 0; i < n; i++) {
        z->slots[i].owner = z;
        /* No callback: nng then completes a send inline, in whichever
         * thread hands it to the connection, with no hop through nng's
         * task threads (which would cost a wake-up per message). */
        int rv = nng_aio_alloc(&z->slots[i].aio, NULL, NULL);
        if (rv != 0) {
            free_slots(z);
            return ipm_set_error(IPM_ENOMEM, "NngSender: cannot allocate %zu sends: %s",
                                 n, nng_strerror(rv));
        }
        /* A send waits in push0 until a connection takes it; only
         * destroy (after linger_ms) ends the wait. */
        nng_aio_set_timeout(z->slots[i].aio, NNG_DURATION_INFINITE);
    }
    return IPM_OK;
}

static ipm_status sender_connect(void *state, const ipm_params *p)
{
    ipm_nng *z = state;
    if (z->connected)
        return ipm_set_error(
            IPM_ENOTSUP,
            "NngSender: already dialling '%s'; create another object for "
            "another endpoint",
            z->endpoint);
    ipm_status st = ipm__nng_enter(z->plugin, "connect");
    const char *endpoint = NULL;
    if (st == IPM_OK) st = ipm__nng_endpoint_param(z->plugin, p, &endpoint);
    uint64_t window = IPM_NNG_DEFAULT_SEND_WINDOW;
    long long linger = IPM_NNG_DEFAULT_LINGER_MS;
    if (st == IPM_OK)
        st = ipm_params_get_size(p, "send_buffer", IPM_NNG_DEFAULT_SEND_WINDOW, 0,
                                 IPM_NNG_MAX_BUFFER, &window);
    if (st == IPM_OK)
        st = ipm_params_get_int(p, "linger_ms", IPM_NNG_DEFAULT_LINGER_MS, 0,
                                IPM_NNG_MAX_LINGER_MS, &linger);
    if (st != IPM_OK) return st;
    int rv = nng_socket_get_int(z->sock, NNG_OPT_SENDFD, &z->sendfd);
    if (rv != 0)
        return ipm__nng_fail(z, IPM_ESYS, rv, "get the send descriptor for", endpoint);
    char *copy = strdup(endpoint);
    z->dialers = calloc(1, sizeof *z->dialers);
    if (copy == NULL || z->dialers == NULL) {
        free(copy);
        free(z->dialers);
        z->dialers = NULL;
        return ipm_set_error(IPM_ENOMEM, "NngSender: out of memory");
    }
    /* send_buffer 0: one message in flight, nng's unbuffered push0. */
    st = make_slots(z, window > 0 ? (size_t)window : 1);
    if (st == IPM_OK) st = ipm__nng_dial(z, p, endpoint, &z->dialers[0]);
    if (st != IPM_OK) {
        free_slots(z);
        free(copy);
        free(z->dialers);
        z->dialers = NULL;
        return st;
    }
    free(z->endpoint);
    z->endpoint = copy;
    z->linger_ms = (int)linger;
    z->connected = true;
    return IPM_OK;
}

/* Wait up to the deadline (-1: none) until a receiver is connected. */
static bool wait_for_peer(ipm_nng *z, int64_t deadline)
{
    pthread_mutex_lock(&z->lock);
    while (atomic_load(&z->pipes) == 0) {
        struct timespec ts;
        int rc;
        if (ipm_deadline_timespec(deadline, CLOCK_MONOTONIC, &ts))
            rc = pthread_cond_timedwait(&z->cond, &z->lock, &ts);
        else
            rc = pthread_cond_wait(&z->cond, &z->lock);
        if (rc == ETIMEDOUT) break;
    }
    bool ok = atomic_load(&z->pipes) > 0;
    pthread_mutex_unlock(&z->lock);
    return ok;
}

/* Wait until z->sendfd is readable, i.e. push0's connection is idle with
 * nothing waiting: every send in flight was handed to it and written. Up
 * to the deadline (-1: none); a signal resumes the wait. */
static bool wait_idle(ipm_nng *z, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = z->sendfd, .events = POLLIN};
        int ms = ipm_remaining_ms(deadline);
        int rc = poll(&pfd, 1, ms);
        if (rc > 0) return true;
        if (rc == 0 || errno != EINTR || ms == 0) return false;
    }
}

/* After wait_idle: every send in flight has completed; take the slots
 * back (nng_aio_wait returns at once for a completed send). */
static void reclaim(ipm_nng *z)
{
    for (size_t i = 0; i < z->inflight; i++) {
        nng_aio *aio = z->slots[i].aio;
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0) { /* only at close: never handed over */
            nng_msg *m = nng_aio_get_msg(aio);
            if (m != NULL) nng_msg_free(m);
            nng_aio_set_msg(aio, NULL);
        }
    }
    z->inflight = 0;
}

static ipm_status sender_send(void *state, const void *data, size_t size,
                              const char *metadata, size_t metadata_size, int timeout_ms)
{
    ipm_nng *z = state;
    if (ipm__nng_forked()) return ipm__nng_enter(z->plugin, "send");
    /* Fast path: a receiver is there and the window has room, so the send
     * costs no clock read, lock or system call of ours. */
    int64_t deadline = 0;
    bool timed = false;
    if (atomic_load_explicit(&z->pipes, memory_order_relaxed) == 0) {
        deadline = ipm_deadline_ns(timeout_ms);
        timed = true;
        if (!wait_for_peer(z, timeout_ms == 0 ? ipm_now_ns() : deadline))
            return ipm_set_error(IPM_ETIMEDOUT,
                                 "NngSender: no receiver connected at '%s' within %d ms; "
                                 "nothing was sent",
                                 z->endpoint, timeout_ms);
    }
    if (z->inflight == z->nslots) {
        /* The window is full: wait until the connection has written it. */
        if (!timed) deadline = ipm_deadline_ns(timeout_ms);
        if (!wait_idle(z, timeout_ms == 0 ? ipm_now_ns() : deadline))
            return ipm_set_error(
                IPM_ETIMEDOUT,
                "NngSender: the receiver at '%s' took nothing more within "
                "%d ms (%zu messages in flight); nothing was sent",
                z->endpoint, timeout_ms, z->nslots);
        reclaim(z);
    }
    nng_msg *m;
    ipm_status st = ipm__nng_make_msg(z, data, size, metadata, metadata_size, &m);
    if (st != IPM_OK) return st;
    /* push0 takes the message in order: at once if the connection is
     * idle, else after the sends before it. */
    nng_aio *aio = z->slots[z->inflight++].aio;
    nng_aio_set_msg(aio, m);
    nng_send_aio(z->sock, aio);
    return IPM_OK;
}

static void sender_destroy(void *state)
{
    ipm_nng *z = state;
    if (z == NULL) return;
    if (z->connected && !ipm__nng_forked()) {
        /* Linger: wait until everything accepted has been written, or
         * linger_ms. Then close, which fails what is still waiting for a
         * connection (NNG_ECLOSED), and free those messages. */
        if (z->inflight > 0 && z->linger_ms > 0)
            wait_idle(z, ipm_deadline_ns(z->linger_ms));
        if (ipm__nng_close(z)) reclaim(z);
    }
    ipm__nng_destroy(z);
}

static const ipm_plugin_ops sender_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = sender_create,
    .connect = sender_connect,
    .endpoint = ipm__nng_endpoint,
    .destroy = sender_destroy,
    .send = sender_send,
    .check = ipm__nng_check_sender,
    .limits = ipm__nng_limits_op,
};

static const char *const sender_keys[] = {
    "connection_string", "send_buffer", "linger_ms", "tls_cert",
    "tls_key",           "tls_ca",      NULL};

static const ipm_plugin sender_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "NngSender",
    .version = "1.0.0",
    .description = "nng push0, dials; lossless, in order, to one NngReceiver",
    .keys = sender_keys,
    .ops = &sender_ops,
    .limits = &ipm__nng_limits,
};

IPM_PLUGIN_DEFINE(NngSender, &sender_plugin)
