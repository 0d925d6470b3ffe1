/*
 * mq_config.c — the endpoint mq://NAME and the keys of the Mq plugins, and
 * the messages for the kernel's limits on POSIX message queues. mq_open
 * reports every limit with a bare errno (EINVAL for both size limits, EMFILE
 * for RLIMIT_MSGQUEUE as for descriptors); the values in /proc/sys/fs/mqueue
 * and the process's rlimits tell which one it was, so that the user learns
 * which sysctl or ulimit to raise and to what.
 */
#define _GNU_SOURCE
#include "mq_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const unsigned char ipm__mq_magic[4] = {0x89, 'I', 'Q', 'M'};

void ipm__mq_put_header(unsigned char *hdr, size_t meta_size)
{
    memcpy(hdr, ipm__mq_magic, 4);
    hdr[4] = IPM_MQ_VERSION;
    hdr[5] = 0;
    hdr[6] = (unsigned char)(meta_size & 0xff);
    hdr[7] = (unsigned char)(meta_size >> 8);
}

/* ------------------------------------------------------------ params */

ipm_status ipm__mq_parse_name(const char *endpoint, const char *type, ipm__mq_config *c)
{
    static const char scheme[] = "mq://";
    if (endpoint == NULL || strncmp(endpoint, scheme, sizeof scheme - 1) != 0)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key 'connection_string': '%s' is not of the form "
                             "mq://NAME",
                             type, endpoint ? endpoint : "(none)");
    const char *n = endpoint + sizeof scheme - 1;
    size_t len = strlen(n);
    if (len == 0 || len > IPM_MQ_NAME_MAX || n[0] == '.')
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key 'connection_string': '%s': NAME must be 1 to %d "
                             "characters and not start with '.'",
                             type, endpoint, IPM_MQ_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s: key 'connection_string': '%s': NAME may hold only "
                                 "letters, digits, '.', '_' and '-' (the queue is /NAME)",
                                 type, endpoint);
    }
    memcpy(c->name, n, len + 1);
    c->qname[0] = '/';
    memcpy(c->qname + 1, n, len + 1);
    snprintf(c->endpoint, sizeof c->endpoint, "mq://%s", c->name);
    return IPM_OK;
}

ipm_status ipm__mq_parse_config(const ipm_params *p, const char *type, bool receiver,
                                bool check_only, ipm__mq_config *out)
{
    memset(out, 0, sizeof *out);
    const char *ep = ipm_params_get_str(p, "connection_string", NULL);
    ipm_status st = IPM_OK;
    /* check validates the values given; a missing endpoint is connect's. */
    if (ep != NULL || !check_only) st = ipm__mq_parse_name(ep, type, out);
    if (st != IPM_OK || !receiver) return st;

    long long n;
    st = ipm_params_get_int(p, "max_messages", IPM_MQ_DEFAULT_MAX_MESSAGES, 1,
                            IPM_MQ_HARD_MAX_MESSAGES, &n);
    if (st != IPM_OK) return st;
    out->max_messages = (long)n;

    st = ipm_params_get_size(p, "max_message_size", IPM_MQ_DEFAULT_MAX_MESSAGE, 0,
                             IPM_MQ_HARD_MSGSIZE - IPM_MQ_OVERHEAD,
                             &out->max_message_size);
    if (st != IPM_OK) return st;

    /* The rule of every family's key: the owner keeps read and write. */
    st = ipm_params_get_mode(p, "permissions", 0600, 0600, &out->mode);
    if (st != IPM_OK) {
        ipm_prefix_error("%s %s", type, out->endpoint);
        return st;
    }
    return ipm_params_get_bool(p, "keep_queue", false, &out->keep_queue);
}

/* ---------------------------------------------------------- limits */

bool ipm__mq_sysctl(const char *name, long *out)
{
    char path[96], buf[32];
    snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno != 0 || end == buf) return false;
    *out = v;
    return true;
}

/* What the kernel charges to RLIMIT_MSGQUEUE for a queue (ipc/mqueue.c:
 * each message slot's struct msg_msg and priority-tree node, plus the
 * bytes), approximately: the exact struct sizes are the kernel's. */
static unsigned long long queue_bytes(const struct mq_attr *a)
{
    unsigned long long slots = (unsigned long long)a->mq_maxmsg;
    unsigned long long tree = slots < 32768 ? slots : 32768;
    return slots * (unsigned long long)a->mq_msgsize + slots * 48 + tree * 48;
}

static ipm_status size_limit_error(const ipm__mq_config *c, const char *type,
                                   const struct mq_attr *a)
{
    long msg_max = -1, msgsize_max = -1;
    bool have_mm = ipm__mq_sysctl("msg_max", &msg_max);
    bool have_ms = ipm__mq_sysctl("msgsize_max", &msgsize_max);
    if (have_mm && a->mq_maxmsg > msg_max)
        return ipm_set_error(IPM_ECONNECT,
                             "%s %s: max_messages=%ld is above fs.mqueue.msg_max, which "
                             "is %ld; raise it (sysctl -w fs.mqueue.msg_max=%ld, or a "
                             "file in /etc/sysctl.d) or lower max_messages",
                             type, c->endpoint, (long)a->mq_maxmsg, msg_max,
                             (long)a->mq_maxmsg);
    if (have_ms && a->mq_msgsize > msgsize_max)
        return ipm_set_error(
            IPM_ECONNECT,
            "%s %s: the queue's message size %ld bytes (max_message_size=%llu + %u "
            "bytes of ipm header and metadata) is above fs.mqueue.msgsize_max, which is "
            "%ld; raise it (sysctl -w fs.mqueue.msgsize_max=%ld, or a file in "
            "/etc/sysctl.d) or lower max_message_size to %llu",
            type, c->endpoint, (long)a->mq_msgsize,
            (unsigned long long)c->max_message_size, IPM_MQ_OVERHEAD, msgsize_max,
            (long)a->mq_msgsize, (unsigned long long)ipm__mq_max_data(msgsize_max));
    return ipm_set_error(IPM_ECONNECT,
                         "%s %s: mq_open refused max_messages=%ld with message size %ld "
                         "(EINVAL; fs.mqueue.msg_max is %ld, fs.mqueue.msgsize_max %ld)",
                         type, c->endpoint, (long)a->mq_maxmsg, (long)a->mq_msgsize,
                         msg_max, msgsize_max);
}

/* EMFILE is either RLIMIT_MSGQUEUE or a full descriptor table: if a
 * descriptor can still be had, it was the queue bytes. */
static ipm_status emfile_error(const ipm__mq_config *c, const char *type, bool create,
                               const struct mq_attr *a)
{
    int probe = fcntl(0, F_DUPFD_CLOEXEC, 0);
    if (probe < 0) probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    bool fds_left = probe >= 0 || errno != EMFILE;
    if (probe >= 0) close(probe);
    struct rlimit rl;
    if (create && fds_left && getrlimit(RLIMIT_MSGQUEUE, &rl) == 0)
        return ipm_set_error(
            IPM_ECONNECT,
            "%s %s: RLIMIT_MSGQUEUE (ulimit -q) is %llu bytes (hard %llu) for all POSIX "
            "queues of this user together, and this queue needs about %llu more "
            "(max_messages=%ld x message size %ld, plus the kernel's per-message "
            "overhead); raise it (ulimit -q, LimitMSGQUEUE= in a systemd unit, "
            "'msgqueue' in /etc/security/limits.conf), lower max_messages or "
            "max_message_size, or remove this user's unused queues",
            type, c->endpoint, (unsigned long long)rl.rlim_cur,
            (unsigned long long)rl.rlim_max, queue_bytes(a), (long)a->mq_maxmsg,
            (long)a->mq_msgsize);
    getrlimit(RLIMIT_NOFILE, &rl);
    return ipm_set_error(IPM_ECONNECT,
                         "%s %s: no file descriptor left for the queue: the process has "
                         "RLIMIT_NOFILE (ulimit -n) = %llu descriptors open; raise it or "
                         "close some",
                         type, c->endpoint, (unsigned long long)rl.rlim_cur);
}

ipm_status ipm__mq_open_error(const ipm__mq_config *c, const char *type, int err,
                              bool create, const struct mq_attr *attr)
{
    long v = -1;
    switch (err) {
    case EINVAL:
        if (create && attr) return size_limit_error(c, type, attr);
        break;
    case ENOSPC:
        ipm__mq_sysctl("queues_max", &v);
        return ipm_set_error(
            IPM_ECONNECT,
            "%s %s: fs.mqueue.queues_max (%ld) POSIX message queues exist "
            "already in this IPC namespace; raise it (sysctl -w "
            "fs.mqueue.queues_max=%ld, or a file in /etc/sysctl.d) or "
            "remove unused queues (they stay until mq_unlink: mount -t "
            "mqueue none /dev/mqueue to list them)",
            type, c->endpoint, v, v > 0 ? 2 * v : 256);
    case EMFILE:
        return emfile_error(c, type, create, attr);
    case ENFILE:
        return ipm_set_error(
            IPM_ECONNECT,
            "%s %s: the system's file table is full (fs.file-max); raise "
            "it with sysctl or close files",
            type, c->endpoint);
    case ENOMEM:
        return ipm_set_error(IPM_ENOMEM, "%s %s: out of kernel memory for the queue",
                             type, c->endpoint);
    case EACCES:
        return ipm_set_error(IPM_ECONNECT,
                             "%s %s: permission denied on the queue %s: it belongs to "
                             "another user or its mode does not let this user %s (the "
                             "MqReceiver's key 'permissions' sets it)",
                             type, c->endpoint, c->qname,
                             create ? "read it" : "write it");
    case ENOENT:
        return ipm_set_error(IPM_ECONNECT,
                             "%s %s: no queue %s (no MqReceiver created it)", type,
                             c->endpoint, c->qname);
    default:
        break;
    }
    return ipm_set_error(err == ENOMEM ? IPM_ENOMEM : IPM_ESYS, "%s %s: mq_open(%s): %s",
                         type, c->endpoint, c->qname, strerror(err));
}
