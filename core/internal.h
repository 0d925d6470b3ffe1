/*
 * internal.h — what the files of libipm.so share with each other and nothing
 * else. Functions named ipm__* cross files inside the core; none is exported.
 */
#ifndef IPM_CORE_INTERNAL_H
#define IPM_CORE_INTERNAL_H

#include <ipm/plugin.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* True if a plugin's own ops table (struct_size as the plugin built it)
 * reaches member m. Only the loader needs it: everything else uses the
 * loader's zero-extended copy, where absent members are NULL. */
#define IPM__OPS_HAS(o, m)                                                               \
    ((o)->struct_size >= offsetof(ipm_plugin_ops, m) + sizeof((o)->m))

/* Slice of a callback thread's receive: the longest it takes to notice that
 * its callback was unregistered (API.md asks for 100 ms at most). A message
 * still wakes the thread at once; the slice only bounds the stop latency. */
#define IPM__CALLBACK_SLICE_MS 50

/* Slices of a long ipm_receive (receiver.c): the longest a waiter takes to
 * notice that another thread is destroying its receiver. A message still
 * wakes the wait at once. */
#define IPM__RECEIVE_SLICE_MS 50

struct ipm_callback_worker; /* callback.c */

/* fork.c: the process that created an object. The generation is bumped in
 * every child by a pthread_atfork handler, so comparing it costs one relaxed
 * load of a global, not a getpid() system call per message. */
struct ipm__owner {
    unsigned generation;
    pid_t pid; /* for the message only */
};
extern _Atomic unsigned ipm__fork_generation;

/* Record the calling process as o's owner (registers the fork handler on
 * first use); IPM_ESYS if it cannot be registered. */
ipm_status ipm__fork_stamp(struct ipm__owner *o, const char *type);

/* True in a process other than the one that stamped o (a forked child). */
static inline bool ipm__forked(const struct ipm__owner *o)
{
    return atomic_load_explicit(&ipm__fork_generation, memory_order_relaxed) !=
           o->generation;
}

/* IPM_ESTATE "fn: this <type> was created in pid N and is used in pid M
 * after fork(); ...". */
ipm_status ipm__forked_error(const struct ipm__owner *o, const char *fn,
                             const char *type);

/* One buffer lent by ipm_sender_loan (loan.c). */
struct ipm__loan {
    void *buf;
    size_t size;
    bool heap; /* the core's fallback buffer, not the plugin's */
    struct ipm__loan *next;
};

struct ipm_sender {
    const ipm_plugin *plugin;
    void *state;
    /* plugin->ops->send, read once at create: one load per message instead
     * of three dependent ones. */
    ipm_status (*send)(void *state, const void *data, size_t size, const char *metadata,
                       size_t metadata_size, int timeout_ms);
    struct ipm__owner owner;
    bool connected;
    char *endpoint_hint; /* connection_string of the last connect, if the plugin has no
                            endpoint op */
    _Atomic uint64_t messages, bytes;
    struct ipm__loan *loans;       /* outstanding, newest first */
    struct ipm__loan *spare_loans; /* recycled records: no malloc per loan */
};

struct ipm_receiver {
    const ipm_plugin *plugin;
    void *state;
    /* plugin->ops->receive, read once at create (as ipm_sender's send). */
    ipm_status (*receive)(void *state, ipm_message *msg, int timeout_ms);
    struct ipm__owner owner;
    atomic_bool connected;
    char *endpoint_hint;
    _Atomic uint64_t messages, bytes;

    /* Serialises plugin operations between a callback thread and the
     * application's subscribe/unsubscribe/connect. Never held while a
     * callback runs. */
    pthread_mutex_t op_lock;

    /* Registration of a callback; reg_lock guards fn/user/worker. */
    pthread_mutex_t reg_lock;
    ipm_callback cb_fn;
    void *cb_user;
    atomic_bool cb_registered; /* ipm_receive returns IPM_ESTATE while set */
    struct ipm_callback_worker *worker;

    /* Destroy while another thread waits in ipm_receive (receiver.c): bit 0
     * of `inside` says the receiver is closing, the rest counts the threads
     * inside ipm_receive (in steps of 2). A waiter checks bit 0 between
     * slices of its wait; destroy sets it and waits on `left` (under
     * closing_lock) for the count to reach zero before the plugin's
     * destroy. One word, so that leaving tells atomically whether to signal. */
    atomic_uint inside;
    pthread_mutex_t closing_lock;
    pthread_cond_t left;
};

/* loader.c: load type and check that its role is one of the allowed ones
 * (bit mask of 1u << ipm_role), naming `want` ("a sender") in the error. */
ipm_status ipm__plugin_for_role(const char *type, unsigned roles, const char *want,
                                const ipm_plugin **out);
const char *ipm__role_name(uint32_t role);
/* The limits a descriptor states (defaults where it states none), refined
 * by the plugin's limits op for a connected state (NULL: not connected). */
void ipm__limits(const ipm_plugin *pl, const void *state, ipm_limits *out);

/* How many loaded plugins declare the [ipm] setting key (key may be NULL),
 * and up to cap of every declared setting into all (for suggestions),
 * their number in *nall. */
size_t ipm__settings_declared(const char *key, const char **all, size_t cap,
                              size_t *nall);
/* Load every plugin of every search directory (unusable ones are skipped),
 * so that the settings they declare are known. */
void ipm__plugin_load_all(void);

/* plugin_file.c: before dlopen runs anything of the file at path (a plugin
 * of type name): resolve it into real (cap bytes) and its identity into *id,
 * refuse it unless it is a regular file that only root or this process's
 * user can have written (the file and every directory above it), and
 * unless its ELF dynamic symbol table exports ipm_plugin_<name>. */
struct stat;
ipm_status ipm__plugin_file_check(const char *path, const char *name, char *real,
                                  size_t cap, struct stat *id);

/* loan.c: return every outstanding loan of s (before its plugin destroy);
 * in a forked child, free only the core's heap buffers and records. */
void ipm__loans_return_all(ipm_sender *s);
void ipm__loans_forget_all(ipm_sender *s);
/* error.c: true while the last error was set by ipm_set_timeout_reason
 * (a receive's slice said why it got nothing). */
bool ipm__last_error_is_reason(void);

/* error.c: IPM_EINVAL "fn: timeout N ms is invalid ..." for timeouts below
 * IPM_BLOCK (the only negative timeout). */
ipm_status ipm__bad_timeout(const char *fn, int timeout_ms);

/* Stats counters are written by the one thread that uses the object and
 * read by any: a relaxed load and store, no locked instruction on the hot
 * path. */
static inline void ipm__count(_Atomic uint64_t *counter, uint64_t by)
{
    atomic_store_explicit(counter,
                          atomic_load_explicit(counter, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

/* One message of size bytes sent by s (ipm_send and ipm_send_loan). */
static inline void ipm__sender_count(ipm_sender *s, size_t size)
{
    ipm__count(&s->messages, 1);
    ipm__count(&s->bytes, size);
}

/* settings.c: process-wide [ipm] settings and extra plugin directories. */
void ipm__setting_set(const char *key, const char *value);
void ipm__plugin_dir_add(const char *dir);
/* Copies the extra plugin directories, ':'-separated, into a malloc'd string
 * (NULL if none). */
char *ipm__plugin_dirs_copy(void);

/* suggest.c: the candidate closest to word by edit distance, or NULL if none
 * is close enough to be a plausible typo. */
const char *ipm__suggest(const char *word, const char *const *candidates, size_t n);

/* callback.c: start a worker for r's registered callback (reg_lock held);
 * detach r's worker (reg_lock held) and then, without the lock, stop it:
 * join it, or if called from its own callback, let it end by itself. */
ipm_status ipm__callback_start(ipm_receiver *r);
struct ipm_callback_worker *ipm__callback_detach(ipm_receiver *r);
void ipm__callback_finish(struct ipm_callback_worker *w);
/* In a forked child, where the worker's thread does not exist: free the
 * worker's memory without joining or touching its locks. */
void ipm__callback_forget(struct ipm_callback_worker *w);

/* A received message carries the plugin that filled it in opaque_[3], so
 * that ipm_message_release (message.c) needs nothing but the message, and
 * the process's fork generation in opaque_[2]: a message received before a
 * fork is released by the plugin in the parent only (for shm, a release
 * gives room back to the sender, and two releases of one message would give
 * it twice). */
#define IPM__MSG_GENERATION_SLOT 2
#define IPM__MSG_PLUGIN_SLOT 3

/* Receive through the plugin, tag the message for release and count it;
 * the caller has done the state checks. Shared by ipm_receive
 * (receiver.c) and the callback thread (callback.c); inline because it is
 * on every message's path, where a call layer is a measurable share of the
 * Zmq inproc cost. */
static inline ipm_status ipm__receive_raw(ipm_receiver *r, ipm_message *msg,
                                          int timeout_ms)
{
    memset(msg, 0, sizeof *msg);
    ipm_status st = r->receive(r->state, msg, timeout_ms);
    if (st != IPM_OK) {
        memset(msg, 0, sizeof *msg);
        return st;
    }
    if (!msg->metadata) {
        msg->metadata = "";
        msg->metadata_size = 0;
    }
    msg->opaque_[IPM__MSG_PLUGIN_SLOT] = (void *)(uintptr_t)r->plugin;
    msg->opaque_[IPM__MSG_GENERATION_SLOT] = (void *)(uintptr_t)r->owner.generation;
    ipm__count(&r->messages, 1);
    ipm__count(&r->bytes, msg->size);
    return IPM_OK;
}

/* open.c: create and connect from params with a `type` key (receivers also
 * subscribe to `topics`). */
ipm_status ipm__sender_from_params(const ipm_params *p, ipm_sender **out);
ipm_status ipm__receiver_from_params(const ipm_params *p, ipm_receiver **out);

/* params.c: strdup that reports ENOMEM through ipm_set_error. */
char *ipm__strdup(const char *s);

#endif
