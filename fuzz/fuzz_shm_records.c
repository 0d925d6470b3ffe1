/*
 * fuzz_shm_records.c — libFuzzer target for the record parsing of the
 * shared-memory transport: ShmReceiver reading its queue
 * (ipm__shm_queue_read) and ShmSubscriber reading a publisher's ring
 * (ipm__shm_ring_read), over a data area and positions that come from the
 * input. In real use both live in a file any process of the same user can
 * write, and a crashed or foreign writer can leave anything there; a reader
 * must answer with a message, "nothing", or an error, never read outside the
 * data area or loop forever.
 *
 * The data area is a heap block of exactly `capacity` bytes, so any read
 * past its end is an AddressSanitizer report; a reader stuck in a loop is a
 * libFuzzer timeout.
 *
 * Input: flags (1 byte), head (8), tail (8), pubver (8), then the data area
 * (zero-filled if short).
 *   flags bit 0: ring (else queue)
 *   flags bit 1: ring reader starts at the oldest record (else at head)
 *   flags bit 2: ring reader's topic filter rejects metadata starting with 'x'
 * The queue reader starts at position 0, as a new ShmReceiver does (it
 * creates the queue); head is the producer's word.
 */
#define _GNU_SOURCE
#include "fuzz_plugins.h"
#include "shm_queue.h"
#include "shm_ring.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 4096u
#define MAX_MESSAGE 1024u
#define MAX_READS 64

static uint64_t take_u64(const uint8_t **data, size_t *size)
{
    uint64_t v = 0;
    size_t n = *size < sizeof v ? *size : sizeof v;
    memcpy(&v, *data, n);
    *data += n;
    *size -= n;
    return v;
}

static bool reject_x(const void *arg, const char *meta, size_t meta_size)
{
    (void)arg;
    return !(meta_size > 0 && meta[0] == 'x');
}

static bool accept_all(const void *arg, const char *meta, size_t meta_size)
{
    (void)arg, (void)meta, (void)meta_size;
    return true;
}

static void check_message(const ipm_message *m)
{
    FUZZ_CHECK(m->size <= MAX_MESSAGE);
    FUZZ_CHECK(m->size == 0 || m->data != NULL);
    FUZZ_CHECK(m->metadata != NULL);
    FUZZ_CHECK(m->metadata_size <= IPM_SHM_MAX_METADATA);
    FUZZ_CHECK(m->metadata[m->metadata_size] == '\0');
    /* Touch every byte, so that a bad pointer or length is an ASan report. */
    volatile unsigned sum = 0;
    for (size_t i = 0; i < m->size; i++)
        sum += ((const unsigned char *)m->data)[i];
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++, size--;
    uint64_t head = take_u64(&data, &size);
    uint64_t tail = take_u64(&data, &size);
    uint64_t pubver = take_u64(&data, &size);

    ipm__shm_header *h = aligned_alloc(64, sizeof *h);
    unsigned char *area = malloc(CAP);
    FUZZ_CHECK(h != NULL && area != NULL);
    memset(h, 0, sizeof *h);
    memset(area, 0, CAP);
    memcpy(area, data, size < CAP ? size : CAP);

    bool ring = flags & 1;
    h->magic = IPM_SHM_MAGIC;
    h->version = IPM_SHM_VERSION;
    h->kind = ring ? IPM_SHM_KIND_RING : IPM_SHM_KIND_QUEUE;
    h->capacity = CAP;
    h->max_message_size = MAX_MESSAGE;
    atomic_store(&h->head, head);
    atomic_store(&h->tail, ring ? tail : 0);
    ipm__shm_lane *lane = aligned_alloc(64, sizeof *lane);
    FUZZ_CHECK(lane != NULL);
    memset(lane, 0, sizeof *lane);
    atomic_store(&lane->head, head);
    atomic_store(&h->lanes_used, 1); /* a sender took lane 0 */
    atomic_store(&h->pubver, pubver & ~(uint64_t)1); /* a writer that finished */

    ipm__shm_seg seg;
    memset(&seg, 0, sizeof seg);
    seg.fd = -1;
    seg.hdr = h;
    seg.data = area;
    seg.cap = CAP;
    seg.max_message_size = MAX_MESSAGE;
    if (!ring) {
        seg.lane = lane;
        seg.lanes = 1;
    }
    snprintf(seg.name, sizeof seg.name, "fuzz");

    ipm__shm_pool *pool = ipm__shm_pool_new();
    FUZZ_CHECK(pool != NULL);
    _Atomic uint64_t dropped = 0;
    /* The queue reader takes a copy of the segment over (size 0: closing
     * it unmaps nothing); messages are held in threes and released out of
     * order (flags & 8), as an application may. */
    ipm__shm_seg qseg = seg;
    ipm__shm_qmap *q = ring ? NULL : ipm__shm_qmap_new(&qseg);
    FUZZ_CHECK(ring || q != NULL);
    ipm_message held[3];
    int nheld = 0;
    ipm__shm_ring_reader rr;
    if (flags & 2)
        ipm__shm_ring_reader_at_start(&seg, &rr);
    else
        ipm__shm_ring_reader_at_head(&seg, &rr);

    for (int i = 0; i < MAX_READS; i++) {
        ipm_message m;
        memset(&m, 0, sizeof m);
        bool corrupt = false;
        int rc = ring ? ipm__shm_ring_read(&seg, &rr, pool,
                                           (flags & 4) ? reject_x : accept_all, NULL, &m,
                                           &dropped)
                      : ipm__shm_qmap_read(q, pool, &m, &corrupt);
        FUZZ_CHECK(rc >= -1 && rc <= 1);
        if (rc != 1) {
            if (rc < 0) FUZZ_CHECK(*ipm_last_error() != '\0');
            break;
        }
        check_message(&m);
        if (ring || !(flags & 8)) {
            ipm__shm_release(&m);
            continue;
        }
        held[nheld++] = m;
        if (nheld == 3) {
            ipm__shm_release(&held[1]);
            ipm__shm_release(&held[2]);
            ipm__shm_release(&held[0]);
            nheld = 0;
        }
    }
    for (int i = nheld - 1; i >= 0; i--)
        ipm__shm_release(&held[i]);
    if (q != NULL) {
        /* Everything released: the receiver gave all the room back. */
        FUZZ_CHECK(atomic_load(&lane->consumed) % IPM_SHM_REC_ALIGN == 0);
        ipm__shm_qmap_close(q);
    }
    free(lane);
    ipm__shm_pool_unref(pool);
    free(area);
    free(h);
    return 0;
}
