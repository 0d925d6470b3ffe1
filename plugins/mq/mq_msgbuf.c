/*
 * mq_msgbuf.c — the buffers received messages live in, and decoding the
 * wire form (see mq_common.h) in place: mq_receive writes straight into a
 * buffer, and the message's data and metadata then point into it, so a
 * message is copied once, by the kernel. Release may come after the receiver
 * is destroyed and from another thread, so buffers point to a
 * reference-counted pool rather than to the receiver; the pool keeps one
 * spare buffer so that a receive/release loop does not call malloc.
 */
#define _GNU_SOURCE
#include "mq_common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct ipm__mq_pool {
    _Atomic long refs;     /* the receiver's + one per outstanding message */
    _Atomic(void *) spare; /* one recycled buffer, or NULL */
    size_t cap;
};

typedef struct msgbuf {
    ipm__mq_pool *pool;
    _Alignas(64) unsigned char bytes[];
} msgbuf;

ipm__mq_pool *ipm__mq_pool_new(size_t cap)
{
    ipm__mq_pool *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    atomic_init(&p->refs, 1);
    p->cap = cap;
    return p;
}

void ipm__mq_pool_unref(ipm__mq_pool *p)
{
    if (p == NULL || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(atomic_exchange(&p->spare, NULL));
    free(p);
}

void *ipm__mq_buf_get(ipm__mq_pool *p, unsigned char **bytes)
{
    msgbuf *b = atomic_exchange_explicit(&p->spare, NULL, memory_order_acquire);
    if (b == NULL) {
        b = malloc(sizeof(msgbuf) + p->cap);
        if (b == NULL) return NULL;
        b->pool = p;
    }
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    *bytes = b->bytes;
    return b;
}

void ipm__mq_buf_put(void *buf)
{
    msgbuf *b = buf;
    ipm__mq_pool *p = b->pool;
    void *old = atomic_exchange_explicit(&p->spare, b, memory_order_acq_rel);
    free(old);
    ipm__mq_pool_unref(p);
}

void ipm__mq_buf_fill(void *buf, size_t n, ipm_message *msg)
{
    msgbuf *b = buf;
    unsigned char *m = b->bytes;
    size_t meta = 0;
    bool ours = false;
    if (n >= IPM_MQ_HEADER && memcmp(m, ipm__mq_magic, 4) == 0 &&
        m[4] == IPM_MQ_VERSION) {
        meta = (size_t)m[6] | ((size_t)m[7] << 8);
        ours = meta <= IPM_MQ_MAX_METADATA && meta <= n - IPM_MQ_HEADER;
    }
    msg->opaque_[0] = b;
    if (!ours) {
        /* A plain mq_send peer's message: all of it is data. */
        msg->data = m;
        msg->size = n;
        msg->metadata = "";
        msg->metadata_size = 0;
        return;
    }
    size_t size = n - IPM_MQ_HEADER - meta;
    msg->data = m + IPM_MQ_HEADER;
    msg->size = size;
    char *md = (char *)m + IPM_MQ_HEADER + size;
    md[meta] = '\0'; /* the byte past n: the buffer has room for it */
    msg->metadata = md;
    msg->metadata_size = meta;
}

void ipm__mq_release(ipm_message *msg)
{
    if (msg->opaque_[0] == NULL) return;
    ipm__mq_buf_put(msg->opaque_[0]);
    msg->opaque_[0] = NULL;
}
