/*
 * Destroy returns within its bound after a subscriber's queue overflowed.
 *
 * libnng 1.5.2 (Debian 12) can block for ever in nng_close, on both ends,
 * after a publisher flooded a subscriber that read nothing (reproduced with
 * plain nng: pub0 -> sub0 over tcp, 16384 x 4 KiB, then nng_close; about
 * half the rounds hang; nanomsg/nng#1543, #1813). ipm closes on a helper
 * thread and gives up after IPM_NNG_CLOSE_BOUND_MS (plugins/nng/nng_common.c),
 * so ipm_*_destroy returns. Without that, this test hangs until ctest's
 * timeout. It does not call nng_fini at exit (nt_finish): nng_fini would
 * close the abandoned sockets and block on them the same way.
 */
#define _GNU_SOURCE
#include "nng_util.h"

#include <stdio.h>
#include <stdlib.h>

#define ROUNDS 6
#define FLOOD 16384
#define FLOOD_SIZE 4096
/* IPM_NNG_CLOSE_BOUND_MS (2 s) and room for a loaded machine. */
#define DESTROY_BOUND_MS 6000.0

static void test_destroy_after_overflow(void **state)
{
    (void)state;
    char *buf = calloc(1, FLOOD_SIZE);
    assert_non_null(buf);
    for (int round = 0; round < ROUNDS; round++) {
        ipm_sender *pub;
        ipm_receiver *sub;
        nt_pubsub("tcp://127.0.0.1:0", &pub, &sub, "");
        for (int i = 0; i < FLOOD; i++)
            IPM_ASSERT_OK(ipm_send(pub, buf, FLOOD_SIZE, IPM_NO_BLOCK, "flood"));
        double t0 = ipm_test_now_ms();
        ipm_receiver_destroy(sub);
        double t1 = ipm_test_now_ms();
        ipm_sender_destroy(pub);
        double t2 = ipm_test_now_ms();
        printf("[ close    ] round %d: subscriber destroyed in %.1f ms, publisher in %.1f ms\n",
               round, t1 - t0, t2 - t1);
        assert_true(t1 - t0 < DESTROY_BOUND_MS);
        assert_true(t2 - t1 < DESTROY_BOUND_MS);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destroy_after_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
