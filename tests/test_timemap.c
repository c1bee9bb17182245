/*
 * test_timemap.c — node-clock time <-> stream frame from block records (timemap.h):
 * exact stamps, late stamps (jitter), an early outlier, and breaks in the stream (a full
 * ring, a reopened device).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bb_clock.h"
#include "timemap.h"

#define RATE  48000
#define BLOCK 256
#define T0    1000000000000LL /* an arbitrary origin, ns */

static int64_t s_t(int64_t origin, uint64_t frame)
{
    return origin + (int64_t)((double)frame * BB_NS_PER_S / RATE + 0.5);
}

static void s_add(node_timemap_t *m, uint64_t frame, int64_t adc, uint32_t flags)
{
    node_block_t b = {.frame = frame, .adc_ns = adc, .frames = BLOCK, .flags = flags};
    node_timemap_add(m, &b);
}

static void test_exact(void **state)
{
    node_timemap_t m;
    node_timemap_init(&m, RATE);
    assert_true(node_timemap_empty(&m));
    for (uint64_t f = 0; f < 100 * BLOCK; f += BLOCK)
        s_add(&m, f, s_t(T0, f), 0);
    assert_false(node_timemap_empty(&m));
    for (uint64_t f = 90 * BLOCK; f < 110 * BLOCK; f += 37) /* inside and past the newest */
        assert_int_equal(node_timemap_frame_at(&m, s_t(T0, f)), (int64_t)f);
    assert_true(llabs(node_timemap_time_at(&m, 12345) - s_t(T0, 12345)) <= 1);
}

static void test_late_stamps_and_an_early_one(void **state)
{
    node_timemap_t m;
    node_timemap_init(&m, RATE);
    srand(7);
    for (uint64_t f = 0; f < 200 * BLOCK; f += BLOCK) {
        int64_t late = (rand() % 4 == 0) ? 0 : (int64_t)(rand() % 3000) * 1000; /* 0..3 ms */
        if (f == 190 * BLOCK)
            late = -5 * BB_NS_PER_MS; /* one stamp out early */
        s_add(&m, f, s_t(T0, f) + late, 0);
    }
    for (uint64_t f = 180 * BLOCK; f < 205 * BLOCK; f += 101) {
        int64_t got = node_timemap_frame_at(&m, s_t(T0, f));
        assert_true(llabs(got - (int64_t)f) <= 1);
    }
}

static void test_breaks(void **state)
{
    node_timemap_t m;
    node_timemap_init(&m, RATE);
    uint64_t f = 0;
    for (; f < 20 * BLOCK; f += BLOCK)
        s_add(&m, f, s_t(T0, f), 0);
    /* the ring was full: this block lost 100 frames, so later frames are 100 "early" */
    s_add(&m, f, s_t(T0, f), NODE_CAPTURE_RING_FULL);
    int64_t t_before = s_t(T0, 10 * BLOCK);
    f += BLOCK;
    const int64_t t1 = T0 + 100 * BB_NS_PER_S / RATE; /* the origin after the loss */
    for (int i = 0; i < 20; i++, f += BLOCK)
        s_add(&m, f, s_t(t1, f), 0);
    assert_int_equal(node_timemap_frame_at(&m, s_t(t1, f - 10)), (int64_t)f - 10);
    assert_int_equal(node_timemap_frame_at(&m, t_before), 10 * BLOCK); /* old stretch */
    /* the device was reopened 3 s later: the frame count goes on, the time jumps */
    const int64_t t2 = t1 + 3 * BB_NS_PER_S;
    for (int i = 0; i < 10; i++, f += BLOCK)
        s_add(&m, f, s_t(t2, f), 0);
    assert_int_equal(node_timemap_frame_at(&m, s_t(t2, f - 3)), (int64_t)f - 3);
    assert_true(llabs(node_timemap_time_at(&m, (int64_t)f) - s_t(t2, f)) <= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_late_stamps_and_an_early_one),
        cmocka_unit_test(test_breaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
