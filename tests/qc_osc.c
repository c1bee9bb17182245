/*
 * qc_osc.c — the band-limited oscillators of qc_osc.h.
 */
#include "qc_osc.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_TWO_PI     6.283185307179586476925
#define S_SUPER_N    7     /* supersaw voices */
#define S_FM_RATIO   3.5   /* FM bell: modulator / carrier */
#define S_FM_INDEX   4.0   /* FM bell: modulation index at the strike */
#define S_FM_IDX_TAU 0.35  /* s: how fast the bell's brightness decays */
#define S_HP_HZ      900.0 /* noise hit: high-pass corner */
#define S_END_LEVEL  3e-6  /* the release ends below this (about -110 dBFS) */

static const char *const s_names[QC_WAVE_COUNT] = {"saw", "square",  "pulse",     "supersaw",
                                                   "pwm", "fm-bell", "noise-hit", "organ"};

const char *qc_osc_wave_name(qc_wave_t wave)
{
    return (unsigned)wave < QC_WAVE_COUNT ? s_names[wave] : "?";
}

bool qc_osc_pitched(qc_wave_t wave)
{
    return wave != QC_WAVE_NOISE_HIT;
}

/* One period of sum_k amp[k-1] sin(2 pi k phase), k = 1..n, normalised to peak 1; the
 * table has QC_OSC_TABLE + 1 points (the last repeats the first). NULL when out of memory. */
static float *s_table(const double *amp, int n)
{
    const int N = QC_OSC_TABLE;
    if (n > N / 2 - 1)
        n = N / 2 - 1;
    float *spec_mem = fftwf_alloc_real((size_t)N + 2);  /* N / 2 + 1 complex bins */
    float *t = malloc(sizeof(float) * ((size_t)N + 1)); /* the caller frees it */
    fftwf_complex *spec = (fftwf_complex *)spec_mem;
    fftwf_plan inv = spec_mem && t ? fftwf_plan_dft_c2r_1d(N, spec, t, FFTW_ESTIMATE) : NULL;
    if (!inv) {
        fftwf_free(spec_mem);
        free(t);
        return NULL;
    }
    memset(spec_mem, 0, sizeof(float) * ((size_t)N + 2));
    /* FFTW's inverse sums X[k] e^{+i theta} over both halves: X[k] = -i a / 2 gives a sin. */
    for (int k = 1; k <= n; k++)
        spec[k][1] = (float)(-amp[k - 1] / 2.0);
    fftwf_execute(inv);
    fftwf_destroy_plan(inv);
    fftwf_free(spec_mem);
    float peak = 0;
    for (int i = 0; i < N; i++)
        peak = fabsf(t[i]) > peak ? fabsf(t[i]) : peak;
    for (int i = 0; i < N; i++)
        t[i] = peak > 0 ? t[i] / peak : 0;
    t[N] = t[0];
    return t;
}

/* A sawtooth at freq with every harmonic below rate / 2. */
static float *s_saw_table(double freq, int rate)
{
    int n = (int)floor((rate / 2.0 - 1e-6) / freq);
    if (n < 1)
        n = 1;
    if (n > QC_OSC_TABLE / 2 - 1)
        n = QC_OSC_TABLE / 2 - 1;
    double *amp = malloc(sizeof(double) * (size_t)n);
    if (!amp)
        return NULL;
    for (int k = 1; k <= n; k++)
        amp[k - 1] = 1.0 / k;
    float *t = s_table(amp, n);
    free(amp);
    return t;
}

static inline double s_read(const float *t, double phase)
{
    double pos = phase * QC_OSC_TABLE;
    int i = (int)pos;
    double f = pos - i;
    return t[i] + f * (t[i + 1] - t[i]);
}

static inline double s_wrap(double p)
{
    return p - floor(p);
}

static double s_rise(const qc_osc_patch_t *p, double u)
{
    switch (p->rise) {
    case QC_RISE_POWER:
        return pow(u, p->rise_k);
    case QC_RISE_EXP:
        return (exp(p->rise_k * u) - 1) / (exp(p->rise_k) - 1);
    case QC_RISE_RC:
        return (1 - exp(-p->rise_k * u)) / (1 - exp(-p->rise_k));
    case QC_RISE_LINEAR:
    default:
        return u;
    }
}

static uint64_t s_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double s_uniform(uint64_t *s)
{
    return (double)(s_rand(s) >> 11) / 9007199254740992.0;
}

int64_t qc_osc_render(const qc_osc_patch_t *p, double freq, double amp, int rate, int64_t hold,
                      int64_t max_frames, uint32_t seed, float *out)
{
    uint64_t rs = 0x9E3779B97F4A7C15ULL * (seed + 1u);
    if (!rs)
        rs = 1;
    float *tab[S_SUPER_N] = {0};
    double inc[S_SUPER_N] = {0}, ph[S_SUPER_N] = {0}, gain[S_SUPER_N] = {0};
    int nosc = 1;
    int64_t n = 0;
    bool pitched_table = p->wave != QC_WAVE_FM_BELL && p->wave != QC_WAVE_NOISE_HIT;
    if (p->wave == QC_WAVE_SUPERSAW) {
        static const double pos[S_SUPER_N] = {-1, -0.62, -0.28, 0, 0.31, 0.6, 1};
        nosc = S_SUPER_N;
        for (int k = 0; k < nosc; k++) {
            double f = freq * pow(2.0, pos[k] * p->spread_cents / 1200.0);
            tab[k] = s_saw_table(f, rate);
            inc[k] = f / rate;
            ph[k] = s_uniform(&rs);
            gain[k] = k == 3 ? 1.0 : 0.75;
        }
    } else if (p->wave == QC_WAVE_ORGAN) {
        /* drawbars 8' 4' 2 2/3' 2' 1 3/5': harmonics 1 2 3 4 5 */
        double bars[5] = {1.0, 0.7, 0.5, 0.35, 0.2};
        int nh = 0;
        while (nh < 5 && (nh + 1) * freq < rate / 2.0)
            nh++;
        tab[0] = s_table(bars, nh > 0 ? nh : 1);
        inc[0] = freq / rate;
        gain[0] = 1;
    } else if (pitched_table) {
        tab[0] = s_saw_table(freq, rate);
        inc[0] = freq / rate;
        ph[0] = 0;
        gain[0] = 1;
    }
    for (int k = 0; k < nosc; k++)
        if (pitched_table && !tab[k]) {
            n = -1;
            goto done;
        }

    const double attack = p->attack_ms * rate / 1000.0;
    const double decay_mul = p->decay_s > 0 ? exp(-1.0 / (p->decay_s * rate)) : 1.0;
    const double release_mul = exp(-1.0 / (p->release_ms > 0 ? p->release_ms * rate / 1000.0 : 1));
    const double hp = exp(-S_TWO_PI * S_HP_HZ / rate);
    double hold_part = 1.0; /* the decaying part above the sustain, after the attack */
    double env = 0, rel = 1, hp_prev_in = 0, hp_out = 0, fm_ph = 0, mod_ph = 0;
    double pwm_ph = s_uniform(&rs);
    double trem_ph = p->trem_db != 0 ? s_uniform(&rs) : 0;
    double peak = 0;
    for (n = 0; n < max_frames; n++) {
        /* envelope */
        if (n < attack) {
            env = s_rise(p, (double)n / attack);
        } else {
            env = p->sustain + (1 - p->sustain) * hold_part;
            hold_part *= decay_mul;
        }
        if (n >= hold) {
            env *= rel;
            rel *= release_mul;
            if (env * amp < S_END_LEVEL)
                break;
        }
        /* waveform */
        double y = 0;
        switch (p->wave) {
        case QC_WAVE_SAW:
        case QC_WAVE_ORGAN:
            y = s_read(tab[0], ph[0]);
            break;
        case QC_WAVE_SQUARE:
        case QC_WAVE_PULSE:
        case QC_WAVE_PWM: {
            double w = p->wave == QC_WAVE_SQUARE ? 0.5 : p->width;
            if (p->wave == QC_WAVE_PWM) {
                w += p->pwm_depth * sin(S_TWO_PI * pwm_ph);
                pwm_ph = s_wrap(pwm_ph + p->pwm_hz / rate);
            }
            y = 0.5 * (s_read(tab[0], ph[0]) - s_read(tab[0], s_wrap(ph[0] + w)));
            break;
        }
        case QC_WAVE_SUPERSAW:
            for (int k = 0; k < nosc; k++) {
                y += gain[k] * s_read(tab[k], ph[k]);
                ph[k] = s_wrap(ph[k] + inc[k]);
            }
            y *= 0.3;
            break;
        case QC_WAVE_FM_BELL: {
            double idx = S_FM_INDEX * exp(-(double)n / (S_FM_IDX_TAU * rate));
            y = sin(S_TWO_PI * fm_ph + idx * sin(S_TWO_PI * mod_ph));
            fm_ph = s_wrap(fm_ph + freq / rate);
            mod_ph = s_wrap(mod_ph + S_FM_RATIO * freq / rate);
            break;
        }
        case QC_WAVE_NOISE_HIT: {
            double w = 2 * s_uniform(&rs) - 1;
            hp_out = hp * (hp_out + w - hp_prev_in);
            hp_prev_in = w;
            y = hp_out;
            break;
        }
        default:
            break;
        }
        if (p->wave != QC_WAVE_SUPERSAW)
            ph[0] = s_wrap(ph[0] + inc[0]);
        double v = y * env;
        if (p->trem_db != 0) {
            v *= pow(10.0, p->trem_db / 20.0 * sin(S_TWO_PI * trem_ph));
            trem_ph = s_wrap(trem_ph + p->trem_hz / rate);
        }
        out[2 * n] = out[2 * n + 1] = (float)v;
        if (fabs(v) > peak)
            peak = fabs(v);
    }
    /* The waveform's own peak differs by shape (a pulse's Gibbs overshoot, a supersaw's
     * random phases): scale the note so its loudest sample is amp. */
    if (peak > 0) {
        float g = (float)(amp / peak);
        for (int64_t i = 0; i < 2 * n; i++)
            out[i] *= g;
    }
done:
    for (int k = 0; k < S_SUPER_N; k++)
        free(tab[k]);
    return n;
}
