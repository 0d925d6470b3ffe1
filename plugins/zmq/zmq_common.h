/*
 * zmq_common.h — what the four ZeroMQ plugins (ZmqSender, ZmqReceiver,
 * ZmqPublisher, ZmqSubscriber) share: the per-process context, socket
 * options from connection params, bind/connect with error messages, and the
 * two-frame wire format of DUNE-DAQ's ipm (metadata frame, then data frame).
 *
 * Everything here is internal to each plugin .so (hidden visibility); each
 * plugin links its own copy of zmq_common.c.
 *
 * Threading: one ipm_zmq object is used by one thread at a time (the core
 * guarantees it), except ipm__zmq_release, which may run on any thread at any
 * time, also after the object is gone.
 */
#ifndef IPM_ZMQ_COMMON_H
#define IPM_ZMQ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <ipm/plugin.h>
#include <zmq.h>

/* Default ZMQ_LINGER for every socket, in ms: how long unsent messages are
 * kept after destroy. Bounded so that destroy and process exit never hang. */
#define IPM_ZMQ_DEFAULT_LINGER_MS 1000
/* Upper bound accepted for the linger_ms key: "forever" is not allowed. */
#define IPM_ZMQ_MAX_LINGER_MS 60000
/* Context defaults; overridden by IPM_ZMQ_IO_THREADS / IPM_ZMQ_MAX_SOCKETS or
 * the [ipm] settings zmq_io_threads / zmq_max_sockets. */
#define IPM_ZMQ_DEFAULT_IO_THREADS 1
#define IPM_ZMQ_DEFAULT_MAX_SOCKETS 16384

/* Default max_message_size of receivers and subscribers (ZMQ_MAXMSGSIZE):
 * the largest frame a peer may send. 256 MiB carries a DAQ fragment of tens
 * of MiB (DUNE's are up to ~40 MiB) with room to spare, while a hostile or
 * broken peer can make a receiver allocate at most this much per connection
 * for a frame in flight, not the 2^63 bytes a ZMTP header can announce. A
 * frame over the limit is not delivered: ZeroMQ drops that connection. */
#define IPM_ZMQ_DEFAULT_MAX_MESSAGE_SIZE (256ULL << 20)
/* Smallest max_message_size accepted (0, no limit, aside): the limit
 * applies to ZMTP's handshake commands too, which take up to a few hundred
 * bytes, so a smaller one would refuse every peer. */
#define IPM_ZMQ_MIN_MAX_MESSAGE_SIZE 1024
/* Longest subscription topic, in bytes. libzmq's subscription trie walks
 * (and frees) a topic recursively, one stack frame per byte: a 200 KB topic
 * overflows the stack of the thread that destroys the socket. 4096 bytes is
 * far beyond any DAQ topic and a few hundred KiB of stack at most. */
#define IPM_ZMQ_MAX_TOPIC 4096
/* Default mode of an ipc:// socket file (key `permissions`), as for shm. */
#define IPM_ZMQ_DEFAULT_IPC_MODE 0600
/* Free descriptors a bind needs: the listening socket, a transient one
 * (libzmq's getifaddrs, or our probe of an ipc:// path), and one for the
 * first peer. */
#define IPM_ZMQ_BIND_FDS 3
/* Most descriptors ipm__zmq_fd_headroom checks at once. */
#define IPM_ZMQ_MAX_FD_HEADROOM 2100

/* One plugin object: a ZeroMQ socket in the shared context. */
typedef struct ipm_zmq {
    const char *plugin; /* type name, for error messages */
    int type;           /* ZMQ_PUSH, ZMQ_PULL, ZMQ_PUB or ZMQ_SUB */
    void *sock;
    char ctx_name[48]; /* singleton name of the context, per process */
    char *endpoint;    /* resolved endpoint(s) after connect, or NULL */
    bool connected;
    /* ZMQ_SNDTIMEO / ZMQ_RCVTIMEO as last set on the socket, so that a
     * steady timeout costs no setsockopt per message. */
    int sndtimeo;
    int rcvtimeo;
    /* Receiving types: the frame each receive reads a message's first
     * (metadata) frame into. It stays initialised from create to destroy,
     * so a receive needs no zmq_msg_init/zmq_msg_close of its own: ZeroMQ
     * closes what the frame held when the next frame is read into it, as a
     * careful raw-libzmq application reuses its zmq_msg_t. Its content (the
     * metadata, already copied out) lasts until the next receive. */
    zmq_msg_t first;
    /* Receives left that skip the try at once (zmq_wire.c). */
    unsigned wait_first;
    /* Subscriber: endpoints connected so far (exact strings, after trimming),
     * so that connecting again with an overlapping list adds only new ones. */
    char **peers;
    size_t npeers, peers_cap;
    /* CURVE (zmq_curve.c): the socket is a CURVE server or client; a server
     * has an allow-list registered under zap_domain in the shared context. */
    bool curve;
    char zap_domain[32];
    void *shared; /* the process's zmq_shared_context */
} ipm_zmq;

/* Allocate an ipm_zmq with a socket of zmq_type in the process's shared
 * context (created on first use from the environment and [ipm] settings).
 * Errors: IPM_ECONFIG for a bad IPM_ZMQ_* variable or setting, IPM_ENOMEM,
 * IPM_ESYS if ZeroMQ refuses. Does not block. */
ipm_status ipm__zmq_create(const char *plugin, int zmq_type, void **state);

/* Close the socket (its linger bounds pending sends), free everything and
 * drop the context reference; the last reference terminates the context,
 * which waits at most for the longest linger of sockets closed before. */
void ipm__zmq_destroy(void *state);

/* Apply the option keys of p to the socket: linger_ms, tcp_keepalive,
 * max_message_size (receivers and subscribers; publishers get a fixed
 * bound on incoming subscriptions instead) and,
 * when hwm_key is not NULL, hwm_key or else capacity as ZMQ_SNDHWM
 * (send side) or ZMQ_RCVHWM; when neither is given, default_hwm if it is
 * >= 0, else ZeroMQ's own default. IPM_ECONFIG naming the key on a bad
 * value. */
ipm_status ipm__zmq_apply_options(ipm_zmq *z, const ipm_params *p, const char *hwm_key,
                                  int default_hwm);

/* Bind to endpoint. tcp:// host names are resolved first (ZeroMQ binds only
 * to addresses and interfaces); "*:0" or ":*" picks a free port; an IPv6
 * literal ("[::1]") turns on ZMQ_IPV6. ipc:// goes through
 * ipm__zmq_bind_ipc with ipc_mode. Peers that do not speak ZMTP 3 (and so
 * stray bytes, which ZeroMQ would parse as ZMTP 1.0 frames) are refused.
 * Records the resolved endpoint. IPM_ECONNECT naming the endpoint and the
 * reason (address in use, unknown host, malformed endpoint); IPM_ESYS if
 * the process lacks the descriptors. May block for name resolution. */
ipm_status ipm__zmq_bind(ipm_zmq *z, const char *endpoint, unsigned ipc_mode);

/* Connect to endpoint (ZeroMQ resolves names and retries in the background;
 * never blocks for the peer). A tcp:// IPv6 literal turns on ZMQ_IPV6 for
 * this connection; host names connect over IPv4, as ZeroMQ does by default.
 * IPM_ECONNECT for a malformed endpoint. */
ipm_status ipm__zmq_connect(ipm_zmq *z, const char *endpoint);

/* ---- zmq_ipc.c: ipc:// socket files */

/* The mode for an ipc:// socket file from key `permissions` of p (octal
 * text, 0600 to 0777, owner read and write required, as for shm; default
 * IPM_ZMQ_DEFAULT_IPC_MODE). IPM_ECONFIG for a bad value, or for the key
 * with an endpoint that has no socket file (not ipc://, or an abstract
 * "ipc://@name"). */
ipm_status ipm__zmq_ipc_mode(const ipm_zmq *z, const ipm_params *p, const char *endpoint,
                             unsigned *mode);

/* Bind to an ipc:// endpoint without harming what is at its path: refuses
 * (IPM_ECONNECT) a path that exists and is not a socket, and a socket that
 * a process still listens on ("in use"); replaces a stale socket. The
 * socket file gets mode before anyone else can reach it. Records the
 * endpoint. */
ipm_status ipm__zmq_bind_ipc(ipm_zmq *z, const char *endpoint, unsigned mode);

/* ---- zmq_limits.c: checks for what libzmq would abort on */

/* IPM_OK if need (at most IPM_ZMQ_MAX_FD_HEADROOM) file descriptors are
 * free now, else IPM_ESYS "<plugin>: cannot <what>: ..." with the counts
 * and the process's limit. Opens and closes them; does not block. */
ipm_status ipm__zmq_fd_headroom(const char *plugin, const char *what, int need);

/* IPM_OK if nthreads threads with default attributes (as libzmq makes
 * them) can exist at once now, else IPM_ESYS naming the address-space and
 * stack limits. Starts and joins them; takes about 100 us. */
ipm_status ipm__zmq_thread_headroom(const char *plugin, int nthreads);

/* The connect op of the three single-endpoint types: apply options, then
 * bind (do_bind) or connect. IPM_ENOTSUP if already connected. */
ipm_status ipm__zmq_open_endpoint(ipm_zmq *z, const ipm_params *p, const char *hwm_key,
                                  bool do_bind);

/* Endpoint op: resolved endpoint, or NULL before connect. */
const char *ipm__zmq_endpoint(const void *state);

/* Send op: metadata frame (ZMQ_SNDMORE), then data frame. The first frame
 * waits up to timeout_ms for room; once it is accepted the message is
 * committed to one peer and the data frame does not wait. IPM_ETIMEDOUT with
 * nothing sent if no peer takes it in time. Sleeps in the kernel. */
ipm_status ipm__zmq_send(void *state, const void *data, size_t size, const char *metadata,
                         size_t metadata_size, int timeout_ms);

/* Receive op: waits up to timeout_ms (IPM_BLOCK forever). Two frames are
 * metadata + data; a single frame is data with empty metadata; frames beyond
 * the second are read and dropped. The data is not copied: msg->data points
 * into the ZeroMQ message held by msg->opaque_[0] until release. */
ipm_status ipm__zmq_receive(void *state, ipm_message *msg, int timeout_ms);

/* Loan ops of the two sending types: a loaned buffer is handed to ZeroMQ as
 * the data frame without a copy (zmq_msg_init_data), so a fragment of tens
 * of MiB is never copied by ipm; ZeroMQ frees it once sent. */
ipm_status ipm__zmq_loan(void *state, size_t size, int timeout_ms, void **buf);
ipm_status ipm__zmq_send_loan(void *state, void *buf, size_t size, const char *metadata,
                              size_t metadata_size, int timeout_ms);
void ipm__zmq_loan_return(void *state, void *buf);

/* ---- zmq_curve.c: CURVE keys and the ZAP handler */

/* The allow-lists of a context's CURVE servers, and its ZAP handler thread
 * (started by the first CURVE server socket). Part of the shared context. */
typedef struct ipm__zmq_zap_entry {
    char domain[32];
    uint8_t *keys; /* n public keys of 32 bytes; n == 0: any CURVE client */
    size_t n;
} ipm__zmq_zap_entry;

typedef struct ipm__zmq_zap_table {
    pthread_mutex_t lock;
    bool started;
    pthread_t thread;
    void *rep; /* the handler's socket, used only by its thread once started */
    ipm__zmq_zap_entry *entries;
    size_t nentries, cap;
    unsigned long next_id;
} ipm__zmq_zap_table;

/* Apply the CURVE keys of p (see zmq_curve.c) before bind (binds) or
 * connect. No CURVE key: nothing changes. IPM_ECONFIG naming the key for a
 * bad key or file, or a key of the other side. */
ipm_status ipm__zmq_curve_apply(ipm_zmq *z, const ipm_params *p, bool binds);

/* Register the allow-list (n keys, copied) of server z in its context,
 * starting the context's ZAP handler if it is not running; the domain to
 * set on the socket is written to domain. zmq_context.c. */
ipm_status ipm__zmq_zap_register(ipm_zmq *z, const uint8_t *keys, size_t n, char *domain,
                                 size_t cap);
/* Remove z's allow-list (destroy). */
void ipm__zmq_zap_unregister(ipm_zmq *z);
/* True if key (32 bytes) may connect to domain. Thread-safe. */
bool ipm__zmq_zap_allowed(ipm__zmq_zap_table *t, const char *domain, const void *key);
/* The handler thread: answers ZAP requests on t->rep until the context is
 * shut down. */
void *ipm__zmq_zap_main(void *arg);

/* What every Zmq type states in its descriptor: no size or metadata limit
 * of its own; crosses processes and hosts; fan-in and many publishers. */
extern const ipm_limits ipm__zmq_limits;

/* The [ipm] settings every Zmq type reads (zmq_io_threads, zmq_max_sockets):
 * the descriptor's `settings`. */
extern const char *const ipm__zmq_settings[];

/* Limits op: the descriptor's, narrowed by the carrier once connected
 * (inproc:// stays in the process, ipc:// on the host). */
void ipm__zmq_limits_op(const void *state, ipm_limits *out);

/* Release op: frees what receive attached to msg. Touches no socket or
 * receiver state, so it is safe after the receiver is destroyed. */
void ipm__zmq_release(ipm_message *msg);

#endif /* IPM_ZMQ_COMMON_H */
