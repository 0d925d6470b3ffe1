/*
 * nng_publisher.c — NngPublisher: an nng pub0 socket that listens; the
 * metadata of each message is its topic, sent first so that sub0's own
 * prefix filter (in every subscriber, ipm's or not) matches on it.
 *
 * A send never waits: pub0 keeps a queue per subscriber (send_buffer
 * messages, default 1024, at most 8192) and, when one is full, drops that
 * subscriber's oldest message (the subscriber cannot tell; its `dropped`
 * stays 0). With no subscriber a message goes nowhere, as in ZeroMQ.
 * Keys: connection_string, send_buffer, permissions (ipc:// socket file
 * mode, default 0600), tls_cert, tls_key (required on tls+tcp://), tls_ca.
 */
#include "nng_common.h"

static ipm_status publisher_create(void **state)
{
    return ipm__nng_create("NngPublisher", IPM_NNG_PUB, state);
}

static ipm_status publisher_connect(void *state, const ipm_params *p)
{
    ipm_nng *z = state;
    if (z->connected)
        return ipm_set_error(IPM_ENOTSUP,
                             "NngPublisher: already listening on '%s'; create another "
                             "object for another endpoint",
                             z->endpoint);
    ipm_status st = ipm__nng_enter(z->plugin, "connect");
    const char *endpoint = NULL;
    uint64_t buf = IPM_NNG_DEFAULT_PUBSUB_BUFFER;
    if (st == IPM_OK) st = ipm__nng_endpoint_param(z->plugin, p, &endpoint);
    if (st == IPM_OK)
        st = ipm_params_get_size(p, "send_buffer", IPM_NNG_DEFAULT_PUBSUB_BUFFER, 0,
                                 IPM_NNG_MAX_BUFFER, &buf);
    if (st != IPM_OK) return st;
    /* pub0 sizes each subscriber's queue when the subscriber connects, so
     * this comes before the listener starts. */
    int rv = nng_socket_set_int(z->sock, NNG_OPT_SENDBUF, (int)buf);
    if (rv != 0)
        return ipm_set_error(IPM_ECONFIG,
                             "NngPublisher: cannot apply send_buffer=%llu: %s",
                             (unsigned long long)buf, nng_strerror(rv));
    st = ipm__nng_listen(z, p, endpoint);
    if (st == IPM_OK) z->connected = true;
    return st;
}

static ipm_status publisher_send(void *state, const void *data, size_t size,
                                 const char *metadata, size_t metadata_size,
                                 int timeout_ms)
{
    (void)timeout_ms; /* pub0 never waits */
    ipm_nng *z = state;
    if (ipm__nng_forked()) return ipm__nng_enter(z->plugin, "send");
    nng_msg *m;
    ipm_status st = ipm__nng_make_msg(z, data, size, metadata, metadata_size, &m);
    if (st != IPM_OK) return st;
    int rv = nng_sendmsg(z->sock, m, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        nng_msg_free(m);
        return ipm__nng_fail(z, IPM_ESYS, rv, "publish on", z->endpoint);
    }
    return IPM_OK;
}

static const ipm_plugin_ops publisher_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = publisher_create,
    .connect = publisher_connect,
    .endpoint = ipm__nng_endpoint,
    .destroy = ipm__nng_destroy,
    .send = publisher_send,
    .check = ipm__nng_check_publisher,
    .limits = ipm__nng_limits_op,
};

static const char *const publisher_keys[] = {
    "connection_string", "send_buffer", "permissions", "tls_cert",
    "tls_key",           "tls_ca",      NULL};

static const ipm_plugin publisher_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "NngPublisher",
    .version = "1.0.0",
    .description = "nng pub0, listens; metadata is the topic, sent first",
    .keys = publisher_keys,
    .ops = &publisher_ops,
    .limits = &ipm__nng_limits,
};

IPM_PLUGIN_DEFINE(NngPublisher, &publisher_plugin)
