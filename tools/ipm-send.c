/*
 * ipm-send — send messages to any ipm connection from the shell.
 *
 *   ipm-send [options] CONNECTION
 *
 * Bodies come from -m TEXT and -f FILE (in the order given, cycled through
 * --count times), from --size (a generated payload), or else from stdin, one
 * message per line. Sends wait in bounded slices so that Ctrl-C ends the
 * tool at once and cleanly; --rate paces with absolute deadlines
 * (clock_nanosleep), so the rate does not drift with the cost of a send.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tool_ipm.h"

/* Longest single wait inside ipm_send, so that a signal is noticed soon. */
#define SLICE_MS 200

static const char usage_text[] =
    "Usage: ipm-send [options] CONNECTION\n"
    "Send messages to an ipm connection.\n"
    "\n"
    "CONNECTION is a connection string, e.g.\n"
    "  'type=ZmqSender; connection_string=tcp://127.0.0.1:5555'\n"
    "  'type=ZmqPublisher; connection_string=tcp://*:6000'\n"
    "a bare endpoint such as tcp://127.0.0.1:5555 (the type is then --type, default\n"
    "ZmqSender), or FILE.ini:SECTION naming a section of an INI file.\n"
    "\n"
    "Message bodies (in the order given; without any, stdin is read, one message\n"
    "per line, the newline removed):\n"
    "  -m, --message TEXT    a message body (repeatable)\n"
    "  -f, --file FILE       the whole content of FILE as one message; '-' is stdin\n"
    "                        (repeatable)\n"
    "  -s, --size N          a generated payload of N bytes (suffixes k, M, G)\n"
    "Options:\n"
    "  -t, --type TYPE       transport type when CONNECTION does not name one\n"
    "  -T, --topic TEXT      metadata sent with every message (the topic, for\n"
    "                        publishers); default empty\n"
    "  -c, --count N         messages to send: -m/-f bodies are cycled until N are\n"
    "                        sent (default: each once; with --size: 1); with stdin\n"
    "                        at most N lines are sent\n"
    "  -r, --rate R          at most R messages per second (default: as fast as\n"
    "                        the receiver takes them)\n"
    "  -w, --timeout MS      give up if a message cannot be sent within MS ms\n"
    "                        (suffix ms or s; default: wait for the receiver forever)\n"
    "  -d, --delay MS        wait MS ms after connecting, before the first message\n"
    "                        (lets subscribers join a publisher)\n"
    "  -v, --verbose         print the endpoint and a summary on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "Examples:\n"
    "  ipm-send -m hello 'type=ZmqSender; connection_string=tcp://127.0.0.1:5555'\n"
    "  seq 10 | ipm-send ipc:///tmp/daq\n"
    "  ipm-send --size 1M --count 100 --rate 10 config/daq.ini:trigger_decisions\n"
    "\n" TOOL_EXIT_HELP;

/* One body to send: borrowed text or a malloc'ed file or payload. */
typedef struct body {
    char *data;
    size_t size;
} body;

typedef struct options {
    tool_conn conn;
    const char *topic;
    body *bodies;
    size_t nbodies;
    uint64_t count;
    bool count_set;
    double rate;
    int timeout_ms;
    int delay_ms;
    bool verbose;
} options;

static int add_body(options *o, char *data, size_t size)
{
    body *b = realloc(o->bodies, (o->nbodies + 1) * sizeof *b);
    if (b == NULL) {
        tool_error("out of memory");
        return TOOL_EXIT_ERROR;
    }
    o->bodies = b;
    b[o->nbodies].data = data;
    b[o->nbodies].size = size;
    o->nbodies++;
    return TOOL_EXIT_OK;
}

/* Read all of f into a malloc'ed buffer. */
static int slurp(FILE *f, const char *name, char **out, size_t *size)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf == NULL) {
        tool_error("%s: out of memory", name);
        return TOOL_EXIT_ERROR;
    }
    if (ferror(f)) {
        tool_error("%s: read error: %s", name, strerror(errno));
        free(buf);
        return TOOL_EXIT_ERROR;
    }
    *out = buf;
    *size = n;
    return TOOL_EXIT_OK;
}

static int add_file(options *o, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        tool_error("%s: %s", path, strerror(errno));
        return TOOL_EXIT_ERROR;
    }
    char *data = NULL;
    size_t size = 0;
    int rc = slurp(f, path, &data, &size);
    if (f != stdin) fclose(f);
    if (rc == TOOL_EXIT_OK) rc = add_body(o, data, size);
    if (rc != TOOL_EXIT_OK) free(data);
    return rc;
}

/* A printable, recognisable payload: "abc...xyzabc..." */
static int add_generated(options *o, size_t size)
{
    char *data = malloc(size ? size : 1);
    if (data == NULL) {
        tool_error("--size %zu: out of memory", size);
        return TOOL_EXIT_ERROR;
    }
    for (size_t i = 0; i < size; i++)
        data[i] = (char)('a' + i % 26);
    return add_body(o, data, size);
}

/* Bodies given with -m point into argv and are not freed; mark them. */
static void free_bodies(options *o, const bool *owned)
{
    for (size_t i = 0; i < o->nbodies; i++)
        if (owned[i]) free(o->bodies[i].data);
    free(o->bodies);
}

/* Send one message, waiting in SLICE_MS slices up to the total timeout, so
 * that Ctrl-C is noticed. A timed-out slice sent nothing (the contract), so
 * trying again cannot duplicate a message. */
static int send_one(ipm_sender *s, const options *o, const void *data, size_t size,
                    uint64_t index)
{
    uint64_t start = tool_now_ns();
    for (;;) {
        int slice = SLICE_MS;
        if (o->timeout_ms >= 0) {
            uint64_t spent_ms = (tool_now_ns() - start) / 1000000u;
            int left =
                spent_ms >= (uint64_t)o->timeout_ms ? 0 : o->timeout_ms - (int)spent_ms;
            if (left < slice) slice = left;
        }
        ipm_status st = ipm_send(s, data, size, slice, o->topic);
        if (st == IPM_OK) return TOOL_EXIT_OK;
        if (tool_stop_signal) return TOOL_EXIT_SIGNAL + tool_stop_signal;
        if (st != IPM_ETIMEDOUT || slice < SLICE_MS) {
            char what[96];
            if (st == IPM_ETIMEDOUT)
                snprintf(what, sizeof what, "message %llu not sent within %d ms",
                         (unsigned long long)index + 1, o->timeout_ms);
            else
                snprintf(what, sizeof what, "message %llu not sent",
                         (unsigned long long)index + 1);
            return tool_ipm_fail(what, st);
        }
    }
}

/* Sleep until message `index` is due at --rate, measured from t0. */
static int pace(const options *o, uint64_t t0, uint64_t index)
{
    if (o->rate <= 0) return TOOL_EXIT_OK;
    uint64_t due = t0 + (uint64_t)((double)index * 1e9 / o->rate);
    struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
    while (!tool_stop_signal) {
        int e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (e == 0) return TOOL_EXIT_OK;
        if (e != EINTR) {
            tool_error("clock_nanosleep: %s", strerror(e));
            return TOOL_EXIT_ERROR;
        }
    }
    return TOOL_EXIT_SIGNAL + tool_stop_signal;
}

static int delay(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        if (tool_stop_signal) return TOOL_EXIT_SIGNAL + tool_stop_signal;
    return TOOL_EXIT_OK;
}

/* Messages from stdin, one per line without its newline. */
static int send_lines(ipm_sender *s, const options *o, uint64_t *sent, uint64_t *bytes)
{
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "%s: reading messages from stdin, one per line (Ctrl-D ends)\n",
                tool_name());
    char *line = NULL;
    size_t cap = 0;
    int rc = TOOL_EXIT_OK;
    uint64_t t0 = tool_now_ns();
    while (rc == TOOL_EXIT_OK && (!o->count_set || *sent < o->count)) {
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (tool_stop_signal)
                rc = TOOL_EXIT_SIGNAL + tool_stop_signal;
            else if (ferror(stdin)) {
                tool_error("stdin: %s", strerror(errno));
                rc = TOOL_EXIT_ERROR;
            }
            break;
        }
        if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
        rc = pace(o, t0, *sent);
        if (rc == TOOL_EXIT_OK) rc = send_one(s, o, line, (size_t)n, *sent);
        if (rc == TOOL_EXIT_OK) {
            (*sent)++;
            *bytes += (uint64_t)n;
        }
    }
    free(line);
    return rc;
}

static int send_bodies(ipm_sender *s, const options *o, uint64_t *sent, uint64_t *bytes)
{
    uint64_t count = o->count_set ? o->count : o->nbodies;
    uint64_t t0 = tool_now_ns();
    int rc = TOOL_EXIT_OK;
    for (uint64_t i = 0; i < count && rc == TOOL_EXIT_OK; i++) {
        const body *b = &o->bodies[i % o->nbodies];
        rc = pace(o, t0, i);
        if (rc == TOOL_EXIT_OK) rc = send_one(s, o, b->data, b->size, i);
        if (rc == TOOL_EXIT_OK) {
            (*sent)++;
            *bytes += b->size;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    tool_set_name(argv[0]);
    static const struct option longopts[] = {{"message", required_argument, NULL, 'm'},
                                             {"file", required_argument, NULL, 'f'},
                                             {"size", required_argument, NULL, 's'},
                                             {"type", required_argument, NULL, 't'},
                                             {"topic", required_argument, NULL, 'T'},
                                             {"count", required_argument, NULL, 'c'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"timeout", required_argument, NULL, 'w'},
                                             {"delay", required_argument, NULL, 'd'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    options o = {.conn = {.default_type = "ZmqSender"}, .topic = "", .timeout_ms = -1};
    /* Which bodies are malloc'ed, parallel to o.bodies (at most argc). */
    bool *owned = calloc((size_t)argc + 1, sizeof *owned);
    if (owned == NULL) {
        tool_error("out of memory");
        return TOOL_EXIT_ERROR;
    }
    int rc = TOOL_EXIT_OK, opt;
    size_t size;
    while (rc == TOOL_EXIT_OK && (opt = getopt_long(argc, argv, "m:f:s:t:T:c:r:w:d:vh",
                                                    longopts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            rc = add_body(&o, optarg, strlen(optarg));
            break;
        case 'f':
            rc = add_file(&o, optarg);
            if (rc == TOOL_EXIT_OK) owned[o.nbodies - 1] = true;
            break;
        case 's':
            if (!tool_parse_size(optarg, &size))
                rc = tool_usage_error("--size '%s' is not a size (e.g. 64, 4Ki, 1Mi; k and M are 1000s)",
                                      optarg);
            else if ((rc = add_generated(&o, size)) == TOOL_EXIT_OK)
                owned[o.nbodies - 1] = true;
            break;
        case 't':
            o.conn.type = optarg;
            break;
        case 'T':
            o.topic = optarg;
            break;
        case 'c':
            if (!tool_parse_u64(optarg, &o.count))
                rc = tool_usage_error("--count '%s' is not a whole number", optarg);
            o.count_set = true;
            break;
        case 'r':
            if (!tool_parse_double(optarg, &o.rate))
                rc = tool_usage_error("--rate '%s' is not a positive number", optarg);
            break;
        case 'w':
            if (!tool_parse_timeout_ms(optarg, &o.timeout_ms))
                rc = tool_usage_error("--timeout '%s' is not a time in ms (e.g. 500, 2s)",
                                      optarg);
            break;
        case 'd':
            if (!tool_parse_timeout_ms(optarg, &o.delay_ms) || o.delay_ms < 0)
                rc = tool_usage_error("--delay '%s' is not a time in ms", optarg);
            break;
        case 'v':
            o.verbose = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            free_bodies(&o, owned);
            free(owned);
            return TOOL_EXIT_OK;
        default:
            rc = tool_usage_error("unknown option");
            break;
        }
    }
    if (rc == TOOL_EXIT_OK && optind != argc - 1)
        rc = tool_usage_error(optind >= argc
                                  ? "missing CONNECTION"
                                  : "exactly one CONNECTION, as the last argument "
                                    "(message bodies go with -m)");
    if (rc != TOOL_EXIT_OK) {
        free_bodies(&o, owned);
        free(owned);
        return rc;
    }
    o.conn.arg = argv[optind];
    tool_install_signals();

    ipm_sender *s = NULL;
    rc = tool_open_sender(&o.conn, &s);
    if (rc == TOOL_EXIT_OK && o.verbose)
        fprintf(stderr, "%s: %s connected to %s\n", tool_name(), o.conn.used_type,
                ipm_sender_endpoint(s) ? ipm_sender_endpoint(s) : o.conn.arg);
    if (rc == TOOL_EXIT_OK && o.delay_ms > 0) rc = delay(o.delay_ms);

    uint64_t sent = 0, bytes = 0;
    if (rc == TOOL_EXIT_OK)
        rc = o.nbodies ? send_bodies(s, &o, &sent, &bytes)
                       : send_lines(s, &o, &sent, &bytes);
    if (o.verbose || (rc >= TOOL_EXIT_SIGNAL && sent > 0))
        fprintf(stderr, "%s: sent %llu messages, %llu bytes\n", tool_name(),
                (unsigned long long)sent, (unsigned long long)bytes);
    /* Destroy flushes what is queued, bounded by the transport's linger. */
    ipm_sender_destroy(s);
    free_bodies(&o, owned);
    free(owned);
    return rc;
}
