/*
 * nng_wire.c — the family's wire form (documented in nng_common.h and
 * docs/nng.md), and the receive and release operations built on it.
 *
 * Waiting happens inside nng (NNG_OPT_RECVTIMEO: nng's aio timer and
 * condition variable), so an arriving message wakes the caller at once and
 * nothing spins.
 */
#define _GNU_SOURCE
#include "nng_common.h"

#include <limits.h>
#include <string.h>

static const char empty_metadata[1] = "";

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* True if body[0..len) is a well-formed ipm message: the trailer's magic
 * at the end, a metadata length that fits, a 0x00 right after the
 * metadata and none inside it. *mlen gets the metadata length. */
static bool parse_trailer(const unsigned char *body, size_t len, size_t *mlen)
{
    if (len < IPM_NNG_TRAILER_SIZE + 1) return false;
    if (memcmp(body + len - IPM_NNG_MAGIC_SIZE, IPM_NNG_MAGIC, IPM_NNG_MAGIC_SIZE) != 0)
        return false;
    size_t m = get_u32(body + len - IPM_NNG_TRAILER_SIZE);
    if (m > IPM_NNG_MAX_METADATA || m + 1 > len - IPM_NNG_TRAILER_SIZE) return false;
    if (body[m] != 0 || memchr(body, 0, m) != NULL) return false;
    *mlen = m;
    return true;
}

bool ipm__nng_needs_frame(const void *data, size_t size, size_t metadata_size)
{
    size_t unused;
    /* Bare data that would read as an ipm message is framed (with empty
     * metadata), so that it arrives as sent. */
    return metadata_size > 0 || (size > 0 && parse_trailer(data, size, &unused));
}

size_t ipm__nng_wire_size(size_t size, size_t metadata_size, bool framed)
{
    return framed ? metadata_size + 1 + size + IPM_NNG_TRAILER_SIZE : size;
}

void ipm__nng_wire_write(void *out, const void *data, size_t size, const char *metadata,
                         size_t metadata_size, bool framed)
{
    unsigned char *p = out;
    if (framed) {
        memcpy(p, metadata, metadata_size);
        p += metadata_size;
        *p++ = 0;
    }
    if (size > 0) memcpy(p, data, size);
    if (!framed) return;
    p += size;
    put_u32(p, (uint32_t)metadata_size);
    memcpy(p + 4, IPM_NNG_MAGIC, IPM_NNG_MAGIC_SIZE);
}

void ipm__nng_wire_read(const void *body, size_t len, const void **data, size_t *size,
                        const char **metadata, size_t *metadata_size)
{
    const unsigned char *b = body;
    size_t m;
    if (len > 0 && parse_trailer(b, len, &m)) {
        *metadata = (const char *)b;
        *metadata_size = m;
        *data = b + m + 1;
        *size = len - m - 1 - IPM_NNG_TRAILER_SIZE;
    } else {
        *metadata = empty_metadata;
        *metadata_size = 0;
        *data = len > 0 ? body : empty_metadata;
        *size = len;
    }
}

ipm_status ipm__nng_make_msg(const ipm_nng *z, const void *data, size_t size,
                             const char *metadata, size_t metadata_size, nng_msg **out)
{
    if (metadata_size > IPM_NNG_MAX_METADATA)
        return ipm_set_error(IPM_ETOOBIG,
                             "%s: metadata of %zu bytes is over the family's limit of %u "
                             "bytes",
                             z->plugin, metadata_size, IPM_NNG_MAX_METADATA);
    bool framed = ipm__nng_needs_frame(data, size, metadata_size);
    size_t total = ipm__nng_wire_size(size, metadata_size, framed);
    if (total < size)
        return ipm_set_error(IPM_ETOOBIG, "%s: a message of %zu bytes is too large",
                             z->plugin, size);
    nng_msg *m;
    int rv = nng_msg_alloc(&m, total);
    if (rv != 0)
        return ipm_set_error(IPM_ENOMEM, "%s: cannot allocate a message of %zu bytes: %s",
                             z->plugin, total, nng_strerror(rv));
    ipm__nng_wire_write(nng_msg_body(m), data, size, metadata, metadata_size, framed);
    *out = m;
    return IPM_OK;
}

/* Set NNG_OPT_RECVTIMEO only when it differs from what the socket has.
 * nng measures timeouts on a millisecond clock and may end a wait up to
 * 1 ms early; asking for one ms more lets the first wait reach our
 * deadline (the loop below remains the guarantee that no timeout is
 * reported early). */
static ipm_status set_rcvtimeo(ipm_nng *z, int ms)
{
    if (z->rcvtimeo == ms) return IPM_OK;
    nng_duration d = ms < 0 ? NNG_DURATION_INFINITE : ms < INT_MAX ? ms + 1 : ms;
    int rv = nng_socket_set_ms(z->sock, NNG_OPT_RECVTIMEO, d);
    if (rv != 0)
        return ipm__nng_fail(z, IPM_ESYS, rv, "set the receive timeout on", z->endpoint);
    z->rcvtimeo = ms;
    return IPM_OK;
}

ipm_status ipm__nng_receive(void *state, ipm_message *msg, int timeout_ms)
{
    ipm_nng *z = state;
    if (ipm__nng_forked())
        return ipm__nng_enter(z->plugin, "receive"); /* the ESTATE message */
    int64_t deadline = ipm_deadline_ns(timeout_ms);
    nng_msg *m = NULL;
    for (int wait = timeout_ms;;) {
        int rv;
        if (wait == 0) {
            rv = nng_recvmsg(z->sock, &m, NNG_FLAG_NONBLOCK);
        } else {
            ipm_status st = set_rcvtimeo(z, wait);
            if (st != IPM_OK) return st;
            rv = nng_recvmsg(z->sock, &m, 0);
        }
        if (rv == 0) break;
        if (rv == NNG_ETIMEDOUT || rv == NNG_EAGAIN || rv == NNG_EINTR) {
            if (wait == 0)
                return ipm_set_error(IPM_ETIMEDOUT,
                                     "%s: nothing received on '%s' within %d ms",
                                     z->plugin, z->endpoint, timeout_ms);
            /* The deadline decides, with a last try at 0. */
            wait = timeout_ms < 0 ? -1 : ipm_remaining_ms(deadline);
            continue;
        }
        return ipm__nng_fail(z, IPM_ESYS, rv, "receive on", z->endpoint);
    }
    ipm__nng_wire_read(nng_msg_body(m), nng_msg_len(m), &msg->data, &msg->size,
                       &msg->metadata, &msg->metadata_size);
    msg->opaque_[0] = m;
    return IPM_OK;
}

void ipm__nng_release(ipm_message *msg)
{
    nng_msg *m = msg->opaque_[0];
    if (m == NULL) return;
    nng_msg_free(m);
    msg->opaque_[0] = NULL;
}
