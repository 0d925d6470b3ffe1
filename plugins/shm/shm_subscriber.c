/*
 * shm_subscriber.c — ShmSubscriber: attaches to one or more ShmPublisher
 * rings (connection_string, or connection_strings comma-separated; connecting
 * again adds publishers), filters by topic prefix, and counts in `dropped`
 * every message it was overtaken on.
 *
 * Per publisher it keeps a link: the mapped ring, its subscriber claim and
 * its read position. A link whose publisher has not started yet, or has died
 * or closed, is detached and re-attached by name as soon as a new publisher
 * creates the ring (an inotify watch on /dev/shm wakes us), reading that new
 * ring from its first message.
 *
 * Status when nothing is received: IPM_ETIMEDOUT normally; IPM_ECONNECT once,
 * at once, when a publisher is found dead or closed (after every message it
 * left was read); while it has no successor, IPM_ETIMEDOUT saying so.
 * Sleeping happens in the kernel (futex on the ring, futex_waitv for several
 * rings, poll on the watch) in slices of at most 100 ms, after which owner
 * liveness is checked; that bounds how long a crash goes unnoticed.
 *
 * Rings are mapped read-only and must belong to our effective uid or to a
 * user of allowed_owners. A corrupt record is IPM_ESYS once; the link then
 * resynchronises at the publisher's head (shm_ring.h).
 */
#define _GNU_SOURCE
#include "shm_ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINKS 64

typedef struct sublink {
    char name[IPM_SHM_NAME_MAX + 1];
    ipm__shm_seg seg;
    bool attached;
    bool was_attached; /* lost its publisher and has none yet */
    int32_t owner_pid; /* for messages */
    ipm__shm_ring_reader rd;
} sublink;

typedef struct topics {
    char **v;
    size_t n;
    bool all; /* "" subscribed: no filtering */
} topics;

typedef struct subscriber {
    sublink *links[MAX_LINKS];
    int nlinks;
    int rr; /* round robin start */
    char endpoint[IPM_SHM_NAME_MAX + 8];
    int64_t spin_ns;
    ipm__shm_owners owners; /* allowed_owners */
    topics tp;
    ipm__shm_pool *pool;
    _Atomic uint64_t dropped;
    int watch_fd;
    bool need_attach;  /* a watch event (or start): retry detached links */
    bool lost_pending; /* report IPM_ECONNECT once */
    char lost_msg[512];
    int64_t last_check; /* last owner liveness check (ns) */
} subscriber;

/* ------------------------------------------------------------ topics */

static bool match(const void *arg, const char *meta, size_t meta_size)
{
    const topics *t = arg;
    if (t->all) return true;
    for (size_t i = 0; i < t->n; i++) {
        size_t n = strlen(t->v[i]);
        if (n <= meta_size && memcmp(t->v[i], meta, n) == 0) return true;
    }
    return false;
}

static void topics_update_all(topics *t)
{
    t->all = false;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i][0] == '\0') t->all = true;
}

static ipm_status sub_subscribe(void *state, const char *topic)
{
    subscriber *s = state;
    for (size_t i = 0; i < s->tp.n; i++)
        if (strcmp(s->tp.v[i], topic) == 0) return IPM_OK;
    char **v = realloc(s->tp.v, (s->tp.n + 1) * sizeof *v);
    if (v == NULL)
        return ipm_set_error(IPM_ENOMEM, "ShmSubscriber: out of memory for topic");
    s->tp.v = v;
    if ((v[s->tp.n] = strdup(topic)) == NULL)
        return ipm_set_error(IPM_ENOMEM, "ShmSubscriber: out of memory for topic");
    s->tp.n++;
    topics_update_all(&s->tp);
    return IPM_OK;
}

static ipm_status sub_unsubscribe(void *state, const char *topic)
{
    subscriber *s = state;
    for (size_t i = 0; i < s->tp.n; i++) {
        if (strcmp(s->tp.v[i], topic) == 0) {
            free(s->tp.v[i]);
            s->tp.v[i] = s->tp.v[--s->tp.n];
            break;
        }
    }
    topics_update_all(&s->tp);
    return IPM_OK;
}

/* ------------------------------------------------------------- links */

static void link_detach(sublink *l)
{
    if (!l->attached) return;
    ipm__shm_detach(&l->seg);
    l->attached = false;
}

/* Attach l by name. at_start: read the ring from its first message (a
 * publisher that started after we subscribed). IPM_ETIMEDOUT: nothing to
 * attach to yet. */
static ipm_status link_attach(sublink *l, const ipm__shm_owners *owners, bool at_start)
{
    ipm_status st =
        ipm__shm_attach(l->name, IPM_SHM_KIND_RING, "ShmSubscriber", owners, &l->seg);
    if (st != IPM_OK) return st;
    l->attached = true;
    l->was_attached = false;
    l->owner_pid = l->seg.hdr->owner_pid;
    if (at_start)
        ipm__shm_ring_reader_at_start(&l->seg, &l->rd);
    else
        ipm__shm_ring_reader_at_head(&l->seg, &l->rd);
    return IPM_OK;
}

/* The publisher of l is gone and everything it left has been read. */
static void link_lost(subscriber *s, sublink *l, bool closed)
{
    snprintf(
        s->lost_msg, sizeof s->lost_msg,
        "ShmSubscriber shm://%s: its ShmPublisher (pid %d) %s; a new ShmPublisher on "
        "the same name is attached automatically",
        l->name, (int)l->owner_pid, closed ? "closed the ring" : "died");
    if (!closed) ipm__shm_remove_if_dead(&l->seg, "ShmSubscriber");
    link_detach(l);
    l->was_attached = true;
    s->lost_pending = true;
    s->need_attach = true;
}

/* ---------------------------------------------------------- lifecycle */

static ipm_status sub_create(void **state)
{
    subscriber *s = calloc(1, sizeof *s);
    if (s == NULL || (s->pool = ipm__shm_pool_new()) == NULL) {
        free(s);
        return ipm_set_error(IPM_ENOMEM, "ShmSubscriber: out of memory");
    }
    s->watch_fd = -1;
    *state = s;
    return IPM_OK;
}

static ipm_status add_link(subscriber *s, const char *endpoint)
{
    char name[IPM_SHM_NAME_MAX + 1];
    ipm_status st = ipm__shm_parse_name(endpoint, "ShmSubscriber", name);
    if (st != IPM_OK) return st;
    for (int i = 0; i < s->nlinks; i++)
        if (strcmp(s->links[i]->name, name) == 0)
            return IPM_OK; /* already connected to it */
    if (s->nlinks == MAX_LINKS)
        return ipm_set_error(IPM_ECONNECT,
                             "ShmSubscriber: at most %d publishers per subscriber",
                             MAX_LINKS);
    sublink *l = calloc(1, sizeof *l);
    if (l == NULL) return ipm_set_error(IPM_ENOMEM, "ShmSubscriber: out of memory");
    memcpy(l->name, name, sizeof name);
    l->seg.fd = -1;
    /* Arm the watch before looking, so a publisher created right after the
     * look still wakes us. */
    ipm__shm_watch_wait(&s->watch_fd, 0);
    st = link_attach(l, &s->owners, false);
    if (st != IPM_OK && st != IPM_ETIMEDOUT) {
        free(l);
        return st;
    }
    s->links[s->nlinks++] = l;
    if (s->nlinks == 1) snprintf(s->endpoint, sizeof s->endpoint, "shm://%s", name);
    return IPM_OK;
}

static ipm_status sub_connect(void *state, const ipm_params *p)
{
    subscriber *s = state;
    char **endpoints;
    size_t n;
    ipm_status st = ipm_params_get_endpoints(p, "ShmSubscriber", &endpoints, &n);
    if (st != IPM_OK) return st;
    ipm__shm_config c;
    st = ipm__shm_parse_config(p, "ShmSubscriber", "shm://x", &c);
    /* add_link checks each segment's owner against allowed_owners. */
    if (st == IPM_OK) s->owners = c.owners;
    /* All or nothing, as every family: on a bad endpoint, detach the links
     * this call added (earlier calls' links stay). */
    int before = s->nlinks;
    for (size_t i = 0; st == IPM_OK && i < n; i++)
        st = add_link(s, endpoints[i]);
    free(endpoints);
    if (st != IPM_OK) {
        while (s->nlinks > before) {
            sublink *l = s->links[--s->nlinks];
            link_detach(l);
            free(l);
        }
        return st;
    }
    s->spin_ns = c.spin_ns;
    return IPM_OK;
}

static const char *sub_endpoint(const void *state)
{
    const subscriber *s = state;
    return s->nlinks > 0 ? s->endpoint : NULL;
}

static void sub_destroy(void *state)
{
    subscriber *s = state;
    for (int i = 0; i < s->nlinks; i++) {
        link_detach(s->links[i]);
        free(s->links[i]);
    }
    for (size_t i = 0; i < s->tp.n; i++)
        free(s->tp.v[i]);
    free(s->tp.v);
    if (s->watch_fd >= 0) close(s->watch_fd);
    ipm__shm_pool_unref(s->pool);
    free(s);
}

static uint64_t sub_dropped(const void *state)
{
    const subscriber *s = state;
    return atomic_load_explicit(&s->dropped, memory_order_relaxed);
}

/* ------------------------------------------------------------ receive */

/* One pass over the links: 1 message, 0 none, -1 error. */
static int take(subscriber *s, ipm_message *msg)
{
    for (int k = 0; k < s->nlinks; k++) {
        int i = (s->rr + k) % s->nlinks;
        sublink *l = s->links[i];
        if (!l->attached) continue;
        int r =
            ipm__shm_ring_read(&l->seg, &l->rd, s->pool, match, &s->tp, msg, &s->dropped);
        if (r != 0) {
            s->rr = i + 1;
            return r;
        }
    }
    return 0;
}

/* Drop links whose publisher closed (cheap flag, every time) or died
 * (pid check, at most every 100 ms unless force). Called only when nothing
 * is readable, so everything a dead publisher left has been read. */
static void check_owners(subscriber *s, bool force)
{
    int64_t now = ipm_now_ns();
    bool pid_check = force || now - s->last_check >= IPM_SHM_LIVENESS_NS;
    if (pid_check) s->last_check = now;
    for (int i = 0; i < s->nlinks; i++) {
        sublink *l = s->links[i];
        if (!l->attached || ipm__shm_ring_ready(&l->seg, &l->rd)) continue;
        bool closed = atomic_load(&l->seg.hdr->closed) != 0;
        if (closed || (pid_check &&
                       !ipm__shm_alive(l->seg.hdr->owner_pid, l->seg.hdr->owner_start)))
            link_lost(s, l, closed);
    }
}

/* Retry attaching detached links if /dev/shm changed. True if any is still
 * detached. The watch exists only while some sublink is detached, so that an
 * attached subscriber makes no syscall here. */
static bool reattach(subscriber *s)
{
    bool detached = false;
    for (int i = 0; i < s->nlinks; i++)
        detached |= !s->links[i]->attached;
    if (!detached) {
        if (s->watch_fd >= 0) {
            close(s->watch_fd);
            s->watch_fd = -1;
        }
        return false;
    }
    /* Arm (or drain) the watch before looking, so nothing is missed. */
    bool changed = ipm__shm_watch_wait(&s->watch_fd, 0);
    detached = false;
    for (int i = 0; i < s->nlinks; i++) {
        sublink *l = s->links[i];
        if (l->attached) continue;
        if (changed || s->need_attach) link_attach(l, &s->owners, true);
        detached |= !l->attached;
    }
    s->need_attach = false;
    return detached;
}

static bool any_ready(const subscriber *s)
{
    for (int i = 0; i < s->nlinks; i++)
        if (s->links[i]->attached &&
            ipm__shm_ring_ready(&s->links[i]->seg, &s->links[i]->rd))
            return true;
    return false;
}

/* Sleep until a ring has data, a slice ends or /dev/shm changes. */
static void sleep_once(subscriber *s, int64_t deadline, bool detached)
{
    _Atomic uint32_t *words[MAX_LINKS];
    uint32_t vals[MAX_LINKS];
    int n = 0;
    for (int i = 0; i < s->nlinks; i++) {
        sublink *l = s->links[i];
        if (!l->attached) continue;
        ipm__shm_header *h = l->seg.hdr;
        /* Flag, then read the word, then re-check: pairs with the writer's
         * head store then flag exchange (see shm_queue.c). The flag is in
         * the wake area: the ring itself is mapped read-only. */
        atomic_store(&l->seg.wake->data_waiters, 1);
        words[n] = &h->data_word;
        vals[n++] = atomic_load(&h->data_word);
    }
    ipm__shm_fence(memory_order_seq_cst); /* before re-checking heads */
    int64_t cap = IPM_SHM_LIVENESS_NS;
    if (n == 0) {
        /* Nothing attached: only a new segment can help. */
        ipm__shm_watch_wait(&s->watch_fd, ipm__shm_wait_ns(deadline, cap));
        s->need_attach = true;
    } else if (!any_ready(s)) {
        if (detached) cap = 20 * 1000 * 1000; /* also look for the missing publishers */
        ipm__shm_futex_waitv(words, vals, n, ipm__shm_wait_ns(deadline, cap));
    }
}

static bool spin(const subscriber *s, int64_t until)
{
    for (unsigned i = 0;; i++) {
        if (any_ready(s)) return true;
        ipm__shm_pause();
        if ((i & 63) == 63 && ipm_now_ns() >= until) return false;
    }
}

static ipm_status sub_receive(void *state, ipm_message *msg, int timeout_ms)
{
    subscriber *s = state;
    int r = take(s, msg);
    if (r != 0) return r > 0 ? IPM_OK : IPM_ESYS;

    int64_t deadline = ipm_deadline_ns(timeout_ms);
    bool spun = s->spin_ns == 0;
    for (;;) {
        check_owners(s, false);
        if (s->lost_pending) {
            s->lost_pending = false;
            return ipm_set_error(IPM_ECONNECT, "%s", s->lost_msg);
        }
        bool detached = reattach(s);
        r = take(s, msg);
        if (r != 0) return r > 0 ? IPM_OK : IPM_ESYS;
        if (deadline >= 0 && ipm_now_ns() >= deadline) {
            /* A timeout, not IPM_ECONNECT: the loss was reported once, and
             * the core waits in slices, so a deadline here may be a slice's
             * (an IPM_ECONNECT per slice would end an IPM_BLOCK wait). */
            for (int i = 0; i < s->nlinks; i++)
                if (s->links[i]->was_attached)
                    return ipm_set_timeout_reason(
                        "ShmSubscriber shm://%s: no message within %d ms; "
                        "its ShmPublisher is gone and no new one has "
                        "started",
                        s->links[i]->name, timeout_ms);
            return ipm_set_error(IPM_ETIMEDOUT,
                                 "ShmSubscriber %s: no message within %d ms", s->endpoint,
                                 timeout_ms);
        }
        if (!spun) {
            spun = true;
            int64_t until = ipm_now_ns() + s->spin_ns;
            if (deadline >= 0 && until > deadline) until = deadline;
            if (spin(s, until)) continue;
        }
        sleep_once(s, deadline, detached);
    }
}

static const ipm_plugin_ops sub_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = sub_create,
    .connect = sub_connect,
    .endpoint = sub_endpoint,
    .destroy = sub_destroy,
    .receive = sub_receive,
    .release = ipm__shm_release,
    .subscribe = sub_subscribe,
    .unsubscribe = sub_unsubscribe,
    .dropped = sub_dropped,
};

static const char *const sub_keys[] = {
    "connection_string", "connection_strings", "buffer_size",    "max_message_size",
    "spin_us",           "permissions",        "allowed_owners", NULL};

static const ipm_limits sub_stated =
    IPM_SHM_LIMITS(IPM_FEATURE_MULTI_PUBLISHER | IPM_FEATURE_DROP_COUNT);

static const ipm_plugin sub_desc = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SUBSCRIBER,
    .name = "ShmSubscriber",
    .version = "1.0.0",
    .description = "shared-memory broadcast ring subscriber (shm://NAME), topic prefixes",
    .keys = sub_keys,
    .ops = &sub_ops,
    .limits = &sub_stated,
};

IPM_PLUGIN_DEFINE(ShmSubscriber, &sub_desc)
