/*
 * qc_level.c — DC offset, noise floor, peak, RMS, SNR and clipping.
 */
#include <math.h>

#include "qc.h"

double qc_db(double lin)
{
    return lin > 1e-10 ? 20.0 * log10(lin) : -200.0;
}

double qc_peak(const qc_take_t *t, int64_t from, int64_t to)
{
    double p = 0;
    for (int64_t i = from < 0 ? 0 : from; i < to && i < t->frames; i++)
        for (int c = 0; c < t->ch; c++) {
            double v = fabs(qc_at(t, i, c));
            if (v > p)
                p = v;
        }
    return p;
}

double qc_rms(const qc_take_t *t, int64_t from, int64_t to)
{
    if (from < 0)
        from = 0;
    if (to > t->frames)
        to = t->frames;
    if (to <= from)
        return 0;
    double best = 0;
    for (int c = 0; c < t->ch; c++) {
        double sq = 0;
        for (int64_t i = from; i < to; i++) {
            double v = qc_at(t, i, c);
            sq += v * v;
        }
        if (sq > best)
            best = sq;
    }
    return sqrt(best / (double)(to - from));
}

/* The converter's offset is the mean of the pre-roll, where nothing sounds. The sound's
 * own mean is not an offset: a clipped or asymmetric waveform averages away from zero
 * while it lasts, and subtracting that would leave the tail sitting on a step. */
void qc_measure_dc(qc_take_t *t, int64_t pre_end)
{
    if (pre_end > t->frames)
        pre_end = t->frames;
    for (int c = 0; c < t->ch; c++) {
        double s = 0;
        for (int64_t i = 0; i < pre_end; i++)
            s += t->x[i * t->ch + c];
        t->dc[c] = pre_end > 0 ? s / (double)pre_end : 0;
    }
}

double qc_sound_offset(const qc_take_t *t, int64_t from, int64_t to)
{
    double worst = 0;
    if (from < 0)
        from = 0;
    if (to > t->frames)
        to = t->frames;
    if (to <= from)
        return 0;
    for (int c = 0; c < t->ch; c++) {
        double s = 0;
        for (int64_t i = from; i < to; i++)
            s += qc_at(t, i, c);
        s /= (double)(to - from);
        if (fabs(s) > fabs(worst))
            worst = s;
    }
    return worst;
}

void qc_measure_noise(qc_take_t *t, int64_t pre_end, coord_analysis_t *a)
{
    double worst = 0;
    for (int c = 0; c < t->ch; c++) {
        double sq = 0;
        for (int64_t i = 0; i < pre_end; i++) {
            double v = qc_at(t, i, c);
            sq += v * v;
        }
        t->noise_ch_sq[c] = pre_end > 0 ? sq / (double)pre_end : 0;
        double rms = sqrt(t->noise_ch_sq[c]);
        a->noise_ch_db[c] = qc_db(rms);
        if (rms > worst)
            worst = rms;
    }
    t->noise_rms = worst;
    a->noise_db = pre_end > 0 ? qc_db(worst) : -200.0;
}

void qc_measure_levels(const qc_take_t *t, const coord_pipeline_config_t *cfg, coord_analysis_t *a)
{
    const int64_t ms = t->rate / 1000;
    a->peak_db = qc_db(qc_peak(t, a->cut_start, a->cut_end));
    a->rms_db = qc_db(qc_rms(t, a->cut_start, a->cut_end));
    double loudest = 0;
    for (int64_t w = a->cut_start; w < a->cut_end; w += 25 * ms) {
        int64_t to = w + 50 * ms < a->cut_end ? w + 50 * ms : a->cut_end;
        double r = qc_rms(t, w, to);
        if (r > loudest)
            loudest = r;
    }
    a->snr_db = qc_db(loudest) - a->noise_db;

    /* Clipping is judged on the raw samples: a converter clips before any DC removal. */
    const float full = 0.99990f;
    int runs = 0;
    for (int c = 0; c < t->ch; c++) {
        int run = 0;
        for (int64_t i = 0; i < t->frames; i++) {
            float v = t->x[i * t->ch + c];
            if (v >= full || v <= -full) {
                if (++run == cfg->clip_run)
                    runs++;
            } else {
                run = 0;
            }
        }
    }
    a->clip_runs = runs;
}
