/*
 * shm_bench_util.h — what ipm-shm-bench and its iceoryx baseline share:
 * clock, percentiles, and a pipe to synchronise the forked processes.
 */
#ifndef IPM_SHM_BENCH_UTIL_H
#define IPM_SHM_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in ns: comparable across processes of one machine. */
int64_t bench_now_ns(void);

/* Sort samples (ns) and return the q-quantile (0..1) in microseconds. */
double bench_quantile_us(int64_t *samples, int n, double q);

typedef struct bench_pipe {
    int rd, wr;
} bench_pipe;
bool bench_pipe_open(bench_pipe *p);
void bench_pipe_close(bench_pipe *p);
/* Write / read exactly n bytes; read gives up after timeout_ms (false). */
bool bench_put(bench_pipe *p, const void *buf, size_t n);
bool bench_get(bench_pipe *p, void *buf, size_t n, int timeout_ms);

/* Read every byte of n bytes at p (8 at a time) and return their sum, so
 * that a consumer's "reading the message" costs what it says. */
uint64_t bench_read_all(const void *p, size_t n);
/* Keep a value alive (so the compiler cannot drop a read loop). */
void bench_sink(uint64_t v);
extern volatile uint64_t bench_sink_word;

/* Wait for a child; returns its exit status, or -1 (killed after timeout). */
int bench_wait(int pid, int timeout_ms);

#ifdef IPM_BENCH_HAVE_ICEORYX
/* iceoryx C binding baselines (bench/iceoryx_baseline.c). Each returns 0 on
 * success; they start iox-roudi if it is installed and not running (and
 * stop it in bench_iox_stop_roudi). */
int bench_iox_latency(size_t size, bool spin, int iters, double *p50_us, double *p99_us);
int bench_iox_throughput(size_t size, long count, double *msgs_per_s);
void bench_iox_stop_roudi(void);
#endif

#endif
