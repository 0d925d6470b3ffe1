/*
 * fixture_ops.h — a complete but inert operations table for the broken
 * loader fixtures. Each fixture is wrong in exactly one way, so every other
 * part of it must be valid: these operations are that valid rest. They are
 * never expected to run (the loader refuses the fixture first); if they do,
 * they fail with IPM_ENOTSUP instead of crashing.
 */
#ifndef IPM_TEST_FIXTURE_OPS_H
#define IPM_TEST_FIXTURE_OPS_H

#include <ipm/plugin.h>

/* Every operation of a sender filled in. */
extern const ipm_plugin_ops fixture_sender_ops;

/* The same with send == NULL. */
extern const ipm_plugin_ops fixture_sender_ops_without_send;

/* Every sender operation filled in, but struct_size says 8 bytes: the table of
 * a plugin claiming to know nothing beyond struct_size itself. */
extern const ipm_plugin_ops fixture_sender_ops_too_small;

/* Keys of every fixture. */
extern const char *const fixture_keys[];

#endif
