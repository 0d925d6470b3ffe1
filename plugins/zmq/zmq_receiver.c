/*
 * zmq_receiver.c — ZmqReceiver: the receiving end of a lossless
 * sender/receiver pair, a ZeroMQ PULL socket that binds. Host "*" with port 0,
 * or port "*", picks a free port, which ipm_receiver_endpoint reports.
 * Keys: connection_string, recv_hwm (or DUNE's capacity), max_message_size
 * (largest frame a peer may send, default 256 MiB), permissions (mode of an
 * ipc:// socket file, default 0600), tcp_keepalive.
 * On ipc:// the receive high-water mark is unlimited unless recv_hwm or
 * capacity sets it, because libzmq 4.3 loses messages over ipc:// when a
 * sender closes while the receiver is at its mark (see
 * ipm__zmq_open_endpoint): lossless by default, bounded by choice.
 */
#include "zmq_common.h"

#include <zmq.h>

static ipm_status receiver_create(void **state)
{
    return ipm__zmq_create("ZmqReceiver", ZMQ_PULL, state);
}

static ipm_status receiver_connect(void *state, const ipm_params *p)
{
    return ipm__zmq_open_endpoint(state, p, "recv_hwm", true);
}

static const ipm_plugin_ops receiver_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = receiver_create,
    .connect = receiver_connect,
    .endpoint = ipm__zmq_endpoint,
    .destroy = ipm__zmq_destroy,
    .receive = ipm__zmq_receive,
    .release = ipm__zmq_release,
    .limits = ipm__zmq_limits_op,
};

static const char *const receiver_keys[] = {
    "connection_string", "recv_hwm",      "capacity", "max_message_size",
    "permissions",       "tcp_keepalive", "curve_secret_key", "curve_allowed_clients",
    NULL};

static const ipm_plugin receiver_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "ZmqReceiver",
    .version = "1.0.0",
    .description = "ZeroMQ PULL, binds; receives from ZmqSenders",
    .keys = receiver_keys,
    .ops = &receiver_ops,
    .settings = ipm__zmq_settings,
    .limits = &ipm__zmq_limits,
};

IPM_PLUGIN_DEFINE(ZmqReceiver, &receiver_plugin)
