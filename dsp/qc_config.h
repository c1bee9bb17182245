/*
 * qc_config.h — the pipeline's settings from a plan (InstrumentSpec/QcSpec) or from
 * command-line words, with one clear message per bad value.
 */
#ifndef DSP_QC_CONFIG_H
#define DSP_QC_CONFIG_H

#include <stddef.h>

#include "operator.pb-c.h"
#include "pipeline.h"

/* "linear", "equal-power", "exponential". 0 or BB_EINVAL. */
int dsp_fade_curve_parse(const char *word, dsp_fade_curve_t *out);
const char *dsp_fade_curve_name(dsp_fade_curve_t curve);
/* "noise", "below-peak". 0 or BB_EINVAL. */
int dsp_end_mode_parse(const char *word, dsp_end_mode_t *out);

/* Fills cfg from an instrument's plan (NULL spec: defaults). Returns 0, or BB_EINVAL with
 * a message naming the bad setting. */
int dsp_pipeline_config_from_spec(const Bb__InstrumentSpec *spec, dsp_pipeline_config_t *cfg,
                                  char *err, size_t errlen);

#endif
