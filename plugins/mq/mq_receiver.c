/*
 * mq_receiver.c — MqReceiver: creates (or takes over) the POSIX message
 * queue /NAME of mq://NAME and takes messages from it in order; any number
 * of MqSenders, and plain mq_send programs, put messages in.
 *
 * Ownership (docs/mq.md): one live MqReceiver per name, held by the lock in
 * mq_lock.c. A queue outlives processes in the kernel: when a receiver dies
 * (even kill -9) the queue stays with every message that was accepted, and
 * the next MqReceiver on the name takes it over and receives them. Destroy
 * removes the queue (mq_unlink) and the lock file, unless keep_queue=true
 * (a planned restart: senders go on filling the queue meanwhile).
 *
 * A queue of another user is refused, and so is a queue with other
 * attributes than asked that still holds messages (nothing is thrown away);
 * an empty one with other attributes is replaced.
 */
#define _GNU_SOURCE
#include "mq_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct receiver {
    ipm__mq_config cfg;
    mqd_t q;
    int lock_fd;
    long msgsize;
    ipm__mq_pool *pool;
    bool connected;
} receiver;

static ipm_status rcv_create(void **state)
{
    receiver *r = calloc(1, sizeof *r);
    if (r == NULL) return ipm_set_error(IPM_ENOMEM, "MqReceiver: out of memory");
    r->q = (mqd_t)-1;
    r->lock_fd = -1;
    *state = r;
    return IPM_OK;
}

static ipm_status rcv_check(const ipm_params *p)
{
    ipm__mq_config c;
    return ipm__mq_parse_config(p, "MqReceiver", true, true, &c);
}

/* Open /NAME for reading, creating it with attr if absent. */
static mqd_t open_queue(const ipm__mq_config *c, struct mq_attr *attr)
{
    mqd_t q;
    do
        q = mq_open(c->qname, O_RDONLY | O_CREAT, (mode_t)c->mode, attr);
    while (q == (mqd_t)-1 && errno == EINTR);
    return q;
}

/* The queue we hold the name's lock for: ours, with the attributes asked,
 * or refused. On success r->q and r->msgsize are set. */
static ipm_status take_queue(receiver *r)
{
    const ipm__mq_config *c = &r->cfg;
    struct mq_attr want = {0};
    want.mq_maxmsg = c->max_messages;
    want.mq_msgsize = (long)(c->max_message_size + IPM_MQ_OVERHEAD);
    for (int attempt = 0;; attempt++) {
        mqd_t q = open_queue(c, &want);
        if (q == (mqd_t)-1)
            return ipm__mq_open_error(c, "MqReceiver", errno, true, &want);
        /* Linux: a queue descriptor is a file descriptor of the mqueue
         * filesystem, so fstat tells the owner and the mode. */
        struct stat st;
        struct mq_attr got;
        if (fstat(q, &st) != 0 || mq_getattr(q, &got) != 0) {
            int e = errno;
            mq_close(q);
            return ipm_set_error(IPM_ESYS, "MqReceiver %s: cannot inspect %s: %s",
                                 c->endpoint, c->qname, strerror(e));
        }
        if (st.st_uid != geteuid()) {
            mq_close(q);
            return ipm_set_error(IPM_ECONNECT,
                                 "MqReceiver %s: the queue %s belongs to uid %d (mode "
                                 "%03o), not to this user (uid %d); refusing a queue "
                                 "another user controls: choose another NAME",
                                 c->endpoint, c->qname, (int)st.st_uid,
                                 (unsigned)(st.st_mode & 0777), (int)geteuid());
        }
        if (got.mq_maxmsg == want.mq_maxmsg && got.mq_msgsize == want.mq_msgsize) {
            if ((st.st_mode & 0777) != c->mode) (void)fchmod(q, (mode_t)c->mode);
            r->q = q;
            r->msgsize = got.mq_msgsize;
            return IPM_OK;
        }
        if (got.mq_curmsgs > 0 || attempt > 0) {
            mq_close(q);
            return ipm_set_error(
                IPM_ECONNECT,
                "MqReceiver %s: the queue %s holds %ld message(s) and was made with "
                "max_messages=%ld and a message size of %ld bytes "
                "(max_message_size=%llu); "
                "this receiver asks for max_messages=%ld, max_message_size=%llu. Connect "
                "with the queue's values to receive them, or remove the queue "
                "(mq_unlink)",
                c->endpoint, c->qname, (long)got.mq_curmsgs, (long)got.mq_maxmsg,
                (long)got.mq_msgsize,
                (unsigned long long)ipm__mq_max_data(got.mq_msgsize),
                (long)want.mq_maxmsg, (unsigned long long)c->max_message_size);
        }
        /* Empty, with other attributes (an older configuration, or made by a
         * plain mq_open): nothing is lost by making it anew. */
        mq_close(q);
        mq_unlink(c->qname);
    }
}

static ipm_status rcv_connect(void *state, const ipm_params *p)
{
    receiver *r = state;
    if (r->connected)
        return ipm_set_error(IPM_ENOTSUP, "MqReceiver %s: already connected",
                             r->cfg.endpoint);
    ipm__mq_config c;
    ipm_status st = ipm__mq_parse_config(p, "MqReceiver", true, false, &c);
    if (st != IPM_OK) return st;
    r->cfg = c;
    st = ipm__mq_lock_take(&r->cfg, "MqReceiver", &r->lock_fd);
    if (st != IPM_OK) return st;
    st = take_queue(r);
    if (st == IPM_OK) {
        r->pool = ipm__mq_pool_new((size_t)r->msgsize + 1);
        if (r->pool == NULL) {
            mq_close(r->q);
            r->q = (mqd_t)-1;
            st = ipm_set_error(IPM_ENOMEM, "MqReceiver %s: out of memory", c.endpoint);
        }
    }
    if (st != IPM_OK) {
        ipm__mq_lock_drop(r->cfg.name, r->lock_fd);
        r->lock_fd = -1;
        return st;
    }
    ipm__mq_lock_announce(r->lock_fd);
    r->connected = true;
    return IPM_OK;
}

static const char *rcv_endpoint(const void *state)
{
    const receiver *r = state;
    return r->connected ? r->cfg.endpoint : NULL;
}

static void rcv_destroy(void *state)
{
    receiver *r = state;
    if (r->connected) {
        /* Queue first, lock last: a successor that gets the lock finds
         * no queue of ours left to take over by mistake. */
        if (!r->cfg.keep_queue) mq_unlink(r->cfg.qname);
        mq_close(r->q);
        ipm__mq_lock_drop(r->cfg.name, r->lock_fd);
    }
    ipm__mq_pool_unref(r->pool);
    free(r);
}

static ipm_status rcv_receive(void *state, ipm_message *msg, int timeout_ms)
{
    receiver *r = state;
    unsigned char *bytes;
    void *buf = ipm__mq_buf_get(r->pool, &bytes);
    if (buf == NULL)
        return ipm_set_error(IPM_ENOMEM, "MqReceiver %s: out of memory for a message",
                             r->cfg.endpoint);
    int64_t deadline = ipm_deadline_ns(timeout_ms);
    for (;;) {
        ssize_t n;
        if (timeout_ms < 0) {
            n = mq_receive(r->q, (char *)bytes, (size_t)r->msgsize, NULL);
        } else {
            /* Try once with a time in the past; else until the deadline. */
            struct timespec ts = {0, 0};
            if (timeout_ms > 0) ipm_deadline_timespec(deadline, CLOCK_REALTIME, &ts);
            n = mq_timedreceive(r->q, (char *)bytes, (size_t)r->msgsize, NULL, &ts);
        }
        if (n >= 0) {
            ipm__mq_buf_fill(buf, (size_t)n, msg);
            return IPM_OK;
        }
        int e = errno;
        if (e == EINTR) continue;
        /* The deadline is on the monotonic clock; CLOCK_REALTIME may have
         * been stepped meanwhile, so only it says whether time is up. */
        if (e == ETIMEDOUT && timeout_ms > 0 && ipm_remaining_ms(deadline) > 0) continue;
        ipm__mq_buf_put(buf);
        if (e == ETIMEDOUT)
            return ipm_set_error(IPM_ETIMEDOUT, "MqReceiver %s: no message within %d ms",
                                 r->cfg.endpoint, timeout_ms);
        return ipm_set_error(IPM_ESYS, "MqReceiver %s: mq_receive: %s", r->cfg.endpoint,
                             strerror(e));
    }
}

/* The queue's own limit: its message size less the header and metadata. */
static void rcv_limits(const void *state, ipm_limits *out)
{
    const receiver *r = state;
    if (r->connected) out->max_message_size = ipm__mq_max_data(r->msgsize);
}

static const ipm_plugin_ops rcv_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = rcv_create,
    .connect = rcv_connect,
    .endpoint = rcv_endpoint,
    .destroy = rcv_destroy,
    .receive = rcv_receive,
    .release = ipm__mq_release,
    .check = rcv_check,
    .limits = rcv_limits,
};

static const char *const rcv_keys[] = {"connection_string", "max_messages",
                                       "max_message_size",  "permissions",
                                       "keep_queue",        NULL};

static const ipm_limits rcv_stated = IPM_MQ_LIMITS;

static const ipm_plugin rcv_desc = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "MqReceiver",
    .version = "1.0.0",
    .description = "POSIX message queue receiver (mq://NAME), creates the queue; "
                   "any number of MqSenders",
    .keys = rcv_keys,
    .ops = &rcv_ops,
    .limits = &rcv_stated,
};

IPM_PLUGIN_DEFINE(MqReceiver, &rcv_desc)
