/*
 * check_streams.c — many sequence-numbered messages across processes: the
 * stream (none lost, doubled or reordered; for pub/sub, received + dropped
 * equals published and what arrives is in order) and fan-in (two sending
 * processes into one receiver, in order per sender).
 */
#define _GNU_SOURCE
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pub/sub: the publisher runs at most two windows ahead of what the
 * subscriber has taken, so that a subscriber that keeps up need not drop
 * and the check tests counting, not speed. A credit that does not come
 * (its message was dropped) holds the publisher only briefly. */
#define PUBSUB_WINDOW 100
#define FAN_IN_COUNT 20000

/* Take one stream message; *seq and *id from it. */
static int take(conf_ctx *c, ipm_receiver *rx, int timeout_ms, uint64_t got,
                conf_seq *out)
{
    ipm_message m;
    ipm_status st = conf_receive(rx, &m, timeout_ms);
    if (st != IPM_OK)
        return conf_fail_st(c, st, "after %llu messages, the next did not arrive",
                            (unsigned long long)got);
    int r = CONF_PASS;
    if (m.size != sizeof *out || strcmp(m.metadata, CONF_SEQ_TOPIC) != 0)
        r = conf_fail(c,
                      "after %llu messages, one of %zu bytes with metadata '%.40s' "
                      "arrived, not a sequence message",
                      (unsigned long long)got, m.size, m.metadata);
    else
        memcpy(out, m.data, sizeof *out);
    ipm_message_release(&m);
    return r;
}

static int stream_lossless(conf_ctx *c, conf_peer *peer, ipm_receiver *rx, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        conf_seq s;
        if (take(c, rx, 10000, i, &s) != CONF_PASS) {
            /* Say whether the sender thinks it sent everything (a loss)
             * or is itself stuck or failing (a stall). */
            char why[sizeof c->why];
            snprintf(why, sizeof why, "%s", c->why);
            bool said = conf_peer_read(peer, 12000);
            return conf_fail(c, "%s; the sending peer: %s", why,
                             said ? peer->line : "reported nothing within 12 s more");
        }
        if (s.id != 1 || s.seq != i)
            return conf_fail(c, "message %llu was sender %llu's #%llu (%s)",
                             (unsigned long long)i, (unsigned long long)s.id,
                             (unsigned long long)s.seq,
                             s.seq > i ? "messages lost" : "duplicated or reordered");
    }
    if (!conf_peer_read(peer, 10000) || strncmp(peer->line, "done ", 5) != 0)
        return conf_fail(c, "the sending peer: %s",
                         peer->line[0] ? peer->line : "no report");
    ipm_message m;
    ipm_status st = conf_receive(rx, &m, 100);
    if (st == IPM_OK) {
        ipm_message_release(&m);
        return conf_fail(c, "a message arrived after all %llu", (unsigned long long)n);
    }
    return CONF_PASS;
}

static int stream_pubsub(conf_ctx *c, conf_peer *peer, ipm_receiver *rx, uint64_t n)
{
    ipm_stats s0, s1;
    ipm_receiver_stats(rx, &s0);
    uint64_t received = 0, next = 0, credited = 0;
    bool done = false;
    while (next < n) {
        conf_seq s;
        ipm_message m;
        ipm_status st = conf_receive(rx, &m, 3000);
        if (st == IPM_ETIMEDOUT) break; /* the rest was lost */
        if (st != IPM_OK)
            return conf_fail_st(c, st, "receiving after %llu messages",
                                (unsigned long long)received);
        bool seqmsg = m.size == sizeof s && strcmp(m.metadata, CONF_SEQ_TOPIC) == 0;
        if (seqmsg) memcpy(&s, m.data, sizeof s);
        ipm_message_release(&m);
        if (!seqmsg) return conf_fail(c, "a message that is not the stream's arrived");
        if (s.seq < next)
            return conf_fail(c, "#%llu arrived after #%llu (duplicated or reordered)",
                             (unsigned long long)s.seq, (unsigned long long)next - 1);
        next = s.seq + 1;
        received++;
        if (next >= credited + PUBSUB_WINDOW) {
            char cmd[64];
            snprintf(cmd, sizeof cmd, "credit %llu", (unsigned long long)next);
            conf_peer_tell(peer, cmd);
            credited = next;
        }
    }
    if (conf_peer_read(peer, 10000) && strncmp(peer->line, "done ", 5) == 0)
        done = true;
    else
        return conf_fail(c,
                         "after %llu messages received (the last #%llu), the publishing "
                         "peer: %s",
                         (unsigned long long)received, (unsigned long long)next - 1,
                         peer->line[0] ? peer->line : "no report");
    ipm_receiver_stats(rx, &s1);
    uint64_t dropped = s1.dropped - s0.dropped;
    ipm_limits lim;
    conf_limits_stated(c, &lim);
    if (done && received + dropped != n && !(lim.features & IPM_FEATURE_DROP_COUNT))
        /* A declared limit, printed: the transport cannot count its drops. */
        return conf_note(c,
                         "%llu published, %llu received in order, %llu lost uncounted "
                         "(%s does not state IPM_FEATURE_DROP_COUNT)",
                         (unsigned long long)n, (unsigned long long)received,
                         (unsigned long long)(n - received - dropped),
                         c->o->receiver_type);
    if (done && received + dropped != n)
        return conf_fail(c,
                         "published %llu, received %llu, dropped (counted) %llu: %llu "
                         "lost without being counted",
                         (unsigned long long)n, (unsigned long long)received,
                         (unsigned long long)dropped,
                         (unsigned long long)(n - received - dropped));
    return conf_note(c, "%llu published, %llu received, %llu dropped",
                     (unsigned long long)n, (unsigned long long)received,
                     (unsigned long long)dropped);
}

int conf_check_stream(conf_ctx *c)
{
    uint64_t n = c->o->stream_count;
    conf_peer peer;
    ipm_sender *tx;
    ipm_receiver *rx;
    if (conf_peer_with_local(c, true, CONF_ACT_STREAM, n, c->pubsub ? PUBSUB_WINDOW : 0,
                             &peer, &tx, &rx) != CONF_PASS)
        return CONF_FAIL;
    int r = conf_wait_probe(c, rx, 5000);
    uint64_t t0 = tool_now_ns();
    if (r == CONF_PASS && !conf_peer_tell(&peer, "go"))
        r = conf_fail(c, "the peer went away");
    if (r == CONF_PASS)
        r = c->pubsub ? stream_pubsub(c, &peer, rx, n) : stream_lossless(c, &peer, rx, n);
    double ms = conf_ms_since(t0);
    bool process = peer.process;
    conf_peer_finish(&peer, 3000);
    ipm_receiver_destroy(rx);
    if (r == CONF_FAIL) return r;
    char note[sizeof c->why];
    memcpy(note, c->why, sizeof note);
    return conf_note(c, "%s%s%llu messages in %.0f ms, peer %s", note,
                     note[0] ? "; " : "", (unsigned long long)n, ms,
                     process ? "process" : "thread (in-process)");
}

int conf_check_fan_in(conf_ctx *c)
{
    if (c->pubsub)
        return conf_na(c, "pub/sub pattern (one subscriber on many publishers is "
                          "multi_publisher)");
    if (c->sender_binds) return conf_na(c, "the sender binds (--bind sender)");
    ipm_limits lim;
    conf_limits_stated(c, &lim);
    if (!(lim.features & IPM_FEATURE_FAN_IN))
        return conf_na(c, "%s does not state IPM_FEATURE_FAN_IN", c->o->receiver_type);
    bool process = conf_peers_are_processes(c);
    char ep[CONF_EP_CAP], resolved[CONF_EP_CAP];
    conf_endpoint_fresh(c, 0, ep, sizeof ep);
    ipm_receiver *rx;
    ipm_status st =
        conf_receiver_open(c, "connection_string", ep, &rx, resolved, sizeof resolved);
    if (st != IPM_OK) return conf_fail_st(c, st, "binding %s", ep);
    conf_peer peers[2];
    int started = 0, r = CONF_PASS;
    for (int i = 0; i < 2 && r == CONF_PASS; i++) {
        conf_peer_args a = {.sender = true,
                            .action = CONF_ACT_STREAM,
                            .binds = false,
                            .id = (uint64_t)i + 1,
                            .count = FAN_IN_COUNT};
        snprintf(a.ep, sizeof a.ep, "%s", resolved);
        r = conf_peer_start(c, &peers[i], &a, process);
        if (r == CONF_PASS) started++;
    }
    for (int i = 0; i < started && r == CONF_PASS; i++)
        if (!conf_peer_tell(&peers[i], "go"))
            r = conf_fail(c, "peer %d went away", i + 1);
    uint64_t next[2] = {0, 0};
    for (uint64_t got = 0; r == CONF_PASS && got < 2 * FAN_IN_COUNT; got++) {
        conf_seq s;
        if (take(c, rx, 10000, got, &s) != CONF_PASS) {
            r = CONF_FAIL;
            break;
        }
        if (s.id < 1 || s.id > 2) {
            r = conf_fail(c, "a message from unknown sender %llu",
                          (unsigned long long)s.id);
            break;
        }
        if (s.seq != next[s.id - 1]) {
            r = conf_fail(c, "sender %llu: #%llu arrived where #%llu was due (%s)",
                          (unsigned long long)s.id, (unsigned long long)s.seq,
                          (unsigned long long)next[s.id - 1],
                          s.seq > next[s.id - 1] ? "lost" : "duplicated or reordered");
            break;
        }
        next[s.id - 1]++;
    }
    for (int i = 0; i < started; i++) {
        if (r == CONF_PASS && (!conf_peer_read(&peers[i], 10000) ||
                               strncmp(peers[i].line, "done ", 5) != 0))
            r = conf_fail(c, "sending peer %d: %s", i + 1,
                          peers[i].line[0] ? peers[i].line : "no report");
        conf_peer_finish(&peers[i], 3000);
    }
    ipm_receiver_destroy(rx);
    if (r != CONF_PASS) return r;
    return conf_note(c, "2 x %d messages, peers %s", FAN_IN_COUNT,
                     process ? "processes" : "threads (in-process)");
}
