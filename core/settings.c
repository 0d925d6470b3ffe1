/* settings.c — process-wide settings from INI [ipm] sections, and the extra
 * plugin directories they name. Values are kept for the life of the process:
 * a later INI file overrides a key, it never removes one. */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct setting {
    char *key, *value;
    struct setting *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct setting *settings;
static char *plugin_dirs; /* ':'-separated, in the order INI files named them */

void ipm__setting_set(const char *key, const char *value)
{
    pthread_mutex_lock(&lock);
    struct setting *s = settings;
    while (s && strcmp(s->key, key) != 0)
        s = s->next;
    char *v = strdup(value);
    if (v && s) {
        free(s->value);
        s->value = v;
    } else if (v) {
        s = malloc(sizeof *s);
        char *k = strdup(key);
        if (s && k) {
            *s = (struct setting){k, v, settings};
            settings = s;
        } else {
            free(s);
            free(k);
            free(v);
        }
    }
    pthread_mutex_unlock(&lock);
}

bool ipm_setting_get(const char *key, char *buf, size_t cap)
{
    if (!key || !buf || cap == 0) return false;
    bool found = false;
    pthread_mutex_lock(&lock);
    for (struct setting *s = settings; s; s = s->next) {
        if (strcmp(s->key, key) == 0) {
            size_t n = strlen(s->value);
            if (n >= cap) n = cap - 1;
            memcpy(buf, s->value, n);
            buf[n] = '\0';
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return found;
}

void ipm__plugin_dir_add(const char *dir)
{
    pthread_mutex_lock(&lock);
    /* Skip a directory already listed so that reloading a file is harmless. */
    size_t dlen = strlen(dir);
    bool present = false;
    for (const char *c = plugin_dirs; c && *c;) {
        const char *end = strchrnul(c, ':');
        if ((size_t)(end - c) == dlen && strncmp(c, dir, dlen) == 0) present = true;
        c = *end ? end + 1 : end;
    }
    if (!present) {
        size_t old = plugin_dirs ? strlen(plugin_dirs) : 0;
        char *grown = realloc(plugin_dirs, old + dlen + 2);
        if (grown) {
            if (old) grown[old++] = ':';
            memcpy(grown + old, dir, dlen + 1);
            plugin_dirs = grown;
        }
    }
    pthread_mutex_unlock(&lock);
}

char *ipm__plugin_dirs_copy(void)
{
    pthread_mutex_lock(&lock);
    char *copy = plugin_dirs ? strdup(plugin_dirs) : NULL;
    pthread_mutex_unlock(&lock);
    return copy;
}
