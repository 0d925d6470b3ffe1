/*
 * util_parse.c — strict parsing of the numbers tools take on the command
 * line. Everything is whole-string: "12x" is an error, not 12.
 */
#define _GNU_SOURCE
#include "tool_util.h"

#include <ipm/plugin.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool tool_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)*s)) return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    *out = (uint64_t)v;
    return true;
}

/* The library's size syntax, so that "4k" means the same on a command line
 * as in a connection string (4000; 4Ki is 4096). */
bool tool_parse_size(const char *s, size_t *out)
{
    uint64_t v;
    if (!ipm_parse_size(s, &v) || v > SIZE_MAX) return false;
    *out = (size_t)v;
    return true;
}

bool tool_parse_size_list(const char *s, size_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (s == NULL || *s == '\0') return false;
    char *copy = strdup(s);
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    size_t *v = calloc(cap, sizeof *v);
    if (copy == NULL || v == NULL) {
        free(copy);
        free(v);
        return false;
    }
    size_t k = 0;
    char *save = NULL;
    bool ok = true;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!tool_parse_size(tok, &v[k++])) {
            ok = false;
            break;
        }
    }
    free(copy);
    if (!ok || k == 0) {
        free(v);
        return false;
    }
    *out = v;
    *n = k;
    return true;
}

bool tool_parse_timeout_ms(const char *s, int *out)
{
    if (s == NULL) return false;
    if (strcmp(s, "-1") == 0 || strcasecmp(s, "inf") == 0 ||
        strcasecmp(s, "never") == 0) {
        *out = -1;
        return true;
    }
    if (!isdigit((unsigned char)*s)) return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno != 0) return false;
    if (strcmp(end, "s") == 0)
        v *= 1000.0;
    else if (*end != '\0' && strcmp(end, "ms") != 0)
        return false;
    if (v > INT_MAX) return false;
    *out = (int)ceil(v);
    return true;
}

bool tool_parse_seconds(const char *s, double *out)
{
    if (s == NULL || !(isdigit((unsigned char)*s) || *s == '.')) return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno != 0 || !isfinite(v)) return false;
    if (strcmp(end, "ms") == 0)
        v /= 1000.0;
    else if (*end != '\0' && strcmp(end, "s") != 0)
        return false;
    if (v <= 0) return false;
    *out = v;
    return true;
}

bool tool_parse_double(const char *s, double *out)
{
    if (s == NULL || !(isdigit((unsigned char)*s) || *s == '.')) return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v <= 0) return false;
    *out = v;
    return true;
}
