#define _GNU_SOURCE
#include "ipm_test.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
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

pid_t ipm_test_fork(int (*fn)(void *arg), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg) & 0xff);
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
