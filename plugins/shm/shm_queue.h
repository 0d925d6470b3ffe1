/*
 * shm_queue.h — the lossless queue of ShmSender/ShmReceiver: one
 * single-producer/single-consumer lane per sender (ipm__shm_lane), drained
 * by the receiver in turn.
 *
 * A lane is a byte ring of variable-size records. The sender owns head, the
 * receiver owns consumed, on separate cache lines; each side caches the
 * other's position and re-reads it only when it seems to have run out (of
 * data or of room). A record is published by the release store of head after
 * it is wholly written, so a full lane or a crash leaves nothing half-written
 * in view of the receiver.
 *
 * Receiving is in place: a message's data points into the lane, and its room
 * goes back to the sender when the application releases it. Releases may
 * come in any order and from any thread; consumed advances over the released
 * prefix only (ipm__shm_qmap). A loan lends the sender the room of one
 * record at its head, so that the payload is written where it will be read.
 */
#ifndef IPM_SHM_QUEUE_H
#define IPM_SHM_QUEUE_H

#include "shm_common.h"

/* ------------------------------------------------------------ sender */

typedef struct ipm__shm_queue_writer {
    ipm__shm_lane *lane; /* our lane's control lines */
    unsigned char *data; /* its data area */
    uint64_t cap;
    uint64_t head;     /* next write position */
    uint64_t consumed; /* last seen consumer position */
    bool corrupt;      /* the consumer's position made no sense */
    /* The in-place loan, if one is out: the room of a record of up to
     * loan_len bytes at loan_pos, after a wrap pad from loan_start. Nothing
     * of it is in shared view until it is committed. If something else was
     * sent meanwhile the loan was given up: its room was published as PAD
     * records, and is kept from reuse (floor) until the buffer comes back. */
    bool loaned, abandoned;
    uint64_t loan_start, loan_pos, loan_len;
} ipm__shm_queue_writer;

/* Continue where lane i's positions are (a new sender on the lane). False
 * (error set) if they are not positions a lane can have: misaligned, or
 * head more than the capacity ahead of consumed, or behind it. */
bool ipm__shm_queue_writer_init(const ipm__shm_seg *s, uint32_t i,
                                ipm__shm_queue_writer *w);

/* True if a record of len bytes (ipm__shm_rec_len) fits now. The consumer's
 * position is validated whenever it is read (aligned, not ahead of our head,
 * not more than the capacity behind it); a bad one leaves the cached one in
 * place, returns false and sets w->corrupt, so a hostile or broken consumer
 * can neither make us overwrite unread records nor write outside the area. */
bool ipm__shm_queue_has_room(ipm__shm_queue_writer *w, uint64_t len);

/* Before the sender sleeps on a full lane: the consumer position at which
 * to wake it. For a record below 1/16 of the lane, not just room for it
 * but a quarter of the lane (or all of what is queued), so that a sender
 * faster than its receiver is woken once per batch instead of once per
 * message; a larger record, as soon as it fits. */
uint64_t ipm__shm_queue_wake_at(const ipm__shm_queue_writer *w, uint64_t len);

/* Append one message; has_room must have returned true for it. Gives up an
 * outstanding loan first (see above). Wakes the receiver only if it sleeps. */
void ipm__shm_queue_write(ipm__shm_seg *s, ipm__shm_queue_writer *w, const void *data,
                          size_t size, const char *meta, size_t meta_size);

/* The worst-case record of a loan of size bytes (metadata still unknown). */
static inline uint64_t ipm__shm_queue_loan_len(size_t size)
{
    return ipm__shm_rec_len(IPM_SHM_MAX_METADATA, size);
}

/* Lend the room for a loan of size bytes; has_room(loan_len) must have
 * returned true and no loan be out. Returns the payload's address. */
void *ipm__shm_queue_loan(ipm__shm_queue_writer *w, size_t size);

/* Publish the loan (not given up) as a message of size bytes (at most the
 * loaned size) with metadata, written after the payload in place. */
void ipm__shm_queue_commit(ipm__shm_seg *s, ipm__shm_queue_writer *w, size_t size,
                           const char *meta, size_t meta_size);

/* Give up an outstanding loan (before anything else is written at head):
 * its room is published as PAD records and kept from reuse until unloan. */
void ipm__shm_queue_abandon(ipm__shm_seg *s, ipm__shm_queue_writer *w);

/* Forget the loan (nothing of it was published, or its room was). */
void ipm__shm_queue_unloan(ipm__shm_queue_writer *w);

/* ---------------------------------------------------------- receiver */

typedef struct ipm__shm_qmap ipm__shm_qmap;

/* Take over seg (a queue this process created): the receiver's reference.
 * NULL if out of memory (seg untouched). */
ipm__shm_qmap *ipm__shm_qmap_new(ipm__shm_seg *seg);
/* The receiver's end: marks the queue closed and removes its name now; the
 * mapping lives until the last message handed out is released. */
void ipm__shm_qmap_close(ipm__shm_qmap *q);
/* The segment (valid while q is). */
ipm__shm_seg *ipm__shm_qmap_seg(ipm__shm_qmap *q);

/*
 * Take the next message from the lanes, in turn (a burst from one lane, then
 * the next), in place, into msg. 1 = message, 0 = none, -1 = a corrupt
 * record (error set, *corrupt true) or no memory (error set). Every loop is
 * bounded: each step advances at least one record and never past a head
 * that is within one lane of our position.
 */
int ipm__shm_qmap_read(ipm__shm_qmap *q, ipm__shm_pool *pool, ipm_message *msg,
                       bool *corrupt);

/* True if some lane has published beyond what we read (one load per lane). */
bool ipm__shm_qmap_ready(const ipm__shm_qmap *q);

/* The release of a message handed out in place (from ipm__shm_release). */
void ipm__shm_qmap_release(ipm_message *msg);

#endif
