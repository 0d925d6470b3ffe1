/*
 * rel_regress_shm.c — regressions in plugins/shm found by fuzz_shm_records
 * (issue 6). The record readers trust positions that come from the shared
 * segment, which any process of the same user can write (and a crashed or
 * foreign writer can leave in any state). Each test FAILS UNTIL FIXED.
 *
 * 1. shm_ring.c ipm__shm_ring_read(): a ring whose tail (or head) is not a
 *    multiple of IPM_SHM_REC_ALIGN puts the reader at an unaligned position;
 *    near the end of the data area it copies a 32-byte record header from
 *    past the end of the mapping (SIGSEGV/SIGBUS in a ShmSubscriber).
 *    Crash input: fuzz/corpus/fuzz_shm_records/crash-ring-unaligned-tail.
 * 2. shm_queue.c ipm__shm_queue_read() (now ipm__shm_qmap_read): a queue whose head is
 * more than the capacity ahead of the reader, over a data area holding a whole-area PAD
 *    record, makes the reader skip that PAD forever (the check
 *    hd.len <= head - pos always holds): one ipm_receive never returns.
 *    Timeout input: fuzz/corpus/fuzz_shm_records/timeout-queue-pad-loop.
 * 3. The same loop in ipm__shm_ring_read() when tail is ahead of head.
 * Suggested fix for all three: treat pos % IPM_SHM_REC_ALIGN != 0,
 * head - pos > capacity (and, for the ring, tail > head) as a corrupt
 * segment (-1, IPM_ESYS), as a bad record already is.
 *
 * The readers are compiled into this test from plugins/shm (they are hidden
 * inside the plugin .so files) and run on a data area followed by a
 * PROT_NONE guard page, each case in a child process with a time limit, so
 * that a wild read is a SIGSEGV and a loop is a timeout, in any build.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include "shm_queue.h"
#include "shm_ring.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CAP 4096u

typedef struct area {
    ipm__shm_header *h;
    ipm__shm_lane *lane; /* the queue's one lane */
    ipm__shm_seg seg;
    unsigned char *map; /* CAP bytes of data, then a guard page */
} area;

static void area_init(area *a, uint32_t kind)
{
    a->h = aligned_alloc(64, sizeof *a->h);
    assert_non_null(a->h);
    memset(a->h, 0, sizeof *a->h);
    a->h->magic = IPM_SHM_MAGIC;
    a->h->version = IPM_SHM_VERSION;
    a->h->kind = kind;
    a->h->capacity = CAP;
    a->h->max_message_size = 1024;
    a->map = mmap(NULL, CAP + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                  -1, 0);
    assert_true(a->map != MAP_FAILED);
    assert_int_equal(mprotect(a->map + CAP, 4096, PROT_NONE), 0);
    memset(&a->seg, 0, sizeof a->seg);
    a->seg.fd = -1;
    a->seg.hdr = a->h;
    a->seg.data = a->map;
    a->seg.cap = CAP;
    a->seg.max_message_size = 1024;
    a->lane = aligned_alloc(64, sizeof *a->lane);
    assert_non_null(a->lane);
    memset(a->lane, 0, sizeof *a->lane);
    if (kind == IPM_SHM_KIND_QUEUE) {
        a->seg.lane = a->lane;
        a->seg.lanes = 1;
    }
    snprintf(a->seg.name, sizeof a->seg.name, "regress");
}

static void area_fini(area *a)
{
    munmap(a->map, CAP + 4096);
    free(a->lane);
    free(a->h);
}

/* A PAD record covering the whole data area, as a writer leaves at 0. */
static void whole_area_pad(area *a)
{
    ipm__shm_rec pad = {.len = CAP, .type = IPM_SHM_REC_PAD};
    memcpy(a->map, &pad, sizeof pad);
}

static bool accept_all(const void *arg, const char *meta, size_t meta_size)
{
    (void)arg, (void)meta, (void)meta_size;
    return true;
}

/* Child: read until nothing/error, at most 16 times; exit 0 if the reader
 * answered (message, nothing or error), killed by a signal otherwise. */
static int read_ring(void *arg)
{
    area *a = arg;
    rel_child_signals();
    alarm(5);
    ipm__shm_pool *pool = ipm__shm_pool_new();
    ipm__shm_ring_reader r;
    ipm__shm_ring_reader_at_start(&a->seg, &r);
    _Atomic uint64_t dropped = 0;
    for (int i = 0; i < 16; i++) {
        ipm_message m;
        memset(&m, 0, sizeof m);
        int rc = ipm__shm_ring_read(&a->seg, &r, pool, accept_all, NULL, &m, &dropped);
        if (rc != 1) break;
        ipm__shm_release(&m);
    }
    ipm__shm_pool_unref(pool);
    return 0;
}

static int read_queue(void *arg)
{
    area *a = arg;
    rel_child_signals();
    alarm(5);
    ipm__shm_pool *pool = ipm__shm_pool_new();
    /* The receiver's reader takes the segment over; its size is 0, so
     * closing it unmaps nothing of this test's memory. */
    ipm__shm_seg seg = a->seg;
    ipm__shm_qmap *q = ipm__shm_qmap_new(&seg);
    assert_non_null(q);
    for (int i = 0; i < 16; i++) {
        ipm_message m;
        memset(&m, 0, sizeof m);
        bool corrupt;
        int rc = ipm__shm_qmap_read(q, pool, &m, &corrupt);
        if (rc != 1) break;
        ipm__shm_release(&m);
    }
    ipm__shm_qmap_close(q);
    ipm__shm_pool_unref(pool);
    return 0;
}

static void expect_answer(int (*fn)(void *), area *a, const char *what)
{
    int st = ipm_test_wait(ipm_test_fork(fn, a), 30000);
    if (st != 0)
        fail_msg("%s: the reader %s (child status %d)", what,
                 st == 128 + SIGALRM ? "never returned (5 s)"
                 : st > 128          ? "crashed"
                                     : "failed",
                 st);
}

static void test_ring_unaligned_tail(void **state)
{
    (void)state;
    area a;
    area_init(&a, IPM_SHM_KIND_RING);
    /* The oldest record "starts" one byte before the end of the area. */
    atomic_store(&a.h->tail, (uint64_t)CAP - 1);
    atomic_store(&a.h->head, (uint64_t)CAP + 64);
    memset(a.map + CAP - 1, 0, 1);
    expect_answer(read_ring, &a, "ring with tail % 32 != 0");
    area_fini(&a);
}

static void test_queue_head_beyond_capacity(void **state)
{
    (void)state;
    area a;
    area_init(&a, IPM_SHM_KIND_QUEUE);
    whole_area_pad(&a);
    atomic_store(&a.lane->head, (uint64_t)1 << 60);
    expect_answer(read_queue, &a, "queue with head - pos > capacity");
    area_fini(&a);
}

static void test_ring_tail_ahead_of_head(void **state)
{
    (void)state;
    area a;
    area_init(&a, IPM_SHM_KIND_RING);
    whole_area_pad(&a);
    atomic_store(&a.h->tail, (uint64_t)1 << 40);
    atomic_store(&a.h->head, ((uint64_t)1 << 40) - CAP);
    expect_answer(read_ring, &a, "ring with tail > head");
    area_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_unaligned_tail),
        cmocka_unit_test(test_queue_head_beyond_capacity),
        cmocka_unit_test(test_ring_tail_ahead_of_head),
    };
    return cmocka_run_group_tests_name("rel_regress_shm", tests, NULL, NULL);
}
