/*
 * test_qc.c — the QC pipeline against ground truth from the simulated instrument:
 * onset (1 ms sharp / 5 ms slow), pitch (5 cents), release end, every injected fault
 * detected, no false fail on clean takes, loops, fades config and the JSON round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "bb_err.h"
#include "pipeline.h"
#include "qc_config.h"
#include "qc_corpus.h"

static int s_analyze(const qc_corpus_spec_t *sp, qc_corpus_take_t *take, dsp_analysis_t *a,
                     const dsp_pipeline_config_t *cfg_in)
{
    assert_int_equal(qc_corpus_render(sp, take), 0);
    dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
    if (cfg_in)
        cfg = *cfg_in;
    dsp_take_info_t info = {.note_on = take->note_on_frame,
                            .note_off = take->note_off_frame,
                            .note = sp->note,
                            .velocity = sp->velocity};
    return dsp_analyze(take->audio, take->frames, sp->channels, sp->rate, &info, &cfg, a);
}

/* The corpus: every preset, three velocities, three latencies (one mis-compensated by
 * 2 ms), three noise floors. */
static void test_corpus_onset_pitch_no_false_fail(void **state)
{
    (void)state;
    const int velocities[] = {40, 100, 127};
    const double latencies[][2] = {{0, 0}, {4, 4}, {12, 10}}; /* real, assumed */
    const double noises[] = {-90, -70, -60};
    const int notes[] = {36, 57, 81};
    int n = 0, worst_sharp = 0, worst_slow = 0;
    double worst_cents = 0;
    for (int p = 0; p < NODE_SIM_PRESET_COUNT; p++)
        for (int v = 0; v < 3; v++)
            for (int l = 0; l < 3; l++)
                for (int z = 0; z < 3; z++) {
                    qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
                    sp.preset = (node_sim_preset_t)p;
                    sp.velocity = velocities[v];
                    sp.latency_ms = latencies[l][0];
                    sp.assumed_latency_ms = latencies[l][1];
                    sp.noise_db = noises[z];
                    sp.note = notes[(v + l + z) % 3];
                    sp.seed = (uint32_t)(1 + n);
                    sp.hold_ms = p == NODE_SIM_PAD ? 900 : 500;
                    qc_corpus_take_t take;
                    dsp_analysis_t a;
                    assert_int_equal(s_analyze(&sp, &take, &a, NULL), 0);
                    int64_t err = a.onset - take.true_onset;
                    int64_t tol = qc_corpus_sharp(sp.preset) ? 48 : 240; /* 1 ms / 5 ms */
                    if (llabs(err) > tol || a.verdict == DSP_FAIL || a.pitch_hz <= 0 ||
                        fabs(1200 * log2(a.pitch_hz / take.true_hz)) > 5)
                        fail_msg("%s note %d vel %d latency %.0f/%.0f noise %.0f: onset error %lld "
                                 "frames, pitch %.2f Hz (true %.2f), verdict %s (%s)",
                                 node_sim_preset_name(sp.preset), sp.note, sp.velocity,
                                 sp.latency_ms, sp.assumed_latency_ms, sp.noise_db, (long long)err,
                                 a.pitch_hz, take.true_hz, dsp_verdict_name(a.verdict), a.reasons);
                    if (qc_corpus_sharp(sp.preset) && llabs(err) > worst_sharp)
                        worst_sharp = (int)llabs(err);
                    if (!qc_corpus_sharp(sp.preset) && llabs(err) > worst_slow)
                        worst_slow = (int)llabs(err);
                    double cents = fabs(1200 * log2(a.pitch_hz / take.true_hz));
                    if (cents > worst_cents)
                        worst_cents = cents;
                    /* The measured noise floor follows the simulated one. */
                    assert_true(fabs(a.noise_db - sp.noise_db) < 3.0 ||
                                sp.preset == NODE_SIM_ANALOG);
                    /* The cut starts at the onset (no pre-attack margin by default). */
                    assert_int_equal(a.cut_start, a.onset);
                    assert_int_equal(a.fade_in, 0);
                    qc_corpus_free(&take);
                    n++;
                }
    printf("%d takes: worst onset error %d frames (sharp), %d frames (slow); worst pitch "
           "error %.2f cents\n",
           n, worst_sharp, worst_slow, worst_cents);
}

static void test_release_end_follows_the_tail(void **state)
{
    (void)state;
    qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
    sp.preset = NODE_SIM_PIANO;
    sp.noise_db = -70;
    sp.max_release_ms = 3000;
    qc_corpus_take_t take;
    dsp_analysis_t a;
    assert_int_equal(s_analyze(&sp, &take, &a, NULL), 0);
    assert_true(take.true_end > take.true_off);
    /* The tail is judged "in the floor" 6 dB above it; the sim's END is at the floor. The
     * release end sits after the note-off and no later than the truth plus one window. */
    assert_true(a.release_end > take.true_off);
    assert_true(a.release_end <= take.true_end + 480);
    /* The sim's END is where the voice meets the floor; 6 dB above it comes ~100 ms
     * earlier on this decay. */
    assert_true(a.release_end >= take.true_end - 7200);
    assert_int_equal(a.cut_end, a.release_end);
    qc_corpus_free(&take);

    /* A cap from the plan bounds it. */
    dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
    cfg.max_release_ms = 20;
    dsp_analysis_t capped;
    assert_int_equal(s_analyze(&sp, &take, &capped, &cfg), 0);
    assert_true(capped.release_end <= take.note_off_frame + 960);
    qc_corpus_free(&take);

    /* Below-peak mode ends earlier than the floor. */
    cfg = (dsp_pipeline_config_t)DSP_PIPELINE_CONFIG_INIT;
    cfg.end_mode = DSP_END_BELOW_PEAK;
    cfg.end_below_peak_db = 30;
    dsp_analysis_t b;
    assert_int_equal(s_analyze(&sp, &take, &b, &cfg), 0);
    assert_true(b.release_end < a.release_end);
    assert_true(b.release_end > take.true_off);
    qc_corpus_free(&take);
}

static void s_expect_fault(uint32_t fault, int verdict, const char *word)
{
    qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
    sp.preset = NODE_SIM_ORGAN;
    sp.faults = fault;
    sp.note = 57;
    qc_corpus_take_t take;
    dsp_analysis_t a;
    assert_int_equal(s_analyze(&sp, &take, &a, NULL), 0);
    if (a.verdict != verdict || !strstr(a.reasons, word))
        fail_msg("fault %u: verdict %s, reasons '%s'; expected %s with '%s'", fault,
                 dsp_verdict_name(a.verdict), a.reasons, dsp_verdict_name(verdict), word);
    qc_corpus_free(&take);
}

static void test_every_fault_detected(void **state)
{
    (void)state;
    s_expect_fault(NODE_SIM_FAULT_CLIP, DSP_FAIL, "clipping");
    s_expect_fault(NODE_SIM_FAULT_DROPOUT, DSP_FAIL, "dropout");
    s_expect_fault(NODE_SIM_FAULT_SILENCE, DSP_FAIL, "silence");
    s_expect_fault(NODE_SIM_FAULT_WRONG_PITCH, DSP_FAIL, "wrong pitch");

    /* Faults on other presets too (piano decays, pad rises slowly). */
    qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
    const uint32_t faults[] = {NODE_SIM_FAULT_CLIP, NODE_SIM_FAULT_DROPOUT, NODE_SIM_FAULT_SILENCE,
                               NODE_SIM_FAULT_WRONG_PITCH};
    for (int p = 0; p < NODE_SIM_PRESET_COUNT; p++)
        for (int f = 0; f < 4; f++) {
            sp.preset = (node_sim_preset_t)p;
            sp.faults = faults[f];
            sp.hold_ms = 900;
            qc_corpus_take_t take;
            dsp_analysis_t a;
            assert_int_equal(s_analyze(&sp, &take, &a, NULL), 0);
            if (a.verdict != DSP_FAIL)
                fail_msg("%s with fault %u passed as %s (%s)", node_sim_preset_name(sp.preset),
                         faults[f], dsp_verdict_name(a.verdict), a.reasons);
            qc_corpus_free(&take);
        }
}

static void test_dc_is_measured(void **state)
{
    (void)state;
    qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
    sp.preset = NODE_SIM_ORGAN;
    sp.faults = NODE_SIM_FAULT_DC;
    sp.hold_ms = 1000;
    qc_corpus_take_t take;
    dsp_analysis_t a;
    assert_int_equal(s_analyze(&sp, &take, &a, NULL), 0);
    /* The simulated fault is an offset only while the voice sounds: nothing to subtract
     * (the pre-roll is centred), but the take is flagged (and the step where the offset
     * vanishes with the voice is a click the dropout stage reports too). */
    assert_true(fabs(a.dc[0]) < 1e-3 && fabs(a.dc[1]) < 1e-3);
    assert_true(a.verdict >= DSP_WARN);
    assert_non_null(strstr(a.reasons, "while the note sounds"));
    qc_corpus_free(&take);

    /* A converter's constant offset is measured per channel and does not disturb the
     * other measurements. */
    sp.faults = 0;
    assert_int_equal(qc_corpus_render(&sp, &take), 0);
    dsp_analysis_t clean;
    dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
    dsp_take_info_t info = {.note_on = take.note_on_frame,
                            .note_off = take.note_off_frame,
                            .note = sp.note,
                            .velocity = sp.velocity};
    assert_int_equal(dsp_analyze(take.audio, take.frames, 2, 48000, &info, &cfg, &clean), 0);
    for (int64_t i = 0; i < take.frames; i++) {
        take.audio[i * 2] += 0.05f;
        take.audio[i * 2 + 1] -= 0.02f;
    }
    assert_int_equal(dsp_analyze(take.audio, take.frames, 2, 48000, &info, &cfg, &a), 0);
    assert_true(fabs(a.dc[0] - 0.05) < 1e-4 && fabs(a.dc[1] + 0.02) < 1e-4);
    assert_int_equal(a.onset, clean.onset);
    assert_true(fabs(a.pitch_cents - clean.pitch_cents) < 0.01);
    assert_true(fabs(a.peak_db - clean.peak_db) < 0.05);
    assert_int_equal(a.verdict, DSP_WARN);
    assert_non_null(strstr(a.reasons, "DC offset"));
    qc_corpus_free(&take);
}

static void test_xruns_fail_the_take(void **state)
{
    (void)state;
    qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
    qc_corpus_take_t take;
    assert_int_equal(qc_corpus_render(&sp, &take), 0);
    dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
    dsp_take_info_t info = {.note_on = take.note_on_frame,
                            .note_off = take.note_off_frame,
                            .note = sp.note,
                            .velocity = sp.velocity,
                            .xruns = 2};
    dsp_analysis_t a;
    assert_int_equal(dsp_analyze(take.audio, take.frames, 2, 48000, &info, &cfg, &a), 0);
    assert_int_equal(a.verdict, DSP_FAIL);
    assert_non_null(strstr(a.reasons, "lost 2 block"));
    /* Bad input is refused, not guessed at. */
    info.note_on = take.frames + 1;
    assert_int_equal(dsp_analyze(take.audio, take.frames, 2, 48000, &info, &cfg, &a), BB_EINVAL);
    info.note_on = 0;
    assert_int_equal(dsp_analyze(take.audio, take.frames, 9, 48000, &info, &cfg, &a), BB_EINVAL);
    qc_corpus_free(&take);
}

static void test_pre_attack_margin_and_fades(void **state)
{
    (void)state;
    qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
    dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
    cfg.pre_attack_ms = 2;
    cfg.fade_out_ms = 25;
    qc_corpus_take_t take;
    dsp_analysis_t a;
    assert_int_equal(s_analyze(&sp, &take, &a, &cfg), 0);
    assert_int_equal(a.onset - a.cut_start, 96);
    assert_int_equal(a.fade_in, 96);
    assert_int_equal(a.fade_out, 1200);
    assert_int_equal(a.fade_curve, DSP_FADE_EQUAL_POWER);
    qc_corpus_free(&take);
}

static void test_loop_found_in_sustain(void **state)
{
    (void)state;
    const int notes[] = {45, 60, 73};
    for (int i = 0; i < 3; i++) {
        qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
        sp.preset = NODE_SIM_ORGAN;
        sp.note = notes[i];
        sp.hold_ms = 1500;
        sp.detune_cents = 7; /* periods that are not whole frames */
        dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
        cfg.loop = true;
        qc_corpus_take_t take;
        dsp_analysis_t a;
        assert_int_equal(s_analyze(&sp, &take, &a, &cfg), 0);
        if (!a.has_loop)
            fail_msg("note %d: no loop (%s)", sp.note, a.reasons);
        int64_t len = a.loop_end - a.loop_start + 1;
        double periods = len * take.true_hz / 48000.0;
        /* A whole number of periods, to within a frame's worth of phase. */
        double frac = fabs(periods - round(periods));
        assert_true(frac * 48000.0 / take.true_hz <= 1.0);
        assert_true(len >= 4800); /* the 100 ms minimum */
        assert_true(a.loop_score > 0.99);
        /* Inside the sustain, inside the sample. */
        assert_true(a.loop_start > a.onset + 4800 && a.loop_end < take.note_off_frame);
        assert_true(a.loop_end < a.cut_end);
        /* Both ends at rising zero crossings of the mono mix. */
        const float *x = take.audio;
        for (int end = 0; end < 2; end++) {
            int64_t at = end ? a.loop_end + 1 : a.loop_start;
            bool rising = false;
            for (int64_t k = at - 1; k <= at + 1; k++) {
                float s0 = x[(k - 1) * 2] + x[(k - 1) * 2 + 1], s1 = x[k * 2] + x[k * 2 + 1];
                rising = rising || (s0 < 0 && s1 >= 0);
            }
            if (!rising)
                fail_msg("note %d: loop %s at %lld is not a rising zero crossing", sp.note,
                         end ? "end" : "start", (long long)at);
        }
        qc_corpus_free(&take);
    }
}

static void test_config_from_spec(void **state)
{
    (void)state;
    Bb__InstrumentSpec spec = BB__INSTRUMENT_SPEC__INIT;
    Bb__QcSpec qc = BB__QC_SPEC__INIT;
    spec.qc = &qc;
    spec.loop = true;
    spec.release_ms = 1200;
    qc.fade_curve = "exponential";
    qc.end_mode = "below-peak";
    qc.end_below_peak_db = 50;
    qc.pre_attack_ms = 1.5f;
    qc.unpitched = true;
    dsp_pipeline_config_t cfg;
    char err[200];
    assert_int_equal(dsp_pipeline_config_from_spec(&spec, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.fade_curve, DSP_FADE_EXPONENTIAL);
    assert_int_equal(cfg.end_mode, DSP_END_BELOW_PEAK);
    assert_true(cfg.end_below_peak_db == 50);
    assert_true(cfg.loop && !cfg.pitch_check);
    assert_true(cfg.max_release_ms == 1200);
    qc.fade_curve = "cubic";
    assert_int_equal(dsp_pipeline_config_from_spec(&spec, &cfg, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "cubic"));
    qc.fade_curve = "";
    qc.pre_attack_ms = -3;
    assert_int_equal(dsp_pipeline_config_from_spec(&spec, &cfg, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "pre-attack"));
}

static void test_json_round_trip(void **state)
{
    (void)state;
    qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
    sp.preset = NODE_SIM_ORGAN;
    sp.hold_ms = 1000;
    sp.faults = NODE_SIM_FAULT_DC;
    dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
    cfg.loop = true;
    qc_corpus_take_t take;
    dsp_analysis_t a, b;
    assert_int_equal(s_analyze(&sp, &take, &a, &cfg), 0);
    char *json = dsp_analysis_json(&a);
    assert_non_null(json);
    assert_int_equal(dsp_analysis_from_json(json, &b), 0);
    assert_int_equal(b.onset, a.onset);
    assert_int_equal(b.cut_end, a.cut_end);
    assert_int_equal(b.has_loop, a.has_loop);
    assert_int_equal(b.loop_start, a.loop_start);
    assert_int_equal(b.loop_end, a.loop_end);
    assert_int_equal(b.channels, 2);
    assert_true(b.dc[0] == a.dc[0] && b.dc[1] == a.dc[1]);
    assert_true(b.pitch_cents == a.pitch_cents);
    assert_int_equal(b.verdict, a.verdict);
    assert_string_equal(b.reasons, a.reasons);
    free(json);
    assert_int_equal(dsp_analysis_from_json("{not json", &b), BB_EINVAL);
    qc_corpus_free(&take);
}

/* A real instrument's attacks and tails: General MIDI programs from the SoundFont
 * through FluidSynth. The true onset is where the same note rendered without noise first
 * rises above -100 dBFS; soft sampled attacks get the slow tolerance (-1..+5 ms). */
static void test_soundfont_instruments(void **state)
{
    (void)state;
    if (!node_sim_have_soundfont() || access(NODE_SIM_DEFAULT_SOUNDFONT, R_OK) != 0)
        test_skip("no FluidSynth or no SoundFont at %s", NODE_SIM_DEFAULT_SOUNDFONT);
    const int programs[] = {0, 24, 19, 48}; /* piano, nylon guitar, church organ, strings */
    const int notes[] = {43, 55, 67, 79};
    int worst = 0;
    double worst_cents = 0;
    for (int p = 0; p < 4; p++)
        for (int n = 0; n < 4; n++) {
            qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
            sp.gm_program = programs[p];
            sp.note = notes[n];
            sp.velocity = 100;
            sp.hold_ms = 800;
            sp.max_release_ms = 1500;
            sp.noise_db = -84;
            qc_corpus_take_t take;
            dsp_analysis_t a;
            assert_int_equal(s_analyze(&sp, &take, &a, NULL), 0);
            int64_t err = a.onset - take.true_onset;
            double cents = a.pitch_hz > 0 ? 1200 * log2(a.pitch_hz / take.true_hz) : 1e9;
            if (fabs(fabs(cents) - 1200) < 15) { /* a 16' stop: an octave off, warned */
                assert_int_equal(a.verdict, DSP_WARN);
                assert_non_null(strstr(a.reasons, "an octave"));
                cents = fabs(cents) - 1200;
            }
            if (err < -48 || err > 240 || a.verdict == DSP_FAIL || fabs(cents) > 15)
                fail_msg("GM program %d note %d: onset %+lld frames from the note-on, pitch "
                         "%+.1f cents, verdict %s (%s)",
                         sp.gm_program, sp.note, (long long)err, cents, dsp_verdict_name(a.verdict),
                         a.reasons);
            if (llabs(err) > worst)
                worst = (int)llabs(err);
            if (fabs(cents) > worst_cents)
                worst_cents = fabs(cents);
            /* The tail decays into the floor before the take ends. */
            assert_true(a.release_end > take.note_off_frame);
            qc_corpus_free(&take);
        }
    printf(
        "SoundFont takes: onset within %d frames of the sound's start, pitch within %.1f cents\n",
        worst, worst_cents);

    /* Faults are detected on a real instrument too. */
    const uint32_t faults[] = {NODE_SIM_FAULT_CLIP, NODE_SIM_FAULT_DROPOUT, NODE_SIM_FAULT_SILENCE,
                               NODE_SIM_FAULT_WRONG_PITCH};
    for (int f = 0; f < 4; f++) {
        qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
        sp.gm_program = 19;
        sp.note = 60;
        sp.hold_ms = 800;
        sp.faults = faults[f];
        qc_corpus_take_t take;
        dsp_analysis_t a;
        assert_int_equal(s_analyze(&sp, &take, &a, NULL), 0);
        if (a.verdict != DSP_FAIL)
            fail_msg("GM organ with fault %u: %s (%s)", faults[f], dsp_verdict_name(a.verdict),
                     a.reasons);
        qc_corpus_free(&take);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_onset_pitch_no_false_fail),
        cmocka_unit_test(test_release_end_follows_the_tail),
        cmocka_unit_test(test_every_fault_detected),
        cmocka_unit_test(test_dc_is_measured),
        cmocka_unit_test(test_xruns_fail_the_take),
        cmocka_unit_test(test_pre_attack_margin_and_fades),
        cmocka_unit_test(test_loop_found_in_sustain),
        cmocka_unit_test(test_config_from_spec),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_soundfont_instruments),
    };
    return test_main_group(tests, argc, argv);
}
