/*
 * shm_queue.h — the lossless single-producer/single-consumer queue of
 * ShmSender/ShmReceiver. Variable-size records in a byte ring; the producer
 * owns head, the consumer owns consumed, on separate cache lines; each side
 * caches the other's position and re-reads it only when it seems to have
 * run out (of data or of room). A record is published by the release store
 * of head after it is wholly written, so a full queue or a crash leaves
 * nothing half-written in view of the consumer.
 */
#ifndef IPM_SHM_QUEUE_H
#define IPM_SHM_QUEUE_H

#include "shm_common.h"

typedef struct ipm__shm_queue_writer {
    uint64_t head;     /* next write position */
    uint64_t consumed; /* last seen consumer position */
    bool corrupt;      /* the consumer's position made no sense */
} ipm__shm_queue_writer;

typedef struct ipm__shm_queue_reader {
    uint64_t pos;  /* next read position */
    uint64_t head; /* last seen producer position */
    bool corrupt;  /* the last -1 was a corrupt record (not out of memory) */
} ipm__shm_queue_reader;

/* Continue where the segment's positions are (a new producer). False (error
 * set) if they are not positions a queue can have: misaligned, or head more
 * than the capacity ahead of consumed, or behind it. */
bool ipm__shm_queue_writer_init(const ipm__shm_seg *s, ipm__shm_queue_writer *w);

/* True if a record of len bytes (ipm__shm_rec_len) fits now. The consumer's
 * position is validated whenever it is read (aligned, not ahead of our head,
 * not more than the capacity behind it); a bad one leaves the cached one in
 * place, returns false and sets w->corrupt, so a hostile or broken consumer
 * can neither make us overwrite unread records nor write outside the area. */
bool ipm__shm_queue_has_room(const ipm__shm_seg *s, ipm__shm_queue_writer *w,
                             uint64_t len);

/* Before the producer sleeps on a full queue: the consumer position at
 * which to wake it. Not just room for its record but a quarter of the
 * queue (or all of what is queued), so that a producer faster than its
 * consumer is woken once per batch instead of once per message. */
uint64_t ipm__shm_queue_wake_at(const ipm__shm_seg *s, const ipm__shm_queue_writer *w,
                                uint64_t len);

/* Append one message; has_room must have returned true for it. Wakes the
 * consumer only if it is sleeping. */
void ipm__shm_queue_write(ipm__shm_seg *s, ipm__shm_queue_writer *w, const void *data,
                          size_t size, const char *meta, size_t meta_size);

/* Take the next message into a pool buffer and fill msg; frees its room
 * and wakes a sleeping producer. 1 = message, 0 = empty, -1 = corrupt
 * (r->corrupt set) or no memory (error set). Every loop is bounded: each
 * step advances at least one record and never past a head that is within
 * one capacity of our position. */
int ipm__shm_queue_read(ipm__shm_seg *s, ipm__shm_queue_reader *r, ipm__shm_pool *pool,
                        ipm_message *msg);

/* True if the producer has published beyond r (one load). */
static inline bool ipm__shm_queue_ready(const ipm__shm_seg *s,
                                        const ipm__shm_queue_reader *r)
{
    return atomic_load_explicit(&s->hdr->head, memory_order_acquire) != r->pos;
}

#endif
