/*
 * nats_util.c — starting and stopping real nats-server processes for the
 * NATS tests. Servers listen on 127.0.0.1 only.
 */
#define _GNU_SOURCE
#include "nats_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t started[32];
static int nstarted;
static bool atexit_set;

static void kill_all(void)
{
    for (int i = 0; i < nstarted; i++)
        if (started[i] > 0) {
            kill(-started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
        }
}

static void track(pid_t pid)
{
    if (!atexit_set) {
        atexit(kill_all);
        atexit_set = true;
    }
    for (int i = 0; i < nstarted; i++)
        if (started[i] <= 0) {
            started[i] = pid;
            return;
        }
    if (nstarted < 32) started[nstarted++] = pid;
}

static void untrack(pid_t pid)
{
    for (int i = 0; i < nstarted; i++)
        if (started[i] == pid) started[i] = 0;
}

double nt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *nt_server_path(void)
{
    static const char *const paths[] = {"/usr/sbin/nats-server", "/usr/bin/nats-server",
                                        "/usr/local/bin/nats-server"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0) return paths[i];
    return NULL;
}

int nt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("no free loopback port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

static void spawn(nt_server *s)
{
    const char *path = nt_server_path();
    if (path == NULL) fail_msg("nats-server is not installed");
    char log[200];
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        FILE *f = freopen(log, "a", stdout);
        (void)f;
        dup2(1, 2);
        execl(path, path, "-c", s->conf, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    s->pid = pid;
    track(pid);
    double end = nt_now_ms() + 10000;
    while (!port_accepts(s->port)) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            untrack(pid);
            s->pid = 0;
            fail_msg("nats-server %s exited at start (see %s)", s->name, log);
        }
        if (nt_now_ms() > end)
            fail_msg("nats-server %s does not accept on port %d within 10 s", s->name,
                     s->port);
        sleep_ms(20);
    }
}

static void write_conf(nt_server *s, const char *routes, const char *extra)
{
    snprintf(s->conf, sizeof s->conf, "%s/server.conf", s->dir);
    FILE *f = fopen(s->conf, "w");
    if (f == NULL) fail_msg("cannot write %s: %s", s->conf, strerror(errno));
    fprintf(f,
            "server_name: %s\nhost: 127.0.0.1\nport: %d\n"
            "jetstream { store_dir: \"%s/js\" }\n",
            s->name, s->port, s->dir);
    if (s->cluster_port)
        fprintf(f,
                "cluster { name: ipmtest\n host: 127.0.0.1\n port: %d\n routes: [%s] }\n",
                s->cluster_port, routes);
    if (extra) fprintf(f, "%s\n", extra);
    fclose(f);
}

static void make_dir(nt_server *s, const char *name)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/ipm-nats-XXXXXX");
    if (mkdtemp(s->dir) == NULL) fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(s->name, sizeof s->name, "%s", name);
}

void nt_start(nt_server *s, const char *extra_conf)
{
    memset(s, 0, sizeof *s);
    make_dir(s, "ipm-single");
    s->port = nt_free_port();
    write_conf(s, "", extra_conf);
    spawn(s);
}

void nt_restart(nt_server *s)
{
    spawn(s);
}

void nt_kill(nt_server *s)
{
    if (s->pid <= 0) return;
    kill(-s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    untrack(s->pid);
    s->pid = 0;
}

void nt_stop(nt_server *s)
{
    if (s->pid > 0) {
        kill(-s->pid, SIGTERM);
        double end = nt_now_ms() + 5000;
        int status;
        while (waitpid(s->pid, &status, WNOHANG) == 0 && nt_now_ms() < end)
            sleep_ms(10);
        kill(-s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        untrack(s->pid);
        s->pid = 0;
    }
    if (s->dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0) fprintf(stderr, "nats_util: could not remove %s\n", s->dir);
        s->dir[0] = '\0';
    }
}

void nt_cluster_start(nt_cluster *c)
{
    memset(c, 0, sizeof *c);
    c->n = NT_MAX_SERVERS;
    for (int i = 0; i < c->n; i++) {
        char name[16];
        snprintf(name, sizeof name, "ipm-n%d", i + 1);
        make_dir(&c->s[i], name);
        c->s[i].port = nt_free_port();
        c->s[i].cluster_port = nt_free_port();
    }
    char routes[256] = "";
    for (int i = 0; i < c->n; i++) {
        char r[64];
        snprintf(r, sizeof r, "%snats-route://127.0.0.1:%d", i ? ", " : "",
                 c->s[i].cluster_port);
        strcat(routes, r);
    }
    for (int i = 0; i < c->n; i++)
        write_conf(&c->s[i], routes, NULL);
    for (int i = 0; i < c->n; i++)
        spawn(&c->s[i]);
    /* JetStream needs a meta leader before a stream can be made: a
     * NatsSender connect succeeds once there is one. Bounded: 20 s. */
    char ep[256];
    const nt_server *all[3] = {&c->s[0], &c->s[1], &c->s[2]};
    nt_endpoint(ep, sizeof ep, all, 3, "ipm.cluster.ready");
    char spec[400];
    snprintf(spec, sizeof spec, "type=NatsSender; connection_string=%s; replicas=3", ep);
    double end = nt_now_ms() + 20000;
    for (;;) {
        ipm_sender *s = NULL;
        ipm_status st = ipm_sender_open(spec, &s);
        ipm_sender_destroy(s);
        if (st == IPM_OK) break;
        if (nt_now_ms() > end)
            fail_msg("the cluster has no JetStream leader after 20 s: %s",
                     ipm_last_error());
        sleep_ms(200);
    }
}

void nt_cluster_stop(nt_cluster *c)
{
    for (int i = 0; i < c->n; i++)
        nt_stop(&c->s[i]);
}

void nt_endpoint(char *buf, size_t cap, const nt_server *const *servers, int n,
                 const char *subject)
{
    size_t used = (size_t)snprintf(buf, cap, "nats://");
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s127.0.0.1:%d", i ? "," : "",
                                 servers[i]->port);
    if (used < cap) snprintf(buf + used, cap - used, "/%s", subject);
}

void nt_endpoint1(char *buf, size_t cap, const nt_server *s, const char *subject)
{
    const nt_server *one[1] = {s};
    nt_endpoint(buf, cap, one, 1, subject);
}

pid_t nt_spawn_sender(const char *spec, unsigned long long first,
                      unsigned long long count)
{
    char a[32], b[32];
    snprintf(a, sizeof a, "%llu", first);
    snprintf(b, sizeof b, "%llu", count);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        execl("/proc/self/exe", "nt-sender", "--nt-sender", spec, a, b, (char *)NULL);
        _exit(127);
    }
    return pid;
}

void nt_main_hook(int argc, char **argv)
{
    if (argc != 5 || strcmp(argv[1], "--nt-sender") != 0) return;
    unsigned long long first = strtoull(argv[3], NULL, 10);
    unsigned long long count = strtoull(argv[4], NULL, 10);
    ipm_sender *s = NULL;
    if (ipm_sender_open(argv[2], &s) != IPM_OK) {
        fprintf(stderr, "nt-sender: %s\n", ipm_last_error());
        _exit(2);
    }
    for (unsigned long long i = 0; i < count; i++) {
        uint64_t seq = first + i;
        ipm_status st = ipm_send(s, &seq, sizeof seq, 20000, "seq");
        if (st != IPM_OK) {
            fprintf(stderr, "nt-sender: message %llu: %s: %s\n", (unsigned long long)seq,
                    ipm_strerror(st), ipm_last_error());
            _exit(1);
        }
    }
    ipm_sender_destroy(s);
    _exit(0);
}
