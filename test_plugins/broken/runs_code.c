/* libipm_RunsCode.so: a library with a constructor and no factory, as an
 * INI's plugin_path might lead the loader to. The constructor writes the
 * file named by IPM_TEST_MARKER: a loader that checks a candidate before
 * dlopen refuses it without that file ever appearing. */
#define _GNU_SOURCE
#include <ipm/plugin.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void runs_code(void)
{
    const char *marker = getenv("IPM_TEST_MARKER");
    if (!marker) return;
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
}

IPM_EXPORT int runs_code_answer(void);
IPM_EXPORT int runs_code_answer(void)
{
    return 42;
}
