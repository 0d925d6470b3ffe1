/* libipm_NullSend.so: a sender whose required operation send is NULL. */
#include "fixture_ops.h"

static const ipm_plugin descriptor = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "NullSend",
    .version = "1.0.0",
    .description = "fixture: sender without a send operation",
    .keys = fixture_keys,
    .ops = &fixture_sender_ops_without_send,
};

IPM_PLUGIN_DEFINE(NullSend, &descriptor)
