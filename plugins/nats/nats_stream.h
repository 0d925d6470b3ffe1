/*
 * nats_stream.h — what NatsSender and NatsReceiver share: one JetStream
 * stream per endpoint, its name, and making sure it exists.
 */
#ifndef IPM_NATS_STREAM_H
#define IPM_NATS_STREAM_H

#include "nats_common.h"

/* Longest stream name we derive: "IPM_" + 64 sanitised bytes + "_" + 8 hex. */
#define IPM_NATS_STREAM_NAME_MAX 80
#define IPM_NATS_DEFAULT_DURABLE "ipm"

/* The keys of both JetStream types beyond the common ones. */
#define IPM_NATS_STREAM_KEYS "replicas", "stream"

/* A connected JetStream endpoint. */
typedef struct ipm_nats_js {
    const char *plugin;
    natsConnection *nc;
    jsCtx *js;
    ipm_nats_endpoint ep;
    char *endpoint; /* the connection_string */
    char stream[IPM_NATS_STREAM_NAME_MAX + 1];
    long long api_wait_ms; /* JetStream API calls wait this long */
    long pid;              /* the process that connected it */
} ipm_nats_js;

/* Validate the common keys and replicas (1..5) and stream (a valid stream
 * name) of p. */
ipm_status ipm__nats_js_check(const char *plugin, const ipm_params *p,
                              bool need_endpoint);

/* Connect, get a JetStream context and make sure the stream exists (file
 * storage, work-queue retention, `replicas` copies, the endpoint's SUBJECT
 * as its only subject); an existing stream is used as it is. IPM_ECONNECT
 * if no server answers or JetStream is not enabled; IPM_ECONFIG if the
 * cluster cannot hold `replicas` copies. On failure *j is left empty. */
ipm_status ipm__nats_js_open(ipm_nats_js *j, const char *plugin, const ipm_params *p,
                             natsErrHandler err_cb, void *closure);

/* IPM_ESTATE naming the processes if the caller is not the process that
 * connected j (a forked child: the client's threads are the parent's). */
ipm_status ipm__nats_js_same_process(const ipm_nats_js *j);

/* Close everything j holds (flushing for at most 1 s first). In a forked
 * child only this process's copy of ipm's own memory is freed. */
void ipm__nats_js_close(ipm_nats_js *j);

/* Wait ms (bounded by deadline; -1 none) before retrying a JetStream call
 * that failed at once (no responders during a leader election, a
 * reconnect). Returns false if the deadline has passed. */
bool ipm__nats_js_backoff(int64_t deadline, int ms);

#endif
