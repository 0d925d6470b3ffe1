/*
 * fuzz_shm_hostile.c — libFuzzer target: a hostile process writing into a
 * live segment while the real writer and reader code of plugins/shm runs on
 * it. Each input makes a real segment in /dev/shm (ipm__shm_create, as a
 * ShmPublisher or ShmReceiver does), attaches it as a ShmSubscriber or
 * ShmSender would (ipm__shm_attach), maps it a third time read-write as the
 * attacker, and then interleaves, as the input says: the owner publishing
 * (or the sender queueing), the reader taking messages, and the attacker
 * writing arbitrary bytes anywhere in the file (and, for a ring, its wake
 * area). The owner and the reader must answer with statuses: no crash, no
 * read outside the mapping, no hang (a libFuzzer timeout), no invariant of
 * their own broken (a message they hand out is always within its limits).
 * Truncation is not among the attacker's moves: only the owner's uid can do
 * it and it remains a documented SIGBUS (docs/shm.md).
 *
 * Input: byte 0: bit 0 queue (else ring), bit 1 ring reader from the start
 * (else from head); then operations, each one byte op and its arguments:
 *   op % 4 == 0  write a message: size byte (x 6), topic length byte (% 9)
 *   op % 4 == 1  read one message
 *   op % 4 == 2  scribble: offset (2 bytes, in the file), n (1 byte, % 64),
 *                then n bytes
 *   op % 4 == 3  scribble a header word: index (1 byte), value (8 bytes);
 *                index 255 sets the ring's wake flag instead
 */
#define _GNU_SOURCE
#include "fuzz_plugins.h"
#include "shm_queue.h"
#include "shm_ring.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 256

static char name[64], path[96];

static void cleanup(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(name, sizeof name, "ipm-fuzz-hostile-%d", (int)getpid());
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    atexit(cleanup);
    return 0;
}

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static uint8_t byte(input *in)
{
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}

static bool accept_all(const void *arg, const char *meta, size_t meta_size)
{
    (void)arg, (void)meta, (void)meta_size;
    return true;
}

static void check_message(const ipm_message *m, uint64_t max)
{
    FUZZ_CHECK(m->size <= max);
    FUZZ_CHECK(m->metadata != NULL && m->metadata_size <= IPM_SHM_MAX_METADATA);
    FUZZ_CHECK(m->metadata[m->metadata_size] == '\0');
    volatile unsigned sum = 0;
    for (size_t i = 0; i < m->size; i++)
        sum += ((const unsigned char *)m->data)[i];
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    input in = {data + 1, size - 1};
    bool queue = data[0] & 1;
    uint32_t kind = queue ? IPM_SHM_KIND_QUEUE : IPM_SHM_KIND_RING;

    ipm__shm_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.endpoint, sizeof c.endpoint, "shm://%s", name);
    c.capacity = 4096;
    c.max_message_size = 1024;
    c.mode = 0600;
    c.lanes = 2;
    ipm__shm_seg owner, peer;
    memset(&owner, 0, sizeof owner);
    memset(&peer, 0, sizeof peer);
    unlink(path); /* a previous input that crashed */
    FUZZ_CHECK(ipm__shm_create(&c, kind, "ShmFuzz", &owner) == IPM_OK);
    FUZZ_CHECK(ipm__shm_attach(name, kind, "ShmFuzz", NULL, &peer) == IPM_OK);

    /* The attacker's own read-write view of the file and the wake area. */
    int fd = open(path, O_RDWR | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    size_t fsize = owner.size;
    unsigned char *evil = mmap(NULL, fsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    FUZZ_CHECK(evil != MAP_FAILED);
    close(fd);
    ipm__shm_wake *evil_wake = NULL;
    if (!queue) {
        evil_wake = shmat(owner.hdr->wake_id, NULL, 0);
        FUZZ_CHECK(evil_wake != (void *)-1);
    }

    ipm__shm_pool *pool = ipm__shm_pool_new();
    FUZZ_CHECK(pool != NULL);
    _Atomic uint64_t dropped = 0;
    ipm__shm_ring_writer rw = {0};
    ipm__shm_ring_reader rr;
    ipm__shm_queue_writer qw;
    /* The receiver's reader takes the owner's mapping over; up to two
     * messages are held and released newest first, as an application may. */
    ipm__shm_qmap *q = NULL;
    ipm_message held[2];
    int nheld = 0;
    bool queue_broken = false;
    const uint64_t fsize0 = owner.size, hdr_area = owner.hdr->data_offset;
    if (queue) {
        FUZZ_CHECK(ipm__shm_queue_writer_init(&peer, 1, &qw)); /* a fresh lane */
        FUZZ_CHECK(ipm__shm_lane_allocate(&peer, 1, "ShmFuzz") == IPM_OK);
        q = ipm__shm_qmap_new(&owner);
        FUZZ_CHECK(q != NULL);
    } else if (data[0] & 2) {
        ipm__shm_ring_reader_at_start(&peer, &rr);
    } else {
        ipm__shm_ring_reader_at_head(&peer, &rr);
    }
    static unsigned char payload[1530];
    static const char topic[] = "topictopic";

    for (int op = 0; op < MAX_OPS && in.n > 0; op++) {
        uint8_t o = byte(&in);
        switch (o % 4) {
        case 0: {
            size_t n = (size_t)byte(&in) * 6;
            size_t t = byte(&in) % 9;
            if (n > owner.max_message_size) n = owner.max_message_size;
            if (!queue) {
                ipm_status st = ipm__shm_ring_write(&owner, &rw, payload, n, topic, t);
                FUZZ_CHECK(st == IPM_OK || st == IPM_ENOMEM);
            } else if (o & 4) {
                /* A loan, written in place, then sent or returned. */
                if (ipm__shm_queue_has_room(&qw, ipm__shm_queue_loan_len(n))) {
                    memset(ipm__shm_queue_loan(&qw, n), 'L', n);
                    if (o & 8)
                        ipm__shm_queue_commit(&peer, &qw, n, topic, t);
                    else
                        ipm__shm_queue_unloan(&qw);
                }
            } else if (ipm__shm_queue_has_room(&qw, ipm__shm_rec_len(t, n))) {
                ipm__shm_queue_write(&peer, &qw, payload, n, topic, t);
            }
            break;
        }
        case 1: {
            ipm_message m;
            memset(&m, 0, sizeof m);
            bool corrupt = false;
            if (queue && queue_broken) break;
            int rc = queue ? ipm__shm_qmap_read(q, pool, &m, &corrupt)
                           : ipm__shm_ring_read(&peer, &rr, pool, accept_all, NULL, &m,
                                                &dropped);
            FUZZ_CHECK(rc >= -1 && rc <= 1);
            if (rc < 0) {
                FUZZ_CHECK(*ipm_last_error() != '\0');
                /* What ShmReceiver does next is to recreate the queue (a
                 * fresh segment, which this input does not model): stop. */
                if (queue && corrupt) queue_broken = true;
            }
            if (rc == 1) {
                check_message(&m, peer.max_message_size);
                if (!queue || (o & 16) == 0) {
                    ipm__shm_release(&m);
                } else {
                    held[nheld++] = m;
                    if (nheld == 2) {
                        ipm__shm_release(&held[1]);
                        ipm__shm_release(&held[0]);
                        nheld = 0;
                    }
                }
            }
            break;
        }
        case 2: {
            size_t off = (size_t)byte(&in) << 8;
            off |= byte(&in);
            size_t n = byte(&in) % 64;
            for (size_t i = 0; i < n; i++) {
                uint8_t v = byte(&in);
                evil[(off + i) % fsize] = v;
            }
            break;
        }
        case 3: {
            uint8_t idx = byte(&in);
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
                v |= (uint64_t)byte(&in) << (8 * i);
            if (idx == 255) {
                if (evil_wake != NULL)
                    atomic_store(&evil_wake->data_waiters, (uint32_t)v);
            } else {
                /* The header and, for a queue, its lane table. */
                size_t off = ((size_t)idx * 8) % hdr_area;
                memcpy(evil + off, &v, sizeof v);
            }
            break;
        }
        }
    }

    for (int i = nheld - 1; i >= 0; i--)
        ipm__shm_release(&held[i]);
    ipm__shm_pool_unref(pool);
    ipm__shm_ring_writer_free(&rw);
    if (evil_wake != NULL) shmdt(evil_wake);
    munmap(evil, fsize);
    (void)fsize0;
    ipm__shm_detach(&peer);
    if (q != NULL)
        ipm__shm_qmap_close(q);
    else
        ipm__shm_detach(&owner);
    return 0;
}
