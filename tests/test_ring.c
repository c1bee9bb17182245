/*
 * test_ring.c — the SPSC ring: semantics on one thread, then a two-thread stress test
 * that checks every element arrives once, in order, with its contents intact.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "ring.h"

static void test_init_rejects_bad_sizes(void **state)
{
    node_ring_t r;
    uint8_t mem[64];
    assert_int_equal(node_ring_init(&r, mem, 4, 3), BB_EINVAL);
    assert_int_equal(node_ring_init(&r, mem, 0, 4), BB_EINVAL);
    assert_int_equal(node_ring_init(&r, NULL, 4, 4), BB_EINVAL);
    assert_int_equal(node_ring_init(&r, mem, 4, 16), 0);
    assert_int_equal(node_ring_storage_size(8, 16), 128);
}

static void test_fill_drain_wrap(void **state)
{
    node_ring_t r;
    float mem[8 * 2];
    assert_int_equal(node_ring_init(&r, mem, 2 * sizeof(float), 8), 0);
    assert_int_equal(node_ring_readable(&r), 0);
    assert_int_equal(node_ring_writable(&r), 8);
    float frames[20];
    for (int i = 0; i < 20; i++)
        frames[i] = (float)i;
    /* 5 frames in, 3 out, 6 more: the last ones wrap around the end */
    assert_int_equal(node_ring_write(&r, frames, 5), 5);
    float out[20] = {0};
    assert_int_equal(node_ring_read(&r, out, 3), 3);
    assert_true(out[0] == 0 && out[5] == 5);
    assert_int_equal(node_ring_write(&r, frames, 10), 6); /* only 6 fit */
    assert_int_equal(node_ring_writable(&r), 0);
    assert_int_equal(node_ring_write(&r, frames, 1), 0);
    assert_int_equal(node_ring_readable(&r), 8);
    memset(out, 0, sizeof out);
    assert_int_equal(node_ring_read(&r, out, 100), 8);
    /* frames 3,4 of the first write then 0..5 of the second */
    float expect[16] = {6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    assert_memory_equal(out, expect, sizeof expect);
    assert_int_equal(node_ring_read(&r, out, 1), 0);
}

static void test_skip_and_reset(void **state)
{
    node_ring_t r;
    uint32_t mem[16];
    node_ring_init(&r, mem, sizeof(uint32_t), 16);
    uint32_t v[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    node_ring_write(&r, v, 10);
    assert_int_equal(node_ring_skip(&r, 4), 4);
    uint32_t x;
    node_ring_read(&r, &x, 1);
    assert_int_equal(x, 4);
    node_ring_reset(&r);
    assert_int_equal(node_ring_readable(&r), 0);
    assert_int_equal(node_ring_skip(&r, 3), 0);
}

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer checks every element's hand-over (a relaxed head store fails at the
 * first one); 10x slower per element, so fewer suffice */
#define STRESS_ELEMENTS (200u * 1000)
#else
#define STRESS_ELEMENTS (4u * 1000 * 1000)
#endif

typedef struct {
    uint64_t seq;
    uint64_t check;
} s_elem_t;

static void *s_producer(void *arg)
{
    node_ring_t *r = arg;
    s_elem_t batch[97];
    uint64_t seq = 0;
    uint32_t rng = 12345;
    while (seq < STRESS_ELEMENTS) {
        rng = rng * 1103515245u + 12345u;
        size_t n = 1 + (rng >> 16) % 97;
        if (n > STRESS_ELEMENTS - seq)
            n = STRESS_ELEMENTS - seq;
        for (size_t i = 0; i < n; i++)
            batch[i] = (s_elem_t){seq + i, (seq + i) * 2654435761u ^ 0xABCDEF};
        size_t done = 0;
        while (done < n)
            done += node_ring_write(r, batch + done, n - done);
        seq += n;
    }
    return NULL;
}

static void test_two_thread_stress(void **state)
{
    node_ring_t r;
    size_t cap = 1024;
    void *mem = malloc(node_ring_storage_size(sizeof(s_elem_t), cap));
    node_ring_init(&r, mem, sizeof(s_elem_t), cap);
    pthread_t t;
    pthread_create(&t, NULL, s_producer, &r);
    uint64_t expect = 0, bad = 0;
    s_elem_t buf[61];
    uint32_t rng = 999;
    while (expect < STRESS_ELEMENTS) {
        rng = rng * 1103515245u + 12345u;
        size_t want = 1 + (rng >> 16) % 61;
        size_t got = node_ring_read(&r, buf, want);
        for (size_t i = 0; i < got; i++) {
            if (buf[i].seq != expect || buf[i].check != (expect * 2654435761u ^ 0xABCDEF))
                bad++;
            expect++;
        }
    }
    pthread_join(t, NULL);
    assert_int_equal(bad, 0);
    assert_int_equal(expect, STRESS_ELEMENTS);
    assert_int_equal(node_ring_readable(&r), 0);
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_sizes),
        cmocka_unit_test(test_fill_drain_wrap),
        cmocka_unit_test(test_skip_and_reset),
        cmocka_unit_test(test_two_thread_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
