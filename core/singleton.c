/* singleton.c — named, reference-counted objects shared by plugins of one
 * process (a family's library context, shared by its plugins, is the first
 * user). */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct singleton {
    char *name;
    void *obj;
    unsigned long refs;
    ipm_singleton_destroy_fn destroy;
    struct singleton *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct singleton *head;

ipm_status ipm_singleton_acquire(const char *name, ipm_singleton_create_fn create,
                                 ipm_singleton_destroy_fn destroy, void *arg, void **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_singleton_acquire: out is NULL");
    *out = NULL;
    if (!name || !create)
        return ipm_set_error(IPM_EINVAL, "ipm_singleton_acquire: %s is NULL",
                             !name ? "name" : "create");
    ipm_status st = IPM_OK;
    pthread_mutex_lock(&lock);
    struct singleton *s = head;
    while (s && strcmp(s->name, name) != 0)
        s = s->next;
    if (s) {
        s->refs++;
        *out = s->obj;
    } else {
        s = calloc(1, sizeof *s);
        char *copy = strdup(name);
        if (!s || !copy) {
            free(s);
            free(copy);
            st = ipm_set_error(IPM_ENOMEM, "ipm_singleton_acquire('%s'): out of memory",
                               name);
        } else if ((st = create(&s->obj, arg)) != IPM_OK) {
            free(s);
            free(copy);
        } else {
            s->name = copy;
            s->refs = 1;
            s->destroy = destroy;
            s->next = head;
            head = s;
            *out = s->obj;
        }
    }
    pthread_mutex_unlock(&lock);
    return st;
}

void ipm_singleton_release(const char *name)
{
    if (!name) return;
    pthread_mutex_lock(&lock);
    for (struct singleton **pp = &head; *pp; pp = &(*pp)->next) {
        struct singleton *s = *pp;
        if (strcmp(s->name, name) != 0) continue;
        if (--s->refs == 0) {
            *pp = s->next;
            if (s->destroy) s->destroy(s->obj);
            free(s->name);
            free(s);
        }
        break;
    }
    pthread_mutex_unlock(&lock);
}
