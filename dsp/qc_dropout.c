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

    /* Discontinuities, per channel, on the raw samples (DC does not change a step). The
     * test is d^2 > 400 * mean(d^2 over the last 2 ms), kept as a running sum. */
    const int64_t look = 2 * ms;
    const double min_step_sq = (30 * floor) * (30 * floor);
    const int ch = t->ch;
    double sq[DSP_MAX_CHANNELS] = {0};
    int64_t skip_until[DSP_MAX_CHANNELS];
    for (int c = 0; c < ch; c++)
        skip_until[c] = from + 5 * ms;
    for (int64_t i = from + 1; i < to; i++) {
        const float *cur = t->x + i * ch, *prv = cur - ch;
        int64_t n = i - from - 1 < look ? i - from - 1 : look; /* steps in the sums */
        for (int c = 0; c < ch; c++) {
            double d = (double)cur[c] - prv[c];
            double d2 = d * d;
            if (n == look && i >= skip_until[c] && d2 * (double)n > 400.0 * sq[c] &&
                d2 > min_step_sq) {
                if (found++ == 0 || i < *first)
                    *first = i;
                skip_until[c] = i + 10 * ms; /* one event, not every sample of it */
            }
            sq[c] += d2;
        }
        if (i - from > look) {
            const float *old = t->x + (i - look) * ch, *older = old - ch;
            for (int c = 0; c < ch; c++) {
                double e = (double)old[c] - older[c];
                sq[c] -= e * e;
                if (sq[c] < 0)
                    sq[c] = 0;
            }
        }
    }
    return found;
}
