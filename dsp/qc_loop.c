/*
 * qc_loop.c — a sustain loop a sampler can play forever without a click or a pump.
 *
 * The loop length is a whole number of periods that lands as close as possible to a
 * whole number of frames (so the waveform at the end continues into the start), at least
 * min_len long. Loop starts are rising zero crossings of the mono mix in the first half of
 * the region; the end (start + length) must also sit at a rising zero crossing. Each pair
 * is judged three ways:
 *   seam   the normalised correlation of the signal around the start with the signal
 *          around the end (1.0: the jump back is inaudible as a click);
 *   level  the RMS over a window after the start against the same window before the end,
 *          in dB: a loop over a decaying sound jumps back up by this much every time
 *          round, which is heard as pumping at the loop rate;
 *   tone   the same for the brightness (energy of the first difference over the energy,
 *          which follows the high partials), in dB: a sound that darkens as it decays
 *          flips back to bright at every seam.
 * The score is seam x 10^(-(|level| + |tone|) / 20), so a perfect seam on a sound that
 * drops 2 dB over the loop scores 0.79, not 0.999; the best-scoring pair wins. Window
 * energies come from prefix sums, so each candidate costs its seam correlation only.
 */
#include <math.h>
#include <stdlib.h>

#include "qc.h"

#define LOOP_MAX_LENGTHS 8
#define LOOP_MAX_STARTS  64
#define LOOP_LEVEL_MS    20.0 /* level windows: whole periods, at least this long */

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

/* Prefix sums over [from, to) of the mono mix's energy and of its first difference's. */
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
    double prev = s_mono(t, from > 0 ? from - 1 : 0);
    for (int64_t k = 0; k < s->n; k++) {
        double v = s_mono(t, from + k), dv = v - prev;
        s->e[k + 1] = s->e[k] + v * v;
        s->d[k + 1] = s->d[k] + dv * dv;
        prev = v;
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
                  int64_t min_len, double min_seam, qc_loop_t *out)
{
    out->start = out->end = -1;
    out->seam = out->change_db = out->tone_db = out->score = 0;
    if (period_frames < 2 || from < 1 || to > t->frames)
        return false;
    int64_t half = (int64_t)ceil(2 * period_frames);
    if (half < t->rate / 200)
        half = t->rate / 200;
    int64_t usable = to - from - 2 * half;
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

    /* Candidate lengths: whole periods closest to whole frames, at most the region's
     * 3/4 so starts have room. */
    s_len_t lens[LOOP_MAX_LENGTHS];
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
    if (nl == 0)
        return false;
    s_sums_t sums = {0};
    if (!s_sums(t, from, to, &sums)) {
        free(sums.e);
        free(sums.d);
        return false;
    }

    bool found = false;
    double best_seam = 0;
    for (int li = 0; li < nl; li++) {
        int64_t len = lens[li].len;
        int64_t s_lo = from + half, s_hi = to - half - len;
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
            /* the end must be a rising crossing too (allow one frame either way) */
            int64_t e = z + len;
            if (!s_rising(t, e) && !s_rising(t, e - 1) && !s_rising(t, e + 1))
                continue;
            double r = s_corr(t, z, e, half);
            if (r > best_seam)
                best_seam = r;
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
            double score = r * pow(10.0, -(fabs(level) + fabs(tone)) / 20.0);
            if (!found || score > out->score) {
                found = true;
                out->start = z;
                out->end = e - 1;
                out->seam = r;
                out->change_db = level;
                out->tone_db = tone;
                out->score = score;
            }
        }
    }
    if (!found)
        out->seam = out->score = best_seam;
    free(sums.e);
    free(sums.d);
    return found;
}
