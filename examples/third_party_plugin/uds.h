/*
 * uds.h — what the UdsSender and UdsReceiver plugins share: the address
 * syntax and the wire format.
 *
 * Transport: one AF_UNIX SOCK_DGRAM socket per object. The receiver binds a
 * path (like a server), senders connect to it. UNIX datagrams are reliable and
 * ordered on Linux, keep message boundaries, and block the sender (or make
 * poll() report "not writable") while the receiver's queue is full, so the
 * pattern is lossless without any protocol of our own.
 *
 * Address: connection_string=uds:///run/daq/trigger.sock (a file system path)
 * or uds://@trigger (Linux abstract namespace: no file, nothing to clean up).
 *
 * Wire format of one message, one datagram:
 *     uint32 magic "UDS1" | uint32 metadata size | data | metadata
 * Metadata goes last so that the receiver can NUL-terminate it in place. A
 * datagram without the magic (from socat, say) is delivered whole as data
 * with empty metadata.
 */
#ifndef UDS_H
#define UDS_H

#include <ipm/plugin.h>

#include <sys/socket.h>
#include <sys/un.h>

#ifndef UDS_PLUGIN_VERSION
#define UDS_PLUGIN_VERSION "0.0.0"
#endif

#define UDS_SCHEME "uds://"
#define UDS_MAGIC 0x31534455u /* "UDS1" little-endian */

/* Longest metadata a message may carry (it travels in the same datagram). */
#define UDS_MAX_METADATA 4096u
/* Linux refuses a datagram longer than the socket's send buffer less 32
 * bytes (net/unix/af_unix.c); the header and the longest metadata share it. */
#define UDS_DGRAM_OVERHEAD 32u
/* The send buffer a socket gets by default (net.core.wmem_default). */
#define UDS_DEFAULT_SNDBUF 212992u
/* The largest message with the default send buffer, for the descriptor. */
#define UDS_DEFAULT_MAX_MESSAGE                                                          \
    (UDS_DEFAULT_SNDBUF - UDS_DGRAM_OVERHEAD - 8u /* uds_header */ - UDS_MAX_METADATA)

struct uds_header {
    uint32_t magic;
    uint32_t metadata_size;
};

struct uds_address {
    struct sockaddr_un sa;
    socklen_t len; /* the length to pass to bind/connect */
    bool abstract; /* uds://@name */
    char endpoint[sizeof(UDS_SCHEME) + sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* Parse the connection_string of p into *out. IPM_ECONFIG, naming `who` and
 * the value, if it is missing, has another scheme, or is too long. */
ipm_status uds_address_parse(const ipm_params *p, const char *who,
                             struct uds_address *out);

/* errno text for messages, thread-safe. */
const char *uds_strerror(int err, char *buf, size_t cap);

/* The largest message a socket with send buffer sndbuf (SO_SNDBUF) takes. */
static inline uint64_t uds_max_message(uint64_t sndbuf)
{
    return sndbuf - UDS_DGRAM_OVERHEAD - sizeof(struct uds_header) - UDS_MAX_METADATA;
}

#endif
