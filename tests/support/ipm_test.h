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

/* Fork a child that runs fn(arg) and _exits with its return value. */
pid_t ipm_test_fork(int (*fn)(void *arg), void *arg);

/* Wait for child pid up to timeout_ms; returns its exit status (0..255),
 * 128+signal if it was killed, or -1 on timeout (then the child is killed). */
int ipm_test_wait(pid_t pid, int timeout_ms);

#endif
