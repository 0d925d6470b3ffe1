/*
 * ipm-conformance — run the behaviour every transport must show (API.md §3)
 * against a sender/receiver or publisher/subscriber pair (API.md §8).
 *
 *   ipm-conformance --sender T --receiver T --endpoint E [--endpoint E2]
 *                   [--set key=value]... [--only NAME]... [--list]
 *
 * This file is the command line and the coordinator: each check runs in a
 * fresh process (this binary with the hidden `--role check NAME`), so that a
 * crash or a hang is one FAIL line and the run goes on. `--role peer ...` is
 * the peer processes that checks start (peer.c, peer_role.c).
 */
#define _GNU_SOURCE
#include "conf.h"

#include "common/tool_ipm.h"

#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipm/plugin.h>

extern char **environ;

#define MAX_ONLY 64

static const char usage_text[] =
    "Usage: ipm-conformance --sender TYPE --receiver TYPE --endpoint E [options]\n"
    "Check that a pair of ipm transport types shows the behaviour of API.md §3.\n"
    "\n"
    "  --sender TYPE        sender or publisher type (a name or a path to the .so)\n"
    "  --receiver TYPE      receiver or subscriber type; a subscriber makes the run\n"
    "                       pub/sub (the publisher binds), else sender/receiver\n"
    "                       (the receiver binds)\n"
    "  --endpoint E         the endpoint checks derive theirs from (see below); give\n"
    "                       it twice for a second base, used for the second\n"
    "                       publisher of multi_publisher\n"
    "  --set key=value      a connection key passed to every connect (repeatable)\n"
    "  --only NAME          run only this check (repeatable; shell patterns allowed)\n"
    "  --list               list the checks and exit\n"
    "  --bind sender|receiver  which side binds, if not as the pattern says\n"
    "  --threads            run peers as threads even where processes would do\n"
    "                       (checks that need a process are then n/a)\n"
    "  --count N            messages of the stream check (default 100000)\n"
    "  --check-timeout S    a check still running after S seconds fails (default 60)\n"
    "  --unstated-max SIZE  the largest message the size checks send to a pair that\n"
    "                       states no limit (an ABI 1.0 plugin; default 64Mi); the\n"
    "                       one-past check stays n/a, since nothing was stated\n"
    "  -h, --help           this text\n"
    "\n"
    "Endpoints: each check derives fresh ones from E. A wildcard port (':*' or\n"
    "':0', e.g. tcp://127.0.0.1:*) is kept and the resolved endpoint is read back\n"
    "after bind; a fixed port ':P' becomes P, P+1, ... within a check; anything\n"
    "else (ipc:///path, shm://NAME, uds:///path, inproc://x) gets '-CHECK-K'\n"
    "appended.\n"
    "\n"
    "Peers run as separate processes (this program again) when both types state\n"
    "IPM_FEATURE_CROSS_PROCESS, else as threads, which the result line says.\n"
    "\n"
    "Output: one line per check, 'ok   NAME', 'FAIL NAME: why' or 'n/a  NAME: why'\n"
    "(the pattern or the transport's stated limits exclude it); lines starting\n"
    "with '#' are information. Then 'K not applicable' (if any) and, alone on the\n"
    "last line, 'N passed, M failed'.\n"
    "\n"
    "Exit status: 0 all checks passed or were not applicable, 1 a check failed,\n"
    "2 bad command line.\n";

typedef struct cli {
    conf_opts o;
    const char *only[MAX_ONLY];
    size_t nonly;
    bool list;
    const char *role; /* hidden: "check" or "peer" */
    int role_argc;
    char **role_argv;
} cli;

static int parse(cli *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->o.check_timeout_s = 60;
    a->o.stream_count = 100000;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage_text, stdout);
            return TOOL_EXIT_OK;
        }
        if (strcmp(arg, "--list") == 0) {
            a->list = true;
            continue;
        }
        if (strcmp(arg, "--threads") == 0) {
            a->o.threads = true;
            continue;
        }
        if (strcmp(arg, "--role") == 0) {
            if (!val) return tool_usage_error("--role needs a value");
            a->role = val;
            a->role_argc = argc - i - 2;
            a->role_argv = argv + i + 2;
            break;
        }
        if (!val) return tool_usage_error("%s needs a value", arg);
        i++;
        if (strcmp(arg, "--sender") == 0) {
            a->o.sender_type = val;
        } else if (strcmp(arg, "--receiver") == 0) {
            a->o.receiver_type = val;
        } else if (strcmp(arg, "--endpoint") == 0) {
            if (a->o.nendpoints == CONF_MAX_ENDPOINTS)
                return tool_usage_error("--endpoint is given at most %d times",
                                        CONF_MAX_ENDPOINTS);
            a->o.endpoints[a->o.nendpoints++] = val;
        } else if (strcmp(arg, "--set") == 0) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val)
                return tool_usage_error("--set '%s' is not key=value", val);
            if (a->o.nsets == CONF_MAX_SETS)
                return tool_usage_error("at most %d --set options", CONF_MAX_SETS);
            a->o.sets[a->o.nsets++] = val;
        } else if (strcmp(arg, "--only") == 0) {
            if (a->nonly == MAX_ONLY) return tool_usage_error("too many --only");
            a->only[a->nonly++] = val;
        } else if (strcmp(arg, "--bind") == 0) {
            if (strcmp(val, "sender") != 0 && strcmp(val, "receiver") != 0)
                return tool_usage_error("--bind is 'sender' or 'receiver', not '%s'",
                                        val);
            a->o.bind = val;
        } else if (strcmp(arg, "--unstated-max") == 0) {
            size_t v;
            if (!tool_parse_size(val, &v) || v == 0)
                return tool_usage_error("--unstated-max '%s' is not a size (e.g. 100Ki)",
                                        val);
            a->o.unstated_max = v;
        } else if (strcmp(arg, "--count") == 0) {
            if (!tool_parse_u64(val, &a->o.stream_count) || a->o.stream_count == 0)
                return tool_usage_error("--count '%s' is not a positive number", val);
        } else if (strcmp(arg, "--check-timeout") == 0) {
            uint64_t s;
            if (!tool_parse_u64(val, &s) || s == 0 || s > 3600)
                return tool_usage_error("--check-timeout '%s' is not 1..3600 seconds",
                                        val);
            a->o.check_timeout_s = (int)s;
        } else {
            return tool_usage_error("unknown option '%s'", arg);
        }
    }
    if (a->list || a->role) return -1;
    if (!a->o.sender_type || !a->o.receiver_type || a->o.nendpoints == 0)
        return tool_usage_error("--sender, --receiver and --endpoint are required");
    return -1;
}

bool conf_ctx_init(conf_ctx *c, const conf_opts *o)
{
    memset(c, 0, sizeof *c);
    c->o = o;
    const ipm_plugin *tx, *rx;
    ipm_status st = ipm_plugin_load(o->sender_type, &tx);
    if (st != IPM_OK) {
        tool_ipm_fail(o->sender_type, st);
        return false;
    }
    st = ipm_plugin_load(o->receiver_type, &rx);
    if (st != IPM_OK) {
        tool_ipm_fail(o->receiver_type, st);
        return false;
    }
    if (tx->role != IPM_ROLE_SENDER) {
        tool_error("--sender %s is not a sender type", o->sender_type);
        return false;
    }
    if (rx->role != IPM_ROLE_RECEIVER && rx->role != IPM_ROLE_SUBSCRIBER) {
        tool_error("--receiver %s is not a receiver or subscriber type",
                   o->receiver_type);
        return false;
    }
    c->pubsub = rx->role == IPM_ROLE_SUBSCRIBER;
    c->sender_binds = o->bind ? strcmp(o->bind, "sender") == 0 : c->pubsub;
    return true;
}

static bool selected(const cli *a, const char *name)
{
    if (a->nonly == 0) return true;
    for (size_t i = 0; i < a->nonly; i++)
        if (fnmatch(a->only[i], name, 0) == 0) return true;
    return false;
}

/* The hidden `--role check NAME`: run one check, print its line, exit with
 * its result. */
static int run_check(const cli *a)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (a->role_argc != 1) return tool_usage_error("--role check takes one name");
    const conf_check *chk = conf_check_find(a->role_argv[0]);
    if (!chk)
        return tool_usage_error("no check named '%s' (see --list)", a->role_argv[0]);
    conf_ctx c;
    if (!conf_ctx_init(&c, &a->o)) return TOOL_EXIT_USAGE;
    c.check = chk->name;
    int r = chk->run(&c);
    if (r == CONF_PASS)
        printf("ok   %s%s%s%s\n", chk->name, c.why[0] ? " (" : "", c.why,
               c.why[0] ? ")" : "");
    else if (r == CONF_NA)
        printf("n/a  %s: %s\n", chk->name, c.why);
    else
        printf("FAIL %s: %s\n", chk->name, c.why[0] ? c.why : "(no reason given)");
    fflush(stdout);
    return r;
}

static int run_peer(const cli *a)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    conf_peer_args pa;
    if (!conf_peer_parse(a->role_argc, a->role_argv, &pa))
        return tool_usage_error("bad --role peer arguments");
    conf_ctx c;
    if (!conf_ctx_init(&c, &a->o)) return TOOL_EXIT_USAGE;
    c.check = "peer";
    return conf_peer_main(&c, &pa, 0, 3);
}

/* Run check chk in a child process; returns its result, printing a FAIL
 * line for it if it died or hung. */
static int spawn_check(const cli *a, int argc, char **argv, const conf_check *chk)
{
    char **v = calloc((size_t)argc + 4, sizeof *v);
    if (!v) {
        printf("FAIL %s: out of memory\n", chk->name);
        return CONF_FAIL;
    }
    int n = 0;
    for (int i = 0; i < argc; i++)
        v[n++] = argv[i];
    v[n++] = "--role";
    v[n++] = "check";
    v[n++] = (char *)chk->name;
    v[n] = NULL;
    fflush(stdout);
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, v, environ);
    free(v);
    if (rc != 0) {
        printf("FAIL %s: cannot spawn the check's process: %s\n", chk->name,
               strerror(rc));
        return CONF_FAIL;
    }
    uint64_t t0 = tool_now_ns();
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            printf("FAIL %s: waitpid: %s\n", chk->name, strerror(errno));
            return CONF_FAIL;
        }
        if (conf_ms_since(t0) > a->o.check_timeout_s * 1000.0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            printf("FAIL %s: did not finish within %d s (killed; --check-timeout)\n",
                   chk->name, a->o.check_timeout_s);
            return CONF_FAIL;
        }
        conf_sleep_ms(5);
    }
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == CONF_PASS || code == CONF_FAIL || code == CONF_NA) return code;
        printf("FAIL %s: its process exited with status %d\n", chk->name, code);
        return CONF_FAIL;
    }
    if (WIFSIGNALED(status)) {
        printf("FAIL %s: its process died of signal %d (%s)\n", chk->name,
               WTERMSIG(status), strsignal(WTERMSIG(status)));
        return CONF_FAIL;
    }
    printf("FAIL %s: its process ended oddly (status 0x%x)\n", chk->name, status);
    return CONF_FAIL;
}

static void header(const conf_ctx *c)
{
    const conf_opts *o = c->o;
    printf("# ipm-conformance %s -> %s, %s, the %s binds, endpoint %s%s%s\n",
           o->sender_type, o->receiver_type, c->pubsub ? "pub/sub" : "sender/receiver",
           c->sender_binds ? "sender" : "receiver", o->endpoints[0],
           o->nendpoints > 1 ? " and " : "", o->nendpoints > 1 ? o->endpoints[1] : "");
    for (size_t i = 0; i < o->nsets; i++)
        printf("#   --set %s\n", o->sets[i]);
}

int main(int argc, char **argv)
{
    tool_set_name("ipm-conformance");
    signal(SIGPIPE, SIG_IGN);
    cli a;
    int rc = parse(&a, argc, argv);
    if (rc >= 0) return rc;
    if (a.role && strcmp(a.role, "check") == 0) return run_check(&a);
    if (a.role && strcmp(a.role, "peer") == 0) return run_peer(&a);
    if (a.role) return tool_usage_error("unknown --role '%s'", a.role);
    if (a.list) {
        for (size_t i = 0; i < conf_ncheck; i++)
            printf("%-32s %s\n", conf_checks[i].name, conf_checks[i].what);
        return TOOL_EXIT_OK;
    }
    for (size_t i = 0; i < a.nonly; i++) {
        bool any = false;
        for (size_t k = 0; k < conf_ncheck && !any; k++)
            any = fnmatch(a.only[i], conf_checks[k].name, 0) == 0;
        if (!any)
            return tool_usage_error("--only '%s' matches no check (see --list)",
                                    a.only[i]);
    }
    conf_ctx c;
    if (!conf_ctx_init(&c, &a.o)) return TOOL_EXIT_USAGE;
    header(&c);
    unsigned passed = 0, failed = 0, na = 0;
    uint64_t t0 = tool_now_ns();
    for (size_t i = 0; i < conf_ncheck; i++) {
        if (!selected(&a, conf_checks[i].name)) continue;
        int r = spawn_check(&a, argc, argv, &conf_checks[i]);
        if (r == CONF_PASS)
            passed++;
        else if (r == CONF_NA)
            na++;
        else
            failed++;
        fflush(stdout);
    }
    printf("# %.1f s\n", conf_ms_since(t0) / 1000.0);
    if (na) printf("%u not applicable\n", na);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
