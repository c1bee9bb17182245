/*
 * qc_config.c — pipeline settings from plans and words.
 */
#include "qc_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bb_err.h"
#include "plan_choices.h"

int dsp_fade_curve_parse(const char *word, dsp_fade_curve_t *out)
{
    int v;
    if (dsp_choice_parse(&dsp_choices_fade_curve, word, &v))
        return BB_EINVAL;
    *out = (dsp_fade_curve_t)v;
    return 0;
}

const char *dsp_fade_curve_name(dsp_fade_curve_t curve)
{
    return dsp_choice_name(&dsp_choices_fade_curve, (int)curve);
}

int dsp_end_mode_parse(const char *word, dsp_end_mode_t *out)
{
    int v;
    if (dsp_choice_parse(&dsp_choices_end_mode, word, &v))
        return BB_EINVAL;
    *out = (dsp_end_mode_t)v;
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
        s_range("loop crossfade (ms)", q->loop_crossfade_ms, 0, 1000, err, errlen) ||
        s_range("loop level change (dB)", q->loop_max_change_db, 0, 40, err, errlen))
        return BB_EINVAL;
    cfg->pre_attack_ms = q->pre_attack_ms;
    if (q->fade_out_ms > 0)
        cfg->fade_out_ms = q->fade_out_ms;
    if (q->end_below_peak_db > 0)
        cfg->end_below_peak_db = q->end_below_peak_db;
    cfg->loop_crossfade_ms = q->loop_crossfade_ms;
    cfg->loop_force = q->loop_force;
    if (q->loop_max_change_db > 0)
        cfg->loop_max_change_db = q->loop_max_change_db;
    cfg->pitch_check = !q->unpitched;
    int v = (int)cfg->fade_curve;
    if (dsp_choice_check(&dsp_choices_fade_curve, q->fade_curve, 1, &v, err, errlen))
        return BB_EINVAL;
    cfg->fade_curve = (dsp_fade_curve_t)v;
    v = (int)cfg->end_mode;
    if (dsp_choice_check(&dsp_choices_end_mode, q->end_mode, 1, &v, err, errlen))
        return BB_EINVAL;
    cfg->end_mode = (dsp_end_mode_t)v;
    return 0;
}
