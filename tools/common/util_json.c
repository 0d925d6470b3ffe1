/*
 * util_json.c — writing flat JSON objects, one per line, for --json output.
 */
#define _GNU_SOURCE
#include "tool_util.h"

#include <math.h>

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void key(tool_json *j, const char *k)
{
    if (j->fields++ > 0) fputc(',', j->f);
    put_string(j->f, k);
    fputc(':', j->f);
}

void tool_json_begin(tool_json *j, FILE *f)
{
    j->f = f;
    j->fields = 0;
    fputc('{', f);
}

void tool_json_str(tool_json *j, const char *k, const char *value)
{
    key(j, k);
    put_string(j->f, value);
}

void tool_json_u64(tool_json *j, const char *k, uint64_t value)
{
    key(j, k);
    fprintf(j->f, "%llu", (unsigned long long)value);
}

void tool_json_f(tool_json *j, const char *k, double value)
{
    key(j, k);
    if (isfinite(value))
        fprintf(j->f, "%.6g", value);
    else
        fputs("null", j->f);
}

void tool_json_bool(tool_json *j, const char *k, bool value)
{
    key(j, k);
    fputs(value ? "true" : "false", j->f);
}

void tool_json_end(tool_json *j)
{
    fputs("}\n", j->f);
    fflush(j->f);
}
