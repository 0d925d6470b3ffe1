/*
 * gen_shm_seeds.c — writes the seed corpus of fuzz_shm_header from the
 * segment layout in plugins/shm/shm_common.h, so that the seeds follow a
 * layout change: rebuild and run
 *     gen_shm_seeds fuzz/corpus/fuzz_shm_header fuzz/corpus/fuzz_shm_records
 * A fuzz_shm_header seed is the fuzzer's flag byte followed by a segment
 * file's bytes; a fuzz_shm_records seed is the flag byte, head, tail and
 * pubver, then a data area written by the real queue/ring writers.
 */
#define _GNU_SOURCE
#include "shm_queue.h"
#include "shm_ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(const char *dir, const char *file, unsigned char flags, const void *seg,
                size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(&flags, 1, 1, f) != 1 || (size && fwrite(seg, 1, size, f) != size) ||
        fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A valid segment of kind with a 4096-byte data area, as the creator
 * writes it; the caller frees it. */
static unsigned char *segment(uint32_t kind, size_t *size)
{
    uint64_t cap = 4096, total = ipm__shm_segment_size(kind, cap, 1);
    unsigned char *m = calloc(1, total);
    ipm__shm_header *h = (ipm__shm_header *)m;
    h->magic = IPM_SHM_MAGIC;
    h->version = IPM_SHM_VERSION;
    h->kind = kind;
    h->total_size = total;
    h->capacity = cap;
    h->max_message_size = 1024;
    h->data_offset = ipm__shm_data_offset(kind, 1);
    if (kind == IPM_SHM_KIND_QUEUE) {
        h->lanes = 1;
        h->lane_offset = IPM_SHM_LANE_OFFSET;
    }
    h->owner_pid = 0; /* the flag byte patches in the fuzzer's own pid */
    h->wake_id = -1;  /* no wake area: a fuzzed attach stops at its check */
    *size = total;
    return m;
}

/* Records written by the real writers into a 4096-byte area. */
static void records(const char *dir, const char *file, unsigned char flags, int count,
                    size_t size)
{
    enum { CAP = 4096 };
    static ipm__shm_header h;
    static unsigned char area[CAP];
    memset(&h, 0, sizeof h);
    memset(area, 0, sizeof area);
    h.capacity = CAP;
    h.max_message_size = 1024;
    static ipm__shm_wake wake;
    static ipm__shm_lane lane;
    memset(&lane, 0, sizeof lane);
    ipm__shm_seg s = {.fd = -1,
                      .lane = &lane,
                      .lanes = 1,
                      .hdr = &h,
                      .data = area,
                      .cap = CAP,
                      .max_message_size = 1024,
                      .wake = &wake};
    unsigned char payload[1024];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (unsigned char)i;
    if (flags & 1) {
        ipm__shm_ring_writer w = {0};
        for (int i = 0; i < count; i++)
            if (ipm__shm_ring_write(&s, &w, payload, size, i % 3 ? "topic" : "xdrop",
                                    5) != IPM_OK)
                exit(1);
        ipm__shm_ring_writer_free(&w);
    } else {
        ipm__shm_queue_writer w;
        if (!ipm__shm_queue_writer_init(&s, 0, &w)) exit(1);
        for (int i = 0; i < count; i++) {
            uint64_t len = ipm__shm_rec_len(4, size);
            if (!ipm__shm_queue_has_room(&w, len)) break;
            ipm__shm_queue_write(&s, &w, payload, size, "meta", 4);
        }
        atomic_store(&h.head, atomic_load(&lane.head)); /* the seed's head word */
    }
    unsigned char buf[1 + 24 + CAP];
    uint64_t words[3] = {atomic_load(&h.head), atomic_load(&h.tail),
                         atomic_load(&h.pubver)};
    buf[0] = flags;
    memcpy(buf + 1, words, sizeof words);
    memcpy(buf + 25, area, CAP);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, sizeof buf, f) != sizeof buf || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HEADER_SEED_DIR RECORD_SEED_DIR\n", argv[0]);
        return 2;
    }
    records(argv[2], "queue_three", 0, 3, 100);
    records(argv[2], "queue_wrapped", 0, 9, 400);
    records(argv[2], "queue_empty_messages", 0, 20, 0);
    records(argv[2], "ring_from_start", 1 | 2, 5, 200);
    records(argv[2], "ring_lapped", 1 | 2, 40, 300);
    records(argv[2], "ring_filtered", 1 | 2 | 4, 12, 50);
    records(argv[2], "ring_at_head", 1, 6, 10);
    const char *dir = argv[1];
    size_t qn, rn;
    unsigned char *q = segment(IPM_SHM_KIND_QUEUE, &qn);
    unsigned char *r = segment(IPM_SHM_KIND_RING, &rn);
    /* flags: bit 0 ring, bit 1 owner = self, bit 2 create (reclaim) */
    put(dir, "queue_alive", 2, q, qn);
    put(dir, "ring_alive", 3, r, rn);
    put(dir, "queue_dead_owner", 0, q, qn);
    put(dir, "ring_dead_owner", 1, r, rn);
    put(dir, "queue_reclaim", 4, q, qn);
    put(dir, "ring_reclaim_live", 7, r, rn);
    put(dir, "queue_as_ring", 3, q, qn);
    put(dir, "truncated_header", 2, q, 100);
    put(dir, "header_only", 2, q, sizeof(ipm__shm_header));
    put(dir, "empty", 0, q, 0);
    ipm__shm_header *h = (ipm__shm_header *)q;
    h->version = IPM_SHM_VERSION + 1;
    put(dir, "queue_other_version", 2, q, qn);
    h->version = IPM_SHM_VERSION;
    h->capacity = 1ull << 62; /* sizes that overflow if trusted */
    put(dir, "queue_huge_capacity", 2, q, qn);
    h->capacity = 4096;
    h->max_message_size = UINT64_MAX;
    put(dir, "queue_huge_message", 2, q, qn);
    h->max_message_size = 1024;
    h->data_offset = 1;
    put(dir, "queue_bad_offset", 2, q, qn);
    h->data_offset = qn - 4096;
    atomic_store(&h->closed, 1);
    put(dir, "queue_closed", 2, q, qn);
    free(q);
    free(r);
    return 0;
}
