/* libipm_SmallDesc.so: the descriptor's struct_size is smaller than the
 * members every ABI 1.x descriptor has. */
#include "fixture_ops.h"

static const ipm_plugin descriptor = {
    .magic = IPM_PLUGIN_MAGIC,
    .abi_major = IPM_PLUGIN_ABI_MAJOR,
    .abi_minor = IPM_PLUGIN_ABI_MINOR,
    .struct_size = 16,
    .role = IPM_ROLE_SENDER,
    .name = "SmallDesc",
    .version = "1.0.0",
    .description = "fixture: descriptor struct_size too small",
    .keys = fixture_keys,
    .ops = &fixture_sender_ops,
};

IPM_PLUGIN_DEFINE(SmallDesc, &descriptor)
