/*
 * Helpers shared by the cmocka tests: cmocka's headers in the right order,
 * unique names for endpoints, time, and child processes.
 */
#ifndef IPM_TEST_H
#define IPM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include <ipm/ipm.h>

/* Assert that an ipm call returned IPM_OK, printing ipm_last_error() if not. */
#define IPM_ASSERT_OK(call)                                                               \
    do {                                                                                  \
        ipm_status st_ = (call);                                                          \
        if (st_ != IPM_OK)                                                                \
            fail_msg("%s -> %s: %s", #call, ipm_strerror(st_), ipm_last_error());         \
    } while (0)

/* Assert a status and that ipm_last_error() contains `needle`. */
#define IPM_ASSERT_ERR(call, status, needle)                                              \
    do {                                                                                  \
        ipm_status st_ = (call);                                                          \
        if (st_ != (status))                                                              \
            fail_msg("%s -> %s (want %s): %s", #call, ipm_strerror(st_),                  \
                     ipm_strerror(status), ipm_last_error());                             \
        if (strstr(ipm_last_error(), (needle)) == NULL)                                   \
            fail_msg("%s: message '%s' lacks '%s'", #call, ipm_last_error(), (needle));   \
    } while (0)

/* A name unique to this process and call, e.g. "ipmtest-1234-7-<tag>", for
 * ipc:// paths, inproc:// names and shm:// names. Static buffer per call
 * site is not used: the result is written to buf. */
const char *ipm_test_unique(char *buf, size_t cap, const char *tag);

/* Monotonic time in milliseconds (double) and nanoseconds. */
double ipm_test_now_ms(void);

/* IPM_TEST_ASAN_BUILD / IPM_TEST_TSAN_BUILD: defined when the including
 * file is compiled with AddressSanitizer / ThreadSanitizer (gcc or clang). */
#if defined(__SANITIZE_ADDRESS__)
#define IPM_TEST_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IPM_TEST_ASAN_BUILD 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define IPM_TEST_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IPM_TEST_TSAN_BUILD 1
#endif
#endif

/* Fork a child that runs fn(arg) and _exits with its return value. The
 * child is killed when the test process dies, so a child that hangs never
 * outlives a failed test (nor holds ctest's output pipe open).
 *
 * A forked child inherits the parent's locks as they were at the fork. If
 * the parent already has threads that allocate (ZeroMQ's I/O threads,
 * nng's), the child can deadlock in malloc: glibc guards its own malloc
 * across fork, but GCC 12's AddressSanitizer allocator does not (seen in
 * zmq_curve: the child's threads blocked in SizeClassAllocator64's mutex).
 * Tests whose parent is busy at the fork start their children with
 * ipm_test_spawn instead, unless the fork itself is what they test; under
 * ASan this function waits 50 ms before forking, to let threads go idle. */
pid_t ipm_test_fork(int (*fn)(void *arg), void *arg);

/* Children a test program can start as programs of their own. */
typedef struct ipm_test_child {
    const char *name;
    int (*main)(int argc, char **argv); /* argv[0] is name; returns the exit code */
} ipm_test_child;

/* Call first in main() of a test that uses ipm_test_spawn. When argv asks
 * for one of children (an array ending with a NULL name), run it and exit
 * with its return value; otherwise return and let the tests run. */
void ipm_test_child_dispatch(int argc, char **argv, const ipm_test_child *children);

/* Start this test program again (/proc/self/exe) as child `name` with the
 * arguments args (NULL-terminated, may be NULL): a process of its own that
 * shares no state with this one but its environment and the file
 * descriptors not marked close-on-exec (this process's pid goes on its
 * command line, for ipm_test_child_dispatch). It is killed when this process
 * dies. Returns its pid, or -1 (errno set). */
pid_t ipm_test_spawn(const char *name, const char *const *args);

/* Wait for child pid up to timeout_ms; returns its exit status (0..255),
 * 128+signal if it was killed, or -1 on timeout (then the child is killed). */
int ipm_test_wait(pid_t pid, int timeout_ms);

#endif
