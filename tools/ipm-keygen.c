/*
 * ipm-keygen — make a CURVE key pair for the Zmq plugins' encrypted and
 * authenticated links (curve_secret_key, curve_server_public_key,
 * curve_allowed_clients; see README "Security").
 *
 *   ipm-keygen               print both keys (Z85 text, 40 characters)
 *   ipm-keygen -o PREFIX     write PREFIX.key (the secret key, mode 0600)
 *                            and PREFIX.pub (the public key, mode 0644)
 *   ipm-keygen --public FILE|KEY   print the public key of a secret key
 *
 * Keys come from libzmq (zmq_curve_keypair: libsodium's random source).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static const char usage_text[] =
    "Usage: ipm-keygen [-o PREFIX]\n"
    "       ipm-keygen --public SECRET\n"
    "Make a CURVE key pair for the Zmq plugins (ZeroMQ CURVE, RFC 26).\n"
    "\n"
    "  (no option)       print 'public-key: KEY' and 'secret-key: KEY'\n"
    "  -o PREFIX         write PREFIX.key (secret, mode 0600) and PREFIX.pub\n"
    "                    (public, 0644); existing files are not overwritten\n"
    "  --public SECRET   print the public key of SECRET (a key or a .key file)\n"
    "  -h, --help        this text\n"
    "\n"
    "Use the secret key as curve_secret_key of a ZmqReceiver/ZmqPublisher (the\n"
    "server) or of a ZmqSender/ZmqSubscriber (a client), the server's public key\n"
    "as curve_server_public_key of its clients, and clients' public keys in the\n"
    "server's curve_allowed_clients. Values are the key text or a file path.\n"
    "\n"
    "Exit status: 0 done, 1 failure (printed), 2 bad command line.\n";

static int write_key(const char *path, const char *key, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "ipm-keygen: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    char line[48];
    int n = snprintf(line, sizeof line, "%s\n", key);
    ssize_t w = write(fd, line, (size_t)n);
    if (w != n || fchmod(fd, mode) != 0 || close(fd) != 0) {
        fprintf(stderr, "ipm-keygen: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int print_public(const char *arg)
{
    char secret[64] = "";
    if (strlen(arg) == 40) {
        snprintf(secret, sizeof secret, "%s", arg);
    } else {
        FILE *f = fopen(arg, "r");
        if (f == NULL || fgets(secret, sizeof secret, f) == NULL) {
            fprintf(stderr, "ipm-keygen: cannot read a key from %s: %s\n", arg,
                    f ? "empty file" : strerror(errno));
            if (f) fclose(f);
            return 1;
        }
        fclose(f);
        secret[strcspn(secret, "\r\n \t")] = '\0';
    }
    char pub[41];
    if (strlen(secret) != 40 || zmq_curve_public(pub, secret) != 0) {
        fprintf(stderr, "ipm-keygen: '%s' is not a 40-character Z85 secret key\n", arg);
        return 1;
    }
    printf("%s\n", pub);
    return 0;
}

int main(int argc, char **argv)
{
    const char *prefix = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--public") == 0 && i + 1 < argc)
            return print_public(argv[i + 1]);
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            prefix = argv[++i];
            continue;
        }
        fprintf(stderr, "ipm-keygen: unknown argument '%s'\n%s", argv[i], usage_text);
        return 2;
    }
    if (!zmq_has("curve")) {
        fprintf(stderr, "ipm-keygen: this libzmq is built without CURVE (libsodium)\n");
        return 1;
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "ipm-keygen: zmq_curve_keypair: %s\n", zmq_strerror(errno));
        return 1;
    }
    if (prefix == NULL) {
        printf("public-key: %s\nsecret-key: %s\n", pub, sec);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.key", prefix);
    if (write_key(path, sec, 0600) != 0) return 1;
    snprintf(path, sizeof path, "%s.pub", prefix);
    if (write_key(path, pub, 0644) != 0) return 1;
    printf("wrote %s.key (secret) and %s.pub (public)\n", prefix, prefix);
    return 0;
}
