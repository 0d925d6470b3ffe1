/*
 * ipm.h — the application API of ipm, inter-process messaging for DAQ systems.
 *
 * Everything declared here is public and stable; everything else in the
 * library is private. Transports are plugins (libipm_<Type>.so) loaded by
 * name at run time; see ipm/plugin.h for the plugin author's side.
 *
 * Conventions that hold for every function below:
 *  - Functions that can fail return ipm_status. On failure any out-pointer is
 *    set to NULL and ipm_last_error() holds a sentence saying what failed,
 *    where and why.
 *  - Objects are opaque; the library allocates them and the matching
 *    *_free / *_destroy releases them. All destroy/free functions are NULL-safe.
 *  - Strings passed in are copied; the caller keeps ownership of them.
 *  - Nothing prints, aborts or exits. Logging to stderr is off unless the
 *    environment variable IPM_LOG is set to debug, info or warn.
 *  - Thread safety: one sender or receiver is used by one thread at a time;
 *    distinct objects may be used from distinct threads at once; plugin
 *    loading, params and config objects (read-only use) are thread-safe.
 *    One exception: ipm_receiver_destroy may be called while another thread
 *    waits in ipm_receive or ipm_receive_exact on the same receiver; see
 *    ipm_receiver_destroy.
 *  - fork(): a sender or receiver belongs to the process that created it.
 *    In any other process (a child after fork) every operation that would
 *    touch the transport (connect, send, loans, receive, subscribe,
 *    set_callback) returns IPM_ESTATE saying so, because the transport's
 *    sockets, threads and shared queues are the parent's: using them from
 *    the child would lose or corrupt the parent's messages. Destroying it in
 *    the child frees only the library's own memory and deliberately does not
 *    close the transport (which could unlink the parent's shared segment or
 *    touch the parent's ZeroMQ context); releasing a message received before
 *    the fork likewise leaves the transport alone. Create transport objects
 *    in the process that uses them. The parent keeps working unchanged.
 */
#ifndef IPM_IPM_H
#define IPM_IPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define IPM_EXPORT __attribute__((visibility("default")))
#else
#define IPM_EXPORT
#endif

#define IPM_VERSION_MAJOR 1
#define IPM_VERSION_MINOR 1
#define IPM_VERSION_PATCH 0
#define IPM_VERSION_STRING "1.1.0"

/*
 * Status codes. The list is one X-macro table so that the enum and
 * ipm_strerror() can never drift apart. Codes are deliberately not errno
 * values; the OS error, where there is one, is in ipm_last_error().
 */
#define IPM_STATUS_TABLE(X)                                                              \
    X(IPM_OK, "success")                                                                 \
    X(IPM_ETIMEDOUT, "timed out")                                                        \
    X(IPM_ESTATE, "wrong state: not connected, or a callback owns the receiver")         \
    X(IPM_EINVAL, "invalid argument")                                                    \
    X(IPM_ESIZE, "received size differs from the required size")                         \
    X(IPM_ENOPLUGIN, "plugin not found on the search path")                              \
    X(IPM_EPLUGIN, "plugin unusable")                                                    \
    X(IPM_ECONFIG, "configuration error")                                                \
    X(IPM_ECONNECT, "bind or connect failed")                                            \
    X(IPM_ENOTSUP, "operation not supported by this transport")                          \
    X(IPM_ETOOBIG, "message too large for this transport")                               \
    X(IPM_ENOMEM, "out of memory")                                                       \
    X(IPM_ESYS, "operating system or library failure")

typedef enum ipm_status {
#define IPM_STATUS_ENUM_(name, text) name,
    IPM_STATUS_TABLE(IPM_STATUS_ENUM_)
#undef IPM_STATUS_ENUM_
} ipm_status;

/* Static text for a status code; never NULL, "unknown status" for values
 * outside the enum. Thread-safe. */
IPM_EXPORT const char *ipm_strerror(ipm_status s);

/* Detail of the last failure on the calling thread: what, where and why, and
 * for plugin loading every path tried. Never NULL ("" before any failure).
 * The string is owned by the library and stays valid until the next ipm call
 * on the same thread. Successful calls do not clear it. */
IPM_EXPORT const char *ipm_last_error(void);

/* Library version as "MAJOR.MINOR.PATCH"; static storage. */
IPM_EXPORT const char *ipm_version(void);

#define IPM_BLOCK (-1) /* timeout_ms: wait forever */
#define IPM_NO_BLOCK 0 /* timeout_ms: try once     */

typedef struct ipm_params ipm_params; /* ordered key=value connection info   */
typedef struct ipm_sender ipm_sender; /* ZmqSender, ZmqPublisher, ...         */
typedef struct ipm_receiver
    ipm_receiver;                     /* a subscriber is a receiver that can subscribe */
typedef struct ipm_config ipm_config; /* a loaded INI file                     */

/*
 * A received message. data/metadata point into library-owned memory that
 * stays valid until ipm_message_release(). metadata is never NULL and is
 * NUL-terminated; for pub/sub it is the topic. opaque_ belongs to the library.
 * Release every message that a receive filled, also after IPM_ESIZE; a
 * message may outlive the receiver it came from.
 */
typedef struct ipm_message {
    const void *data;
    size_t size;
    const char *metadata;
    size_t metadata_size; /* strlen(metadata) */
    void *opaque_[4];     /* owned by the library */
} ipm_message;

/* Cumulative counts of what was sent or received successfully; `dropped`
 * counts messages a subscriber lost because it fell behind (transports that
 * cannot know report 0). */
typedef struct ipm_stats {
    uint64_t messages, bytes, dropped;
} ipm_stats;

/*
 * What a transport states about itself (its plugin descriptor, refined by a
 * connected object): ipm-conformance tests every transport at these limits,
 * and `ipm-plugins` shows them.
 */
#define IPM_FEATURE_CROSS_PROCESS (1u << 0)   /* peers may be other processes      */
#define IPM_FEATURE_CROSS_HOST (1u << 1)      /* peers may be on other hosts       */
#define IPM_FEATURE_FAN_IN (1u << 2)          /* a receiver takes many senders at once */
#define IPM_FEATURE_MULTI_PUBLISHER (1u << 3) /* a subscriber takes many publishers */
/* A subscriber's `dropped` counts every message it lost, so that received +
 * dropped == published for a subscriber of every topic. Transports whose
 * library drops without telling (a ZeroMQ PUB socket at its high-water
 * mark) do not state it. */
#define IPM_FEATURE_DROP_COUNT (1u << 4)
#define IPM_LIMIT_NONE UINT64_MAX /* no limit of the transport's own */

typedef struct ipm_limits {
    uint64_t max_message_size; /* largest size ipm_send accepts; larger: IPM_ETOOBIG */
    uint64_t
        max_metadata_size; /* longest metadata (strlen) accepted; longer: IPM_ETOOBIG */
    uint32_t features;     /* IPM_FEATURE_* bits */
    uint32_t reserved_;    /* zero */
} ipm_limits;

/* ---------------------------------------------------------------- params */

/* New empty params in *out; caller frees with ipm_params_free. */
IPM_EXPORT ipm_status ipm_params_new(ipm_params **out);

/* Parse a connection string: a bare endpoint ("tcp://h:5555" becomes
 * connection_string=tcp://h:5555) or "key=value; key=value" pairs. Space
 * around keys and values is trimmed; a double-quoted value may hold ';'.
 * A duplicate key, an empty key or a pair without '=' is IPM_ECONFIG naming
 * the text and its column. Caller frees *out with ipm_params_free. */
IPM_EXPORT ipm_status ipm_params_parse(const char *connection_string, ipm_params **out);

/* Set key to value (both copied), replacing an existing value in place, or
 * appending. Keys are non-empty; value may be "". */
IPM_EXPORT ipm_status ipm_params_set(ipm_params *p, const char *key, const char *value);

/* Value of key, or NULL if absent (or p/key NULL). The pointer is owned by p
 * and valid until p is freed or the key is set again. */
IPM_EXPORT const char *ipm_params_get(const ipm_params *p, const char *key);

/* Number of pairs and the i-th pair in insertion order (NULL if i is out of
 * range); pointers owned by p. */
IPM_EXPORT size_t ipm_params_count(const ipm_params *p);
IPM_EXPORT const char *ipm_params_key_at(const ipm_params *p, size_t i);
IPM_EXPORT const char *ipm_params_value_at(const ipm_params *p, size_t i);

/* Free p and everything it owns. NULL-safe. */
IPM_EXPORT void ipm_params_free(ipm_params *p);

/* --------------------------------------------------------------- senders */

/* Create an unconnected sender of the given type (ZmqSender, ZmqPublisher,
 * ShmPublisher, ... or a path to a plugin .so). Loads the plugin on first
 * use. IPM_ENOPLUGIN if no library is found (every path tried is in
 * ipm_last_error), IPM_EPLUGIN if it is unusable or is not a sender,
 * IPM_EINVAL for a malformed type name. Caller destroys *out. */
IPM_EXPORT ipm_status ipm_sender_create(const char *type, ipm_sender **out);

/* Validate p against the plugin's keys (unknown key: IPM_ECONFIG with a
 * suggestion), then bind or connect. May block for name resolution. Calling it
 * again on a connected sender is up to the transport (IPM_ENOTSUP if it can't).
 * p is only read; the caller keeps it. */
IPM_EXPORT ipm_status ipm_sender_connect(ipm_sender *s, const ipm_params *p);

/* Resolved endpoint after connect (e.g. tcp://127.0.0.1:40123), or NULL if
 * not connected. Owned by s, valid until the next connect or destroy. */
IPM_EXPORT const char *ipm_sender_endpoint(const ipm_sender *s);

/* True once connected. NULL-safe (false). */
IPM_EXPORT bool ipm_sender_can_send(const ipm_sender *s);

/* Send size bytes from data with metadata (NULL means ""; for publishers it
 * is the topic). The bytes are copied or handed to the transport before the
 * call returns; the caller keeps data. Waits up to timeout_ms (IPM_BLOCK
 * forever, IPM_NO_BLOCK not at all) for room, sleeping in the kernel; then
 * IPM_ETIMEDOUT with nothing sent. IPM_ESTATE before connect or after fork,
 * IPM_EINVAL for data NULL with size > 0 or a timeout below IPM_BLOCK,
 * IPM_ETOOBIG over the transport's limit. */
IPM_EXPORT ipm_status ipm_send(ipm_sender *s, const void *data, size_t size,
                               int timeout_ms, const char *metadata);

/* Copy the sender's counters to *out (zeros for NULL s). Thread-safe. */
IPM_EXPORT void ipm_sender_stats(const ipm_sender *s, ipm_stats *out);

/* The transport's limits for s into *out: the plugin's stated ones, refined
 * after connect by what the connection's keys chose. IPM_EINVAL for NULL. */
IPM_EXPORT ipm_status ipm_sender_limits(const ipm_sender *s, ipm_limits *out);

/*
 * Zero-copy sends (loans). Borrow a writable buffer of size bytes from s,
 * waiting up to timeout_ms for room (IPM_ETIMEDOUT: nothing lent). The buffer
 * belongs to the caller until ipm_send_loan succeeds or
 * ipm_sender_loan_return; destroying s returns every outstanding loan, after
 * which the pointers are invalid. Every sender type lends: transports that
 * can place the bytes where they go (shared memory) do, the others lend a
 * heap buffer that the ordinary send then takes. IPM_ETOOBIG over the
 * transport's largest message; IPM_ESTATE before connect.
 */
IPM_EXPORT ipm_status ipm_sender_loan(ipm_sender *s, size_t size, int timeout_ms,
                                      void **buf);

/* Send size bytes (at most the loaned size) of loaned buffer buf with
 * metadata, as ipm_send. On IPM_OK the buffer is the transport's again; on
 * any failure (IPM_ETIMEDOUT, ...) it is still on loan to the caller, with
 * its bytes. IPM_EINVAL for a buf that s did not lend. */
IPM_EXPORT ipm_status ipm_send_loan(ipm_sender *s, void *buf, size_t size, int timeout_ms,
                                    const char *metadata);

/* Give back a loaned buffer unsent. NULL-safe (s or buf). */
IPM_EXPORT void ipm_sender_loan_return(ipm_sender *s, void *buf);

/* Close and free. Bounded by the transport's linger. Returns outstanding
 * loans. NULL-safe. In a process other than the one that created s (after
 * fork) it frees only the library's memory and leaves the transport, which
 * is the parent's, alone. */
IPM_EXPORT void ipm_sender_destroy(ipm_sender *s);

/* ------------------------------------------------------------- receivers */

/* Create an unconnected receiver (receiver or subscriber type). Errors as
 * ipm_sender_create. Caller destroys *out. */
IPM_EXPORT ipm_status ipm_receiver_create(const char *type, ipm_receiver **out);

/* As ipm_receiver_create, but IPM_EPLUGIN unless the type is a subscriber. */
IPM_EXPORT ipm_status ipm_subscriber_create(const char *type, ipm_receiver **out);

/* Validate p (as ipm_sender_connect) and bind or connect. For subscribers,
 * connecting again adds publishers, and a `topics` key (comma-separated,
 * present but empty: every topic) subscribes as ipm_subscribe would. A
 * callback registered before connect starts running here. */
IPM_EXPORT ipm_status ipm_receiver_connect(ipm_receiver *r, const ipm_params *p);

/* Resolved endpoint after connect, or NULL. Owned by r. */
IPM_EXPORT const char *ipm_receiver_endpoint(const ipm_receiver *r);

/* True once connected and no callback owns the receiver. NULL-safe. */
IPM_EXPORT bool ipm_receiver_can_receive(const ipm_receiver *r);

/* Receive one message into *msg, waiting up to timeout_ms. A message that
 * arrives during the wait wakes it at once (the wait is in the kernel).
 * IPM_ETIMEDOUT no sooner than timeout_ms and no later than 20 ms after.
 * IPM_ESTATE before connect, while a callback is registered, after fork, or
 * when another thread destroys r meanwhile (see ipm_receiver_destroy).
 * IPM_EINVAL for a timeout below IPM_BLOCK. On IPM_OK the
 * caller owns *msg and must ipm_message_release() it; on failure *msg is
 * zeroed. */
IPM_EXPORT ipm_status ipm_receive(ipm_receiver *r, ipm_message *msg, int timeout_ms);

/* As ipm_receive, but IPM_ESIZE if the message is not exactly required_size
 * bytes. The message is consumed either way, and on IPM_OK and IPM_ESIZE the
 * caller must release it. */
IPM_EXPORT ipm_status ipm_receive_exact(ipm_receiver *r, ipm_message *msg, int timeout_ms,
                                        size_t required_size);

/* Give a received message back to the library. NULL-safe and idempotent
 * (the message is zeroed). */
IPM_EXPORT void ipm_message_release(ipm_message *msg);

/* Subscribe to topics starting with topic ("" = all). Nothing is delivered to
 * a subscriber before its first subscribe. IPM_ENOTSUP for non-subscribers.
 * Allowed before connect and while a callback runs. */
IPM_EXPORT ipm_status ipm_subscribe(ipm_receiver *r, const char *topic);
IPM_EXPORT ipm_status ipm_unsubscribe(ipm_receiver *r, const char *topic);

/* Called on the receiver's callback thread with a message it does not own:
 * the message is released when the callback returns. */
typedef void (*ipm_callback)(const ipm_message *msg, void *user);

/* Register fn (with user passed back, last) to be called for every message
 * on a thread the library owns; while it is registered ipm_receive returns
 * IPM_ESTATE. Registering before connect starts delivery at connect.
 * fn == NULL unregisters: returns within 100 ms and no callback runs after it
 * returns (called from inside the callback it returns at once and no further
 * callback starts). No library lock is held while fn runs. */
IPM_EXPORT ipm_status ipm_receiver_set_callback(ipm_receiver *r, ipm_callback fn,
                                                void *user);

/* Copy the receiver's counters to *out (zeros for NULL r). Thread-safe. */
IPM_EXPORT void ipm_receiver_stats(const ipm_receiver *r, ipm_stats *out);

/* The transport's limits for r into *out (as ipm_sender_limits). */
IPM_EXPORT ipm_status ipm_receiver_limits(const ipm_receiver *r, ipm_limits *out);

/* Unregister any callback, close and free. Must not be called from the
 * receiver's own callback. NULL-safe.
 * May be called while another thread waits in ipm_receive or
 * ipm_receive_exact on r: that waiter returns IPM_ESTATE ("receiver
 * destroyed while waiting") within about 100 ms (long waits are taken in
 * slices of 50 ms, between which it looks; a message still wakes it at
 * once), and destroy returns only after every waiter has left, so the
 * transport is never closed under a thread inside it. A call that starts
 * on r after destroy has returned uses freed memory, as with any freed
 * object: it is the application's to stop its threads from starting one.
 * In a process other than the one that created r (after fork) only the
 * library's memory is freed; see the fork rule at the top of this file. */
IPM_EXPORT void ipm_receiver_destroy(ipm_receiver *r);

/* --------------------------------------------------------- one-call open */

/* Parse spec (a connection string with a `type` key), create, connect
 * (which subscribes to `topics`, see ipm_receiver_connect). Caller destroys
 * *out. */
IPM_EXPORT ipm_status ipm_sender_open(const char *spec, ipm_sender **out);
IPM_EXPORT ipm_status ipm_receiver_open(const char *spec, ipm_receiver **out);

/* ----------------------------------------------------------- INI configs */

/* Load an INI file: one connection per section, plus optional global
 * settings in [ipm] that take effect process-wide: plugin_path, and the
 * settings that plugins declare (e.g. the Zmq family's zmq_io_threads); an
 * [ipm] key that neither the core nor a plugin of the file's types declares
 * is IPM_ECONFIG with a suggestion. Syntax errors are IPM_ECONFIG naming file and line.
 * Caller frees *out with ipm_config_free. */
IPM_EXPORT ipm_status ipm_config_load(const char *path, ipm_config **out);

/* Number of connection sections (not counting [ipm]) and the i-th name. */
IPM_EXPORT size_t ipm_config_count(const ipm_config *c);
IPM_EXPORT const char *ipm_config_name_at(const ipm_config *c, size_t i);

/* A copy of section `name`'s keys (case-insensitive name); caller frees. */
IPM_EXPORT ipm_status ipm_config_params(const ipm_config *c, const char *name,
                                        ipm_params **out);

/* Create and connect the sender/receiver described by section `name`. The
 * receiver variant subscribes to `topics` as ipm_receiver_connect does. */
IPM_EXPORT ipm_status ipm_config_sender(const ipm_config *c, const char *name,
                                        ipm_sender **out);
IPM_EXPORT ipm_status ipm_config_receiver(const ipm_config *c, const char *name,
                                          ipm_receiver **out);

/* Check section `name` without connecting: its type loads, its keys are
 * known, and the plugin's check operation (if any) accepts the values.
 * Errors name the file and line ("f.ini:12: [name] key 'x': ..."). */
IPM_EXPORT ipm_status ipm_config_check(const ipm_config *c, const char *name);

/* Free c. Senders/receivers made from it are independent of it. NULL-safe. */
IPM_EXPORT void ipm_config_free(ipm_config *c);

#ifdef __cplusplus
}
#endif
#endif /* IPM_IPM_H */
