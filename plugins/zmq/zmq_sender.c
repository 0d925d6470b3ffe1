/*
 * zmq_sender.c — ZmqSender: the sending end of a lossless sender/receiver
 * pair, a ZeroMQ PUSH socket that connects to a ZmqReceiver's endpoint.
 *
 * ZMQ_IMMEDIATE is set, so nothing is queued for a receiver that is not
 * there: a send with no connected receiver waits for one up to its timeout
 * and then fails with IPM_ETIMEDOUT, instead of being accepted and lost.
 * Keys: connection_string, send_hwm (or DUNE's capacity), linger_ms,
 * tcp_keepalive.
 */
#include "zmq_common.h"

#include <zmq.h>

static ipm_status sender_create(void **state)
{
    ipm_status st = ipm__zmq_create("ZmqSender", ZMQ_PUSH, state);
    if (st != IPM_OK) return st;
    ipm_zmq *z = *state;
    int one = 1;
    if (zmq_setsockopt(z->sock, ZMQ_IMMEDIATE, &one, sizeof one) != 0) {
        ipm__zmq_destroy(z);
        *state = NULL;
        return ipm_set_error(IPM_ESYS, "ZmqSender: cannot set ZMQ_IMMEDIATE: %s",
                             zmq_strerror(zmq_errno()));
    }
    return IPM_OK;
}

static ipm_status sender_connect(void *state, const ipm_params *p)
{
    return ipm__zmq_open_endpoint(state, p, "send_hwm", false);
}

static const ipm_plugin_ops sender_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = sender_create,
    .connect = sender_connect,
    .endpoint = ipm__zmq_endpoint,
    .destroy = ipm__zmq_destroy,
    .send = ipm__zmq_send,
    .limits = ipm__zmq_limits_op,
    .loan = ipm__zmq_loan,
    .send_loan = ipm__zmq_send_loan,
    .loan_return = ipm__zmq_loan_return,
};

static const char *const sender_keys[] = {
    "connection_string", "send_hwm",         "capacity",
    "linger_ms",         "tcp_keepalive",    "curve_server_public_key",
    "curve_secret_key",  NULL};

static const ipm_plugin sender_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "ZmqSender",
    .version = "1.0.0",
    .description = "ZeroMQ PUSH, connects; lossless, in order, to one ZmqReceiver",
    .keys = sender_keys,
    .ops = &sender_ops,
    .settings = ipm__zmq_settings,
    .limits = &ipm__zmq_limits,
};

IPM_PLUGIN_DEFINE(ZmqSender, &sender_plugin)
