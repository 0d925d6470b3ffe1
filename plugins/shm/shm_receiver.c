/*
 * shm_receiver.c — ShmReceiver: creates the lossless queue shm://NAME (like
 * a bind) and takes messages from it in order. Owns the segment: destroy
 * marks it closed, wakes a waiting sender and removes /dev/shm/NAME.
 */
#define _GNU_SOURCE
#include "shm_queue.h"

#include <stdlib.h>

typedef struct receiver {
    ipm__shm_config cfg;
    ipm__shm_seg seg;
    ipm__shm_queue_reader rd;
    ipm__shm_pool *pool;
    bool connected;
} receiver;

static ipm_status rcv_create(void **state)
{
    receiver *r = calloc(1, sizeof *r);
    if (r == NULL || (r->pool = ipm__shm_pool_new()) == NULL) {
        free(r);
        return ipm_set_error(IPM_ENOMEM, "ShmReceiver: out of memory");
    }
    r->seg.fd = -1;
    *state = r;
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
    st = ipm__shm_create(&c, IPM_SHM_KIND_QUEUE, "ShmReceiver", &r->seg);
    if (st != IPM_OK) return st;
    r->cfg = c;
    r->rd = (ipm__shm_queue_reader){0};
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
    if (r->connected) ipm__shm_detach(&r->seg);
    ipm__shm_pool_unref(r->pool);
    free(r);
}

static bool spin(const receiver *r, int64_t until)
{
    for (unsigned i = 0;; i++) {
        if (ipm__shm_queue_ready(&r->seg, &r->rd)) return true;
        ipm__shm_pause();
        if ((i & 63) == 63 && ipm_now_ns() >= until) return false;
    }
}

static ipm_status rcv_receive(void *state, ipm_message *msg, int timeout_ms)
{
    receiver *r = state;
    ipm__shm_header *h = r->seg.hdr;
    int got = ipm__shm_queue_read(&r->seg, &r->rd, r->pool, msg);
    if (got != 0) return got > 0 ? IPM_OK : IPM_ESYS;

    int64_t deadline = ipm_deadline_ns(timeout_ms);
    if (r->cfg.spin_ns > 0 && timeout_ms != 0) {
        int64_t until = ipm_now_ns() + r->cfg.spin_ns;
        if (deadline >= 0 && until > deadline) until = deadline;
        spin(r, until);
    }
    for (;;) {
        got = ipm__shm_queue_read(&r->seg, &r->rd, r->pool, msg);
        if (got != 0) return got > 0 ? IPM_OK : IPM_ESYS;
        int64_t left = ipm__shm_wait_ns(deadline, -1);
        if (left == 0)
            return ipm_set_error(IPM_ETIMEDOUT, "ShmReceiver %s: no message within %d ms",
                                 r->cfg.endpoint, timeout_ms);
        /* Flag, word, re-check, sleep: see shm_queue.c. The sender is not
         * watched: a dead sender only means no message, and a new one may
         * take its place at any time. */
        atomic_store(&h->data_waiters, 1);
        uint32_t v = atomic_load(&h->data_word);
        ipm__shm_fence(memory_order_seq_cst);
        if (!ipm__shm_queue_ready(&r->seg, &r->rd))
            ipm__shm_futex_wait(&h->data_word, v, left);
        atomic_store(&h->data_waiters, 0);
    }
}

static const ipm_plugin_ops rcv_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = rcv_create,
    .connect = rcv_connect,
    .endpoint = rcv_endpoint,
    .destroy = rcv_destroy,
    .receive = rcv_receive,
    .release = ipm__shm_release,
};

static const char *const rcv_keys[] = {"connection_string", "buffer_size",
                                       "max_message_size",  "spin_us",
                                       "permissions",       NULL};

static const ipm_plugin rcv_desc = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "ShmReceiver",
    .version = "1.0.0",
    .description =
        "shared-memory lossless queue receiver (shm://NAME), creates the queue",
    .keys = rcv_keys,
    .ops = &rcv_ops,
    /* Stated limits (ipm-conformance); the shm values are the defaults of
     * buffer_size/max_message_size until a limits op refines them. */
    .limits = &(const ipm_limits){1u << 20, 255, IPM_FEATURE_CROSS_PROCESS, 0},
};

IPM_PLUGIN_DEFINE(ShmReceiver, &rcv_desc)
