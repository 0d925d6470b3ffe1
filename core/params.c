/* params.c — ordered key=value connection info, the connection-string
 * parser, typed getters for plugins, and the unknown-key check. */
#define _GNU_SOURCE
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ipm_pair {
    char *key;
    char *value;
};

struct ipm_params {
    struct ipm_pair *pairs;
    size_t count, cap;
};

/* Keys every type accepts: the core consumes them itself. */
static const char *const core_keys[] = {"type", "topics"};

char *ipm__strdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        ipm_set_error(IPM_ENOMEM, "out of memory copying a %zu-byte string", strlen(s));
    return d;
}

ipm_status ipm_params_new(ipm_params **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_params_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return ipm_set_error(IPM_ENOMEM, "ipm_params_new: out of memory");
    return IPM_OK;
}

void ipm_params_free(ipm_params *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->count; i++) {
        free(p->pairs[i].key);
        free(p->pairs[i].value);
    }
    free(p->pairs);
    free(p);
}

static struct ipm_pair *find(const ipm_params *p, const char *key)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->pairs[i].key, key) == 0) return &p->pairs[i];
    return NULL;
}

ipm_status ipm_params_set(ipm_params *p, const char *key, const char *value)
{
    if (!p || !key || !value)
        return ipm_set_error(IPM_EINVAL, "ipm_params_set: %s is NULL",
                             !p     ? "params"
                             : !key ? "key"
                                    : "value");
    if (!*key) return ipm_set_error(IPM_EINVAL, "ipm_params_set: empty key");
    char *v = ipm__strdup(value);
    if (!v) return IPM_ENOMEM;
    struct ipm_pair *pair = find(p, key);
    if (pair) {
        free(pair->value);
        pair->value = v;
        return IPM_OK;
    }
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct ipm_pair *grown = realloc(p->pairs, cap * sizeof *grown);
        if (!grown) {
            free(v);
            return ipm_set_error(IPM_ENOMEM, "ipm_params_set: out of memory");
        }
        p->pairs = grown;
        p->cap = cap;
    }
    char *k = ipm__strdup(key);
    if (!k) {
        free(v);
        return IPM_ENOMEM;
    }
    p->pairs[p->count++] = (struct ipm_pair){k, v};
    return IPM_OK;
}

const char *ipm_params_get(const ipm_params *p, const char *key)
{
    if (!p || !key) return NULL;
    struct ipm_pair *pair = find(p, key);
    return pair ? pair->value : NULL;
}

size_t ipm_params_count(const ipm_params *p)
{
    return p ? p->count : 0;
}

const char *ipm_params_key_at(const ipm_params *p, size_t i)
{
    return p && i < p->count ? p->pairs[i].key : NULL;
}

const char *ipm_params_value_at(const ipm_params *p, size_t i)
{
    return p && i < p->count ? p->pairs[i].value : NULL;
}

/* ------------------------------------------------------------- parsing */

/* A bare endpoint is "scheme://..." with no '=' before the "://". */
static bool is_bare_endpoint(const char *s)
{
    const char *sep = strstr(s, "://");
    if (!sep || sep == s || !isalpha((unsigned char)*s)) return false;
    for (const char *c = s; c < sep; c++)
        if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
            return false;
    return true;
}

static bool valid_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* Trim [*b, *e) in place of spaces/tabs. */
static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* Longest connection string quoted whole in a parse error. */
#define PARSE_ERROR_QUOTE_MAX 200

static ipm_status parse_error(const char *text, size_t column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ipm_status parse_error(const char *text, size_t column, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t len = strlen(text);
    if (len <= PARSE_ERROR_QUOTE_MAX)
        return ipm_set_error(IPM_ECONFIG, "connection string \"%s\": %s at column %zu",
                             text, what, column);
    /* Quoted whole, a long string would push the reason and the column off
     * the end of the message: quote the stretch around the column. */
    size_t from =
        column > PARSE_ERROR_QUOTE_MAX / 2 ? column - PARSE_ERROR_QUOTE_MAX / 2 : 0;
    if (from > len) from = len;
    size_t n = len - from < PARSE_ERROR_QUOTE_MAX ? len - from : PARSE_ERROR_QUOTE_MAX;
    return ipm_set_error(
        IPM_ECONFIG,
        "connection string of %zu bytes, near \"%s%.*s%s\": %s at column %zu", len,
        from > 0 ? "..." : "", (int)n, text + from, from + n < len ? "..." : "", what,
        column);
}

static ipm_status add_pair(ipm_params *p, const char *text, const char *kb,
                           const char *ke, const char *vb, const char *ve)
{
    char key[256];
    size_t klen = (size_t)(ke - kb);
    size_t col = (size_t)(kb - text) + 1;
    if (klen == 0) return parse_error(text, col, "empty key before '='");
    if (klen >= sizeof key)
        return parse_error(text, col, "key longer than %zu characters", sizeof key - 1);
    memcpy(key, kb, klen);
    key[klen] = '\0';
    for (size_t i = 0; i < klen; i++)
        if (!valid_key_char(key[i]))
            return parse_error(text, col,
                               "key '%s' contains '%c' (keys are letters, digits, _ - .)",
                               key, key[i]);
    if (find(p, key)) return parse_error(text, col, "duplicate key '%s'", key);
    char *value = strndup(vb, (size_t)(ve - vb));
    if (!value) return ipm_set_error(IPM_ENOMEM, "ipm_params_parse: out of memory");
    ipm_status st = ipm_params_set(p, key, value);
    free(value);
    return st;
}

/* Parse one "key = value" pair spanning [b, e), the value possibly quoted. */
static ipm_status parse_pair(ipm_params *p, const char *text, const char *b,
                             const char *e)
{
    const char *eq = memchr(b, '=', (size_t)(e - b));
    const char *tb = b, *te = e;
    trim(&tb, &te);
    if (tb == te) return IPM_OK; /* an empty segment, e.g. after a trailing ';' */
    if (!eq)
        return parse_error(text, (size_t)(tb - text) + 1,
                           "'%.*s' has no '=' (pairs are key=value)", (int)(te - tb), tb);
    const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
    trim(&kb, &ke);
    trim(&vb, &ve);
    if (vb < ve && *vb == '"') {
        const char *close = memchr(vb + 1, '"', (size_t)(ve - vb - 1));
        if (!close || close != ve - 1)
            return parse_error(text, (size_t)(vb - text) + 1,
                               !close ? "unterminated quote"
                                      : "text after a closing quote");
        vb++;
        ve--;
    }
    return add_pair(p, text, kb, ke, vb, ve);
}

ipm_status ipm_params_parse(const char *text, ipm_params **out)
{
    if (!out) return ipm_set_error(IPM_EINVAL, "ipm_params_parse: out is NULL");
    *out = NULL;
    if (!text)
        return ipm_set_error(IPM_EINVAL, "ipm_params_parse: connection string is NULL");
    ipm_params *p;
    ipm_status st = ipm_params_new(&p);
    if (st != IPM_OK) return st;

    const char *b = text, *e = text + strlen(text);
    trim(&b, &e);
    if (b == e) {
        ipm_params_free(p);
        return ipm_set_error(IPM_ECONFIG,
                             "connection string is empty: give an endpoint such as "
                             "tcp://host:5555 or key=value pairs");
    }
    /* The scheme of a bare endpoint cannot hold '=', so "type=...://..." is
     * never taken for one. */
    if (is_bare_endpoint(b) && !memchr(b, ';', (size_t)(e - b))) {
        char *endpoint = strndup(b, (size_t)(e - b));
        st = endpoint ? ipm_params_set(p, "connection_string", endpoint) : IPM_ENOMEM;
        free(endpoint);
    } else {
        /* Split on ';' outside double quotes. */
        const char *seg = text;
        bool quoted = false;
        for (const char *c = text;; c++) {
            if (*c == '"') quoted = !quoted;
            if ((*c == ';' && !quoted) || *c == '\0') {
                st = parse_pair(p, text, seg, c);
                if (st != IPM_OK || *c == '\0') break;
                seg = c + 1;
            }
        }
    }
    if (st != IPM_OK) {
        ipm_params_free(p);
        return st;
    }
    *out = p;
    return IPM_OK;
}

/* --------------------------------------------------------------- getters */

static ipm_status bad_value(const char *key, const char *value, const char *want)
{
    return ipm_set_error(IPM_ECONFIG, "key '%s' = '%s': %s", key, value, want);
}

ipm_status ipm_params_get_int(const ipm_params *p, const char *key, long long def,
                              long long min, long long max, long long *out)
{
    if (!key || !out)
        return ipm_set_error(IPM_EINVAL, "ipm_params_get_int: key or out is NULL");
    const char *v = ipm_params_get(p, key);
    if (!v) {
        *out = def;
        return IPM_OK;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 0);
    if (errno || end == v || *end) return bad_value(key, v, "not an integer");
    if (n < min || n > max)
        return ipm_set_error(IPM_ECONFIG, "key '%s' = %lld is out of range [%lld, %lld]",
                             key, n, min, max);
    *out = n;
    return IPM_OK;
}

bool ipm_parse_size(const char *text, uint64_t *out)
{
    if (!text || !out || !isdigit((unsigned char)*text)) return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno || end == text) return false;
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"", 1},           {"k", 1000},      {"K", 1000},      {"M", 1000000},
                 {"G", 1000000000}, {"Ki", 1024},     {"Mi", 1 << 20},  {"Gi", 1 << 30},
                 {"KiB", 1024},     {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}};
    uint64_t mult = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0) mult = units[i].mult;
    if (!mult || n > UINT64_MAX / mult) return false;
    *out = (uint64_t)n * mult;
    return true;
}

ipm_status ipm_params_get_size(const ipm_params *p, const char *key, uint64_t def,
                               uint64_t min, uint64_t max, uint64_t *out)
{
    if (!key || !out)
        return ipm_set_error(IPM_EINVAL, "ipm_params_get_size: key or out is NULL");
    const char *v = ipm_params_get(p, key);
    if (!v) {
        *out = def;
        return IPM_OK;
    }
    if (*v == '-') return bad_value(key, v, "not a size (a negative number)");
    uint64_t size;
    if (!ipm_parse_size(v, &size)) {
        /* Say which part is wrong: the number, the unit, or the product. */
        char *end, probe[8];
        errno = 0;
        (void)strtoull(v, &end, 10);
        bool unit_ok =
            strlen(end) < sizeof probe - 1 &&
            (snprintf(probe, sizeof probe, "1%s", end), ipm_parse_size(probe, &size));
        return bad_value(
            key, v,
            !isdigit((unsigned char)*v)
                ? "not a size (use a number with an optional k, M, G, Ki, Mi, Gi)"
            : errno == ERANGE || unit_ok
                ? "too large"
                : "unknown unit (use k, M, G for 1000s or Ki, Mi, Gi for 1024s)");
    }
    if (size < min || size > max)
        return ipm_set_error(IPM_ECONFIG, "key '%s' = %s is out of range [%llu, %llu]",
                             key, v, (unsigned long long)min, (unsigned long long)max);
    *out = size;
    return IPM_OK;
}

ipm_status ipm_params_get_mode(const ipm_params *p, const char *key, unsigned def,
                               unsigned need, unsigned *out)
{
    if (!key || !out)
        return ipm_set_error(IPM_EINVAL, "ipm_params_get_mode: key or out is NULL");
    const char *v = ipm_params_get(p, key);
    if (!v) {
        *out = def;
        return IPM_OK;
    }
    char *end;
    errno = 0;
    long mode = strtol(v, &end, 8);
    if (errno || end == v || *end || mode < 0 || mode > 0777 ||
        ((unsigned)mode & need) != need)
        return ipm_set_error(IPM_ECONFIG,
                             "key '%s' = '%s' is not an octal file mode between %04o and "
                             "0777 that keeps the bits %04o (the owner's own access)",
                             key, v, need, need);
    *out = (unsigned)mode;
    return IPM_OK;
}

ipm_status ipm_params_get_bool(const ipm_params *p, const char *key, bool def, bool *out)
{
    if (!key || !out)
        return ipm_set_error(IPM_EINVAL, "ipm_params_get_bool: key or out is NULL");
    const char *v = ipm_params_get(p, key);
    if (!v) {
        *out = def;
        return IPM_OK;
    }
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return IPM_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return IPM_OK;
        }
    }
    return bad_value(key, v, "not a boolean (use true/false, yes/no, on/off or 1/0)");
}

const char *ipm_params_get_str(const ipm_params *p, const char *key, const char *def)
{
    const char *v = ipm_params_get(p, key);
    return v ? v : def;
}

/* ------------------------------------------------------------ key check */

static bool known_key(const ipm_plugin *desc, const char *key)
{
    for (size_t i = 0; i < sizeof core_keys / sizeof core_keys[0]; i++)
        if (strcmp(key, core_keys[i]) == 0) return true;
    for (const char *const *k = desc->keys; k && *k; k++)
        if (strcmp(key, *k) == 0) return true;
    return false;
}

ipm_status ipm_params_check_keys(const ipm_params *p, const ipm_plugin *desc)
{
    if (!p || !desc)
        return ipm_set_error(IPM_EINVAL, "ipm_params_check_keys: %s is NULL",
                             !p ? "params" : "plugin");
    for (size_t i = 0; i < p->count; i++) {
        const char *key = p->pairs[i].key;
        if (strcmp(key, "topics") == 0 && desc->role != IPM_ROLE_SUBSCRIBER)
            return ipm_set_error(IPM_ECONFIG,
                                 "key 'topics' applies only to subscribers, and %s is %s",
                                 desc->name, ipm__role_name(desc->role));
        if (known_key(desc, key)) continue;

        const char *cands[64];
        size_t n = 0;
        for (size_t c = 0; c < sizeof core_keys / sizeof core_keys[0]; c++)
            cands[n++] = core_keys[c];
        for (const char *const *k = desc->keys; k && *k && n < 64; k++)
            cands[n++] = *k;
        const char *hint = ipm__suggest(key, cands, n);
        if (hint)
            return ipm_set_error(IPM_ECONFIG,
                                 "unknown key '%s' for %s; did you mean '%s'?", key,
                                 desc->name, hint);
        char list[1024] = "";
        size_t len = 0;
        for (size_t c = 0; c < n && len < sizeof list; c++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", c ? ", " : "",
                                    cands[c]);
        return ipm_set_error(IPM_ECONFIG, "unknown key '%s' for %s; it accepts: %s", key,
                             desc->name, list);
    }
    return IPM_OK;
}

/* ------------------------------------------------------------ lists */

ipm_status ipm_params_get_list(const ipm_params *p, const char *key, char ***items,
                               size_t *count)
{
    if (!key || !items || !count)
        return ipm_set_error(IPM_EINVAL,
                             "ipm_params_get_list: key, items or count is NULL");
    *items = NULL;
    *count = 0;
    const char *v = ipm_params_get(p, key);
    if (!v) return IPM_OK;

    /* One allocation: the pointer array, then the trimmed strings. */
    size_t n = 1;
    for (const char *c = v; *c; c++)
        n += *c == ',';
    size_t len = strlen(v);
    char **arr = malloc((n + 1) * sizeof *arr + len + 1);
    if (!arr)
        return ipm_set_error(IPM_ENOMEM, "key '%s': out of memory for its list", key);
    char *text = (char *)(arr + n + 1);
    memcpy(text, v, len + 1);

    size_t k = 0;
    bool all_blank = true;
    for (const char *c = v; *c; c++)
        all_blank &= isspace((unsigned char)*c) != 0;
    if (!all_blank) {
        char *c = text;
        for (size_t i = 0; i < n; i++) {
            char *end = strchrnul(c, ',');
            bool last = !*end;
            *end = '\0';
            char *b = c, *e = end;
            while (b < e && isspace((unsigned char)*b))
                b++;
            while (e > b && isspace((unsigned char)e[-1]))
                e--;
            *e = '\0';
            if (!*b) {
                free(arr);
                return ipm_set_error(
                    IPM_ECONFIG,
                    "key '%s' = '%s': item %zu of the comma-separated list "
                    "is empty; remove the extra comma",
                    key, v, i + 1);
            }
            arr[k++] = b;
            if (last) break;
            c = end + 1;
        }
    }
    arr[k] = NULL;
    *items = arr;
    *count = k;
    return IPM_OK;
}

ipm_status ipm_params_get_endpoints(const ipm_params *p, const char *type, char ***items,
                                    size_t *count)
{
    if (!items || !count || !type)
        return ipm_set_error(IPM_EINVAL,
                             "ipm_params_get_endpoints: type, items or count is NULL");
    *items = NULL;
    *count = 0;
    char **one, **many;
    size_t n1, n2;
    ipm_status st = ipm_params_get_list(p, "connection_string", &one, &n1);
    if (st != IPM_OK) return st;
    st = ipm_params_get_list(p, "connection_strings", &many, &n2);
    if (st != IPM_OK) {
        free(one);
        return st;
    }
    if (n1 + n2 == 0) {
        free(one);
        free(many);
        return ipm_set_error(IPM_ECONFIG,
                             "%s: no endpoint: set 'connection_string' or "
                             "'connection_strings' (a comma-separated list)",
                             type);
    }
    /* Copy both into one allocation: pointers, then the strings. */
    size_t bytes = 0;
    for (size_t i = 0; i < n1; i++)
        bytes += strlen(one[i]) + 1;
    for (size_t i = 0; i < n2; i++)
        bytes += strlen(many[i]) + 1;
    char **arr = malloc((n1 + n2 + 1) * sizeof *arr + bytes);
    if (!arr) {
        free(one);
        free(many);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory for its endpoints", type);
    }
    char *text = (char *)(arr + n1 + n2 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n1 + n2; i++) {
        const char *e = i < n1 ? one[i] : many[i - n1];
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(arr[j], e) == 0;
        if (dup) continue;
        size_t len = strlen(e) + 1;
        memcpy(text, e, len);
        arr[k++] = text;
        text += len;
    }
    arr[k] = NULL;
    free(one);
    free(many);
    *items = arr;
    *count = k;
    return IPM_OK;
}
