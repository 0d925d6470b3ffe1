#define _GNU_SOURCE
#include "shm_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void spec(char *buf, size_t cap, const char *type, const char *name,
                 const char *extra)
{
    snprintf(buf, cap, "type=%s; connection_string=shm://%s%s%s", type, name,
             extra ? "; " : "", extra ? extra : "");
}

ipm_status shm_t_open_sender(const char *type, const char *name, const char *extra,
                             ipm_sender **out)
{
    char buf[512];
    spec(buf, sizeof buf, type, name, extra);
    return ipm_sender_open(buf, out);
}

ipm_status shm_t_open_receiver(const char *type, const char *name, const char *extra,
                               ipm_receiver **out)
{
    char buf[512];
    spec(buf, sizeof buf, type, name, extra);
    return ipm_receiver_open(buf, out);
}

void shm_t_pipe_open(shm_t_pipe *p)
{
    int fd[2];
    if (pipe(fd) != 0) {
        p->rd = p->wr = -1;
        return;
    }
    p->rd = fd[0];
    p->wr = fd[1];
}

void shm_t_put(shm_t_pipe *p, char c)
{
    while (write(p->wr, &c, 1) < 0 && errno == EINTR) {
    }
}

int shm_t_get(shm_t_pipe *p, int timeout_ms)
{
    struct pollfd pf = {.fd = p->rd, .events = POLLIN};
    int r;
    do
        r = poll(&pf, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r <= 0) return -1;
    char c;
    return read(p->rd, &c, 1) == 1 ? (unsigned char)c : -1;
}

void shm_t_pipe_close(shm_t_pipe *p)
{
    close(p->rd);
    close(p->wr);
}

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "/dev/shm/%s", name);
}

bool shm_t_exists(const char *name, unsigned *mode)
{
    char path[512];
    struct stat st;
    path_of(path, sizeof path, name);
    if (stat(path, &st) != 0) return false;
    if (mode) *mode = st.st_mode & 07777;
    return true;
}

void shm_t_write_garbage(const char *name, size_t n)
{
    char path[512];
    path_of(path, sizeof path, name);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    for (size_t i = 0; fd >= 0 && i < n; i++) {
        char c = (char)('A' + i % 26);
        if (write(fd, &c, 1) != 1) break;
    }
    if (fd >= 0) close(fd);
}

void shm_t_unlink(const char *name)
{
    char path[512];
    path_of(path, sizeof path, name);
    unlink(path);
}

void shm_t_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
