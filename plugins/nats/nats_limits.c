/*
 * nats_limits.c — what the NATS types state about themselves. The largest
 * message is the server's max_payload (1 MiB unless the server is
 * configured otherwise, at most 64 MiB); a JetStream message carries ipm's
 * headers inside that budget, so the sender/receiver pair states less.
 */
#define _GNU_SOURCE
#include "nats_common.h"

#define DEFAULT_MAX_PAYLOAD (1024u * 1024u)

#define NATS_FEATURES                                                                    \
    (IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST | IPM_FEATURE_FAN_IN |           \
     IPM_FEATURE_MULTI_PUBLISHER)

const ipm_limits ipm__nats_pubsub_limits = {DEFAULT_MAX_PAYLOAD, IPM_NATS_MAX_METADATA,
                                            NATS_FEATURES, 0};

/* A receiver reads one stream: many senders into it (fan-in), but "many
 * publishers" has no meaning for it. */
const ipm_limits ipm__nats_stream_limits = {
    DEFAULT_MAX_PAYLOAD - IPM_NATS_HEADER_RESERVE, IPM_NATS_MAX_METADATA,
    IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_CROSS_HOST | IPM_FEATURE_FAN_IN, 0};

void ipm__nats_limits_from(natsConnection *nc, bool jetstream, ipm_limits *out)
{
    if (nc == NULL) return;
    int64_t max = natsConnection_GetMaxPayload(nc);
    if (max <= 0) return;
    if (jetstream)
        max = max > IPM_NATS_HEADER_RESERVE ? max - IPM_NATS_HEADER_RESERVE : 0;
    out->max_message_size = (uint64_t)max;
    out->max_metadata_size = IPM_NATS_MAX_METADATA;
}
