/*
 * zmq_wire.c — sending and receiving messages in DUNE-DAQ ipm's wire format:
 * two ZeroMQ frames, the metadata (topic) frame with ZMQ_SNDMORE, then the
 * data frame. ZeroMQ delivers the frames of a message atomically and counts
 * the high-water mark in whole messages, which is what makes a timed send
 * all-or-nothing here.
 *
 * Waiting happens inside ZeroMQ (ZMQ_SNDTIMEO / ZMQ_RCVTIMEO, i.e. poll() on
 * the socket's mailbox), so an arriving message or freed room wakes the
 * caller at once, and nothing spins.
 */
#define _GNU_SOURCE
#include "zmq_common.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* What a received message holds on to until release: the data frame itself
 * (no copy; msg->data points into it) and a NUL-terminated copy of the
 * metadata, allocated together with the holder in one block. */
typedef struct zmq_holder {
    /* Always initialised: empty, the frame of the message out, or, in a
     * spare, the frame of a small message already released (see
     * HOLDER_KEEP_MAX). */
    zmq_msg_t data;
    size_t size; /* bytes in data */
    size_t cap;  /* bytes of metadata[] */
    char metadata[];
} zmq_holder;

/* Room for metadata in a new holder: DAQ topics are short, so one size
 * fits nearly every message and a spare holder can be reused. */
#define HOLDER_MIN_METADATA 64

/* Largest data frame a spare holder keeps after release without closing
 * it. The next receive reads its frame into the same zmq_msg_t, and ZeroMQ
 * closes the old content inside zmq_msg_recv, as it does for a raw-libzmq
 * application that reuses its zmq_msg_t: no zmq_msg_close and
 * zmq_msg_init calls per message (~40 instructions of the 64 B inproc
 * path, measured with callgrind). Small, so that a thread never sits on a
 * large fragment after its release; a larger frame is closed at release. */
#define HOLDER_KEEP_MAX 1024

/* One spare holder per thread. A receive loop (receive, use, release) then
 * allocates nothing per message: release parks the holder, the next receive
 * on the thread takes it back. Per thread, not per socket, because release
 * may run on any thread after the receiver is gone. The spare is a plain
 * thread-local (cheaper than pthread_getspecific on every message); a
 * thread-specific key, set once per thread, only frees it when the thread
 * exits. The initial-exec model reaches it with one instruction instead of
 * a __tls_get_addr call per message (33 instructions, measured with
 * callgrind); it takes 16 bytes of the static TLS that glibc reserves for
 * libraries loaded with dlopen. */
static __thread __attribute__((tls_model("initial-exec"))) struct {
    zmq_holder *h;
    bool registered; /* the key below is set on this thread */
} spare;
static pthread_key_t spare_key;
static bool spare_key_ok;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void holder_free(zmq_holder *h)
{
    zmq_msg_close(&h->data);
    free(h);
}

static void spare_free(void *unused)
{
    (void)unused;
    if (spare.h != NULL) holder_free(spare.h);
    spare.h = NULL;
}

static void spare_key_init(void)
{
    spare_key_ok = pthread_key_create(&spare_key, spare_free) == 0;
}

/* A holder with room for meta_size bytes of metadata and its NUL. */
static inline zmq_holder *holder_get(size_t meta_size)
{
    zmq_holder *h = spare.h;
    if (h != NULL && h->cap > meta_size) {
        spare.h = NULL;
        return h;
    }
    size_t cap =
        meta_size + 1 > HOLDER_MIN_METADATA ? meta_size + 1 : HOLDER_MIN_METADATA;
    h = malloc(sizeof *h + cap);
    if (h != NULL) {
        zmq_msg_init(&h->data);
        h->size = 0;
        h->cap = cap;
    }
    return h;
}

/* Park h as this thread's spare, or free it. Its frame holds at most
 * HOLDER_KEEP_MAX bytes. */
static void holder_put(zmq_holder *h)
{
    if (spare.h == NULL) {
        if (!spare.registered) {
            /* Any non-NULL value makes the key's destructor run at exit. */
            pthread_once(&spare_once, spare_key_init);
            spare.registered =
                spare_key_ok && pthread_setspecific(spare_key, &spare_once) == 0;
        }
        if (spare.registered) {
            spare.h = h;
            return;
        }
    }
    holder_free(h);
}

/* Set a timeout option only when it differs from what the socket has.
 * ZeroMQ measures its timeouts on a clock with 1 ms steps, so a wait of ms
 * may end up to 1 ms early; asking it for one ms more lets the first wait
 * reach our deadline, saving a second wake-up (the callers' deadline loops
 * remain the guarantee that no timeout is reported early). */
static ipm_status set_timeout(ipm_zmq *z, int option, int *cached, int ms)
{
    if (*cached == ms) return IPM_OK;
    int zms = ms > 0 && ms < INT_MAX ? ms + 1 : ms;
    if (zmq_setsockopt(z->sock, option, &zms, sizeof zms) != 0)
        return ipm_set_error(IPM_ESYS, "%s: cannot set the %s timeout on '%s': %s",
                             z->plugin, option == ZMQ_SNDTIMEO ? "send" : "receive",
                             z->endpoint ? z->endpoint : "?", zmq_strerror(errno));
    *cached = ms;
    return IPM_OK;
}

/* Wait budget for the next blocking call: -1 forever, 0 try once, else ms
 * (rounded up, so a wait of that length never ends before the deadline). */
static int budget_ms(int timeout_ms, int64_t deadline)
{
    return timeout_ms < 0 ? -1 : ipm_remaining_ms(deadline);
}

/* A loaned buffer (API.md section 7): this header, then the bytes lent,
 * 64-byte aligned, in one allocation. ipm_send_loan hands the bytes to
 * ZeroMQ as the data frame without a copy (zmq_msg_init_data); ZeroMQ calls
 * loan_free, possibly on its I/O thread, once it has sent them. `given` says
 * whether that call is to free them: a frame that ZeroMQ did not take is
 * closed with given false, and the buffer stays on loan. */
typedef struct zmq_loan {
    bool given;
    unsigned char pad_[63];
} zmq_loan;
_Static_assert(sizeof(zmq_loan) == 64, "a loan's bytes start 64-byte aligned");

static void loan_free(void *data, void *hint)
{
    (void)data;
    zmq_loan *h = hint;
    if (h->given) free(h);
}

/* The data frame: a copy of data, or the loaned buffer itself. */
static inline int send_data(ipm_zmq *z, const void *data, size_t size, zmq_loan *loan)
{
    if (!loan) return zmq_send(z->sock, data, size, ZMQ_DONTWAIT);
    zmq_msg_t m;
    loan->given = true;
    zmq_msg_init_data(&m, loan + 1, size, loan_free, loan);
    int rc = zmq_msg_send(&m, z->sock, ZMQ_DONTWAIT);
    if (rc < 0) {
        int err = errno;
        loan->given = false; /* ZeroMQ did not take it: still the caller's */
        zmq_msg_close(&m);
        errno = err;
    }
    return rc;
}

/* An error of ZeroMQ's on a send, as IPM_ESYS; returns -1 (send_once's
 * and finish_data's "failed"). */
static __attribute__((noinline, cold)) int send_failed(ipm_zmq *z)
{
    ipm_set_error(IPM_ESYS, "%s: send to '%s' failed: %s", z->plugin, z->endpoint,
                  zmq_strerror(errno));
    return -1;
}

/* The data frame after the metadata frame was taken. The metadata frame
 * committed the message to one peer's pipe, whose high-water mark counts
 * whole messages: the data frame always fits and must not wait. The one
 * exception is that peer's pipe closing in between; ZeroMQ then rolls the
 * message back (EAGAIN with DONTWAIT), nothing was delivered, and the
 * caller starts over so that another or a reconnected peer can take it.
 * 1: sent; 0: rolled back; -1: a ZeroMQ error, set as IPM_ESYS. */
static inline int finish_data(ipm_zmq *z, const void *data, size_t size, zmq_loan *loan)
{
    for (;;) {
        if (send_data(z, data, size, loan) >= 0) return 1;
        if (errno != EINTR) break;
    }
    if (errno == EAGAIN) return 0;
    return send_failed(z);
}

/* One attempt at both frames, the metadata frame with meta_flags (0 waits
 * up to ZMQ_SNDTIMEO, ZMQ_DONTWAIT does not). 1: sent; 0: not taken, with
 * nothing delivered (no room, a signal, or the rollback that finish_data
 * describes); -1: a ZeroMQ error, set as IPM_ESYS. */
static inline int send_once(ipm_zmq *z, const void *data, size_t size,
                            const char *metadata, size_t metadata_size, int meta_flags,
                            zmq_loan *loan)
{
    if (zmq_send(z->sock, metadata, metadata_size, ZMQ_SNDMORE | meta_flags) >= 0)
        return finish_data(z, data, size, loan);
    if (errno == EAGAIN || errno == EINTR) return 0;
    return send_failed(z);
}

/* The part of a send that waits: the first attempt found no room (or a
 * signal, or the rollback above). Kept out of line so that the fast path
 * below stays a few instructions around the two zmq_send calls. */
static __attribute__((noinline)) ipm_status
send_waiting(ipm_zmq *z, const void *data, size_t size, const char *metadata,
             size_t metadata_size, int timeout_ms, zmq_loan *loan)
{
    int64_t deadline = ipm_deadline_ns(timeout_ms);
    while (timeout_ms != 0) {
        /* ZeroMQ's own clock may give up to 1 ms early, and a signal ends a
         * wait: the deadline decides, and a last try is made at 0. */
        int wait = budget_ms(timeout_ms, deadline);
        if (wait != 0) {
            ipm_status st = set_timeout(z, ZMQ_SNDTIMEO, &z->sndtimeo, wait);
            if (st != IPM_OK) return st;
        }
        int sent = send_once(z, data, size, metadata, metadata_size,
                             wait == 0 ? ZMQ_DONTWAIT : 0, loan);
        if (sent != 0) return sent > 0 ? IPM_OK : IPM_ESYS;
        if (wait == 0) break;
    }
    return ipm_set_error(
        IPM_ETIMEDOUT,
        "%s: no peer of '%s' took the message within %d ms (none connected, "
        "or all at their high-water mark); nothing was sent",
        z->plugin, z->endpoint, timeout_ms);
}

/* The send op and the loan send (data is a copy's source, or loan's
 * bytes). Fast path: a peer with room takes both frames at once, with no
 * clock read and no timeout option; only a message that must wait pays
 * for the deadline (send_waiting). Inline, so that the send op is the two
 * zmq_send calls and a few tests. */
static inline ipm_status send_message(ipm_zmq *z, const void *data, size_t size,
                                      const char *metadata, size_t metadata_size,
                                      int timeout_ms, zmq_loan *loan)
{
    int sent = send_once(z, data, size, metadata, metadata_size, ZMQ_DONTWAIT, loan);
    if (sent != 0) return sent > 0 ? IPM_OK : IPM_ESYS;
    return send_waiting(z, data, size, metadata, metadata_size, timeout_ms, loan);
}

ipm_status ipm__zmq_send(void *state, const void *data, size_t size, const char *metadata,
                         size_t metadata_size, int timeout_ms)
{
    static const char empty[1] = "";
    if (data == NULL)
        data = empty; /* size is 0: ZeroMQ copies nothing, but wants a pointer */
    return send_message(state, data, size, metadata, metadata_size, timeout_ms, NULL);
}

ipm_status ipm__zmq_loan(void *state, size_t size, int timeout_ms, void **buf)
{
    (void)timeout_ms; /* room is waited for by the send, as for a copy */
    const ipm_zmq *z = state;
    size_t bytes = sizeof(zmq_loan) + ((size + 63) & ~(size_t)63);
    if (size > SIZE_MAX - 2 * sizeof(zmq_loan)) bytes = 0;
    zmq_loan *h = bytes ? aligned_alloc(sizeof(zmq_loan), bytes) : NULL;
    if (!h)
        return ipm_set_error(IPM_ENOMEM, "%s: cannot allocate a %zu-byte loan", z->plugin,
                             size);
    h->given = false;
    *buf = h + 1;
    return IPM_OK;
}

ipm_status ipm__zmq_send_loan(void *state, void *buf, size_t size, const char *metadata,
                              size_t metadata_size, int timeout_ms)
{
    return send_message(state, buf, size, metadata, metadata_size, timeout_ms,
                        (zmq_loan *)buf - 1);
}

void ipm__zmq_loan_return(void *state, void *buf)
{
    (void)state;
    free((zmq_loan *)buf - 1);
}

/* Receives that go straight to the timed wait after a try at once found
 * nothing (see ipm__zmq_receive). */
#define WAIT_FIRST_RUN 16

static __attribute__((noinline, cold)) ipm_status receive_timed_out(ipm_zmq *z,
                                                                    int timeout_ms)
{
    return ipm_set_error(IPM_ETIMEDOUT, "%s: nothing received on '%s' within %d ms",
                         z->plugin, z->endpoint, timeout_ms);
}

/* Receive the first frame into z->first, waiting up to timeout_ms; tried:
 * a try at once has just found nothing (errno says why). The deadline is
 * ours, not ZeroMQ's: its clock has millisecond steps and may give up to
 * 1 ms early, and a signal interrupts it; both cases wait again for the
 * rest. Out of line: only a receive that may wait reads the clock. */
static __attribute__((noinline)) ipm_status receive_waiting(ipm_zmq *z, int timeout_ms,
                                                            bool tried)
{
    if (tried && errno == EAGAIN && timeout_ms == 0)
        return receive_timed_out(z, timeout_ms);
    int64_t deadline = ipm_deadline_ns(timeout_ms);
    /* The first wait is the whole timeout: the clock was read just now, so
     * only later turns need to ask it what is left. */
    for (int wait = timeout_ms;; wait = budget_ms(timeout_ms, deadline)) {
        int flags = 0;
        if (wait == 0) {
            flags = ZMQ_DONTWAIT;
        } else {
            ipm_status st = set_timeout(z, ZMQ_RCVTIMEO, &z->rcvtimeo, wait);
            if (st != IPM_OK) return st;
        }
        if (zmq_msg_recv(&z->first, z->sock, flags) >= 0) return IPM_OK;
        if (errno == EINTR || (errno == EAGAIN && wait != 0))
            continue; /* the deadline decides, on the next turn */
        if (errno == EAGAIN) return receive_timed_out(z, timeout_ms);
        return ipm_set_error(IPM_ESYS, "%s: receive on '%s' failed: %s", z->plugin,
                             z->endpoint, zmq_strerror(errno));
    }
}

/* The remaining frames of a message arrive together with its first (ZeroMQ
 * delivers messages atomically), so these reads never wait. */
static inline int receive_rest(void *sock, zmq_msg_t *frame)
{
    int rc;
    do {
        rc = zmq_msg_recv(frame, sock, ZMQ_DONTWAIT);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

/* The size of frame f, which zmq_msg_recv returned as rc: ZeroMQ returns
 * the size itself, clipped to INT_MAX, so only a frame of 2 GiB or more (or
 * an rc that was not kept, -1) needs the zmq_msg_size call. */
static inline size_t frame_size(zmq_msg_t *f, int rc)
{
    return rc >= 0 && rc < INT_MAX ? (size_t)rc : zmq_msg_size(f);
}

/* Read and drop the frames of the current message that are still to come
 * (more: a frame was just read with ZMQ_RCVMORE), so that the next receive
 * starts at a message boundary. */
static __attribute__((noinline, cold)) void drop_rest(ipm_zmq *z, bool more)
{
    zmq_msg_t extra;
    while (more) {
        zmq_msg_init(&extra);
        more = receive_rest(z->sock, &extra) >= 0 && zmq_msg_more(&extra);
        zmq_msg_close(&extra);
    }
}

static __attribute__((noinline, cold)) ipm_status receive_no_memory(ipm_zmq *z, bool more)
{
    drop_rest(z, more);
    return ipm_set_error(IPM_ENOMEM, "%s: out of memory receiving on '%s'", z->plugin,
                         z->endpoint);
}

/* Metadata up to this many bytes is copied by a byte loop: DAQ topics are
 * a few bytes, for which the loop costs less than the calls of strnlen and
 * memcpy. */
#define METADATA_LOOP_MAX 16

/* Copy the metadata frame (n bytes at src) up to its first NUL into dst
 * (room for n + 1), NUL-terminated, so that metadata_size is its strlen. */
static inline size_t copy_metadata(char *dst, const char *src, size_t n)
{
    size_t len = 0;
    if (n <= METADATA_LOOP_MAX) {
        while (len < n && src[len] != '\0') {
            dst[len] = src[len];
            len++;
        }
    } else {
        len = strnlen(src, n);
        memcpy(dst, src, len);
    }
    dst[len] = '\0';
    return len;
}

/* A single frame comes from a foreign peer (a plain PUSH or PUB): it is the
 * data, with empty metadata. */
static __attribute__((noinline)) ipm_status receive_single(ipm_zmq *z, ipm_message *msg)
{
    zmq_holder *h = holder_get(0);
    if (h == NULL) return receive_no_memory(z, false);
    h->metadata[0] = '\0';
    zmq_msg_move(&h->data, &z->first);
    msg->data = zmq_msg_data(&h->data);
    msg->size = h->size = zmq_msg_size(&h->data);
    msg->metadata = h->metadata;
    msg->metadata_size = 0;
    msg->opaque_[0] = h;
    return IPM_OK;
}

ipm_status ipm__zmq_receive(void *state, ipm_message *msg, int timeout_ms)
{
    ipm_zmq *z = state;
    /* Fast path: a message is waiting, taken without a clock read or a
     * timeout option (as the send's fast path). A try that finds the queue
     * empty costs ZeroMQ a poll of its mailbox, a system call, before the
     * wait itself; so after one, the next WAIT_FIRST_RUN receives go
     * straight to the timed wait, which takes a message that is there at
     * once all the same. A stream keeps the fast path; a ping-pong, where
     * every receive waits, pays the empty try once in WAIT_FIRST_RUN + 1. */
    int first_rc = -1;
    if (z->wait_first == 0) {
        first_rc = zmq_msg_recv(&z->first, z->sock, ZMQ_DONTWAIT);
        if (first_rc < 0) {
            if (errno != EAGAIN && errno != EINTR)
                return ipm_set_error(IPM_ESYS, "%s: receive on '%s' failed: %s",
                                     z->plugin, z->endpoint, zmq_strerror(errno));
            z->wait_first = WAIT_FIRST_RUN;
            ipm_status st = receive_waiting(z, timeout_ms, true);
            if (st != IPM_OK) return st;
        }
    } else {
        z->wait_first--;
        ipm_status st = receive_waiting(z, timeout_ms, false);
        if (st != IPM_OK) return st;
    }
    if (!zmq_msg_get(&z->first, ZMQ_MORE)) return receive_single(z, msg);

    /* Frame one is the metadata, frame two the data, held (not copied) in
     * the holder until release. */
    const char *meta = zmq_msg_data(&z->first);
    size_t meta_size = frame_size(&z->first, first_rc);
    zmq_holder *h = holder_get(meta_size);
    if (h == NULL) return receive_no_memory(z, true);
    size_t meta_len = copy_metadata(h->metadata, meta, meta_size);
    /* h->data is initialised (holder_get): ZeroMQ closes what it held. */
    int data_rc = receive_rest(z->sock, &h->data);
    if (data_rc < 0) {
        int e = errno;
        holder_put(h); /* data still holds at most what it held before */
        return ipm_set_error(IPM_ESYS, "%s: incomplete message on '%s': %s", z->plugin,
                             z->endpoint, zmq_strerror(e));
    }

    /* Frames beyond the second are not part of the wire format: read and
     * drop them so that the next receive starts at a message boundary. */
    if (zmq_msg_get(&h->data, ZMQ_MORE)) { /* zmq_msg_more, one call less */
        drop_rest(z, true);
        ipm_log(IPM_LOG_DEBUG, "%s: dropped extra frames of a message on '%s'", z->plugin,
                z->endpoint);
    }

    msg->data = zmq_msg_data(&h->data);
    msg->size = h->size = frame_size(&h->data, data_rc);
    msg->metadata = h->metadata;
    msg->metadata_size = meta_len;
    msg->opaque_[0] = h;
    return IPM_OK;
}

/* Release of a holder that cannot simply become the spare: its frame is
 * too large to keep, or this thread has a spare already or none yet. */
static __attribute__((noinline)) void release_slow(zmq_holder *h)
{
    if (h->size > HOLDER_KEEP_MAX) {
        zmq_msg_close(&h->data);
        zmq_msg_init(&h->data);
        h->size = 0;
    }
    holder_put(h);
}

void ipm__zmq_release(ipm_message *msg)
{
    zmq_holder *h = msg->opaque_[0];
    if (h == NULL) return;
    msg->opaque_[0] = NULL;
    if (spare.h == NULL && spare.registered && h->size <= HOLDER_KEEP_MAX) {
        spare.h = h; /* its small frame is closed by the next receive */
        return;
    }
    release_slow(h);
}
