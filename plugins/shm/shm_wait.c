/*
 * shm_wait.c — sleeping in the kernel: futex wait/wake on words of a shared
 * segment (shared futexes, never FUTEX_PRIVATE: the waker is another
 * process), futex_waitv for a subscriber attached to several publishers, and
 * an inotify watch on /dev/shm while waiting for a segment to appear.
 */
#define _GNU_SOURCE
#include "shm_common.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int64_t ipm__shm_wait_ns(int64_t deadline, int64_t cap)
{
    if (deadline < 0) return cap;
    int64_t left = deadline - ipm_now_ns();
    if (left < 0) left = 0;
    return (cap >= 0 && left > cap) ? cap : left;
}

static struct timespec to_ts(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return ts;
}

bool ipm__shm_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts = to_ts(timeout_ns > 0 ? timeout_ns : 0);
    if (timeout_ns == 0) return false;
    /* Relative timeout: measured by the kernel on CLOCK_MONOTONIC. */
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected,
                     timeout_ns < 0 ? NULL : &ts, NULL, 0);
    return r == 0 || errno == EAGAIN;
}

int ipm__shm_futex_wake(_Atomic uint32_t *word)
{
    return (int)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void ipm__shm_futex_waitv(_Atomic uint32_t *const *words, const uint32_t *expected, int n,
                          int64_t timeout_ns)
{
    if (n <= 0 || timeout_ns == 0) return;
    if (n == 1) {
        ipm__shm_futex_wait(words[0], expected[0], timeout_ns);
        return;
    }
#ifdef SYS_futex_waitv
    struct futex_waitv w[128];
    if (n > 128) n = 128;
    for (int i = 0; i < n; i++) {
        w[i].val = expected[i];
        w[i].uaddr = (uint64_t)(uintptr_t)words[i];
        w[i].flags = FUTEX_32; /* shared: no FUTEX_PRIVATE_FLAG */
        w[i].__reserved = 0;
    }
    struct timespec now, abs;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t t = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + timeout_ns;
    abs = to_ts(t);
    long r = syscall(SYS_futex_waitv, w, (unsigned)n, 0, timeout_ns < 0 ? NULL : &abs,
                     CLOCK_MONOTONIC);
    if (r >= 0 || errno != ENOSYS) return;
#endif
    /* Old kernel: sleep on the first word, bounded so the others are seen. */
    int64_t cap = 10 * 1000 * 1000;
    ipm__shm_futex_wait(words[0], expected[0],
                        (timeout_ns < 0 || timeout_ns > cap) ? cap : timeout_ns);
}

bool ipm__shm_watch_wait(int *fd, int64_t timeout_ns)
{
    if (*fd < 0) {
        *fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (*fd >= 0 &&
            inotify_add_watch(*fd, "/dev/shm", IN_CREATE | IN_MOVED_TO | IN_DELETE) < 0) {
            close(*fd);
            *fd = -1;
        }
        if (*fd < 0) {
            /* No inotify (limits exhausted): fall back to short bounded
             * sleeps so that the caller still sees the segment appear. */
            int64_t cap = 20 * 1000 * 1000;
            struct timespec ts =
                to_ts((timeout_ns < 0 || timeout_ns > cap) ? cap : timeout_ns);
            nanosleep(&ts, NULL);
            return true;
        }
        return true;
    }
    if (timeout_ns != 0) {
        struct pollfd p = {.fd = *fd, .events = POLLIN};
        int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
        if (poll(&p, 1, ms) < 0 && errno != EINTR) return true;
    }
    /* Drain: events only mean "look again". */
    char buf[4096];
    bool any = false;
    while (read(*fd, buf, sizeof buf) > 0)
        any = true;
    return any;
}
