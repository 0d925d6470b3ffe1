/*
 * rel_threads_loader.c — plugin loading from many threads at once
 * (API.md §2: "loading plugins is thread-safe"), for the TSan run.
 *
 *  - first load: 8 threads released together load every type for the first
 *    time in this process; all get the same descriptor and the same status;
 *  - failing loads, over and over: broken fixtures (test_plugins/) and
 *    renamed copies of a real plugin (name mismatch, so dlopen + dlclose each
 *    time) and unknown types, each thread checking that its own
 *    ipm_last_error() names its own type (the message is per thread);
 *  - INI files with [ipm] plugin_path and settings loaded while other
 *    threads search the plugin path and read settings.
 */
#define _GNU_SOURCE
#include "rel_util.h"

#include <ipm/plugin.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREADS 8

static const char *const types[] = {"ZmqSender",     "ZmqReceiver",   "ZmqPublisher",
                                    "ZmqSubscriber", "ShmSender",     "ShmReceiver",
                                    "ShmPublisher",  "ShmSubscriber", "LoopSender",
                                    "LoopReceiver",  "NoSuchTypeRel"};
#define NTYPES (sizeof types / sizeof types[0])

static char tmpdir[256];
static pthread_barrier_t start;

/* ------------------------------------------------------- first load */

struct first_result {
    const ipm_plugin *desc[NTYPES];
    ipm_status st[NTYPES];
    int objects; /* created and destroyed */
    size_t offset;
};

static void *first_load(void *arg)
{
    struct first_result *res = arg;
    pthread_barrier_wait(&start);
    /* Half the threads go through the types in one order, half in another,
     * so that every type sees several first loads racing. */
    for (size_t n = 0; n < NTYPES; n++) {
        size_t i = (n + res->offset) % NTYPES;
        res->st[i] = ipm_plugin_load(types[i], &res->desc[i]);
        if (res->st[i] != IPM_OK) continue;
        if (res->desc[i]->role == IPM_ROLE_SENDER) {
            ipm_sender *s = NULL;
            if (ipm_sender_create(types[i], &s) == IPM_OK) res->objects++;
            ipm_sender_destroy(s);
        } else {
            ipm_receiver *r = NULL;
            if (ipm_receiver_create(types[i], &r) == IPM_OK) res->objects++;
            ipm_receiver_destroy(r);
        }
    }
    return NULL;
}

static void test_first_load_race(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    static struct first_result res[THREADS];
    memset(res, 0, sizeof res);
    for (int i = 0; i < THREADS; i++)
        res[i].offset = (size_t)(i % 2) * (NTYPES / 2);
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, first_load, &res[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);

    int loaded = 0;
    for (size_t k = 0; k < NTYPES; k++) {
        for (int i = 1; i < THREADS; i++) {
            assert_int_equal(res[i].st[k], res[0].st[k]);
            assert_ptr_equal(res[i].desc[k], res[0].desc[k]);
        }
        if (res[0].st[k] == IPM_OK) {
            loaded++;
            assert_string_equal(res[0].desc[k]->name, types[k]);
            assert_non_null(ipm_plugin_loaded_path(types[k]));
        }
    }
    for (int i = 1; i < THREADS; i++)
        assert_int_equal(res[i].objects, res[0].objects);
    printf("[ loader   ] %d of %zu types loaded by %d racing threads\n", loaded, NTYPES,
           THREADS);
    assert_true(loaded >= 1);
    assert_int_equal(res[0].st[NTYPES - 1], IPM_ENOPLUGIN);
}

/* --------------------------------------------------- failing loads */

#define COPIES 4
#define ROUNDS 40

static bool have_copies;

static const char *const broken[] = {"NoFactory",   "NullFactory", "BadMagic",
                                     "NewMajorAbi", "WrongName",   "SmallOps",
                                     "MissingDep",  "NullSend"};
#define NBROKEN (sizeof broken / sizeof broken[0])

static void *failing_loads(void *arg)
{
    long id = (long)arg;
    bool ok = true;
    pthread_barrier_wait(&start);
    for (int round = 0; round < ROUNDS && ok; round++) {
        char type[64];
        const ipm_plugin *d;
        ipm_status st;
        switch ((round + id) % 3) {
        case 0: /* a renamed copy of a real plugin: loads, then refused */
            if (!have_copies) continue;
            snprintf(type, sizeof type, "RelCopy%ld", (round + id) % COPIES);
            st = ipm_plugin_load(type, &d);
            ok = st == IPM_EPLUGIN && d == NULL && strstr(ipm_last_error(), type);
            break;
        case 1: /* a broken fixture */
            snprintf(type, sizeof type, "%s", broken[(size_t)(round + id) % NBROKEN]);
            st = ipm_plugin_load(type, &d);
            /* NullSend is refused, the others too; all name themselves. */
            ok = st != IPM_OK && d == NULL && strstr(ipm_last_error(), type);
            if (st == IPM_ENOPLUGIN) ok = true; /* fixtures not built here */
            break;
        default: /* nowhere on the path */
            snprintf(type, sizeof type, "RelMissing%ld_%d", id, round);
            st = ipm_plugin_load(type, &d);
            ok = st == IPM_ENOPLUGIN && d == NULL && strstr(ipm_last_error(), type);
            break;
        }
        if (!ok)
            fprintf(stderr, "thread %ld round %d: %s -> %s: %s\n", id, round, type,
                    ipm_strerror(st), ipm_last_error());
        char path[8192];
        ipm_plugin_search_path(path, sizeof path);
    }
    return (void *)(intptr_t)ok;
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

static void test_failing_loads_race(void **state)
{
    (void)state;
    const char *real = ipm_plugin_loaded_path("ZmqSender");
    if (!real) real = ipm_plugin_loaded_path("LoopSender");
    have_copies = real != NULL && real[0] == '/';
    for (int i = 0; have_copies && i < COPIES; i++) {
        char to[512];
        snprintf(to, sizeof to, "%s/libipm_RelCopy%d.so", tmpdir, i);
        copy_file(real, to);
    }
    pthread_t t[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (long i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, failing_loads, (void *)i), 0);
    int good = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        good += ok != NULL;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(good, THREADS);
}

/* ------------------------------------------------ INI files racing */

static void *ini_loader(void *arg)
{
    long id = (long)arg;
    bool ok = true;
    pthread_barrier_wait(&start);
    for (int round = 0; round < ROUNDS && ok; round++) {
        char path[512], dir[512];
        snprintf(path, sizeof path, "%s/rel%ld.ini", tmpdir, id);
        snprintf(dir, sizeof dir, "%s/dir%ld_%d", tmpdir, id, round % 5);
        if (id % 2 == 0) {
            /* Writers: a file with [ipm] settings and a plugin directory. */
            FILE *f = fopen(path, "w");
            if (!f) return NULL;
            fprintf(f,
                    "[ipm]\nplugin_path = %s\nloop_window = %d\n"
                    "[c%ld]\ntype = LoopSender\nconnection_string = loop://x\n",
                    dir, 1 + round % 3, id);
            fclose(f);
            ipm_config *c = NULL;
            ok = ipm_config_load(path, &c) == IPM_OK && ipm_config_count(c) == 1;
            ipm_config_free(c);
        } else {
            /* Readers: the settings and the search path, and a search. */
            char buf[32];
            if (ipm_setting_get("loop_window", buf, sizeof buf))
                ok = buf[0] >= '1' && buf[0] <= '3' && buf[1] == '\0';
            char sp[16384];
            size_t n = ipm_plugin_search_path(sp, sizeof sp);
            ok = ok && n == strlen(sp);
            const ipm_plugin *d;
            char type[64];
            snprintf(type, sizeof type, "RelIni%ld_%d", id, round);
            ok = ok && ipm_plugin_load(type, &d) == IPM_ENOPLUGIN &&
                 strstr(ipm_last_error(), type);
        }
        if (!ok)
            fprintf(stderr, "ini thread %ld round %d: %s\n", id, round, ipm_last_error());
    }
    return (void *)(intptr_t)ok;
}

static void test_ini_race(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (long i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ini_loader, (void *)i), 0);
    int good = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        good += ok != NULL;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(good, THREADS);
}

static int cleanup(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    /* The search path is fixed before any thread runs: setenv is not
     * thread-safe against the loader's getenv. */
    char name[128];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/%s",
             ipm_test_unique(name, sizeof name, "loader"));
    if (mkdir(tmpdir, 0700) != 0) return 1;
    char path[1024];
    snprintf(path, sizeof path, "%s:%s/test_plugins", tmpdir, IPM_BINARY_DIR);
    setenv("IPM_PLUGIN_PATH", path, 1);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_load_race),
        cmocka_unit_test(test_failing_loads_race),
        cmocka_unit_test(test_ini_race),
    };
    return cmocka_run_group_tests_name("rel_threads_loader", tests, NULL, cleanup);
}
