/* rel_util.c — see rel_util.h. */
#define _GNU_SOURCE
#include "rel_util.h"

#include <dirent.h>
#include <errno.h>
#include <ipm/plugin.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool rel_under_asan(void)
{
#ifdef IPM_TEST_ASAN_BUILD
    return true;
#else
    return false;
#endif
}

bool rel_under_tsan(void)
{
#ifdef IPM_TEST_TSAN_BUILD
    return true;
#else
    return false;
#endif
}

int rel_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

int rel_thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}

long rel_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size = 0, resident = -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void rel_child_signals(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
}

void rel_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int rel_settle(int (*count)(void), int limit, int timeout_ms)
{
    double end = ipm_test_now_ms() + timeout_ms;
    int n = count();
    while (n > limit && ipm_test_now_ms() < end) {
        rel_sleep_ms(5);
        n = count();
    }
    return n;
}

bool rel_plugin_available(const char *type)
{
    const ipm_plugin *d;
    return ipm_plugin_load(type, &d) == IPM_OK;
}

static uint8_t pattern(uint64_t seq, size_t i)
{
    return (uint8_t)(seq * 31u + i * 7u + 1u);
}

size_t rel_msg_size(uint64_t seq, size_t max_extra)
{
    return 16 + (max_extra ? (size_t)((seq * 2654435761u) % max_extra) : 0);
}

void rel_msg_fill(void *buf, uint64_t seq, size_t size)
{
    unsigned char *b = buf;
    memcpy(b, &seq, sizeof seq);
    for (size_t i = sizeof seq; i < size; i++)
        b[i] = pattern(seq, i);
}

uint64_t rel_msg_check(const void *data, size_t size, size_t max_extra)
{
    const unsigned char *b = data;
    uint64_t seq;
    if (size < sizeof seq) return UINT64_MAX;
    memcpy(&seq, b, sizeof seq);
    if (size != rel_msg_size(seq, max_extra)) return UINT64_MAX;
    /* First and last bytes of the pattern, and a stride in between: cheap
     * enough for millions of messages, still catches shifted or torn data. */
    for (size_t i = sizeof seq; i < size; i += (i < 24 ? 1 : 13))
        if (b[i] != pattern(seq, i)) return UINT64_MAX;
    if (b[size - 1] != pattern(seq, size - 1)) return UINT64_MAX;
    return seq;
}

uint64_t rel_env_count(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    return errno || *end ? def : (uint64_t)n;
}

bool rel_pipe_send(int fd, const char *line)
{
    size_t len = strlen(line) + 1; /* with its NUL: one message per write */
    ssize_t n;
    do {
        n = write(fd, line, len);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)len;
}

bool rel_pipe_recv(int fd, char *line, size_t cap, int timeout_ms)
{
    size_t at = 0;
    double end = ipm_test_now_ms() + timeout_ms;
    while (at + 1 < cap) {
        int left = (int)(end - ipm_test_now_ms());
        if (left < 0) left = 0; /* a timeout of 0 still looks once */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false; /* a line is written at once: no partial wait */
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        line[at++] = c;
        if (c == '\0') return true;
    }
    line[at] = '\0';
    return true;
}
