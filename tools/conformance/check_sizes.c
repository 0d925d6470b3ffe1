/*
 * check_sizes.c — message sizes from 1 B up to the stated largest message,
 * and IPM_ETOOBIG one past it.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest message actually sent when a transport states no limit. */
#define UNSTATED_CAP ((size_t)64 << 20)

/* Sizes to try up to max: every 2^k - 1, 2^k, 2^k + 1 up to 64 KiB, then
 * powers of two, then max - 1 and max. Returns the count written. */
static size_t size_list(size_t max, size_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t s = 1; s <= max && n + 3 < cap; s *= 2) {
        if (s <= 65536) {
            if (s > 2 && s - 1 <= max) out[n++] = s - 1;
            out[n++] = s;
            if (s > 1 && s + 1 <= max) out[n++] = s + 1;
        } else {
            out[n++] = s;
        }
        if (s > max / 2) break;
    }
    if (max > 1 && (n == 0 || out[n - 1] < max - 1)) out[n++] = max - 1;
    if (n == 0 || out[n - 1] < max) out[n++] = max;
    return n;
}

int conf_check_sizes(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    bool stated = p.lim.max_message_size != IPM_LIMIT_NONE;
    size_t cap = c->o->unstated_max ? (size_t)c->o->unstated_max : UNSTATED_CAP;
    size_t max =
        stated && p.lim.max_message_size < cap ? (size_t)p.lim.max_message_size : cap;
    size_t sizes[128];
    size_t n = size_list(max, sizes, 128);
    char *buf = malloc(max);
    if (!buf) {
        conf_pair_close(&p);
        return conf_fail(c, "no memory for a %zu-byte message", max);
    }
    int r = CONF_PASS;
    for (size_t i = 0; i < n && r == CONF_PASS; i++) {
        size_t s = sizes[i];
        conf_fill(buf, s, s);
        /* Sent then received in one thread: the transport must buffer one
         * message of any size it accepts. */
        ipm_status st = ipm_send(p.tx, buf, s, 10000, "size");
        if (st != IPM_OK) {
            r = conf_fail_st(c, st, "sending %zu bytes", s);
            break;
        }
        ipm_message m;
        st = conf_receive(p.rx, &m, 10000);
        if (st != IPM_OK) {
            r = conf_fail_st(c, st, "receiving the %zu-byte message", s);
            break;
        }
        size_t bad;
        if (m.size != s)
            r = conf_fail(c, "sent %zu bytes, received %zu", s, m.size);
        else if (!conf_verify(m.data, s, s, &bad))
            r = conf_fail(c, "%zu-byte message: byte %zu differs", s, bad);
        else if (strcmp(m.metadata, "size") != 0)
            r = conf_fail(c, "%zu-byte message: metadata '%s', not 'size'", s,
                          m.metadata);
        ipm_message_release(&m);
    }
    free(buf);
    conf_pair_close(&p);
    if (r != CONF_PASS) return r;
    char t[64];
    tool_format_size(max, t, sizeof t);
    if (!stated)
        return conf_note(c, "%zu sizes, 1 B to %s: no limit stated, capped there", n, t);
    if (max < p.lim.max_message_size)
        return conf_note(
            c, "%zu sizes, 1 B to %s: the stated limit is larger, capped there", n, t);
    return conf_note(c, "%zu sizes, 1 B to the stated %s", n, t);
}

int conf_check_too_big(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    uint64_t max = p.lim.max_message_size;
    if (max == IPM_LIMIT_NONE) {
        conf_pair_close(&p);
        return conf_na(c, "no max_message_size stated (IPM_LIMIT_NONE)");
    }
    if (max >= UNSTATED_CAP * 16) {
        conf_pair_close(&p);
        return conf_na(c,
                       "the stated max_message_size %llu is too large to allocate here",
                       (unsigned long long)max);
    }
    char *buf = calloc(1, (size_t)max + 1);
    if (!buf) {
        conf_pair_close(&p);
        return conf_fail(c, "no memory for %llu bytes", (unsigned long long)max + 1);
    }
    int r = CONF_PASS;
    ipm_stats before, after;
    ipm_sender_stats(p.tx, &before);
    ipm_status st = ipm_send(p.tx, buf, (size_t)max + 1, 1000, "too-big");
    ipm_sender_stats(p.tx, &after);
    if (st != IPM_ETOOBIG)
        r = conf_fail(c, "%llu bytes (one past the stated max) gave %s, not IPM_ETOOBIG",
                      (unsigned long long)max + 1, ipm_strerror(st));
    else if (after.messages != before.messages)
        r = conf_fail(c, "the refused message was counted in the sender's stats");
    if (r == CONF_PASS) {
        /* Nothing of it arrives, and the sender still works. */
        ipm_message m;
        st = ipm_send(p.tx, buf, 1, 5000, "after");
        if (st != IPM_OK) {
            r = conf_fail_st(c, st, "a 1-byte send after the refused one");
        } else if ((st = conf_receive(p.rx, &m, 5000)) != IPM_OK) {
            r = conf_fail_st(c, st, "receiving the message after the refused one");
        } else {
            if (strcmp(m.metadata, "after") != 0 || m.size != 1)
                r = conf_fail(c,
                              "a part of the refused message arrived (%zu bytes, '%s')",
                              m.size, m.metadata);
            ipm_message_release(&m);
        }
    }
    free(buf);
    conf_pair_close(&p);
    if (r != CONF_PASS) return r;
    return conf_note(c, "max_message_size %llu", (unsigned long long)max);
}
