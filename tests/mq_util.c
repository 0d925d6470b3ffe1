#define _GNU_SOURCE
#include "mq_util.h"

#include <ipm/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <mqueue.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static ipm_status spec(char *buf, size_t cap, const char *type, const char *name,
                       const char *extra)
{
    snprintf(buf, cap, "type=%s; connection_string=mq://%s%s%s", type, name,
             extra ? "; " : "", extra ? extra : "");
    return IPM_OK;
}

ipm_status mq_t_sender(const char *name, const char *extra, ipm_sender **out)
{
    char s[512];
    spec(s, sizeof s, "MqSender", name, extra);
    return ipm_sender_open(s, out);
}

ipm_status mq_t_receiver(const char *name, const char *extra, ipm_receiver **out)
{
    char s[512];
    spec(s, sizeof s, "MqReceiver", name, extra);
    return ipm_receiver_open(s, out);
}

void mq_t_pipe_open(mq_t_pipe *p)
{
    int fds[2];
    if (pipe(fds) != 0) fds[0] = fds[1] = -1;
    p->rd = fds[0];
    p->wr = fds[1];
}

void mq_t_put(mq_t_pipe *p, char c)
{
    while (write(p->wr, &c, 1) < 0 && errno == EINTR) {
    }
}

int mq_t_get(mq_t_pipe *p, int timeout_ms)
{
    struct pollfd pfd = {.fd = p->rd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) <= 0) return -1;
    char c;
    return read(p->rd, &c, 1) == 1 ? (unsigned char)c : -1;
}

void mq_t_pipe_close(mq_t_pipe *p)
{
    close(p->rd);
    close(p->wr);
}

void mq_t_cleanup(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/%s", name);
    mq_unlink(path);
    snprintf(path, sizeof path, "/dev/shm/.ipm-mq.%s.lock", name);
    unlink(path);
}

bool mq_t_exists(const char *name, unsigned *mode)
{
    char path[512];
    snprintf(path, sizeof path, "/%s", name);
    mqd_t q = mq_open(path, O_RDONLY);
    if (q == (mqd_t)-1) return false;
    struct stat st;
    if (mode && fstat(q, &st) == 0) *mode = st.st_mode & 0777;
    mq_close(q);
    return true;
}

bool mq_t_drop_privileges(void)
{
    if (geteuid() != 0) return true;
    /* Load the plugins while still root: the build tree may lie below a
     * directory that nobody cannot enter (a 0700 temporary directory). */
    const ipm_plugin *d;
    if (ipm_plugin_load("MqReceiver", &d) != IPM_OK ||
        ipm_plugin_load("MqSender", &d) != IPM_OK)
        return false;
    return setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 &&
           setresuid(65534, 65534, 65534) == 0;
}

void mq_t_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
