/* clock.c — monotonic time and timeout deadlines shared by all transports. */
#define _GNU_SOURCE
#include "internal.h"

#include <limits.h>
#include <time.h>

int64_t ipm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ipm_deadline_ns(int timeout_ms)
{
    if (timeout_ms < 0) return -1;
    return ipm_now_ns() + (int64_t)timeout_ms * 1000000;
}

int ipm_remaining_ms(int64_t deadline_ns)
{
    if (deadline_ns < 0) return -1;
    int64_t left = deadline_ns - ipm_now_ns();
    if (left <= 0) return 0;
    /* Round up: a wait of this many milliseconds must not end before the
     * deadline, or a timed receive could report a timeout early. */
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

bool ipm_deadline_timespec(int64_t deadline_ns, int clock_id, struct timespec *out)
{
    if (deadline_ns < 0 || !out) return false;
    /* Carry the time left over to the other clock: both advance at the same
     * rate, and only the remaining interval is meaningful across them. */
    int64_t left = deadline_ns - ipm_now_ns();
    if (left < 0) left = 0;
    struct timespec now;
    clock_gettime((clockid_t)clock_id, &now);
    int64_t sec = (int64_t)now.tv_sec + left / 1000000000;
    int64_t nsec = (int64_t)now.tv_nsec + left % 1000000000;
    if (nsec >= 1000000000) {
        sec++;
        nsec -= 1000000000;
    }
    out->tv_sec = (time_t)sec;
    out->tv_nsec = (long)nsec;
    return true;
}
