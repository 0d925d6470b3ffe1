/*
 * nng_common.c — sockets, listeners and dialers shared by the Nng plugins.
 */
#define _GNU_SOURCE
#include "nng_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/tls/tls.h>

ipm_status ipm__nng_fail(const ipm_nng *z, ipm_status st, int rv, const char *what,
                         const char *endpoint)
{
    return ipm_set_error(st, "%s: cannot %s '%s': %s", z->plugin, what,
                         endpoint != NULL ? endpoint : "(not connected)",
                         nng_strerror(rv));
}

ipm_status ipm__nng_create(const char *plugin, ipm_nng_kind kind, void **state)
{
    ipm_status st = ipm__nng_enter(plugin, "create a socket");
    if (st != IPM_OK) return st;
    ipm_nng *z = calloc(1, sizeof *z);
    if (z == NULL) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", plugin);
    z->plugin = plugin;
    z->kind = kind;
    z->rcvtimeo = -2;
    int rv;
    switch (kind) {
    case IPM_NNG_PUSH:
        rv = nng_push0_open(&z->sock);
        break;
    case IPM_NNG_PULL:
        rv = nng_pull0_open(&z->sock);
        break;
    case IPM_NNG_PUB:
        rv = nng_pub0_open(&z->sock);
        break;
    default:
        rv = nng_sub0_open(&z->sock);
        break;
    }
    if (rv != 0) {
        free(z);
        return ipm_set_error(rv == NNG_ENOMEM ? IPM_ENOMEM : IPM_ESYS,
                             "%s: cannot open an nng socket: %s%s", plugin,
                             nng_strerror(rv),
                             rv == NNG_ENOMEM || rv == NNG_ENOFILES
                                 ? " (raise the process's memory or descriptor limit, "
                                   "ulimit -v / -n)"
                                 : "");
    }
    z->open = true;
    *state = z;
    return IPM_OK;
}

/* Objects whose nng_close was given up on. nng may still write into them,
 * so they are kept for the life of the process; holding them here says so
 * (to a reader and to LeakSanitizer) instead of dropping the last pointer. */
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;
static ipm_nng *abandoned;

static void keep_abandoned(ipm_nng *z)
{
    pthread_mutex_lock(&abandoned_lock);
    z->next_abandoned = abandoned;
    abandoned = z;
    pthread_mutex_unlock(&abandoned_lock);
}

/* State shared by ipm__nng_close and its helper thread; the last of the
 * two to let go frees it. */
typedef struct nng_closer {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    nng_socket sock;
    bool done;
    int refs;
} nng_closer;

static void closer_unref(nng_closer *c)
{
    pthread_mutex_lock(&c->lock);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (!last) return;
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

static void *closer_main(void *arg)
{
    nng_closer *c = arg;
    nng_close(c->sock);
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    closer_unref(c);
    return NULL;
}

bool ipm__nng_sync_init(pthread_mutex_t *lock, pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(cond, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(lock, NULL) != 0) {
        pthread_cond_destroy(cond);
        ok = false;
    }
    return ok;
}

static nng_closer *closer_new(nng_socket sock)
{
    nng_closer *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    if (!ipm__nng_sync_init(&c->lock, &c->cond)) {
        free(c);
        return NULL;
    }
    c->sock = sock;
    c->refs = 2;
    return c;
}

bool ipm__nng_close(ipm_nng *z)
{
    if (!z->open) return true;
    z->open = false;
    nng_closer *c = closer_new(z->sock);
    pthread_t t;
    pthread_attr_t ta;
    bool started = false;
    if (c != NULL && pthread_attr_init(&ta) == 0) {
        pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&t, &ta, closer_main, c) == 0;
        pthread_attr_destroy(&ta);
    }
    if (!started) {
        /* No thread to spare (a resource limit): close here, unbounded. */
        if (c != NULL) {
            c->refs = 1;
            closer_unref(c);
        }
        nng_close(z->sock);
        return true;
    }
    struct timespec until;
    ipm_deadline_timespec(ipm_deadline_ns(IPM_NNG_CLOSE_BOUND_MS), CLOCK_MONOTONIC, &until);
    pthread_mutex_lock(&c->lock);
    while (!c->done)
        if (pthread_cond_timedwait(&c->cond, &c->lock, &until) == ETIMEDOUT) break;
    bool done = c->done;
    pthread_mutex_unlock(&c->lock);
    closer_unref(c);
    if (!done) {
        z->abandoned = true;
        keep_abandoned(z);
        ipm_log(IPM_LOG_WARN,
                "%s: nng_close did not return within %d ms (a libnng 1.5 deadlock); "
                "the socket is left open and its memory kept, so that destroy returns",
                z->plugin, IPM_NNG_CLOSE_BOUND_MS);
    }
    return done;
}

void ipm__nng_destroy(void *state)
{
    ipm_nng *z = state;
    if (z == NULL) return;
    /* In a forked child nng must not be called at all (it would abort):
     * the socket, its aios and nng's memory are left to the exit, and only
     * ipm's own memory is freed. */
    bool forked = ipm__nng_forked();
    if (z->open && !forked) ipm__nng_close(z);
    if (z->abandoned) return; /* nng may still reach z and its aios */
    /* The sender has closed and reclaimed its sends before this. */
    for (size_t i = 0; i < z->nslots; i++)
        if (z->slots[i].aio != NULL && !forked) nng_aio_free(z->slots[i].aio);
    if (z->sync_ok) {
        pthread_mutex_destroy(&z->lock);
        pthread_cond_destroy(&z->cond);
    }
    free(z->slots);
    for (size_t i = 0; i < z->npeers; i++)
        free(z->peers[i]);
    free(z->peers);
    free(z->dialers);
    free(z->endpoint);
    free(z);
}

ipm_status ipm__nng_endpoint_param(const char *plugin, const ipm_params *p,
                                   const char **out)
{
    const char *e = ipm_params_get_str(p, "connection_string", NULL);
    if (e == NULL || *e == '\0')
        return ipm_set_error(IPM_ECONFIG,
                             "%s: no endpoint: key 'connection_string' is %s", plugin,
                             e == NULL ? "missing" : "empty");
    *out = e;
    return IPM_OK;
}

void ipm__nng_note_carrier(ipm_nng *z, const ipm_nng_url *u)
{
    uint32_t f = IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST;
    if (u->inproc)
        f = 0;
    else if (u->ipc || !u->tcpish) /* ipc://, abstract:// */
        f = IPM_FEATURE_CROSS_PROCESS;
    z->carrier_features |= f;
}

/* endpoint with the port nng picked (and, for a wildcard host, the
 * address it listens on) in place of a ':0' port; a copy otherwise. */
static char *resolved_endpoint(ipm_nng *z, const char *endpoint, const ipm_nng_url *u)
{
    if (!u->tcpish) return strdup(endpoint);
    nng_url *url = NULL;
    if (nng_url_parse(&url, endpoint) != 0) return strdup(endpoint);
    bool pick = strcmp(url->u_port, "0") == 0;
    nng_sockaddr sa;
    if (!pick || nng_listener_get_addr(z->listener, NNG_OPT_LOCADDR, &sa) != 0) {
        nng_url_free(url);
        return strdup(endpoint);
    }
    char host[300] = "";
    unsigned port = 0;
    if (sa.s_family == NNG_AF_INET) {
        struct in_addr a = {.s_addr = sa.s_in.sa_addr};
        inet_ntop(AF_INET, &a, host, sizeof host);
        port = ntohs(sa.s_in.sa_port);
    } else if (sa.s_family == NNG_AF_INET6) {
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof ip);
        snprintf(host, sizeof host, "[%s]", ip);
        port = ntohs(sa.s_in6.sa_port);
    }
    const char *name = url->u_hostname;
    bool wildcard = name[0] == '\0' || strcmp(name, "*") == 0;
    if (!wildcard) {
        bool v6 = strchr(name, ':') != NULL;
        snprintf(host, sizeof host, "%s%.*s%s", v6 ? "[" : "", (int)(sizeof host - 3),
                 name, v6 ? "]" : "");
    }
    char *out = NULL;
    if (asprintf(&out, "%s://%s:%u%s", url->u_scheme, host, port, url->u_path) < 0)
        out = NULL;
    nng_url_free(url);
    return out;
}

/* ipc:// must not harm what is at its path: nng would unlink a regular
 * file there (its check for a stale socket takes any refused connect for
 * one). A socket file is left to nng, which replaces a stale one and
 * refuses one that a process listens on. */
static ipm_status check_ipc_path(const ipm_nng *z, const char *endpoint)
{
    const char *path = endpoint + strlen("ipc://");
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode))
        return ipm_set_error(IPM_ECONNECT,
                             "%s: cannot listen on '%s': '%s' exists and is not a socket "
                             "(left untouched)",
                             z->plugin, endpoint, path);
    return IPM_OK;
}

static ipm_status set_tls(ipm_nng *z, const ipm_params *p, bool listen, nng_listener l,
                          nng_dialer d, const char *endpoint)
{
    nng_tls_config *cfg;
    ipm_status st = ipm__nng_tls_config(z->plugin, p, listen, endpoint, &cfg);
    if (st != IPM_OK) return st;
    /* The listener or dialer holds its own reference to cfg. */
    int rv = listen ? nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)
                    : nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
    nng_tls_config_free(cfg);
    if (rv != 0) return ipm__nng_fail(z, IPM_ESYS, rv, "configure TLS for", endpoint);
    return IPM_OK;
}

ipm_status ipm__nng_listen(ipm_nng *z, const ipm_params *p, const char *endpoint)
{
    char buf[1024];
    endpoint = ipm__nng_listen_url(endpoint, buf, sizeof buf);
    ipm_nng_url u;
    ipm_status st = ipm__nng_check_url(z->plugin, "connection_string", endpoint, &u);
    if (st == IPM_OK) st = ipm__nng_check_keys(z->plugin, p, &u, true);
    if (st == IPM_OK && u.ipc) st = check_ipc_path(z, endpoint);
    if (st != IPM_OK) return st;

    nng_listener l;
    int rv = nng_listener_create(&l, z->sock, endpoint);
    if (rv != 0) return ipm__nng_fail(z, IPM_ECONNECT, rv, "listen on", endpoint);
    if (u.tls) st = set_tls(z, p, true, l, (nng_dialer)NNG_DIALER_INITIALIZER, endpoint);
    if (st == IPM_OK && u.ipc) {
        unsigned long mode = IPM_NNG_DEFAULT_IPC_MODE;
        const char *text = ipm_params_get(p, "permissions");
        if (text != NULL) mode = strtoul(text, NULL, 8);
        rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, (int)mode);
        if (rv != 0)
            st = ipm__nng_fail(z, IPM_ESYS, rv, "set the permissions of", endpoint);
    }
    if (st == IPM_OK && (rv = nng_listener_start(l, 0)) != 0)
        st =
            ipm_set_error(IPM_ECONNECT, "%s: cannot listen on '%s': %s%s", z->plugin,
                          endpoint, nng_strerror(rv),
                          rv == NNG_EADDRINUSE ? " (another process listens there)" : "");
    if (st != IPM_OK) {
        nng_listener_close(l);
        return st;
    }
    z->listener = l;
    char *resolved = resolved_endpoint(z, endpoint, &u);
    if (resolved == NULL) {
        nng_listener_close(l);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory", z->plugin);
    }
    free(z->endpoint);
    z->endpoint = resolved;
    ipm__nng_note_carrier(z, &u);
    return IPM_OK;
}

ipm_status ipm__nng_dial(ipm_nng *z, const ipm_params *p, const char *endpoint,
                         nng_dialer *out)
{
    ipm_nng_url u;
    const char *key = z->kind == IPM_NNG_SUB ? "connection_strings" : "connection_string";
    ipm_status st = ipm__nng_check_url(z->plugin, key, endpoint, &u);
    if (st == IPM_OK) st = ipm__nng_check_keys(z->plugin, p, &u, false);
    if (st != IPM_OK) return st;
    nng_dialer d;
    int rv = nng_dialer_create(&d, z->sock, endpoint);
    if (rv != 0) return ipm__nng_fail(z, IPM_ECONNECT, rv, "dial", endpoint);
    if (u.tls)
        st = set_tls(z, p, false, (nng_listener)NNG_LISTENER_INITIALIZER, d, endpoint);
    /* NONBLOCK: the first attempt runs in the background and nng keeps
     * redialling, so a peer that is not there yet is no error. */
    if (st == IPM_OK && (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
        st = ipm__nng_fail(z, IPM_ECONNECT, rv, "dial", endpoint);
    if (st != IPM_OK) {
        nng_dialer_close(d);
        return st;
    }
    ipm__nng_note_carrier(z, &u);
    *out = d;
    return IPM_OK;
}

ipm_status ipm__nng_apply_recvmax(ipm_nng *z, const ipm_params *p)
{
    uint64_t max;
    ipm_status st = ipm_params_get_size(
        p, "max_message_size", IPM_NNG_DEFAULT_MAX_MESSAGE_SIZE, 0, SIZE_MAX, &max);
    if (st != IPM_OK) return st;
    /* 0 is "no limit", as in nng. */
    int rv = nng_socket_set_size(z->sock, NNG_OPT_RECVMAXSZ, (size_t)max);
    if (rv != 0)
        return ipm_set_error(IPM_ECONFIG, "%s: cannot apply max_message_size=%llu: %s",
                             z->plugin, (unsigned long long)max, nng_strerror(rv));
    return IPM_OK;
}

const char *ipm__nng_endpoint(const void *state)
{
    const ipm_nng *z = state;
    return z->connected ? z->endpoint : NULL;
}

const ipm_limits ipm__nng_limits = {IPM_LIMIT_NONE, IPM_NNG_MAX_METADATA,
                                    IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST |
                                        IPM_FEATURE_FAN_IN | IPM_FEATURE_MULTI_PUBLISHER,
                                    0};

void ipm__nng_limits_op(const void *state, ipm_limits *out)
{
    const ipm_nng *z = state;
    if (!z->connected) return;
    uint32_t carrier = IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST;
    out->features &= ~carrier | z->carrier_features;
}
