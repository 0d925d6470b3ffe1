/*
 * rel_util.h — helpers of the reliability tests (tests/rel_*.c): resource
 * counts from /proc (fds, threads, resident memory), sequence-numbered
 * messages, and small pipe-based handshakes between forked processes.
 */
#ifndef IPM_REL_UTIL_H
#define IPM_REL_UTIL_H

#include "ipm_test.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* For a test that bounds memory growth: under ASan, a 16 MB quarantine
 * instead of 256 MB, so that freed memory ASan holds back does not look like
 * growth (ASAN_OPTIONS from the environment still override it). Use once,
 * at file scope, in the test's own source; elsewhere it expands to nothing. */
#ifdef IPM_TEST_ASAN_BUILD
#define REL_SMALL_ASAN_QUARANTINE()                                                      \
    const char *__asan_default_options(void);                                            \
    const char *__asan_default_options(void)                                             \
    {                                                                                    \
        return "quarantine_size_mb=16";                                                  \
    }
#else
#define REL_SMALL_ASAN_QUARANTINE()
#endif

/* True when built with AddressSanitizer / ThreadSanitizer (gcc or clang):
 * memory bounds are then widened by the sanitizer's own overhead. */
bool rel_under_asan(void);
bool rel_under_tsan(void);

/* Open file descriptors (/proc/self/fd, not counting the one used to read
 * it), threads (/proc/self/status "Threads:"), resident set in KiB
 * (/proc/self/statm). */
int rel_fd_count(void);
int rel_thread_count(void);
long rel_rss_kib(void);

/* Wait up to timeout_ms for count() to drop to at most limit (ZeroMQ closes
 * sockets and ends threads asynchronously after zmq_close / zmq_ctx_term);
 * returns the last count seen. Test-side polling, 5 ms steps. */
int rel_settle(int (*count)(void), int limit, int timeout_ms);

/* True if plugin type can be loaded here (e.g. the Shm* plugins exist). */
bool rel_plugin_available(const char *type);

/* A sequence-numbered message: 8 bytes of seq (little-endian as stored),
 * then a pattern derived from seq so that corruption is seen. Sizes are
 * rel_msg_size(seq) in [16, 16 + max_extra). */
size_t rel_msg_size(uint64_t seq, size_t max_extra);
void rel_msg_fill(void *buf, uint64_t seq, size_t size);
/* Check a received message; returns its seq, or UINT64_MAX if the size or
 * pattern does not match what rel_msg_fill made for that seq. */
uint64_t rel_msg_check(const void *data, size_t size, size_t max_extra);

/* Environment variable name as a count, or def when unset/invalid. */
uint64_t rel_env_count(const char *name, uint64_t def);

/* Pipe messages between a parent and a forked child: a line of text written
 * at once; read waits up to timeout_ms (poll) and returns false on timeout
 * or EOF. */
bool rel_pipe_send(int fd, const char *line);
bool rel_pipe_recv(int fd, char *line, size_t cap, int timeout_ms);

/* In a forked child: put back the default action of the signals cmocka
 * catches (SIGSEGV, SIGBUS, ...), so that a crash in the child ends the
 * child, visibly to the parent, instead of running cmocka's handler there. */
void rel_child_signals(void);

/* Sleep for ms (test code only). */
void rel_sleep_ms(int ms);

#endif
