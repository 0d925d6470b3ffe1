/* libipm_BadMagic.so: the descriptor does not start with IPM_PLUGIN_MAGIC,
 * as when the factory returns something that is not an ipm_plugin. */
#include "fixture_ops.h"

static const ipm_plugin descriptor = {
    .magic = 0xDEADBEEFu,
    .abi_major = IPM_PLUGIN_ABI_MAJOR,
    .abi_minor = IPM_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ipm_plugin),
    .role = IPM_ROLE_SENDER,
    .name = "BadMagic",
    .version = "1.0.0",
    .description = "fixture: wrong magic number",
    .keys = fixture_keys,
    .ops = &fixture_sender_ops,
};

IPM_PLUGIN_DEFINE(BadMagic, &descriptor)
