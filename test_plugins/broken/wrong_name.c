/* libipm_WrongName.so: the factory matches the file name but the descriptor
 * calls itself 'RightName' (a copy-pasted plugin, say). */
#include "fixture_ops.h"

static const ipm_plugin descriptor = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "RightName",
    .version = "1.0.0",
    .description = "fixture: name differs from the file name",
    .keys = fixture_keys,
    .ops = &fixture_sender_ops,
};

IPM_PLUGIN_DEFINE(WrongName, &descriptor)
