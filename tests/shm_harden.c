/*
 * shm_harden.c — issue 10, shared memory: what a careless configuration or a
 * hostile process on the same host could do to the shm transports, each
 * pinned by a test that failed before the fix.
 *
 *  1. buffer_size beyond what /dev/shm holds, beyond the file size limit or
 *     beyond the host's memory is a status, and so is a full /dev/shm at
 *     allocation (never a SIGBUS, SIGXFSZ or the OOM killer later).
 *  2. A process scribbling over a live ring (zero record lengths, garbage
 *     positions, the wake flag) never hangs or kills the publisher; a 0644
 *     ring serves read-only subscribers of another user, who can neither
 *     write nor truncate it; a ring shrunk before attach is refused.
 *  3. A name created first by another user is refused by every type, with
 *     the owner named, unless allowed_owners admits that user.
 *  4. A corrupt record is a status once: the subscriber resynchronises, the
 *     receiver recreates its queue; a corrupt consumer position is refused
 *     by the sender instead of overwriting unread messages.
 *
 * The other-user cases run as uid/gid 65534 (nobody) in a forked child and
 * are skipped unless the test runs as root (CI does). The full-/dev/shm
 * case mounts a small private tmpfs over /dev/shm in a child's own mount
 * namespace (root only); the allocation failure is injected with a seccomp
 * filter (fallocate -> ENOSPC), which needs no privilege.
 */
#define _GNU_SOURCE
#include "ipm_test.h"

#include <ipm/plugin.h>
#include "shm_util.h"

#include "shm_common.h" /* the segment layout, to forge and scribble on it */

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#define SKIP 77

/* Run fn in a child (time limit 60 s); skip the test if it exits SKIP. */
static void run_child(int (*fn)(void *), void *arg, const char *what)
{
    int st = ipm_test_wait(ipm_test_fork(fn, arg), 60000);
    if (st == SKIP) {
        printf("shm_harden: %s: skipped (needs root: run as root, as CI does)\n", what);
        skip();
    }
    if (st != 0)
        fail_msg("%s: child %s %d", what,
                 st < 0     ? "timed out"
                 : st > 128 ? "killed by signal"
                            : "failed with",
                 st < 0     ? 60
                 : st > 128 ? st - 128
                            : st);
}

static bool become_nobody(void)
{
    /* Load the plugins while still root: the build tree may lie below a
     * directory that nobody cannot enter (a 0700 temporary directory). */
    static const char *const types[] = {"ShmPublisher", "ShmSubscriber", "ShmSender",
                                        "ShmReceiver"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const ipm_plugin *d;
        if (ipm_plugin_load(types[i], &d) != IPM_OK) return false;
    }
    return setgroups(0, NULL) == 0 && setresgid(NOBODY, NOBODY, NOBODY) == 0 &&
           setresuid(NOBODY, NOBODY, NOBODY) == 0;
}

#define CHILD_CHECK(cond, code)                                                          \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #cond,         \
                    ipm_last_error());                                                   \
            return (code);                                                               \
        }                                                                                \
    } while (0)

/* ------------------------------------------------- 1. resource limits */

/* The key's own range: far beyond any host is a configuration error. */
static void test_absurd_buffer_size(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "absurd");
    ipm_receiver *r;
    IPM_ASSERT_ERR(
        shm_t_open_receiver("ShmReceiver", name, "buffer_size=1099511627776", &r),
        IPM_ECONFIG, "buffer_size");
    assert_false(shm_t_exists(name, NULL));
}

/* In a private 4 MiB tmpfs over /dev/shm: a buffer larger than the free
 * space, and one larger than the host, are refused with the numbers; a
 * buffer that fits works, and a second one in what is left is refused. */
static int small_tmpfs_child(void *arg)
{
    (void)arg;
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0) return SKIP;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("ipm-test", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
              "size=4m,mode=1777") != 0)
        return SKIP;
    ipm_receiver *r, *r2;
    ipm_sender *p;
    CHILD_CHECK(shm_t_open_receiver("ShmReceiver", "big", "buffer_size=8Mi", &r) ==
                    IPM_ENOMEM,
                10);
    CHILD_CHECK(strstr(ipm_last_error(), "bytes are free") != NULL, 11);
    CHILD_CHECK(strstr(ipm_last_error(), "buffer_size") != NULL, 12);
    CHILD_CHECK(!shm_t_exists("big", NULL), 13);
    /* Beyond this host's memory (128 GiB is the key's maximum). */
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if ((uint64_t)pages * (uint64_t)psize < (64ull << 30)) {
        CHILD_CHECK(shm_t_open_sender("ShmPublisher", "huge", "buffer_size=128Gi", &p) ==
                        IPM_ECONFIG,
                    14);
        CHILD_CHECK(strstr(ipm_last_error(), "memory") != NULL, 15);
    }
    CHILD_CHECK(
        shm_t_open_receiver("ShmReceiver", "fits", "buffer_size=2Mi", &r) == IPM_OK, 16);
    /* 2 MiB + 4 KiB used of 4 MiB: another 2 MiB does not fit any more. */
    CHILD_CHECK(shm_t_open_receiver("ShmReceiver", "full", "buffer_size=2Mi", &r2) ==
                    IPM_ENOMEM,
                17);
    CHILD_CHECK(strstr(ipm_last_error(), "bytes are free") != NULL, 18);
    /* The one that fits is usable end to end, to its last page. */
    ipm_sender *s;
    CHILD_CHECK(shm_t_open_sender("ShmSender", "fits", NULL, &s) == IPM_OK, 19);
    static char big[900 * 1024];
    for (int i = 0; i < 20; i++) {
        CHILD_CHECK(ipm_send(s, big, sizeof big, 1000, "m") == IPM_OK, 20);
        ipm_message m;
        CHILD_CHECK(ipm_receive(r, &m, 1000) == IPM_OK && m.size == sizeof big, 21);
        ipm_message_release(&m);
    }
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    return 0;
}

static void test_buffer_beyond_free_space(void **state)
{
    (void)state;
    run_child(small_tmpfs_child, NULL, "private 4 MiB tmpfs");
}

/* Growing a file past RLIMIT_FSIZE raises SIGXFSZ, which kills by default:
 * the plugin must check first and answer with a status. */
static int fsize_child(void *arg)
{
    const char *name = arg;
    struct rlimit rl = {1 << 20, 1 << 20};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, 2);
    ipm_receiver *r;
    CHILD_CHECK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=4Mi", &r) ==
                    IPM_ENOMEM,
                10);
    CHILD_CHECK(strstr(ipm_last_error(), "RLIMIT_FSIZE") != NULL, 11);
    CHILD_CHECK(!shm_t_exists(name, NULL), 12);
    return 0;
}

static void test_file_size_limit(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "fsize");
    run_child(fsize_child, name, "RLIMIT_FSIZE");
}

/* /dev/shm filling up between the free-space check and the allocation: the
 * kernel's answer to fallocate is made ENOSPC by a seccomp filter. */
static int install_fallocate_enospc(void)
{
#if defined(__x86_64__)
    const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const unsigned arch = AUDIT_ARCH_AARCH64;
#else
    return -1;
#endif
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fallocate, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSPC & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static int enospc_child(void *arg)
{
    const char *name = arg;
    if (install_fallocate_enospc() != 0) return SKIP;
    ipm_receiver *r;
    ipm_sender *p;
    CHILD_CHECK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=64Ki", &r) ==
                    IPM_ENOMEM,
                10);
    CHILD_CHECK(strstr(ipm_last_error(), "posix_fallocate") != NULL, 11);
    CHILD_CHECK(strstr(ipm_last_error(), "buffer_size") != NULL, 12);
    CHILD_CHECK(shm_t_open_sender("ShmPublisher", name, "buffer_size=64Ki", &p) ==
                    IPM_ENOMEM,
                13);
    CHILD_CHECK(!shm_t_exists(name, NULL), 14);
    return 0;
}

static void test_full_shm_at_allocation(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "enospc");
    run_child(enospc_child, name, "fallocate ENOSPC");
}

/* ------------------------------------------- 2. hostile attached users */

typedef struct hostile_arg {
    const char *name;
    shm_t_pipe *up; /* publisher -> parent */
    shm_t_pipe *go; /* scribbler -> publisher */
} hostile_arg;

/* Publishes 300 000 messages of varying size while the ring is scribbled
 * on; each send must return IPM_OK, and quickly. */
static int busy_publisher(void *p)
{
    hostile_arg *a = p;
    ipm_sender *pub;
    CHILD_CHECK(shm_t_open_sender("ShmPublisher", a->name,
                                  "buffer_size=64Ki; permissions=0644", &pub) == IPM_OK,
                10);
    shm_t_put(a->up, 'p');
    CHILD_CHECK(shm_t_get(a->go, 10000) == 'h', 11); /* the scribbler runs */
    static char buf[3000];
    double worst = 0;
    for (unsigned i = 0; i < 300000; i++) {
        double t0 = ipm_test_now_ms();
        CHILD_CHECK(ipm_send(pub, buf, (size_t)i * 7919 % sizeof buf, 0, "t") == IPM_OK,
                    12);
        double dt = ipm_test_now_ms() - t0;
        if (dt > worst) worst = dt;
    }
    /* Generous: a send is a memcpy and at most one FUTEX_WAKE. */
    if (worst > 1000) {
        fprintf(stderr, "slowest send took %.1f ms\n", worst);
        return 13;
    }
    ipm_sender_destroy(pub);
    return 0;
}

/* As the owner's uid (the strongest attacker the file admits): zero record
 * lengths everywhere, garbage positions, the wake flag set, in a loop. */
static int scribbler(void *p)
{
    hostile_arg *a = p;
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", a->name);
    int fd = open(path, O_RDWR);
    CHILD_CHECK(fd >= 0, 20);
    struct stat st;
    CHILD_CHECK(fstat(fd, &st) == 0, 21);
    unsigned char *m =
        mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHILD_CHECK(m != MAP_FAILED, 22);
    ipm__shm_header *h = (ipm__shm_header *)m;
    ipm__shm_wake *w = shmat(h->wake_id, NULL, 0);
    if (w == (void *)-1) w = NULL; /* (a layout without one) */
    unsigned char *data = m + h->data_offset;
    uint64_t cap = h->capacity;
    unsigned seed = 1;
    for (bool told = false;; told = true) {
        for (uint64_t off = 0; off < cap; off += IPM_SHM_REC_ALIGN) {
            ipm__shm_rec *r = (ipm__shm_rec *)(data + off);
            r->len = (seed & 3) ? 0 : rand_r(&seed);
            r->type = (uint32_t)rand_r(&seed) % 4;
            r->size = (seed & 8) ? 0 : (uint64_t)-1;
        }
        atomic_store(&h->tail, (uint64_t)rand_r(&seed));
        atomic_store(&h->head, (uint64_t)rand_r(&seed) << 5);
        atomic_store(&h->pubver, (uint64_t)rand_r(&seed));
        if (w != NULL) atomic_store(&w->data_waiters, 1);
        if (!told) shm_t_put(a->go, 'h');
    }
}

/* A subscriber on the scribbled ring: every receive returns a status
 * within its timeout (plus slack); it never hangs or crashes. */
static int victim_subscriber(void *p)
{
    hostile_arg *a = p;
    ipm_receiver *r;
    CHILD_CHECK(shm_t_open_receiver("ShmSubscriber", a->name, "topics=", &r) == IPM_OK,
                30);
    for (int i = 0; i < 20000; i++) {
        ipm_message m;
        double t0 = ipm_test_now_ms();
        ipm_status st = ipm_receive(r, &m, 20);
        CHILD_CHECK(ipm_test_now_ms() - t0 < 2000, 31);
        if (st == IPM_OK) ipm_message_release(&m);
        if (st == IPM_ECONNECT) break; /* the publisher finished */
    }
    ipm_receiver_destroy(r);
    return 0;
}

static void test_hostile_writer_beside_publisher(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "scribble");
    shm_t_pipe up, go;
    shm_t_pipe_open(&up);
    shm_t_pipe_open(&go);
    hostile_arg a = {name, &up, &go};
    pid_t pub = ipm_test_fork(busy_publisher, &a);
    assert_int_equal(shm_t_get(&up, 10000), 'p');
    pid_t sub = ipm_test_fork(victim_subscriber, &a);
    pid_t bad = ipm_test_fork(scribbler, &a);
    int pst = ipm_test_wait(pub, 60000);
    kill(bad, SIGKILL);
    int bst = ipm_test_wait(bad, 10000);
    int sst = ipm_test_wait(sub, 30000);
    shm_t_pipe_close(&up);
    shm_t_pipe_close(&go);
    shm_t_unlink(name);
    if (pst != 0)
        fail_msg("publisher beside a scribbler: %s %d",
                 pst < 0 ? "hung (60 s)" : "exit/signal", pst);
    assert_int_equal(bst, 128 + SIGKILL); /* it scribbled until killed */
    if (sst != 0) fail_msg("subscriber on a scribbled ring: status %d", sst);
}

typedef struct other_arg {
    const char *name;
    shm_t_pipe *up, *down;
} other_arg;

/* As nobody: subscribe to root's 0644 ring (allowed_owners=0), read what
 * is published while asleep in a blocking receive; cannot write or
 * truncate it; without allowed_owners, root's ring is refused. */
static int nobody_subscriber(void *p)
{
    other_arg *a = p;
    if (!become_nobody()) return 2;
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", a->name);
    errno = 0;
    CHILD_CHECK(open(path, O_RDWR) < 0 && errno == EACCES, 3);
    CHILD_CHECK(truncate(path, 0) != 0 && errno == EACCES, 4);
    ipm_receiver *r;
    CHILD_CHECK(
        shm_t_open_receiver("ShmSubscriber", a->name, "topics=", &r) == IPM_ECONNECT, 5);
    CHILD_CHECK(strstr(ipm_last_error(), "uid 0") != NULL, 6);
    CHILD_CHECK(strstr(ipm_last_error(), "allowed_owners") != NULL, 7);
    CHILD_CHECK(shm_t_open_receiver("ShmSubscriber", a->name,
                                    "topics=; allowed_owners=root", &r) == IPM_OK,
                8);
    shm_t_put(a->up, 's');
    for (int i = 0; i < 50; i++) {
        ipm_message m;
        CHILD_CHECK(ipm_receive(r, &m, 10000) == IPM_OK, 9);
        char want[32];
        snprintf(want, sizeof want, "msg %d", i);
        CHILD_CHECK(m.size == strlen(want) && memcmp(m.data, want, m.size) == 0, 10);
        ipm_message_release(&m);
    }
    ipm_receiver_destroy(r);
    return 0;
}

static void test_readonly_subscriber_other_user(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("shm_harden: a second user needs root (CI runs as root); skipped\n");
        skip();
    }
    char name[96];
    ipm_test_unique(name, sizeof name, "ro");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, "permissions=0666", &pub));
    unsigned mode = 0;
    assert_true(shm_t_exists(name, &mode));
    assert_int_equal(mode, 0644); /* a ring is never writable by others */
    shm_t_pipe up, down;
    shm_t_pipe_open(&up);
    shm_t_pipe_open(&down);
    other_arg a = {name, &up, &down};
    pid_t c = ipm_test_fork(nobody_subscriber, &a);
    int ready = shm_t_get(&up, 20000);
    for (int i = 0; ready == 's' && i < 50; i++) {
        shm_t_sleep_ms(i % 10 == 0 ? 20 : 0); /* let it fall asleep now and then */
        char buf[32];
        int n = snprintf(buf, sizeof buf, "msg %d", i);
        IPM_ASSERT_OK(ipm_send(pub, buf, (size_t)n, 0, "t"));
    }
    int st = ipm_test_wait(c, 30000);
    ipm_sender_destroy(pub);
    shm_t_pipe_close(&up);
    shm_t_pipe_close(&down);
    if (st != 0) fail_msg("nobody's read-only subscriber: status %d", st);
}

/* nobody cannot shrink root's ring under a live publisher; a ring shrunk
 * before attach (by its owner's uid) is refused, never mapped past its end. */
static int nobody_truncates(void *p)
{
    const char *name = p;
    if (!become_nobody()) return 2;
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    errno = 0;
    CHILD_CHECK(truncate(path, 4096) != 0 && errno == EACCES, 3);
    int fd = open(path, O_RDONLY);
    CHILD_CHECK(fd >= 0, 4);
    CHILD_CHECK(ftruncate(fd, 4096) != 0, 5);
    close(fd);
    return 0;
}

static void test_truncation(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "trunc");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, "permissions=0644", &pub));
    if (geteuid() == 0) {
        int st = ipm_test_wait(ipm_test_fork(nobody_truncates, (void *)name), 30000);
        if (st != 0) fail_msg("nobody truncating root's ring: status %d", st);
    }
    char buf[100] = {0};
    for (int i = 0; i < 10000; i++)
        IPM_ASSERT_OK(ipm_send(pub, buf, sizeof buf, 0, "t"));
    /* The owner's uid shrinks it: a new subscriber refuses it. */
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    ipm_receiver *r;
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmSubscriber", name, "topics=", &r),
                   IPM_ECONNECT, "corrupt");
    assert_int_equal(truncate(path, sizeof(ipm__shm_header) / 2), 0);
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmSubscriber", name, "topics=", &r),
                   IPM_ECONNECT, "not an ipm shared-memory segment");
    /* The publisher itself is the documented exception (owner's uid
     * truncating after attach): it is not written to again here. */
    ipm_sender_destroy(pub);
}

/* ---------------------------------------------------- 3. name squatting */

/* A plausible segment of kind at path, "owned" by a live process (us),
 * then handed to uid/gid 65534 with mode 0666, as a squatter leaves it. */
static void squat(const char *path, uint32_t kind)
{
    /* Header page (a queue: then its lane table page), then the data area. */
    uint64_t cap = 4096, off = kind == IPM_SHM_KIND_QUEUE ? 8192 : 4096,
             total = off + cap;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)total), 0);
    ipm__shm_header h;
    memset(&h, 0, sizeof h);
    h.magic = IPM_SHM_MAGIC;
    h.version = IPM_SHM_VERSION;
    h.kind = kind;
    h.total_size = total;
    h.capacity = cap;
    h.max_message_size = 1024;
    h.data_offset = off;
    if (kind == IPM_SHM_KIND_QUEUE) {
        h.lanes = 1;
        h.lane_offset = IPM_SHM_LANE_OFFSET;
    }
    h.owner_pid = (int32_t)getpid();
    h.owner_start = 0;
    h.wake_id = -1;
    assert_int_equal(pwrite(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
    assert_int_equal(fchmod(fd, 0666), 0);
    assert_int_equal(fchown(fd, NOBODY, NOBODY), 0);
    close(fd);
}

static void test_name_squatting(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("shm_harden: squatting as another user needs root; skipped\n");
        skip();
    }
    char ring[96], queue[96], path[256];
    ipm_test_unique(ring, sizeof ring, "squatring");
    ipm_test_unique(queue, sizeof queue, "squatqueue");
    snprintf(path, sizeof path, "/dev/shm/%s", ring);
    squat(path, IPM_SHM_KIND_RING);
    snprintf(path, sizeof path, "/dev/shm/%s", queue);
    squat(path, IPM_SHM_KIND_QUEUE);

    ipm_receiver *r;
    ipm_sender *s;
    const char *why = "belongs to uid 65534";
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmSubscriber", ring, "topics=", &r),
                   IPM_ECONNECT, why);
    IPM_ASSERT_ERR(shm_t_open_sender("ShmSender", queue, NULL, &s), IPM_ECONNECT, why);
    IPM_ASSERT_ERR(shm_t_open_sender("ShmPublisher", ring, NULL, &s), IPM_ECONNECT, why);
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmReceiver", queue, NULL, &r), IPM_ECONNECT,
                   why);
    /* The key admits that user on purpose; the sender then attaches. */
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", queue, "allowed_owners=65534", &s));
    ipm_sender_destroy(s);
    /* The forged ring has no wake area of its owner: still refused. */
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmSubscriber", ring, "allowed_owners=65534", &r),
                   IPM_ECONNECT, "wake area");
    IPM_ASSERT_ERR(
        shm_t_open_receiver("ShmSubscriber", ring, "allowed_owners=no-such-user", &r),
        IPM_ECONFIG, "allowed_owners");
    /* Refusing never removes the other user's files. */
    assert_true(shm_t_exists(ring, NULL));
    assert_true(shm_t_exists(queue, NULL));
    shm_t_unlink(ring);
    shm_t_unlink(queue);
}

/* A FIFO planted under the name must not hang an attach (a read-only open
 * of a FIFO blocks until a writer comes). */
static int fifo_child(void *arg)
{
    const char *name = arg;
    alarm(10);
    ipm_receiver *r;
    CHILD_CHECK(shm_t_open_receiver("ShmSubscriber", name, "topics=", &r) == IPM_ECONNECT,
                10);
    return 0;
}

static void test_fifo_under_the_name(void **state)
{
    (void)state;
    char name[96], path[256];
    ipm_test_unique(name, sizeof name, "fifo");
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    assert_int_equal(mkfifo(path, 0600), 0);
    int st = ipm_test_wait(ipm_test_fork(fifo_child, name), 30000);
    unlink(path);
    if (st != 0) fail_msg("subscriber on a FIFO: status %d", st);
}

/* ------------------------------------------------- 4. corrupt records */

static unsigned char *map_rw(const char *name, size_t *size)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    *size = (size_t)st.st_size;
    void *m = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(m != MAP_FAILED);
    return m;
}

static void test_ring_corrupt_record_resyncs(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "ringcorrupt");
    ipm_sender *pub;
    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, "buffer_size=64Ki", &pub));
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, "topics=", &r));
    for (int i = 0; i < 10; i++)
        IPM_ASSERT_OK(ipm_send(pub, "old", 3, 0, "t"));
    size_t size;
    unsigned char *m = map_rw(name, &size);
    ipm__shm_header *h = (ipm__shm_header *)m;
    memset(m + h->data_offset, 0, 4096); /* every record header zeroed */
    ipm_message msg;
    IPM_ASSERT_ERR(ipm_receive(r, &msg, 0), IPM_ESYS, "corrupt record");
    /* Once: then it reads on from the publisher's head. */
    IPM_ASSERT_ERR(ipm_receive(r, &msg, 50), IPM_ETIMEDOUT, "no message");
    for (int i = 0; i < 5; i++)
        IPM_ASSERT_OK(ipm_send(pub, "new", 3, 0, "t"));
    for (int i = 0; i < 5; i++) {
        IPM_ASSERT_OK(ipm_receive(r, &msg, 1000));
        assert_memory_equal(msg.data, "new", 3);
        ipm_message_release(&msg);
    }
    ipm_stats st;
    ipm_receiver_stats(r, &st);
    assert_int_equal(st.dropped, 10); /* the ten lost to the corruption */
    munmap(m, size);
    ipm_receiver_destroy(r);
    ipm_sender_destroy(pub);
}

static void test_queue_corrupt_record_recreates(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "queuecorrupt");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=64Ki", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    for (int i = 0; i < 3; i++)
        IPM_ASSERT_OK(ipm_send(s, "lost", 4, 1000, "m"));
    size_t size;
    unsigned char *m = map_rw(name, &size);
    ipm__shm_header *h = (ipm__shm_header *)m;
    memset(m + h->data_offset, 0, sizeof(ipm__shm_rec));
    munmap(m, size);
    ipm_message msg;
    IPM_ASSERT_ERR(ipm_receive(r, &msg, 0), IPM_ESYS, "recreated");
    /* Not wedged: the sender is told, re-attaches, and delivery resumes. */
    IPM_ASSERT_ERR(ipm_send(s, "x", 1, 1000, "m"), IPM_ECONNECT, "closed");
    IPM_ASSERT_OK(ipm_send(s, "again", 5, 1000, "m"));
    IPM_ASSERT_OK(ipm_receive(r, &msg, 1000));
    assert_int_equal(msg.size, 5);
    assert_memory_equal(msg.data, "again", 5);
    ipm_message_release(&msg);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
    assert_false(shm_t_exists(name, NULL));
}

/* A consumer position that is not a record boundary (here just behind the
 * sender's head) would let it overwrite unread messages: refused with a
 * status instead. */
static void test_queue_bad_consumer_position(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "consumed");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "buffer_size=16Ki", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    char buf[1000] = {0};
    ipm_status st;
    int sent = 0;
    while ((st = ipm_send(s, buf, sizeof buf, 0, "m")) == IPM_OK)
        sent++;
    assert_int_equal(st, IPM_ETIMEDOUT); /* full */
    size_t size;
    unsigned char *m = map_rw(name, &size);
    ipm__shm_lane *lane0 = (ipm__shm_lane *)(m + IPM_SHM_LANE_OFFSET);
    atomic_store(&lane0->consumed, atomic_load(&lane0->head) - 16);
    IPM_ASSERT_ERR(ipm_send(s, buf, sizeof buf, 100, "m"), IPM_ESYS, "corrupt");
    munmap(m, size);
    /* What was queued is intact. */
    for (int i = 0; i < sent; i++) {
        ipm_message msg;
        IPM_ASSERT_OK(ipm_receive(r, &msg, 1000));
        assert_int_equal(msg.size, sizeof buf);
        ipm_message_release(&msg);
    }
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* The lane mask the senders set (header line 5) is written by anyone who
 * may write the queue: cleared, a lane the receiver has seen still
 * delivers; all ones, the receiver still visits only its own lanes. */
static void test_queue_hostile_lane_mask(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "lanemask");
    ipm_receiver *r;
    ipm_sender *s;
    IPM_ASSERT_OK(
        shm_t_open_receiver("ShmReceiver", name, "buffer_size=16Ki; max_senders=4", &r));
    IPM_ASSERT_OK(shm_t_open_sender("ShmSender", name, NULL, &s));
    ipm_message msg;
    IPM_ASSERT_OK(ipm_send(s, "a", 1, 1000, "m"));
    IPM_ASSERT_OK(ipm_receive(r, &msg, 1000));
    ipm_message_release(&msg);
    size_t size;
    unsigned char *m = map_rw(name, &size);
    ipm__shm_header *h = (ipm__shm_header *)m;
    assert_int_equal(atomic_load(&h->lanes_used), 1);
    atomic_store(&h->lanes_used, 0);
    IPM_ASSERT_OK(ipm_send(s, "b", 1, 1000, "m"));
    IPM_ASSERT_OK(ipm_receive(r, &msg, 1000));
    assert_memory_equal(msg.data, "b", 1);
    ipm_message_release(&msg);
    atomic_store(&h->lanes_used, ~(uint64_t)0);
    IPM_ASSERT_ERR(ipm_receive(r, &msg, 20), IPM_ETIMEDOUT, "no message");
    IPM_ASSERT_OK(ipm_send(s, "c", 1, 1000, "m"));
    IPM_ASSERT_OK(ipm_receive(r, &msg, 1000));
    assert_memory_equal(msg.data, "c", 1);
    ipm_message_release(&msg);
    munmap(m, size);
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absurd_buffer_size),
        cmocka_unit_test(test_buffer_beyond_free_space),
        cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_full_shm_at_allocation),
        cmocka_unit_test(test_hostile_writer_beside_publisher),
        cmocka_unit_test(test_readonly_subscriber_other_user),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_name_squatting),
        cmocka_unit_test(test_fifo_under_the_name),
        cmocka_unit_test(test_ring_corrupt_record_resyncs),
        cmocka_unit_test(test_queue_corrupt_record_recreates),
        cmocka_unit_test(test_queue_bad_consumer_position),
        cmocka_unit_test(test_queue_hostile_lane_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
