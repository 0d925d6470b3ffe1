/*
 * mq_sender.c — MqSender: opens the POSIX message queue of mq://NAME that an
 * MqReceiver (or a plain program) created, and puts each message into it in
 * the wire form of mq_common.h, with priority 0. Any number of senders may
 * share a queue (fan-in); each message is one mq_send, so it is never split
 * or interleaved and a sender's messages stay in order.
 *
 * Status: IPM_ETIMEDOUT when no queue exists yet or the queue stays full
 * for the whole timeout (nothing is sent); IPM_ETOOBIG past the queue's
 * message size, before any system call; IPM_ECONNECT when the queue is full
 * and its MqReceiver is gone (noticed within IPM_MQ_LIVENESS_MS): what is
 * queued waits for the next MqReceiver on the name. A queue that its
 * receiver removed (destroy) is noticed within IPM_MQ_RELINK_NS of sending,
 * or at once when the queue is full; the sender then opens the name again.
 */
#define _GNU_SOURCE
#include "mq_common.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct sender {
    ipm__mq_config cfg;
    mqd_t q; /* -1: no queue yet */
    long msgsize;
    unsigned char *buf; /* msgsize bytes: one message in the wire form */
    int lock_fd;        /* the receiver's lock file, for liveness */
    int watch_fd;       /* inotify on /dev/shm while waiting for a queue */
    int64_t next_link_check;
    bool connected;
} sender;

static ipm_status snd_create(void **state)
{
    sender *s = calloc(1, sizeof *s);
    if (s == NULL) return ipm_set_error(IPM_ENOMEM, "MqSender: out of memory");
    s->q = (mqd_t)-1;
    s->lock_fd = -1;
    s->watch_fd = -1;
    *state = s;
    return IPM_OK;
}

static ipm_status snd_check(const ipm_params *p)
{
    ipm__mq_config c;
    return ipm__mq_parse_config(p, "MqSender", false, true, &c);
}

static void detach(sender *s)
{
    if (s->q != (mqd_t)-1) mq_close(s->q);
    s->q = (mqd_t)-1;
}

/* Open the queue. IPM_ETIMEDOUT (no message set) if it does not exist. */
static ipm_status attach(sender *s)
{
    mqd_t q;
    do
        q = mq_open(s->cfg.qname, O_WRONLY);
    while (q == (mqd_t)-1 && errno == EINTR);
    if (q == (mqd_t)-1) {
        if (errno == ENOENT) return IPM_ETIMEDOUT;
        return ipm__mq_open_error(&s->cfg, "MqSender", errno, false, NULL);
    }
    struct mq_attr a;
    if (mq_getattr(q, &a) != 0 || a.mq_msgsize <= 0) {
        mq_close(q);
        return ipm_set_error(IPM_ESYS, "MqSender %s: mq_getattr: %s", s->cfg.endpoint,
                             strerror(errno));
    }
    if (a.mq_msgsize > s->msgsize) {
        unsigned char *b = realloc(s->buf, (size_t)a.mq_msgsize);
        if (b == NULL) {
            mq_close(q);
            return ipm_set_error(IPM_ENOMEM, "MqSender %s: out of memory",
                                 s->cfg.endpoint);
        }
        s->buf = b;
    }
    s->q = q;
    s->msgsize = a.mq_msgsize;
    s->next_link_check = ipm_now_ns() + IPM_MQ_RELINK_NS;
    return IPM_OK;
}

/* Watch /dev/shm, where a receiver creates and then writes its lock file,
 * so that a sender waiting for a queue wakes when one appears. Armed before
 * each look at the queue, so that no creation is missed. */
static void arm_watch(sender *s)
{
    if (s->watch_fd >= 0) return;
    s->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->watch_fd < 0) return;
    if (inotify_add_watch(s->watch_fd, "/dev/shm",
                          IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
        close(s->watch_fd);
        s->watch_fd = -1;
    }
}

/* Sleep until something changes in /dev/shm, at most ms (a receiver that is
 * not ipm announces nothing, hence the bound). */
static void wait_watch(sender *s, int ms)
{
    if (s->watch_fd < 0) {
        poll(NULL, 0, ms);
        return;
    }
    struct pollfd pfd = {.fd = s->watch_fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) > 0) {
        char ev[4096];
        while (read(s->watch_fd, ev, sizeof ev) > 0) {
        }
    }
}

/* Attach, waiting until deadline for a queue to appear. */
static ipm_status wait_attach(sender *s, int64_t deadline, int timeout_ms)
{
    for (;;) {
        arm_watch(s);
        ipm_status st = attach(s);
        if (st != IPM_ETIMEDOUT) {
            if (st == IPM_OK && s->watch_fd >= 0) {
                close(s->watch_fd);
                s->watch_fd = -1;
            }
            return st;
        }
        int left = ipm_remaining_ms(deadline);
        if (left == 0)
            return ipm_set_error(
                IPM_ETIMEDOUT,
                "MqSender %s: no queue %s within %d ms (no MqReceiver has "
                "created it)",
                s->cfg.endpoint, s->cfg.qname, timeout_ms);
        wait_watch(s, left < 0 || left > IPM_MQ_LIVENESS_MS ? IPM_MQ_LIVENESS_MS : left);
    }
}

/* True if the queue we hold lost its name (its receiver removed it). */
static bool unlinked(const sender *s)
{
    struct stat st;
    return fstat(s->q, &st) == 0 && st.st_nlink == 0;
}

static ipm_status snd_connect(void *state, const ipm_params *p)
{
    sender *s = state;
    if (s->connected)
        return ipm_set_error(IPM_ENOTSUP, "MqSender %s: already connected",
                             s->cfg.endpoint);
    ipm_status st = ipm__mq_parse_config(p, "MqSender", false, false, &s->cfg);
    if (st != IPM_OK) return st;
    /* No queue yet is no error: sends wait for it, as a ZeroMQ connect
     * before the bind does. */
    arm_watch(s);
    st = attach(s);
    if (st != IPM_OK && st != IPM_ETIMEDOUT) return st;
    s->connected = true;
    return IPM_OK;
}

static const char *snd_endpoint(const void *state)
{
    const sender *s = state;
    return s->connected ? s->cfg.endpoint : NULL;
}

static void snd_destroy(void *state)
{
    sender *s = state;
    detach(s);
    if (s->lock_fd >= 0) close(s->lock_fd);
    if (s->watch_fd >= 0) close(s->watch_fd);
    free(s->buf);
    free(s);
}

/* The queue is full: wait for room until deadline in slices, looking at the
 * receiver between them. IPM_OK sent; IPM_ETIMEDOUT; IPM_ECONNECT receiver
 * gone; IPM_ESYS; or -1: the queue lost its name, attach again. */
static int send_wait(sender *s, size_t n, int64_t deadline, int timeout_ms)
{
    for (;;) {
        int64_t slice = ipm_now_ns() + (int64_t)IPM_MQ_LIVENESS_MS * 1000000;
        if (deadline >= 0 && deadline < slice) slice = deadline;
        struct timespec ts;
        ipm_deadline_timespec(slice, CLOCK_REALTIME, &ts);
        if (mq_timedsend(s->q, (const char *)s->buf, n, 0, &ts) == 0) return IPM_OK;
        int e = errno;
        if (e == EINTR) continue;
        if (e != ETIMEDOUT)
            return ipm_set_error(IPM_ESYS, "MqSender %s: mq_send: %s", s->cfg.endpoint,
                                 strerror(e));
        if (unlinked(s)) return -1;
        if (deadline >= 0 && ipm_remaining_ms(deadline) == 0)
            return ipm_set_error(IPM_ETIMEDOUT,
                                 "MqSender %s: the queue stayed full for %d ms; nothing "
                                 "sent",
                                 s->cfg.endpoint, timeout_ms);
        int pid = 0;
        if (ipm__mq_lock_held(s->cfg.name, &s->lock_fd, &pid) == 0) {
            struct mq_attr a = {0};
            mq_getattr(s->q, &a);
            return ipm_set_error(IPM_ECONNECT,
                                 "MqSender %s: its MqReceiver (pid %d) is gone and the "
                                 "queue is full; the %ld queued messages wait for the "
                                 "next MqReceiver on the name; this one was not sent",
                                 s->cfg.endpoint, pid, (long)a.mq_curmsgs);
        }
    }
}

static ipm_status snd_send(void *state, const void *data, size_t size,
                           const char *metadata, size_t metadata_size, int timeout_ms)
{
    sender *s = state;
    if (metadata_size > IPM_MQ_MAX_METADATA)
        return ipm_set_error(
            IPM_ETOOBIG,
            "MqSender %s: metadata of %zu bytes; the wire form carries at "
            "most %u",
            s->cfg.endpoint, metadata_size, IPM_MQ_MAX_METADATA);
    int64_t deadline = ipm_deadline_ns(timeout_ms);
    for (;;) {
        if (s->q == (mqd_t)-1) {
            ipm_status st = wait_attach(s, deadline, timeout_ms);
            if (st != IPM_OK) return st;
        }
        uint64_t max = ipm__mq_max_data(s->msgsize);
        if ((uint64_t)size > max)
            return ipm_set_error(
                IPM_ETOOBIG,
                "MqSender %s: %zu bytes is more than the queue carries: "
                "%llu bytes at most (its message size %ld less %u bytes of "
                "header and metadata; the MqReceiver's max_message_size "
                "sets it)",
                s->cfg.endpoint, size, (unsigned long long)max, s->msgsize,
                IPM_MQ_OVERHEAD);
        int64_t now = ipm_now_ns();
        if (now >= s->next_link_check) {
            s->next_link_check = now + IPM_MQ_RELINK_NS;
            if (unlinked(s)) {
                detach(s);
                continue;
            }
        }
        ipm__mq_put_header(s->buf, metadata_size);
        if (size) memcpy(s->buf + IPM_MQ_HEADER, data, size);
        if (metadata_size) memcpy(s->buf + IPM_MQ_HEADER + size, metadata, metadata_size);
        size_t n = IPM_MQ_HEADER + size + metadata_size;

        /* First try: a time in the past sends if there is room, else fails
         * at once (cheaper than switching O_NONBLOCK with mq_setattr). */
        static const struct timespec past = {0, 0};
        int rc;
        do
            rc = mq_timedsend(s->q, (const char *)s->buf, n, 0, &past);
        while (rc != 0 && errno == EINTR);
        if (rc == 0) return IPM_OK;
        if (errno != ETIMEDOUT)
            return ipm_set_error(IPM_ESYS, "MqSender %s: mq_send: %s", s->cfg.endpoint,
                                 strerror(errno));
        if (timeout_ms == 0)
            return ipm_set_error(IPM_ETIMEDOUT,
                                 "MqSender %s: the queue is full; nothing "
                                 "sent (IPM_NO_BLOCK)",
                                 s->cfg.endpoint);
        int w = send_wait(s, n, deadline, timeout_ms);
        if (w != -1) return (ipm_status)w;
        detach(s); /* removed by its receiver: find the name's new queue */
    }
}

/* The attached queue's limit; before a queue is found, the default's. */
static void snd_limits(const void *state, ipm_limits *out)
{
    const sender *s = state;
    if (s->q != (mqd_t)-1) out->max_message_size = ipm__mq_max_data(s->msgsize);
}

static const ipm_plugin_ops snd_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = snd_create,
    .connect = snd_connect,
    .endpoint = snd_endpoint,
    .destroy = snd_destroy,
    .send = snd_send,
    .check = snd_check,
    .limits = snd_limits,
};

static const char *const snd_keys[] = {"connection_string", NULL};

static const ipm_limits snd_stated = IPM_MQ_LIMITS;

static const ipm_plugin snd_desc = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "MqSender",
    .version = "1.0.0",
    .description = "POSIX message queue sender (mq://NAME), opens an MqReceiver's queue",
    .keys = snd_keys,
    .ops = &snd_ops,
    .limits = &snd_stated,
};

IPM_PLUGIN_DEFINE(MqSender, &snd_desc)
