/* libipm_NewMinorAbi.so: built for plugin ABI 1.(MINOR+1), newer than this
 * core: it may rely on operations the core does not know, so it is refused. */
#include "fixture_ops.h"

static const ipm_plugin descriptor = {
    .magic = IPM_PLUGIN_MAGIC,
    .abi_major = IPM_PLUGIN_ABI_MAJOR,
    .abi_minor = IPM_PLUGIN_ABI_MINOR + 1,
    .struct_size = sizeof(ipm_plugin),
    .role = IPM_ROLE_SENDER,
    .name = "NewMinorAbi",
    .version = "1.0.0",
    .description = "fixture: built for a newer minor plugin ABI",
    .keys = fixture_keys,
    .ops = &fixture_sender_ops,
};

IPM_PLUGIN_DEFINE(NewMinorAbi, &descriptor)
