/* config.c — INI files: one connection per section, global [ipm] settings.
 * iniparser reads the values; a light scan of the same file adds what
 * iniparser does not keep (line numbers, duplicate keys and sections) so
 * that every error names the file and line. */
#define _GNU_SOURCE
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <iniparser.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct section {
    char *name; /* lower case, as iniparser stores it */
    int line;   /* line of the [name] header */
    ipm_params *params;
    ipm_params *lines; /* key -> line number, as text */
};

struct ipm_config {
    char *path;
    struct section *sections;
    size_t count;
};

/* The one [ipm] key of the core; every other is a setting some plugin
 * declares (ipm_plugin.settings). */
#define PLUGIN_PATH_KEY "plugin_path"
#define GLOBAL_SECTION "ipm"

/* ------------------------------------------------ iniparser diagnostics */

/* iniparser reports syntax errors through one process-wide callback; the
 * library must not print, so loads are serialised and the text captured. */
static pthread_mutex_t ini_lock = PTHREAD_MUTEX_INITIALIZER;
static char ini_message[1024];

static int capture(const char *fmt, ...)
{
    size_t used = strlen(ini_message);
    if (used + 1 >= sizeof ini_message) return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ini_message + used, sizeof ini_message - used, fmt, ap);
    va_end(ap);
    return n;
}

/* "iniparser: syntax error in F (L):\n-> TEXT\n" -> line L and TEXT. */
static ipm_status syntax_error(const char *path)
{
    const char *open = strrchr(ini_message, '(');
    int line = open ? atoi(open + 1) : 0;
    const char *text = strstr(ini_message, "-> ");
    char what[512] = "";
    if (text) snprintf(what, sizeof what, "%.*s", (int)strcspn(text + 3, "\n"), text + 3);
    if (strstr(ini_message, "too long"))
        return ipm_set_error(IPM_ECONFIG, "%s:%d: line too long", path, line);
    if (line > 0)
        return ipm_set_error(
            IPM_ECONFIG,
            "%s:%d: syntax error in '%s': expected [section], key = value, or a "
            "comment starting with ; or #",
            path, line, what);
    return ipm_set_error(IPM_ECONFIG, "%s: cannot parse: %s", path, ini_message);
}

/* ------------------------------------------------------- the line scan */

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static char *trimmed(char *b, char *e)
{
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    *e = '\0';
    return b;
}

static struct section *find_section(const ipm_config *c, const char *name)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcasecmp(c->sections[i].name, name) == 0) return &c->sections[i];
    return NULL;
}

static ipm_status add_section(ipm_config *c, const char *name, int line)
{
    struct section *prev = find_section(c, name);
    if (prev)
        return ipm_set_error(
            IPM_ECONFIG,
            "%s:%d: section [%s] appears twice (first on line %d); merge them", c->path,
            line, name, prev->line);
    struct section *grown = realloc(c->sections, (c->count + 1) * sizeof *grown);
    if (!grown) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", c->path);
    c->sections = grown;
    struct section *s = &grown[c->count];
    *s = (struct section){.name = strdup(name), .line = line};
    if (!s->name || ipm_params_new(&s->params) != IPM_OK ||
        ipm_params_new(&s->lines) != IPM_OK) {
        free(s->name);
        ipm_params_free(s->params);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory", c->path);
    }
    c->count++;
    return IPM_OK;
}

/* Record the section and key layout of the file, refusing duplicates. */
static ipm_status scan(ipm_config *c, FILE *f)
{
    char buf[4096];
    int line = 0;
    struct section *cur = NULL;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        char *s = trimmed(buf, buf + strlen(buf));
        if (!*s || *s == ';' || *s == '#') continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) continue; /* iniparser reports it */
            char *name = trimmed(s + 1, close);
            lower(name);
            ipm_status st = add_section(c, name, line);
            if (st != IPM_OK) return st;
            cur = &c->sections[c->count - 1];
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) continue; /* iniparser reports it */
        char *key = trimmed(s, eq);
        lower(key);
        if (!*key)
            return ipm_set_error(IPM_ECONFIG, "%s:%d: '=%s' has no key before '='",
                                 c->path, line, eq + 1);
        if (!cur)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s:%d: key '%s' is outside any section; put it under a "
                                 "[connection_name] header",
                                 c->path, line, key);
        const char *first = ipm_params_get(cur->lines, key);
        if (first)
            return ipm_set_error(
                IPM_ECONFIG, "%s:%d: duplicate key '%s' in [%s] (first set on line %s)",
                c->path, line, key, cur->name, first);
        char num[16];
        snprintf(num, sizeof num, "%d", line);
        if (ipm_params_set(cur->lines, key, num) != IPM_OK) return IPM_ENOMEM;
    }
    return IPM_OK;
}

static int line_of(const struct section *s, const char *key)
{
    const char *v = ipm_params_get(s->lines, key);
    return v ? atoi(v) : s->line;
}

/* ------------------------------------------------------------- loading */

static ipm_status fill_values(ipm_config *c, dictionary *d)
{
    for (size_t i = 0; i < c->count; i++) {
        struct section *s = &c->sections[i];
        for (size_t k = 0; k < ipm_params_count(s->lines); k++) {
            const char *key = ipm_params_key_at(s->lines, k);
            /* Sized to fit: names have no length limit, and a truncated
             * lookup would silently read an empty value. */
            char *full = NULL;
            if (asprintf(&full, "%s:%s", s->name, key) < 0)
                return ipm_set_error(IPM_ENOMEM, "%s: out of memory", c->path);
            const char *v = iniparser_getstring(d, full, NULL);
            free(full);
            ipm_status st = ipm_params_set(s->params, key, v ? v : "");
            if (st != IPM_OK) return st;
        }
    }
    return IPM_OK;
}

/* Add the directories of [ipm] plugin_path: separated by ':' or ','; a
 * relative one is taken from the INI file's own directory, not the cwd. */
static ipm_status add_plugin_dirs(const ipm_config *c, const char *value)
{
    char *dir_buf = strdup(c->path), *list = strdup(value);
    if (!dir_buf || !list) {
        free(dir_buf);
        free(list);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory", c->path);
    }
    const char *base = dirname(dir_buf);
    char *save = NULL;
    for (char *dir = strtok_r(list, ":,", &save); dir;
         dir = strtok_r(NULL, ":,", &save)) {
        dir = trimmed(dir, dir + strlen(dir));
        if (!*dir) continue;
        char full[4096];
        snprintf(full, sizeof full, "%s%s%s", *dir == '/' ? "" : base,
                 *dir == '/' ? "" : "/", dir);
        ipm__plugin_dir_add(full);
    }
    free(list);
    free(dir_buf);
    return IPM_OK;
}

/* Is key a setting that a plugin declares? First the plugins already
 * loaded, then those of the file's own types, and only then every plugin on
 * the search path (a file of settings alone names no type). */
static bool declared_setting(const ipm_config *c, const char *key)
{
    if (ipm__settings_declared(key, NULL, 0, NULL)) return true;
    for (size_t i = 0; i < c->count; i++) {
        const char *type = ipm_params_get(c->sections[i].params, "type");
        const ipm_plugin *ignored;
        if (type && *type) ipm_plugin_load(type, &ignored);
    }
    if (ipm__settings_declared(key, NULL, 0, NULL)) return true;
    ipm__plugin_load_all();
    return ipm__settings_declared(key, NULL, 0, NULL) > 0;
}

static ipm_status unknown_setting(const ipm_config *c, const struct section *g,
                                  const char *key)
{
    const char *cands[256];
    size_t n;
    cands[0] = PLUGIN_PATH_KEY;
    ipm__settings_declared(NULL, cands + 1, 255, &n);
    n++;
    const char *hint = ipm__suggest(key, cands, n);
    if (hint)
        return ipm_set_error(IPM_ECONFIG,
                             "%s:%d: unknown key '%s' in [ipm]; did you mean '%s'?",
                             c->path, line_of(g, key), key, hint);
    char list[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                cands[i]);
    return ipm_set_error(
        IPM_ECONFIG,
        "%s:%d: unknown key '%s' in [ipm]: neither the core nor any plugin "
        "on the search path declares it (known: %s)",
        c->path, line_of(g, key), key, list);
}

/* Check that every connection has a type and that every [ipm] key is known.
 * plugin_path is applied first, because the plugins it names may be the ones
 * that declare the other settings; the settings are applied last, so a file
 * with an unknown key sets none of them. */
static ipm_status check_and_apply(ipm_config *c)
{
    struct section *g = NULL;
    for (size_t i = 0; i < c->count; i++) {
        struct section *s = &c->sections[i];
        if (strcmp(s->name, GLOBAL_SECTION) == 0) {
            g = s;
            continue;
        }
        const char *type = ipm_params_get(s->params, "type");
        if (!type || !*type)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s:%d: section [%s] has no 'type' key (e.g. type = "
                                 "<Type>; `ipm-plugins` lists the types)",
                                 c->path, s->line, s->name);
    }
    if (!g) return IPM_OK;
    const char *dirs = ipm_params_get(g->params, PLUGIN_PATH_KEY);
    if (dirs) {
        ipm_status st = add_plugin_dirs(c, dirs);
        if (st != IPM_OK) return st;
    }
    for (size_t k = 0; k < ipm_params_count(g->params); k++) {
        const char *key = ipm_params_key_at(g->params, k);
        if (strcmp(key, PLUGIN_PATH_KEY) != 0 && !declared_setting(c, key))
            return unknown_setting(c, g, key);
    }
    for (size_t k = 0; k < ipm_params_count(g->params); k++) {
        const char *key = ipm_params_key_at(g->params, k);
        if (strcmp(key, PLUGIN_PATH_KEY) != 0)
            ipm__setting_set(key, ipm_params_value_at(g->params, k));
    }
    return IPM_OK;
}

ipm_status ipm_config_load(const char *path, ipm_config **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_config_load: out is NULL");
    *out = NULL;
    if (!path) return ipm_set_error(IPM_EINVAL, "ipm_config_load: path is NULL");
    FILE *f = fopen(path, "r");
    if (!f)
        return ipm_set_error(IPM_ECONFIG, "cannot open INI file '%s': %s", path,
                             strerror(errno));
    /* fopen() succeeds on a directory and reads then fail, which would load
     * an empty configuration without a word. */
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
        fclose(f);
        return ipm_set_error(IPM_ECONFIG, "INI file '%s' is %s, not a regular file", path,
                             S_ISDIR(sb.st_mode) ? "a directory" : "a special file");
    }
    ipm_config *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        fclose(f);
        free(c);
        return ipm_set_error(IPM_ENOMEM, "ipm_config_load('%s'): out of memory", path);
    }

    pthread_mutex_lock(&ini_lock);
    ini_message[0] = '\0';
    iniparser_set_error_callback(capture);
    dictionary *d = iniparser_load(path);
    iniparser_set_error_callback(NULL);
    ipm_status st = d ? IPM_OK : syntax_error(path);
    pthread_mutex_unlock(&ini_lock);

    if (st == IPM_OK) st = scan(c, f);
    fclose(f);
    if (st == IPM_OK) st = fill_values(c, d);
    if (st == IPM_OK) st = check_and_apply(c);
    if (d) iniparser_freedict(d);
    if (st != IPM_OK) {
        ipm_config_free(c);
        return st;
    }
    *out = c;
    return IPM_OK;
}

void ipm_config_free(ipm_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->count; i++) {
        free(c->sections[i].name);
        ipm_params_free(c->sections[i].params);
        ipm_params_free(c->sections[i].lines);
    }
    free(c->sections);
    free(c->path);
    free(c);
}

/* ------------------------------------------------------------ queries */

/* The i-th connection section, skipping [ipm]. */
static const struct section *nth_connection(const ipm_config *c, size_t i)
{
    for (size_t k = 0; k < c->count; k++) {
        if (strcmp(c->sections[k].name, GLOBAL_SECTION) == 0) continue;
        if (i-- == 0) return &c->sections[k];
    }
    return NULL;
}

size_t ipm_config_count(const ipm_config *c)
{
    if (!c) return 0;
    size_t n = 0;
    while (nth_connection(c, n))
        n++;
    return n;
}

const char *ipm_config_name_at(const ipm_config *c, size_t i)
{
    const struct section *s = c ? nth_connection(c, i) : NULL;
    return s ? s->name : NULL;
}

static ipm_status lookup(const ipm_config *c, const char *name, const char *fn,
                         const struct section **out)
{
    if (!c || !name)
        return ipm_set_error(IPM_EINVAL, "%s: %s is NULL", fn, !c ? "config" : "name");
    const struct section *s = find_section(c, name);
    if (!s || strcmp(s->name, GLOBAL_SECTION) == 0) {
        char list[1024] = "";
        size_t len = 0;
        for (size_t i = 0; i < ipm_config_count(c) && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                    ipm_config_name_at(c, i));
        return ipm_set_error(IPM_ECONFIG, "%s: no connection named '%s' (it has: %s)",
                             c->path, name, len ? list : "none");
    }
    *out = s;
    return IPM_OK;
}

static ipm_status copy_params(const struct section *s, ipm_params **out)
{
    ipm_params *p;
    ipm_status st = ipm_params_new(&p);
    for (size_t k = 0; st == IPM_OK && k < ipm_params_count(s->params); k++)
        st = ipm_params_set(p, ipm_params_key_at(s->params, k),
                            ipm_params_value_at(s->params, k));
    if (st != IPM_OK) {
        ipm_params_free(p);
        return st;
    }
    *out = p;
    return IPM_OK;
}

ipm_status ipm_config_params(const ipm_config *c, const char *name, ipm_params **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_config_params: out is NULL");
    *out = NULL;
    const struct section *s;
    ipm_status st = lookup(c, name, "ipm_config_params", &s);
    return st == IPM_OK ? copy_params(s, out) : st;
}

/* Prefix the last error with where in the file the connection is: the line
 * of the key the error names, else the section header's line. */
static void locate_error(const ipm_config *c, const struct section *s)
{
    int line = s->line;
    const char *msg = ipm_last_error();
    const char *q = strstr(msg, "key '");
    if (q) {
        char key[128];
        if (sscanf(q + 5, "%127[^']", key) == 1) line = line_of(s, key);
    }
    ipm_prefix_error("%s:%d: [%s]", c->path, line, s->name);
}

ipm_status ipm_config_sender(const ipm_config *c, const char *name, ipm_sender **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_config_sender: out is NULL");
    *out = NULL;
    const struct section *s;
    ipm_status st = lookup(c, name, "ipm_config_sender", &s);
    if (st != IPM_OK) return st;
    st = ipm__sender_from_params(s->params, out);
    if (st != IPM_OK) locate_error(c, s);
    return st;
}

ipm_status ipm_config_receiver(const ipm_config *c, const char *name, ipm_receiver **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_config_receiver: out is NULL");
    *out = NULL;
    const struct section *s;
    ipm_status st = lookup(c, name, "ipm_config_receiver", &s);
    if (st != IPM_OK) return st;
    st = ipm__receiver_from_params(s->params, out);
    if (st != IPM_OK) locate_error(c, s);
    return st;
}

ipm_status ipm_config_check(const ipm_config *c, const char *name)
{
    const struct section *s;
    ipm_status st = lookup(c, name, "ipm_config_check", &s);
    if (st != IPM_OK) return st;
    const char *type = ipm_params_get(s->params, "type");
    const ipm_plugin *d = NULL;
    st = ipm_plugin_load(type, &d);
    if (st == IPM_OK) st = ipm_params_check_keys(s->params, d);
    if (st == IPM_OK && d->ops->check) st = d->ops->check(s->params);
    if (st != IPM_OK) locate_error(c, s);
    return st;
}
