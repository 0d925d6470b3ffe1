/*
 * shm_segment.c — segments in /dev/shm: connection parameters, creating a
 * segment atomically (O_TMPFILE + linkat), reclaiming one whose owner died,
 * attaching and validating, removing the name when the owner leaves, and the
 * pid + start-time liveness test behind all of it.
 *
 * Why link an unnamed file instead of shm_open(O_CREAT|O_EXCL): attachers
 * then never see a half-initialised segment, so a bad magic always means a
 * foreign or corrupt file, never "too early". linkat() never replaces or
 * follows an existing name, so it is as exclusive as O_EXCL|O_NOFOLLOW.
 * Changes of the name (link, unlink on reclaim, unlink on close) happen under
 * flock() of the existing file so that a reclaiming publisher and a leaving
 * one never remove each other's segment.
 *
 * Trust: a name in /dev/shm can be created by anyone first (the directory
 * is world-writable), so both attaching and reclaiming check that the file
 * belongs to us (or, for attachers, to a user of allowed_owners) before
 * reading a byte of it.
 */
#define _GNU_SOURCE
#include "shm_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"
#define DEFAULT_BUFFER_SIZE (8ull << 20)

/* ------------------------------------------------------------ params */

ipm_status ipm__shm_parse_name(const char *endpoint, const char *type, char *name)
{
    static const char scheme[] = "shm://";
    if (endpoint == NULL || strncmp(endpoint, scheme, sizeof scheme - 1) != 0)
        return ipm_set_error(IPM_ECONNECT,
                             "%s: endpoint '%s' is not of the form shm://NAME", type,
                             endpoint ? endpoint : "(none)");
    const char *n = endpoint + sizeof scheme - 1;
    size_t len = strlen(n);
    if (len == 0 || len > IPM_SHM_NAME_MAX || n[0] == '.')
        return ipm_set_error(IPM_ECONNECT,
                             "%s: endpoint '%s': NAME must be 1 to %d characters and not "
                             "start with '.'",
                             type, endpoint, IPM_SHM_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return ipm_set_error(IPM_ECONNECT,
                                 "%s: endpoint '%s': NAME may hold only letters, digits, "
                                 "'.', '_' and '-' (it names /dev/shm/NAME)",
                                 type, endpoint);
    }
    memcpy(name, n, len + 1);
    return IPM_OK;
}

/* allowed_owners: comma-separated user names or numeric uids. */
static ipm_status parse_owners(const ipm_params *p, const char *type,
                               ipm__shm_config *out)
{
    const char *list = ipm_params_get_str(p, "allowed_owners", "");
    char copy[1024];
    if (strlen(list) >= sizeof copy)
        return ipm_set_error(IPM_ECONFIG, "%s %s: allowed_owners is too long", type,
                             out->endpoint);
    snprintf(copy, sizeof copy, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        if (out->owners.n == IPM_SHM_MAX_OWNERS)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s %s: allowed_owners holds more than %d users", type,
                                 out->endpoint, IPM_SHM_MAX_OWNERS);
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(tok, &end, 10);
        uid_t uid;
        if (tok[0] >= '0' && tok[0] <= '9' && errno == 0 && *end == '\0' &&
            v < (unsigned long)(uid_t)-1) {
            uid = (uid_t)v;
        } else {
            struct passwd pw, *res = NULL;
            char buf[4096];
            if (getpwnam_r(tok, &pw, buf, sizeof buf, &res) != 0 || res == NULL)
                return ipm_set_error(IPM_ECONFIG,
                                     "%s %s: allowed_owners: '%s' is neither a uid nor a "
                                     "known user name",
                                     type, out->endpoint, tok);
            uid = pw.pw_uid;
        }
        out->owners.uid[out->owners.n++] = uid;
    }
    return IPM_OK;
}

static uint64_t round_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

ipm_status ipm__shm_parse_config(const ipm_params *p, const char *type,
                                 const char *endpoint, ipm__shm_config *out)
{
    memset(out, 0, sizeof *out);
    ipm_status st = ipm__shm_parse_name(endpoint, type, out->name);
    if (st != IPM_OK) return st;
    snprintf(out->endpoint, sizeof out->endpoint, "shm://%s", out->name);

    uint64_t buf;
    st = ipm_params_get_size(p, "buffer_size", DEFAULT_BUFFER_SIZE, 4096,
                             IPM_SHM_MAX_BUFFER, &buf);
    if (st != IPM_OK) return st;
    out->capacity = round_pow2(buf);

    /* A record must fit in half the ring so that wrapping (pad + record)
     * always fits; see ipm__shm_rec_len. */
    uint64_t overhead = ipm__shm_rec_len(IPM_SHM_MAX_METADATA, 0);
    uint64_t limit = out->capacity / 2 - overhead;
    uint64_t def =
        IPM_SHM_DEFAULT_MAX_MESSAGE < limit ? IPM_SHM_DEFAULT_MAX_MESSAGE : limit;
    uint64_t max;
    st = ipm_params_get_size(p, "max_message_size", def, 0, UINT64_MAX / 4, &max);
    if (st != IPM_OK) return st;
    if (max > limit)
        return ipm_set_error(IPM_ECONFIG,
                             "%s %s: max_message_size=%llu needs buffer_size of at least "
                             "%llu (2 x (max_message_size + %llu bytes of record "
                             "overhead)); buffer_size is %llu",
                             type, out->endpoint, (unsigned long long)max,
                             (unsigned long long)(2 * (max + overhead)),
                             (unsigned long long)overhead,
                             (unsigned long long)out->capacity);
    out->max_message_size = max;

    long long spin;
    st = ipm_params_get_int(p, "spin_us", 0, 0, 10 * 1000 * 1000, &spin);
    if (st != IPM_OK) return st;
    out->spin_ns = (int64_t)spin * 1000;

    long long lanes;
    st = ipm_params_get_int(p, "max_senders", IPM_SHM_DEFAULT_LANES, 1, IPM_SHM_MAX_LANES,
                            &lanes);
    if (st != IPM_OK) return st;
    out->lanes = (uint32_t)lanes;

    /* The rule of every family's key: the owner reads and writes. */
    st = ipm_params_get_mode(p, "permissions", 0600, 0600, &out->mode);
    if (st != IPM_OK) {
        ipm_prefix_error("%s %s", type, out->endpoint);
        return st;
    }
    return parse_owners(p, type, out);
}

uint64_t ipm__shm_data_offset(uint32_t kind, uint32_t lanes)
{
    uint64_t end = kind == IPM_SHM_KIND_QUEUE
                       ? IPM_SHM_LANE_OFFSET + (uint64_t)lanes * sizeof(ipm__shm_lane)
                       : sizeof(ipm__shm_header);
    return (end + 4095) & ~(uint64_t)4095;
}

uint64_t ipm__shm_segment_size(uint32_t kind, uint64_t capacity, uint32_t lanes)
{
    if (kind != IPM_SHM_KIND_QUEUE) lanes = 1;
    return ipm__shm_data_offset(kind, lanes) + (uint64_t)lanes * capacity;
}

/* ---------------------------------------------------------- liveness */

/* Field 3 (state) and field 22 (starttime) of /proc/<pid>/stat. */
static bool read_stat(const char *path, char *state, uint64_t *start)
{
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')': skip to the last. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ') return false;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL) return false;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return true;
}

uint64_t ipm__shm_self_start(void)
{
    static _Atomic int32_t cached_pid;
    static _Atomic uint64_t cached_start;
    int32_t me = (int32_t)getpid();
    if (atomic_load(&cached_pid) == me) return atomic_load(&cached_start);
    char state;
    uint64_t start = 0;
    if (!read_stat("/proc/self/stat", &state, &start))
        start = 0; /* no /proc: liveness falls back to kill(pid, 0) */
    atomic_store(&cached_start, start);
    atomic_store(&cached_pid, me);
    return start;
}

bool ipm__shm_alive(int32_t pid, uint64_t start)
{
    if (pid <= 0) return false;
    if (pid == (int32_t)getpid()) return start == 0 || start == ipm__shm_self_start();
    if (kill(pid, 0) != 0 && errno == ESRCH) return false;
    char path[64], state;
    uint64_t st;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!read_stat(path, &state, &st)) return errno != ENOENT;
    if (state == 'Z' || state == 'X') return false;
    return start == 0 || st == start;
}

bool ipm__shm_claim_take(ipm__shm_claim *c)
{
    uint64_t me =
        (uint64_t)(uint32_t)getpid() | (ipm__shm_self_start() << IPM_SHM_CLAIM_PID_BITS);
    uint64_t cur = atomic_load(&c->word);
    if (cur == me) return false; /* ours already (another object of ours) */
    if (cur != 0 &&
        ipm__shm_alive(ipm__shm_claim_pid(cur), cur >> IPM_SHM_CLAIM_PID_BITS))
        return false;
    /* One CAS of the whole identity: two takers of one dead claim cannot
     * both win, and nobody ever sees a pid with another's start time. */
    return atomic_compare_exchange_strong(&c->word, &cur, me);
}

void ipm__shm_claim_drop(ipm__shm_claim *c)
{
    atomic_store(&c->word, 0);
}

/* ---------------------------------------------------------- segments */

static void make_path(char *path, size_t cap, const char *name)
{
    snprintf(path, cap, SHM_DIR "/%s", name);
}

static const char *kind_type(uint32_t kind)
{
    return kind == IPM_SHM_KIND_RING ? "ShmPublisher ring" : "ShmReceiver queue";
}

/* Check a mapped header against what an ipm segment of kind must look like;
 * size is the file's size. IPM_ECONNECT with a message on any mismatch. */
static ipm_status validate(const ipm__shm_header *h, uint64_t size, uint32_t kind,
                           const char *type, const char *name)
{
    if (size < sizeof *h || h->magic != IPM_SHM_MAGIC)
        return ipm_set_error(
            IPM_ECONNECT,
            "%s shm://%s: /dev/shm/%s is not an ipm shared-memory segment "
            "(foreign or corrupt file, %llu bytes); refusing to use it. "
            "Remove it if it is stale",
            type, name, name, (unsigned long long)size);
    if (h->version != IPM_SHM_VERSION)
        return ipm_set_error(IPM_ECONNECT,
                             "%s shm://%s: segment has layout version %u, this plugin "
                             "reads version %u; use the same ipm version on both sides",
                             type, name, h->version, IPM_SHM_VERSION);
    if (h->kind != kind)
        return ipm_set_error(IPM_ECONNECT, "%s shm://%s: the segment is a %s, not a %s",
                             type, name, kind_type(h->kind), kind_type(kind));
    uint64_t cap = h->capacity;
    bool pow2 = cap >= 4096 && (cap & (cap - 1)) == 0;
    uint32_t lanes = kind == IPM_SHM_KIND_QUEUE ? h->lanes : 1;
    bool lanes_ok =
        kind != IPM_SHM_KIND_QUEUE || (lanes >= 1 && lanes <= IPM_SHM_MAX_LANES &&
                                       h->lane_offset == IPM_SHM_LANE_OFFSET);
    if (!pow2 || !lanes_ok || h->total_size != size ||
        h->total_size != ipm__shm_segment_size(kind, cap, lanes) ||
        h->data_offset != ipm__shm_data_offset(kind, lanes) ||
        ipm__shm_rec_len(IPM_SHM_MAX_METADATA, h->max_message_size) > cap / 2)
        return ipm_set_error(
            IPM_ECONNECT,
            "%s shm://%s: segment header is corrupt (capacity %llu, size "
            "%llu of %llu bytes); refusing to use it",
            type, name, (unsigned long long)cap, (unsigned long long)h->total_size,
            (unsigned long long)size);
    return IPM_OK;
}

/* Read one byte of every page of n bytes at m. On a hypervisor like the
 * one we measure on, the first access to each page of a mapping costs
 * ~4.7 us in each process even after MAP_POPULATE or MADV_POPULATE_WRITE
 * (128 MiB: first memset 0.82 GB/s with 60 page faults, the next 24 GB/s),
 * so the first lap of a lane ran 25x slower; paid here, at set-up, it is
 * gone from the data path. A read, not a write: another process may be
 * writing these bytes. Elsewhere it costs a few ns per page. */
static void touch_pages(const void *m, uint64_t n)
{
    const volatile unsigned char *p = m;
    unsigned char sum = 0;
    for (uint64_t i = 0; i < n; i += 4096)
        sum ^= p[i];
    (void)sum;
}

static ipm_status map_file(int fd, size_t size, bool writable, bool populate, void **out)
{
    int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *m = mmap(NULL, size, prot, flags, fd, 0);
    if (m == MAP_FAILED) {
        *out = NULL;
        return errno == ENOMEM ? IPM_ENOMEM : IPM_ESYS;
    }
    if (populate) touch_pages(m, size);
    *out = m;
    return IPM_OK;
}

static void fill_seg(ipm__shm_seg *s, int fd, void *base, size_t size,
                     const struct stat *st, const char *name, bool owner)
{
    s->fd = fd;
    s->size = size;
    s->hdr = base;
    s->data = (unsigned char *)base + s->hdr->data_offset;
    s->cap = s->hdr->capacity;
    bool queue = s->hdr->kind == IPM_SHM_KIND_QUEUE;
    s->lane =
        queue ? (ipm__shm_lane *)((unsigned char *)base + IPM_SHM_LANE_OFFSET) : NULL;
    s->lanes = queue ? s->hdr->lanes : 0;
    s->max_message_size = s->hdr->max_message_size;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->owner = owner;
    snprintf(s->name, sizeof s->name, "%s", name);
}

/* Wake everyone sleeping on h: a ring's readers on data_word, a queue's
 * receiver on data_waiters (line 3, unused in a ring); lanes (NULL for a
 * ring) are the queue's, only when the mapping is known to hold them. */
static void wake_all(ipm__shm_header *h, ipm__shm_lane *lane, uint32_t lanes)
{
    atomic_fetch_add(&h->data_word, 1);
    ipm__shm_futex_wake(&h->data_word);
    atomic_store(&h->data_waiters, 0);
    ipm__shm_futex_wake(&h->data_waiters);
    for (uint32_t i = 0; lane != NULL && i < lanes; i++) {
        atomic_fetch_add(&lane[i].space_word, 1);
        ipm__shm_futex_wake(&lane[i].space_word);
    }
}

/* True if path still names the file open as fd (same device and inode). */
static bool same_file(const char *path, const struct stat *mine)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_dev == mine->st_dev && st.st_ino == mine->st_ino;
}

/* "uid N (name)" into buf, for messages. */
static const char *uid_text(char *buf, size_t cap, uid_t uid)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res != NULL)
        snprintf(buf, cap, "uid %u (%s)", (unsigned)uid, pw.pw_name);
    else
        snprintf(buf, cap, "uid %u", (unsigned)uid);
    return buf;
}

static bool owner_allowed(uid_t uid, const ipm__shm_owners *allowed)
{
    if (uid == geteuid()) return true;
    for (int i = 0; allowed != NULL && i < allowed->n; i++)
        if (allowed->uid[i] == uid) return true;
    return false;
}

/* Refuse st unless it belongs to us or to an allowed owner. */
static ipm_status check_owner(const struct stat *st, const ipm__shm_owners *allowed,
                              const char *type, const char *name, bool creating)
{
    if (owner_allowed(st->st_uid, allowed)) return IPM_OK;
    char who[300], me[300];
    uid_text(who, sizeof who, st->st_uid);
    uid_text(me, sizeof me, geteuid());
    if (creating)
        return ipm_set_error(IPM_ECONNECT,
                             "%s shm://%s: " SHM_DIR "/%s already exists and belongs to "
                             "%s, not to this process (%s); refusing to use or remove "
                             "it. Choose another name, or have that user remove it",
                             type, name, name, who, me);
    return ipm_set_error(IPM_ECONNECT,
                         "%s shm://%s: " SHM_DIR "/%s belongs to %s, not to this process "
                         "(%s); refusing to attach (anyone can create a name in " SHM_DIR
                         " first). If that user's segments are trusted, add "
                         "allowed_owners=%u",
                         type, name, name, who, me, (unsigned)st->st_uid);
}

/* The name exists: reclaim it if it is ours and its owner is dead or gone
 * (IPM_OK, the caller retries the link), or refuse. With only (non-NULL),
 * act only if the name still refers to that file. */
static ipm_status reclaim(const char *path, const ipm__shm_config *c, uint32_t kind,
                          const char *type, const struct stat *only)
{
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISLNK(st.st_mode)) {
        ipm_status rc = check_owner(&st, NULL, type, c->name, true);
        if (rc != IPM_OK) return rc;
    }
    /* O_NONBLOCK: a FIFO planted under the name must not hang us. */
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return IPM_OK; /* removed meanwhile: retry */
        return ipm_set_error(IPM_ECONNECT,
                             "%s %s: %s exists and cannot be opened (%s); is it another "
                             "user's segment?",
                             type, c->endpoint, path, strerror(errno));
    }
    ipm_status rc = IPM_OK;
    void *m = NULL;
    if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0) {
        rc = ipm_set_error(IPM_ESYS, "%s %s: cannot lock %s: %s", type, c->endpoint, path,
                           strerror(errno));
        goto out;
    }
    if (!same_file(path, &st)) goto out; /* replaced meanwhile: retry */
    if (only != NULL && (st.st_dev != only->st_dev || st.st_ino != only->st_ino))
        goto out; /* someone else's segment now */
    if ((rc = check_owner(&st, NULL, type, c->name, true)) != IPM_OK) goto out;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(ipm__shm_header)) {
        rc = validate(&(ipm__shm_header){0}, (uint64_t)st.st_size, kind, type, c->name);
        goto out;
    }
    if (map_file(fd, sizeof(ipm__shm_header), true, false, &m) != IPM_OK) {
        rc = ipm_set_error(IPM_ESYS, "%s %s: cannot map %s: %s", type, c->endpoint, path,
                           strerror(errno));
        goto out;
    }
    ipm__shm_header *h = m;
    if (h->magic != IPM_SHM_MAGIC || h->version != IPM_SHM_VERSION || h->kind != kind) {
        rc = validate(h, (uint64_t)st.st_size, kind, type, c->name);
        goto out;
    }
    if (!atomic_load(&h->closed) && ipm__shm_alive(h->owner_pid, h->owner_start)) {
        rc = ipm_set_error(IPM_ECONNECT,
                           "%s %s: a live %s owns this name (pid %d); only one may "
                           "create it",
                           type, c->endpoint,
                           kind == IPM_SHM_KIND_RING ? "ShmPublisher" : "ShmReceiver",
                           (int)h->owner_pid);
        goto out;
    }
    /* Dead owner: tell everyone still attached, then drop the name. */
    ipm_log(IPM_LOG_INFO, "%s %s: reclaiming segment of dead owner pid %d", type,
            c->endpoint, (int)h->owner_pid);
    atomic_store(&h->closed, 1);
    wake_all(h, NULL, 0); /* senders notice within their 100 ms slice */
    if (unlink(path) != 0 && errno != ENOENT)
        rc = ipm_set_error(IPM_ECONNECT, "%s %s: cannot remove stale %s: %s", type,
                           c->endpoint, path, strerror(errno));
out:
    if (m != NULL) munmap(m, sizeof(ipm__shm_header));
    close(fd); /* drops the lock */
    return rc;
}

/*
 * Before allocating size bytes for fd: refuse what cannot be had, with the
 * numbers and the key to lower. RLIMIT_FSIZE is checked first because
 * growing a file past it raises SIGXFSZ, which kills the process by default;
 * a size beyond this host's memory is refused as absurd; then the tmpfs's
 * free space. posix_fallocate (the caller) is the final word: it allocates
 * every block now, so a /dev/shm that fills up meanwhile is an ENOSPC here
 * and never a SIGBUS on a later write.
 */
static ipm_status check_room(int fd, uint64_t size, uint64_t alloc,
                             const ipm__shm_config *c, const char *type)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        size > (uint64_t)rl.rlim_cur)
        return ipm_set_error(
            IPM_ENOMEM,
            "%s %s: a %llu-byte segment exceeds this process's file size "
            "limit (RLIMIT_FSIZE, ulimit -f) of %llu bytes; lower "
            "buffer_size or raise the limit",
            type, c->endpoint, (unsigned long long)size, (unsigned long long)rl.rlim_cur);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psize > 0 && c->capacity > (uint64_t)pages * (uint64_t)psize)
        return ipm_set_error(IPM_ECONFIG,
                             "%s %s: buffer_size of %llu bytes (rounded up to a power of "
                             "two) exceeds this host's memory (%llu bytes); lower "
                             "buffer_size",
                             type, c->endpoint, (unsigned long long)c->capacity,
                             (unsigned long long)pages * (unsigned long long)psize);
    struct statvfs vfs;
    if (fstatvfs(fd, &vfs) == 0 && vfs.f_blocks != 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        size = alloc;
        if (size > avail)
            return ipm_set_error(IPM_ENOMEM,
                                 "%s %s: a %llu-byte segment does not fit in " SHM_DIR
                                 ": %llu bytes are free (of %llu); lower buffer_size "
                                 "(now %llu) or free space in " SHM_DIR,
                                 type, c->endpoint, (unsigned long long)size,
                                 (unsigned long long)avail,
                                 (unsigned long long)vfs.f_blocks * vfs.f_frsize,
                                 (unsigned long long)c->capacity);
    }
    return IPM_OK;
}

/* Allocate every block of fd in [off, off + size) (see check_room). */
static ipm_status allocate(int fd, uint64_t off, uint64_t size, const ipm__shm_config *c,
                           const char *type)
{
    int e = posix_fallocate(fd, (off_t)off, (off_t)size);
    if (e == 0) return IPM_OK;
    struct statvfs vfs;
    unsigned long long avail = 0;
    if (fstatvfs(fd, &vfs) == 0) avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    if (e == ENOSPC || e == EFBIG || e == ENOMEM || e == EDQUOT)
        return ipm_set_error(IPM_ENOMEM,
                             "%s %s: no room for a %llu-byte segment in " SHM_DIR
                             " (posix_fallocate: %s); %llu bytes are free; lower "
                             "buffer_size (now %llu) or free space in " SHM_DIR,
                             type, c->endpoint, (unsigned long long)size, strerror(e),
                             avail, (unsigned long long)c->capacity);
    return ipm_set_error(IPM_ESYS, "%s %s: cannot allocate a %llu-byte segment: %s", type,
                         c->endpoint, (unsigned long long)size, strerror(e));
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Pre-fault n allocated bytes at m (Linux 5.14+; without it, pages fault
 * in on first use, which is only slower), then touch them (touch_pages). */
static void populate(void *m, uint64_t n)
{
    (void)madvise(m, (size_t)n, MADV_POPULATE_WRITE);
    touch_pages(m, n);
}

ipm_status ipm__shm_lane_allocate(const ipm__shm_seg *s, uint32_t i, const char *type)
{
    uint64_t off = s->hdr->data_offset + (uint64_t)i * s->cap;
    if (i > 0) { /* lane 0 was allocated by the receiver */
        ipm__shm_config c;
        memset(&c, 0, sizeof c);
        c.capacity = s->cap;
        snprintf(c.endpoint, sizeof c.endpoint, "shm://%s", s->name);
        ipm_status rc = allocate(s->fd, off, s->cap, &c, type);
        if (rc != IPM_OK) return rc;
    }
    populate(s->data + (uint64_t)i * s->cap, s->cap);
    return IPM_OK;
}

/* SysV mode of a ring's wake area: read-write for every class that may read
 * the ring, so that read-only subscribers can flag that they sleep. */
static int wake_mode(unsigned mode)
{
    return (int)(0600 | (mode & 044) | ((mode & 044) >> 1));
}

/* Make the wake area of a ring owned by this process (see ipm__shm_wake). */
static ipm_status wake_create(ipm__shm_header *h, unsigned mode, const char *type,
                              const char *endpoint, ipm__shm_wake **out)
{
    int id =
        shmget(IPC_PRIVATE, IPM_SHM_WAKE_SIZE, IPC_CREAT | IPC_EXCL | wake_mode(mode));
    if (id < 0)
        return ipm_set_error(errno == ENOMEM ? IPM_ENOMEM : IPM_ECONNECT,
                             "%s %s: cannot create the ring's wake area (SysV shared "
                             "memory): %s%s",
                             type, endpoint, strerror(errno),
                             errno == ENOSPC ? " (kernel.shmmni reached?)" : "");
    void *m = shmat(id, NULL, 0);
    int e = errno;
    /* Marked for removal at once: it lives while anyone has it attached
     * (Linux lets others attach it meanwhile), and never outlives them. */
    shmctl(id, IPC_RMID, NULL);
    if (m == (void *)-1)
        return ipm_set_error(IPM_ESYS, "%s %s: cannot attach the ring's wake area: %s",
                             type, endpoint, strerror(e));
    ipm__shm_wake *w = m;
    w->magic = IPM_SHM_WAKE_MAGIC;
    w->owner_pid = (int32_t)getpid();
    h->wake_id = id;
    *out = w;
    return IPM_OK;
}

/* Attach the wake area named by a ring header that validated, checking that
 * it was made by the ring's owner (uid of the file, pid of the header). */
static ipm_status wake_attach(const ipm__shm_header *h, const struct stat *st,
                              const char *type, const char *name, ipm__shm_wake **out)
{
    struct shmid_ds ds;
    void *m = (void *)-1;
    int id = h->wake_id, e = 0;
    if (id >= 0 && shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_segsz >= IPM_SHM_WAKE_SIZE &&
        ds.shm_perm.cuid == st->st_uid && ds.shm_cpid == h->owner_pid) {
        m = shmat(id, NULL, 0);
        e = errno;
        if (m != (void *)-1 && (((ipm__shm_wake *)m)->magic != IPM_SHM_WAKE_MAGIC ||
                                ((ipm__shm_wake *)m)->owner_pid != h->owner_pid)) {
            shmdt(m);
            m = (void *)-1;
            e = 0;
        }
    } else {
        e = errno;
    }
    if (m == (void *)-1)
        return ipm_set_error(
            IPM_ECONNECT,
            "%s shm://%s: cannot attach the ring's wake area (SysV shm id "
            "%d): %s; is this process in another IPC namespace than the "
            "ShmPublisher (pid %d)?",
            type, name, id, e ? strerror(e) : "not made by the ring's owner",
            (int)h->owner_pid);
    *out = m;
    return IPM_OK;
}

/*
 * The segment was built through an unnamed file, so /proc/<pid>/maps shows
 * our mapping as "/dev/shm/#ino (deleted)". Once it has its name, map the
 * same file again through that name and drop the first mapping, so that
 * tools and users see which segment a pointer lies in (a message handed out
 * in place, a loan). Only if the name still refers to our file; otherwise,
 * or on any failure, the first mapping stays. Returns the descriptor to
 * keep; *m may change.
 */
static int map_by_name(const char *path, int fd, const struct stat *mine, void **m,
                       uint64_t size, uint64_t alloc)
{
    int fd2 = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd2 < 0) return fd;
    struct stat st;
    void *m2 = MAP_FAILED;
    if (fstat(fd2, &st) == 0 && st.st_dev == mine->st_dev && st.st_ino == mine->st_ino)
        m2 = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                  MAP_SHARED | (alloc == size ? MAP_POPULATE : 0), fd2, 0);
    if (m2 == MAP_FAILED) {
        close(fd2);
        return fd;
    }
    if (alloc < size)
        populate(m2, alloc);
    else
        touch_pages(m2, size);
    munmap(*m, (size_t)size);
    *m = m2;
    close(fd);
    return fd2;
}

ipm_status ipm__shm_create(const ipm__shm_config *c, uint32_t kind, const char *type,
                           ipm__shm_seg *out)
{
    char path[IPM_SHM_NAME_MAX + 16], fdpath[64];
    make_path(path, sizeof path, c->name);
    uint32_t lanes = kind == IPM_SHM_KIND_QUEUE ? c->lanes : 1;
    uint64_t size = ipm__shm_segment_size(kind, c->capacity, lanes);
    /* A queue allocates the header, the lane table and lane 0 now; each
     * further sender allocates its own lane when it takes it
     * (ipm__shm_lane_allocate), so max_senders costs address space, not
     * memory, until the senders come. */
    uint64_t alloc = ipm__shm_data_offset(kind, lanes) + c->capacity;
    void *m = NULL;
    ipm__shm_wake *wake = NULL;
    ipm_status rc;
    /* A ring is never writable by others: its readers need only read it. */
    mode_t mode = (mode_t)(kind == IPM_SHM_KIND_RING ? (c->mode & ~022u) : c->mode);

    int fd = open(SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
    if (fd < 0)
        return ipm_set_error(IPM_ECONNECT,
                             "%s %s: cannot create a file in " SHM_DIR ": %s", type,
                             c->endpoint, strerror(errno));
    if (fchmod(fd, mode) != 0) {
        rc = ipm_set_error(IPM_ECONNECT, "%s %s: cannot set the mode of a segment: %s",
                           type, c->endpoint, strerror(errno));
        goto fail;
    }
    if ((rc = check_room(fd, size, alloc, c, type)) != IPM_OK) goto fail;
    if ((rc = allocate(fd, 0, alloc, c, type)) != IPM_OK) goto fail;
    if (alloc < size && ftruncate(fd, (off_t)size) != 0) {
        rc = ipm_set_error(IPM_ENOMEM, "%s %s: cannot size the segment to %llu bytes: %s",
                           type, c->endpoint, (unsigned long long)size, strerror(errno));
        goto fail;
    }
    /* Populating is safe now: every page populated was allocated and
     * counted (the unallocated lanes are left alone). */
    rc = map_file(fd, size, true, alloc == size, &m);
    if (rc != IPM_OK) {
        ipm_set_error(rc, "%s %s: cannot map %llu bytes: %s", type, c->endpoint,
                      (unsigned long long)size, strerror(errno));
        goto fail;
    }
    if (alloc < size) populate(m, alloc);
    ipm__shm_header *h = m;
    h->magic = IPM_SHM_MAGIC;
    h->version = IPM_SHM_VERSION;
    h->kind = kind;
    h->total_size = size;
    h->capacity = c->capacity;
    h->max_message_size = c->max_message_size;
    h->data_offset = ipm__shm_data_offset(kind, lanes);
    if (kind == IPM_SHM_KIND_QUEUE) {
        h->lanes = lanes;
        h->lane_offset = IPM_SHM_LANE_OFFSET;
    }
    h->owner_pid = (int32_t)getpid();
    h->owner_start = ipm__shm_self_start();
    h->wake_id = -1;
    if (kind == IPM_SHM_KIND_RING &&
        (rc = wake_create(h, c->mode, type, c->endpoint, &wake)) != IPM_OK)
        goto fail;
    /* Everything else is zero from fallocate. The link below publishes the
     * file; the kernel orders it after these stores for any opener. */

    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    for (int attempt = 0;; attempt++) {
        if (linkat(AT_FDCWD, fdpath, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) break;
        if (errno != EEXIST || attempt >= 16) {
            rc = ipm_set_error(
                IPM_ECONNECT, "%s %s: cannot create %s: %s", type, c->endpoint, path,
                errno == EEXIST ? "it keeps being re-created" : strerror(errno));
            goto fail;
        }
        rc = reclaim(path, c, kind, type, NULL);
        if (rc != IPM_OK) goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = ipm_set_error(IPM_ESYS, "%s %s: fstat: %s", type, c->endpoint,
                           strerror(errno));
        unlink(path);
        goto fail;
    }
    fd = map_by_name(path, fd, &st, &m, size, alloc);
    fill_seg(out, fd, m, size, &st, c->name, true);
    out->wake = wake;
    return IPM_OK;
fail:
    if (wake != NULL) shmdt(wake);
    if (m != NULL) munmap(m, size);
    close(fd);
    return rc;
}

ipm_status ipm__shm_attach(const char *name, uint32_t kind, const char *type,
                           const ipm__shm_owners *allowed, ipm__shm_seg *out)
{
    char path[IPM_SHM_NAME_MAX + 16];
    make_path(path, sizeof path, name);
    const char *owner = kind == IPM_SHM_KIND_RING ? "ShmPublisher" : "ShmReceiver";
    /* A ring is only read: map it read-only, so that a 0644 ring serves
     * subscribers of other users and no subscriber can write it. O_NONBLOCK:
     * a FIFO planted under the name must not hang the open. */
    bool writable = kind != IPM_SHM_KIND_RING;
    int fd =
        open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ipm_set_error(IPM_ETIMEDOUT, "%s shm://%s: no %s has created it (yet)",
                                 type, name, owner);
        int e = errno;
        struct stat lst;
        if (lstat(path, &lst) == 0 && !S_ISLNK(lst.st_mode) &&
            check_owner(&lst, allowed, type, name, false) != IPM_OK)
            return IPM_ECONNECT; /* the owner's name says more than EACCES */
        return ipm_set_error(IPM_ECONNECT, "%s shm://%s: cannot open %s%s: %s%s", type,
                             name, path, writable ? " for writing" : "", strerror(e),
                             e == EACCES ? " (the creator's permissions key decides who "
                                           "may attach)"
                                         : "");
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return ipm_set_error(IPM_ESYS, "%s shm://%s: fstat: %s", type, name,
                             strerror(errno));
    }
    ipm_status rc = check_owner(&st, allowed, type, name, false);
    if (rc != IPM_OK) {
        close(fd);
        return rc;
    }
    /* The size is taken once, here, and nothing beyond it is ever touched;
     * validate() checks that the header agrees with it. */
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(ipm__shm_header)) {
        close(fd);
        return validate(&(ipm__shm_header){0}, (uint64_t)st.st_size, kind, type, name);
    }
    void *m;
    if (map_file(fd, (size_t)st.st_size, writable, false, &m) != IPM_OK) {
        int e = errno;
        close(fd);
        return ipm_set_error(IPM_ESYS, "%s shm://%s: cannot map %s: %s", type, name, path,
                             strerror(e));
    }
    ipm__shm_wake *wake = NULL;
    rc = validate(m, (uint64_t)st.st_size, kind, type, name);
    if (rc == IPM_OK) {
        ipm__shm_header *h = m;
        if (atomic_load(&h->closed) || !ipm__shm_alive(h->owner_pid, h->owner_start))
            rc = ipm_set_error(IPM_ETIMEDOUT,
                               "%s shm://%s: its %s (pid %d) has exited; waiting for a "
                               "new one",
                               type, name, owner, (int)h->owner_pid);
        else if (kind == IPM_SHM_KIND_RING)
            rc = wake_attach(h, &st, type, name, &wake);
    }
    if (rc != IPM_OK) {
        munmap(m, (size_t)st.st_size);
        close(fd);
        return rc;
    }
    fill_seg(out, fd, m, (size_t)st.st_size, &st, name, false);
    out->wake = wake;
    return IPM_OK;
}

void ipm__shm_remove_if_dead(const ipm__shm_seg *s, const char *type)
{
    char path[IPM_SHM_NAME_MAX + 16];
    make_path(path, sizeof path, s->name);
    ipm__shm_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", s->name);
    snprintf(c.endpoint, sizeof c.endpoint, "shm://%s", s->name);
    struct stat only = {.st_dev = s->dev, .st_ino = s->ino};
    /* A refusal means a live owner after all: nothing to do. The callers
     * set their own error message afterwards. */
    (void)reclaim(path, &c, s->hdr->kind, type, &only);
}

bool ipm__shm_owner_alive(const ipm__shm_seg *s)
{
    const ipm__shm_header *h = s->hdr;
    return !atomic_load(&h->closed) && ipm__shm_alive(h->owner_pid, h->owner_start);
}

void ipm__shm_close_name(ipm__shm_seg *s)
{
    if (s->hdr == NULL || !s->owner) return;
    atomic_store(&s->hdr->closed, 1);
    wake_all(s->hdr, s->lane, s->lanes);
    char path[IPM_SHM_NAME_MAX + 16];
    make_path(path, sizeof path, s->name);
    struct stat mine = {.st_dev = s->dev, .st_ino = s->ino};
    if (flock(s->fd, LOCK_EX) == 0) {
        if (same_file(path, &mine)) unlink(path);
        flock(s->fd, LOCK_UN);
    }
    s->owner = false;
}

void ipm__shm_detach(ipm__shm_seg *s)
{
    ipm__shm_close_name(s);
    ipm__shm_unmap(s);
}

void ipm__shm_unmap(ipm__shm_seg *s)
{
    if (s->hdr == NULL) return;
    if (s->wake != NULL) shmdt(s->wake);
    munmap(s->hdr, s->size);
    close(s->fd);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}
