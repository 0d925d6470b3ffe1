/*
 * util_signal.c — the monotonic clock and Ctrl-C handling for the tools.
 *
 * Tools stop on SIGINT/SIGTERM by checking tool_stop_signal between bounded
 * waits (receives and sends with timeouts of a fraction of a second), so a
 * Ctrl-C ends them cleanly: messages released, objects destroyed, output
 * flushed.
 */
#define _GNU_SOURCE
#include "tool_util.h"

#include <string.h>
#include <time.h>

volatile sig_atomic_t tool_stop_signal = 0;

uint64_t tool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
    tool_stop_signal = sig;
}

void tool_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: let blocking calls return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
