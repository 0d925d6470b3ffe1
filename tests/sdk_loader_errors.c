/*
 * sdk_loader_errors.c — every way a plugin can fail to load yields its own
 * status and a message that names the problem and the file, using the broken
 * fixtures of test_plugins/ (built into build/test_plugins, which only
 * IPM_PLUGIN_PATH puts on the search path).
 */
#define _GNU_SOURCE
#include "ipm_test.h"

#include <ipm/plugin.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TP_DIR IPM_BINARY_DIR "/test_plugins"
/* A non-NULL value for out-pointers, to check that failures reset them. */
static char sentinel;
#define SENTINEL ((void *)&sentinel)
#define MISSING_DIR "/nonexistent-ipm-test-dir"

/* Assert status `want` and that the last error contains every needle
 * (NULL-terminated); print the whole message when it does not. */
static void expect_error(const char *call, ipm_status got, ipm_status want, ...)
{
    const char *msg = ipm_last_error();
    if (got != want)
        fail_msg("%s -> %s, want %s; message: %s", call, ipm_strerror(got),
                 ipm_strerror(want), msg);
    va_list ap;
    va_start(ap, want);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (strstr(msg, needle) == NULL)
            fail_msg("%s: message lacks '%s'; message: %s", call, needle, msg);
    va_end(ap);
}

/* One broken fixture: its type, the status, and phrases its message must
 * hold (besides the path of the library). `kind` is the phrase that tells
 * it apart from every other fixture. */
struct fixture {
    const char *type;
    const char *kind;
    const char *detail[3];
};

static const struct fixture fixtures[] = {
    {"NoFactory", "does not export ipm_plugin_NoFactory", {"not an ipm plugin"}},
    {"NullFactory", "returned NULL", {"ipm_plugin_NullFactory"}},
    {"BadMagic", "bad magic", {"not an ipm plugin"}},
    {"NewMajorAbi", "ABI 2.0", {"1.1"}},
    {"NewMinorAbi", "ABI 1.2", {"1.1"}},
    {"WrongName", "calls itself 'RightName'", {0}},
    {"NullSend", "lacks required operation 'send'", {0}},
    {"SmallDesc", "descriptor struct_size", {"16"}},
    {"SmallOps", "ops struct_size", {"8"}},
    {"MissingDep", "cannot load", {"libipm_fixture_missing.so"}},
};
#define N_FIXTURES (sizeof fixtures / sizeof fixtures[0])

static void path_of(char *buf, size_t cap, const char *type)
{
    snprintf(buf, cap, "%s/libipm_%s.so", TP_DIR, type);
}

static void check_fixture_message(const struct fixture *f, const char *call,
                                  ipm_status st)
{
    char path[1024];
    path_of(path, sizeof path, f->type);
    expect_error(call, st, IPM_EPLUGIN, f->kind, path, f->type,
                 f->detail[0] ? f->detail[0] : "", f->detail[1] ? f->detail[1] : "",
                 (const char *)NULL);
}

/* Each fixture by name: ipm_plugin_load and ipm_sender_create agree, leave
 * *out NULL, and say the same thing the second time (a broken library is
 * never half-registered). */
static void test_fixture_by_name(void **state)
{
    const struct fixture *f = *state;
    for (int round = 0; round < 2; round++) {
        const ipm_plugin *d = SENTINEL;
        ipm_status st = ipm_plugin_load(f->type, &d);
        check_fixture_message(f, "ipm_plugin_load", st);
        assert_null(d);

        ipm_sender *s = SENTINEL;
        st = ipm_sender_create(f->type, &s);
        check_fixture_message(f, "ipm_sender_create", st);
        assert_null(s);
    }
    assert_null(ipm_plugin_loaded_path(f->type));
}

/* The same library named by path (search rule 1). */
static void test_fixture_by_path(void **state)
{
    const struct fixture *f = *state;
    char path[1024];
    path_of(path, sizeof path, f->type);
    ipm_sender *s = NULL;
    check_fixture_message(f, "ipm_sender_create(path)", ipm_sender_create(path, &s));
    assert_null(s);
}

/* No two fixtures produce the same kind of message. */
static void test_messages_distinct(void **state)
{
    char *msgs[N_FIXTURES];
    for (size_t i = 0; i < N_FIXTURES; i++) {
        const ipm_plugin *d;
        assert_int_equal(ipm_plugin_load(fixtures[i].type, &d), IPM_EPLUGIN);
        msgs[i] = strdup(ipm_last_error());
        assert_non_null(msgs[i]);
    }
    for (size_t i = 0; i < N_FIXTURES; i++) {
        for (size_t j = 0; j < N_FIXTURES; j++) {
            if (i != j && strcmp(fixtures[i].kind, fixtures[j].kind) != 0 &&
                strstr(msgs[i], fixtures[j].kind))
                fail_msg("%s's message also reads like %s's ('%s'): %s", fixtures[i].type,
                         fixtures[j].type, fixtures[j].kind, msgs[i]);
            if (i != j && strcmp(msgs[i], msgs[j]) == 0)
                fail_msg("%s and %s give the same message: %s", fixtures[i].type,
                         fixtures[j].type, msgs[i]);
        }
    }
    for (size_t i = 0; i < N_FIXTURES; i++)
        free(msgs[i]);
}

/* The build tree's plugin directory as the loader sees it: it locates
 * libipm.so with dladdr and resolves symbolic links. */
static const char *default_dir(void)
{
    static char dir[PATH_MAX + 16];
    char *real = realpath(IPM_BINARY_DIR "/lib", NULL);
    snprintf(dir, sizeof dir, "%s/ipm", real ? real : IPM_BINARY_DIR "/lib");
    free(real);
    return dir;
}

/* Not found: IPM_ENOPLUGIN and every candidate path, in search order. */
static void test_not_found_lists_every_path(void **state)
{
    char in_default[PATH_MAX + 64];
    snprintf(in_default, sizeof in_default, "%s/libipm_NoSuchType.so", default_dir());
    ipm_sender *s = SENTINEL;
    ipm_status st = ipm_sender_create("NoSuchType", &s);
    expect_error("ipm_sender_create(NoSuchType)", st, IPM_ENOPLUGIN,
                 "plugin 'NoSuchType' not found", MISSING_DIR "/libipm_NoSuchType.so",
                 TP_DIR "/libipm_NoSuchType.so", in_default, (const char *)NULL);
    assert_null(s);
    const char *msg = ipm_last_error();
    const char *a = strstr(msg, MISSING_DIR "/libipm_NoSuchType.so");
    const char *b = strstr(msg, TP_DIR "/libipm_NoSuchType.so");
    const char *c = strstr(msg, in_default);
    assert_true(a < b && b < c);

    ipm_receiver *r = SENTINEL;
    expect_error("ipm_receiver_create(NoSuchType)", ipm_receiver_create("NoSuchType", &r),
                 IPM_ENOPLUGIN, "plugin 'NoSuchType' not found", (const char *)NULL);
    assert_null(r);
    const ipm_plugin *d = SENTINEL;
    expect_error("ipm_plugin_load(NoSuchType)", ipm_plugin_load("NoSuchType", &d),
                 IPM_ENOPLUGIN, "plugin 'NoSuchType' not found", (const char *)NULL);
    assert_null(d);
}

/* A '/'-path to a file that does not exist names that path. */
static void test_missing_path(void **state)
{
    const char *path = MISSING_DIR "/libipm_Gone.so";
    ipm_sender *s = NULL;
    ipm_status st = ipm_sender_create(path, &s);
    if (st != IPM_ENOPLUGIN && st != IPM_EPLUGIN)
        fail_msg("ipm_sender_create(%s) -> %s: %s", path, ipm_strerror(st),
                 ipm_last_error());
    assert_non_null(strstr(ipm_last_error(), path));
    assert_null(s);
}

/* Type names outside [A-Za-z][A-Za-z0-9_]* are refused before any search. */
static void test_invalid_type_names(void **state)
{
    const char *bad[] = {"",   "1Sender", "Zmq-Sender", "Zmq Sender", "libipm_X.so",
                         "..", "Sender\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ipm_sender *s = NULL;
        ipm_status st = ipm_sender_create(bad[i], &s);
        if (st != IPM_EINVAL)
            fail_msg("type '%s' -> %s (want IPM_EINVAL): %s", bad[i], ipm_strerror(st),
                     ipm_last_error());
        assert_null(s);
    }
    ipm_sender *s = NULL;
    assert_int_equal(ipm_sender_create(NULL, &s), IPM_EINVAL);
    assert_int_equal(ipm_sender_create("LoopSender", NULL), IPM_EINVAL);
}

/* A good plugin asked for in the wrong role. */
static void test_role_mismatch(void **state)
{
    ipm_sender *s = SENTINEL;
    expect_error("ipm_sender_create(LoopReceiver)", ipm_sender_create("LoopReceiver", &s),
                 IPM_EPLUGIN, "is a receiver, not a sender", "LoopReceiver",
                 (const char *)NULL);
    assert_null(s);

    ipm_receiver *r = SENTINEL;
    expect_error("ipm_subscriber_create(LoopSender)",
                 ipm_subscriber_create("LoopSender", &r), IPM_EPLUGIN,
                 "is a sender, not a subscriber", "LoopSender", (const char *)NULL);
    assert_null(r);

    r = SENTINEL;
    expect_error("ipm_subscriber_create(LoopReceiver)",
                 ipm_subscriber_create("LoopReceiver", &r), IPM_EPLUGIN,
                 "is a receiver, not a subscriber", (const char *)NULL);
    assert_null(r);

    r = SENTINEL;
    expect_error("ipm_receiver_create(LoopSender)", ipm_receiver_create("LoopSender", &r),
                 IPM_EPLUGIN, "is a sender", "LoopSender", (const char *)NULL);
    assert_null(r);

    /* The refusals did not spoil the plugins for their right roles. */
    IPM_ASSERT_OK(ipm_sender_create("LoopSender", &s));
    IPM_ASSERT_OK(ipm_receiver_create("LoopReceiver", &r));
    ipm_sender_destroy(s);
    ipm_receiver_destroy(r);
}

/* The good plugins load, from the IPM_PLUGIN_PATH directory. */
static void test_good_plugins_load(void **state)
{
    const ipm_plugin *d = NULL;
    IPM_ASSERT_OK(ipm_plugin_load("LoopSender", &d));
    assert_string_equal(d->name, "LoopSender");
    assert_int_equal(d->role, IPM_ROLE_SENDER);
    assert_string_equal(ipm_plugin_loaded_path("LoopSender"),
                        TP_DIR "/libipm_LoopSender.so");

    /* Loaded once per process: asking again, or by path, gives the same. */
    const ipm_plugin *again = NULL;
    IPM_ASSERT_OK(ipm_plugin_load("LoopSender", &again));
    assert_ptr_equal(d, again);
    IPM_ASSERT_OK(ipm_plugin_load(TP_DIR "/libipm_LoopSender.so", &again));
    assert_ptr_equal(d, again);

    /* The search path starts with IPM_PLUGIN_PATH and ends with the
     * directory next to libipm.so. */
    char buf[4096];
    size_t n = ipm_plugin_search_path(buf, sizeof buf);
    assert_true(n < sizeof buf);
    assert_int_equal(
        strncmp(buf, MISSING_DIR ":" TP_DIR ":", strlen(MISSING_DIR ":" TP_DIR ":")), 0);
    assert_non_null(strstr(buf, default_dir()));
}

int main(void)
{
    /* Before the first load: the loader may read the variable once. */
    setenv("IPM_PLUGIN_PATH", MISSING_DIR ":" TP_DIR, 1);

    static char names[2 * N_FIXTURES][64];
    struct CMUnitTest tests[2 * N_FIXTURES + 6];
    size_t n = 0;
    for (size_t i = 0; i < N_FIXTURES; i++) {
        void *f = (void *)&fixtures[i];
        snprintf(names[n], sizeof names[n], "%s_by_name", fixtures[i].type);
        tests[n] = (struct CMUnitTest){names[n], test_fixture_by_name, NULL, NULL, f};
        n++;
        snprintf(names[n], sizeof names[n], "%s_by_path", fixtures[i].type);
        tests[n] = (struct CMUnitTest){names[n], test_fixture_by_path, NULL, NULL, f};
        n++;
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_messages_distinct);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_not_found_lists_every_path);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_missing_path);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_invalid_type_names);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_role_mismatch);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_good_plugins_load);
    return _cmocka_run_group_tests("sdk_loader_errors", tests, n, NULL, NULL);
}
