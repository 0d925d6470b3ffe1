/*
 * bench_run.c — the coordinator: runs each measurement in fresh child
 * processes (two, or one with two threads for inproc://), collects the
 * roles' reports with a deadline, merges them into a result and reports it.
 * The coordinator itself never uses the transport.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void bench_channel_endpoint(const char *ep, int ch, char *out, size_t cap)
{
    if (ch == 0) {
        snprintf(out, cap, "%s", ep);
        return;
    }
    if (strncmp(ep, "tcp://", 6) == 0) {
        const char *colon = strrchr(ep, ':');
        if (colon && colon > ep + 5) {
            if (strcmp(colon, ":*") == 0 || strcmp(colon, ":0") == 0) {
                snprintf(out, cap, "%s", ep);
                return;
            }
            char *end = NULL;
            long port = strtol(colon + 1, &end, 10);
            if (end && *end == '\0' && port > 0 && port + ch < 65536) {
                snprintf(out, cap, "%.*s:%ld", (int)(colon - ep), ep, port + ch);
                return;
            }
        }
    }
    snprintf(out, cap, "%s-%s", ep, ch == 1 ? "r" : "s");
}

uint64_t bench_auto_count(int pattern, size_t size)
{
    size_t s = size ? size : 1;
    uint64_t n;
    if (pattern == BENCH_THROUGHPUT) {
        n = (128u << 20) / s; /* ~128 MiB moved, at least 500 messages */
        if (n < 500) n = 500;
        if (n > 200000) n = 200000;
    } else {
        n = (64u << 20) / s; /* ~64 MiB each way, 1000 to 5000 round trips */
        if (n < 1000) n = 1000;
        if (n > 5000) n = 5000;
    }
    return n;
}

static void scheme_of(const char *ep, char *out, size_t cap)
{
    const char *sep = strstr(ep, "://");
    int len = sep ? (int)(sep - ep) : (int)strlen(ep);
    snprintf(out, cap, "%.*s", len, ep);
}

/* ----------------------------------------------------- child processes */

typedef struct thread_arg {
    bench_role_io *io;
} thread_arg;

/* Pin the calling thread (and the threads it starts later) to cpu, if set.
 * Best effort: a CPU outside the allowed set leaves the thread unpinned. */
static void pin(int cpu)
{
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void *receiver_thread(void *arg)
{
    bench_role_io *io = ((thread_arg *)arg)->io;
    pin(io->cfg->cpu[1]);
    bench_role_receiver(io);
    return NULL;
}

/* In a child: the coordinator's Ctrl-C handling is not the role's. */
static void child_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

static void close_fds(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
}

/* Collect the reports of nroles roles from fds, whichever comes first, until
 * all are in, one says it failed, a role dies without one (EOF), or the
 * deadline passes. got[i] is set for each complete report. Returns 0 when
 * all arrived, else -1 with the reason in err. */
static int collect_reports(const int *fds, int nroles, bench_role_report *rep, bool *got,
                           uint64_t deadline_ns, double deadline_s, char *err, size_t cap)
{
    size_t have[2] = {0, 0};
    bool eof[2] = {false, false};
    /* A role that failed only because the other one did is given a moment
     * for the other's report, which names the cause. */
    uint64_t grace_end = 0;
    for (;;) {
        int pending = 0;
        struct pollfd pfd[2];
        int map[2];
        for (int i = 0; i < nroles; i++) {
            if (got[i] && !rep[i].ok) {
                int o = 1 - i;
                bool other_done = nroles < 2 || got[o] || eof[o];
                if (rep[i].peer_failure && !other_done) {
                    if (grace_end == 0) grace_end = tool_now_ns() + 2000000000u;
                    if (tool_now_ns() < grace_end) continue;
                }
                if (rep[i].peer_failure && nroles == 2 && got[o] && !rep[o].ok &&
                    !rep[o].peer_failure)
                    i = o;
                snprintf(err, cap, "%s", rep[i].error);
                return -1;
            }
            if (eof[i]) {
                snprintf(err, cap, "the %s role ended without a report",
                         i == 0 ? "sending" : "receiving");
                return -1;
            }
            if (!got[i]) {
                pfd[pending] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                map[pending++] = i;
            }
        }
        if (pending == 0) return 0;
        if (tool_stop_signal) {
            snprintf(err, cap, "interrupted");
            return -1;
        }
        uint64_t now = tool_now_ns();
        if (now >= deadline_ns) {
            snprintf(err, cap, "did not finish within %.0f s (see --deadline)",
                     deadline_s);
            return -1;
        }
        uint64_t left_ms = (deadline_ns - now) / 1000000u + 1;
        int n = poll(pfd, (nfds_t)pending, left_ms > 1000 ? 1000 : (int)left_ms);
        if (n < 0 && errno != EINTR) {
            snprintf(err, cap, "poll: %s", strerror(errno));
            return -1;
        }
        for (int j = 0; j < pending && n > 0; j++) {
            if (!(pfd[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int i = map[j];
            ssize_t k = read(fds[i], (char *)&rep[i] + have[i], sizeof rep[i] - have[i]);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                eof[i] = true;
                continue;
            }
            have[i] += (size_t)k;
            got[i] = have[i] == sizeof rep[i];
        }
    }
}

static void describe_exit(int status, char *buf, size_t cap)
{
    if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
}

/* Run one measurement; fills *res. */
static void measure(const bench_config *cfg, int pattern, const char *ep, size_t size,
                    uint64_t count, bench_result *res)
{
    memset(res, 0, sizeof *res);
    res->pattern = pattern;
    res->endpoint = ep;
    res->size = size;
    res->count = count;
    scheme_of(ep, res->transport, sizeof res->transport);

    /* ab: A -> B, ba: B -> A, ra/rb: reports to the coordinator. */
    int ab[2] = {-1, -1}, ba[2] = {-1, -1}, ra[2] = {-1, -1}, rb[2] = {-1, -1};
    if (pipe(ab) || pipe(ba) || pipe(ra) || pipe(rb)) {
        snprintf(res->error, sizeof res->error, "pipe: %s", strerror(errno));
        res->failed = true;
        int all[] = {ab[0], ab[1], ba[0], ba[1], ra[0], ra[1], rb[0], rb[1]};
        close_fds(all, 8);
        return;
    }
    bench_role_io a = {cfg, pattern, ep, size, count, ab[1], ba[0], ra[1]};
    bench_role_io b = {cfg, pattern, ep, size, count, ba[1], ab[0], rb[1]};
    bool one_process =
        pattern == BENCH_STARTUP || cfg->threads || strncmp(ep, "inproc://", 9) == 0;
    pid_t pids[2] = {-1, -1};
    fflush(stdout);
    fflush(stderr);
    pids[0] = fork();
    if (pids[0] == 0) {
        child_signals();
        pin(cfg->cpu[0]);
        close(ra[0]);
        close(rb[0]);
        if (pattern == BENCH_STARTUP) {
            close(rb[1]);
            bench_role_startup(&a);
        } else if (one_process) {
            pthread_t th;
            thread_arg targ = {&b};
            if (pthread_create(&th, NULL, receiver_thread, &targ) != 0) _exit(120);
            bench_role_sender(&a);
            pthread_join(th, NULL);
        } else {
            int other[] = {ab[0], ba[1], rb[1]};
            close_fds(other, 3);
            bench_role_sender(&a);
        }
        exit(0);
    }
    if (pids[0] > 0 && !one_process) {
        pids[1] = fork();
        if (pids[1] == 0) {
            child_signals();
            pin(cfg->cpu[1]);
            int other[] = {ra[0], rb[0], ab[1], ba[0], ra[1]};
            close_fds(other, 5);
            bench_role_receiver(&b);
            exit(0);
        }
    }
    int child_side[] = {ab[0], ab[1], ba[0], ba[1], ra[1], rb[1]};
    close_fds(child_side, 6);
    if (pids[0] < 0 || (!one_process && pids[1] < 0)) {
        snprintf(res->error, sizeof res->error, "fork: %s", strerror(errno));
        res->failed = true;
    }

    /* Collect the reports, whichever role reports first. */
    bench_role_report rep[2];
    memset(rep, 0, sizeof rep);
    bool got[2] = {false, false};
    int nroles = pattern == BENCH_STARTUP ? 1 : 2;
    int fds[2] = {ra[0], rb[0]};
    uint64_t deadline = tool_now_ns() + (uint64_t)(cfg->deadline_s * 1e9);
    if (!res->failed && collect_reports(fds, nroles, rep, got, deadline, cfg->deadline_s,
                                        res->error, sizeof res->error) != 0)
        res->failed = true;
    /* A failed role may leave the other waiting: end them all now. */
    for (int i = 0; i < 2; i++) {
        if (pids[i] <= 0) continue;
        if (res->failed) kill(pids[i], SIGKILL);
        int status = 0;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
        }
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!clean && !res->failed) {
            char how[96];
            describe_exit(status, how, sizeof how);
            snprintf(res->error, sizeof res->error, "a role process %s", how);
            res->failed = true;
        }
    }
    close(ra[0]);
    close(rb[0]);
    if (res->failed) return;

    const bench_role_report *A = &rep[0], *B = &rep[1];
    if (pattern == BENCH_STARTUP) {
        res->first_ns = A->first_ns;
        res->start = A->start;
        res->count = (uint64_t)cfg->startup_iterations;
        return;
    }
    res->lossless = A->lossless && B->lossless;
    if (pattern == BENCH_THROUGHPUT) {
        res->sent = A->sent;
        res->received = B->received;
        res->lost = B->lost;
        res->misordered = B->misordered;
        res->first_lost = B->first_lost;
        res->dropped = B->dropped;
        res->count = A->sent;
        double secs = B->t_end > A->t_start ? (double)(B->t_end - A->t_start) / 1e9 : 0;
        res->seconds = secs;
        if (secs > 0) {
            res->msgs_per_s = (double)B->received / secs;
            res->mb_per_s = (double)B->received * (double)size / secs / 1e6;
        }
    } else {
        res->count = A->rounds;
        res->sent = A->rounds;
        res->received = A->received;
        res->lost = A->lost;
        res->dropped = A->dropped + B->dropped;
        res->seconds = (double)(A->t_end - A->t_start) / 1e9;
        if (res->seconds > 0) res->msgs_per_s = (double)A->received / res->seconds;
        /* One way is half the round trip. */
        res->lat.min = A->lat.min / 2;
        res->lat.mean = A->lat.mean / 2;
        res->lat.p50 = A->lat.p50 / 2;
        res->lat.p99 = A->lat.p99 / 2;
        res->lat.p999 = A->lat.p999 / 2;
        res->lat.max = A->lat.max / 2;
    }
}

static void progress(const bench_config *cfg, int k, int total, int pattern,
                     const char *ep, size_t size)
{
    if (!cfg->progress) return;
    char sz[32];
    fprintf(stderr, "\r\033[K%s: [%d/%d] %s %s%s%s ...", cfg->tool, k, total,
            pattern == BENCH_LATENCY      ? "latency"
            : pattern == BENCH_THROUGHPUT ? "throughput"
                                          : "startup",
            ep, pattern == BENCH_STARTUP ? "" : " ",
            pattern == BENCH_STARTUP ? "" : tool_format_size(size, sz, sizeof sz));
    fflush(stderr);
}

static void progress_clear(const bench_config *cfg)
{
    if (!cfg->progress) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

int bench_run(const bench_config *cfg)
{
    static const int order[] = {BENCH_THROUGHPUT, BENCH_LATENCY};
    int per_size = 0;
    for (size_t i = 0; i < 2; i++)
        per_size += (cfg->patterns & (unsigned)order[i]) != 0;
    int total = (int)cfg->nendpoints *
                ((cfg->patterns & BENCH_STARTUP ? 1 : 0) + per_size * (int)cfg->nsizes);
    int k = 0, rc = TOOL_EXIT_OK;
    bench_report_begin(cfg);
    for (size_t e = 0; e < cfg->nendpoints && !tool_stop_signal; e++) {
        const char *ep = cfg->endpoints[e];
        for (size_t s = 0; s < cfg->nsizes && !tool_stop_signal; s++) {
            for (size_t p = 0; p < 2 && !tool_stop_signal; p++) {
                int pattern = order[p];
                if (!(cfg->patterns & (unsigned)pattern)) continue;
                uint64_t count = cfg->count ? cfg->count
                                 : cfg->duration > 0
                                     ? UINT64_MAX / 4
                                     : bench_auto_count(pattern, cfg->sizes[s]);
                bench_result res;
                progress(cfg, ++k, total, pattern, ep, cfg->sizes[s]);
                measure(cfg, pattern, ep, cfg->sizes[s], count, &res);
                progress_clear(cfg);
                bench_report_result(cfg, &res);
                if (res.failed)
                    rc = TOOL_EXIT_ERROR;
                else if (res.lossless && (res.lost || res.misordered) &&
                         rc == TOOL_EXIT_OK)
                    rc = TOOL_EXIT_TIMEOUT;
            }
        }
        if ((cfg->patterns & BENCH_STARTUP) && !tool_stop_signal) {
            bench_result res;
            progress(cfg, ++k, total, BENCH_STARTUP, ep, 0);
            measure(cfg, BENCH_STARTUP, ep, 0, 0, &res);
            progress_clear(cfg);
            bench_report_result(cfg, &res);
            if (res.failed) rc = TOOL_EXIT_ERROR;
        }
    }
    bench_report_end(cfg);
    if (tool_stop_signal) return TOOL_EXIT_SIGNAL + tool_stop_signal;
    return rc;
}
