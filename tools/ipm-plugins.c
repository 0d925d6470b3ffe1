/*
 * ipm-plugins — what transport plugins this machine has, and whether an INI
 * file would work with them.
 *
 *   ipm-plugins [list]                 every libipm_<Type>.so on the search path
 *   ipm-plugins show TYPE|PATH...      details of the named plugins
 *   ipm-plugins check FILE.ini         validate a config without connecting
 *   ipm-plugins path                   the search directories, one per line
 *
 * It uses only the public loader API (ipm_plugin_search_path, ipm_plugin_load,
 * ipm_params_check_keys), so it sees exactly what an application would, and
 * it never opens a connection: loading a plugin runs no transport code.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ipm/plugin.h>

#include "common/tool_util.h"

static const char usage_text[] =
    "Usage: ipm-plugins [--json] [list]\n"
    "       ipm-plugins [--json] show TYPE|PATH...\n"
    "       ipm-plugins [--json] check [--sender S]... [--receiver S]...\n"
    "                   [--subscriber S]... FILE.ini\n"
    "       ipm-plugins path\n"
    "List the ipm transport plugins on the search path, or check a config.\n"
    "\n"
    "Commands:\n"
    "  list        (default) every libipm_<Type>.so in every search directory:\n"
    "              type, role, version, plugin ABI, description, accepted keys\n"
    "              and path; for a library that cannot be used, why not; a type\n"
    "              found again in a later directory is marked as shadowed\n"
    "  show        the same for the named types or .so paths only\n"
    "  check       load FILE.ini and check, without connecting anything, that\n"
    "              every section names a type that loads, that its keys are all\n"
    "              known to that plugin, and that its role fits: 'topics' only\n"
    "              for subscribers, and the roles asked for with the options\n"
    "              below. Every problem is printed with its section.\n"
    "  path        the plugin search directories, in order\n"
    "\n"
    "Options:\n"
    "  -j, --json            machine-readable output (one JSON document)\n"
    "  -S, --sender S        section S must be a sender (check; repeatable)\n"
    "  -R, --receiver S      section S must be a receiver or a subscriber\n"
    "  -B, --subscriber S    section S must be a subscriber\n"
    "  -h, --help            show this help\n"
    "  -V, --version         show the library version and plugin ABI\n"
    "\n"
    "Search path: each directory of IPM_PLUGIN_PATH (colon-separated), then the\n"
    "[ipm] plugin_path of INI files loaded (check loads FILE.ini first), then the\n"
    "ipm/ directory next to libipm.so.\n"
    "\n"
    "Exit status:\n"
    "  0    every library listed is usable / the config is valid\n"
    "  1    a library is unusable, a type was not found, or the config has\n"
    "       problems (each is printed)\n"
    "  2    bad command line\n"
    "\n"
    "Examples:\n"
    "  ipm-plugins\n"
    "  IPM_PLUGIN_PATH=$PWD/build ipm-plugins show UdsSender\n"
    "  ipm-plugins check --sender trigger_decisions config/example.ini\n";

static bool json;

/* ------------------------------------------------------------ JSON out */

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* `"key": "value"` with a leading comma unless first. */
static void json_field(bool first, const char *key, const char *value)
{
    printf("%s\"%s\": ", first ? "" : ", ", key);
    json_string(value);
}

static const char *status_name(ipm_status st)
{
    switch (st) {
#define IPM_STATUS_NAME_(name, text)                                                     \
    case name:                                                                           \
        return #name;
        IPM_STATUS_TABLE(IPM_STATUS_NAME_)
#undef IPM_STATUS_NAME_
    }
    return "unknown";
}

static const char *role_name(uint32_t role)
{
    switch (role) {
    case IPM_ROLE_SENDER:
        return "sender";
    case IPM_ROLE_RECEIVER:
        return "receiver";
    case IPM_ROLE_SUBSCRIBER:
        return "subscriber";
    }
    return "unknown";
}

/* -------------------------------------------------------------- entries */

/* One library found on the path (or named on the command line). */
struct entry {
    char *type;
    char *path;
    const ipm_plugin *desc; /* NULL if unusable or shadowed */
    ipm_status status;
    char *error;             /* why it is unusable */
    const char *shadowed_by; /* path of the earlier library of the same type */
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        tool_error("out of memory");
        exit(TOOL_EXIT_ERROR);
    }
    return d;
}

static struct entry *entries_add(struct entries *es)
{
    if (es->n == es->cap) {
        size_t cap = es->cap ? 2 * es->cap : 16;
        struct entry *v = realloc(es->v, cap * sizeof *v);
        if (!v) {
            tool_error("out of memory");
            exit(TOOL_EXIT_ERROR);
        }
        es->v = v;
        es->cap = cap;
    }
    struct entry *e = &es->v[es->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static void entries_free(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->v[i].type);
        free(es->v[i].path);
        free(es->v[i].error);
    }
    free(es->v);
}

/* Load the plugin for what (a type or a path) and fill e. */
static void entry_load(struct entry *e, const char *what)
{
    e->status = ipm_plugin_load(what, &e->desc);
    if (e->status != IPM_OK) {
        e->error = xstrdup(ipm_last_error());
        e->desc = NULL;
        return;
    }
    free(e->type);
    e->type = xstrdup(e->desc->name);
    const char *loaded = ipm_plugin_loaded_path(e->desc->name);
    if (loaded) {
        free(e->path);
        e->path = xstrdup(loaded);
    }
}

/* The search path as a malloc'ed string. */
static char *search_path(void)
{
    char small[1];
    size_t n = ipm_plugin_search_path(small, sizeof small);
    char *buf = malloc(n + 1);
    if (!buf) {
        tool_error("out of memory");
        exit(TOOL_EXIT_ERROR);
    }
    ipm_plugin_search_path(buf, n + 1);
    return buf;
}

/* Split the search path into directories (modifies sp), skipping empty
 * entries and directories already listed. Returns the count. */
static size_t search_dirs(char *sp, char **dirs, size_t max)
{
    size_t n = 0;
    for (char *d = sp, *next; d && *d && n < max; d = next) {
        next = strchr(d, ':');
        if (next) *next++ = '\0';
        if (!*d) continue;
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(dirs[i], d) == 0;
        if (!dup) dirs[n++] = d;
    }
    return n;
}

/* <Type> of a file name libipm_<Type>.so (malloc'ed), or NULL for any other
 * name. */
static char *type_of_file(const char *name)
{
    size_t len = strlen(name);
    if (len <= 10 || strncmp(name, "libipm_", 7) != 0 ||
        strcmp(name + len - 3, ".so") != 0)
        return NULL;
    char *type = xstrdup(name + 7);
    type[len - 10] = '\0';
    return type;
}

static int only_plugins(const struct dirent *d)
{
    char *type = type_of_file(d->d_name);
    int match = type != NULL;
    free(type);
    return match;
}

/* Every libipm_*.so of every search directory, in search order, each loaded
 * (the first of a type) or marked as shadowed (later ones). */
static void scan(struct entries *es, char **dirs, size_t ndirs)
{
    for (size_t i = 0; i < ndirs; i++) {
        struct dirent **names;
        int n = scandir(dirs[i], &names, only_plugins, alphasort);
        if (n < 0) continue; /* a missing directory is normal (IPM_PLUGIN_PATH lists) */
        for (int k = 0; k < n; k++) {
            const char *file = names[k]->d_name;
            struct entry *e = entries_add(es);
            e->type = type_of_file(file);
            size_t plen = strlen(dirs[i]) + 1 + strlen(file) + 1;
            e->path = malloc(plen);
            if (!e->path) {
                tool_error("out of memory");
                exit(TOOL_EXIT_ERROR);
            }
            snprintf(e->path, plen, "%s/%s", dirs[i], file);
            for (size_t j = 0; j + 1 < es->n && !e->shadowed_by; j++)
                if (strcmp(es->v[j].type, e->type) == 0) e->shadowed_by = es->v[j].path;
            if (!e->shadowed_by) entry_load(e, e->path);
            free(names[k]);
        }
        free(names);
    }
}

/* ---------------------------------------------------------------- output */

static void print_keys_text(const ipm_plugin *d)
{
    fputs("    keys:", stdout);
    if (!d->keys || !d->keys[0]) fputs(" (none)", stdout);
    for (size_t i = 0; d->keys && d->keys[i]; i++)
        printf("%s %s", i ? "," : "", d->keys[i]);
    putchar('\n');
}

/* A stated limit as text: "none" or the number of bytes. */
static const char *limit_text(uint64_t v, char *buf, size_t cap)
{
    if (v == IPM_LIMIT_NONE) return "none";
    snprintf(buf, cap, "%llu bytes", (unsigned long long)v);
    return buf;
}

static const struct {
    uint32_t bit;
    const char *name;
} feature_names[] = {{IPM_FEATURE_CROSS_PROCESS, "cross-process"},
                     {IPM_FEATURE_CROSS_HOST, "cross-host"},
                     {IPM_FEATURE_FAN_IN, "fan-in"},
                     {IPM_FEATURE_MULTI_PUBLISHER, "many-publishers"},
                     {IPM_FEATURE_DROP_COUNT, "exact-drop-count"}};
#define NFEATURES (sizeof feature_names / sizeof feature_names[0])

/* What the descriptor states: limits (defaults if none) and settings. */
static ipm_limits stated_limits(const ipm_plugin *d)
{
    return d->limits ? *d->limits : (ipm_limits){IPM_LIMIT_NONE, IPM_LIMIT_NONE, 0, 0};
}

static void print_limits_text(const ipm_plugin *d)
{
    ipm_limits l = stated_limits(d);
    char a[32], b[32];
    printf("    limits: largest message %s, metadata %s; features:",
           limit_text(l.max_message_size, a, sizeof a),
           limit_text(l.max_metadata_size, b, sizeof b));
    bool any = false;
    for (size_t i = 0; i < NFEATURES; i++)
        if (l.features & feature_names[i].bit) {
            printf("%s %s", any ? "," : "", feature_names[i].name);
            any = true;
        }
    puts(any ? "" : " (none stated)");
    if (d->settings && d->settings[0]) {
        fputs("    [ipm] settings:", stdout);
        for (size_t i = 0; d->settings[i]; i++)
            printf("%s %s", i ? "," : "", d->settings[i]);
        putchar('\n');
    }
}

static void print_entry_text(const struct entry *e)
{
    if (e->desc) {
        const ipm_plugin *d = e->desc;
        printf("%s  (%s, version %s, ABI %u.%u)\n", d->name, role_name(d->role),
               d->version ? d->version : "?", (unsigned)d->abi_major,
               (unsigned)d->abi_minor);
        if (d->description && *d->description) printf("    %s\n", d->description);
        print_keys_text(d);
        print_limits_text(d);
        printf("    path: %s\n", e->path);
    } else if (e->shadowed_by) {
        printf("%s  (shadowed: not used)\n", e->type);
        printf("    path: %s\n", e->path);
        printf("    %s comes first on the search path\n", e->shadowed_by);
    } else {
        printf("%s  UNUSABLE: %s\n", e->type, ipm_strerror(e->status));
        printf("    why:  %s\n", e->error);
        if (e->path) printf("    path: %s\n", e->path);
    }
}

static void print_entry_json(const struct entry *e)
{
    putchar('{');
    json_field(true, "type", e->type);
    if (e->path) json_field(false, "path", e->path);
    printf(", \"usable\": %s", e->desc ? "true" : "false");
    if (e->desc) {
        const ipm_plugin *d = e->desc;
        json_field(false, "role", role_name(d->role));
        json_field(false, "version", d->version);
        printf(", \"abi\": \"%u.%u\"", (unsigned)d->abi_major, (unsigned)d->abi_minor);
        json_field(false, "description", d->description);
        fputs(", \"keys\": [", stdout);
        for (size_t i = 0; d->keys && d->keys[i]; i++) {
            if (i) fputs(", ", stdout);
            json_string(d->keys[i]);
        }
        putchar(']');
        ipm_limits l = stated_limits(d);
        fputs(", \"limits\": {\"max_message_size\": ", stdout);
        if (l.max_message_size == IPM_LIMIT_NONE)
            fputs("null", stdout);
        else
            printf("%llu", (unsigned long long)l.max_message_size);
        fputs(", \"max_metadata_size\": ", stdout);
        if (l.max_metadata_size == IPM_LIMIT_NONE)
            fputs("null", stdout);
        else
            printf("%llu", (unsigned long long)l.max_metadata_size);
        fputs(", \"features\": [", stdout);
        bool any = false;
        for (size_t i = 0; i < NFEATURES; i++)
            if (l.features & feature_names[i].bit) {
                if (any) fputs(", ", stdout);
                json_string(feature_names[i].name);
                any = true;
            }
        fputs("]}, \"settings\": [", stdout);
        for (size_t i = 0; d->settings && d->settings[i]; i++) {
            if (i) fputs(", ", stdout);
            json_string(d->settings[i]);
        }
        putchar(']');
    } else if (e->shadowed_by) {
        json_field(false, "shadowed_by", e->shadowed_by);
    } else {
        json_field(false, "status", status_name(e->status));
        json_field(false, "error", e->error);
    }
    putchar('}');
}

/* Print entries; returns the exit code (1 if any is unusable). */
static int report(const struct entries *es, char **dirs, size_t ndirs)
{
    int rc = TOOL_EXIT_OK;
    size_t usable = 0, shadowed = 0;
    for (size_t i = 0; i < es->n; i++) {
        if (es->v[i].desc)
            usable++;
        else if (es->v[i].shadowed_by)
            shadowed++;
        else
            rc = TOOL_EXIT_ERROR;
    }
    if (json) {
        putchar('{');
        if (dirs) {
            fputs("\"search_path\": [", stdout);
            for (size_t i = 0; i < ndirs; i++) {
                if (i) fputs(", ", stdout);
                json_string(dirs[i]);
            }
            fputs("], ", stdout);
        }
        fputs("\"plugins\": [", stdout);
        for (size_t i = 0; i < es->n; i++) {
            fputs(i ? ",\n  " : "\n  ", stdout);
            print_entry_json(&es->v[i]);
        }
        printf("]}\n");
        return rc;
    }
    if (dirs) {
        printf("Search path:\n");
        for (size_t i = 0; i < ndirs; i++)
            printf("  %s\n", dirs[i]);
        if (ndirs == 0) printf("  (empty)\n");
        putchar('\n');
    }
    for (size_t i = 0; i < es->n; i++)
        print_entry_text(&es->v[i]);
    if (dirs)
        printf("%s%zu usable, %zu unusable, %zu shadowed\n", es->n ? "\n" : "", usable,
               es->n - usable - shadowed, shadowed);
    return rc;
}

/* ---------------------------------------------------------------- check */

/* A role asked for on the command line: section name and allowed roles. */
struct expect {
    const char *section;
    unsigned roles; /* bit mask of 1u << ipm_role */
    const char *what;
    bool seen;
};

struct problems {
    const char *file;
    size_t count;
    bool json_first;
};

static void problem(struct problems *pr, const char *section, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct problems *pr, const char *section, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pr->count++;
    if (json) {
        printf("%s\n  {", pr->json_first ? "" : ",");
        pr->json_first = false;
        json_field(true, "section", section ? section : "");
        json_field(false, "problem", msg);
        putchar('}');
    } else if (section) {
        printf("%s: [%s] %s\n", pr->file, section, msg);
    } else if (strncmp(msg, pr->file, strlen(pr->file)) == 0) {
        printf("%s\n", msg); /* the library's message already says FILE:LINE */
    } else {
        printf("%s: %s\n", pr->file, msg);
    }
}

static void check_section(struct problems *pr, const ipm_config *c, const char *name,
                          struct expect *ex, size_t nex)
{
    ipm_params *p = NULL;
    ipm_status st = ipm_config_params(c, name, &p);
    if (st != IPM_OK) {
        problem(pr, name, "%s", ipm_last_error());
        return;
    }
    const char *type = ipm_params_get(p, "type");
    const ipm_plugin *d = NULL;
    if (!type || !*type)
        problem(pr, name,
                "no 'type' key: say which transport (ipm-plugins lists the types)");
    else if ((st = ipm_plugin_load(type, &d)) != IPM_OK)
        problem(pr, name, "type '%s': %s", type, ipm_last_error());

    if (d) {
        for (size_t i = 0; i < nex; i++) {
            if (strcasecmp(ex[i].section, name) != 0) continue;
            ex[i].seen = true;
            if (!(ex[i].roles & (1u << d->role)))
                problem(pr, name, "must be %s, but %s is a %s", ex[i].what, d->name,
                        role_name(d->role));
        }
        /* Key by key, so that every unknown key is reported, not only the
         * first one. The core's check also refuses 'topics' for a type that
         * is not a subscriber. */
        size_t before = pr->count;
        for (size_t i = 0; i < ipm_params_count(p); i++) {
            ipm_params *one = NULL;
            if (ipm_params_new(&one) != IPM_OK ||
                ipm_params_set(one, ipm_params_key_at(p, i), ipm_params_value_at(p, i)) !=
                    IPM_OK) {
                problem(pr, name, "%s", ipm_last_error());
            } else if (ipm_params_check_keys(one, d) != IPM_OK) {
                problem(pr, name, "%s", ipm_last_error());
            }
            ipm_params_free(one);
        }
        /* The keys are known: now the plugin's own check of their values
         * (ranges, endpoint syntax), which names FILE:LINE itself. */
        if (pr->count == before && ipm_config_check(c, name) != IPM_OK)
            problem(pr, NULL, "%s", ipm_last_error());
    } else {
        /* Without a plugin the roles cannot be checked, but the option was
         * not about a missing section. */
        for (size_t i = 0; i < nex; i++)
            if (strcasecmp(ex[i].section, name) == 0) ex[i].seen = true;
    }
    ipm_params_free(p);
}

static int check(const char *file, struct expect *ex, size_t nex)
{
    struct problems pr = {file, 0, true};
    if (json) {
        printf("{");
        json_field(true, "file", file);
        fputs(", \"problems\": [", stdout);
    }
    ipm_config *c = NULL;
    size_t n = 0;
    ipm_status st = ipm_config_load(file, &c);
    if (st != IPM_OK) {
        problem(&pr, NULL, "%s", ipm_last_error());
    } else {
        n = ipm_config_count(c);
        if (n == 0) problem(&pr, NULL, "no connection sections (only [ipm] or nothing)");
        for (size_t i = 0; i < n; i++)
            check_section(&pr, c, ipm_config_name_at(c, i), ex, nex);
        for (size_t i = 0; i < nex; i++)
            if (!ex[i].seen)
                problem(&pr, ex[i].section, "no such section (asked to be %s)",
                        ex[i].what);
    }
    ipm_config_free(c);
    if (json)
        printf("%s], \"connections\": %zu, \"ok\": %s}\n", pr.count ? "\n" : "", n,
               pr.count ? "false" : "true");
    else if (pr.count == 0)
        printf("%s: OK, %zu connection%s checked\n", file, n, n == 1 ? "" : "s");
    else
        printf("%s: %zu problem%s\n", file, pr.count, pr.count == 1 ? "" : "s");
    return pr.count ? TOOL_EXIT_ERROR : TOOL_EXIT_OK;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    tool_set_name(argv[0]);
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"sender", required_argument, NULL, 'S'},
        {"receiver", required_argument, NULL, 'R'},
        {"subscriber", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct expect *ex = calloc((size_t)argc, sizeof *ex);
    size_t nex = 0;
    if (!ex) return TOOL_EXIT_ERROR;
    int opt;
    while ((opt = getopt_long(argc, argv, "jS:R:B:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j':
            json = true;
            break;
        case 'S':
            ex[nex++] = (struct expect){optarg, 1u << IPM_ROLE_SENDER, "a sender", false};
            break;
        case 'R':
            ex[nex++] = (struct expect){
                optarg, (1u << IPM_ROLE_RECEIVER) | (1u << IPM_ROLE_SUBSCRIBER),
                "a receiver", false};
            break;
        case 'B':
            ex[nex++] =
                (struct expect){optarg, 1u << IPM_ROLE_SUBSCRIBER, "a subscriber", false};
            break;
        case 'h':
            fputs(usage_text, stdout);
            free(ex);
            return TOOL_EXIT_OK;
        case 'V':
            printf("ipm-plugins (libipm %s, plugin ABI %d.%d)\n", ipm_version(),
                   IPM_PLUGIN_ABI_MAJOR, IPM_PLUGIN_ABI_MINOR);
            free(ex);
            return TOOL_EXIT_OK;
        default:
            free(ex);
            return tool_usage_error("unknown option");
        }
    }
    const char *cmd = optind < argc ? argv[optind++] : "list";
    int nargs = argc - optind;
    char **args = argv + optind;
    int rc;

    if (nex && strcmp(cmd, "check") != 0) {
        rc = tool_usage_error("--sender, --receiver and --subscriber go with 'check'");
    } else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "path") == 0) {
        if (nargs) {
            rc = tool_usage_error("'%s' takes no arguments", cmd);
        } else {
            char *sp = search_path();
            char **dirs = calloc(strlen(sp) / 2 + 2, sizeof *dirs);
            size_t ndirs = dirs ? search_dirs(sp, dirs, strlen(sp) / 2 + 1) : 0;
            if (strcmp(cmd, "path") == 0) {
                for (size_t i = 0; i < ndirs; i++)
                    printf("%s\n", dirs[i]);
                rc = TOOL_EXIT_OK;
            } else {
                struct entries es = {0};
                scan(&es, dirs, ndirs);
                rc = report(&es, dirs, ndirs);
                entries_free(&es);
            }
            free(dirs);
            free(sp);
        }
    } else if (strcmp(cmd, "show") == 0) {
        if (nargs == 0) {
            rc = tool_usage_error("'show' needs at least one TYPE or PATH");
        } else {
            struct entries es = {0};
            for (int i = 0; i < nargs; i++) {
                struct entry *e = entries_add(&es);
                e->type = xstrdup(args[i]);
                if (strchr(args[i], '/')) {
                    /* Name it by its type, as the loader does: .../libipm_<Type>.so */
                    char *type = type_of_file(strrchr(args[i], '/') + 1);
                    if (type) {
                        free(e->type);
                        e->type = type;
                    }
                    e->path = xstrdup(args[i]);
                }
                entry_load(e, args[i]);
            }
            rc = report(&es, NULL, 0);
            entries_free(&es);
        }
    } else if (strcmp(cmd, "check") == 0) {
        rc = nargs == 1 ? check(args[0], ex, nex)
                        : tool_usage_error("'check' needs exactly one FILE.ini");
    } else {
        rc = tool_usage_error("unknown command '%s' (list, show, check, path)", cmd);
    }
    free(ex);
    fflush(stdout);
    return rc;
}
