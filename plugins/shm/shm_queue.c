/*
 * shm_queue.c — the SPSC queue (see shm_queue.h).
 *
 * Sleeping and waking, on both sides, follow one pattern (Dekker): the
 * sleeper sets its waiting flag, reads the futex word, re-checks the other
 * side's position, then sleeps on the word; the other side stores its
 * position, then reads the flag, and only if it is set exchanges it back to
 * 0, bumps the word and calls FUTEX_WAKE. All these accesses are seq_cst, so
 * either the sleeper sees the new position or the waker sees the flag: no
 * lost wake-up, no syscall while nobody sleeps, and one wake per sleep
 * rather than one per message.
 */
#define _GNU_SOURCE
#include "shm_queue.h"

#include <string.h>

static unsigned char *at(const ipm__shm_seg *s, uint64_t pos)
{
    return s->data + (pos & (s->cap - 1));
}

/* A consumer position the producer at head can accept. */
static bool consumed_ok(const ipm__shm_seg *s, uint64_t head, uint64_t consumed)
{
    return consumed % IPM_SHM_REC_ALIGN == 0 && head - consumed <= s->cap;
}

bool ipm__shm_queue_writer_init(const ipm__shm_seg *s, ipm__shm_queue_writer *w)
{
    w->head = atomic_load_explicit(&s->hdr->head, memory_order_acquire);
    w->consumed = atomic_load_explicit(&s->hdr->consumed, memory_order_acquire);
    w->corrupt = false;
    if (w->head % IPM_SHM_REC_ALIGN == 0 && consumed_ok(s, w->head, w->consumed))
        return true;
    ipm_set_error(IPM_ECONNECT,
                  "ShmSender shm://%s: the queue's positions are corrupt (head %llu, "
                  "consumed %llu); refusing to write into it. Recreate the ShmReceiver",
                  s->name, (unsigned long long)w->head, (unsigned long long)w->consumed);
    return false;
}

/* Bytes from pos that a record of len needs, with the pad to wrap. */
static uint64_t span(const ipm__shm_seg *s, uint64_t pos, uint64_t len)
{
    uint64_t room = s->cap - (pos & (s->cap - 1));
    return room < len ? room + len : len;
}

bool ipm__shm_queue_has_room(const ipm__shm_seg *s, ipm__shm_queue_writer *w,
                             uint64_t len)
{
    uint64_t end = w->head + span(s, w->head, len);
    if (end - w->consumed <= s->cap) return true;
    uint64_t c = atomic_load_explicit(&s->hdr->consumed, memory_order_seq_cst);
    if (!consumed_ok(s, w->head, c)) {
        w->corrupt = true;
        return false;
    }
    w->consumed = c;
    return end - c <= s->cap;
}

uint64_t ipm__shm_queue_wake_at(const ipm__shm_seg *s, const ipm__shm_queue_writer *w,
                                uint64_t len)
{
    uint64_t need = w->head + span(s, w->head, len) - s->cap;
    uint64_t want = need + s->cap / 4;
    return want < w->head ? want : w->head;
}

void ipm__shm_queue_write(ipm__shm_seg *s, ipm__shm_queue_writer *w, const void *data,
                          size_t size, const char *meta, size_t meta_size)
{
    ipm__shm_header *h = s->hdr;
    uint64_t len = ipm__shm_rec_len(meta_size, size);
    uint64_t pos = w->head;
    uint64_t room = s->cap - (pos & (s->cap - 1));
    if (room < len) {
        ipm__shm_rec p = {.len = room, .type = IPM_SHM_REC_PAD};
        memcpy(at(s, pos), &p, sizeof p);
        pos += room;
    }
    unsigned char *r = at(s, pos);
    ipm__shm_rec hd = {.size = size,
                       .len = len,
                       .meta_size = (uint32_t)meta_size,
                       .type = IPM_SHM_REC_MSG};
    memcpy(r, &hd, sizeof hd);
    r += sizeof hd;
    if (meta_size > 0) memcpy(r, meta, meta_size);
    r[meta_size] = '\0';
    if (size > 0) memcpy(r + meta_size + 1, data, size);
    w->head = pos + len;
    atomic_store_explicit(&h->head, w->head, memory_order_seq_cst);
    if (atomic_load_explicit(&h->data_waiters, memory_order_seq_cst) != 0 &&
        atomic_exchange_explicit(&h->data_waiters, 0, memory_order_seq_cst) != 0) {
        atomic_fetch_add_explicit(&h->data_word, 1, memory_order_seq_cst);
        ipm__shm_futex_wake(&h->data_word);
    }
}

int ipm__shm_queue_read(ipm__shm_seg *s, ipm__shm_queue_reader *r, ipm__shm_pool *pool,
                        ipm_message *msg)
{
    ipm__shm_header *h = s->hdr;
    r->corrupt = false;
    for (;;) {
        if (r->pos == r->head) {
            r->head = atomic_load_explicit(&h->head, memory_order_acquire);
            if (r->pos == r->head) return 0;
        }
        uint64_t off = r->pos & (s->cap - 1);
        const unsigned char *base = at(s, r->pos);
        ipm__shm_rec hd = {0};
        /* head comes from shared memory: never trust it to be aligned or
         * within one queue of our position (a lossless queue cannot be). */
        bool sane = r->pos % IPM_SHM_REC_ALIGN == 0 && r->head - r->pos <= s->cap;
        if (sane) {
            memcpy(&hd, base, sizeof hd);
            if (hd.type == IPM_SHM_REC_PAD)
                sane = hd.len == s->cap - off;
            else
                sane = hd.type == IPM_SHM_REC_MSG &&
                       hd.meta_size <= IPM_SHM_MAX_METADATA &&
                       hd.size <= s->max_message_size &&
                       hd.len == ipm__shm_rec_len(hd.meta_size, hd.size) &&
                       off + hd.len <= s->cap;
            sane = sane && hd.len <= r->head - r->pos;
        }
        if (!sane) {
            r->corrupt = true;
            ipm_set_error(
                IPM_ESYS,
                "ShmReceiver shm://%s: corrupt record at position %llu; was the "
                "segment written by something else?",
                s->name, (unsigned long long)r->pos);
            return -1;
        }
        if (hd.type == IPM_SHM_REC_PAD) {
            r->pos += hd.len;
            continue;
        }
        unsigned char *data;
        char *meta;
        void *buf = ipm__shm_buf_get(pool, hd.size, hd.meta_size, &data, &meta);
        if (buf == NULL) {
            ipm_set_error(IPM_ENOMEM,
                          "ShmReceiver shm://%s: no memory for a %llu-byte message",
                          s->name, (unsigned long long)hd.size);
            return -1;
        }
        const unsigned char *src = base + sizeof hd;
        memcpy(meta, src, hd.meta_size);
        meta[hd.meta_size] = '\0';
        if (hd.size > 0) memcpy(data, src + hd.meta_size + 1, hd.size);
        r->pos += hd.len;
        atomic_store_explicit(&h->consumed, r->pos, memory_order_seq_cst);
        /* Wake a producer waiting for room once enough is free, or when
         * we have taken everything it wrote (we are about to go idle). */
        if (atomic_load_explicit(&h->space_waiters, memory_order_seq_cst) != 0 &&
            (r->pos >= atomic_load_explicit(&h->space_need, memory_order_relaxed) ||
             r->pos == r->head) &&
            atomic_exchange_explicit(&h->space_waiters, 0, memory_order_seq_cst) != 0) {
            atomic_fetch_add_explicit(&h->space_word, 1, memory_order_seq_cst);
            ipm__shm_futex_wake(&h->space_word);
        }
        ipm__shm_buf_fill(buf, msg, hd.size, hd.meta_size);
        return 1;
    }
}
