/*
 * test_sim.c — the simulated instrument: preset names, config checks, sample-exact event
 * placement with and without latency, pitch, velocity curve, CC volume, noise floor,
 * stereo, faults, release/END truth, late and future events, channel filter, voice
 * stealing and retrigger. A small rig renders blocks of BLOCK frames from a made-up
 * node-clock origin, the way the virtual audio backend does, into one long buffer and
 * collects the truth records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "sim_instrument.h"

#define RATE        48000
#define BLOCK       256
#define ORIGIN_NS   5000000000LL /* node-clock time of frame 0 */
#define MAX_SECONDS 8
#define MAX_TRUTH   512
#define QUIET_DB    -300.0 /* no noise at all */

/* ---- rig ---- */

typedef struct {
    node_sim_t *sim;
    uint32_t ch;
    uint64_t frame; /* frames rendered so far */
    float *buf;     /* interleaved, MAX_SECONDS long */
    node_sim_truth_t truth[MAX_TRUTH];
    size_t ntruth;
} rig_t;

static node_sim_config_t s_cfg(node_sim_preset_t preset)
{
    node_sim_config_t c = NODE_SIM_CONFIG_INIT;
    c.preset = preset;
    c.sample_rate = RATE;
    c.channels = 1;
    c.latency_ms = 0;
    c.noise_floor_db = QUIET_DB;
    return c;
}

static void s_rig_open(rig_t *r, const node_sim_config_t *c)
{
    memset(r, 0, sizeof *r);
    r->sim = node_sim_new(c);
    assert_non_null(r->sim);
    r->ch = c->channels;
    r->buf = calloc((size_t)RATE * MAX_SECONDS * r->ch, sizeof(float));
    assert_non_null(r->buf);
}

static void s_rig_close(rig_t *r)
{
    node_sim_destroy(&r->sim);
    assert_null(r->sim);
    free(r->buf);
}

static int64_t s_time_of(uint64_t frame)
{
    return ORIGIN_NS + (int64_t)((double)frame * 1e9 / RATE);
}

/* Renders `frames` more frames (whole blocks), collecting truth after each block. */
static void s_render(rig_t *r, uint64_t frames)
{
    uint64_t end = r->frame + frames;
    assert_true(end <= (uint64_t)RATE * MAX_SECONDS);
    while (r->frame < end) {
        node_sim_render(r->sim, r->buf + r->frame * r->ch, BLOCK, r->frame, s_time_of(r->frame));
        r->frame += BLOCK;
        node_sim_truth_t t;
        while (node_sim_truth_pop(r->sim, &t)) {
            assert_true(r->ntruth < MAX_TRUTH);
            r->truth[r->ntruth++] = t;
        }
    }
}

static void s_midi(rig_t *r, uint8_t status, uint8_t d1, uint8_t d2, int64_t t)
{
    uint8_t msg[3] = {status, d1, d2};
    assert_int_equal(node_sim_midi_in(r->sim, msg, 3, t), 0);
}

static void s_on(rig_t *r, uint8_t note, uint8_t vel, int64_t t)
{
    s_midi(r, 0x90, note, vel, t);
}

static void s_off(rig_t *r, uint8_t note, int64_t t)
{
    s_midi(r, 0x80, note, 0, t);
}

/* The n-th (0-based) truth record of `kind`, or NULL. */
static const node_sim_truth_t *s_find(const rig_t *r, node_sim_truth_kind_t kind, int n)
{
    for (size_t i = 0; i < r->ntruth; i++)
        if (r->truth[i].kind == kind && n-- == 0)
            return &r->truth[i];
    return NULL;
}

static size_t s_count(const rig_t *r, node_sim_truth_kind_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < r->ntruth; i++)
        n += r->truth[i].kind == kind;
    return n;
}

/* ---- measurements (channel 0) ---- */

static double s_peak(const rig_t *r, uint64_t from, uint64_t to)
{
    double p = 0;
    for (uint64_t i = from; i < to; i++)
        p = fmax(p, fabs(r->buf[i * r->ch]));
    return p;
}

static double s_rms_db(const rig_t *r, uint64_t from, uint64_t to)
{
    double s = 0;
    for (uint64_t i = from; i < to; i++)
        s += (double)r->buf[i * r->ch] * r->buf[i * r->ch];
    return 10 * log10(s / (double)(to - from));
}

static double s_mean(const rig_t *r, uint64_t from, uint64_t to)
{
    double s = 0;
    for (uint64_t i = from; i < to; i++)
        s += r->buf[i * r->ch];
    return s / (double)(to - from);
}

/* First frame at or after `from` whose magnitude exceeds `level`, or UINT64_MAX. */
static uint64_t s_first_above(const rig_t *r, uint64_t from, double level)
{
    for (uint64_t i = from; i < r->frame; i++)
        if (fabs(r->buf[i * r->ch]) > level)
            return i;
    return UINT64_MAX;
}

/* Longest run of frames satisfying pred in [from, to). */
static uint64_t s_longest_run(const rig_t *r, uint64_t from, uint64_t to, bool zero_run)
{
    uint64_t best = 0, run = 0;
    for (uint64_t i = from; i < to; i++) {
        float x = r->buf[i * r->ch];
        bool hit = zero_run ? x == 0.0f : fabsf(x) == 1.0f;
        run = hit ? run + 1 : 0;
        if (run > best)
            best = run;
    }
    return best;
}

/* Frequency of the component near `guess` over [from, to): the phase of Hann-windowed
 * segments demodulated at `guess`, unwrapped, fitted by least squares against time.
 * Unambiguous while |f - guess| < RATE / (2 * SEG). */
#define SEG 1024
static double s_freq(const rig_t *r, uint64_t from, uint64_t to, double guess)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0, last = 0, unwrap = 0;
    int n = 0;
    for (uint64_t s0 = from; s0 + SEG <= to; s0 += SEG, n++) {
        double re = 0, im = 0;
        for (int m = 0; m < SEG; m++) {
            double w = 0.5 - 0.5 * cos(2 * M_PI * m / (SEG - 1));
            double x = w * r->buf[(s0 + m) * r->ch];
            double a = 2 * M_PI * guess * (double)(s0 + m) / RATE;
            re += x * cos(a);
            im -= x * sin(a);
        }
        double ph = atan2(im, re);
        if (n > 0) {
            double d = ph - last;
            while (d > M_PI)
                d -= 2 * M_PI;
            while (d < -M_PI)
                d += 2 * M_PI;
            unwrap += d;
        }
        last = ph;
        double t = (double)s0 / RATE;
        sx += t;
        sy += unwrap;
        sxx += t * t;
        sxy += t * unwrap;
    }
    assert_true(n >= 4);
    double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    return guess + slope / (2 * M_PI);
}

static double s_cents(double f, double ref)
{
    return 1200.0 * log2(f / ref);
}

/* ---- tests ---- */

static void test_preset_names(void **state)
{
    (void)state;
    const char *names[] = {"piano", "pluck", "pad", "organ", "analog"};
    for (int i = 0; i < NODE_SIM_PRESET_COUNT; i++) {
        node_sim_preset_t p = NODE_SIM_PRESET_COUNT;
        assert_string_equal(node_sim_preset_name((node_sim_preset_t)i), names[i]);
        assert_int_equal(node_sim_preset_parse(names[i], &p), 0);
        assert_int_equal(p, i);
    }
    node_sim_preset_t p = NODE_SIM_ORGAN;
    assert_int_equal(node_sim_preset_parse("Piano", &p), BB_EINVAL);
    assert_int_equal(node_sim_preset_parse("harpsichord", &p), BB_EINVAL);
    assert_int_equal(node_sim_preset_parse("", &p), BB_EINVAL);
    assert_int_equal(node_sim_preset_parse("pian", &p), BB_EINVAL);
    assert_int_equal(p, NODE_SIM_ORGAN); /* untouched on failure */
}

static void test_new_rejects_bad_config(void **state)
{
    (void)state;
    node_sim_config_t c = NODE_SIM_CONFIG_INIT;
    node_sim_t *sim = node_sim_new(&c);
    assert_non_null(sim);
    assert_int_equal(node_sim_latency_frames(sim), 144); /* 3 ms at 48 kHz */
    node_sim_destroy(&sim);
    assert_null(sim);
    node_sim_destroy(&sim); /* safe twice */

    assert_null(node_sim_new(NULL));
    node_sim_config_t bad[6];
    for (int i = 0; i < 6; i++)
        bad[i] = c;
    bad[0].sample_rate = 0;
    bad[1].channels = 0;
    bad[2].channels = 3;
    bad[3].preset = NODE_SIM_PRESET_COUNT;
    bad[4].midi_channel = 17;
    bad[5].latency_ms = -1;
    for (int i = 0; i < 6; i++)
        assert_null(node_sim_new(&bad[i]));
}

/* A note-on in the middle of a block: truth ON exactly at the predicted frame, silence
 * before it, the attack audible within the first few frames of the ramp. */
static void s_check_placement(double latency_ms)
{
    node_sim_config_t c = s_cfg(NODE_SIM_PIANO);
    c.latency_ms = latency_ms;
    rig_t r;
    s_rig_open(&r, &c);
    const int64_t t_on = ORIGIN_NS + 12345678; /* 592.59 frames after the origin */
    const uint64_t lat = (uint64_t)llround(latency_ms * RATE / 1000.0);
    const uint64_t expect = 593 + lat;
    assert_int_equal(node_sim_latency_frames(r.sim), lat);
    s_on(&r, 60, 100, t_on);
    s_render(&r, RATE / 4);

    const node_sim_truth_t *on = s_find(&r, NODE_SIM_TRUTH_ON, 0);
    assert_non_null(on);
    assert_int_equal(on->frame, expect);
    assert_int_equal(on->note, 60);
    assert_int_equal(on->velocity, 100);
    assert_int_equal(on->faults, 0);
    assert_float_equal(on->freq_hz, node_sim_note_freq(r.sim, 60), 1e-9);
    assert_float_equal(on->peak_gain, pow(10, -3.0 / 20) * pow(100 / 127.0, 1.6), 1e-9);

    assert_true(s_peak(&r, 0, expect) == 0.0); /* nothing before the attack */
    uint64_t first = s_first_above(&r, 0, 1e-3);
    assert_true(first >= expect && first <= expect + 4);
    assert_true(s_peak(&r, expect, expect + 48) > 0.1); /* the attack is done in 1 ms */
    s_rig_close(&r);
}

static void test_placement_no_latency(void **state)
{
    (void)state;
    s_check_placement(0);
}

static void test_placement_with_latency(void **state)
{
    (void)state;
    s_check_placement(5.0);
}

static void test_pitch(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
    c.detune_cents = 10;
    rig_t r;
    s_rig_open(&r, &c);
    const double want = 440.0 * pow(2.0, 10.0 / 1200.0);
    assert_float_equal(node_sim_note_freq(r.sim, 69), want, 1e-9);
    s_on(&r, 69, 127, ORIGIN_NS);
    s_render(&r, RATE + RATE / 10);
    const node_sim_truth_t *on = s_find(&r, NODE_SIM_TRUTH_ON, 0);
    assert_non_null(on);
    assert_float_equal(on->freq_hz, want, 1e-9);
    double f = s_freq(&r, RATE / 20, RATE / 20 + RATE, 440.0);
    assert_true(fabs(s_cents(f, want)) < 0.5);
    s_rig_close(&r);
}

static void test_velocity_curve(void **state)
{
    (void)state;
    double peak[2];
    const uint8_t vel[2] = {127, 64};
    for (int i = 0; i < 2; i++) {
        node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
        rig_t r;
        s_rig_open(&r, &c);
        s_on(&r, 57, vel[i], ORIGIN_NS);
        s_render(&r, RATE / 2);
        peak[i] = s_peak(&r, 0, r.frame);
        s_rig_close(&r);
    }
    /* the loudest note peaks near peak_db (-3 dBFS) */
    assert_true(fabs(20 * log10(peak[0]) - -3.0) < 0.5);
    double want_db = 20 * 1.6 * log10(64 / 127.0);
    assert_true(fabs(20 * log10(peak[1] / peak[0]) - want_db) < 0.5);
}

static void test_cc_volume(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
    rig_t r;
    s_rig_open(&r, &c);
    s_on(&r, 57, 127, ORIGIN_NS);
    s_midi(&r, 0xB0, 7, 64, s_time_of(RATE / 2));
    s_render(&r, RATE);
    double loud = s_peak(&r, 0, RATE / 2), soft = s_peak(&r, RATE / 2, RATE);
    /* the General MIDI law: 40 log10(cc/127) dB */
    assert_true(fabs(20 * log10(soft / loud) - 40 * log10(64 / 127.0)) < 0.5);
    s_rig_close(&r);
}

static void test_noise_floor(void **state)
{
    (void)state;
    const double levels[3] = {-80, -60, -96};
    for (int i = 0; i < 3; i++) {
        node_sim_config_t c = s_cfg(NODE_SIM_PIANO);
        c.noise_floor_db = levels[i];
        rig_t r;
        s_rig_open(&r, &c);
        s_render(&r, RATE);
        assert_true(fabs(s_rms_db(&r, 0, RATE) - levels[i]) < 0.5);
        assert_true(fabs(s_mean(&r, 0, RATE)) < pow(10, levels[i] / 20) * 0.05);
        s_rig_close(&r);
    }
}

static void test_stereo(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_PAD);
    c.channels = 2;
    rig_t r;
    s_rig_open(&r, &c);
    s_on(&r, 60, 100, ORIGIN_NS);
    s_render(&r, RATE / 2);
    for (uint64_t i = 0; i < r.frame; i++)
        assert_true(r.buf[2 * i] == r.buf[2 * i + 1]); /* no noise: identical */
    assert_true(s_peak(&r, 0, r.frame) > 0.1);
    s_rig_close(&r);

    c.noise_floor_db = -60;
    s_rig_open(&r, &c);
    s_render(&r, RATE / 2);
    /* noise only: the channels carry different streams (near-zero correlation) */
    double lr = 0, ll = 0, rr = 0;
    for (uint64_t i = 0; i < r.frame; i++) {
        lr += (double)r.buf[2 * i] * r.buf[2 * i + 1];
        ll += (double)r.buf[2 * i] * r.buf[2 * i];
        rr += (double)r.buf[2 * i + 1] * r.buf[2 * i + 1];
    }
    assert_true(fabs(lr / sqrt(ll * rr)) < 0.05);
    s_rig_close(&r);
}

static void test_fault_silence(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_PIANO);
    c.noise_floor_db = -80;
    c.fault_mask = NODE_SIM_FAULT_SILENCE;
    c.fault_every = 1;
    rig_t r;
    s_rig_open(&r, &c);
    s_on(&r, 60, 127, ORIGIN_NS);
    s_render(&r, RATE / 2);
    const node_sim_truth_t *on = s_find(&r, NODE_SIM_TRUTH_ON, 0);
    assert_non_null(on);
    assert_int_equal(on->faults, NODE_SIM_FAULT_SILENCE);
    assert_true(on->peak_gain > 0.5); /* aimed gain, before the fault */
    assert_true(s_peak(&r, 0, r.frame) < 2 * pow(10, -80 / 20.0)); /* noise only */
    assert_true(fabs(s_rms_db(&r, 0, r.frame) - -80) < 0.5);
    s_rig_close(&r);
}

static void test_fault_clip(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
    c.noise_floor_db = -80;
    c.fault_mask = NODE_SIM_FAULT_CLIP;
    c.fault_every = 1;
    rig_t r;
    s_rig_open(&r, &c);
    s_on(&r, 57, 127, ORIGIN_NS);
    s_render(&r, RATE / 2);
    assert_int_equal(s_find(&r, NODE_SIM_TRUTH_ON, 0)->faults, NODE_SIM_FAULT_CLIP);
    assert_true(s_peak(&r, 0, r.frame) == 1.0); /* clamped, never beyond */
    assert_true(s_longest_run(&r, 0, r.frame, false) >= 10);
    s_rig_close(&r);
}

static void test_fault_dropout(void **state)
{
    (void)state;
    for (int faulty = 0; faulty < 2; faulty++) {
        node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
        c.noise_floor_db = -80;
        c.fault_mask = NODE_SIM_FAULT_DROPOUT;
        c.fault_every = faulty ? 1 : 0;
        rig_t r;
        s_rig_open(&r, &c);
        s_on(&r, 57, 100, ORIGIN_NS);
        s_render(&r, RATE / 2);
        uint64_t run = s_longest_run(&r, 0, r.frame, true);
        if (faulty) {
            assert_true(run >= RATE / 100); /* >= 10 ms of exact zeros */
            assert_true(run <= RATE / 40);
            /* it sits about 100 ms into the note, which sounds on both sides */
            assert_true(s_longest_run(&r, 0, RATE * 9 / 100, true) < 3);
            assert_true(s_longest_run(&r, RATE * 9 / 100, RATE * 13 / 100, true) >= RATE / 100);
            assert_true(s_peak(&r, RATE * 15 / 100, RATE / 2) > 0.3);
        } else {
            assert_true(run < 3);
        }
        s_rig_close(&r);
    }
}

static void test_fault_wrong_pitch(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
    c.fault_mask = NODE_SIM_FAULT_WRONG_PITCH;
    c.fault_every = 1;
    c.fault_cents = 60;
    rig_t r;
    s_rig_open(&r, &c);
    s_on(&r, 69, 127, ORIGIN_NS);
    s_render(&r, RATE / 2);
    const node_sim_truth_t *on = s_find(&r, NODE_SIM_TRUTH_ON, 0);
    assert_int_equal(on->faults, NODE_SIM_FAULT_WRONG_PITCH);
    assert_float_equal(s_cents(on->freq_hz, node_sim_note_freq(r.sim, 69)), 60.0, 1e-6);
    double f = s_freq(&r, RATE / 20, RATE / 2, 440.0);
    assert_true(fabs(s_cents(f, 440.0) - 60.0) < 0.5);
    s_rig_close(&r);
}

static void test_fault_dc(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
    c.fault_mask = NODE_SIM_FAULT_DC;
    c.fault_every = 1;
    rig_t r;
    s_rig_open(&r, &c);
    s_on(&r, 69, 100, ORIGIN_NS);
    s_off(&r, 69, s_time_of(RATE / 2));
    s_render(&r, RATE);
    /* 0.5 s of 440 Hz is 220 whole periods: the tone averages out, the offset stays */
    assert_float_equal(s_mean(&r, 0, RATE / 2), 0.1, 0.002);
    const node_sim_truth_t *end = s_find(&r, NODE_SIM_TRUTH_END, 0);
    assert_non_null(end);
    assert_true(s_peak(&r, end->frame + 1, r.frame) == 0.0); /* gone with the voice */
    s_rig_close(&r);
}

static void test_fault_every_third(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_PLUCK);
    c.fault_mask = NODE_SIM_FAULT_WRONG_PITCH | NODE_SIM_FAULT_SILENCE;
    c.fault_every = 3;
    rig_t r;
    s_rig_open(&r, &c);
    for (int i = 0; i < 4; i++) {
        s_on(&r, 60, 100, s_time_of((uint64_t)i * RATE / 4));
        s_off(&r, 60, s_time_of((uint64_t)i * RATE / 4 + RATE / 8));
    }
    s_render(&r, RATE * 5 / 4);
    assert_int_equal(s_count(&r, NODE_SIM_TRUTH_ON), 4);
    for (int i = 0; i < 4; i++) {
        const node_sim_truth_t *on = s_find(&r, NODE_SIM_TRUTH_ON, i);
        uint64_t at = (uint64_t)i * RATE / 4;
        assert_int_equal(on->frame, at);
        assert_int_equal(on->faults, i == 2 ? c.fault_mask : 0);
        double f0 = node_sim_note_freq(r.sim, 60);
        assert_float_equal(s_cents(on->freq_hz, f0), i == 2 ? c.fault_cents : 0.0, 1e-6);
        /* the third note is silent, the others sound */
        double p = s_peak(&r, at, at + RATE / 10);
        if (i == 2)
            assert_true(p == 0.0);
        else
            assert_true(p > 0.2);
    }
    s_rig_close(&r);
}

static void test_release_end(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_PIANO);
    c.noise_floor_db = -80;
    rig_t r;
    s_rig_open(&r, &c);
    const uint64_t off_at = RATE / 2 + 1000;
    s_on(&r, 60, 127, s_time_of(100));
    s_off(&r, 60, s_time_of(off_at));
    s_render(&r, RATE * 3);
    const node_sim_truth_t *off = s_find(&r, NODE_SIM_TRUTH_OFF, 0);
    const node_sim_truth_t *end = s_find(&r, NODE_SIM_TRUTH_END, 0);
    assert_non_null(off);
    assert_non_null(end);
    assert_int_equal(off->frame, off_at);
    assert_true(end->frame > off->frame);
    /* 60 ms release tau from ~ -4 dBFS to -80 dBFS: roughly 0.5 s */
    assert_true(end->frame - off->frame > RATE / 5 && end->frame - off->frame < RATE);
    /* still audible just before the end, noise after it */
    double noise_rms = pow(10, -80 / 20.0);
    assert_true(s_peak(&r, off->frame, off->frame + RATE / 10) > 0.01);
    assert_true(s_peak(&r, end->frame, end->frame + RATE / 2) < 3 * noise_rms);
    assert_true(fabs(s_rms_db(&r, end->frame + RATE / 10, end->frame + RATE / 2) - -80) < 0.5);
    assert_int_equal(r.ntruth, 3);
    s_rig_close(&r);
}

static void test_late_and_future_events(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
    rig_t r;
    s_rig_open(&r, &c);
    s_render(&r, 4 * BLOCK);
    /* 10 ms before the next block: played at its first frame */
    s_on(&r, 60, 100, s_time_of(r.frame) - 10000000);
    uint64_t block = r.frame;
    s_render(&r, BLOCK);
    const node_sim_truth_t *on = s_find(&r, NODE_SIM_TRUTH_ON, 0);
    assert_non_null(on);
    assert_int_equal(on->frame, block);
    assert_true(s_peak(&r, block, block + BLOCK) > 0.1);

    /* an event 100 frames into the block after next: nothing in the next block */
    uint64_t later = r.frame + BLOCK + 100;
    s_on(&r, 72, 100, s_time_of(later));
    s_midi(&r, 0xB0, 123, 0, s_time_of(later + 1000)); /* all notes off */
    s_render(&r, BLOCK);
    assert_int_equal(s_count(&r, NODE_SIM_TRUTH_ON), 1);
    s_render(&r, BLOCK);
    assert_int_equal(s_count(&r, NODE_SIM_TRUTH_ON), 2);
    on = s_find(&r, NODE_SIM_TRUTH_ON, 1);
    assert_int_equal(on->note, 72);
    assert_int_equal(on->frame, later);
    s_render(&r, RATE / 2);
    /* CC 123 released both notes at the same frame, and both ended */
    assert_int_equal(s_count(&r, NODE_SIM_TRUTH_OFF), 2);
    assert_int_equal(s_find(&r, NODE_SIM_TRUTH_OFF, 0)->frame, later + 1000);
    assert_int_equal(s_find(&r, NODE_SIM_TRUTH_OFF, 1)->frame, later + 1000);
    assert_int_equal(s_count(&r, NODE_SIM_TRUTH_END), 2);
    s_rig_close(&r);
}

static void test_midi_channel_filter(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
    c.midi_channel = 2;
    rig_t r;
    s_rig_open(&r, &c);
    s_midi(&r, 0x90, 60, 100, ORIGIN_NS); /* channel 1: ignored */
    s_midi(&r, 0x9F, 61, 100, ORIGIN_NS); /* channel 16: ignored */
    s_midi(&r, 0x92, 62, 100, ORIGIN_NS); /* channel 3 (index 2): played */
    s_midi(&r, 0xC2, 5, 0, ORIGIN_NS);    /* program change: accepted, ignored */
    uint8_t bad[1] = {0x92};
    assert_int_equal(node_sim_midi_in(r.sim, bad, 1, ORIGIN_NS), BB_EINVAL);
    s_render(&r, BLOCK);
    assert_int_equal(r.ntruth, 1);
    assert_int_equal(r.truth[0].note, 62);
    s_rig_close(&r);
}

static void test_steal_retrigger_sound_off(void **state)
{
    (void)state;
    node_sim_config_t c = s_cfg(NODE_SIM_ORGAN);
    rig_t r;
    s_rig_open(&r, &c);
    /* notes 20, 21, ... one per block, never released: the first END is a steal of the
     * oldest, not before the 17th note */
    int played = 0;
    for (; played < 100 && s_count(&r, NODE_SIM_TRUTH_END) == 0; played++) {
        s_on(&r, (uint8_t)(20 + played), 100, s_time_of(r.frame));
        s_render(&r, BLOCK);
    }
    assert_true(played >= 17);
    const node_sim_truth_t *end = s_find(&r, NODE_SIM_TRUTH_END, 0);
    assert_int_equal(end->note, 20);
    assert_int_equal(end->frame, s_find(&r, NODE_SIM_TRUTH_ON, played - 1)->frame);
    size_t ends = s_count(&r, NODE_SIM_TRUTH_END);

    /* retrigger a sounding note: END then ON at the same frame, one voice */
    uint8_t again = (uint8_t)(20 + played - 1);
    s_on(&r, again, 50, s_time_of(r.frame + 10));
    s_render(&r, BLOCK);
    assert_int_equal(s_count(&r, NODE_SIM_TRUTH_END), ends + 1);
    const node_sim_truth_t *last = &r.truth[r.ntruth - 1], *prev = &r.truth[r.ntruth - 2];
    assert_int_equal(prev->kind, NODE_SIM_TRUTH_END);
    assert_int_equal(last->kind, NODE_SIM_TRUTH_ON);
    assert_int_equal(prev->note, again);
    assert_int_equal(last->velocity, 50);
    assert_int_equal(prev->frame, last->frame);

    /* all sound off: every voice ends at once and the output is silent after it */
    uint64_t cut = r.frame + 20;
    s_midi(&r, 0xB5, 120, 0, s_time_of(cut));
    size_t before = r.ntruth;
    s_render(&r, BLOCK);
    assert_true(r.ntruth - before >= 16);
    for (size_t i = before; i < r.ntruth; i++) {
        assert_int_equal(r.truth[i].kind, NODE_SIM_TRUTH_END);
        assert_int_equal(r.truth[i].frame, cut);
    }
    assert_true(s_peak(&r, cut - 20, cut) > 0.01);
    assert_true(s_peak(&r, cut, r.frame) == 0.0);
    s_rig_close(&r);
}

static void test_presets_sound(void **state)
{
    (void)state;
    /* every preset: silent before the note, sounds at the played pitch, ends after off */
    for (int p = 0; p < NODE_SIM_PRESET_COUNT; p++) {
        node_sim_config_t c = s_cfg((node_sim_preset_t)p);
        rig_t r;
        s_rig_open(&r, &c);
        s_on(&r, 57, 127, s_time_of(1000));
        s_off(&r, 57, s_time_of(1000 + RATE));
        s_render(&r, RATE * 7); /* pad: 0.4 s release tau down to 1e-5 */
        double f = s_freq(&r, 1000 + RATE / 2, 1000 + RATE, 220.0);
        assert_true(fabs(s_cents(f, 220.0)) < 0.5);
        assert_true(s_peak(&r, 1000 + RATE / 4, 1000 + RATE) > 0.05);
        assert_int_equal(s_count(&r, NODE_SIM_TRUTH_END), 1);
        const node_sim_truth_t *end = s_find(&r, NODE_SIM_TRUTH_END, 0);
        assert_true(end->frame > 1000 + RATE);
        if (p == NODE_SIM_ANALOG) /* mains hum stays after the note */
            assert_true(fabs(s_rms_db(&r, end->frame + 100, end->frame + RATE / 2) - (-70 - 3.01)) <
                        0.5);
        else
            assert_true(s_peak(&r, end->frame + 1, r.frame) == 0.0);
        s_rig_close(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preset_names),
        cmocka_unit_test(test_new_rejects_bad_config),
        cmocka_unit_test(test_placement_no_latency),
        cmocka_unit_test(test_placement_with_latency),
        cmocka_unit_test(test_pitch),
        cmocka_unit_test(test_velocity_curve),
        cmocka_unit_test(test_cc_volume),
        cmocka_unit_test(test_noise_floor),
        cmocka_unit_test(test_stereo),
        cmocka_unit_test(test_fault_silence),
        cmocka_unit_test(test_fault_clip),
        cmocka_unit_test(test_fault_dropout),
        cmocka_unit_test(test_fault_wrong_pitch),
        cmocka_unit_test(test_fault_dc),
        cmocka_unit_test(test_fault_every_third),
        cmocka_unit_test(test_release_end),
        cmocka_unit_test(test_late_and_future_events),
        cmocka_unit_test(test_midi_channel_filter),
        cmocka_unit_test(test_steal_retrigger_sound_off),
        cmocka_unit_test(test_presets_sound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
