/*
 * bench_cli.c — the command line shared by ipm-bench and the baselines.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char common_help[] =
    "Options:\n"
    "  -e, --endpoint E      endpoint to measure (repeatable). Shortcuts: tcp\n"
    "                        (tcp://127.0.0.1:*, a free port), ipc (ipc:///tmp/...),\n"
    "                        inproc (both ends in one process, as threads), shm\n"
    "                        (shm://...). Default: tcp\n"
    "  -s, --size LIST       payload sizes, comma-separated (k, M, G = 1000s; Ki, Mi, Gi = 1024s)\n"
    "                        (default 64,4Ki,1Mi); each size is one measurement\n"
    "  -p, --pattern LIST    latency, throughput, startup or all (default all)\n"
    "  -c, --count N         messages per throughput run / round trips per latency\n"
    "                        run (default: by size, ~128 MiB streamed / 1000 to\n"
    "                        5000 round trips)\n"
    "  -d, --duration S      run each measurement for S seconds (suffix s, ms)\n"
    "                        instead; with --count, whichever ends first\n"
    "  -W, --warmup N        latency round trips before measuring (default: a tenth\n"
    "                        of the count, at most 1000)\n"
    "      --threads         both roles as threads of one process (inproc does it\n"
    "                        always); default: two processes\n"
    "      --startup-iterations N  sender starts timed after the first (default 200)\n"
    "      --cpus A,B        pin the sending role to CPU A and the receiving role to\n"
    "                        CPU B (threads they start, e.g. ZeroMQ's I/O thread,\n"
    "                        inherit it): steadier figures on a small machine\n"
    "      --deadline S      fail a measurement that runs longer (default 300 s)\n"
    "  -j, --json            one JSON object per measurement per line, no table\n"
    "  -h, --help            show this help\n";

static const char types_help[] =
    "  -S, --sender-type T   sending type (default ZmqSender)\n"
    "  -R, --receiver-type T receiving type (default ZmqReceiver); a subscriber\n"
    "                        type makes the pattern lossy (losses are reported,\n"
    "                        not failed)\n"
    "      --sender-param K=V    extra connection key for the senders (repeatable)\n"
    "      --receiver-param K=V  extra connection key for the receivers (repeatable)\n";

static const char report_help[] =
    "\n"
    "Reported: msgs/s and MB/s (10^6 bytes) for throughput; one-way latency =\n"
    "round-trip time / 2, p50/p99/p99.9/max in microseconds, for latency; lost\n"
    "(sequence gaps) and dropped (counted by the receiver). A progress line is\n"
    "shown on stderr when it is a terminal.\n";

/* Expand an endpoint shortcut; the result is malloc'ed. */
static char *expand_endpoint(const char *e)
{
    char *out = NULL;
    int pid = (int)getpid();
    int rc = 0;
    if (strcmp(e, "tcp") == 0)
        rc = asprintf(&out, "tcp://127.0.0.1:*");
    else if (strcmp(e, "ipc") == 0)
        rc = asprintf(&out, "ipc:///tmp/ipm-bench-%d", pid);
    else if (strcmp(e, "inproc") == 0)
        rc = asprintf(&out, "inproc://ipm-bench-%d", pid);
    else if (strcmp(e, "shm") == 0)
        rc = asprintf(&out, "shm://ipm-bench-%d", pid);
    else
        out = strdup(e);
    return rc < 0 ? NULL : out;
}

static bool parse_patterns(const char *s, unsigned *out)
{
    unsigned p = 0;
    char *copy = strdup(s), *save = NULL;
    if (copy == NULL) return false;
    bool ok = true;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "latency") == 0 || strcmp(t, "lat") == 0)
            p |= BENCH_LATENCY;
        else if (strcmp(t, "throughput") == 0 || strcmp(t, "thr") == 0)
            p |= BENCH_THROUGHPUT;
        else if (strcmp(t, "startup") == 0)
            p |= BENCH_STARTUP;
        else if (strcmp(t, "all") == 0)
            p |= BENCH_LATENCY | BENCH_THROUGHPUT | BENCH_STARTUP;
        else
            ok = false;
    }
    free(copy);
    *out = p;
    return ok && p != 0;
}

static bool push(const char ***list, size_t *n, const char *v)
{
    const char **l = realloc(*list, (*n + 1) * sizeof *l);
    if (l == NULL) return false;
    l[(*n)++] = v;
    *list = l;
    return true;
}

static bool push_endpoint(bench_config *cfg, const char *e)
{
    char **l = realloc(cfg->endpoints, (cfg->nendpoints + 1) * sizeof *l);
    if (l == NULL) return false;
    cfg->endpoints = l;
    char *x = expand_endpoint(e);
    if (x == NULL) return false;
    l[cfg->nendpoints++] = x;
    return true;
}

enum {
    OPT_THREADS = 1000,
    OPT_DEADLINE,
    OPT_SPARAM,
    OPT_RPARAM,
    OPT_STRATEGY,
    OPT_STARTUP,
    OPT_CPUS
};

int bench_parse_args(bench_config *cfg, int argc, char **argv, unsigned features,
                     const char *usage_head, const char *extra_help)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"size", required_argument, NULL, 's'},
        {"pattern", required_argument, NULL, 'p'},
        {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'W'},
        {"json", no_argument, NULL, 'j'},
        {"threads", no_argument, NULL, OPT_THREADS},
        {"deadline", required_argument, NULL, OPT_DEADLINE},
        {"startup-iterations", required_argument, NULL, OPT_STARTUP},
        {"sender-type", required_argument, NULL, 'S'},
        {"receiver-type", required_argument, NULL, 'R'},
        {"sender-param", required_argument, NULL, OPT_SPARAM},
        {"receiver-param", required_argument, NULL, OPT_RPARAM},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    cfg->tool = tool_name();
    cfg->patterns = BENCH_LATENCY | BENCH_THROUGHPUT | BENCH_STARTUP;
    cfg->deadline_s = 300;
    cfg->startup_iterations = 200;
    cfg->progress = isatty(STDERR_FILENO);
    cfg->cpu[0] = cfg->cpu[1] = -1;
    const char *sizes = "64,4Ki,1Mi";
    uint64_t u;
    int opt;
    while ((opt = getopt_long(argc, argv, "e:s:p:c:d:W:jS:R:h", longopts, NULL)) != -1) {
        bool types = (features & BENCH_OPT_TYPES) != 0;
        switch (opt) {
        case 'e':
            if (!push_endpoint(cfg, optarg)) return tool_usage_error("out of memory");
            break;
        case 's':
            sizes = optarg;
            break;
        case 'p':
            if (!parse_patterns(optarg, &cfg->patterns))
                return tool_usage_error(
                    "--pattern '%s': use latency, throughput, startup, "
                    "all, comma-separated",
                    optarg);
            break;
        case 'c':
            if (!tool_parse_u64(optarg, &cfg->count) || cfg->count == 0)
                return tool_usage_error("--count '%s' is not a positive whole number",
                                        optarg);
            break;
        case 'd':
            if (!tool_parse_seconds(optarg, &cfg->duration))
                return tool_usage_error(
                    "--duration '%s' is not a time (e.g. 2, 1.5s, 300ms)", optarg);
            break;
        case 'W':
            if (!tool_parse_u64(optarg, &cfg->warmup))
                return tool_usage_error("--warmup '%s' is not a whole number", optarg);
            cfg->warmup_set = true;
            break;
        case 'j':
            cfg->json = true;
            break;
        case OPT_THREADS:
            cfg->threads = true;
            break;
        case OPT_DEADLINE:
            if (!tool_parse_seconds(optarg, &cfg->deadline_s))
                return tool_usage_error("--deadline '%s' is not a time", optarg);
            break;
        case OPT_STARTUP:
            if (!tool_parse_u64(optarg, &u) || u < 1 || u > 1000000)
                return tool_usage_error("--startup-iterations '%s': 1 to 1000000",
                                        optarg);
            cfg->startup_iterations = (int)u;
            break;
        case 'S':
            if (!types) return tool_usage_error("unknown option --sender-type");
            cfg->sender_type = optarg;
            break;
        case 'R':
            if (!types) return tool_usage_error("unknown option --receiver-type");
            cfg->receiver_type = optarg;
            break;
        case OPT_SPARAM:
        case OPT_RPARAM:
            if (!types) return tool_usage_error("unknown option %s", argv[optind - 1]);
            if (strchr(optarg, '=') == NULL || *optarg == '=')
                return tool_usage_error("'%s' is not KEY=VALUE", optarg);
            if (!(opt == OPT_SPARAM
                      ? push(&cfg->sender_params, &cfg->nsender_params, optarg)
                      : push(&cfg->receiver_params, &cfg->nreceiver_params, optarg)))
                return tool_usage_error("out of memory");
            break;
        case OPT_CPUS: {
            unsigned a, b;
            char extra;
            if (sscanf(optarg, "%u,%u%c", &a, &b, &extra) != 2 || a >= CPU_SETSIZE ||
                b >= CPU_SETSIZE)
                return tool_usage_error("--cpus '%s' is not two CPU numbers A,B", optarg);
            cfg->cpu[0] = (int)a;
            cfg->cpu[1] = (int)b;
            break;
        }
        case OPT_STRATEGY:
            if (!(features & BENCH_OPT_STRATEGY))
                return tool_usage_error("unknown option --strategy");
            cfg->strategy = optarg;
            break;
        case 'h':
            fputs(usage_head, stdout);
            fputs(common_help, stdout);
            if (features & BENCH_OPT_TYPES) fputs(types_help, stdout);
            fputs(report_help, stdout);
            if (extra_help) fputs(extra_help, stdout);
            fputs("\n" TOOL_EXIT_HELP, stdout);
            return TOOL_EXIT_OK;
        default:
            return tool_usage_error("unknown option");
        }
    }
    if (optind < argc) return tool_usage_error("unexpected argument '%s'", argv[optind]);
    if (!tool_parse_size_list(sizes, &cfg->sizes, &cfg->nsizes))
        return tool_usage_error("--size '%s' is not a list of sizes (e.g. 64,4Ki,1Mi)",
                                sizes);
    if (cfg->nendpoints == 0 && !push_endpoint(cfg, "tcp"))
        return tool_usage_error("out of memory");
    return -1;
}

void bench_config_free(bench_config *cfg)
{
    for (size_t i = 0; i < cfg->nendpoints; i++)
        free(cfg->endpoints[i]);
    free(cfg->endpoints);
    free(cfg->sizes);
    free(cfg->sender_params);
    free(cfg->receiver_params);
}
