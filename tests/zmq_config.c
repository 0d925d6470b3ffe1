/*
 * config/example.ini: load it, open every section, and send through every
 * connection in it — each sender or publisher to every receiver or
 * subscriber that names its endpoint, checking the subscribers' topics.
 */
#define _GNU_SOURCE
#include "zmq_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define EXAMPLE IPM_SOURCE_DIR "/config/example.ini"

enum { MAX_SECTIONS = 32, MAX_TOPICS = 8 };

struct section {
    const char *name;
    char type[64];
    char endpoints[512]; /* connection_string and connection_strings */
    bool sends;
    bool subscriber;
    bool all_topics;
    char topics[MAX_TOPICS][64];
    int ntopics;
    ipm_sender *s;
    ipm_receiver *r;
    int exchanged; /* messages that went through this section */
};

static void read_section(const ipm_config *cfg, struct section *sec)
{
    ipm_params *p;
    IPM_ASSERT_OK(ipm_config_params(cfg, sec->name, &p));
    const char *type = ipm_params_get(p, "type");
    assert_non_null(type);
    snprintf(sec->type, sizeof sec->type, "%s", type);
    const char *one = ipm_params_get(p, "connection_string");
    const char *many = ipm_params_get(p, "connection_strings");
    snprintf(sec->endpoints, sizeof sec->endpoints, "%s,%s", one ? one : "",
             many ? many : "");
    sec->sends = strcmp(type, "ZmqSender") == 0 || strcmp(type, "ZmqPublisher") == 0;
    sec->subscriber = strcmp(type, "ZmqSubscriber") == 0;
    const char *topics = ipm_params_get(p, "topics");
    if (sec->subscriber) {
        assert_non_null(topics); /* a subscriber without topics would get nothing */
        char copy[512], *save = NULL;
        snprintf(copy, sizeof copy, "%s", topics);
        for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            assert_true(sec->ntopics < MAX_TOPICS);
            snprintf(sec->topics[sec->ntopics++], 64, "%s", t);
        }
        sec->all_topics = sec->ntopics == 0;
    }
    ipm_params_free(p);
}

/* Does the receiving section rx list the endpoint of the sending one? */
static bool listens_to(const struct section *rx, const struct section *tx)
{
    char list[512], *save = NULL;
    snprintf(list, sizeof list, "%s", rx->endpoints);
    char want[512];
    snprintf(want, sizeof want, "%s", tx->endpoints);
    char *end = want + strlen(want);
    while (end > want && (end[-1] == ',' || end[-1] == ' '))
        *--end = '\0';
    for (char *e = strtok_r(list, ", ", &save); e; e = strtok_r(NULL, ", ", &save))
        if (strcmp(e, want) == 0) return true;
    return false;
}

static bool wants(const struct section *rx, const char *topic)
{
    if (!rx->subscriber || rx->all_topics) return true;
    for (int i = 0; i < rx->ntopics; i++)
        if (strncmp(topic, rx->topics[i], strlen(rx->topics[i])) == 0) return true;
    return false;
}

/* A topic the receiver wants: its first, or any for "every topic". */
static const char *topic_for(const struct section *rx)
{
    return rx->subscriber && !rx->all_topics ? rx->topics[0] : "any";
}

static void drain_sync(ipm_receiver *r)
{
    ipm_message m;
    while (ipm_receive(r, &m, 100) == IPM_OK) {
        assert_int_equal(m.size, 4);
        assert_memory_equal(m.data, "sync", 4);
        ipm_message_release(&m);
    }
}

static void test_example_ini_every_connection(void **state)
{
    (void)state;
    /* The example's ipc paths are fixed: serialise concurrent runs of this
     * test on one machine (two build trees) instead of letting them steal
     * each other's endpoints. */
    int lock = open("/tmp/ipm-example-ini.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0666);
    assert_true(lock >= 0);
    assert_int_equal(flock(lock, LOCK_EX), 0);

    ipm_config *cfg;
    IPM_ASSERT_OK(ipm_config_load(EXAMPLE, &cfg));
    size_t n = ipm_config_count(cfg);
    assert_true(n >= 5 && n <= MAX_SECTIONS);
    struct section secs[MAX_SECTIONS];
    memset(secs, 0, sizeof secs);
    for (size_t i = 0; i < n; i++) {
        secs[i].name = ipm_config_name_at(cfg, i);
        read_section(cfg, &secs[i]);
    }
    /* Binding ends first (receivers and publishers), so that the connecting
     * ends find them; then the rest. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            struct section *sec = &secs[i];
            bool binds = strcmp(sec->type, "ZmqReceiver") == 0 ||
                         strcmp(sec->type, "ZmqPublisher") == 0;
            if (binds != (pass == 0)) continue;
            if (sec->sends)
                IPM_ASSERT_OK(ipm_config_sender(cfg, sec->name, &sec->s));
            else
                IPM_ASSERT_OK(ipm_config_receiver(cfg, sec->name, &sec->r));
        }
    }

    int pairs = 0;
    for (size_t t = 0; t < n; t++) {
        struct section *tx = &secs[t];
        if (!tx->sends) continue;
        bool pubsub = strcmp(tx->type, "ZmqPublisher") == 0;
        if (pubsub) {
            /* Wait out the slow-joiner window of every subscriber, then
             * drop the sync messages the others picked up meanwhile. */
            for (size_t r = 0; r < n; r++)
                if (!secs[r].sends && listens_to(&secs[r], tx))
                    zt_pubsub_sync(tx->s, secs[r].r, topic_for(&secs[r]));
            for (size_t r = 0; r < n; r++)
                if (!secs[r].sends && listens_to(&secs[r], tx)) drain_sync(secs[r].r);
        }
        for (size_t r = 0; r < n; r++) {
            struct section *rx = &secs[r];
            if (rx->sends || !listens_to(rx, tx)) continue;
            pairs++;
            const char *topic = topic_for(rx);
            char text[160];
            int len = snprintf(text, sizeof text, "%s -> %s", tx->name, rx->name);
            IPM_ASSERT_OK(ipm_send(tx->s, text, (size_t)len, 10000, topic));
            /* Every listener of tx that wants the topic gets it, once. */
            for (size_t k = 0; k < n; k++) {
                struct section *other = &secs[k];
                if (other->sends || !listens_to(other, tx)) continue;
                if (other == rx || (pubsub && wants(other, topic))) {
                    zt_expect(other->r, 10000, text, (size_t)len, topic);
                    other->exchanged++;
                }
            }
            tx->exchanged++;
            if (pubsub) {
                /* And a topic outside rx's filter does not reach it. */
                const char *odd = "zzz-not-subscribed";
                if (rx->subscriber && !rx->all_topics) {
                    IPM_ASSERT_OK(ipm_send(tx->s, "filtered", 8, 1000, odd));
                    for (size_t k = 0; k < n; k++)
                        if (!secs[k].sends && listens_to(&secs[k], tx) &&
                            wants(&secs[k], odd))
                            zt_expect(secs[k].r, 10000, "filtered", 8, odd);
                }
                for (size_t k = 0; k < n; k++)
                    if (!secs[k].sends && listens_to(&secs[k], tx))
                        zt_expect_nothing(secs[k].r, 50);
            }
        }
    }
    assert_true(pairs >= 3); /* one pair, one publisher with two subscribers */
    for (size_t i = 0; i < n; i++) {
        if (secs[i].exchanged == 0)
            fail_msg("section [%s] took part in no exchange", secs[i].name);
        ipm_sender_destroy(secs[i].s);
        ipm_receiver_destroy(secs[i].r);
    }
    ipm_config_free(cfg);
    flock(lock, LOCK_UN);
    close(lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_ini_every_connection),
    };
    return cmocka_run_group_tests_name("zmq_config", tests, NULL, NULL);
}
