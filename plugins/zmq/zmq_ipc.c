/*
 * zmq_ipc.c — binding ipc:// endpoints without destroying what is at the
 * path, and with the socket file's mode set before anyone can connect.
 *
 * libzmq's ipc listener unlinks whatever is at the path and binds there:
 * a regular file is lost, and a second receiver silently takes a live
 * receiver's traffic. The file's mode then follows the umask, so with umask
 * 000 any local user can inject messages. Here:
 *
 * - lstat() the path. Not there: fine. Not a socket (a file, a directory, a
 *   symbolic link, ...): refused. A socket: connect() to it. ECONNREFUSED
 *   means nobody listens (a crashed process left it) and it may be
 *   replaced; a connection (or a full backlog, EAGAIN) means it is in use
 *   and is refused; anything else (EACCES) means we cannot tell, refused.
 * - Bind inside a private directory made beside the path by mkdtemp()
 *   (mode 0700: nobody else can even reach the socket), chmod() the socket
 *   to the `permissions` mode there, and move it into place with
 *   renameat2(RENAME_NOREPLACE), which fails instead of replacing anything
 *   that appeared at the path meanwhile. The file thus never exists at the
 *   path with another mode, and no window exists where others can connect.
 *   (A umask around bind() would do it too, but the umask is per process:
 *   another thread creating files at that moment would get our umask.)
 *
 * What remains: between the probe of a stale socket and its unlink,
 * another process could start listening on that very path; the window is a
 * few system calls wide and needs a process that binds without the checks
 * above. The private directory costs ".ipm-XXXXXX/s" in the path: binding
 * needs the path's directory to be writable (as any bind does) and the
 * directory name plus 13 bytes to fit a socket address (108 bytes).
 */
#define _GNU_SOURCE
#include "zmq_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

ipm_status ipm__zmq_ipc_mode(const ipm_zmq *z, const ipm_params *p, const char *endpoint,
                             unsigned *mode)
{
    *mode = IPM_ZMQ_DEFAULT_IPC_MODE;
    if (ipm_params_get(p, "permissions") == NULL) return IPM_OK;
    if (strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] == '@')
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key 'permissions' applies to ipc:// socket files only; "
                             "'%s' has none%s",
                             z->plugin, endpoint,
                             endpoint[6] == '@' ? " (an abstract socket: anyone in the "
                                                  "network namespace may connect)"
                                                : "");
    /* The rule of every family's key: the owner reads and writes
     * (connecting needs write permission on the socket). */
    ipm_status st =
        ipm_params_get_mode(p, "permissions", IPM_ZMQ_DEFAULT_IPC_MODE, 0600, mode);
    if (st != IPM_OK) ipm_prefix_error("%s %s", z->plugin, endpoint);
    return st;
}

static const char *file_kind(mode_t m)
{
    if (S_ISREG(m)) return "a regular file";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    return "not a socket";
}

/* 0: nothing at path; 1: a stale socket (may be replaced); else an error
 * status set, naming the endpoint. */
static int probe_path(const ipm_zmq *z, const char *endpoint, const char *path,
                      ipm_status *st)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) return 0;
        *st = ipm_set_error(IPM_ECONNECT,
                            "%s: cannot bind to '%s': cannot inspect '%s': %s", z->plugin,
                            endpoint, path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(sb.st_mode)) {
        *st = ipm_set_error(IPM_ECONNECT,
                            "%s: cannot bind to '%s': '%s' exists and is not a socket "
                            "(%s); refusing to replace it",
                            z->plugin, endpoint, path, file_kind(sb.st_mode));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *st = ipm_set_error(IPM_ESYS, "%s: cannot bind to '%s': cannot probe '%s': %s",
                            z->plugin, endpoint, path, strerror(errno));
        return -1;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1); /* length checked by the caller */
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    if (rc != 0 && e == ECONNREFUSED) return 1;
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        *st =
            ipm_set_error(IPM_ECONNECT,
                          "%s: cannot bind to '%s': the socket '%s' is in use (a process "
                          "listens on it)",
                          z->plugin, endpoint, path);
    else
        *st =
            ipm_set_error(IPM_ECONNECT,
                          "%s: cannot bind to '%s': cannot tell whether the socket '%s' "
                          "is in use (connecting to it failed: %s); refusing to replace "
                          "it",
                          z->plugin, endpoint, path, strerror(e));
    return -1;
}

/* libzmq's "ipc://" "*" picks a path in a directory of its own, made by mkdtemp
 * (0700): nobody else reaches the socket before chmod. For a mode that lets
 * others in, that directory must let them pass as well. */
static ipm_status bind_wildcard(ipm_zmq *z, const char *endpoint, unsigned mode)
{
    if (zmq_bind(z->sock, endpoint) != 0)
        return ipm_set_error(IPM_ECONNECT, "%s: cannot bind to '%s': %s", z->plugin,
                             endpoint, zmq_strerror(errno));
    char buf[1024];
    size_t len = sizeof buf;
    if (zmq_getsockopt(z->sock, ZMQ_LAST_ENDPOINT, buf, &len) != 0 ||
        strncmp(buf, "ipc://", 6) != 0)
        return ipm_set_error(IPM_ESYS, "%s: cannot read the bound endpoint of '%s': %s",
                             z->plugin, endpoint, zmq_strerror(errno));
    const char *path = buf + 6;
    if (chmod(path, mode) != 0)
        return ipm_set_error(IPM_ESYS, "%s: cannot set the mode of '%s' to %04o: %s",
                             z->plugin, path, mode, strerror(errno));
    unsigned pass = ((mode & 0060) ? 0010 : 0) | ((mode & 0006) ? 0001 : 0);
    char *slash = strrchr(path, '/');
    if (pass != 0 && slash != NULL && slash != path) {
        *slash = '\0';
        int rc = chmod(path, 0700 | pass);
        int e = errno;
        *slash = '/';
        if (rc != 0)
            return ipm_set_error(IPM_ESYS,
                                 "%s: cannot open the directory of '%s' to others: %s",
                                 z->plugin, path, strerror(e));
    }
    char *copy = strdup(buf);
    if (copy == NULL) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", z->plugin);
    free(z->endpoint);
    z->endpoint = copy;
    return IPM_OK;
}

/* Move the bound socket from tmp to path unless something is at path. */
static int move_into_place(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    /* A file system without RENAME_NOREPLACE: link() fails on an existing
     * target just the same. */
    if (link(tmp, path) != 0) return -1;
    unlink(tmp);
    return 0;
}

ipm_status ipm__zmq_bind_ipc(ipm_zmq *z, const char *endpoint, unsigned mode)
{
    const char *path = endpoint + 6;
    if (strcmp(path, "*") == 0) return bind_wildcard(z, endpoint, mode);
    if (path[0] == '@' || path[0] == '\0') {
        /* Abstract names have no file; a second bind fails with EADDRINUSE.
         * An empty path is libzmq's to refuse. */
        if (zmq_bind(z->sock, endpoint) != 0)
            return ipm_set_error(IPM_ECONNECT, "%s: cannot bind to '%s': %s", z->plugin,
                                 endpoint, zmq_strerror(errno));
        char *copy = strdup(endpoint);
        if (copy == NULL)
            return ipm_set_error(IPM_ENOMEM, "%s: out of memory", z->plugin);
        free(z->endpoint);
        z->endpoint = copy;
        return IPM_OK;
    }

    /* The private directory beside the path: "<dir>/.ipm-XXXXXX/s". */
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    char tmp[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
    static const char suffix[] = ".ipm-XXXXXX";
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
        dirlen + sizeof suffix + 2 > sizeof(((struct sockaddr_un *)0)->sun_path))
        return ipm_set_error(IPM_ECONNECT,
                             "%s: cannot bind to '%s': the path is too long (a socket "
                             "address holds %zu bytes, and the socket is first bound as "
                             "'%.*s%s/s')",
                             z->plugin, endpoint,
                             sizeof(((struct sockaddr_un *)0)->sun_path) - 1, (int)dirlen,
                             path, suffix);

    ipm_status st = IPM_OK;
    int state = probe_path(z, endpoint, path, &st);
    if (state < 0) return st;

    memcpy(tmp, path, dirlen);
    memcpy(tmp + dirlen, suffix, sizeof suffix);
    if (mkdtemp(tmp) == NULL)
        return ipm_set_error(IPM_ECONNECT,
                             "%s: cannot bind to '%s': cannot create a private directory "
                             "beside it: %s",
                             z->plugin, endpoint, strerror(errno));
    size_t tmpdir_len = strlen(tmp);
    strcat(tmp, "/s");
    char tmp_endpoint[sizeof tmp + 8];
    snprintf(tmp_endpoint, sizeof tmp_endpoint, "ipc://%s", tmp);
    char *copy = NULL;

    if (zmq_bind(z->sock, tmp_endpoint) != 0) {
        st = ipm_set_error(IPM_ECONNECT, "%s: cannot bind to '%s': %s", z->plugin,
                           endpoint, zmq_strerror(errno));
        goto out;
    }
    if (chmod(tmp, mode) != 0) {
        st = ipm_set_error(IPM_ESYS, "%s: cannot bind to '%s': cannot set mode %04o: %s",
                           z->plugin, endpoint, mode, strerror(errno));
        goto unbind;
    }
    copy = strdup(endpoint);
    if (copy == NULL) {
        st = ipm_set_error(IPM_ENOMEM, "%s: out of memory", z->plugin);
        goto unbind;
    }
    if (state == 1 && unlink(path) != 0 && errno != ENOENT) {
        st = ipm_set_error(IPM_ECONNECT,
                           "%s: cannot bind to '%s': cannot remove the stale socket: %s",
                           z->plugin, endpoint, strerror(errno));
        goto unbind;
    }
    if (move_into_place(tmp, path) != 0) {
        int e = errno;
        st = e == EEXIST
                 ? ipm_set_error(IPM_ECONNECT,
                                 "%s: cannot bind to '%s': '%s' appeared while "
                                 "binding (in use by another process)",
                                 z->plugin, endpoint, path)
                 : ipm_set_error(IPM_ECONNECT,
                                 "%s: cannot bind to '%s': cannot move the socket "
                                 "into place: %s",
                                 z->plugin, endpoint, strerror(e));
        goto unbind;
    }
    free(z->endpoint);
    z->endpoint = copy;
    copy = NULL;
    goto out;

unbind:
    zmq_unbind(z->sock, tmp_endpoint);
    unlink(tmp);
out:
    free(copy);
    tmp[tmpdir_len] = '\0';
    rmdir(tmp);
    return st;
}
