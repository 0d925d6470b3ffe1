/*
 * fuzz_shm_header.c — libFuzzer target for the shared-memory segment header
 * check of plugins/shm: what an attaching ShmSubscriber/ShmSender, or a
 * ShmPublisher/ShmReceiver reclaiming a stale name, does with whatever file
 * it finds at /dev/shm/NAME. Another user's process, a crashed writer or a
 * different ipm version can leave anything there; the plugin must refuse it
 * with a status, never trust a size or offset from it.
 *
 * Input: byte 0 selects the path, the rest is the file's content.
 *   bit 0: ring (ShmPublisher/Subscriber) or queue (ShmSender/Receiver) kind
 *   bit 1: patch owner_pid/owner_start to this process, so that a header
 *          that validates is also "alive" and the attach goes all the way
 *   bit 2: create (the reclaim path) instead of attach
 * On success the segment's mapping must cover [data, data + capacity).
 */
#define _GNU_SOURCE
#include "fuzz_plugins.h"
#include "shm_common.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char name[64], path[96];

static void cleanup(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(name, sizeof name, "ipm-fuzz-shm-%d", (int)getpid());
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    atexit(cleanup);
    return 0;
}

static void write_file(const uint8_t *data, size_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    close(fd);
}

static void check_segment(const ipm__shm_seg *s)
{
    const unsigned char *base = (const unsigned char *)s->hdr;
    FUZZ_CHECK(s->cap >= 4096 && (s->cap & (s->cap - 1)) == 0);
    FUZZ_CHECK(s->data >= base + sizeof(ipm__shm_header));
    uint64_t lanes = s->hdr->kind == IPM_SHM_KIND_QUEUE ? s->lanes : 1;
    FUZZ_CHECK(lanes >= 1 && lanes <= IPM_SHM_MAX_LANES);
    FUZZ_CHECK(s->data + lanes * s->cap == base + s->size);
    if (s->lane != NULL) FUZZ_CHECK((const unsigned char *)(s->lane + lanes) <= s->data);
    FUZZ_CHECK(ipm__shm_rec_len(IPM_SHM_MAX_METADATA, s->max_message_size) <= s->cap / 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    uint32_t kind = (flags & 1) ? IPM_SHM_KIND_RING : IPM_SHM_KIND_QUEUE;
    size--;
    data++;

    uint8_t *content = malloc(size ? size : 1);
    FUZZ_CHECK(content != NULL);
    memcpy(content, data, size);
    if ((flags & 2) && size >= sizeof(ipm__shm_header)) {
        int32_t pid = (int32_t)getpid();
        uint64_t start = ipm__shm_self_start();
        memcpy(content + offsetof(ipm__shm_header, owner_pid), &pid, sizeof pid);
        memcpy(content + offsetof(ipm__shm_header, owner_start), &start, sizeof start);
    }
    write_file(content, size);
    free(content);

    ipm_set_error(IPM_OK, "%s", "");
    ipm__shm_seg seg;
    memset(&seg, 0, sizeof seg);
    ipm_status st;
    if (flags & 4) {
        ipm__shm_config c;
        memset(&c, 0, sizeof c);
        snprintf(c.name, sizeof c.name, "%s", name);
        snprintf(c.endpoint, sizeof c.endpoint, "shm://%s", name);
        c.capacity = 4096;
        c.max_message_size = 1024;
        c.mode = 0600;
        c.lanes = 2;
        st = ipm__shm_create(&c, kind, "ShmFuzz", &seg);
    } else {
        st = ipm__shm_attach(name, kind, "ShmFuzz", NULL, &seg);
    }
    if (st == IPM_OK) {
        check_segment(&seg);
        ipm__shm_detach(&seg);
    } else {
        FUZZ_CHECK(st == IPM_ETIMEDOUT || st == IPM_ECONNECT || st == IPM_ESYS ||
                   st == IPM_ENOMEM);
        FUZZ_CHECK(*ipm_last_error() != '\0');
    }
    return 0;
}
