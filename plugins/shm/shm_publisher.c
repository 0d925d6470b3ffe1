/*
 * shm_publisher.c — ShmPublisher: creates the broadcast ring shm://NAME and
 * appends every message to it. Never blocks: a subscriber that falls behind
 * is overtaken and counts what it missed. Owns the segment: on destroy it
 * marks it closed, wakes every subscriber and removes /dev/shm/NAME.
 * Nothing a subscriber or any other process writes can make it block, spin
 * or fault: see shm_ring.h (allowed_owners is accepted, and ignored, so
 * that one INI section can serve both ends).
 *
 * Loans (ABI 1.1) are written in place in the ring, as ShmSender's are in
 * its lane: one at a time, a second one is a heap buffer sent by copy, and
 * anything else sent while an in-place loan is out gives its room up (the
 * ring then writes around that memory until the buffer comes back, and the
 * loan is sent by copy). A loan frees its room when it is taken: readers
 * that were behind count the records it overwrote as dropped, whether the
 * loan is then sent or returned.
 */
#define _GNU_SOURCE
#include "shm_ring.h"

#include <stdlib.h>
#include <string.h>

typedef struct publisher {
    ipm__shm_config cfg;
    ipm__shm_seg seg;
    ipm__shm_ring_writer w;
    bool connected;
    void *loan_buf; /* the in-place loan, or NULL */
} publisher;

static ipm_status pub_create(void **state)
{
    publisher *p = calloc(1, sizeof *p);
    if (p == NULL) return ipm_set_error(IPM_ENOMEM, "ShmPublisher: out of memory");
    p->seg.fd = -1;
    *state = p;
    return IPM_OK;
}

static ipm_status pub_connect(void *state, const ipm_params *prm)
{
    publisher *p = state;
    if (p->connected)
        return ipm_set_error(IPM_ENOTSUP,
                             "ShmPublisher %s: already connected; a publisher "
                             "owns exactly one ring",
                             p->cfg.endpoint);
    ipm__shm_config c;
    ipm_status st = ipm__shm_parse_config(
        prm, "ShmPublisher", ipm_params_get_str(prm, "connection_string", NULL), &c);
    if (st != IPM_OK) return st;
    st = ipm__shm_create(&c, IPM_SHM_KIND_RING, "ShmPublisher", &p->seg);
    if (st != IPM_OK) return st;
    p->cfg = c;
    p->w = (ipm__shm_ring_writer){0};
    p->connected = true;
    return IPM_OK;
}

static const char *pub_endpoint(const void *state)
{
    const publisher *p = state;
    return p->connected ? p->cfg.endpoint : NULL;
}

static ipm_status check_sizes(const publisher *p, size_t size, size_t metadata_size)
{
    if (size > p->seg.max_message_size)
        return ipm_set_error(
            IPM_ETOOBIG,
            "ShmPublisher %s: message of %zu bytes exceeds max_message_size "
            "%llu",
            p->cfg.endpoint, size, (unsigned long long)p->seg.max_message_size);
    if (metadata_size > IPM_SHM_MAX_METADATA)
        return ipm_set_error(
            IPM_ETOOBIG, "ShmPublisher %s: topic of %zu bytes exceeds the limit of %u",
            p->cfg.endpoint, metadata_size, IPM_SHM_MAX_METADATA);
    return IPM_OK;
}

static ipm_status pub_send(void *state, const void *data, size_t size,
                           const char *metadata, size_t metadata_size, int timeout_ms)
{
    publisher *p = state;
    (void)timeout_ms; /* never waits */
    ipm_status st = check_sizes(p, size, metadata_size);
    if (st != IPM_OK) return st;
    if (p->w.loaned) ipm__shm_ring_abandon(&p->seg, &p->w);
    return ipm__shm_ring_write(&p->seg, &p->w, data, size, metadata, metadata_size);
}

static ipm_status pub_loan(void *state, size_t size, int timeout_ms, void **buf)
{
    publisher *p = state;
    (void)timeout_ms; /* a ring always has room */
    ipm_status st = check_sizes(p, size, 0);
    if (st != IPM_OK) return st;
    if (p->loan_buf != NULL) { /* one in place at a time: this one by copy */
        *buf = malloc(size ? size : 1);
        return *buf ? IPM_OK
                    : ipm_set_error(IPM_ENOMEM,
                                    "ShmPublisher %s: cannot allocate %zu bytes",
                                    p->cfg.endpoint, size);
    }
    st = ipm__shm_ring_loan(&p->seg, &p->w, size, buf);
    if (st == IPM_OK) p->loan_buf = *buf;
    return st;
}

static ipm_status pub_send_loan(void *state, void *buf, size_t size, const char *metadata,
                                size_t metadata_size, int timeout_ms)
{
    publisher *p = state;
    if (buf != p->loan_buf) {
        ipm_status st = pub_send(p, buf, size, metadata, metadata_size, timeout_ms);
        if (st == IPM_OK) free(buf);
        return st;
    }
    ipm_status st = check_sizes(p, size, metadata_size);
    if (st != IPM_OK) return st;
    if (!p->w.abandoned) {
        ipm__shm_ring_commit(&p->seg, &p->w, size, metadata, metadata_size);
        p->loan_buf = NULL;
        return IPM_OK;
    }
    /* Given up: copy it out first, since its memory may be written as soon
     * as the loan is settled. */
    void *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return ipm_set_error(IPM_ENOMEM, "ShmPublisher %s: cannot allocate %zu bytes",
                             p->cfg.endpoint, size);
    memcpy(copy, buf, size);
    ipm__shm_ring_unloan(&p->w);
    st = ipm__shm_ring_write(&p->seg, &p->w, copy, size, metadata, metadata_size);
    free(copy);
    if (st != IPM_OK) {
        p->w.loaned = p->w.abandoned = true; /* still on loan, untouched */
        return st;
    }
    p->loan_buf = NULL;
    return IPM_OK;
}

static void pub_loan_return(void *state, void *buf)
{
    publisher *p = state;
    if (buf != p->loan_buf) {
        free(buf);
        return;
    }
    ipm__shm_ring_unloan(&p->w);
    p->loan_buf = NULL;
}

static void pub_destroy(void *state)
{
    publisher *p = state;
    if (p->connected) ipm__shm_detach(&p->seg);
    ipm__shm_ring_writer_free(&p->w);
    free(p);
}

/* The ring's limit, from this publisher's own keys. */
static void pub_limits(const void *state, ipm_limits *out)
{
    const publisher *p = state;
    out->max_message_size = p->seg.max_message_size;
}

static const ipm_plugin_ops pub_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = pub_create,
    .connect = pub_connect,
    .endpoint = pub_endpoint,
    .destroy = pub_destroy,
    .send = pub_send,
    .limits = pub_limits,
    .loan = pub_loan,
    .send_loan = pub_send_loan,
    .loan_return = pub_loan_return,
};

static const char *const pub_keys[] = {
    "connection_string", "buffer_size", "max_message_size", "spin_us", "permissions",
    "allowed_owners",    NULL};

static const ipm_limits pub_stated = IPM_SHM_LIMITS(0);

static const ipm_plugin pub_desc = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "ShmPublisher",
    .version = "1.1.0",
    .description = "shared-memory broadcast ring publisher (shm://NAME), never blocks",
    .keys = pub_keys,
    .ops = &pub_ops,
    .limits = &pub_stated,
};

IPM_PLUGIN_DEFINE(ShmPublisher, &pub_desc)
