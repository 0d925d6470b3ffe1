/*
 * zmq_common.c — socket options, bind and connect shared by the Zmq plugins.
 */
#define _GNU_SOURCE
#include "zmq_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zmq.h>

static ipm_status set_int_option(ipm_zmq *z, int option, int value, const char *key)
{
    if (zmq_setsockopt(z->sock, option, &value, sizeof value) != 0)
        return ipm_set_error(IPM_ECONFIG, "%s: cannot apply %s = %d: %s", z->plugin, key,
                             value, zmq_strerror(errno));
    return IPM_OK;
}

static ipm_status set_maxmsgsize(ipm_zmq *z, int64_t value, const char *key)
{
    if (zmq_setsockopt(z->sock, ZMQ_MAXMSGSIZE, &value, sizeof value) != 0)
        return ipm_set_error(IPM_ECONFIG, "%s: cannot apply %s = %lld: %s", z->plugin,
                             key, (long long)value, zmq_strerror(errno));
    return IPM_OK;
}

ipm_status ipm__zmq_apply_options(ipm_zmq *z, const ipm_params *p, const char *hwm_key,
                                  int default_hwm)
{
    ipm_status st;
    bool sending = z->type == ZMQ_PUSH || z->type == ZMQ_PUB;

    if (hwm_key != NULL) {
        /* DUNE's `capacity` is the high-water mark of whichever direction the
         * socket has; the explicit send_hwm / recv_hwm wins if both are given.
         * 0 means no limit, as in ZeroMQ. */
        const char *key = ipm_params_get(p, hwm_key) != NULL ? hwm_key : "capacity";
        int option = sending ? ZMQ_SNDHWM : ZMQ_RCVHWM;
        if (ipm_params_get(p, key) != NULL) {
            uint64_t hwm;
            st = ipm_params_get_size(p, key, 0, 0, INT_MAX, &hwm);
            if (st != IPM_OK) return st;
            st = set_int_option(z, option, (int)hwm, key);
            if (st != IPM_OK) return st;
        } else if (default_hwm >= 0) {
            st = set_int_option(z, option, default_hwm, "the default high-water mark");
            if (st != IPM_OK) return st;
        }
    }

    if (sending) {
        long long linger;
        st = ipm_params_get_int(p, "linger_ms", IPM_ZMQ_DEFAULT_LINGER_MS, 0,
                                IPM_ZMQ_MAX_LINGER_MS, &linger);
        if (st != IPM_OK) return st;
        st = set_int_option(z, ZMQ_LINGER, (int)linger, "linger_ms");
        if (st != IPM_OK) return st;
    }

    if (z->type == ZMQ_PULL || z->type == ZMQ_SUB) {
        /* 0 is "no limit", as for the high-water marks. */
        uint64_t max;
        st = ipm_params_get_size(p, "max_message_size", IPM_ZMQ_DEFAULT_MAX_MESSAGE_SIZE,
                                 0, INT64_MAX, &max);
        if (st != IPM_OK) return st;
        if (max != 0 && max < IPM_ZMQ_MIN_MAX_MESSAGE_SIZE)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s: max_message_size=%llu is below %d bytes (ZeroMQ's "
                                 "handshake counts against it; 0 means no limit)",
                                 z->plugin, (unsigned long long)max,
                                 IPM_ZMQ_MIN_MAX_MESSAGE_SIZE);
        st = set_maxmsgsize(z, max == 0 ? -1 : (int64_t)max, "max_message_size");
        if (st != IPM_OK) return st;
    } else if (z->type == ZMQ_PUB) {
        /* What a publisher reads are subscriptions: a flag byte or a
         * SUBSCRIBE command, then a topic of at most IPM_ZMQ_MAX_TOPIC
         * bytes from a ZmqSubscriber. A longer one is a hostile or broken
         * peer, cut off before its topic reaches libzmq's recursive trie. */
        st = set_maxmsgsize(z, IPM_ZMQ_MAX_TOPIC + 64, "the subscription size bound");
        if (st != IPM_OK) return st;
    }

    if (ipm_params_get(p, "tcp_keepalive") != NULL) {
        bool keepalive;
        st = ipm_params_get_bool(p, "tcp_keepalive", false, &keepalive);
        if (st != IPM_OK) return st;
        st = set_int_option(z, ZMQ_TCP_KEEPALIVE, keepalive ? 1 : 0, "tcp_keepalive");
        if (st != IPM_OK) return st;
    }
    return IPM_OK;
}

/* The connection_string of p, or IPM_ECONFIG naming the missing key. */
static ipm_status endpoint_param(const ipm_zmq *z, const ipm_params *p, const char **out)
{
    const char *e = ipm_params_get_str(p, "connection_string", NULL);
    if (e == NULL || *e == '\0')
        return ipm_set_error(IPM_ECONFIG,
                             "%s: no endpoint: key 'connection_string' is %s", z->plugin,
                             e == NULL ? "missing" : "empty");
    *out = e;
    return IPM_OK;
}

static ipm_status record_last_endpoint(ipm_zmq *z)
{
    char buf[1024];
    size_t len = sizeof buf;
    if (zmq_getsockopt(z->sock, ZMQ_LAST_ENDPOINT, buf, &len) != 0)
        return ipm_set_error(IPM_ESYS, "%s: cannot read the bound endpoint: %s",
                             z->plugin, zmq_strerror(errno));
    char *copy = strdup(buf);
    if (copy == NULL) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", z->plugin);
    free(z->endpoint);
    z->endpoint = copy;
    return IPM_OK;
}

static ipm_status bind_failed(ipm_zmq *z, const char *endpoint, const char *tried, int e)
{
    if (tried != NULL && strcmp(tried, endpoint) != 0)
        return ipm_set_error(IPM_ECONNECT,
                             "%s: cannot bind to '%s' (resolved to '%s'): %s", z->plugin,
                             endpoint, tried, zmq_strerror(e));
    return ipm_set_error(IPM_ECONNECT, "%s: cannot bind to '%s': %s", z->plugin, endpoint,
                         zmq_strerror(e));
}

/* True if host (of a tcp:// endpoint, without the port) is an IPv6 address
 * literal, bracketed as URLs write it or bare. ZeroMQ sockets are IPv4-only
 * unless ZMQ_IPV6 is set, and then fail on such a host with ENODEV. */
static bool is_ipv6_literal(const char *host)
{
    if (host[0] == '[') return true;
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET6, host, addr) == 1;
}

static ipm_status set_ipv6(ipm_zmq *z, const char *endpoint, bool on)
{
    int v = on ? 1 : 0;
    if (zmq_setsockopt(z->sock, ZMQ_IPV6, &v, sizeof v) != 0)
        return ipm_set_error(IPM_ESYS, "%s: cannot set ZMQ_IPV6 for '%s': %s", z->plugin,
                             endpoint, zmq_strerror(errno));
    return IPM_OK;
}

/* True if ZeroMQ can bind to host as written: the wildcard, an address
 * literal, or a network interface name. Anything else is a host name. */
static bool bindable_as_is(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return strcmp(host, "*") == 0 || is_ipv6_literal(host) ||
           inet_pton(AF_INET, host, addr) == 1 || if_nametoindex(host) != 0;
}

/* The host of a tcp:// endpoint whose ':port' check_tcp_port found, into
 * host (cap bytes). IPM_ECONNECT if it is empty or too long. */
static ipm_status tcp_host(const ipm_zmq *z, const char *endpoint, const char *verb,
                           char *host, size_t cap)
{
    const char *colon = strrchr(endpoint, ':');
    size_t hlen = (size_t)(colon - (endpoint + 6));
    if (hlen == 0 || hlen >= cap)
        return ipm_set_error(
            IPM_ECONNECT, "%s: cannot %s '%s': %s", z->plugin, verb, endpoint,
            hlen == 0 ? "no host before the port" : "host name too long");
    memcpy(host, endpoint + 6, hlen);
    host[hlen] = '\0';
    return IPM_OK;
}

/* Peers that bind must not take stray bytes for messages. ZeroMQ reads a
 * connection whose first byte is not ZMTP 3's 0xFF as a ZMTP 1.0 peer and
 * delivers whatever frames the bytes happen to spell (an HTTP request, a
 * port scanner's probe). A ZAP domain makes libzmq refuse ZMTP 1.0 and 2.0
 * peers (the fix of CVE-2014-9721) and drop the connection; ZMTP 3 peers
 * with the NULL mechanism (every libzmq since 4.0, DUNE's ipm, ZmqSender)
 * are unaffected: with no ZAP handler in the context, libzmq lets them in
 * as before. The context is ipm's own, and bind refuses the handler's
 * endpoint, so no handler of ours can appear there. */
static ipm_status refuse_old_zmtp(ipm_zmq *z, const char *endpoint)
{
    static const char domain[] = "ipm";
    /* A CURVE server has its own domain already (ipm-curve-N, see
     * zmq_curve.c), which refuses old peers the same way. */
    if (z->curve) return IPM_OK;
    if (zmq_setsockopt(z->sock, ZMQ_ZAP_DOMAIN, domain, sizeof domain - 1) != 0)
        return ipm_set_error(IPM_ESYS, "%s: cannot set the ZAP domain for '%s': %s",
                             z->plugin, endpoint, zmq_strerror(errno));
    return IPM_OK;
}

/* libzmq parses a tcp:// port with atoi and keeps it modulo 65536, so
 * "tcp://host:99999" would silently bind or connect to port 34463. A port
 * must be "*" or a decimal number in 0..65535; anything else is refused here
 * with the endpoint named. Non-tcp endpoints are left to libzmq. */
static ipm_status check_tcp_port(const ipm_zmq *z, const char *endpoint, const char *verb)
{
    if (strncmp(endpoint, "tcp://", 6) != 0) return IPM_OK;
    const char *colon = strrchr(endpoint, ':');
    if (colon == NULL || colon < endpoint + 6)
        return ipm_set_error(IPM_ECONNECT,
                             "%s: cannot %s '%s': no ':port' after the host", z->plugin,
                             verb, endpoint);
    const char *port = colon + 1;
    if (strcmp(port, "*") == 0) return IPM_OK;
    unsigned long v = 0;
    size_t n = 0;
    for (; port[n] >= '0' && port[n] <= '9' && v <= 65535; n++)
        v = v * 10 + (unsigned long)(port[n] - '0');
    if (n == 0 || port[n] != '\0' || v > 65535)
        return ipm_set_error(IPM_ECONNECT,
                             "%s: cannot %s '%s': port '%s' is not '*' or a number in "
                             "0..65535",
                             z->plugin, verb, endpoint, port);
    return IPM_OK;
}

ipm_status ipm__zmq_bind(ipm_zmq *z, const char *endpoint, unsigned ipc_mode)
{
    ipm_status st = check_tcp_port(z, endpoint, "bind to");
    if (st != IPM_OK) return st;
    if (strcmp(endpoint, "inproc://zeromq.zap.01") == 0)
        return ipm_set_error(IPM_ECONNECT,
                             "%s: cannot bind to '%s': the endpoint is reserved for "
                             "ZeroMQ's authentication handler (ZAP)",
                             z->plugin, endpoint);
    /* libzmq aborts when getifaddrs() or the listening socket finds no
     * descriptor; inproc:// needs none. */
    if (strncmp(endpoint, "inproc://", 9) != 0) {
        char what[300];
        snprintf(what, sizeof what, "bind to '%.200s'", endpoint);
        st = ipm__zmq_fd_headroom(z->plugin, what, IPM_ZMQ_BIND_FDS);
        if (st != IPM_OK) return st;
    }
    st = refuse_old_zmtp(z, endpoint);
    if (st != IPM_OK) return st;
    if (strncmp(endpoint, "ipc://", 6) == 0)
        return ipm__zmq_bind_ipc(z, endpoint, ipc_mode);
    if (strncmp(endpoint, "tcp://", 6) != 0) {
        if (zmq_bind(z->sock, endpoint) != 0)
            return bind_failed(z, endpoint, NULL, errno);
        return record_last_endpoint(z);
    }

    char host[256];
    st = tcp_host(z, endpoint, "bind to", host, sizeof host);
    if (st != IPM_OK) return st;
    const char *port = strrchr(endpoint, ':') + 1;

    if (bindable_as_is(host)) {
        st = set_ipv6(z, endpoint, is_ipv6_literal(host));
        if (st != IPM_OK) return st;
        if (zmq_bind(z->sock, endpoint) != 0)
            return bind_failed(z, endpoint, NULL, errno);
        return record_last_endpoint(z);
    }

    /* ZeroMQ binds only to addresses and interfaces; DAQ configurations
     * name hosts. Resolve, and bind to the first address that works, IPv4
     * first (ZeroMQ sockets are IPv4-only unless ZMQ_IPV6 is set). */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0)
        return ipm_set_error(IPM_ECONNECT,
                             "%s: cannot bind to '%s': cannot resolve host '%s': %s",
                             z->plugin, endpoint, host, gai_strerror(gai));
    char tried[400] = "";
    int err = EADDRNOTAVAIL;
    for (int pass = 0; pass < 2; pass++) {
        int family = pass == 0 ? AF_INET : AF_INET6;
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            if (ai->ai_family != family) continue;
            char ip[INET6_ADDRSTRLEN];
            const void *src =
                family == AF_INET
                    ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                    : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
            if (inet_ntop(family, src, ip, sizeof ip) == NULL) continue;
            snprintf(tried, sizeof tried,
                     family == AF_INET ? "tcp://%s:%s" : "tcp://[%s]:%s", ip, port);
            int ipv6 = family == AF_INET6;
            zmq_setsockopt(z->sock, ZMQ_IPV6, &ipv6, sizeof ipv6);
            if (zmq_bind(z->sock, tried) == 0) {
                freeaddrinfo(res);
                return record_last_endpoint(z);
            }
            err = errno;
        }
    }
    freeaddrinfo(res);
    return bind_failed(z, endpoint, tried[0] ? tried : NULL, err);
}

/* A host name that does not resolve is a mistake to report at connect:
 * ZeroMQ would retry it in the background for ever, and the only symptom
 * would be sends timing out. A temporary resolver failure (EAI_AGAIN) is
 * not final, so the connect goes ahead and ZeroMQ keeps retrying. May block
 * for the lookup, as connect may. */
static ipm_status check_resolves(const ipm_zmq *z, const char *endpoint, const char *host)
{
    if (bindable_as_is(host)) return IPM_OK;
    struct addrinfo hints = {.ai_flags = AI_ADDRCONFIG, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (res) freeaddrinfo(res);
    if (rc == 0) return IPM_OK;
    if (rc == EAI_AGAIN) {
        ipm_log(IPM_LOG_WARN,
                "%s: host '%s' of '%s' cannot be resolved now (%s); ZeroMQ "
                "keeps trying",
                z->plugin, host, endpoint, gai_strerror(rc));
        return IPM_OK;
    }
    return ipm_set_error(IPM_ECONNECT,
                         "%s: cannot connect to '%s': host '%s' cannot be "
                         "resolved (%s)",
                         z->plugin, endpoint, host, gai_strerror(rc));
}

ipm_status ipm__zmq_connect(ipm_zmq *z, const char *endpoint)
{
    ipm_status st = check_tcp_port(z, endpoint, "connect to");
    if (st != IPM_OK) return st;
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        /* ZMQ_IPV6 is copied into each connection at zmq_connect, so one
         * subscriber can reach IPv4 and IPv6 publishers. */
        char host[256];
        st = tcp_host(z, endpoint, "connect to", host, sizeof host);
        if (st == IPM_OK) st = check_resolves(z, endpoint, host);
        if (st == IPM_OK) st = set_ipv6(z, endpoint, is_ipv6_literal(host));
        if (st != IPM_OK) return st;
    }
    if (zmq_connect(z->sock, endpoint) != 0)
        return ipm_set_error(IPM_ECONNECT, "%s: cannot connect to '%s': %s", z->plugin,
                             endpoint, zmq_strerror(errno));
    return IPM_OK;
}

ipm_status ipm__zmq_open_endpoint(ipm_zmq *z, const ipm_params *p, const char *hwm_key,
                                  bool do_bind)
{
    if (z->connected)
        return ipm_set_error(
            IPM_ENOTSUP,
            "%s: already %s '%s'; create another object for another endpoint", z->plugin,
            do_bind ? "bound to" : "connected to", z->endpoint);
    const char *endpoint = NULL;
    ipm_status st = endpoint_param(z, p, &endpoint);
    /* libzmq 4.3 loses messages over ipc:// when a PUSH peer closes while a
     * PULL socket is at its receive high-water mark: its engine, with input
     * stopped, takes the EPOLLHUP of the closed Unix socket as an I/O error
     * and drops what is still in the kernel (libzmq issue #4660; tcp://
     * reports only EPOLLRDHUP and is not affected). A receive queue without
     * limit never stops input, so every message a ZmqSender accepted
     * arrives. The price: the backlog of a slow receiver grows in its own
     * memory instead of pushing back on the sender. An explicit recv_hwm or
     * capacity restores the bound. Elsewhere ZeroMQ's default (1000) holds. */
    int default_hwm = -1;
    if (st == IPM_OK && z->type == ZMQ_PULL && strncmp(endpoint, "ipc://", 6) == 0)
        default_hwm = 0;
    if (st == IPM_OK) st = ipm__zmq_apply_options(z, p, hwm_key, default_hwm);
    if (st == IPM_OK) st = ipm__zmq_curve_apply(z, p, do_bind);
    unsigned ipc_mode = IPM_ZMQ_DEFAULT_IPC_MODE;
    if (st == IPM_OK && do_bind) st = ipm__zmq_ipc_mode(z, p, endpoint, &ipc_mode);
    if (st != IPM_OK) return st;
    if (do_bind) {
        st = ipm__zmq_bind(z, endpoint, ipc_mode);
    } else {
        st = ipm__zmq_connect(z, endpoint);
        if (st == IPM_OK) st = record_last_endpoint(z);
    }
    if (st == IPM_OK) z->connected = true;
    return st;
}

const char *ipm__zmq_endpoint(const void *state)
{
    const ipm_zmq *z = state;
    return z->connected ? z->endpoint : NULL;
}

const ipm_limits ipm__zmq_limits = {IPM_LIMIT_NONE, IPM_LIMIT_NONE,
                                    IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST |
                                        IPM_FEATURE_FAN_IN | IPM_FEATURE_MULTI_PUBLISHER,
                                    0};

const char *const ipm__zmq_settings[] = {"zmq_io_threads", "zmq_max_sockets", NULL};

void ipm__zmq_limits_op(const void *state, ipm_limits *out)
{
    const ipm_zmq *z = state;
    if (!z->endpoint) return;
    if (strncmp(z->endpoint, "inproc://", 9) == 0)
        out->features &= ~(uint32_t)(IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST);
    else if (strncmp(z->endpoint, "ipc://", 6) == 0)
        out->features &= ~(uint32_t)IPM_FEATURE_CROSS_HOST;
}
