/* uds_address.c — connection_string parsing shared by both plugins. */
#define _GNU_SOURCE
#include "uds.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

ipm_status uds_address_parse(const ipm_params *p, const char *who,
                             struct uds_address *out)
{
    memset(out, 0, sizeof *out);
    const char *cs = ipm_params_get_str(p, "connection_string", NULL);
    if (!cs)
        return ipm_set_error(
            IPM_ECONFIG,
            "%s: missing key 'connection_string' (uds:///path or uds://@name)", who);
    size_t scheme = strlen(UDS_SCHEME);
    if (strncmp(cs, UDS_SCHEME, scheme) != 0 || cs[scheme] == '\0')
        return ipm_set_error(
            IPM_ECONFIG, "%s: connection_string '%s' is not uds:///path or uds://@name",
            who, cs);
    const char *where = cs + scheme;
    size_t len = strlen(where);
    /* sun_path holds the path and its NUL; an abstract name replaces the
     * leading '@' by a NUL byte and has no terminator. */
    if (len >= sizeof out->sa.sun_path)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: '%s' is longer than the %zu bytes a socket "
                             "address can hold",
                             who, where, sizeof out->sa.sun_path - 1);
    out->sa.sun_family = AF_UNIX;
    out->abstract = where[0] == '@';
    if (out->abstract) {
        memcpy(out->sa.sun_path + 1, where + 1, len - 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        memcpy(out->sa.sun_path, where, len + 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    snprintf(out->endpoint, sizeof out->endpoint, "%s", cs);
    return IPM_OK;
}

const char *uds_strerror(int err, char *buf, size_t cap)
{
    /* GNU strerror_r may return a static string instead of filling buf. */
    return strerror_r(err, buf, cap);
}
