/* message.c — a received message's life in the core: receiving through the
 * plugin (tagging the message so that release needs nothing else, counting
 * it) and releasing it. Used by ipm_receive (receiver.c) and by the
 * callback thread (callback.c), which therefore depend on this file and not
 * on each other. */
#define _GNU_SOURCE
#include "internal.h"

#include <stdint.h>
#include <string.h>

/* The core keeps the plugin that filled a message in opaque_[3] so that
 * ipm_message_release needs nothing but the message, and the process's fork
 * generation in opaque_[2]: a message received before a fork is released
 * by the plugin in the parent only (for shm, a release gives room back to
 * the sender, and two releases of one message would give it twice). */
#define MSG_GENERATION_SLOT 2
#define MSG_PLUGIN_SLOT 3

/* Receive through the plugin and record what the core needs. Shared by
 * ipm_receive and the callback thread; checks are done by the caller. */
ipm_status ipm__receive_raw(ipm_receiver *r, ipm_message *msg, int timeout_ms)
{
    memset(msg, 0, sizeof *msg);
    ipm_status st = r->plugin->ops->receive(r->state, msg, timeout_ms);
    if (st != IPM_OK) {
        memset(msg, 0, sizeof *msg);
        return st;
    }
    if (!msg->metadata) {
        msg->metadata = "";
        msg->metadata_size = 0;
    }
    msg->opaque_[MSG_PLUGIN_SLOT] = (void *)(uintptr_t)r->plugin;
    msg->opaque_[MSG_GENERATION_SLOT] = (void *)(uintptr_t)r->owner.generation;
    ipm__count(&r->messages, 1);
    ipm__count(&r->bytes, msg->size);
    return IPM_OK;
}

void ipm_message_release(ipm_message *msg)
{
    if (!msg) return;
    const ipm_plugin *pl = msg->opaque_[MSG_PLUGIN_SLOT];
    unsigned gen = (unsigned)(uintptr_t)msg->opaque_[MSG_GENERATION_SLOT];
    if (pl && gen == atomic_load_explicit(&ipm__fork_generation, memory_order_relaxed))
        pl->ops->release(msg);
    memset(msg, 0, sizeof *msg);
}
