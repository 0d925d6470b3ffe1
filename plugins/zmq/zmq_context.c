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
    *obj = shared;
    return IPM_OK;
}

/* Runs when the last Zmq object of the process is destroyed. zmq_ctx_term
 * waits for sockets closed with pending messages, at most their linger. */
static void context_destroy(void *obj)
{
    zmq_shared_context *shared = obj;
    while (zmq_ctx_term(shared->ctx) != 0 && errno == EINTR) {
    }
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
    for (size_t i = 0; i < z->npeers; i++)
        free(z->peers[i]);
    free(z->peers);
    free(z->endpoint);
    ipm_singleton_release(z->ctx_name);
    free(z);
}
