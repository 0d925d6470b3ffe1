/*
 * nng_fork.c — keeping libnng's fork abort away from ipm users.
 *
 * libnng 1.5 registers, at its first initialisation (the first socket,
 * dialer, listener, option or TLS call), a fork handler that marks every
 * child; from then on any call in a child that initialises nng first (and
 * nearly all do, nng_close and nng_sendmsg included) calls nni_panic, which
 * prints "nng is not fork-reentrant safe" and aborts. Only a process that
 * never touched nng before the fork may use it in the child.
 *
 * So the family keeps one process-wide record (in the core's singleton
 * registry, shared by the four plugins and inherited by a child): whether
 * nng has been used in this process, and whether this process is a child
 * forked after that. Our own fork handler marks the child. A use of nng by
 * something other than ipm (the application itself) is seen, at fork time,
 * by nng's named threads ("nng:task", "nng:timer", ...), which exist from
 * nng's initialisation on.
 *
 * Not detectable: an application that used libnng directly and forks
 * before any Nng plugin is loaded, then loads one in the child (nothing of
 * ipm ran at the fork). docs/nng.md states the rule.
 */
#define _GNU_SOURCE
#include "nng_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct nng_process {
    atomic_bool used;   /* nng initialised in this process (by ipm or not) */
    atomic_bool forked; /* this is a child forked after that */
} nng_process;

/* This plugin copy's reference to the shared record, taken once and kept
 * (plugins are never unloaded, and the fork handlers below use it). */
static nng_process *g_proc;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* The record whose fork handlers this copy registered (only the copy
 * that created the record registers them). */
static nng_process *g_handler_proc;

/* True if a thread of this process has a name nng gives its threads. */
static bool nng_threads_running(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[64], name[32];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, name, sizeof name - 1);
        close(fd);
        found = n >= 4 && memcmp(name, "nng:", 4) == 0;
    }
    closedir(d);
    return found;
}

static void fork_prepare(void)
{
    nng_process *p = g_handler_proc;
    if (p != NULL && !atomic_load(&p->used) && nng_threads_running())
        atomic_store(&p->used, true);
}

static void fork_child(void)
{
    nng_process *p = g_handler_proc;
    if (p != NULL && atomic_load(&p->used)) atomic_store(&p->forked, true);
}

static ipm_status process_create(void **obj, void *arg)
{
    (void)arg;
    nng_process *p = calloc(1, sizeof *p);
    if (p == NULL) return ipm_set_error(IPM_ENOMEM, "nng: out of memory");
    atomic_init(&p->used, false);
    atomic_init(&p->forked, false);
    g_handler_proc = p;
    if (pthread_atfork(fork_prepare, NULL, fork_child) != 0) {
        g_handler_proc = NULL;
        free(p);
        return ipm_set_error(IPM_ESYS, "nng: cannot register the fork handler");
    }
    *obj = p;
    return IPM_OK;
}

static void process_destroy(void *obj)
{
    /* Never reached: every plugin copy keeps its reference. */
    (void)obj;
}

static ipm_status g_once_status = IPM_OK;
static char g_once_error[256];

static void take_record(void)
{
    void *obj = NULL;
    g_once_status = ipm_singleton_acquire("ipm.nng.process", process_create,
                                          process_destroy, NULL, &obj);
    if (g_once_status == IPM_OK)
        g_proc = obj;
    else
        snprintf(g_once_error, sizeof g_once_error, "%s", ipm_last_error());
}

/* Take the record when the plugin is loaded, so that a fork before the
 * first object is made is already watched. */
__attribute__((constructor)) static void nng_fork_init(void)
{
    pthread_once(&g_once, take_record);
}

bool ipm__nng_forked(void)
{
    return g_proc != NULL && atomic_load_explicit(&g_proc->forked, memory_order_relaxed);
}

ipm_status ipm__nng_enter(const char *plugin, const char *what)
{
    pthread_once(&g_once, take_record);
    if (g_proc == NULL)
        return ipm_set_error(g_once_status, "%s: cannot %s: %s", plugin, what,
                             g_once_error);
    if (atomic_load(&g_proc->forked))
        return ipm_set_error(
            IPM_ESTATE,
            "%s: cannot %s: libnng cannot be used in a process forked from one that "
            "already used it (libnng would abort); create nng objects only in "
            "processes forked before any nng use in the parent, or exec",
            plugin, what);
    atomic_store(&g_proc->used, true);
    return IPM_OK;
}
