/* The loader's search order, validation and messages (API.md §5), with
 * descriptors registered statically; the file-based broken fixtures live in
 * test_plugins/ and tests/sdk_*.c. */
#define _GNU_SOURCE
#include "ipm_test.h"

#include <ipm/plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ipm_status ok_create(void **state)
{
    *state = NULL;
    return IPM_OK;
}
static ipm_status ok_connect(void *state, const ipm_params *p)
{
    return IPM_OK;
}
static void ok_destroy(void *state) {}
static ipm_status ok_receive(void *state, ipm_message *m, int timeout_ms)
{
    return ipm_set_error(IPM_ETIMEDOUT, "nothing ever arrives");
}
static void ok_release(ipm_message *m) {}

static const ipm_plugin_ops receiver_ops = {.struct_size = sizeof(ipm_plugin_ops),
                                            .create = ok_create,
                                            .connect = ok_connect,
                                            .destroy = ok_destroy,
                                            .receive = ok_receive,
                                            .release = ok_release};

static ipm_plugin make(const char *name, uint32_t role)
{
    return (ipm_plugin){
        IPM_PLUGIN_HEADER_INIT,       .role = role, .name = name,        .version = "0",
        .description = "loader test", .keys = NULL, .ops = &receiver_ops};
}

static void test_not_found_lists_every_path(void **state)
{
    setenv("IPM_PLUGIN_PATH", "/nonexistent/a::/nonexistent/b", 1);
    ipm_sender *s = (ipm_sender *)1;
    IPM_ASSERT_ERR(ipm_sender_create("NoSuchTransport", &s), IPM_ENOPLUGIN,
                   "plugin 'NoSuchTransport' not found; tried: "
                   "/nonexistent/a/libipm_NoSuchTransport.so, "
                   "/nonexistent/b/libipm_NoSuchTransport.so, ");
    assert_null(s);
    /* The directory next to libipm.so is always searched last. */
    char want[4096];
    snprintf(want, sizeof want, "%s/lib/ipm/libipm_NoSuchTransport.so", IPM_BINARY_DIR);
    assert_non_null(strstr(ipm_last_error(), want));
    unsetenv("IPM_PLUGIN_PATH");
}

static void test_search_path_order(void **state)
{
    setenv("IPM_PLUGIN_PATH", "/first:/second", 1);
    char buf[8192];
    size_t n = ipm_plugin_search_path(buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_memory_equal(buf, "/first:/second:", 15);
    char tail[4096];
    snprintf(tail, sizeof tail, "%s/lib/ipm", IPM_BINARY_DIR);
    assert_string_equal(buf + n - strlen(tail), tail);
    /* Truncation behaves like snprintf. */
    char small[8];
    assert_int_equal(ipm_plugin_search_path(small, sizeof small), n);
    assert_string_equal(small, "/first:");
    unsetenv("IPM_PLUGIN_PATH");
}

static void test_invalid_type_names(void **state)
{
    ipm_sender *s = NULL;
    IPM_ASSERT_ERR(ipm_sender_create("Zmq-Sender", &s), IPM_EINVAL,
                   "'Zmq-Sender' is not a valid plugin type name");
    IPM_ASSERT_ERR(ipm_sender_create("9Lives", &s), IPM_EINVAL,
                   "not a valid plugin type name");
    IPM_ASSERT_ERR(ipm_sender_create("", &s), IPM_EINVAL, "plugin type is empty");
    IPM_ASSERT_ERR(ipm_sender_create(NULL, &s), IPM_EINVAL, "plugin type is NULL");
    IPM_ASSERT_ERR(ipm_sender_create("/tmp/notaplugin.so", &s), IPM_EINVAL,
                   "plugin path '/tmp/notaplugin.so' must name a file libipm_<Type>.so");
    IPM_ASSERT_ERR(ipm_sender_create("/nonexistent/libipm_Gone.so", &s), IPM_EPLUGIN,
                   "cannot load plugin '/nonexistent/libipm_Gone.so': ");
    assert_int_equal(ipm_sender_create("ZmqSender", NULL), IPM_EINVAL);
}

static void test_role_mismatch(void **state)
{
    static ipm_plugin recv;
    recv = make("LoaderReceiver", IPM_ROLE_RECEIVER);
    IPM_ASSERT_OK(ipm_plugin_register(&recv));
    assert_string_equal(ipm_plugin_loaded_path("LoaderReceiver"), "(static)");
    ipm_sender *s = NULL;
    IPM_ASSERT_ERR(ipm_sender_create("LoaderReceiver", &s), IPM_EPLUGIN,
                   "'LoaderReceiver' is a receiver, not a sender");
    ipm_receiver *r = NULL;
    IPM_ASSERT_ERR(ipm_subscriber_create("LoaderReceiver", &r), IPM_EPLUGIN,
                   "'LoaderReceiver' is a receiver, not a subscriber");
    IPM_ASSERT_OK(ipm_receiver_create("LoaderReceiver", &r));
    IPM_ASSERT_ERR(ipm_subscribe(r, "x"), IPM_ENOTSUP, "only subscribers take topics");
    ipm_receiver_destroy(r);
    IPM_ASSERT_ERR(ipm_plugin_register(&recv), IPM_EPLUGIN,
                   "already loaded from (static)");
}

static void test_static_descriptor_validation(void **state)
{
    static ipm_plugin bad_magic, newer_major, newer_minor, no_receive, bad_role;
    static ipm_plugin_ops missing_receive;
    bad_magic = make("BadMagic", IPM_ROLE_RECEIVER);
    bad_magic.magic = 0x12345678;
    IPM_ASSERT_ERR(ipm_plugin_register(&bad_magic), IPM_EPLUGIN, "bad magic 0x12345678");

    newer_major = make("NewerMajor", IPM_ROLE_RECEIVER);
    newer_major.abi_major = IPM_PLUGIN_ABI_MAJOR + 1;
    IPM_ASSERT_ERR(ipm_plugin_register(&newer_major), IPM_EPLUGIN,
                   "built for plugin ABI 2.1 but this libipm " IPM_VERSION_STRING
                   " supports ABI 1.1");

    newer_minor = make("NewerMinor", IPM_ROLE_RECEIVER);
    newer_minor.abi_minor = IPM_PLUGIN_ABI_MINOR + 1;
    IPM_ASSERT_ERR(ipm_plugin_register(&newer_minor), IPM_EPLUGIN, "ABI 1.2");

    missing_receive = receiver_ops;
    missing_receive.receive = NULL;
    no_receive = make("NoReceive", IPM_ROLE_RECEIVER);
    no_receive.ops = &missing_receive;
    IPM_ASSERT_ERR(ipm_plugin_register(&no_receive), IPM_EPLUGIN,
                   "lacks required operation 'receive'");

    bad_role = make("BadRole", 9);
    IPM_ASSERT_ERR(ipm_plugin_register(&bad_role), IPM_EPLUGIN, "unknown role 9");
    /* None of them was cached. */
    assert_null(ipm_plugin_loaded_path("BadMagic"));
}

/* An ABI 1.0 plugin's structs end where 1.0's did: the loader must read no
 * further, and the members it lacks must read as NULL. The bytes after
 * each 1.0 struct are set to 0xff so that reading them would show. */
static void test_abi_1_0_plugin_is_zero_extended(void **state)
{
    static union {
        ipm_plugin_ops ops;
        unsigned char bytes[sizeof(ipm_plugin_ops)];
    } old_ops;
    static union {
        ipm_plugin desc;
        unsigned char bytes[sizeof(ipm_plugin)];
    } old_desc;
    memset(&old_ops, 0xff, sizeof old_ops);
    memcpy(&old_ops, &receiver_ops, IPM_PLUGIN_OPS_SIZE_1_0);
    old_ops.ops.struct_size = IPM_PLUGIN_OPS_SIZE_1_0;
    ipm_plugin d = make("OldReceiver", IPM_ROLE_RECEIVER);
    d.abi_minor = 0;
    d.struct_size = IPM_PLUGIN_SIZE_1_0;
    d.ops = &old_ops.ops;
    memset(&old_desc, 0xff, sizeof old_desc);
    memcpy(&old_desc, &d, IPM_PLUGIN_SIZE_1_0);

    IPM_ASSERT_OK(ipm_plugin_register(&old_desc.desc));
    const ipm_plugin *got = NULL;
    IPM_ASSERT_OK(ipm_plugin_load("OldReceiver", &got));
    assert_null(got->settings);
    assert_null(got->limits);
    assert_null(got->ops->check);
    assert_null(got->ops->limits);
    assert_null(got->ops->loan);
    assert_ptr_equal(got->ops->receive, receiver_ops.receive);
    /* Its limits are the defaults: none stated. */
    ipm_receiver *r = NULL;
    IPM_ASSERT_OK(ipm_receiver_create("OldReceiver", &r));
    ipm_limits lim;
    IPM_ASSERT_OK(ipm_receiver_limits(r, &lim));
    assert_true(lim.max_message_size == IPM_LIMIT_NONE);
    assert_int_equal(lim.features, 0);
    ipm_receiver_destroy(r);

    /* Smaller than 1.0 is refused, naming both sizes. */
    ipm_plugin tiny = make("TinyOps", IPM_ROLE_RECEIVER);
    static ipm_plugin_ops tiny_ops;
    tiny_ops = receiver_ops;
    tiny_ops.struct_size = IPM_PLUGIN_OPS_SIZE_1_0 - 8;
    tiny.ops = &tiny_ops;
    IPM_ASSERT_ERR(ipm_plugin_register(&tiny), IPM_EPLUGIN,
                   "ops struct_size 80 is smaller");
}

struct thread_error {
    char seen[256];
};

static void *other_thread(void *arg)
{
    struct thread_error *t = arg;
    snprintf(t->seen, sizeof t->seen, "%s", ipm_last_error());
    ipm_set_error(IPM_ESYS, "set on the other thread");
    return NULL;
}

static void test_last_error_is_per_thread(void **state)
{
    ipm_set_error(IPM_EINVAL, "set on the main thread");
    struct thread_error t;
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, other_thread, &t), 0);
    pthread_join(tid, NULL);
    assert_string_equal(t.seen, "");
    assert_string_equal(ipm_last_error(), "set on the main thread");
}

static void *load_many(void *arg)
{
    for (int i = 0; i < 200; i++) {
        const ipm_plugin *d;
        if (ipm_plugin_load("LoaderReceiver", &d) != IPM_OK ||
            strcmp(d->name, "LoaderReceiver"))
            return (void *)1;
        if (ipm_plugin_load("NotThere", &d) != IPM_ENOPLUGIN) return (void *)1;
    }
    return NULL;
}

static void test_loading_from_many_threads(void **state)
{
    pthread_t tids[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&tids[i], NULL, load_many, NULL), 0);
    for (int i = 0; i < 8; i++) {
        void *rc;
        pthread_join(tids[i], &rc);
        assert_null(rc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_found_lists_every_path),
        cmocka_unit_test(test_search_path_order),
        cmocka_unit_test(test_invalid_type_names),
        cmocka_unit_test(test_role_mismatch),
        cmocka_unit_test(test_static_descriptor_validation),
        cmocka_unit_test(test_abi_1_0_plugin_is_zero_extended),
        cmocka_unit_test(test_last_error_is_per_thread),
        cmocka_unit_test(test_loading_from_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
