/*
 * shm_common.h — what the four shared-memory plugins (ShmPublisher,
 * ShmSubscriber, ShmSender, ShmReceiver) share: the segment layout in
 * /dev/shm, creating/reclaiming/attaching/validating segments, owner liveness,
 * futex wait/wake with an optional spin phase, the /dev/shm watch used while
 * no owner exists, and the buffers handed out by receive.
 *
 * Each plugin .so links its own copy of these (hidden) functions; the shared
 * memory itself is the only thing the processes share. docs/shm.md describes
 * the layout and the crash semantics for users.
 *
 * Memory ordering: every word that two processes touch is a C11 atomic in the
 * segment. The data bytes themselves are plain memory, published by a release
 * store of a position and read after an acquire load of it (queue), or read
 * optimistically and validated afterwards, seqlock style (broadcast ring).
 */
#ifndef IPM_SHM_COMMON_H
#define IPM_SHM_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ipm/plugin.h>

#define IPM_SHM_MAGIC 0x00004D48534D5049ull /* "IPMSHM\0\0" in memory order */
#define IPM_SHM_VERSION 5u                  /* bump on any layout change */
#define IPM_SHM_LINE 64                     /* cache line: producer/consumer split */
#define IPM_SHM_REC_ALIGN 32u               /* records start on 32-byte boundaries */
#define IPM_SHM_MAX_METADATA 255u           /* bytes of topic/metadata, without NUL */
#define IPM_SHM_DEFAULT_MAX_MESSAGE (1ull << 20) /* max_message_size if not set */

/* The limits a Shm type states in its descriptor (before connect: the
 * defaults); each type's limits op refines max_message_size from its keys. */
#define IPM_SHM_LIMITS(features)                                                         \
    {                                                                                    \
        IPM_SHM_DEFAULT_MAX_MESSAGE, IPM_SHM_MAX_METADATA,                               \
            IPM_FEATURE_CROSS_PROCESS | (features), 0                                    \
    }
#define IPM_SHM_NAME_MAX 200                      /* NAME of shm://NAME */
#define IPM_SHM_LIVENESS_NS (100 * 1000 * 1000ll) /* bounded sleeps, owner checks */
#define IPM_SHM_MAX_BUFFER (1ull << 37) /* 128 GiB: larger is refused as absurd */
#define IPM_SHM_MAX_OWNERS 16           /* entries of allowed_owners */
#define IPM_SHM_WAKE_MAGIC 0x454B41574D485349ull /* "ISHMWAKE" in memory order */
#define IPM_SHM_MAX_LANES 64     /* max_senders: sender lanes of a queue */
#define IPM_SHM_DEFAULT_LANES 16 /* max_senders if not set */

enum { IPM_SHM_KIND_RING = 1, IPM_SHM_KIND_QUEUE = 2 };
enum { IPM_SHM_REC_MSG = 1, IPM_SHM_REC_PAD = 2 };

/* A claim on a role in a segment: one sender lane of a queue. One word,
 * so that taking a claim is one compare-and-swap of the whole identity:
 * pid in the low 22 bits (Linux's pid_max is at most 2^22), the start time
 * (/proc/<pid>/stat field 22) above. 0 = free. A claim whose process is
 * dead (pid gone, zombie, or pid reused: start time differs) may be taken
 * over. */
typedef struct ipm__shm_claim {
    _Atomic uint64_t word;
    unsigned char pad_[IPM_SHM_LINE - 8];
} ipm__shm_claim;
#define IPM_SHM_CLAIM_PID_BITS 22

/*
 * One sender lane of a queue (ShmSender/ShmReceiver): a single-producer,
 * single-consumer byte ring of `capacity` bytes at data_offset + i *
 * capacity, and these control lines in the header area. Each ShmSender
 * claims a free (or dead) lane, so senders never share anything they write
 * on every message: a sender killed at any point leaves only its own lane
 * behind, in a state whose published prefix is whole messages.
 *
 * Who writes what: the sender writes claim, head, space_word/waiters/need
 * and its records; the receiver writes consumed (and wakes via space_word).
 * Each side validates what it reads from the other (shm_queue.c).
 */
typedef struct ipm__shm_lane {
    ipm__shm_claim claim;  /* line 0: the lane's sender */
    _Atomic uint64_t head; /* line 1: byte position after the last whole record */
    unsigned char pad1_[IPM_SHM_LINE - 8];
    _Atomic uint64_t consumed; /* line 2: released prefix (receiver) */
    unsigned char pad2_[IPM_SHM_LINE - 8];
    _Atomic uint32_t space_word;    /* line 3: futex, bumped to wake the sender */
    _Atomic uint32_t space_waiters; /* 1: the sender sleeps on a full lane */
    _Atomic uint64_t space_need;    /* wake it once consumed reaches this */
    unsigned char pad3_[IPM_SHM_LINE - 16];
} ipm__shm_lane;

/*
 * The segment header, at offset 0 of the file. Lines are separated so that
 * the writer's hot words, the readers' hot words and the rarely written words
 * never share a cache line.
 *
 * Who writes what. A ring file (ShmPublisher) is written by its owner only:
 * it is never writable by group or others, subscribers map it read-only,
 * and the publisher never reads back from it anything it depends on (its
 * positions and record lengths live in private memory, shm_ring.h). The one
 * word subscribers write, "I am about to sleep", lives in a separate wake
 * area (ipm__shm_wake) that the publisher only tests and clears. A queue
 * file (ShmReceiver) is written by both ends; each validates and bounds
 * whatever it reads from the other (shm_queue.c); the sender lanes follow
 * the header (ipm__shm_lane).
 */
typedef struct ipm__shm_header {
    /* line 0: written once by the creator before the file gets its name */
    uint64_t magic;
    uint32_t version;
    uint32_t kind;
    uint64_t total_size;       /* bytes of the file */
    uint64_t capacity;         /* data area bytes, a power of two */
    uint64_t max_message_size; /* largest payload accepted */
    uint64_t data_offset;      /* from the start of the file */
    int32_t owner_pid;         /* creator: the publisher or the receiver */
    int32_t wake_id;           /* ring: SysV shm id of the wake area; queue: -1 */
    uint64_t owner_start;      /* creator's start time, detects pid reuse */

    /* line 1: owner status, written at most twice */
    _Atomic uint32_t closed; /* 1: the owner left (cleanly or replaced) */
    unsigned char pad1_[IPM_SHM_LINE - 4];

    /* line 2: written by the producer on every message */
    _Atomic uint64_t head;      /* byte position after the last whole record */
    _Atomic uint64_t tail;      /* ring: oldest intact record position */
    _Atomic uint64_t pubver;    /* ring: 2 x messages published, odd while
                                   writing (seqlock for attach snapshots) */
    _Atomic uint32_t data_word; /* ring: futex, bumped when a reader sleeps */
    unsigned char pad2_[IPM_SHM_LINE - 28];

    /* line 3 (queue only; a ring's is in its wake area): 1 when the
     * receiver sleeps (or is about to), and the futex word it sleeps on.
     * A sender exchanges it back to 0 and wakes everyone, so a burst of
     * messages costs one FUTEX_WAKE, and a receiver that crashed asleep
     * costs at most one. */
    _Atomic uint32_t data_waiters;
    unsigned char pad3_[IPM_SHM_LINE - 4];

    /* line 4 (queue only): written once by the creator */
    uint32_t lanes; /* sender lanes (max_senders), 1..IPM_SHM_MAX_LANES */
    uint32_t reserved4;
    uint64_t lane_offset; /* ipm__shm_lane[lanes] from the start of the file */
    unsigned char pad4_[IPM_SHM_LINE - 16];

    /* line 5 (queue only): bit i set by the first sender that takes lane i,
     * never cleared, so that the receiver visits only lanes a sender ever
     * wrote instead of all max_senders of them on every receive. */
    _Atomic uint64_t lanes_used;
    unsigned char pad5_[IPM_SHM_LINE - 8];
} ipm__shm_header;
_Static_assert(sizeof(ipm__shm_header) <= 4096, "the lane table starts at 4096");

/*
 * The wake area of a ring: a SysV shared-memory segment of one page, made by
 * the publisher (IPC_PRIVATE, marked for removal at once, so the kernel frees
 * it with the last process detaching, crash or not) and named by wake_id in
 * the ring header. Unlike a file it cannot be truncated by those who may
 * write it: subscribers, including read-only ones of a 0644 ring, may
 * write it, so whatever they write costs the publisher at most a FUTEX_WAKE
 * per message, never a hang or a SIGBUS.
 */
typedef struct ipm__shm_wake {
    uint64_t magic;    /* IPM_SHM_WAKE_MAGIC, written by the creator */
    int32_t owner_pid; /* the publisher */
    uint32_t reserved;
    unsigned char pad0_[IPM_SHM_LINE - 16];
    _Atomic uint32_t data_waiters; /* as the queue's, for the ring */
    unsigned char pad1_[IPM_SHM_LINE - 4];
} ipm__shm_wake;
#define IPM_SHM_WAKE_SIZE 4096u

/* Every record in the data area starts with this, 32-byte aligned. A record
 * is never split at the end of the area: a PAD record fills the rest (or,
 * for a buffer lent and given up, the lent span; shm_queue.c). */
typedef struct ipm__shm_rec {
    uint64_t seq;  /* message number from 0; for PAD, the next message's */
    uint64_t size; /* payload bytes */
    uint64_t len;  /* whole record bytes, multiple of IPM_SHM_REC_ALIGN */
    uint32_t meta_size;
    uint32_t type; /* IPM_SHM_REC_MSG or IPM_SHM_REC_PAD */
} ipm__shm_rec;
/* then the payload (32-byte aligned, where a loan lends it), then the
 * metadata and its NUL */

/* Users whose segments an attaching process accepts besides its own
 * effective uid (key allowed_owners). */
typedef struct ipm__shm_owners {
    int n;
    uid_t uid[IPM_SHM_MAX_OWNERS];
} ipm__shm_owners;

/* Settings from the connection parameters. */
typedef struct ipm__shm_config {
    char name[IPM_SHM_NAME_MAX + 1];
    char endpoint[IPM_SHM_NAME_MAX + 8];
    uint64_t capacity;         /* buffer_size rounded up to a power of two */
    uint64_t max_message_size; /* payload limit */
    int64_t spin_ns;           /* spin_us in ns */
    unsigned mode;             /* permissions for creators */
    uint32_t lanes;            /* max_senders (queue creators) */
    ipm__shm_owners owners;    /* allowed_owners, for attachers */
} ipm__shm_config;

/* A mapped segment, private to one process. */
typedef struct ipm__shm_seg {
    int fd;
    size_t size;
    ipm__shm_header *hdr;
    unsigned char *data;
    uint64_t cap;
    uint64_t max_message_size;
    ipm__shm_wake *wake; /* ring: the wake area (attached); queue: NULL */
    ipm__shm_lane *lane; /* queue: the lanes; ring: NULL */
    uint32_t lanes;      /* queue: number of lanes */
    dev_t dev;
    ino_t ino;
    bool owner; /* this process created it */
    char name[IPM_SHM_NAME_MAX + 1];
} ipm__shm_seg;

/* ------------------------------------------------------------ params */

/* Parse connection_string (or, when allow_list, the first of
 * connection_strings; the caller handles the rest with ipm__shm_parse_name),
 * buffer_size, max_message_size, spin_us, permissions, allowed_owners. type
 * names the plugin in messages. IPM_ECONFIG / IPM_ECONNECT with the key or
 * endpoint named. */
ipm_status ipm__shm_parse_config(const ipm_params *p, const char *type,
                                 const char *endpoint, ipm__shm_config *out);

/* Check "shm://NAME" and copy NAME to name (IPM_SHM_NAME_MAX + 1 bytes). */
ipm_status ipm__shm_parse_name(const char *endpoint, const char *type, char *name);

/* Bytes of a record holding meta_size + size bytes of content. */
static inline uint64_t ipm__shm_rec_len(size_t meta_size, size_t size)
{
    uint64_t n = sizeof(ipm__shm_rec) + (uint64_t)meta_size + 1 + (uint64_t)size;
    return (n + IPM_SHM_REC_ALIGN - 1) & ~(uint64_t)(IPM_SHM_REC_ALIGN - 1);
}

/* Size of the whole segment file for a kind, capacity and (queue) lanes;
 * the data area starts at ipm__shm_data_offset. */
uint64_t ipm__shm_segment_size(uint32_t kind, uint64_t capacity, uint32_t lanes);
uint64_t ipm__shm_data_offset(uint32_t kind, uint32_t lanes);
/* Offset of the lane array of a queue. */
#define IPM_SHM_LANE_OFFSET 4096u

/* Lane i's data area (queue). */
static inline unsigned char *ipm__shm_lane_data(const ipm__shm_seg *s, uint32_t i)
{
    return s->data + (uint64_t)i * s->cap;
}

/* ---------------------------------------------------------- segments */

/*
 * Create segment NAME as owner (publisher or receiver), kind as given.
 * The file is built unnamed (O_TMPFILE) and linked to /dev/shm/NAME only when
 * complete, so nobody ever attaches to a half-built segment. Its blocks are
 * allocated first (posix_fallocate), after checking the tmpfs's free space
 * and RLIMIT_FSIZE: a full /dev/shm is IPM_ENOMEM now, never a SIGBUS later.
 * An existing segment of ours whose owner is dead or gone is reclaimed: it
 * is marked closed (its waiters are woken) and replaced. A live owner,
 * another user's file, a foreign or corrupt file, or another layout version
 * is refused with IPM_ECONNECT and a message.
 */
ipm_status ipm__shm_create(const ipm__shm_config *c, uint32_t kind, const char *type,
                           ipm__shm_seg *out);

/*
 * Attach to /dev/shm/NAME as a non-owner: a ring read-only (and its wake
 * area), a queue read-write. The file must belong to this process's
 * effective uid or to one in allowed (NULL: none). Returns IPM_OK,
 * IPM_ETIMEDOUT when there is no such file or it belongs to a dead/closed
 * owner (nothing to attach to yet: a message is set but callers usually
 * wait and retry), or IPM_ECONNECT for another user's, a foreign, corrupt,
 * wrong-version or wrong-kind file.
 */
ipm_status ipm__shm_attach(const char *name, uint32_t kind, const char *type,
                           const ipm__shm_owners *allowed, ipm__shm_seg *out);

/* Unmap and close. An owner first marks the segment closed, wakes every
 * sleeper, and removes the name if it still refers to this segment. */
void ipm__shm_detach(ipm__shm_seg *s);
/* The owner's half of detach: closed, woken, name removed; the mapping
 * stays (messages handed out in place may still point into it). */
void ipm__shm_close_name(ipm__shm_seg *s);
/* The other half: unmap and close, without touching the segment. */
void ipm__shm_unmap(ipm__shm_seg *s);
/* A sender taking lane i: allocate its blocks (posix_fallocate; the
 * receiver allocated only lane 0) and pre-fault them. IPM_ENOMEM with a
 * message if /dev/shm is full. */
ipm_status ipm__shm_lane_allocate(const ipm__shm_seg *s, uint32_t i, const char *type);

/* The owner of s died: remove /dev/shm/NAME now if it still refers to s and
 * the owner is still dead (under the same lock as a reclaiming creator), so
 * that a crash leaves no file behind even if no new owner ever comes. The
 * memory is freed by the kernel when the last process unmaps it. */
void ipm__shm_remove_if_dead(const ipm__shm_seg *s, const char *type);

/* True if the owner of s is alive and has not closed it. */
bool ipm__shm_owner_alive(const ipm__shm_seg *s);

/* ---------------------------------------------------------- liveness */

/* Start time of this process (field 22 of /proc/self/stat), cached per pid. */
uint64_t ipm__shm_self_start(void);

/* False if pid is gone, a zombie, or (start != 0) a different process. */
bool ipm__shm_alive(int32_t pid, uint64_t start);

/* Claim a free or dead claim for this process. */
bool ipm__shm_claim_take(ipm__shm_claim *c);
/* The pid of a claim word (0: free). */
static inline int32_t ipm__shm_claim_pid(uint64_t word)
{
    return (int32_t)(word & ((1u << IPM_SHM_CLAIM_PID_BITS) - 1));
}

/* Give a claim back. */
void ipm__shm_claim_drop(ipm__shm_claim *c);

/* ------------------------------------------------------------- waits */

/* Sleep while *word == expected, at most timeout_ns (< 0: forever). Returns
 * when woken, on mismatch, on timeout or signal; the caller re-checks. True
 * if woken by a FUTEX_WAKE or the word did not hold expected; false on a
 * timeout, a signal or timeout_ns == 0. */
bool ipm__shm_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);

/* Wake every sleeper on word; returns how many were woken. */
int ipm__shm_futex_wake(_Atomic uint32_t *word);

/* Sleep until any words[i] != expected[i] or timeout_ns passes (n <= 128).
 * Uses futex_waitv; falls back to waiting on the first word only. */
void ipm__shm_futex_waitv(_Atomic uint32_t *const *words, const uint32_t *expected, int n,
                          int64_t timeout_ns);

#if defined(__SANITIZE_THREAD__)
#define IPM_SHM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IPM_SHM_TSAN 1
#endif
#endif

/* A memory fence. ThreadSanitizer does not support atomic_thread_fence;
 * there a locked no-op RMW gives the same (stronger) ordering. */
#ifdef IPM_SHM_TSAN
#define ipm__shm_fence(order)                                                            \
    do {                                                                                 \
        static _Atomic int ipm__shm_fence_word_;                                         \
        atomic_fetch_add_explicit(&ipm__shm_fence_word_, 0, memory_order_seq_cst);       \
    } while (0)
#else
#define ipm__shm_fence(order) atomic_thread_fence(order)
#endif

/* Spin-pause hint for busy waits. */
static inline void ipm__shm_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* Time left until deadline (ns; -1 none), clamped to [0, cap]; -1 if none
 * and cap < 0. */
int64_t ipm__shm_wait_ns(int64_t deadline, int64_t cap);

/*
 * Wait for a change in /dev/shm (a segment being created or replaced), at
 * most timeout_ns (< 0: forever). *fd holds an inotify descriptor created on
 * first use (-1 before); the caller closes it. Always arm (timeout 0) before
 * checking for the segment, then wait, so that no creation is missed.
 * Returns true if something changed (or on first use, or without inotify).
 */
bool ipm__shm_watch_wait(int *fd, int64_t timeout_ns);

/* --------------------------------------------------------- messages */

/*
 * Buffers handed out by receive. A pool keeps one spare buffer so that a
 * receive/release loop does not allocate; pool and buffers are reference
 * counted, so release works after the receiver is destroyed and from any
 * thread. msg->opaque_[0] holds the buffer.
 */
typedef struct ipm__shm_pool ipm__shm_pool;
ipm__shm_pool *ipm__shm_pool_new(void);
void ipm__shm_pool_unref(ipm__shm_pool *p); /* NULL-safe */

/* A buffer with room for size + meta_size + 1 bytes; *data and *meta point
 * into it. NULL on allocation failure. */
void *ipm__shm_buf_get(ipm__shm_pool *p, uint64_t size, uint32_t meta_size,
                       unsigned char **data, char **meta);
/* Give back a buffer unused (e.g. its copy turned out torn). */
void ipm__shm_buf_put(void *buf);
/* Fill msg from buf (data first, then metadata with its NUL). */
void ipm__shm_buf_fill(void *buf, ipm_message *msg, uint64_t size, uint32_t meta_size);
/* The release operation of the receivers: pool buffers, and messages
 * handed out in place by the queue (opaque_[1] tagged; shm_queue.c). */
void ipm__shm_release(ipm_message *msg);

/* Copies out of / into the shared data area (n may be 0). A ring reader's
 * copy may race with the writer by design (seqlock: validated afterwards).
 * Plain memcpy, except under ThreadSanitizer. */
void ipm__shm_copy_out(void *dst, const void *src, size_t n);
void ipm__shm_copy_in(void *dst, const void *src, size_t n);

#endif /* IPM_SHM_COMMON_H */
