/* loan.c — zero-copy sends (API.md §7): buffers lent by the plugin where it
 * has the ABI 1.1 loan operations, else by the core (a heap buffer that the
 * plugin's ordinary send then takes), so every sender type lends.
 *
 * The core records each outstanding loan so that it can refuse a pointer it
 * did not lend, check the size sent against the size lent, and return every
 * loan when the sender is destroyed. A sender is used by one thread at a
 * time, so the records need no lock; they are recycled, not freed, so that a
 * steady loan/send stream allocates nothing. */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static struct ipm__loan *record(ipm_sender *s)
{
    struct ipm__loan *l = s->spare_loans;
    if (l) {
        s->spare_loans = l->next;
        return l;
    }
    return malloc(sizeof *l);
}

static void recycle(ipm_sender *s, struct ipm__loan *l)
{
    l->next = s->spare_loans;
    s->spare_loans = l;
}

/* The record of buf, unlinked from the outstanding list, or NULL. */
static struct ipm__loan *take(ipm_sender *s, const void *buf)
{
    for (struct ipm__loan **pp = &s->loans; *pp; pp = &(*pp)->next) {
        struct ipm__loan *l = *pp;
        if (l->buf == buf) {
            *pp = l->next;
            return l;
        }
    }
    return NULL;
}

static void give_back(ipm_sender *s, struct ipm__loan *l)
{
    if (l->heap)
        free(l->buf);
    else
        s->plugin->ops->loan_return(s->state, l->buf);
    recycle(s, l);
}

ipm_status ipm_sender_loan(ipm_sender *s, size_t size, int timeout_ms, void **buf)
{
    if (!buf) return ipm_set_error(IPM_EINVAL, "ipm_sender_loan: buf is NULL");
    *buf = NULL;
    if (!s) return ipm_set_error(IPM_EINVAL, "ipm_sender_loan: sender is NULL");
    if (ipm__forked(&s->owner))
        return ipm__forked_error(&s->owner, "ipm_sender_loan", s->plugin->name);
    if (!s->connected)
        return ipm_set_error(IPM_ESTATE,
                             "ipm_sender_loan on a %s that is not connected; call "
                             "ipm_sender_connect first",
                             s->plugin->name);
    if (timeout_ms < IPM_BLOCK) return ipm__bad_timeout("ipm_sender_loan", timeout_ms);
    ipm_limits lim;
    ipm__limits(s->plugin, s->state, &lim);
    if ((uint64_t)size > lim.max_message_size)
        return ipm_set_error(IPM_ETOOBIG,
                             "ipm_sender_loan: %zu bytes is more than %s carries in one "
                             "message (%llu bytes at most)",
                             size, s->plugin->name,
                             (unsigned long long)lim.max_message_size);
    struct ipm__loan *l = record(s);
    if (!l) return ipm_set_error(IPM_ENOMEM, "ipm_sender_loan: out of memory");
    const ipm_plugin_ops *o = s->plugin->ops;
    ipm_status st;
    if (o->loan) {
        l->heap = false;
        st = o->loan(s->state, size, timeout_ms, &l->buf);
    } else {
        /* malloc(0) may return NULL; a loan is always a usable pointer. */
        l->heap = true;
        l->buf = malloc(size ? size : 1);
        st = l->buf ? IPM_OK
                    : ipm_set_error(IPM_ENOMEM,
                                    "ipm_sender_loan: cannot allocate %zu bytes for %s",
                                    size, s->plugin->name);
    }
    if (st != IPM_OK) {
        recycle(s, l);
        return st;
    }
    l->size = size;
    l->next = s->loans;
    s->loans = l;
    *buf = l->buf;
    return IPM_OK;
}

ipm_status ipm_send_loan(ipm_sender *s, void *buf, size_t size, int timeout_ms,
                         const char *metadata)
{
    if (!s || !buf)
        return ipm_set_error(IPM_EINVAL, "ipm_send_loan: %s is NULL",
                             !s ? "sender" : "buf");
    if (ipm__forked(&s->owner))
        return ipm__forked_error(&s->owner, "ipm_send_loan", s->plugin->name);
    if (!s->connected)
        return ipm_set_error(IPM_ESTATE, "ipm_send_loan on a %s that is not connected",
                             s->plugin->name);
    if (timeout_ms < IPM_BLOCK) return ipm__bad_timeout("ipm_send_loan", timeout_ms);
    struct ipm__loan *l = take(s, buf);
    if (!l)
        return ipm_set_error(IPM_EINVAL,
                             "ipm_send_loan: %p is not a buffer this %s lent (already "
                             "sent or returned?)",
                             buf, s->plugin->name);
    ipm_status st;
    if (size > l->size) {
        st = ipm_set_error(IPM_EINVAL,
                           "ipm_send_loan: size %zu is more than the %zu bytes lent",
                           size, l->size);
    } else {
        if (!metadata) metadata = "";
        const ipm_plugin_ops *o = s->plugin->ops;
        st = l->heap
                 ? o->send(s->state, buf, size, metadata, strlen(metadata), timeout_ms)
                 : o->send_loan(s->state, buf, size, metadata, strlen(metadata),
                                timeout_ms);
    }
    if (st != IPM_OK) {
        /* Still the caller's, with its bytes: put the record back. */
        l->next = s->loans;
        s->loans = l;
        return st;
    }
    ipm__sender_count(s, size);
    if (l->heap) free(l->buf);
    recycle(s, l);
    return IPM_OK;
}

void ipm_sender_loan_return(ipm_sender *s, void *buf)
{
    if (!s || !buf) return;
    struct ipm__loan *l = take(s, buf);
    if (!l) return;
    if (ipm__forked(&s->owner)) {
        /* A plugin's buffer is the parent's room in its segment: only the
         * core's own heap buffer is given back here. */
        if (l->heap) free(l->buf);
        recycle(s, l);
        return;
    }
    give_back(s, l);
}

static void free_spares(ipm_sender *s)
{
    while (s->spare_loans) {
        struct ipm__loan *l = s->spare_loans;
        s->spare_loans = l->next;
        free(l);
    }
}

void ipm__loans_forget_all(ipm_sender *s)
{
    while (s->loans) {
        struct ipm__loan *l = s->loans;
        s->loans = l->next;
        if (l->heap) free(l->buf);
        free(l);
    }
    free_spares(s);
}

void ipm__loans_return_all(ipm_sender *s)
{
    while (s->loans) {
        struct ipm__loan *l = s->loans;
        s->loans = l->next;
        give_back(s, l);
    }
    free_spares(s);
}
