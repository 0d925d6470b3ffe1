/*
 * shm_ring.c — the broadcast ring (see shm_ring.h for the protocol).
 */
#define _GNU_SOURCE
#include "shm_ring.h"

#include <string.h>

static ipm__shm_rec *rec_at(const ipm__shm_seg *s, uint64_t pos)
{
    return (ipm__shm_rec *)(s->data + (pos & (s->cap - 1)));
}

void ipm__shm_ring_write(ipm__shm_seg *s, ipm__shm_ring_writer *w, const void *data,
                         size_t size, const char *meta, size_t meta_size)
{
    ipm__shm_header *h = s->hdr;
    const uint64_t cap = s->cap;
    const uint64_t len = ipm__shm_rec_len(meta_size, size);
    const uint64_t pos = w->head;
    const uint64_t room = cap - (pos & (cap - 1));
    const uint64_t pad = room < len ? room : 0;
    const uint64_t end = pos + pad + len;

    /* Seqlock for attach snapshots of (head, seq): odd while writing. */
    atomic_store_explicit(&h->pubver, 2 * w->seq + 1, memory_order_relaxed);

    /* Free the space: every record we are about to overwrite leaves the
     * intact range first, and readers see tail move before any byte does. */
    if (end - w->tail > cap) {
        uint64_t t = w->tail;
        while (end - t > cap)
            t += rec_at(s, t)->len;
        w->tail = t;
        atomic_store_explicit(&h->tail, t, memory_order_relaxed);
    }
    ipm__shm_fence(memory_order_release);

    if (pad != 0) {
        ipm__shm_rec p = {.seq = w->seq, .size = 0, .len = pad, .type = IPM_SHM_REC_PAD};
        ipm__shm_copy_in(rec_at(s, pos), &p, sizeof p);
    }
    unsigned char *r = (unsigned char *)rec_at(s, pos + pad);
    ipm__shm_rec hd = {.seq = w->seq,
                       .size = size,
                       .len = len,
                       .meta_size = (uint32_t)meta_size,
                       .type = IPM_SHM_REC_MSG};
    ipm__shm_copy_in(r, &hd, sizeof hd);
    r += sizeof hd;
    ipm__shm_copy_in(r, meta, meta_size);
    ipm__shm_copy_in(r + meta_size, "", 1);
    ipm__shm_copy_in(r + meta_size + 1, data, size);

    w->seq++;
    w->head = end;
    /* seq_cst: ordered before the load of data_waiters (Dekker with the
     * reader, which counts itself as waiting before re-checking head). */
    atomic_store_explicit(&h->head, end, memory_order_seq_cst);
    atomic_store_explicit(&h->pubver, 2 * w->seq, memory_order_release);
    if (atomic_load_explicit(&h->data_waiters, memory_order_seq_cst) != 0 &&
        atomic_exchange_explicit(&h->data_waiters, 0, memory_order_seq_cst) != 0) {
        atomic_fetch_add_explicit(&h->data_word, 1, memory_order_seq_cst);
        ipm__shm_futex_wake(&h->data_word);
    }
}

void ipm__shm_ring_reader_at_head(const ipm__shm_seg *s, ipm__shm_ring_reader *r)
{
    const ipm__shm_header *h = s->hdr;
    for (int tries = 0; tries < 100000; tries++) {
        uint64_t v1 = atomic_load_explicit(&h->pubver, memory_order_acquire);
        if (v1 & 1) {
            ipm__shm_pause();
            continue;
        }
        uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
        ipm__shm_fence(memory_order_acquire);
        if (atomic_load_explicit(&h->pubver, memory_order_relaxed) == v1) {
            r->pos = head;
            r->next_seq = v1 / 2;
            r->seq_known = true;
            return;
        }
    }
    /* The writer died inside a write: no consistent snapshot exists, and no
     * more messages will come from it either. */
    r->pos = atomic_load(&h->head);
    r->next_seq = 0;
    r->seq_known = false;
}

void ipm__shm_ring_reader_at_start(const ipm__shm_seg *s, ipm__shm_ring_reader *r)
{
    r->pos = atomic_load_explicit(&s->hdr->tail, memory_order_acquire);
    r->next_seq = 0;
    r->seq_known = true;
}

/* Account for the message numbered seq being next at r->pos. */
static void account(ipm__shm_ring_reader *r, uint64_t seq, _Atomic uint64_t *dropped)
{
    if (r->seq_known && seq > r->next_seq)
        atomic_fetch_add_explicit(dropped, seq - r->next_seq, memory_order_relaxed);
    r->next_seq = seq;
    r->seq_known = true;
}

/* After copying from the record at pos: was it overwritten meanwhile? */
static bool overtaken(const ipm__shm_header *h, uint64_t pos)
{
    ipm__shm_fence(memory_order_acquire);
    return atomic_load_explicit(&h->tail, memory_order_relaxed) > pos;
}

int ipm__shm_ring_read(const ipm__shm_seg *s, ipm__shm_ring_reader *r,
                       ipm__shm_pool *pool, ipm__shm_filter filter,
                       const void *filter_arg, ipm_message *msg,
                       _Atomic uint64_t *dropped)
{
    const ipm__shm_header *h = s->hdr;
    const uint64_t cap = s->cap;
    for (;;) {
        uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
        if (r->pos == head) return 0;
        const uint64_t pos = r->pos;
        const uint64_t off = pos & (cap - 1);
        const unsigned char *base = (const unsigned char *)rec_at(s, pos);
        ipm__shm_rec hd = {0};
        /* Positions come from shared memory that any process of the user can
         * write: an unaligned one would read a header across the end of the
         * mapping, and one more than the ring behind head can only be
         * legitimate if we were lapped (checked below). */
        bool sane = pos % IPM_SHM_REC_ALIGN == 0 && head - pos <= cap;
        if (sane) {
            ipm__shm_copy_out(&hd, base, sizeof hd);
            if (hd.type == IPM_SHM_REC_PAD)
                sane = hd.len == cap - off;
            else
                sane = hd.type == IPM_SHM_REC_MSG && hd.meta_size <= IPM_SHM_MAX_METADATA &&
                       hd.size <= s->max_message_size &&
                       hd.len == ipm__shm_rec_len(hd.meta_size, hd.size) &&
                       off + hd.len <= cap;
            sane = sane && hd.len <= head - pos;
        }
        if (!sane) {
            if (overtaken(h, pos)) goto lapped;
            ipm_set_error(
                IPM_ESYS,
                "ShmSubscriber shm://%s: corrupt record at position %llu; was the "
                "segment written by something else?",
                s->name, (unsigned long long)pos);
            return -1;
        }
        if (hd.type == IPM_SHM_REC_PAD) {
            if (overtaken(h, pos)) goto lapped;
            account(r, hd.seq, dropped);
            r->pos = pos + hd.len;
            continue;
        }

        char meta[IPM_SHM_MAX_METADATA + 1];
        ipm__shm_copy_out(meta, base + sizeof hd, hd.meta_size);
        meta[hd.meta_size] = '\0';
        if (!filter(filter_arg, meta, hd.meta_size)) {
            if (overtaken(h, pos)) goto lapped;
            account(r, hd.seq, dropped);
            r->next_seq = hd.seq + 1;
            r->pos = pos + hd.len;
            continue;
        }

        unsigned char *data;
        char *mcopy;
        void *buf = ipm__shm_buf_get(pool, hd.size, hd.meta_size, &data, &mcopy);
        if (buf == NULL) {
            ipm_set_error(IPM_ENOMEM,
                          "ShmSubscriber shm://%s: no memory for a %llu-byte message",
                          s->name, (unsigned long long)hd.size);
            return -1;
        }
        ipm__shm_copy_out(data, base + sizeof hd + hd.meta_size + 1, hd.size);
        if (overtaken(h, pos)) {
            ipm__shm_buf_put(buf);
            goto lapped;
        }
        memcpy(mcopy, meta, (size_t)hd.meta_size + 1);
        account(r, hd.seq, dropped);
        r->next_seq = hd.seq + 1;
        r->pos = pos + hd.len;
        ipm__shm_buf_fill(buf, msg, hd.size, hd.meta_size);
        return 1;

    lapped:
        /* Overtaken: continue at the oldest intact record; its number tells
         * how many we missed (counted when it is read). */
        r->pos = atomic_load_explicit(&h->tail, memory_order_acquire);
    }
}
