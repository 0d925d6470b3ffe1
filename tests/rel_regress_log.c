/*
 * rel_regress_log.c — regression (issue 6, review of the bad-input test);
 * FAILS UNTIL FIXED, reliably under AddressSanitizer.
 *
 * log.c ipm_log(): `names[level]` indexes a 4-entry table with the caller's
 * level unchecked. ipm_log is public (plugin.h); with IPM_LOG set, a level
 * outside IPM_LOG_DEBUG..IPM_LOG_WARN reads past the table (ASan:
 * global-buffer-overflow) and prints whatever pointer it finds there as a
 * string (a crash or garbage on stderr). Want: such a level is ignored or
 * clamped, and the call prints at most one well-formed "ipm[...]" line.
 *
 * Runs with IPM_LOG=debug (see reliability.cmake); the call happens in a
 * child whose stderr is captured.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <ipm/plugin.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_bad_levels(void *arg)
{
    rel_child_signals();
    int *fds = arg;
    dup2(fds[1], 2);
    close(fds[0]);
    ipm_log((ipm_log_level)4, "level four");
    ipm_log((ipm_log_level)99, "level ninety-nine");
    ipm_log((ipm_log_level)-1, "level minus one");
    fflush(stderr);
    return 0;
}

static void test_log_level_out_of_range(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = ipm_test_fork(log_bad_levels, fds);
    close(fds[1]);
    char out[4096] = "";
    size_t len = 0;
    ssize_t n;
    while (len + 1 < sizeof out && (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status = ipm_test_wait(pid, 30000);
    printf("[ regress  ] child exit %d, stderr:\n%s\n", status, out);
    assert_int_equal(status, 0);
    /* Every line printed is one of ipm's own, with a real level name. */
    for (char *line = out; *line;) {
        char *end = strchr(line, '\n');
        if (strncmp(line, "ipm[debug]: ", 12) != 0 && strncmp(line, "ipm[info]: ", 11) != 0 &&
            strncmp(line, "ipm[warn]: ", 11) != 0)
            fail_msg("not a log line of ipm: '%.*s'", end ? (int)(end - line) : 80, line);
        if (!end) break;
        line = end + 1;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_level_out_of_range),
    };
    return cmocka_run_group_tests_name("rel_regress_log", tests, NULL, NULL);
}
