/* open.c — one-call creation from a connection string with a `type` key,
 * shared by ipm_*_open and the INI config. */
#define _GNU_SOURCE
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static ipm_status type_of(const ipm_params *p, const char **type)
{
    *type = ipm_params_get(p, "type");
    if (!*type || !**type)
        return ipm_set_error(
            IPM_ECONFIG,
            "no 'type' key: say which transport to use, e.g. "
            "\"type=<Type>; connection_string=...\" (ipm-plugins lists the types)");
    return IPM_OK;
}

ipm_status ipm__sender_from_params(const ipm_params *p, ipm_sender **out)
{
    const char *type;
    ipm_status st = type_of(p, &type);
    ipm_sender *s = NULL;
    if (st == IPM_OK) st = ipm_sender_create(type, &s);
    if (st == IPM_OK) st = ipm_sender_connect(s, p);
    if (st != IPM_OK) {
        ipm_sender_destroy(s);
        return st;
    }
    *out = s;
    return IPM_OK;
}

ipm_status ipm__receiver_from_params(const ipm_params *p, ipm_receiver **out)
{
    const char *type;
    ipm_status st = type_of(p, &type);
    ipm_receiver *r = NULL;
    if (st == IPM_OK) st = ipm_receiver_create(type, &r);
    if (st == IPM_OK) st = ipm_receiver_connect(r, p);
    if (st != IPM_OK) {
        ipm_receiver_destroy(r);
        return st;
    }
    *out = r;
    return IPM_OK;
}

ipm_status ipm_sender_open(const char *spec, ipm_sender **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_sender_open: out is NULL");
    *out = NULL;
    ipm_params *p;
    ipm_status st = ipm_params_parse(spec, &p);
    if (st != IPM_OK) return st;
    st = ipm__sender_from_params(p, out);
    ipm_params_free(p);
    return st;
}

ipm_status ipm_receiver_open(const char *spec, ipm_receiver **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_receiver_open: out is NULL");
    *out = NULL;
    ipm_params *p;
    ipm_status st = ipm_params_parse(spec, &p);
    if (st != IPM_OK) return st;
    st = ipm__receiver_from_params(p, out);
    ipm_params_free(p);
    return st;
}
