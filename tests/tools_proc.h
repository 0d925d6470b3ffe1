/*
 * tools_proc.h — running the command-line tools from the tools tests: start
 * a tool with pipes on stdin/stdout/stderr, wait for a line on its stderr,
 * feed it, collect everything it wrote and its exit status, all with
 * deadlines so that a hung tool fails the test instead of hanging it.
 */
#ifndef IPM_TOOLS_PROC_H
#define IPM_TOOLS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A growing byte buffer, NUL-terminated for convenience. */
typedef struct tbuf {
    char *data;
    size_t len, cap;
} tbuf;

typedef struct tproc {
    pid_t pid;
    int in, out, err; /* our ends; -1 once closed */
    tbuf o, e;        /* what it wrote so far */
} tproc;

/* Path of a built tool, IPM_BINARY_DIR/bin/<name>; static storage. */
const char *tools_bin(const char *name);

/* Start argv[0] (a path) with argv. Returns 0 or -1. */
int tproc_start(tproc *p, const char *const argv[]);

/* Wait until stderr holds a line containing needle; returns a pointer just
 * after the needle in p->e (valid until more is read), or NULL on timeout
 * or EOF. Drains stdout meanwhile. */
const char *tproc_wait_err(tproc *p, const char *needle, int timeout_ms);

/* Write all of data to its stdin. */
int tproc_write(tproc *p, const void *data, size_t n);

/* Close its stdin, read stdout/stderr to EOF and reap it within timeout_ms.
 * Returns the exit status (0..255), 128+signal, or -1 on timeout (then it
 * is killed). */
int tproc_finish(tproc *p, int timeout_ms);

/* Free the buffers. */
void tproc_free(tproc *p);

/* Run a tool to completion with optional stdin; as tproc_finish. */
int tools_run(tproc *p, const char *const argv[], const void *input, size_t n,
              int timeout_ms);

#endif
