/*
 * zmq_subscriber.c — ZmqSubscriber: a ZeroMQ SUB socket that connects to one
 * or many ZmqPublishers and filters by topic prefix (ZeroMQ's own matching).
 *
 * The socket exists from create on, so subscribe/unsubscribe before connect
 * simply apply to it and hold for every later connection. ZeroMQ counts
 * subscriptions: subscribing twice to a topic needs two unsubscribes.
 * Connecting again adds only endpoints not connected yet (connecting twice to
 * one publisher would deliver each message twice).
 * Keys: connection_string and/or connection_strings (comma-separated, spaces
 * trimmed; see ipm_params_get_endpoints), recv_hwm (or DUNE's capacity),
 * max_message_size, tcp_keepalive. Topics are at most IPM_ZMQ_MAX_TOPIC
 * (4096) bytes.
 */
#define _GNU_SOURCE
#include "zmq_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static ipm_status subscriber_create(void **state)
{
    return ipm__zmq_create("ZmqSubscriber", ZMQ_SUB, state);
}

static bool has_peer(const ipm_zmq *z, const char *endpoint)
{
    for (size_t i = 0; i < z->npeers; i++)
        if (strcmp(z->peers[i], endpoint) == 0) return true;
    return false;
}

static ipm_status add_peer(ipm_zmq *z, const char *endpoint)
{
    if (z->npeers == z->peers_cap) {
        size_t cap = z->peers_cap ? 2 * z->peers_cap : 4;
        char **peers = realloc(z->peers, cap * sizeof *peers);
        if (peers == NULL)
            return ipm_set_error(IPM_ENOMEM, "ZmqSubscriber: out of memory");
        z->peers = peers;
        z->peers_cap = cap;
    }
    z->peers[z->npeers] = strdup(endpoint);
    if (z->peers[z->npeers] == NULL)
        return ipm_set_error(IPM_ENOMEM, "ZmqSubscriber: out of memory");
    z->npeers++;
    return IPM_OK;
}

/* z->endpoint: every connected publisher, comma-separated. */
static ipm_status join_peers(ipm_zmq *z)
{
    size_t len = 1;
    for (size_t i = 0; i < z->npeers; i++)
        len += strlen(z->peers[i]) + 1;
    char *s = malloc(len);
    if (s == NULL) return ipm_set_error(IPM_ENOMEM, "ZmqSubscriber: out of memory");
    s[0] = '\0';
    for (size_t i = 0; i < z->npeers; i++) {
        if (i > 0) strcat(s, ",");
        strcat(s, z->peers[i]);
    }
    free(z->endpoint);
    z->endpoint = s;
    return IPM_OK;
}

static ipm_status subscriber_connect(void *state, const ipm_params *p)
{
    ipm_zmq *z = state;
    char **endpoints;
    size_t n;
    ipm_status st = ipm_params_get_endpoints(p, "ZmqSubscriber", &endpoints, &n);
    if (st != IPM_OK) return st;
    st = ipm__zmq_apply_options(z, p, "recv_hwm", -1);
    if (st == IPM_OK) st = ipm__zmq_curve_apply(z, p, false);

    /* All or nothing: on a bad endpoint, undo this call's connections. An
     * endpoint connected by an earlier call is kept and not connected twice
     * (that would deliver each message twice). */
    size_t before = z->npeers;
    for (size_t i = 0; st == IPM_OK && i < n; i++) {
        if (has_peer(z, endpoints[i])) continue;
        st = ipm__zmq_connect(z, endpoints[i]);
        if (st == IPM_OK && (st = add_peer(z, endpoints[i])) != IPM_OK)
            zmq_disconnect(z->sock, endpoints[i]);
    }
    free(endpoints);
    if (st == IPM_OK) st = join_peers(z);
    if (st != IPM_OK) {
        while (z->npeers > before) {
            char *e = z->peers[--z->npeers];
            zmq_disconnect(z->sock, e);
            free(e);
        }
        return st;
    }
    z->connected = true;
    return IPM_OK;
}

static ipm_status set_topic(ipm_zmq *z, int option, const char *topic)
{
    size_t len = strlen(topic);
    if (len > IPM_ZMQ_MAX_TOPIC)
        return ipm_set_error(
            IPM_EINVAL,
            "ZmqSubscriber: cannot %s a topic of %zu bytes ('%.32s...'): "
            "topics are limited to %d bytes",
            option == ZMQ_SUBSCRIBE ? "subscribe to" : "unsubscribe from", len, topic,
            IPM_ZMQ_MAX_TOPIC);
    if (zmq_setsockopt(z->sock, option, topic, len) != 0)
        return ipm_set_error(IPM_ESYS, "ZmqSubscriber: cannot %s '%s': %s",
                             option == ZMQ_SUBSCRIBE ? "subscribe to"
                                                     : "unsubscribe from",
                             topic, zmq_strerror(errno));
    return IPM_OK;
}

static ipm_status subscriber_subscribe(void *state, const char *topic)
{
    return set_topic(state, ZMQ_SUBSCRIBE, topic);
}

static ipm_status subscriber_unsubscribe(void *state, const char *topic)
{
    return set_topic(state, ZMQ_UNSUBSCRIBE, topic);
}

static const ipm_plugin_ops subscriber_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = subscriber_create,
    .connect = subscriber_connect,
    .endpoint = ipm__zmq_endpoint,
    .destroy = ipm__zmq_destroy,
    .receive = ipm__zmq_receive,
    .release = ipm__zmq_release,
    .subscribe = subscriber_subscribe,
    .unsubscribe = subscriber_unsubscribe,
    .limits = ipm__zmq_limits_op,
};

static const char *const subscriber_keys[] = {
    "connection_string", "connection_strings", "recv_hwm", "capacity",
    "max_message_size",  "tcp_keepalive",      "curve_server_public_key",
    "curve_secret_key",  NULL};

static const ipm_plugin subscriber_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SUBSCRIBER,
    .name = "ZmqSubscriber",
    .version = "1.0.0",
    .description =
        "ZeroMQ SUB, connects to one or many ZmqPublishers; topic prefix filter",
    .keys = subscriber_keys,
    .ops = &subscriber_ops,
    .settings = ipm__zmq_settings,
    .limits = &ipm__zmq_limits,
};

IPM_PLUGIN_DEFINE(ZmqSubscriber, &subscriber_plugin)
