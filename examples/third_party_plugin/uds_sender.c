/*
 * uds_sender.c — UdsSender: sends each message as one UNIX datagram to the
 * socket a UdsReceiver bound.
 */
#define _GNU_SOURCE
#include "uds.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

struct uds_sender {
    int fd; /* -1 until connected */
    struct uds_address addr;
    uint64_t max_message; /* what the socket's send buffer allows */
};

static ipm_status sender_create(void **state)
{
    struct uds_sender *s = calloc(1, sizeof *s);
    if (!s) return ipm_set_error(IPM_ENOMEM, "UdsSender: out of memory");
    s->fd = -1;
    *state = s;
    return IPM_OK;
}

static ipm_status sender_connect(void *state, const ipm_params *p)
{
    struct uds_sender *s = state;
    char ebuf[128];
    if (s->fd >= 0)
        return ipm_set_error(IPM_ENOTSUP, "UdsSender: already connected to %s",
                             s->addr.endpoint);

    struct uds_address addr;
    ipm_status st = uds_address_parse(p, "UdsSender", &addr);
    if (st != IPM_OK) return st;
    /* The largest datagram is bounded by the socket's send buffer. */
    uint64_t sndbuf;
    st = ipm_params_get_size(p, "send_buffer", 0, 0, INT32_MAX, &sndbuf);
    if (st != IPM_OK) return st;

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ipm_set_error(IPM_ESYS, "UdsSender: socket: %s",
                             uds_strerror(errno, ebuf, sizeof ebuf));
    int size = (int)sndbuf;
    if (size > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) < 0) {
        int err = errno;
        close(fd);
        return ipm_set_error(IPM_ECONFIG, "UdsSender: send_buffer=%d refused: %s", size,
                             uds_strerror(err, ebuf, sizeof ebuf));
    }
    if (connect(fd, (const struct sockaddr *)&addr.sa, addr.len) < 0) {
        int err = errno;
        close(fd);
        return ipm_set_error(
            IPM_ECONNECT,
            "UdsSender: cannot connect to %s: %s (is a UdsReceiver bound "
            "there? start the receiver first)",
            addr.endpoint, uds_strerror(err, ebuf, sizeof ebuf));
    }
    /* The kernel may round the buffer; ask what it is. */
    int actual = 0;
    socklen_t len = sizeof actual;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &actual, &len) < 0)
        actual = (int)UDS_DEFAULT_SNDBUF;
    s->fd = fd;
    s->addr = addr;
    s->max_message = uds_max_message((uint64_t)actual);
    return IPM_OK;
}

/* ABI 1.1 members are compiled only against an SDK that has them, so the
 * same source builds a plugin for an ipm 1.0 installation too (which loads
 * into every later 1.x core). */
#if IPM_PLUGIN_ABI_MINOR >= 1
/* The largest message this socket's send buffer takes (ipm-conformance
 * tests at it). */
static void sender_limits(const void *state, ipm_limits *out)
{
    const struct uds_sender *s = state;
    out->max_message_size = s->max_message;
}
#endif

static const char *sender_endpoint(const void *state)
{
    const struct uds_sender *s = state;
    return s->fd >= 0 ? s->addr.endpoint : NULL;
}

static void sender_destroy(void *state)
{
    struct uds_sender *s = state;
    if (s->fd >= 0) close(s->fd);
    free(s);
}

static ipm_status sender_send(void *state, const void *data, size_t size,
                              const char *metadata, size_t metadata_size, int timeout_ms)
{
    struct uds_sender *s = state;
    char ebuf[128];
    if (metadata_size > UDS_MAX_METADATA)
        return ipm_set_error(
            IPM_ETOOBIG, "UdsSender: %zu bytes of metadata is more than the %u allowed",
            metadata_size, UDS_MAX_METADATA);
    if (size > s->max_message)
        return ipm_set_error(
            IPM_ETOOBIG,
            "UdsSender: a %zu-byte message is larger than the %llu bytes "
            "one datagram on %s can hold; raise send_buffer (and "
            "net.core.wmem_max)",
            size, (unsigned long long)s->max_message, s->addr.endpoint);
    struct uds_header h = {UDS_MAGIC, (uint32_t)metadata_size};
    struct iovec iov[3] = {
        {&h, sizeof h}, {(void *)data, size}, {(void *)metadata, metadata_size}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};

    int64_t deadline = ipm_deadline_ns(timeout_ms);
    bool reconnected = false;
    for (;;) {
        /* A datagram is queued whole or not at all: nothing is half-sent. */
        if (sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return IPM_OK;
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            /* The receiver's queue is full. poll() sleeps in the kernel
             * until it has room (or the deadline passes). */
            int wait_ms = ipm_remaining_ms(deadline);
            if (wait_ms == 0)
                return ipm_set_error(IPM_ETIMEDOUT,
                                     "UdsSender: receiver at %s did not take the message "
                                     "within %d ms",
                                     s->addr.endpoint, timeout_ms);
            struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
            if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
                return ipm_set_error(IPM_ESYS, "UdsSender: poll on %s: %s",
                                     s->addr.endpoint,
                                     uds_strerror(errno, ebuf, sizeof ebuf));
            continue;
        }
        if (err == EMSGSIZE)
            return ipm_set_error(
                IPM_ETOOBIG,
                "UdsSender: a %zu-byte message does not fit in one datagram "
                "on %s; raise send_buffer (and net.core.wmem_max)",
                size, s->addr.endpoint);
        if ((err == ECONNREFUSED || err == ENOTCONN) && !reconnected) {
            /* The receiver went away; if a new one has bound the same
             * address, carry on with it. */
            reconnected = true;
            if (connect(s->fd, (const struct sockaddr *)&s->addr.sa, s->addr.len) == 0)
                continue;
            err = errno;
        }
        return ipm_set_error(IPM_ECONNECT, "UdsSender: send to %s failed: %s",
                             s->addr.endpoint, uds_strerror(err, ebuf, sizeof ebuf));
    }
}

static const ipm_plugin_ops ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = sender_create,
    .connect = sender_connect,
    .endpoint = sender_endpoint,
    .destroy = sender_destroy,
    .send = sender_send,
#if IPM_PLUGIN_ABI_MINOR >= 1
    .limits = sender_limits,
#endif
};

static const char *const keys[] = {"connection_string", "send_buffer", NULL};

#if IPM_PLUGIN_ABI_MINOR >= 1
/* Stated before connect; sender_limits refines the largest message from the
 * actual send buffer. */
static const ipm_limits limits = {
    .max_message_size = UDS_DEFAULT_MAX_MESSAGE,
    .max_metadata_size = UDS_MAX_METADATA,
    .features = IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_FAN_IN,
};
#endif

static const ipm_plugin descriptor = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "UdsSender",
    .version = UDS_PLUGIN_VERSION,
    .description =
        "UNIX datagram socket sender (example plugin), uds:///path or uds://@name",
    .keys = keys,
    .ops = &ops,
#if IPM_PLUGIN_ABI_MINOR >= 1
    .limits = &limits,
#endif
};

IPM_PLUGIN_DEFINE(UdsSender, &descriptor)
