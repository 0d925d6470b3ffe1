/*
 * tools_proc.c — see tools_proc.h.
 */
#define _GNU_SOURCE
#include "tools_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *tools_bin(const char *name)
{
    /* One path per tool, kept for the life of the test. */
    static char paths[8][512];
    for (int i = 0; i < 8; i++) {
        if (paths[i][0] == '\0') {
            snprintf(paths[i], sizeof paths[i], "%s/bin/%s", IPM_BINARY_DIR, name);
            return paths[i];
        }
        const char *slash = strrchr(paths[i], '/');
        if (strcmp(slash + 1, name) == 0) return paths[i];
    }
    abort(); /* more tools than slots: enlarge the table */
}

static void tbuf_add(tbuf *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) abort();
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

int tproc_start(tproc *p, const char *const argv[])
{
    memset(p, 0, sizeof *p);
    tbuf_add(&p->o, "", 0);
    tbuf_add(&p->e, "", 0);
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return -1;
    fflush(stdout);
    fflush(stderr);
    p->pid = fork();
    if (p->pid < 0) return -1;
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->in = in[1];
    p->out = out[0];
    p->err = err[0];
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Read whatever is ready on stdout/stderr, waiting up to wait_ms. */
static void pump(tproc *p, int wait_ms)
{
    struct pollfd pfd[2];
    int n = 0, *which[2];
    if (p->out >= 0) {
        pfd[n] = (struct pollfd){.fd = p->out, .events = POLLIN};
        which[n++] = &p->out;
    }
    if (p->err >= 0) {
        pfd[n] = (struct pollfd){.fd = p->err, .events = POLLIN};
        which[n++] = &p->err;
    }
    if (n == 0) return;
    if (poll(pfd, (nfds_t)n, wait_ms) <= 0) return;
    for (int i = 0; i < n; i++) {
        if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[65536];
        ssize_t k = read(*which[i], buf, sizeof buf);
        if (k > 0) {
            tbuf_add(which[i] == &p->out ? &p->o : &p->e, buf, (size_t)k);
        } else if (k == 0 || errno != EINTR) {
            close(*which[i]);
            *which[i] = -1;
        }
    }
}

const char *tproc_wait_err(tproc *p, const char *needle, int timeout_ms)
{
    double end = now_ms() + timeout_ms;
    for (;;) {
        const char *hit = strstr(p->e.data, needle);
        if (hit) {
            const char *eol = strchr(hit, '\n');
            if (eol) return hit + strlen(needle);
        }
        double left = end - now_ms();
        if (left <= 0 || (p->err < 0 && p->out < 0)) return NULL;
        pump(p, left > 100 ? 100 : (int)left + 1);
        if (p->err < 0 && !strstr(p->e.data, needle)) return NULL;
    }
}

int tproc_write(tproc *p, const void *data, size_t n)
{
    const char *c = data;
    while (n > 0) {
        ssize_t w = write(p->in, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int tproc_finish(tproc *p, int timeout_ms)
{
    if (p->in >= 0) {
        close(p->in);
        p->in = -1;
    }
    double end = now_ms() + timeout_ms;
    while ((p->out >= 0 || p->err >= 0) && now_ms() < end)
        pump(p, 50);
    int status;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) break;
        if (now_ms() >= end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            return -1;
        }
        /* Test harness only: a child's exit has no fd to poll portably. */
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (p->out >= 0) close(p->out);
    if (p->err >= 0) close(p->err);
    p->out = p->err = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

void tproc_free(tproc *p)
{
    free(p->o.data);
    free(p->e.data);
    memset(&p->o, 0, sizeof p->o);
    memset(&p->e, 0, sizeof p->e);
}

int tools_run(tproc *p, const char *const argv[], const void *input, size_t n,
              int timeout_ms)
{
    if (tproc_start(p, argv) != 0) return -1;
    if (input && n) tproc_write(p, input, n);
    return tproc_finish(p, timeout_ms);
}
