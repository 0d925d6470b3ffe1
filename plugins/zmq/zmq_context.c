/*
 * zmq_context.c — the one ZeroMQ context per process that all four Zmq
 * plugins share, through the core's singleton registry, so that inproc://
 * endpoints work between a ZmqPublisher and a ZmqSubscriber (inproc only
 * connects sockets of the same context) and a process with thousands of
 * connections has one set of I/O threads, not one per plugin object.
 */
#define _GNU_SOURCE
#include "zmq_common.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* Parse a whole decimal number in [min, max] from text that came from
 * `source` (an environment variable or an [ipm] setting). */
static ipm_status parse_count(const char *text, const char *source, long min, long max,
                              int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return ipm_set_error(
            IPM_ECONFIG, "ZeroMQ context: %s = '%s' is not a whole number in [%ld, %ld]",
            source, text, min, max);
    *out = (int)v;
    return IPM_OK;
}

/* A context parameter from the environment variable env, else the [ipm]
 * setting key, else def. The environment wins so that an operator can
 * override a deployed INI file for one process. */
static ipm_status context_param(const char *env, const char *key, int def, long min,
                                long max, int *out)
{
    const char *v = getenv(env);
    if (v != NULL) return parse_count(v, env, min, max, out);
    char buf[64];
    if (ipm_setting_get(key, buf, sizeof buf)) {
        char source[96];
        snprintf(source, sizeof source, "[ipm] %s", key);
        return parse_count(buf, source, min, max, out);
    }
    *out = def;
    return IPM_OK;
}

/* The singleton object: the context and what the first socket needs to
 * start it. libzmq starts a context's threads (io_threads I/O threads and a
 * reaper, each with an epoll descriptor and an eventfd) lazily, in the first
 * zmq_socket(), and aborts if any of that fails; ipm__zmq_create checks the
 * room for it before the first socket. Every Zmq plugin builds this file
 * from the same source, so they agree on the layout. */
typedef struct zmq_shared_context {
    void *ctx;
    int io_threads;
    atomic_bool started; /* a zmq_socket() succeeded: the threads exist */
    ipm__zmq_zap_table zap;
} zmq_shared_context;

static ipm_status context_create(void **obj, void *arg)
{
    (void)arg;
    int io_threads, max_sockets;
    ipm_status st = context_param("IPM_ZMQ_IO_THREADS", "zmq_io_threads",
                                  IPM_ZMQ_DEFAULT_IO_THREADS, 1, 1024, &io_threads);
    if (st != IPM_OK) return st;
    st = context_param("IPM_ZMQ_MAX_SOCKETS", "zmq_max_sockets",
                       IPM_ZMQ_DEFAULT_MAX_SOCKETS, 1, 1L << 24, &max_sockets);
    if (st != IPM_OK) return st;

    zmq_shared_context *shared = calloc(1, sizeof *shared);
    if (shared == NULL) return ipm_set_error(IPM_ENOMEM, "ZeroMQ context: out of memory");
    void *ctx = zmq_ctx_new();
    if (ctx == NULL) {
        int e = errno;
        free(shared);
        return ipm_set_error(IPM_ESYS, "ZeroMQ context: zmq_ctx_new failed: %s",
                             zmq_strerror(e));
    }
    if (zmq_ctx_set(ctx, ZMQ_IO_THREADS, io_threads) != 0) {
        int e = errno;
        zmq_ctx_term(ctx);
        free(shared);
        return ipm_set_error(IPM_ECONFIG, "ZeroMQ context: cannot use %d I/O threads: %s",
                             io_threads, zmq_strerror(e));
    }
    if (zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, max_sockets) != 0) {
        int e = errno;
        int limit = zmq_ctx_get(ctx, ZMQ_SOCKET_LIMIT);
        zmq_ctx_term(ctx);
        free(shared);
        return ipm_set_error(
            IPM_ECONFIG,
            "ZeroMQ context: cannot allow %d sockets (IPM_ZMQ_MAX_SOCKETS or "
            "[ipm] zmq_max_sockets; this libzmq allows at most %d): %s",
            max_sockets, limit, zmq_strerror(e));
    }
    ipm_log(IPM_LOG_DEBUG, "ZeroMQ context created: %d I/O threads, %d sockets max",
            io_threads, max_sockets);
    shared->ctx = ctx;
    shared->io_threads = io_threads;
    atomic_init(&shared->started, false);
    pthread_mutex_init(&shared->zap.lock, NULL);
    *obj = shared;
    return IPM_OK;
}

/* Runs when the last Zmq object of the process is destroyed. zmq_ctx_term
 * waits for sockets closed with pending messages, at most their linger. */
static void context_destroy(void *obj)
{
    zmq_shared_context *shared = obj;
    if (shared->zap.started) {
        /* Ends the handler's wait (ETERM); it closes its socket and exits.
         * Every other socket of the context is closed by now. */
        zmq_ctx_shutdown(shared->ctx);
        pthread_join(shared->zap.thread, NULL);
    }
    while (zmq_ctx_term(shared->ctx) != 0 && errno == EINTR) {
    }
    for (size_t i = 0; i < shared->zap.nentries; i++)
        free(shared->zap.entries[i].keys);
    free(shared->zap.entries);
    pthread_mutex_destroy(&shared->zap.lock);
    free(shared);
}

/* Before the first socket of a context: room for the threads libzmq is
 * about to start and for their descriptors (an epoll fd and an eventfd
 * each, and the new socket's eventfd). Concurrent first sockets may both
 * check, which only costs time. */
static ipm_status check_start(const char *plugin, zmq_shared_context *shared)
{
    if (atomic_load_explicit(&shared->started, memory_order_acquire)) return IPM_OK;
    int threads = shared->io_threads + 1;
    ipm_status st =
        ipm__zmq_fd_headroom(plugin, "start ZeroMQ's threads", 2 * threads + 1);
    if (st == IPM_OK) st = ipm__zmq_thread_headroom(plugin, threads);
    return st;
}

ipm_status ipm__zmq_create(const char *plugin, int zmq_type, void **state)
{
    ipm_zmq *z = calloc(1, sizeof *z);
    if (z == NULL)
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory creating the object", plugin);
    z->plugin = plugin;
    z->type = zmq_type;
    z->sndtimeo = -1; /* ZeroMQ's defaults */
    z->rcvtimeo = -1;
    zmq_msg_init(&z->first); /* cannot fail: an empty frame allocates nothing */
    /* The name carries the pid: a child forked after its parent made the
     * context must not use it (its I/O threads exist only in the parent), so
     * it gets a context of its own. */
    snprintf(z->ctx_name, sizeof z->ctx_name, "zmq.context.%ld", (long)getpid());

    void *obj = NULL;
    ipm_status st =
        ipm_singleton_acquire(z->ctx_name, context_create, context_destroy, NULL, &obj);
    if (st != IPM_OK) {
        free(z);
        return st;
    }
    zmq_shared_context *shared = obj;
    z->shared = shared;
    st = check_start(plugin, shared);
    if (st != IPM_OK) {
        ipm_singleton_release(z->ctx_name);
        free(z);
        return st;
    }
    z->sock = zmq_socket(shared->ctx, zmq_type);
    if (z->sock == NULL) {
        int e = errno;
        ipm_singleton_release(z->ctx_name);
        free(z);
        if (e == EMFILE)
            return ipm_set_error(IPM_ESYS,
                                 "%s: cannot create a ZeroMQ socket: %s (raise "
                                 "IPM_ZMQ_MAX_SOCKETS or [ipm] zmq_max_sockets, or the "
                                 "process's file limit)",
                                 plugin, zmq_strerror(e));
        return ipm_set_error(IPM_ESYS, "%s: cannot create a ZeroMQ socket: %s", plugin,
                             zmq_strerror(e));
    }
    atomic_store_explicit(&shared->started, true, memory_order_release);
    /* Bounded from the start, so that even an object destroyed without a
     * connect can never hold up context termination. Receivers have nothing
     * to deliver and keep nothing. */
    int linger =
        (zmq_type == ZMQ_PUSH || zmq_type == ZMQ_PUB) ? IPM_ZMQ_DEFAULT_LINGER_MS : 0;
    zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger);
    *state = z;
    return IPM_OK;
}

void ipm__zmq_destroy(void *state)
{
    ipm_zmq *z = state;
    if (z == NULL) return;
    zmq_close(z->sock);
    zmq_msg_close(&z->first);
    if (z->zap_domain[0]) ipm__zmq_zap_unregister(z);
    for (size_t i = 0; i < z->npeers; i++)
        free(z->peers[i]);
    free(z->peers);
    free(z->endpoint);
    ipm_singleton_release(z->ctx_name);
    free(z);
}

/* ---------------------------------------- CURVE allow-lists (zmq_curve.c) */

static ipm_status zap_start(ipm_zmq *z, zmq_shared_context *shared)
{
    void *rep = zmq_socket(shared->ctx, ZMQ_REP);
    if (rep == NULL)
        return ipm_set_error(IPM_ESYS, "%s: cannot create the ZAP handler's socket: %s",
                             z->plugin, zmq_strerror(errno));
    int zero = 0;
    zmq_setsockopt(rep, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(rep, "inproc://zeromq.zap.01") != 0) {
        int e = errno;
        zmq_close(rep);
        return ipm_set_error(
            IPM_ESYS, "%s: cannot bind the ZAP handler to inproc://zeromq.zap.01: %s",
            z->plugin, zmq_strerror(e));
    }
    shared->zap.rep = rep;
    int err = pthread_create(&shared->zap.thread, NULL, ipm__zmq_zap_main, &shared->zap);
    if (err != 0) {
        zmq_close(rep);
        shared->zap.rep = NULL;
        return ipm_set_error(IPM_ESYS, "%s: cannot start the ZAP handler thread: %s",
                             z->plugin, strerror(err));
    }
    shared->zap.started = true;
    return IPM_OK;
}

ipm_status ipm__zmq_zap_register(ipm_zmq *z, const uint8_t *keys, size_t n, char *domain,
                                 size_t cap)
{
    zmq_shared_context *shared = z->shared;
    ipm__zmq_zap_table *t = &shared->zap;
    uint8_t *copy = NULL;
    if (n > 0 && (copy = malloc(n * 32)) == NULL)
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory", z->plugin);
    if (n > 0) memcpy(copy, keys, n * 32);
    pthread_mutex_lock(&t->lock);
    ipm_status st = t->started ? IPM_OK : zap_start(z, shared);
    if (st == IPM_OK && t->nentries == t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 8;
        ipm__zmq_zap_entry *e = realloc(t->entries, ncap * sizeof *e);
        if (e == NULL)
            st = ipm_set_error(IPM_ENOMEM, "%s: out of memory", z->plugin);
        else
            t->entries = e, t->cap = ncap;
    }
    if (st == IPM_OK) {
        ipm__zmq_zap_entry *e = &t->entries[t->nentries++];
        snprintf(e->domain, sizeof e->domain, "ipm-curve-%lu", ++t->next_id);
        e->keys = copy;
        e->n = n;
        snprintf(z->zap_domain, sizeof z->zap_domain, "%s", e->domain);
        snprintf(domain, cap, "%s", e->domain);
        copy = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    free(copy);
    return st;
}

void ipm__zmq_zap_unregister(ipm_zmq *z)
{
    zmq_shared_context *shared = z->shared;
    ipm__zmq_zap_table *t = &shared->zap;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nentries; i++)
        if (strcmp(t->entries[i].domain, z->zap_domain) == 0) {
            free(t->entries[i].keys);
            t->entries[i] = t->entries[--t->nentries];
            break;
        }
    pthread_mutex_unlock(&t->lock);
    z->zap_domain[0] = '\0';
}

bool ipm__zmq_zap_allowed(ipm__zmq_zap_table *t, const char *domain, const void *key)
{
    bool ok = false;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nentries; i++) {
        const ipm__zmq_zap_entry *e = &t->entries[i];
        if (strcmp(e->domain, domain) != 0) continue;
        ok = e->n == 0;
        for (size_t k = 0; !ok && k < e->n; k++)
            ok = memcmp(e->keys + 32 * k, key, 32) == 0;
        break;
    }
    pthread_mutex_unlock(&t->lock);
    return ok;
}
