/*
 * shm_receiver.c — ShmReceiver: creates the lossless queue shm://NAME (like
 * a bind) with one lane per sender (max_senders), and takes messages from
 * the lanes in turn, each lane in order, in place (shm_queue.h). Owns the
 * segment: destroy marks it closed, wakes waiting senders and removes
 * /dev/shm/NAME; the mapping lives on until the last message handed out is
 * released.
 *
 * A corrupt record (one a ShmSender cannot have written: something
 * else wrote the queue, or memory went bad) is IPM_ESYS once, and the queue
 * is then recreated: closed (the sender is told, as when a receiver
 * restarts, and re-attaches by itself), removed, and created afresh under
 * the same name. Why not resynchronise inside the old queue: it is lossless
 * and in order, and once one record is wrong nothing after it (lengths, the
 * sender's head) can be trusted, so any guess at the next record boundary
 * could deliver forged or torn messages as good ones. Recreating loses what
 * was queued, says so once, and then works again; if it cannot be recreated,
 * every receive says so (IPM_ESYS) until the receiver is destroyed.
 */
#define _GNU_SOURCE
#include "shm_queue.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct receiver {
    ipm__shm_config cfg;
    ipm__shm_qmap *q; /* the queue; NULL before connect or once broken */
    ipm__shm_pool *pool;
    bool connected;
    bool broken; /* the queue was corrupt and could not be recreated */
    char broken_msg[1400];
} receiver;

static ipm_status rcv_create(void **state)
{
    receiver *r = calloc(1, sizeof *r);
    if (r == NULL || (r->pool = ipm__shm_pool_new()) == NULL) {
        free(r);
        return ipm_set_error(IPM_ENOMEM, "ShmReceiver: out of memory");
    }
    *state = r;
    return IPM_OK;
}

/* Create the queue and take it over in r->q. */
static ipm_status open_queue(receiver *r, const ipm__shm_config *c)
{
    ipm__shm_seg seg;
    ipm_status st = ipm__shm_create(c, IPM_SHM_KIND_QUEUE, "ShmReceiver", &seg);
    if (st != IPM_OK) return st;
    r->q = ipm__shm_qmap_new(&seg);
    if (r->q == NULL) {
        ipm__shm_detach(&seg);
        return ipm_set_error(IPM_ENOMEM, "ShmReceiver %s: out of memory", c->endpoint);
    }
    return IPM_OK;
}

static ipm_status rcv_connect(void *state, const ipm_params *p)
{
    receiver *r = state;
    if (r->connected)
        return ipm_set_error(IPM_ENOTSUP, "ShmReceiver %s: already connected",
                             r->cfg.endpoint);
    ipm__shm_config c;
    ipm_status st = ipm__shm_parse_config(
        p, "ShmReceiver", ipm_params_get_str(p, "connection_string", NULL), &c);
    if (st != IPM_OK) return st;
    st = open_queue(r, &c);
    if (st != IPM_OK) return st;
    r->cfg = c;
    r->connected = true;
    return IPM_OK;
}

static const char *rcv_endpoint(const void *state)
{
    const receiver *r = state;
    return r->connected ? r->cfg.endpoint : NULL;
}

static void rcv_destroy(void *state)
{
    receiver *r = state;
    ipm__shm_qmap_close(r->q); /* NULL once broken */
    ipm__shm_pool_unref(r->pool);
    free(r);
}

/* queue_read returned -1: recreate a corrupt queue (see the top), or pass
 * an out-of-memory error on. Returns the status for receive. */
static ipm_status read_failed(receiver *r, bool corrupt)
{
    if (!corrupt) return IPM_ESYS;
    char what[400];
    snprintf(what, sizeof what, "%s", ipm_last_error());
    /* Messages still held keep the old mapping until they are released. */
    ipm__shm_qmap_close(r->q);
    r->q = NULL;
    ipm_status st = open_queue(r, &r->cfg);
    if (st != IPM_OK) {
        r->broken = true;
        snprintf(r->broken_msg, sizeof r->broken_msg,
                 "ShmReceiver %s: the queue was corrupt (%.400s) and could not be "
                 "recreated: %.400s; destroy this receiver and create a new one",
                 r->cfg.endpoint, what, ipm_last_error());
        return ipm_set_error(IPM_ESYS, "%s", r->broken_msg);
    }
    return ipm_set_error(IPM_ESYS,
                         "%s; the queue was discarded with the messages still in it and "
                         "recreated (the ShmSender re-attaches by itself)",
                         what);
}

static bool spin(const receiver *r, int64_t until)
{
    for (unsigned i = 0;; i++) {
        if (ipm__shm_qmap_ready(r->q)) return true;
        ipm__shm_pause();
        if ((i & 63) == 63 && ipm_now_ns() >= until) return false;
    }
}

static ipm_status rcv_receive(void *state, ipm_message *msg, int timeout_ms)
{
    receiver *r = state;
    if (r->broken) return ipm_set_error(IPM_ESYS, "%s", r->broken_msg);
    ipm__shm_header *h = ipm__shm_qmap_seg(r->q)->hdr;
    bool corrupt;
    int got = ipm__shm_qmap_read(r->q, r->pool, msg, &corrupt);
    if (got != 0) return got > 0 ? IPM_OK : read_failed(r, corrupt);

    int64_t deadline = ipm_deadline_ns(timeout_ms);
    if (r->cfg.spin_ns > 0 && timeout_ms != 0) {
        int64_t until = ipm_now_ns() + r->cfg.spin_ns;
        if (deadline >= 0 && until > deadline) until = deadline;
        spin(r, until);
    }
    for (;;) {
        got = ipm__shm_qmap_read(r->q, r->pool, msg, &corrupt);
        if (got != 0) return got > 0 ? IPM_OK : read_failed(r, corrupt);
        int64_t left = ipm__shm_wait_ns(deadline, -1);
        if (left == 0)
            return ipm_set_error(IPM_ETIMEDOUT, "ShmReceiver %s: no message within %d ms",
                                 r->cfg.endpoint, timeout_ms);
        /* Flag, re-check, sleep on the flag: see shm_queue.c. Senders are
         * not watched: a dead sender only means no message from it, and a
         * new one may take its lane at any time. */
        atomic_store(&h->data_waiters, 1);
        ipm__shm_fence(memory_order_seq_cst);
        /* Woken, the flag was cleared by whoever woke us (a sender or the
         * queue's close) and is not touched: the sender has its line. A
         * message found before sleeping, a timeout or a signal leaves it
         * set, and then we clear it so that no sender pays a FUTEX_WAKE for
         * nobody. */
        if (ipm__shm_qmap_ready(r->q) || !ipm__shm_futex_wait(&h->data_waiters, 1, left))
            atomic_store_explicit(&h->data_waiters, 0, memory_order_relaxed);
    }
}

/* The queue's limit, from this receiver's own keys. */
static void rcv_limits(const void *state, ipm_limits *out)
{
    const receiver *r = state;
    out->max_message_size = r->cfg.max_message_size;
}

static const ipm_plugin_ops rcv_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = rcv_create,
    .connect = rcv_connect,
    .endpoint = rcv_endpoint,
    .destroy = rcv_destroy,
    .receive = rcv_receive,
    .release = ipm__shm_release,
    .limits = rcv_limits,
};

static const char *const rcv_keys[] = {
    "connection_string", "buffer_size",    "max_message_size", "spin_us",
    "permissions",       "allowed_owners", "max_senders",      NULL};

static const ipm_limits rcv_stated = IPM_SHM_LIMITS(IPM_FEATURE_FAN_IN);

static const ipm_plugin rcv_desc = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "ShmReceiver",
    .version = "1.1.0",
    .description =
        "shared-memory lossless queue receiver (shm://NAME), creates the queue; "
        "any number of ShmSenders up to max_senders, zero-copy receive",
    .keys = rcv_keys,
    .ops = &rcv_ops,
    .limits = &rcv_stated,
};

IPM_PLUGIN_DEFINE(ShmReceiver, &rcv_desc)
