/* loop_receiver.c — LoopReceiver: takes messages out of an in-process loop
 * queue. */
#define _GNU_SOURCE
#include "loop_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static ipm_status receiver_create(void **state)
{
    *state = calloc(1, sizeof(struct loop_conn));
    return *state ? IPM_OK : ipm_set_error(IPM_ENOMEM, "LoopReceiver: out of memory");
}

static ipm_status receiver_connect(void *state, const ipm_params *p)
{
    return loop_conn_connect(state, p, "LoopReceiver");
}

static const char *receiver_endpoint(const void *state)
{
    return ((const struct loop_conn *)state)->endpoint;
}

static void receiver_destroy(void *state)
{
    loop_conn_destroy(state);
}

static ipm_status receiver_receive(void *state, ipm_message *msg, int timeout_ms)
{
    struct loop_conn *c = state;
    struct loop_queue *q = c->queue;

    struct timespec deadline = loop_deadline(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&q->lock);
    int rc = 0;
    while (q->count == 0 && timeout_ms != 0 && rc != ETIMEDOUT) {
        if (timeout_ms < 0)
            pthread_cond_wait(&q->not_empty, &q->lock);
        else
            rc = pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline);
    }
    struct loop_node *n = q->head;
    if (n) {
        q->head = n->next;
        if (!q->head) q->tail = NULL;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);

    if (!n)
        return ipm_set_error(IPM_ETIMEDOUT, "LoopReceiver: nothing on %s within %d ms",
                             c->endpoint, timeout_ms);
    /* The node itself is the message buffer; release frees it, so a message
     * outlives the receiver and the queue. */
    msg->data = n->bytes;
    msg->size = n->size;
    msg->metadata = n->bytes + n->size;
    msg->metadata_size = n->metadata_size;
    msg->opaque_[0] = n;
    return IPM_OK;
}

static void receiver_release(ipm_message *msg)
{
    free(msg->opaque_[0]);
    msg->opaque_[0] = NULL;
}

static const ipm_plugin_ops ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = receiver_create,
    .connect = receiver_connect,
    .endpoint = receiver_endpoint,
    .destroy = receiver_destroy,
    .receive = receiver_receive,
    .release = receiver_release,
};

static const char *const keys[] = {"connection_string", "capacity", NULL};

static const ipm_plugin descriptor = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_RECEIVER,
    .name = "LoopReceiver",
    .version = "1.0.0",
    .description = "in-process loopback queue (test fixture), loop://NAME",
    .keys = keys,
    .ops = &ops,
};

IPM_PLUGIN_DEFINE(LoopReceiver, &descriptor)
