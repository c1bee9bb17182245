/*
 * test_recorder_pass.c — the capture node's take passes (recorder_pass.h) on synthetic
 * audio with a known answer, fed into a small history ring in blocks as the recorder
 * thread feeds it: the noise floor of noise at a known level (loudest channel counts),
 * the room floor's creep and its refusal to rise on a decaying pre-roll, the release end
 * of an exponential decay against where the decay meets the quiet threshold, the cap,
 * the spool pass handing over exactly the take's frames across the ring's wrap, and the
 * held note's level at the key-up; and the wait for quiet before a take: where a decaying
 * tail reaches the floor (known floor), that it gives up at its limit, and that with no
 * floor known a decaying tail is never taken for the floor.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "recorder_pass.h"

#define RATE      48000
#define HIST_BITS 13 /* 8192 frames: takes wrap the ring many times */
#define BLOCK     256
#define PREROLL   4800 /* 100 ms */
#define NOISE_DB  (-80.0)
#define SINE_HZ   440.0
#define SINE_AMP  0.5
#define FLOOR_DB  NODE_REC_RELEASE_FLOOR_DB
#define WINDOW    (RATE * NODE_REC_WINDOW_MS / 1000)

/* Deterministic uniform noise in [-1, 1) (RMS 1/sqrt(3)). */
static uint32_t s_seed;
static double s_uniform(void)
{
    s_seed = s_seed * 1664525u + 1013904223u;
    return (double)(s_seed >> 8) / (double)(1u << 23) - 1.0;
}

/* Uniform noise at `db` dBFS RMS. */
static float s_noise(double db)
{
    return (float)(s_uniform() * sqrt(3.0) * pow(10.0, db / 20.0));
}

/* What one synthetic take sounds like; frame 0 is the take's first pre-roll frame. */
typedef struct {
    int channels;
    double noise_db[2];   /* per channel */
    double preroll_db[2]; /* when != 0: the pre-roll's first half is this loud instead */
    int64_t on, off;      /* frames */
    double decay_db_s;    /* after the note-off, dB per second */
} s_signal_t;

static float s_sample(const s_signal_t *sig, int64_t n, int c)
{
    double ndb = sig->noise_db[c];
    if (sig->preroll_db[c] != 0 && n < sig->on / 2)
        ndb = sig->preroll_db[c];
    double v = s_noise(ndb);
    if (c == 0 && n >= sig->on) {
        double amp = SINE_AMP;
        if (n >= sig->off)
            amp *= pow(10.0, -sig->decay_db_s * (double)(n - sig->off) / RATE / 20.0);
        v += amp * sin(2.0 * M_PI * SINE_HZ * (double)n / RATE);
    }
    return (float)v;
}

typedef struct {
    float *out; /* everything the spool pass handed over, interleaved */
    int64_t n, cap;
    int fail_after; /* > 0: the write after this many calls fails */
    int calls;
} s_sink_t;

static int s_write(void *arg, const float *frames, uint32_t n)
{
    s_sink_t *k = arg;
    if (k->fail_after > 0 && k->calls++ >= k->fail_after)
        return BB_EIO;
    assert_true(k->n + n <= k->cap);
    memcpy(k->out + k->n * 2, frames, (size_t)n * 2 * sizeof(float));
    k->n += n;
    return 0;
}

/* Feeds the signal block by block and runs the passes after each block, as the recorder
 * thread does, until the take ends or `frames` have been fed. Returns the pass state; the
 * sink (optional) receives the spooled frames. */
static bool s_room_may_rise; /* the take's wait for quiet ran out (room_may_rise) */

static node_take_pass_t s_run(const s_signal_t *sig, int64_t release_frames, int64_t frames,
                              node_room_floor_t *room, s_sink_t *sink, int *spool_rc)
{
    node_history_t h = {.cap = 1u << HIST_BITS, .mask = (1u << HIST_BITS) - 1, .channels = 2};
    h.frames = calloc(h.cap * 2, sizeof(float));
    assert_non_null(h.frames);
    node_take_pass_t t = NODE_TAKE_PASS_INIT;
    t.start_frame = 0;
    t.on_frame = sig->on;
    t.off_frame = sig->off;
    t.env_pos = sig->off;
    t.end_limit = sig->off + release_frames;
    t.room_may_rise = s_room_may_rise;
    s_seed = 12345;
    while (h.end < frames && !(t.end_frame >= 0 && t.written_until >= t.end_frame)) {
        for (int i = 0; i < BLOCK; i++, h.end++) {
            float *f = h.frames + ((uint64_t)h.end & h.mask) * 2;
            for (int c = 0; c < 2; c++)
                f[c] = c < sig->channels ? s_sample(sig, h.end, c) : 0.0f;
        }
        node_pass_noise(&t, &h, room);
        if (h.end >= sig->off) {
            node_pass_keyup(&t, &h, RATE);
            node_pass_release(&t, &h, RATE, FLOOR_DB);
        }
        if (sink) {
            int rc = node_pass_spool(&t, &h, s_write, sink);
            if (rc) {
                *spool_rc = rc;
                break;
            }
        }
        /* the recorder fails a take whose spool pass falls a ring behind */
        assert_true(!sink || t.written_until >= h.end - (int64_t)h.cap);
    }
    free(h.frames);
    return t;
}

static void test_noise_floor_of_known_noise(void **state)
{
    /* Stereo: -60 dBFS on the left, -70 on the right; the loudest channel counts. */
    s_signal_t sig = {.channels = 2,
                      .noise_db = {-60.0, -70.0},
                      .on = PREROLL,
                      .off = PREROLL + RATE / 10,
                      .decay_db_s = 200};
    node_room_floor_t room = {0};
    node_take_pass_t t = s_run(&sig, RATE, PREROLL + BLOCK, &room, NULL, NULL);
    assert_true(t.noise_done);
    assert_int_equal(t.noise_n, PREROLL);
    assert_true(fabs(t.noise_db - -60.0) < 0.3);
    assert_true(room.known && room.db == t.noise_db);

    /* Digital silence measures as the minimum floor. */
    sig.channels = 0;
    room = (node_room_floor_t){0};
    t = s_run(&sig, RATE, PREROLL + BLOCK, &room, NULL, NULL);
    assert_true(t.noise_db == NODE_REC_MIN_FLOOR_DB);
}

static void test_room_floor_creeps_and_ignores_tails(void **state)
{
    s_signal_t sig = {.channels = 1,
                      .noise_db = {-60.0},
                      .on = PREROLL,
                      .off = PREROLL + RATE / 10,
                      .decay_db_s = 200};
    node_room_floor_t room = {0};
    node_take_pass_t t = s_run(&sig, RATE, PREROLL + BLOCK, &room, NULL, NULL);
    double first = t.noise_db;

    /* A steady pre-roll 0.8 dB louder after a wait for quiet that succeeded: the end of the
     * instrument's own tail, not the room; the floor stays (no ratchet, take after take). */
    sig.noise_db[0] = -59.2;
    for (int k = 0; k < 5; k++) {
        t = s_run(&sig, RATE, PREROLL + BLOCK, &room, NULL, NULL);
        assert_true(room.db == first);
        assert_true(t.noise_db == first);
        assert_true(fabs(t.preroll_db - -59.2) < 0.3); /* its own level is still reported */
    }

    /* A steady room 10 dB louder, after a wait for quiet that ran out: the floor rises by
     * the creep only. */
    sig.noise_db[0] = -50.0;
    s_room_may_rise = true;
    t = s_run(&sig, RATE, PREROLL + BLOCK, &room, NULL, NULL);
    assert_true(fabs(room.db - (first + NODE_REC_FLOOR_CREEP_DB)) < 1e-9);
    assert_true(t.noise_db == room.db);

    /* A pre-roll that still holds a tail (first half 20 dB louder): not steady, the
     * floor stays where it was and the take is judged by it. */
    double before = room.db;
    sig.noise_db[0] = -60.0;
    sig.preroll_db[0] = -40.0;
    t = s_run(&sig, RATE, PREROLL + BLOCK, &room, NULL, NULL);
    assert_true(room.db == before);
    assert_true(t.noise_db == before);

    /* A quieter room lowers it at once. */
    sig.noise_db[0] = -75.0;
    sig.preroll_db[0] = 0;
    t = s_run(&sig, RATE, PREROLL + BLOCK, &room, NULL, NULL);
    assert_true(fabs(room.db - -75.0) < 0.3);
    s_room_may_rise = false;
}

static void test_release_end_of_known_decay(void **state)
{
    /* A -9 dBFS RMS sine decaying 60 dB/s over -80 dBFS noise. Quiet means a window at
     * most FLOOR_DB over the noise: the sine's power is then at most (10^0.6 - 1) times
     * the noise's. The take ends NODE_REC_QUIET_MS of quiet windows after that. */
    const double decay = 60.0;
    s_signal_t sig = {.channels = 1,
                      .noise_db = {NOISE_DB},
                      .on = PREROLL,
                      .off = PREROLL + RATE / 2,
                      .decay_db_s = decay};
    double sine_db = 20.0 * log10(SINE_AMP / sqrt(2.0));
    double quiet_sine_db = NOISE_DB + 10.0 * log10(pow(10.0, FLOOR_DB / 10.0) - 1.0);
    int64_t quiet_at = sig.off + (int64_t)llround((sine_db - quiet_sine_db) / decay * RATE);
    int64_t expect = quiet_at + RATE * NODE_REC_QUIET_MS / 1000;

    node_room_floor_t room = {0};
    int64_t max_release = 3 * RATE;
    node_take_pass_t t = s_run(&sig, max_release, sig.off + max_release + RATE, &room, NULL, NULL);
    assert_true(fabs(t.noise_db - NOISE_DB) < 0.3);
    assert_true(t.end_frame >= 0);
    assert_false(t.capped);
    /* within two 10 ms windows of the prediction */
    if (llabs(t.end_frame - expect) > 2 * WINDOW)
        fail_msg("release end at frame %lld, expected %lld +- %d", (long long)t.end_frame,
                 (long long)expect, 2 * WINDOW);
    /* the end sits on the window grid that starts at the note-off */
    assert_int_equal((t.end_frame - sig.off) % WINDOW, 0);
}

static void test_release_capped_at_the_maximum(void **state)
{
    /* 10 dB/s would need seconds; the plan allows 400 ms. */
    s_signal_t sig = {.channels = 1,
                      .noise_db = {NOISE_DB},
                      .on = PREROLL,
                      .off = PREROLL + RATE / 4,
                      .decay_db_s = 10.0};
    node_room_floor_t room = {0};
    int64_t max_release = RATE * 4 / 10;
    node_take_pass_t t = s_run(&sig, max_release, sig.off + 2 * RATE, &room, NULL, NULL);
    assert_true(t.capped);
    assert_int_equal(t.end_frame, sig.off + max_release);
}

static void test_keyup_level_is_the_held_note(void **state)
{
    /* A -9 dBFS RMS sine held to the note-off, then falling fast: the key-up level is the
     * held note's, whatever follows; a release sample starts from it. */
    double sine_db = 20.0 * log10(SINE_AMP / sqrt(2.0));
    const double decays[] = {60.0, 600.0};
    for (size_t i = 0; i < sizeof decays / sizeof *decays; i++) {
        s_signal_t sig = {.channels = 1,
                          .noise_db = {NOISE_DB},
                          .on = PREROLL,
                          .off = PREROLL + RATE / 2 + 37, /* not on a block boundary */
                          .decay_db_s = decays[i]};
        node_room_floor_t room = {0};
        node_take_pass_t t = s_run(&sig, 2 * RATE, sig.off + 3 * RATE, &room, NULL, NULL);
        assert_true(t.keyup_done);
        if (fabs(t.keyup_db - sine_db) > 0.1)
            fail_msg("key-up level %.2f dBFS, the held sine is %.2f", t.keyup_db, sine_db);
    }
    /* before the history holds the window it stays unmeasured */
    node_history_t h = {.cap = 1u << HIST_BITS, .mask = (1u << HIST_BITS) - 1, .channels = 1};
    float frames[1u << HIST_BITS] = {0};
    h.frames = frames;
    h.end = 1000;
    node_take_pass_t t = NODE_TAKE_PASS_INIT;
    t.off_frame = 1200;
    node_pass_keyup(&t, &h, RATE);
    assert_false(t.keyup_done);
}

static void test_spool_pass_hands_over_the_take(void **state)
{
    s_signal_t sig = {.channels = 2,
                      .noise_db = {-60.0, -66.0},
                      .on = PREROLL,
                      .off = PREROLL + RATE / 5,
                      .decay_db_s = 120.0};
    s_sink_t sink = {.cap = 4 * RATE};
    sink.out = calloc((size_t)sink.cap * 2, sizeof(float));
    assert_non_null(sink.out);
    node_room_floor_t room = {0};
    int rc = 0;
    node_take_pass_t t = s_run(&sig, 2 * RATE, 4 * RATE, &room, &sink, &rc);
    assert_int_equal(rc, 0);
    assert_true(t.end_frame > sig.off);
    assert_int_equal(t.written_until, t.end_frame);
    assert_int_equal(sink.n, t.end_frame - t.start_frame);
    /* frame for frame what the signal was (same noise sequence) */
    s_seed = 12345;
    for (int64_t n = 0; n < sink.n; n++)
        for (int c = 0; c < 2; c++) {
            float want = s_sample(&sig, n, c);
            if (sink.out[n * 2 + c] != want)
                fail_msg("frame %lld channel %d: %g, expected %g", (long long)n, c,
                         sink.out[n * 2 + c], want);
        }

    /* A failing writer stops the pass where it failed and passes its error on. */
    sink = (s_sink_t){.out = sink.out, .cap = 4 * RATE, .fail_after = 3};
    room = (node_room_floor_t){0};
    t = s_run(&sig, 2 * RATE, 4 * RATE, &room, &sink, &rc);
    assert_int_equal(rc, BB_EIO);
    assert_int_equal(t.written_until, sink.n);
    free(sink.out);
}

/* ---- waiting for quiet ---- */

/* Noise at noise_db plus a sine whose RMS is tail_db at frame 0, falling decay dB/s;
 * fed in blocks to node_pass_quiet (scan from frame 0) until it decides or `frames`. */
static node_quiet_pass_t s_quiet_run(double noise_db, double tail_db, double decay, bool known,
                                     double floor_db, int64_t limit, int64_t frames)
{
    node_history_t h = {.cap = 1u << HIST_BITS, .mask = (1u << HIST_BITS) - 1, .channels = 1};
    h.frames = calloc(h.cap, sizeof(float));
    assert_non_null(h.frames);
    node_quiet_pass_t q = NODE_QUIET_PASS_INIT;
    q.pos = 0;
    q.limit = limit;
    q.floor_known = known;
    q.floor_db = floor_db;
    s_seed = 777;
    double amp0 = sqrt(2.0) * pow(10.0, tail_db / 20.0);
    while (h.end < frames && q.quiet_at < 0) {
        for (int i = 0; i < BLOCK; i++, h.end++) {
            double amp = amp0 * pow(10.0, -decay * (double)h.end / RATE / 20.0);
            h.frames[(uint64_t)h.end & h.mask] =
                s_noise(noise_db) + (float)(amp * sin(2.0 * M_PI * SINE_HZ * (double)h.end / RATE));
        }
        node_pass_quiet(&q, &h, RATE);
    }
    free(h.frames);
    return q;
}

/* The tail's mean power (relative to the noise's) over [a, b) seconds. */
static double s_tail_mean(double noise_db, double tail_db, double decay, double a, double b)
{
    double k = decay * log(10.0) / 10.0; /* power falls as exp(-k t) */
    double p0 = pow(10.0, (tail_db - noise_db) / 10.0);
    return p0 * (exp(-k * a) - exp(-k * b)) / (k * (b - a));
}

static void test_quiet_where_the_tail_meets_the_floor(void **state)
{
    /* A -30 dBFS RMS tail falling 40 dB/s over -80 dBFS noise, the floor known: quiet at the
     * first window end where the last span averages within the margin of the floor,
     * which is where the tail's mean power over that span is (10^(margin/10) - 1) of the
     * noise's. Predicted on the same 10 ms grid, to within two windows. */
    const double noise = -80.0, tail = -30.0, decay = 40.0;
    const double span = NODE_REC_QUIET_SPAN_MS / 1000.0;
    double allow = pow(10.0, NODE_REC_QUIET_MARGIN_DB / 10.0) - 1.0;
    int64_t expect = -1;
    for (int64_t w = WINDOW; expect < 0; w += WINDOW) {
        double b = (double)w / RATE;
        if (b >= span && s_tail_mean(noise, tail, decay, b - span, b) <= allow)
            expect = w;
    }
    node_quiet_pass_t q = s_quiet_run(noise, tail, decay, true, noise, 10 * RATE, 10 * RATE);
    assert_false(q.timed_out);
    if (llabs(q.quiet_at - expect) > 2 * WINDOW)
        fail_msg("quiet at frame %lld, expected %lld +- %d", (long long)q.quiet_at,
                 (long long)expect, 2 * WINDOW);
    assert_true(q.level_db <= noise + NODE_REC_QUIET_MARGIN_DB);
    /* a second of waiting at least: the tail was 50 dB over the floor */
    assert_true(q.quiet_at > RATE);

    /* Already quiet: decided after one span. */
    q = s_quiet_run(noise, -200.0, 0.0, true, noise, 10 * RATE, 10 * RATE);
    assert_false(q.timed_out);
    assert_int_equal(q.quiet_at, RATE * NODE_REC_QUIET_SPAN_MS / 1000);
}

static void test_quiet_gives_up_at_the_limit(void **state)
{
    /* A tail falling 2 dB/s from -30 dBFS would take 24 s; the wait allows 1 s. */
    node_quiet_pass_t q = s_quiet_run(-80.0, -30.0, 2.0, true, -80.0, RATE, 3 * RATE);
    assert_true(q.timed_out);
    assert_true(q.quiet_at >= RATE && q.quiet_at < RATE + WINDOW);
    assert_true(q.level_db > -35.0); /* what it was still sounding at */
}

static void test_quiet_unknown_floor_is_not_a_tail(void **state)
{
    /* No floor known yet (a first take): a steady stretch is the floor, a decaying tail is
     * not. Not before the tail has fallen well under the noise: while it is as loud as the
     * noise, two spans 100 ms apart differ by more than NODE_REC_STEADY_DB. */
    const double noise = -80.0, tail = -40.0, decay = 20.0;
    node_quiet_pass_t q = s_quiet_run(noise, tail, decay, false, 0, 10 * RATE, 10 * RATE);
    assert_false(q.timed_out);
    double tail_at = tail - decay * (double)q.quiet_at / RATE; /* dBFS when found quiet */
    if (tail_at > noise - 3.0)
        fail_msg("taken for steady at %.2f s with the tail at %.1f dBFS over -80 dBFS noise",
                 (double)q.quiet_at / RATE, tail_at);
    /* steady noise alone: decided after two spans */
    q = s_quiet_run(noise, -200.0, 0.0, false, 0, 10 * RATE, 10 * RATE);
    assert_int_equal(q.quiet_at, 2 * RATE * NODE_REC_QUIET_SPAN_MS / 1000);
    assert_true(fabs(q.level_db - noise) < 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_floor_of_known_noise),
        cmocka_unit_test(test_room_floor_creeps_and_ignores_tails),
        cmocka_unit_test(test_release_end_of_known_decay),
        cmocka_unit_test(test_release_capped_at_the_maximum),
        cmocka_unit_test(test_keyup_level_is_the_held_note),
        cmocka_unit_test(test_spool_pass_hands_over_the_take),
        cmocka_unit_test(test_quiet_where_the_tail_meets_the_floor),
        cmocka_unit_test(test_quiet_gives_up_at_the_limit),
        cmocka_unit_test(test_quiet_unknown_floor_is_not_a_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
