/* loop_queue.c — the queue singleton shared by LoopSender and LoopReceiver. */
#define _GNU_SOURCE
#include "loop_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static ipm_status queue_create(void **obj, void *arg)
{
    struct loop_queue *q = calloc(1, sizeof *q);
    if (!q) return ipm_set_error(IPM_ENOMEM, "loop queue: out of memory");
    q->capacity = *(const size_t *)arg;

    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Waits are measured on the monotonic clock so that a wall-clock jump
     * neither shortens nor stretches a timeout. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, &attr);
    pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    *obj = q;
    return IPM_OK;
}

static void queue_destroy(void *obj)
{
    struct loop_queue *q = obj;
    struct loop_node *n = q->head;
    while (n) {
        struct loop_node *next = n->next;
        free(n);
        n = next;
    }
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

ipm_status loop_conn_connect(struct loop_conn *c, const ipm_params *p, const char *who)
{
    if (c->queue)
        return ipm_set_error(IPM_ENOTSUP, "%s: already connected to %s; create a new one",
                             who, c->endpoint);

    const char *cs = ipm_params_get_str(p, "connection_string", NULL);
    size_t scheme = strlen(LOOP_SCHEME);
    if (!cs)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: missing key 'connection_string' (loop://NAME)", who);
    if (strncmp(cs, LOOP_SCHEME, scheme) != 0 || cs[scheme] == '\0')
        return ipm_set_error(IPM_ECONFIG,
                             "%s: connection_string '%s' is not of the form loop://NAME",
                             who, cs);

    long long cap;
    ipm_status st = ipm_params_get_int(p, "capacity", LOOP_DEFAULT_CAPACITY, 1,
                                       1000 * 1000 * 1000, &cap);
    if (st != IPM_OK) return st;

    char *singleton = join("ipm-test-loop:", cs + scheme);
    char *endpoint = join(cs, "");
    if (!singleton || !endpoint) {
        free(singleton);
        free(endpoint);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory connecting to %s", who, cs);
    }
    size_t capacity = (size_t)cap;
    void *obj;
    st = ipm_singleton_acquire(singleton, queue_create, queue_destroy, &capacity, &obj);
    if (st != IPM_OK) {
        free(singleton);
        free(endpoint);
        return st;
    }
    c->queue = obj;
    c->singleton = singleton;
    c->endpoint = endpoint;
    return IPM_OK;
}

void loop_conn_destroy(struct loop_conn *c)
{
    if (!c) return;
    if (c->queue) ipm_singleton_release(c->singleton);
    free(c->singleton);
    free(c->endpoint);
    free(c);
}

struct timespec loop_deadline(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
