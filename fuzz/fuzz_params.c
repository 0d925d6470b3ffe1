/*
 * fuzz_params.c — libFuzzer target for connection strings: ipm_params_parse,
 * every getter on what it produced, the key check, a print-and-reparse round
 * trip, and the one-call open path (ipm_sender_open / ipm_receiver_open) on
 * the static Fuzz* plugins.
 *
 * Invariants checked beyond "no crash, no leak, no UB":
 *  - failure leaves *out NULL, returns IPM_ECONFIG (or ENOMEM) and says why;
 *    a syntax error names its column;
 *  - success yields unique, non-empty keys that getters find again;
 *  - printing the pairs back as key="value"; ... and parsing that gives the
 *    same pairs in the same order (for values without a '"').
 */
#define _GNU_SOURCE
#include "fuzz_plugins.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_setup();
    return 0;
}

/* key="value"; ... for p, or NULL if a value holds a '"' (no escaping). */
static char *print(const ipm_params *p)
{
    size_t n = ipm_params_count(p), len = 1;
    for (size_t i = 0; i < n; i++) {
        if (strchr(ipm_params_value_at(p, i), '"')) return NULL;
        len += strlen(ipm_params_key_at(p, i)) + strlen(ipm_params_value_at(p, i)) + 6;
    }
    char *s = malloc(len);
    FUZZ_CHECK(s != NULL);
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(s + at, len - at, "%s%s=\"%s\"", i ? "; " : "",
                               ipm_params_key_at(p, i), ipm_params_value_at(p, i));
    s[at] = '\0';
    return s;
}

static void round_trip(const ipm_params *p)
{
    if (ipm_params_count(p) == 0) return; /* "" is an error, by design */
    char *text = print(p);
    if (!text) return;
    ipm_params *q = NULL;
    ipm_status st = ipm_params_parse(text, &q);
    FUZZ_CHECK(st == IPM_OK);
    FUZZ_CHECK(ipm_params_count(q) == ipm_params_count(p));
    for (size_t i = 0; i < ipm_params_count(p); i++) {
        FUZZ_CHECK(strcmp(ipm_params_key_at(p, i), ipm_params_key_at(q, i)) == 0);
        FUZZ_CHECK(strcmp(ipm_params_value_at(p, i), ipm_params_value_at(q, i)) == 0);
    }
    ipm_params_free(q);
    free(text);
}

static void open_both(const char *text, const ipm_params *p)
{
    if (!fuzz_type_is_safe(ipm_params_get(p, "type"))) return;
    ipm_sender *s = (ipm_sender *)(uintptr_t)1;
    ipm_status st = ipm_sender_open(text, &s);
    FUZZ_CHECK((st == IPM_OK) == (s != NULL));
    if (st == IPM_OK) {
        FUZZ_CHECK(ipm_sender_can_send(s));
        FUZZ_CHECK(ipm_send(s, "x", 1, 0, ipm_params_get(p, "topics")) == IPM_OK);
    } else {
        FUZZ_CHECK(*ipm_last_error() != '\0');
    }
    ipm_sender_destroy(s);

    ipm_receiver *r = (ipm_receiver *)(uintptr_t)1;
    st = ipm_receiver_open(text, &r);
    FUZZ_CHECK((st == IPM_OK) == (r != NULL));
    if (st != IPM_OK) FUZZ_CHECK(*ipm_last_error() != '\0');
    ipm_receiver_destroy(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';

    ipm_set_error(IPM_OK, "%s", "");
    ipm_params *p = (ipm_params *)(uintptr_t)1;
    ipm_status st = ipm_params_parse(text, &p);
    if (st != IPM_OK) {
        FUZZ_CHECK(p == NULL);
        FUZZ_CHECK(st == IPM_ECONFIG || st == IPM_ENOMEM);
        const char *why = ipm_last_error();
        FUZZ_CHECK(*why != '\0');
        if (st == IPM_ECONFIG && strncmp(why, "connection string is empty", 26) != 0)
            FUZZ_CHECK(strstr(why, "column") != NULL);
    } else {
        /* Only separators and space may parse to no pairs at all. */
        FUZZ_CHECK(p != NULL);
        FUZZ_CHECK(ipm_params_count(p) > 0 || strspn(text, " \t\r\n\v\f;") == strlen(text));
        fuzz_exercise_params(p);
        round_trip(p);
        open_both(text, p);
        ipm_params_free(p);
    }
    free(text);
    return 0;
}
