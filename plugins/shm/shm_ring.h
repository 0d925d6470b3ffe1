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
 *
 * The writer never reads the ring back: others may be able to write it (any
 * process of the owner's uid), and a record length it read back would steer
 * its walk to free space (a zero length made it spin for ever). It keeps its
 * positions and the length of every live record in private memory instead.
 * Readers trust nothing either: every position and length they read is
 * checked against the mapping, and every loop is bounded.
 */
#ifndef IPM_SHM_RING_H
#define IPM_SHM_RING_H

#include "shm_common.h"

/* The writer's private copy of its positions, and a FIFO of the spans
 * (pad + record, in IPM_SHM_REC_ALIGN units) of the records between tail
 * and head, oldest first: what the tail walk steps over. It grows (doubling)
 * to the most records the ring has held at once, at most capacity / 64. */
typedef struct ipm__shm_ring_writer {
    uint64_t head, tail, seq;
    /* The in-place loan, if one is out (as the queue's, shm_queue.h): room
     * for a record of loan_len bytes at loan_pos after a wrap pad from
     * loan_start, freed (tail moved) but not published. Given up
     * (abandoned) when something else is sent meanwhile: published as PADs,
     * and later writes jump over its memory until the buffer comes back. */
    bool loaned, abandoned;
    uint64_t loan_start, loan_pos, loan_len;
    uint32_t *spans;
    size_t nspans; /* allocated entries, a power of two (0 before the first) */
    size_t first;  /* index of the oldest span */
    size_t count;  /* live spans */
} ipm__shm_ring_writer;

/* Free the span FIFO (the positions stay). */
void ipm__shm_ring_writer_free(ipm__shm_ring_writer *w);

/* Append one message (sizes already checked against the segment); never
 * blocks; makes the wake syscall only if a reader has flagged that it
 * sleeps. IPM_ENOMEM (error set, nothing written) if the span FIFO cannot
 * grow. */
ipm_status ipm__shm_ring_write(ipm__shm_seg *s, ipm__shm_ring_writer *w, const void *data,
                               size_t size, const char *meta, size_t meta_size);

/* Lend room for a record of size bytes (metadata unknown: the worst case
 * is reserved) at head; *buf is where the payload goes. No loan may be out.
 * IPM_ENOMEM if the span FIFO cannot grow. */
ipm_status ipm__shm_ring_loan(ipm__shm_seg *s, ipm__shm_ring_writer *w, size_t size,
                              void **buf);
/* Publish the loan (not abandoned) as a message of size bytes. */
void ipm__shm_ring_commit(ipm__shm_seg *s, ipm__shm_ring_writer *w, size_t size,
                          const char *meta, size_t meta_size);
/* Give the loan's room up (before something else is written). */
void ipm__shm_ring_abandon(ipm__shm_seg *s, ipm__shm_ring_writer *w);
/* Forget the loan. */
void ipm__shm_ring_unloan(ipm__shm_ring_writer *w);

/* A reader's position in one ring. */
typedef struct ipm__shm_ring_reader {
    uint64_t pos;
    uint64_t next_seq; /* message number expected at pos */
    bool seq_known;
    uint64_t corrupt; /* corrupt records found (each resynchronised) */
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
 * *dropped. Returns 1 with a message, 0 if nothing (more) is available now
 * (also after a bounded number of skipped records: call again), -1 on a
 * corrupt record or no memory (error set).
 *
 * A corrupt record is reported once: the reader then resynchronises at the
 * writer's current head, counting the messages in between as dropped, and
 * the next call reads on. Pub/sub may lose messages by contract, and the
 * writer (which never reads the ring) is unaffected, so carrying on with the
 * loss counted serves the subscriber better than refusing the ring; if the
 * ring keeps being corrupted, every read says so.
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
