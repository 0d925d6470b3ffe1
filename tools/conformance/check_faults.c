/*
 * check_faults.c — peers that stop or die, fork, and destroy under a
 * waiting thread: every call still returns a status within its time, and
 * nothing hangs or crashes.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DESTROY_BOUND_MS                                                                 \
    3000.0 /* the transport's linger (ZeroMQ's default: 1 s) and more */
#define CALL_T_MS 100
/* "Never a hang": a call may overrun its timeout by this much on a loaded
 * machine (the [T, T + 20 ms] bound itself is send_timeout's and
 * receive_timeout's). */
#define CALL_SLACK_MS 1000.0

static int need_processes(conf_ctx *c)
{
    if (conf_peers_are_processes(c)) return CONF_PASS;
    return conf_na(c, "the peer must be a process to be stopped or killed, and %s",
                   c->o->threads ? "--threads was given"
                                 : "the pair does not state IPM_FEATURE_CROSS_PROCESS");
}

/* Peer receiver + local sender, or peer sender + local receiver, exchanging
 * for a moment so that the link is in use. */
static int start(conf_ctx *c, bool peer_sender, conf_peer *peer, ipm_sender **tx,
                 ipm_receiver **rx)
{
    if (conf_peer_with_local(c, peer_sender,
                             peer_sender ? CONF_ACT_FLOOD : CONF_ACT_DRAIN, 0, 0, peer,
                             tx, rx) != CONF_PASS)
        return CONF_FAIL;
    int r = CONF_PASS;
    if (peer_sender) {
        r = conf_wait_probe(c, *rx, 5000);
        if (r == CONF_PASS && !conf_peer_tell(peer, "go"))
            r = conf_fail(c, "the peer went away");
        for (int i = 0; i < 100 && r == CONF_PASS; i++) {
            ipm_message m;
            ipm_status st = conf_receive(*rx, &m, 5000);
            if (st != IPM_OK)
                r = conf_fail_st(c, st, "receiving from the flooding peer");
            else
                ipm_message_release(&m);
        }
    } else {
        char buf[1024] = {0};
        for (int i = 0; i < 100 && r == CONF_PASS; i++) {
            ipm_status st = ipm_send(*tx, buf, sizeof buf, 5000, CONF_SEQ_TOPIC);
            if (st != IPM_OK) r = conf_fail_st(c, st, "sending to the draining peer");
        }
    }
    if (r != CONF_PASS) {
        conf_peer_finish(peer, 2000);
        ipm_sender_destroy(*tx);
        ipm_receiver_destroy(*rx);
    }
    return r;
}

static int destroy_stopped(conf_ctx *c, bool peer_sender)
{
    if (need_processes(c) != CONF_PASS) return CONF_NA;
    conf_peer peer;
    ipm_sender *tx;
    ipm_receiver *rx;
    if (start(c, peer_sender, &peer, &tx, &rx) != CONF_PASS) return CONF_FAIL;
    conf_peer_signal(&peer, SIGSTOP);
    conf_sleep_ms(20);
    unsigned queued = 0;
    if (tx) {
        /* Leave messages on their way to the stopped peer. */
        char buf[1024] = {0};
        for (int i = 0; i < 200; i++)
            if (ipm_send(tx, buf, sizeof buf, 5, CONF_SEQ_TOPIC) == IPM_OK) queued++;
    }
    uint64_t t0 = tool_now_ns();
    if (tx)
        ipm_sender_destroy(tx);
    else
        ipm_receiver_destroy(rx);
    double ms = conf_ms_since(t0);
    conf_peer_signal(&peer, SIGKILL);
    conf_peer_finish(&peer, 2000);
    conf_peer_reclaim(c, &peer);
    if (ms > DESTROY_BOUND_MS)
        return conf_fail(c, "destroying the %s took %.0f ms with its peer stopped",
                         tx ? c->o->sender_type : c->o->receiver_type, ms);
    if (tx)
        return conf_note(c, "%.1f ms, %u messages sent after the peer stopped", ms,
                         queued);
    return conf_note(c, "%.1f ms", ms);
}

int conf_check_destroy_stopped_receiver(conf_ctx *c)
{
    return destroy_stopped(c, false);
}

int conf_check_destroy_stopped_sender(conf_ctx *c)
{
    return destroy_stopped(c, true);
}

int conf_check_kill_receiver(conf_ctx *c)
{
    if (need_processes(c) != CONF_PASS) return CONF_NA;
    conf_peer peer;
    ipm_sender *tx;
    ipm_receiver *rx;
    if (start(c, false, &peer, &tx, &rx) != CONF_PASS) return CONF_FAIL;
    conf_peer_signal(&peer, SIGKILL);
    conf_peer_finish(&peer, 2000);
    int r = CONF_PASS;
    unsigned n[3] = {0, 0, 0};
    double worst = 0;
    char buf[1024] = {0};
    uint64_t t0 = tool_now_ns();
    while (r == CONF_PASS && conf_ms_since(t0) < 1000) {
        uint64_t ts = tool_now_ns();
        ipm_status st = ipm_send(tx, buf, sizeof buf, CALL_T_MS, CONF_SEQ_TOPIC);
        double ms = conf_ms_since(ts);
        if (ms > worst) worst = ms;
        if (st == IPM_OK)
            n[0]++;
        else if (st == IPM_ETIMEDOUT)
            n[1]++;
        else if (st == IPM_ECONNECT) {
            n[2]++;
            conf_sleep_ms(1); /* an immediate refusal: do not spin a core */
        } else
            r = conf_fail_st(c, st, "ipm_send after the receiving peer was killed");
        if (r == CONF_PASS && ms > CALL_T_MS + CALL_SLACK_MS)
            r = conf_fail(
                c, "ipm_send(timeout %d ms) took %.0f ms after the peer was killed",
                CALL_T_MS, ms);
    }
    ipm_sender_destroy(tx);
    conf_peer_reclaim(c, &peer);
    if (r != CONF_PASS) return r;
    return conf_note(
        c,
        "1 s of sends: %u IPM_OK, %u IPM_ETIMEDOUT, %u IPM_ECONNECT, slowest "
        "%.0f ms",
        n[0], n[1], n[2], worst);
}

int conf_check_kill_sender(conf_ctx *c)
{
    if (need_processes(c) != CONF_PASS) return CONF_NA;
    conf_peer peer;
    ipm_sender *tx;
    ipm_receiver *rx;
    if (start(c, true, &peer, &tx, &rx) != CONF_PASS) return CONF_FAIL;
    conf_peer_signal(&peer, SIGKILL);
    conf_peer_finish(&peer, 2000);
    int r = CONF_PASS;
    unsigned drained = 0;
    ipm_status end = IPM_ETIMEDOUT;
    uint64_t t0 = tool_now_ns();
    for (;;) {
        ipm_message m;
        uint64_t ts = tool_now_ns();
        ipm_status st = ipm_receive(rx, &m, CALL_T_MS);
        double ms = conf_ms_since(ts);
        if (ms > CALL_T_MS + CALL_SLACK_MS) {
            if (st == IPM_OK) ipm_message_release(&m);
            r = conf_fail(
                c, "ipm_receive(timeout %d ms) took %.0f ms after the peer was killed",
                CALL_T_MS, ms);
            break;
        }
        /* Either is a status, not a hang: a transport that can tell its
         * peer died says so (IPM_ECONNECT), one that cannot times out. */
        if (st == IPM_ETIMEDOUT || st == IPM_ECONNECT) {
            end = st;
            break;
        }
        if (st != IPM_OK) {
            r = conf_fail_st(c, st, "ipm_receive after the sending peer was killed");
            break;
        }
        ipm_message_release(&m);
        drained++;
        if (conf_ms_since(t0) > 10000) {
            r = conf_fail(c,
                          "messages kept arriving for 10 s after the sender was killed");
            break;
        }
    }
    ipm_receiver_destroy(rx);
    conf_peer_reclaim(c, &peer);
    if (r != CONF_PASS) return r;
    return conf_note(c, "%u queued messages, then %s", drained,
                     end == IPM_ECONNECT ? "IPM_ECONNECT (the peer's death reported)"
                                         : "IPM_ETIMEDOUT");
}

/* ---------------------------------------------------------------- fork */

int conf_check_fork(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    int fds[2];
    if (pipe(fds) != 0) {
        conf_pair_close(&p);
        return conf_fail(c, "pipe: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        conf_pair_close(&p);
        return conf_fail(c, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The child: the parent's objects must refuse to work here. */
        close(fds[0]);
        int res[2];
        res[0] = ipm_send(p.tx, "child", 5, 100, "fork");
        ipm_message m;
        res[1] = ipm_receive(p.rx, &m, 100);
        if (res[1] == IPM_OK) ipm_message_release(&m);
        ssize_t w = write(fds[1], res, sizeof res);
        (void)w;
        /* Destroying them here must not disturb the parent. */
        ipm_sender_destroy(p.tx);
        ipm_receiver_destroy(p.rx);
        _exit(0);
    }
    close(fds[1]);
    int status = 0;
    uint64_t t0 = tool_now_ns();
    bool hung = false;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (conf_ms_since(t0) > 5000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            hung = true;
            break;
        }
        conf_sleep_ms(2);
    }
    int res[2] = {-1, -1};
    ssize_t got = read(fds[0], res, sizeof res);
    close(fds[0]);
    int r = CONF_PASS;
    if (got == (ssize_t)sizeof res && res[0] != IPM_ESTATE)
        r = conf_fail(c,
                      "in a forked child, ipm_send on the parent's sender returned %s, "
                      "not IPM_ESTATE",
                      ipm_strerror((ipm_status)res[0]));
    else if (got == (ssize_t)sizeof res && res[1] != IPM_ESTATE)
        r = conf_fail(c,
                      "in a forked child, ipm_receive on the parent's receiver returned "
                      "%s, not IPM_ESTATE",
                      ipm_strerror((ipm_status)res[1]));
    else if (hung)
        r = conf_fail(c, "the forked child hung (killed after 5 s)%s",
                      got == (ssize_t)sizeof res ? " destroying the parent's objects"
                                                 : "");
    else if (WIFSIGNALED(status))
        r = conf_fail(c, "the forked child died of signal %d (%s)%s", WTERMSIG(status),
                      strsignal(WTERMSIG(status)),
                      got == (ssize_t)sizeof res ? " destroying the parent's objects"
                                                 : "");
    else if (got != (ssize_t)sizeof res)
        r = conf_fail(c, "the forked child reported nothing");
    /* The parent's pair still works. */
    if (r == CONF_PASS) {
        ipm_status st = ipm_send(p.tx, "parent", 6, 5000, "fork");
        ipm_message m;
        if (st != IPM_OK) {
            r = conf_fail_st(c, st,
                             "the parent's send after the child destroyed its copy");
        } else if ((st = conf_receive(p.rx, &m, 5000)) != IPM_OK) {
            r = conf_fail_st(c, st,
                             "the parent's receive after the child destroyed its copy");
        } else {
            if (m.size != 6 || memcmp(m.data, "parent", 6) != 0)
                r = conf_fail(c, "the parent received another message than it sent");
            ipm_message_release(&m);
        }
    }
    conf_pair_close(&p);
    return r;
}

/* ------------------------------------------------ destroy under a waiter */

typedef struct waiter {
    ipm_receiver *rx;
    ipm_status st;
    uint64_t returned_ns;
} waiter;

static void *wait_receive(void *arg)
{
    waiter *w = arg;
    ipm_message m;
    w->st = ipm_receive(w->rx, &m, 3000);
    if (w->st == IPM_OK) ipm_message_release(&m);
    w->returned_ns = tool_now_ns();
    return NULL;
}

int conf_check_destroy_while_receiving(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    waiter w = {p.rx, IPM_OK, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, wait_receive, &w) != 0) {
        conf_pair_close(&p);
        return conf_fail(c, "pthread_create failed");
    }
    conf_sleep_ms(100); /* the thread is asleep in ipm_receive by now */
    uint64_t t0 = tool_now_ns();
    ipm_receiver_destroy(p.rx);
    p.rx = NULL;
    double destroy_ms = conf_ms_since(t0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    if (pthread_timedjoin_np(t, NULL, &ts) != 0) {
        /* The check's process ends anyway; the thread is left behind. */
        return conf_fail(c, "the thread waiting in ipm_receive did not return within 5 s "
                            "of ipm_receiver_destroy");
    }
    conf_pair_close(&p);
    if (w.returned_ns < t0)
        return conf_fail(c, "ipm_receive(timeout 3000 ms) returned %s before the destroy",
                         ipm_strerror(w.st));
    double waited = (double)(w.returned_ns - t0) / 1e6;
    if (waited > 1000.0)
        return conf_fail(
            c,
            "the waiting thread returned %.0f ms after ipm_receiver_destroy, "
            "not within 1 s",
            waited);
    if (w.st != IPM_ESTATE)
        return conf_fail(c,
                         "the waiting thread's ipm_receive returned %s, not IPM_ESTATE",
                         ipm_strerror(w.st));
    return conf_note(
        c, "returned IPM_ESTATE %.1f ms after destroy began (destroy took %.1f ms)",
        waited, destroy_ms);
}
