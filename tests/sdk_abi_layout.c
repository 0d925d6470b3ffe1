/*
 * sdk_abi_layout.c — pins the binary layout of every struct and constant that
 * crosses the plugin ABI (plugin.h) or the application ABI (ipm.h).
 *
 * A plugin built last year is a binary that this library must still load, so
 * a change to these numbers is an ABI break: it needs a new
 * IPM_PLUGIN_ABI_MAJOR (or, for members appended at the end of a struct, a new
 * IPM_PLUGIN_ABI_MINOR) and an update of this file in the same commit. The
 * checks run twice: at compile time (_Static_assert, so the build fails) and
 * at run time (so the test report says which member moved).
 *
 * The expected values are those of LP64 targets with natural alignment
 * (x86_64, aarch64, ...); elsewhere the compile-time checks are skipped and
 * the runtime test only checks the relations that hold on every target.
 */
#define _GNU_SOURCE
#include "ipm_test.h"

#include <ipm/plugin.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__LP64__) && __SIZEOF_POINTER__ == 8 && __SIZEOF_LONG__ == 8
#define IPM_TEST_LP64 1
#else
#define IPM_TEST_LP64 0
#endif

/* One table drives both kinds of check: struct, member, offset on LP64. */
#define IPM_ABI_MEMBERS(X)                                                               \
    X(ipm_plugin, magic, 0)                                                              \
    X(ipm_plugin, abi_major, 4)                                                          \
    X(ipm_plugin, abi_minor, 6)                                                          \
    X(ipm_plugin, struct_size, 8)                                                        \
    X(ipm_plugin, role, 12)                                                              \
    X(ipm_plugin, name, 16)                                                              \
    X(ipm_plugin, version, 24)                                                           \
    X(ipm_plugin, description, 32)                                                       \
    X(ipm_plugin, keys, 40)                                                              \
    X(ipm_plugin, ops, 48)                                                               \
    X(ipm_plugin, settings, 56)                                                          \
    X(ipm_plugin, limits, 64)                                                            \
    X(ipm_plugin_ops, struct_size, 0)                                                    \
    X(ipm_plugin_ops, create, 8)                                                         \
    X(ipm_plugin_ops, connect, 16)                                                       \
    X(ipm_plugin_ops, endpoint, 24)                                                      \
    X(ipm_plugin_ops, destroy, 32)                                                       \
    X(ipm_plugin_ops, send, 40)                                                          \
    X(ipm_plugin_ops, receive, 48)                                                       \
    X(ipm_plugin_ops, release, 56)                                                       \
    X(ipm_plugin_ops, subscribe, 64)                                                     \
    X(ipm_plugin_ops, unsubscribe, 72)                                                   \
    X(ipm_plugin_ops, dropped, 80)                                                       \
    X(ipm_plugin_ops, check, 88)                                                         \
    X(ipm_plugin_ops, limits, 96)                                                        \
    X(ipm_plugin_ops, loan, 104)                                                         \
    X(ipm_plugin_ops, send_loan, 112)                                                    \
    X(ipm_plugin_ops, loan_return, 120)                                                  \
    X(ipm_limits, max_message_size, 0)                                                   \
    X(ipm_limits, max_metadata_size, 8)                                                  \
    X(ipm_limits, features, 16)                                                          \
    X(ipm_message, data, 0)                                                              \
    X(ipm_message, size, 8)                                                              \
    X(ipm_message, metadata, 16)                                                         \
    X(ipm_message, metadata_size, 24)                                                    \
    X(ipm_message, opaque_, 32)                                                          \
    X(ipm_stats, messages, 0)                                                            \
    X(ipm_stats, bytes, 8)                                                               \
    X(ipm_stats, dropped, 16)

#define IPM_ABI_SIZES(X)                                                                 \
    X(ipm_plugin, 72)                                                                    \
    X(ipm_plugin_ops, 128)                                                               \
    X(ipm_limits, 24)                                                                    \
    X(ipm_message, 64)                                                                   \
    X(ipm_stats, 24)

/* Widths of the fixed-size members, which hold on every target. */
#define IPM_ABI_WIDTHS(X)                                                                \
    X(ipm_plugin, magic, 4)                                                              \
    X(ipm_plugin, abi_major, 2)                                                          \
    X(ipm_plugin, abi_minor, 2)                                                          \
    X(ipm_plugin, struct_size, 4)                                                        \
    X(ipm_plugin, role, 4)                                                               \
    X(ipm_plugin_ops, struct_size, 4)                                                    \
    X(ipm_stats, messages, 8)                                                            \
    X(ipm_stats, bytes, 8)                                                               \
    X(ipm_stats, dropped, 8)                                                             \
    X(ipm_limits, max_message_size, 8)                                                   \
    X(ipm_limits, max_metadata_size, 8)                                                  \
    X(ipm_limits, features, 4)

#define MEMBER_SIZE(type, member) sizeof(((type *)0)->member)

#define STATIC_WIDTH(type, member, width)                                                \
    _Static_assert(MEMBER_SIZE(type, member) == (width), #type "." #member " width");
IPM_ABI_WIDTHS(STATIC_WIDTH)

#if IPM_TEST_LP64
#define STATIC_OFFSET(type, member, off)                                                 \
    _Static_assert(offsetof(type, member) == (off), #type "." #member " moved");
#define STATIC_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " resized");
IPM_ABI_MEMBERS(STATIC_OFFSET)
IPM_ABI_SIZES(STATIC_SIZE)
_Static_assert(MEMBER_SIZE(ipm_message, opaque_) == 4 * sizeof(void *),
               "opaque_ resized");
#endif

/* Values that plugins compile into their binaries. */
_Static_assert(IPM_PLUGIN_MAGIC == 0x50504D49u, "plugin magic changed");
_Static_assert(IPM_PLUGIN_ABI_MAJOR == 1, "ABI major changed: update this test");
_Static_assert(IPM_PLUGIN_ABI_MINOR == 1, "ABI minor changed: update this test");
/* ABI 1.0's sizes are what the loader accepts at the least, for ever. */
_Static_assert(IPM_PLUGIN_SIZE_1_0 == 7 * sizeof(void *),
               "the 1.0 descriptor size changed: it never may");
_Static_assert(IPM_PLUGIN_OPS_SIZE_1_0 == 11 * sizeof(void *),
               "the 1.0 ops size changed: it never may");
_Static_assert(IPM_FEATURE_CROSS_PROCESS == 1 && IPM_FEATURE_CROSS_HOST == 2 &&
                   IPM_FEATURE_FAN_IN == 4 && IPM_FEATURE_MULTI_PUBLISHER == 8 &&
                   IPM_FEATURE_DROP_COUNT == 16,
               "feature bits changed");
_Static_assert(IPM_ROLE_SENDER == 1 && IPM_ROLE_RECEIVER == 2 && IPM_ROLE_SUBSCRIBER == 3,
               "role values changed");
_Static_assert(IPM_BLOCK == -1 && IPM_NO_BLOCK == 0, "timeout constants changed");
/* Plugins return these codes, so their values are ABI too. */
_Static_assert(IPM_OK == 0 && IPM_ETIMEDOUT == 1 && IPM_ESTATE == 2 && IPM_EINVAL == 3 &&
                   IPM_ESIZE == 4 && IPM_ENOPLUGIN == 5 && IPM_EPLUGIN == 6 &&
                   IPM_ECONFIG == 7 && IPM_ECONNECT == 8 && IPM_ENOTSUP == 9 &&
                   IPM_ETOOBIG == 10 && IPM_ENOMEM == 11 && IPM_ESYS == 12,
               "status values changed");
_Static_assert(sizeof(ipm_status) == sizeof(int), "ipm_status is not int-sized");

static void test_member_offsets(void **state)
{
    if (!IPM_TEST_LP64) skip();
    int bad = 0;
#define RUNTIME_OFFSET(type, member, off)                                                \
    if (offsetof(type, member) != (off)) {                                               \
        print_error("%s.%s at offset %zu, ABI says %d\n", #type, #member,                \
                    offsetof(type, member), (off));                                      \
        bad++;                                                                           \
    }
    IPM_ABI_MEMBERS(RUNTIME_OFFSET)
    assert_int_equal(bad, 0);
}

static void test_struct_sizes(void **state)
{
    if (!IPM_TEST_LP64) skip();
    int bad = 0;
#define RUNTIME_SIZE(type, size)                                                         \
    if (sizeof(type) != (size)) {                                                        \
        print_error("sizeof(%s) is %zu, ABI says %d\n", #type, sizeof(type), (size));    \
        bad++;                                                                           \
    }
    IPM_ABI_SIZES(RUNTIME_SIZE)
    assert_int_equal(bad, 0);
}

static void test_member_widths(void **state)
{
    int bad = 0;
#define RUNTIME_WIDTH(type, member, width)                                               \
    if (MEMBER_SIZE(type, member) != (width)) {                                          \
        print_error("%s.%s is %zu bytes wide, ABI says %d\n", #type, #member,            \
                    MEMBER_SIZE(type, member), (width));                                 \
        bad++;                                                                           \
    }
    IPM_ABI_WIDTHS(RUNTIME_WIDTH)
    assert_int_equal(bad, 0);
    /* On every target the ops table is struct_size then ten pointers (1.0),
     * then five more (1.1). */
    assert_int_equal(offsetof(ipm_plugin_ops, dropped) + sizeof(void *),
                     IPM_PLUGIN_OPS_SIZE_1_0);
    assert_int_equal(offsetof(ipm_plugin_ops, loan_return) + sizeof(void *),
                     sizeof(ipm_plugin_ops));
    assert_int_equal(offsetof(ipm_plugin, ops) + sizeof(void *), IPM_PLUGIN_SIZE_1_0);
    assert_int_equal(offsetof(ipm_plugin_ops, create) % sizeof(void *), 0);
}

/* The header macro must fill exactly the first four members. */
static void test_header_init(void **state)
{
    static const ipm_plugin d = {IPM_PLUGIN_HEADER_INIT};
    assert_int_equal(d.magic, IPM_PLUGIN_MAGIC);
    assert_int_equal(d.abi_major, IPM_PLUGIN_ABI_MAJOR);
    assert_int_equal(d.abi_minor, IPM_PLUGIN_ABI_MINOR);
    assert_int_equal(d.struct_size, sizeof(ipm_plugin));
    assert_null(d.name);
    assert_null(d.ops);
    /* The magic reads "IMPP" in memory on little-endian targets. */
    uint32_t m = IPM_PLUGIN_MAGIC;
    unsigned char bytes[4];
    memcpy(bytes, &m, sizeof bytes);
    if (bytes[0] == 0x49) assert_memory_equal(bytes, "IMPP", 4);
}

/* A plugin built by this tree reports the layout this test pins. */
static void test_built_plugin_matches(void **state)
{
    setenv("IPM_PLUGIN_PATH", IPM_BINARY_DIR "/test_plugins", 1);
    const ipm_plugin *d = NULL;
    IPM_ASSERT_OK(ipm_plugin_load("LoopSender", &d));
    assert_non_null(d);
    assert_int_equal(d->magic, IPM_PLUGIN_MAGIC);
    assert_int_equal(d->struct_size, sizeof(ipm_plugin));
    assert_int_equal(d->ops->struct_size, sizeof(ipm_plugin_ops));
    assert_int_equal(d->abi_major, IPM_PLUGIN_ABI_MAJOR);
    assert_int_equal(d->abi_minor, IPM_PLUGIN_ABI_MINOR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_offsets),       cmocka_unit_test(test_struct_sizes),
        cmocka_unit_test(test_member_widths),        cmocka_unit_test(test_header_init),
        cmocka_unit_test(test_built_plugin_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
