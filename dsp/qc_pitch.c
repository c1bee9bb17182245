/*
 * qc_pitch.c — the fundamental of a take, for the "is this the note we asked for" check
 * and for loop lengths.
 *
 * Normalised square difference function (McLeod's NSDF) of the mono mix over about 40
 * periods (4096 to 16384 frames), the autocorrelation computed with FFTW (single precision). The
 * period is the first key maximum within 0.9 of the best one in the lag range an octave either side
 * of the expected note (so octave errors and wrong notes both show), refined by parabolic
 * interpolation and then by the peak nearest the largest whole multiple of the period in the
 * window, which divides the interpolation error by that multiple.
 *
 * The FFT is only as long as the lags searched need: the shortest m 2^k (m = 8, 9, 10, 12,
 * 15, lengths FFTW splits into small radix-2, 3 and 5 passes) of at least the window
 * plus the longest lag, so no lag searched wraps around (a power of two of twice the window
 * did the same work on up to twice the frames). The refinement's nine lags near the
 * multiple are summed directly in double. The readings differ from a power-of-two FFT's by
 * the float FFT's rounding only (under 0.001 cent on the bench takes); the loop finder's
 * choice does not hang on such digits (qc_loop.c).
 *
 * A note's pitch (qc_steady_pitch) is read where the note is steady: a slow swell out of
 * the noise is still noise, or noise and a rising note, 60 ms after its onset, and one
 * window there read a pad 13 cents sharp or found no pitch at all. Several windows from
 * where the level has settled to the note-off, windows decayed towards the floor left out,
 * the median reading, and how far the windows disagree (the caller's measure of doubt).
 *
 * FFTW plans are made once per size and thread (FFTW_ESTIMATE: no trial runs) and kept for
 * the thread's life with the aligned buffers they were planned on: making plans on every
 * call was a tenth of `batcherbird process`'s time, and allocating 128-256 KiB per window cost
 * an mmap, page faults and an munmap each. FFTW's planner is not thread-safe, so making and
 * destroying plans holds s_planner (executing them needs no lock). The mono mix of a note is
 * made once for its level blocks and all its windows.
 */
#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "qc.h"

#define PITCH_MAX_WINDOW 16384
#define PITCH_MIN_WINDOW 4096
#define S_RANGE          2.2 /* lags searched: the expected period / 2.2 .. x 2.2 */

/* ---- this thread's plans ---- */

#define S_PLANS 16 /* sizes kept per thread (about 15 are in use: 5 per octave, 4096..32768) */

/* One FFT size: the forward (real to half spectrum) and inverse plans, planned on buf
 * (nfft floats, the FFT's input and the inverse's output) and spec (nfft / 2 + 1 bins). */
typedef struct {
    int nfft;           /* 0: free slot */
    unsigned long used; /* when last used (a count of calls): the oldest makes room */
    fftwf_plan fwd, inv;
    float *buf;
    fftwf_complex *spec;
} s_plan_t;

typedef struct {
    s_plan_t plan[S_PLANS];
    unsigned long calls;
    /* scratch of the last call, grown as needed: the NSDF, the mono mix */
    double *nsdf, *mono;
    size_t nsdf_n, mono_n;
} s_plans_t;

static pthread_key_t s_key;
static pthread_once_t s_key_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t s_planner = PTHREAD_MUTEX_INITIALIZER; /* FFTW's planner */

static void s_plan_clear(s_plan_t *q)
{
    pthread_mutex_lock(&s_planner);
    if (q->fwd)
        fftwf_destroy_plan(q->fwd);
    if (q->inv)
        fftwf_destroy_plan(q->inv);
    pthread_mutex_unlock(&s_planner);
    fftwf_free(q->buf);
    fftwf_free(q->spec);
    *q = (s_plan_t){0};
}

static void s_plans_free(void *arg)
{
    s_plans_t *p = arg;
    for (int i = 0; i < S_PLANS; i++)
        s_plan_clear(&p->plan[i]);
    free(p->nsdf);
    free(p->mono);
    free(p);
}

static void s_key_make(void)
{
    pthread_key_create(&s_key, s_plans_free);
}

/* buf (of *cap elements of size bytes), or a new one in its place when it holds fewer than
 * n (the old contents are lost); NULL when out of memory (buf is freed, *cap is 0). */
static void *s_grow(void *buf, size_t *cap, size_t n, size_t size)
{
    if (*cap >= n)
        return buf;
    free(buf);
    buf = malloc(n * size);
    *cap = buf ? n : 0;
    return buf;
}

/* This thread's plans and scratch, made on its first call; NULL when out of memory. */
static s_plans_t *s_thread(void)
{
    pthread_once(&s_key_once, s_key_make);
    s_plans_t *p = pthread_getspecific(s_key);
    if (!p) {
        if (!(p = calloc(1, sizeof *p)))
            return NULL;
        pthread_setspecific(s_key, p);
    }
    return p;
}

/* The plans and buffers of size nfft in p, made when missing; NULL when out of memory. */
static s_plan_t *s_plans(s_plans_t *p, int nfft)
{
    int slot = 0;
    p->calls++;
    for (int i = 0; i < S_PLANS; i++) {
        if (p->plan[i].nfft == nfft) {
            p->plan[i].used = p->calls;
            return &p->plan[i];
        }
        if (p->plan[i].used < p->plan[slot].used) /* free slots have 0: taken first */
            slot = i;
    }
    s_plan_t *q = &p->plan[slot];
    s_plan_clear(q);
    q->buf = fftwf_alloc_real((size_t)nfft);
    q->spec = fftwf_alloc_complex((size_t)nfft / 2 + 1);
    if (q->buf && q->spec) {
        pthread_mutex_lock(&s_planner);
        q->fwd = fftwf_plan_dft_r2c_1d(nfft, q->buf, q->spec, FFTW_ESTIMATE);
        q->inv = fftwf_plan_dft_c2r_1d(nfft, q->spec, q->buf, FFTW_ESTIMATE);
        pthread_mutex_unlock(&s_planner);
    }
    if (!q->fwd || !q->inv) {
        s_plan_clear(q);
        return NULL;
    }
    q->nfft = nfft;
    q->used = p->calls;
    return q;
}

/* The shortest FFT length m 2^k (m = 8, 9, 10, 12, 15; k >= 0) of at least n frames. */
static int s_fft_size(int64_t n)
{
    static const int mul[] = {8, 9, 10, 12, 15};
    for (int64_t k = 1;; k <<= 1)
        for (size_t i = 0; i < sizeof mul / sizeof mul[0]; i++)
            if (mul[i] * k >= n)
                return (int)(mul[i] * k);
}

/* NSDF at lag tau of x[0, w), summed directly: 2 r(tau) / m(tau) (0 when silent). */
static double s_nsdf_at(const double *x, int64_t w, int64_t tau)
{
    double r = 0, m = 0;
    for (int64_t j = 0; j < w - tau; j++) {
        r += x[j] * x[j + tau];
        m += x[j] * x[j] + x[j + tau] * x[j + tau];
    }
    return m > 1e-20 ? 2.0 * r / m : 0;
}

/* About 40 periods of the expected note: enough for the multiple-period refinement, no
 * more FFT than that needs. */
static int64_t s_window(int rate, double expected_hz)
{
    int64_t w = (int64_t)llround(40.0 * rate / expected_hz);
    if (w < PITCH_MIN_WINDOW)
        w = PITCH_MIN_WINDOW;
    if (w > PITCH_MAX_WINDOW)
        w = PITCH_MAX_WINDOW;
    return w;
}

/* Parabolic interpolation of the peak at i of y. */
static double s_interp(const double *y, int64_t i, int64_t n)
{
    if (i <= 0 || i >= n - 1)
        return (double)i;
    double a = y[i - 1], b = y[i], c = y[i + 1];
    double den = a - 2 * b + c;
    return den != 0 ? (double)i + 0.5 * (a - c) / den : (double)i;
}

/* The mono mix of frames [from, from + n), DC removed, into mono. */
static void s_mono(const qc_take_t *t, int64_t from, int64_t n, double *mono)
{
    for (int64_t i = 0; i < n; i++) {
        double m = 0;
        for (int c = 0; c < t->ch; c++)
            m += qc_at(t, from + i, c);
        mono[i] = m / t->ch;
    }
}

/* qc_find_pitch on a mono mix: its first min(s_window, avail) frames. p: this thread's. */
static double s_pitch(s_plans_t *p, const double *mono, int64_t avail, int rate, double expected_hz,
                      double *confidence)
{
    *confidence = 0;
    int64_t w = s_window(rate, expected_hz);
    if (w > avail)
        w = avail;
    /* an octave either side, and a little beyond so an octave's peak is a whole peak */
    int64_t min_lag = (int64_t)floor(rate / (expected_hz * S_RANGE));
    int64_t max_lag = (int64_t)ceil(rate / (expected_hz / S_RANGE));
    if (min_lag < 2)
        min_lag = 2;
    if (max_lag > w / 2)
        max_lag = w / 2;
    if (max_lag <= min_lag + 2)
        return 0;

    int nfft = s_fft_size(w + max_lag + 2); /* lags up to max_lag + 1 do not wrap */
    s_plan_t *q = s_plans(p, nfft);
    /* nsdf: lags up to max_lag + 1, then (the refinement) up to w / 2 + 4 */
    if (!q || !(p->nsdf = s_grow(p->nsdf, &p->nsdf_n, (size_t)(w / 2 + 6), sizeof(double))))
        return 0;
    float *buf = q->buf;
    fftwf_complex *spec = q->spec;
    double *nsdf = p->nsdf;

    for (int64_t i = 0; i < w; i++)
        buf[i] = (float)mono[i];
    memset(buf + w, 0, sizeof(float) * (size_t)(nfft - w));
    fftwf_execute(q->fwd);
    for (int k = 0; k <= nfft / 2; k++) {
        spec[k][0] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
        spec[k][1] = 0;
    }
    fftwf_execute(q->inv); /* buf[tau] = nfft * r(tau) (unnormalised, as FFTW defines it) */

    /* m(tau) = sum_{j < w - tau} x_j^2 + x_{j+tau}^2, updated as tau grows. */
    double m = 0;
    for (int64_t i = 0; i < w; i++)
        m += 2 * mono[i] * mono[i];
    for (int64_t tau = 0; tau <= max_lag + 1; tau++) {
        if (tau > 0) {
            m -= mono[w - tau] * mono[w - tau] + mono[tau - 1] * mono[tau - 1];
        }
        nsdf[tau] = m > 1e-20 ? 2.0 * ((double)buf[tau] / nfft) / m : 0;
    }

    /* Key maxima in [min_lag, max_lag]; the first within 0.9 of the best wins. */
    double best = 0;
    for (int64_t tau = min_lag; tau <= max_lag; tau++)
        if (nsdf[tau] > nsdf[tau - 1] && nsdf[tau] >= nsdf[tau + 1] && nsdf[tau] > best)
            best = nsdf[tau];
    if (best < 0.3)
        return 0;
    int64_t pick = -1;
    for (int64_t tau = min_lag; tau <= max_lag; tau++) {
        if (nsdf[tau] > nsdf[tau - 1] && nsdf[tau] >= nsdf[tau + 1] && nsdf[tau] >= 0.9 * best) {
            pick = tau;
            break;
        }
    }
    if (pick < 0)
        return 0;
    double period = s_interp(nsdf, pick, max_lag + 2);
    *confidence = nsdf[pick];

    /* Refine over a whole multiple of the period, inside the window: the NSDF at the lags
     * around mult periods (the peak within 3 of it and its neighbours), summed directly. */
    int64_t mult = (int64_t)((w / 2) / period);
    if (mult >= 2) {
        int64_t max2 = (int64_t)(mult * period) + 3;
        int64_t centre = (int64_t)llround(mult * period);
        double near[9]; /* the NSDF at centre - 4 .. centre + 4 */
        for (int64_t d = -4; d <= 4; d++) {
            int64_t tau = centre + d;
            near[d + 4] = tau >= 0 && tau <= max2 && tau < w ? s_nsdf_at(mono, w, tau) : 0;
        }
        int64_t at = centre;
        for (int64_t tau = centre - 3; tau <= centre + 3; tau++)
            if (tau > 0 && tau <= max2 && near[tau - centre + 4] > near[at - centre + 4])
                at = tau;
        if (at > 0 && at < max2 && near[at - centre + 4] > 0.5)
            period = ((double)(centre - 4) + s_interp(near, at - centre + 4, 9)) / (double)mult;
    }
    return period > 0 ? rate / period : 0;
}

double qc_find_pitch(const qc_take_t *t, int64_t from, int64_t to, double expected_hz,
                     double *confidence)
{
    *confidence = 0;
    if (expected_hz <= 0 || from < 0 || to > t->frames || to <= from)
        return 0;
    int64_t w = s_window(t->rate, expected_hz);
    if (w > to - from)
        w = to - from;
    s_plans_t *p = s_thread();
    if (!p || !(p->mono = s_grow(p->mono, &p->mono_n, (size_t)w, sizeof(double))))
        return 0;
    s_mono(t, from, w, p->mono);
    return s_pitch(p, p->mono, w, t->rate, expected_hz, confidence);
}

/* ---- the pitch where the note is steady ---- */

/* Mean square of mono[a, b). */
static double s_power(const double *mono, int64_t a, int64_t b)
{
    double e = 0;
    for (int64_t i = a; i < b; i++)
        e += mono[i] * mono[i];
    return b > a ? e / (double)(b - a) : 0;
}

typedef struct {
    double hz, confidence, cents, power;
    int64_t from;
} s_reading_t;

static int s_by_cents(const void *pa, const void *pb)
{
    const s_reading_t *a = pa, *b = pb;
    return (a->cents > b->cents) - (a->cents < b->cents);
}

/* Where the level of mono[0, n) first comes within QC_PITCH_SETTLED_DB of its loudest
 * block (an index into mono); *ref gets that block's power (0 when too short to say: 0 is
 * returned). */
static int64_t s_settled(const double *mono, int64_t n, int rate, double expected_hz, double *ref)
{
    const int64_t from = 0;
    int64_t blk = rate / 100, two = (int64_t)llround(2.0 * rate / expected_hz);
    if (blk < two)
        blk = two;
    int64_t nb = blk > 0 ? n / blk : 0;
    *ref = 0;
    if (nb < 2)
        return from;
    double *pw = malloc(sizeof(double) * (size_t)nb);
    if (!pw)
        return from;
    for (int64_t b = 0; b < nb; b++) {
        pw[b] = s_power(mono, from + b * blk, from + (b + 1) * blk);
        *ref = pw[b] > *ref ? pw[b] : *ref;
    }
    int64_t at = from;
    double settled = *ref * pow(10.0, -QC_PITCH_SETTLED_DB / 10.0);
    for (int64_t b = 0; b < nb; b++)
        if (pw[b] >= settled) {
            at = from + b * blk;
            break;
        }
    free(pw);
    return at;
}

double qc_steady_pitch(const qc_take_t *t, int64_t from, int64_t to, double expected_hz,
                       qc_pitch_t *out)
{
    *out = (qc_pitch_t){0};
    if (expected_hz <= 0 || from < 0 || to > t->frames || to <= from)
        return 0;
    int64_t w = s_window(t->rate, expected_hz);
    s_plans_t *p = s_thread(); /* p->mono[i]: the mono mix of frame from + i */
    if (!p || !(p->mono = s_grow(p->mono, &p->mono_n, (size_t)(to - from), sizeof(double))))
        return 0;
    const double *mono = p->mono;
    s_mono(t, from, to - from, p->mono);
    double ref = 0;
    int64_t start = from + s_settled(mono, to - from, t->rate, expected_hz, &ref);
    if (to - start < w) /* settled late (a swell to the note-off): the last window */
        start = to - w > from ? to - w : from;
    int64_t span = to - start - w; /* room to spread the windows in */
    int n = 1;
    if (span > 0 && w >= 2) {
        int64_t more = span / (w / 2);
        n += (int)(more < QC_PITCH_WINDOWS - 1 ? more : QC_PITCH_WINDOWS - 1);
    }
    s_reading_t r[QC_PITCH_WINDOWS];
    int m = 0;
    double floor_pw = ref * pow(10.0, -QC_PITCH_FLOOR_DB / 10.0);
    for (int k = 0; k < n; k++) {
        int64_t a = start + (n > 1 ? span * k / (n - 1) : 0);
        int64_t b = a + w < to ? a + w : to;
        double pw = s_power(mono, a - from, b - from);
        if (ref > 0 && pw < floor_pw)
            continue; /* decayed towards the floor */
        double conf = 0, hz = s_pitch(p, mono + (a - from), b - a, t->rate, expected_hz, &conf);
        if (hz > 0)
            r[m++] = (s_reading_t){hz, conf, 1200.0 * log2(hz / expected_hz), pw, a};
    }
    /* the first window after the attack, as one window read it before: what sounds there */
    double attack_conf = 0, attack_hz = 0;
    if (m == 0 || start > from || r[0].from > from)
        attack_hz = s_pitch(p, mono, to - from, t->rate, expected_hz, &attack_conf);
    else
        attack_hz = r[0].hz;
    out->attack_hz = attack_hz;
    if (m == 0) { /* nothing where the note is steady: that window's reading */
        if (attack_hz <= 0)
            return 0;
        r[m++] =
            (s_reading_t){attack_hz, attack_conf, 1200.0 * log2(attack_hz / expected_hz), 1, from};
    }
    qsort(r, (size_t)m, sizeof r[0], s_by_cents);
    int med = m / 2; /* of an even count, the middle reading heard more clearly */
    if (m % 2 == 0 && r[med - 1].confidence > r[med].confidence)
        med--;
    double sw = 0, sc = 0, lo = 0, hi = 0;
    for (int k = 0; k < m; k++) {
        double d = r[k].cents - r[med].cents;
        if (fabs(d) <= QC_PITCH_AGREE_CENTS) {
            sw += r[k].power;
            sc += r[k].power * d;
        }
        d -= 1200.0 * round(d / 1200.0);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    double cents = r[med].cents + (sw > 0 ? sc / sw : 0);
    out->hz = expected_hz * pow(2.0, cents / 1200.0);
    out->confidence = r[med].confidence;
    out->spread_cents = hi - lo;
    out->windows = m;
    out->from = r[0].from;
    for (int k = 1; k < m; k++)
        out->from = r[k].from < out->from ? r[k].from : out->from;
    return out->hz;
}
