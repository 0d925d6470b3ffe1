#define _GNU_SOURCE
#include "ipm_test.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *ipm_test_unique(char *buf, size_t cap, const char *tag)
{
    static atomic_uint counter;
    snprintf(buf, cap, "ipmtest-%d-%u-%s", (int)getpid(), atomic_fetch_add(&counter, 1),
             tag ? tag : "x");
    return buf;
}

double ipm_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Be killed when the process `parent` dies (it may have died already). */
static void die_with_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
}

pid_t ipm_test_fork(int (*fn)(void *arg), void *arg)
{
    fflush(stdout);
    fflush(stderr);
#ifdef IPM_TEST_ASAN_BUILD
    /* Narrow the window of the allocator hazard in ipm_test.h: let threads
     * the test just started (a bind's I/O, a handshake) go idle first. */
    struct timespec settle = {0, 50 * 1000 * 1000};
    nanosleep(&settle, NULL);
#endif
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        die_with_parent(parent);
        _exit(fn(arg) & 0xff);
    }
    return pid;
}

/* A spawned child's command line: {program, CHILD_FLAG, parent's pid,
 * child's name, its arguments...}. */
#define CHILD_FLAG "--ipm-test-child"

void ipm_test_child_dispatch(int argc, char **argv, const ipm_test_child *children)
{
    if (argc < 4 || strcmp(argv[1], CHILD_FLAG) != 0) return;
    die_with_parent((pid_t)atol(argv[2]));
    for (const ipm_test_child *c = children; c->name != NULL; c++)
        if (strcmp(c->name, argv[3]) == 0) exit(c->main(argc - 3, argv + 3) & 0xff);
    fprintf(stderr, "%s: no child named '%s'\n", argv[0], argv[3]);
    exit(127);
}

pid_t ipm_test_spawn(const char *name, const char *const *args)
{
    size_t n = 0;
    while (args != NULL && args[n] != NULL)
        n++;
    char **argv = calloc(n + 5, sizeof *argv);
    if (argv == NULL) return -1;
    char parent[32];
    snprintf(parent, sizeof parent, "%d", (int)getpid());
    argv[0] = (char *)"ipm-test-child";
    argv[1] = (char *)CHILD_FLAG;
    argv[2] = parent;
    argv[3] = (char *)name;
    for (size_t i = 0; i < n; i++)
        argv[4 + i] = (char *)args[i];
    fflush(stdout);
    fflush(stderr);
    pid_t pid;
    extern char **environ;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    free(argv);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

int ipm_test_wait(pid_t pid, int timeout_ms)
{
    double end = ipm_test_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
            return -1;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (ipm_test_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        /* Test-harness only: reaping a child has no fd to wait on portably. */
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
