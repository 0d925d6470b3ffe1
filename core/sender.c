/* sender.c — ipm_sender: the checks of API.md §3 around a plugin's send. */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>
#include <string.h>

ipm_status ipm_sender_create(const char *type, ipm_sender **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_sender_create: out is NULL");
    *out = NULL;
    const ipm_plugin *pl;
    ipm_status st = ipm__plugin_for_role(type, 1u << IPM_ROLE_SENDER, "a sender", &pl);
    if (st != IPM_OK) return st;
    ipm_sender *s = calloc(1, sizeof *s);
    if (!s)
        return ipm_set_error(IPM_ENOMEM, "ipm_sender_create(%s): out of memory",
                             pl->name);
    s->plugin = pl;
    s->send = pl->ops->send;
    st = ipm__fork_stamp(&s->owner, pl->name);
    if (st == IPM_OK) st = pl->ops->create(&s->state);
    if (st != IPM_OK) {
        ipm_prefix_error("creating %s", pl->name);
        free(s);
        return st;
    }
    *out = s;
    return IPM_OK;
}

ipm_status ipm_sender_connect(ipm_sender *s, const ipm_params *p)
{
    if (!s || !p)
        return ipm_set_error(IPM_EINVAL, "ipm_sender_connect: %s is NULL",
                             !s ? "sender" : "params");
    if (ipm__forked(&s->owner))
        return ipm__forked_error(&s->owner, "ipm_sender_connect", s->plugin->name);
    ipm_status st = ipm_params_check_keys(p, s->plugin);
    if (st != IPM_OK) return st;
    const char *cs = ipm_params_get(p, "connection_string");
    char *hint = cs ? ipm__strdup(cs) : NULL;
    if (cs && !hint) return IPM_ENOMEM;
    st = s->plugin->ops->connect(s->state, p);
    if (st != IPM_OK) {
        free(hint);
        return st;
    }
    free(s->endpoint_hint);
    s->endpoint_hint = hint;
    s->connected = true;
    return IPM_OK;
}

const char *ipm_sender_endpoint(const ipm_sender *s)
{
    if (!s || !s->connected) return NULL;
    if (s->plugin->ops->endpoint) {
        const char *e = s->plugin->ops->endpoint(s->state);
        if (e) return e;
    }
    return s->endpoint_hint;
}

bool ipm_sender_can_send(const ipm_sender *s)
{
    return s && s->connected;
}

/* The checks of API.md section 3 before a send, with the error of the first
 * that fails; out of line, as ipm_send only tests them on its fast path. */
static __attribute__((noinline, cold)) ipm_status
check_send(ipm_sender *s, const void *data, size_t size, int timeout_ms)
{
    if (!s) return ipm_set_error(IPM_EINVAL, "ipm_send: sender is NULL");
    if (ipm__forked(&s->owner))
        return ipm__forked_error(&s->owner, "ipm_send", s->plugin->name);
    if (!s->connected)
        return ipm_set_error(
            IPM_ESTATE,
            "ipm_send on a %s that is not connected; call ipm_sender_connect "
            "first",
            s->plugin->name);
    if (!data && size > 0)
        return ipm_set_error(IPM_EINVAL, "ipm_send: data is NULL but size is %zu", size);
    if (timeout_ms < IPM_BLOCK) return ipm__bad_timeout("ipm_send", timeout_ms);
    return IPM_OK;
}

ipm_status ipm_send(ipm_sender *s, const void *data, size_t size, int timeout_ms,
                    const char *metadata)
{
    if (!s || ipm__forked(&s->owner) || !s->connected || (!data && size > 0) ||
        timeout_ms < IPM_BLOCK) {
        ipm_status st = check_send(s, data, size, timeout_ms);
        if (st != IPM_OK) return st;
    }
    if (!metadata) metadata = "";
    ipm_status st = s->send(s->state, data, size, metadata, strlen(metadata), timeout_ms);
    if (st == IPM_OK) ipm__sender_count(s, size);
    return st;
}

ipm_status ipm_sender_limits(const ipm_sender *s, ipm_limits *out)
{
    if (!s || !out)
        return ipm_set_error(IPM_EINVAL, "ipm_sender_limits: %s is NULL",
                             !s ? "sender" : "out");
    ipm__limits(s->plugin, s->connected ? s->state : NULL, out);
    return IPM_OK;
}

void ipm_sender_stats(const ipm_sender *s, ipm_stats *out)
{
    if (!out) return;
    *out = (ipm_stats){0, 0, 0};
    if (!s) return;
    out->messages = atomic_load_explicit(&s->messages, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&s->bytes, memory_order_relaxed);
}

void ipm_sender_destroy(ipm_sender *s)
{
    if (!s) return;
    if (ipm__forked(&s->owner)) {
        /* The plugin's state belongs to the parent: its destroy could unlink
         * the parent's segment or close sockets of the parent's context.
         * Free only what the core allocated. */
        ipm__loans_forget_all(s);
        free(s->endpoint_hint);
        free(s);
        return;
    }
    ipm__loans_return_all(s);
    s->plugin->ops->destroy(s->state);
    free(s->endpoint_hint);
    free(s);
}
