/*
 * qc_onset.c — where the attack starts.
 *
 * The search works on a copy of the region around the attack with each channel's DC and
 * mains hum removed: the hum (50 or 60 Hz and its 2nd and 3rd harmonic, whichever
 * explains more of the pre-roll) is fitted to the pre-roll by least squares and
 * subtracted, continued, from the region. Hum is a steady sine that would otherwise hide
 * a quiet note's first milliseconds; what remains of the floor is broadband noise of
 * power sigma_c^2 per channel (measured on the same pre-roll once the hum is removed), and
 * z = sum over channels of w_c x_c^2 / sigma_c^2 (mean 1 in the floor) measures the sound in
 * units of it. The weights w_c (summing to 1) are each channel's share of the note's excess
 * over its floor where the note is loud (from the loud sample to 2.5 ms after it): the
 * matched weighting for a weak sound in independent channel noise, so a note panned to one
 * channel is not diluted by the other channel's noise (equal weights halve its excess).
 * Assumption: the note's balance between the channels at its foot is the balance of its
 * first loud milliseconds (a pan or a fixed stereo image). Noise alone gives z a variance of
 * 2 sum w_c^2 per frame (chi-square(1) per channel), which the standard errors below use.
 *
 * 1. Loud: the first sample above_noise_db over the floor. Noise alone never gets there;
 *    it says a note is there, not where it began.
 * 2. Change point: Page's CUSUM g = max(0, g + z - S_CUSUM_K) from the search start to the
 *    loud sample; the frame after g was last zero (the start of its last excursion) is
 *    where the note's power passes the floor's. The "last zero" estimate has no detection
 *    delay, and noise bumps that die out before the note are forgotten.
 * 3. The note may have stood above the floor a little earlier than the change point
 *    says (a slow rise; a pulse wave whose first edges were smaller): walk back from it
 *    in windows of a period of the note (1 to 10 ms) or of 1 ms (a lone first edge of a
 *    low note) while the mean z of one of them stays above 1 + S_WALK_EXCESS (the note
 *    at -4.6 dB of the floor's power) and S_WALK_SE standard errors of the window's mean
 *    over 1 (variance 2 sum w_c^2 / w for a w-frame mean; 0.43 for a 1 ms stereo window at
 *    48 kHz with equal weights, below which noise alone walked back a millisecond or two in
 *    one take of twenty); one window below that is bridged. That point, "present",
 *    is where the note first stands above the floor, and no onset is ever later.
 * 3b. A foot too faint for any one window (a string's first bow noise, 1-2 ms at half the
 *    floor's power before its step): the span [p, present) whose mean z stands the most
 *    standard errors over the floor's 1 (for a flat foot, the span that starts where the
 *    foot does), when at least S_WALK_SE, searched S_FOOT_BACK_MS back. Many spans are
 *    tried, so noise alone finds such a foot now and then: it is kept as "foot", weaker
 *    evidence than "present", and only the instrument's latency acts on it
 *    (qc_instrument.c: a clear attack after a foot starts at the later of the foot and the
 *    latency).
 * 4. Clear attacks: nothing of the note before the change point, and the mean z over the
 *    S_CLEAR_MS after it at least S_CLEAR_Z (10 dB over the floor within half a
 *    millisecond): the change point is the onset, to a few frames.
 * 5. A note that steps in there (mean z at least S_STEP_Z over the next S_STEP_MS) began
 *    there. A slow attack began earlier still, below the floor. Assumption: over the
 *    foot of its rise (from "present" until it is S_FOOT_DB over the floor or at
 *    S_FOOT_SHARE of its first maximum's power) the excess power grows as a power of the
 *    time since the start, P(t) = k (t - t0)^q, q in S_POWERS (q = 2: an amplitude rising
 *    linearly, as sampler and SoundFont envelopes do; q = 4, 6, 8: convex swells, bowed
 *    and blown notes, the foot of an exponential rise). The accumulated excess energy is
 *    then E(t) = k / (q + 1) (t - t0)^(q+1), so E^(1/(q+1)) is a straight line in t
 *    whatever the waveform, and accumulating averages out the noise and the waveform's
 *    ripple. The straightest of the fits (least residual relative to its rise) gives q and
 *    k; t0 follows from the level where the walk stopped, not from the line's intercept,
 *    which noise moves a lot: the walk's window of w frames, halfway between present - w
 *    and present, holds a mean excess of the walk's threshold, which fixes its distance
 *    from t0 under the fitted law (a window's mean, not the power at its start: with long
 *    windows and steep rises the two differ by milliseconds). The start is never more than
 * S_MAX_BACK foot lengths before "present". A rise that is exponential all the way (no start at
 * all) fits the largest q, which puts the start where the exponential leaves the floor. A
 * per-instrument latency prior (qc_instrument.c) can replace the onset of a slow attack later;
 * "present" bounds it the same way.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qc.h"

#define S_CUSUM_K       2.0 /* power ratio (3 dB) an excursion must keep up */
#define S_CLEAR_MS      0.5
#define S_CLEAR_Z       10.0 /* 10 dB over the floor within S_CLEAR_MS: a clear attack */
#define S_WALK_MS       1.0  /* walk-back windows: a period of the note, at least this ... */
#define S_WALK_MAX_MS   10.0 /* ... and at most this */
#define S_WALK_EXCESS   0.35
#define S_WALK_SE       3.0  /* ... and at least this many standard errors of its mean */
#define S_FOOT_BACK_MS  10.0 /* a faint foot is looked for this far before "present" */
#define S_STEP_MS       1.0  /* a sound S_STEP_Z over the floor (7 dB) within this is a step */
#define S_STEP_Z        5.0
#define S_FOOT_DB       30.0  /* the foot ends 30 dB over the floor ... */
#define S_FOOT_SHARE    0.01  /* ... or at this share of the first maximum's power */
#define S_FOOT_MAX_MS   400.0 /* the foot is looked for this long */
#define S_MAX_BACK      2.0   /* the start lies at most this many foot lengths before it */
#define S_MIN_FIT       8     /* points a fit needs */
#define S_FIT_POINTS    160   /* ... and at most this many */
#define S_Z_FLOOR       1e-14 /* noise power floor (digital silence) */
#define S_HUM_HARM      3
#define S_HUM_MIN_SHARE 0.1  /* hum is removed when it is at least this share of the floor */
#define S_HUM_MIN_MS    40.0 /* pre-roll needed to fit it */
#define S_HUM_STEP      4    /* the fit uses every 4th frame (hum is below 200 Hz) */
#define S_RESID_MIN     256  /* pre-roll frames the residual floor is measured on */

static const double S_POWERS[] = {1.0, 2.0, 3.0, 4.0, 6.0, 8.0}; /* q */

/* ---- the region, DC and hum removed ---- */

typedef struct {
    int64_t from, n; /* frames of the take it covers */
    int ch;
    double *y;                                     /* n * ch, interleaved */
    double inv[DSP_MAX_CHANNELS];                  /* 1 / residual noise power per channel */
    double wt[DSP_MAX_CHANNELS];                   /* z's weight per channel over its power */
    double w2;                                     /* sum of the squared channel weights */
    double noise_sq;                               /* residual noise power summed over channels */
    double hum_hz;                                 /* 0: no hum removed */
    double coef[DSP_MAX_CHANNELS][2 * S_HUM_HARM]; /* sin, cos per harmonic and channel */
} s_region_t;

/* Solves the 2H x 2H normal equations in place (Gaussian elimination, partial pivoting).
 * Returns false when singular. */
static bool s_solve(double m[2 * S_HUM_HARM][2 * S_HUM_HARM + 1])
{
    const int n = 2 * S_HUM_HARM;
    for (int i = 0; i < n; i++) {
        int p = i;
        for (int r = i + 1; r < n; r++)
            if (fabs(m[r][i]) > fabs(m[p][i]))
                p = r;
        if (fabs(m[p][i]) < 1e-12)
            return false;
        for (int k = 0; k <= n; k++) {
            double tmp = m[i][k];
            m[i][k] = m[p][k];
            m[p][k] = tmp;
        }
        for (int r = 0; r < n; r++) {
            if (r == i)
                continue;
            double f = m[r][i] / m[i][i];
            for (int k = i; k <= n; k++)
                m[r][k] -= f * m[i][k];
        }
    }
    for (int i = 0; i < n; i++)
        m[i][n] /= m[i][i];
    return true;
}

/* Hum fit over [0, pre) on every channel at fundamental f: each channel's coefficients
 * (sin, cos per harmonic) in coef[c], the power it explains in explained[c]. Every
 * S_HUM_STEP-th frame is enough. The normal equations' matrix (the harmonics' products)
 * is the same for every channel and is summed once; each channel's right-hand side is its
 * own, and each channel is solved on a copy: the same sums in the same order as fitting
 * one channel at a time. */
static void s_hum_fit(const qc_take_t *t, int64_t pre, double f,
                      double coef[DSP_MAX_CHANNELS][2 * S_HUM_HARM], double *explained)
{
    double gram[2 * S_HUM_HARM][2 * S_HUM_HARM + 1];
    double rhs[DSP_MAX_CHANNELS][2 * S_HUM_HARM];
    memset(gram, 0, sizeof gram);
    memset(rhs, 0, sizeof rhs);
    const int ch = t->ch < DSP_MAX_CHANNELS ? t->ch : DSP_MAX_CHANNELS;
    const double w = 2.0 * M_PI * f / t->rate * S_HUM_STEP;
    double bas[2 * S_HUM_HARM], rs[S_HUM_HARM], rc[S_HUM_HARM];
    for (int h = 0; h < S_HUM_HARM; h++) {
        bas[2 * h] = 0, bas[2 * h + 1] = 1; /* sin, cos of the phase at frame 0 */
        rs[h] = sin(w * (h + 1)), rc[h] = cos(w * (h + 1));
    }
    int64_t cnt = 0;
    for (int64_t i = 0; i < pre; i += S_HUM_STEP, cnt++) {
        if (cnt) /* rotate every harmonic's phasor by one step */
            for (int h = 0; h < S_HUM_HARM; h++) {
                double s = bas[2 * h] * rc[h] + bas[2 * h + 1] * rs[h];
                double c2 = bas[2 * h + 1] * rc[h] - bas[2 * h] * rs[h];
                bas[2 * h] = s, bas[2 * h + 1] = c2;
            }
        for (int r = 0; r < 2 * S_HUM_HARM; r++)
            for (int k = r; k < 2 * S_HUM_HARM; k++)
                gram[r][k] += bas[r] * bas[k];
        for (int c = 0; c < ch; c++) {
            double v = qc_at(t, i, c);
            for (int r = 0; r < 2 * S_HUM_HARM; r++)
                rhs[c][r] += bas[r] * v;
        }
    }
    for (int r = 0; r < 2 * S_HUM_HARM; r++)
        for (int k = 0; k < r; k++)
            gram[r][k] = gram[k][r];
    for (int c = 0; c < ch; c++) {
        explained[c] = 0;
        double m[2 * S_HUM_HARM][2 * S_HUM_HARM + 1];
        memcpy(m, gram, sizeof m);
        for (int r = 0; r < 2 * S_HUM_HARM; r++)
            m[r][2 * S_HUM_HARM] = rhs[c][r];
        if (cnt == 0 || !s_solve(m))
            continue;
        double e = 0;
        for (int r = 0; r < 2 * S_HUM_HARM; r++) {
            coef[c][r] = m[r][2 * S_HUM_HARM];
            e += coef[c][r] * rhs[c][r];
        }
        explained[c] = e / (double)cnt;
    }
}

static bool s_region_fill(const qc_take_t *t, s_region_t *r, int64_t to);

/* z's channel weights: each channel's share of the note's excess over its floor (in units of
 * that floor) over [a, b), or equal weights (excess NULL, or no excess anywhere). */
static void s_region_weigh(s_region_t *r, const double *excess)
{
    double sum = 0;
    for (int c = 0; excess && c < r->ch; c++)
        sum += excess[c] > 0 ? excess[c] : 0;
    r->w2 = 0;
    for (int c = 0; c < r->ch; c++) {
        double w = sum > 0 ? (excess[c] > 0 ? excess[c] : 0) / sum : 1.0 / r->ch;
        r->wt[c] = w * r->inv[c];
        r->w2 += w * w;
    }
}

/* The hum and the residual floor, fitted before `from`. */
static void s_region_init(const qc_take_t *t, int64_t from, s_region_t *r)
{
    memset(r, 0, sizeof *r);
    r->from = from < 0 ? 0 : from;
    r->ch = t->ch;
    /* the hum, fitted where nothing sounds: before the search start */
    const int64_t pre = r->from;
    if ((double)pre >= S_HUM_MIN_MS * t->rate / 1000.0) {
        double best = 0;
        for (int k = 0; k < 2; k++) {
            double f = k ? 60.0 : 50.0, tot = 0, noise = 0;
            double cc[DSP_MAX_CHANNELS][2 * S_HUM_HARM], explained[DSP_MAX_CHANNELS];
            s_hum_fit(t, pre, f, cc, explained);
            for (int c = 0; c < t->ch; c++) {
                tot += explained[c];
                noise += t->noise_ch_sq[c];
            }
            if (tot > best && tot >= S_HUM_MIN_SHARE * noise) {
                best = tot;
                r->hum_hz = f;
                memcpy(r->coef, cc, sizeof r->coef);
            }
        }
    }
    /* the residual floor, measured where the hum was fitted: the floor's power less the
     * hum's would mix two windows, and with a hum many times the noise that difference
     * is off by a large share of the residual */
    double res[DSP_MAX_CHANNELS] = {0};
    bool measured = false;
    if (pre >= S_RESID_MIN && r->hum_hz > 0) {
        const int64_t from = r->from;
        r->from = 0;
        if (s_region_fill(t, r, from)) {
            for (int64_t i = 0; i < r->n; i++)
                for (int c = 0; c < t->ch; c++)
                    res[c] += r->y[i * t->ch + c] * r->y[i * t->ch + c];
            for (int c = 0; c < t->ch; c++)
                res[c] /= (double)r->n;
            measured = true;
        }
        r->from = from;
        r->n = 0;
    }
    for (int c = 0; c < t->ch; c++) {
        double nsq = measured ? res[c] : t->noise_ch_sq[c];
        if (nsq < 0.05 * t->noise_ch_sq[c])
            nsq = 0.05 * t->noise_ch_sq[c];
        if (nsq < S_Z_FLOOR)
            nsq = S_Z_FLOOR;
        r->inv[c] = 1.0 / nsq;
        r->noise_sq += nsq;
    }
    s_region_weigh(r, NULL);
}

/* Fills the region's samples from r->from up to `to` (DC and hum removed). */
static bool s_region_fill(const qc_take_t *t, s_region_t *r, int64_t to)
{
    if (to > t->frames)
        to = t->frames;
    if (to <= r->from)
        return false;
    double *y = realloc(r->y, sizeof(double) * (size_t)(to - r->from) * (size_t)t->ch);
    if (!y)
        return false;
    r->y = y;
    r->n = to - r->from;
    /* phasors of the harmonics, rotated frame by frame (renormalised now and then) */
    const double w = 2.0 * M_PI * r->hum_hz / t->rate;
    double ps[S_HUM_HARM], pc[S_HUM_HARM], rs[S_HUM_HARM], rc[S_HUM_HARM];
    for (int h = 0; h < S_HUM_HARM; h++) {
        ps[h] = sin(w * (h + 1) * (double)r->from);
        pc[h] = cos(w * (h + 1) * (double)r->from);
        rs[h] = sin(w * (h + 1));
        rc[h] = cos(w * (h + 1));
    }
    for (int64_t k = 0; k < r->n; k++) {
        for (int c = 0; c < t->ch; c++) {
            double hum = 0;
            for (int h = 0; h < S_HUM_HARM && r->hum_hz > 0; h++)
                hum += r->coef[c][2 * h] * ps[h] + r->coef[c][2 * h + 1] * pc[h];
            r->y[k * t->ch + c] = qc_at(t, r->from + k, c) - hum;
        }
        if (r->hum_hz > 0) {
            for (int h = 0; h < S_HUM_HARM; h++) {
                double s = ps[h] * rc[h] + pc[h] * rs[h];
                double co = pc[h] * rc[h] - ps[h] * rs[h];
                ps[h] = s, pc[h] = co;
                if ((k & 1023) == 1023) {
                    double norm = sqrt(ps[h] * ps[h] + pc[h] * pc[h]);
                    ps[h] /= norm, pc[h] /= norm;
                }
            }
        }
    }
    return true;
}

/* z at take frame i (inside the region). */
static inline double s_z(const s_region_t *r, int64_t i)
{
    const double *y = r->y + (i - r->from) * r->ch;
    double z = 0;
    for (int c = 0; c < r->ch; c++)
        z += y[c] * y[c] * r->wt[c];
    return z;
}

static double s_mean_z(const s_region_t *r, int64_t a, int64_t b)
{
    if (a < r->from)
        a = r->from;
    if (b > r->from + r->n)
        b = r->from + r->n;
    if (b <= a)
        return 0;
    double s = 0;
    for (int64_t i = a; i < b; i++)
        s += s_z(r, i);
    return s / (double)(b - a);
}

/* Excess power (summed over channels) over [a, b). */
static double s_excess(const s_region_t *r, int64_t a, int64_t b)
{
    if (a < r->from)
        a = r->from;
    if (b > r->from + r->n)
        b = r->from + r->n;
    if (b <= a)
        return 0;
    double e = 0;
    for (int64_t i = a; i < b; i++) {
        const double *y = r->y + (i - r->from) * r->ch;
        for (int c = 0; c < r->ch; c++)
            e += y[c] * y[c];
    }
    return e / (double)(b - a) - r->noise_sq;
}

/* ---- slow attacks ---- */

static int64_t s_extrapolate(const qc_take_t *t, const s_region_t *r, int64_t present,
                             double half_s, int64_t walk_w, double walk_excess, double *power)
{
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    const int64_t hop = ms / 4 > 0 ? ms / 4 : 1;
    int64_t half = (int64_t)llround(half_s * t->rate);
    if (half < hop)
        half = hop;
    const int64_t end = r->from + r->n - half;
    if (end <= present + 2 * ms)
        return present;
    /* the foot's end */
    double peak = 0;
    for (int64_t c = present; c < end; c += ms) {
        double e = s_excess(r, c - half, c + half);
        if (e > peak)
            peak = e;
    }
    double level = r->noise_sq * pow(10.0, S_FOOT_DB / 10.0);
    if (S_FOOT_SHARE * peak > 4 * r->noise_sq && S_FOOT_SHARE * peak < level)
        level = S_FOOT_SHARE * peak;
    int64_t foot_end = -1;
    for (int64_t c = present; c < end; c += hop)
        if (s_excess(r, c - half, c + half) >= level) {
            foot_end = c;
            break;
        }
    if (foot_end - present < 2 * ms)
        return present;

    /* accumulated excess energy from "present" to the foot's end, at most S_FIT_POINTS
     * points */
    int64_t fit_hop =
        (foot_end - present) / S_FIT_POINTS > hop ? (foot_end - present) / S_FIT_POINTS : hop;
    int np = (int)((foot_end - present) / fit_hop) + 1;
    double *xs = malloc(sizeof(double) * (size_t)np), *es = malloc(sizeof(double) * (size_t)np);
    int64_t t0 = present;
    if (!xs || !es)
        goto done;
    double acc = 0;
    int n = 0;
    for (int64_t i = present; i < foot_end && n < np; i++) {
        const double *y = r->y + (i - r->from) * r->ch;
        for (int c = 0; c < r->ch; c++)
            acc += y[c] * y[c];
        acc -= r->noise_sq;
        if ((i - present) % fit_hop == 0 && acc > 0) {
            xs[n] = (double)(i - present);
            es[n] = acc;
            n++;
        }
    }
    if (n < S_MIN_FIT)
        goto done;
    double best_rel = INFINITY;
    for (size_t k = 0; k < sizeof S_POWERS / sizeof S_POWERS[0]; k++) {
        const double q = S_POWERS[k], inv = 1.0 / (q + 1.0);
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int j = 0; j < n; j++) {
            double y = pow(es[j], inv);
            sx += xs[j], sy += y, sxx += xs[j] * xs[j], sxy += xs[j] * y;
        }
        double den = n * sxx - sx * sx;
        if (den <= 0)
            continue;
        double b = (n * sxy - sx * sy) / den, a = (sy - b * sx) / n;
        if (b <= 0)
            continue;
        double rss = 0;
        for (int j = 0; j < n; j++) {
            double e = pow(es[j], inv) - (a + b * xs[j]);
            rss += e * e;
        }
        double rise = b * (xs[n - 1] - xs[0]);
        double rel = sqrt(rss / n) / (rise > 0 ? rise : 1e-300);
        if (rel < best_rel) {
            best_rel = rel;
            /* E = b^(q+1) (t - t0)^(q+1), so a w-frame window starting g after t0 holds
             * a mean excess power of b^(q+1) ((g + w)^(q+1) - g^(q+1)) / w (increasing
             * in g: bisection). The walk stopped between present - w and present: the
             * window starting halfway there holds the walk's threshold, walk_excess of
             * the floor's power. */
            const double w = (double)walk_w, want = walk_excess * r->noise_sq;
            const double bq = pow(b, q + 1);
            double lo = 0, hi = 1;
            while (bq * (pow(hi + w, q + 1) - pow(hi, q + 1)) / w < want && hi < 1e7)
                hi *= 2;
            for (int it = 0; it < 50; it++) {
                double mid = 0.5 * (lo + hi);
                if (bq * (pow(mid + w, q + 1) - pow(mid, q + 1)) / w < want)
                    lo = mid;
                else
                    hi = mid;
            }
            t0 = present - walk_w / 2 - (int64_t)llround(lo);
            *power = q;
        }
    }
done:
    free(xs);
    free(es);
    int64_t lowest = present - (int64_t)(S_MAX_BACK * (double)(foot_end - present));
    if (lowest < r->from)
        lowest = r->from;
    return t0 < lowest ? lowest : t0 < present ? t0 : present;
}

int qc_find_onset(const qc_take_t *t, int64_t search_from, int64_t search_to, double above_noise_db,
                  double expected_hz, qc_onset_t *out)
{
    memset(out, 0, sizeof *out);
    out->onset = out->present = out->loud = out->foot = -1;
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    const double floor = t->noise_rms > 1e-7 ? t->noise_rms : 1e-7;
    const double rise = floor * pow(10.0, above_noise_db / 20.0);
    if (search_from < 0)
        search_from = 0;
    if (search_to > t->frames)
        search_to = t->frames;

    /* 1. the first loud sample */
    int64_t loud = -1;
    for (int64_t i = search_from; i < search_to && loud < 0; i++)
        for (int c = 0; c < t->ch; c++)
            if (fabs(qc_at(t, i, c)) >= rise) {
                loud = i;
                break;
            }
    if (loud < 0)
        return -1;
    out->loud = loud;

    /* the region up to a little after the loud sample; a slow attack extends it */
    s_region_t r;
    s_region_init(t, search_from, &r);
    if (!s_region_fill(t, &r, loud + (int64_t)((S_STEP_MS + S_CLEAR_MS + 1.0) * ms) + 1)) {
        free(r.y);
        out->onset = out->present = loud;
        return 0;
    }

    /* the note's balance between the channels, where it is loud */
    {
        double ex[DSP_MAX_CHANNELS] = {0};
        const int64_t a = loud, b = r.from + r.n;
        for (int64_t i = a; i < b; i++)
            for (int c = 0; c < r.ch; c++)
                ex[c] += r.y[(i - r.from) * r.ch + c] * r.y[(i - r.from) * r.ch + c];
        for (int c = 0; c < r.ch && b > a; c++)
            ex[c] = ex[c] / (double)(b - a) * r.inv[c] - 1.0;
        s_region_weigh(&r, b > a ? ex : NULL);
    }

    /* 2. the change point */
    double g = 0;
    int64_t last_zero = search_from - 1;
    for (int64_t i = search_from; i <= loud; i++) {
        g += s_z(&r, i) - S_CUSUM_K;
        if (g <= 0) {
            g = 0;
            last_zero = i;
        }
    }
    int64_t change = last_zero + 1;

    /* 3, 4. where the note first stands above the floor; a clear attack is one that
     * steps up at once, with nothing of the note before it */
    double period_s = expected_hz > 0 ? 1.0 / expected_hz : 0;
    if (period_s > S_WALK_MAX_MS / 1000.0)
        period_s = S_WALK_MAX_MS / 1000.0;
    int64_t win = (int64_t)llround(fmax(S_WALK_MS / 1000.0, period_s) * t->rate);
    if (win < 1)
        win = 1;
    int64_t present = change;
    const int64_t wins[2] = {win, ms};
    for (bool moved = true; moved;) {
        moved = false;
        for (int k = 0; k < 2 && !moved; k++) {
            int64_t w = wins[k];
            /* S_WALK_SE standard errors of a w-frame mean of z in the floor: z is a
             * mean of ch chi-square(1) values (variance 2 / ch) */
            double se = S_WALK_SE * sqrt(2.0 * r.w2 / (double)w);
            double thr = 1 + (se > S_WALK_EXCESS ? se : S_WALK_EXCESS);
            if (present - w >= search_from && s_mean_z(&r, present - w, present) > thr)
                present -= w, moved = true;
            else if (present - 2 * w >= search_from &&
                     s_mean_z(&r, present - 2 * w, present - w) > thr)
                present -= 2 * w, moved = true; /* one window in a trough or in the noise */
        }
    }
    /* 3b. a foot too faint for the walk's windows: the span [p, present) whose mean z
     * stands most standard errors over the floor's (1; a flat foot's start maximises it),
     * when that is at least S_WALK_SE */
    out->foot = -1;
    {
        double sum = 0, best = S_WALK_SE;
        const int64_t lo = present - (int64_t)(S_FOOT_BACK_MS * ms);
        for (int64_t i = present - 1, n = 1; i >= search_from && i >= r.from && i >= lo; i--, n++) {
            sum += s_z(&r, i) - 1.0;
            double score = sum / sqrt(2.0 * r.w2 * (double)n);
            if (n >= ms / 4 && score > best)
                best = score, out->foot = i;
        }
    }
    out->present = present;
    int64_t clear = (int64_t)llround(S_CLEAR_MS * t->rate / 1000.0);
    out->clear =
        present == change && clear > 0 && s_mean_z(&r, change, change + clear) >= S_CLEAR_Z;
    if (out->clear) {
        out->onset = change;
        free(r.y);
        return 0;
    }

    /* 5. a step, or a slow attack that began below the floor */
    int64_t step = (int64_t)llround(S_STEP_MS * t->rate / 1000.0);
    if (s_mean_z(&r, present, present + step) >= S_STEP_Z) {
        out->onset = present;
    } else if (!s_region_fill(t, &r, loud + (int64_t)(S_FOOT_MAX_MS * ms) + ms)) {
        out->onset = present;
    } else {
        double half_s = 0.25e-3;
        if (expected_hz > 0 && 0.5 / expected_hz > half_s)
            half_s = 0.5 / expected_hz;
        if (half_s > 7.5e-3)
            half_s = 7.5e-3;
        /* the excess z where "present" was placed, in units of the floor's total power
         * (z weighs the channels: a note in one of two channels has twice the excess
         * there) */
        double se = S_WALK_SE * sqrt(2.0 * r.w2 / (double)win);
        double unit = 1.0 / ((double)r.ch * r.w2);
        out->onset =
            s_extrapolate(t, &r, present, half_s, win,
                          (se > S_WALK_EXCESS ? se : S_WALK_EXCESS) * unit, &out->rise_power);
    }
    free(r.y);
    return 0;
}
