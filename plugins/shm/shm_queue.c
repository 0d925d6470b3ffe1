/*
 * shm_queue.c — the lanes of the lossless queue (see shm_queue.h).
 *
 * Sleeping and waking, on both sides, follow one pattern (Dekker): the
 * sleeper sets its waiting flag, re-checks the other side's position, then
 * sleeps; the other side stores its position, then reads the flag, and only
 * if it is set exchanges it back to 0 and calls FUTEX_WAKE. All these
 * accesses are seq_cst, so either the sleeper sees the new position or the
 * waker sees the flag: no lost wake-up, no syscall while nobody sleeps, and
 * one wake per sleep rather than one per message. The receiver sleeps on
 * the flag itself, while it is 1 (a sender that cleared it first makes the
 * wait return at once), so that waking it costs the sender one cache line
 * of the header: bumping a futex word on another line cost ~0.3 us of the
 * sender's ~0.8 us before FUTEX_WAKE, measured on the 64 B ping-pong. A
 * sender sleeps on space_word (space_waiters says it does), which shares
 * its flag's line.
 *
 * Releasing in any order. The receiver keeps, per lane and in private
 * memory, a FIFO of slots: one per record it has read (message or PAD), in
 * lane order, holding the record's length (our own copy: the lane's bytes
 * are the sender's and are never read back for this) and a released flag.
 * A release sets its slot's flag, then whoever holds the lane's advance lock
 * retires the released prefix of the FIFO and publishes the new consumed
 * position, so the sender gets room back exactly over what was released,
 * never over a message still held. The lock is only ever tried, never
 * waited for: a thread that finds it taken leaves, and the holder re-checks
 * the oldest slot after unlocking (seq_cst on both), so no release is
 * forgotten and no thread ever waits for another.
 */
#define _GNU_SOURCE
#include "shm_queue.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Messages taken from one lane before the next lane's turn. */
#define BURST 64
/* Most slots per lane: records read and not yet released. Beyond that a
 * lane's messages are copied out (ipm__shm_pool) and their room goes back
 * with the newest held message. */
#define MAX_SLOTS 16384u

/* ------------------------------------------------------------ sender */

static unsigned char *wat(const ipm__shm_queue_writer *w, uint64_t pos)
{
    return w->data + (pos & (w->cap - 1));
}

/* A consumer position the producer at head can accept. */
static bool consumed_ok(uint64_t cap, uint64_t head, uint64_t consumed)
{
    return consumed % IPM_SHM_REC_ALIGN == 0 && head - consumed <= cap;
}

bool ipm__shm_queue_writer_init(const ipm__shm_seg *s, uint32_t i,
                                ipm__shm_queue_writer *w)
{
    memset(w, 0, sizeof *w);
    w->lane = &s->lane[i];
    w->data = ipm__shm_lane_data(s, i);
    w->cap = s->cap;
    w->head = atomic_load_explicit(&w->lane->head, memory_order_acquire);
    w->consumed = atomic_load_explicit(&w->lane->consumed, memory_order_acquire);
    if (w->head % IPM_SHM_REC_ALIGN == 0 && consumed_ok(w->cap, w->head, w->consumed))
        return true;
    ipm_set_error(IPM_ECONNECT,
                  "ShmSender shm://%s: lane %u's positions are corrupt (head %llu, "
                  "consumed %llu); refusing to write into it. Recreate the ShmReceiver",
                  s->name, (unsigned)i, (unsigned long long)w->head,
                  (unsigned long long)w->consumed);
    return false;
}

/* Bytes from pos that a record of len needs, with the pad to wrap. */
static uint64_t span(const ipm__shm_queue_writer *w, uint64_t pos, uint64_t len)
{
    uint64_t room = w->cap - (pos & (w->cap - 1));
    return room < len ? room + len : len;
}

/* The oldest position we may not overwrite: the receiver's, or the room of
 * a loan given up while its buffer is still out (see shm_queue.h). */
static uint64_t floor_pos(const ipm__shm_queue_writer *w)
{
    return w->abandoned && w->loan_start < w->consumed ? w->loan_start : w->consumed;
}

bool ipm__shm_queue_has_room(ipm__shm_queue_writer *w, uint64_t len)
{
    uint64_t end = w->head + span(w, w->head, len);
    if (end - floor_pos(w) <= w->cap) return true;
    uint64_t c = atomic_load_explicit(&w->lane->consumed, memory_order_seq_cst);
    if (!consumed_ok(w->cap, w->head, c)) {
        w->corrupt = true;
        return false;
    }
    w->consumed = c;
    return end - floor_pos(w) <= w->cap;
}

uint64_t ipm__shm_queue_wake_at(const ipm__shm_queue_writer *w, uint64_t len)
{
    uint64_t need = w->head + span(w, w->head, len) - w->cap;
    /* Batching is for small records, where a wake-up costs more than the
     * receiver's work on many of them. A record of 1/16 of the lane or more
     * is worth a wake-up of its own: waiting for a quarter more would leave
     * the sender idle while the receiver reads (4 MiB loans in a 16 MiB
     * lane ran at half the speed). */
    uint64_t want = len >= w->cap / 16 ? need : need + w->cap / 4;
    return want < w->head ? want : w->head;
}

static void put_pad(const ipm__shm_queue_writer *w, uint64_t pos, uint64_t len)
{
    ipm__shm_rec p = {.len = len, .type = IPM_SHM_REC_PAD};
    memcpy(wat(w, pos), &p, sizeof p);
}

/* Make everything up to w->head visible and wake a sleeping receiver. */
static void publish(ipm__shm_seg *s, ipm__shm_queue_writer *w)
{
    ipm__shm_header *h = s->hdr;
    atomic_store_explicit(&w->lane->head, w->head, memory_order_seq_cst);
    if (atomic_load_explicit(&h->data_waiters, memory_order_seq_cst) != 0 &&
        atomic_exchange_explicit(&h->data_waiters, 0, memory_order_seq_cst) != 0)
        ipm__shm_futex_wake(&h->data_waiters);
}

/* Give up an outstanding loan before anything else is written at head: its
 * room is published as PAD records (the receiver steps over them), and kept
 * from reuse while the buffer is out (floor_pos). */
static void abandon(ipm__shm_queue_writer *w)
{
    if (!w->loaned || w->abandoned) return;
    if (w->loan_pos != w->loan_start)
        put_pad(w, w->loan_start, w->loan_pos - w->loan_start);
    put_pad(w, w->loan_pos, w->loan_len);
    w->head = w->loan_pos + w->loan_len;
    w->abandoned = true;
}

void ipm__shm_queue_write(ipm__shm_seg *s, ipm__shm_queue_writer *w, const void *data,
                          size_t size, const char *meta, size_t meta_size)
{
    uint64_t len = ipm__shm_rec_len(meta_size, size);
    uint64_t pos = w->head;
    uint64_t room = w->cap - (pos & (w->cap - 1));
    if (room < len) {
        put_pad(w, pos, room);
        pos += room;
    }
    unsigned char *r = wat(w, pos);
    ipm__shm_rec hd = {.size = size,
                       .len = len,
                       .meta_size = (uint32_t)meta_size,
                       .type = IPM_SHM_REC_MSG};
    memcpy(r, &hd, sizeof hd);
    r += sizeof hd;
    if (size > 0) memcpy(r, data, size);
    if (meta_size > 0) memcpy(r + size, meta, meta_size);
    r[size + meta_size] = '\0';
    w->head = pos + len;
    publish(s, w);
}

void *ipm__shm_queue_loan(ipm__shm_queue_writer *w, size_t size)
{
    uint64_t len = ipm__shm_queue_loan_len(size);
    uint64_t room = w->cap - (w->head & (w->cap - 1));
    w->loaned = true;
    w->abandoned = false;
    w->loan_start = w->head;
    w->loan_pos = room < len ? w->head + room : w->head;
    w->loan_len = len;
    return wat(w, w->loan_pos) + sizeof(ipm__shm_rec);
}

void ipm__shm_queue_commit(ipm__shm_seg *s, ipm__shm_queue_writer *w, size_t size,
                           const char *meta, size_t meta_size)
{
    uint64_t len = ipm__shm_rec_len(meta_size, size); /* <= loan_len */
    if (w->loan_pos != w->loan_start)
        put_pad(w, w->loan_start, w->loan_pos - w->loan_start);
    unsigned char *r = wat(w, w->loan_pos);
    ipm__shm_rec hd = {.size = size,
                       .len = len,
                       .meta_size = (uint32_t)meta_size,
                       .type = IPM_SHM_REC_MSG};
    memcpy(r, &hd, sizeof hd);
    r += sizeof hd + size;
    if (meta_size > 0) memcpy(r, meta, meta_size);
    r[meta_size] = '\0';
    w->head = w->loan_pos + len;
    w->loaned = false;
    publish(s, w);
}

void ipm__shm_queue_unloan(ipm__shm_queue_writer *w)
{
    w->loaned = w->abandoned = false;
}

void ipm__shm_queue_abandon(ipm__shm_seg *s, ipm__shm_queue_writer *w)
{
    if (!w->loaned || w->abandoned) return;
    abandon(w);
    publish(s, w);
}

/* ---------------------------------------------------------- receiver */

/* Metadata this short is copied into the slot itself: no malloc and free
 * per message for the usual short topics and tags (a 64 B message's
 * receive and release cost ~130 instructions less). */
#define SLOT_META 16

typedef struct slot {
    uint32_t units;            /* record (+ merged) bytes / IPM_SHM_REC_ALIGN */
    _Atomic uint32_t released; /* 1: the application released it (or a PAD) */
    char *meta;                /* private heap copy of longer metadata, or NULL */
    char inl[SLOT_META];       /* private copy of metadata shorter than SLOT_META */
} slot;

typedef struct lane_rd {
    ipm__shm_qmap *q;
    uint32_t index;
    bool ready;    /* slots allocated, blocks checked */
    uint64_t pos;  /* next read position (receiver thread) */
    uint64_t head; /* last seen head (receiver thread) */
    slot *slots;
    uint64_t mask;
    _Atomic uint64_t issued;  /* slots appended (receiver thread writes) */
    _Atomic uint64_t retired; /* slots retired (lock holder writes) */
    uint64_t consumed;        /* released prefix (lock holder) */
    _Atomic uint32_t lock;
} lane_rd;

struct ipm__shm_qmap {
    _Atomic long refs; /* the receiver's + one per message out in place */
    ipm__shm_seg seg;
    uint64_t seen;  /* lanes found used (receiver thread) */
    uint32_t cur;   /* lane whose turn it is */
    uint32_t burst; /* messages taken from it in this turn */
    lane_rd lane[];
};

ipm__shm_qmap *ipm__shm_qmap_new(ipm__shm_seg *seg)
{
    ipm__shm_qmap *q = calloc(1, sizeof *q + seg->lanes * sizeof(lane_rd));
    if (q == NULL) return NULL;
    atomic_init(&q->refs, 1);
    q->seg = *seg;
    for (uint32_t i = 0; i < seg->lanes; i++) {
        q->lane[i].q = q;
        q->lane[i].index = i;
    }
    memset(seg, 0, sizeof *seg);
    seg->fd = -1;
    return q;
}

ipm__shm_seg *ipm__shm_qmap_seg(ipm__shm_qmap *q)
{
    return &q->seg;
}

static void qmap_unref(ipm__shm_qmap *q)
{
    if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) != 1) return;
    for (uint32_t i = 0; i < q->seg.lanes; i++)
        free(q->lane[i].slots);
    ipm__shm_unmap(&q->seg);
    free(q);
}

void ipm__shm_qmap_close(ipm__shm_qmap *q)
{
    if (q == NULL) return;
    ipm__shm_close_name(&q->seg);
    qmap_unref(q);
}

/* Wake the lane's sender if it sleeps until consumed reaches its mark.
 * space_need is the sender's: a wrong value costs it its own wake-up only. */
static void wake_sender(ipm__shm_lane *ln, uint64_t consumed)
{
    if (atomic_load_explicit(&ln->space_waiters, memory_order_seq_cst) != 0 &&
        consumed >= atomic_load_explicit(&ln->space_need, memory_order_relaxed) &&
        atomic_exchange_explicit(&ln->space_waiters, 0, memory_order_seq_cst) != 0) {
        atomic_fetch_add_explicit(&ln->space_word, 1, memory_order_seq_cst);
        ipm__shm_futex_wake(&ln->space_word);
    }
}

/* Retire the released prefix of l's slots (see the top). */
static void advance(lane_rd *l)
{
    ipm__shm_lane *ln = &l->q->seg.lane[l->index];
    for (;;) {
        if (atomic_exchange_explicit(&l->lock, 1, memory_order_seq_cst) != 0) return;
        uint64_t r0 = atomic_load_explicit(&l->retired, memory_order_relaxed);
        uint64_t is = atomic_load_explicit(&l->issued, memory_order_acquire);
        uint64_t r = r0, c = l->consumed;
        while (r < is) {
            slot *sl = &l->slots[r & l->mask];
            if (!atomic_load_explicit(&sl->released, memory_order_acquire)) break;
            c += (uint64_t)sl->units * IPM_SHM_REC_ALIGN;
            r++;
        }
        if (r != r0) {
            l->consumed = c;
            atomic_store_explicit(&l->retired, r, memory_order_release);
            atomic_store_explicit(&ln->consumed, c, memory_order_seq_cst);
            wake_sender(ln, c);
        }
        atomic_store_explicit(&l->lock, 0, memory_order_seq_cst);
        r = atomic_load_explicit(&l->retired, memory_order_seq_cst);
        is = atomic_load_explicit(&l->issued, memory_order_seq_cst);
        if (r >= is ||
            !atomic_load_explicit(&l->slots[r & l->mask].released, memory_order_seq_cst))
            return;
    }
}

/* Append a slot for a record of len bytes; NULL if the FIFO is full. */
static slot *push(lane_rd *l, uint64_t len, uint32_t released, char *meta)
{
    uint64_t is = atomic_load_explicit(&l->issued, memory_order_relaxed);
    if (is - atomic_load_explicit(&l->retired, memory_order_acquire) > l->mask)
        return NULL;
    slot *sl = &l->slots[is & l->mask];
    sl->units = (uint32_t)(len / IPM_SHM_REC_ALIGN);
    sl->meta = meta;
    atomic_store_explicit(&sl->released, released, memory_order_relaxed);
    /* Release suffices: a thread retiring slots that misses this one also
     * misses a slot not yet released, and the releaser of a PAD slot (us)
     * runs advance itself right after. */
    atomic_store_explicit(&l->issued, is + 1, memory_order_release);
    return sl;
}

/* The FIFO is full (the application holds MAX_SLOTS messages of this
 * lane): the room of a record read now goes back with the newest slot. The
 * lock is held only by threads retiring slots, for a bounded walk, so this
 * rare path yields until it gets it. */
static void merge(lane_rd *l, uint64_t len)
{
    while (atomic_exchange_explicit(&l->lock, 1, memory_order_seq_cst) != 0)
        sched_yield();
    uint64_t is = atomic_load_explicit(&l->issued, memory_order_relaxed);
    if (atomic_load_explicit(&l->retired, memory_order_relaxed) == is) {
        l->consumed += len;
        atomic_store_explicit(&l->q->seg.lane[l->index].consumed, l->consumed,
                              memory_order_seq_cst);
        wake_sender(&l->q->seg.lane[l->index], l->consumed);
    } else {
        l->slots[(is - 1) & l->mask].units += (uint32_t)(len / IPM_SHM_REC_ALIGN);
    }
    atomic_store_explicit(&l->lock, 0, memory_order_seq_cst);
    advance(l);
}

/* First use of a lane with data: its slots, and its blocks. The sender
 * allocated them when it took the lane; allocating again (a no-op then)
 * makes sure that reading it can never fault on a hole of a full /dev/shm. */
static bool lane_ready(lane_rd *l)
{
    const ipm__shm_seg *s = &l->q->seg;
    uint64_t n = s->cap / 64 < MAX_SLOTS ? s->cap / 64 : MAX_SLOTS;
    l->slots = calloc(n, sizeof *l->slots);
    if (l->slots == NULL) {
        ipm_set_error(IPM_ENOMEM, "ShmReceiver shm://%s: out of memory for lane %u",
                      s->name, (unsigned)l->index);
        return false;
    }
    l->mask = n - 1;
    if (ipm__shm_lane_allocate(s, l->index, "ShmReceiver") != IPM_OK) {
        free(l->slots);
        l->slots = NULL;
        return false;
    }
    l->ready = true;
    return true;
}

static const char empty_meta[1] = "";

static int read_lane(lane_rd *l, ipm__shm_pool *pool, ipm_message *msg, bool *corrupt)
{
    ipm__shm_qmap *q = l->q;
    const ipm__shm_seg *s = &q->seg;
    ipm__shm_lane *ln = &s->lane[l->index];
    const uint64_t cap = s->cap;
    unsigned char *data = ipm__shm_lane_data(s, l->index);
    /* At most cap / 32 PADs lie between pos and a head within one lane of
     * it; each step advances pos by one record. */
    for (;;) {
        if (l->pos == l->head) {
            l->head = atomic_load_explicit(&ln->head, memory_order_acquire);
            if (l->pos == l->head) return 0;
        }
        if (!l->ready && !lane_ready(l)) return -1;
        const uint64_t off = l->pos & (cap - 1);
        unsigned char *base = data + off;
        ipm__shm_rec hd = {0};
        /* head comes from shared memory: never trust it to be aligned or
         * within one lane of our position (a lossless lane cannot be). */
        bool sane = l->pos % IPM_SHM_REC_ALIGN == 0 && l->head - l->pos <= cap &&
                    l->head % IPM_SHM_REC_ALIGN == 0;
        if (sane) {
            memcpy(&hd, base, sizeof hd);
            if (hd.type == IPM_SHM_REC_PAD)
                sane = hd.len >= IPM_SHM_REC_ALIGN && hd.len % IPM_SHM_REC_ALIGN == 0 &&
                       hd.len <= cap - off;
            else
                sane = hd.type == IPM_SHM_REC_MSG &&
                       hd.meta_size <= IPM_SHM_MAX_METADATA &&
                       hd.size <= s->max_message_size &&
                       hd.len == ipm__shm_rec_len(hd.meta_size, hd.size) &&
                       off + hd.len <= cap;
            sane = sane && hd.len <= l->head - l->pos;
        }
        if (!sane) {
            *corrupt = true;
            ipm_set_error(IPM_ESYS,
                          "ShmReceiver shm://%s: corrupt record at position %llu of lane "
                          "%u; was the segment written by something else?",
                          s->name, (unsigned long long)l->pos, (unsigned)l->index);
            return -1;
        }
        if (hd.type == IPM_SHM_REC_PAD) {
            l->pos += hd.len;
            if (push(l, hd.len, 1, NULL) == NULL)
                merge(l, hd.len);
            else
                advance(l);
            continue;
        }
        /* The header was copied and checked; the bytes stay where they are.
         * The metadata is copied (a sender could move its NUL later): into
         * the slot if it is short, else onto the heap, allocated before the
         * slot is taken so that running out of memory consumes nothing. */
        const unsigned char *payload = base + sizeof hd;
        char *heap = NULL;
        if (hd.meta_size >= SLOT_META) {
            heap = malloc((size_t)hd.meta_size + 1);
            if (heap == NULL) {
                ipm_set_error(IPM_ENOMEM, "ShmReceiver shm://%s: out of memory", s->name);
                return -1;
            }
        }
        slot *sl = push(l, hd.len, 0, heap);
        if (sl == NULL) {
            /* Too many held: copy this one out (see MAX_SLOTS). */
            unsigned char *d;
            char *m;
            void *buf = ipm__shm_buf_get(pool, hd.size, hd.meta_size, &d, &m);
            if (buf == NULL) {
                free(heap);
                ipm_set_error(IPM_ENOMEM,
                              "ShmReceiver shm://%s: no memory for a %llu-byte message",
                              s->name, (unsigned long long)hd.size);
                return -1;
            }
            if (hd.size > 0) memcpy(d, payload, hd.size);
            if (hd.meta_size > 0) memcpy(m, payload + hd.size, hd.meta_size);
            m[hd.meta_size] = '\0';
            free(heap);
            l->pos += hd.len;
            merge(l, hd.len);
            ipm__shm_buf_fill(buf, msg, hd.size, hd.meta_size);
            return 1;
        }
        char *meta = NULL;
        if (hd.meta_size > 0) {
            meta = heap != NULL ? heap : sl->inl;
            memcpy(meta, payload + hd.size, hd.meta_size);
            meta[hd.meta_size] = '\0';
        }
        l->pos += hd.len;
        atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
        msg->data = payload;
        msg->size = (size_t)hd.size;
        msg->metadata = meta ? meta : empty_meta;
        msg->metadata_size = hd.meta_size;
        msg->opaque_[0] = sl;
        msg->opaque_[1] = (void *)((uintptr_t)l | 1u);
        return 1;
    }
}

/* The lanes some sender took (header line 5), within the lane count
 * whatever a sender wrote there, and every lane seen before: a process
 * that clears bits cannot hide a lane we know. Seq_cst: see
 * ipm__shm_qmap_ready. */
static uint64_t lanes_used(const ipm__shm_qmap *q)
{
    uint64_t all = q->seg.lanes >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << q->seg.lanes) - 1;
    return (atomic_load_explicit(&q->seg.hdr->lanes_used, memory_order_seq_cst) & all) |
           q->seen;
}

/* The first lane of used (not 0) at or after cur, wrapping. */
static uint32_t next_used(uint64_t used, uint32_t cur)
{
    uint64_t from = used & (~(uint64_t)0 << cur);
    return (uint32_t)__builtin_ctzll(from != 0 ? from : used);
}

int ipm__shm_qmap_read(ipm__shm_qmap *q, ipm__shm_pool *pool, ipm_message *msg,
                       bool *corrupt)
{
    *corrupt = false;
    /* Each used lane once, in turn from the current one. */
    q->seen = lanes_used(q);
    for (uint64_t todo = q->seen; todo != 0;) {
        uint32_t i = next_used(todo, q->cur);
        if (i != q->cur) {
            q->cur = i;
            q->burst = 0;
        }
        int got = read_lane(&q->lane[i], pool, msg, corrupt);
        if (got < 0) return got;
        if (got > 0 && ++q->burst < BURST) return 1;
        q->burst = 0;
        todo &= ~((uint64_t)1 << i);
        q->cur = i + 1 == q->seg.lanes ? 0 : i + 1;
        if (got > 0) return 1;
    }
    return 0;
}

/* The sleeping receiver's re-check (shm_receiver.c): the lane bit is set
 * by a seq_cst RMW before the lane's first head store, and read here with
 * seq_cst after the receiver flagged that it sleeps, so a message in a
 * lane not yet seen is found here or its sender sees the flag. */
bool ipm__shm_qmap_ready(const ipm__shm_qmap *q)
{
    for (uint64_t used = lanes_used(q); used != 0; used &= used - 1) {
        uint32_t i = (uint32_t)__builtin_ctzll(used);
        if (atomic_load_explicit(&q->seg.lane[i].head, memory_order_acquire) !=
            q->lane[i].pos)
            return true;
    }
    return false;
}

void ipm__shm_qmap_release(ipm_message *msg)
{
    slot *sl = msg->opaque_[0];
    lane_rd *l = (lane_rd *)((uintptr_t)msg->opaque_[1] & ~(uintptr_t)1);
    ipm__shm_qmap *q = l->q;
    free(sl->meta); /* before the flag: the slot may be reused at once after */
    sl->meta = NULL;
    atomic_store_explicit(&sl->released, 1, memory_order_seq_cst);
    advance(l);
    qmap_unref(q);
}
