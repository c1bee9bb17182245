/*
 * qc_loop.c — a sustain loop a sampler can play forever without a click or a pump.
 *
 * What it assumes: the region [from, to) is the held part of a pitched note whose period
 * (period_frames) is known to within a few per cent; the pitch may move a little around
 * it (vibrato, an ensemble's detuned voices), the level may drift. A crossfade, when one
 * is asked for, is the one dsp_export_process() bakes into the sample (export_audio.c):
 * the xf frames ending at the loop's end blend linearly into the xf frames ending just
 * before its start, so the jump back continues the waveform sample for sample (the
 * export blends linearly when loop_score >= 0.5, as a loop that passes has unless its
 * brightness moves by several dB; below, with equal power, which this does not judge).
 *
 * Candidates. Lengths: whole periods closest to whole frames, at least min_len long.
 * Starts: rising zero crossings of the mono mix spread over the region. Ends: every
 * rising crossing within half a period of start + length (a moving pitch puts the best
 * end off the exact multiple; a steady one finds it there). Each pair is judged:
 *   seam   without a crossfade, the normalised correlation of the signal around the
 *          start with the signal around the end (1.0: the jump back is no click). With a
 *          crossfade, what the listener hears across it: the played stream (the end
 *          region blended into the region before the start, then the start) is cut into
 *          windows of a period, at least 8 ms (about the equivalent rectangular duration
 *          of the ear's temporal window, Moore et al. 1988, "The shape of the ear's
 *          temporal window", JASA 83), and in each, per channel, the energy of the signal
 *          and of its first difference (level, and brightness: a first difference weights
 *          the spectrum by about w^2) is compared with what a smooth handover gives,
 *          (1 - g) E(end side) + g E(start side) at the blend's gain g. Partials whose
 *          phases disagree cancel and dip; a mismatched waveform bumps. The worst window
 *          and band, in dB, is the crossfade's deviation; the seam score is
 *          10^(-dB / 20), and the pipeline asks for 1 dB at most (loop_max_xfade_db: about
 *          the just-noticeable level difference of a steady sound). A band where the
 *          noise floor (white: 1 and 2 times its power through 1 and d) is within 20 dB
 *          of the expected energy is not judged: a crossfade of two noise floors always
 *          dips 3 dB and nobody hears it.
 *   level  the RMS over a window after the start against the same window before the end,
 *          in dB: a loop over a decaying sound jumps back up by this much every time
 *          round, which is heard as pumping at the loop rate. A loop shorter than
 *          LOOP_TREND_MS is also judged on the window that ends LOOP_TREND_MS after its
 *          start (the larger change counts): a short loop on a slowly decaying pluck
 *          changes little per round but is still a decaying sound held up;
 *   tone   the same for the brightness (energy of the first difference over the energy,
 *          which follows the high partials), in dB: a sound that darkens as it decays
 *          flips back to bright at every seam.
 * The score is seam x 10^(-(|level| + |tone|) / 20), so a perfect seam on a sound that
 * drops 2 dB over the loop scores 0.79, not 0.999; the best-scoring pair whose level
 * changes no more than max_change_db wins, else (for a caller that forces a loop) the
 * best-scoring of all. Window energies come from prefix sums, so a candidate costs its
 * seam measure only. Levels are energies summed over channels (a stereo ensemble's mono
 * mix can hide a level change). The difference weighting: a first difference has the
 * gain 2 sin(w / 2) ~ w at angular frequency w, the usual pre-emphasis view of
 * brightness.
 */
#include <math.h>
#include <stdlib.h>

#include "qc.h"

#define LOOP_MAX_LENGTHS 8
#define LOOP_MAX_STARTS  64
#define LOOP_LEVEL_MS    20.0  /* level windows: whole periods, at least this long */
#define LOOP_TREND_MS    500.0 /* a shorter loop's level is judged over this long too */
#define LOOP_XF_WIN_MS   8.0   /* crossfade judged in windows at least this long (the ERD) */
#define LOOP_XF_MAX_WIN  8
#define LOOP_XF_NOISE_DB 20.0 /* a band is judged when this far above the noise floor */

static double s_mono(const qc_take_t *t, int64_t i)
{
    double m = 0;
    for (int c = 0; c < t->ch; c++)
        m += qc_at(t, i, c);
    return m;
}

static bool s_rising(const qc_take_t *t, int64_t i)
{
    return i > 0 && i < t->frames && s_mono(t, i - 1) < 0 && s_mono(t, i) >= 0;
}

static double s_corr(const qc_take_t *t, int64_t a, int64_t b, int64_t half)
{
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t k = -half; k < half; k++) {
        for (int c = 0; c < t->ch; c++) {
            double x = qc_at(t, a + k, c), y = qc_at(t, b + k, c);
            sab += x * y, saa += x * x, sbb += y * y;
        }
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

/* The worst deviation (dB, >= 0) of the played stream across a crossfade of xf frames
 * from the loop end e (exclusive) into the start z from a smooth handover (see the file's
 * comment). Reads frames [e - xf - 1, e + 2) and [z - xf - 1, z + 2). */
static double s_xfade_db(const qc_take_t *t, int64_t z, int64_t e, int64_t xf, double period)
{
    static const double noise_gain[2] = {1, 2}; /* white noise through 1 and d */
    double min_win = LOOP_XF_WIN_MS * t->rate / 1000.0;
    double win = period > min_win ? period : min_win;
    int64_t span = xf + 2; /* the blend and the start's first two frames */
    int64_t n_win = (int64_t)floor((double)span / win);
    n_win = n_win < 1 ? 1 : n_win > LOOP_XF_MAX_WIN ? LOOP_XF_MAX_WIN : n_win;
    double above = pow(10.0, LOOP_XF_NOISE_DB / 10.0);
    double worst = 0;
    for (int c = 0; c < t->ch; c++) {
        /* gain g = (k + 1) / xf clamped to [0, 1]: k < 0 is the end region unblended
         * (difference state only), k >= xf - 1 the frames before and at the start */
        double a1 = 0, b1 = 0, p1 = 0;
        double mix[2] = {0}, exp[2] = {0};
        int64_t j = 0, w_from = 0, w_to = span / n_win;
        for (int64_t k = -1; k < span; k++) {
            double g = (double)(k + 1) / (double)xf;
            g = g < 0 ? 0 : g > 1 ? 1 : g;
            double a = qc_at(t, e - xf + k, c), b = qc_at(t, z - xf + k, c);
            double p = (1 - g) * a + g * b;
            double da = a - a1, db = b - b1, dp = p - p1;
            a1 = a, b1 = b, p1 = p;
            if (k < 0)
                continue;
            mix[0] += p * p, exp[0] += (1 - g) * a * a + g * b * b;
            mix[1] += dp * dp, exp[1] += (1 - g) * da * da + g * db * db;
            if (k + 1 < w_to)
                continue;
            /* the window ends: judge its bands, start the next */
            double n = (double)(w_to - w_from);
            for (int bnd = 0; bnd < 2; bnd++) {
                if (exp[bnd] <= above * noise_gain[bnd] * t->noise_ch_sq[c] * n)
                    continue;
                double dev = mix[bnd] > 0 ? fabs(10.0 * log10(mix[bnd] / exp[bnd])) : 200.0;
                if (dev > worst)
                    worst = dev;
            }
            mix[0] = mix[1] = exp[0] = exp[1] = 0;
            j++;
            w_from = w_to;
            w_to = span * (j + 1) / n_win;
        }
    }
    return worst;
}

typedef struct {
    int64_t len;
    double dev;
} s_len_t;

static int s_cmp_len(const void *pa, const void *pb)
{
    const s_len_t *a = pa, *b = pb;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    return a->len > b->len ? -1 : a->len < b->len;
}

/* Prefix sums over [from, to) of the energy summed over channels (what a listener gets
 * from a stereo pair, which the mono mix misstates when the channels drift apart) and of
 * the first difference's. */
typedef struct {
    int64_t from, n;
    double *e, *d;
} s_sums_t;

static bool s_sums(const qc_take_t *t, int64_t from, int64_t to, s_sums_t *s)
{
    s->from = from;
    s->n = to - from;
    s->e = malloc(sizeof(double) * (size_t)(s->n + 1));
    s->d = malloc(sizeof(double) * (size_t)(s->n + 1));
    if (!s->e || !s->d)
        return false;
    s->e[0] = s->d[0] = 0;
    int64_t p = from > 0 ? from - 1 : 0;
    for (int64_t k = 0; k < s->n; k++) {
        double e = 0, d = 0;
        for (int c = 0; c < t->ch; c++) {
            double v = qc_at(t, from + k, c), dv = v - qc_at(t, p, c);
            e += v * v, d += dv * dv;
        }
        s->e[k + 1] = s->e[k] + e;
        s->d[k + 1] = s->d[k] + d;
        p = from + k;
    }
    return true;
}

/* Energy and difference energy over [a, b) of the take (inside the sums). */
static void s_window(const s_sums_t *s, int64_t a, int64_t b, double *e, double *d)
{
    a -= s->from, b -= s->from;
    a = a < 0 ? 0 : a > s->n ? s->n : a;
    b = b < 0 ? 0 : b > s->n ? s->n : b;
    *e = s->e[b] - s->e[a];
    *d = s->d[b] - s->d[a];
}

static double s_db_ratio(double num, double den)
{
    return num > 0 && den > 0 ? 10.0 * log10(num / den) : 0.0;
}

bool qc_find_loop(const qc_take_t *t, int64_t from, int64_t to, double period_frames,
                  int64_t min_len, double min_seam, double max_change_db, int64_t xfade,
                  qc_loop_t *out)
{
    out->start = out->end = -1;
    out->seam = out->change_db = out->tone_db = out->score = out->xfade_db = 0;
    if (period_frames < 2 || from < 1 || to > t->frames || xfade < 0)
        return false;
    int64_t half = (int64_t)ceil(2 * period_frames);
    if (half < t->rate / 200)
        half = t->rate / 200;
    /* room before a start for its correlation window or the crossfade's source, after an
     * end for the correlation window or the end search */
    int64_t before = xfade + 2 > half ? xfade + 2 : half;
    int64_t reach = (int64_t)(period_frames / 2);
    int64_t after = half + reach + 2;
    int64_t usable = to - from - before - after;
    if (min_len < (int64_t)ceil(period_frames))
        min_len = (int64_t)ceil(period_frames);
    if (usable < min_len + (int64_t)period_frames)
        return false;
    /* level windows: whole periods (so a window starting at a crossing and one ending at
     * one hold the same waveform), at least LOOP_LEVEL_MS and two periods */
    double kper = ceil(LOOP_LEVEL_MS * t->rate / 1000.0 / period_frames);
    if (kper < 2)
        kper = 2;
    int64_t lw = (int64_t)llround(kper * period_frames);
    int64_t trend = (int64_t)llround(LOOP_TREND_MS * t->rate / 1000.0);

    /* Candidate lengths: whole periods closest to whole frames (what a steady pitch
     * needs), then as many spread geometrically over the range (a moving pitch or level
     * finds its best loop at any length, often a short one where the sound holds still),
     * at most the region's 3/4 so starts have room. */
    s_len_t lens[2 * LOOP_MAX_LENGTHS];
    int nl = 0;
    int64_t kmin = (int64_t)ceil(min_len / period_frames);
    int64_t kmax = (int64_t)floor(usable * 0.75 / period_frames);
    for (int64_t k = kmin; k <= kmax; k++) {
        double exact = k * period_frames;
        s_len_t cand = {(int64_t)llround(exact), fabs(exact - llround(exact))};
        if (nl < LOOP_MAX_LENGTHS) {
            lens[nl++] = cand;
            qsort(lens, (size_t)nl, sizeof lens[0], s_cmp_len);
        } else if (s_cmp_len(&cand, &lens[nl - 1]) < 0) {
            lens[nl - 1] = cand;
            qsort(lens, (size_t)nl, sizeof lens[0], s_cmp_len);
        }
    }
    for (int i = 0; i < LOOP_MAX_LENGTHS && kmax > kmin; i++) {
        int64_t k = (int64_t)llround(kmin * pow((double)kmax / kmin, (i + 0.5) / LOOP_MAX_LENGTHS));
        int64_t len = (int64_t)llround(k * period_frames);
        bool dup = false;
        for (int j = 0; j < nl && !dup; j++)
            dup = lens[j].len == len;
        if (!dup)
            lens[nl++] = (s_len_t){len, fabs(k * period_frames - len)};
    }
    if (nl == 0)
        return false;
    s_sums_t sums = {0};
    if (!s_sums(t, from, to, &sums)) {
        free(sums.e);
        free(sums.d);
        return false;
    }

    bool found = false;
    double best_seam = 0, best_xf_db = 0;
    for (int li = 0; li < nl; li++) {
        int64_t len = lens[li].len;
        int64_t xf = xfade < len / 2 ? xfade : len / 2; /* as the pipeline clamps it */
        int64_t s_lo = from + before, s_hi = to - after - len;
        if (s_hi <= s_lo)
            continue;
        int64_t stride = (s_hi - s_lo) / LOOP_MAX_STARTS;
        if (stride < 1)
            stride = 1;
        int tried = 0;
        for (int64_t s = s_lo; s < s_hi && tried < LOOP_MAX_STARTS; s += stride) {
            /* the next rising zero crossing at or after s */
            int64_t z = s;
            int64_t limit = s + (int64_t)ceil(period_frames) + 1;
            while (z < limit && z < s_hi && !s_rising(t, z))
                z++;
            if (z >= s_hi || !s_rising(t, z))
                continue;
            tried++;
            /* the end (exclusive): the rising crossing within half a period of start +
             * len whose seam is best (a pitch that moves, vibrato or an ensemble, puts it
             * off the exact multiple) */
            int64_t e = -1;
            double r = -1, xf_db = 0;
            for (int64_t c = z + len - reach; c <= z + len + reach; c++) {
                if (!s_rising(t, c))
                    continue;
                double rc, dc = 0;
                if (xf > 0) {
                    dc = s_xfade_db(t, z, c, xf, period_frames);
                    rc = pow(10.0, -dc / 20.0);
                } else {
                    rc = s_corr(t, z, c, half);
                }
                if (rc > r)
                    r = rc, e = c, xf_db = dc;
            }
            if (e < 0)
                continue;
            if (r > best_seam)
                best_seam = r, best_xf_db = xf_db;
            if (r < min_seam)
                continue;
            int64_t w = lw <= len / 2
                            ? lw
                            : (int64_t)llround(floor(len / 2 / period_frames) * period_frames);
            if (w < 1)
                w = len / 2;
            double e0, d0, e1, d1;
            s_window(&sums, z, z + w, &e0, &d0);
            s_window(&sums, e - w, e, &e1, &d1);
            double level = s_db_ratio(e1, e0);
            double tone = e0 > 0 && e1 > 0 ? s_db_ratio(d1 / e1, d0 / e0) : 0;
            /* a short loop: the level's trend over LOOP_TREND_MS from its start too */
            int64_t span = trend < to - z ? trend : to - z;
            if (span > e - z && span >= 2 * w) {
                double e2, d2;
                s_window(&sums, z + span - w, z + span, &e2, &d2);
                double drift = s_db_ratio(e2, e0);
                if (fabs(drift) > fabs(level))
                    level = drift;
            }
            double score = r * pow(10.0, -(fabs(level) + fabs(tone)) / 20.0);
            /* a loop within max_change_db beats any that pumps, whatever their scores */
            bool ok = fabs(level) <= max_change_db;
            bool out_ok = found && fabs(out->change_db) <= max_change_db;
            if (!found || (ok && !out_ok) || (ok == out_ok && score > out->score)) {
                found = true;
                out->start = z;
                out->end = e - 1;
                out->seam = r;
                out->xfade_db = xf_db;
                out->change_db = level;
                out->tone_db = tone;
                out->score = score;
            }
        }
    }
    if (!found) {
        out->seam = out->score = best_seam;
        out->xfade_db = best_xf_db;
    }
    free(sums.e);
    free(sums.d);
    return found;
}
