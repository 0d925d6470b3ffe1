/*
 * zmq_publisher.c — ZmqPublisher: a ZeroMQ PUB socket that binds; the
 * metadata of each message is its topic. A send never waits: ZeroMQ drops a
 * message for a subscriber that is at its high-water mark (the subscriber
 * cannot tell, so its `dropped` stays 0), and for nobody if none listens.
 * Keys: connection_string, send_hwm (or DUNE's capacity), linger_ms,
 * permissions (mode of an ipc:// socket file, default 0600), tcp_keepalive.
 * Subscriptions longer than a ZmqSubscriber's 4096-byte topic limit cut the
 * subscriber's connection off.
 */
#include "zmq_common.h"

#include <zmq.h>

static ipm_status publisher_create(void **state)
{
    return ipm__zmq_create("ZmqPublisher", ZMQ_PUB, state);
}

static ipm_status publisher_connect(void *state, const ipm_params *p)
{
    return ipm__zmq_open_endpoint(state, p, "send_hwm", true);
}

static const ipm_plugin_ops publisher_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = publisher_create,
    .connect = publisher_connect,
    .endpoint = ipm__zmq_endpoint,
    .destroy = ipm__zmq_destroy,
    .send = ipm__zmq_send,
    .limits = ipm__zmq_limits_op,
    .loan = ipm__zmq_loan,
    .send_loan = ipm__zmq_send_loan,
    .loan_return = ipm__zmq_loan_return,
};

static const char *const publisher_keys[] = {
    "connection_string", "send_hwm",      "capacity", "linger_ms",
    "permissions",       "tcp_keepalive", "curve_secret_key", "curve_allowed_clients",
    NULL};

static const ipm_plugin publisher_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "ZmqPublisher",
    .version = "1.0.0",
    .description = "ZeroMQ PUB, binds; metadata is the topic",
    .keys = publisher_keys,
    .ops = &publisher_ops,
    .settings = ipm__zmq_settings,
    .limits = &ipm__zmq_limits,
};

IPM_PLUGIN_DEFINE(ZmqPublisher, &publisher_plugin)
