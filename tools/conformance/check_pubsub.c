/*
 * check_pubsub.c — topics: nothing before a subscribe, prefix matching and
 * "" for all, unsubscribe, and one subscriber on two publishers. Every
 * check here is n/a for the sender/receiver pattern, which has no topics.
 *
 * A subscription takes effect some time after ipm_subscribe returns (ZeroMQ
 * sends it to the publisher); a check waits for it with probes on a topic
 * subscribed last (conf_sync_topic), since filter changes take effect in
 * order.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NA_SENDRECV "the sender/receiver pattern has no topics"

/* Send each topic of list (NULL-terminated) and then `end`; receive until
 * `end` arrives and compare what came with want (NULL-terminated). */
static int deliver(conf_ctx *c, conf_pair *p, const char *const *list, const char *end,
                   const char *const *want)
{
    for (size_t i = 0; list[i]; i++) {
        ipm_status st = ipm_send(p->tx, list[i], strlen(list[i]), 5000, list[i]);
        if (st != IPM_OK) return conf_fail_st(c, st, "publishing on topic '%s'", list[i]);
    }
    ipm_status st = ipm_send(p->tx, end, strlen(end), 5000, end);
    if (st != IPM_OK) return conf_fail_st(c, st, "publishing on topic '%s'", end);
    size_t k = 0;
    for (;;) {
        ipm_message m;
        st = ipm_receive(p->rx, &m, 5000);
        if (st != IPM_OK) return conf_fail_st(c, st, "waiting for topic '%s'", end);
        char topic[128];
        snprintf(topic, sizeof topic, "%s", m.metadata);
        bool body_ok = m.size == strlen(topic) && memcmp(m.data, topic, m.size) == 0;
        ipm_message_release(&m);
        if (strcmp(topic, CONF_SYNC_TOPIC) == 0) continue; /* a late probe */
        if (!body_ok) return conf_fail(c, "topic '%s' arrived with another body", topic);
        if (strcmp(topic, end) == 0) break;
        if (!want[k] || strcmp(want[k], topic) != 0)
            return conf_fail(c, "topic '%s' was delivered where %s%s%s was due", topic,
                             want[k] ? "'" : "", want[k] ? want[k] : "nothing",
                             want[k] ? "'" : "");
        k++;
    }
    if (want[k]) return conf_fail(c, "topic '%s' was not delivered", want[k]);
    return CONF_PASS;
}

int conf_check_nothing_before_subscribe(conf_ctx *c)
{
    if (!c->pubsub) return conf_na(c, NA_SENDRECV);
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_NO_SUBSCRIBE) != CONF_PASS) return CONF_FAIL;
    int r = CONF_PASS;
    uint64_t t0 = tool_now_ns();
    while (r == CONF_PASS && conf_ms_since(t0) < 300) {
        ipm_send(p.tx, "early", 5, IPM_NO_BLOCK, "early");
        ipm_message m;
        ipm_status st = ipm_receive(p.rx, &m, 10);
        if (st == IPM_OK) {
            r = conf_fail(c, "topic '%s' was delivered with no subscription", m.metadata);
            ipm_message_release(&m);
        } else if (st != IPM_ETIMEDOUT) {
            r = conf_fail_st(c, st, "ipm_receive with no subscription");
        }
    }
    /* The link was up all along: after a subscribe, messages flow - and
     * none of those published before it. */
    ipm_status st = r == CONF_PASS ? ipm_subscribe(p.rx, "") : IPM_OK;
    if (st != IPM_OK) r = conf_fail_st(c, st, "ipm_subscribe(\"\")");
    t0 = tool_now_ns();
    bool got = false;
    while (r == CONF_PASS && !got && conf_ms_since(t0) < 5000) {
        ipm_send(p.tx, "probe", 5, IPM_NO_BLOCK, CONF_SYNC_TOPIC);
        ipm_message m;
        st = ipm_receive(p.rx, &m, 10);
        if (st == IPM_OK) {
            if (strcmp(m.metadata, "early") == 0)
                r = conf_fail(c, "a message published before the first subscribe was "
                                 "delivered after it");
            got = true;
            ipm_message_release(&m);
        }
    }
    if (r == CONF_PASS && !got)
        r = conf_fail(c, "after subscribing to \"\" nothing arrived within 5 s");
    conf_pair_close(&p);
    return r;
}

int conf_check_prefix(conf_ctx *c)
{
    if (!c->pubsub) return conf_na(c, NA_SENDRECV);
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_NO_SUBSCRIBE) != CONF_PASS) return CONF_FAIL;
    int r = CONF_PASS;
    ipm_status st = ipm_subscribe(p.rx, "conf.a");
    if (st == IPM_OK) st = ipm_subscribe(p.rx, CONF_SYNC_TOPIC);
    if (st != IPM_OK) r = conf_fail_st(c, st, "ipm_subscribe");
    if (r == CONF_PASS) r = conf_sync(c, p.tx, p.rx, 5000);
    static const char *const sent[] = {"conf.a", "conf.b",   "conf.ab", "conf", "xconf.a",
                                       "",       "conf.a.x", "CONF.a",  NULL};
    static const char *const want[] = {"conf.a", "conf.ab", "conf.a.x", NULL};
    if (r == CONF_PASS) r = deliver(c, &p, sent, "conf.a.end", want);
    /* "" is every topic, the empty one included. */
    if (r == CONF_PASS && (st = ipm_subscribe(p.rx, "")) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_subscribe(\"\")");
    if (r == CONF_PASS) r = conf_sync_topic(c, p.tx, p.rx, "~all", 5000);
    static const char *const sent2[] = {"zzz", "", "conf.b", NULL};
    if (r == CONF_PASS) r = deliver(c, &p, sent2, "end", sent2);
    conf_pair_close(&p);
    return r;
}

int conf_check_unsubscribe(conf_ctx *c)
{
    if (!c->pubsub) return conf_na(c, NA_SENDRECV);
    conf_pair p;
    if (conf_pair_open(c, &p, CONF_PAIR_NO_SUBSCRIBE) != CONF_PASS) return CONF_FAIL;
    int r = CONF_PASS;
    ipm_status st = ipm_subscribe(p.rx, "conf.u");
    if (st == IPM_OK) st = ipm_subscribe(p.rx, "conf.keep");
    if (st == IPM_OK) st = ipm_subscribe(p.rx, CONF_SYNC_TOPIC);
    if (st != IPM_OK) r = conf_fail_st(c, st, "ipm_subscribe");
    if (r == CONF_PASS) r = conf_sync(c, p.tx, p.rx, 5000);
    static const char *const sent[] = {"conf.u", "conf.keep", NULL};
    if (r == CONF_PASS) r = deliver(c, &p, sent, "conf.keep.end", sent);
    if (r == CONF_PASS && (st = ipm_unsubscribe(p.rx, "conf.u")) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_unsubscribe(\"conf.u\")");
    /* A new topic, subscribed after the unsubscribe, shows when it is in
     * effect. */
    if (r == CONF_PASS && (st = ipm_subscribe(p.rx, "~after")) != IPM_OK)
        r = conf_fail_st(c, st, "ipm_subscribe(\"~after\")");
    if (r == CONF_PASS) r = conf_sync_topic(c, p.tx, p.rx, "~after", 5000);
    static const char *const want[] = {"conf.keep", NULL};
    if (r == CONF_PASS) r = deliver(c, &p, sent, "conf.keep.end", want);
    conf_pair_close(&p);
    return r;
}

/* Probe from every publisher until rx has a probe of each (body = index). */
static int sync_many(conf_ctx *c, ipm_sender **tx, int n, ipm_receiver *rx)
{
    bool seen[4] = {false, false, false, false};
    int left = n;
    uint64_t t0 = tool_now_ns();
    while (left > 0 && conf_ms_since(t0) < 5000) {
        for (int i = 0; i < n; i++)
            if (!seen[i]) ipm_send(tx[i], &i, sizeof i, IPM_NO_BLOCK, CONF_SYNC_TOPIC);
        ipm_message m;
        while (ipm_receive(rx, &m, 10) == IPM_OK) {
            int who = -1;
            if (m.size == sizeof who) memcpy(&who, m.data, sizeof who);
            if (who >= 0 && who < n && !seen[who]) {
                seen[who] = true;
                left--;
            }
            ipm_message_release(&m);
        }
    }
    if (left == 0) {
        ipm_message m;
        while (ipm_receive(rx, &m, 30) == IPM_OK)
            ipm_message_release(&m);
        return CONF_PASS;
    }
    for (int i = 0; i < n; i++)
        if (!seen[i])
            return conf_fail(c, "nothing from publisher %d reached the subscriber",
                             i + 1);
    return CONF_FAIL;
}

/* Each of n publishers sends `each` seq messages; all arrive, in order per
 * publisher. */
static int from_each(conf_ctx *c, ipm_sender **tx, int n, ipm_receiver *rx, int each)
{
    for (int k = 0; k < each; k++)
        for (int i = 0; i < n; i++) {
            conf_seq s = {(uint64_t)i, (uint64_t)k};
            ipm_status st = ipm_send(tx[i], &s, sizeof s, 5000, CONF_SEQ_TOPIC);
            if (st != IPM_OK)
                return conf_fail_st(c, st, "publisher %d, message %d", i + 1, k);
        }
    uint64_t next[4] = {0, 0, 0, 0};
    for (int got = 0; got < n * each; got++) {
        ipm_message m;
        ipm_status st = conf_receive(rx, &m, 5000);
        if (st != IPM_OK)
            return conf_fail_st(c, st, "after %d of %d messages from %d publishers", got,
                                n * each, n);
        conf_seq s = {99, 0};
        if (m.size == sizeof s) memcpy(&s, m.data, sizeof s);
        ipm_message_release(&m);
        if (s.id >= (uint64_t)n || s.seq != next[s.id])
            return conf_fail(c, "publisher %llu's #%llu arrived where #%llu was due",
                             (unsigned long long)s.id + 1, (unsigned long long)s.seq,
                             s.id < (uint64_t)n ? (unsigned long long)next[s.id] : 0ull);
        next[s.id]++;
    }
    return CONF_PASS;
}

int conf_check_multi_publisher(conf_ctx *c)
{
    if (!c->pubsub) return conf_na(c, NA_SENDRECV);
    ipm_limits lim;
    conf_limits_stated(c, &lim);
    if (!(lim.features & IPM_FEATURE_MULTI_PUBLISHER))
        return conf_na(c, "%s does not state IPM_FEATURE_MULTI_PUBLISHER",
                       c->o->receiver_type);
    if (!c->sender_binds) return conf_na(c, "the subscriber binds (--bind receiver)");
    ipm_sender *tx[3] = {NULL, NULL, NULL};
    char eps[3][CONF_EP_CAP];
    int r = CONF_PASS;
    for (int i = 0; i < 3 && r == CONF_PASS; i++) {
        char ep[CONF_EP_CAP];
        conf_endpoint_fresh(c, i == 0 ? 0 : 1, ep, sizeof ep);
        ipm_status st = conf_sender_open(c, ep, &tx[i], eps[i], sizeof eps[i]);
        if (st != IPM_OK)
            r = conf_fail_st(c, st, "binding publisher %d on %s", i + 1, ep);
    }
    ipm_receiver *rx = NULL;
    char list[2 * CONF_EP_CAP + 2];
    snprintf(list, sizeof list, "%s,%s", eps[0], eps[1]);
    if (r == CONF_PASS) {
        ipm_status st = conf_receiver_open(c, "connection_strings", list, &rx, NULL, 0);
        if (st == IPM_OK) st = ipm_subscribe(rx, "");
        if (st != IPM_OK)
            r = conf_fail_st(c, st, "connecting to connection_strings=%s", list);
    }
    if (r == CONF_PASS) r = sync_many(c, tx, 2, rx);
    if (r == CONF_PASS) r = from_each(c, tx, 2, rx, 50);
    /* Connecting again adds a publisher. */
    if (r == CONF_PASS) {
        ipm_params *p = NULL;
        ipm_status st = conf_params(c, "connection_string", eps[2], &p);
        if (st == IPM_OK) st = ipm_receiver_connect(rx, p);
        ipm_params_free(p);
        if (st != IPM_OK)
            r = conf_fail_st(c, st, "connecting the subscriber again to add %s", eps[2]);
    }
    if (r == CONF_PASS) r = sync_many(c, tx, 3, rx);
    if (r == CONF_PASS) r = from_each(c, tx, 3, rx, 20);
    ipm_receiver_destroy(rx);
    for (int i = 0; i < 3; i++)
        ipm_sender_destroy(tx[i]);
    if (r != CONF_PASS) return r;
    return conf_note(c, "connection_strings with 2, then connect again adds a 3rd");
}
