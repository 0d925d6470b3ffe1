/*
 * shm_ring.h — the broadcast ring of ShmPublisher/ShmSubscriber: one
 * writer that never waits, any number of readers that each keep their own
 * position and detect being overtaken.
 *
 * Positions are byte offsets that only grow (the data area index is
 * pos & (capacity - 1)). The writer keeps head (end of the last whole record)
 * and tail (the oldest record not yet overwritten). Before it overwrites
 * anything it moves tail past it (store, then release fence, then the data
 * writes); a reader copies a record, issues an acquire fence and re-reads
 * tail: if tail is still at or below the record's position, the copy is
 * intact, otherwise it was overtaken, jumps to tail and counts the messages
 * between (record headers carry their message numbers) as dropped.
 */
#ifndef IPM_SHM_RING_H
#define IPM_SHM_RING_H

#include "shm_common.h"

/* The writer's private copy of its positions. */
typedef struct ipm__shm_ring_writer {
    uint64_t head, tail, seq;
} ipm__shm_ring_writer;

/* Append one message (sizes already checked against the segment); never
 * blocks; makes the wake syscall only if a reader has flagged that it
 * sleeps. */
void ipm__shm_ring_write(ipm__shm_seg *s, ipm__shm_ring_writer *w, const void *data,
                         size_t size, const char *meta, size_t meta_size);

/* A reader's position in one ring. */
typedef struct ipm__shm_ring_reader {
    uint64_t pos;
    uint64_t next_seq; /* message number expected at pos */
    bool seq_known;
} ipm__shm_ring_reader;

/* Start at the current head: only messages published from now on. */
void ipm__shm_ring_reader_at_head(const ipm__shm_seg *s, ipm__shm_ring_reader *r);
/* Start at the oldest intact message, counting as dropped those before it:
 * used when attaching to a publisher that started after us. */
void ipm__shm_ring_reader_at_start(const ipm__shm_seg *s, ipm__shm_ring_reader *r);

/* Decides if a message with this metadata is wanted. */
typedef bool (*ipm__shm_filter)(const void *arg, const char *meta, size_t meta_size);

/*
 * Take the next wanted message, copying it into a pool buffer and filling
 * msg. Messages the filter rejects are skipped (neither received nor
 * dropped); messages overwritten before they were read are added to
 * *dropped. Returns 1 with a message, 0 if nothing (more) is available,
 * -1 on a corrupt ring or no memory (error set).
 */
int ipm__shm_ring_read(const ipm__shm_seg *s, ipm__shm_ring_reader *r,
                       ipm__shm_pool *pool, ipm__shm_filter filter,
                       const void *filter_arg, ipm_message *msg,
                       _Atomic uint64_t *dropped);

/* True if a message may be readable at r's position (cheap: one load). */
static inline bool ipm__shm_ring_ready(const ipm__shm_seg *s,
                                       const ipm__shm_ring_reader *r)
{
    return atomic_load_explicit(&s->hdr->head, memory_order_acquire) != r->pos;
}

#endif
