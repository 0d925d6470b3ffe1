/*
 * nng_receiver.c — NngReceiver: the receiving end of a lossless
 * sender/receiver pair, an nng pull0 socket that listens. Port 0 picks a
 * free port, which ipm_receiver_endpoint reports. Any number of senders
 * (NngSender or any push0) may dial it at once (fan-in).
 *
 * No receive-queue key: pull0 of nng 1.5 has no queue of its own (it holds
 * one message per connected sender and leaves the rest in the kernel's
 * socket buffer, where the sender's window pushes back), so nng's
 * NNG_OPT_RECVBUF would change nothing on it.
 * Keys: connection_string, max_message_size (largest message a peer may
 * send, default 256 MiB, 0 no limit), permissions (mode of an ipc://
 * socket file, default 0600), tls_cert, tls_key (required on tls+tcp://),
 * tls_ca (then senders must present a certificate it signed).
 */
#include "nng_common.h"

static ipm_status receiver_create(void **state)
{
    return ipm__nng_create("NngReceiver", IPM_NNG_PULL, state);
}

/* The connect op of both listening types. */
static ipm_status listen_op(ipm_nng *z, const ipm_params *p, bool recvmax)
{
    if (z->connected)
        return ipm_set_error(IPM_ENOTSUP,
                             "%s: already listening on '%s'; create another object for "
                             "another endpoint",
                             z->plugin, z->endpoint);
    ipm_status st = ipm__nng_enter(z->plugin, "connect");
    const char *endpoint = NULL;
    if (st == IPM_OK) st = ipm__nng_endpoint_param(z->plugin, p, &endpoint);
    if (st == IPM_OK && recvmax) st = ipm__nng_apply_recvmax(z, p);
    if (st == IPM_OK) st = ipm__nng_listen(z, p, endpoint);
    if (st == IPM_OK) z->connected = true;
    return st;
}

static ipm_status receiver_connect(void *state, const ipm_params *p)
{
    return listen_op(state, p, true);
}

static const ipm_plugin_ops receiver_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = receiver_create,
    .connect = receiver_connect,
    .endpoint = ipm__nng_endpoint,
    .destroy = ipm__nng_destroy,
    .receive = ipm__nng_receive,
    .release = ipm__nng_release,
    .check = ipm__nng_check_receiver,
    .limits = ipm__nng_limits_op,
};

static const char *const receiver_keys[] = {
    "connection_string", "max_message_size", "permissions", "tls_cert",
    "tls_key",           "tls_ca",           NULL};

static const ipm_plugin receiver_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "NngReceiver",
    .version = "1.0.0",
    .description = "nng pull0, listens; receives from NngSenders and any push0",
    .keys = receiver_keys,
    .ops = &receiver_ops,
    .limits = &ipm__nng_limits,
};

IPM_PLUGIN_DEFINE(NngReceiver, &receiver_plugin)
