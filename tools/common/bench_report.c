/*
 * bench_report.c — the human table and the --json lines of the harness.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <string.h>

static const char *pattern_name(int p)
{
    return p == BENCH_LATENCY      ? "latency"
           : p == BENCH_THROUGHPUT ? "throughput"
                                   : "startup";
}

static const char *rate(double v, char *buf, size_t cap)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1f k", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
    return buf;
}

static const char *us(double ns, char *buf, size_t cap)
{
    double u = ns / 1e3;
    snprintf(buf, cap, u >= 100 ? "%.0f" : "%.1f", u);
    return buf;
}

void bench_report_begin(const bench_config *cfg)
{
    if (cfg->json) return;
    printf("# %s (%s): %s -> %s; one-way latency = round trip / 2; MB = 10^6 bytes\n",
           cfg->tool, cfg->backend->impl, cfg->sender_type ? cfg->sender_type : "?",
           cfg->receiver_type ? cfg->receiver_type : "?");
    for (size_t i = 0; i < cfg->nendpoints; i++)
        printf("# endpoint: %s\n", cfg->endpoints[i]);
    printf("%-10s %-9s %8s %8s %9s %9s %8s %8s %8s %8s %5s\n", "pattern", "transport",
           "size", "count", "msgs/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "max us",
           "lost");
    fflush(stdout);
}

static void json_result(const bench_config *cfg, const bench_result *r)
{
    tool_json j;
    tool_json_begin(&j, stdout);
    tool_json_str(&j, "tool", cfg->tool);
    tool_json_str(&j, "impl", cfg->backend->impl);
    tool_json_str(&j, "pattern", pattern_name(r->pattern));
    tool_json_str(&j, "sender", cfg->sender_type);
    tool_json_str(&j, "receiver", cfg->receiver_type);
    tool_json_str(&j, "endpoint", r->endpoint);
    tool_json_str(&j, "transport", r->transport);
    tool_json_bool(&j, "ok", !r->failed);
    if (r->failed) {
        if (r->pattern != BENCH_STARTUP) tool_json_u64(&j, "size", r->size);
        tool_json_str(&j, "error", r->error);
        tool_json_end(&j);
        return;
    }
    if (r->pattern == BENCH_STARTUP) {
        tool_json_u64(&j, "iterations", r->count);
        tool_json_f(&j, "first_us", r->first_ns / 1e3);
        tool_json_f(&j, "start_p50_us", r->start.p50 / 1e3);
        tool_json_f(&j, "start_p99_us", r->start.p99 / 1e3);
        tool_json_f(&j, "start_max_us", r->start.max / 1e3);
        tool_json_f(&j, "start_mean_us", r->start.mean / 1e3);
        tool_json_end(&j);
        return;
    }
    tool_json_u64(&j, "size", r->size);
    tool_json_u64(&j, "count", r->count);
    tool_json_u64(&j, "received", r->received);
    tool_json_u64(&j, "lost", r->lost);
    if (r->lost && r->pattern == BENCH_THROUGHPUT)
        tool_json_u64(&j, "first_lost", r->first_lost);
    tool_json_u64(&j, "misordered", r->misordered);
    tool_json_u64(&j, "dropped", r->dropped);
    tool_json_bool(&j, "lossless", r->lossless);
    tool_json_f(&j, "seconds", r->seconds);
    if (r->pattern == BENCH_THROUGHPUT) {
        tool_json_u64(&j, "sent", r->sent);
        tool_json_f(&j, "msgs_per_s", r->msgs_per_s);
        tool_json_f(&j, "mb_per_s", r->mb_per_s);
    } else {
        tool_json_f(&j, "round_trips_per_s", r->msgs_per_s);
        tool_json_f(&j, "lat_min_us", r->lat.min / 1e3);
        tool_json_f(&j, "lat_mean_us", r->lat.mean / 1e3);
        tool_json_f(&j, "lat_p50_us", r->lat.p50 / 1e3);
        tool_json_f(&j, "lat_p99_us", r->lat.p99 / 1e3);
        tool_json_f(&j, "lat_p999_us", r->lat.p999 / 1e3);
        tool_json_f(&j, "lat_max_us", r->lat.max / 1e3);
    }
    tool_json_end(&j);
}

void bench_report_result(const bench_config *cfg, const bench_result *r)
{
    if (cfg->json) {
        json_result(cfg, r);
        return;
    }
    char sz[32], a[32], b[32], c[32], d[32], e[32], f[32];
    const char *size =
        r->pattern == BENCH_STARTUP ? "-" : tool_format_size(r->size, sz, sizeof sz);
    if (r->failed) {
        printf("%-10s %-9s %8s  FAILED: %s\n", pattern_name(r->pattern), r->transport,
               size, r->error);
    } else if (r->pattern == BENCH_STARTUP) {
        printf("%-10s %-9s %8s %8llu  start %s by name: first %s us (plugin load), then "
               "p50 %s us, p99 %s us, max %s us\n",
               "startup", r->transport, size, (unsigned long long)r->count,
               cfg->sender_type, us(r->first_ns, a, sizeof a),
               us(r->start.p50, b, sizeof b), us(r->start.p99, c, sizeof c),
               us(r->start.max, d, sizeof d));
    } else if (r->pattern == BENCH_THROUGHPUT) {
        snprintf(b, sizeof b, "%.1f", r->mb_per_s);
        printf("%-10s %-9s %8s %8llu %9s %9s %8s %8s %8s %8s %5llu\n", "throughput",
               r->transport, size, (unsigned long long)r->count,
               rate(r->msgs_per_s, a, sizeof a), b, "-", "-", "-", "-",
               (unsigned long long)(r->lost + r->misordered));
    } else {
        printf("%-10s %-9s %8s %8llu %9s %9s %8s %8s %8s %8s %5llu\n", "latency",
               r->transport, size, (unsigned long long)r->count, "-", "-",
               us(r->lat.p50, c, sizeof c), us(r->lat.p99, d, sizeof d),
               us(r->lat.p999, e, sizeof e), us(r->lat.max, f, sizeof f),
               (unsigned long long)r->lost);
    }
    if (!r->failed && r->dropped)
        printf("%-10s   (the receiver counted %llu dropped)\n", "",
               (unsigned long long)r->dropped);
    if (!r->failed && r->lossless && (r->lost || r->misordered))
        printf("%-10s   LOST %llu (the first: #%llu), misordered %llu on a lossless "
               "pattern\n",
               "", (unsigned long long)r->lost, (unsigned long long)r->first_lost,
               (unsigned long long)r->misordered);
    fflush(stdout);
}

void bench_report_end(const bench_config *cfg)
{
    (void)cfg;
    fflush(stdout);
}
