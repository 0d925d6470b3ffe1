/* log.c — opt-in diagnostics on stderr, selected by IPM_LOG. */
#define _GNU_SOURCE
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t level_once = PTHREAD_ONCE_INIT;
static int threshold = IPM_LOG_WARN + 1; /* off */

static void read_level(void)
{
    const char *v = getenv("IPM_LOG");
    if (!v) return;
    if (strcmp(v, "debug") == 0)
        threshold = IPM_LOG_DEBUG;
    else if (strcmp(v, "info") == 0)
        threshold = IPM_LOG_INFO;
    else if (strcmp(v, "warn") == 0)
        threshold = IPM_LOG_WARN;
}

void ipm_log(ipm_log_level level, const char *fmt, ...)
{
    pthread_once(&level_once, read_level);
    if ((int)level < threshold || (int)level > IPM_LOG_WARN)
        return; /* off, or not a level: the names table has no entry for it */
    static const char *const names[] = {"", "debug", "info", "warn"};
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write per line so that lines of concurrent threads do not mix. */
    fprintf(stderr, "ipm[%s]: %s\n", names[level], line);
}
