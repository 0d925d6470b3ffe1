/*
 * nats_stream.c — one JetStream stream per endpoint.
 *
 * The stream is named after the subject so that every sender and receiver
 * of an endpoint finds the same one without configuration: "IPM_", the
 * subject with every character a stream name cannot hold ('.', '*', '>',
 * '/', '\\', white space) as '_', cut at 64 bytes, then "_" and the 32-bit
 * FNV-1a hash of the whole subject in hex, so that "a.b" and "a_b" get
 * different streams. Key `stream` names it explicitly instead.
 *
 * Work-queue retention: the stream keeps each message until the receiver
 * acknowledges it, then drops it, so storage holds what is not delivered
 * yet, not the whole history. File storage survives a server restart;
 * `replicas` copies (Raft) survive the loss of a minority of servers.
 */
#define _GNU_SOURCE
#include "nats_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* JetStream error codes (the server's errors.json). */
#define JS_ERR_STREAM_NAME_IN_USE 10058
#define JS_ERR_INSUFFICIENT_RESOURCES 10023
#define JS_ERR_REPLICAS_NOT_SUPPORTED 10074

static void derive_name(const char *subject, char *out)
{
    uint32_t h = 2166136261u;
    for (const char *s = subject; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    size_t n = 0;
    memcpy(out, "IPM_", 4);
    for (const char *s = subject; *s && n < 64; s++, n++) {
        char c = *s;
        out[4 + n] = (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' ||
                      (unsigned char)c <= ' ')
                         ? '_'
                         : c;
    }
    snprintf(out + 4 + n, IPM_NATS_STREAM_NAME_MAX + 1 - 4 - n, "_%08x", (unsigned)h);
}

static bool valid_name(const char *s)
{
    if (*s == '\0' || strlen(s) > IPM_NATS_STREAM_NAME_MAX) return false;
    for (; *s; s++)
        if (*s == '.' || *s == '*' || *s == '>' || *s == '/' || *s == '\\' ||
            (unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

ipm_status ipm__nats_js_check(const char *plugin, const ipm_params *p, bool need_endpoint)
{
    ipm_status st = ipm__nats_check_common(plugin, p, need_endpoint);
    if (st != IPM_OK) return st;
    long long r;
    st = ipm_params_get_int(p, "replicas", 1, 1, 5, &r);
    if (st != IPM_OK) return st;
    const char *name = ipm_params_get(p, "stream");
    if (name != NULL && !valid_name(name))
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key 'stream': '%s' is not a stream name (1 to %d "
                             "printable bytes, none of . * > / \\ or space)",
                             plugin, name, IPM_NATS_STREAM_NAME_MAX);
    return IPM_OK;
}

bool ipm__nats_js_backoff(int64_t deadline, int ms)
{
    int left = ipm_remaining_ms(deadline);
    if (left == 0) return false;
    if (left > 0 && left < ms) ms = left;
    nats_Sleep(ms);
    return true;
}

static ipm_status js_fail(ipm_nats_js *j, ipm_status st, const char *what, natsStatus s,
                          jsErrCode jerr)
{
    if (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT)
        return ipm_set_error(IPM_ECONNECT,
                             "%s %s: cannot %s: JetStream does not answer (%s): is the "
                             "server run with JetStream (nats-server -js), and does the "
                             "cluster have a leader?",
                             j->plugin, j->endpoint, what, natsStatus_GetText(s));
    if (jerr == JS_ERR_INSUFFICIENT_RESOURCES || jerr == JS_ERR_REPLICAS_NOT_SUPPORTED)
        st = IPM_ECONFIG;
    char w[240];
    snprintf(w, sizeof w, "%s (JetStream error %d)", what, (int)jerr);
    return ipm__nats_error(st, j->plugin, j->endpoint, w, s);
}

static ipm_status ensure_stream(ipm_nats_js *j, long long replicas)
{
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = j->api_wait_ms;
    natsStatus s = js_GetStreamInfo(&si, j->js, j->stream, &jo, &jerr);
    if (s == NATS_OK) {
        /* Used as it is: its subjects must include ours, or sends would go
         * nowhere. */
        bool ours = false;
        for (int i = 0; i < si->Config->SubjectsLen; i++)
            if (strcmp(si->Config->Subjects[i], j->ep.subject) == 0) ours = true;
        jsStreamInfo_Destroy(si);
        if (!ours)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s %s: stream '%s' exists but does not hold subject "
                                 "'%s'; name another with key 'stream'",
                                 j->plugin, j->endpoint, j->stream, j->ep.subject);
        return IPM_OK;
    }
    if (s != NATS_NOT_FOUND)
        return js_fail(j, IPM_ECONNECT, "look up the stream", s, jerr);

    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {j->ep.subject};
    cfg.Name = j->stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_WorkQueuePolicy;
    cfg.Replicas = replicas;
    jerr = 0;
    s = js_AddStream(&si, j->js, &cfg, &jo, &jerr);
    if (s == NATS_OK || jerr == JS_ERR_STREAM_NAME_IN_USE) {
        /* In use: another sender or receiver made it at the same time. */
        jsStreamInfo_Destroy(si);
        return IPM_OK;
    }
    char what[200];
    snprintf(what, sizeof what, "create stream '%s' (%lld replica%s, file storage)",
             j->stream, replicas, replicas == 1 ? "" : "s");
    return js_fail(j, IPM_ECONNECT, what, s, jerr);
}

ipm_status ipm__nats_js_open(ipm_nats_js *j, const char *plugin, const ipm_params *p,
                             natsErrHandler err_cb, void *closure)
{
    memset(j, 0, sizeof *j);
    j->plugin = plugin;
    ipm_status st = ipm__nats_js_check(plugin, p, true);
    if (st != IPM_OK) return st;
    const char *cs = ipm_params_get(p, "connection_string");
    st = ipm__nats_endpoint_parse(plugin, cs, &j->ep);
    if (st != IPM_OK) return st;
    j->endpoint = strdup(cs);
    if (j->endpoint == NULL) {
        ipm__nats_endpoint_free(&j->ep);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory", plugin);
    }
    const char *name = ipm_params_get(p, "stream");
    if (name != NULL)
        strcpy(j->stream, name);
    else
        derive_name(j->ep.subject, j->stream);
    ipm_params_get_int(p, "connect_timeout_ms", IPM_NATS_DEFAULT_CONNECT_TIMEOUT_MS, 1,
                       IPM_NATS_MAX_CONNECT_TIMEOUT_MS, &j->api_wait_ms);
    /* API calls wait longer than a connect: a stream's first creation on a
     * cluster elects a leader. */
    if (j->api_wait_ms < 5000) j->api_wait_ms = 5000;
    long long replicas;
    ipm_params_get_int(p, "replicas", 1, 1, 5, &replicas);

    st = ipm__nats_connect(plugin, p, &j->ep, err_cb, closure,
                           IPM_NATS_NO_RECONNECT_BUFFER | IPM_NATS_SEND_AT_ONCE, &j->nc);
    if (st == IPM_OK) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = j->api_wait_ms;
        natsStatus s = natsConnection_JetStream(&j->js, j->nc, &jo);
        if (s != NATS_OK)
            st = ipm__nats_error(IPM_ESYS, plugin, cs, "get a JetStream context", s);
    }
    j->pid = (long)getpid();
    if (st == IPM_OK) st = ensure_stream(j, replicas);
    if (st != IPM_OK) ipm__nats_js_close(j);
    return st;
}

ipm_status ipm__nats_js_same_process(const ipm_nats_js *j)
{
    if ((long)getpid() == j->pid) return IPM_OK;
    return ipm_set_error(IPM_ESTATE,
                         "%s: connected in process %ld, cannot be used in its forked "
                         "child %ld (the client's threads exist only in the parent); "
                         "create a new one",
                         j->plugin, j->pid, (long)getpid());
}

void ipm__nats_js_close(ipm_nats_js *j)
{
    if ((long)getpid() == j->pid || j->nc == NULL) {
        if (j->nc != NULL) {
            natsConnection_FlushTimeout(j->nc, 1000);
            natsConnection_Close(j->nc);
        }
        jsCtx_Destroy(j->js);
        natsConnection_Destroy(j->nc);
    }
    ipm__nats_endpoint_free(&j->ep);
    free(j->endpoint);
    j->nc = NULL;
    j->js = NULL;
    j->endpoint = NULL;
}
