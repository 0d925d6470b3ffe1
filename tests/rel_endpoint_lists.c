/*
 * rel_endpoint_lists.c — one rule for endpoint lists in every family: a
 * subscriber's connect takes all of connection_string(s) or none of it, an
 * empty list is IPM_ECONFIG, and a list item is never silently skipped.
 * Before this rule ShmSubscriber accepted `connection_strings=""` with no
 * publisher at all and kept the publishers of a half-failed connect, while
 * ZmqSubscriber refused the first and undid the second.
 */
#define _GNU_SOURCE
#include "ipm_test.h"

#include <ipm/plugin.h>

#include <stdio.h>
#include <string.h>

struct family {
    const char *pub, *sub;
    const char *bad; /* an endpoint the family refuses */
};

/* Is f built here? A family left out of the build (-DIPM_WITH_ZMQ=OFF) is
 * reported and skipped, never passed silently. */
static bool built(const struct family *f)
{
    const ipm_plugin *d;
    if (ipm_plugin_load(f->sub, &d) == IPM_OK) return true;
    printf("[ skipped  ] %s: not built (%s)\n", f->sub, ipm_last_error());
    return false;
}

static const struct family families[] = {
    {"ZmqPublisher", "ZmqSubscriber", "tcp://127.0.0.1:99999"},
    {"ShmPublisher", "ShmSubscriber", "shm://bad/name"},
};

/* A publisher on a fresh endpoint of its family; its endpoint in ep. */
static ipm_sender *publisher(const struct family *f, char *ep, size_t cap)
{
    char name[96], spec[256];
    ipm_test_unique(name, sizeof name, "lists");
    if (f->pub[0] == 'Z')
        snprintf(spec, sizeof spec, "type=%s; connection_string=tcp://127.0.0.1:*",
                 f->pub);
    else
        snprintf(spec, sizeof spec, "type=%s; connection_string=shm://%s", f->pub, name);
    ipm_sender *s = NULL;
    IPM_ASSERT_OK(ipm_sender_open(spec, &s));
    snprintf(ep, cap, "%s", ipm_sender_endpoint(s));
    return s;
}

static void test_empty_list_is_a_config_error(void **state)
{
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (!built(&families[i])) continue;
        const char *specs[] = {"connection_strings=", "connection_strings= , ",
                               "connection_string="};
        for (size_t k = 0; k < 3; k++) {
            char spec[256];
            snprintf(spec, sizeof spec, "type=%s; %s; topics=", families[i].sub,
                     specs[k]);
            ipm_receiver *r = (ipm_receiver *)1;
            ipm_status st = ipm_receiver_open(spec, &r);
            if (st != IPM_ECONFIG)
                fail_msg("%s: '%s' -> %s, want IPM_ECONFIG", families[i].sub, spec,
                         ipm_strerror(st));
            assert_null(r);
        }
    }
}

static void test_empty_item_is_a_config_error(void **state)
{
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (!built(&families[i])) continue;
        char ep[256], spec[700];
        ipm_sender *pub = publisher(&families[i], ep, sizeof ep);
        snprintf(spec, sizeof spec, "type=%s; connection_strings=%s,,%s", families[i].sub,
                 ep, ep);
        ipm_receiver *r = NULL;
        IPM_ASSERT_ERR(ipm_receiver_open(spec, &r), IPM_ECONFIG, "item 2");
        ipm_sender_destroy(pub);
    }
}

/* A list with one good and one bad endpoint connects to neither: nothing
 * the good publisher sends arrives, and the subscriber is still usable. */
static void test_half_failed_connect_takes_nothing(void **state)
{
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (!built(&families[i])) continue;
        const struct family *f = &families[i];
        char ep[256];
        ipm_sender *pub = publisher(f, ep, sizeof ep);
        ipm_receiver *sub = NULL;
        IPM_ASSERT_OK(ipm_subscriber_create(f->sub, &sub));
        IPM_ASSERT_OK(ipm_subscribe(sub, ""));
        ipm_params *p = NULL;
        char list[600];
        snprintf(list, sizeof list, "%s, %s", ep, f->bad);
        IPM_ASSERT_OK(ipm_params_new(&p));
        IPM_ASSERT_OK(ipm_params_set(p, "connection_strings", list));
        ipm_status st = ipm_receiver_connect(sub, p);
        if (st == IPM_OK)
            fail_msg("%s connected to '%s' with a bad endpoint", f->sub, list);
        assert_false(ipm_receiver_can_receive(sub));
        assert_null(ipm_receiver_endpoint(sub));
        /* Nothing of the good publisher arrives. */
        for (int k = 0; k < 20; k++)
            IPM_ASSERT_OK(ipm_send(pub, "x", 1, IPM_NO_BLOCK, "t"));
        ipm_message m;
        assert_int_equal(ipm_receive(sub, &m, 50), IPM_ESTATE);
        /* The same subscriber connects to the good one alone afterwards. */
        IPM_ASSERT_OK(ipm_params_set(p, "connection_strings", ep));
        IPM_ASSERT_OK(ipm_receiver_connect(sub, p));
        assert_true(ipm_receiver_can_receive(sub));
        ipm_status got = IPM_ETIMEDOUT;
        for (int k = 0; k < 100 && got != IPM_OK; k++) {
            IPM_ASSERT_OK(ipm_send(pub, "y", 1, IPM_NO_BLOCK, "t"));
            got = ipm_receive(sub, &m, 50);
        }
        IPM_ASSERT_OK(got);
        assert_memory_equal(m.data, "y", 1);
        ipm_message_release(&m);
        ipm_params_free(p);
        ipm_receiver_destroy(sub);
        ipm_sender_destroy(pub);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_list_is_a_config_error),
        cmocka_unit_test(test_empty_item_is_a_config_error),
        cmocka_unit_test(test_half_failed_connect_takes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
