/*
 * util_stats.c — latency percentiles (nearest rank) over a sample.
 */
#include "tool_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least q of the sample at or
 * below it. */
static double rank(const uint64_t *sorted, size_t n, double q)
{
    size_t r = (size_t)ceil(q * (double)n);
    if (r < 1) r = 1;
    if (r > n) r = n;
    return (double)sorted[r - 1];
}

void tool_percentiles(uint64_t *ns, size_t n, tool_pctl *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return;
    qsort(ns, n, sizeof *ns, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)ns[i];
    out->min = (double)ns[0];
    out->mean = sum / (double)n;
    out->p50 = rank(ns, n, 0.50);
    out->p99 = rank(ns, n, 0.99);
    out->p999 = rank(ns, n, 0.999);
    out->max = (double)ns[n - 1];
}
