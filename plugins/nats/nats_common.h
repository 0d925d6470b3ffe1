/*
 * nats_common.h — what the four NATS plugins (NatsPublisher, NatsSubscriber,
 * NatsSender, NatsReceiver) share: the endpoint syntax
 * nats://HOST:PORT[,HOST:PORT...]/SUBJECT, the connection options (servers,
 * timeouts, reconnection, user/password, credentials file, TLS), the topic
 * and metadata encodings, and cnats status texts.
 *
 * Everything here is internal to each plugin .so (hidden visibility); each
 * plugin links its own copy of the common sources. docs/nats.md describes
 * the mapping onto subjects, streams and consumers.
 *
 * Threading: one object is used by one thread at a time (the core guarantees
 * it); cnats runs its own threads (reader, flusher, timers, async delivery),
 * and the callbacks they run touch only what they are documented to.
 */
#ifndef IPM_NATS_COMMON_H
#define IPM_NATS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipm/plugin.h>
#include <nats/nats.h>

/* Default connect timeout (key connect_timeout_ms): how long connect waits
 * for a server that does not answer before it is IPM_ECONNECT. A refused
 * connection (nothing listens) fails at once. */
#define IPM_NATS_DEFAULT_CONNECT_TIMEOUT_MS 2000
#define IPM_NATS_MAX_CONNECT_TIMEOUT_MS 60000
/* How often the client pings its server, and how many unanswered pings mean
 * the server is gone (then the client moves to another server of the list).
 * cnats' defaults (2 min, 2) would take 4 minutes to notice a dead link. */
#define IPM_NATS_PING_INTERVAL_MS 1000
#define IPM_NATS_MAX_PINGS_OUT 3
/* Wait between rounds of reconnection attempts over the server list. */
#define IPM_NATS_RECONNECT_WAIT_MS 100
/* Longest SUBJECT of an endpoint, so that every topic's subject fits the
 * server's control line (4096 bytes by default). */
#define IPM_NATS_MAX_SUBJECT 512
/* Longest topic (publisher/subscriber) and metadata (sender/receiver). A
 * topic of n bytes becomes 3n + 2 bytes of subject (see nats_topic.c). */
#define IPM_NATS_MAX_METADATA 1024
/* Bytes of a JetStream message's header reserved for ipm's own headers:
 * "NATS/1.0", Nats-Msg-Id and Ipm-Metadata (percent-encoded, up to 3 bytes
 * per metadata byte). max_message_size is the server's max_payload less this. */
#define IPM_NATS_HEADER_RESERVE (3 * IPM_NATS_MAX_METADATA + 256)
/* Default subscriber queue bound (key recv_hwm or capacity), in messages:
 * past it, arriving messages are dropped and counted. */
#define IPM_NATS_DEFAULT_RECV_HWM 65536

/* The header that carries a sender's metadata. */
#define IPM_NATS_METADATA_HEADER "Ipm-Metadata"

/* A connection_string taken apart: the server URLs and the subject. */
typedef struct ipm_nats_endpoint {
    char **servers; /* "nats://host:port" each; one allocation with the strings */
    int nservers;
    char subject[IPM_NATS_MAX_SUBJECT + 1];
} ipm_nats_endpoint;

/* Parse "nats://HOST:PORT[,HOST:PORT...]/SUBJECT" for plugin into *out
 * (free with ipm__nats_endpoint_free). IPM_ECONFIG naming the endpoint and
 * what is wrong: scheme, empty host, port not in 1..65535, missing or
 * invalid subject (empty tokens, wildcards, white space). */
ipm_status ipm__nats_endpoint_parse(const char *plugin, const char *text,
                                    ipm_nats_endpoint *out);
void ipm__nats_endpoint_free(ipm_nats_endpoint *e);

/* The keys every NATS type accepts (connection, authentication, TLS). */
#define IPM_NATS_COMMON_KEYS                                                             \
    "connection_string", "user", "password", "creds", "tls_ca", "tls_cert", "tls_key",   \
        "connect_timeout_ms"

/* Validate the common keys of p (endpoint syntax, files readable, user and
 * password together, cert and key together) without connecting. The check
 * op of every NATS type starts with it (need_endpoint false: it checks the
 * values given, and an endpoint left out is for connect to refuse); connect
 * passes true. */
ipm_status ipm__nats_check_common(const char *plugin, const ipm_params *p,
                                  bool need_endpoint);

/* Connect to the servers of e with the options of p. closure is passed to
 * err_cb (cnats' asynchronous error handler: slow consumers), which may be
 * NULL. IPM_ECONNECT within connect_timeout_ms (per server) when no server
 * answers or authentication/TLS fails, naming the endpoint and cnats'
 * reason; IPM_ECONFIG for a bad key. Blocks at most for the timeout. */
ipm_status ipm__nats_connect(const char *plugin, const ipm_params *p,
                             const ipm_nats_endpoint *e, natsErrHandler err_cb,
                             void *closure, unsigned flags, natsConnection **out);

/* flags of ipm__nats_connect: publish nothing while reconnecting (cnats
 * would otherwise keep it in an 8 MiB buffer and send it after the
 * reconnect, so that a JetStream send that timed out could still be stored
 * later, behind the caller's back). */
#define IPM_NATS_NO_RECONNECT_BUFFER 1u
/* flags of ipm__nats_connect: write each publish to the socket at once
 * (natsOptions_SetSendAsap). cnats otherwise buffers it and its flusher
 * thread sleeps 1 ms before writing, to gather more: that adds about 1 ms
 * to every message of a pub/sub pair, and caps a JetStream sender, which
 * waits for each acknowledgement, at about 1000 messages/s (measured with
 * ipm-bench on loopback, docs/nats.md). */
#define IPM_NATS_SEND_AT_ONCE 2u

/* Set an error "<plugin> <endpoint>: cannot <what>: <cnats text>" with
 * status st and return st. */
ipm_status ipm__nats_error(ipm_status st, const char *plugin, const char *endpoint,
                           const char *what, natsStatus s);

/* IPM_ETIMEDOUT for a receive that got nothing within timeout_ms: plain if
 * nc (may be NULL) is connected, else with the reason that it is not
 * (ipm_set_timeout_reason), so that a long wait that runs out says so. */
ipm_status ipm__nats_timed_out(const char *plugin, const char *endpoint,
                               natsConnection *nc, int timeout_ms);

/* ---- nats_topic.c: topics on subjects, metadata in headers */

/* The subject for topic below base: base, then one token per topic byte
 * (two hex digits), then the end token "_". For a subscription (prefix),
 * the end token is ">" instead, so the server matches by byte prefix.
 * Into buf (cap bytes); false if it does not fit. */
bool ipm__nats_topic_subject(const char *base, const char *topic, size_t topic_len,
                             bool prefix, char *buf, size_t cap);

/* Decode the topic of subject (which starts with base and '.') into buf
 * (cap bytes, NUL-terminated) and return its length; a subject that is not
 * ipm's encoding (a stock client's) decodes as "" (length 0). */
size_t ipm__nats_subject_topic(const char *subject, size_t base_len, char *buf,
                               size_t cap);

/* Percent-encode metadata for a header value (bytes outside '!'..'~' and
 * '%' become %XX) into buf (cap >= 3 * len + 1). */
void ipm__nats_meta_encode(const char *meta, size_t len, char *buf);
/* Decode a header value into buf (cap >= strlen(value) + 1); returns the
 * length. Malformed escapes are kept as they are. */
size_t ipm__nats_meta_decode(const char *value, char *buf);

/* ---- nats_limits.c */

/* Descriptor limits of the types before connect (max_payload of a default
 * server, 1 MiB, less the header reserve for the JetStream pair). */
extern const ipm_limits ipm__nats_pubsub_limits;
extern const ipm_limits ipm__nats_stream_limits;

/* Fill *out from a connected nc: the server's max_payload (less the header
 * reserve if jetstream) and IPM_NATS_MAX_METADATA. */
void ipm__nats_limits_from(natsConnection *nc, bool jetstream, ipm_limits *out);

/* ---- messages handed to the application */

/* A received message: the cnats message (data points into it, no copy) and
 * the decoded metadata. msg->opaque_[0] holds it until release. */
typedef struct ipm_nats_held {
    natsMsg *m;
    size_t meta_len;
    char meta[];
} ipm_nats_held;

/* Fill msg from m with metadata meta (len bytes), taking m over. IPM_ENOMEM
 * (m destroyed) if the holder cannot be allocated. */
ipm_status ipm__nats_hand_over(natsMsg *m, const char *meta, size_t len,
                               ipm_message *msg);
/* Release op of the receiving types: touches no receiver state. */
void ipm__nats_release(ipm_message *msg);

#endif /* IPM_NATS_COMMON_H */
