/*
 * nng_endpoint.c — endpoint URLs, the keys that go with them, and TLS
 * configuration from files, checked without touching the network (the
 * check op and connect share these checks).
 */
#define _GNU_SOURCE
#include "nng_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nng/supplemental/tls/tls.h>

/* Schemes of libnng 1.5 that the family carries; zt:// (ZeroTier) is not
 * built into Debian's libnng. */
static const struct {
    const char *scheme;
    ipm_nng_url kind;
} schemes[] = {
    {"tcp", {.tcpish = true}},
    {"tcp4", {.tcpish = true}},
    {"tcp6", {.tcpish = true}},
    {"ws", {.tcpish = true}},
    {"ws4", {.tcpish = true}},
    {"ws6", {.tcpish = true}},
    {"tls+tcp", {.tls = true, .tcpish = true}},
    {"tls+tcp4", {.tls = true, .tcpish = true}},
    {"tls+tcp6", {.tls = true, .tcpish = true}},
    {"wss", {.tls = true, .tcpish = true}},
    {"wss4", {.tls = true, .tcpish = true}},
    {"wss6", {.tls = true, .tcpish = true}},
    {"ipc", {.ipc = true}},
    {"abstract", {0}},
    {"inproc", {.inproc = true}},
};

ipm_status ipm__nng_check_url(const char *plugin, const char *key, const char *endpoint,
                              ipm_nng_url *u)
{
    const char *sep = strstr(endpoint, "://");
    if (sep == NULL)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key '%s': '%s' is not an nng URL (scheme://address, "
                             "e.g. tcp://127.0.0.1:5555)",
                             plugin, key, endpoint);
    size_t slen = (size_t)(sep - endpoint);
    const ipm_nng_url *kind = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strlen(schemes[i].scheme) == slen &&
            strncmp(endpoint, schemes[i].scheme, slen) == 0)
            kind = &schemes[i].kind;
    if (kind == NULL)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key '%s': unknown scheme '%.*s' in '%s' (use tcp://, "
                             "ipc://, inproc://, ws://, wss:// or tls+tcp://)",
                             plugin, key, (int)slen, endpoint, endpoint);
    /* nng's parser is plain string work (no nng state), so it is safe in
     * the check op and in a forked child. */
    nng_url *url = NULL;
    int rv = nng_url_parse(&url, endpoint);
    if (rv != 0)
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s': '%s' is not a valid URL: %s",
                             plugin, key, endpoint, nng_strerror(rv));
    ipm_status st = IPM_OK;
    if (kind->tcpish) {
        const char *port = url->u_port;
        unsigned long v = 0;
        size_t n = 0;
        for (; port[n] >= '0' && port[n] <= '9' && v <= 65535; n++)
            v = v * 10 + (unsigned long)(port[n] - '0');
        /* ws:// and wss:// default to 80 and 443; the others need a port. */
        if (port[0] == '\0' || n == 0 || port[n] != '\0' || v > 65535)
            st = ipm_set_error(IPM_ECONFIG,
                               "%s: key '%s': '%s' needs a port in 0..65535 after the "
                               "host (':0' picks a free one when listening)",
                               plugin, key, endpoint);
    } else if (kind->ipc && url->u_path[0] == '\0') {
        st = ipm_set_error(IPM_ECONFIG,
                           "%s: key '%s': '%s' names no socket file (ipc:///path)",
                           plugin, key, endpoint);
    } else if ((kind->inproc || !kind->ipc) && strlen(sep + 3) == 0) {
        st = ipm_set_error(IPM_ECONFIG, "%s: key '%s': '%s' has no name after '://'",
                           plugin, key, endpoint);
    }
    nng_url_free(url);
    if (st == IPM_OK && u != NULL) *u = *kind;
    return st;
}

const char *ipm__nng_listen_url(const char *endpoint, char *buf, size_t cap)
{
    const char *auth = strstr(endpoint, "://");
    if (auth == NULL) return endpoint;
    auth += 3;
    const char *end = auth + strcspn(auth, "/");
    if (end - auth < 2 || end[-1] != '*' || end[-2] != ':') return endpoint;
    size_t head = (size_t)(end - 1 - endpoint);
    if ((size_t)snprintf(buf, cap, "%.*s0%s", (int)head, endpoint, end) >= cap)
        return endpoint;
    return buf;
}

/* IPM_OK if path names a readable regular file of at most
 * IPM_NNG_MAX_PEM_FILE bytes. */
static ipm_status check_file(const char *plugin, const char *key, const char *path)
{
    struct stat sb;
    if (path[0] == '\0')
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s' is empty: give a PEM file",
                             plugin, key);
    if (stat(path, &sb) != 0)
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s': cannot read '%s': %s", plugin,
                             key, path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s': '%s' is not a regular file",
                             plugin, key, path);
    if ((unsigned long long)sb.st_size > IPM_NNG_MAX_PEM_FILE)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key '%s': '%s' has %lld bytes, more than a PEM file "
                             "holds (at most %u)",
                             plugin, key, path, (long long)sb.st_size,
                             IPM_NNG_MAX_PEM_FILE);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s': cannot read '%s': %s", plugin,
                             key, path, strerror(errno));
    fclose(f);
    return IPM_OK;
}

ipm_status ipm__nng_check_keys(const char *plugin, const ipm_params *p,
                               const ipm_nng_url *u, bool listen)
{
    static const char *const tls_keys[] = {"tls_cert", "tls_key", "tls_ca"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = ipm_params_get(p, tls_keys[i]);
        if (v == NULL) continue;
        if (!u->tls)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s: key '%s' is only for tls+tcp:// and wss:// "
                                 "endpoints",
                                 plugin, tls_keys[i]);
        ipm_status st = check_file(plugin, tls_keys[i], v);
        if (st != IPM_OK) return st;
    }
    bool cert = ipm_params_get(p, "tls_cert") != NULL;
    bool key = ipm_params_get(p, "tls_key") != NULL;
    if (cert != key)
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s' needs '%s' as well", plugin,
                             cert ? "tls_cert" : "tls_key",
                             cert ? "tls_key" : "tls_cert");
    if (u->tls && listen && !cert)
        return ipm_set_error(
            IPM_ECONFIG,
            "%s: a TLS listener needs its certificate: give tls_cert and "
            "tls_key (PEM files)",
            plugin);
    if (ipm_params_get(p, "permissions") != NULL) {
        if (!u->ipc)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s: key 'permissions' is only for ipc:// endpoints",
                                 plugin);
        const char *text = ipm_params_get(p, "permissions");
        char *end;
        unsigned long oct = strtoul(text, &end, 8);
        if (text[0] == '\0' || *end != '\0' || oct > 0777 || (oct & 0600) != 0600)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s: key 'permissions': '%s' is not an octal mode from "
                                 "0600 to 0777 (the owner must read and write)",
                                 plugin, text);
    }
    return IPM_OK;
}

/* The contents of path as a NUL-terminated string (nng wants PEM text), in
 * *out (free it). */
static ipm_status read_pem(const char *plugin, const char *key, const char *path,
                           char **out)
{
    ipm_status st = check_file(plugin, key, path);
    if (st != IPM_OK) return st;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s': cannot read '%s': %s", plugin,
                             key, path, strerror(errno));
    char *buf = malloc(IPM_NNG_MAX_PEM_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory", plugin);
    }
    size_t n = fread(buf, 1, IPM_NNG_MAX_PEM_FILE, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        free(buf);
        return ipm_set_error(IPM_ECONFIG, "%s: key '%s': error reading '%s'", plugin, key,
                             path);
    }
    buf[n] = '\0';
    *out = buf;
    return IPM_OK;
}

ipm_status ipm__nng_tls_config(const char *plugin, const ipm_params *p, bool listen,
                               const char *endpoint, nng_tls_config **out)
{
    nng_tls_config *cfg = NULL;
    int rv =
        nng_tls_config_alloc(&cfg, listen ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
    if (rv != 0)
        return ipm_set_error(IPM_ESYS, "%s: cannot make a TLS configuration: %s", plugin,
                             nng_strerror(rv));
    const char *cert_path = ipm_params_get(p, "tls_cert");
    const char *key_path = ipm_params_get(p, "tls_key");
    const char *ca_path = ipm_params_get(p, "tls_ca");
    char *cert = NULL, *key = NULL, *ca = NULL;
    ipm_status st = IPM_OK;
    if (cert_path != NULL) {
        st = read_pem(plugin, "tls_cert", cert_path, &cert);
        if (st == IPM_OK) st = read_pem(plugin, "tls_key", key_path, &key);
        if (st == IPM_OK && (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0)
            st =
                ipm_set_error(IPM_ECONFIG,
                              "%s: keys 'tls_cert'/'tls_key': nng refuses '%s' with "
                              "'%s' (not a PEM certificate and its unencrypted key?): %s",
                              plugin, cert_path, key_path, nng_strerror(rv));
    }
    if (st == IPM_OK && ca_path != NULL) {
        st = read_pem(plugin, "tls_ca", ca_path, &ca);
        if (st == IPM_OK && (rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0)
            st = ipm_set_error(IPM_ECONFIG,
                               "%s: key 'tls_ca': nng refuses '%s' (not PEM "
                               "certificates?): %s",
                               plugin, ca_path, nng_strerror(rv));
    }
    /* A dialer checks that the server's certificate names the host of the
     * URL (nng sets this only on the configuration it makes itself). */
    if (st == IPM_OK && !listen) {
        nng_url *url = NULL;
        if ((rv = nng_url_parse(&url, endpoint)) == 0 && url->u_hostname[0] != '\0')
            rv = nng_tls_config_server_name(cfg, url->u_hostname);
        if (url != NULL) nng_url_free(url);
        if (rv != 0)
            st = ipm_set_error(IPM_ESYS, "%s: cannot set the TLS server name of '%s': %s",
                               plugin, endpoint, nng_strerror(rv));
    }
    /* With a CA, the peer must prove who it is; without one a dialer takes
     * any server (encrypted, not authenticated: docs/nng.md) and a
     * listener asks no client certificate. */
    if (st == IPM_OK && (rv = nng_tls_config_auth_mode(
                             cfg, ca_path != NULL ? NNG_TLS_AUTH_MODE_REQUIRED
                                                  : NNG_TLS_AUTH_MODE_NONE)) != 0)
        st = ipm_set_error(IPM_ESYS, "%s: cannot set the TLS authentication mode: %s",
                           plugin, nng_strerror(rv));
    free(cert);
    if (key != NULL) {
        /* The private key should not linger in freed memory. */
        memset(key, 0, strlen(key));
        free(key);
    }
    free(ca);
    if (st != IPM_OK) {
        nng_tls_config_free(cfg);
        return st;
    }
    *out = cfg;
    return IPM_OK;
}

/* Values of p as given: an endpoint that is not given is connect's to
 * refuse, not check's (a configuration may leave it to the program). */
static ipm_status check_common(const char *plugin, const ipm_params *p, bool listen,
                               bool many)
{
    if (ipm_params_get(p, "connection_string") == NULL &&
        (!many || ipm_params_get(p, "connection_strings") == NULL)) {
        ipm_nng_url any = {.tls = true, .ipc = true, .tcpish = true};
        return ipm__nng_check_keys(plugin, p, &any, false);
    }
    if (many) {
        char **eps;
        size_t n;
        ipm_status st = ipm_params_get_endpoints(p, plugin, &eps, &n);
        if (st != IPM_OK) return st;
        for (size_t i = 0; st == IPM_OK && i < n; i++) {
            ipm_nng_url u;
            st = ipm__nng_check_url(plugin, "connection_strings", eps[i], &u);
            if (st == IPM_OK) st = ipm__nng_check_keys(plugin, p, &u, listen);
        }
        free(eps);
        return st;
    }
    const char *e;
    char buf[1024];
    ipm_status st = ipm__nng_endpoint_param(plugin, p, &e);
    if (st == IPM_OK && listen) e = ipm__nng_listen_url(e, buf, sizeof buf);
    ipm_nng_url u;
    if (st == IPM_OK) st = ipm__nng_check_url(plugin, "connection_string", e, &u);
    if (st == IPM_OK) st = ipm__nng_check_keys(plugin, p, &u, listen);
    return st;
}

static ipm_status check_size_keys(const ipm_params *p, const char *buffer_key,
                                  bool recvmax)
{
    uint64_t v;
    ipm_status st = IPM_OK;
    if (buffer_key != NULL)
        st = ipm_params_get_size(p, buffer_key, 0, 0, IPM_NNG_MAX_BUFFER, &v);
    if (st == IPM_OK && recvmax)
        st = ipm_params_get_size(p, "max_message_size", 0, 0, SIZE_MAX, &v);
    return st;
}

static ipm_status check_linger(const ipm_params *p)
{
    long long v;
    return ipm_params_get_int(p, "linger_ms", 0, 0, IPM_NNG_MAX_LINGER_MS, &v);
}

ipm_status ipm__nng_check_sender(const ipm_params *p)
{
    ipm_status st = check_common("NngSender", p, false, false);
    if (st == IPM_OK) st = check_size_keys(p, "send_buffer", false);
    if (st == IPM_OK) st = check_linger(p);
    return st;
}

ipm_status ipm__nng_check_receiver(const ipm_params *p)
{
    ipm_status st = check_common("NngReceiver", p, true, false);
    if (st == IPM_OK) st = check_size_keys(p, NULL, true);
    return st;
}

ipm_status ipm__nng_check_publisher(const ipm_params *p)
{
    ipm_status st = check_common("NngPublisher", p, true, false);
    if (st == IPM_OK) st = check_size_keys(p, "send_buffer", false);
    return st;
}

ipm_status ipm__nng_check_subscriber(const ipm_params *p)
{
    ipm_status st = check_common("NngSubscriber", p, false, true);
    if (st == IPM_OK) st = check_size_keys(p, "recv_buffer", true);
    return st;
}
