/*
 * Crashes and clean-up: kill -9 of a publisher (subscribers report it and
 * continue with its successor, no manual clean-up), kill -9 of a subscriber
 * (the publisher is unaffected), foreign/corrupt/other-version segments,
 * permissions, and "the last one out removes the segment".
 */
#define _GNU_SOURCE
#include "ipm_test.h"
#include "shm_util.h"

#include "shm_common.h" /* the segment layout, to inspect and corrupt it */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GEN2 2000

typedef struct proc_arg {
    const char *name;
    shm_t_pipe *up;   /* child -> parent */
    shm_t_pipe *down; /* parent -> child */
} proc_arg;

/* Publishes "1:<n>" every 100 us until killed. */
static int first_publisher(void *p)
{
    proc_arg *a = p;
    ipm_sender *pub;
    if (shm_t_open_sender("ShmPublisher", a->name, NULL, &pub) != IPM_OK) return 10;
    shm_t_put(a->up, 'p');
    for (uint32_t n = 0;; n++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "1:%u", n);
        ipm_send(pub, buf, (size_t)len, 0, "gen1");
        struct timespec ts = {0, 100 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Publishes GEN2 messages "2:<n>", then stays until told to go. */
static int second_publisher(void *p)
{
    proc_arg *a = p;
    ipm_sender *pub;
    if (shm_t_open_sender("ShmPublisher", a->name, NULL, &pub) != IPM_OK) {
        fprintf(stderr, "second publisher: %s\n", ipm_last_error());
        return 10;
    }
    for (uint32_t n = 0; n < GEN2; n++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "2:%u", n);
        if (ipm_send(pub, buf, (size_t)len, 0, "gen2") != IPM_OK) return 11;
    }
    shm_t_get(a->down, 30000);
    ipm_sender_destroy(pub);
    return 0;
}

/* Receives (blocking) gen1 messages, then exactly one IPM_ECONNECT, then
 * all GEN2 messages of the successor in order. */
static int surviving_subscriber(void *p)
{
    proc_arg *a = p;
    ipm_receiver *r;
    if (shm_t_open_receiver("ShmSubscriber", a->name, "topics=", &r) != IPM_OK) return 20;
    int gen1 = 0, lost = 0;
    uint32_t next2 = 0;
    while (next2 < GEN2) {
        ipm_message m;
        ipm_status st = ipm_receive(r, &m, IPM_BLOCK);
        if (st == IPM_ECONNECT) {
            lost++;
            continue;
        }
        if (st != IPM_OK) {
            fprintf(stderr, "subscriber: %s\n", ipm_last_error());
            return 21;
        }
        unsigned g, n;
        char text[32] = {0};
        memcpy(text, m.data, m.size < 31 ? m.size : 31);
        ipm_message_release(&m);
        if (sscanf(text, "%u:%u", &g, &n) != 2) return 22;
        if (g == 1) {
            if (lost || next2) return 23;           /* old publisher after the new one */
            if (++gen1 == 1) shm_t_put(a->up, 's'); /* attached and receiving */
        } else if (n != next2++) {
            fprintf(stderr, "subscriber: gen2 %u, want %u\n", n, next2 - 1);
            return 24;
        }
    }
    if (lost != 1) {
        fprintf(stderr, "subscriber: %d ECONNECT\n", lost);
        return 25;
    }
    ipm_receiver_destroy(r);
    return 0;
}

static void test_publisher_kill9(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "pkill");
    shm_t_pipe up, down;
    shm_t_pipe_open(&up);
    shm_t_pipe_open(&down);
    proc_arg a = {name, &up, &down};
    pid_t pub = ipm_test_fork(first_publisher, &a);
    assert_int_equal(shm_t_get(&up, 10000), 'p');
    pid_t subs[2];
    for (int i = 0; i < 2; i++)
        subs[i] = ipm_test_fork(surviving_subscriber, &a);
    for (int i = 0; i < 2; i++)
        assert_int_equal(shm_t_get(&up, 10000), 's');

    kill(pub, SIGKILL);
    waitpid(pub, NULL, 0);
    assert_true(shm_t_exists(name, NULL)); /* left behind by the crash */
    shm_t_sleep_ms(30);
    pid_t pub2 = ipm_test_fork(second_publisher, &a);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ipm_test_wait(subs[i], 30000), 0);
    shm_t_put(&down, 'q');
    assert_int_equal(ipm_test_wait(pub2, 10000), 0);
    assert_false(shm_t_exists(name, NULL));
    shm_t_pipe_close(&up);
    shm_t_pipe_close(&down);
}

/* A subscriber alone after its publisher's crash notices it within the
 * liveness interval even in a blocking receive, and removes the stale name. */
static void test_publisher_kill9_no_successor(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "alone");
    shm_t_pipe up, down;
    shm_t_pipe_open(&up);
    shm_t_pipe_open(&down);
    proc_arg a = {name, &up, &down};
    pid_t pub = ipm_test_fork(first_publisher, &a);
    assert_int_equal(shm_t_get(&up, 10000), 'p');
    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, "topics=", &r));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 5000));
    ipm_message_release(&m);
    kill(pub, SIGKILL);
    waitpid(pub, NULL, 0);
    double t0 = ipm_test_now_ms();
    ipm_status st;
    while ((st = ipm_receive(r, &m, IPM_BLOCK)) == IPM_OK)
        ipm_message_release(&m);
    double el = ipm_test_now_ms() - t0;
    if (st != IPM_ECONNECT || strstr(ipm_last_error(), "died") == NULL)
        fail_msg("%s: %s", ipm_strerror(st), ipm_last_error());
    assert_true(el < 1000);
    assert_false(shm_t_exists(name, NULL));
    /* The loss was said once; a wait longer than the core's 50 ms slices
     * then times out, and its message keeps why the last slice got
     * nothing. */
    IPM_ASSERT_ERR(ipm_receive(r, &m, 300), IPM_ETIMEDOUT,
                   "within 300 ms; the last try said: ShmSubscriber");
    assert_non_null(strstr(ipm_last_error(), "its ShmPublisher is gone"));
    printf("[ reason   ] %s\n", ipm_last_error());
    ipm_receiver_destroy(r);
    shm_t_pipe_close(&up);
    shm_t_pipe_close(&down);
}

static int sleeping_subscriber(void *p)
{
    proc_arg *a = p;
    ipm_receiver *r;
    if (shm_t_open_receiver("ShmSubscriber", a->name, "topics=none", &r) != IPM_OK)
        return 30;
    shm_t_put(a->up, 's');
    ipm_message m;
    for (;;) /* nothing matches: sleeps in receive until killed */
        if (ipm_receive(r, &m, IPM_BLOCK) == IPM_OK) ipm_message_release(&m);
}

static ipm__shm_header *map_header(const char *name, int *fd)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    *fd = open(path, O_RDWR);
    if (*fd < 0) return NULL;
    void *m =
        mmap(NULL, sizeof(ipm__shm_header), PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    return m == MAP_FAILED ? NULL : m;
}

/* kill -9 of a subscriber asleep in receive: the publisher stops paying for
 * wake-ups (the dead sleeper is uncounted) and a new subscriber works. */
static void test_subscriber_kill9(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "skill");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, "buffer_size=64Ki", &pub));
    shm_t_pipe up, down;
    shm_t_pipe_open(&up);
    shm_t_pipe_open(&down);
    proc_arg a = {name, &up, &down};
    pid_t sub = ipm_test_fork(sleeping_subscriber, &a);
    assert_int_equal(shm_t_get(&up, 10000), 's');
    int fd;
    ipm__shm_header *h = map_header(name, &fd);
    assert_non_null(h);
    /* A ring's sleepers flag themselves in its wake area (SysV shm). */
    ipm__shm_wake *w = shmat(h->wake_id, NULL, 0);
    if (w == (void *)-1) kill(sub, SIGKILL);
    assert_true(w != (void *)-1);
    for (int k = 0; k < 500 && atomic_load(&w->data_waiters) == 0; k++)
        shm_t_sleep_ms(2);
    uint32_t flagged = atomic_load(&w->data_waiters);
    kill(sub, SIGKILL);
    waitpid(sub, NULL, 0);
    assert_int_equal(flagged, 1);

    char buf[64] = {0};
    for (int i = 0; i < 100000; i++)
        IPM_ASSERT_OK(ipm_send(pub, buf, sizeof buf, 0, "x"));
    assert_int_equal(atomic_load(&w->data_waiters), 0);
    shmdt(w);

    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, "topics=", &r));
    IPM_ASSERT_OK(ipm_send(pub, "after", 5, 0, "x"));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "after", 5);
    ipm_message_release(&m);
    ipm_receiver_destroy(r);
    munmap(h, sizeof *h);
    close(fd);
    ipm_sender_destroy(pub);
    shm_t_pipe_close(&up);
    shm_t_pipe_close(&down);
}

/* Garbage in /dev/shm/NAME is refused by every type, and left alone. */
static void test_foreign_segment(void **state)
{
    (void)state;
    static const size_t sizes[] = {3, 100000};
    for (int i = 0; i < 2; i++) {
        char name[96];
        ipm_test_unique(name, sizeof name, "foreign");
        shm_t_write_garbage(name, sizes[i]);
        ipm_sender *s;
        ipm_receiver *r;
        const char *why = "not an ipm shared-memory segment";
        IPM_ASSERT_ERR(shm_t_open_sender("ShmPublisher", name, NULL, &s), IPM_ECONNECT,
                       why);
        IPM_ASSERT_ERR(shm_t_open_receiver("ShmSubscriber", name, NULL, &r), IPM_ECONNECT,
                       why);
        IPM_ASSERT_ERR(shm_t_open_receiver("ShmReceiver", name, NULL, &r), IPM_ECONNECT,
                       why);
        IPM_ASSERT_ERR(shm_t_open_sender("ShmSender", name, NULL, &s), IPM_ECONNECT, why);
        assert_non_null(strstr(ipm_last_error(), name));
        assert_true(shm_t_exists(name, NULL));
        shm_t_unlink(name);
    }
}

/* Another layout version, and a corrupt header, are refused clearly. */
static void test_version_and_corruption(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "version");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, NULL, &pub));
    int fd;
    ipm__shm_header *h = map_header(name, &fd);
    assert_non_null(h);
    ipm_receiver *r;
    h->version = 99;
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmSubscriber", name, NULL, &r), IPM_ECONNECT,
                   "layout version 99");
    h->version = IPM_SHM_VERSION;
    h->capacity = 12345;
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmSubscriber", name, NULL, &r), IPM_ECONNECT,
                   "corrupt");
    munmap(h, sizeof *h);
    close(fd);
    ipm_sender_destroy(pub);
    assert_false(shm_t_exists(name, NULL));
}

static void test_live_owner_and_kind(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "live");
    ipm_sender *pub, *pub2;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, NULL, &pub));
    IPM_ASSERT_ERR(shm_t_open_sender("ShmPublisher", name, NULL, &pub2), IPM_ECONNECT,
                   "live ShmPublisher");
    ipm_receiver *r;
    IPM_ASSERT_ERR(shm_t_open_receiver("ShmReceiver", name, NULL, &r), IPM_ECONNECT,
                   "not a ShmReceiver queue");
    ipm_sender_destroy(pub);
}

static void test_permissions(void **state)
{
    (void)state;
    char name[96];
    unsigned mode = 0;
    ipm_test_unique(name, sizeof name, "perm");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, NULL, &pub));
    assert_true(shm_t_exists(name, &mode));
    assert_int_equal(mode, 0600);
    ipm_sender_destroy(pub);
    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmReceiver", name, "permissions=0660", &r));
    assert_true(shm_t_exists(name, &mode));
    assert_int_equal(mode, 0660);
    ipm_receiver_destroy(r);
    IPM_ASSERT_ERR(shm_t_open_sender("ShmPublisher", name, "permissions=999", &pub),
                   IPM_ECONFIG, "permissions");
    IPM_ASSERT_ERR(shm_t_open_sender("ShmPublisher", name, "permissions=0444", &pub),
                   IPM_ECONFIG, "permissions");
}

/* The owner leaving removes the name at once; a subscriber still attached
 * reads what is left, then is told; nothing is left in /dev/shm. */
static void test_last_one_out(void **state)
{
    (void)state;
    char name[96];
    ipm_test_unique(name, sizeof name, "last");
    ipm_sender *pub;
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, NULL, &pub));
    ipm_receiver *r;
    IPM_ASSERT_OK(shm_t_open_receiver("ShmSubscriber", name, "topics=", &r));
    IPM_ASSERT_OK(ipm_send(pub, "left", 4, 0, "t"));
    ipm_sender_destroy(pub);
    assert_false(shm_t_exists(name, NULL));
    ipm_message m;
    IPM_ASSERT_OK(ipm_receive(r, &m, 0));
    assert_memory_equal(m.data, "left", 4);
    ipm_message_release(&m);
    IPM_ASSERT_ERR(ipm_receive(r, &m, 1000), IPM_ECONNECT, "closed");
    /* A message may outlive its receiver. */
    IPM_ASSERT_OK(shm_t_open_sender("ShmPublisher", name, NULL, &pub));
    IPM_ASSERT_OK(ipm_send(pub, "new", 3, 0, "t"));
    IPM_ASSERT_OK(ipm_receive(r, &m, 1000));
    assert_memory_equal(m.data, "new", 3);
    ipm_receiver_destroy(r);
    assert_memory_equal(m.data, "new", 3);
    ipm_message_release(&m);
    ipm_sender_destroy(pub);
    assert_false(shm_t_exists(name, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publisher_kill9),
        cmocka_unit_test(test_publisher_kill9_no_successor),
        cmocka_unit_test(test_subscriber_kill9),
        cmocka_unit_test(test_foreign_segment),
        cmocka_unit_test(test_version_and_corruption),
        cmocka_unit_test(test_live_owner_and_kind),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_last_one_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
