/* fixture_ops.c — the inert operations shared by the broken fixtures. */
#include "fixture_ops.h"

#include <stdlib.h>

static ipm_status fixture_create(void **state)
{
    *state = malloc(1);
    return *state ? IPM_OK : ipm_set_error(IPM_ENOMEM, "fixture: out of memory");
}

static ipm_status fixture_connect(void *state, const ipm_params *p)
{
    return ipm_set_error(IPM_ENOTSUP, "fixture: connect is not implemented");
}

static void fixture_destroy(void *state)
{
    free(state);
}

static ipm_status fixture_send(void *state, const void *data, size_t size,
                               const char *metadata, size_t metadata_size, int timeout_ms)
{
    return ipm_set_error(IPM_ENOTSUP, "fixture: send is not implemented");
}

#define FIXTURE_OPS(size, send_op)                                                       \
    {                                                                                    \
        .struct_size = (size), .create = fixture_create, .connect = fixture_connect,     \
        .destroy = fixture_destroy, .send = (send_op)                                    \
    }

const ipm_plugin_ops fixture_sender_ops =
    FIXTURE_OPS(sizeof(ipm_plugin_ops), fixture_send);
const ipm_plugin_ops fixture_sender_ops_without_send =
    FIXTURE_OPS(sizeof(ipm_plugin_ops), NULL);
const ipm_plugin_ops fixture_sender_ops_too_small = FIXTURE_OPS(8, fixture_send);

const char *const fixture_keys[] = {"connection_string", NULL};
