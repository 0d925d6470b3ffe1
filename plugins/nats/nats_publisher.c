/*
 * nats_publisher.c — NatsPublisher: publishes on core NATS subjects below
 * the endpoint's SUBJECT, the topic spelt into the subject (nats_topic.c).
 * A send never waits for subscribers: core NATS delivers at most once, and
 * a subscriber that falls behind loses messages (its `dropped` counts them).
 * While the client reconnects, messages go to cnats' reconnect buffer
 * (8 MiB); a send that finds it full is IPM_ETIMEDOUT, with nothing sent.
 * Keys: connection_string, user, password, creds, tls_ca, tls_cert, tls_key,
 * connect_timeout_ms.
 */
#define _GNU_SOURCE
#include "nats_common.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct nats_pub {
    natsConnection *nc;
    ipm_nats_endpoint ep;
    char *endpoint;
    uint64_t max_payload;
    pid_t pid; /* the process that connected it */
    char subject[IPM_NATS_MAX_SUBJECT + 3 * IPM_NATS_MAX_METADATA + 8];
} nats_pub;

static ipm_status pub_create(void **state)
{
    nats_pub *p = calloc(1, sizeof *p);
    if (p == NULL) return ipm_set_error(IPM_ENOMEM, "NatsPublisher: out of memory");
    *state = p;
    return IPM_OK;
}

/* Key send_asap (default true): each message is written at once, as the
 * other families send. false gives cnats' buffering: its flusher waits 1 ms
 * to gather more messages per write, which adds about 1 ms to each message
 * (measured 990 against 104 us one-way at 64 B) for a throughput gain that
 * ipm-bench on loopback does not show above its noise. */
static ipm_status pub_send_asap(const ipm_params *p, bool *out)
{
    return ipm_params_get_bool(p, "send_asap", true, out);
}

static ipm_status pub_check(const ipm_params *p)
{
    ipm_status st = ipm__nats_check_common("NatsPublisher", p, false);
    bool asap;
    return st != IPM_OK ? st : pub_send_asap(p, &asap);
}

static ipm_status pub_connect(void *state, const ipm_params *params)
{
    nats_pub *p = state;
    if (p->nc != NULL)
        return ipm_set_error(IPM_ENOTSUP, "NatsPublisher: already connected to '%s'",
                             p->endpoint);
    ipm_status st = ipm__nats_check_common("NatsPublisher", params, true);
    bool asap = true;
    if (st == IPM_OK) st = pub_send_asap(params, &asap);
    if (st != IPM_OK) return st;
    const char *cs = ipm_params_get(params, "connection_string");
    st = ipm__nats_endpoint_parse("NatsPublisher", cs, &p->ep);
    if (st != IPM_OK) return st;
    p->endpoint = strdup(cs);
    if (p->endpoint == NULL)
        st = ipm_set_error(IPM_ENOMEM, "NatsPublisher: out of memory");
    if (st == IPM_OK)
        st = ipm__nats_connect("NatsPublisher", params, &p->ep, NULL, NULL,
                               asap ? IPM_NATS_SEND_AT_ONCE : 0, &p->nc);
    if (st != IPM_OK) {
        ipm__nats_endpoint_free(&p->ep);
        free(p->endpoint);
        p->endpoint = NULL;
        return st;
    }
    p->max_payload = (uint64_t)natsConnection_GetMaxPayload(p->nc);
    p->pid = getpid();
    return IPM_OK;
}

static const char *pub_endpoint(const void *state)
{
    const nats_pub *p = state;
    return p->nc ? p->endpoint : NULL;
}

static ipm_status pub_send(void *state, const void *data, size_t size,
                           const char *metadata, size_t metadata_size, int timeout_ms)
{
    (void)timeout_ms;
    nats_pub *p = state;
    if (getpid() != p->pid)
        return ipm_set_error(IPM_ESTATE,
                             "NatsPublisher: connected in process %ld, cannot be used in "
                             "its forked child %ld; create a new one",
                             (long)p->pid, (long)getpid());
    if (size > p->max_payload)
        return ipm_set_error(IPM_ETOOBIG,
                             "NatsPublisher %s: a %zu-byte message is larger than the "
                             "server's max_payload (%llu bytes)",
                             p->endpoint, size, (unsigned long long)p->max_payload);
    if (metadata_size > IPM_NATS_MAX_METADATA)
        return ipm_set_error(IPM_ETOOBIG,
                             "NatsPublisher %s: a topic of %zu bytes is longer than %d",
                             p->endpoint, metadata_size, IPM_NATS_MAX_METADATA);
    ipm__nats_topic_subject(p->ep.subject, metadata, metadata_size, false, p->subject,
                            sizeof p->subject);
    natsStatus s = natsConnection_Publish(p->nc, p->subject, data, (int)size);
    if (s == NATS_OK) return IPM_OK;
    if (s == NATS_INSUFFICIENT_BUFFER)
        return ipm__nats_error(
            IPM_ETIMEDOUT, "NatsPublisher", p->endpoint,
            "publish while reconnecting (the reconnect buffer is full)", s);
    if (s == NATS_MAX_PAYLOAD)
        return ipm__nats_error(IPM_ETOOBIG, "NatsPublisher", p->endpoint, "publish", s);
    return ipm__nats_error(IPM_ESYS, "NatsPublisher", p->endpoint, "publish", s);
}

static void pub_limits(const void *state, ipm_limits *out)
{
    const nats_pub *p = state;
    ipm__nats_limits_from(p->nc, false, out);
}

static void pub_destroy(void *state)
{
    nats_pub *p = state;
    if (p == NULL) return;
    if (p->nc != NULL && getpid() == p->pid) {
        /* Bounded: what is buffered goes out, or is given up after 1 s. */
        natsConnection_FlushTimeout(p->nc, 1000);
        natsConnection_Close(p->nc);
        natsConnection_Destroy(p->nc);
    }
    ipm__nats_endpoint_free(&p->ep);
    free(p->endpoint);
    free(p);
}

static const ipm_plugin_ops pub_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = pub_create,
    .connect = pub_connect,
    .endpoint = pub_endpoint,
    .destroy = pub_destroy,
    .send = pub_send,
    .check = pub_check,
    .limits = pub_limits,
};

static const char *const pub_keys[] = {IPM_NATS_COMMON_KEYS, "send_asap", NULL};

static const ipm_plugin pub_plugin = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "NatsPublisher",
    .version = "1.0.0",
    .description =
        "NATS core publish below the endpoint's subject; metadata is the topic",
    .keys = pub_keys,
    .ops = &pub_ops,
    .limits = &ipm__nats_pubsub_limits,
};

IPM_PLUGIN_DEFINE(NatsPublisher, &pub_plugin)
