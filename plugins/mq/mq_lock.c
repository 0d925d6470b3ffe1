/*
 * mq_lock.c — the receiver's claim on a queue name. A POSIX queue has no
 * owner process, so each MqReceiver holds an exclusive open-file-description
 * lock (F_OFD_SETLK) on /dev/shm/.ipm-mq.NAME.lock for as long as it
 * exists. The kernel drops the lock when the holder dies, however it dies,
 * so a second live receiver is refused and a restarted one takes over.
 *
 * Why this and not mq_notify's single registration slot: the slot is
 * emptied every time a notification fires (a message reaching an empty
 * queue), and re-registering leaves a window in which a second receiver
 * would get it. Why OFD locks and not flock or fcntl(F_SETLK): an OFD lock
 * conflicts between two opens in one process too (two MqReceivers in one
 * program), is not dropped when some other descriptor of the file is
 * closed (F_SETLK is), and F_OFD_GETLK lets senders test it. A forked child
 * shares the description and so the lock, as it shares the queue descriptor;
 * the file is opened O_CLOEXEC so that exec'd programs do not.
 */
#define _GNU_SOURCE
#include "mq_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_DIR "/dev/shm"

void ipm__mq_lock_path(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, LOCK_DIR "/.ipm-mq.%s.lock", name);
}

/* The pid written in the lock file, or 0. The file is input: bounded read,
 * strict parse. */
static int read_pid(int fd)
{
    char buf[24];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    return (end != buf && v > 0 && v < (1L << 30)) ? (int)v : 0;
}

static int lock_op(int fd, int cmd, short type, struct flock *fl)
{
    memset(fl, 0, sizeof *fl);
    fl->l_type = type;
    fl->l_whence = SEEK_SET; /* whole file; l_pid must be 0 for OFD locks */
    return fcntl(fd, cmd, fl);
}

ipm_status ipm__mq_lock_take(const ipm__mq_config *c, const char *type, int *fd)
{
    char path[IPM_MQ_NAME_MAX + 64];
    ipm__mq_lock_path(c->name, path, sizeof path);
    /* A receiver that is leaving unlinks the file while holding the lock; a
     * newcomer that opened the old file just before gets the lock on a file
     * without name, sees that, and tries again on the new one. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, c->mode);
        if (f < 0)
            return ipm_set_error(
                IPM_ECONNECT,
                "%s %s: cannot open its lock file %s: %s (another user's "
                "file, or %s not writable)",
                type, c->endpoint, path, strerror(errno), LOCK_DIR);
        struct stat st;
        if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
            close(f);
            return ipm_set_error(
                IPM_ECONNECT,
                "%s %s: the lock file %s belongs to uid %d, not to this "
                "user (uid %d): another user's MqReceiver uses the name; "
                "choose another NAME",
                type, c->endpoint, path, (int)st.st_uid, (int)geteuid());
        }
        struct flock fl;
        if (lock_op(f, F_OFD_SETLK, F_WRLCK, &fl) != 0) {
            int e = errno;
            int pid = read_pid(f);
            close(f);
            if (e == EAGAIN || e == EACCES) {
                if (pid > 0)
                    return ipm_set_error(IPM_ECONNECT,
                                         "%s %s: in use by pid %d (a live MqReceiver "
                                         "holds %s); one receiver per queue",
                                         type, c->endpoint, pid, path);
                return ipm_set_error(IPM_ECONNECT,
                                     "%s %s: in use by another MqReceiver (it holds %s); "
                                     "one receiver per queue",
                                     type, c->endpoint, path);
            }
            return ipm_set_error(IPM_ESYS, "%s %s: cannot lock %s: %s", type, c->endpoint,
                                 path, strerror(e));
        }
        struct stat now;
        if (stat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
            /* Ours, and the name is the locked file. Mode as asked (an old
             * file keeps the mode it was created with otherwise). */
            if ((st.st_mode & 0777) != c->mode) (void)fchmod(f, c->mode);
            *fd = f;
            return IPM_OK;
        }
        close(f); /* unlinked or replaced under us: try the current one */
    }
    return ipm_set_error(IPM_ECONNECT, "%s %s: the lock file %s keeps being replaced",
                         type, c->endpoint, path);
}

void ipm__mq_lock_announce(int fd)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) == n) return;
    /* Not fatal: the pid only improves messages; the lock is the claim. */
}

void ipm__mq_lock_drop(const char *name, int fd)
{
    if (fd < 0) return;
    char path[IPM_MQ_NAME_MAX + 64];
    ipm__mq_lock_path(name, path, sizeof path);
    struct stat a, b;
    if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        unlink(path);
    close(fd);
}

int ipm__mq_lock_held(const char *name, int *fd, int *pid)
{
    char path[IPM_MQ_NAME_MAX + 64];
    ipm__mq_lock_path(name, path, sizeof path);
    if (*fd >= 0) {
        /* The file we hold may have been replaced by a new receiver's. */
        struct stat a, b;
        if (fstat(*fd, &a) != 0 || stat(path, &b) != 0 || a.st_dev != b.st_dev ||
            a.st_ino != b.st_ino) {
            close(*fd);
            *fd = -1;
        }
    }
    if (*fd < 0) *fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0) return -1;
    struct flock fl;
    /* F_OFD_GETLK needs no write access to test for a write lock. */
    if (lock_op(*fd, F_OFD_GETLK, F_WRLCK, &fl) != 0) return -1;
    if (pid) *pid = read_pid(*fd);
    return fl.l_type == F_UNLCK ? 0 : 1;
}
