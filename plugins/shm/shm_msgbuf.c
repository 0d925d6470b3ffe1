/*
 * shm_msgbuf.c — the buffers that copied messages live in. A subscriber
 * copies each message out of its ring once, into one of these (the queue
 * hands messages out in place, shm_queue.c, and copies only when the
 * application holds very many); release may come
 * after the receiver is destroyed and from another thread, so buffers point
 * to a reference-counted pool rather than to the receiver. The pool keeps one
 * spare buffer, so a receive/release loop does not call malloc.
 */
#define _GNU_SOURCE
#include "shm_common.h"

#include <stdlib.h>
#include <string.h>

struct ipm__shm_pool {
    _Atomic long refs;     /* the receiver's + one per outstanding message */
    _Atomic(void *) spare; /* one recycled buffer, or NULL */
};

typedef struct msgbuf {
    ipm__shm_pool *pool;
    uint64_t cap; /* bytes in bytes[] */
    _Alignas(64) unsigned char bytes[];
} msgbuf;

ipm__shm_pool *ipm__shm_pool_new(void)
{
    ipm__shm_pool *p = calloc(1, sizeof *p);
    if (p != NULL) atomic_init(&p->refs, 1);
    return p;
}

void ipm__shm_pool_unref(ipm__shm_pool *p)
{
    if (p == NULL || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(atomic_exchange(&p->spare, NULL));
    free(p);
}

void *ipm__shm_buf_get(ipm__shm_pool *p, uint64_t size, uint32_t meta_size,
                       unsigned char **data, char **meta)
{
    uint64_t need = size + meta_size + 1;
    msgbuf *b = atomic_exchange_explicit(&p->spare, NULL, memory_order_acquire);
    if (b == NULL || b->cap < need) {
        free(b);
        if (need > SIZE_MAX - sizeof(msgbuf) - 64) return NULL;
        /* Round small requests up so that the spare fits the next one. */
        uint64_t cap = need < 4096 ? 4096 : need;
        b = malloc(sizeof(msgbuf) + cap);
        if (b == NULL) return NULL;
        b->cap = cap;
        b->pool = p;
    }
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    *data = b->bytes;
    *meta = (char *)b->bytes + size;
    return b;
}

static void recycle(msgbuf *b)
{
    ipm__shm_pool *p = b->pool;
    free(atomic_exchange_explicit(&p->spare, b, memory_order_acq_rel));
    ipm__shm_pool_unref(p);
}

void ipm__shm_buf_put(void *buf)
{
    recycle(buf);
}

void ipm__shm_buf_fill(void *buf, ipm_message *msg, uint64_t size, uint32_t meta_size)
{
    msgbuf *b = buf;
    msg->data = b->bytes;
    msg->size = (size_t)size;
    msg->metadata = (const char *)b->bytes + size;
    msg->metadata_size = meta_size;
    msg->opaque_[0] = b;
    msg->opaque_[1] = NULL;
}

/* In shm_queue.c (the queue's in-place messages, opaque_[1] tagged with 1). */
void ipm__shm_qmap_release(ipm_message *msg);

void ipm__shm_release(ipm_message *msg)
{
    if (msg->opaque_[0] == NULL) return;
    if ((uintptr_t)msg->opaque_[1] & 1u)
        ipm__shm_qmap_release(msg);
    else
        recycle(msg->opaque_[0]);
    msg->opaque_[0] = NULL;
    msg->opaque_[1] = NULL;
}

#ifdef IPM_SHM_TSAN
/* The ring's seqlock read races with the writer by design and is validated
 * afterwards. ThreadSanitizer (which sees only threads of one process) is
 * told so by making both sides relaxed atomic byte accesses. */
void ipm__shm_copy_out(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const _Atomic unsigned char *s = (const _Atomic unsigned char *)src;
    for (size_t i = 0; i < n; i++)
        d[i] = atomic_load_explicit(&s[i], memory_order_relaxed);
}

void ipm__shm_copy_in(void *dst, const void *src, size_t n)
{
    _Atomic unsigned char *d = (_Atomic unsigned char *)dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&d[i], s[i], memory_order_relaxed);
}
#else
void ipm__shm_copy_out(void *dst, const void *src, size_t n)
{
    if (n > 0) memcpy(dst, src, n);
}

void ipm__shm_copy_in(void *dst, const void *src, size_t n)
{
    if (n > 0) memcpy(dst, src, n);
}
#endif
