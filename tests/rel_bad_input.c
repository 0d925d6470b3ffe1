/*
 * rel_bad_input.c — every public function of ipm.h and plugin.h called with
 * what a careless or hostile caller passes: NULL handles, NULL out-pointers,
 * NULL strings, invalid type names, wrong roles, out-of-range sizes and
 * values, objects in the wrong state.
 *
 * For each failing call: a status other than IPM_OK comes back, *out is NULL
 * afterwards (it is preset to garbage), ipm_last_error() is non-empty (it is
 * cleared before the call), and nothing crashes. NULL-safe functions
 * (destroy, free, release, stats, getters) just return. A last test checks
 * that failing calls print nothing on stderr (the library never prints
 * unless IPM_LOG is set).
 *
 * Static plugins (RelSender, RelReceiver, RelSubscriber) give objects in
 * every state without a transport; the Zmq plugins are used as well when
 * they are built.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <ipm/plugin.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Preset garbage for out-pointers, so that "left NULL" is really checked. */
#define GARBAGE ((void *)(uintptr_t)0x5a5a5a5a)

/* Clear the last error, run call, require status and a non-empty message. */
#define EXPECT(call, status)                                                              \
    do {                                                                                  \
        ipm_set_error(IPM_OK, "%s", "");                                                  \
        ipm_status st_ = (call);                                                          \
        if (st_ != (status))                                                              \
            fail_msg("%s -> %s (want %s): %s", #call, ipm_strerror(st_),                  \
                     ipm_strerror(status), ipm_last_error());                             \
        if (ipm_last_error()[0] == '\0') fail_msg("%s: ipm_last_error() is empty", #call); \
    } while (0)

/* As EXPECT, for a call that fills *out: *out must be NULL afterwards. */
#define EXPECT_OUT(out, call, status)                                                     \
    do {                                                                                  \
        (out) = GARBAGE;                                                                  \
        EXPECT(call, status);                                                             \
        if ((out) != NULL) fail_msg("%s: *out not NULL after failure", #call);           \
    } while (0)

/* ----------------------------------------------------- static plugins */

static int pending; /* messages RelReceiver has to give */

static ipm_status p_create(void **state)
{
    *state = calloc(1, 16);
    return *state ? IPM_OK : IPM_ENOMEM;
}
static ipm_status p_connect(void *state, const ipm_params *p)
{
    (void)state;
    if (!ipm_params_get(p, "connection_string"))
        return ipm_set_error(IPM_ECONFIG, "Rel*: no connection_string");
    return IPM_OK;
}
static void p_destroy(void *state)
{
    free(state);
}
static ipm_status p_send(void *state, const void *data, size_t size, const char *meta,
                         size_t meta_size, int timeout_ms)
{
    (void)state, (void)data, (void)size, (void)meta, (void)meta_size, (void)timeout_ms;
    return IPM_OK;
}
static ipm_status p_receive(void *state, ipm_message *msg, int timeout_ms)
{
    (void)state, (void)timeout_ms;
    if (pending == 0) return ipm_set_error(IPM_ETIMEDOUT, "Rel*: nothing pending");
    pending--;
    char *buf = strdup("abc");
    if (!buf) return ipm_set_error(IPM_ENOMEM, "Rel*: out of memory");
    msg->data = buf;
    msg->size = 3;
    msg->metadata = "meta";
    msg->metadata_size = 4;
    msg->opaque_[0] = buf;
    return IPM_OK;
}
static void p_release(ipm_message *msg)
{
    free(msg->opaque_[0]);
}
static ipm_status p_subscribe(void *state, const char *topic)
{
    (void)state, (void)topic;
    return IPM_OK;
}

static const ipm_plugin_ops sender_ops = {.struct_size = sizeof(ipm_plugin_ops),
                                          .create = p_create,
                                          .connect = p_connect,
                                          .destroy = p_destroy,
                                          .send = p_send};
static const ipm_plugin_ops receiver_ops = {.struct_size = sizeof(ipm_plugin_ops),
                                            .create = p_create,
                                            .connect = p_connect,
                                            .destroy = p_destroy,
                                            .receive = p_receive,
                                            .release = p_release};
static const ipm_plugin_ops subscriber_ops = {.struct_size = sizeof(ipm_plugin_ops),
                                              .create = p_create,
                                              .connect = p_connect,
                                              .destroy = p_destroy,
                                              .receive = p_receive,
                                              .release = p_release,
                                              .subscribe = p_subscribe,
                                              .unsubscribe = p_subscribe};
static const char *const keys[] = {"connection_string", NULL};
static const ipm_plugin rel_sender = {IPM_PLUGIN_HEADER_INIT, .role = IPM_ROLE_SENDER,
                                      .name = "RelSender",    .version = "1",
                                      .description = "test",  .keys = keys,
                                      .ops = &sender_ops};
static const ipm_plugin rel_receiver = {IPM_PLUGIN_HEADER_INIT, .role = IPM_ROLE_RECEIVER,
                                        .name = "RelReceiver",  .version = "1",
                                        .description = "test",  .keys = keys,
                                        .ops = &receiver_ops};
static const ipm_plugin rel_subscriber = {
    IPM_PLUGIN_HEADER_INIT, .role = IPM_ROLE_SUBSCRIBER, .name = "RelSubscriber",
    .version = "1",         .description = "test",       .keys = keys,
    .ops = &subscriber_ops};

static ipm_params *params(const char *text)
{
    ipm_params *p = NULL;
    IPM_ASSERT_OK(ipm_params_parse(text, &p));
    return p;
}

/* ------------------------------------------------------------- tests */

static void test_errors_and_version(void **state)
{
    (void)state;
    for (int s = IPM_OK; s <= IPM_ESYS; s++) {
        assert_non_null(ipm_strerror((ipm_status)s));
        assert_true(strlen(ipm_strerror((ipm_status)s)) > 0);
    }
    assert_string_equal(ipm_strerror((ipm_status)-1), "unknown status");
    assert_string_equal(ipm_strerror((ipm_status)9999), "unknown status");
    assert_non_null(ipm_last_error());
    assert_string_equal(ipm_version(), IPM_VERSION_STRING);

    /* ipm_set_error: returns its status, tolerates a NULL format and
     * truncates a message longer than its buffer. */
    assert_int_equal(ipm_set_error(IPM_EINVAL, "%s", "x"), IPM_EINVAL);
    const char *no_format = NULL;
    /* A NULL format on purpose: clang's -Wformat-security would refuse it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-security"
    assert_int_equal(ipm_set_error(IPM_ESYS, no_format), IPM_ESYS);
#pragma GCC diagnostic pop
    char big[20000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ipm_set_error(IPM_ECONFIG, "%s", big), IPM_ECONFIG);
    assert_true(strlen(ipm_last_error()) > 0 && strlen(ipm_last_error()) < sizeof big);
}

static void test_params(void **state)
{
    (void)state;
    ipm_params *p;
    EXPECT(ipm_params_new(NULL), IPM_EINVAL);
    EXPECT(ipm_params_parse("tcp://h:1", NULL), IPM_EINVAL);
    EXPECT_OUT(p, ipm_params_parse(NULL, &p), IPM_EINVAL);
    EXPECT_OUT(p, ipm_params_parse("", &p), IPM_ECONFIG);
    EXPECT_OUT(p, ipm_params_parse("   ", &p), IPM_ECONFIG);
    EXPECT_OUT(p, ipm_params_parse("a=1; a=2", &p), IPM_ECONFIG);
    EXPECT_OUT(p, ipm_params_parse("=1", &p), IPM_ECONFIG);
    EXPECT_OUT(p, ipm_params_parse("novalue", &p), IPM_ECONFIG);
    EXPECT_OUT(p, ipm_params_parse("a=\"open", &p), IPM_ECONFIG);
    EXPECT_OUT(p, ipm_params_parse("a=\"x\" y", &p), IPM_ECONFIG);
    EXPECT_OUT(p, ipm_params_parse("a b=1", &p), IPM_ECONFIG);
    char longkey[600];
    memset(longkey, 'k', 400);
    strcpy(longkey + 400, "=1");
    EXPECT_OUT(p, ipm_params_parse(longkey, &p), IPM_ECONFIG);

    IPM_ASSERT_OK(ipm_params_new(&p));
    EXPECT(ipm_params_set(NULL, "k", "v"), IPM_EINVAL);
    EXPECT(ipm_params_set(p, NULL, "v"), IPM_EINVAL);
    EXPECT(ipm_params_set(p, "k", NULL), IPM_EINVAL);
    EXPECT(ipm_params_set(p, "", "v"), IPM_EINVAL);
    assert_int_equal(ipm_params_count(p), 0);
    IPM_ASSERT_OK(ipm_params_set(p, "k", ""));
    assert_null(ipm_params_get(NULL, "k"));
    assert_null(ipm_params_get(p, NULL));
    assert_null(ipm_params_get(p, "absent"));
    assert_int_equal(ipm_params_count(NULL), 0);
    assert_null(ipm_params_key_at(NULL, 0));
    assert_null(ipm_params_value_at(NULL, 0));
    assert_null(ipm_params_key_at(p, 1));
    assert_null(ipm_params_value_at(p, SIZE_MAX));
    ipm_params_free(NULL);
    ipm_params_free(p);
}

static void test_typed_getters(void **state)
{
    (void)state;
    ipm_params *p = params("i=12x; big=99999999999999999999999; neg=-1; s=5Q; "
                           "huge=99999999999999999G; b=maybe; e=");
    long long ll = 0;
    uint64_t u = 0;
    bool b = false;
    EXPECT(ipm_params_get_int(p, NULL, 0, 0, 1, &ll), IPM_EINVAL);
    EXPECT(ipm_params_get_int(p, "i", 0, 0, 1, NULL), IPM_EINVAL);
    EXPECT(ipm_params_get_int(p, "i", 0, LLONG_MIN, LLONG_MAX, &ll), IPM_ECONFIG);
    EXPECT(ipm_params_get_int(p, "big", 0, LLONG_MIN, LLONG_MAX, &ll), IPM_ECONFIG);
    EXPECT(ipm_params_get_int(p, "neg", 0, 0, 10, &ll), IPM_ECONFIG);
    EXPECT(ipm_params_get_int(p, "e", 0, LLONG_MIN, LLONG_MAX, &ll), IPM_ECONFIG);
    EXPECT(ipm_params_get_size(p, NULL, 0, 0, 1, &u), IPM_EINVAL);
    EXPECT(ipm_params_get_size(p, "s", 0, 0, 1, NULL), IPM_EINVAL);
    EXPECT(ipm_params_get_size(p, "neg", 0, 0, UINT64_MAX, &u), IPM_ECONFIG);
    EXPECT(ipm_params_get_size(p, "s", 0, 0, UINT64_MAX, &u), IPM_ECONFIG);
    EXPECT(ipm_params_get_size(p, "huge", 0, 0, UINT64_MAX, &u), IPM_ECONFIG);
    EXPECT(ipm_params_get_size(p, "big", 0, 0, UINT64_MAX, &u), IPM_ECONFIG);
    EXPECT(ipm_params_get_size(p, "e", 0, 0, UINT64_MAX, &u), IPM_ECONFIG);
    EXPECT(ipm_params_get_bool(p, NULL, false, &b), IPM_EINVAL);
    EXPECT(ipm_params_get_bool(p, "b", false, NULL), IPM_EINVAL);
    EXPECT(ipm_params_get_bool(p, "b", false, &b), IPM_ECONFIG);
    EXPECT(ipm_params_get_bool(p, "e", false, &b), IPM_ECONFIG);
    /* A NULL params is "every key absent": the default, IPM_OK. */
    IPM_ASSERT_OK(ipm_params_get_int(NULL, "x", 7, 0, 10, &ll));
    assert_int_equal(ll, 7);
    IPM_ASSERT_OK(ipm_params_get_size(NULL, "x", 8, 0, 10, &u));
    assert_int_equal(u, 8);
    IPM_ASSERT_OK(ipm_params_get_bool(NULL, "x", true, &b));
    assert_true(b);
    assert_string_equal(ipm_params_get_str(NULL, "x", "def"), "def");
    assert_null(ipm_params_get_str(p, NULL, NULL));
    ipm_params_free(p);
}

static void test_loader(void **state)
{
    (void)state;
    const ipm_plugin *d;
    EXPECT(ipm_plugin_load("RelSender", NULL), IPM_EINVAL);
    EXPECT_OUT(d, ipm_plugin_load(NULL, &d), IPM_EINVAL);
    EXPECT_OUT(d, ipm_plugin_load("", &d), IPM_EINVAL);
    EXPECT_OUT(d, ipm_plugin_load("9lives", &d), IPM_EINVAL);
    EXPECT_OUT(d, ipm_plugin_load("has space", &d), IPM_EINVAL);
    EXPECT_OUT(d, ipm_plugin_load("semi;colon", &d), IPM_EINVAL);
    EXPECT_OUT(d, ipm_plugin_load("../../etc/passwd", &d), IPM_EINVAL);
    EXPECT_OUT(d, ipm_plugin_load("/nonexistent/libipm_Nope.so", &d), IPM_EPLUGIN);
    EXPECT_OUT(d, ipm_plugin_load("/etc/passwd", &d), IPM_EINVAL);
    EXPECT_OUT(d, ipm_plugin_load("NoSuchTransportAnywhere", &d), IPM_ENOPLUGIN);
    char longname[5000];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    EXPECT_OUT(d, ipm_plugin_load(longname, &d), IPM_EINVAL);

    EXPECT(ipm_plugin_register(NULL), IPM_EINVAL);
    ipm_plugin bad = rel_sender;
    bad.name = NULL;
    EXPECT(ipm_plugin_register(&bad), IPM_EINVAL);
    bad.name = "not valid";
    EXPECT(ipm_plugin_register(&bad), IPM_EINVAL);
    bad.name = "RelBadMagic";
    bad.magic = 0;
    EXPECT(ipm_plugin_register(&bad), IPM_EPLUGIN);
    bad.magic = IPM_PLUGIN_MAGIC;
    bad.abi_major = IPM_PLUGIN_ABI_MAJOR + 1;
    EXPECT(ipm_plugin_register(&bad), IPM_EPLUGIN);
    bad.abi_major = IPM_PLUGIN_ABI_MAJOR;
    bad.role = 42;
    EXPECT(ipm_plugin_register(&bad), IPM_EPLUGIN);
    bad.role = IPM_ROLE_SENDER;
    bad.ops = NULL;
    EXPECT(ipm_plugin_register(&bad), IPM_EPLUGIN);
    EXPECT(ipm_plugin_register(&rel_sender), IPM_EPLUGIN); /* already registered */

    assert_null(ipm_plugin_loaded_path(NULL));
    assert_null(ipm_plugin_loaded_path("NeverLoadedType"));
    assert_string_equal(ipm_plugin_loaded_path("RelSender"), "(static)");

    size_t need = ipm_plugin_search_path(NULL, 0);
    char one[1] = {'x'};
    assert_int_equal(ipm_plugin_search_path(one, 1), need);
    assert_int_equal(one[0], '\0');
    char small[4];
    assert_int_equal(ipm_plugin_search_path(small, sizeof small), need);
    assert_true(strlen(small) < sizeof small);

    EXPECT(ipm_params_check_keys(NULL, &rel_sender), IPM_EINVAL);
    ipm_params *p = params("connection_string=x; conection_strin=y");
    EXPECT(ipm_params_check_keys(p, NULL), IPM_EINVAL);
    EXPECT(ipm_params_check_keys(p, &rel_sender), IPM_ECONFIG);
    ipm_params_free(p);
    p = params("connection_string=x; topics=a");
    EXPECT(ipm_params_check_keys(p, &rel_sender), IPM_ECONFIG); /* topics: subscribers only */
    ipm_params_free(p);
}

static void test_helpers(void **state)
{
    (void)state;
    char buf[16];
    assert_false(ipm_setting_get(NULL, buf, sizeof buf));
    assert_false(ipm_setting_get("zmq_io_threads", NULL, 16));
    assert_false(ipm_setting_get("zmq_io_threads", buf, 0));
    assert_false(ipm_setting_get("never_set_key", buf, sizeof buf));

    void *obj;
    EXPECT(ipm_singleton_acquire("x", NULL, NULL, NULL, &obj), IPM_EINVAL);
    EXPECT_OUT(obj, ipm_singleton_acquire(NULL, NULL, NULL, NULL, &obj), IPM_EINVAL);
    EXPECT(ipm_singleton_acquire("x", NULL, NULL, NULL, NULL), IPM_EINVAL);
    ipm_singleton_release(NULL);
    ipm_singleton_release("never acquired");

    assert_true(ipm_now_ns() > 0);
    assert_int_equal(ipm_deadline_ns(IPM_BLOCK), -1);
    assert_int_equal(ipm_deadline_ns(-12345), -1);
    assert_true(ipm_deadline_ns(INT_MAX) > ipm_now_ns()); /* no overflow */
    assert_int_equal(ipm_remaining_ms(-1), -1);
    assert_int_equal(ipm_remaining_ms(0), 0);
    assert_int_equal(ipm_remaining_ms(ipm_now_ns() - 1000000), 0);
    int left = ipm_remaining_ms(ipm_deadline_ns(1000));
    assert_true(left > 0 && left <= 1000);
    assert_true(ipm_remaining_ms(ipm_deadline_ns(INT_MAX)) > 0);

    /* Off unless IPM_LOG is set: prints nothing (checked at the end). */
    ipm_log(IPM_LOG_WARN, "rel_bad_input: %s", "this must not appear");
}

static void test_senders(void **state)
{
    (void)state;
    ipm_sender *s;
    EXPECT(ipm_sender_create("RelSender", NULL), IPM_EINVAL);
    EXPECT_OUT(s, ipm_sender_create(NULL, &s), IPM_EINVAL);
    EXPECT_OUT(s, ipm_sender_create("", &s), IPM_EINVAL);
    EXPECT_OUT(s, ipm_sender_create("Bad-Name", &s), IPM_EINVAL);
    EXPECT_OUT(s, ipm_sender_create("NoSuchTransportAnywhere", &s), IPM_ENOPLUGIN);
    EXPECT_OUT(s, ipm_sender_create("RelReceiver", &s), IPM_EPLUGIN);
    EXPECT_OUT(s, ipm_sender_create("RelSubscriber", &s), IPM_EPLUGIN);

    ipm_params *p = params("connection_string=x");
    EXPECT(ipm_sender_connect(NULL, p), IPM_EINVAL);
    assert_null(ipm_sender_endpoint(NULL));
    assert_false(ipm_sender_can_send(NULL));
    EXPECT(ipm_send(NULL, "x", 1, 0, NULL), IPM_EINVAL);
    EXPECT(ipm_send(NULL, NULL, 0, 0, NULL), IPM_EINVAL);
    ipm_stats st = {1, 2, 3};
    ipm_sender_stats(NULL, &st);
    assert_true(st.messages == 0 && st.bytes == 0 && st.dropped == 0);
    ipm_sender_destroy(NULL);

    IPM_ASSERT_OK(ipm_sender_create("RelSender", &s));
    ipm_sender_stats(s, NULL);
    assert_null(ipm_sender_endpoint(s));
    assert_false(ipm_sender_can_send(s));
    EXPECT(ipm_send(s, "x", 1, 0, NULL), IPM_ESTATE); /* before connect */
    EXPECT(ipm_sender_connect(s, NULL), IPM_EINVAL);
    ipm_params *typo = params("conection_string=x");
    EXPECT(ipm_sender_connect(s, typo), IPM_ECONFIG);
    assert_non_null(strstr(ipm_last_error(), "connection_string")); /* the suggestion */
    ipm_params_free(typo);
    assert_false(ipm_sender_can_send(s));
    IPM_ASSERT_OK(ipm_sender_connect(s, p));
    assert_true(ipm_sender_can_send(s));
    EXPECT(ipm_send(s, NULL, 1, 0, NULL), IPM_EINVAL);
    EXPECT(ipm_send(s, NULL, SIZE_MAX, 0, "m"), IPM_EINVAL);
    IPM_ASSERT_OK(ipm_send(s, NULL, 0, 0, NULL)); /* empty message: legal */
    ipm_sender_stats(s, &st);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.bytes, 0);
    ipm_sender_destroy(s);
    ipm_params_free(p);
}

static void test_receivers(void **state)
{
    (void)state;
    ipm_receiver *r;
    ipm_message m;
    EXPECT(ipm_receiver_create("RelReceiver", NULL), IPM_EINVAL);
    EXPECT(ipm_subscriber_create("RelSubscriber", NULL), IPM_EINVAL);
    EXPECT_OUT(r, ipm_receiver_create(NULL, &r), IPM_EINVAL);
    EXPECT_OUT(r, ipm_receiver_create("x y", &r), IPM_EINVAL);
    EXPECT_OUT(r, ipm_receiver_create("NoSuchTransportAnywhere", &r), IPM_ENOPLUGIN);
    EXPECT_OUT(r, ipm_receiver_create("RelSender", &r), IPM_EPLUGIN);
    EXPECT_OUT(r, ipm_subscriber_create("RelReceiver", &r), IPM_EPLUGIN);
    EXPECT_OUT(r, ipm_subscriber_create("RelSender", &r), IPM_EPLUGIN);
    EXPECT_OUT(r, ipm_subscriber_create(NULL, &r), IPM_EINVAL);

    ipm_params *p = params("connection_string=x");
    EXPECT(ipm_receiver_connect(NULL, p), IPM_EINVAL);
    assert_null(ipm_receiver_endpoint(NULL));
    assert_false(ipm_receiver_can_receive(NULL));
    EXPECT(ipm_receive(NULL, &m, 0), IPM_EINVAL);
    EXPECT(ipm_receive_exact(NULL, &m, 0, 3), IPM_EINVAL);
    EXPECT(ipm_subscribe(NULL, "t"), IPM_EINVAL);
    EXPECT(ipm_unsubscribe(NULL, "t"), IPM_EINVAL);
    EXPECT(ipm_receiver_set_callback(NULL, NULL, NULL), IPM_EINVAL);
    ipm_stats st = {1, 2, 3};
    ipm_receiver_stats(NULL, &st);
    assert_true(st.messages == 0 && st.bytes == 0 && st.dropped == 0);
    ipm_receiver_destroy(NULL);
    ipm_message_release(NULL);
    memset(&m, 0, sizeof m);
    ipm_message_release(&m); /* a zeroed message */

    /* A receiver: wrong state, wrong role for topics, NULL message. */
    IPM_ASSERT_OK(ipm_receiver_create("RelReceiver", &r));
    ipm_receiver_stats(r, NULL);
    memset(&m, 0x5a, sizeof m);
    EXPECT(ipm_receive(r, &m, 0), IPM_ESTATE);
    assert_null(m.data); /* zeroed on failure */
    assert_null(m.metadata);
    EXPECT(ipm_receive_exact(r, &m, 0, 3), IPM_ESTATE);
    EXPECT(ipm_receive(r, NULL, 0), IPM_EINVAL);
    EXPECT(ipm_subscribe(r, "t"), IPM_ENOTSUP);
    EXPECT(ipm_unsubscribe(r, "t"), IPM_ENOTSUP);
    EXPECT(ipm_receiver_connect(r, NULL), IPM_EINVAL);
    ipm_params *topics = params("connection_string=x; topics=a");
    EXPECT(ipm_receiver_connect(r, topics), IPM_ECONFIG);
    ipm_params_free(topics);
    assert_false(ipm_receiver_can_receive(r));
    IPM_ASSERT_OK(ipm_receiver_connect(r, p));
    assert_true(ipm_receiver_can_receive(r));
    EXPECT(ipm_receive(r, &m, 0), IPM_ETIMEDOUT);
    EXPECT(ipm_receive(r, NULL, 0), IPM_EINVAL);

    /* Wrong size: IPM_ESIZE, message consumed, still to be released, and
     * releasing it twice is harmless. */
    pending = 1;
    EXPECT(ipm_receive_exact(r, &m, 0, 4), IPM_ESIZE);
    assert_int_equal(m.size, 3);
    ipm_message_release(&m);
    ipm_message_release(&m);
    pending = 1;
    EXPECT(ipm_receive_exact(r, &m, 0, SIZE_MAX), IPM_ESIZE);
    ipm_message_release(&m);
    pending = 1;
    IPM_ASSERT_OK(ipm_receive_exact(r, &m, 0, 3));
    ipm_message_release(&m);
    ipm_receiver_destroy(r);

    /* A subscriber: NULL topics. */
    IPM_ASSERT_OK(ipm_subscriber_create("RelSubscriber", &r));
    EXPECT(ipm_subscribe(r, NULL), IPM_EINVAL);
    EXPECT(ipm_unsubscribe(r, NULL), IPM_EINVAL);
    IPM_ASSERT_OK(ipm_subscribe(r, ""));
    ipm_receiver_destroy(r);
    ipm_params_free(p);
}

static void test_open(void **state)
{
    (void)state;
    ipm_sender *s;
    ipm_receiver *r;
    EXPECT(ipm_sender_open("type=RelSender; connection_string=x", NULL), IPM_EINVAL);
    EXPECT(ipm_receiver_open("type=RelReceiver; connection_string=x", NULL), IPM_EINVAL);
    EXPECT_OUT(s, ipm_sender_open(NULL, &s), IPM_EINVAL);
    EXPECT_OUT(r, ipm_receiver_open(NULL, &r), IPM_EINVAL);
    EXPECT_OUT(s, ipm_sender_open("", &s), IPM_ECONFIG);
    EXPECT_OUT(r, ipm_receiver_open(";;", &r), IPM_ECONFIG);
    EXPECT_OUT(s, ipm_sender_open("tcp://127.0.0.1:1", &s), IPM_ECONFIG); /* no type */
    EXPECT_OUT(s, ipm_sender_open("type=; connection_string=x", &s), IPM_ECONFIG);
    EXPECT_OUT(s, ipm_sender_open("type=No Such; connection_string=x", &s), IPM_EINVAL);
    EXPECT_OUT(s, ipm_sender_open("type=RelReceiver; connection_string=x", &s),
               IPM_EPLUGIN);
    EXPECT_OUT(s, ipm_sender_open("type=RelSender", &s), IPM_ECONFIG);
    EXPECT_OUT(s, ipm_sender_open("type=RelSender; connection_string=x; bogus=1", &s),
               IPM_ECONFIG);
    EXPECT_OUT(r, ipm_receiver_open("type=RelReceiver; connection_string=x; topics=a", &r),
               IPM_ECONFIG);
    EXPECT_OUT(r, ipm_receiver_open("type=RelSender; connection_string=x", &r),
               IPM_EPLUGIN);
    /* An empty item once subscribed to "" (every topic) without a word. */
    EXPECT_OUT(r,
               ipm_receiver_open("type=RelSubscriber; connection_string=x; topics=a,,b", &r),
               IPM_ECONFIG);
}

/* Write text to a fresh file in the temp directory; returns its path. */
static const char *temp_ini(char *path, size_t cap, const char *text)
{
    char name[128];
    snprintf(path, cap, "/tmp/%s.ini", ipm_test_unique(name, sizeof name, "bad"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_config(void **state)
{
    (void)state;
    ipm_config *c;
    char path[256];
    EXPECT(ipm_config_load("/nonexistent.ini", NULL), IPM_EINVAL);
    EXPECT_OUT(c, ipm_config_load(NULL, &c), IPM_EINVAL);
    EXPECT_OUT(c, ipm_config_load("", &c), IPM_ECONFIG);
    EXPECT_OUT(c, ipm_config_load("/nonexistent/dir/x.ini", &c), IPM_ECONFIG);

    temp_ini(path, sizeof path, "[a]\nthis is not a pair\n");
    EXPECT_OUT(c, ipm_config_load(path, &c), IPM_ECONFIG);
    assert_non_null(strstr(ipm_last_error(), path));
    unlink(path);

    temp_ini(path, sizeof path,
             "[a]\ntype = RelSender\nconnection_string = x\n"
             "[b]\ntype = RelReceiver\nconnection_string = x\n");
    IPM_ASSERT_OK(ipm_config_load(path, &c));
    unlink(path);
    assert_int_equal(ipm_config_count(NULL), 0);
    assert_null(ipm_config_name_at(NULL, 0));
    assert_null(ipm_config_name_at(c, 2));
    assert_null(ipm_config_name_at(c, SIZE_MAX));

    ipm_params *p;
    ipm_sender *s;
    ipm_receiver *r;
    EXPECT(ipm_config_params(c, "a", NULL), IPM_EINVAL);
    EXPECT_OUT(p, ipm_config_params(NULL, "a", &p), IPM_EINVAL);
    EXPECT_OUT(p, ipm_config_params(c, NULL, &p), IPM_EINVAL);
    EXPECT_OUT(p, ipm_config_params(c, "missing", &p), IPM_ECONFIG);
    EXPECT_OUT(p, ipm_config_params(c, "ipm", &p), IPM_ECONFIG);
    EXPECT(ipm_config_sender(c, "a", NULL), IPM_EINVAL);
    EXPECT_OUT(s, ipm_config_sender(NULL, "a", &s), IPM_EINVAL);
    EXPECT_OUT(s, ipm_config_sender(c, NULL, &s), IPM_EINVAL);
    EXPECT_OUT(s, ipm_config_sender(c, "missing", &s), IPM_ECONFIG);
    EXPECT_OUT(s, ipm_config_sender(c, "b", &s), IPM_EPLUGIN); /* b is a receiver */
    EXPECT(ipm_config_receiver(c, "b", NULL), IPM_EINVAL);
    EXPECT_OUT(r, ipm_config_receiver(NULL, "b", &r), IPM_EINVAL);
    EXPECT_OUT(r, ipm_config_receiver(c, NULL, &r), IPM_EINVAL);
    EXPECT_OUT(r, ipm_config_receiver(c, "missing", &r), IPM_ECONFIG);
    EXPECT_OUT(r, ipm_config_receiver(c, "a", &r), IPM_EPLUGIN);
    IPM_ASSERT_OK(ipm_config_sender(c, "A", &s)); /* names are case-insensitive */
    ipm_sender_destroy(s);
    ipm_config_free(c);
    ipm_config_free(NULL);
}

/* The Zmq plugins with bad endpoints and sizes, when they are built. */
static void test_zmq(void **state)
{
    (void)state;
    if (!rel_plugin_available("ZmqSender") || !rel_plugin_available("ZmqReceiver"))
        skip();
    ipm_sender *s;
    ipm_receiver *r;
    EXPECT_OUT(s, ipm_sender_open("type=ZmqSender; connection_string=notascheme", &s),
               IPM_ECONNECT);
    EXPECT_OUT(s, ipm_sender_open("type=ZmqSender; connection_string=", &s), IPM_ECONFIG);
    EXPECT_OUT(s, ipm_sender_open("type=ZmqSender; connection_string=tcp://h:1; send_hwm=-1",
                                  &s),
               IPM_ECONFIG);
    EXPECT_OUT(s, ipm_sender_open("type=ZmqSender; connection_string=tcp://h:1; linger_ms=x",
                                  &s),
               IPM_ECONFIG);
    EXPECT_OUT(r, ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://:1", &r),
               IPM_ECONNECT);
    EXPECT_OUT(r,
               ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*; "
                                 "capacity=lots",
                                 &r),
               IPM_ECONFIG);
    EXPECT_OUT(r, ipm_receiver_open("type=ZmqSubscriber; connection_strings=", &r),
               IPM_ECONFIG);
}

/* ------------------------------------------------- nothing printed */

/* stderr goes to a file around calls that fail in every way the library
 * knows (and that third-party code under it might report on its own:
 * iniparser's syntax errors, dlopen, ZeroMQ); no cmocka assertion runs in
 * between, so anything in the file came from the library. */
static int saved_stderr = -1;
static char stderr_path[256];

static void silence_begin(void)
{
    char name[128];
    snprintf(stderr_path, sizeof stderr_path, "/tmp/%s",
             ipm_test_unique(name, sizeof name, "stderr"));
    int fd = open(stderr_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static void silence_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    struct stat st;
    assert_int_equal(stat(stderr_path, &st), 0);
    if (st.st_size > 0) {
        FILE *f = fopen(stderr_path, "r");
        char text[2048] = "";
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        text[n] = '\0';
        if (f) fclose(f);
        unlink(stderr_path);
        fail_msg("the library printed %lld bytes on stderr:\n%s", (long long)st.st_size, text);
    }
    unlink(stderr_path);
}

static void test_nothing_printed(void **state)
{
    (void)state;
    if (getenv("IPM_LOG")) skip(); /* then printing is asked for */
    char path[256];
    ipm_config *c = NULL;
    ipm_params *p = NULL;
    ipm_sender *s = NULL;
    ipm_receiver *r = NULL;
    const ipm_plugin *d = NULL;
    silence_begin();
    static const char *const inis[] = {"[a]\nthis is not a pair\n", "[a\ntype=x\n",
                                       "k = v\n[a]\n", "[a]\ntype=RelSender\n[a]\n",
                                       "[ipm]\nplugin_pth = x\n"};
    for (size_t i = 0; i < sizeof inis / sizeof inis[0]; i++) {
        temp_ini(path, sizeof path, inis[i]);
        ipm_config_load(path, &c);
        unlink(path);
    }
    ipm_config_load("/nonexistent/x.ini", &c);
    ipm_params_parse("a=1; a=2", &p);
    ipm_plugin_load("NoSuchTransportAnywhere", &d);
    ipm_plugin_load("/nonexistent/libipm_Nope.so", &d);
    ipm_plugin_load("/etc/passwd", &d);
    ipm_sender_open("type=RelSender; bogus=1", &s);
    ipm_log(IPM_LOG_WARN, "rel_bad_input: %s", "this must not appear");
    if (rel_plugin_available("ZmqReceiver")) {
        ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://no-such-host.invalid:1", &r);
        ipm_receiver_open("type=ZmqReceiver; connection_string=ipc:///nonexistent/dir/sock", &r);
        ipm_receiver_open("type=ZmqReceiver; connection_string=bogus://x", &r);
        if (ipm_sender_open("type=ZmqSender; connection_string=tcp://127.0.0.1:1", &s) == IPM_OK) {
            ipm_send(s, "x", 1, 10, NULL);
            ipm_sender_destroy(s);
        }
    }
    if (rel_plugin_available("ShmReceiver"))
        ipm_receiver_open("type=ShmReceiver; connection_string=shm://bad/name", &r);
    silence_end();
}

static int group_setup(void **state)
{
    (void)state;
    IPM_ASSERT_OK(ipm_plugin_register(&rel_sender));
    IPM_ASSERT_OK(ipm_plugin_register(&rel_receiver));
    IPM_ASSERT_OK(ipm_plugin_register(&rel_subscriber));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_and_version), cmocka_unit_test(test_params),
        cmocka_unit_test(test_typed_getters),      cmocka_unit_test(test_loader),
        cmocka_unit_test(test_helpers),            cmocka_unit_test(test_senders),
        cmocka_unit_test(test_receivers),          cmocka_unit_test(test_open),
        cmocka_unit_test(test_config),             cmocka_unit_test(test_zmq),
        cmocka_unit_test(test_nothing_printed),
    };
    return cmocka_run_group_tests_name("rel_bad_input", tests, group_setup, NULL);
}
