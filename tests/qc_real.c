/*
 * qc_real.c — the real-material corpus of qc_real.h.
 *
 * FluidSynth renders SoundFont notes dry (no reverb or chorus) at the take's rate, one
 * synth per SoundFont kept open between takes (samples loaded on demand, so the 135 MB
 * OPL-3 bank and the compressed MuseScore bank cost only the presets played). Each
 * instrument's level is set once from its middle note at velocity 127 (peak -3 dBFS);
 * velocity then changes the level as the SoundFont says. Oscillator notes come from
 * qc_osc.c with the same level law a synth's velocity gives: (velocity / 127)^1.6.
 */
#include "qc_real.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smf_write.h"
#include "take_raw.h"

/* libfluidsynth is linked here (tests and benches); BB_NO_SOUNDFONTS when it is not
 * installed: then only the oscillators render */
#if defined(BB_HAVE_FLUIDSYNTH) && !defined(BB_NO_SOUNDFONTS)
#define S_FLUID 1
#include <fluidsynth.h>
#endif

#define S_CHUNK        64   /* frames FluidSynth renders at a time */
#define S_SILENT       1e-5 /* -100 dBFS: the clean render's end */
#define S_START_LEVEL  6e-8 /* -144 dBFS, one step of a 24-bit converter: its start */
#define S_PEAK_DB      -3.0 /* loudest note of an instrument */
#define S_VEL_CURVE    1.6  /* oscillators: level = (velocity / 127)^curve */
#define S_MAX_TAIL_S   5.0  /* render at most this long after the note-off */
#define S_LEVEL_MS     1    /* "stands above the floor": RMS over this window */
#define S_END_PAD_MS   250  /* the take goes on this long after the tail meets the floor */
#define S_QUIET_FRAMES 9600 /* after the note-off: this long below S_SILENT ends a render */
#define S_TWO_PI       6.283185307179586476925
#define S_FREEPATS_CFG "/etc/timidity/freepats.cfg"
#define S_TIMIDITY     "/usr/bin/timidity"

/* ---- instruments ---- */

#define OSC(...) .src = QC_SRC_OSC, .osc = {__VA_ARGS__}
#define SF(s, p) .src = (s), .program = (p)
/* a pitched instrument of a validation corpus: held out */
#define HELD(s, name, p, low, high, n, hold)                                                       \
    {                                                                                              \
        (name), SF(s, p), .pitched = true, .held_out = true, .lo = (low), .hi = (high),            \
                          .n_notes = (n), .hold_ms = (hold)                                        \
    }
#define CS(...) HELD(QC_SRC_CSOUND, __VA_ARGS__)
#define FP(...) HELD(QC_SRC_FREEPATS, __VA_ARGS__)

static const qc_real_inst_t s_inst[] = {
    /* TimGM6mb: tuning */
    {"tim-piano", SF(QC_SRC_TIMGM6MB, 0), .pitched = true, .lo = 28, .hi = 96, .n_notes = 5,
     .hold_ms = 800},
    {"tim-vibraphone", SF(QC_SRC_TIMGM6MB, 11), .pitched = true, .lo = 53, .hi = 89, .n_notes = 4,
     .hold_ms = 800},
    {"tim-church-organ", SF(QC_SRC_TIMGM6MB, 19), .pitched = true, .lo = 36, .hi = 84, .n_notes = 5,
     .hold_ms = 1000},
    {"tim-nylon-guitar", SF(QC_SRC_TIMGM6MB, 24), .pitched = true, .lo = 40, .hi = 76, .n_notes = 4,
     .hold_ms = 800},
    {"tim-fingered-bass", SF(QC_SRC_TIMGM6MB, 33), .pitched = true, .lo = 28, .hi = 55,
     .n_notes = 4, .hold_ms = 800},
    {"tim-strings", SF(QC_SRC_TIMGM6MB, 48), .pitched = true, .lo = 43, .hi = 91, .n_notes = 5,
     .hold_ms = 1200},
    {"tim-flute", SF(QC_SRC_TIMGM6MB, 73), .pitched = true, .lo = 60, .hi = 96, .n_notes = 4,
     .hold_ms = 1000},
    {"tim-warm-pad", SF(QC_SRC_TIMGM6MB, 89), .pitched = true, .lo = 36, .hi = 84, .n_notes = 4,
     .hold_ms = 1500},
    /* TimGM6mb: held out */
    {"tim-epiano", SF(QC_SRC_TIMGM6MB, 4), .pitched = true, .held_out = true, .lo = 36, .hi = 88,
     .n_notes = 5, .hold_ms = 800},
    {"tim-organ", SF(QC_SRC_TIMGM6MB, 16), .pitched = true, .held_out = true, .lo = 36, .hi = 84,
     .n_notes = 4, .hold_ms = 1000},
    {"tim-steel-guitar", SF(QC_SRC_TIMGM6MB, 25), .pitched = true, .held_out = true, .lo = 40,
     .hi = 76, .n_notes = 4, .hold_ms = 800},
    {"tim-synth-bass", SF(QC_SRC_TIMGM6MB, 38), .pitched = true, .held_out = true, .lo = 28,
     .hi = 55, .n_notes = 4, .hold_ms = 800},
    {"tim-slow-strings", SF(QC_SRC_TIMGM6MB, 49), .pitched = true, .held_out = true, .lo = 43,
     .hi = 84, .n_notes = 4, .hold_ms = 1500},
    {"tim-trumpet", SF(QC_SRC_TIMGM6MB, 56), .pitched = true, .held_out = true, .lo = 55, .hi = 82,
     .n_notes = 4, .hold_ms = 900},
    {"tim-saw-wave", SF(QC_SRC_TIMGM6MB, 81), .pitched = true, .held_out = true, .lo = 33, .hi = 81,
     .n_notes = 5, .hold_ms = 900},
    {"tim-choir", SF(QC_SRC_TIMGM6MB, 52), .pitched = true, .held_out = true, .lo = 48, .hi = 79,
     .n_notes = 4, .hold_ms = 1500},
    /* MuseScore General: tuning */
    {"ms-grand-piano", SF(QC_SRC_MUSESCORE, 0), .pitched = true, .lo = 24, .hi = 96, .n_notes = 5,
     .hold_ms = 800},
    {"ms-fm-epiano", SF(QC_SRC_MUSESCORE, 5), .pitched = true, .lo = 36, .hi = 84, .n_notes = 4,
     .hold_ms = 800},
    {"ms-marimba", SF(QC_SRC_MUSESCORE, 12), .pitched = true, .lo = 48, .hi = 84, .n_notes = 4,
     .hold_ms = 600},
    {"ms-rock-organ", SF(QC_SRC_MUSESCORE, 18), .pitched = true, .lo = 36, .hi = 84, .n_notes = 4,
     .hold_ms = 1000},
    {"ms-acoustic-bass", SF(QC_SRC_MUSESCORE, 32), .pitched = true, .lo = 28, .hi = 55,
     .n_notes = 4, .hold_ms = 800},
    {"ms-cello", SF(QC_SRC_MUSESCORE, 42), .pitched = true, .lo = 36, .hi = 72, .n_notes = 4,
     .hold_ms = 1200},
    {"ms-alto-sax", SF(QC_SRC_MUSESCORE, 65), .pitched = true, .lo = 49, .hi = 80, .n_notes = 4,
     .hold_ms = 900},
    {"ms-square-lead", SF(QC_SRC_MUSESCORE, 80), .pitched = true, .lo = 36, .hi = 84, .n_notes = 4,
     .hold_ms = 900},
    /* MuseScore General: held out */
    {"ms-bright-piano", SF(QC_SRC_MUSESCORE, 1), .pitched = true, .held_out = true, .lo = 28,
     .hi = 96, .n_notes = 5, .hold_ms = 800},
    {"ms-accordion", SF(QC_SRC_MUSESCORE, 21), .pitched = true, .held_out = true, .lo = 53,
     .hi = 81, .n_notes = 4, .hold_ms = 1000},
    {"ms-jazz-guitar", SF(QC_SRC_MUSESCORE, 26), .pitched = true, .held_out = true, .lo = 40,
     .hi = 76, .n_notes = 4, .hold_ms = 800},
    {"ms-violin", SF(QC_SRC_MUSESCORE, 40), .pitched = true, .held_out = true, .lo = 55, .hi = 91,
     .n_notes = 4, .hold_ms = 1200},
    {"ms-choir", SF(QC_SRC_MUSESCORE, 52), .pitched = true, .held_out = true, .lo = 48, .hi = 79,
     .n_notes = 4, .hold_ms = 1500},
    {"ms-clarinet", SF(QC_SRC_MUSESCORE, 71), .pitched = true, .held_out = true, .lo = 50, .hi = 86,
     .n_notes = 4, .hold_ms = 900},
    {"ms-saw-lead", SF(QC_SRC_MUSESCORE, 81), .pitched = true, .held_out = true, .lo = 36, .hi = 84,
     .n_notes = 4, .hold_ms = 900},
    {"ms-warm-pad", SF(QC_SRC_MUSESCORE, 89), .pitched = true, .held_out = true, .lo = 36, .hi = 84,
     .n_notes = 4, .hold_ms = 1500},
    /* OPL-3 FM bank: tuning */
    {"opl-piano", SF(QC_SRC_OPL3, 0), .pitched = true, .lo = 36, .hi = 84, .n_notes = 4,
     .hold_ms = 800},
    {"opl-organ", SF(QC_SRC_OPL3, 16), .pitched = true, .lo = 36, .hi = 84, .n_notes = 4,
     .hold_ms = 1000},
    {"opl-bass", SF(QC_SRC_OPL3, 33), .pitched = true, .lo = 28, .hi = 55, .n_notes = 4,
     .hold_ms = 800},
    {"opl-strings", SF(QC_SRC_OPL3, 48), .pitched = true, .lo = 43, .hi = 84, .n_notes = 4,
     .hold_ms = 1200},
    {"opl-flute", SF(QC_SRC_OPL3, 73), .pitched = true, .lo = 60, .hi = 96, .n_notes = 4,
     .hold_ms = 900},
    {"opl-square-lead", SF(QC_SRC_OPL3, 80), .pitched = true, .lo = 36, .hi = 84, .n_notes = 4,
     .hold_ms = 900},
    /* OPL-3 FM bank: held out */
    {"opl-epiano", SF(QC_SRC_OPL3, 4), .pitched = true, .held_out = true, .lo = 36, .hi = 84,
     .n_notes = 4, .hold_ms = 800},
    {"opl-synth-bass", SF(QC_SRC_OPL3, 38), .pitched = true, .held_out = true, .lo = 28, .hi = 55,
     .n_notes = 4, .hold_ms = 800},
    {"opl-brass", SF(QC_SRC_OPL3, 61), .pitched = true, .held_out = true, .lo = 48, .hi = 79,
     .n_notes = 4, .hold_ms = 900},
    {"opl-saw-lead", SF(QC_SRC_OPL3, 81), .pitched = true, .held_out = true, .lo = 36, .hi = 84,
     .n_notes = 4, .hold_ms = 900},
    {"opl-pad", SF(QC_SRC_OPL3, 89), .pitched = true, .held_out = true, .lo = 36, .hi = 84,
     .n_notes = 4, .hold_ms = 1500},
    {"opl-synth-strings", SF(QC_SRC_OPL3, 50), .pitched = true, .held_out = true, .lo = 43,
     .hi = 84, .n_notes = 4, .hold_ms = 1200},
    /* AVL drums: one kit each way */
    {"avl-black-pearl", SF(QC_SRC_AVLDRUMS, 0), .file = 0, .pitched = false, .n_notes = 9,
     .hold_ms = 500},
    {"avl-red-zeppelin", SF(QC_SRC_AVLDRUMS, 0), .file = 1, .pitched = false, .held_out = true,
     .n_notes = 9, .hold_ms = 500},
    /* Oscillators: tuning */
    {"osc-saw-lead", OSC(.wave = QC_WAVE_SAW, .attack_ms = 2, .sustain = 1, .release_ms = 150),
     .pitched = true, .lo = 33, .hi = 81, .n_notes = 5, .hold_ms = 900},
    {"osc-saw-bass",
     OSC(.wave = QC_WAVE_SAW, .attack_ms = 1, .decay_s = 0.8, .sustain = 0.6, .release_ms = 80),
     .pitched = true, .lo = 21, .hi = 45, .n_notes = 4, .hold_ms = 900},
    {"osc-square-bass", OSC(.wave = QC_WAVE_SQUARE, .attack_ms = 1, .sustain = 1, .release_ms = 60),
     .pitched = true, .lo = 21, .hi = 45, .n_notes = 4, .hold_ms = 900},
    {"osc-pulse25-lead",
     OSC(.wave = QC_WAVE_PULSE, .width = 0.25, .attack_ms = 3, .sustain = 1, .release_ms = 120),
     .pitched = true, .lo = 21, .hi = 84, .n_notes = 5, .hold_ms = 900},
    {"osc-pulse10-pluck",
     OSC(.wave = QC_WAVE_PULSE, .width = 0.1, .attack_ms = 0.5, .decay_s = 0.3, .sustain = 0,
         .release_ms = 100),
     .pitched = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 900},
    {"osc-supersaw-pad",
     OSC(.wave = QC_WAVE_SUPERSAW, .spread_cents = 30, .rise = QC_RISE_RC, .rise_k = 3,
         .attack_ms = 350, .sustain = 1, .release_ms = 500),
     .pitched = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 1500},
    {"osc-pwm-pad",
     OSC(.wave = QC_WAVE_PWM, .width = 0.3, .pwm_depth = 0.15, .pwm_hz = 0.8, .rise = QC_RISE_POWER,
         .rise_k = 2, .attack_ms = 500, .sustain = 1, .release_ms = 500),
     .pitched = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 1500},
    {"osc-fm-bell",
     OSC(.wave = QC_WAVE_FM_BELL, .attack_ms = 1, .decay_s = 1.5, .sustain = 0, .release_ms = 400),
     .pitched = true, .lo = 48, .hi = 96, .n_notes = 4, .hold_ms = 900},
    {"osc-noise-hit",
     OSC(.wave = QC_WAVE_NOISE_HIT, .attack_ms = 0.5, .decay_s = 0.08, .sustain = 0,
         .release_ms = 40),
     .pitched = false, .lo = 36, .hi = 72, .n_notes = 3, .hold_ms = 400},
    {"osc-saw-swell",
     OSC(.wave = QC_WAVE_SAW, .rise = QC_RISE_EXP, .rise_k = 5, .attack_ms = 800, .sustain = 1,
         .release_ms = 400),
     .pitched = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 1600},
    {"osc-organ", OSC(.wave = QC_WAVE_ORGAN, .attack_ms = 2, .sustain = 1, .release_ms = 40),
     .pitched = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 1200},
    /* Oscillators: held out */
    {"osc-saw-pad-cubic",
     OSC(.wave = QC_WAVE_SAW, .rise = QC_RISE_POWER, .rise_k = 3, .attack_ms = 600, .sustain = 1,
         .release_ms = 500),
     .pitched = true, .held_out = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 1500},
    {"osc-square-lead",
     OSC(.wave = QC_WAVE_SQUARE, .attack_ms = 3, .sustain = 1, .release_ms = 100), .pitched = true,
     .held_out = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 900},
    {"osc-pulse40-bass",
     OSC(.wave = QC_WAVE_PULSE, .width = 0.4, .attack_ms = 1, .decay_s = 0.5, .sustain = 0.5,
         .release_ms = 60),
     .pitched = true, .held_out = true, .lo = 21, .hi = 48, .n_notes = 4, .hold_ms = 900},
    {"osc-pulse15-lead",
     OSC(.wave = QC_WAVE_PULSE, .width = 0.15, .attack_ms = 2, .sustain = 1, .release_ms = 120),
     .pitched = true, .held_out = true, .lo = 33, .hi = 84, .n_notes = 4, .hold_ms = 900},
    {"osc-supersaw-stab",
     OSC(.wave = QC_WAVE_SUPERSAW, .spread_cents = 20, .attack_ms = 1, .decay_s = 0.4,
         .sustain = 0.3, .release_ms = 200),
     .pitched = true, .held_out = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 900},
    {"osc-pwm-lead",
     OSC(.wave = QC_WAVE_PWM, .width = 0.35, .pwm_depth = 0.2, .pwm_hz = 2, .attack_ms = 5,
         .sustain = 1, .release_ms = 150),
     .pitched = true, .held_out = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 900},
    {"osc-fm-bell-low",
     OSC(.wave = QC_WAVE_FM_BELL, .attack_ms = 2, .decay_s = 2.5, .sustain = 0, .release_ms = 600),
     .pitched = true, .held_out = true, .lo = 36, .hi = 72, .n_notes = 4, .hold_ms = 900},
    {"osc-noise-snap",
     OSC(.wave = QC_WAVE_NOISE_HIT, .attack_ms = 0.3, .decay_s = 0.15, .sustain = 0,
         .release_ms = 60),
     .pitched = false, .held_out = true, .lo = 36, .hi = 72, .n_notes = 3, .hold_ms = 400},
    {"osc-rc-pad",
     OSC(.wave = QC_WAVE_SAW, .rise = QC_RISE_RC, .rise_k = 4, .attack_ms = 900, .sustain = 1,
         .release_ms = 600),
     .pitched = true, .held_out = true, .lo = 36, .hi = 84, .n_notes = 4, .hold_ms = 1800},
    /* MuseScore General: held out, added for the sustain loops (test_real_string_loops) */
    {"ms-strings", SF(QC_SRC_MUSESCORE, 48), .pitched = true, .held_out = true, .lo = 43, .hi = 91,
     .n_notes = 4, .hold_ms = 1500},
    {"ms-slow-strings", SF(QC_SRC_MUSESCORE, 49), .pitched = true, .held_out = true, .lo = 43,
     .hi = 84, .n_notes = 4, .hold_ms = 1500},
    /* csound's GM bank: validation, all held out (picked by General MIDI family, before
     * any figure on this bank was seen; nothing is tuned on it) */
    CS("cs-electric-grand", 2, 28, 96, 5, 800),
    CS("cs-harpsichord", 6, 41, 89, 4, 800),
    CS("cs-celesta", 8, 60, 96, 4, 800),
    CS("cs-xylophone", 13, 65, 96, 4, 600),
    CS("cs-percussive-organ", 17, 36, 84, 4, 1000),
    CS("cs-harmonica", 22, 60, 84, 4, 900),
    CS("cs-clean-guitar", 27, 40, 76, 4, 800),
    CS("cs-fretless-bass", 35, 28, 55, 4, 800),
    CS("cs-viola", 41, 48, 84, 4, 1200),
    CS("cs-harp", 46, 36, 91, 5, 800),
    CS("cs-synth-strings", 50, 43, 84, 4, 1500),
    CS("cs-voice-oohs", 53, 48, 79, 4, 1500),
    CS("cs-trombone", 57, 40, 72, 4, 900),
    CS("cs-french-horns", 60, 41, 77, 4, 1000),
    CS("cs-tenor-sax", 66, 44, 75, 4, 900),
    CS("cs-oboe", 68, 58, 91, 4, 900),
    CS("cs-pan-flute", 75, 60, 96, 4, 1000),
    CS("cs-charang", 84, 36, 84, 4, 900),
    CS("cs-fantasia-pad", 88, 36, 84, 4, 1500),
    CS("cs-sweep-pad", 95, 36, 84, 4, 1500),
    CS("cs-sitar", 104, 48, 77, 4, 900),
    CS("cs-steel-drum", 114, 52, 76, 4, 800),
    {"cs-standard-kit", SF(QC_SRC_CSOUND, 0), .bank = 128, .pitched = false, .held_out = true,
     .n_notes = 9, .hold_ms = 500},
    /* freepats through TiMidity++: validation, all held out (picked by General MIDI family
     * among the programs the set has, before any figure on it was seen) */
    FP("fp-grand-piano", 0, 28, 96, 5, 800),
    FP("fp-clavinet", 7, 36, 84, 4, 800),
    FP("fp-tubular-bells", 14, 60, 77, 4, 1000),
    FP("fp-hammond-organ", 16, 36, 84, 4, 1000),
    FP("fp-tango-accordion", 23, 53, 81, 4, 1000),
    FP("fp-steel-guitar", 25, 40, 76, 4, 800),
    FP("fp-finger-bass", 33, 28, 55, 4, 800),
    FP("fp-violin", 40, 55, 91, 4, 1200),
    FP("fp-tremolo-strings", 44, 43, 84, 4, 1200),
    FP("fp-string-ensemble", 48, 43, 91, 4, 1500),
    FP("fp-voice-oohs", 53, 48, 79, 4, 1500),
    FP("fp-trumpet", 56, 55, 82, 4, 900),
    FP("fp-brass-section", 61, 41, 77, 4, 900),
    FP("fp-baritone-sax", 67, 36, 69, 4, 900),
    FP("fp-bassoon", 70, 34, 70, 4, 900),
    FP("fp-flute", 73, 60, 96, 4, 1000),
    FP("fp-square-wave", 80, 36, 84, 4, 900),
    FP("fp-new-age-pad", 88, 36, 84, 4, 1500),
    FP("fp-halo-pad", 94, 36, 84, 4, 1500),
    FP("fp-steel-drums", 114, 52, 76, 4, 800),
    {"fp-drum-kit", SF(QC_SRC_FREEPATS, 0), .bank = 128, .pitched = false, .held_out = true,
     .n_notes = 9, .hold_ms = 500},
};

#define S_N_INST (sizeof s_inst / sizeof s_inst[0])

/* The drum kits' General MIDI drum notes: kick, snare, side stick, closed and open hat,
 * low and high tom, crash, ride. */
static const int s_drum_notes[] = {36, 38, 37, 42, 46, 41, 48, 49, 51};
static const int s_velocities[] = {40, 90, 127};

const qc_real_inst_t *qc_real_instruments(size_t *count)
{
    *count = S_N_INST;
    return s_inst;
}

static uint64_t s_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static double s_unit(uint64_t h)
{
    return (double)(h >> 11) / 9007199254740992.0;
}

qc_real_setup_t qc_real_setup(int inst)
{
    uint64_t h = s_mix(0xB47C0000ULL + (uint64_t)inst);
    qc_real_setup_t s;
    s.latency_ms = 2.0 + 13.0 * s_unit(h);
    s.noise_db = -84.0 + 18.0 * s_unit(s_mix(h + 1));
    bool hum = s_mix(h + 2) % 3 == 0;
    s.hum_db = hum ? s.noise_db + 10.0 * s_unit(s_mix(h + 3)) : -300.0;
    s.hum_hz = s_mix(h + 4) % 2 ? 50.0 : 60.0;
    return s;
}

static const char *const s_src_names[] = {"timgm6mb",    "musescore", "opl3",    "avldrums",
                                          "oscillators", "csound",    "freepats"};
_Static_assert(sizeof s_src_names / sizeof s_src_names[0] == QC_SRC_COUNT, "a name per source");

const char *qc_real_src_name(qc_src_t src)
{
    return (unsigned)src < QC_SRC_COUNT ? s_src_names[src] : "?";
}

const char *qc_real_soundfont(qc_src_t src, int file)
{
    switch (src) {
    case QC_SRC_TIMGM6MB:
        return "/usr/share/sounds/sf2/TimGM6mb.sf2";
    case QC_SRC_MUSESCORE:
        return access("/usr/share/sounds/sf3/MuseScore_General.sf3", R_OK) == 0
                   ? "/usr/share/sounds/sf3/MuseScore_General.sf3"
                   : "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3";
    case QC_SRC_OPL3:
        return "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2";
    case QC_SRC_AVLDRUMS:
        return file ? "/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"
                    : "/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2";
    case QC_SRC_CSOUND:
        return "/usr/share/sounds/sf2/sf_GMbank.sf2";
    case QC_SRC_FREEPATS:
        return S_FREEPATS_CFG;
    default:
        return NULL;
    }
}

bool qc_real_available(qc_src_t src)
{
    if (src == QC_SRC_OSC)
        return true;
    if (src == QC_SRC_FREEPATS)
        return access(S_FREEPATS_CFG, R_OK) == 0 && access(S_TIMIDITY, X_OK) == 0;
#ifdef S_FLUID
    const char *a = qc_real_soundfont(src, 0), *b = qc_real_soundfont(src, 1);
    return access(a, R_OK) == 0 && access(b, R_OK) == 0;
#else
    return false;
#endif
}

static int s_note(const qc_real_inst_t *in, int k)
{
    if (in->src == QC_SRC_AVLDRUMS || in->bank == 128)
        return s_drum_notes[k];
    if (in->n_notes < 2)
        return in->lo;
    return in->lo + (int)lround((double)k * (in->hi - in->lo) / (in->n_notes - 1));
}

size_t qc_real_takes(qc_real_spec_t *out, size_t cap, unsigned src_mask, bool tuning, bool held_out,
                     int every)
{
    size_t n = 0;
    uint64_t k = 0;
    if (every < 1)
        every = 1;
    for (size_t i = 0; i < S_N_INST; i++) {
        const qc_real_inst_t *in = &s_inst[i];
        if (!(src_mask & (1u << in->src)) || (in->held_out ? !held_out : !tuning))
            continue;
        for (int nk = 0; nk < in->n_notes; nk++)
            for (int v = 0; v < 3; v++, k++) {
                if (k % (uint64_t)every)
                    continue;
                if (n < cap) {
                    qc_real_spec_t sp = QC_REAL_SPEC_INIT;
                    sp.inst = (int)i;
                    sp.note = s_note(in, nk);
                    sp.velocity = s_velocities[v];
                    uint64_t h = s_mix(((uint64_t)i << 16) ^ ((uint64_t)sp.note << 8) ^
                                       (uint64_t)sp.velocity);
                    sp.jitter_ms = s_unit(h) - 0.5;
                    sp.seed = (uint32_t)s_mix(h);
                    out[n] = sp;
                }
                n++;
            }
    }
    return n;
}

/* ---- FluidSynth ---- */

#ifdef S_FLUID
typedef struct {
    fluid_settings_t *settings;
    fluid_synth_t *synth;
    int sfont, rate;
} s_fluid_t;

static s_fluid_t s_fl[QC_SRC_COUNT][2];

static void s_fluid_close(s_fluid_t *f)
{
    if (f->synth)
        delete_fluid_synth(f->synth);
    if (f->settings)
        delete_fluid_settings(f->settings);
    memset(f, 0, sizeof *f);
}

static s_fluid_t *s_fluid(qc_src_t src, int file, int rate)
{
    s_fluid_t *f = &s_fl[src][file ? 1 : 0];
    if (f->synth && f->rate == rate)
        return f;
    s_fluid_close(f);
    fluid_set_log_function(FLUID_WARN, NULL, NULL);
    fluid_set_log_function(FLUID_INFO, NULL, NULL);
    f->settings = new_fluid_settings();
    if (!f->settings)
        return NULL;
    fluid_settings_setnum(f->settings, "synth.sample-rate", rate);
    fluid_settings_setnum(f->settings, "synth.gain", 1.0);
    fluid_settings_setint(f->settings, "synth.reverb.active", 0);
    fluid_settings_setint(f->settings, "synth.chorus.active", 0);
    fluid_settings_setint(f->settings, "synth.cpu-cores", 1);
    fluid_settings_setint(f->settings, "synth.polyphony", 64);
    fluid_settings_setint(f->settings, "synth.dynamic-sample-loading", 1);
    f->synth = new_fluid_synth(f->settings);
    if (!f->synth) {
        s_fluid_close(f);
        return NULL;
    }
    f->sfont = fluid_synth_sfload(f->synth, qc_real_soundfont(src, file), 0);
    if (f->sfont == FLUID_FAILED) {
        s_fluid_close(f);
        return NULL;
    }
    f->rate = rate;
    return f;
}
#endif

static void s_pre_clear(void);

void qc_real_shutdown(void)
{
    s_pre_clear();
#ifdef S_FLUID
    for (int s = 0; s < QC_SRC_COUNT; s++)
        for (int k = 0; k < 2; k++)
            s_fluid_close(&s_fl[s][k]);
#endif
}

/* ---- TiMidity++ ---- */

/* One note as TiMidity++ plays it: what its MIDI file and its run depend on. */
typedef struct {
    int inst, note, velocity, bend, rate;
    int32_t off_ms; /* the note-off */
} s_tim_key_t;

static s_tim_key_t s_tim_key(const qc_real_inst_t *in, const qc_real_spec_t *sp, int64_t hold)
{
    int bend = 8192 + (int)lround(sp->detune_cents / 200.0 * 8192.0);
    return (s_tim_key_t){.inst = (int)(in - s_inst),
                         .note = sp->note,
                         .velocity = sp->velocity,
                         .bend = bend < 0       ? 0
                                 : bend > 16383 ? 16383
                                                : bend,
                         .rate = sp->rate,
                         .off_ms = (int32_t)(hold * 1000 / sp->rate)};
}

/* Writes the one-note MIDI file of k. Returns 0, -1 on error. */
static int s_tim_midi(const char *path, const s_tim_key_t *k)
{
    const qc_real_inst_t *in = &s_inst[k->inst];
    const bool kit = in->bank == 128;
    const uint8_t chan = kit ? 9 : 0;
    smf_event_t ev[] = {
        {0, {(uint8_t)(0xB0 | chan), 7, 127}},
        {0, {(uint8_t)(0xB0 | chan), 11, 127}},
        {0, {(uint8_t)(0xC0 | chan), (uint8_t)(kit ? 0 : in->program), 0}},
        {0, {(uint8_t)(0xE0 | chan), (uint8_t)(k->bend & 0x7F), (uint8_t)(k->bend >> 7)}},
        {0, {(uint8_t)(0x90 | chan), (uint8_t)k->note, (uint8_t)k->velocity}},
        {k->off_ms, {(uint8_t)(0x80 | chan), (uint8_t)k->note, 0}},
    };
    return smf_write(path, ev, sizeof ev / sizeof ev[0], (int32_t)(S_MAX_TAIL_S * 1000));
}

/* Reads TiMidity's WAV (into x, max frames, stereo), up to where the tail stays below
 * S_SILENT. Returns the frames, -1 when it cannot be read. */
static int64_t s_tim_read(const char *wav, int rate, int64_t hold, int64_t max, float *x)
{
    SF_INFO fi = {0};
    SNDFILE *f = sf_open(wav, SFM_READ, &fi);
    int64_t n = -1;
    if (f && fi.channels == 2 && fi.samplerate == rate) {
        n = sf_readf_float(f, x, max);
        int64_t last = 0;
        for (int64_t i = 0; i < 2 * n; i++)
            last = fabsf(x[i]) >= S_SILENT ? i / 2 : last;
        if (n > hold && n > last + S_QUIET_FRAMES)
            n = last + S_QUIET_FRAMES > hold ? last + S_QUIET_FRAMES : hold;
    }
    if (f)
        sf_close(f);
    return n;
}

/* The command that plays `files` (MIDI paths, each written beside it as NAME.wav) at rate:
 * dry (no reverb, chorus or delay), 24-bit, no noise shaping, amplification 50 % (a single
 * note stays under full scale). Malloc'd. */
static char *s_tim_command(int rate, const char *out, char *const *files, size_t n)
{
    size_t len = 512 + (out ? strlen(out) + 8 : 0);
    for (size_t i = 0; i < n; i++)
        len += strlen(files[i]) + 3;
    char *cmd = malloc(len);
    if (!cmd)
        return NULL;
    int at = snprintf(cmd, len,
                      S_TIMIDITY " -c " S_FREEPATS_CFG " -s %d -Ow --output-24bit --output-stereo "
                                 "-A50 -EFreverb=0 -EFchorus=0 -EFdelay=0 -EFns=0",
                      rate);
    if (out)
        at += snprintf(cmd + at, len - (size_t)at, " -o '%s'", out);
    for (size_t i = 0; i < n; i++)
        at += snprintf(cmd + at, len - (size_t)at, " '%s'", files[i]);
    snprintf(cmd + at, len - (size_t)at, " >/dev/null 2>&1");
    return cmd;
}

/* Notes qc_real_prefetch had TiMidity play, in s_pre_dir as nN.wav (N: the index). */
static struct {
    s_tim_key_t *key;
    size_t n, cap;
    char dir[512];
} s_pre;

static void s_pre_clear(void)
{
    char path[600];
    for (size_t i = 0; i < s_pre.n; i++) {
        snprintf(path, sizeof path, "%s/n%zu.wav", s_pre.dir, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/n%zu.mid", s_pre.dir, i);
        unlink(path);
    }
    if (s_pre.dir[0])
        rmdir(s_pre.dir);
    free(s_pre.key);
    memset(&s_pre, 0, sizeof s_pre);
}

static bool s_tim_same(const s_tim_key_t *a, const s_tim_key_t *b)
{
    return a->inst == b->inst && a->note == b->note && a->velocity == b->velocity &&
           a->bend == b->bend && a->rate == b->rate && a->off_ms == b->off_ms;
}

/* The clean note played by TiMidity++ from a one-note MIDI file (into x, max frames,
 * stereo); channel 10 for a kit. TiMidity starts the note a constant few frames in; like
 * any instrument's latency, that is part of the take. Read from qc_real_prefetch's
 * renders when it made this one, else played alone. Returns the frames up to where the
 * tail stays below S_SILENT, or -1. */
static int64_t s_render_timidity(const qc_real_inst_t *in, const qc_real_spec_t *sp, int64_t hold,
                                 int64_t max, float *x)
{
    const s_tim_key_t key = s_tim_key(in, sp, hold);
    char mid[600], wav[600];
    for (size_t i = 0; i < s_pre.n; i++)
        if (s_tim_same(&s_pre.key[i], &key)) {
            snprintf(wav, sizeof wav, "%s/n%zu.wav", s_pre.dir, i);
            int64_t n = s_tim_read(wav, sp->rate, hold, max, x);
            if (n >= 0)
                return n;
        }
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bb_qc_timidity_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(mid, sizeof mid, "%s/note.mid", dir);
    snprintf(wav, sizeof wav, "%s/note.wav", dir);
    int64_t n = -1;
    if (s_tim_midi(mid, &key) == 0) {
        char *files[] = {mid};
        char *cmd = s_tim_command(sp->rate, wav, files, 1);
        if (cmd && system(cmd) == 0)
            n = s_tim_read(wav, sp->rate, hold, max, x);
        free(cmd);
    }
    unlink(wav);
    unlink(mid);
    rmdir(dir);
    return n;
}

/* The clean note (stereo, malloc'd in *out): note-on at frame 0, note-off at hold, until
 * the tail stays below S_SILENT or S_MAX_TAIL_S after the note-off. */
static int64_t s_render_clean(const qc_real_inst_t *in, const qc_real_spec_t *sp, int hold_ms,
                              double gain, int64_t stop, float **out)
{
    const int rate = sp->rate;
    const int64_t hold = (int64_t)hold_ms * rate / 1000;
    int64_t max = hold + (int64_t)(S_MAX_TAIL_S * rate) + S_CHUNK;
    if (stop > 0 && stop < max)
        max = stop + S_CHUNK;
    float *x = calloc((size_t)max * 2, sizeof(float));
    if (!x)
        return -1;
    int64_t n = -1;
    if (in->src == QC_SRC_OSC) {
        double hz = 440.0 * pow(2.0, (sp->note - 69) / 12.0) * pow(2.0, sp->detune_cents / 1200.0);
        double amp = gain * pow(sp->velocity / 127.0, S_VEL_CURVE);
        n = qc_osc_render(&in->osc, hz, amp, rate, hold, max, sp->seed, x);
    } else if (in->src == QC_SRC_FREEPATS) {
        n = s_render_timidity(in, sp, hold, max, x);
    } else {
#ifdef S_FLUID
        /* One synth per SoundFont, reset between notes. FluidSynth keeps a little state
         * from note to note (a render can move by a frame or two): the same sequence of
         * takes renders the same every time, the same take after other ones may differ a
         * little. (A fresh synth per note re-decodes the compressed MuseScore samples.) */
        s_fluid_t *f = s_fluid(in->src, in->file, rate);
        if (f)
            fluid_synth_system_reset(f->synth);
        float l[S_CHUNK], r[S_CHUNK];
        if (f) {
            fluid_synth_program_select(f->synth, 0, f->sfont, in->bank, in->program);
            /* kept loaded: with dynamic sample loading, the reset above unselects the
             * preset and frees its samples, and the next note of it decoded a MuseScore
             * preset's Ogg Vorbis samples again (a third of a loop test's time) */
            fluid_synth_pin_preset(f->synth, f->sfont, in->bank, in->program);
            int bend = 8192 + (int)lround(sp->detune_cents / 200.0 * 8192.0);
            fluid_synth_pitch_bend(f->synth, 0, bend < 0 ? 0 : bend > 16383 ? 16383 : bend);
            fluid_synth_noteon(f->synth, 0, sp->note, sp->velocity);
            int64_t quiet = 0;
            for (n = 0; n + S_CHUNK <= max;) {
                if (n == hold - hold % S_CHUNK)
                    fluid_synth_noteoff(f->synth, 0, sp->note);
                fluid_synth_write_float(f->synth, S_CHUNK, l, 0, 1, r, 0, 1);
                float peak = 0;
                for (int i = 0; i < S_CHUNK; i++) {
                    x[2 * (n + i)] = (float)(l[i] * gain);
                    x[2 * (n + i) + 1] = (float)(r[i] * gain);
                    float a = fabsf(l[i]) > fabsf(r[i]) ? fabsf(l[i]) : fabsf(r[i]);
                    peak = a > peak ? a : peak;
                }
                n += S_CHUNK;
                quiet = peak * gain < S_SILENT ? quiet + S_CHUNK : 0;
                if (n > hold && quiet >= S_QUIET_FRAMES)
                    break;
            }
            fluid_synth_all_sounds_off(f->synth, -1);
        }

#endif
    }
    if (n < 0) {
        free(x);
        return -1;
    }
    *out = x;
    return n;
}

/* The notes s_gain plays at velocity 127: the lowest and the middle note, every drum of
 * a kit. Returns how many (at most in->n_notes) written to notes. */
static int s_gain_notes(const qc_real_inst_t *in, int *notes)
{
    const bool kit = in->src == QC_SRC_AVLDRUMS || in->bank == 128;
    const int step = kit ? 1 : in->n_notes / 2 > 0 ? in->n_notes / 2 : 1;
    int m = 0;
    for (int k = 0; k < in->n_notes && (kit || k <= in->n_notes / 2); k += step)
        notes[m++] = s_note(in, k);
    return m;
}

/* The gain of each instrument at 48 and 96 kHz, once known (0: not yet). */
static double s_gain_cache[S_N_INST][2];

/* The level of an instrument: the gain that puts the louder of its lowest and middle
 * notes at velocity 127 at S_PEAK_DB (low notes are an instrument's loudest, and the
 * peak leaves 3 dB to full scale); a drum kit's loudest drum, whichever it is. Kept per
 * instrument and rate (48 and 96 kHz). */
static double s_gain(int idx, const qc_real_inst_t *in, int rate)
{
    int slot = rate == 48000 ? 0 : rate == 96000 ? 1 : -1;
    if (slot >= 0 && s_gain_cache[idx][slot] > 0)
        return s_gain_cache[idx][slot];
    double peak = 0;
    int notes[128];
    const int m = s_gain_notes(in, notes);
    for (int k = 0; k < m; k++) {
        qc_real_spec_t sp = QC_REAL_SPEC_INIT;
        sp.rate = rate;
        sp.velocity = 127;
        sp.note = notes[k];
        float *x = NULL;
        int64_t upto = (int64_t)in->hold_ms * rate / 1000 + rate / 10; /* the tail is quieter */
        int64_t n = s_render_clean(in, &sp, in->hold_ms, 1.0, upto, &x);
        for (int64_t i = 0; i < 2 * n; i++)
            peak = fabs(x[i]) > peak ? fabs(x[i]) : peak;
        free(x);
    }
    double g = peak > 0 ? pow(10.0, S_PEAK_DB / 20.0) / peak : 1.0;
    if (slot >= 0)
        s_gain_cache[idx][slot] = g;
    return g;
}

/* Adds k to the notes to prefetch unless there already. */
static bool s_pre_add(const s_tim_key_t *k)
{
    for (size_t i = 0; i < s_pre.n; i++)
        if (s_tim_same(&s_pre.key[i], k))
            return true;
    if (s_pre.n == s_pre.cap) {
        size_t cap = s_pre.cap ? 2 * s_pre.cap : 64;
        s_tim_key_t *key = realloc(s_pre.key, cap * sizeof *key);
        if (!key)
            return false;
        s_pre.key = key, s_pre.cap = cap;
    }
    s_pre.key[s_pre.n++] = *k;
    return true;
}

void qc_real_prefetch(const qc_real_spec_t *specs, size_t n)
{
    if (!qc_real_available(QC_SRC_FREEPATS))
        return;
    if (!s_pre.dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(s_pre.dir, sizeof s_pre.dir, "%s/bb_qc_timidity_XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(s_pre.dir)) {
            s_pre.dir[0] = '\0';
            return;
        }
        atexit(s_pre_clear);
    }
    const size_t first = s_pre.n;
    for (size_t i = 0; i < n; i++) {
        if (specs[i].inst < 0 || (size_t)specs[i].inst >= S_N_INST)
            continue;
        const qc_real_inst_t *in = &s_inst[specs[i].inst];
        const int rate = specs[i].rate;
        if (in->src != QC_SRC_FREEPATS || rate < 8000)
            continue;
        const int hold_ms = specs[i].hold_ms > 0 ? specs[i].hold_ms : in->hold_ms;
        s_tim_key_t k = s_tim_key(in, &specs[i], (int64_t)hold_ms * rate / 1000);
        int slot = rate == 48000 ? 0 : rate == 96000 ? 1 : -1;
        int notes[128];
        const int m =
            slot >= 0 && s_gain_cache[specs[i].inst][slot] > 0 ? 0 : s_gain_notes(in, notes);
        for (int g = 0; g < m; g++) { /* the level's notes, as s_gain plays them */
            qc_real_spec_t sp = QC_REAL_SPEC_INIT;
            sp.rate = rate;
            sp.velocity = 127;
            sp.note = notes[g];
            s_tim_key_t kg = s_tim_key(in, &sp, (int64_t)in->hold_ms * rate / 1000);
            if (!s_pre_add(&kg))
                return;
        }
        if (!s_pre_add(&k))
            return;
    }
    /* one run per rate: TiMidity writes each nN.mid's note beside it as nN.wav (one that
     * fails is played alone when asked for) */
    const size_t count = s_pre.n - first;
    char **files = calloc(count + 1, sizeof *files);
    bool *done = calloc(count + 1, sizeof *done);
    for (size_t i = 0; files && done && i < count; i++) {
        if (done[i])
            continue;
        const int rate = s_pre.key[first + i].rate;
        size_t m = 0;
        for (size_t j = i; j < count; j++) {
            char path[600];
            snprintf(path, sizeof path, "%s/n%zu.mid", s_pre.dir, first + j);
            if (done[j] || s_pre.key[first + j].rate != rate)
                continue;
            done[j] = true;
            if (s_tim_midi(path, &s_pre.key[first + j]) == 0 && (files[m] = strdup(path)))
                m++;
        }
        char *cmd = s_tim_command(rate, NULL, files, m);
        if (cmd && system(cmd) != 0)
            fprintf(stderr, "qc_real: TiMidity++ failed on %zu notes; each is played alone\n", m);
        free(cmd);
        for (size_t j = 0; j < m; j++)
            free(files[j]), files[j] = NULL;
    }
    free(files);
    free(done);
}

/* ---- the take ---- */

static uint64_t s_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Standard normal (Box-Muller). */
static double s_gauss(uint64_t *s)
{
    double u = ((double)(s_rand(s) >> 11) + 0.5) / 9007199254740992.0;
    double v = (double)(s_rand(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(S_TWO_PI * v);
}

int qc_real_render(const qc_real_spec_t *sp, qc_real_take_t *t)
{
    memset(t, 0, sizeof *t);
    t->damage_at = -1;
    if (sp->inst < 0 || (size_t)sp->inst >= S_N_INST || sp->rate < 8000)
        return -1;
    const qc_real_inst_t *in = &s_inst[sp->inst];
    if (!qc_real_available(in->src))
        return -1;
    const qc_real_setup_t setup = qc_real_setup(sp->inst);
    const int rate = sp->rate;
    const int hold_ms = sp->hold_ms > 0 ? sp->hold_ms : in->hold_ms;
    double gain = in->src == QC_SRC_OSC ? pow(10.0, S_PEAK_DB / 20.0) : s_gain(sp->inst, in, rate);
    float *clean = NULL;
    int64_t n = s_render_clean(in, sp, hold_ms, gain, 0, &clean);
    if (n < 0)
        return -1;

    /* The clean render's first sample a 24-bit converter could record (S_START_LEVEL): a
     * voice's leading digital silence is not the note, but the foot of a rise that starts
     * from zero is, however far below any floor. */
    int64_t lead = 0;
    while (lead < n && fabsf(clean[2 * lead]) < S_START_LEVEL &&
           fabsf(clean[2 * lead + 1]) < S_START_LEVEL)
        lead++;
    double peak = 0;
    for (int64_t i = 0; i < 2 * n; i++)
        peak = fabs(clean[i]) > peak ? fabs(clean[i]) : peak;
    double drive = pow(10.0, sp->gain_db / 20.0);
    if (sp->clip_db < 0 && peak > 0)
        drive = pow(10.0, (sp->clip_db + sp->drive_db) / 20.0) / peak;

    const bool digital = sp->digital_bits > 0;
    const double noise = digital ? 0.0 : pow(10.0, setup.noise_db / 20.0);
    const double hum = !digital && setup.hum_db > -200 ? pow(10.0, setup.hum_db / 20.0) : 0.0;
    /* hum: fundamental, 2nd and 3rd harmonic at -6 and -10 dB; the RMS of the sum is hum */
    const double h1 = hum / sqrt(0.5 * (1 + 0.25 + 0.1)), h2 = h1 * 0.5, h3 = h1 * 0.316;
    const double floor_rms = sqrt(noise * noise + hum * hum);

    const int64_t pre = (int64_t)QC_REAL_PREROLL_MS * rate / 1000;
    const int64_t place =
        pre + (int64_t)llround((setup.latency_ms + sp->jitter_ms) * rate / 1000.0);
    t->note_on_frame = pre;
    t->note_off_frame = pre + (int64_t)hold_ms * rate / 1000;
    t->true_start = place + lead;
    t->audible = t->true_end = -1;
    /* RMS of the louder channel over the S_LEVEL_MS window starting at each frame
     * (running sums), against the floor's RMS */
    const int64_t win = (int64_t)S_LEVEL_MS * rate / 1000;
    double sum[2] = {0, 0};
    for (int64_t i = n - 1; i >= lead; i--) {
        for (int c = 0; c < 2; c++) {
            double v = clean[2 * i + c] * drive;
            sum[c] += v * v;
            if (i + win < n) {
                double o = clean[2 * (i + win) + c] * drive;
                sum[c] -= o * o;
            }
        }
        double ms = (sum[0] > sum[1] ? sum[0] : sum[1]) / (double)win;
        if (ms > floor_rms * floor_rms) {
            t->audible = place + i; /* the earliest, as the scan goes backwards */
            if (t->true_end < 0)
                t->true_end = place + i + win;
        }
    }
    if (t->audible < 0) /* never above the floor */
        t->audible = t->true_end = t->true_start;
    int64_t frames = t->true_end + (int64_t)S_END_PAD_MS * rate / 1000;
    if (frames < t->note_off_frame + rate / 20)
        frames = t->note_off_frame + rate / 20;
    if (frames > place + n + (int64_t)S_END_PAD_MS * rate / 1000)
        frames = place + n + (int64_t)S_END_PAD_MS * rate / 1000;
    if (frames < t->note_off_frame + rate / 20)
        frames = t->note_off_frame + rate / 20;

    float *x = malloc(sizeof(float) * (size_t)frames * 2);
    if (!x) {
        free(clean);
        return -1;
    }
    uint64_t rs = s_mix(sp->seed ^ ((uint64_t)sp->inst << 40)) | 1;
    double hum_ph = s_unit(s_mix(sp->seed + 17));
    /* the stage that flat-tops, else the converter's full scale */
    const double clip = sp->clip_db < 0 ? pow(10.0, sp->clip_db / 20.0) : 1.0;
    for (int64_t i = 0; i < frames; i++) {
        double hm = 0;
        if (hum > 0) {
            double ph = S_TWO_PI * (hum_ph + setup.hum_hz * (double)i / rate);
            hm = h1 * sin(ph) + h2 * sin(2 * ph + 0.7) + h3 * sin(3 * ph + 1.9);
        }
        for (int c = 0; c < 2; c++) {
            int64_t k = i - place;
            double s = k >= 0 && k < n ? clean[2 * k + c] * drive : 0.0;
            double v = s + noise * s_gauss(&rs) + hm;
            v = v > clip ? clip : v < -clip ? -clip : v;
            if (digital) { /* a converter's or a file's integer samples, rounded */
                double full = ldexp(1.0, sp->digital_bits - 1);
                v = round(v * full);
                v = (v > full - 1 ? full - 1 : v < -full ? -full : v) / full;
            }
            x[2 * i + c] = (float)v;
        }
    }
    free(clean);

    /* Damage a node or a cable could do. */
    const int b = sp->block > 0 ? sp->block : 64;
    if (sp->zero_block_ms >= 0) {
        int64_t at = t->true_start + (int64_t)llround(sp->zero_block_ms * rate / 1000.0);
        if (at + b < frames) {
            memset(x + 2 * at, 0, sizeof(float) * 2 * (size_t)b);
            t->damage_at = at;
        }
    }
    if (sp->repeat_block_ms >= 0) {
        int64_t at = t->true_start + (int64_t)llround(sp->repeat_block_ms * rate / 1000.0);
        if (at - b >= 0 && at + b < frames) {
            memcpy(x + 2 * at, x + 2 * (at - b), sizeof(float) * 2 * (size_t)b);
            t->damage_at = at;
        }
    }
    if (sp->jump_ms >= 0) {
        int64_t at = t->true_start + (int64_t)llround(sp->jump_ms * rate / 1000.0);
        if (at + b < frames) {
            memmove(x + 2 * at, x + 2 * (at + b), sizeof(float) * 2 * (size_t)(frames - at - b));
            frames -= b;
            if (t->true_end > at)
                t->true_end -= b;
            t->damage_at = at;
        }
    }
    t->audio = x;
    t->frames = frames;
    t->channels = 2;
    t->rate = rate;
    t->nominal_hz = 440.0 * pow(2.0, (sp->note - 69) / 12.0) * pow(2.0, sp->detune_cents / 1200.0);
    t->peak_db = 20 * log10(peak * drive > 1e-10 ? peak * drive : 1e-10);
    return 0;
}

void qc_real_free(qc_real_take_t *take)
{
    free(take->audio);
    take->audio = NULL;
}

int qc_real_write_wav(const char *path, const qc_real_take_t *t)
{
    SF_INFO info = {
        .samplerate = t->rate, .channels = t->channels, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf)
        return -1;
    sf_count_t w = sf_writef_float(sf, t->audio, t->frames);
    sf_close(sf);
    return w == t->frames ? 0 : -1;
}

double qc_real_write_raw(size_t *written, const char *dir, const qc_real_spec_t *specs, size_t n,
                         size_t count)
{
    size_t ok = 0;
    size_t inst_n;
    const qc_real_inst_t *insts = qc_real_instruments(&inst_n);
    double seconds = 0;
    size_t step = n / (count ? count : 1);
    if (step < 1)
        step = 1;
    for (size_t i = 0, w = 0; i < n && w < count; i += step, w++) {
        qc_real_take_t t;
        if (qc_real_render(&specs[i], &t))
            continue;
        char wav[512], side[512];
        snprintf(wav, sizeof wav, "%s/take%04zu.wav", dir, w);
        snprintf(side, sizeof side, "%s/take%04zu.json", dir, w);
        dsp_raw_meta_t m = {0};
        snprintf(m.take_id, sizeof m.take_id, "take%04zu", w);
        snprintf(m.instrument, sizeof m.instrument, "%s", insts[specs[i].inst].name);
        m.note = specs[i].note;
        m.velocity = specs[i].velocity;
        m.round_robin = 1;
        m.note_on_frame = t.note_on_frame;
        m.note_off_frame = t.note_off_frame;
        m.frames = t.frames;
        m.sample_rate = t.rate;
        m.channels = t.channels;
        m.noise_floor_db = 0; /* not known, as in a user's own sidecar */
        if (qc_real_write_wav(wav, &t) == 0 && dsp_raw_write_sidecar(side, &m) == 0) {
            seconds += (double)t.frames / t.rate;
            ok++;
        }
        qc_real_free(&t);
    }
    if (written)
        *written = ok;
    return seconds;
}
