/*
 * Helpers shared by the ZeroMQ transport tests (tests/zmq_*.c): opening
 * connected pairs on fresh endpoints, and waiting out ZeroMQ's "slow joiner"
 * window of publish/subscribe.
 */
#ifndef IPM_ZMQ_UTIL_H
#define IPM_ZMQ_UTIL_H

#include "ipm_test.h"

#include <stdbool.h>
#include <stddef.h>

/* Connect s (a sender) with "connection_string=<endpoint>; <extra>". */
void zt_connect_sender(ipm_sender *s, const char *endpoint, const char *extra);
/* Same for a receiver or subscriber. */
void zt_connect_receiver(ipm_receiver *r, const char *endpoint, const char *extra);

/* A ZmqReceiver bound to tcp://127.0.0.1:* and a ZmqSender connected to
 * the endpoint it reports. */
void zt_tcp_pair(ipm_sender **s, ipm_receiver **r);

/* A ZmqPublisher bound to tcp://127.0.0.1:* and a ZmqSubscriber connected to
 * it, subscribed to topic, with the subscription known to be in effect. */
void zt_tcp_pubsub(ipm_sender **pub, ipm_receiver **sub, const char *topic);

/* Publish "sync" messages on topic until sub receives one (the subscription
 * has reached the publisher), then drain every pending sync message. */
void zt_pubsub_sync(ipm_sender *pub, ipm_receiver *sub, const char *topic);

/* Receive one message within timeout_ms and check its bytes and metadata. */
void zt_expect(ipm_receiver *r, int timeout_ms, const void *data, size_t size,
               const char *metadata);

/* Assert that nothing arrives within timeout_ms. */
void zt_expect_nothing(ipm_receiver *r, int timeout_ms);

/* Check receive timeouts of T ms on r, where nothing is to arrive: every
 * receive must return IPM_ETIMEDOUT no sooner than T ms (CLOCK_MONOTONIC).
 * The upper bound T + 20 ms must hold for the best of up to `tries`
 * attempts: on a loaded machine the scheduler alone can wake any single
 * poll() more than 20 ms late, whereas a library that adds delay of its own
 * is late every time. before(arg), if not NULL, runs before each attempt. */
void zt_check_timeout(ipm_receiver *r, int T, int tries, void (*before)(void *),
                      void *arg);

/* Monotonic nanoseconds. */
long long zt_now_ns(void);

#endif
