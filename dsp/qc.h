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
 * channel from [0, pre_end), and peak/RMS/SNR/clipping of the cut, plus the sound's own
 * mean over the cut after DC removal (largest channel, signed) in *sound_offset. */
void qc_measure_dc(qc_take_t *t, int64_t pre_end);
void qc_measure_noise(qc_take_t *t, int64_t pre_end, dsp_analysis_t *a);
void qc_measure_levels(const qc_take_t *t, const dsp_pipeline_config_t *cfg, dsp_analysis_t *a,
                       double *sound_offset);

/* qc_onset.c: the frame where the attack starts, or -1 when nothing rises above the
 * floor after search_from. expected_hz (0: unknown) sizes the envelope windows. */
int64_t qc_find_onset(const qc_take_t *t, int64_t search_from, int64_t search_to,
                      double above_noise_db, double expected_hz);

/* qc_release.c: where the tail ends (exclusive frame), searched back from limit. */
int64_t qc_find_release_end(const qc_take_t *t, int64_t onset, int64_t limit,
                            const dsp_pipeline_config_t *cfg, double peak_lin);

/* qc_pitch.c: fundamental in Hz from [from, to) (mono mix), searched within an octave
 * of expected_hz; 0 when no periodicity is found. *confidence gets the normalised
 * correlation at the chosen period (0..1). */
double qc_find_pitch(const qc_take_t *t, int64_t from, int64_t to, double expected_hz,
                     double *confidence);

/* qc_dropout.c: gaps (runs of digital silence inside the sound) and discontinuities in
 * [from, to). Returns how many were found; *first gets the first one's frame. */
int qc_find_dropouts(const qc_take_t *t, int64_t from, int64_t to, int64_t *first);

/* qc_loop.c: a loop in [from, to) whose length is a whole number of periods of
 * period_frames, both ends at rising zero crossings, scored by correlation. Returns true
 * and fills start/end (inclusive)/score when one scores at least min_score. */
bool qc_find_loop(const qc_take_t *t, int64_t from, int64_t to, double period_frames,
                  int64_t min_len, double min_score, int64_t *start, int64_t *end, double *score);

#endif
