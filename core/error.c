/* error.c — status strings and the thread-local last-error message. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* Large enough for a loader failure listing every directory searched. */
#define IPM__ERROR_CAP 4096

static _Thread_local char last_error[IPM__ERROR_CAP];
/* True while last_error came from ipm_set_timeout_reason. */
static _Thread_local bool last_is_reason;

const char *ipm_strerror(ipm_status s)
{
    switch (s) {
#define IPM_STATUS_CASE_(name, text)                                                     \
    case name:                                                                           \
        return text;
        IPM_STATUS_TABLE(IPM_STATUS_CASE_)
#undef IPM_STATUS_CASE_
    }
    return "unknown status";
}

const char *ipm_last_error(void)
{
    return last_error;
}

const char *ipm_version(void)
{
    return IPM_VERSION_STRING;
}

static void set_error_v(ipm_status s, bool reason, const char *fmt, va_list ap)
{
    if (fmt)
        vsnprintf(last_error, sizeof last_error, fmt, ap);
    else
        last_error[0] = '\0';
    last_is_reason = reason;
    ipm_log(IPM_LOG_DEBUG, "error %s: %s", ipm_strerror(s), last_error);
}

ipm_status ipm_set_error(ipm_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error_v(s, false, fmt, ap);
    va_end(ap);
    return s;
}

ipm_status ipm_set_timeout_reason(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error_v(IPM_ETIMEDOUT, true, fmt, ap);
    va_end(ap);
    return IPM_ETIMEDOUT;
}

bool ipm__last_error_is_reason(void)
{
    return last_is_reason;
}

void ipm_prefix_error(const char *fmt, ...)
{
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t plen = strlen(prefix);
    size_t old = strlen(last_error);
    /* Shift the old message right, dropping its tail if it no longer fits. */
    if (plen + 2 + old >= sizeof last_error) old = sizeof last_error - plen - 3;
    memmove(last_error + plen + 2, last_error, old);
    memcpy(last_error, prefix, plen);
    memcpy(last_error + plen, ": ", 2);
    last_error[plen + 2 + old] = '\0';
}

ipm_status ipm__bad_timeout(const char *fn, int timeout_ms)
{
    return ipm_set_error(IPM_EINVAL,
                         "%s: timeout %d ms is invalid: use a time >= 0 (IPM_NO_BLOCK = "
                         "0 tries once), or IPM_BLOCK = -1 to wait for ever",
                         fn, timeout_ms);
}
