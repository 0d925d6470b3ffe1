/*
 * conf.h — ipm-conformance: the behaviour of API.md §3 run against any
 * sender/receiver or publisher/subscriber pair (API.md §8).
 *
 * Shape of a run:
 *   - the coordinator (main.c) parses the command line and runs each check
 *     in a fresh child process (itself, spawned with `--role check NAME`), so
 *     that a check that crashes or hangs is one FAIL line and the others
 *     still run, and no check inherits another's transport state;
 *   - a check (check_*.c) uses the pair in its own process, and where the
 *     transport crosses processes it starts peers (peer.c): the same binary
 *     spawned again with `--role peer ...` (posix_spawn, never a bare fork:
 *     some transport libraries must not be used in a forked child), talking
 *     over two pipes; without IPM_FEATURE_CROSS_PROCESS a peer is a thread
 *     running the same code over the same pipes;
 *   - every endpoint a check binds is derived fresh from the one given
 *     (endpoint.c), so that checks never collide.
 */
#ifndef IPM_CONF_H
#define IPM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ipm/ipm.h>

#include "common/tool_util.h"

#define CONF_MAX_ENDPOINTS 2
#define CONF_MAX_SETS 32
#define CONF_EP_CAP 512

/* Results of a check; also the exit status of a check's process. */
enum { CONF_PASS = 0, CONF_FAIL = 1, CONF_NA = 3 };

/* Topic (pub/sub) or metadata of the suite's own messages. */
#define CONF_SYNC_TOPIC "~sync" /* probes that show a subscription is in effect */
#define CONF_SEQ_TOPIC "seq"    /* sequence-numbered stream messages */

/* The command line, as parsed (main.c). */
typedef struct conf_opts {
    const char *sender_type;
    const char *receiver_type;
    const char *endpoints[CONF_MAX_ENDPOINTS]; /* --endpoint, once or twice */
    size_t nendpoints;
    const char *sets[CONF_MAX_SETS]; /* --set key=value, passed to every connect */
    size_t nsets;
    const char *bind;    /* --bind sender|receiver, or NULL: by pattern */
    int check_timeout_s; /* a check's process is killed after this */
    uint64_t stream_count;
    bool threads;          /* --threads: peers are threads even if processes would do */
    uint64_t unstated_max; /* --unstated-max: largest size sent where none is stated */
} conf_opts;

/* What a check runs with. */
typedef struct conf_ctx {
    const conf_opts *o;
    const char *check; /* name of the running check (endpoint suffixes) */
    unsigned next_ep;  /* endpoints derived so far by this check */
    bool pubsub;       /* the receiver type is a subscriber */
    bool sender_binds; /* the sender side is connected first */
    bool have_limits;  /* limits holds conf_limits_stated's answer */
    ipm_limits limits;
    char why[1024]; /* the reason of FAIL / n/a, or a note on a pass */
} conf_ctx;

/* Record the reason and return CONF_FAIL / CONF_NA (printf-style). A pass
 * may carry a note (conf_note), printed in parentheses. */
int conf_fail(conf_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int conf_na(conf_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int conf_note(conf_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* conf_fail with ": STATUS: ipm_last_error()" appended. */
int conf_fail_st(conf_ctx *c, ipm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --------------------------------------------------------- endpoint.c */

/* The next fresh endpoint of the running check, derived from --endpoint
 * number `which` (0 or 1; 1 falls back to 0 when given once). The rule:
 *   - a tcp-style wildcard port (ends in ":*" or ":0") is kept: each bind
 *     picks a new port, read back with ipm_*_endpoint;
 *   - a fixed port (ends in ":DIGITS") becomes PORT + k, k = 0, 1, 2, ...
 *     counted within the check;
 *   - anything else (ipc:///path, shm://NAME, uds:///path, inproc://x, a
 *     URL path) gets "-CHECK-k" appended (k from 1), the same in every run,
 *     so that what a killed peer left behind is reclaimed by the next run. */
void conf_endpoint_fresh(conf_ctx *c, int which, char *out, size_t cap);

/* ------------------------------------------------------------- pair.c */

/* A connected pair in this process, and the limits it states. */
typedef struct conf_pair {
    ipm_sender *tx;
    ipm_receiver *rx;
    char endpoint[CONF_EP_CAP]; /* resolved endpoint of the binding side */
    ipm_limits lim;             /* merged: smaller sizes, features of both */
} conf_pair;

/* Flags of conf_pair_open. */
enum {
    CONF_PAIR_SUBSCRIBE_ALL = 1, /* pub/sub: subscribe "" and wait until in effect */
    CONF_PAIR_NO_SUBSCRIBE = 0,
};

/* Params for a connect: key (connection_string, or connection_strings for
 * a list) = ep, then every --set key=value. Caller frees *out. */
ipm_status conf_params(conf_ctx *c, const char *key, const char *ep, ipm_params **out);

/* Connect a sender (or receiver) of the run's type to endpoint ep with the
 * --set keys (key is connection_string, or connection_strings for a list).
 * The resolved endpoint is copied to resolved (may be NULL). */
ipm_status conf_sender_open(conf_ctx *c, const char *ep, ipm_sender **out, char *resolved,
                            size_t cap);
ipm_status conf_receiver_open(conf_ctx *c, const char *key, const char *ep,
                              ipm_receiver **out, char *resolved, size_t cap);

/* Create both ends on a fresh endpoint, the binding side first. Returns
 * CONF_PASS, or CONF_FAIL with the reason in c->why. */
int conf_pair_open(conf_ctx *c, conf_pair *p, int flags);
void conf_pair_close(conf_pair *p);

/* The limits of the run's types as a connected pair on a fresh endpoint
 * states them (merged; the descriptors' if the pair cannot connect), read
 * once per check; used to decide whether peers are processes and which
 * features apply before a check connects its own ends. */
void conf_limits_stated(conf_ctx *c, ipm_limits *out);

/* The merged limits of a sender's and a receiver's statement. */
void conf_limits_merge(const ipm_limits *tx, const ipm_limits *rx, ipm_limits *out);
/* Print the limits of both ends as "#" lines (the `limits` check). */
void conf_limits_print(const ipm_limits *tx, const ipm_limits *rx);
const char *conf_size_text(uint64_t v, char *buf, size_t cap); /* "none" or a size */

/* pub/sub: send probes (topic CONF_SYNC_TOPIC) until rx receives one, then
 * drain what is queued; for sender/receiver it returns at once. Returns
 * CONF_PASS or CONF_FAIL (nothing arrived within timeout_ms). */
int conf_sync(conf_ctx *c, ipm_sender *tx, ipm_receiver *rx, int timeout_ms);
/* The same with probes on topic (which rx must be subscribed to); drains
 * whatever else is queued, too. */
int conf_sync_topic(conf_ctx *c, ipm_sender *tx, ipm_receiver *rx, const char *topic,
                    int timeout_ms);

/* Receive, skipping probes (metadata CONF_SYNC_TOPIC). */
ipm_status conf_receive(ipm_receiver *rx, ipm_message *m, int timeout_ms);

/* A sequence-numbered message: sender id and sequence number, 16 bytes. */
typedef struct conf_seq {
    uint64_t id, seq;
} conf_seq;

/* Fill / verify a payload whose bytes depend on size and offset. */
void conf_fill(void *buf, size_t size, uint64_t salt);
bool conf_verify(const void *buf, size_t size, uint64_t salt, size_t *bad_at);

/* Monotonic milliseconds since t0_ns, as a double. */
double conf_ms_since(uint64_t t0_ns);
void conf_sleep_ms(int ms);

/* ------------------------------------------------------------- peer.c */

/* Actions a peer runs (peer_role.c). */
typedef enum conf_action {
    CONF_ACT_HOLD = 1, /* connect, then wait: never send or receive */
    CONF_ACT_STREAM,   /* sender: on "go", send count seq messages */
    CONF_ACT_FLOOD,    /* sender: on "go", send until stdin closes */
    CONF_ACT_STAMP,    /* sender: on each "go", one message with the send time */
    CONF_ACT_DRAIN     /* receiver: receive and discard until stdin closes */
} conf_action;

typedef struct conf_peer_args {
    bool sender; /* which end the peer is */
    conf_action action;
    bool binds; /* the peer binds ep (else it connects to it) */
    char ep[CONF_EP_CAP];
    uint64_t id, count, window; /* stream: sender id, messages, credit window */
} conf_peer_args;

typedef struct conf_peer {
    bool process; /* a separate process (else a thread) */
    pid_t pid;
    void *thread;               /* pthread_t *, for a thread peer */
    int to_fd;                  /* commands to the peer */
    int from_fd;                /* its report lines */
    char endpoint[CONF_EP_CAP]; /* from its "ready" line */
    conf_peer_args args;
    char line[1024]; /* last line read */
    bool eof;        /* the report pipe closed: the peer is gone */
} conf_peer;

/* True if peers are processes: the pair states IPM_FEATURE_CROSS_PROCESS
 * and --threads was not given. */
bool conf_peers_are_processes(conf_ctx *c);

/* Start a peer running a (process or thread as `process` says) and wait up
 * to 10 s for its "ready" line; its resolved endpoint is then in
 * p->endpoint. CONF_PASS or CONF_FAIL with the reason. */
int conf_peer_start(conf_ctx *c, conf_peer *p, const conf_peer_args *a, bool process);
/* A peer for one end and the other end here: the peer plays the sender
 * (peer_sender) or the receiver, with action act; whichever side binds
 * (c->sender_binds) is connected first on a fresh endpoint. The local end
 * is returned in *ltx or *lrx (a local subscriber is subscribed to ""),
 * the other pointer is left NULL. The peer is a process if the stated
 * limits say so. CONF_PASS or CONF_FAIL. */
int conf_peer_with_local(conf_ctx *c, bool peer_sender, conf_action act, uint64_t count,
                         uint64_t window, conf_peer *peer, ipm_sender **ltx,
                         ipm_receiver **lrx);
/* pub/sub: receive until a probe from a sending peer arrives (the
 * subscription is in effect), within timeout_ms. CONF_PASS for s/r. */
int conf_wait_probe(conf_ctx *c, ipm_receiver *rx, int timeout_ms);
/* Write one command line ("go", "credit N"). False if the peer is gone. */
bool conf_peer_tell(conf_peer *p, const char *cmd);
/* Read the next report line into p->line within timeout_ms. False on
 * timeout or end of file. */
bool conf_peer_read(conf_peer *p, int timeout_ms);
/* Signal a process peer (SIGSTOP, SIGCONT, SIGKILL). */
void conf_peer_signal(conf_peer *p, int sig);
/* Close its stdin (it ends), wait up to timeout_ms, then kill it; reaps.
 * Returns the exit status (as waitpid), or -1 if it had to be killed. */
int conf_peer_finish(conf_peer *p, int timeout_ms);

/* After a peer that bound was killed (not left to end): its endpoint may
 * outlive it (a POSIX queue, a shm segment, an ipc socket file) and would
 * pile up over runs (POSIX queues count against the user's RLIMIT_MSGQUEUE,
 * shm segments against /dev/shm). Bind the same end there once and destroy
 * it, which removes it. Best effort: what a transport refuses is left. */
void conf_peer_reclaim(conf_ctx *c, const conf_peer *p);

/* The peer side: run a with the report fd and the command fd. Used by
 * `--role peer` (fds 3 and 0) and by thread peers. Returns an exit code. */
int conf_peer_main(conf_ctx *c, const conf_peer_args *a, int in_fd, int out_fd);
/* Parse the arguments after `--role peer` (as peer.c writes them). */
bool conf_peer_parse(int argc, char **argv, conf_peer_args *a);

/* Set up c for the run described by o: the pattern (from the receiver's
 * role) and which side binds. Returns false with a message printed if a
 * type cannot be loaded or has the wrong role. */
bool conf_ctx_init(conf_ctx *c, const conf_opts *o);

/* ----------------------------------------------------------- checks.c */

typedef struct conf_check {
    const char *name;
    const char *what; /* one line for --list */
    int (*run)(conf_ctx *c);
} conf_check;

extern const conf_check conf_checks[];
extern const size_t conf_ncheck;
const conf_check *conf_check_find(const char *name);

/* The checks, by area (check_*.c). */
int conf_check_limits(conf_ctx *c);
int conf_check_state(conf_ctx *c);
int conf_check_null_data(conf_ctx *c);
int conf_check_empty(conf_ctx *c);
int conf_check_metadata(conf_ctx *c);
int conf_check_stats(conf_ctx *c);
int conf_check_sizes(conf_ctx *c);
int conf_check_too_big(conf_ctx *c);
int conf_check_receive_timeout(conf_ctx *c);
int conf_check_send_timeout(conf_ctx *c);
int conf_check_wakeup(conf_ctx *c);
int conf_check_stream(conf_ctx *c);
int conf_check_fan_in(conf_ctx *c);
int conf_check_nothing_before_subscribe(conf_ctx *c);
int conf_check_prefix(conf_ctx *c);
int conf_check_unsubscribe(conf_ctx *c);
int conf_check_multi_publisher(conf_ctx *c);
int conf_check_callback_before(conf_ctx *c);
int conf_check_callback_after(conf_ctx *c);
int conf_check_callback_unregister_inside(conf_ctx *c);
int conf_check_destroy_stopped_receiver(conf_ctx *c);
int conf_check_destroy_stopped_sender(conf_ctx *c);
int conf_check_kill_receiver(conf_ctx *c);
int conf_check_kill_sender(conf_ctx *c);
int conf_check_fork(conf_ctx *c);
int conf_check_destroy_while_receiving(conf_ctx *c);

#endif /* IPM_CONF_H */
