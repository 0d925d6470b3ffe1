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

/* nng's completion callback of one send (on an nng thread). */
static void slot_done(void *arg)
{
    ipm_nng_slot *slot = arg;
    ipm_nng *z = slot->owner;
    if (nng_aio_result(slot->aio) != 0) {
        /* Only at close (NNG_ECLOSED: linger ran out with no receiver to
         * take it); the message was never handed to a connection. */
        nng_msg *m = nng_aio_get_msg(slot->aio);
        if (m != NULL) nng_msg_free(m);
        nng_aio_set_msg(slot->aio, NULL);
    }
    pthread_mutex_lock(&z->lock);
    z->free_slots[z->nfree++] = slot;
    pthread_cond_signal(&z->cond);
    pthread_mutex_unlock(&z->lock);
}

/* nng's pipe callback: count connected receivers. */
static void pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    ipm_nng *z = arg;
    pthread_mutex_lock(&z->lock);
    if (ev == NNG_PIPE_EV_ADD_POST)
        z->pipes++;
    else if (ev == NNG_PIPE_EV_REM_POST && z->pipes > 0)
        z->pipes--;
    pthread_cond_signal(&z->cond);
    pthread_mutex_unlock(&z->lock);
}

static ipm_status sender_create(void **state)
{
    ipm_status st = ipm__nng_create("NngSender", IPM_NNG_PUSH, state);
    if (st != IPM_OK) return st;
    ipm_nng *z = *state;
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&z->cond, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&z->lock, NULL) != 0) {
        pthread_cond_destroy(&z->cond);
        ok = false;
    }
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
    free(z->free_slots);
    z->slots = NULL;
    z->free_slots = NULL;
    z->nslots = z->nfree = 0;
}

static ipm_status make_slots(ipm_nng *z, size_t n)
{
    z->slots = calloc(n, sizeof *z->slots);
    z->free_slots = calloc(n, sizeof *z->free_slots);
    if (z->slots == NULL || z->free_slots == NULL) {
        free_slots(z);
        return ipm_set_error(IPM_ENOMEM, "NngSender: out of memory for %zu sends", n);
    }
    z->nslots = n;
    for (size_t i = 0; i < n; i++) {
        z->slots[i].owner = z;
        int rv = nng_aio_alloc(&z->slots[i].aio, slot_done, &z->slots[i]);
        if (rv != 0) {
            free_slots(z);
            return ipm_set_error(IPM_ENOMEM, "NngSender: cannot allocate %zu sends: %s",
                                 n, nng_strerror(rv));
        }
        /* A send waits in push0 until a connection takes it; only
         * destroy (after linger_ms) ends the wait. */
        nng_aio_set_timeout(z->slots[i].aio, NNG_DURATION_INFINITE);
        z->free_slots[z->nfree++] = &z->slots[i];
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
    z->npeers = 0;
    free(z->endpoint);
    z->endpoint = copy;
    z->linger_ms = (int)linger;
    z->connected = true;
    return IPM_OK;
}

/* Wait on z->cond until ready(z) or the deadline (-1: none); with
 * z->lock held. True if ready. */
static bool wait_until(ipm_nng *z, bool (*ready)(const ipm_nng *), int64_t deadline)
{
    while (!ready(z)) {
        struct timespec ts;
        int rc;
        if (ipm_deadline_timespec(deadline, CLOCK_MONOTONIC, &ts))
            rc = pthread_cond_timedwait(&z->cond, &z->lock, &ts);
        else
            rc = pthread_cond_wait(&z->cond, &z->lock);
        if (rc == ETIMEDOUT) return ready(z);
    }
    return true;
}

static bool can_send(const ipm_nng *z)
{
    return z->nfree > 0 && z->pipes > 0;
}

static bool all_handed_over(const ipm_nng *z)
{
    return z->nfree == z->nslots;
}

static ipm_status sender_send(void *state, const void *data, size_t size,
                              const char *metadata, size_t metadata_size, int timeout_ms)
{
    ipm_nng *z = state;
    if (ipm__nng_forked()) return ipm__nng_enter(z->plugin, "send");
    nng_msg *m;
    ipm_status st = ipm__nng_make_msg(z, data, size, metadata, metadata_size, &m);
    if (st != IPM_OK) return st;

    pthread_mutex_lock(&z->lock);
    bool ok = can_send(z);
    if (!ok && timeout_ms != 0) ok = wait_until(z, can_send, ipm_deadline_ns(timeout_ms));
    ipm_nng_slot *slot = ok ? z->free_slots[--z->nfree] : NULL;
    bool peer = z->pipes > 0;
    pthread_mutex_unlock(&z->lock);
    if (slot == NULL) {
        nng_msg_free(m);
        return ipm_set_error(
            IPM_ETIMEDOUT, "NngSender: %s '%s' within %d ms; nothing was sent",
            peer ? "the receiver took nothing more from" : "no receiver connected at",
            z->endpoint, timeout_ms);
    }
    /* push0 takes the message in order: at once if the connection is
     * idle, else after the sends before it. */
    nng_aio_set_msg(slot->aio, m);
    nng_send_aio(z->sock, slot->aio);
    return IPM_OK;
}

/* Wait until fd is readable or the deadline passes. */
static void wait_readable(int fd, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ms = ipm_remaining_ms(deadline);
        int rc = poll(&pfd, 1, ms);
        if (rc >= 0 || errno != EINTR || ms == 0) return;
    }
}

static void sender_destroy(void *state)
{
    ipm_nng *z = state;
    if (z != NULL && z->connected && z->linger_ms > 0 && !ipm__nng_forked()) {
        int64_t deadline = ipm_deadline_ns(z->linger_ms);
        pthread_mutex_lock(&z->lock);
        bool handed = wait_until(z, all_handed_over, deadline);
        bool peer = z->pipes > 0;
        pthread_mutex_unlock(&z->lock);
        /* Every send reached a connection; the connection is idle (push0
         * raises its send descriptor) once the last one is written. */
        int fd;
        if (handed && peer && nng_socket_get_int(z->sock, NNG_OPT_SENDFD, &fd) == 0)
            wait_readable(fd, deadline);
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
