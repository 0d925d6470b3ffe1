/*
 * tool_ipm.h — how the tools open the connection named on their command line
 * and report libipm's errors.
 *
 * A CONNECTION argument is one of
 *   - a connection string with a type:  'type=ZmqSender; connection_string=tcp://h:5555'
 *   - a connection string without one, or a bare endpoint ('tcp://h:5555'): the
 *     type comes from --type, else the tool's default;
 *   - FILE:SECTION, where FILE is an existing INI file ('daq.ini:trigger').
 * The tools never name a transport in code; defaults are passed in by main().
 */
#ifndef IPM_TOOL_IPM_H
#define IPM_TOOL_IPM_H

#include <stdbool.h>

#include <ipm/ipm.h>

#include "tool_util.h"

/* What the tool asked for and what it got. */
typedef struct tool_conn {
    const char *arg;          /* CONNECTION as given */
    const char *type;         /* --type, or NULL */
    const char *default_type; /* used when neither arg nor --type names a type */
    /* Filled by the open functions: */
    char used_type[128]; /* type actually opened (for messages) */
    bool has_topics;     /* the connection named a `topics` key */
} tool_conn;

/* Print "NAME: WHAT: <ipm_strerror>: <ipm_last_error>" on stderr and return
 * the exit code for st (TOOL_EXIT_TIMEOUT for IPM_ETIMEDOUT, else
 * TOOL_EXIT_ERROR). */
int tool_ipm_fail(const char *what, ipm_status st);

/* Open and connect a sender / receiver as described above (a receiver's
 * connect subscribes it to the connection's `topics` key, if any). Return TOOL_EXIT_OK
 * with *out set, or an exit code after printing the library's message (usage errors print
 * a hint). */
int tool_open_sender(tool_conn *c, ipm_sender **out);
int tool_open_receiver(tool_conn *c, ipm_receiver **out);

#endif /* IPM_TOOL_IPM_H */
