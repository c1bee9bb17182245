/*
 * qc_release.c — where the tail ends: scanning back from the limit, the end of the last
 * 10 ms window that is still above the end level (the noise floor plus a margin, or a
 * level below the peak). Scanning back rather than forward keeps a late swell or a
 * second bounce of a decaying string inside the sample.
 */
#include <math.h>

#include "qc.h"

int64_t qc_find_release_end(const qc_take_t *t, int64_t onset, int64_t limit,
                            const dsp_pipeline_config_t *cfg, double peak_lin)
{
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    const int64_t win = 10 * ms;
    const double floor = t->noise_rms > 1e-7 ? t->noise_rms : 1e-7;
    double level = floor * pow(10.0, cfg->end_above_noise_db / 20.0);
    if (cfg->end_mode == DSP_END_BELOW_PEAK) {
        double below = peak_lin * pow(10.0, -cfg->end_below_peak_db / 20.0);
        /* Never below the floor itself: the noise would always be "above" it. */
        level = below > level ? below : level;
    }
    if (limit > t->frames)
        limit = t->frames;
    int64_t end = limit;
    for (int64_t w = limit - win; w > onset; w -= win) {
        if (qc_rms(t, w, w + win) > level) {
            end = w + win;
            break;
        }
        end = w;
    }
    if (end <= onset)
        end = onset + win < limit ? onset + win : limit;
    return end;
}
