/*
 * check_basic.c — the checks of single calls: limits, state before connect,
 * NULL data, empty messages, metadata, stats.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int conf_check_limits(conf_ctx *c)
{
    ipm_sender *tx = NULL;
    ipm_receiver *rx = NULL;
    ipm_limits before;
    ipm_status st = ipm_sender_create(c->o->sender_type, &tx);
    if (st == IPM_OK) st = ipm_sender_limits(tx, &before);
    if (st == IPM_OK) st = ipm_receiver_create(c->o->receiver_type, &rx);
    if (st == IPM_OK) st = ipm_receiver_limits(rx, &before);
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(rx);
    if (st != IPM_OK) return conf_fail_st(c, st, "limits of unconnected objects");

    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_NO_SUBSCRIBE) != CONF_PASS) return CONF_FAIL;
    ipm_limits lt, lr;
    ipm_sender_limits(p.tx, &lt);
    ipm_receiver_limits(p.rx, &lr);
    conf_limits_print(&lt, &lr);
    conf_pair_close(&p);
    if (lt.max_message_size == 0 || lr.max_message_size == 0)
        return conf_fail(c, "a max_message_size of 0 states that nothing can be sent");
    bool process = conf_peers_are_processes(c);
    return conf_note(c, "peers run as %s",
                     process         ? "processes"
                     : c->o->threads ? "threads: --threads"
                                     : "threads: no IPM_FEATURE_CROSS_PROCESS");
}

int conf_check_state(conf_ctx *c)
{
    ipm_sender *tx = NULL;
    ipm_receiver *rx = NULL;
    int r = CONF_PASS;
    ipm_status st = ipm_sender_create(c->o->sender_type, &tx);
    if (st != IPM_OK)
        return conf_fail_st(c, st, "ipm_sender_create(%s)", c->o->sender_type);
    st = ipm_receiver_create(c->o->receiver_type, &rx);
    if (st != IPM_OK) {
        ipm_sender_destroy(tx);
        return conf_fail_st(c, st, "ipm_receiver_create(%s)", c->o->receiver_type);
    }
    ipm_message m;
    if (ipm_sender_can_send(tx))
        r = conf_fail(c, "ipm_sender_can_send is true before connect");
    else if ((st = ipm_send(tx, "abcd", 4, 100, "m")) != IPM_ESTATE)
        r = conf_fail(c, "ipm_send before connect returned %s, not IPM_ESTATE",
                      ipm_strerror(st));
    else if (ipm_sender_endpoint(tx) != NULL)
        r = conf_fail(c, "ipm_sender_endpoint is not NULL before connect");
    else if (ipm_receiver_can_receive(rx))
        r = conf_fail(c, "ipm_receiver_can_receive is true before connect");
    else if ((st = ipm_receive(rx, &m, 100)) != IPM_ESTATE)
        r = conf_fail(c, "ipm_receive before connect returned %s, not IPM_ESTATE",
                      ipm_strerror(st));
    else if ((st = ipm_receive_exact(rx, &m, IPM_NO_BLOCK, 4)) != IPM_ESTATE)
        r = conf_fail(c, "ipm_receive_exact before connect returned %s, not IPM_ESTATE",
                      ipm_strerror(st));
    else if (ipm_receiver_endpoint(rx) != NULL)
        r = conf_fail(c, "ipm_receiver_endpoint is not NULL before connect");
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(rx);
    if (r != CONF_PASS) return r;

    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_NO_SUBSCRIBE) != CONF_PASS) return CONF_FAIL;
    if (!ipm_sender_can_send(p.tx))
        r = conf_fail(c, "ipm_sender_can_send is false after connect");
    else if (!ipm_receiver_can_receive(p.rx))
        r = conf_fail(c, "ipm_receiver_can_receive is false after connect");
    else if (!ipm_sender_endpoint(p.tx) || !ipm_receiver_endpoint(p.rx))
        r = conf_fail(c, "an endpoint is NULL after connect");
    conf_pair_close(&p);
    return r;
}

int conf_check_null_data(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    int r = CONF_PASS;
    ipm_message m;
    ipm_status st = ipm_send(p.tx, NULL, 5, 1000, "null");
    if (st != IPM_EINVAL) {
        r = conf_fail(c, "ipm_send(NULL, 5) returned %s, not IPM_EINVAL",
                      ipm_strerror(st));
    } else if ((st = conf_receive(p.rx, &m, 200)) != IPM_ETIMEDOUT) {
        if (st == IPM_OK) ipm_message_release(&m);
        r = conf_fail(c, "after the refused send the receiver got %s, not IPM_ETIMEDOUT",
                      ipm_strerror(st));
    }
    conf_pair_close(&p);
    return r;
}

/* Receive one message and compare it with size/metadata. */
static int expect(conf_ctx *c, ipm_receiver *rx, const void *data, size_t size,
                  const char *meta, const char *what)
{
    ipm_message m;
    ipm_status st = conf_receive(rx, &m, 5000);
    if (st != IPM_OK) return conf_fail_st(c, st, "receiving %s", what);
    int r = CONF_PASS;
    if (m.size != size)
        r = conf_fail(c, "%s: %zu bytes arrived, not %zu", what, m.size, size);
    else if (size && memcmp(m.data, data, size) != 0)
        r = conf_fail(c, "%s: the bytes differ", what);
    else if (!m.metadata)
        r = conf_fail(c, "%s: metadata is NULL", what);
    else if (m.metadata_size != strlen(meta) || strcmp(m.metadata, meta) != 0)
        r = conf_fail(c, "%s: metadata '%.40s' (%zu bytes) arrived, not '%.40s'", what,
                      m.metadata, m.metadata_size, meta);
    else if (m.metadata[m.metadata_size] != '\0')
        r = conf_fail(c, "%s: metadata is not NUL-terminated", what);
    ipm_message_release(&m);
    return r;
}

int conf_check_empty(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    int r = CONF_PASS;
    ipm_status st;
    char one = 'x';
    if ((st = ipm_send(p.tx, NULL, 0, 5000, "empty-meta")) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_send(NULL, 0, \"empty-meta\")");
    else if ((st = ipm_send(p.tx, &one, 0, 5000, "empty2")) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_send(data, 0, \"empty2\")");
    else if ((st = ipm_send(p.tx, &one, 1, 5000, NULL)) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_send(data, 1, NULL metadata)");
    else if ((r = expect(c, p.rx, NULL, 0, "empty-meta", "an empty message")) ==
                 CONF_PASS &&
             (r = expect(c, p.rx, NULL, 0, "empty2", "a second empty message")) ==
                 CONF_PASS)
        r = expect(c, p.rx, &one, 1, "", "a message with NULL metadata");
    conf_pair_close(&p);
    return r;
}

int conf_check_metadata(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    bool stated = p.lim.max_metadata_size != IPM_LIMIT_NONE;
    size_t max = stated ? (size_t)p.lim.max_metadata_size : 4096;
    if (max > (1u << 20)) max = 1u << 20;
    size_t lens[] = {1,  2,  3,   7,   8,   9,   15,  16,  17,   31,   32,   33,   63,
                     64, 65, 127, 128, 129, 254, 255, 256, 1023, 1024, 4095, 4096, 0};
    char *meta = malloc(max + 2);
    if (!meta) {
        conf_pair_close(&p);
        return conf_fail(c, "out of memory");
    }
    int r = CONF_PASS;
    size_t tried = 0;
    for (size_t i = 0; i <= sizeof lens / sizeof lens[0] && r == CONF_PASS; i++) {
        /* The listed lengths below max, then max itself. */
        size_t len = i < sizeof lens / sizeof lens[0] ? lens[i] : max;
        if (i < sizeof lens / sizeof lens[0] && (len >= max || len == 0)) continue;
        for (size_t k = 0; k < len; k++)
            meta[k] = (char)('a' + (k * 7 + len) % 26);
        meta[len] = '\0';
        uint32_t body = (uint32_t)len;
        char what[64];
        snprintf(what, sizeof what, "%zu bytes of metadata", len);
        ipm_status st = ipm_send(p.tx, &body, sizeof body, 5000, meta);
        if (st != IPM_OK)
            r = conf_fail_st(c, st, "sending %s", what);
        else
            r = expect(c, p.rx, &body, sizeof body, meta, what);
        tried++;
    }
    if (r == CONF_PASS && stated) {
        memset(meta, 'z', max + 1);
        meta[max + 1] = '\0';
        ipm_status st = ipm_send(p.tx, "x", 1, 1000, meta);
        if (st != IPM_ETOOBIG)
            r = conf_fail(c,
                          "%zu bytes of metadata (one past the stated %zu) gave %s, not "
                          "IPM_ETOOBIG",
                          max + 1, max, ipm_strerror(st));
    }
    free(meta);
    conf_pair_close(&p);
    if (r != CONF_PASS) return r;
    if (stated)
        return conf_note(c, "%zu lengths up to the stated %zu, and one past it", tried,
                         max);
    return conf_note(c, "%zu lengths up to %zu: no limit stated", tried, max);
}

int conf_check_stats(conf_ctx *c)
{
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_SUBSCRIBE_ALL) != CONF_PASS) return CONF_FAIL;
    ipm_stats t0, r0, t1, r1;
    ipm_sender_stats(p.tx, &t0);
    ipm_receiver_stats(p.rx, &r0);
    static const size_t sizes[] = {1, 10, 100, 1000, 0};
    char buf[1000] = {0};
    int r = CONF_PASS;
    uint64_t bytes = 0;
    for (size_t i = 0; i < 5 && r == CONF_PASS; i++) {
        ipm_status st = ipm_send(p.tx, buf, sizes[i], 5000, "stats");
        if (st != IPM_OK) r = conf_fail_st(c, st, "sending %zu bytes", sizes[i]);
        bytes += sizes[i];
    }
    /* A refused send is not counted. */
    if (r == CONF_PASS) ipm_send(p.tx, NULL, 3, 0, "stats");
    for (size_t i = 0; i < 5 && r == CONF_PASS; i++) {
        ipm_message m;
        ipm_status st = ipm_receive(p.rx, &m, 5000);
        if (st != IPM_OK)
            r = conf_fail_st(c, st, "receiving message %zu of 5", i + 1);
        else
            ipm_message_release(&m);
    }
    ipm_sender_stats(p.tx, &t1);
    ipm_receiver_stats(p.rx, &r1);
    conf_pair_close(&p);
    if (r != CONF_PASS) return r;
    if (t1.messages - t0.messages != 5 || t1.bytes - t0.bytes != bytes)
        return conf_fail(
            c, "sender stats counted %llu messages / %llu bytes, not 5 / %llu",
            (unsigned long long)(t1.messages - t0.messages),
            (unsigned long long)(t1.bytes - t0.bytes), (unsigned long long)bytes);
    if (r1.messages - r0.messages != 5 || r1.bytes - r0.bytes != bytes)
        return conf_fail(
            c, "receiver stats counted %llu messages / %llu bytes, not 5 / %llu",
            (unsigned long long)(r1.messages - r0.messages),
            (unsigned long long)(r1.bytes - r0.bytes), (unsigned long long)bytes);
    if (r1.dropped != r0.dropped)
        return conf_fail(c, "the receiver counted %llu drops in a lossless exchange",
                         (unsigned long long)(r1.dropped - r0.dropped));
    return CONF_PASS;
}
