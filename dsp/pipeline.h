/*
 * pipeline.h — per-take processing: measure a raw take and decide where the sample is.
 *
 * Input is the raw take (interleaved float, pre-roll included), the frames where the
 * note-on and note-off were sent (latency already applied) and the played note. Output is
 * a dsp_analysis_t: cut points, fades, DC offset, measurements, an optional loop and a
 * verdict with reasons. The pipeline never changes the audio; export applies DC removal,
 * the cut, fades, loop crossfade and gain.
 *
 * Stages, one file each: qc_level.c (DC, noise floor, peak/RMS, clipping, SNR),
 * qc_onset.c (energy rise refined by spectral flux, backtracked), qc_release.c (tail end),
 * qc_pitch.c (fundamental vs the expected note), qc_dropout.c (gaps, discontinuities),
 * qc_loop.c (sustain loop). pipeline.c runs them and decides the verdict.
 */
#ifndef DSP_PIPELINE_H
#define DSP_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bb_notes.h"

#define DSP_MAX_CHANNELS 8

enum { DSP_PASS = 0, DSP_WARN = 1, DSP_FAIL = 2 };

typedef enum {
    DSP_FADE_LINEAR = 0,
    DSP_FADE_EQUAL_POWER, /* sine quarter-wave */
    DSP_FADE_EXPONENTIAL  /* -60 dB shaped; natural for decays */
} dsp_fade_curve_t;

typedef enum {
    DSP_END_NOISE = 0, /* where the tail decays into the noise floor */
    DSP_END_BELOW_PEAK /* where the tail falls end_below_peak_db under the peak */
} dsp_end_mode_t;

typedef struct {
    double onset_above_noise_db; /* the attack is where the level first rises this far */
    double end_above_noise_db;   /* DSP_END_NOISE: the tail ends this close to the floor */
    dsp_end_mode_t end_mode;
    double end_below_peak_db; /* DSP_END_BELOW_PEAK: e.g. 60 */
    double max_release_ms;    /* cap after the note-off; <= 0: none (the take's end) */
    double pre_attack_ms;     /* kept before the onset (fade-in over exactly this) */
    double fade_out_ms;
    dsp_fade_curve_t fade_curve;
    double silence_snr_db;        /* below this peak-over-noise the take is silent: fail */
    double low_snr_db;            /* below this: warn */
    double preroll_over_floor_db; /* a pre-roll this far over the node's floor is not quiet:
                                   * something still sounded before the note-on (fail) */
    double pitch_warn_cents;      /* the instrument's tuning off by more than this: warn, keep */
    double pitch_fail_cents;      /* this far from the note played, and not an octave: a
                                   * different note, fail (100: a semitone) */
    bool pitch_check;             /* false for unpitched instruments (drums) */
    int clip_run;                 /* consecutive samples on a flat top that count as clipping */
    bool loop;                    /* search a sustain loop */
    double loop_min_ms;           /* shortest loop accepted */
    double loop_crossfade_ms;     /* 0: none */
    double loop_min_seam;       /* without a crossfade: seam correlation a loop needs (no click) */
    double loop_max_xfade_db;   /* with a crossfade: the most its level or brightness may leave a
                                 * smooth handover, dB (qc_loop.c; 1 dB: the level JND) */
    double loop_max_change_db;  /* a loop whose level changes more than this pumps: refused */
    bool loop_force;            /* loop anyway (and warn) when it would pump */
    bb_note_convention_t notes; /* note names in reasons */
} dsp_pipeline_config_t;

#define DSP_PIPELINE_CONFIG_INIT                                                                   \
    {                                                                                              \
        .onset_above_noise_db = 15.0, .end_above_noise_db = 6.0, .end_mode = DSP_END_NOISE,        \
        .end_below_peak_db = 60.0, .max_release_ms = 0.0, .pre_attack_ms = 0.0,                    \
        .fade_out_ms = 10.0, .fade_curve = DSP_FADE_EQUAL_POWER, .silence_snr_db = 20.0,           \
        .low_snr_db = 40.0, .preroll_over_floor_db = 6.0, .pitch_warn_cents = 15.0,                \
        .pitch_fail_cents = 100.0, .pitch_check = true, .clip_run = 3, .loop = false,              \
        .loop_min_ms = 100.0, .loop_crossfade_ms = 0.0, .loop_min_seam = 0.95,                     \
        .loop_max_xfade_db = 1.0, .loop_max_change_db = 0.5, .loop_force = false,                  \
        .notes = BB_NOTES_C3_IS_60                                                                 \
    }

/* ---- the instrument's latency (qc_instrument.c) ----
 *
 * A hardware instrument answers a note-on after nearly the same delay every time (within
 * about a millisecond). Its clear attacks measure that delay exactly; a slow attack that
 * rises out of the noise does not show where it began, so it is placed at note-on plus
 * the instrument's delay, never later than where it already stands above the floor. Where
 * the node's latency was calibrated (batcherbird calibrate) and the instrument has too few
 * clear attacks, the calibrated note-on itself is the prior. An instrument of slow attacks
 * only (a pad) still has a ceiling: its notes have begun by the time its loudest takes
 * stand above the floor. */
typedef struct {
    bool known;
    double latency_ms; /* onset - note_on of the instrument's clear attacks (median) */
    double spread_ms;  /* their median absolute deviation */
    int takes;         /* clear attacks it was learnt from; 0: from calibrate */
    bool pooled;       /* no clear attacks: the median of the slow attacks' extrapolated
                        * starts (takes of them), at most ceiling_ms */
    /* With no latency known: the instrument's notes have begun by note-on + this, since
     * its earliest takes already stood above the floor then (the second earliest, so one
     * stray take cannot pull it). A slow attack starts no later. */
    bool has_ceiling;
    double ceiling_ms;
    /* latency_ms is ceiling_ms: the clear attacks began more than
     * DSP_LATENCY_PRIOR_MAX_SPREAD after it (each behind a lead-in under the floor; they
     * start at the latency too), or, pooled, the slow attacks' median start was later than
     * it or too uncertain (standard error over DSP_LATENCY_PRIOR_MAX_SPREAD) to tell from
     * it (qc_instrument.c) */
    bool at_ceiling;
} dsp_latency_prior_t;

#define DSP_JUMPS_KEPT 4 /* jumps kept per take for dsp_jumps_recur (= QC_JUMPS_KEPT) */
/* The pre-roll (audio before the note-on) a take needs for its noise floor to be measured
 * (from its start to 1 ms before the note-on); with less the floor is unknown: noise_db
 * and snr_db are NaN (null in JSON) and a reason says so. 9 ms of noise at 48 kHz is 432
 * frames: an RMS within about half a dB on steady noise. */
#define DSP_PREROLL_MIN_MS           10.0
#define DSP_LATENCY_PRIOR_MIN_TAKES  3   /* clear attacks needed */
#define DSP_LATENCY_PRIOR_MAX_SPREAD 1.0 /* ms: a wider spread is not one latency */

/* What the pipeline is told about a take besides its audio. */
typedef struct {
    int64_t note_on;  /* frame in the raw take where the note-on was heard (latency applied) */
    int64_t note_off; /* same for the note-off; < 0 when unknown */
    int note;         /* MIDI note played (expected pitch) */
    int velocity;
    uint32_t xruns;      /* overflows the node reported during the take */
    bool release_capped; /* the node cut the release at the plan's maximum */
    /* The instrument's noise floor as the node knew it before this take (TakeEnd
     * noise_floor_db: the quietest pre-roll it recorded on these inputs), dBFS RMS of the
     * loudest channel; a pre-roll louder than it by more than preroll_over_floor_db still
     * holds a sound (the previous note's tail). has_floor false: not known (old takes). */
    bool has_floor;
    double floor_db;
    const dsp_latency_prior_t *prior; /* the instrument's latency so far; NULL: none */
} dsp_take_info_t;

/* How the onset was found. */
typedef enum {
    DSP_ONSET_CLEAR = 0,    /* a clear attack: the detected change point */
    DSP_ONSET_EXTRAPOLATED, /* a slow attack: its rise extrapolated back to where it began */
    DSP_ONSET_PRIOR         /* a slow attack: note-on + the instrument's latency */
} dsp_onset_source_t;

/* All frame positions are frames of the raw take. */
typedef struct {
    int64_t note_on;       /* frame of the note-on (latency offset applied), as given */
    int rate;              /* Hz, of the take */
    int64_t onset;         /* frame where the attack begins */
    int64_t onset_present; /* from here the note stands above the noise floor (the latest
                            * an onset may be) */
    int64_t onset_foot;    /* a fainter foot may stand above the floor from here (before
                            * onset_present); -1: none seen */
    bool attack_clear;     /* 10 dB over the floor within 0.5 ms: onset known to a few frames */
    int onset_source;      /* dsp_onset_source_t */
    int64_t release_end;   /* frame where the tail has decayed into the floor */
    int64_t cut_start;     /* the sample is [cut_start, cut_end) of the raw take */
    int64_t cut_end;
    int64_t fade_in; /* frames */
    int64_t fade_out;
    int fade_curve; /* dsp_fade_curve_t */
    int channels;
    double dc[DSP_MAX_CHANNELS]; /* per-channel DC offset, removed at export */
    double noise_db;             /* dBFS RMS, loudest channel, from the pre-roll; NaN: not
                                  * known (less than DSP_PREROLL_MIN_MS of pre-roll) */
    double noise_ch_db[DSP_MAX_CHANNELS];
    double peak_db; /* dBFS, inside the cut, after DC removal */
    double rms_db;
    double snr_db;           /* loudest 50 ms RMS against the noise floor; NaN: floor unknown */
    double duration_s;       /* of the cut */
    int clip_runs;           /* flat tops: runs of >= clip_run samples at the take's extreme */
    double clip_db;          /* the level they sit at, dBFS (-200 when none) */
    double pitch_hz;         /* measured fundamental; 0 when none found */
    double pitch_cents;      /* measured vs the expected note */
    double tuning_cents;     /* the instrument's own tuning on this note: pitch_cents less
                              * whole octaves, within a semitone; 0 when none, NAN when the
                              * steady part's windows disagree (unsure). What --tune
                              * corrects (smpl pitch fraction, SFZ tune, DecentSampler tuning) */
    double pitch_confidence; /* 0..1 */
    bool pitch_checked;      /* checked against the note (config pitch_check; not kept in
                              * the analysis's JSON: false when read back) */
    int dropouts;            /* gaps or discontinuities found */
    int n_jump_ms;           /* how many of jump_ms are set */
    double jump_ms[DSP_JUMPS_KEPT]; /* the first counted jumps among the dropouts, ms after
                                     * the note-on (dsp_jumps_recur compares them) */
    uint32_t xruns;                 /* node-reported overflows */
    bool has_loop;
    int64_t loop_start;     /* first frame of the loop */
    int64_t loop_end;       /* last frame of the loop (inclusive, as SFZ/smpl count) */
    double loop_score;      /* seam correlation x 10^(-(|level| + |tone| change) / 20), 0..1 */
    double loop_seam;       /* seam score, 0..1: correlation across the seam or, with a
                             * crossfade, 10^(-worst deviation across it in dB / 20) */
    double loop_change_db;  /* level at the loop's end against its start (< 0: decays); a loop
                             * under 500 ms: or 500 ms after its start, the larger (qc_loop.c) */
    double loop_tone_db;    /* brightness at the loop's end against its start */
    bool loop_refused;      /* a loop was found but would pump (see reasons) */
    int64_t loop_crossfade; /* frames, applied before loop_end at export */
    int verdict;            /* DSP_PASS / WARN / FAIL */
    int fails;              /* how many of the reasons are failures */
    char reasons[512];      /* "; "-separated, empty when clean */
} dsp_analysis_t;

/* Learns the latency prior from an instrument's analysed takes (those that failed as silence
 * or not analysed are ignored). `calibrated`: the node's latency offset was measured by
 * calibrate for these takes. Always fills *out (known false when there is nothing to
 * learn from). */
void dsp_latency_prior_learn(const dsp_analysis_t *const *takes, size_t n, bool calibrated,
                             dsp_latency_prior_t *out);
/* Places a slow attack at note-on + the prior's latency, bounded by where the note stands
 * above the floor (and by the take's start); keeps the pre-attack margin and fades.
 * Returns true when the onset moved. Clear attacks are left alone, unless the prior was
 * learnt from clear attacks behind lead-ins (at_ceiling, not pooled): then one starting
 * after note-on + the latency moves there (pooled at the ceiling: one starting more than
 * DSP_LATENCY_PRIOR_MAX_SPREAD after it); or unless the take shows a faint foot before it
 * (onset_foot): then it moves to the later of the foot and note-on + the latency. Unknown
 * priors leave every take alone. */
bool dsp_latency_prior_apply(dsp_analysis_t *a, const dsp_latency_prior_t *prior);

/* A jump in a take whose note another take also jumps at, within this many ms of the same
 * time after the note-on, is the instrument's own (a sample's seam, a reset oscillator):
 * hardware latency varies by about a millisecond from note to note, and lost audio falls at
 * random times, so two takes of a note damaged at one place within 2 ms of a few seconds
 * is about one chance in a thousand. */
#define DSP_JUMP_RECUR_MS 2.0

/* Clears a take's failure when every dropout in it is a jump (jump_ms) that at least one of
 * `others` (other takes of the same note and instrument: velocities, round robins, earlier
 * attempts; failed ones too) shows within DSP_JUMP_RECUR_MS after its own note-on: the
 * dropout reason becomes a warning naming the place, dropouts becomes 0, and the verdict
 * stays a failure only when another reason failed it. Returns true when it did so; leaves
 * every other take, and a take with runs, repeats, node overruns or more than
 * DSP_JUMPS_KEPT jumps, alone. */
bool dsp_jumps_recur(dsp_analysis_t *a, const dsp_analysis_t *const *others, size_t n);

/* A pitch heard at least this clearly (the NSDF peak, qc_pitch.c) is that note: another
 * note fails, and a vaguer one only warns. */
#define DSP_SURE_PITCH 0.85

/* An instrument's tuning across its pitched, usable takes: a drifting synth shows a wide
 * spread (max - min). `checked` counts the takes whose pitch was checked against their
 * note, `unclear` those of them with no clear pitch of that note (none found, heard
 * vaguely, or clearly another note): most of them unclear is a drum kit or another
 * unpitched instrument analysed as pitched, which wants --unpitched. */
typedef struct {
    int notes; /* takes with a pitch */
    double median_cents, min_cents, max_cents;
    int checked, unclear;
} dsp_tuning_spread_t;
void dsp_tuning_spread(const dsp_analysis_t *const *takes, size_t n, dsp_tuning_spread_t *out);

/* Analyses one raw take. Returns 0, or BB_EINVAL when the input is unusable
 * (no frames, note-on outside the take, too many channels). */
int dsp_analyze(const float *audio, int64_t frames, int channels, int rate,
                const dsp_take_info_t *info, const dsp_pipeline_config_t *cfg, dsp_analysis_t *out);

/* Appends a reason and raises the verdict to at least `level`. */
void dsp_analysis_reason(dsp_analysis_t *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "pass", "warn", "fail". */
const char *dsp_verdict_name(int verdict);

/* The analysis as a JSON object (for the database and the manifest); malloc'd. */
char *dsp_analysis_json(const dsp_analysis_t *a);
/* Reads back what dsp_analysis_json wrote. */
int dsp_analysis_from_json(const char *json, dsp_analysis_t *a);

#endif
