/* Connection strings (API.md §4) and the typed getters plugins use. */
#include "ipm_test.h"

#include <ipm/plugin.h>
#include <string.h>

static ipm_params *parse_ok(const char *text)
{
    ipm_params *p = NULL;
    IPM_ASSERT_OK(ipm_params_parse(text, &p));
    assert_non_null(p);
    return p;
}

static void test_bare_endpoint(void **state)
{
    ipm_params *p = parse_ok("  tcp://127.0.0.1:5555 ");
    assert_int_equal(ipm_params_count(p), 1);
    assert_string_equal(ipm_params_get(p, "connection_string"), "tcp://127.0.0.1:5555");
    ipm_params_free(p);
    p = parse_ok("shm://daq_ring");
    assert_string_equal(ipm_params_get(p, "connection_string"), "shm://daq_ring");
    ipm_params_free(p);
}

static void test_pairs_trimmed_in_order(void **state)
{
    ipm_params *p = parse_ok(" type = ZmqSender ;connection_string=tcp://127.0.0.1:5555;  "
                             "send_hwm= 1000 ;");
    assert_int_equal(ipm_params_count(p), 3);
    assert_string_equal(ipm_params_key_at(p, 0), "type");
    assert_string_equal(ipm_params_value_at(p, 0), "ZmqSender");
    assert_string_equal(ipm_params_key_at(p, 2), "send_hwm");
    assert_string_equal(ipm_params_get(p, "send_hwm"), "1000");
    assert_null(ipm_params_get(p, "absent"));
    ipm_params_free(p);
}

static void test_quoted_value_holds_semicolon(void **state)
{
    ipm_params *p = parse_ok("type=ZmqSubscriber; topics=\"a;b, c\" ; x=1");
    assert_string_equal(ipm_params_get(p, "topics"), "a;b, c");
    assert_string_equal(ipm_params_get(p, "x"), "1");
    ipm_params_free(p);
}

static void test_empty_value_allowed(void **state)
{
    ipm_params *p = parse_ok("type=ZmqSubscriber; topics=");
    assert_string_equal(ipm_params_get(p, "topics"), "");
    ipm_params_free(p);
}

static void test_duplicate_key(void **state)
{
    ipm_params *p = (ipm_params *)1;
    IPM_ASSERT_ERR(ipm_params_parse("type=A; x=1; x=2", &p), IPM_ECONFIG,
                   "duplicate key 'x' at column 14");
    assert_null(p);
}

static void test_empty_key(void **state)
{
    ipm_params *p = (ipm_params *)1;
    IPM_ASSERT_ERR(ipm_params_parse("type=A; =5", &p), IPM_ECONFIG,
                   "empty key before '=' at column 9");
    assert_null(p);
}

static void test_pair_without_equals(void **state)
{
    ipm_params *p = NULL;
    IPM_ASSERT_ERR(ipm_params_parse("type=A; connection_string", &p), IPM_ECONFIG,
                   "'connection_string' has no '=' (pairs are key=value) at column 9");
    assert_null(p);
}

static void test_unterminated_quote(void **state)
{
    ipm_params *p = NULL;
    IPM_ASSERT_ERR(ipm_params_parse("type=A; topics=\"a;b", &p), IPM_ECONFIG,
                   "unterminated quote at column 16");
    IPM_ASSERT_ERR(ipm_params_parse("type=A; topics=\"a\"b", &p), IPM_ECONFIG,
                   "text after a closing quote at column 16");
}

static void test_bad_key_character(void **state)
{
    ipm_params *p = NULL;
    IPM_ASSERT_ERR(ipm_params_parse("conn string=x", &p), IPM_ECONFIG,
                   "key 'conn string' contains ' '");
}

static void test_empty_and_null(void **state)
{
    ipm_params *p = NULL;
    IPM_ASSERT_ERR(ipm_params_parse("   ", &p), IPM_ECONFIG, "connection string is empty");
    IPM_ASSERT_ERR(ipm_params_parse(NULL, &p), IPM_EINVAL, "NULL");
    assert_int_equal(ipm_params_parse("x=1", NULL), IPM_EINVAL);
    /* The message quotes the whole text so the user sees where it came from. */
    IPM_ASSERT_ERR(ipm_params_parse("a=1;b", &p), IPM_ECONFIG, "connection string \"a=1;b\"");
}

static void test_set_replaces_in_place(void **state)
{
    ipm_params *p;
    IPM_ASSERT_OK(ipm_params_new(&p));
    IPM_ASSERT_OK(ipm_params_set(p, "a", "1"));
    IPM_ASSERT_OK(ipm_params_set(p, "b", "2"));
    IPM_ASSERT_OK(ipm_params_set(p, "a", "3"));
    assert_int_equal(ipm_params_count(p), 2);
    assert_string_equal(ipm_params_key_at(p, 0), "a");
    assert_string_equal(ipm_params_get(p, "a"), "3");
    assert_null(ipm_params_key_at(p, 2));
    assert_int_equal(ipm_params_set(p, "", "x"), IPM_EINVAL);
    assert_int_equal(ipm_params_set(NULL, "a", "x"), IPM_EINVAL);
    ipm_params_free(p);
    ipm_params_free(NULL);
}

static void test_typed_getters(void **state)
{
    ipm_params *p = parse_ok("n=42; hex=0x10; big=4Mi; k=3k; yes=on; no=False; bad=12x; neg=-1");
    long long n;
    uint64_t sz;
    bool b;
    IPM_ASSERT_OK(ipm_params_get_int(p, "n", 0, 0, 100, &n));
    assert_int_equal(n, 42);
    IPM_ASSERT_OK(ipm_params_get_int(p, "hex", 0, 0, 100, &n));
    assert_int_equal(n, 16);
    IPM_ASSERT_OK(ipm_params_get_int(p, "missing", 7, 0, 100, &n));
    assert_int_equal(n, 7);
    IPM_ASSERT_ERR(ipm_params_get_int(p, "n", 0, 0, 10, &n), IPM_ECONFIG,
                   "key 'n' = 42 is out of range [0, 10]");
    IPM_ASSERT_ERR(ipm_params_get_int(p, "bad", 0, 0, 10, &n), IPM_ECONFIG,
                   "key 'bad' = '12x': not an integer");
    IPM_ASSERT_OK(ipm_params_get_size(p, "big", 0, 0, UINT64_MAX, &sz));
    assert_int_equal(sz, 4u << 20);
    IPM_ASSERT_OK(ipm_params_get_size(p, "k", 0, 0, UINT64_MAX, &sz));
    assert_int_equal(sz, 3000);
    IPM_ASSERT_ERR(ipm_params_get_size(p, "bad", 0, 0, UINT64_MAX, &sz), IPM_ECONFIG,
                   "unknown unit");
    IPM_ASSERT_ERR(ipm_params_get_size(p, "neg", 0, 0, UINT64_MAX, &sz), IPM_ECONFIG,
                   "negative");
    IPM_ASSERT_OK(ipm_params_get_bool(p, "yes", false, &b));
    assert_true(b);
    IPM_ASSERT_OK(ipm_params_get_bool(p, "no", true, &b));
    assert_false(b);
    IPM_ASSERT_ERR(ipm_params_get_bool(p, "n", false, &b), IPM_ECONFIG, "not a boolean");
    assert_string_equal(ipm_params_get_str(p, "missing", "dflt"), "dflt");
    ipm_params_free(p);
}

static void test_strerror_covers_every_status(void **state)
{
#define CHECK_(name, text) assert_string_equal(ipm_strerror(name), text);
    IPM_STATUS_TABLE(CHECK_)
#undef CHECK_
    assert_string_equal(ipm_strerror((ipm_status)999), "unknown status");
    assert_string_equal(ipm_version(), IPM_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_endpoint),
        cmocka_unit_test(test_pairs_trimmed_in_order),
        cmocka_unit_test(test_quoted_value_holds_semicolon),
        cmocka_unit_test(test_empty_value_allowed),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_empty_key),
        cmocka_unit_test(test_pair_without_equals),
        cmocka_unit_test(test_unterminated_quote),
        cmocka_unit_test(test_bad_key_character),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_set_replaces_in_place),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_strerror_covers_every_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
