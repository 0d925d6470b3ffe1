/*
 * pair.c — opening the run's types on an endpoint, the limits they state,
 * the pub/sub "subscription is in effect" probe, and the small helpers
 * every check uses (reasons, payload patterns, time).
 */
#define _GNU_SOURCE
#include "conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ reasons */

static int vrecord(conf_ctx *c, int result, const char *fmt, va_list ap)
{
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    return result;
}

int conf_fail(conf_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vrecord(c, CONF_FAIL, fmt, ap);
    va_end(ap);
    return r;
}

int conf_na(conf_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vrecord(c, CONF_NA, fmt, ap);
    va_end(ap);
    return r;
}

int conf_note(conf_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vrecord(c, CONF_PASS, fmt, ap);
    va_end(ap);
    return r;
}

int conf_fail_st(conf_ctx *c, ipm_status st, const char *fmt, ...)
{
    char head[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    const char *detail = ipm_last_error();
    return conf_fail(c, "%s: %s%s%s", head, ipm_strerror(st), *detail ? ": " : "",
                     detail);
}

/* -------------------------------------------------------------- opening */

/* connection_string (or key) = ep, then every --set key=value. */
ipm_status conf_params(conf_ctx *c, const char *key, const char *ep, ipm_params **out)
{
    ipm_params *p = NULL;
    ipm_status st = ipm_params_new(&p);
    if (st == IPM_OK) st = ipm_params_set(p, key, ep);
    for (size_t i = 0; st == IPM_OK && i < c->o->nsets; i++) {
        const char *kv = c->o->sets[i];
        const char *eq = strchr(kv, '=');
        char k[256];
        snprintf(k, sizeof k, "%.*s", (int)(eq - kv), kv);
        st = ipm_params_set(p, k, eq + 1);
    }
    if (st != IPM_OK) {
        ipm_params_free(p);
        return st;
    }
    *out = p;
    return IPM_OK;
}

ipm_status conf_sender_open(conf_ctx *c, const char *ep, ipm_sender **out, char *resolved,
                            size_t cap)
{
    *out = NULL;
    ipm_params *p;
    ipm_status st = conf_params(c, "connection_string", ep, &p);
    if (st != IPM_OK) return st;
    ipm_sender *s = NULL;
    st = ipm_sender_create(c->o->sender_type, &s);
    if (st == IPM_OK) st = ipm_sender_connect(s, p);
    ipm_params_free(p);
    if (st != IPM_OK) {
        ipm_sender_destroy(s);
        return st;
    }
    if (resolved) {
        const char *e = ipm_sender_endpoint(s);
        snprintf(resolved, cap, "%s", e ? e : ep);
    }
    *out = s;
    return IPM_OK;
}

ipm_status conf_receiver_open(conf_ctx *c, const char *key, const char *ep,
                              ipm_receiver **out, char *resolved, size_t cap)
{
    *out = NULL;
    ipm_params *p;
    ipm_status st = conf_params(c, key, ep, &p);
    if (st != IPM_OK) return st;
    ipm_receiver *r = NULL;
    st = ipm_receiver_create(c->o->receiver_type, &r);
    if (st == IPM_OK) st = ipm_receiver_connect(r, p);
    ipm_params_free(p);
    if (st != IPM_OK) {
        ipm_receiver_destroy(r);
        return st;
    }
    if (resolved) {
        const char *e = ipm_receiver_endpoint(r);
        snprintf(resolved, cap, "%s", e ? e : ep);
    }
    *out = r;
    return IPM_OK;
}

int conf_pair_open(conf_ctx *c, conf_pair *p, int flags)
{
    memset(p, 0, sizeof *p);
    char ep[CONF_EP_CAP];
    conf_endpoint_fresh(c, 0, ep, sizeof ep);
    ipm_status st;
    if (c->sender_binds) {
        st = conf_sender_open(c, ep, &p->tx, p->endpoint, sizeof p->endpoint);
        if (st != IPM_OK)
            return conf_fail_st(c, st, "connecting %s to %s", c->o->sender_type, ep);
        st = conf_receiver_open(c, "connection_string", p->endpoint, &p->rx, NULL, 0);
        if (st != IPM_OK) {
            conf_pair_close(p);
            return conf_fail_st(c, st, "connecting %s to %s", c->o->receiver_type,
                                p->endpoint);
        }
    } else {
        st = conf_receiver_open(c, "connection_string", ep, &p->rx, p->endpoint,
                                sizeof p->endpoint);
        if (st != IPM_OK)
            return conf_fail_st(c, st, "connecting %s to %s", c->o->receiver_type, ep);
        st = conf_sender_open(c, p->endpoint, &p->tx, NULL, 0);
        if (st != IPM_OK) {
            conf_pair_close(p);
            return conf_fail_st(c, st, "connecting %s to %s", c->o->sender_type,
                                p->endpoint);
        }
    }
    ipm_limits lt, lr;
    if (ipm_sender_limits(p->tx, &lt) != IPM_OK ||
        ipm_receiver_limits(p->rx, &lr) != IPM_OK) {
        conf_pair_close(p);
        return conf_fail(c, "ipm_*_limits failed on a connected pair: %s",
                         ipm_last_error());
    }
    conf_limits_merge(&lt, &lr, &p->lim);
    if (c->pubsub && (flags & CONF_PAIR_SUBSCRIBE_ALL)) {
        st = ipm_subscribe(p->rx, "");
        if (st != IPM_OK) {
            conf_pair_close(p);
            return conf_fail_st(c, st, "ipm_subscribe(\"\")");
        }
        if (conf_sync(c, p->tx, p->rx, 5000) != CONF_PASS) {
            conf_pair_close(p);
            return CONF_FAIL;
        }
    }
    return CONF_PASS;
}

void conf_pair_close(conf_pair *p)
{
    ipm_receiver_destroy(p->rx);
    ipm_sender_destroy(p->tx);
    p->rx = NULL;
    p->tx = NULL;
}

/* --------------------------------------------------------------- limits */

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

void conf_limits_merge(const ipm_limits *tx, const ipm_limits *rx, ipm_limits *out)
{
    /* Crossing processes or hosts needs both ends; fan-in and many
     * publishers are what a receiving end states. */
    uint32_t both = IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST;
    out->max_message_size = min64(tx->max_message_size, rx->max_message_size);
    out->max_metadata_size = min64(tx->max_metadata_size, rx->max_metadata_size);
    out->features = (tx->features & rx->features & both) | (rx->features & ~both);
    out->reserved_ = 0;
}

const char *conf_size_text(uint64_t v, char *buf, size_t cap)
{
    if (v == IPM_LIMIT_NONE) {
        snprintf(buf, cap, "none");
    } else {
        char s[64];
        snprintf(buf, cap, "%llu B (%s)", (unsigned long long)v,
                 tool_format_size((size_t)v, s, sizeof s));
    }
    return buf;
}

static void print_one(const char *who, const ipm_limits *l)
{
    char a[96], b[96];
    printf("#   %-8s max_message_size %s, max_metadata_size %s, features:%s%s%s%s%s%s\n",
           who, conf_size_text(l->max_message_size, a, sizeof a),
           conf_size_text(l->max_metadata_size, b, sizeof b),
           l->features & IPM_FEATURE_CROSS_PROCESS ? " cross-process" : "",
           l->features & IPM_FEATURE_CROSS_HOST ? " cross-host" : "",
           l->features & IPM_FEATURE_FAN_IN ? " fan-in" : "",
           l->features & IPM_FEATURE_MULTI_PUBLISHER ? " multi-publisher" : "",
           l->features & IPM_FEATURE_DROP_COUNT ? " drop-count" : "",
           l->features ? "" : " (none)");
}

void conf_limits_print(const ipm_limits *tx, const ipm_limits *rx)
{
    printf("# limits after connect:\n");
    print_one("sender", tx);
    print_one("receiver", rx);
}

/* ------------------------------------------------------------ messages */

ipm_status conf_receive(ipm_receiver *rx, ipm_message *m, int timeout_ms)
{
    uint64_t deadline =
        tool_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
    for (;;) {
        ipm_status st = ipm_receive(rx, m, timeout_ms);
        if (st != IPM_OK || strcmp(m->metadata, CONF_SYNC_TOPIC) != 0) return st;
        ipm_message_release(m);
        if (timeout_ms >= 0) {
            uint64_t now = tool_now_ns();
            timeout_ms = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
        }
    }
}

int conf_sync(conf_ctx *c, ipm_sender *tx, ipm_receiver *rx, int timeout_ms)
{
    if (!c->pubsub) return CONF_PASS;
    return conf_sync_topic(c, tx, rx, CONF_SYNC_TOPIC, timeout_ms);
}

int conf_sync_topic(conf_ctx *c, ipm_sender *tx, ipm_receiver *rx, const char *topic,
                    int timeout_ms)
{
    uint64_t t0 = tool_now_ns();
    while (conf_ms_since(t0) < timeout_ms) {
        ipm_status st = ipm_send(tx, "probe", 5, IPM_NO_BLOCK, topic);
        if (st != IPM_OK && st != IPM_ETIMEDOUT)
            return conf_fail_st(c, st, "sending a probe on topic %s", topic);
        ipm_message m;
        st = ipm_receive(rx, &m, 10);
        if (st == IPM_OK) {
            ipm_message_release(&m);
            /* Drain the probes still on their way. */
            while (ipm_receive(rx, &m, 30) == IPM_OK)
                ipm_message_release(&m);
            return CONF_PASS;
        }
        if (st != IPM_ETIMEDOUT) return conf_fail_st(c, st, "receiving a probe");
    }
    return conf_fail(c,
                     "no probe on topic '%s' reached the subscriber within %d ms "
                     "(subscribed, publisher sending every ~10 ms)",
                     topic, timeout_ms);
}

/* A byte pattern that differs between sizes and offsets, so that a
 * truncated, shifted or mixed-up message does not verify. */
static uint8_t pattern_byte(size_t i, uint64_t salt)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + salt * 0xBF58476D1CE4E5B9ull;
    return (uint8_t)(x >> 56);
}

void conf_fill(void *buf, size_t size, uint64_t salt)
{
    uint8_t *b = buf;
    for (size_t i = 0; i < size; i++)
        b[i] = pattern_byte(i, salt);
}

bool conf_verify(const void *buf, size_t size, uint64_t salt, size_t *bad_at)
{
    const uint8_t *b = buf;
    for (size_t i = 0; i < size; i++)
        if (b[i] != pattern_byte(i, salt)) {
            *bad_at = i;
            return false;
        }
    return true;
}

/* ----------------------------------------------------------------- time */

double conf_ms_since(uint64_t t0_ns)
{
    return (double)(tool_now_ns() - t0_ns) / 1e6;
}

void conf_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

void conf_limits_stated(conf_ctx *c, ipm_limits *out)
{
    if (!c->have_limits) {
        conf_pair p;
        char keep[sizeof c->why];
        memcpy(keep, c->why, sizeof keep);
        if (conf_pair_open(c, &p, CONF_PAIR_NO_SUBSCRIBE) == CONF_PASS) {
            c->limits = p.lim;
            conf_pair_close(&p);
        } else {
            ipm_sender *tx = NULL;
            ipm_receiver *rx = NULL;
            ipm_limits lt = {IPM_LIMIT_NONE, IPM_LIMIT_NONE, 0, 0}, lr = lt;
            if (ipm_sender_create(c->o->sender_type, &tx) == IPM_OK)
                ipm_sender_limits(tx, &lt);
            if (ipm_receiver_create(c->o->receiver_type, &rx) == IPM_OK)
                ipm_receiver_limits(rx, &lr);
            ipm_sender_destroy(tx);
            ipm_receiver_destroy(rx);
            conf_limits_merge(&lt, &lr, &c->limits);
        }
        memcpy(c->why, keep, sizeof keep);
        c->have_limits = true;
    }
    *out = c->limits;
}

int conf_wait_probe(conf_ctx *c, ipm_receiver *rx, int timeout_ms)
{
    if (!c->pubsub) return CONF_PASS;
    uint64_t t0 = tool_now_ns();
    while (conf_ms_since(t0) < timeout_ms) {
        ipm_message m;
        ipm_status st = ipm_receive(rx, &m, 50);
        if (st == IPM_OK) {
            bool probe = strcmp(m.metadata, CONF_SYNC_TOPIC) == 0;
            ipm_message_release(&m);
            if (probe) return CONF_PASS;
        } else if (st != IPM_ETIMEDOUT) {
            return conf_fail_st(c, st, "receiving the peer's probes");
        }
    }
    return conf_fail(c, "no probe from the publishing peer arrived within %d ms",
                     timeout_ms);
}
