/*
 * Helpers for the POSIX message-queue transport tests: opening MqSender /
 * MqReceiver on a name, a pipe to synchronise forked processes, dropping to
 * an unprivileged user in a child, and clean-up of queues a test leaves.
 */
#ifndef IPM_TEST_MQ_UTIL_H
#define IPM_TEST_MQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <ipm/ipm.h>

/* Open "type=MqSender|MqReceiver; connection_string=mq://name; extra"
 * (extra may be NULL). Returns the status; *out NULL on failure. */
ipm_status mq_t_sender(const char *name, const char *extra, ipm_sender **out);
ipm_status mq_t_receiver(const char *name, const char *extra, ipm_receiver **out);

/* A pipe between a parent and its forked children: put one byte, get one
 * byte within timeout_ms (returns -1 on timeout/EOF). */
typedef struct mq_t_pipe {
    int rd, wr;
} mq_t_pipe;
void mq_t_pipe_open(mq_t_pipe *p);
void mq_t_put(mq_t_pipe *p, char c);
int mq_t_get(mq_t_pipe *p, int timeout_ms);
void mq_t_pipe_close(mq_t_pipe *p);

/* Remove the queue /name and its lock file (test clean-up only). */
void mq_t_cleanup(const char *name);

/* True if the queue /name exists (mq_open succeeds); its mode in *mode. */
bool mq_t_exists(const char *name, unsigned *mode);

/* In a child: become uid/gid 65534 (nobody) when root, so that no
 * capability (CAP_SYS_RESOURCE) lifts the kernel's limits. False on failure;
 * true and nothing done when not root. */
bool mq_t_drop_privileges(void);

/* Sleep ms milliseconds (test pacing only). */
void mq_t_sleep_ms(int ms);

#endif
