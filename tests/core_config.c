/* INI files (API.md §4): loading, [ipm] settings, and every error naming
 * the file and line. A static "CfgSender" plugin stands in for a transport
 * so that key checks run without any network. */
#define _GNU_SOURCE
#include "ipm_test.h"

#include <ipm/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ipm_status cfg_create(void **state)
{
    *state = calloc(1, 1);
    return *state ? IPM_OK : IPM_ENOMEM;
}
static ipm_status cfg_connect(void *state, const ipm_params *p)
{
    return IPM_OK;
}
static ipm_status cfg_send(void *state, const void *d, size_t n, const char *m, size_t ms,
                           int t)
{
    return IPM_OK;
}
static void cfg_destroy(void *state)
{
    free(state);
}
/* A value check as a plugin's check op does it: send_hwm must be a count. */
static ipm_status cfg_check(const ipm_params *p)
{
    long long hwm;
    return ipm_params_get_int(p, "send_hwm", 0, 0, 1000000, &hwm);
}
static const ipm_plugin_ops cfg_ops = {.struct_size = sizeof(ipm_plugin_ops),
                                       .create = cfg_create,
                                       .connect = cfg_connect,
                                       .destroy = cfg_destroy,
                                       .send = cfg_send,
                                       .check = cfg_check};
static const char *const cfg_keys[] = {"connection_string", "send_hwm", NULL};
/* A third-party plugin's process-wide settings, as an [ipm] key reaches them. */
static const char *const cfg_settings[] = {"cfg_io_threads", "cfg_pool_size", NULL};
static const ipm_plugin cfg_plugin = {IPM_PLUGIN_HEADER_INIT,
                                      .role = IPM_ROLE_SENDER,
                                      .name = "CfgSender",
                                      .version = "1.0.0",
                                      .description =
                                          "test sender that accepts everything",
                                      .keys = cfg_keys,
                                      .ops = &cfg_ops,
                                      .settings = cfg_settings};

static char path[256];

/* Write text to a fresh temporary INI file; returns its path. */
static const char *write_ini(const char *text)
{
    snprintf(path, sizeof path, "/tmp/ipm-core-config-%d.ini", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state)
{
    static bool registered;
    if (!registered && ipm_plugin_register(&cfg_plugin) != IPM_OK) return -1;
    registered = true;
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

static void test_loads_sections_in_order(void **state)
{
    ipm_config *c = NULL;
    IPM_ASSERT_OK(
        ipm_config_load(write_ini("; comment\n"
                                  "[first]\n"
                                  "type = CfgSender\n"
                                  "connection_string = tcp://127.0.0.1:5555 ; inline\n"
                                  "\n"
                                  "[Second]\n"
                                  "type = CfgSender\n"
                                  "topics =\n"),
                        &c));
    assert_int_equal(ipm_config_count(c), 2);
    assert_string_equal(ipm_config_name_at(c, 0), "first");
    assert_string_equal(ipm_config_name_at(c, 1), "second");
    assert_null(ipm_config_name_at(c, 2));
    ipm_params *p = NULL;
    IPM_ASSERT_OK(ipm_config_params(c, "FIRST", &p));
    assert_string_equal(ipm_params_get(p, "connection_string"), "tcp://127.0.0.1:5555");
    ipm_params_free(p);
    IPM_ASSERT_OK(ipm_config_params(c, "second", &p));
    assert_string_equal(ipm_params_get(p, "topics"), "");
    ipm_params_free(p);
    ipm_sender *s = NULL;
    IPM_ASSERT_OK(ipm_config_sender(c, "first", &s));
    assert_true(ipm_sender_can_send(s));
    assert_string_equal(ipm_sender_endpoint(s), "tcp://127.0.0.1:5555");
    IPM_ASSERT_OK(ipm_send(s, "x", 1, IPM_NO_BLOCK, NULL));
    ipm_sender_destroy(s);
    ipm_config_free(c);
}

static void test_syntax_error_names_file_and_line(void **state)
{
    ipm_config *c = (ipm_config *)1;
    const char *f = write_ini("[a]\ntype = CfgSender\nthis line is wrong\n");
    char want[sizeof path + 256];
    snprintf(want, sizeof want, "%s:3: syntax error in 'this line is wrong'", f);
    IPM_ASSERT_ERR(ipm_config_load(f, &c), IPM_ECONFIG, want);
    assert_null(c);
}

static void test_missing_file(void **state)
{
    ipm_config *c = NULL;
    IPM_ASSERT_ERR(
        ipm_config_load("/nonexistent/ipm.ini", &c), IPM_ECONFIG,
        "cannot open INI file '/nonexistent/ipm.ini': No such file or directory");
}

static void test_duplicate_key_and_section(void **state)
{
    ipm_config *c = NULL;
    const char *f = write_ini("[a]\ntype = CfgSender\ntype = CfgSender\n");
    char want[sizeof path + 256];
    snprintf(want, sizeof want, "%s:3: duplicate key 'type' in [a] (first set on line 2)",
             f);
    IPM_ASSERT_ERR(ipm_config_load(f, &c), IPM_ECONFIG, want);
    f = write_ini(
        "[a]\ntype = CfgSender\n[b]\ntype = CfgSender\n[A]\ntype = CfgSender\n");
    snprintf(want, sizeof want, "%s:5: section [a] appears twice (first on line 1)", f);
    IPM_ASSERT_ERR(ipm_config_load(f, &c), IPM_ECONFIG, want);
}

static void test_section_without_type(void **state)
{
    ipm_config *c = NULL;
    const char *f = write_ini("[a]\ntype = CfgSender\n\n[b]\nconnection_string = x\n");
    char want[sizeof path + 256];
    snprintf(want, sizeof want, "%s:4: section [b] has no 'type' key", f);
    IPM_ASSERT_ERR(ipm_config_load(f, &c), IPM_ECONFIG, want);
}

static void test_key_outside_section(void **state)
{
    ipm_config *c = NULL;
    const char *f = write_ini("type = CfgSender\n[a]\ntype = CfgSender\n");
    char want[sizeof path + 256];
    snprintf(want, sizeof want, "%s:1: key 'type' is outside any section", f);
    IPM_ASSERT_ERR(ipm_config_load(f, &c), IPM_ECONFIG, want);
}

static void test_unknown_key_suggests_with_line(void **state)
{
    ipm_config *c = NULL;
    const char *f =
        write_ini("[a]\ntype = CfgSender\nconection_string = tcp://127.0.0.1:1\n");
    IPM_ASSERT_OK(ipm_config_load(f, &c));
    ipm_sender *s = (ipm_sender *)1;
    char want[400];
    snprintf(want, sizeof want,
             "%s:3: [a]: unknown key 'conection_string' for CfgSender; did you mean "
             "'connection_string'?",
             f);
    IPM_ASSERT_ERR(ipm_config_sender(c, "a", &s), IPM_ECONFIG, want);
    assert_null(s);
    ipm_config_free(c);
}

static void test_unknown_key_without_close_match_lists_keys(void **state)
{
    ipm_sender *s = NULL;
    IPM_ASSERT_ERR(ipm_sender_open("type=CfgSender; bananas=3", &s), IPM_ECONFIG,
                   "unknown key 'bananas' for CfgSender; it accepts: type, topics, "
                   "connection_string, send_hwm");
    IPM_ASSERT_ERR(ipm_sender_open("type=CfgSender; topics=a", &s), IPM_ECONFIG,
                   "key 'topics' applies only to subscribers, and CfgSender is a sender");
    IPM_ASSERT_ERR(ipm_sender_open("connection_string=tcp://x:1", &s), IPM_ECONFIG,
                   "no 'type' key");
}

static void test_global_section(void **state)
{
    ipm_config *c = NULL;
    const char *f = write_ini("[ipm]\nplugin_path = plugins_here, /opt/ipm-plugins\n"
                              "cfg_io_threads = 3\n\n[a]\ntype = CfgSender\n");
    IPM_ASSERT_OK(ipm_config_load(f, &c));
    assert_int_equal(ipm_config_count(c), 1); /* [ipm] is not a connection */
    char v[64];
    assert_true(ipm_setting_get("cfg_io_threads", v, sizeof v));
    assert_string_equal(v, "3");
    assert_false(ipm_setting_get("never_set", v, sizeof v));
    /* Relative plugin directories are taken from the INI file's directory. */
    char dirs[8192];
    ipm_plugin_search_path(dirs, sizeof dirs);
    assert_non_null(strstr(dirs, "/tmp/plugins_here:/opt/ipm-plugins"));
    ipm_params *p = NULL;
    IPM_ASSERT_ERR(ipm_config_params(c, "ipm", &p), IPM_ECONFIG,
                   "no connection named 'ipm'");
    IPM_ASSERT_ERR(ipm_config_params(c, "nope", &p), IPM_ECONFIG,
                   "no connection named 'nope' (it has: a)");
    ipm_config_free(c);

    f = write_ini("[ipm]\ncfg_io_thread = 3\ncfg_pool_size = 9\n");
    char want[sizeof path + 256];
    snprintf(want, sizeof want,
             "%s:2: unknown key 'cfg_io_thread' in [ipm]; did you mean 'cfg_io_threads'?",
             f);
    IPM_ASSERT_ERR(ipm_config_load(f, &c), IPM_ECONFIG, want);
    /* A file with an unknown setting sets none of its settings. */
    assert_false(ipm_setting_get("cfg_pool_size", v, sizeof v));
    f = write_ini("[ipm]\nno_plugin_declares_this = 1\n");
    IPM_ASSERT_ERR(ipm_config_load(f, &c), IPM_ECONFIG,
                   "neither the core nor any plugin on the search path declares it");
}

/* ipm_config_check: keys and values without connecting, at file:line. */
static void test_check_values(void **state)
{
    ipm_config *c = NULL;
    const char *f =
        write_ini("[good]\ntype = CfgSender\nsend_hwm = 10\n\n"
                  "[bad]\ntype = CfgSender\nconnection_string = x\n"
                  "send_hwm = lots\n\n[typo]\ntype = CfgSender\nsend_hvm = 1\n");
    IPM_ASSERT_OK(ipm_config_load(f, &c));
    IPM_ASSERT_OK(ipm_config_check(c, "good"));
    char want[sizeof path + 256];
    snprintf(want, sizeof want, "%s:8: [bad]", f);
    IPM_ASSERT_ERR(ipm_config_check(c, "bad"), IPM_ECONFIG, want);
    IPM_ASSERT_ERR(ipm_config_check(c, "bad"), IPM_ECONFIG, "key 'send_hwm'");
    snprintf(want, sizeof want, "%s:12: [typo]", f);
    IPM_ASSERT_ERR(ipm_config_check(c, "typo"), IPM_ECONFIG, want);
    IPM_ASSERT_ERR(ipm_config_check(c, "typo"), IPM_ECONFIG, "did you mean 'send_hwm'");
    IPM_ASSERT_ERR(ipm_config_check(c, "nope"), IPM_ECONFIG,
                   "no connection named 'nope'");
    assert_int_equal(ipm_config_check(NULL, "good"), IPM_EINVAL);
    ipm_config_free(c);
}

static void test_quoted_values_and_empty_topics(void **state)
{
    ipm_config *c = NULL;
    IPM_ASSERT_OK(ipm_config_load(
        write_ini("[a]\ntype = CfgSender\nconnection_string = \"tcp://127.0.0.1:5;x\"\n"),
        &c));
    ipm_params *p = NULL;
    IPM_ASSERT_OK(ipm_config_params(c, "a", &p));
    assert_string_equal(ipm_params_get(p, "connection_string"), "tcp://127.0.0.1:5;x");
    ipm_params_free(p);
    ipm_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_loads_sections_in_order, teardown),
        cmocka_unit_test_teardown(test_syntax_error_names_file_and_line, teardown),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test_teardown(test_duplicate_key_and_section, teardown),
        cmocka_unit_test_teardown(test_section_without_type, teardown),
        cmocka_unit_test_teardown(test_key_outside_section, teardown),
        cmocka_unit_test_teardown(test_unknown_key_suggests_with_line, teardown),
        cmocka_unit_test(test_unknown_key_without_close_match_lists_keys),
        cmocka_unit_test_teardown(test_global_section, teardown),
        cmocka_unit_test_teardown(test_check_values, teardown),
        cmocka_unit_test_teardown(test_quoted_values_and_empty_topics, teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
