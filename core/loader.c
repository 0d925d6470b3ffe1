/* loader.c — finds libipm_<Type>.so, loads it once, validates its
 * descriptor, and tells every way that can fail apart in the error. */
#define _GNU_SOURCE
#include "internal.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define IPM__TYPE_MAX 128

struct loaded {
    char name[IPM__TYPE_MAX];
    char *path;         /* "(static)" for ipm_plugin_register */
    ipm_plugin desc;    /* copies, zero-extended to this core's sizes, so */
    ipm_plugin_ops ops; /* members an older plugin lacks read as NULL     */
    dev_t dev;          /* identity of the file loaded (0/0 for static): a */
    ino_t ino;          /* request naming another file of the type is refused */
    struct loaded *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct loaded *cache;

const char *ipm__role_name(uint32_t role)
{
    switch (role) {
    case IPM_ROLE_SENDER:
        return "a sender";
    case IPM_ROLE_RECEIVER:
        return "a receiver";
    case IPM_ROLE_SUBSCRIBER:
        return "a subscriber";
    }
    return "of unknown role";
}

static bool valid_type(const char *t)
{
    if (!isalpha((unsigned char)*t)) return false;
    for (const char *c = t; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_') return false;
    return strlen(t) < IPM__TYPE_MAX;
}

static struct loaded *cached(const char *name)
{
    for (struct loaded *l = cache; l; l = l->next)
        if (strcmp(l->name, name) == 0) return l;
    return NULL;
}

/* The directory holding libipm.so itself, plus "/ipm": plugins installed
 * with the library, wherever the tree was moved to. */
static char self_plugin_dir[4096];
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void find_self_dir(void)
{
    Dl_info info;
    if (!dladdr((void *)&find_self_dir, &info) || !info.dli_fname) return;
    char *real = realpath(info.dli_fname, NULL);
    const char *path = real ? real : info.dli_fname;
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(self_plugin_dir, sizeof self_plugin_dir, "%.*s/%s", (int)(slash - path),
                 path, IPM_PLUGIN_SUBDIR);
    free(real);
}

size_t ipm_plugin_search_path(char *buf, size_t cap)
{
    pthread_once(&self_once, find_self_dir);
    const char *env = getenv("IPM_PLUGIN_PATH");
    char *ini = ipm__plugin_dirs_copy();
    const char *parts[3] = {env, ini, self_plugin_dir};
    size_t len = 0;
    for (size_t i = 0; i < 3; i++) {
        if (!parts[i] || !*parts[i]) continue;
        int n =
            snprintf(buf && len < cap ? buf + len : NULL,
                     buf && len < cap ? cap - len : 0, "%s%s", len ? ":" : "", parts[i]);
        if (n > 0) len += (size_t)n;
    }
    if (buf && cap && len == 0) buf[0] = '\0';
    free(ini);
    return len;
}

/* Check a descriptor against this core; path and name are for messages. */
static ipm_status validate(const ipm_plugin *d, const char *path, const char *name)
{
    if (d->magic != IPM_PLUGIN_MAGIC)
        return ipm_set_error(
            IPM_EPLUGIN,
            "'%s' is not an ipm plugin: its descriptor has bad magic 0x%08x "
            "(expected 0x%08x); was it built against ipm/plugin.h?",
            path, (unsigned)d->magic, (unsigned)IPM_PLUGIN_MAGIC);
    if (d->abi_major != IPM_PLUGIN_ABI_MAJOR || d->abi_minor > IPM_PLUGIN_ABI_MINOR)
        return ipm_set_error(
            IPM_EPLUGIN,
            "plugin '%s' was built for plugin ABI %u.%u but this libipm %s "
            "supports ABI %d.%d (same major, minor at most %d); rebuild the "
            "plugin against this version's ipm/plugin.h",
            path, d->abi_major, d->abi_minor, IPM_VERSION_STRING, IPM_PLUGIN_ABI_MAJOR,
            IPM_PLUGIN_ABI_MINOR, IPM_PLUGIN_ABI_MINOR);
    /* Every 1.x descriptor has the 1.0 members; later ones are read only
     * as far as the plugin's own struct_size says (see remember()). */
    if (d->struct_size < IPM_PLUGIN_SIZE_1_0)
        return ipm_set_error(
            IPM_EPLUGIN,
            "plugin '%s': descriptor struct_size %u is smaller than ABI %d.0's "
            "%zu bytes",
            path, (unsigned)d->struct_size, IPM_PLUGIN_ABI_MAJOR, IPM_PLUGIN_SIZE_1_0);
    if (!d->name || strcmp(d->name, name) != 0)
        return ipm_set_error(
            IPM_EPLUGIN,
            "plugin '%s' calls itself '%s' but its file name says '%s'; the "
            "descriptor's name must equal <Type> of libipm_<Type>.so",
            path, d->name ? d->name : "(NULL)", name);
    if (d->role < IPM_ROLE_SENDER || d->role > IPM_ROLE_SUBSCRIBER)
        return ipm_set_error(IPM_EPLUGIN, "plugin '%s' (%s) has unknown role %u", path,
                             name, (unsigned)d->role);
    const ipm_plugin_ops *o = d->ops;
    if (!o)
        return ipm_set_error(
            IPM_EPLUGIN, "plugin '%s' (%s) lacks required operation 'ops'", path, name);
    if (o->struct_size < IPM_PLUGIN_OPS_SIZE_1_0)
        return ipm_set_error(
            IPM_EPLUGIN,
            "plugin '%s' (%s): ops struct_size %u is smaller than ABI %d.0's "
            "%zu bytes",
            path, name, (unsigned)o->struct_size, IPM_PLUGIN_ABI_MAJOR,
            IPM_PLUGIN_OPS_SIZE_1_0);
    struct {
        const char *op;
        bool missing;
    } required[] = {
        {"create", !o->create},
        {"connect", !o->connect},
        {"destroy", !o->destroy},
        {"send", d->role == IPM_ROLE_SENDER && !o->send},
        {"receive", d->role != IPM_ROLE_SENDER && !o->receive},
        {"release", d->role != IPM_ROLE_SENDER && !o->release},
        {"subscribe", d->role == IPM_ROLE_SUBSCRIBER && !o->subscribe},
        {"unsubscribe", d->role == IPM_ROLE_SUBSCRIBER && !o->unsubscribe},
    };
    /* Read the 1.1 members only where the plugin's table reaches them. */
    bool has_loan = IPM__OPS_HAS(o, loan) && o->loan;
    bool has_send_loan = IPM__OPS_HAS(o, send_loan) && o->send_loan;
    bool has_loan_return = IPM__OPS_HAS(o, loan_return) && o->loan_return;
    if (has_loan != has_send_loan || has_loan != has_loan_return)
        return ipm_set_error(IPM_EPLUGIN,
                             "plugin '%s' (%s) defines only some of the loan operations "
                             "(loan %s, send_loan %s, loan_return %s): define all three "
                             "or none",
                             path, name, has_loan ? "yes" : "no",
                             has_send_loan ? "yes" : "no",
                             has_loan_return ? "yes" : "no");
    if (has_loan && d->role != IPM_ROLE_SENDER)
        return ipm_set_error(IPM_EPLUGIN,
                             "plugin '%s' (%s) is %s but defines loan operations", path,
                             name, ipm__role_name(d->role));
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (required[i].missing)
            return ipm_set_error(IPM_EPLUGIN,
                                 "plugin '%s' (%s, %s) lacks required operation '%s'",
                                 path, name, ipm__role_name(d->role), required[i].op);
    return IPM_OK;
}

/* Validate d and add it to the cache. Called with the lock held. */
static ipm_status remember(const ipm_plugin *d, const char *path, const char *name,
                           struct loaded **out)
{
    ipm_status st = validate(d, path, name);
    if (st != IPM_OK) return st;
    struct loaded *l = calloc(1, sizeof *l);
    char *p = strdup(path);
    if (!l || !p) {
        free(l);
        free(p);
        return ipm_set_error(IPM_ENOMEM, "loading plugin '%s': out of memory", path);
    }
    snprintf(l->name, sizeof l->name, "%s", name);
    l->path = p;
    /* Copy what the plugin has and no more: an older plugin's structs end
     * earlier, and the calloc'd rest reads as NULL. */
    memcpy(&l->desc, d,
           d->struct_size < sizeof l->desc ? d->struct_size : sizeof l->desc);
    memcpy(&l->ops, d->ops,
           d->ops->struct_size < sizeof l->ops ? d->ops->struct_size : sizeof l->ops);
    l->desc.struct_size = sizeof l->desc;
    l->ops.struct_size = sizeof l->ops;
    l->desc.ops = &l->ops;
    l->next = cache;
    cache = l;
    *out = l;
    return IPM_OK;
}

static ipm_status load_file(const char *path, const char *name, struct loaded **out)
{
    /* dlopen runs the library's constructors: check the file first, without
     * running it (its owner and mode, its ELF symbols), and load the very
     * file checked, by its resolved path. */
    char real[4096];
    struct stat id;
    ipm_status st = ipm__plugin_file_check(path, name, real, sizeof real, &id);
    if (st != IPM_OK) return st;
    /* dlerror() text is per thread and overwritten by the next dl call:
     * copy it into our message at once. */
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return ipm_set_error(IPM_EPLUGIN, "cannot load plugin '%s': %s", path,
                             why ? why : "unknown dlopen error");
    }
    char sym[IPM__TYPE_MAX + 16];
    snprintf(sym, sizeof sym, "ipm_plugin_%s", name);
    dlerror();
    void *addr = dlsym(h, sym);
    if (!addr) {
        const char *why = dlerror();
        ipm_set_error(
            IPM_EPLUGIN,
            "'%s' is not an ipm plugin: it does not export %s (%s); plugins define "
            "it with IPM_PLUGIN_DEFINE(%s, &descriptor)",
            path, sym, why ? why : "symbol is NULL", name);
        dlclose(h);
        return IPM_EPLUGIN;
    }
    ipm_plugin_factory factory;
    memcpy(&factory, &addr,
           sizeof factory); /* object to function pointer, as POSIX allows */
    const ipm_plugin *d = factory();
    if (!d)
        st = ipm_set_error(IPM_EPLUGIN,
                           "plugin '%s': %s() returned NULL instead of a descriptor",
                           path, sym);
    else
        st = remember(d, path, name, out);
    if (st != IPM_OK) {
        dlclose(h);
        return st;
    }
    (*out)->dev = id.st_dev;
    (*out)->ino = id.st_ino;
    /* On success the handle is deliberately kept: plugins are never unloaded,
     * because messages and singletons may still point into them. */
    return IPM_OK;
}

/* Type name of a path ".../libipm_<Type>.so", into name. */
static ipm_status type_of_path(const char *path, char *name, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (strncmp(base, "libipm_", 7) != 0 || len < 11 ||
        strcmp(base + len - 3, ".so") != 0 || len - 10 >= cap)
        return ipm_set_error(IPM_EINVAL,
                             "plugin path '%s' must name a file libipm_<Type>.so", path);
    snprintf(name, cap, "%.*s", (int)(len - 10), base + 7);
    if (!valid_type(name))
        return ipm_set_error(IPM_EINVAL,
                             "plugin path '%s': '%s' is not a valid type name "
                             "([A-Za-z][A-Za-z0-9_]*)",
                             path, name);
    return IPM_OK;
}

/* The first libipm_<name>.so on the search path into path (cap bytes); the
 * paths that do not exist are listed in tried. False if none exists. */
static bool find_on_path(const char *name, char *path, size_t cap, char *tried,
                         size_t tcap, ipm_status *st)
{
    *st = IPM_OK;
    char dirs[16384];
    size_t n = ipm_plugin_search_path(dirs, sizeof dirs);
    if (n >= sizeof dirs) {
        *st = ipm_set_error(IPM_ECONFIG, "plugin search path is longer than %zu bytes",
                            sizeof dirs - 1);
        return false;
    }
    size_t tlen = 0;
    if (tcap) tried[0] = '\0';
    for (char *dir = dirs, *next; dir && *dir; dir = next) {
        next = strchr(dir, ':');
        if (next) *next++ = '\0';
        if (!*dir) continue;
        int plen = snprintf(path, cap, "%s/libipm_%s.so", dir, name);
        if (plen < 0 || (size_t)plen >= cap)
            continue; /* no such file can exist: PATH_MAX is 4096 */
        if (access(path, F_OK) == 0) return true;
        /* A directory this process may not enter hides the file: say so,
         * or "not found" would send the user looking in the wrong place. */
        bool denied = errno == EACCES;
        if (tlen < tcap)
            tlen += (size_t)snprintf(
                tried + tlen, tcap - tlen, "%s%s%s", tlen ? ", " : "", path,
                denied ? " (permission denied on its directory)" : "");
    }
    return false;
}

/* Make shadowing visible: a plugin_path or IPM_PLUGIN_PATH directory that
 * holds a type the installation ships is searched first (API.md §5), so say
 * which file won when logging is on. */
static void note_shadowing(const char *name, const char *path)
{
    if (!*self_plugin_dir) return;
    char installed[4096 + 32];
    snprintf(installed, sizeof installed, "%s/libipm_%s.so", self_plugin_dir, name);
    struct stat a, b;
    if (stat(installed, &b) != 0 || stat(path, &a) != 0) return;
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        ipm_log(IPM_LOG_WARN,
                "plugin %s: loading %s, which comes first on the search path and "
                "shadows the installed %s",
                name, path, installed);
}

static ipm_status search(const char *name, struct loaded **out)
{
    char path[4096], tried[3072];
    ipm_status st;
    if (find_on_path(name, path, sizeof path, tried, sizeof tried, &st)) {
        note_shadowing(name, path);
        return load_file(path, name, out);
    }
    if (st != IPM_OK) return st;
    return ipm_set_error(
        IPM_ENOPLUGIN,
        "plugin '%s' not found; tried: %s. Put libipm_%s.so in a directory "
        "named by IPM_PLUGIN_PATH or by [ipm] plugin_path in an INI file "
        "(ipm-plugins lists what is found)",
        name, *tried ? tried : "(the search path is empty)", name);
}

/* A type is loaded once per process, from one file. A request that names
 * another file of the same type (by path, or because the search path now
 * finds a different one first, e.g. after an INI file added a plugin_path)
 * is refused instead of silently getting the first. */
static ipm_status same_file(const struct loaded *l, const char *type, bool is_path)
{
    char path[4096];
    if (is_path) {
        snprintf(path, sizeof path, "%s", type);
    } else {
        if (l->dev == 0 && l->ino == 0) return IPM_OK; /* static: before any search */
        char tried[1];
        ipm_status st;
        if (!find_on_path(l->name, path, sizeof path, tried, 0, &st)) return IPM_OK;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && (l->dev || l->ino) && sb.st_dev == l->dev &&
        sb.st_ino == l->ino)
        return IPM_OK;
    return ipm_set_error(
        IPM_EPLUGIN,
        "type %s is already loaded from %s; %s was not loaded: a process uses one "
        "library per type%s",
        l->name, l->path, path,
        is_path ? ""
                : " (it now comes first on the search path: IPM_PLUGIN_PATH, then "
                  "the [ipm] plugin_path of loaded INI files, then the installed "
                  "plugins)");
}

ipm_status ipm_plugin_load(const char *type, const ipm_plugin **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_plugin_load: out is NULL");
    *out = NULL;
    if (!type || !*type)
        return ipm_set_error(IPM_EINVAL, "plugin type is %s", type ? "empty" : "NULL");

    char name[IPM__TYPE_MAX];
    bool is_path = strchr(type, '/') != NULL;
    if (is_path) {
        ipm_status st = type_of_path(type, name, sizeof name);
        if (st != IPM_OK) return st;
    } else if (!valid_type(type)) {
        return ipm_set_error(
            IPM_EINVAL,
            "'%s' is not a valid plugin type name: use [A-Za-z][A-Za-z0-9_]* "
            "(e.g. MySender) or a path to libipm_<Type>.so",
            type);
    } else {
        snprintf(name, sizeof name, "%s", type);
    }

    pthread_mutex_lock(&lock);
    struct loaded *l = cached(name);
    ipm_status st = IPM_OK;
    if (l)
        st = same_file(l, type, is_path);
    else
        st = is_path ? load_file(type, name, &l) : search(name, &l);
    pthread_mutex_unlock(&lock);
    if (st == IPM_OK) *out = &l->desc;
    return st;
}

ipm_status ipm_plugin_register(const ipm_plugin *desc)
{
    if (!desc)
        return ipm_set_error(IPM_EINVAL, "ipm_plugin_register: descriptor is NULL");
    if (!desc->name || !valid_type(desc->name))
        return ipm_set_error(IPM_EINVAL,
                             "ipm_plugin_register: '%s' is not a valid type name",
                             desc->name ? desc->name : "(NULL)");
    pthread_mutex_lock(&lock);
    struct loaded *l = cached(desc->name);
    ipm_status st =
        l ? ipm_set_error(IPM_EPLUGIN,
                          "ipm_plugin_register: type '%s' is already loaded from %s",
                          desc->name, l->path)
          : remember(desc, "(static)", desc->name, &l);
    pthread_mutex_unlock(&lock);
    return st;
}

const char *ipm_plugin_loaded_path(const char *type)
{
    if (!type) return NULL;
    pthread_mutex_lock(&lock);
    struct loaded *l = cached(type);
    pthread_mutex_unlock(&lock);
    return l ? l->path : NULL; /* entries are never freed */
}

ipm_status ipm__plugin_for_role(const char *type, unsigned roles, const char *want,
                                const ipm_plugin **out)
{
    *out = NULL;
    const ipm_plugin *d;
    ipm_status st = ipm_plugin_load(type, &d);
    if (st != IPM_OK) return st;
    if (!(roles & (1u << d->role)))
        return ipm_set_error(IPM_EPLUGIN, "'%s' is %s, not %s", d->name,
                             ipm__role_name(d->role), want);
    *out = d;
    return IPM_OK;
}

void ipm__limits(const ipm_plugin *pl, const void *state, ipm_limits *out)
{
    if (pl->limits)
        *out = *pl->limits;
    else
        *out = (ipm_limits){IPM_LIMIT_NONE, IPM_LIMIT_NONE, 0, 0};
    if (state && pl->ops->limits) pl->ops->limits(state, out);
}

size_t ipm__settings_declared(const char *key, const char **all, size_t cap, size_t *nall)
{
    size_t owners = 0, n = 0;
    pthread_mutex_lock(&lock);
    for (struct loaded *l = cache; l; l = l->next)
        for (const char *const *k = l->desc.settings; k && *k; k++) {
            if (key && strcmp(*k, key) == 0) owners++;
            if (all && n < cap) all[n++] = *k; /* static storage of the plugin */
        }
    pthread_mutex_unlock(&lock);
    if (nall) *nall = n;
    return owners;
}

void ipm__plugin_load_all(void)
{
    char dirs[16384];
    if (ipm_plugin_search_path(dirs, sizeof dirs) >= sizeof dirs) return;
    for (char *dir = dirs, *next; dir && *dir; dir = next) {
        next = strchr(dir, ':');
        if (next) *next++ = '\0';
        DIR *d = opendir(dir);
        if (!d) continue; /* a listed directory need not exist */
        for (struct dirent *e; (e = readdir(d));) {
            char name[IPM__TYPE_MAX];
            size_t len = strlen(e->d_name);
            if (strncmp(e->d_name, "libipm_", 7) != 0 || len < 11 ||
                len - 10 >= sizeof name || strcmp(e->d_name + len - 3, ".so") != 0)
                continue;
            snprintf(name, sizeof name, "%.*s", (int)(len - 10), e->d_name + 7);
            const ipm_plugin *ignored;
            if (valid_type(name)) ipm_plugin_load(name, &ignored); /* unusable: skip */
        }
        closedir(d);
    }
}
