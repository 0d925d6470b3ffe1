/*
 * bench.h — the benchmark harness behind ipm-bench and the raw-libzmq
 * baseline (bench/zmq_baseline.c). Both programs are this harness plus a
 * backend (a table of functions that create, connect and use one channel
 * end), so they measure the same things the same way: same processes, same
 * message pattern, same payloads, same clock, same statistics.
 *
 * Patterns, each between two roles: in two forked processes, or in two
 * threads of one forked process for inproc:// (and with --threads):
 *   latency     ping-pong: A sends to B, B echoes the message back on a second
 *               channel; one-way latency = round-trip time / 2, per message.
 *   throughput  A streams messages to B as fast as it takes them; the rate is
 *               the messages B received over (B's last arrival - A's start),
 *               both read from the host-wide CLOCK_MONOTONIC.
 *   startup     one process: the time to create a sender by type name and
 *               connect it, first (plugin load included) and then repeatedly.
 * Every payload carries a 64-bit sequence number in its first 8 bytes (when
 * it has 8), which B checks: gaps are lost messages, and a lossless pattern
 * (a receiver that is not a subscriber) that lost anything fails the run.
 *
 * The coordinating process never touches the transport: each measurement
 * runs in fresh processes, so no library state (a ZeroMQ context) is ever
 * inherited across fork.
 */
#ifndef IPM_BENCH_H
#define IPM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tool_util.h"

enum {
    BENCH_LATENCY = 1,
    BENCH_THROUGHPUT = 2,
    BENCH_STARTUP = 4,
};

/* Backend results. */
enum { BENCH_OK = 0, BENCH_TIMEOUT = 1, BENCH_ERROR = -1 };

/* A received message, valid until release. */
typedef struct bench_msg {
    const void *data;
    size_t size;
    const char *meta; /* NUL-terminated */
} bench_msg;

typedef struct bench_config bench_config;

/*
 * One transport implementation. All functions run in a role (a child process
 * or one of its threads); each object is used by one thread. A failing
 * function returns BENCH_ERROR and error() then describes the failure.
 */
typedef struct bench_backend {
    const char *impl; /* name in reports: "ipm", "zmq", "zmq-dune" */
    /* Create a receiving end; *subscriber tells whether it is a subscriber
     * (then the sending end binds, and the pattern may drop). */
    int (*rx_create)(const bench_config *cfg, void **rx, bool *subscriber);
    /* Bind or connect to endpoint; the resolved endpoint (e.g. the port that
     * "tcp://127.0.0.1:*" picked) into resolved. */
    int (*rx_connect)(void *rx, const char *endpoint, char *resolved, size_t cap);
    int (*tx_create)(const bench_config *cfg, void **tx);
    int (*tx_connect)(void *tx, const char *endpoint, char *resolved, size_t cap);
    /* BENCH_OK, BENCH_TIMEOUT (nothing sent) or BENCH_ERROR. */
    int (*send)(void *tx, const void *data, size_t size, const char *meta,
                int timeout_ms);
    /* BENCH_OK (release m later), BENCH_TIMEOUT or BENCH_ERROR. At most one
     * message per receiving end is held at a time. */
    int (*recv)(void *rx, bench_msg *m, int timeout_ms);
    void (*release)(void *rx, bench_msg *m);
    /* Messages the receiving end knows it dropped (0 if it cannot know). */
    uint64_t (*dropped)(void *rx);
    void (*tx_destroy)(void *tx);
    void (*rx_destroy)(void *rx);
    /* Detail of the last failure on the calling thread. */
    const char *(*error)(void);
} bench_backend;

/* What to measure; filled by bench_parse_args. */
struct bench_config {
    const bench_backend *backend;
    const char *tool;        /* program name in reports */
    const char *sender_type; /* shown in reports; ipm: the type to create */
    const char *receiver_type;
    const char **sender_params; /* "key=value" extra connection keys */
    size_t nsender_params;
    const char **receiver_params;
    size_t nreceiver_params;
    char **endpoints;
    size_t nendpoints;
    size_t *sizes;
    size_t nsizes;
    unsigned patterns;
    uint64_t count;  /* messages (throughput) or round trips (latency); 0: auto */
    double duration; /* seconds; 0: count-bounded only */
    uint64_t warmup; /* latency round trips not measured */
    bool warmup_set;
    int startup_iterations;
    bool json;
    bool threads;         /* both roles in one process even when not inproc:// */
    bool progress;        /* a progress line on stderr (it is a terminal) */
    double deadline_s;    /* a measurement that takes longer is killed and fails */
    const char *strategy; /* BENCH_OPT_STRATEGY: as given, or NULL */
    int cpu[2];           /* --cpus A,B: pin role A / B (and the threads they
                             start) to these CPUs; -1: not pinned */
};

/* Options a program adds to the common ones (see bench_parse_args). */
enum {
    BENCH_OPT_TYPES =
        1, /* --sender-type/--receiver-type/--sender-param/--receiver-param */
    BENCH_OPT_STRATEGY = 2 /* --strategy NAME, stored in cfg->strategy */
};

/* Parse the command line into *cfg (defaults first; cfg->sender_type and
 * receiver_type may be preset as defaults). Returns -1 to go on, or an exit
 * code after printing the help or a usage error. usage_head opens --help,
 * extra_help is inserted before the exit codes. */
int bench_parse_args(bench_config *cfg, int argc, char **argv, unsigned features,
                     const char *usage_head, const char *extra_help);
void bench_config_free(bench_config *cfg);

/* Run every measurement of cfg, print the report. Returns the exit code:
 * TOOL_EXIT_OK, TOOL_EXIT_ERROR if a measurement failed, TOOL_EXIT_TIMEOUT if
 * a lossless pattern lost messages. */
int bench_run(const bench_config *cfg);

/* ------------------------------------------------ internal to the harness */

/* One measurement's outcome, merged from the two roles. */
typedef struct bench_result {
    int pattern;
    const char *endpoint; /* as configured */
    char transport[16];   /* scheme: tcp, ipc, inproc, shm, ... */
    size_t size;
    uint64_t count; /* messages or round trips attempted */
    uint64_t sent, received, lost, misordered, dropped;
    uint64_t first_lost; /* sequence number of the first message lost */
    bool lossless;
    double seconds;
    double msgs_per_s, mb_per_s; /* throughput; MB = 10^6 bytes */
    tool_pctl lat;               /* one-way latency, ns (latency pattern) */
    double first_ns;             /* startup: the first create+connect */
    tool_pctl start;             /* startup: later create+connects, ns */
    bool failed;
    char error[1024];
} bench_result;

/* Role entry points (bench_roles.c). fds: to_peer, from_peer, to_coord. */
typedef struct bench_role_io {
    const bench_config *cfg;
    int pattern;
    const char *endpoint;
    size_t size;
    uint64_t count;
    int to_peer, from_peer, to_coord;
} bench_role_io;

/* What a role reports to the coordinator over its pipe. */
typedef struct bench_role_report {
    int ok;
    int peer_failure;        /* failed because the other role failed or went away */
    uint64_t t_start, t_end; /* CLOCK_MONOTONIC ns */
    uint64_t sent, received, lost, misordered, dropped;
    uint64_t first_lost;
    int lossless;
    tool_pctl lat; /* round trip, ns */
    uint64_t rounds;
    double first_ns;
    tool_pctl start;
    char error[1024];
} bench_role_report;

void bench_role_sender(bench_role_io *io);   /* A: streams, or pings */
void bench_role_receiver(bench_role_io *io); /* B: counts, or echoes */
void bench_role_startup(bench_role_io *io);

/* The endpoint of channel ch (0 forward, 1 return, 2 startup) derived from
 * the configured one: a tcp port wildcard stays, a fixed tcp port gets +ch,
 * any other endpoint gets "-r" / "-s" appended for channels 1 / 2. */
void bench_channel_endpoint(const char *ep, int ch, char *out, size_t cap);

/* Default count for a pattern and size when --count is not given. */
uint64_t bench_auto_count(int pattern, size_t size);

/* Reports (bench_report.c). */
void bench_report_begin(const bench_config *cfg);
void bench_report_result(const bench_config *cfg, const bench_result *r);
void bench_report_end(const bench_config *cfg);

#endif /* IPM_BENCH_H */
