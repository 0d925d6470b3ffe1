/*
 * shm_sender.c — ShmSender: attaches to a ShmReceiver's queue shm://NAME as
 * its single producer and appends messages, waiting (in the kernel) for
 * room while the queue is full.
 *
 * Status: IPM_ETIMEDOUT when no receiver exists or the queue stays full for
 * the whole timeout (nothing is written); IPM_ECONNECT once, at once, when
 * the receiver is found dead or closed, and then at each deadline until a
 * new ShmReceiver creates the name again (we re-attach automatically).
 * A crashed receiver is noticed while waiting (liveness checks every
 * 100 ms); messages accepted before that are lost with it, as with a socket
 * buffer.
 */
#define _GNU_SOURCE
#include "shm_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct sender {
    ipm__shm_config cfg;
    ipm__shm_seg seg;
    ipm__shm_queue_writer w;
    bool connected, attached;
    bool lost; /* had a receiver, it is gone, no new one yet */
    int32_t owner_pid;
    int watch_fd;
} sender;

static ipm_status snd_create(void **state)
{
    sender *s = calloc(1, sizeof *s);
    if (s == NULL) return ipm_set_error(IPM_ENOMEM, "ShmSender: out of memory");
    s->seg.fd = -1;
    s->watch_fd = -1;
    *state = s;
    return IPM_OK;
}

static void detach(sender *s)
{
    if (!s->attached) return;
    ipm__shm_claim_drop(&s->seg.hdr->producer);
    ipm__shm_detach(&s->seg);
    s->attached = false;
}

/* Attach and claim the producer role. IPM_ETIMEDOUT: no receiver yet. */
static ipm_status attach(sender *s)
{
    ipm_status st = ipm__shm_attach(s->cfg.name, IPM_SHM_KIND_QUEUE, "ShmSender",
                                    &s->cfg.owners, &s->seg);
    if (st != IPM_OK) return st;
    ipm__shm_header *h = s->seg.hdr;
    if (!ipm__shm_claim_take(&h->producer)) {
        int pid = (int)atomic_load(&h->producer.pid);
        ipm__shm_detach(&s->seg);
        return ipm_set_error(IPM_ECONNECT,
                             "ShmSender %s: another ShmSender (pid %d) is attached; the "
                             "queue takes a single sender",
                             s->cfg.endpoint, pid);
    }
    /* A previous sender may have died while flagged as waiting. */
    atomic_store(&h->space_waiters, 0);
    if (!ipm__shm_queue_writer_init(&s->seg, &s->w)) {
        ipm__shm_claim_drop(&h->producer);
        ipm__shm_detach(&s->seg);
        return IPM_ECONNECT; /* error set */
    }
    s->owner_pid = h->owner_pid;
    s->attached = true;
    s->lost = false;
    if (s->watch_fd >= 0) {
        close(s->watch_fd);
        s->watch_fd = -1;
    }
    return IPM_OK;
}

static ipm_status snd_connect(void *state, const ipm_params *p)
{
    sender *s = state;
    if (s->connected)
        return ipm_set_error(IPM_ENOTSUP, "ShmSender %s: already connected",
                             s->cfg.endpoint);
    ipm_status st = ipm__shm_parse_config(
        p, "ShmSender", ipm_params_get_str(p, "connection_string", NULL), &s->cfg);
    if (st != IPM_OK) return st;
    /* Arm the watch before looking, then attach if the receiver exists; if
     * not, sends wait for it (like a ZeroMQ connect before the bind). */
    ipm__shm_watch_wait(&s->watch_fd, 0);
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
    if (s->watch_fd >= 0) close(s->watch_fd);
    free(s);
}

static ipm_status lost(sender *s, bool closed)
{
    int pid = (int)s->owner_pid;
    if (!closed) ipm__shm_remove_if_dead(&s->seg, "ShmSender");
    detach(s);
    s->lost = true;
    ipm__shm_watch_wait(&s->watch_fd, 0); /* arm for the successor */
    return ipm_set_error(IPM_ECONNECT,
                         "ShmSender %s: its ShmReceiver (pid %d) %s; the message was not "
                         "sent, and messages still queued are lost with it. A new "
                         "ShmReceiver on the same name is attached automatically",
                         s->cfg.endpoint, pid, closed ? "closed the queue" : "died");
}

/* The receiver's position made no sense (shm_queue.h): nothing was
 * written; the sender detaches, and re-attaches to a recreated queue. */
static ipm_status corrupt(sender *s)
{
    uint64_t c = atomic_load(&s->seg.hdr->consumed);
    detach(s);
    s->lost = true;
    ipm__shm_watch_wait(&s->watch_fd, 0);
    return ipm_set_error(IPM_ESYS,
                         "ShmSender %s: the queue is corrupt (the receiver's position "
                         "%llu is not within one queue behind ours, %llu); the message "
                         "was not sent and the queue was left. Recreate the ShmReceiver",
                         s->cfg.endpoint, (unsigned long long)c,
                         (unsigned long long)s->w.head);
}

static ipm_status timed_out(const sender *s, int timeout_ms, const char *why)
{
    return ipm_set_error(s->lost ? IPM_ECONNECT : IPM_ETIMEDOUT,
                         "ShmSender %s: message not sent within %d ms: %s",
                         s->cfg.endpoint, timeout_ms, why);
}

/* Wait until attached or the deadline passes. */
static ipm_status wait_attach(sender *s, int64_t deadline, int timeout_ms)
{
    for (;;) {
        bool changed = ipm__shm_watch_wait(&s->watch_fd, 0);
        (void)changed;
        ipm_status st = attach(s);
        if (st == IPM_OK) return IPM_OK;
        if (st != IPM_ETIMEDOUT) return st;
        int64_t left = ipm__shm_wait_ns(deadline, -1);
        if (left == 0)
            return timed_out(s, timeout_ms,
                             s->lost
                                 ? "its ShmReceiver is gone and no new one has started"
                                 : "no ShmReceiver has created the queue");
        ipm__shm_watch_wait(&s->watch_fd, left);
    }
}

static ipm_status snd_send(void *state, const void *data, size_t size,
                           const char *metadata, size_t metadata_size, int timeout_ms)
{
    sender *s = state;
    if (metadata_size > IPM_SHM_MAX_METADATA)
        return ipm_set_error(
            IPM_ETOOBIG, "ShmSender %s: metadata of %zu bytes exceeds the limit of %u",
            s->cfg.endpoint, metadata_size, IPM_SHM_MAX_METADATA);
    int64_t deadline = -2; /* computed only when we have to wait */
    if (!s->attached) {
        deadline = ipm_deadline_ns(timeout_ms);
        ipm_status st = wait_attach(s, deadline, timeout_ms);
        if (st != IPM_OK) return st;
    }
    ipm__shm_header *h = s->seg.hdr;
    if (size > s->seg.max_message_size)
        return ipm_set_error(IPM_ETOOBIG,
                             "ShmSender %s: message of %zu bytes exceeds the receiver's "
                             "max_message_size %llu",
                             s->cfg.endpoint, size,
                             (unsigned long long)s->seg.max_message_size);
    if (atomic_load_explicit(&h->closed, memory_order_relaxed)) return lost(s, true);
    uint64_t len = ipm__shm_rec_len(metadata_size, size);
    if (ipm__shm_queue_has_room(&s->seg, &s->w, len)) {
        ipm__shm_queue_write(&s->seg, &s->w, data, size, metadata, metadata_size);
        return IPM_OK;
    }
    if (s->w.corrupt) return corrupt(s);

    /* Full: spin for a while if asked, then sleep in bounded slices,
     * checking that the receiver is still there between them. */
    if (deadline == -2) deadline = ipm_deadline_ns(timeout_ms);
    if (s->cfg.spin_ns > 0 && timeout_ms != 0) {
        int64_t until = ipm_now_ns() + s->cfg.spin_ns;
        for (unsigned i = 0;
             !ipm__shm_queue_has_room(&s->seg, &s->w, len) && !s->w.corrupt; i++) {
            ipm__shm_pause();
            if ((i & 63) == 63 && ipm_now_ns() >= until) break;
        }
    }
    int64_t next_check = ipm_now_ns() + IPM_SHM_LIVENESS_NS;
    for (;;) {
        if (ipm__shm_queue_has_room(&s->seg, &s->w, len)) {
            ipm__shm_queue_write(&s->seg, &s->w, data, size, metadata, metadata_size);
            return IPM_OK;
        }
        if (s->w.corrupt) return corrupt(s);
        if (atomic_load(&h->closed)) return lost(s, true);
        int64_t now = ipm_now_ns();
        if (now >= next_check) {
            if (!ipm__shm_alive(h->owner_pid, h->owner_start)) return lost(s, false);
            next_check = now + IPM_SHM_LIVENESS_NS;
        }
        int64_t left = ipm__shm_wait_ns(deadline, -1);
        if (left == 0) return timed_out(s, timeout_ms, "the queue stayed full");
        int64_t slice = next_check - now;
        if (left < 0 || left > slice) left = slice;
        atomic_store(&h->space_need, ipm__shm_queue_wake_at(&s->seg, &s->w, len));
        atomic_store(&h->space_waiters, 1);
        uint32_t v = atomic_load(&h->space_word);
        ipm__shm_fence(memory_order_seq_cst);
        if (!ipm__shm_queue_has_room(&s->seg, &s->w, len))
            ipm__shm_futex_wait(&h->space_word, v, left);
        atomic_store(&h->space_waiters, 0);
    }
}

/* The receiver's limit once attached (it made the queue), else our own. */
static void snd_limits(const void *state, ipm_limits *out)
{
    const sender *s = state;
    out->max_message_size = s->attached ? s->seg.max_message_size : s->cfg.max_message_size;
}

static const ipm_plugin_ops snd_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = snd_create,
    .connect = snd_connect,
    .endpoint = snd_endpoint,
    .destroy = snd_destroy,
    .send = snd_send,
    .limits = snd_limits,
};

static const char *const snd_keys[] = {
    "connection_string", "buffer_size", "max_message_size", "spin_us", "permissions",
    "allowed_owners",    NULL};

static const ipm_limits snd_stated = IPM_SHM_LIMITS(0);

static const ipm_plugin snd_desc = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "ShmSender",
    .version = "1.0.0",
    .description = "shared-memory lossless queue sender (shm://NAME), single producer",
    .keys = snd_keys,
    .ops = &snd_ops,
    .limits = &snd_stated,
};

IPM_PLUGIN_DEFINE(ShmSender, &snd_desc)
