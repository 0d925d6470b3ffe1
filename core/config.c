/* config.c — INI files: one connection per section, global [ipm] settings.
 * iniparser reads the values; a light scan of the same file adds what
 * iniparser does not keep (line numbers, duplicate keys and sections) so
 * that every error names the file and line. */
#define _GNU_SOURCE
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <iniparser.h>
#include <libgen.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct section {
    char *name; /* lower case, as iniparser stores it */
    int line;   /* line of the [name] header */
    ipm_params *params;
    ipm_params *lines; /* key -> line number, as text */
};

struct ipm_config {
    char *path;
    struct section *sections;
    size_t count, cap;
    /* Sections by (lower-case) name, so that adding and finding one does
     * not walk all the others: 30 000 sections load in linear time. */
    struct hsearch_data index;
    bool indexed;
    size_t *connections; /* indexes of the sections other than [ipm] */
    size_t nconnections;
};

/* The one [ipm] key of the core; every other is a setting some plugin
 * declares (ipm_plugin.settings). */
#define PLUGIN_PATH_KEY "plugin_path"
#define GLOBAL_SECTION "ipm"

/* ------------------------------------------------ iniparser diagnostics */

/* iniparser reports syntax errors through one process-wide callback, once
 * per error; the library must not print, so loads are serialised and the
 * first error is kept. Its arguments are taken as they are passed (the
 * file name, the line number, the line), not parsed back out of the
 * formatted text, where a line holding "(12)" would read as line 12. */
static pthread_mutex_t ini_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    bool seen;
    enum { INI_OTHER, INI_SYNTAX, INI_TOO_LONG } kind;
    int line;
    char text[512];    /* the offending line (syntax errors) */
    char message[512]; /* the formatted text, for any other message */
} ini_error;

#define INI_SYNTAX_FMT "iniparser: syntax error in %s (%d):"
#define INI_TOO_LONG_FMT "iniparser: input line too long in %s (%d)"

static int capture(const char *fmt, ...)
{
    if (ini_error.seen || !fmt) return 0;
    ini_error.seen = true;
    va_list ap;
    va_start(ap, fmt);
    if (strncmp(fmt, INI_SYNTAX_FMT, strlen(INI_SYNTAX_FMT)) == 0) {
        (void)va_arg(ap, const char *);
        ini_error.kind = INI_SYNTAX;
        ini_error.line = va_arg(ap, int);
        const char *text = va_arg(ap, const char *);
        snprintf(ini_error.text, sizeof ini_error.text, "%s", text ? text : "");
    } else if (strncmp(fmt, INI_TOO_LONG_FMT, strlen(INI_TOO_LONG_FMT)) == 0) {
        (void)va_arg(ap, const char *);
        ini_error.kind = INI_TOO_LONG;
        ini_error.line = va_arg(ap, int);
    } else {
        ini_error.kind = INI_OTHER;
        vsnprintf(ini_error.message, sizeof ini_error.message, fmt, ap);
        ini_error.message[strcspn(ini_error.message, "\n")] = '\0';
    }
    va_end(ap);
    return 0;
}

/* The first error iniparser reported, for a chunk of the file that starts
 * at line first_line. */
static ipm_status syntax_error(const char *path, int first_line)
{
    int line = ini_error.line + first_line - 1;
    if (ini_error.seen && ini_error.kind == INI_TOO_LONG)
        return ipm_set_error(IPM_ECONFIG, "%s:%d: line too long", path, line);
    if (ini_error.seen && ini_error.kind == INI_SYNTAX)
        return ipm_set_error(
            IPM_ECONFIG,
            "%s:%d: syntax error in '%s': expected [section], key = value, or a "
            "comment starting with ; or #",
            path, line, ini_error.text);
    return ipm_set_error(IPM_ECONFIG, "%s: cannot parse: %s", path,
                         ini_error.seen ? ini_error.message : "iniparser failed");
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
    if (!c->indexed) return NULL;
    char *key = strdup(name);
    if (!key) return NULL;
    lower(key);
    ENTRY want = {.key = key, .data = NULL}, *found = NULL;
    /* FIND does not change the table; hsearch_r only lacks a const. */
    hsearch_r(want, FIND, &found, (struct hsearch_data *)&c->index);
    free(key);
    return found ? &c->sections[(size_t)(uintptr_t)found->data] : NULL;
}

static ipm_status add_section(ipm_config *c, const char *name, int line)
{
    struct section *prev = find_section(c, name);
    if (prev)
        return ipm_set_error(
            IPM_ECONFIG,
            "%s:%d: section [%s] appears twice (first on line %d); merge them", c->path,
            line, name, prev->line);
    if (c->count == c->cap) { /* doubling: linear time whatever realloc does */
        size_t cap = c->cap ? 2 * c->cap : 16;
        struct section *grown = realloc(c->sections, cap * sizeof *grown);
        if (!grown) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", c->path);
        c->sections = grown;
        c->cap = cap;
    }
    struct section *s = &c->sections[c->count];
    *s = (struct section){.name = strdup(name), .line = line};
    if (!s->name || ipm_params_new(&s->params) != IPM_OK ||
        ipm_params_new(&s->lines) != IPM_OK) {
        free(s->name);
        ipm_params_free(s->params);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory", c->path);
    }
    ENTRY e = {.key = s->name, .data = (void *)(uintptr_t)c->count}, *added;
    if (!hsearch_r(e, ENTER, &added, &c->index)) {
        free(s->name);
        ipm_params_free(s->params);
        ipm_params_free(s->lines);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory (section index)", c->path);
    }
    c->count++;
    return IPM_OK;
}

/* iniparser joins a line ending in '\' (after trailing space) with the next
 * one: the next line is then part of a value, whatever it looks like. */
static bool continues(const char *b, const char *e)
{
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    return e > b && e[-1] == '\\';
}

/* Record the section and key layout of the file, refusing duplicates. */
static ipm_status scan(ipm_config *c, FILE *f)
{
    char buf[4096];
    int line = 0;
    struct section *cur = NULL;
    bool continued = false;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        bool part_of_value = continued;
        continued = continues(buf, buf + strlen(buf));
        if (part_of_value) continue;
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

/* A file's text and the chunks iniparser reads it in. iniparser's
 * dictionary finds and inserts by walking every entry, so one dictionary of
 * a whole large file makes loading quadratic (30 000 sections: 15 s); a
 * chunk of at most CHUNK_SECTIONS sections keeps each dictionary small and
 * the whole load linear. Chunks start at section headers, never inside a
 * continued value, so each section is read whole by one dictionary. */
#define CHUNK_SECTIONS 128

struct chunk {
    size_t start, end; /* byte range in the text */
    int first_line;    /* 1-based line of its first byte */
    dictionary *d;
};

struct ini_text {
    char *buf;
    size_t len;
    struct chunk *chunks;
    size_t nchunks;
    size_t headers; /* lines that look like [section]: an upper bound */
};

static ipm_status split_chunks(const char *path, struct ini_text *t)
{
    size_t cap = 16, in_chunk = 0;
    int line = 1;
    bool continued = false;
    t->chunks = malloc(cap * sizeof *t->chunks);
    if (!t->chunks) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", path);
    t->chunks[0] = (struct chunk){0, t->len, 1, NULL};
    t->nchunks = 1;
    for (size_t at = 0; at < t->len; line++) {
        const char *b = t->buf + at;
        const char *nl = memchr(b, '\n', t->len - at);
        size_t next = nl ? (size_t)(nl - t->buf) + 1 : t->len;
        const char *s = b;
        while (s < t->buf + next && (*s == ' ' || *s == '\t'))
            s++;
        bool header = !continued && s < t->buf + next && *s == '[';
        continued = continues(b, t->buf + next);
        if (header) {
            t->headers++;
            if (in_chunk++ == CHUNK_SECTIONS) {
                in_chunk = 1;
                if (t->nchunks == cap) {
                    struct chunk *g = realloc(t->chunks, 2 * cap * sizeof *g);
                    if (!g) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", path);
                    t->chunks = g;
                    cap *= 2;
                }
                t->chunks[t->nchunks - 1].end = at;
                t->chunks[t->nchunks++] = (struct chunk){at, t->len, line, NULL};
            }
        }
        at = next;
    }
    return IPM_OK;
}

/* Parse every chunk with iniparser, through a memory file that it opens by
 * its /proc/self/fd name (iniparser 4.1 reads only from a path). Without
 * /proc or memfd, the file itself is read in one piece. */
static ipm_status parse_chunks(const char *path, struct ini_text *t)
{
    int mfd = memfd_create("ipm-ini", MFD_CLOEXEC);
    char name[64];
    if (mfd >= 0) snprintf(name, sizeof name, "/proc/self/fd/%d", mfd);
    if (mfd < 0 || access(name, R_OK) != 0) {
        if (mfd >= 0) close(mfd);
        if (t->nchunks > 1) {
            t->chunks[0].end = t->len;
            t->nchunks = 1;
        }
        snprintf(name, sizeof name, "%s", "");
        mfd = -1;
    }
    ipm_status st = IPM_OK;
    pthread_mutex_lock(&ini_lock);
    iniparser_set_error_callback(capture);
    for (size_t i = 0; st == IPM_OK && i < t->nchunks; i++) {
        struct chunk *k = &t->chunks[i];
        memset(&ini_error, 0, sizeof ini_error);
        if (mfd >= 0) {
            size_t n = k->end - k->start;
            if (ftruncate(mfd, 0) != 0 ||
                pwrite(mfd, t->buf + k->start, n, 0) != (ssize_t)n) {
                st = ipm_set_error(IPM_ESYS, "%s: cannot buffer the file: %s", path,
                                   strerror(errno));
                break;
            }
        }
        k->d = iniparser_load(mfd >= 0 ? name : path);
        if (!k->d) st = syntax_error(path, k->first_line);
    }
    iniparser_set_error_callback(NULL);
    pthread_mutex_unlock(&ini_lock);
    if (mfd >= 0) close(mfd);
    return st;
}

static void free_text(struct ini_text *t)
{
    for (size_t i = 0; t->chunks && i < t->nchunks; i++)
        if (t->chunks[i].d) iniparser_freedict(t->chunks[i].d);
    free(t->chunks);
    free(t->buf);
}

/* Read a regular file whole. O_NONBLOCK: a FIFO (or a device) named as the
 * INI file must not hang the open; fstat then refuses it before any read. */
static ipm_status read_text(const char *path, struct ini_text *t)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return ipm_set_error(IPM_ECONFIG, "cannot open INI file '%s': %s", path,
                             strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ipm_set_error(IPM_ECONFIG, "cannot read INI file '%s': %s", path,
                             strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ipm_set_error(IPM_ECONFIG, "INI file '%s' is %s, not a regular file", path,
                             S_ISDIR(sb.st_mode)    ? "a directory"
                             : S_ISFIFO(sb.st_mode) ? "a FIFO"
                             : S_ISSOCK(sb.st_mode) ? "a socket"
                                                    : "a device or special file");
    }
    size_t cap = (size_t)sb.st_size + 1, len = 0;
    t->buf = malloc(cap);
    if (!t->buf) {
        close(fd);
        return ipm_set_error(IPM_ENOMEM, "INI file '%s': cannot hold its %lld bytes",
                             path, (long long)sb.st_size);
    }
    for (;;) { /* to the end, even if the file grew since fstat */
        if (len + 1 == cap) {
            char *g = realloc(t->buf, cap * 2);
            if (!g) {
                close(fd);
                return ipm_set_error(IPM_ENOMEM, "INI file '%s': out of memory", path);
            }
            t->buf = g;
            cap *= 2;
        }
        ssize_t n = read(fd, t->buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return ipm_set_error(IPM_ECONFIG, "cannot read INI file '%s': %s", path,
                                 strerror(e));
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    t->buf[len] = '\0';
    t->len = len;
    return IPM_OK;
}

/* The chunk holding line `line` (chunks are in file order). */
static const struct chunk *chunk_of(const struct ini_text *t, int line)
{
    size_t lo = 0, hi = t->nchunks;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (t->chunks[mid].first_line <= line)
            lo = mid;
        else
            hi = mid;
    }
    return &t->chunks[lo];
}

static ipm_status fill_values(ipm_config *c, const struct ini_text *t)
{
    for (size_t i = 0; i < c->count; i++) {
        struct section *s = &c->sections[i];
        dictionary *d = chunk_of(t, s->line)->d;
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

/* The connection sections in file order, for ipm_config_count/name_at. */
static ipm_status list_connections(ipm_config *c)
{
    c->connections = malloc((c->count ? c->count : 1) * sizeof *c->connections);
    if (!c->connections) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", c->path);
    for (size_t k = 0; k < c->count; k++)
        if (strcmp(c->sections[k].name, GLOBAL_SECTION) != 0)
            c->connections[c->nconnections++] = k;
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
    /* Read once, then parsed from memory: a file that is not regular is
     * refused before any read (a FIFO would block), and what is parsed is
     * what was checked. */
    struct ini_text t = {0};
    ipm_status st = read_text(path, &t);
    if (st != IPM_OK) return st;
    ipm_config *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        free_text(&t);
        return ipm_set_error(IPM_ENOMEM, "ipm_config_load('%s'): out of memory", path);
    }
    st = split_chunks(path, &t);
    if (st == IPM_OK) st = parse_chunks(path, &t);
    if (st == IPM_OK) {
        if (!hcreate_r(2 * t.headers + 16, &c->index))
            st = ipm_set_error(IPM_ENOMEM, "%s: out of memory (section index)", path);
        else
            c->indexed = true;
    }
    if (st == IPM_OK) {
        FILE *f = fmemopen(t.buf, t.len ? t.len : 1, "r");
        if (!f)
            st = ipm_set_error(IPM_ENOMEM, "%s: out of memory", path);
        else {
            st = scan(c, f);
            fclose(f);
        }
    }
    if (st == IPM_OK) st = fill_values(c, &t);
    free_text(&t);
    if (st == IPM_OK) st = list_connections(c);
    if (st == IPM_OK) st = check_and_apply(c);
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
    if (c->indexed) hdestroy_r(&c->index);
    free(c->connections);
    free(c->sections);
    free(c->path);
    free(c);
}

/* ------------------------------------------------------------ queries */

/* The i-th connection section, skipping [ipm]. */
static const struct section *nth_connection(const ipm_config *c, size_t i)
{
    return i < c->nconnections ? &c->sections[c->connections[i]] : NULL;
}

size_t ipm_config_count(const ipm_config *c)
{
    return c ? c->nconnections : 0;
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
    const struct section *s = NULL;
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
    const struct section *s = NULL;
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
    const struct section *s = NULL;
    ipm_status st = lookup(c, name, "ipm_config_receiver", &s);
    if (st != IPM_OK) return st;
    st = ipm__receiver_from_params(s->params, out);
    if (st != IPM_OK) locate_error(c, s);
    return st;
}

ipm_status ipm_config_check(const ipm_config *c, const char *name)
{
    const struct section *s = NULL;
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
