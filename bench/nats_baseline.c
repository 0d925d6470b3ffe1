/*
 * nats_baseline.c — the raw-cnats baseline that ipm-bench's NATS rows are
 * compared with.
 *
 * Same harness as ipm-bench (tools/common/bench_*.c: same processes,
 * message pattern, payloads, clock and statistics); only the backend
 * differs: plain cnats calls, written as a careful application would write
 * them without ipm, with the same options and the same bytes on the wire
 * as the NATS plugins (docs/nats.md):
 *   --strategy core (default), against NatsPublisher -> NatsSubscriber:
 *     natsConnection_Publish on the topic's subject (nats_topic.c, the
 *     plugins' own encoding) and a synchronous subscription to SUBJECT.>
 *     with the NatsSubscriber's queue bound (65536 messages, 256 MiB);
 *   --strategy jetstream, against NatsSender -> NatsReceiver: a file-stored
 *     work-queue stream, js_PublishMsg waiting for each acknowledgement
 *     with a Nats-Msg-Id and the Ipm-Metadata header, a durable pull
 *     consumer fetched one message at a time (larger fetches overflow in
 *     libnats 3.4.1, nats-io/nats.c#749) and acknowledged on receipt.
 * Both send each message at once (natsOptions_SetSendAsap), as the plugins
 * do. The endpoint is the plugins' nats://HOST:PORT/SUBJECT; a server must
 * be running (bench/run.sh starts one).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "common/bench.h"
#include "nats_common.h"

#define SUB_PENDING_MSGS 65536
#define SUB_PENDING_BYTES (256 << 20)
#define FOREVER_MS (3600 * 1000)

static const char usage_head[] =
    "Usage: nats-baseline [options]\n"
    "The raw-cnats baseline of ipm-bench: the same measurements over plain\n"
    "NATS core subjects or a JetStream stream, with the NATS family's wire\n"
    "form and options, against a running nats-server.\n"
    "\n";

static const char extra_help[] =
    "      --strategy S      core (publish/subscribe, default) or jetstream\n"
    "                        (stream, durable pull consumer)\n";

static bool g_jetstream;

static _Thread_local char last_error[512];

static int failed(const char *what, natsStatus s)
{
    const char *detail = nats_GetLastError(NULL);
    snprintf(last_error, sizeof last_error, "%.150s: %.100s%s%.200s", what,
             natsStatus_GetText(s), detail && *detail ? ": " : "", detail ? detail : "");
    return BENCH_ERROR;
}

static const char *be_error(void)
{
    return last_error;
}

typedef struct nend {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    natsMsg *held; /* the message out at a time (receiving end) */
    char subject[IPM_NATS_MAX_SUBJECT + 1];
    char pubsubj[4096];
    char meta[IPM_NATS_MAX_METADATA + 1];
    uint64_t sent;
} nend;

static int be_create(void **out)
{
    nend *n = calloc(1, sizeof *n);
    if (n == NULL) {
        snprintf(last_error, sizeof last_error, "out of memory");
        return BENCH_ERROR;
    }
    *out = n;
    return BENCH_OK;
}

static int be_rx_create(const bench_config *cfg, void **rx, bool *subscriber)
{
    (void)cfg;
    *subscriber = !g_jetstream;
    return be_create(rx);
}

static int be_tx_create(const bench_config *cfg, void **tx)
{
    (void)cfg;
    return be_create(tx);
}

/* nats://HOST:PORT/SUBJECT: connect to HOST:PORT, keep SUBJECT. */
static int connect_to(nend *n, const char *endpoint)
{
    const char *slash = strncmp(endpoint, "nats://", 7) == 0 ? strchr(endpoint + 7, '/')
                                                              : NULL;
    if (slash == NULL || slash[1] == '\0' || strlen(slash + 1) > IPM_NATS_MAX_SUBJECT) {
        snprintf(last_error, sizeof last_error,
                 "endpoint '%.300s': use nats://HOST:PORT/SUBJECT", endpoint);
        return BENCH_ERROR;
    }
    snprintf(n->subject, sizeof n->subject, "%s", slash + 1);
    char url[512];
    snprintf(url, sizeof url, "%.*s", (int)(slash - endpoint), endpoint);
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, url);
    if (s == NATS_OK) s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK) s = natsConnection_Connect(&n->nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) return failed(url, s);
    if (!g_jetstream) return BENCH_OK;
    s = natsConnection_JetStream(&n->js, n->nc, NULL);
    if (s != NATS_OK) return failed("natsConnection_JetStream", s);
    /* The stream: the plugins' settings, named from the subject. */
    char name[IPM_NATS_MAX_SUBJECT + 8] = "RAWB_";
    for (const char *c = n->subject; *c; c++) {
        size_t l = strlen(name);
        name[l] = (*c == '.' || *c == '*' || *c == '>') ? '_' : *c;
        name[l + 1] = '\0';
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {n->subject};
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Retention = js_WorkQueuePolicy;
    sc.Replicas = 1;
    sc.Duplicates = 120LL * 1000000000;
    jsErrCode jerr = 0;
    s = js_AddStream(NULL, n->js, &sc, NULL, &jerr);
    if (s != NATS_OK && jerr != JSStreamNameExistErr) return failed("js_AddStream", s);
    return BENCH_OK;
}

static int be_rx_connect(void *rx, const char *endpoint, char *resolved, size_t cap)
{
    nend *n = rx;
    int rc = connect_to(n, endpoint);
    if (rc != BENCH_OK) return rc;
    snprintf(resolved, cap, "%s", endpoint);
    natsStatus s;
    if (g_jetstream) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.MaxAckPending = 256;
        jsErrCode jerr = 0;
        s = js_PullSubscribe(&n->sub, n->js, n->subject, "rawbench", NULL, &so, &jerr);
        if (s != NATS_OK) return failed("js_PullSubscribe", s);
        return BENCH_OK;
    }
    char all[IPM_NATS_MAX_SUBJECT + 3];
    snprintf(all, sizeof all, "%s.>", n->subject);
    s = natsConnection_SubscribeSync(&n->sub, n->nc, all);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(n->sub, SUB_PENDING_MSGS, SUB_PENDING_BYTES);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(n->nc, 2000);
    return s == NATS_OK ? BENCH_OK : failed("subscribe", s);
}

static int be_tx_connect(void *tx, const char *endpoint, char *resolved, size_t cap)
{
    snprintf(resolved, cap, "%s", endpoint);
    return connect_to(tx, endpoint);
}

static int be_send(void *tx, const void *data, size_t size, const char *meta,
                   int timeout_ms)
{
    nend *n = tx;
    size_t mlen = strlen(meta);
    if (mlen > IPM_NATS_MAX_METADATA) {
        snprintf(last_error, sizeof last_error, "metadata longer than %d bytes",
                 IPM_NATS_MAX_METADATA);
        return BENCH_ERROR;
    }
    natsStatus s;
    if (!g_jetstream) {
        ipm__nats_topic_subject(n->subject, meta, mlen, false, n->pubsubj,
                                sizeof n->pubsubj);
        s = natsConnection_Publish(n->nc, n->pubsubj, data, (int)size);
        return s == NATS_OK ? BENCH_OK : failed("natsConnection_Publish", s);
    }
    natsMsg *m = NULL;
    s = natsMsg_Create(&m, n->subject, NULL, data, (int)size);
    char id[64];
    snprintf(id, sizeof id, "rawbench-%ld-%llu", (long)getpid(),
             (unsigned long long)++n->sent);
    if (s == NATS_OK) s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
    if (s == NATS_OK && mlen > 0) {
        char enc[3 * IPM_NATS_MAX_METADATA + 1];
        ipm__nats_meta_encode(meta, mlen, enc);
        s = natsMsgHeader_Set(m, IPM_NATS_METADATA_HEADER, enc);
    }
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        return failed("natsMsg_Create", s);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms < 0 ? FOREVER_MS : (timeout_ms == 0 ? 1 : timeout_ms);
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    s = js_PublishMsg(&pa, n->js, m, &po, &jerr);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    if (s == NATS_TIMEOUT) return BENCH_TIMEOUT;
    return s == NATS_OK ? BENCH_OK : failed("js_PublishMsg", s);
}

static int be_recv(void *rx, bench_msg *bm, int timeout_ms)
{
    nend *n = rx;
    int64_t wait = timeout_ms < 0 ? FOREVER_MS : (timeout_ms == 0 ? 1 : timeout_ms);
    natsMsg *m = NULL;
    natsStatus s;
    if (g_jetstream) {
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        s = natsSubscription_Fetch(&list, n->sub, 1, wait, &jerr);
        if (s == NATS_OK && list.Count == 1) {
            m = list.Msgs[0];
            list.Msgs[0] = NULL;
        }
        natsMsgList_Destroy(&list);
        if (s == NATS_OK && m == NULL) s = NATS_TIMEOUT;
    } else {
        s = natsSubscription_NextMsg(&m, n->sub, wait);
    }
    if (s == NATS_TIMEOUT) return BENCH_TIMEOUT;
    if (s != NATS_OK) return failed(g_jetstream ? "natsSubscription_Fetch" : "NextMsg", s);
    size_t len = 0;
    if (g_jetstream) {
        const char *v = NULL;
        if (natsMsgHeader_Get(m, IPM_NATS_METADATA_HEADER, &v) == NATS_OK && v != NULL &&
            strlen(v) <= 3 * IPM_NATS_MAX_METADATA) {
            char dec[3 * IPM_NATS_MAX_METADATA + 1];
            len = ipm__nats_meta_decode(v, dec);
            if (len > IPM_NATS_MAX_METADATA) len = IPM_NATS_MAX_METADATA;
            memcpy(n->meta, dec, len);
        }
        natsMsg_Ack(m, NULL);
        n->meta[len] = '\0';
    } else {
        ipm__nats_subject_topic(natsMsg_GetSubject(m), strlen(n->subject), n->meta,
                                sizeof n->meta);
    }
    bm->data = natsMsg_GetData(m);
    bm->size = (size_t)natsMsg_GetDataLength(m);
    bm->meta = n->meta;
    n->held = m;
    return BENCH_OK;
}

static void be_release(void *rx, bench_msg *m)
{
    nend *n = rx;
    (void)m;
    natsMsg_Destroy(n->held);
    n->held = NULL;
}

static uint64_t be_dropped(void *rx)
{
    nend *n = rx;
    int64_t d = 0;
    if (n->sub != NULL && !g_jetstream) natsSubscription_GetDropped(n->sub, &d);
    return (uint64_t)d;
}

static void be_destroy(void *end)
{
    nend *n = end;
    natsMsg_Destroy(n->held);
    if (n->nc != NULL) natsConnection_FlushTimeout(n->nc, 1000);
    natsSubscription_Destroy(n->sub);
    jsCtx_Destroy(n->js);
    natsConnection_Destroy(n->nc);
    free(n);
}

static const bench_backend nats_backend = {
    .impl = "nats",
    .rx_create = be_rx_create,
    .rx_connect = be_rx_connect,
    .tx_create = be_tx_create,
    .tx_connect = be_tx_connect,
    .send = be_send,
    .recv = be_recv,
    .release = be_release,
    .dropped = be_dropped,
    .tx_destroy = be_destroy,
    .rx_destroy = be_destroy,
    .error = be_error,
};

int main(int argc, char **argv)
{
    tool_set_name(argv[0]);
    bench_backend backend = nats_backend;
    bench_config cfg = {
        .backend = &backend, .sender_type = "publish", .receiver_type = "subscribe"};
    int rc =
        bench_parse_args(&cfg, argc, argv, BENCH_OPT_STRATEGY, usage_head, extra_help);
    if (rc < 0 && cfg.strategy != NULL && strcmp(cfg.strategy, "jetstream") == 0) {
        g_jetstream = true;
        backend.impl = "nats-js";
        cfg.sender_type = "js_PublishMsg";
        cfg.receiver_type = "pull consumer";
    } else if (rc < 0 && cfg.strategy != NULL && strcmp(cfg.strategy, "core") != 0) {
        rc = tool_usage_error("--strategy '%s': use core or jetstream", cfg.strategy);
    }
    if (rc < 0) {
        tool_install_signals();
        rc = bench_run(&cfg);
    }
    bench_config_free(&cfg);
    return rc;
}
