/*
 * sdk_xfer — a generic ipm application for the SDK tests: it sends or
 * receives numbered messages over any transport named in a connection spec,
 * and knows nothing of any particular plugin. The install test builds it
 * before the example plugin exists and then talks through that plugin.
 *
 *   sdk_xfer send SPEC COUNT [SIZE]       send COUNT messages of SIZE bytes
 *   sdk_xfer recv SPEC COUNT [SIZE]       receive and verify them
 *
 * Message i carries "xfer <i>" padded with a byte pattern to SIZE (default
 * 64) bytes, and metadata "xfer". recv prints "ready <endpoint>" once
 * connected and "received COUNT messages" at the end.
 * Exit status: 0 all sent/received and verified, 1 failure (the reason on
 * stderr), 2 usage error.
 */
#define _GNU_SOURCE
#include <ipm/ipm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_TIMEOUT_MS 20000

static void fill(char *buf, size_t size, long i)
{
    for (size_t k = 0; k < size; k++)
        buf[k] = (char)('a' + (k + (size_t)i) % 26);
    char head[32];
    int n = snprintf(head, sizeof head, "xfer %ld", i);
    memcpy(buf, head, (size_t)n < size ? (size_t)n : size);
}

static int fail(const char *what, ipm_status st)
{
    fprintf(stderr, "sdk_xfer: %s: %s: %s\n", what, ipm_strerror(st), ipm_last_error());
    return 1;
}

static int do_send(const char *spec, long count, size_t size, char *buf)
{
    ipm_sender *s;
    ipm_status st = ipm_sender_open(spec, &s);
    if (st != IPM_OK) return fail("open", st);
    for (long i = 0; i < count; i++) {
        fill(buf, size, i);
        if ((st = ipm_send(s, buf, size, STEP_TIMEOUT_MS, "xfer")) != IPM_OK) {
            fprintf(stderr, "sdk_xfer: message %ld: ", i);
            ipm_sender_destroy(s);
            return fail("send", st);
        }
    }
    printf("sent %ld messages\n", count);
    ipm_sender_destroy(s);
    return 0;
}

static int do_recv(const char *spec, long count, size_t size, char *buf)
{
    ipm_receiver *r;
    ipm_status st = ipm_receiver_open(spec, &r);
    if (st != IPM_OK) return fail("open", st);
    const char *ep = ipm_receiver_endpoint(r);
    printf("ready %s\n", ep ? ep : "");
    fflush(stdout);
    int rc = 0;
    for (long i = 0; i < count && rc == 0; i++) {
        ipm_message m;
        if ((st = ipm_receive_exact(r, &m, STEP_TIMEOUT_MS, size)) != IPM_OK) {
            fprintf(stderr, "sdk_xfer: message %ld: ", i);
            rc = fail("receive", st);
        } else {
            fill(buf, size, i);
            if (memcmp(m.data, buf, size) != 0 || strcmp(m.metadata, "xfer") != 0) {
                fprintf(stderr, "sdk_xfer: message %ld has the wrong content\n", i);
                rc = 1;
            }
        }
        ipm_message_release(&m);
    }
    if (rc == 0) printf("received %ld messages\n", count);
    ipm_receiver_destroy(r);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 ||
        (strcmp(argv[1], "send") != 0 && strcmp(argv[1], "recv") != 0)) {
        fprintf(stderr, "usage: sdk_xfer send|recv SPEC COUNT [SIZE]\n");
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    long size = argc == 5 ? strtol(argv[4], NULL, 10) : 64;
    if (count < 0 || size < 1) {
        fprintf(stderr, "sdk_xfer: COUNT must be >= 0 and SIZE >= 1\n");
        return 2;
    }
    char *buf = malloc((size_t)size);
    if (!buf) return 1;
    int rc = strcmp(argv[1], "send") == 0 ? do_send(argv[2], count, (size_t)size, buf)
                                          : do_recv(argv[2], count, (size_t)size, buf);
    free(buf);
    return rc;
}
