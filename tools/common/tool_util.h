/*
 * tool_util.h — helpers shared by the command-line tools and the benchmark
 * programs: exit codes, error printing, number parsing, signals, time,
 * message printing (text and hex), one-line JSON objects and percentiles.
 *
 * Nothing here uses libipm, so the raw-libzmq baseline in bench/ links it
 * too; the libipm-specific helpers are in tool_ipm.h.
 *
 * All functions are for single-threaded use from a tool's main thread unless
 * a comment says otherwise.
 */
#ifndef IPM_TOOL_UTIL_H
#define IPM_TOOL_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, the same for every tool (documented in each --help). */
enum {
    TOOL_EXIT_OK = 0,      /* done as asked */
    TOOL_EXIT_ERROR = 1,   /* runtime error: the library's message is printed */
    TOOL_EXIT_USAGE = 2,   /* bad command line */
    TOOL_EXIT_TIMEOUT = 3, /* timed out, or a lossless pattern lost messages */
    TOOL_EXIT_SIGNAL = 128 /* + signal number: ended by SIGINT (130) or SIGTERM (143) */
};

/* The exit-code paragraph every --help ends with. */
#define TOOL_EXIT_HELP                                                                   \
    "Exit status:\n"                                                                     \
    "  0    success\n"                                                                   \
    "  1    runtime error (the library's message is printed on stderr)\n"                \
    "  2    bad command line\n"                                                          \
    "  3    timed out, or messages were lost where the pattern is lossless\n"            \
    "  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM\n"

/* Program name used as the prefix of every message (basename of argv[0]). */
void tool_set_name(const char *argv0);
const char *tool_name(void);

/* Print "NAME: message\n" on stderr. */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "NAME: message\nTry 'NAME --help'.\n" on stderr; returns TOOL_EXIT_USAGE. */
int tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------- parsing */

/* A whole decimal number (no sign, no suffix). False if malformed. */
bool tool_parse_u64(const char *s, uint64_t *out);

/* A byte size in the syntax of connection strings (ipm_parse_size): k, M, G
 * are 1000s, Ki, Mi, Gi (or KiB, MiB, GiB) 1024s. "4k" is 4000, "4Ki" 4096. */
bool tool_parse_size(const char *s, size_t *out);

/* A comma-separated list of sizes ("64,4Ki,1Mi"). *out is malloc'ed and owned
 * by the caller. False (and *out NULL) on a malformed item. */
bool tool_parse_size_list(const char *s, size_t **out, size_t *n);

/* A timeout in milliseconds: a whole number, optionally with ms or s
 * ("500", "500ms", "2s"), or -1 / "inf" for "forever". */
bool tool_parse_timeout_ms(const char *s, int *out);

/* Seconds as a positive decimal, optionally with s or ms ("1.5", "300ms"). */
bool tool_parse_seconds(const char *s, double *out);

/* A positive decimal number (rates). */
bool tool_parse_double(const char *s, double *out);

/* ---------------------------------------------------------- time, signals */

/* CLOCK_MONOTONIC in nanoseconds; the same clock in every process of the host,
 * so timestamps from two processes can be subtracted. Thread-safe. */
uint64_t tool_now_ns(void);

/* Set by the SIGINT/SIGTERM handler to the signal number. */
extern volatile sig_atomic_t tool_stop_signal;

/* Install SIGINT/SIGTERM handlers (without SA_RESTART, so blocking system
 * calls return EINTR) that set tool_stop_signal, and ignore SIGPIPE so a
 * closed stdout becomes a write error (EPIPE) instead of a silent death. */
void tool_install_signals(void);

/* --------------------------------------------------------------- output */

/* "64 B", "4 KiB", "1 MiB", "1.5 MiB" into buf; returns buf. */
const char *tool_format_size(size_t n, char *buf, size_t cap);

/* Write data as one line of text: printable ASCII as is, \\, \n, \r, \t and
 * \xNN escapes otherwise. At most max bytes (0: all), then " ...(+N bytes)". */
void tool_print_escaped(FILE *f, const void *data, size_t size, size_t max);

/* hexdump -C style lines ("  0000  68 65 ...  |he..|"), at most max bytes
 * (0: all), then a line saying how many bytes were not shown. */
void tool_print_hex(FILE *f, const void *data, size_t size, size_t max);

/* One JSON object on one line: begin, any number of fields, end ("}\n").
 * Strings are escaped; non-finite doubles are written as null. */
typedef struct tool_json {
    FILE *f;
    int fields;
} tool_json;
void tool_json_begin(tool_json *j, FILE *f);
void tool_json_str(tool_json *j, const char *key, const char *value);
void tool_json_u64(tool_json *j, const char *key, uint64_t value);
void tool_json_f(tool_json *j, const char *key, double value);
void tool_json_bool(tool_json *j, const char *key, bool value);
void tool_json_end(tool_json *j);

/* ---------------------------------------------------------- percentiles */

/* Summary of a sample of durations in nanoseconds (nearest-rank
 * percentiles). All zero for n == 0. */
typedef struct tool_pctl {
    double min, mean, p50, p99, p999, max; /* nanoseconds */
} tool_pctl;

/* Sorts ns[0..n) in place and fills *out. */
void tool_percentiles(uint64_t *ns, size_t n, tool_pctl *out);

#endif /* IPM_TOOL_UTIL_H */
