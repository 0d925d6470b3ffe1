/*
 * Helpers for the shared-memory transport tests: opening ShmPublisher /
 * ShmSubscriber / ShmSender / ShmReceiver by name, a pipe to synchronise
 * forked processes, and looking at /dev/shm.
 */
#ifndef IPM_TEST_SHM_UTIL_H
#define IPM_TEST_SHM_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <ipm/ipm.h>

/* Open "type=Type; connection_string=shm://name; extra" (extra may be
 * NULL). Returns the status; *out NULL on failure. */
ipm_status shm_t_open_sender(const char *type, const char *name, const char *extra,
                             ipm_sender **out);
ipm_status shm_t_open_receiver(const char *type, const char *name, const char *extra,
                               ipm_receiver **out);

/* A pipe between a parent and its forked children: put one byte, get one
 * byte within timeout_ms (returns -1 on timeout/EOF). */
typedef struct shm_t_pipe {
    int rd, wr;
} shm_t_pipe;
void shm_t_pipe_open(shm_t_pipe *p);
void shm_t_put(shm_t_pipe *p, char c);
int shm_t_get(shm_t_pipe *p, int timeout_ms);
void shm_t_pipe_close(shm_t_pipe *p);

/* True if /dev/shm/name exists; its mode bits in *mode if non-NULL. */
bool shm_t_exists(const char *name, unsigned *mode);

/* Write n bytes of garbage as /dev/shm/name. */
void shm_t_write_garbage(const char *name, size_t n);

/* Remove /dev/shm/name if present (test clean-up only). */
void shm_t_unlink(const char *name);

/* Sleep ms milliseconds (test pacing only). */
void shm_t_sleep_ms(int ms);

#endif
