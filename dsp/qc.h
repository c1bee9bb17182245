/*
 * qc.h — the stages of the per-take pipeline (internal to pipeline.c and its tests).
 *
 * Every stage reads the raw take through a qc_take_t: interleaved float frames with the
 * per-channel DC offset already measured, so stages see the signal as if DC-free without
 * copying it. Stages never allocate on the take's size more than once and never change
 * the audio.
 */
#ifndef DSP_QC_H
#define DSP_QC_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline.h"

typedef struct {
    const float *x;
    int64_t frames;
    int ch;
    int rate;
    double dc[DSP_MAX_CHANNELS];
    double noise_rms;                     /* loudest channel, DC removed, from the pre-roll */
    double noise_ch_sq[DSP_MAX_CHANNELS]; /* per-channel mean square of the pre-roll */
    double quantum; /* the step of the integer grid every sample lies on (2^-15 for 16-bit
                     * audio, 2^-23 for 24-bit), 0 for float audio (qc_measure_quantum) */
} qc_take_t;

/* Sample c of frame i with its channel's DC removed. */
__attribute__((always_inline)) static inline double qc_at(const qc_take_t *t, int64_t i, int c)
{
    return (double)t->x[i * t->ch + c] - t->dc[c];
}

/* Largest |sample| over channels in [from, to), DC removed. */
double qc_peak(const qc_take_t *t, int64_t from, int64_t to);
/* RMS of the loudest channel over [from, to), DC removed. */
double qc_rms(const qc_take_t *t, int64_t from, int64_t to);
double qc_db(double lin); /* 20 log10, floored at -200 */

/* qc_level.c: DC per channel (mean of the pre-roll [0, pre_end)), noise floor per
 * channel from [0, pre_end), and peak/RMS/SNR of the cut, plus the sound's own mean over
 * the cut after DC removal (largest channel, signed) in *sound_offset. */
void qc_measure_dc(qc_take_t *t, int64_t pre_end);
void qc_measure_noise(qc_take_t *t, int64_t pre_end, dsp_analysis_t *a);
/* t->quantum: 2^-15 when every sample of the take is a whole number of 2^-15 (16-bit
 * audio however it was read), else 2^-23 when every one is of 2^-23 (24-bit), else 0.
 * A file's or a converter's integer samples repeat wherever the signal moves less than
 * a step: the dropout and clipping checks tell that from damage with it. */
void qc_measure_quantum(qc_take_t *t);
/* The floor (mean square) the dropout checks judge channel c against, whatever its pre-roll
 * says (a digital recording's is silent): at least the noise that rounding to a grid adds,
 * quantum^2 / 12 (W. R. Bennett, "Spectra of quantized signals", Bell System Technical
 * Journal 27, 1948), for t->quantum's grid and for 16-bit audio's (-101 dBFS RMS) at
 * least: lost audio quieter than a 16-bit file holds is not heard, and a digital tail
 * fading into it breaks up into steps and gaps of its own. */
#define QC_QUANTUM_16 (1.0 / 32768.0)
static inline double qc_noise_sq_at_least(const qc_take_t *t, int c)
{
    double q = t->quantum > QC_QUANTUM_16 ? t->quantum : QC_QUANTUM_16;
    double q2 = q * q / 12.0;
    return t->noise_ch_sq[c] > q2 ? t->noise_ch_sq[c] : q2;
}
void qc_measure_levels(const qc_take_t *t, dsp_analysis_t *a, double *sound_offset);

/* Flat tops: runs of at least min_run samples at the take's own extreme (per channel and
 * polarity) in [from, to). hi/lo: per channel, the values at or beyond which a sample is
 * on a flat top (+-inf when that polarity cannot be clipped); the dropout stage leaves
 * held values there to this stage. level: the louder clipped extreme, linear. */
typedef struct {
    int runs;
    double level;
    float hi[DSP_MAX_CHANNELS], lo[DSP_MAX_CHANNELS];
} qc_clip_t;
void qc_find_clipping(const qc_take_t *t, int64_t from, int64_t to, int min_run, qc_clip_t *out);

/* qc_onset.c: where the attack starts (see the file's comment). expected_hz (0: unknown)
 * sizes the envelope windows. Returns 0, or -1 when nothing rises above_noise_db over the
 * floor in [search_from, search_to). */
typedef struct {
    int64_t onset;     /* the start */
    int64_t present;   /* the change point: from here the note stands above the floor */
    int64_t loud;      /* the first sample above_noise_db over the floor */
    int64_t foot;      /* a fainter foot may stand above the floor from here; -1: none seen */
    bool clear;        /* 10 dB over the floor within 0.5 ms of the change point */
    double rise_power; /* slow attacks: the q of the fitted power law (0 when clear) */
} qc_onset_t;
int qc_find_onset(const qc_take_t *t, int64_t search_from, int64_t search_to, double above_noise_db,
                  double expected_hz, qc_onset_t *out);

/* qc_release.c: where the tail ends (exclusive frame), searched back from limit. */
int64_t qc_find_release_end(const qc_take_t *t, int64_t onset, int64_t limit,
                            const dsp_pipeline_config_t *cfg, double peak_lin);

/* qc_pitch.c: fundamental in Hz from [from, to) (mono mix), searched within an octave
 * of expected_hz; 0 when no periodicity is found. *confidence gets the normalised
 * correlation at the chosen period (0..1). */
double qc_find_pitch(const qc_take_t *t, int64_t from, int64_t to, double expected_hz,
                     double *confidence);

/* qc_pitch.c: the pitch of a note where it is steady, from several windows of [from, to).
 * The level (mono mix, blocks of 10 ms or two expected periods) sets where: windows start
 * once the level is within QC_PITCH_SETTLED_DB of its loudest block (a slow swell is
 * skipped until it has risen out of the noise), are spread evenly up to to (at most
 * QC_PITCH_WINDOWS of qc_find_pitch's length), and a window more than QC_PITCH_FLOOR_DB
 * under the loudest block (a decay: no longer the note's steady level) is not used. The pitch is
 * the median window's, averaged with the windows within QC_PITCH_AGREE_CENTS of it (weighted by
 * their power); spread_cents is how far apart the windows read, whole octaves left out (0 with one
 * window). Returns Hz, or 0 when no window has a pitch. */
#define QC_PITCH_WINDOWS     5
#define QC_PITCH_SETTLED_DB  6.0
#define QC_PITCH_FLOOR_DB    10.0
#define QC_PITCH_AGREE_CENTS 3.0
typedef struct {
    double hz;           /* 0 when none */
    double confidence;   /* the median window's normalised correlation (0..1) */
    double spread_cents; /* largest minus smallest window reading, octaves folded */
    int windows;         /* windows that found a pitch */
    int64_t from;        /* first frame of the first window used */
    double attack_hz;    /* one window from `from` (right after the attack): 0 when none */
} qc_pitch_t;
double qc_steady_pitch(const qc_take_t *t, int64_t from, int64_t to, double expected_hz,
                       qc_pitch_t *out);

/* qc_dropout.c: lost or repeated audio in [from, to) (see the file's comment): runs of
 * zeros, held values (not on clip's flat tops), blocks repeated at a driver's period,
 * jumps the waveform's own edges at period_frames (<= 0: unknown) do not explain, and,
 * for a pitched instrument (the caller's pitch check) with the period known (>= 8
 * frames), jumps in the note's phase its recent periods do not explain. A jump at or
 * after note_off (frame; <= 0: unknown) down to the noise floor that stays there until
 * `to` is where the instrument stopped its voice, not lost audio: it is reported in
 * end_step and not counted. Returns how many were found. The frames of the first
 * QC_JUMPS_KEPT counted jumps are kept in jump_at (in frame order of the search), so a
 * caller can see whether another take of the note jumps at the same place. */
#define QC_JUMPS_KEPT 4
typedef struct {
    int zero_runs, held_runs, repeats, jumps;
    int own_clicks;         /* jumps that recur alike: the instrument's own, not counted */
    int64_t end_step;       /* frame where the sound stops with a step to the floor, or -1 */
    double end_step_db;     /* how far the sound stood over the floor just before it (dB) */
    int64_t first;          /* frame of the earliest, -1 when none */
    int64_t first_len;      /* its frames; for a jump, the frames the waveform skips modulo
                             * first_period, 0 when not measured */
    int64_t first_period;   /* a jump's: the note's period (frames) its skip is measured in;
                             * 0 for a run or a block, or when not measured */
    const char *first_what; /* "a run of zeros", "a silent gap", "a held value", "a repeated
                             * block", "a jump", "a jump in phase" (static) */
    int64_t jump_at[QC_JUMPS_KEPT]; /* frames of counted jumps (both kinds) */
    int n_jump_at;                  /* how many of jump_at are set (<= jumps) */
} qc_dropouts_t;
int qc_find_dropouts(const qc_take_t *t, int64_t from, int64_t to, int64_t note_off,
                     double period_frames, bool pitched, const qc_clip_t *clip, qc_dropouts_t *out);

/* qc_loop.c: the best loop in [from, to), both ends at rising zero crossings, at least
 * min_len frames long, its end chosen by the seam itself among the crossings within half a
 * period (period_frames, which only sizes the search) of start + one of a fixed set of target
 * lengths, with a seam score of at least min_seam (0..1); of those, the best whose level
 * changes by max_change_db (dB) at most, else the best of all (it pumps: the caller refuses
 * or forces it). xfade: the crossfade (frames) the export will bake in before the loop's end,
 * 0 for none; the seam is then judged over the crossfade as played, against its sources and
 * against the played stream either side, not at the jump (see the file's comment). Returns
 * true with *out filled; false with out->seam (and out->xfade_db) the best seen. */
typedef struct {
    int64_t start, end; /* end inclusive */
    double seam;        /* seam score 0..1: correlation, or 10^(-xfade_db / 20) */
    double xfade_db;    /* with a crossfade: its worst level/brightness deviation, dB */
    double change_db;   /* level at the end against the start */
    double tone_db;     /* brightness at the end against the start */
    double score;
} qc_loop_t;
bool qc_find_loop(const qc_take_t *t, int64_t from, int64_t to, double period_frames,
                  int64_t min_len, double min_seam, double max_change_db, int64_t xfade,
                  qc_loop_t *out);

#endif
