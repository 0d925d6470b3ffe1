/* fuzz_plugins.c — the static plugins and helpers of fuzz_plugins.h. */
#define _GNU_SOURCE
#include "fuzz_plugins.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

static ipm_status f_create(void **state)
{
    *state = malloc(1); /* a real allocation, so that leaks would show */
    return *state ? IPM_OK : IPM_ENOMEM;
}

/* Read the keys the way real plugins do, so that their getters see fuzzed
 * values through the connect path as well. */
static ipm_status f_connect(void *state, const ipm_params *p)
{
    (void)state;
    uint64_t hwm;
    long long n;
    bool flag;
    ipm_status st = ipm_params_get_size(p, "hwm", 1000, 0, INT_MAX, &hwm);
    if (st == IPM_OK) st = ipm_params_get_int(p, "linger_ms", 0, 0, 60000, &n);
    if (st == IPM_OK) st = ipm_params_get_bool(p, "keepalive", false, &flag);
    if (st == IPM_OK && !ipm_params_get(p, "connection_string") &&
        !ipm_params_get(p, "connection_strings"))
        st = ipm_set_error(IPM_ECONFIG, "fuzz plugin: no connection_string");
    return st;
}

static void f_destroy(void *state)
{
    free(state);
}

static ipm_status f_send(void *state, const void *data, size_t size, const char *metadata,
                         size_t metadata_size, int timeout_ms)
{
    (void)state, (void)data, (void)size, (void)metadata, (void)metadata_size;
    (void)timeout_ms;
    return IPM_OK;
}

static ipm_status f_receive(void *state, ipm_message *msg, int timeout_ms)
{
    (void)state, (void)msg, (void)timeout_ms;
    return ipm_set_error(IPM_ETIMEDOUT, "fuzz plugin: nothing to receive");
}

static void f_release(ipm_message *msg)
{
    (void)msg;
}

static ipm_status f_subscribe(void *state, const char *topic)
{
    (void)state;
    FUZZ_CHECK(topic != NULL);
    return IPM_OK;
}

static const ipm_plugin_ops sender_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = f_create,
    .connect = f_connect,
    .destroy = f_destroy,
    .send = f_send,
};

static const ipm_plugin_ops subscriber_ops = {
    .struct_size = sizeof(ipm_plugin_ops),
    .create = f_create,
    .connect = f_connect,
    .destroy = f_destroy,
    .receive = f_receive,
    .release = f_release,
    .subscribe = f_subscribe,
    .unsubscribe = f_subscribe,
};

static const char *const keys[] = {"connection_string", "connection_strings", "hwm",
                                   "linger_ms", "keepalive", NULL};

static const ipm_plugin fuzz_sender = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SENDER,
    .name = "FuzzSender",
    .version = "1.0.0",
    .description = "fuzzing stand-in sender",
    .keys = keys,
    .ops = &sender_ops,
};

static const ipm_plugin fuzz_subscriber = {
    IPM_PLUGIN_HEADER_INIT,
    .role = IPM_ROLE_SUBSCRIBER,
    .name = "FuzzSubscriber",
    .version = "1.0.0",
    .description = "fuzzing stand-in subscriber",
    .keys = keys,
    .ops = &subscriber_ops,
};

static void setup_once(void)
{
    setenv("IPM_PLUGIN_PATH", "/nonexistent/ipm-fuzz-plugins", 1);
    if (ipm_plugin_register(&fuzz_sender) != IPM_OK ||
        ipm_plugin_register(&fuzz_subscriber) != IPM_OK) {
        fprintf(stderr, "fuzz setup: %s\n", ipm_last_error());
        abort();
    }
}

void fuzz_setup(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, setup_once);
}

bool fuzz_type_is_safe(const char *type)
{
    return type == NULL || strchr(type, '/') == NULL;
}

void fuzz_exercise_params(const ipm_params *p)
{
    size_t n = ipm_params_count(p);
    FUZZ_CHECK(ipm_params_key_at(p, n) == NULL && ipm_params_value_at(p, n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const char *k = ipm_params_key_at(p, i), *v = ipm_params_value_at(p, i);
        FUZZ_CHECK(k != NULL && v != NULL && *k != '\0');
        /* Keys are unique: the lookup finds this very pair. */
        FUZZ_CHECK(ipm_params_get(p, k) == v);
        FUZZ_CHECK(ipm_params_get_str(p, k, NULL) == v);
        long long ll;
        uint64_t u;
        bool b;
        ipm_status st = ipm_params_get_int(p, k, 0, LLONG_MIN, LLONG_MAX, &ll);
        FUZZ_CHECK(st == IPM_OK || st == IPM_ECONFIG);
        st = ipm_params_get_int(p, k, 0, -10, 10, &ll);
        FUZZ_CHECK(st != IPM_OK || (ll >= -10 && ll <= 10));
        st = ipm_params_get_size(p, k, 0, 0, UINT64_MAX, &u);
        FUZZ_CHECK(st == IPM_OK || st == IPM_ECONFIG);
        st = ipm_params_get_size(p, k, 0, 4096, 1u << 30, &u);
        FUZZ_CHECK(st != IPM_OK || (u >= 4096 && u <= (1u << 30)));
        st = ipm_params_get_bool(p, k, false, &b);
        FUZZ_CHECK(st == IPM_OK || st == IPM_ECONFIG);
        if (st != IPM_OK) FUZZ_CHECK(strstr(ipm_last_error(), k) != NULL);
    }
    ipm_status st = ipm_params_check_keys(p, &fuzz_sender);
    FUZZ_CHECK(st == IPM_OK || st == IPM_ECONFIG);
    st = ipm_params_check_keys(p, &fuzz_subscriber);
    FUZZ_CHECK(st == IPM_OK || st == IPM_ECONFIG);
}
