/*
 * nats_sender.c — NatsSender: publishes into the endpoint's JetStream
 * stream (nats_stream.c) and returns IPM_OK only once the stream has
 * acknowledged the message (stored on a majority of its replicas).
 *
 * Every message carries a Nats-Msg-Id unique to this sender (a NUID and a
 * counter). When an acknowledgement does not come (a server died, a leader
 * election, a reconnect), the send publishes the same message with the same
 * id again until it is acknowledged or the timeout ends; the stream's
 * duplicate window (2 minutes) stores it once however often it came. A send
 * that ends in IPM_ETIMEDOUT is not confirmed: the stream may still hold it
 * (its acknowledgement was lost, or cnats wrote it to the socket before the
 * server died and writes it again after the reconnect). So the sender keeps
 * the id of its last unconfirmed message with a hash of its bytes and
 * metadata: sending the same message again, as an application retrying a
 * timed-out send does, reuses the id, and the stream stores it once.
 * IPM_NO_BLOCK makes one attempt that waits for its acknowledgement up to
 * NO_BLOCK_ACK_MS: a broker's confirmation takes a round trip.
 * Keys: the common ones, replicas (default 1), stream.
 */
#define _GNU_SOURCE
#include "nats_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_BLOCK_ACK_MS 1000
/* Longest wait for one attempt's acknowledgement. A publish written to a
 * connection that then died is never answered; waiting for it no longer
 * than this leaves time to publish again (same id) through the next server
 * within the caller's timeout. */
#define ATTEMPT_ACK_MS 1000
/* Pause before publishing again after an immediate failure (no responders:
 * the stream has no leader for a moment). */
#define RETRY_PAUSE_MS 20

typedef struct nats_sender {
    ipm_nats_js j;
    char id[64]; /* this sender's unique prefix for Nats-Msg-Id */
    uint64_t counter;
    uint64_t max_payload;
    /* The last send that timed out: its id and a hash of what it sent. */
    bool pending;
    uint64_t pending_hash;
    char pending_id[96];
} nats_sender;

static ipm_status sender_create(void **state)
{
    nats_sender *s = calloc(1, sizeof *s);
    if (s == NULL) return ipm_set_error(IPM_ENOMEM, "NatsSender: out of memory");
    *state = s;
    return IPM_OK;
}

static ipm_status sender_check(const ipm_params *p)
{
    return ipm__nats_js_check("NatsSender", p, false);
}

static ipm_status sender_connect(void *state, const ipm_params *p)
{
    nats_sender *s = state;
    if (s->j.nc != NULL)
        return ipm_set_error(IPM_ENOTSUP, "NatsSender: already connected to '%s'",
                             s->j.endpoint);
    ipm_status st = ipm__nats_js_open(&s->j, "NatsSender", p, NULL, NULL);
    if (st != IPM_OK) return st;
    /* An inbox is "_INBOX." and a NUID: unique across processes and hosts. */
    natsInbox *inbox = NULL;
    if (natsInbox_Create(&inbox) != NATS_OK) {
        ipm__nats_js_close(&s->j);
        return ipm_set_error(IPM_ENOMEM, "NatsSender: out of memory");
    }
    const char *nuid = strrchr(inbox, '.');
    snprintf(s->id, sizeof s->id, "%s", nuid ? nuid + 1 : inbox);
    natsInbox_Destroy(inbox);
    ipm_limits l = ipm__nats_stream_limits;
    ipm__nats_limits_from(s->j.nc, true, &l);
    s->max_payload = l.max_message_size;
    return IPM_OK;
}

static const char *sender_endpoint(const void *state)
{
    const nats_sender *s = state;
    return s->j.nc ? s->j.endpoint : NULL;
}

/* FNV-1a over the sizes, the metadata and the data. */
static uint64_t message_hash(const void *data, size_t size, const char *metadata,
                             size_t metadata_size)
{
    uint64_t h = 14695981039346656037ull;
    const unsigned char *parts[2] = {(const unsigned char *)metadata, data};
    size_t lens[2] = {metadata_size, size};
    for (int k = 0; k < 2; k++) {
        h = (h ^ lens[k]) * 1099511628211ull;
        for (size_t i = 0; i < lens[k]; i++)
            h = (h ^ parts[k][i]) * 1099511628211ull;
    }
    return h;
}

static ipm_status build(nats_sender *s, const void *data, size_t size,
                        const char *metadata, size_t metadata_size, natsMsg **out)
{
    natsMsg *m = NULL;
    natsStatus ns = natsMsg_Create(&m, s->j.ep.subject, NULL, data, (int)size);
    if (ns == NATS_OK && metadata_size > 0) {
        char enc[3 * IPM_NATS_MAX_METADATA + 1];
        ipm__nats_meta_encode(metadata, metadata_size, enc);
        ns = natsMsgHeader_Set(m, IPM_NATS_METADATA_HEADER, enc);
    }
    if (ns != NATS_OK) {
        natsMsg_Destroy(m);
        return ipm__nats_error(IPM_ENOMEM, "NatsSender", s->j.endpoint, "build a message",
                               ns);
    }
    *out = m;
    return IPM_OK;
}

static ipm_status sender_send(void *state, const void *data, size_t size,
                              const char *metadata, size_t metadata_size, int timeout_ms)
{
    nats_sender *s = state;
    ipm_status fst = ipm__nats_js_same_process(&s->j);
    if (fst != IPM_OK) return fst;
    if (size > s->max_payload)
        return ipm_set_error(IPM_ETOOBIG,
                             "NatsSender %s: a %zu-byte message is larger than %llu "
                             "bytes (the server's max_payload less %d for ipm's headers)",
                             s->j.endpoint, size, (unsigned long long)s->max_payload,
                             IPM_NATS_HEADER_RESERVE);
    if (metadata_size > IPM_NATS_MAX_METADATA)
        return ipm_set_error(IPM_ETOOBIG,
                             "NatsSender %s: metadata of %zu bytes is longer than %d",
                             s->j.endpoint, metadata_size, IPM_NATS_MAX_METADATA);
    natsMsg *m = NULL;
    ipm_status st = build(s, data, size, metadata, metadata_size, &m);
    if (st != IPM_OK) return st;
    char id[96];
    bool again = s->pending &&
                 message_hash(data, size, metadata, metadata_size) == s->pending_hash;
    s->pending = false;
    if (again)
        memcpy(id, s->pending_id, sizeof id);
    else
        snprintf(id, sizeof id, "%s-%llu", s->id, (unsigned long long)++s->counter);

    int64_t deadline = ipm_deadline_ns(timeout_ms);
    natsStatus ns;
    jsErrCode jerr;
    for (;;) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id;
        int left = timeout_ms == 0 ? NO_BLOCK_ACK_MS : ipm_remaining_ms(deadline);
        po.MaxWait = left < 0 || left > ATTEMPT_ACK_MS ? ATTEMPT_ACK_MS
                     : left == 0                       ? 1
                                                       : left;
        jsPubAck *pa = NULL;
        jerr = 0;
        ns = js_PublishMsg(&pa, s->j.js, m, &po, &jerr);
        jsPubAck_Destroy(pa);
        if (ns == NATS_OK) break;
        bool transient = ns == NATS_TIMEOUT || ns == NATS_NO_RESPONDERS ||
                         ns == NATS_CONNECTION_DISCONNECTED ||
                         ns == NATS_NOT_YET_CONNECTED || ns == NATS_INSUFFICIENT_BUFFER ||
                         jerr == 503 || jerr == 10008;
        if (!transient || timeout_ms == 0) break;
        if (ns != NATS_TIMEOUT && !ipm__nats_js_backoff(deadline, RETRY_PAUSE_MS)) break;
        if (ipm_remaining_ms(deadline) == 0) break;
    }
    natsMsg_Destroy(m);
    if (ns == NATS_OK) return IPM_OK;
    if (ns == NATS_TIMEOUT || ns == NATS_NO_RESPONDERS ||
        ns == NATS_CONNECTION_DISCONNECTED || ns == NATS_NOT_YET_CONNECTED ||
        ns == NATS_INSUFFICIENT_BUFFER || jerr == 503) {
        s->pending = true;
        s->pending_hash = message_hash(data, size, metadata, metadata_size);
        memcpy(s->pending_id, id, sizeof id);
        return ipm_set_error(IPM_ETIMEDOUT,
                             "NatsSender %s: stream '%s' did not acknowledge the message "
                             "within %d ms (%s); it may still be stored: send the same "
                             "message again and it is stored once",
                             s->j.endpoint, s->j.stream, timeout_ms,
                             natsStatus_GetText(ns));
    }
    if (ns == NATS_MAX_PAYLOAD)
        return ipm__nats_error(IPM_ETOOBIG, "NatsSender", s->j.endpoint, "publish", ns);
    char what[160];
    snprintf(what, sizeof what, "publish to stream '%s' (JetStream error %d)",
             s->j.stream, (int)jerr);
    return ipm__nats_error(IPM_ESYS, "NatsSender", s->j.endpoint, what, ns);
}

static void sender_limits(const void *state, ipm_limits *out)
{
    const nats_sender *s = state;
    ipm__nats_limits_from(s->j.nc, true, out);
}

static void sender_destroy(void *state)
{
    nats_sender *s = state;
    if (s == NULL) return;
    ipm__nats_js_close(&s->j);
    free(s);
}

static const ipm_plugin_ops sender_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = sender_create,
    .connect = sender_connect,
    .endpoint = sender_endpoint,
    .destroy = sender_destroy,
    .send = sender_send,
    .check = sender_check,
    .limits = sender_limits,
};

static const char *const sender_keys[] = {IPM_NATS_COMMON_KEYS, IPM_NATS_STREAM_KEYS,
                                          NULL};

static const ipm_plugin sender_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "NatsSender",
    .version = "1.0.0",
    .description =
        "NATS JetStream publish, acknowledged by the stream; durable, lossless",
    .keys = sender_keys,
    .ops = &sender_ops,
    .limits = &ipm__nats_stream_limits,
};

IPM_PLUGIN_DEFINE(NatsSender, &sender_plugin)
