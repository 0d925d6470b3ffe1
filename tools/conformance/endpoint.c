/*
 * endpoint.c — fresh endpoints for each check, derived from --endpoint by
 * one rule (see conf_endpoint_fresh in conf.h), so that checks, and the two
 * publishers of one check, never bind the same address.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The port of an endpoint ending in ":DIGITS" after its scheme's "//",
 * or -1. */
static long trailing_port(const char *ep, size_t *colon_at)
{
    const char *auth = strstr(ep, "://");
    const char *colon = strrchr(ep, ':');
    if (!auth || !colon || colon <= auth + 2) return -1;
    const char *d = colon + 1;
    if (*d == '\0') return -1;
    for (const char *q = d; *q; q++)
        if (!isdigit((unsigned char)*q)) return -1;
    *colon_at = (size_t)(colon - ep);
    return strtol(d, NULL, 10);
}

void conf_endpoint_fresh(conf_ctx *c, int which, char *out, size_t cap)
{
    const conf_opts *o = c->o;
    const char *base = o->endpoints[(size_t)which < o->nendpoints ? which : 0];
    unsigned k = c->next_ep++;
    size_t len = strlen(base);
    if (len >= 2 &&
        (strcmp(base + len - 2, ":*") == 0 || strcmp(base + len - 2, ":0") == 0)) {
        snprintf(out, cap, "%s", base);
        return;
    }
    size_t colon;
    long port = trailing_port(base, &colon);
    if (port > 0 && port + (long)k <= 65535) {
        snprintf(out, cap, "%.*s:%ld", (int)colon, base, port + (long)k);
        return;
    }
    snprintf(out, cap, "%s-%s-%u", base, c->check ? c->check : "x", k + 1);
}
