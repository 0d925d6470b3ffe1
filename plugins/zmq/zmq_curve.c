/*
 * zmq_curve.c — ZeroMQ CURVE (RFC 26: Curve25519 key exchange, every frame
 * encrypted and authenticated) for the Zmq plugins, and the ZAP handler
 * (RFC 27) that holds binding sockets to their allow-lists of client keys.
 *
 * Keys (Z85 text of 40 characters, or the path of a file holding one, as
 * ipm-keygen writes them):
 *   binding types (ZmqReceiver, ZmqPublisher):
 *     curve_secret_key       the socket's own secret key: it becomes a CURVE
 *                            server (its public key is derived from it)
 *     curve_allowed_clients  comma-separated client public keys or files of
 *                            them (one per line, '#' comments); without it
 *                            any client that knows the server's public key
 *                            gets in
 *   connecting types (ZmqSender, ZmqSubscriber):
 *     curve_server_public_key  the server's public key: the socket becomes a
 *                              CURVE client and talks only to that server
 *     curve_secret_key         the client's own secret key (needed when the
 *                              server has an allow-list); without it the
 *                              client uses a fresh key pair
 *
 * The ZAP handler is one thread per context (zmq_context.c starts it with
 * the first socket that needs it): a REP socket on inproc://zeromq.zap.01
 * that answers libzmq's requests. Every binding socket has a ZAP domain
 * (zmq_common.c sets "ipm" to refuse ZMTP 1.0 peers); once a handler exists
 * libzmq asks it about every new connection of such a socket, so the
 * handler lets NULL-mechanism peers of domain "ipm" in, as before, and a
 * CURVE peer only if its public key is on the allow-list of its socket's
 * domain ("ipm-curve-N", one per CURVE binding socket). PLAIN, and
 * anything else, is refused.
 */
#define _GNU_SOURCE
#include "zmq_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define KEY_TEXT 40 /* Z85 of 32 bytes */
#define KEY_BIN 32
#define MAX_KEY_FILE 65536

static bool is_z85_key(const char *s, size_t len)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
                                   "RSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (len != KEY_TEXT) return false;
    for (size_t i = 0; i < len; i++)
        if (memchr(alphabet, s[i], sizeof alphabet - 1) == NULL) return false;
    return true;
}

/* Read up to MAX_KEY_FILE bytes of path into a new NUL-terminated buffer. */
static ipm_status read_small_file(const char *plugin, const char *key, const char *path,
                                  char **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key '%s': '%.60s' is neither a 40-character Z85 key "
                             "nor a file that can be read (%s)",
                             plugin, key, path, strerror(errno));
    char *buf = malloc(MAX_KEY_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        return ipm_set_error(IPM_ENOMEM, "%s: out of memory", plugin);
    }
    size_t n = fread(buf, 1, MAX_KEY_FILE, f);
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    return IPM_OK;
}

/* Next key of text (one per line, blank lines and '#' comments skipped)
 * into bin; advances *pos. 1: a key, 0: no more, -1: a line that is not a
 * key (its line number in *line). */
static int next_key(const char *text, size_t *pos, int *line, uint8_t *bin)
{
    for (;;) {
        const char *s = text + *pos;
        if (*s == '\0') return 0;
        const char *eol = strchr(s, '\n');
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        *pos += len + (eol ? 1 : 0);
        ++*line;
        while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        while (len > 0 && (*s == ' ' || *s == '\t'))
            s++, len--;
        if (len == 0 || *s == '#') continue;
        char key[KEY_TEXT + 1];
        if (!is_z85_key(s, len)) return -1;
        memcpy(key, s, KEY_TEXT);
        key[KEY_TEXT] = '\0';
        return zmq_z85_decode(bin, key) != NULL ? 1 : -1;
    }
}

/* One key from value (Z85 text or a file holding exactly one key). */
static ipm_status parse_key(const char *plugin, const char *key, const char *value,
                            uint8_t *bin)
{
    size_t len = strlen(value);
    if (is_z85_key(value, len)) {
        if (zmq_z85_decode(bin, value) == NULL)
            return ipm_set_error(IPM_ECONFIG, "%s: key '%s': not a Z85 key", plugin, key);
        return IPM_OK;
    }
    char *text;
    ipm_status st = read_small_file(plugin, key, value, &text);
    if (st != IPM_OK) return st;
    size_t pos = 0;
    int line = 0;
    int r = next_key(text, &pos, &line, bin);
    uint8_t extra[KEY_BIN];
    int more = r == 1 ? next_key(text, &pos, &line, extra) : 0;
    free(text);
    if (r != 1 || more != 0)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key '%s': file '%s' must hold exactly one 40-character "
                             "Z85 key (%s)",
                             plugin, key, value,
                             r == 0  ? "it holds none"
                             : r < 0 ? "a line is not a key"
                                     : "it holds more than one");
    return IPM_OK;
}

/* ------------------------------------------------------ the allow-lists */

/* An allow-list registered in the shared context for one socket. */
typedef struct zmq_allow {
    char domain[32];
    uint8_t *keys; /* n x 32 bytes */
    size_t n;
} zmq_allow;

static ipm_status parse_allow_list(const char *plugin, const ipm_params *p,
                                   uint8_t **keys, size_t *n)
{
    char **items;
    size_t count;
    *keys = NULL;
    *n = 0;
    ipm_status st = ipm_params_get_list(p, "curve_allowed_clients", &items, &count);
    if (st != IPM_OK || items == NULL) return st;
    size_t cap = 0;
    for (size_t i = 0; st == IPM_OK && i < count; i++) {
        const char *v = items[i];
        char *text = NULL;
        if (is_z85_key(v, strlen(v))) {
            text = strdup(v);
            if (text == NULL) st = ipm_set_error(IPM_ENOMEM, "%s: out of memory", plugin);
        } else {
            st = read_small_file(plugin, "curve_allowed_clients", v, &text);
        }
        size_t pos = 0;
        int line = 0, r;
        uint8_t bin[KEY_BIN];
        while (st == IPM_OK && (r = next_key(text, &pos, &line, bin)) != 0) {
            if (r < 0) {
                st = ipm_set_error(IPM_ECONFIG,
                                   "%s: key 'curve_allowed_clients': '%s' line %d is not "
                                   "a 40-character Z85 public key",
                                   plugin, v, line);
                break;
            }
            if (*n == cap) {
                cap = cap ? 2 * cap : 8;
                uint8_t *nk = realloc(*keys, cap * KEY_BIN);
                if (nk == NULL) {
                    st = ipm_set_error(IPM_ENOMEM, "%s: out of memory", plugin);
                    break;
                }
                *keys = nk;
            }
            memcpy(*keys + *n * KEY_BIN, bin, KEY_BIN);
            ++*n;
        }
        free(text);
    }
    free(items);
    if (st == IPM_OK && *n == 0)
        st = ipm_set_error(IPM_ECONFIG,
                           "%s: key 'curve_allowed_clients' names no key: leave it out "
                           "to let in every client that knows the server's key",
                           plugin);
    if (st != IPM_OK) {
        free(*keys);
        *keys = NULL;
        *n = 0;
    }
    return st;
}

static ipm_status set_opt(ipm_zmq *z, int opt, const void *v, size_t len,
                          const char *what)
{
    if (zmq_setsockopt(z->sock, opt, v, len) != 0)
        return ipm_set_error(IPM_ESYS, "%s: cannot set %s: %s", z->plugin, what,
                             zmq_strerror(errno));
    return IPM_OK;
}

ipm_status ipm__zmq_curve_apply(ipm_zmq *z, const ipm_params *p, bool binds)
{
    const char *secret = ipm_params_get(p, "curve_secret_key");
    const char *server = ipm_params_get(p, "curve_server_public_key");
    bool allow = ipm_params_get(p, "curve_allowed_clients") != NULL;
    if (secret == NULL && server == NULL && !allow) return IPM_OK;
    if (!zmq_has("curve"))
        return ipm_set_error(IPM_ECONFIG,
                             "%s: CURVE keys given, but this libzmq is built without "
                             "CURVE (libsodium)",
                             z->plugin);
    uint8_t sk[KEY_BIN], pk[KEY_BIN];
    char sk_text[KEY_TEXT + 1], pk_text[KEY_TEXT + 1];
    ipm_status st;
    if (binds) {
        if (secret == NULL)
            return ipm_set_error(IPM_ECONFIG,
                                 "%s: key 'curve_allowed_clients' needs key "
                                 "'curve_secret_key' (the server's own secret key)",
                                 z->plugin);
        st = parse_key(z->plugin, "curve_secret_key", secret, sk);
        if (st != IPM_OK) return st;
        uint8_t *keys = NULL;
        size_t n = 0;
        if (allow && (st = parse_allow_list(z->plugin, p, &keys, &n)) != IPM_OK)
            return st;
        int one = 1;
        st = set_opt(z, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER");
        if (st == IPM_OK)
            st = set_opt(z, ZMQ_CURVE_SECRETKEY, sk, KEY_BIN, "the CURVE secret key");
        char domain[32];
        if (st == IPM_OK) st = ipm__zmq_zap_register(z, keys, n, domain, sizeof domain);
        free(keys);
        if (st == IPM_OK)
            st = set_opt(z, ZMQ_ZAP_DOMAIN, domain, strlen(domain), "the ZAP domain");
        if (st == IPM_OK) z->curve = true;
        return st;
    }
    if (allow)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key 'curve_allowed_clients' is for the binding side "
                             "(ZmqReceiver, ZmqPublisher)",
                             z->plugin);
    if (server == NULL)
        return ipm_set_error(IPM_ECONFIG,
                             "%s: key 'curve_secret_key' needs key "
                             "'curve_server_public_key' on a connecting socket",
                             z->plugin);
    uint8_t spk[KEY_BIN];
    st = parse_key(z->plugin, "curve_server_public_key", server, spk);
    if (st != IPM_OK) return st;
    if (secret != NULL) {
        st = parse_key(z->plugin, "curve_secret_key", secret, sk);
        if (st != IPM_OK) return st;
        zmq_z85_encode(sk_text, sk, KEY_BIN);
        if (zmq_curve_public(pk_text, sk_text) != 0)
            return ipm_set_error(IPM_ESYS, "%s: cannot derive the CURVE public key: %s",
                                 z->plugin, zmq_strerror(errno));
        zmq_z85_decode(pk, pk_text);
    } else if (zmq_curve_keypair(pk_text, sk_text) != 0) {
        return ipm_set_error(IPM_ESYS, "%s: cannot make a CURVE key pair: %s", z->plugin,
                             zmq_strerror(errno));
    } else {
        zmq_z85_decode(pk, pk_text);
        zmq_z85_decode(sk, sk_text);
    }
    st = set_opt(z, ZMQ_CURVE_SERVERKEY, spk, KEY_BIN, "the CURVE server key");
    if (st == IPM_OK)
        st = set_opt(z, ZMQ_CURVE_PUBLICKEY, pk, KEY_BIN, "the CURVE public key");
    if (st == IPM_OK)
        st = set_opt(z, ZMQ_CURVE_SECRETKEY, sk, KEY_BIN, "the CURVE secret key");
    memset(sk, 0, sizeof sk);
    memset(sk_text, 0, sizeof sk_text);
    if (st == IPM_OK) z->curve = true;
    return st;
}

/* ------------------------------------------------------ the ZAP handler */

/* Answer one ZAP request on rep. Frames (RFC 27): version, request id,
 * domain, address, identity, mechanism, credentials... */
static void zap_answer(void *rep, ipm__zmq_zap_table *t)
{
    zmq_msg_t frames[8];
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t scratch, *f = n < 8 ? &frames[n] : &scratch;
        zmq_msg_init(f);
        if (zmq_msg_recv(f, rep, 0) < 0) {
            zmq_msg_close(f);
            for (int i = 0; i < n && i < 8; i++)
                zmq_msg_close(&frames[i]);
            return;
        }
        more = zmq_msg_more(f);
        if (f == &scratch)
            zmq_msg_close(f);
        else
            n++;
    }
    const char *status = "400", *text = "refused";
    if (n >= 6) {
        char domain[64] = "", mech[16] = "";
        size_t dl = zmq_msg_size(&frames[2]), ml = zmq_msg_size(&frames[5]);
        if (dl < sizeof domain)
            memcpy(domain, zmq_msg_data(&frames[2]), dl), domain[dl] = 0;
        if (ml < sizeof mech) memcpy(mech, zmq_msg_data(&frames[5]), ml), mech[ml] = 0;
        if (strcmp(mech, "NULL") == 0 && strcmp(domain, "ipm") == 0) {
            status = "200", text = "OK";
        } else if (strcmp(mech, "CURVE") == 0 && n >= 7 &&
                   zmq_msg_size(&frames[6]) == KEY_BIN) {
            if (ipm__zmq_zap_allowed(t, domain, zmq_msg_data(&frames[6])))
                status = "200", text = "OK";
            else
                text = "client key not on the allow-list";
        }
    }
    const void *reqid = n >= 2 ? zmq_msg_data(&frames[1]) : "";
    size_t reqid_len = n >= 2 ? zmq_msg_size(&frames[1]) : 0;
    zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(rep, reqid, reqid_len, ZMQ_SNDMORE);
    zmq_send(rep, status, 3, ZMQ_SNDMORE);
    zmq_send(rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(rep, "", 0, ZMQ_SNDMORE);
    zmq_send(rep, "", 0, 0);
    for (int i = 0; i < n && i < 8; i++)
        zmq_msg_close(&frames[i]);
}

void *ipm__zmq_zap_main(void *arg)
{
    ipm__zmq_zap_table *t = arg;
    void *rep = t->rep;
    /* zmq_ctx_shutdown (context_destroy) ends the wait with ETERM. */
    for (;;) {
        zmq_pollitem_t it = {rep, 0, ZMQ_POLLIN, 0};
        int r = zmq_poll(&it, 1, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        zap_answer(rep, t);
    }
    int zero = 0;
    zmq_setsockopt(rep, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(rep);
    return NULL;
}
