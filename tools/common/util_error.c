/*
 * util_error.c — the tool's name and its messages on stderr.
 */
#define _GNU_SOURCE
#include "tool_util.h"

#include <stdarg.h>
#include <string.h>

static const char *g_name = "ipm-tool";

void tool_set_name(const char *argv0)
{
    if (argv0 == NULL || *argv0 == '\0') return;
    const char *slash = strrchr(argv0, '/');
    g_name = slash ? slash + 1 : argv0;
}

const char *tool_name(void)
{
    return g_name;
}

void tool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", g_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int tool_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", g_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help'.\n", g_name);
    va_end(ap);
    return TOOL_EXIT_USAGE;
}
