/*
 * tool_ipm.c — opening a CONNECTION argument (connection string or
 * FILE:SECTION) with libipm, and printing libipm's errors.
 */
#define _GNU_SOURCE
#include "tool_ipm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int tool_ipm_fail(const char *what, ipm_status st)
{
    const char *detail = ipm_last_error();
    if (detail && *detail)
        tool_error("%s: %s: %s", what, ipm_strerror(st), detail);
    else
        tool_error("%s: %s", what, ipm_strerror(st));
    return st == IPM_ETIMEDOUT ? TOOL_EXIT_TIMEOUT : TOOL_EXIT_ERROR;
}

/* FILE:SECTION when the part before the last ':' is an existing regular file
 * and the section name is not empty. A connection string never qualifies:
 * what precedes its last ':' ("tcp://host") is not a file. */
static bool split_ini(const char *arg, char **file, const char **section)
{
    const char *colon = strrchr(arg, ':');
    if (colon == NULL || colon == arg || colon[1] == '\0') return false;
    char *f = strndup(arg, (size_t)(colon - arg));
    struct stat sb;
    if (f == NULL || stat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        free(f);
        return false;
    }
    *file = f;
    *section = colon + 1;
    return true;
}

static void remember_type(tool_conn *c, const char *type)
{
    snprintf(c->used_type, sizeof c->used_type, "%s", type ? type : "?");
}

/* The params behind c->arg: a section of an INI file (then *cfg is set and
 * must be freed) or a parsed connection string. Prints on failure. */
static int load_params(tool_conn *c, ipm_config **cfg, const char **section,
                       ipm_params **out)
{
    char *file = NULL;
    *cfg = NULL;
    *section = NULL;
    ipm_status st;
    if (split_ini(c->arg, &file, section)) {
        st = ipm_config_load(file, cfg);
        if (st != IPM_OK) {
            int rc = tool_ipm_fail(file, st);
            free(file);
            return rc;
        }
        free(file);
        st = ipm_config_params(*cfg, *section, out);
        if (st != IPM_OK) {
            ipm_config_free(*cfg);
            *cfg = NULL;
            return tool_ipm_fail(c->arg, st);
        }
        return TOOL_EXIT_OK;
    }
    st = ipm_params_parse(c->arg, out);
    if (st != IPM_OK) return tool_ipm_fail("connection string", st);
    return TOOL_EXIT_OK;
}

/* Settle the type: the connection's own `type` key, --type, or the default.
 * A --type that contradicts the connection's type is a usage error. Sets
 * *add_type when the params lack the type that is to be used. */
static int settle_type(tool_conn *c, const ipm_params *p, const char **type,
                       bool *add_type)
{
    const char *own = ipm_params_get(p, "type");
    *add_type = false;
    if (own && *own) {
        if (c->type && strcmp(c->type, own) != 0)
            return tool_usage_error("--type %s contradicts type=%s in '%s'", c->type, own,
                                    c->arg);
        *type = own;
    } else {
        *type = c->type ? c->type : c->default_type;
        *add_type = true;
    }
    remember_type(c, *type);
    return TOOL_EXIT_OK;
}

int tool_open_sender(tool_conn *c, ipm_sender **out)
{
    *out = NULL;
    ipm_config *cfg;
    const char *section;
    ipm_params *p = NULL;
    int rc = load_params(c, &cfg, &section, &p);
    if (rc != TOOL_EXIT_OK) return rc;

    const char *type;
    bool add_type;
    rc = settle_type(c, p, &type, &add_type);
    char what[512];
    snprintf(what, sizeof what, "cannot open %s '%s'", c->used_type, c->arg);
    ipm_status st = IPM_OK;
    if (rc == TOOL_EXIT_OK) {
        if (cfg && !add_type) {
            st = ipm_config_sender(cfg, section, out);
        } else if (!add_type) {
            st = ipm_sender_open(c->arg, out); /* the library's one-call path */
        } else {
            /* No type in the connection: create by the settled type and
             * connect with the params as they are. */
            st = ipm_sender_create(type, out);
            if (st == IPM_OK) st = ipm_sender_connect(*out, p);
            if (st != IPM_OK) {
                ipm_sender_destroy(*out);
                *out = NULL;
            }
        }
        if (st != IPM_OK) rc = tool_ipm_fail(what, st);
    }
    ipm_params_free(p);
    ipm_config_free(cfg);
    return rc;
}

int tool_open_receiver(tool_conn *c, ipm_receiver **out)
{
    *out = NULL;
    ipm_config *cfg;
    const char *section;
    ipm_params *p = NULL;
    int rc = load_params(c, &cfg, &section, &p);
    if (rc != TOOL_EXIT_OK) return rc;

    const char *type;
    bool add_type;
    rc = settle_type(c, p, &type, &add_type);
    const char *topics = ipm_params_get(p, "topics");
    c->has_topics = topics != NULL;
    char what[512];
    snprintf(what, sizeof what, "cannot open %s '%s'", c->used_type, c->arg);
    ipm_status st = IPM_OK;
    if (rc == TOOL_EXIT_OK) {
        if (cfg && !add_type) {
            st = ipm_config_receiver(cfg, section, out);
        } else if (!add_type) {
            st = ipm_receiver_open(c->arg, out);
        } else {
            /* connect subscribes to the `topics` key, as open does. */
            st = ipm_receiver_create(type, out);
            if (st == IPM_OK) st = ipm_receiver_connect(*out, p);
            if (st != IPM_OK) {
                ipm_receiver_destroy(*out);
                *out = NULL;
            }
        }
        if (st != IPM_OK) rc = tool_ipm_fail(what, st);
    }
    ipm_params_free(p);
    ipm_config_free(cfg);
    return rc;
}
