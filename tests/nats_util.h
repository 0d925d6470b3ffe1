/*
 * Helpers of the NATS tests (tests/nats_*.c): real nats-server processes on
 * free loopback ports, each with its own JetStream store in a temporary
 * directory, alone or as a three-server cluster, and stopped by the test
 * (also when it fails: every server runs in its own process group, which
 * an atexit handler kills).
 */
#ifndef IPM_NATS_UTIL_H
#define IPM_NATS_UTIL_H

#include "ipm_test.h"

#include <stdbool.h>
#include <sys/types.h>

#define NT_MAX_SERVERS 3

typedef struct nt_server {
    pid_t pid;
    int port;         /* client port */
    int cluster_port; /* route port, 0 if not clustered */
    char dir[128];    /* store and log directory */
    char name[32];
    char conf[160]; /* config file, "" if none */
} nt_server;

typedef struct nt_cluster {
    nt_server s[NT_MAX_SERVERS];
    int n;
} nt_cluster;

/* Path of nats-server, or NULL if it is not installed (tests then skip). */
const char *nt_server_path(void);

/* Start one server with JetStream on a free loopback port. extra_conf, if
 * not NULL, is appended to its config file (authorization, tls blocks).
 * Waits (bounded, 10 s) until it accepts connections; fails the test if
 * it does not. */
void nt_start(nt_server *s, const char *extra_conf);
/* Start it again on the same port and store (after nt_kill/nt_stop). */
void nt_restart(nt_server *s);
/* SIGKILL the server (its process group) and reap it. */
void nt_kill(nt_server *s);
/* SIGTERM, wait up to 5 s, then SIGKILL; and remove its directory. */
void nt_stop(nt_server *s);

/* Three servers with JetStream, routes on loopback, one cluster; waits
 * until JetStream has a meta leader (a stream can be created). */
void nt_cluster_start(nt_cluster *c);
void nt_cluster_stop(nt_cluster *c);

/* "nats://127.0.0.1:P1,127.0.0.1:P2/subject" for the n servers given. */
void nt_endpoint(char *buf, size_t cap, const nt_server *const *servers, int n,
                 const char *subject);
/* The endpoint of one server. */
void nt_endpoint1(char *buf, size_t cap, const nt_server *s, const char *subject);

/* A free TCP port on 127.0.0.1 (bound and released). */
int nt_free_port(void);

/* Milliseconds since an arbitrary start (monotonic). */
double nt_now_ms(void);

#endif

/* A sender in a process of its own: this test program run again
 * (/proc/self/exe) with "--nt-sender SPEC FIRST COUNT": it opens SPEC (an
 * ipm_sender_open spec) and sends COUNT messages whose data is the 8-byte
 * sequence number FIRST, FIRST+1, ... with metadata "seq", each with a 20 s
 * timeout, and exits 0 if every send returned IPM_OK. Returns its pid. */
pid_t nt_spawn_sender(const char *spec, unsigned long long first,
                      unsigned long long count);
/* Call first in main(): runs the sender role if argv asks for it (and
 * exits), else returns. */
void nt_main_hook(int argc, char **argv);
