/* message.c — the end of a received message's life in the core: releasing
 * it through the plugin that filled it (internal.h's ipm__receive_raw,
 * shared by ipm_receive and the callback thread, tags it so that release
 * needs nothing else). */
#define _GNU_SOURCE
#include "internal.h"

#include <stdint.h>
#include <string.h>

void ipm_message_release(ipm_message *msg)
{
    if (!msg) return;
    const ipm_plugin *pl = msg->opaque_[IPM__MSG_PLUGIN_SLOT];
    unsigned gen = (unsigned)(uintptr_t)msg->opaque_[IPM__MSG_GENERATION_SLOT];
    if (pl && gen == atomic_load_explicit(&ipm__fork_generation, memory_order_relaxed))
        pl->ops->release(msg);
    memset(msg, 0, sizeof *msg);
}
