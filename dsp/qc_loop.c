/*
 * qc_loop.c — a sustain loop a sampler can play forever without a click.
 *
 * The loop length is a whole number of periods that lands as close as possible to a
 * whole number of frames (so the waveform at the end continues into the start), at least
 * min_len long. Loop starts are rising zero crossings of the mono mix in the first half of
 * the region; the end (start + length) must also sit at a rising zero crossing. Each pair
 * is scored by the normalised correlation of the signal around the start with the signal
 * around the end: 1.0 means the jump is inaudible.
 */
#include <math.h>
#include <stdlib.h>

#include "qc.h"

#define LOOP_MAX_LENGTHS 8
#define LOOP_MAX_STARTS  64

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

bool qc_find_loop(const qc_take_t *t, int64_t from, int64_t to, double period_frames,
                  int64_t min_len, double min_score, int64_t *start, int64_t *end, double *score)
{
    *score = 0;
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

    bool found = false;
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
            if (r > *score) {
                *score = r;
                *start = z;
                *end = e - 1;
                found = true;
            }
        }
    }
    return found && *score >= min_score;
}
