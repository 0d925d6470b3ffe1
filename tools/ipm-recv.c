/*
 * ipm-recv — receive messages from any ipm connection and print them.
 *
 *   ipm-recv [options] CONNECTION
 *
 * Output is one line per message (text, escaped), a hex dump (--hex), or the
 * bare bodies (--raw, --lines) for piping into other programs. Receives wait
 * in bounded slices so that Ctrl-C ends the tool at once and cleanly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_ipm.h"

/* Longest single wait inside ipm_receive, so that a signal is noticed soon. */
#define SLICE_MS 200

static const char usage_text[] =
    "Usage: ipm-recv [options] CONNECTION\n"
    "Receive messages from an ipm connection and print them on stdout.\n"
    "\n"
    "CONNECTION is a connection string, e.g.\n"
    "  'type=ZmqReceiver; connection_string=tcp://*:5555'\n"
    "  'type=ZmqSubscriber; connection_strings=tcp://a:6000,tcp://b:6000; topics=tp'\n"
    "a bare endpoint such as tcp://*:5555 (the type is then --type, default\n"
    "ZmqReceiver, or ZmqSubscriber when --topic is given), or FILE.ini:SECTION.\n"
    "\n"
    "Options:\n"
    "  -t, --type TYPE       transport type when CONNECTION does not name one\n"
    "  -T, --topic TOPIC     subscribe to topics starting with TOPIC (repeatable;\n"
    "                        subscribers without any topic receive every topic)\n"
    "  -c, --count N         exit after N messages (default: until Ctrl-C)\n"
    "  -w, --timeout MS      exit with status 3 if no message arrives within MS ms\n"
    "                        of the start or of the previous message (suffix ms, s)\n"
    "  -x, --hex             print each body as a hex dump\n"
    "  -r, --raw             write the bare bodies to stdout, nothing else\n"
    "  -l, --lines           as --raw, with a newline after each body (undoes\n"
    "                        ipm-send's one-message-per-line)\n"
    "  -n, --max-bytes N     show at most N bytes of each body in text and hex\n"
    "                        output (default 1024; 0: all)\n"
    "  -q, --quiet           do not print the 'ready' line on stderr\n"
    "  -v, --verbose         print the receiver's counters on stderr at the end\n"
    "  -h, --help            show this help\n"
    "\n"
    "Text output is one line per message: '#N [METADATA] SIZE: BODY', the body\n"
    "escaped (\\n, \\t, \\xNN) and the [METADATA] part left out when empty. Once\n"
    "connected, 'ipm-recv: TYPE ready on ENDPOINT' is printed on stderr.\n"
    "\n"
    "Examples:\n"
    "  ipm-recv 'type=ZmqReceiver; connection_string=tcp://*:5555'\n"
    "  ipm-recv --count 1 --raw ipc:///tmp/daq > body.bin\n"
    "  ipm-recv -T hsi -T tp 'type=ZmqSubscriber; connection_string=tcp://h:6000'\n"
    "\n" TOOL_EXIT_HELP;

typedef enum output_mode { OUT_TEXT, OUT_HEX, OUT_RAW, OUT_LINES } output_mode;

typedef struct options {
    tool_conn conn;
    const char **topics;
    size_t ntopics;
    uint64_t count;
    int timeout_ms;
    output_mode mode;
    size_t max_bytes;
    bool quiet, verbose;
} options;

static int print_message(const options *o, const ipm_message *m, uint64_t index)
{
    FILE *out = stdout;
    char sz[32];
    switch (o->mode) {
    case OUT_RAW:
    case OUT_LINES:
        if (m->size) fwrite(m->data, 1, m->size, out);
        if (o->mode == OUT_LINES) fputc('\n', out);
        break;
    case OUT_TEXT:
    case OUT_HEX:
        fprintf(out, "#%llu ", (unsigned long long)index);
        if (m->metadata_size) {
            fputc('[', out);
            tool_print_escaped(out, m->metadata, m->metadata_size, 0);
            fputs("] ", out);
        }
        fputs(tool_format_size(m->size, sz, sizeof sz), out);
        if (o->mode == OUT_TEXT) {
            fputs(": ", out);
            tool_print_escaped(out, m->data, m->size, o->max_bytes);
            fputc('\n', out);
        } else {
            fputs(":\n", out);
            tool_print_hex(out, m->data, m->size, o->max_bytes);
        }
        break;
    }
    /* Flushed per message so that a pipe or a terminal sees it now. */
    if (fflush(out) != 0 || ferror(out)) {
        if (errno == EPIPE) return -1; /* the reader went away: stop quietly */
        tool_error("stdout: %s", strerror(errno));
        return TOOL_EXIT_ERROR;
    }
    return TOOL_EXIT_OK;
}

static int subscribe_all(ipm_receiver *r, const options *o)
{
    for (size_t i = 0; i < o->ntopics; i++) {
        ipm_status st = ipm_subscribe(r, o->topics[i]);
        if (st != IPM_OK) {
            char what[256];
            snprintf(what, sizeof what, "cannot subscribe %s to topic '%s'",
                     o->conn.used_type, o->topics[i]);
            return tool_ipm_fail(what, st);
        }
    }
    /* A subscriber given no topic anywhere gets every topic: the useful
     * default for a shell tool. Receivers say IPM_ENOTSUP, which is fine. */
    if (o->ntopics == 0 && !o->conn.has_topics) {
        ipm_status st = ipm_subscribe(r, "");
        if (st != IPM_OK && st != IPM_ENOTSUP)
            return tool_ipm_fail("cannot subscribe", st);
    }
    return TOOL_EXIT_OK;
}

static int receive_loop(ipm_receiver *r, const options *o, uint64_t *received)
{
    uint64_t last = tool_now_ns();
    while (o->count == 0 || *received < o->count) {
        if (tool_stop_signal) return TOOL_EXIT_SIGNAL + tool_stop_signal;
        int slice = SLICE_MS;
        if (o->timeout_ms >= 0) {
            uint64_t idle_ms = (tool_now_ns() - last) / 1000000u;
            if (idle_ms >= (uint64_t)o->timeout_ms) {
                tool_error("no message within %d ms (%llu received)", o->timeout_ms,
                           (unsigned long long)*received);
                return TOOL_EXIT_TIMEOUT;
            }
            if ((uint64_t)slice > o->timeout_ms - idle_ms)
                slice = o->timeout_ms - (int)idle_ms;
        }
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, slice);
        if (st == IPM_ETIMEDOUT) continue;
        if (st != IPM_OK) return tool_ipm_fail("receive failed", st);
        (*received)++;
        last = tool_now_ns();
        int rc = print_message(o, &m, *received);
        ipm_message_release(&m);
        if (rc < 0) return TOOL_EXIT_OK;
        if (rc != TOOL_EXIT_OK) return rc;
    }
    return TOOL_EXIT_OK;
}

int main(int argc, char **argv)
{
    tool_set_name(argv[0]);
    static const struct option longopts[] = {{"type", required_argument, NULL, 't'},
                                             {"topic", required_argument, NULL, 'T'},
                                             {"count", required_argument, NULL, 'c'},
                                             {"timeout", required_argument, NULL, 'w'},
                                             {"hex", no_argument, NULL, 'x'},
                                             {"raw", no_argument, NULL, 'r'},
                                             {"lines", no_argument, NULL, 'l'},
                                             {"max-bytes", required_argument, NULL, 'n'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    options o = {.timeout_ms = -1, .mode = OUT_TEXT, .max_bytes = 1024};
    o.topics = calloc((size_t)argc, sizeof *o.topics);
    if (o.topics == NULL) {
        tool_error("out of memory");
        return TOOL_EXIT_ERROR;
    }
    int rc = TOOL_EXIT_OK, opt, modes = 0;
    while (rc == TOOL_EXIT_OK &&
           (opt = getopt_long(argc, argv, "t:T:c:w:xrln:qvh", longopts, NULL)) != -1) {
        switch (opt) {
        case 't':
            o.conn.type = optarg;
            break;
        case 'T':
            o.topics[o.ntopics++] = optarg;
            break;
        case 'c':
            if (!tool_parse_u64(optarg, &o.count) || o.count == 0)
                rc = tool_usage_error("--count '%s' is not a positive whole number",
                                      optarg);
            break;
        case 'w':
            if (!tool_parse_timeout_ms(optarg, &o.timeout_ms))
                rc = tool_usage_error("--timeout '%s' is not a time in ms (e.g. 500, 2s)",
                                      optarg);
            break;
        case 'x':
            o.mode = OUT_HEX;
            modes++;
            break;
        case 'r':
            o.mode = OUT_RAW;
            modes++;
            break;
        case 'l':
            o.mode = OUT_LINES;
            modes++;
            break;
        case 'n':
            if (!tool_parse_size(optarg, &o.max_bytes))
                rc = tool_usage_error("--max-bytes '%s' is not a size", optarg);
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'v':
            o.verbose = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            free(o.topics);
            return TOOL_EXIT_OK;
        default:
            rc = tool_usage_error("unknown option");
            break;
        }
    }
    if (rc == TOOL_EXIT_OK && modes > 1)
        rc = tool_usage_error("--hex, --raw and --lines exclude each other");
    if (rc == TOOL_EXIT_OK && optind != argc - 1)
        rc = tool_usage_error(optind >= argc
                                  ? "missing CONNECTION"
                                  : "exactly one CONNECTION, as the last argument");
    if (rc != TOOL_EXIT_OK) {
        free(o.topics);
        return rc;
    }
    o.conn.arg = argv[optind];
    o.conn.default_type = o.ntopics ? "ZmqSubscriber" : "ZmqReceiver";
    tool_install_signals();

    ipm_receiver *r = NULL;
    rc = tool_open_receiver(&o.conn, &r);
    if (rc == TOOL_EXIT_OK) rc = subscribe_all(r, &o);
    if (rc == TOOL_EXIT_OK && !o.quiet) {
        const char *ep = ipm_receiver_endpoint(r);
        fprintf(stderr, "%s: %s ready on %s\n", tool_name(), o.conn.used_type,
                ep ? ep : o.conn.arg);
        fflush(stderr);
    }
    uint64_t received = 0;
    if (rc == TOOL_EXIT_OK) rc = receive_loop(r, &o, &received);
    if (r && o.verbose) {
        ipm_stats st;
        ipm_receiver_stats(r, &st);
        fprintf(stderr, "%s: received %llu messages, %llu bytes, %llu dropped\n",
                tool_name(), (unsigned long long)st.messages,
                (unsigned long long)st.bytes, (unsigned long long)st.dropped);
    }
    ipm_receiver_destroy(r);
    free(o.topics);
    return rc;
}
