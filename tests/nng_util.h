/*
 * Helpers shared by the nng family's tests (tests/nng_*.c): connected pairs
 * on fresh endpoints, expectations on received messages, timeouts, and
 * waiting until a subscription is in effect.
 */
#ifndef IPM_NNG_UTIL_H
#define IPM_NNG_UTIL_H

#include "ipm_test.h"

#include <stdbool.h>
#include <stddef.h>

/* Connect with "connection_string=<endpoint>; <extra>" (extra may be NULL). */
void nt_connect_sender(ipm_sender *s, const char *endpoint, const char *extra);
void nt_connect_receiver(ipm_receiver *r, const char *endpoint, const char *extra);

/* An NngReceiver listening on endpoint (with extra keys) and an NngSender
 * dialling the endpoint it reports (with sender_extra keys). */
void nt_pair(const char *endpoint, const char *extra, const char *sender_extra,
             ipm_sender **s, ipm_receiver **r);

/* An NngPublisher on endpoint and an NngSubscriber dialling it, subscribed
 * to topic, with the subscription known to be in effect. */
void nt_pubsub(const char *endpoint, ipm_sender **pub, ipm_receiver **sub,
               const char *topic);

/* Publish "sync" on topic until sub receives one, then drain the rest. */
void nt_pubsub_sync(ipm_sender *pub, ipm_receiver *sub, const char *topic);

/* Receive one message within timeout_ms and check its bytes and metadata. */
void nt_expect(ipm_receiver *r, int timeout_ms, const void *data, size_t size,
               const char *metadata);
/* Assert that nothing arrives within timeout_ms. */
void nt_expect_nothing(ipm_receiver *r, int timeout_ms);

/* Receive timeouts of T ms: never early; within T + 20 ms for the best of
 * `tries` attempts (a loaded machine may wake any single one late). */
void nt_check_timeout(ipm_receiver *r, int T, int tries);

/* A fresh loopback tcp endpoint with a free port picked by the kernel, for
 * tests whose peers cannot learn a resolved one (out, cap bytes). */
const char *nt_free_tcp(char *out, size_t cap, const char *scheme);

long long nt_now_ns(void);

/* End of a test program: nng_fini() (nng's documented call for leak
 * checkers: its reaper frees closed sockets and connections in the
 * background, and without it LeakSanitizer may catch them at exit), then
 * rc. Only here: the library never calls nng_fini, which would break other
 * nng users in the process.
 *
 * nng_fini waits for every socket to finish closing, so it never returns
 * when the plugin abandoned a socket whose nng_close deadlocked inside
 * libnng 1.5 (ipm__nng_close; seen once in 80 runs of nng_interop under
 * load). It therefore runs on a thread of its own and is given
 * NT_FINI_BOUND_S seconds; after that nt_finish says so on stdout and
 * returns rc, and the exit ends that thread. The test's verdict stands:
 * every assertion had run before. */
#define NT_FINI_BOUND_S 10
int nt_finish(int rc);

#endif
