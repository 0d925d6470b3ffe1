/* loop_sender.c — LoopSender: puts messages into an in-process loop queue. */
#define _GNU_SOURCE
#include "loop_queue.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ipm_status sender_create(void **state)
{
    *state = calloc(1, sizeof(struct loop_conn));
    return *state ? IPM_OK : ipm_set_error(IPM_ENOMEM, "LoopSender: out of memory");
}

static ipm_status sender_connect(void *state, const ipm_params *p)
{
    return loop_conn_connect(state, p, "LoopSender");
}

static const char *sender_endpoint(const void *state)
{
    return ((const struct loop_conn *)state)->endpoint;
}

static void sender_destroy(void *state)
{
    loop_conn_destroy(state);
}

static ipm_status sender_send(void *state, const void *data, size_t size,
                              const char *metadata, size_t metadata_size, int timeout_ms)
{
    struct loop_conn *c = state;
    struct loop_queue *q = c->queue;

    if (size > SIZE_MAX - sizeof(struct loop_node) - metadata_size - 1)
        return ipm_set_error(IPM_ETOOBIG, "LoopSender: %zu bytes do not fit in memory",
                             size);
    /* Copy before taking the lock: the caller may reuse data once we return,
     * and the copy should not hold up the receiver. */
    struct loop_node *n = malloc(sizeof *n + size + metadata_size + 1);
    if (!n)
        return ipm_set_error(IPM_ENOMEM,
                             "LoopSender: no memory for a %zu-byte message on %s", size,
                             c->endpoint);
    n->next = NULL;
    n->size = size;
    n->metadata_size = metadata_size;
    if (size) memcpy(n->bytes, data, size);
    memcpy(n->bytes + size, metadata, metadata_size + 1);

    struct timespec deadline = loop_deadline(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&q->lock);
    int rc = 0;
    while (q->count >= q->capacity && timeout_ms != 0 && rc != ETIMEDOUT) {
        if (timeout_ms < 0)
            pthread_cond_wait(&q->not_full, &q->lock);
        else
            rc = pthread_cond_timedwait(&q->not_full, &q->lock, &deadline);
    }
    if (q->count >= q->capacity) {
        size_t capacity = q->capacity;
        pthread_mutex_unlock(&q->lock);
        free(n);
        return ipm_set_error(IPM_ETIMEDOUT,
                             "LoopSender: queue %s stayed full (capacity %zu) for %d ms",
                             c->endpoint, capacity, timeout_ms);
    }
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return IPM_OK;
}

static const ipm_plugin_ops ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = sender_create,
    .connect = sender_connect,
    .endpoint = sender_endpoint,
    .destroy = sender_destroy,
    .send = sender_send,
};

static const char *const keys[] = {"connection_string", "capacity", NULL};
/* A process-wide [ipm] setting, so that tests of the settings need no
 * shipped family (the loop transport does not use it). */
static const char *const settings[] = {"loop_window", NULL};

static const ipm_plugin descriptor = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "LoopSender",
    .version = "1.0.0",
    .description = "in-process loopback queue (test fixture), loop://NAME",
    .keys = keys,
    .ops = &ops,
    .settings = settings,
};

IPM_PLUGIN_DEFINE(LoopSender, &descriptor)
