/*
 * mq_foreign_sender — a peer that does not speak ipm: plain mq_open and
 * mq_send, as the usual POSIX example does (open with O_CREAT and default
 * attributes, send strlen + 1 bytes, close). No ipm here at all.
 *
 * Usage: mq_foreign_sender /QUEUE MESSAGE...   each MESSAGE is sent with
 * its NUL; "@hex:HH.." sends the given bytes instead. Exit 0 when all went.
 */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s /QUEUE MESSAGE...\n", argv[0]);
        return 2;
    }
    mqd_t mq = mq_open(argv[1], O_WRONLY | O_CREAT, 0644, NULL);
    if (mq == (mqd_t)-1) {
        perror("mq_open");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        char buf[1024];
        size_t n;
        if (strncmp(argv[i], "@hex:", 5) == 0) {
            const char *h = argv[i] + 5;
            for (n = 0; h[0] && h[1] && n < sizeof buf; h += 2)
                buf[n++] = (char)strtol((char[]){h[0], h[1], 0}, NULL, 16);
        } else {
            n = strlen(argv[i]) + 1;
            if (n > sizeof buf) n = sizeof buf;
            memcpy(buf, argv[i], n);
        }
        if (mq_send(mq, buf, n, 0) == -1) {
            perror("mq_send");
            return 1;
        }
    }
    mq_close(mq);
    return 0;
}
