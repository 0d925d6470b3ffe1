/*
 * peer.c — starting a peer and talking to it (the check's side).
 *
 * A peer is this binary spawned again (posix_spawn of /proc/self/exe with
 * `--role peer ...`, never a bare fork: a transport library may not be
 * usable in a forked child), or, for a transport that does not cross
 * processes, a thread running the same conf_peer_main. Either way it reads
 * commands, one per line, from to_fd ("go", "credit N"; end of file: stop) and
 * writes report lines to from_fd ("ready ENDPOINT", "done sent=N",
 * "fail WHY"). A process peer has the command pipe as stdin and the report
 * pipe as fd 3; its stdout is /dev/null, its stderr the suite's.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

bool conf_peers_are_processes(conf_ctx *c)
{
    ipm_limits lim;
    conf_limits_stated(c, &lim);
    return !c->o->threads && (lim.features & IPM_FEATURE_CROSS_PROCESS) != 0;
}

/* argv of a peer process: the run's types and keys, then the role. */
static char **peer_argv(const conf_ctx *c, const conf_peer_args *a, char nums[4][32])
{
    const conf_opts *o = c->o;
    size_t n = 0, cap = 16 + 2 * o->nsets;
    char **v = calloc(cap, sizeof *v);
    if (!v) return NULL;
    v[n++] = "ipm-conformance";
    v[n++] = "--sender";
    v[n++] = (char *)o->sender_type;
    v[n++] = "--receiver";
    v[n++] = (char *)o->receiver_type;
    for (size_t i = 0; i < o->nsets; i++) {
        v[n++] = "--set";
        v[n++] = (char *)o->sets[i];
    }
    snprintf(nums[0], 32, "%d", (int)a->action);
    snprintf(nums[1], 32, "%llu", (unsigned long long)a->id);
    snprintf(nums[2], 32, "%llu", (unsigned long long)a->count);
    snprintf(nums[3], 32, "%llu", (unsigned long long)a->window);
    v[n++] = "--role";
    v[n++] = "peer";
    v[n++] = a->sender ? "sender" : "receiver";
    v[n++] = nums[0];
    v[n++] = a->binds ? "bind" : "connect";
    v[n++] = (char *)a->ep;
    v[n++] = nums[1];
    v[n++] = nums[2];
    v[n++] = nums[3];
    v[n] = NULL;
    return v;
}

bool conf_peer_parse(int argc, char **argv, conf_peer_args *a)
{
    /* argv: sender|receiver ACTION bind|connect EP ID COUNT WINDOW */
    memset(a, 0, sizeof *a);
    if (argc != 7) return false;
    a->sender = strcmp(argv[0], "sender") == 0;
    a->action = (conf_action)atoi(argv[1]);
    a->binds = strcmp(argv[2], "bind") == 0;
    snprintf(a->ep, sizeof a->ep, "%s", argv[3]);
    return tool_parse_u64(argv[4], &a->id) && tool_parse_u64(argv[5], &a->count) &&
           tool_parse_u64(argv[6], &a->window) && a->action >= CONF_ACT_HOLD &&
           a->action <= CONF_ACT_DRAIN;
}

typedef struct thread_peer {
    pthread_t tid;
    conf_ctx ctx;
    conf_peer_args args;
    int in_fd, out_fd;
} thread_peer;

static void *peer_thread(void *arg)
{
    thread_peer *t = arg;
    conf_peer_main(&t->ctx, &t->args, t->in_fd, t->out_fd);
    close(t->in_fd);
    close(t->out_fd);
    return NULL;
}

static int start_process(conf_ctx *c, conf_peer *p, int cmd_rd, int rep_wr)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, cmd_rd, 0);
    posix_spawn_file_actions_adddup2(&fa, rep_wr, 3);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char nums[4][32];
    char **argv = peer_argv(c, &p->args, nums);
    int rc =
        argv ? posix_spawn(&p->pid, "/proc/self/exe", &fa, NULL, argv, environ) : ENOMEM;
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    if (rc != 0)
        return conf_fail(c, "cannot spawn a peer process (/proc/self/exe): %s",
                         strerror(rc));
    return CONF_PASS;
}

int conf_peer_start(conf_ctx *c, conf_peer *p, const conf_peer_args *a, bool process)
{
    memset(p, 0, sizeof *p);
    p->args = *a;
    p->process = process;
    p->to_fd = p->from_fd = -1;
    int cmd[2], rep[2];
    if (pipe2(cmd, O_CLOEXEC) != 0) return conf_fail(c, "pipe: %s", strerror(errno));
    if (pipe2(rep, O_CLOEXEC) != 0) {
        close(cmd[0]);
        close(cmd[1]);
        return conf_fail(c, "pipe: %s", strerror(errno));
    }
    p->to_fd = cmd[1];
    p->from_fd = rep[0];
    int r;
    if (process) {
        r = start_process(c, p, cmd[0], rep[1]);
        close(cmd[0]);
        close(rep[1]);
    } else {
        thread_peer *t = calloc(1, sizeof *t);
        r = t ? CONF_PASS : conf_fail(c, "out of memory");
        if (t) {
            t->ctx = *c;
            t->args = *a;
            t->in_fd = cmd[0];
            t->out_fd = rep[1];
            int e = pthread_create(&t->tid, NULL, peer_thread, t);
            if (e != 0) {
                free(t);
                t = NULL;
                r = conf_fail(c, "pthread_create: %s", strerror(e));
            }
        }
        if (t) {
            p->thread = t;
        } else {
            close(cmd[0]);
            close(rep[1]);
        }
    }
    if (r != CONF_PASS) {
        close(p->to_fd);
        close(p->from_fd);
        p->to_fd = p->from_fd = -1;
        return r;
    }
    if (!conf_peer_read(p, 10000)) {
        bool gone = p->eof;
        int status = conf_peer_finish(p, 1000);
        if (gone)
            return conf_fail(c, "the %s peer ended before it was ready (status 0x%x)",
                             a->sender ? "sender" : "receiver", (unsigned)status);
        return conf_fail(c, "the %s peer did not report ready within 10 s",
                         a->sender ? "sender" : "receiver");
    }
    if (strncmp(p->line, "ready ", 6) != 0) {
        char line[sizeof p->line];
        snprintf(line, sizeof line, "%s", p->line);
        conf_peer_finish(p, 1000);
        return conf_fail(c, "%s peer (%s): %s", a->sender ? "sender" : "receiver",
                         process ? "process" : "thread", line);
    }
    snprintf(p->endpoint, sizeof p->endpoint, "%s", p->line + 6);
    return CONF_PASS;
}

bool conf_peer_tell(conf_peer *p, const char *cmd)
{
    char line[256];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    return p->to_fd >= 0 && write(p->to_fd, line, (size_t)n) == n;
}

bool conf_peer_read(conf_peer *p, int timeout_ms)
{
    size_t n = 0;
    uint64_t t0 = tool_now_ns();
    p->line[0] = '\0';
    for (;;) {
        int left = timeout_ms - (int)conf_ms_since(t0);
        if (left < 0) left = 0;
        struct pollfd pfd = {.fd = p->from_fd, .events = POLLIN};
        int rc = poll(&pfd, 1, left);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        char ch;
        ssize_t got = read(p->from_fd, &ch, 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            p->eof = true;
            return false;
        }
        if (ch == '\n') {
            p->line[n] = '\0';
            return true;
        }
        if (n + 1 < sizeof p->line) p->line[n++] = ch;
    }
}

void conf_peer_signal(conf_peer *p, int sig)
{
    if (p->process && p->pid > 0) kill(p->pid, sig);
}

void conf_peer_reclaim(conf_ctx *c, const conf_peer *p)
{
    if (!p->args.binds || p->endpoint[0] == '\0') return;
    if (p->args.sender) {
        ipm_sender *tx = NULL;
        if (conf_sender_open(c, p->endpoint, &tx, NULL, 0) == IPM_OK) ipm_sender_destroy(tx);
    } else {
        ipm_receiver *rx = NULL;
        if (conf_receiver_open(c, "connection_string", p->endpoint, &rx, NULL, 0) == IPM_OK)
            ipm_receiver_destroy(rx);
    }
}

int conf_peer_finish(conf_peer *p, int timeout_ms)
{
    if (p->to_fd >= 0) close(p->to_fd);
    p->to_fd = -1;
    int status = -1;
    if (p->process && p->pid > 0) {
        uint64_t t0 = tool_now_ns();
        for (;;) {
            pid_t w = waitpid(p->pid, &status, WNOHANG);
            if (w == p->pid) break;
            if (w < 0 && errno != EINTR) {
                status = -1;
                break;
            }
            if (conf_ms_since(t0) > timeout_ms) {
                kill(p->pid, SIGCONT);
                kill(p->pid, SIGKILL);
                waitpid(p->pid, NULL, 0);
                status = -1;
                break;
            }
            conf_sleep_ms(2);
        }
        p->pid = 0;
    } else if (p->thread) {
        thread_peer *t = p->thread;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000 + 1;
        if (pthread_timedjoin_np(t->tid, NULL, &ts) == 0) {
            free(t);
            status = 0;
        } else {
            /* A stuck thread peer keeps its memory; the check fails. */
            status = -1;
        }
        p->thread = NULL;
    }
    if (p->from_fd >= 0) close(p->from_fd);
    p->from_fd = -1;
    return status;
}

int conf_peer_with_local(conf_ctx *c, bool peer_sender, conf_action act, uint64_t count,
                         uint64_t window, conf_peer *peer, ipm_sender **ltx,
                         ipm_receiver **lrx)
{
    *ltx = NULL;
    *lrx = NULL;
    bool process = conf_peers_are_processes(c);
    conf_peer_args a = {
        .sender = peer_sender, .action = act, .count = count, .window = window, .id = 1};
    a.binds = peer_sender == c->sender_binds;
    char ep[CONF_EP_CAP];
    conf_endpoint_fresh(c, 0, ep, sizeof ep);
    ipm_status st = IPM_OK;
    if (a.binds) {
        snprintf(a.ep, sizeof a.ep, "%s", ep);
        if (conf_peer_start(c, peer, &a, process) != CONF_PASS) return CONF_FAIL;
        snprintf(ep, sizeof ep, "%s", peer->endpoint);
        if (peer_sender)
            st = conf_receiver_open(c, "connection_string", ep, lrx, NULL, 0);
        else
            st = conf_sender_open(c, ep, ltx, NULL, 0);
        if (st != IPM_OK) {
            conf_peer_finish(peer, 2000);
            return conf_fail_st(c, st, "connecting the local end to the peer's %s", ep);
        }
    } else {
        char resolved[CONF_EP_CAP];
        if (peer_sender)
            st = conf_receiver_open(c, "connection_string", ep, lrx, resolved,
                                    sizeof resolved);
        else
            st = conf_sender_open(c, ep, ltx, resolved, sizeof resolved);
        if (st != IPM_OK) return conf_fail_st(c, st, "binding the local end on %s", ep);
        snprintf(a.ep, sizeof a.ep, "%s", resolved);
        if (conf_peer_start(c, peer, &a, process) != CONF_PASS) {
            ipm_sender_destroy(*ltx);
            ipm_receiver_destroy(*lrx);
            *ltx = NULL;
            *lrx = NULL;
            return CONF_FAIL;
        }
    }
    if (*lrx && c->pubsub && (st = ipm_subscribe(*lrx, "")) != IPM_OK) {
        conf_peer_finish(peer, 2000);
        ipm_receiver_destroy(*lrx);
        *lrx = NULL;
        return conf_fail_st(c, st, "ipm_subscribe(\"\")");
    }
    return CONF_PASS;
}
