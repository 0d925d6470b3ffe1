/*
 * nng_subscriber.c — NngSubscriber: an nng sub0 socket that dials one or
 * many publishers (NngPublisher or any pub0) and filters by topic prefix.
 * The filter is sub0's own, on the start of each message's body, where the
 * wire form puts the topic.
 *
 * The socket exists from create on, so subscribe/unsubscribe before
 * connect apply to it and hold for every later connection. Unlike ZeroMQ,
 * nng does not count subscriptions: subscribing twice to a topic and
 * unsubscribing once removes it. Connecting again adds only endpoints not
 * dialled yet (dialling one publisher twice would deliver each message
 * twice); a connect takes all of its list or, if one endpoint fails,
 * closes what it added and takes none.
 * sub0 keeps recv_buffer messages (default 1024, at most 8192) and, when
 * they are not taken in time, drops the oldest; nng does not count them,
 * so `dropped` stays 0.
 * Keys: connection_string and/or connection_strings, recv_buffer,
 * max_message_size (default 256 MiB), tls_cert, tls_key, tls_ca.
 */
#define _GNU_SOURCE
#include "nng_common.h"

#include <stdlib.h>
#include <string.h>

#include <nng/protocol/pubsub0/sub.h>

static ipm_status subscriber_create(void **state)
{
    ipm_status st = ipm__nng_create("NngSubscriber", IPM_NNG_SUB, state);
    if (st != IPM_OK) return st;
    ipm_nng *z = *state;
    int rv = nng_socket_set_int(z->sock, NNG_OPT_RECVBUF, IPM_NNG_DEFAULT_PUBSUB_BUFFER);
    if (rv != 0) {
        ipm__nng_destroy(z);
        *state = NULL;
        return ipm_set_error(IPM_ESYS, "NngSubscriber: cannot size the receive queue: %s",
                             nng_strerror(rv));
    }
    return IPM_OK;
}

static bool has_peer(const ipm_nng *z, const char *endpoint)
{
    for (size_t i = 0; i < z->npeers; i++)
        if (strcmp(z->peers[i], endpoint) == 0) return true;
    return false;
}

static ipm_status add_peer(ipm_nng *z, const char *endpoint, nng_dialer d)
{
    if (z->npeers == z->peers_cap) {
        size_t cap = z->peers_cap ? 2 * z->peers_cap : 4;
        char **peers = realloc(z->peers, cap * sizeof *peers);
        if (peers != NULL) z->peers = peers;
        nng_dialer *dialers = realloc(z->dialers, cap * sizeof *dialers);
        if (dialers != NULL) z->dialers = dialers;
        if (peers == NULL || dialers == NULL)
            return ipm_set_error(IPM_ENOMEM, "NngSubscriber: out of memory");
        z->peers_cap = cap;
    }
    char *copy = strdup(endpoint);
    if (copy == NULL) return ipm_set_error(IPM_ENOMEM, "NngSubscriber: out of memory");
    z->peers[z->npeers] = copy;
    z->dialers[z->npeers] = d;
    z->npeers++;
    return IPM_OK;
}

/* z->endpoint: every publisher dialled, comma-separated. */
static ipm_status join_peers(ipm_nng *z)
{
    size_t len = 1;
    for (size_t i = 0; i < z->npeers; i++)
        len += strlen(z->peers[i]) + 1;
    char *s = malloc(len);
    if (s == NULL) return ipm_set_error(IPM_ENOMEM, "NngSubscriber: out of memory");
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
    ipm_nng *z = state;
    ipm_status st = ipm__nng_enter(z->plugin, "connect");
    if (st != IPM_OK) return st;
    char **endpoints;
    size_t n;
    st = ipm_params_get_endpoints(p, "NngSubscriber", &endpoints, &n);
    if (st != IPM_OK) return st;
    /* Check every endpoint before dialling any. */
    for (size_t i = 0; st == IPM_OK && i < n; i++) {
        ipm_nng_url u;
        st = ipm__nng_check_url(z->plugin, "connection_strings", endpoints[i], &u);
        if (st == IPM_OK) st = ipm__nng_check_keys(z->plugin, p, &u, false);
    }
    uint64_t buf = 0;
    if (st == IPM_OK && ipm_params_get(p, "recv_buffer") != NULL) {
        st = ipm_params_get_size(p, "recv_buffer", IPM_NNG_DEFAULT_PUBSUB_BUFFER, 0,
                                 IPM_NNG_MAX_BUFFER, &buf);
        int rv;
        if (st == IPM_OK &&
            (rv = nng_socket_set_int(z->sock, NNG_OPT_RECVBUF, (int)buf)) != 0)
            st = ipm_set_error(IPM_ECONFIG,
                               "NngSubscriber: cannot apply recv_buffer=%llu: %s",
                               (unsigned long long)buf, nng_strerror(rv));
    }
    if (st == IPM_OK) st = ipm__nng_apply_recvmax(z, p);

    size_t before = z->npeers;
    uint32_t carrier = z->carrier_features;
    for (size_t i = 0; st == IPM_OK && i < n; i++) {
        if (has_peer(z, endpoints[i])) continue;
        nng_dialer d;
        st = ipm__nng_dial(z, p, endpoints[i], &d);
        if (st == IPM_OK && (st = add_peer(z, endpoints[i], d)) != IPM_OK)
            nng_dialer_close(d);
    }
    free(endpoints);
    if (st == IPM_OK) st = join_peers(z);
    if (st != IPM_OK) {
        while (z->npeers > before) {
            z->npeers--;
            nng_dialer_close(z->dialers[z->npeers]);
            free(z->peers[z->npeers]);
        }
        z->carrier_features = carrier;
        return st;
    }
    z->connected = true;
    return IPM_OK;
}

static ipm_status set_topic(ipm_nng *z, bool on, const char *topic)
{
    if (ipm__nng_forked())
        return ipm__nng_enter(z->plugin, on ? "subscribe" : "unsubscribe");
    size_t len = strlen(topic);
    if (len > IPM_NNG_MAX_METADATA)
        return ipm_set_error(IPM_EINVAL,
                             "NngSubscriber: a topic of %zu bytes ('%.32s...') is over "
                             "the family's metadata limit of %u bytes",
                             len, topic, IPM_NNG_MAX_METADATA);
    int rv = nng_socket_set(z->sock, on ? NNG_OPT_SUB_SUBSCRIBE : NNG_OPT_SUB_UNSUBSCRIBE,
                            topic, len);
    /* Removing a topic that is not there leaves the state asked for. */
    if (rv == NNG_ENOENT && !on) return IPM_OK;
    if (rv != 0)
        return ipm_set_error(
            rv == NNG_ENOMEM ? IPM_ENOMEM : IPM_ESYS, "NngSubscriber: cannot %s '%s': %s",
            on ? "subscribe to" : "unsubscribe from", topic, nng_strerror(rv));
    return IPM_OK;
}

static ipm_status subscriber_subscribe(void *state, const char *topic)
{
    return set_topic(state, true, topic);
}

static ipm_status subscriber_unsubscribe(void *state, const char *topic)
{
    return set_topic(state, false, topic);
}

static const ipm_plugin_ops subscriber_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = subscriber_create,
    .connect = subscriber_connect,
    .endpoint = ipm__nng_endpoint,
    .destroy = ipm__nng_destroy,
    .receive = ipm__nng_receive,
    .release = ipm__nng_release,
    .subscribe = subscriber_subscribe,
    .unsubscribe = subscriber_unsubscribe,
    .check = ipm__nng_check_subscriber,
    .limits = ipm__nng_limits_op,
};

static const char *const subscriber_keys[] = {"connection_string",
                                              "connection_strings",
                                              "recv_buffer",
                                              "max_message_size",
                                              "tls_cert",
                                              "tls_key",
                                              "tls_ca",
                                              NULL};

static const ipm_plugin subscriber_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SUBSCRIBER,
    .name = "NngSubscriber",
    .version = "1.0.0",
    .description = "nng sub0, dials one or many NngPublishers; topic prefix filter",
    .keys = subscriber_keys,
    .ops = &subscriber_ops,
    .limits = &ipm__nng_limits,
};

IPM_PLUGIN_DEFINE(NngSubscriber, &subscriber_plugin)
