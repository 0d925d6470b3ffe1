/*
 * fuzz_config.c — libFuzzer target for INI files: the input is written to a
 * memory file and loaded with ipm_config_load (iniparser plus the core's own
 * line scan), then every section is queried and, for the static Fuzz* types,
 * created and connected through ipm_config_sender / ipm_config_receiver.
 *
 * Invariants beyond "no crash, no leak, no UB": failure leaves *out NULL and
 * a message naming the file; success lists exactly ipm_config_count()
 * sections, each with a non-empty type, found again by name.
 *
 * Note: an [ipm] section in the input changes process-wide settings, as it
 * would in an application; that is intended (it is part of what is fuzzed).
 */
#define _GNU_SOURCE
#include "fuzz_plugins.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_setup();
    /* A memory file: no disk traffic per input, and a path the loader can
     * fopen() (and iniparser too) like any other. */
    memfd = memfd_create("ipm-fuzz.ini", MFD_CLOEXEC);
    FUZZ_CHECK(memfd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    return 0;
}

static void query(const ipm_config *c)
{
    size_t n = ipm_config_count(c);
    FUZZ_CHECK(ipm_config_name_at(c, n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const char *name = ipm_config_name_at(c, i);
        FUZZ_CHECK(name != NULL);
        ipm_params *p = NULL;
        ipm_status st = ipm_config_params(c, name, &p);
        FUZZ_CHECK(st == IPM_OK && p != NULL);
        const char *type = ipm_params_get(p, "type");
        FUZZ_CHECK(type != NULL && *type != '\0');
        fuzz_exercise_params(p);
        if (fuzz_type_is_safe(type)) {
            ipm_sender *s = (ipm_sender *)(uintptr_t)1;
            st = ipm_config_sender(c, name, &s);
            FUZZ_CHECK((st == IPM_OK) == (s != NULL));
            if (st != IPM_OK) FUZZ_CHECK(*ipm_last_error() != '\0');
            ipm_sender_destroy(s);
            ipm_receiver *r = (ipm_receiver *)(uintptr_t)1;
            st = ipm_config_receiver(c, name, &r);
            FUZZ_CHECK((st == IPM_OK) == (r != NULL));
            if (st != IPM_OK) FUZZ_CHECK(*ipm_last_error() != '\0');
            ipm_receiver_destroy(r);
        }
        ipm_params_free(p);
    }
    ipm_params *p = (ipm_params *)(uintptr_t)1;
    FUZZ_CHECK(ipm_config_params(c, "no such section, surely", &p) == IPM_ECONFIG);
    FUZZ_CHECK(p == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_CHECK(ftruncate(memfd, 0) == 0);
    FUZZ_CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);

    ipm_set_error(IPM_OK, "%s", "");
    ipm_config *c = (ipm_config *)(uintptr_t)1;
    ipm_status st = ipm_config_load(path, &c);
    if (st != IPM_OK) {
        FUZZ_CHECK(c == NULL);
        FUZZ_CHECK(st == IPM_ECONFIG || st == IPM_ENOMEM);
        FUZZ_CHECK(strstr(ipm_last_error(), path) != NULL);
        return 0;
    }
    FUZZ_CHECK(c != NULL);
    query(c);
    ipm_config_free(c);
    return 0;
}
