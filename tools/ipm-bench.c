/*
 * ipm-bench — latency, throughput and startup time of any ipm sender and
 * receiver type over any endpoint. The measuring is done by the harness in
 * common/bench_*.c, which the raw-libzmq baseline (bench/) shares, so that
 * the two can be compared figure by figure; this file is the command line
 * and the libipm backend.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipm/ipm.h>
#include <ipm/plugin.h>

#include "common/bench.h"

static const char usage_head[] =
    "Usage: ipm-bench [options]\n"
    "Measure latency (ping-pong between two processes), throughput (streaming\n"
    "between two processes) and the time to start a sender, for any pair of\n"
    "ipm types over any endpoint.\n"
    "\n";

static const char extra_help[] =
    "\n"
    "Examples:\n"
    "  ipm-bench                                  # ZmqSender->ZmqReceiver, tcp\n"
    "  ipm-bench -e ipc -e inproc -s 64,4Ki,1Mi --json\n"
    "  ipm-bench -S ShmSender -R ShmReceiver -e shm -p latency\n"
    "  ipm-bench -S ZmqPublisher -R ZmqSubscriber -d 2s -p throughput\n"
    "A lossless pattern (a receiver that is not a subscriber) that loses or\n"
    "reorders a message makes ipm-bench exit with status 3.\n";

/* ---------------------------------------------------------- the backend */

/* The detail of the last failure on this thread (the roles are threads for
 * inproc://). */
static _Thread_local char last_error[1200];

static int failed(ipm_status st)
{
    snprintf(last_error, sizeof last_error, "%s: %s", ipm_strerror(st), ipm_last_error());
    return BENCH_ERROR;
}

static const char *be_error(void)
{
    return last_error;
}

typedef struct rx_end {
    ipm_receiver *r;
    ipm_message held; /* the one message out at a time */
} rx_end;

/* connection_string=endpoint plus the --*-param keys. */
static ipm_status make_params(const char *endpoint, const char **extra, size_t n,
                              ipm_params **out)
{
    ipm_status st = ipm_params_new(out);
    if (st == IPM_OK) st = ipm_params_set(*out, "connection_string", endpoint);
    for (size_t i = 0; i < n && st == IPM_OK; i++) {
        char *kv = strdup(extra[i]);
        if (kv == NULL) {
            st = IPM_ENOMEM;
            break;
        }
        char *eq = strchr(kv, '=');
        *eq = '\0';
        st = ipm_params_set(*out, kv, eq + 1);
        free(kv);
    }
    if (st != IPM_OK) {
        ipm_params_free(*out);
        *out = NULL;
    }
    return st;
}

/* The bench config of the running role, for the params (set once per
 * process before any role runs; read-only afterwards). */
static const bench_config *g_cfg;

static int be_rx_create(const bench_config *cfg, void **out, bool *subscriber)
{
    rx_end *x = calloc(1, sizeof *x);
    if (x == NULL) return failed(IPM_ENOMEM);
    ipm_status st = ipm_receiver_create(cfg->receiver_type, &x->r);
    if (st != IPM_OK) {
        free(x);
        return failed(st);
    }
    /* Subscribing to everything tells a subscriber from a plain receiver. */
    st = ipm_subscribe(x->r, "");
    if (st != IPM_OK && st != IPM_ENOTSUP) {
        ipm_receiver_destroy(x->r);
        free(x);
        return failed(st);
    }
    *subscriber = st == IPM_OK;
    *out = x;
    return BENCH_OK;
}

static int be_rx_connect(void *rx, const char *endpoint, char *resolved, size_t cap)
{
    rx_end *x = rx;
    ipm_params *p;
    ipm_status st =
        make_params(endpoint, g_cfg->receiver_params, g_cfg->nreceiver_params, &p);
    if (st == IPM_OK) st = ipm_receiver_connect(x->r, p);
    ipm_params_free(p);
    if (st != IPM_OK) return failed(st);
    const char *ep = ipm_receiver_endpoint(x->r);
    snprintf(resolved, cap, "%s", ep ? ep : endpoint);
    return BENCH_OK;
}

static int be_tx_create(const bench_config *cfg, void **tx)
{
    ipm_sender *s;
    ipm_status st = ipm_sender_create(cfg->sender_type, &s);
    if (st != IPM_OK) return failed(st);
    *tx = s;
    return BENCH_OK;
}

static int be_tx_connect(void *tx, const char *endpoint, char *resolved, size_t cap)
{
    ipm_params *p;
    ipm_status st =
        make_params(endpoint, g_cfg->sender_params, g_cfg->nsender_params, &p);
    if (st == IPM_OK) st = ipm_sender_connect(tx, p);
    ipm_params_free(p);
    if (st != IPM_OK) return failed(st);
    const char *ep = ipm_sender_endpoint(tx);
    snprintf(resolved, cap, "%s", ep ? ep : endpoint);
    return BENCH_OK;
}

static int be_send(void *tx, const void *data, size_t size, const char *meta,
                   int timeout_ms)
{
    ipm_status st = ipm_send(tx, data, size, timeout_ms, meta);
    if (st == IPM_OK) return BENCH_OK;
    if (st == IPM_ETIMEDOUT) return BENCH_TIMEOUT;
    return failed(st);
}

static int be_recv(void *rx, bench_msg *m, int timeout_ms)
{
    rx_end *x = rx;
    ipm_status st = ipm_receive(x->r, &x->held, timeout_ms);
    if (st == IPM_ETIMEDOUT) return BENCH_TIMEOUT;
    if (st != IPM_OK) return failed(st);
    m->data = x->held.data;
    m->size = x->held.size;
    m->meta = x->held.metadata;
    return BENCH_OK;
}

static void be_release(void *rx, bench_msg *m)
{
    (void)m;
    ipm_message_release(&((rx_end *)rx)->held);
}

static uint64_t be_dropped(void *rx)
{
    ipm_stats st;
    ipm_receiver_stats(((rx_end *)rx)->r, &st);
    return st.dropped;
}

static void be_tx_destroy(void *tx)
{
    ipm_sender_destroy(tx);
}

static void be_rx_destroy(void *rx)
{
    rx_end *x = rx;
    ipm_receiver_destroy(x->r);
    free(x);
}

static const bench_backend ipm_backend = {
    .impl = "ipm",
    .rx_create = be_rx_create,
    .rx_connect = be_rx_connect,
    .tx_create = be_tx_create,
    .tx_connect = be_tx_connect,
    .send = be_send,
    .recv = be_recv,
    .release = be_release,
    .dropped = be_dropped,
    .tx_destroy = be_tx_destroy,
    .rx_destroy = be_rx_destroy,
    .error = be_error,
};

/* ------------------------------------------------------- type checking */

/* Load both plugins in a throwaway child and check their roles, so that a
 * wrong type is one clear error up front, and the measuring processes still
 * load their plugins for the first time themselves (the startup figure). */
static int check_types(const bench_config *cfg)
{
    int fd[2];
    if (pipe(fd) != 0) return TOOL_EXIT_OK; /* the measurements will tell */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        char msg[1400] = "";
        const char *types[2] = {cfg->sender_type, cfg->receiver_type};
        const char *opt[2] = {"--sender-type", "--receiver-type"};
        for (int i = 0; i < 2 && !msg[0]; i++) {
            const ipm_plugin *p;
            ipm_status st = ipm_plugin_load(types[i], &p);
            if (st != IPM_OK)
                snprintf(msg, sizeof msg, "%s %s: %s: %s", opt[i], types[i],
                         ipm_strerror(st), ipm_last_error());
            else if (i == 0 && p->role != IPM_ROLE_SENDER)
                snprintf(msg, sizeof msg, "--sender-type %s is not a sender type",
                         types[i]);
            else if (i == 1 && p->role == IPM_ROLE_SENDER)
                snprintf(msg, sizeof msg, "--receiver-type %s is a sender type",
                         types[i]);
        }
        ssize_t w = write(fd[1], msg, strlen(msg));
        (void)w;
        _exit(0);
    }
    close(fd[1]);
    char msg[1400];
    size_t n = 0;
    ssize_t k;
    while (
        pid > 0 && n < sizeof msg - 1 &&
        ((k = read(fd[0], msg + n, sizeof msg - 1 - n)) > 0 || (k < 0 && errno == EINTR)))
        if (k > 0) n += (size_t)k;
    msg[n] = '\0';
    close(fd[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    if (n == 0) return TOOL_EXIT_OK;
    tool_error("%s", msg);
    return TOOL_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    tool_set_name(argv[0]);
    bench_config cfg = {.backend = &ipm_backend,
                        .sender_type = "ZmqSender",
                        .receiver_type = "ZmqReceiver"};
    int rc = bench_parse_args(&cfg, argc, argv, BENCH_OPT_TYPES, usage_head, extra_help);
    if (rc < 0) {
        g_cfg = &cfg;
        tool_install_signals();
        rc = check_types(&cfg);
        if (rc == TOOL_EXIT_OK) rc = bench_run(&cfg);
    }
    bench_config_free(&cfg);
    return rc;
}
