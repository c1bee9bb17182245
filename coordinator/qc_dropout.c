/*
 * qc_dropout.c — audio that went missing inside the sound.
 *
 * Gaps: a run of at least 0.5 ms of digital silence (every channel exactly zero, before
 * DC removal) where the 5 ms before it is clearly signal. A real instrument's output
 * through a real converter is never exactly zero for that long while it sounds; a lost
 * buffer often is.
 * Discontinuities: a sample-to-sample step 20 times larger than the steps of the 2 ms
 * before it and far above the noise, after the attack's first 5 ms (attacks are allowed
 * to jump). A lost buffer spliced without zeros shows as one.
 */
#include <math.h>

#include "qc.h"

int qc_find_dropouts(const qc_take_t *t, int64_t from, int64_t to, int64_t *first)
{
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    const int64_t min_gap = ms / 2 > 0 ? ms / 2 : 1;
    const double floor = t->noise_rms > 1e-7 ? t->noise_rms : 1e-7;
    if (from < 0)
        from = 0;
    if (to > t->frames)
        to = t->frames;
    int found = 0;
    *first = -1;

    int64_t run = 0;
    for (int64_t i = from; i < to; i++) {
        bool zero = true;
        for (int c = 0; c < t->ch && zero; c++)
            zero = t->x[i * t->ch + c] == 0.0f;
        if (zero) {
            run++;
            continue;
        }
        if (run >= min_gap) {
            int64_t start = i - run;
            if (qc_rms(t, start - 5 * ms, start) > 10 * floor) {
                if (found++ == 0)
                    *first = start;
            }
        }
        run = 0;
    }

    /* Discontinuities, per channel, on the raw samples (DC does not change a step). */
    const int64_t look = 2 * ms;
    for (int c = 0; c < t->ch; c++) {
        double sq = 0;
        int64_t n = 0;
        int64_t skip_until = from + 5 * ms;
        for (int64_t i = from + 1; i < to; i++) {
            double d = (double)t->x[i * t->ch + c] - t->x[(i - 1) * t->ch + c];
            if (i - from > look && i >= skip_until && n > 0) {
                double scale = sqrt(sq / (double)n);
                if (fabs(d) > 20 * scale && fabs(d) > 30 * floor) {
                    if (found++ == 0 || i < *first)
                        *first = i;
                    skip_until = i + 10 * ms; /* one event, not every sample of it */
                }
            }
            sq += d * d;
            n++;
            if (n > look) {
                int64_t j = i - look;
                double e = (double)t->x[j * t->ch + c] - t->x[(j - 1) * t->ch + c];
                sq -= e * e;
                if (sq < 0)
                    sq = 0;
                n--;
            }
        }
    }
    return found;
}
