/* libipm_SmallOps.so: the operations table's struct_size is smaller than the
 * operations every ABI 1.x table has. */
#include "fixture_ops.h"

static const ipm_plugin descriptor = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "SmallOps",
    .version = "1.0.0",
    .description = "fixture: ops struct_size too small",
    .keys = fixture_keys,
    .ops = &fixture_sender_ops_too_small,
};

IPM_PLUGIN_DEFINE(SmallOps, &descriptor)
