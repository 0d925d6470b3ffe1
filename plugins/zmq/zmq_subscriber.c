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
 * trimmed, empty items ignored), recv_hwm (or DUNE's capacity), tcp_keepalive.
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

/* Connect to every item of the comma-separated list that is not connected
 * yet, recording it in z->peers. */
static ipm_status connect_list(ipm_zmq *z, const char *list)
{
    char *copy = strdup(list);
    if (copy == NULL) return ipm_set_error(IPM_ENOMEM, "ZmqSubscriber: out of memory");
    ipm_status st = IPM_OK;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && st == IPM_OK;
         item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        char *end = item + strlen(item);
        while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*item == '\0' || has_peer(z, item)) continue;
        st = ipm__zmq_connect(z, item);
        if (st == IPM_OK) {
            st = add_peer(z, item);
            if (st != IPM_OK) zmq_disconnect(z->sock, item);
        }
    }
    free(copy);
    return st;
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
    const char *one = ipm_params_get_str(p, "connection_string", "");
    const char *many = ipm_params_get_str(p, "connection_strings", "");
    if (strspn(one, " \t,") == strlen(one) && strspn(many, " \t,") == strlen(many))
        return ipm_set_error(IPM_ECONFIG, "ZmqSubscriber: no endpoint: set "
                                          "'connection_string' or 'connection_strings'");
    ipm_status st = ipm__zmq_apply_options(z, p, "recv_hwm", -1);
    if (st != IPM_OK) return st;

    /* All or nothing: on a bad endpoint, undo this call's connections. */
    size_t before = z->npeers;
    st = connect_list(z, one);
    if (st == IPM_OK) st = connect_list(z, many);
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
    if (zmq_setsockopt(z->sock, option, topic, strlen(topic)) != 0)
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
};

static const char *const subscriber_keys[] = {"connection_string", "connection_strings",
                                              "recv_hwm",          "capacity",
                                              "tcp_keepalive",     NULL};

static const ipm_plugin subscriber_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SUBSCRIBER,
    .name = "ZmqSubscriber",
    .version = "1.0.0",
    .description =
        "ZeroMQ SUB, connects to one or many ZmqPublishers; topic prefix filter",
    .keys = subscriber_keys,
    .ops = &subscriber_ops,
    .limits = &(const ipm_limits){IPM_LIMIT_NONE, IPM_LIMIT_NONE,
                                  IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST |
                                      IPM_FEATURE_FAN_IN | IPM_FEATURE_MULTI_PUBLISHER,
                                  0},
};

IPM_PLUGIN_DEFINE(ZmqSubscriber, &subscriber_plugin)
