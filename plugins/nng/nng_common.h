/*
 * nng_common.h — what the four nng plugins (NngSender, NngReceiver,
 * NngPublisher, NngSubscriber) share: the fork guard, endpoint checks, TLS
 * configuration, listen/dial, socket options, the wire form and the receive
 * path.
 *
 * Everything here is internal to each plugin .so (hidden visibility); each
 * plugin links its own copy of the common sources. State that must be one
 * per process (the fork guard) lives in the core's singleton registry, so
 * that the four copies share it.
 *
 * Threading: one ipm_nng object is used by one thread at a time (the core
 * guarantees it); libnng's own threads call the sender's completion and
 * pipe callbacks, which take ipm_nng.lock. ipm__nng_release may run on any
 * thread at any time, also after the object is gone.
 */
#ifndef IPM_NNG_COMMON_H
#define IPM_NNG_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include <ipm/plugin.h>

/* Default send_buffer of an NngSender: messages handed to nng and not yet
 * written by it. nng's push0 is unbuffered by default, which holds a stream
 * to one message in flight (each send waits for the write of the one
 * before); 1024 lets the sender run ahead as ZeroMQ's high-water mark of
 * 1000 does. */
#define IPM_NNG_DEFAULT_SEND_WINDOW 1024
/* Default send_buffer of an NngPublisher (pub0's queue per subscriber,
 * nng's own default is 16) and recv_buffer of an NngSubscriber (sub0's
 * queue, nng's default 128): deep enough for bursts of small messages. */
#define IPM_NNG_DEFAULT_PUBSUB_BUFFER 1024
/* nng's largest queue (push0, pub0 and sub0 refuse more). */
#define IPM_NNG_MAX_BUFFER 8192
/* Default max_message_size of receivers and subscribers (NNG_OPT_RECVMAXSZ):
 * the largest message a peer may send, the wire form's trailer included.
 * nng's own default is 1 MiB, which would refuse DAQ fragments; 256 MiB is
 * the Zmq family's figure: room for fragments of tens of MiB, while a
 * hostile peer can make a receiver allocate at most this much per message
 * (not the 2^64 bytes an SP header can announce). nng drops the connection
 * of a peer that sends more. */
#define IPM_NNG_DEFAULT_MAX_MESSAGE_SIZE (256ULL << 20)
/* Default linger_ms: how long destroying a sender waits for what it
 * accepted to be written. Bounded so that destroy never hangs. */
#define IPM_NNG_DEFAULT_LINGER_MS 1000
#define IPM_NNG_MAX_LINGER_MS 60000
/* Default mode of an ipc:// socket file (key `permissions`), as for Zmq. */
#define IPM_NNG_DEFAULT_IPC_MODE 0600
/* Longest metadata (topic) ipm sends: far beyond any DAQ topic, and
 * bounded so that the receiver's check of a trailer stays cheap. */
#define IPM_NNG_MAX_METADATA (1u << 20)
/* Largest certificate, key or CA file read for tls_* keys. */
#define IPM_NNG_MAX_PEM_FILE (1u << 20)

/* ---- nng_wire.c: the wire form (see docs/nng.md)
 *
 * A message with empty metadata is its data, bare, exactly what a plain nng
 * peer sends. A message with metadata M (and a bare message whose data
 * happens to end like a trailer) is
 *
 *     M | 0x00 | data | u32 big-endian strlen(M) | "\xFFipmnng\x01"
 *
 * The topic comes first, so sub0's prefix match (done by nng, on the raw
 * body) filters on it, for ipm and plain subscribers alike; the 12-byte
 * trailer at the end makes an ipm message recognisable at a fixed place
 * and leaves the data where it is (received without a copy); the 0x00
 * ends the metadata as a C string inside the message itself. */
#define IPM_NNG_MAGIC "\xFFipmnng\x01"
#define IPM_NNG_MAGIC_SIZE 8
#define IPM_NNG_TRAILER_SIZE (4 + IPM_NNG_MAGIC_SIZE)

/* Bytes of the wire form of a message of size bytes with metadata_size
 * bytes of metadata, and whether it needs the framed form. */
bool ipm__nng_needs_frame(const void *data, size_t size, size_t metadata_size);
size_t ipm__nng_wire_size(size_t size, size_t metadata_size, bool framed);
/* Write the wire form into out (ipm__nng_wire_size bytes). */
void ipm__nng_wire_write(void *out, const void *data, size_t size, const char *metadata,
                         size_t metadata_size, bool framed);
/* Split a received body: the data and metadata (NUL-terminated, pointing
 * into body, or "" for a bare message). Never fails: anything that is not
 * a well-formed ipm message is bare data. */
void ipm__nng_wire_read(const void *body, size_t len, const void **data, size_t *size,
                        const char **metadata, size_t *metadata_size);

/* ---- nng_fork.c: libnng after fork()
 *
 * libnng 1.5 aborts the process ("nng is not fork-reentrant safe") when a
 * child of a process that initialised it calls almost any nng function
 * (socket, option, send, receive and close calls all initialise it first).
 * The family never lets that happen: ipm__nng_enter refuses in such a
 * child, and objects inherited by one neither send, receive nor close. */

/* IPM_OK if this process may use libnng (and marks it as used, so that a
 * later fork's child may not), else IPM_ESTATE saying why and what to do,
 * with plugin and what ("create", "connect") in the message. */
ipm_status ipm__nng_enter(const char *plugin, const char *what);
/* True in a child forked from a process that used libnng: no nng call may
 * be made. Cheap (one atomic load): used on every send and receive. */
bool ipm__nng_forked(void);

/* ---- nng_endpoint.c: URLs, keys and TLS */

/* What an endpoint's scheme says. */
typedef struct ipm_nng_url {
    bool tls;    /* tls+tcp://, wss:// */
    bool ipc;    /* ipc:// (a socket file) */
    bool inproc; /* inproc:// */
    bool tcpish; /* has a host and a port (tcp, tls+tcp, ws, wss) */
} ipm_nng_url;

/* For listeners: endpoint with ZeroMQ's "any port" spelling, a port of
 * "*" (as in tcp://127.0.0.1:* or a ws:// URL), as nng's ":0", in buf (cap
 * bytes); endpoint itself when there is none (or it does not fit). */
const char *ipm__nng_listen_url(const char *endpoint, char *buf, size_t cap);

/* Check endpoint's syntax (a scheme nng knows, a port in 0..65535, a path
 * for ipc://) without touching the network: IPM_ECONFIG naming key and
 * endpoint. Fills *u if u is not NULL. */
ipm_status ipm__nng_check_url(const char *plugin, const char *key, const char *endpoint,
                              ipm_nng_url *u);

/* Check the keys of p that concern endpoints of kind u for a listener
 * (listen) or dialer: tls_* only with TLS schemes, certificate and key
 * together and readable, a listener's certificate; permissions only on
 * ipc:// listeners. IPM_ECONFIG naming the key. Touches no network. */
ipm_status ipm__nng_check_keys(const char *plugin, const ipm_params *p,
                               const ipm_nng_url *u, bool listen);

/* A TLS configuration for a listener or dialer from the tls_* keys of p
 * (already checked): own certificate and key if given; with tls_ca, peers
 * must present a certificate signed by it (authentication required),
 * without it they are not verified. A dialer's server certificate must
 * name the URL's host. *out is freed with
 * nng_tls_config_free. IPM_ECONFIG if nng refuses a file's contents. */
ipm_status ipm__nng_tls_config(const char *plugin, const ipm_params *p, bool listen,
                               const char *endpoint, nng_tls_config **out);

/* Check op shared by all four types. */
ipm_status ipm__nng_check_sender(const ipm_params *p);
ipm_status ipm__nng_check_receiver(const ipm_params *p);
ipm_status ipm__nng_check_publisher(const ipm_params *p);
ipm_status ipm__nng_check_subscriber(const ipm_params *p);

/* ---- nng_common.c: objects */

typedef enum ipm_nng_kind {
    IPM_NNG_PUSH,
    IPM_NNG_PULL,
    IPM_NNG_PUB,
    IPM_NNG_SUB
} ipm_nng_kind;

typedef struct ipm_nng ipm_nng;

/* One asynchronous send of an NngSender's window. */
typedef struct ipm_nng_slot {
    nng_aio *aio;
    ipm_nng *owner;
} ipm_nng_slot;

/* One plugin object: an nng socket with its dialers or listener. */
struct ipm_nng {
    const char *plugin; /* type name, for messages */
    ipm_nng_kind kind;
    nng_socket sock;
    bool open;                 /* sock is an open nng socket */
    bool connected;            /* connect succeeded */
    char *endpoint;            /* resolved endpoint(s), or NULL */
    uint32_t carrier_features; /* IPM_FEATURE_* the endpoints' carriers allow */

    /* Listener (receiver, publisher) or dialers (sender: one; subscriber:
     * one per publisher, with the exact endpoint text). */
    nng_listener listener;
    nng_dialer *dialers;
    char **peers;
    size_t npeers, peers_cap;

    /* NNG_OPT_RECVTIMEO as last set (ms; -2: never), so that a steady
     * timeout costs no option call per message. */
    int rcvtimeo;

    /* Sender only: a window of asynchronous sends (nng_send_aio) over an
     * unbuffered push0, so that the caller runs ahead of nng's writes
     * while destroy can still tell when everything was written (see
     * nng_sender.c). slots[0..inflight) are the sends in flight. nng's
     * pipe callbacks update pipes under lock and signal cond
     * (CLOCK_MONOTONIC); the send path reads it without the lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool sync_ok; /* lock and cond initialised */
    ipm_nng_slot *slots;
    size_t nslots;
    size_t inflight;
    atomic_int pipes; /* connected receivers */
    int sendfd;       /* NNG_OPT_SENDFD: readable when push0 is idle */
    int linger_ms;
    bool abandoned; /* nng_close did not return in time (ipm__nng_close) */
    struct ipm_nng *next_abandoned; /* the list of kept objects (nng_common.c) */
};

/* Allocate an ipm_nng with an open socket of kind (after ipm__nng_enter).
 * IPM_ESTATE in a forked child (see nng_fork.c), IPM_ENOMEM, IPM_ESYS if
 * nng refuses. Does not block. */
ipm_status ipm__nng_create(const char *plugin, ipm_nng_kind kind, void **state);

/* Initialise a mutex and a condition variable on CLOCK_MONOTONIC (for
 * deadlines from ipm_deadline_timespec). False, with neither left
 * initialised, if either fails. */
bool ipm__nng_sync_init(pthread_mutex_t *lock, pthread_cond_t *cond);

/* How long destroy waits for nng_close. libnng 1.5.2 (Debian 12) can block
 * in nng_close for ever when a connection is being torn down under load
 * (seen with sub0 whose queue overflowed: nanomsg/nng#1543, #1813); a
 * normal close takes milliseconds. */
#define IPM_NNG_CLOSE_BOUND_MS 2000

/* Close z->sock on a helper thread and wait at most IPM_NNG_CLOSE_BOUND_MS.
 * Returns true when it closed. Returns false, setting z->abandoned, when
 * nng_close is still blocked: the socket and z (which nng's callbacks may
 * still reach) are then left to the process, never freed, so that destroy
 * returns instead of hanging. z->open is false afterwards either way. */
bool ipm__nng_close(ipm_nng *z);

/* Close the socket (unless in a forked child, where no nng call may be
 * made and the socket is left to the exit), free everything (but see
 * ipm__nng_close: an abandoned object is not freed). */
void ipm__nng_destroy(void *state);

/* Message for an nng error: "<plugin>: cannot <what> '<endpoint>': <nng>". */
ipm_status ipm__nng_fail(const ipm_nng *z, ipm_status st, int rv, const char *what,
                         const char *endpoint);

/* The connection_string of p, or IPM_ECONFIG naming the missing key. */
ipm_status ipm__nng_endpoint_param(const char *plugin, const ipm_params *p,
                                   const char **out);

/* Listen on endpoint (receiver, publisher) with the TLS and ipc keys of p;
 * records the resolved endpoint (a port 0 replaced by the one nng
 * picked). IPM_ECONNECT naming the endpoint (in use, bad address),
 * IPM_ECONFIG for keys. */
ipm_status ipm__nng_listen(ipm_nng *z, const ipm_params *p, const char *endpoint);

/* Dial endpoint in the background (nng retries until a peer is there;
 * never blocks for one), with the TLS keys of p. The dialer goes into
 * *out. IPM_ECONNECT for an endpoint nng refuses at once. */
ipm_status ipm__nng_dial(ipm_nng *z, const ipm_params *p, const char *endpoint,
                         nng_dialer *out);

/* Apply max_message_size (receivers, subscribers) as NNG_OPT_RECVMAXSZ. */
ipm_status ipm__nng_apply_recvmax(ipm_nng *z, const ipm_params *p);

/* Endpoint op: the resolved endpoint, or NULL before connect. */
const char *ipm__nng_endpoint(const void *state);

/* Receive op: waits up to timeout_ms in nng (NNG_OPT_RECVTIMEO), splits
 * the wire form; msg->data points into the nng message held in
 * msg->opaque_[0] until release. */
ipm_status ipm__nng_receive(void *state, ipm_message *msg, int timeout_ms);

/* Release op: frees the nng message (plain memory, no nng state, so it is
 * safe after destroy, on any thread, and in a forked child). */
void ipm__nng_release(ipm_message *msg);

/* Descriptor limits of every Nng type, and the limits op that narrows
 * them by carrier (inproc:// in the process, ipc:// on the host). */
extern const ipm_limits ipm__nng_limits;
void ipm__nng_limits_op(const void *state, ipm_limits *out);

/* Add what endpoint's carrier allows to z->carrier_features (at connect). */
void ipm__nng_note_carrier(ipm_nng *z, const ipm_nng_url *u);

/* Build the wire form of a message as a new nng message in *out.
 * IPM_ETOOBIG for metadata over IPM_NNG_MAX_METADATA, IPM_ENOMEM. */
ipm_status ipm__nng_make_msg(const ipm_nng *z, const void *data, size_t size,
                             const char *metadata, size_t metadata_size, nng_msg **out);

#endif /* IPM_NNG_COMMON_H */
