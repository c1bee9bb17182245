/*
 * qc_config.c — pipeline settings from plans and words.
 */
#include "qc_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bb_err.h"

static const char *const s_curves[] = {"linear", "equal-power", "exponential"};

int dsp_fade_curve_parse(const char *word, dsp_fade_curve_t *out)
{
    for (int i = 0; i < 3; i++)
        if (word && strcmp(word, s_curves[i]) == 0) {
            *out = (dsp_fade_curve_t)i;
            return 0;
        }
    return BB_EINVAL;
}

const char *dsp_fade_curve_name(dsp_fade_curve_t curve)
{
    return (unsigned)curve < 3 ? s_curves[curve] : "?";
}

int dsp_end_mode_parse(const char *word, dsp_end_mode_t *out)
{
    if (word && strcmp(word, "noise") == 0)
        *out = DSP_END_NOISE;
    else if (word && strcmp(word, "below-peak") == 0)
        *out = DSP_END_BELOW_PEAK;
    else
        return BB_EINVAL;
    return 0;
}

static int s_range(const char *what, double v, double lo, double hi, char *err, size_t errlen)
{
    if (isfinite(v) && v >= lo && v <= hi)
        return 0;
    snprintf(err, errlen, "%s %g is outside %g..%g", what, v, lo, hi);
    return BB_EINVAL;
}

int dsp_pipeline_config_from_spec(const Bb__InstrumentSpec *spec, dsp_pipeline_config_t *cfg,
                                  char *err, size_t errlen)
{
    *cfg = (dsp_pipeline_config_t)DSP_PIPELINE_CONFIG_INIT;
    if (!spec)
        return 0;
    cfg->loop = spec->loop;
    if (spec->release_ms > 0)
        cfg->max_release_ms = spec->release_ms;
    const Bb__QcSpec *q = spec->qc;
    if (!q)
        return 0;
    if (s_range("pre-attack margin (ms)", q->pre_attack_ms, 0, 100, err, errlen) ||
        s_range("fade-out (ms)", q->fade_out_ms, 0, 2000, err, errlen) ||
        s_range("level below peak for the end (dB)", q->end_below_peak_db, 0, 140, err, errlen) ||
        s_range("loop crossfade (ms)", q->loop_crossfade_ms, 0, 1000, err, errlen))
        return BB_EINVAL;
    cfg->pre_attack_ms = q->pre_attack_ms;
    if (q->fade_out_ms > 0)
        cfg->fade_out_ms = q->fade_out_ms;
    if (q->end_below_peak_db > 0)
        cfg->end_below_peak_db = q->end_below_peak_db;
    cfg->loop_crossfade_ms = q->loop_crossfade_ms;
    cfg->pitch_check = !q->unpitched;
    if (q->fade_curve && *q->fade_curve && dsp_fade_curve_parse(q->fade_curve, &cfg->fade_curve)) {
        snprintf(err, errlen, "fade curve '%s': use linear, equal-power or exponential",
                 q->fade_curve);
        return BB_EINVAL;
    }
    if (q->end_mode && *q->end_mode && dsp_end_mode_parse(q->end_mode, &cfg->end_mode)) {
        snprintf(err, errlen, "end mode '%s': use noise or below-peak", q->end_mode);
        return BB_EINVAL;
    }
    return 0;
}
