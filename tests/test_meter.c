/*
 * test_meter.c — input meters (meter.h): levels from blocks fed through the capture
 * callback as a device would, peak since the last report (a short spike between two
 * updates is not lost), RMS, peak hold over 2 s, clipped samples, and the heartbeat
 * fields they fill.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_clock.h"
#include "capture_rt.h"
#include "meter.h"

#define RATE  48000
#define BLOCK 128

static node_capture_t s_cap;
static float s_ring[(1 << 14) * 2];
static node_block_t s_blocks[1024];

/* Feeds `blocks` blocks: ch0 a sine of amplitude `amp`, ch1 a square of amplitude `sq`. */
static void s_feed(int blocks, double amp, double sq)
{
    static uint64_t frame;
    float buf[BLOCK * 2];
    for (int b = 0; b < blocks; b++) {
        for (int i = 0; i < BLOCK; i++, frame++) {
            buf[i * 2] = (float)(amp * sin(2 * M_PI * 1000.0 * frame / RATE));
            buf[i * 2 + 1] = (float)(frame % 48 < 24 ? sq : -sq);
        }
        node_capture_rt_process(&s_cap, buf, NULL, BLOCK, 0, 0);
        node_ring_skip(&s_cap.audio, BLOCK); /* the recorder's part */
        node_ring_skip(&s_cap.blocks, 1);
    }
}

static void test_levels_hold_and_clips(void **state)
{
    assert_int_equal(node_capture_init(&s_cap, 2, RATE, s_ring, 1 << 14, s_blocks, 1024), 0);
    node_meter_t m;
    node_meter_init(&m, &s_cap);
    int64_t t = 1000 * BB_NS_PER_S;

    s_feed(40, 0.5, 1.0); /* ~100 ms: a -6 dBFS sine, a clipping square */
    node_meter_update(&m, t);
    Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;
    assert_true(node_meter_report(&m, &hb, t));
    assert_int_equal(hb.n_meters, 2);
    assert_float_equal(hb.meters[0]->peak_db, -6.02, 0.05);
    assert_float_equal(hb.meters[0]->rms_db, -9.03, 0.1);
    assert_float_equal(hb.meters[0]->peak_hold_db, -6.02, 0.05);
    assert_int_equal(hb.meters[0]->clipped_samples, 0);
    assert_float_equal(hb.meters[1]->peak_db, 0.0, 0.01);
    assert_int_equal(hb.meters[1]->clipped_samples, 40 * BLOCK);

    /* quiet now: the report's peak follows, the hold stays for 2 s */
    s_feed(40, 0.01, 0.0);
    node_meter_update(&m, t + 500 * BB_NS_PER_MS);
    assert_true(node_meter_report(&m, &hb, t + 500 * BB_NS_PER_MS));
    assert_float_equal(hb.meters[0]->peak_db, -40.0, 0.05);
    assert_float_equal(hb.meters[0]->peak_hold_db, -6.02, 0.05);
    assert_float_equal(hb.meters[1]->rms_db, NODE_METER_FLOOR_DB, 0.01);

    /* one loud block between two updates, then 100 ms quiet: the peak is not lost */
    s_feed(1, 0.9, 0.0);
    s_feed(40, 0.01, 0.0);
    node_meter_update(&m, t + 1000 * BB_NS_PER_MS);
    assert_true(node_meter_report(&m, &hb, t + 1000 * BB_NS_PER_MS));
    assert_true(hb.meters[0]->peak_db > -1.0);

    /* 2 s later the hold has let go */
    s_feed(40, 0.01, 0.0);
    node_meter_update(&m, t + 3100 * BB_NS_PER_MS);
    assert_true(node_meter_report(&m, &hb, t + 3100 * BB_NS_PER_MS));
    assert_float_equal(hb.meters[0]->peak_hold_db, -40.0, 0.05);
    node_meter_destroy(&m);
}

/* The node's main loop (the 50 Hz update) runs late on a busy host: a report between two
 * updates still carries the audio that arrived since the previous report, never -150 dBFS
 * of "silence". No audio at all since the previous report is no reading, until the audio
 * has been away for NODE_METER_STALE_MS (a stopped device), when the floor goes out. */
static void test_report_without_update(void **state)
{
    assert_int_equal(node_capture_init(&s_cap, 2, RATE, s_ring, 1 << 14, s_blocks, 1024), 0);
    node_meter_t m;
    node_meter_init(&m, &s_cap);
    int64_t t = 1000 * BB_NS_PER_S;
    Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;

    s_feed(40, 0.5, 0.0);
    node_meter_update(&m, t);
    assert_true(node_meter_report(&m, &hb, t));
    assert_float_equal(hb.meters[0]->peak_db, -6.02, 0.05);

    /* 100 ms of -40 dBFS, no update: the next report reads it */
    s_feed(40, 0.01, 0.0);
    assert_true(node_meter_report(&m, &hb, t + 100 * BB_NS_PER_MS));
    assert_float_equal(hb.meters[0]->peak_db, -40.0, 0.05);
    assert_float_equal(hb.meters[0]->rms_db, -43.0, 0.1);
    assert_float_equal(hb.meters[0]->peak_hold_db, -6.02, 0.05);

    /* no audio since: no reading, and the peak waits for the next one */
    node_meter_update(&m, t + 150 * BB_NS_PER_MS);
    assert_false(node_meter_report(&m, &hb, t + 200 * BB_NS_PER_MS));
    s_feed(4, 0.1, 0.0);
    assert_true(node_meter_report(&m, &hb, t + 300 * BB_NS_PER_MS));
    assert_float_equal(hb.meters[0]->peak_db, -20.0, 0.05);

    /* the audio stops for good: after NODE_METER_STALE_MS the floor is reported */
    assert_false(node_meter_report(&m, &hb, t + 900 * BB_NS_PER_MS));
    assert_true(node_meter_report(&m, &hb, t + (300 + NODE_METER_STALE_MS) * BB_NS_PER_MS));
    assert_float_equal(hb.meters[0]->peak_db, NODE_METER_FLOOR_DB, 0.01);
    node_meter_destroy(&m);
}

/* A block record that does not fit the block ring (the recorder fell behind on records
 * but not on audio) is counted as lost and as an overflow, never dropped silently. */
static void test_lost_block_record_counted(void **state)
{
    static node_capture_t cap;
    static float ring[(1 << 12) * 2];
    static node_block_t blocks[4];
    assert_int_equal(node_capture_init(&cap, 2, RATE, ring, 1 << 12, blocks, 4), 0);
    float buf[BLOCK * 2] = {0};
    for (int b = 0; b < 4; b++) {
        node_capture_rt_process(&cap, buf, NULL, BLOCK, 0, 0);
        node_ring_skip(&cap.audio, BLOCK); /* audio drained, block records not */
    }
    assert_int_equal(atomic_load(&cap.lost_blocks), 0);
    assert_int_equal(atomic_load(&cap.overflows), 0);
    node_capture_rt_process(&cap, buf, NULL, BLOCK, 0, 0);
    assert_int_equal(atomic_load(&cap.lost_blocks), 1);
    assert_int_equal(atomic_load(&cap.overflows), 1);
    assert_int_equal(atomic_load(&cap.dropped_frames), 0);
}

/* Resident pages of [p, p + len) (mincore). */
static size_t s_resident(void *p, size_t len, size_t page)
{
    size_t n = (len + page - 1) / page, count = 0;
    unsigned char *vec = calloc(n, 1);
    assert_non_null(vec);
    assert_int_equal(mincore(p, len, vec), 0);
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    free(vec);
    return count;
}

/* node_capture_prefault maps every page of both rings before the stream starts, so the
 * callback's first pass takes no page faults. */
static void test_prefault_maps_the_rings(void **state)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t frames = 1 << 15, audio_len = frames * 2 * sizeof(float);
    size_t blocks_len = 1024 * sizeof(node_block_t);
    void *audio = mmap(NULL, audio_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *blocks =
        mmap(NULL, blocks_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(audio != MAP_FAILED && blocks != MAP_FAILED);
    static node_capture_t cap;
    assert_int_equal(node_capture_init(&cap, 2, RATE, audio, (uint32_t)frames, blocks, 1024), 0);
    assert_int_equal(s_resident(audio, audio_len, page), 0);
    node_capture_prefault(&cap);
    assert_int_equal(s_resident(audio, audio_len, page), audio_len / page);
    assert_int_equal(s_resident(blocks, blocks_len, page), (blocks_len + page - 1) / page);
    munmap(audio, audio_len);
    munmap(blocks, blocks_len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_hold_and_clips),
        cmocka_unit_test(test_report_without_update),
        cmocka_unit_test(test_lost_block_record_counted),
        cmocka_unit_test(test_prefault_maps_the_rings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
