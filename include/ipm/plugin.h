/*
 * plugin.h — the transport plugin ABI of ipm, and the helpers libipm.so
 * exports for plugin authors. Applications need only ipm/ipm.h.
 *
 * A plugin is a shared object libipm_<Type>.so that exports exactly one
 * symbol, ipm_plugin_<Type>, returning a static ipm_plugin descriptor:
 *
 *     static const ipm_plugin_ops ops = { .struct_size = sizeof ops, ... };
 *     static const char *const keys[] = { "connection_string", NULL };
 *     static const ipm_plugin desc = {
 *         IPM_PLUGIN_HEADER_INIT, .role = IPM_ROLE_SENDER, .name = "MySender",
 *         .version = "1.0.0", .description = "...", .keys = keys, .ops = &ops };
 *     IPM_PLUGIN_DEFINE(MySender, &desc)
 *
 * Build it with -fvisibility=hidden and link it against libipm.so with
 * -Wl,--no-undefined (CMake: ipm_add_plugin(MySender SOURCES ...)).
 *
 * The core wraps every call with the checks of the contract (NULL handles and
 * data, state before connect, callback ownership, stats, message release), so
 * a plugin implements transport logic only. The core never calls one plugin
 * object from two threads at once.
 *
 * ABI versioning: structs grow only at their end. A plugin built for ABI
 * MAJOR.MINOR loads into a core of the same MAJOR and a MINOR at least as new.
 * Every struct begins (after the magic) with its own struct_size so that the
 * core can tell which members a plugin knows about: members past a plugin's
 * struct_size read as NULL (the core copies and zero-extends both structs).
 * ABI 1.0 ends at `dropped` (ops) and `ops` (descriptor); 1.1 appends the
 * members marked "ABI 1.1" below. Nothing of 1.0 ever changes.
 *
 * Conventions for plugin code (all families follow them):
 *  - EINTR: a wait interrupted by a signal is resumed with the time that is
 *    left (ipm_remaining_ms / ipm_deadline_timespec of the same deadline); it
 *    is never reported as a failure or as a timeout.
 *  - Kernel and resource limits (descriptors, memory, queue counts, sysctls,
 *    ulimits): the status is the operation's own (IPM_ECONNECT at connect,
 *    IPM_ENOMEM for memory, IPM_ESYS otherwise) and the message names the
 *    limit and how to raise it ("fs.mqueue.msg_max is 10; raise it with
 *    sysctl"). Check what can be checked before calling a library that would
 *    abort on it.
 *  - Foreign input: a message from a peer that does not speak ipm's wire form
 *    (a plain socket, a stock client of the transport) is delivered as data
 *    with empty metadata, never dropped and never an error; bytes that are
 *    not even a message of the transport are refused by the transport.
 *  - Everything another process can write (a shared segment, a frame) is
 *    input: validate lengths and positions before use and bound every walk.
 */
#ifndef IPM_PLUGIN_H
#define IPM_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <ipm/ipm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IPM_PLUGIN_MAGIC 0x50504D49u /* "IMPP" little-endian: ipm plugin */
#define IPM_PLUGIN_ABI_MAJOR 1
#define IPM_PLUGIN_ABI_MINOR 1

typedef enum ipm_role {
    IPM_ROLE_SENDER = 1,    /* ipm_send: ZmqSender, ZmqPublisher, ...      */
    IPM_ROLE_RECEIVER = 2,  /* ipm_receive: ZmqReceiver, ...               */
    IPM_ROLE_SUBSCRIBER = 3 /* a receiver that also subscribes by topic    */
} ipm_role;

/*
 * Operations of one transport. `state` is the plugin's own per-object
 * pointer made by create. Unless said otherwise an operation is required for
 * the roles listed with it; optional ones may be NULL.
 * Errors: every failing operation returns a status other than IPM_OK and
 * first calls ipm_set_error() with a sentence naming the endpoint or key.
 */
typedef struct ipm_plugin_ops {
    uint32_t struct_size; /* sizeof(ipm_plugin_ops) the plugin was built with */

    /* All roles. Allocate the per-object state in *state. Must not block. */
    ipm_status (*create)(void **state);

    /* All roles. Bind or connect as params p say (p has already been checked
     * against the descriptor's keys; p is only borrowed for the call). May
     * block for name resolution, never for a peer. Called again on a connected
     * object it may add endpoints (subscribers) or return IPM_ENOTSUP. */
    ipm_status (*connect)(void *state, const ipm_params *p);

    /* Optional, all roles. The resolved endpoint after connect, or NULL.
     * Owned by state; valid until the next connect or destroy. */
    const char *(*endpoint)(const void *state);

    /* All roles. Close and free everything state owns, bounded in time (the
     * transport's linger). Messages already received may outlive state. */
    void (*destroy)(void *state);

    /* Sender. Hand size bytes at data (data may be NULL only if size is 0) to
     * the transport with metadata (never NULL, metadata_size = strlen) within
     * timeout_ms (IPM_BLOCK: forever). Copy or hand over the bytes before
     * returning: the caller reuses data. On timeout return IPM_ETIMEDOUT with
     * nothing sent, partly or wholly. Wait in the kernel, never by spinning or
     * sleeping in steps. */
    ipm_status (*send)(void *state, const void *data, size_t size, const char *metadata,
                       size_t metadata_size, int timeout_ms);

    /* Receiver and subscriber. Wait up to timeout_ms (IPM_BLOCK: forever) for
     * one message and fill msg->data, size, metadata (non-NULL,
     * NUL-terminated), metadata_size. The plugin may use msg->opaque_[0] and
     * opaque_[1] to find its buffers again in release; opaque_[2..3] belong to
     * the core. IPM_ETIMEDOUT no sooner than timeout_ms (see
     * ipm_deadline_ns) and no later than 20 ms after it; a message arriving
     * during the wait must wake it at once. The core takes an application's
     * long wait (IPM_BLOCK included) as receives of at most 50 ms each, so
     * that a destroy from another thread is noticed between them: a receive
     * whose time ran out must return IPM_ETIMEDOUT (its message may say
     * why); any other status is an event the core returns to the
     * application at once. */
    ipm_status (*receive)(void *state, ipm_message *msg, int timeout_ms);

    /* Receiver and subscriber. Free what receive put in msg. Called exactly
     * once per successful receive, possibly after destroy(state) and from any
     * thread, so it must not use the receiver's state. */
    void (*release)(ipm_message *msg);

    /* Subscriber. Add/remove a topic prefix ("" = all). Allowed before
     * connect; must then apply to later connects. Never called concurrently
     * with receive on the same state. */
    ipm_status (*subscribe)(void *state, const char *topic);
    ipm_status (*unsubscribe)(void *state, const char *topic);

    /* Optional, subscriber. Messages lost so far because this subscriber fell
     * behind. May be called from another thread than receive. */
    uint64_t (*dropped)(const void *state);

    /* ---- ABI 1.1: every member below is optional (NULL if absent). ---- */

    /* Validate the values of p (ranges, endpoint syntax, files named) without
     * binding, connecting or touching any shared resource; p has already been
     * checked against the descriptor's keys. Used by `ipm-plugins check`.
     * Returns IPM_ECONFIG naming the key ("key 'x': ...") on a bad value. */
    ipm_status (*check)(const ipm_params *p);

    /* The limits of this connected object, refining the descriptor's (e.g. a
     * largest message set by a buffer_size key). Fill *out; must not block. */
    void (*limits)(const void *state, ipm_limits *out);

    /* Sender. Lend a writable buffer of at least size bytes, placed where the
     * transport wants the bytes, waiting up to timeout_ms for room
     * (IPM_ETIMEDOUT: nothing lent). The three loan operations come
     * together or not at all; without them the core lends a heap buffer and
     * sends it with `send`. The core tracks the loans and returns every
     * outstanding one (loan_return) before destroy. */
    ipm_status (*loan)(void *state, size_t size, int timeout_ms, void **buf);

    /* Sender. Send the first size bytes of loaned buffer buf (size at most
     * the loaned size; the core checks) with metadata, as `send` would. On
     * IPM_OK the buffer is the transport's again; on any failure it is still
     * on loan to the caller, untouched. */
    ipm_status (*send_loan)(void *state, void *buf, size_t size, const char *metadata,
                            size_t metadata_size, int timeout_ms);

    /* Sender. Take back an unsent loaned buffer. Must not block. */
    void (*loan_return)(void *state, void *buf);
} ipm_plugin_ops;

/* Size of the ABI 1.0 ops table: what every 1.x plugin has at the least. */
#define IPM_PLUGIN_OPS_SIZE_1_0                                                          \
    (offsetof(ipm_plugin_ops, dropped) + sizeof(void (*)(void)))

/* The descriptor a plugin's factory returns. Static storage, never freed. */
typedef struct ipm_plugin {
    uint32_t magic;            /* IPM_PLUGIN_MAGIC */
    uint16_t abi_major;        /* IPM_PLUGIN_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;        /* IPM_PLUGIN_ABI_MINOR the plugin was built with */
    uint32_t struct_size;      /* sizeof(ipm_plugin) the plugin was built with */
    uint32_t role;             /* an ipm_role */
    const char *name;          /* must equal <Type> of libipm_<Type>.so */
    const char *version;       /* the plugin's own version, e.g. "1.2.0" */
    const char *description;   /* one line */
    const char *const *keys;   /* NULL-terminated keys accepted by connect */
    const ipm_plugin_ops *ops; /* never NULL */

    /* ---- ABI 1.1: every member below is optional (NULL if absent). ---- */

    /* NULL-terminated process-wide settings this plugin reads with
     * ipm_setting_get (an INI file's [ipm] section), e.g. "zmq_io_threads".
     * An [ipm] key that no plugin declares is IPM_ECONFIG. Names should start
     * with the family's prefix so that families never clash. */
    const char *const *settings;

    /* What the transport states about itself before connect: largest message,
     * metadata limit, features. NULL: no limits stated and no features
     * (max_message_size and max_metadata_size IPM_LIMIT_NONE, features 0).
     * ipm-conformance tests at these limits. */
    const ipm_limits *limits;
} ipm_plugin;

/* Size of the ABI 1.0 descriptor: what every 1.x plugin has at the least. */
#define IPM_PLUGIN_SIZE_1_0 (offsetof(ipm_plugin, ops) + sizeof(void *))

/* The first members of every descriptor, in a designated initialiser. */
#define IPM_PLUGIN_HEADER_INIT                                                           \
    .magic = IPM_PLUGIN_MAGIC, .abi_major = IPM_PLUGIN_ABI_MAJOR,                        \
    .abi_minor = IPM_PLUGIN_ABI_MINOR, .struct_size = sizeof(ipm_plugin)

/* Define and export the factory symbol ipm_plugin_<type>. */
#define IPM_PLUGIN_DEFINE(type, descriptor)                                              \
    IPM_EXPORT const ipm_plugin *ipm_plugin_##type(void);                                \
    IPM_EXPORT const ipm_plugin *ipm_plugin_##type(void)                                 \
    {                                                                                    \
        return (descriptor);                                                             \
    }

typedef const ipm_plugin *(*ipm_plugin_factory)(void);

/* ------------------------------------------------------- loader access */

/* Find, load and validate the plugin for type (same rules and messages as
 * ipm_sender_create), caching it for the life of the process. *out is
 * static. Thread-safe. */
IPM_EXPORT ipm_status ipm_plugin_load(const char *type, const ipm_plugin **out);

/* Register a descriptor linked into the program itself (static plugins); it
 * is validated like a loaded one and then found by name before any search.
 * The descriptor must outlive the process's use of ipm. Thread-safe. */
IPM_EXPORT ipm_status ipm_plugin_register(const ipm_plugin *desc);

/* Path a cached plugin was loaded from ("(static)" if registered), or NULL. */
IPM_EXPORT const char *ipm_plugin_loaded_path(const char *type);

/* The plugin search directories in order, ':'-separated, into buf (cap bytes,
 * truncated and NUL-terminated). Returns the full length, like snprintf. */
IPM_EXPORT size_t ipm_plugin_search_path(char *buf, size_t cap);

/* Check that every key of p is known to plugin desc or to the core (type,
 * topics): IPM_ECONFIG "unknown key 'x' for Type; did you mean 'y'?". */
IPM_EXPORT ipm_status ipm_params_check_keys(const ipm_params *p, const ipm_plugin *desc);

/* ------------------------------------------------------------- helpers */

/* Record a formatted message as the calling thread's last error and return
 * s, so that a plugin can write `return ipm_set_error(IPM_ECONNECT, ...)`. */
IPM_EXPORT ipm_status ipm_set_error(ipm_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Return IPM_ETIMEDOUT from a receive that got nothing, with a sentence
 * saying why when the transport knows more than "nothing arrived" (its peer
 * is gone, the connection is reconnecting, a cluster is electing a
 * leader). It becomes the last error, as with ipm_set_error, and is kept
 * as the wait's reason: the core takes an application's long wait as
 * slices (see receive), words the timeout itself when the whole wait runs
 * out, and adds the reason the last slice gave ("...; the last try said:
 * <reason>"). A plain timeout needs no reason: use ipm_set_error. Added
 * after libipm 1.0: a plugin that calls it needs a libipm that has it. */
IPM_EXPORT ipm_status ipm_set_timeout_reason(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Put "context: " before the calling thread's last error, e.g. to add the
 * endpoint to a getter's message: ipm_prefix_error("ZmqReceiver %s", ep).
 * Keeps the status the failing call returned. */
IPM_EXPORT void ipm_prefix_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Typed getters. A missing key yields def with IPM_OK; a present key that
 * does not parse, or lies outside [min, max], is IPM_ECONFIG naming the key
 * and the value. get_size accepts suffixes k, M, G (x1000) and Ki, Mi, Gi
 * (x1024). get_bool accepts 1/0, true/false, yes/no, on/off. */
IPM_EXPORT ipm_status ipm_params_get_int(const ipm_params *p, const char *key,
                                         long long def, long long min, long long max,
                                         long long *out);
/* The size syntax of ipm_params_get_size, for tools and plugins that take
 * sizes elsewhere (command lines): "4096", "4k" (4000), "4Ki" (4096), "1MiB".
 * False for anything else or a value over UINT64_MAX. */
IPM_EXPORT bool ipm_parse_size(const char *text, uint64_t *out);
IPM_EXPORT ipm_status ipm_params_get_size(const ipm_params *p, const char *key,
                                          uint64_t def, uint64_t min, uint64_t max,
                                          uint64_t *out);
IPM_EXPORT ipm_status ipm_params_get_bool(const ipm_params *p, const char *key, bool def,
                                          bool *out);
/* A file mode for the files a transport creates (shared segments, socket
 * files, queues): key holds an octal mode such as 0640; def if absent. The
 * mode must lie within 0..0777 and include every bit of need (e.g. 0600:
 * the owner must read and write, or the creator could not use its own
 * file). IPM_ECONFIG naming the key, the value and the rule otherwise. One
 * rule for every family's `permissions` key. */
IPM_EXPORT ipm_status ipm_params_get_mode(const ipm_params *p, const char *key,
                                          unsigned def, unsigned need, unsigned *out);

/* Value of key, or def if absent. Owned by p. */
IPM_EXPORT const char *ipm_params_get_str(const ipm_params *p, const char *key,
                                          const char *def);

/* Comma-separated list value of key, split and trimmed into *items (a
 * NULL-terminated array of *count strings, one allocation: free it with
 * free(*items)). An absent key gives IPM_OK with *items NULL and *count 0;
 * a present but empty (or all-blank) value gives a non-NULL array with
 * *count 0, so callers tell "not given" from "empty". An empty item between
 * commas ("a,,b", "a,") is IPM_ECONFIG naming the key and the item's
 * position. Callers decide what an empty list means: for endpoint lists it
 * is IPM_ECONFIG (one rule for every family), for topics it means all. */
IPM_EXPORT ipm_status ipm_params_get_list(const ipm_params *p, const char *key,
                                          char ***items, size_t *count);

/* The endpoints of p for a type that takes one or many (subscribers): the
 * items of connection_string, then those of connection_strings, each split
 * as ipm_params_get_list does, duplicates removed; one allocation, free(*items).
 * No endpoint at all (both absent or empty) is IPM_ECONFIG naming type.
 * Every family applies the same rule with it: a connect takes all of the
 * list or, if one endpoint fails, undoes what it added and takes none. */
IPM_EXPORT ipm_status ipm_params_get_endpoints(const ipm_params *p, const char *type,
                                               char ***items, size_t *count);

/* Process-wide settings from the [ipm] section of loaded INI files, declared
 * by the plugins that read them (ipm_plugin.settings). Copies the value into
 * buf (cap bytes) and returns true, or returns false if it was never set.
 * Thread-safe. */
IPM_EXPORT bool ipm_setting_get(const char *key, char *buf, size_t cap);

/*
 * Process-wide singletons shared between plugins (one ZeroMQ context for all
 * Zmq plugins, so inproc:// works between them). acquire returns the object
 * registered under name, creating it with create(&obj, arg) if absent, and
 * counts a reference; release drops one and calls destroy(obj) at zero.
 * create and destroy run under the registry lock: keep them short and do not
 * call back into the registry. Thread-safe.
 */
typedef ipm_status (*ipm_singleton_create_fn)(void **obj, void *arg);
typedef void (*ipm_singleton_destroy_fn)(void *obj);
IPM_EXPORT ipm_status ipm_singleton_acquire(const char *name,
                                            ipm_singleton_create_fn create,
                                            ipm_singleton_destroy_fn destroy, void *arg,
                                            void **out);
IPM_EXPORT void ipm_singleton_release(const char *name);

/* Monotonic clock in ns, and deadlines for timeout_ms arguments: a deadline
 * is -1 for IPM_BLOCK (or any negative timeout), else now + timeout.
 * ipm_remaining_ms rounds up, so waiting that long never ends early; it is
 * -1 for no deadline and 0 once the deadline has passed. */
IPM_EXPORT int64_t ipm_now_ns(void);
IPM_EXPORT int64_t ipm_deadline_ns(int timeout_ms);
IPM_EXPORT int ipm_remaining_ms(int64_t deadline_ns);

/* An ipm_deadline_ns deadline as an absolute time on clock clock_id (a
 * clockid_t: CLOCK_REALTIME for mq_timedsend and sem_timedwait,
 * CLOCK_MONOTONIC for a condition variable made with that clock), for the
 * APIs that take one. Returns false, leaving *out untouched, for no deadline
 * (-1: wait forever); a deadline already past gives a time already past,
 * which such APIs treat as "try once". */
IPM_EXPORT bool ipm_deadline_timespec(int64_t deadline_ns, int clock_id,
                                      struct timespec *out);

/* Logging, off unless IPM_LOG=debug|info|warn; goes to stderr. */
typedef enum ipm_log_level {
    IPM_LOG_DEBUG = 1,
    IPM_LOG_INFO,
    IPM_LOG_WARN
} ipm_log_level;
IPM_EXPORT void ipm_log(ipm_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* IPM_PLUGIN_H */
