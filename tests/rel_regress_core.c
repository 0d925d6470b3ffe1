/*
 * rel_regress_core.c — regressions in the core found by fuzzing and review
 * (issue 6). Each test names the bug it pins, so that it stays fixed.
 *
 * 1. config.c scan(): a key-less line "= value" that iniparser accepts (the
 *    last line of a file without its newline) makes ipm_params_set() fail
 *    on the empty key, and scan() turns that into IPM_ENOMEM with the
 *    message "ipm_params_set: empty key" — no file, no line, wrong status.
 *    Found by fuzz_config; crash input fuzz/corpus/fuzz_config/crash-empty-key.
 *    Want: IPM_ECONFIG "<file>:<line>: ...".
 * 2. config.c fill_values(): the iniparser lookup key "section:key" is built
 *    in a 512-byte buffer; a section name of ~500 characters (legal, and
 *    iniparser keeps it) truncates it, the lookup misses, and the section's
 *    values silently become "" ("section [...] has no 'type' key").
 *    Want: the values as written.
 * 3. config.c ipm_config_load(): a directory given as the INI path loads as
 *    an empty configuration with IPM_OK (fopen() of a directory succeeds on
 *    Linux and reads fail), so a wrong path goes unnoticed.
 *    Want: IPM_ECONFIG "'<path>' is a directory" (check S_ISREG after open).
 * 4. params.c parse_error(): the message quoted the whole connection string
 *    before the reason, so a string of ~4 KiB filled the 4 KiB message and
 *    the reason and "at column N" were cut off. Found by fuzz_params; input
 *    fuzz/corpus/fuzz_params/crash-long-string. Want: the reason and the
 *    column, with the text near the column quoted.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <ipm/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *write_ini(char *path, size_t cap, const char *text, size_t len)
{
    char name[128];
    snprintf(path, cap, "/tmp/%s.ini", ipm_test_unique(name, sizeof name, "regress"));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

static void test_empty_key_last_line(void **state)
{
    (void)state;
    static const char text[] = "[a]\ntype = ZmqSender\n="; /* no final newline */
    char path[256];
    write_ini(path, sizeof path, text, sizeof text - 1);
    ipm_config *c = NULL;
    ipm_status st = ipm_config_load(path, &c);
    printf("[ regress  ] ipm_config_load -> %s: %s\n", ipm_strerror(st),
           ipm_last_error());
    unlink(path);
    ipm_config_free(c);
    assert_int_equal(st, IPM_ECONFIG);
    assert_non_null(strstr(ipm_last_error(), path));
    assert_non_null(strstr(ipm_last_error(), ":3"));
}

static void test_long_section_name(void **state)
{
    (void)state;
    char section[501];
    memset(section, 's', sizeof section - 1);
    section[sizeof section - 1] = '\0';
    char text[1024];
    int n = snprintf(text, sizeof text, "[%s]\ntype = ZmqSender\nconnection_string = x\n",
                     section);
    char path[256];
    write_ini(path, sizeof path, text, (size_t)n);
    ipm_config *c = NULL;
    ipm_status st = ipm_config_load(path, &c);
    printf("[ regress  ] ipm_config_load -> %s: %.200s\n", ipm_strerror(st),
           st == IPM_OK ? "" : ipm_last_error());
    unlink(path);
    assert_int_equal(st, IPM_OK);
    /* Read everything, free, then check: a failing check leaks nothing. */
    ipm_params *p = NULL;
    ipm_status pst = ipm_config_params(c, section, &p);
    char type[64] = "", cs[64] = "";
    if (pst == IPM_OK) {
        snprintf(type, sizeof type, "%s", ipm_params_get_str(p, "type", "(absent)"));
        snprintf(cs, sizeof cs, "%s",
                 ipm_params_get_str(p, "connection_string", "(absent)"));
    }
    ipm_params_free(p);
    ipm_config_free(c);
    assert_int_equal(pst, IPM_OK);
    assert_string_equal(type, "ZmqSender");
    assert_string_equal(cs, "x");
}

static void test_directory_as_ini(void **state)
{
    (void)state;
    ipm_config *c = (ipm_config *)(uintptr_t)1;
    ipm_status st = ipm_config_load("/tmp", &c);
    printf("[ regress  ] ipm_config_load(\"/tmp\") -> %s: %s\n", ipm_strerror(st),
           st == IPM_OK ? "" : ipm_last_error());
    if (st == IPM_OK) ipm_config_free(c);
    assert_int_equal(st, IPM_ECONFIG);
    assert_null(c);
    assert_non_null(strstr(ipm_last_error(), "/tmp"));
}

static void test_long_connection_string_error(void **state)
{
    (void)state;
    /* 5000 bytes of valid pairs, then a pair without '='. */
    size_t n = 5000;
    char *text = malloc(n + 16);
    assert_non_null(text);
    size_t len = 0;
    for (int i = 0; len + 16 < n; i++)
        len += (size_t)snprintf(text + len, n + 16 - len, "k%d=v; ", i);
    strcpy(text + len, "broken");
    ipm_params *p = (ipm_params *)(uintptr_t)1;
    ipm_status st = ipm_params_parse(text, &p);
    const char *why = ipm_last_error();
    printf("[ regress  ] %zu-byte connection string -> %s: %.300s\n", strlen(text),
           ipm_strerror(st), why);
    assert_int_equal(st, IPM_ECONFIG);
    assert_null(p);
    char want[64];
    snprintf(want, sizeof want, "at column %zu", len + 1);
    assert_non_null(strstr(why, want));
    assert_non_null(strstr(why, "broken"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_key_last_line),
        cmocka_unit_test(test_long_section_name),
        cmocka_unit_test(test_directory_as_ini),
        cmocka_unit_test(test_long_connection_string_error),
    };
    return cmocka_run_group_tests_name("rel_regress_core", tests, NULL, NULL);
}
