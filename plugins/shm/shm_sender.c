/*
 * shm_sender.c — ShmSender: attaches to a ShmReceiver's queue shm://NAME,
 * takes one of its sender lanes (a free one, or one whose sender died) and
 * appends messages to it, waiting (in the kernel) for room while the lane
 * is full. Senders never share a lane, so one killed at any point (in the
 * middle of a record, or with a buffer on loan) costs the others nothing:
 * what it had published is delivered, what it had not is not owed.
 *
 * Loans (ABI 1.1) lend the room of a record at the lane's head: the
 * application writes the payload where the receiver will read it, and
 * send_loan writes the record's header and metadata around it and
 * publishes it. One loan at a time is in place; a loan taken while another
 * is out is a heap buffer sent by copy. Anything else sent while an
 * in-place loan is out gives the loan's room up (published as padding, kept
 * from reuse until the buffer comes back), and that loan is then sent by
 * copy: ordering by ipm_send calls is kept in every case.
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
#include <string.h>
#include <unistd.h>

typedef struct sender {
    ipm__shm_config cfg;
    ipm__shm_seg seg;
    uint32_t lane; /* the lane we hold */
    ipm__shm_queue_writer w;
    bool connected, attached;
    bool lost; /* had a receiver, it is gone, no new one yet */
    int32_t owner_pid;
    int watch_fd;
    void *loan_buf;     /* the in-place loan, or NULL */
    size_t loan_size;   /* its size */
    ipm__shm_seg stale; /* the mapping an in-place loan points into, kept after
                           the receiver went away until the loan comes back */
} sender;

static ipm_status snd_create(void **state)
{
    sender *s = calloc(1, sizeof *s);
    if (s == NULL) return ipm_set_error(IPM_ENOMEM, "ShmSender: out of memory");
    s->seg.fd = -1;
    s->stale.fd = -1;
    s->watch_fd = -1;
    *state = s;
    return IPM_OK;
}

static void detach(sender *s)
{
    if (!s->attached) return;
    ipm__shm_claim_drop(&s->seg.lane[s->lane].claim);
    if (s->loan_buf != NULL && s->stale.hdr == NULL) {
        /* The application may still write into the loan: keep the mapping. */
        s->stale = s->seg;
        memset(&s->seg, 0, sizeof s->seg);
        s->seg.fd = -1;
        s->w.loaned = false;
    } else {
        ipm__shm_detach(&s->seg);
    }
    s->attached = false;
}

/* Attach and take a lane. IPM_ETIMEDOUT: no receiver yet. */
static ipm_status attach(sender *s)
{
    ipm_status st = ipm__shm_attach(s->cfg.name, IPM_SHM_KIND_QUEUE, "ShmSender",
                                    &s->cfg.owners, &s->seg);
    if (st != IPM_OK) return st;
    uint32_t i = 0;
    while (i < s->seg.lanes && !ipm__shm_claim_take(&s->seg.lane[i].claim))
        i++;
    if (i == s->seg.lanes) {
        uint32_t n = s->seg.lanes;
        ipm__shm_detach(&s->seg);
        return ipm_set_error(IPM_ECONNECT,
                             "ShmSender %s: all %u sender lanes of the queue are held by "
                             "live ShmSenders; raise max_senders of the ShmReceiver",
                             s->cfg.endpoint, (unsigned)n);
    }
    ipm__shm_lane *ln = &s->seg.lane[i];
    /* Before anything is published in the lane (seq_cst, as head's store:
     * a receiver about to sleep sees the bit or we see it waiting). */
    atomic_fetch_or_explicit(&s->seg.hdr->lanes_used, (uint64_t)1 << i,
                             memory_order_seq_cst);
    st = ipm__shm_lane_allocate(&s->seg, i, "ShmSender");
    if (st == IPM_OK && !ipm__shm_queue_writer_init(&s->seg, i, &s->w)) st = IPM_ECONNECT;
    if (st != IPM_OK) {
        ipm__shm_claim_drop(&ln->claim);
        ipm__shm_detach(&s->seg);
        return st; /* error set */
    }
    /* A previous sender of the lane may have died while flagged waiting. */
    atomic_store(&ln->space_waiters, 0);
    s->lane = i;
    s->owner_pid = s->seg.hdr->owner_pid;
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
    ipm__shm_unmap(&s->stale);
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
    uint64_t c = atomic_load(&s->seg.lane[s->lane].consumed);
    uint64_t head = s->w.head;
    detach(s);
    s->lost = true;
    ipm__shm_watch_wait(&s->watch_fd, 0);
    return ipm_set_error(IPM_ESYS,
                         "ShmSender %s: the queue is corrupt (the receiver's position "
                         "%llu is not within one queue behind ours, %llu); the message "
                         "was not sent and the queue was left. Recreate the ShmReceiver",
                         s->cfg.endpoint, (unsigned long long)c,
                         (unsigned long long)head);
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

/*
 * Wait (attaching first if need be) until a record of len bytes fits in our
 * lane: IPM_OK, or the status for the caller (nothing written). An
 * outstanding in-place loan is given up first: whatever comes next is
 * written after its room.
 */
static ipm_status wait_room(sender *s, uint64_t len, int timeout_ms)
{
    int64_t deadline = -2; /* computed only when we have to wait */
    if (!s->attached) {
        deadline = ipm_deadline_ns(timeout_ms);
        ipm_status st = wait_attach(s, deadline, timeout_ms);
        if (st != IPM_OK) return st;
    }
    ipm__shm_header *h = s->seg.hdr;
    ipm__shm_lane *ln = &s->seg.lane[s->lane];
    if (atomic_load_explicit(&h->closed, memory_order_relaxed)) return lost(s, true);
    if (s->w.loaned) ipm__shm_queue_abandon(&s->seg, &s->w);
    if (ipm__shm_queue_has_room(&s->w, len)) return IPM_OK;
    if (s->w.corrupt) return corrupt(s);

    /* Full: spin for a while if asked, then sleep in bounded slices,
     * checking that the receiver is still there between them. */
    if (deadline == -2) deadline = ipm_deadline_ns(timeout_ms);
    if (s->cfg.spin_ns > 0 && timeout_ms != 0) {
        int64_t until = ipm_now_ns() + s->cfg.spin_ns;
        for (unsigned i = 0; !ipm__shm_queue_has_room(&s->w, len) && !s->w.corrupt; i++) {
            ipm__shm_pause();
            if ((i & 63) == 63 && ipm_now_ns() >= until) break;
        }
    }
    int64_t next_check = ipm_now_ns() + IPM_SHM_LIVENESS_NS;
    for (;;) {
        if (ipm__shm_queue_has_room(&s->w, len)) return IPM_OK;
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
        atomic_store(&ln->space_need, ipm__shm_queue_wake_at(&s->w, len));
        atomic_store(&ln->space_waiters, 1);
        uint32_t v = atomic_load(&ln->space_word);
        ipm__shm_fence(memory_order_seq_cst);
        if (!ipm__shm_queue_has_room(&s->w, len))
            ipm__shm_futex_wait(&ln->space_word, v, left);
        atomic_store(&ln->space_waiters, 0);
    }
}

static ipm_status check_sizes(const sender *s, size_t size, size_t metadata_size)
{
    if (metadata_size > IPM_SHM_MAX_METADATA)
        return ipm_set_error(
            IPM_ETOOBIG, "ShmSender %s: metadata of %zu bytes exceeds the limit of %u",
            s->cfg.endpoint, metadata_size, IPM_SHM_MAX_METADATA);
    uint64_t max = s->attached ? s->seg.max_message_size : s->cfg.max_message_size;
    if (size > max)
        return ipm_set_error(IPM_ETOOBIG,
                             "ShmSender %s: message of %zu bytes exceeds the receiver's "
                             "max_message_size %llu",
                             s->cfg.endpoint, size, (unsigned long long)max);
    return IPM_OK;
}

static ipm_status snd_send(void *state, const void *data, size_t size,
                           const char *metadata, size_t metadata_size, int timeout_ms)
{
    sender *s = state;
    ipm_status st = check_sizes(s, size, metadata_size);
    if (st != IPM_OK) return st;
    uint64_t len = ipm__shm_rec_len(metadata_size, size);
    /* The fast path: attached, room, no loan out. */
    if (s->attached && !s->w.loaned &&
        !atomic_load_explicit(&s->seg.hdr->closed, memory_order_relaxed) &&
        ipm__shm_queue_has_room(&s->w, len)) {
        ipm__shm_queue_write(&s->seg, &s->w, data, size, metadata, metadata_size);
        return IPM_OK;
    }
    st = wait_room(s, len, timeout_ms);
    if (st != IPM_OK) return st;
    /* Attaching may have found a smaller max_message_size. */
    if ((st = check_sizes(s, size, metadata_size)) != IPM_OK) return st;
    ipm__shm_queue_write(&s->seg, &s->w, data, size, metadata, metadata_size);
    return IPM_OK;
}

/* ---------------------------------------------------------------- loans */

static ipm_status snd_loan(void *state, size_t size, int timeout_ms, void **buf)
{
    sender *s = state;
    ipm_status st = check_sizes(s, size, 0);
    if (st != IPM_OK) return st;
    if (s->loan_buf != NULL) {
        /* One loan in place at a time: this one is sent by copy. */
        *buf = malloc(size ? size : 1);
        return *buf ? IPM_OK
                    : ipm_set_error(IPM_ENOMEM, "ShmSender %s: cannot allocate %zu bytes",
                                    s->cfg.endpoint, size);
    }
    st = wait_room(s, ipm__shm_queue_loan_len(size), timeout_ms);
    if (st != IPM_OK) return st; /* nothing lent */
    if ((st = check_sizes(s, size, 0)) != IPM_OK) return st;
    s->loan_buf = ipm__shm_queue_loan(&s->w, size);
    s->loan_size = size;
    *buf = s->loan_buf;
    return IPM_OK;
}

/* The in-place loan is settled: forget it and any mapping kept for it. */
static void loan_done(sender *s)
{
    s->loan_buf = NULL;
    ipm__shm_queue_unloan(&s->w);
    ipm__shm_unmap(&s->stale);
}

static ipm_status snd_send_loan(void *state, void *buf, size_t size, const char *metadata,
                                size_t metadata_size, int timeout_ms)
{
    sender *s = state;
    if (buf != s->loan_buf) { /* a heap loan: sent by copy, freed once sent */
        ipm_status st = snd_send(s, buf, size, metadata, metadata_size, timeout_ms);
        if (st == IPM_OK) free(buf);
        return st;
    }
    ipm_status st = check_sizes(s, size, metadata_size);
    if (st != IPM_OK) return st;
    if (s->attached && s->stale.hdr == NULL && s->w.loaned && !s->w.abandoned) {
        if (atomic_load_explicit(&s->seg.hdr->closed, memory_order_relaxed))
            return lost(s, true); /* keeps the mapping: the buffer is still out */
        ipm__shm_queue_commit(&s->seg, &s->w, size, metadata, metadata_size);
        loan_done(s);
        return IPM_OK;
    }
    /* Given up (something was sent meanwhile) or its queue is gone: send
     * the bytes by copy, from a private copy, since the lane may reuse the
     * loan's room as soon as the loan is settled. */
    void *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return ipm_set_error(IPM_ENOMEM, "ShmSender %s: cannot allocate %zu bytes",
                             s->cfg.endpoint, size);
    memcpy(copy, buf, size);
    bool abandoned = s->attached && s->stale.hdr == NULL && s->w.abandoned;
    if (abandoned) s->w.loaned = s->w.abandoned = false; /* this send may reuse it */
    st = snd_send(s, copy, size, metadata, metadata_size, timeout_ms);
    free(copy);
    if (st != IPM_OK) {
        if (abandoned && s->attached && s->stale.hdr == NULL)
            s->w.loaned = s->w.abandoned = true;
        return st; /* still on loan, untouched */
    }
    loan_done(s);
    return IPM_OK;
}

static void snd_loan_return(void *state, void *buf)
{
    sender *s = state;
    if (buf != s->loan_buf) {
        free(buf);
        return;
    }
    loan_done(s); /* nothing of it was published (or only its padding) */
}

/* The receiver's limit once attached (it made the queue), else our own. */
static void snd_limits(const void *state, ipm_limits *out)
{
    const sender *s = state;
    out->max_message_size =
        s->attached ? s->seg.max_message_size : s->cfg.max_message_size;
}

static const ipm_plugin_ops snd_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = snd_create,
    .connect = snd_connect,
    .endpoint = snd_endpoint,
    .destroy = snd_destroy,
    .send = snd_send,
    .limits = snd_limits,
    .loan = snd_loan,
    .send_loan = snd_send_loan,
    .loan_return = snd_loan_return,
};

static const char *const snd_keys[] = {
    "connection_string", "buffer_size",    "max_message_size", "spin_us",
    "permissions",       "allowed_owners", "max_senders",      NULL};

static const ipm_limits snd_stated = IPM_SHM_LIMITS(0);

static const ipm_plugin snd_desc = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "ShmSender",
    .version = "1.1.0",
    .description = "shared-memory lossless queue sender (shm://NAME), one lane per "
                   "sender, zero-copy loans",
    .keys = snd_keys,
    .ops = &snd_ops,
    .limits = &snd_stated,
};

IPM_PLUGIN_DEFINE(ShmSender, &snd_desc)
