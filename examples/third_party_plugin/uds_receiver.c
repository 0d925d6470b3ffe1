/*
 * uds_receiver.c — UdsReceiver: binds a UNIX datagram socket and receives
 * one message per datagram.
 */
#define _GNU_SOURCE
#include "uds.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct uds_receiver {
    int fd; /* -1 until connected */
    struct uds_address addr;
};

static ipm_status receiver_create(void **state)
{
    struct uds_receiver *r = calloc(1, sizeof *r);
    if (!r) return ipm_set_error(IPM_ENOMEM, "UdsReceiver: out of memory");
    r->fd = -1;
    *state = r;
    return IPM_OK;
}

/* A socket file left by a receiver that crashed refuses connections; one
 * that a live receiver holds accepts them. Only the first may be replaced. */
static bool stale_socket_file(const struct uds_address *addr)
{
    int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return false;
    bool stale = connect(probe, (const struct sockaddr *)&addr->sa, addr->len) < 0 &&
                 errno == ECONNREFUSED;
    close(probe);
    return stale;
}

static ipm_status receiver_connect(void *state, const ipm_params *p)
{
    struct uds_receiver *r = state;
    char ebuf[128];
    if (r->fd >= 0)
        return ipm_set_error(IPM_ENOTSUP, "UdsReceiver: already bound to %s",
                             r->addr.endpoint);
    struct uds_address addr;
    ipm_status st = uds_address_parse(p, "UdsReceiver", &addr);
    if (st != IPM_OK) return st;

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ipm_set_error(IPM_ESYS, "UdsReceiver: socket: %s",
                             uds_strerror(errno, ebuf, sizeof ebuf));
    int rc = bind(fd, (const struct sockaddr *)&addr.sa, addr.len);
    if (rc < 0 && errno == EADDRINUSE && !addr.abstract && stale_socket_file(&addr)) {
        unlink(addr.sa.sun_path);
        rc = bind(fd, (const struct sockaddr *)&addr.sa, addr.len);
    }
    if (rc < 0) {
        int err = errno;
        close(fd);
        return ipm_set_error(IPM_ECONNECT, "UdsReceiver: cannot bind %s: %s%s",
                             addr.endpoint, uds_strerror(err, ebuf, sizeof ebuf),
                             err == EADDRINUSE ? " (another receiver is bound there)"
                                               : "");
    }
    r->fd = fd;
    r->addr = addr;
    return IPM_OK;
}

static const char *receiver_endpoint(const void *state)
{
    const struct uds_receiver *r = state;
    return r->fd >= 0 ? r->addr.endpoint : NULL;
}

static void receiver_destroy(void *state)
{
    struct uds_receiver *r = state;
    if (r->fd >= 0) {
        close(r->fd);
        if (!r->addr.abstract) unlink(r->addr.sa.sun_path);
    }
    free(r);
}

static ipm_status receiver_receive(void *state, ipm_message *msg, int timeout_ms)
{
    struct uds_receiver *r = state;
    char ebuf[128];
    int64_t deadline = ipm_deadline_ns(timeout_ms);

    /* Wait for a datagram and learn its size without taking it. */
    ssize_t len;
    for (;;) {
        len = recv(r->fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        if (len >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return ipm_set_error(IPM_ESYS, "UdsReceiver: recv on %s: %s",
                                 r->addr.endpoint,
                                 uds_strerror(errno, ebuf, sizeof ebuf));
        int wait_ms = ipm_remaining_ms(deadline);
        if (wait_ms == 0)
            return ipm_set_error(IPM_ETIMEDOUT, "UdsReceiver: nothing on %s within %d ms",
                                 r->addr.endpoint, timeout_ms);
        /* Sleep in the kernel; a datagram wakes poll at once. */
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
            return ipm_set_error(IPM_ESYS, "UdsReceiver: poll on %s: %s",
                                 r->addr.endpoint,
                                 uds_strerror(errno, ebuf, sizeof ebuf));
    }

    /* One byte more than the datagram, for the metadata's terminator. */
    char *buf = malloc((size_t)len + 1);
    if (!buf)
        return ipm_set_error(IPM_ENOMEM, "UdsReceiver: no memory for a %zd-byte message",
                             len);
    ssize_t n = recv(r->fd, buf, (size_t)len, MSG_DONTWAIT);
    if (n != len) {
        int err = errno;
        free(buf);
        return ipm_set_error(IPM_ESYS, "UdsReceiver: recv on %s: %s", r->addr.endpoint,
                             n < 0 ? uds_strerror(err, ebuf, sizeof ebuf)
                                   : "datagram changed");
    }
    buf[n] = '\0';

    struct uds_header h = {0, 0};
    if ((size_t)n >= sizeof h) memcpy(&h, buf, sizeof h);
    if (h.magic == UDS_MAGIC && h.metadata_size <= (size_t)n - sizeof h) {
        msg->data = buf + sizeof h;
        msg->size = (size_t)n - sizeof h - h.metadata_size;
        msg->metadata = buf + sizeof h + msg->size;
        msg->metadata_size = h.metadata_size;
    } else {
        /* A foreign datagram: all of it is data. */
        msg->data = buf;
        msg->size = (size_t)n;
        msg->metadata = buf + n;
        msg->metadata_size = 0;
    }
    /* The buffer belongs to the message, not to the receiver: release may
     * run after destroy. */
    msg->opaque_[0] = buf;
    return IPM_OK;
}

static void receiver_release(ipm_message *msg)
{
    free(msg->opaque_[0]);
    msg->opaque_[0] = NULL;
}

static const ipm_plugin_ops ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = receiver_create,
    .connect = receiver_connect,
    .endpoint = receiver_endpoint,
    .destroy = receiver_destroy,
    .receive = receiver_receive,
    .release = receiver_release,
};

static const char *const keys[] = {"connection_string", NULL};

#if IPM_PLUGIN_ABI_MINOR >= 1 /* see uds_sender.c */
/* Any number of UdsSenders may connect to one receiver (fan-in); the
 * largest message is the sender's to state. */
static const ipm_limits limits = {
    .max_message_size = IPM_LIMIT_NONE,
    .max_metadata_size = UDS_MAX_METADATA,
    .features = IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_FAN_IN,
};
#endif

static const ipm_plugin descriptor = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "UdsReceiver",
    .version = UDS_PLUGIN_VERSION,
    .description = "UNIX datagram socket receiver (example plugin), binds uds:///path",
    .keys = keys,
    .ops = &ops,
#if IPM_PLUGIN_ABI_MINOR >= 1
    .limits = &limits,
#endif
};

IPM_PLUGIN_DEFINE(UdsReceiver, &descriptor)
