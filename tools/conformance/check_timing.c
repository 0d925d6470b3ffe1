/*
 * check_timing.c — timeouts and wake-ups: a receive with nothing to get, a
 * send into a full transport, and a blocked receive woken by an arrival.
 *
 * Bounds are the contract's ([T, T + 20 ms]); the machine may be loaded, so
 * each bound is met by the best of several tries, while returning early
 * (before T) fails on any try.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIES 5
#define SLACK_MS 20.0
#define T_MS 50

/* Largest amount the send_timeout check puts into a transport with no
 * reader before it calls the sender one that never blocks. */
#define FILL_CAP ((size_t)64 << 20)
#define FILL_MSG 4096

int conf_check_receive_timeout(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    int r = CONF_PASS;
    double best = 1e9, best0 = 1e9;
    static const int timeouts[] = {T_MS, IPM_NO_BLOCK};
    for (int k = 0; k < 2 && r == CONF_PASS; k++) {
        int t = timeouts[k];
        for (int i = 0; i < TRIES && r == CONF_PASS; i++) {
            ipm_message m;
            uint64_t t0 = tool_now_ns();
            ipm_status st = ipm_receive(p.rx, &m, t);
            double el = conf_ms_since(t0);
            if (st == IPM_OK) {
                r = conf_fail(c,
                              "a message ('%s', %zu bytes) arrived though none was sent",
                              m.metadata, m.size);
                ipm_message_release(&m);
            } else if (st != IPM_ETIMEDOUT) {
                r = conf_fail_st(c, st, "ipm_receive(timeout %d ms)", t);
            } else if (el < t) {
                r = conf_fail(
                    c, "ipm_receive(timeout %d ms) returned after %.2f ms, early", t, el);
            } else if (t == T_MS && el - t < best) {
                best = el - t;
            } else if (t == 0 && el < best0) {
                best0 = el;
            }
        }
    }
    conf_pair_close(&p);
    if (r != CONF_PASS) return r;
    if (best > SLACK_MS)
        return conf_fail(c,
                         "ipm_receive(timeout %d ms) took at best %.1f ms (%d tries), "
                         "more than T + %.0f ms",
                         T_MS, T_MS + best, TRIES, SLACK_MS);
    if (best0 > SLACK_MS)
        return conf_fail(c, "ipm_receive(IPM_NO_BLOCK) took at best %.1f ms", best0);
    return conf_note(c, "T=%d ms: best %.2f ms; IPM_NO_BLOCK: best %.2f ms", T_MS,
                     T_MS + best, best0);
}

int conf_check_send_timeout(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    char *buf = calloc(1, FILL_MSG);
    if (!buf) {
        conf_pair_close(&p);
        return conf_fail(c, "out of memory");
    }
    /* Fill: nobody reads p.rx. The first send may wait for the link to be
     * up (a sender that queues nothing for an absent peer). */
    size_t sent = 0;
    ipm_status st = ipm_send(p.tx, buf, FILL_MSG, 5000, "fill");
    if (st != IPM_OK) {
        free(buf);
        conf_pair_close(&p);
        return conf_fail_st(c, st, "the first send (5 s timeout)");
    }
    sent++;
    uint64_t t0 = tool_now_ns();
    while (sent < FILL_CAP / FILL_MSG && conf_ms_since(t0) < 5000) {
        st = ipm_send(p.tx, buf, FILL_MSG, IPM_NO_BLOCK, "fill");
        if (st != IPM_OK) break;
        sent++;
    }
    int r = CONF_PASS;
    if (st == IPM_OK) {
        char t[32];
        tool_format_size(sent * FILL_MSG, t, sizeof t);
        r = conf_na(c,
                    "the sender never blocked: it took %zu messages (%s) with no reader "
                    "(%s)",
                    sent, t,
                    c->pubsub ? "a publisher that drops for slow subscribers"
                              : "the transport buffers without bound");
    } else if (st != IPM_ETIMEDOUT) {
        r = conf_fail_st(c, st, "filling the transport (message %zu)", sent + 1);
    }
    double best = 1e9;
    for (int i = 0; i < TRIES && r == CONF_PASS; i++) {
        uint64_t ts = tool_now_ns();
        st = ipm_send(p.tx, buf, FILL_MSG, T_MS, "fill");
        double el = conf_ms_since(ts);
        if (st == IPM_OK) {
            i--; /* room appeared (the transport moved data on): fill again */
            if (conf_ms_since(t0) > 10000)
                r = conf_fail(c, "a full transport kept taking messages for 10 s");
            continue;
        }
        if (st != IPM_ETIMEDOUT)
            r = conf_fail_st(c, st, "ipm_send(timeout %d ms)", T_MS);
        else if (el < T_MS)
            r = conf_fail(c, "ipm_send(timeout %d ms) returned after %.2f ms, early",
                          T_MS, el);
        else if (el - T_MS < best)
            best = el - T_MS;
    }
    free(buf);
    conf_pair_close(&p);
    if (r != CONF_PASS) return r;
    if (best > SLACK_MS)
        return conf_fail(c,
                         "ipm_send(timeout %d ms) into a full transport took at best "
                         "%.1f ms (%d tries)",
                         T_MS, T_MS + best, TRIES);
    return conf_note(c, "full after %zu x %d B; T=%d ms: best %.2f ms", sent, FILL_MSG,
                     T_MS, T_MS + best);
}

int conf_check_wakeup(conf_ctx *c)
{
    conf_peer peer;
    ipm_sender *tx;
    ipm_receiver *rx;
    if (conf_peer_with_local(c, true, CONF_ACT_STAMP, 0, 0, &peer, &tx, &rx) != CONF_PASS)
        return CONF_FAIL;
    int r = conf_wait_probe(c, rx, 5000);
    double best = 1e9;
    for (int i = 0; i < TRIES && r == CONF_PASS; i++) {
        if (!conf_peer_tell(&peer, "go")) {
            r = conf_fail(c, "the peer went away");
            break;
        }
        ipm_message m;
        ipm_status st = conf_receive(rx, &m, 5000);
        uint64_t now = tool_now_ns();
        if (st != IPM_OK) {
            r = conf_fail_st(c, st, "receiving the peer's message %d", i + 1);
            break;
        }
        uint64_t stamp = 0;
        if (m.size == sizeof stamp) memcpy(&stamp, m.data, sizeof stamp);
        ipm_message_release(&m);
        if (stamp == 0 || stamp > now) {
            r = conf_fail(c, "the peer's message holds no valid send time");
            break;
        }
        double lat = (double)(now - stamp) / 1e6;
        if (lat < best) best = lat;
        if (!conf_peer_read(&peer, 5000) || strcmp(peer.line, "sent") != 0)
            r = conf_fail(c, "the peer: %s", peer.line[0] ? peer.line : "no report");
    }
    bool process = peer.process;
    conf_peer_finish(&peer, 3000);
    ipm_receiver_destroy(rx);
    if (r != CONF_PASS) return r;
    if (best > 10.0)
        return conf_fail(c,
                         "a blocked receive returned at best %.2f ms after the send "
                         "(%d tries); it should wake at once",
                         best, TRIES);
    return conf_note(c, "best %.3f ms from send to return, peer %s", best,
                     process ? "process" : "thread (in-process)");
}
