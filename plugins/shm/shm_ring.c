/*
 * shm_ring.c — the broadcast ring (see shm_ring.h for the protocol).
 */
#define _GNU_SOURCE
#include "shm_ring.h"

#include <stdlib.h>
#include <string.h>

/* Most records ring_read steps over in one call before it returns 0. */
#define READ_BUDGET 4096

static ipm__shm_rec *rec_at(const ipm__shm_seg *s, uint64_t pos)
{
    return (ipm__shm_rec *)(s->data + (pos & (s->cap - 1)));
}

void ipm__shm_ring_writer_free(ipm__shm_ring_writer *w)
{
    free(w->spans);
    w->spans = NULL;
    w->nspans = w->first = w->count = 0;
}

/* Room for k more spans; false if out of memory. */
static bool spans_reserve(ipm__shm_ring_writer *w, size_t k)
{
    if (w->count + k <= w->nspans) return true;
    size_t n = w->nspans ? 2 * w->nspans : 1024;
    while (n < w->count + k)
        n *= 2;
    uint32_t *v = malloc(n * sizeof *v);
    if (v == NULL) return false;
    for (size_t i = 0; i < w->count; i++) /* oldest first, from index 0 */
        v[i] = w->spans[(w->first + i) & (w->nspans - 1)];
    free(w->spans);
    w->spans = v;
    w->nspans = n;
    w->first = 0;
    return true;
}

static void push_span(ipm__shm_ring_writer *w, uint64_t bytes)
{
    /* < capacity <= IPM_SHM_MAX_BUFFER: fits 32 bits in units. */
    w->spans[(w->first + w->count) & (w->nspans - 1)] =
        (uint32_t)(bytes / IPM_SHM_REC_ALIGN);
    w->count++;
}

/* Free the space up to end: every record we are about to overwrite leaves
 * the intact range first, and readers see tail move before any byte does.
 * The spans are our own: at most count steps, whatever the ring holds. */
static void free_to(ipm__shm_seg *s, ipm__shm_ring_writer *w, uint64_t end)
{
    if (end - w->tail > s->cap) {
        uint64_t t = w->tail;
        while (end - t > s->cap && w->count > 0) {
            t += (uint64_t)w->spans[w->first] * IPM_SHM_REC_ALIGN;
            w->first = (w->first + 1) & (w->nspans - 1);
            w->count--;
        }
        w->tail = t;
        atomic_store_explicit(&s->hdr->tail, t, memory_order_relaxed);
    }
    ipm__shm_fence(memory_order_release);
}

static void put_pad(ipm__shm_seg *s, uint64_t seq, uint64_t pos, uint64_t len)
{
    ipm__shm_rec p = {.seq = seq, .size = 0, .len = len, .type = IPM_SHM_REC_PAD};
    ipm__shm_copy_in(rec_at(s, pos), &p, sizeof p);
}

/* head moved to end: publish it and wake sleeping readers. */
static void publish(ipm__shm_seg *s, ipm__shm_ring_writer *w, uint64_t end)
{
    ipm__shm_header *h = s->hdr;
    w->head = end;
    /* seq_cst: ordered before the load of data_waiters (Dekker with the
     * reader, which counts itself as waiting before re-checking head). The
     * flag is in the wake area, which subscribers write: any value there
     * costs at most this one FUTEX_WAKE. */
    atomic_store_explicit(&h->head, end, memory_order_seq_cst);
    atomic_store_explicit(&h->pubver, 2 * w->seq, memory_order_release);
    _Atomic uint32_t *waiters = &s->wake->data_waiters;
    if (atomic_load_explicit(waiters, memory_order_seq_cst) != 0 &&
        atomic_exchange_explicit(waiters, 0, memory_order_seq_cst) != 0) {
        atomic_fetch_add_explicit(&h->data_word, 1, memory_order_seq_cst);
        ipm__shm_futex_wake(&h->data_word);
    }
}

/* Write the header and metadata of a record whose payload is in place. */
static void put_record(ipm__shm_seg *s, ipm__shm_ring_writer *w, uint64_t pos,
                       size_t size, const char *meta, size_t meta_size)
{
    unsigned char *r = (unsigned char *)rec_at(s, pos);
    ipm__shm_rec hd = {.seq = w->seq,
                       .size = size,
                       .len = ipm__shm_rec_len(meta_size, size),
                       .meta_size = (uint32_t)meta_size,
                       .type = IPM_SHM_REC_MSG};
    ipm__shm_copy_in(r, &hd, sizeof hd);
    r += sizeof hd + size;
    ipm__shm_copy_in(r, meta, meta_size);
    ipm__shm_copy_in(r + meta_size, "", 1);
}

ipm_status ipm__shm_ring_write(ipm__shm_seg *s, ipm__shm_ring_writer *w, const void *data,
                               size_t size, const char *meta, size_t meta_size)
{
    ipm__shm_header *h = s->hdr;
    const uint64_t cap = s->cap;
    const uint64_t len = ipm__shm_rec_len(meta_size, size);
    uint64_t pos = w->head;
    /* A loan given up while its buffer is out occupies [o, o + L) of the
     * area on every lap: the record jumps over it (pads up to its end). */
    uint64_t jump_to = pos;
    const uint64_t o = w->loan_pos & (cap - 1), L = w->loan_len;
    if (w->abandoned) {
        uint64_t r0 = cap - (pos & (cap - 1));
        uint64_t at = r0 < len ? pos + r0 : pos;
        if ((at & (cap - 1)) < o + L && (at & (cap - 1)) + len > o)
            jump_to = at - (at & (cap - 1)) + o + L;
    }
    const uint64_t rpos = jump_to;
    const uint64_t room = cap - (rpos & (cap - 1));
    const uint64_t pad = room < len ? room : 0;
    const uint64_t end = rpos + pad + len;
    const uint64_t roff = (rpos + pad) & (cap - 1);
    if (w->abandoned && roff < o + L && roff + len > o)
        return ipm_set_error(
            IPM_ETOOBIG,
            "ShmPublisher shm://%s: a %llu-byte record does not fit beside "
            "the buffer still on loan; send or return that loan first",
            s->name, (unsigned long long)len);
    if (!spans_reserve(w, 4))
        return ipm_set_error(IPM_ENOMEM,
                             "ShmPublisher shm://%s: out of memory for the record index",
                             s->name);

    /* Seqlock for attach snapshots of (head, seq): odd while writing. */
    atomic_store_explicit(&h->pubver, 2 * w->seq + 1, memory_order_relaxed);
    free_to(s, w, end);
    while (pos < jump_to) {
        uint64_t r0 = cap - (pos & (cap - 1));
        uint64_t step = jump_to - pos < r0 ? jump_to - pos : r0;
        put_pad(s, w->seq, pos, step);
        push_span(w, step);
        pos += step;
    }
    if (pad != 0) put_pad(s, w->seq, rpos, pad);
    ipm__shm_copy_in((unsigned char *)rec_at(s, rpos + pad) + sizeof(ipm__shm_rec), data,
                     size);
    put_record(s, w, rpos + pad, size, meta, meta_size);
    push_span(w, pad + len);
    w->seq++;
    publish(s, w, end);
    return IPM_OK;
}

ipm_status ipm__shm_ring_loan(ipm__shm_seg *s, ipm__shm_ring_writer *w, size_t size,
                              void **buf)
{
    const uint64_t cap = s->cap;
    const uint64_t len = ipm__shm_rec_len(IPM_SHM_MAX_METADATA, size);
    const uint64_t pos = w->head;
    const uint64_t room = cap - (pos & (cap - 1));
    const uint64_t pad = room < len ? room : 0;
    if (!spans_reserve(w, 3))
        return ipm_set_error(IPM_ENOMEM,
                             "ShmPublisher shm://%s: out of memory for the record index",
                             s->name);
    /* The room is freed now (readers see tail move first); nothing is
     * published until the commit. */
    free_to(s, w, pos + pad + len);
    w->loaned = true;
    w->abandoned = false;
    w->loan_start = pos;
    w->loan_pos = pos + pad;
    w->loan_len = len;
    *buf = (unsigned char *)rec_at(s, w->loan_pos) + sizeof(ipm__shm_rec);
    return IPM_OK;
}

void ipm__shm_ring_commit(ipm__shm_seg *s, ipm__shm_ring_writer *w, size_t size,
                          const char *meta, size_t meta_size)
{
    atomic_store_explicit(&s->hdr->pubver, 2 * w->seq + 1, memory_order_relaxed);
    uint64_t pad = w->loan_pos - w->loan_start;
    uint64_t len = ipm__shm_rec_len(meta_size, size);
    if (pad != 0) put_pad(s, w->seq, w->loan_start, pad);
    put_record(s, w, w->loan_pos, size, meta, meta_size);
    push_span(w, pad + len);
    w->seq++;
    w->loaned = false;
    publish(s, w, w->loan_pos + len);
}

void ipm__shm_ring_abandon(ipm__shm_seg *s, ipm__shm_ring_writer *w)
{
    if (!w->loaned || w->abandoned) return;
    atomic_store_explicit(&s->hdr->pubver, 2 * w->seq + 1, memory_order_relaxed);
    uint64_t pad = w->loan_pos - w->loan_start;
    if (pad != 0) put_pad(s, w->seq, w->loan_start, pad);
    put_pad(s, w->seq, w->loan_pos, w->loan_len);
    push_span(w, pad + w->loan_len);
    w->abandoned = true;
    publish(s, w, w->loan_pos + w->loan_len);
}

void ipm__shm_ring_unloan(ipm__shm_ring_writer *w)
{
    w->loaned = w->abandoned = false;
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
            r->corrupt = 0;
            return;
        }
    }
    /* The writer died inside a write: no consistent snapshot exists, and no
     * more messages will come from it either. */
    r->pos = atomic_load(&h->head);
    r->next_seq = 0;
    r->seq_known = false;
    r->corrupt = 0;
}

void ipm__shm_ring_reader_at_start(const ipm__shm_seg *s, ipm__shm_ring_reader *r)
{
    r->pos = atomic_load_explicit(&s->hdr->tail, memory_order_acquire);
    r->next_seq = 0;
    r->seq_known = true;
    r->corrupt = 0;
}

/* Account for the message numbered seq being next at r->pos. */
static void account(ipm__shm_ring_reader *r, uint64_t seq, _Atomic uint64_t *dropped)
{
    if (r->seq_known && seq > r->next_seq)
        atomic_fetch_add_explicit(dropped, seq - r->next_seq, memory_order_relaxed);
    r->next_seq = seq;
    r->seq_known = true;
}

/* After a corrupt record: continue at the writer's head, counting what lies
 * between as dropped when the message numbers allow. */
static void resync(const ipm__shm_seg *s, ipm__shm_ring_reader *r,
                   _Atomic uint64_t *dropped)
{
    uint64_t want = r->next_seq;
    bool known = r->seq_known;
    uint64_t corrupt = r->corrupt + 1;
    ipm__shm_ring_reader_at_head(s, r);
    if (known && r->seq_known && r->next_seq > want)
        atomic_fetch_add_explicit(dropped, r->next_seq - want, memory_order_relaxed);
    r->corrupt = corrupt;
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
    for (int step = 0; step < READ_BUDGET; step++) {
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
                sane = hd.len >= IPM_SHM_REC_ALIGN && hd.len % IPM_SHM_REC_ALIGN == 0 &&
                       hd.len <= cap - off;
            else
                sane = hd.type == IPM_SHM_REC_MSG &&
                       hd.meta_size <= IPM_SHM_MAX_METADATA &&
                       hd.size <= s->max_message_size &&
                       hd.len == ipm__shm_rec_len(hd.meta_size, hd.size) &&
                       off + hd.len <= cap;
            sane = sane && hd.len <= head - pos;
        }
        if (!sane) {
            if (overtaken(h, pos)) goto lapped;
            resync(s, r, dropped);
            ipm_set_error(
                IPM_ESYS,
                "ShmSubscriber shm://%s: corrupt record at position %llu (was the "
                "segment written by something other than its ShmPublisher?); "
                "skipped to the newest message, the ones in between count as dropped",
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
        ipm__shm_copy_out(meta, base + sizeof hd + hd.size, hd.meta_size);
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
        ipm__shm_copy_out(data, base + sizeof hd, hd.size);
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
    return 0; /* budget spent: nothing wanted yet; the caller comes back */
}
