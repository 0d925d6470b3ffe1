/*
 * zmq_receiver.c — ZmqReceiver: the receiving end of a lossless
 * sender/receiver pair, a ZeroMQ PULL socket that binds. Host "*" with port 0,
 * or port "*", picks a free port, which ipm_receiver_endpoint reports.
 * Keys: connection_string, recv_hwm (or DUNE's capacity), tcp_keepalive.
 * On ipc:// the receive high-water mark is unlimited unless one of those keys
 * sets it, because libzmq 4.3 loses messages over ipc:// when a sender closes
 * while the receiver is at its mark (see ipm__zmq_open_endpoint).
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
};

static const char *const receiver_keys[] = {"connection_string", "recv_hwm", "capacity",
                                            "tcp_keepalive", NULL};

static const ipm_plugin receiver_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "ZmqReceiver",
    .version = "1.0.0",
    .description = "ZeroMQ PULL, binds; receives from ZmqSenders",
    .keys = receiver_keys,
    .ops = &receiver_ops,
    .limits = &(const ipm_limits){IPM_LIMIT_NONE, IPM_LIMIT_NONE,
                                  IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST |
                                      IPM_FEATURE_FAN_IN | IPM_FEATURE_MULTI_PUBLISHER,
                                  0},
};

IPM_PLUGIN_DEFINE(ZmqReceiver, &receiver_plugin)
