/*
 * fuzz_plugins.h — what the libFuzzer targets share: two static plugins
 * (FuzzSender, a sender, and FuzzSubscriber, a subscriber) that accept a few
 * keys and read them with the typed getters, so that fuzzed connection
 * strings and INI files reach ipm_*_open / ipm_config_* and the key check
 * without any real transport; and a check macro that turns a broken
 * invariant into a crash libFuzzer records.
 */
#ifndef IPM_FUZZ_PLUGINS_H
#define IPM_FUZZ_PLUGINS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <ipm/plugin.h>

/* Report a broken invariant with the last error and abort: libFuzzer saves
 * the input as a crash artifact. */
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: invariant failed: %s (last error: '%s')\n", __FILE__, \
                    __LINE__, #cond, ipm_last_error());                                   \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* Register FuzzSender and FuzzSubscriber and point IPM_PLUGIN_PATH at a
 * directory that does not exist, so that no fuzzed type name can load a
 * real plugin. Idempotent. */
void fuzz_setup(void);

/* True if creating an object of this type cannot dlopen a file chosen by the
 * input: a type with '/' is a path to a .so. */
bool fuzz_type_is_safe(const char *type);

/* Every public getter on every key of p; returns nothing, checks invariants
 * of the results. */
void fuzz_exercise_params(const ipm_params *p);

#endif
