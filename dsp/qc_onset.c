/*
 * qc_onset.c — where the attack starts.
 *
 * 1. Energy: the first 1 ms window (hop 0.25 ms) whose peak rises above_noise_db over
 *    the pre-roll's noise floor. Robust, but late by up to a window and blind to how the
 *    sound started.
 * 2. Spectral flux (KISS FFT, 256-point Hann frames, hop 32) over the 20 ms before that
 *    point: the first frame whose positive spectral change stands out from the noise's
 *    own flux bounds how far back the attack can be. Noise bumps and hum do not produce
 *    broadband flux; a real attack does, so the walk-back below cannot wander into the
 *    pre-roll.
 * 3. Walk back sample by sample from the first loud sample while the signal stays above
 *    3.5x the noise RMS (a Gaussian floor rarely gets there), bridging zero crossings of
 *    up to 0.25 ms.
 * 4. Slow attacks: the walk-back stops where the rising envelope meets the floor, which
 *    for a 200 ms pad is several ms late. Over the foot of the rise (up to 12x the floor)
 *    the cube root of the accumulated excess energy is fitted with a line: for a linear
 *    amplitude ramp it is exactly linear through the true start, and accumulating
 *    averages out both the noise and the waveform's ripple.
 */
#include <kiss_fftr.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qc.h"

#define FLUX_N   256
#define FLUX_HOP 32

/* Index (frame start) of the first flux frame that stands out, or -1. */
static int64_t s_flux_bound(const qc_take_t *t, int64_t from, int64_t to)
{
    if (to - from < 4 * FLUX_N)
        return -1;
    kiss_fftr_cfg cfg = kiss_fftr_alloc(FLUX_N, 0, NULL, NULL);
    if (!cfg)
        return -1;
    const int bins = FLUX_N / 2 + 1;
    int nframes = (int)((to - from - FLUX_N) / FLUX_HOP) + 1;
    float *win = malloc(sizeof(float) * FLUX_N);
    float *buf = malloc(sizeof(float) * FLUX_N);
    kiss_fft_cpx *spec = malloc(sizeof(kiss_fft_cpx) * (size_t)bins);
    float *prev = calloc((size_t)bins, sizeof(float));
    double *flux = calloc((size_t)nframes, sizeof(double));
    int64_t bound = -1;
    if (!win || !buf || !spec || !prev || !flux)
        goto done;
    for (int i = 0; i < FLUX_N; i++)
        win[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / FLUX_N));
    for (int f = 0; f < nframes; f++) {
        int64_t s = from + (int64_t)f * FLUX_HOP;
        for (int i = 0; i < FLUX_N; i++) {
            double m = 0;
            for (int c = 0; c < t->ch; c++)
                m += qc_at(t, s + i, c);
            buf[i] = (float)(m * win[i]);
        }
        kiss_fftr(cfg, buf, spec);
        double fl = 0;
        for (int k = 0; k < bins; k++) {
            float mag = sqrtf(spec[k].r * spec[k].r + spec[k].i * spec[k].i);
            if (f > 0 && mag > prev[k])
                fl += mag - prev[k];
            prev[k] = mag;
        }
        flux[f] = fl;
    }
    /* The noise's own flux: the first quarter of the frames (well before the energy
     * onset). A frame stands out at mean + 8 sd and a tenth of the largest flux. */
    int base_n = nframes / 4 > 2 ? nframes / 4 : 2;
    double mean = 0, var = 0, peak = 0;
    for (int f = 1; f <= base_n; f++)
        mean += flux[f];
    mean /= base_n;
    for (int f = 1; f <= base_n; f++)
        var += (flux[f] - mean) * (flux[f] - mean);
    double sd = sqrt(var / base_n);
    for (int f = 1; f < nframes; f++)
        if (flux[f] > peak)
            peak = flux[f];
    double level = mean + 8 * sd;
    if (level < 0.1 * peak)
        level = 0.1 * peak;
    for (int f = base_n + 1; f < nframes; f++) {
        if (flux[f] > level) {
            bound = from + (int64_t)f * FLUX_HOP;
            break;
        }
    }
done:
    free(win);
    free(buf);
    free(spec);
    free(prev);
    free(flux);
    kiss_fftr_free(cfg);
    return bound;
}

static double s_env(const qc_take_t *t, int64_t centre, int64_t half)
{
    double r = qc_rms(t, centre - half, centre + half);
    double n = t->noise_rms;
    return r > n ? sqrt(r * r - n * n) : 0.0;
}

int64_t qc_find_onset(const qc_take_t *t, int64_t search_from, int64_t search_to,
                      double above_noise_db, double expected_hz)
{
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    const int64_t hop = ms / 4 > 0 ? ms / 4 : 1;
    const double floor = t->noise_rms > 1e-7 ? t->noise_rms : 1e-7;
    const double rise = floor * pow(10.0, above_noise_db / 20.0);
    if (search_from < 0)
        search_from = 0;
    if (search_to > t->frames)
        search_to = t->frames;

    /* 1. energy */
    int64_t coarse = -1;
    for (int64_t w = search_from; w + ms <= search_to; w += hop) {
        if (qc_peak(t, w, w + ms) >= rise) {
            coarse = w;
            break;
        }
    }
    if (coarse < 0)
        return -1;
    int64_t first = coarse;
    while (first < coarse + ms && qc_peak(t, first, first + 1) < rise)
        first++;

    /* 2. spectral flux bound */
    int64_t lo = search_from;
    int64_t flux_from = first - 20 * ms > 0 ? first - 20 * ms : 0;
    int64_t fb = s_flux_bound(t, flux_from, first + FLUX_N);
    if (fb >= 0 && fb > lo && fb < first)
        lo = fb;

    /* 3. walk back over the part that is clearly signal */
    const double leave = 3.5 * floor;
    const int64_t max_gap = ms / 4 > 0 ? ms / 4 : 1;
    int64_t onset = first;
    for (;;) {
        while (onset > lo && qc_peak(t, onset - 1, onset) > leave)
            onset--;
        int64_t probe = onset - 1, gap = 0;
        while (probe > lo && gap < max_gap && qc_peak(t, probe, probe + 1) <= leave) {
            probe--;
            gap++;
        }
        if (probe > lo && gap < max_gap && qc_peak(t, probe, probe + 1) > leave)
            onset = probe;
        else
            break;
    }

    /* 4. slow attacks. A sound that emerges gradually from the noise (1 ms after the
     * walk-back point still near the floor, or still far below where it is 20 ms later)
     * is extrapolated to where it started. */
    double p1 = qc_peak(t, onset, onset + ms), p20 = qc_peak(t, onset, onset + 20 * ms);
    if (p1 >= 16 * floor && p1 >= 0.25 * p20)
        return onset;
    /* The foot of the rise ends where the envelope (RMS over about a period, noise removed
     * in quadrature) first reaches the lower of 12x the floor and half its maximum. */
    int64_t half = ms / 4 > 0 ? ms / 4 : 1;
    if (expected_hz > 0 && t->rate / expected_hz / 2 > half)
        half = (int64_t)llround(t->rate / expected_hz / 2);
    if (half > 15 * ms / 2)
        half = 15 * ms / 2;
    double env_max = 0;
    for (int64_t c = onset; c < onset + 300 * ms && c + half < t->frames; c += ms) {
        double e = s_env(t, c, half);
        if (e > env_max)
            env_max = e;
    }
    double upper = 12 * floor < 0.5 * env_max ? 12 * floor : 0.5 * env_max;
    int64_t foot_end = -1;
    for (int64_t c = onset; c < onset + 300 * ms && c + half < t->frames; c += hop) {
        if (s_env(t, c, half) >= upper) {
            foot_end = c;
            break;
        }
    }
    if (foot_end - onset < 2 * ms)
        return onset;
    /* Under a linear amplitude ramp b(t - t0) the excess energy accumulated since before
     * t0 grows as (t - t0)^3, whatever the waveform: its cube root is a straight line
     * through t0. Accumulating smooths the waveform's own ripple without a window. */
    int64_t from = onset - 30 * ms > search_from ? onset - 30 * ms : search_from;
    double noise_sq = 0;
    for (int c = 0; c < t->ch; c++)
        noise_sq += t->noise_ch_sq[c];
    double acc = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    int n = 0;
    for (int64_t i = from; i < foot_end; i++) {
        double e = 0;
        for (int c = 0; c < t->ch; c++) {
            double v = qc_at(t, i, c);
            e += v * v;
        }
        acc += e - noise_sq;
        if (i >= onset && (i - onset) % hop == 0 && acc > 0) {
            double x = (double)(i - onset), y = cbrt(acc);
            sx += x, sy += y, sxx += x * x, sxy += x * y;
            n++;
        }
    }
    double den = n * sxx - sx * sx;
    if (n < 8 || den <= 0)
        return onset;
    double b = (n * sxy - sx * sy) / den;
    double a = (sy - b * sx) / n;
    if (b <= 0)
        return onset;
    int64_t z = onset + (int64_t)llround(-a / b);
    /* The walk-back point is an upper bound; flux is blind to slow rises, so the search
     * start is the lower one. */
    if (z < onset)
        onset = z > from ? z : from;
    return onset;
}
