/*
 * nats_common.c — endpoints, connection options and connect for the NATS
 * plugins.
 */
#define _GNU_SOURCE
#include "nats_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ipm_status ipm__nats_error(ipm_status st, const char *plugin, const char *endpoint,
                           const char *what, natsStatus s)
{
    const char *detail = nats_GetLastError(NULL);
    const char *text = natsStatus_GetText(s);
    char msg[1024];
    if (detail != NULL && detail[0] != '\0' && strcmp(detail, text) != 0)
        snprintf(msg, sizeof msg, "%s %s: cannot %s: %s (%s)", plugin,
                 endpoint ? endpoint : "", what, text, detail);
    else
        snprintf(msg, sizeof msg, "%s %s: cannot %s: %s", plugin,
                 endpoint ? endpoint : "", what, text);
    /* A timeout that knows why: the core keeps it past a long wait. */
    return st == IPM_ETIMEDOUT ? ipm_set_timeout_reason("%s", msg)
                               : ipm_set_error(st, "%s", msg);
}

ipm_status ipm__nats_timed_out(const char *plugin, const char *endpoint,
                               natsConnection *nc, int timeout_ms)
{
    natsConnStatus cs = nc ? natsConnection_Status(nc) : NATS_CONN_STATUS_CONNECTED;
    if (cs == NATS_CONN_STATUS_CONNECTED)
        return ipm_set_error(IPM_ETIMEDOUT, "%s %s: nothing received within %d ms",
                             plugin, endpoint ? endpoint : "", timeout_ms);
    const char *state = cs == NATS_CONN_STATUS_RECONNECTING
                            ? "lost and reconnecting (the client retries by itself)"
                        : cs == NATS_CONN_STATUS_CLOSED ? "closed"
                                                        : "not connected";
    return ipm_set_timeout_reason("%s %s: nothing received within %d ms: the connection "
                                  "to the NATS server is %s",
                                  plugin, endpoint ? endpoint : "", timeout_ms, state);
}

void ipm__nats_endpoint_free(ipm_nats_endpoint *e)
{
    free(e->servers);
    e->servers = NULL;
    e->nservers = 0;
}

/* A subject token list for an endpoint: tokens of printable non-space
 * characters separated by single dots, no wildcards ('*', '>' tokens). */
static bool valid_subject(const char *s, const char **why)
{
    size_t n = strlen(s);
    if (n == 0) return (*why = "the subject is empty"), false;
    if (n > IPM_NATS_MAX_SUBJECT) return (*why = "the subject is over 512 bytes"), false;
    size_t tok = 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = s[i];
        if (ch == '.' || ch == '\0') {
            if (tok == 0) return (*why = "the subject has an empty token"), false;
            const char *start = s + i - tok;
            if (tok == 1 && (*start == '*' || *start == '>'))
                return (*why = "the subject has a wildcard ('*' or '>')"), false;
            tok = 0;
            continue;
        }
        if ((unsigned char)ch <= ' ' || (unsigned char)ch >= 0x7f)
            return (*why = "the subject holds white space or a non-ASCII byte"), false;
        tok++;
    }
    return true;
}

ipm_status ipm__nats_endpoint_parse(const char *plugin, const char *text,
                                    ipm_nats_endpoint *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(text, "nats://", 7) != 0)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: connection_string '%s' is not "
                             "nats://HOST:PORT[,HOST:PORT...]/SUBJECT",
                             plugin, text);
    const char *hosts = text + 7;
    const char *slash = strchr(hosts, '/');
    if (slash == NULL)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: connection_string '%s' has no '/SUBJECT' after the "
                             "servers",
                             plugin, text);
    const char *why = NULL;
    if (!valid_subject(slash + 1, &why))
        return ipm_set_error(IPM_ECONFIG, "%s: connection_string '%s': %s", plugin, text,
                             why);
    strcpy(out->subject, slash + 1);

    size_t hlen = (size_t)(slash - hosts);
    int n = 1;
    for (size_t i = 0; i < hlen; i++)
        if (hosts[i] == ',') n++;
    /* One block: the pointer array, then "nats://" + each host:port. */
    size_t bytes = (size_t)n * sizeof(char *) + hlen + (size_t)n * 8 + 1;
    char **servers = malloc(bytes);
    if (servers == NULL) return ipm_set_error(IPM_ENOMEM, "%s: out of memory", plugin);
    char *w = (char *)(servers + n);
    const char *p = hosts;
    for (int k = 0; k < n; k++) {
        const char *end = memchr(p, ',', (size_t)(slash - p));
        if (end == NULL) end = slash;
        size_t len = (size_t)(end - p);
        while (len > 0 && *p == ' ')
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        const char *colon = NULL;
        for (size_t i = len; i > 0; i--)
            if (p[i - 1] == ':') {
                colon = p + i - 1;
                break;
            }
        const char *bad = NULL;
        if (len == 0)
            bad = "an empty server";
        else if (colon == NULL || colon == p)
            bad = "a server without HOST:PORT";
        unsigned long port = 0;
        if (bad == NULL) {
            size_t digits = 0;
            for (const char *d = colon + 1; d < p + len; d++, digits++) {
                if (*d < '0' || *d > '9' || port > 65535) {
                    digits = 0;
                    break;
                }
                port = port * 10 + (unsigned long)(*d - '0');
            }
            if (digits == 0 || port == 0 || port > 65535)
                bad = "a port that is not a number in 1..65535";
        }
        if (bad != NULL) {
            free(servers);
            return ipm_set_error(IPM_ECONFIG,
                                 "%s: connection_string '%s': %s (server %d)", plugin,
                                 text, bad, k + 1);
        }
        servers[k] = w;
        memcpy(w, "nats://", 7);
        memcpy(w + 7, p, len);
        w[7 + len] = '\0';
        w += 8 + len;
        p = end + 1;
    }
    out->servers = servers;
    out->nservers = n;
    return IPM_OK;
}

static ipm_status check_file(const char *plugin, const ipm_params *p, const char *key)
{
    const char *path = ipm_params_get(p, key);
    if (path == NULL) return IPM_OK;
    if (path[0] == '\0' || access(path, R_OK) != 0)
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s': cannot read file '%s'", plugin,
                             key, path);
    return IPM_OK;
}

ipm_status ipm__nats_check_common(const char *plugin, const ipm_params *p,
                                  bool need_endpoint)
{
    const char *cs = ipm_params_get(p, "connection_string");
    if (cs == NULL && need_endpoint)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: missing key 'connection_string' "
                             "(nats://HOST:PORT[,HOST:PORT...]/SUBJECT)",
                             plugin);
    ipm_status st;
    if (cs != NULL) {
        ipm_nats_endpoint e;
        st = ipm__nats_endpoint_parse(plugin, cs, &e);
        if (st != IPM_OK) return st;
        ipm__nats_endpoint_free(&e);
    }
    long long t;
    st = ipm_params_get_int(p, "connect_timeout_ms", IPM_NATS_DEFAULT_CONNECT_TIMEOUT_MS,
                            1, IPM_NATS_MAX_CONNECT_TIMEOUT_MS, &t);
    if (st != IPM_OK) return st;
    bool user = ipm_params_get(p, "user") != NULL;
    bool pass = ipm_params_get(p, "password") != NULL;
    if (user != pass)
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s' needs key '%s' as well", plugin,
                             user ? "user" : "password", user ? "password" : "user");
    if (user && ipm_params_get(p, "creds") != NULL)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: keys 'user'/'password' and 'creds' exclude each other",
                             plugin);
    bool cert = ipm_params_get(p, "tls_cert") != NULL;
    bool key = ipm_params_get(p, "tls_key") != NULL;
    if (cert != key)
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s' needs key '%s' as well", plugin,
                             cert ? "tls_cert" : "tls_key",
                             cert ? "tls_key" : "tls_cert");
    static const char *const files[] = {"creds", "tls_ca", "tls_cert", "tls_key"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        st = check_file(plugin, p, files[i]);
        if (st != IPM_OK) return st;
    }
    return IPM_OK;
}

/* Apply the options of p to o. */
static natsStatus set_options(natsOptions *o, const char *plugin, const ipm_params *p,
                              const ipm_nats_endpoint *e, long long timeout,
                              natsErrHandler err_cb, void *closure, unsigned flags,
                              const char **what)
{
    natsStatus s;
    if ((s = natsOptions_SetServers(o, (const char **)e->servers, e->nservers)) !=
        NATS_OK)
        return (*what = "use the server list"), s;
    /* No retry at connect: an absent server is an error now, not a wait.
     * Once connected, the client reconnects without end (to any server of
     * the list, or one the cluster told it about). */
    natsOptions_SetRetryOnFailedConnect(o, false, NULL, NULL);
    natsOptions_SetTimeout(o, (int64_t)timeout);
    natsOptions_SetMaxReconnect(o, -1);
    natsOptions_SetReconnectWait(o, IPM_NATS_RECONNECT_WAIT_MS);
    natsOptions_SetReconnectJitter(o, 10, 100);
    natsOptions_SetPingInterval(o, IPM_NATS_PING_INTERVAL_MS);
    natsOptions_SetMaxPingsOut(o, IPM_NATS_MAX_PINGS_OUT);
    natsOptions_SetName(o, plugin);
    /* Asynchronous subscriptions (NatsSubscriber has one per covering
     * prefix) are served by cnats' shared delivery thread instead of one
     * thread each, so that messages keep their arrival order across
     * subscriptions: one publisher's "a" then "b" arrive as "a", "b" (the
     * conformance unsubscribe check saw them swapped under load). The pool
     * has one thread unless the application enlarges it with
     * nats_SetMessageDeliveryPoolSize (docs/nats.md). */
    if ((s = natsOptions_UseGlobalMessageDelivery(o, true)) != NATS_OK)
        return (*what = "use the shared delivery thread"), s;
    /* 1 byte: nothing fits, a publish while reconnecting fails at once. */
    if (flags & IPM_NATS_NO_RECONNECT_BUFFER) natsOptions_SetReconnectBufSize(o, 1);
    if (err_cb != NULL) natsOptions_SetErrorHandler(o, err_cb, closure);
    if ((flags & IPM_NATS_SEND_AT_ONCE) &&
        (s = natsOptions_SetSendAsap(o, true)) != NATS_OK)
        return (*what = "send each message at once"), s;

    const char *user = ipm_params_get(p, "user");
    if (user != NULL &&
        (s = natsOptions_SetUserInfo(o, user, ipm_params_get(p, "password"))) != NATS_OK)
        return (*what = "use keys 'user'/'password'"), s;
    const char *creds = ipm_params_get(p, "creds");
    if (creds != NULL &&
        (s = natsOptions_SetUserCredentialsFromFiles(o, creds, NULL)) != NATS_OK)
        return (*what = "use the credentials file of key 'creds'"), s;
    const char *ca = ipm_params_get(p, "tls_ca");
    const char *cert = ipm_params_get(p, "tls_cert");
    if (ca != NULL || cert != NULL) {
        if ((s = natsOptions_SetSecure(o, true)) != NATS_OK)
            return (*what = "turn on TLS (is cnats built with OpenSSL?)"), s;
    }
    if (ca != NULL && (s = natsOptions_LoadCATrustedCertificates(o, ca)) != NATS_OK)
        return (*what = "load the CA certificates of key 'tls_ca'"), s;
    if (cert != NULL && (s = natsOptions_LoadCertificatesChain(
                             o, cert, ipm_params_get(p, "tls_key"))) != NATS_OK)
        return (*what = "load keys 'tls_cert'/'tls_key'"), s;
    (void)plugin;
    return NATS_OK;
}

ipm_status ipm__nats_connect(const char *plugin, const ipm_params *p,
                             const ipm_nats_endpoint *e, natsErrHandler err_cb,
                             void *closure, unsigned flags, natsConnection **out)
{
    *out = NULL;
    ipm_status st = ipm__nats_check_common(plugin, p, true);
    if (st != IPM_OK) return st;
    const char *cs = ipm_params_get(p, "connection_string");
    long long timeout;
    ipm_params_get_int(p, "connect_timeout_ms", IPM_NATS_DEFAULT_CONNECT_TIMEOUT_MS, 1,
                       IPM_NATS_MAX_CONNECT_TIMEOUT_MS, &timeout);
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s != NATS_OK) return ipm__nats_error(IPM_ENOMEM, plugin, cs, "create options", s);
    const char *what = NULL;
    s = set_options(o, plugin, p, e, timeout, err_cb, closure, flags, &what);
    if (s != NATS_OK) {
        natsOptions_Destroy(o);
        return ipm__nats_error(IPM_ECONFIG, plugin, cs, what, s);
    }
    natsConnection *nc = NULL;
    s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        char what_buf[128];
        snprintf(what_buf, sizeof what_buf,
                 "connect to any of its %d server%s (connect_timeout_ms=%lld each)",
                 e->nservers, e->nservers == 1 ? "" : "s", timeout);
        return ipm__nats_error(IPM_ECONNECT, plugin, cs, what_buf, s);
    }
    *out = nc;
    return IPM_OK;
}

ipm_status ipm__nats_hand_over(natsMsg *m, const char *meta, size_t len, ipm_message *msg)
{
    ipm_nats_held *h = malloc(sizeof *h + len + 1);
    if (h == NULL) {
        natsMsg_Destroy(m);
        return ipm_set_error(IPM_ENOMEM, "NATS: out of memory receiving a message");
    }
    h->m = m;
    h->meta_len = len;
    memcpy(h->meta, meta, len);
    h->meta[len] = '\0';
    int n = natsMsg_GetDataLength(m);
    /* An empty message still gets a valid pointer (callers may pass it to
     * memcmp with size 0). */
    msg->data = n > 0 ? (const void *)natsMsg_GetData(m) : (const void *)h->meta;
    msg->size = n > 0 ? (size_t)n : 0;
    msg->metadata = h->meta;
    msg->metadata_size = len;
    msg->opaque_[0] = h;
    return IPM_OK;
}

void ipm__nats_release(ipm_message *msg)
{
    ipm_nats_held *h = msg->opaque_[0];
    if (h == NULL) return;
    natsMsg_Destroy(h->m);
    free(h);
    msg->opaque_[0] = NULL;
}
