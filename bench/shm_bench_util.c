#define _GNU_SOURCE
#include "shm_bench_util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

double bench_quantile_us(int64_t *samples, int n, double q)
{
    if (n <= 0) return 0;
    qsort(samples, (size_t)n, sizeof *samples, cmp64);
    int i = (int)(q * (n - 1) + 0.5);
    return (double)samples[i] / 1000.0;
}

bool bench_pipe_open(bench_pipe *p)
{
    int fd[2];
    if (pipe(fd) != 0) return false;
    p->rd = fd[0];
    p->wr = fd[1];
    return true;
}

void bench_pipe_close(bench_pipe *p)
{
    close(p->rd);
    close(p->wr);
}

bool bench_put(bench_pipe *p, const void *buf, size_t n)
{
    const char *c = buf;
    while (n > 0) {
        ssize_t w = write(p->wr, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

bool bench_get(bench_pipe *p, void *buf, size_t n, int timeout_ms)
{
    char *c = buf;
    while (n > 0) {
        struct pollfd pf = {.fd = p->rd, .events = POLLIN};
        int r = poll(&pf, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        ssize_t got = read(p->rd, c, n);
        if (got <= 0) return false;
        c += got;
        n -= (size_t)got;
    }
    return true;
}

int bench_wait(int pid, int timeout_ms)
{
    int64_t end = bench_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0) return -1;
        if (bench_now_ns() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

uint64_t bench_read_all(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, b + i, 8);
        acc += w;
    }
    for (; i < n; i++)
        acc += b[i];
    return acc;
}

/* Not static: a value stored where another unit could read it stays. */
volatile uint64_t bench_sink_word;

void bench_sink(uint64_t v)
{
    bench_sink_word += v;
}
