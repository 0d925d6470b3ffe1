/* libipm_NewMajorAbi.so: built for plugin ABI 2.0, which this core (1.x)
 * cannot run. */
#include "fixture_ops.h"

static const ipm_plugin descriptor = {
    .magic = IPM_PLUGIN_MAGIC,
    .abi_major = 2,
    .abi_minor = 0,
    .struct_size = sizeof(ipm_plugin),
    .role = IPM_ROLE_SENDER,
    .name = "NewMajorAbi",
    .version = "1.0.0",
    .description = "fixture: built for plugin ABI 2.0",
    .keys = fixture_keys,
    .ops = &fixture_sender_ops,
};

IPM_PLUGIN_DEFINE(NewMajorAbi, &descriptor)
