/* fork.c — which process a sender or receiver belongs to.
 *
 * After fork() the child has a copy of every object, but not of what the
 * transport shares with the parent: the same ZeroMQ context (whose I/O
 * threads did not survive the fork), the same shared segment (whose queue
 * the parent is still using). Using such an object in the child loses or
 * corrupts messages, so the core refuses it. It tells the processes apart by
 * a generation that a pthread_atfork child handler bumps: the hot path then
 * costs one relaxed load of a global and a compare, where getpid() would be
 * a system call per message. */
#define _GNU_SOURCE
#include "internal.h"

#include <string.h>
#include <unistd.h>

_Atomic unsigned ipm__fork_generation;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered; /* pthread_atfork's result; written once under `once` */

static void in_child(void)
{
    atomic_fetch_add_explicit(&ipm__fork_generation, 1, memory_order_relaxed);
}

static void install(void)
{
    registered = pthread_atfork(NULL, NULL, in_child);
}

ipm_status ipm__fork_stamp(struct ipm__owner *o, const char *type)
{
    pthread_once(&once, install);
    if (registered != 0)
        return ipm_set_error(IPM_ESYS,
                             "creating %s: cannot register the fork handler that "
                             "guards it (pthread_atfork: %s)",
                             type, strerror(registered));
    o->generation = atomic_load_explicit(&ipm__fork_generation, memory_order_relaxed);
    o->pid = getpid();
    return IPM_OK;
}

ipm_status ipm__forked_error(const struct ipm__owner *o, const char *fn, const char *type)
{
    return ipm_set_error(IPM_ESTATE,
                         "%s: this %s was created in pid %ld and is used in pid %ld "
                         "after fork(); create transport objects in the process that "
                         "uses them",
                         fn, type, (long)o->pid, (long)getpid());
}
