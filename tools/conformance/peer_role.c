/*
 * peer_role.c — what a peer does (the peer's side of peer.c's protocol):
 * open one end of the run's pair, report "ready ENDPOINT", then run one
 * action until told to stop (end of file on its command fd).
 *
 * Sending peers of a pub/sub pair send probes (topic CONF_SYNC_TOPIC) while
 * they wait for "go", so that the check can tell when its subscription has
 * reached them (conf_receive skips probes).
 */
#define _GNU_SOURCE
#include "conf.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct peer_io {
    int in, out;
    bool eof;
} peer_io;

static void report(peer_io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void report(peer_io *io, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    /* One line: no newline inside (ipm_last_error may hold one). */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n') line[i] = ' ';
    line[n++] = '\n';
    if (write(io->out, line, (size_t)n) < 0) io->eof = true;
}

/* Read one command line within timeout_ms (-1: forever) into buf. False on
 * timeout; io->eof on end of file. */
static bool command(peer_io *io, int timeout_ms, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        struct pollfd pfd = {.fd = io->in, .events = POLLIN};
        int rc = poll(&pfd, 1, n ? -1 : timeout_ms);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        char ch;
        ssize_t got = read(io->in, &ch, 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            io->eof = true;
            return false;
        }
        if (ch == '\n') {
            buf[n] = '\0';
            return true;
        }
        if (n + 1 < cap) buf[n++] = ch;
    }
}

/* Wait for "go"; a pub/sub sender probes meanwhile. False at end of file. */
static bool wait_go(conf_ctx *c, peer_io *io, ipm_sender *tx)
{
    char cmd[64];
    for (;;) {
        bool probing = tx && c->pubsub;
        if (command(io, probing ? 10 : -1, cmd, sizeof cmd)) {
            if (strcmp(cmd, "go") == 0) return true;
            continue;
        }
        if (io->eof) return false;
        if (probing) ipm_send(tx, "probe", 5, IPM_NO_BLOCK, CONF_SYNC_TOPIC);
    }
}

static void wait_eof(peer_io *io)
{
    char cmd[64];
    while (!io->eof)
        command(io, -1, cmd, sizeof cmd);
}

static bool stdin_closed(peer_io *io)
{
    struct pollfd pfd = {.fd = io->in, .events = POLLIN};
    if (poll(&pfd, 1, 0) > 0) {
        char cmd[64];
        command(io, 0, cmd, sizeof cmd);
    }
    return io->eof;
}

static int do_stream(conf_ctx *c, const conf_peer_args *a, peer_io *io, ipm_sender *tx)
{
    if (!wait_go(c, io, tx)) return 1;
    uint64_t allowed = a->window ? 2 * a->window : a->count;
    for (uint64_t i = 0; i < a->count; i++) {
        while (i >= allowed) {
            /* A credit lost with a dropped message must not stall the
             * stream: after a short wait, go on as if it had come. */
            char cmd[64];
            uint64_t upto;
            if (command(io, 50, cmd, sizeof cmd)) {
                /* "credit N": the subscriber has taken everything before #N. */
                if (strncmp(cmd, "credit ", 7) == 0 && tool_parse_u64(cmd + 7, &upto) &&
                    upto + 2 * a->window > allowed)
                    allowed = upto + 2 * a->window;
                continue;
            }
            if (io->eof) return 1;
            allowed = i + a->window;
        }
        conf_seq m = {a->id, i};
        ipm_status st = ipm_send(tx, &m, sizeof m, 10000, CONF_SEQ_TOPIC);
        if (st != IPM_OK) {
            report(io, "fail sending message %llu: %s: %s", (unsigned long long)i,
                   ipm_strerror(st), ipm_last_error());
            return 1;
        }
    }
    report(io, "done sent=%llu", (unsigned long long)a->count);
    wait_eof(io);
    return 0;
}

static int do_flood(conf_ctx *c, const conf_peer_args *a, peer_io *io, ipm_sender *tx)
{
    if (!wait_go(c, io, tx)) return 1;
    report(io, "flooding");
    for (uint64_t i = 0;; i++) {
        conf_seq m = {a->id, i};
        ipm_status st = ipm_send(tx, &m, sizeof m, 100, CONF_SEQ_TOPIC);
        if (st != IPM_OK && st != IPM_ETIMEDOUT) {
            report(io, "fail sending message %llu: %s: %s", (unsigned long long)i,
                   ipm_strerror(st), ipm_last_error());
            return 1;
        }
        if (st == IPM_ETIMEDOUT || i % 64 == 0)
            if (stdin_closed(io)) return 0;
    }
}

static int do_stamp(conf_ctx *c, peer_io *io, ipm_sender *tx)
{
    while (wait_go(c, io, tx)) {
        /* Give the check time to be asleep in ipm_receive. */
        conf_sleep_ms(50);
        uint64_t now = tool_now_ns();
        ipm_status st = ipm_send(tx, &now, sizeof now, 5000, CONF_SEQ_TOPIC);
        if (st != IPM_OK) {
            report(io, "fail sending a stamp: %s: %s", ipm_strerror(st),
                   ipm_last_error());
            return 1;
        }
        report(io, "sent");
    }
    return 0;
}

static int do_drain(peer_io *io, ipm_receiver *rx)
{
    while (!stdin_closed(io)) {
        ipm_message m;
        ipm_status st = ipm_receive(rx, &m, 20);
        if (st == IPM_OK)
            ipm_message_release(&m);
        else if (st != IPM_ETIMEDOUT)
            conf_sleep_ms(5);
    }
    return 0;
}

int conf_peer_main(conf_ctx *c, const conf_peer_args *a, int in_fd, int out_fd)
{
    peer_io io = {in_fd, out_fd, false};
    ipm_sender *tx = NULL;
    ipm_receiver *rx = NULL;
    char resolved[CONF_EP_CAP];
    ipm_status st;
    /* A subscriber that connects to several publishers takes them as a list. */
    const char *key =
        !a->sender && strchr(a->ep, ',') ? "connection_strings" : "connection_string";
    if (a->sender)
        st = conf_sender_open(c, a->ep, &tx, resolved, sizeof resolved);
    else
        st = conf_receiver_open(c, key, a->ep, &rx, resolved, sizeof resolved);
    if (st == IPM_OK && rx && c->pubsub) st = ipm_subscribe(rx, "");
    if (st != IPM_OK) {
        report(&io, "fail %s %s on %s: %s: %s", a->binds ? "binding" : "connecting",
               a->sender ? c->o->sender_type : c->o->receiver_type, a->ep,
               ipm_strerror(st), ipm_last_error());
        ipm_sender_destroy(tx);
        ipm_receiver_destroy(rx);
        return 1;
    }
    report(&io, "ready %s", resolved);
    int rc = 0;
    switch (a->action) {
    case CONF_ACT_HOLD:
        wait_eof(&io);
        break;
    case CONF_ACT_STREAM:
        rc = tx ? do_stream(c, a, &io, tx) : 1;
        break;
    case CONF_ACT_FLOOD:
        rc = tx ? do_flood(c, a, &io, tx) : 1;
        break;
    case CONF_ACT_STAMP:
        rc = tx ? do_stamp(c, &io, tx) : 1;
        break;
    case CONF_ACT_DRAIN:
        rc = rx ? do_drain(&io, rx) : 1;
        break;
    }
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(rx);
    return rc;
}
