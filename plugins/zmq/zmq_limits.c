/*
 * zmq_limits.c — checks made before calling libzmq where libzmq would abort
 * the process instead of returning an error: it asserts when epoll_create,
 * getifaddrs or pthread_create fail (src/epoll.cpp, ip_resolver.cpp,
 * thread.cpp), i.e. at the descriptor limit and when there is no address
 * space left for a thread stack. Checking first turns these into statuses.
 *
 * The checks are exact at the moment they run; a thread of the same process
 * that takes descriptors or address space between the check and libzmq's
 * call can still make libzmq abort (the README says so).
 */
#define _GNU_SOURCE
#include "zmq_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

ipm_status ipm__zmq_fd_headroom(const char *plugin, const char *what, int need)
{
    /* Taking the descriptors is the one exact test: counting /proc/self/fd
     * costs a directory read per connect and still misses the system-wide
     * limit (ENFILE). A few dup()s of one eventfd cost microseconds. */
    int fds[IPM_ZMQ_MAX_FD_HEADROOM];
    if (need > IPM_ZMQ_MAX_FD_HEADROOM) need = IPM_ZMQ_MAX_FD_HEADROOM;
    int got = 0, err = 0;
    fds[0] = eventfd(0, EFD_CLOEXEC);
    if (fds[0] < 0) {
        err = errno;
    } else {
        for (got = 1; got < need; got++) {
            fds[got] = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
            if (fds[got] < 0) {
                err = errno;
                break;
            }
        }
    }
    for (int i = 0; i < got; i++)
        close(fds[i]);
    if (err == 0) return IPM_OK;

    struct rlimit rl;
    char limit[64] = "unknown";
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY)
            strcpy(limit, "unlimited");
        else
            snprintf(limit, sizeof limit, "%llu", (unsigned long long)rl.rlim_cur);
    }
    if (err == EMFILE || err == ENFILE)
        return ipm_set_error(
            IPM_ESYS,
            "%s: cannot %s: it needs %d free file descriptors and only %d "
            "%s free (%s; the process's limit, ulimit -n, is %s): close "
            "descriptors or raise the limit",
            plugin, what, need, got, got == 1 ? "is" : "are", strerror(err), limit);
    return ipm_set_error(IPM_ESYS,
                         "%s: cannot %s: checking for %d free file descriptors "
                         "failed: %s",
                         plugin, what, need, strerror(err));
}

/* The probe threads wait until all of them exist, so that they hold their
 * stacks at the same time, as ZeroMQ's threads will. */
typedef struct probe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool go;
} probe;

static void *probe_main(void *arg)
{
    probe *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->go)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

ipm_status ipm__zmq_thread_headroom(const char *plugin, int nthreads)
{
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    if (t == NULL)
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory starting ZeroMQ", plugin);
    probe p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    int made = 0, err = 0;
    /* Default attributes, as libzmq's thread_t uses: the same stack size. */
    for (; made < nthreads; made++) {
        err = pthread_create(&t[made], NULL, probe_main, &p);
        if (err != 0) break;
    }
    pthread_mutex_lock(&p.lock);
    p.go = true;
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    for (int i = 0; i < made; i++)
        pthread_join(t[i], NULL);
    free(t);
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
    if (err == 0) return IPM_OK;

    struct rlimit as, stack;
    char as_text[48] = "unknown", stack_text[48] = "unknown";
    if (getrlimit(RLIMIT_AS, &as) == 0) {
        if (as.rlim_cur == RLIM_INFINITY)
            strcpy(as_text, "unlimited");
        else
            snprintf(as_text, sizeof as_text, "%llu KiB",
                     (unsigned long long)(as.rlim_cur / 1024));
    }
    if (getrlimit(RLIMIT_STACK, &stack) == 0) {
        if (stack.rlim_cur == RLIM_INFINITY)
            strcpy(stack_text, "unlimited");
        else
            snprintf(stack_text, sizeof stack_text, "%llu KiB",
                     (unsigned long long)(stack.rlim_cur / 1024));
    }
    return ipm_set_error(IPM_ESYS,
                         "%s: cannot start ZeroMQ's %d threads (its I/O threads and "
                         "reaper): thread %d could not be created: %s (address space "
                         "limit, ulimit -v, is %s; thread stack size, ulimit -s, is %s; "
                         "the user's process limit is ulimit -u)",
                         plugin, nthreads, made + 1, strerror(err), as_text, stack_text);
}
