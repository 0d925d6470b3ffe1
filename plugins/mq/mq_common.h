/*
 * mq_common.h — what MqSender and MqReceiver share: the endpoint and keys,
 * the wire form of a message in a POSIX message queue, the receiver's claim
 * on a queue name (a locked file in /dev/shm), the messages handed out by
 * receive, and the words for the kernel's limits.
 *
 * Each plugin .so links its own copy of these (hidden) functions. docs/mq.md
 * describes the wire form, who owns a queue, and the limits for users.
 *
 * Wire form (one mq message = one ipm message), all of it input to the
 * receiver and validated before use:
 *
 *     offset 0  4 bytes  magic 0x89 'I' 'Q' 'M' (the high first byte keeps
 *                        text from ever matching)
 *            4  1 byte   version, 1
 *            5  1 byte   flags, 0
 *            6  2 bytes  metadata length L, little-endian, at most 255
 *            8  size     data
 *     8 + size  L        metadata (no NUL)
 *
 * Data before metadata, so that the data always starts at offset 8 whatever
 * the metadata. Anything else in the queue (shorter than 8 bytes, another
 * magic or version, L over 255 or over what follows the header) comes from a
 * plain mq_send peer and is delivered whole as data with empty metadata.
 * Every message is sent with priority 0, so the queue is plain FIFO: in
 * order per sender, and in the kernel's order of arrival across senders.
 */
#ifndef IPM_MQ_COMMON_H
#define IPM_MQ_COMMON_H

#include <mqueue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ipm/plugin.h>

#define IPM_MQ_HEADER 8u         /* bytes before the data */
#define IPM_MQ_MAX_METADATA 255u /* bytes of metadata, without NUL */
/* Room every queue message keeps beside the data: header and metadata. */
#define IPM_MQ_OVERHEAD (IPM_MQ_HEADER + IPM_MQ_MAX_METADATA)
#define IPM_MQ_VERSION 1u
#define IPM_MQ_NAME_MAX 200            /* NAME of mq://NAME */
#define IPM_MQ_DEFAULT_MAX_MESSAGES 10 /* Linux's fs.mqueue.msg_max default */
#define IPM_MQ_DEFAULT_MAX_MESSAGE 4096u
/* Linux's HARD_MSGMAX and HARD_MSGSIZEMAX: not even a privileged process
 * gets more, so these bound the keys. */
#define IPM_MQ_HARD_MAX_MESSAGES 65536
#define IPM_MQ_HARD_MSGSIZE (16u * 1024 * 1024)
/* A sender waiting on a full queue looks at its receiver this often. */
#define IPM_MQ_LIVENESS_MS 100
/* A sender checks this often that its queue still has its name. */
#define IPM_MQ_RELINK_NS (10 * 1000 * 1000ll)

/* The limits both types state before connect (the default queue). */
#define IPM_MQ_LIMITS                                                                    \
    {                                                                                    \
        IPM_MQ_DEFAULT_MAX_MESSAGE, IPM_MQ_MAX_METADATA,                                 \
            IPM_FEATURE_CROSS_PROCESS | IPM_FEATURE_FAN_IN, 0                            \
    }

extern const unsigned char ipm__mq_magic[4];

/* Settings from the connection parameters. */
typedef struct ipm__mq_config {
    char name[IPM_MQ_NAME_MAX + 1];     /* NAME */
    char qname[IPM_MQ_NAME_MAX + 2];    /* "/NAME", for mq_open */
    char endpoint[IPM_MQ_NAME_MAX + 6]; /* "mq://NAME" */
    long max_messages;                  /* receiver: mq_maxmsg */
    uint64_t max_message_size;          /* receiver: data bytes */
    unsigned mode;                      /* receiver: permissions */
    bool keep_queue;                    /* receiver: leave it on destroy */
} ipm__mq_config;

/* Check "mq://NAME" and fill c->name, qname, endpoint. IPM_ECONFIG. */
ipm_status ipm__mq_parse_name(const char *endpoint, const char *type, ipm__mq_config *c);

/* Parse connection_string and, when receiver, max_messages,
 * max_message_size, permissions and keep_queue. IPM_ECONFIG naming the key.
 * check_only (the check op): a missing connection_string is no error. */
ipm_status ipm__mq_parse_config(const ipm_params *p, const char *type, bool receiver,
                                bool check_only, ipm__mq_config *out);

/* Largest data size a queue with message size msgsize carries. */
static inline uint64_t ipm__mq_max_data(long msgsize)
{
    return msgsize > (long)IPM_MQ_OVERHEAD ? (uint64_t)msgsize - IPM_MQ_OVERHEAD : 0;
}

/* Write the header for size bytes of data and meta_size bytes of metadata
 * into hdr (IPM_MQ_HEADER bytes). */
void ipm__mq_put_header(unsigned char *hdr, size_t meta_size);

/* ---------------------------------------------------------- limits */

/* Read /proc/sys/fs/mqueue/<name> into *out; false if unreadable. */
bool ipm__mq_sysctl(const char *name, long *out);

/* The status and message for a failed mq_open (errno err) by type on c:
 * names the kernel limit that refused it (fs.mqueue.msg_max, msgsize_max,
 * queues_max, RLIMIT_MSGQUEUE, descriptors) with its value, what was asked,
 * and how to raise it. create: the receiver's O_CREAT with attr. */
ipm_status ipm__mq_open_error(const ipm__mq_config *c, const char *type, int err,
                              bool create, const struct mq_attr *attr);

/* ------------------------------------------------------ lock files */

/* Path of the receiver's lock file for NAME: /dev/shm/.ipm-mq.NAME.lock
 * (the leading '.' keeps it apart from every shm:// name). */
void ipm__mq_lock_path(const char *name, char *out, size_t cap);

/*
 * Claim NAME for this receiver: create or open the lock file (mode mode, ours
 * only), take an exclusive open-file-description lock on it without waiting,
 * and make sure the path still names the locked file (a leaving receiver
 * unlinks it). *fd gets the locked descriptor. A lock held elsewhere is
 * IPM_ECONNECT "in use by MqReceiver pid N".
 */
ipm_status ipm__mq_lock_take(const ipm__mq_config *c, const char *type, int *fd);

/* Record this process as the holder (the file's text is its pid); this also
 * tells senders waiting for the queue that it exists now. */
void ipm__mq_lock_announce(int fd);

/* Unlink the lock file (if it is still fd's) and close fd. */
void ipm__mq_lock_drop(const char *name, int fd);

/* Receiver liveness as a sender sees it: 1 a receiver holds the lock, 0 the
 * lock file exists and nobody holds it (its receiver is gone), -1 unknown
 * (no lock file: none yet, or a receiver that is not ipm). *fd caches an
 * open descriptor of the lock file (-1 before; the caller closes it). */
int ipm__mq_lock_held(const char *name, int *fd, int *pid);

/* ------------------------------------------------------- messages */

/*
 * Buffers handed out by receive, each of cap bytes. Release may come after
 * the receiver is destroyed and from any thread, so a buffer points to a
 * reference-counted pool that keeps one spare buffer (a receive/release loop
 * does not allocate). msg->opaque_[0] holds the buffer.
 */
typedef struct ipm__mq_pool ipm__mq_pool;
ipm__mq_pool *ipm__mq_pool_new(size_t cap);
void ipm__mq_pool_unref(ipm__mq_pool *p); /* NULL-safe */
/* A buffer of the pool's cap bytes, its bytes in *bytes; NULL if no memory. */
void *ipm__mq_buf_get(ipm__mq_pool *p, unsigned char **bytes);
/* Give a buffer back unused. */
void ipm__mq_buf_put(void *buf);
/* Fill msg from the n bytes received into buf, decoding the wire form (a
 * foreign message becomes data with empty metadata). buf has room for one
 * byte past n (the metadata's NUL). */
void ipm__mq_buf_fill(void *buf, size_t n, ipm_message *msg);
/* The release operation of MqReceiver. */
void ipm__mq_release(ipm_message *msg);

#endif /* IPM_MQ_COMMON_H */
