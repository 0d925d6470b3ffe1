/*
 * loop_queue.h — the in-memory queue shared by the LoopSender and
 * LoopReceiver test plugins.
 *
 * The two plugins are separate shared objects that know nothing of each
 * other's symbols (both are built with hidden visibility). They meet through
 * the core's process-wide singleton registry: the queue for connection string
 * "loop://NAME" is the singleton "ipm-test-loop:NAME", created by whichever
 * side connects first and freed when the last one is destroyed. This is the
 * proof that plugin.h alone is enough to write a transport.
 *
 * The queue is a bounded FIFO of heap nodes guarded by one mutex, with two
 * condition variables (CLOCK_MONOTONIC) so that a blocked send or receive
 * sleeps in the kernel and wakes as soon as the other side acts.
 */
#ifndef IPM_TEST_LOOP_QUEUE_H
#define IPM_TEST_LOOP_QUEUE_H

#include <ipm/plugin.h>

#include <pthread.h>

#define LOOP_SCHEME "loop://"
#define LOOP_DEFAULT_CAPACITY 1000

/* One message: data then NUL-terminated metadata in bytes[]. Owned by the
 * queue while queued, by the receiving ipm_message after receive. */
struct loop_node {
    struct loop_node *next;
    size_t size;
    size_t metadata_size;
    char bytes[];
};

struct loop_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    size_t count;
    size_t capacity;
    struct loop_node *head, *tail;
};

/* Connection state of one sender or receiver. */
struct loop_conn {
    struct loop_queue *queue; /* NULL until connected */
    char *singleton;          /* "ipm-test-loop:NAME" */
    char *endpoint;           /* "loop://NAME" */
};

/* Parse p's connection_string and capacity, acquire the queue (creating it if
 * this is the first user) and fill c. `who` names the plugin in errors.
 * IPM_ECONFIG for a malformed connection string, IPM_ENOTSUP if c is already
 * connected. */
ipm_status loop_conn_connect(struct loop_conn *c, const ipm_params *p, const char *who);

/* Drop c's reference to its queue (freeing the queue and every message still
 * in it if it was the last) and free c. NULL-safe. */
void loop_conn_destroy(struct loop_conn *c);

/* Absolute CLOCK_MONOTONIC time timeout_ms from now, for
 * pthread_cond_timedwait. */
struct timespec loop_deadline(int timeout_ms);

#endif
