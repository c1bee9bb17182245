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
 * Candidates. Lengths: LOOP_LENGTHS targets in frames spread geometrically from min_len
 * (at least a period) to 3/4 of the region. Starts: rising zero crossings of the mono
 * mix spread over the region. Ends: every rising crossing within half a period of start +
 * target, a whole period of them, the best by its seam (below). The length is thus chosen
 * by the audio, not by the period's arithmetic: a steady pitch finds the crossing where
 * the waveform repeats (within a frame of a whole number of periods), a moving one (vibrato,
 * an ensemble, a SoundFont's own loop replayed at another pitch) the one where it matches
 * best. The period only sizes the search: a change of it far below the pitch's accuracy
 * (a reading's last digits) moves the search's edges by a fraction of a frame and leaves
 * the choice alone. (Choosing lengths of whole periods closest to whole frames, as this
 * did before, made the loop of a sound held for thousands of periods turn on the period's
 * seventh digit.) Each pair is judged:
 *   seam   without a crossfade, the normalised correlation of the signal around the
 *          start with the signal around the end (1.0: the jump back is no click). With a
 *          crossfade, what the listener hears across it: the played stream (the end
 *          region blended into the region before the start, then the start) is cut into
 *          windows of a period, at least 8 ms (about the equivalent rectangular duration
 *          of the ear's temporal window, Moore et al. 1988, "The shape of the ear's
 *          temporal window", JASA 83), and in each the energy of the signal and of its
 *          first difference (level, and brightness: a first difference weights the
 *          spectrum by about w^2) is judged twice. (1) Blend: per channel, against what a
 *          smooth handover of its sources gives, (1 - g) E(end side) + g E(start side) at
 *          the blend's gain g: partials whose phases disagree cancel and dip, a mismatched
 *          waveform bumps. (2) Context: summed over channels, against the range of
 *          LOOP_XF_SIDES windows of the same length of the played stream either side, the
 *          end side as played before the blend and the start side after it: a start or
 *          an end placed where the sound dips or swells by itself blends smoothly from its
 *          sources and is still heard as a dip or a bump between what comes before and
 *          after (one such loop read 0.7 dB by the blend alone and 2.8 dB by an
 *          independent listening measure). The worst window, band and judgement, in dB,
 *          is the crossfade's deviation; the seam score is
 *          10^(-dB / 20), and the pipeline asks for 1 dB at most (loop_max_xfade_db: about
 *          the just-noticeable level difference of a steady sound). A band where the
 *          noise floor (white: 1 and 2 times its power through 1 and d) is within 20 dB
 *          of the expected energy (of a context window, for the context) is not judged: a
 *          crossfade of two noise floors always dips 3 dB and nobody hears it.
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
 * blend measure only (about a crossfade's frames per channel). Levels are energies summed over
 * channels (a stereo ensemble's mono mix can hide a level change). The difference weighting: a
 * first difference has the gain 2 sin(w / 2) ~ w at angular frequency w, the usual pre-emphasis
 * view of brightness.
 */
#include <math.h>
#include <stdlib.h>

#include "qc.h"

#define LOOP_LENGTHS     24 /* target lengths, spread geometrically */
#define LOOP_MAX_STARTS  64
#define LOOP_LEVEL_MS    20.0  /* level windows: whole periods, at least this long */
#define LOOP_TREND_MS    500.0 /* a shorter loop's level is judged over this long too */
#define LOOP_XF_WIN_MS   8.0   /* crossfade judged in windows at least this long (the ERD) */
#define LOOP_XF_MAX_WIN  8
#define LOOP_XF_NOISE_DB 20.0 /* a band is judged when this far above the noise floor */
#define LOOP_XF_SIDES    3    /* played windows either side a crossfade window is held to */

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

/* The worst deviation (dB, >= 0) of the played stream across a crossfade of xf frames
 * from the loop end e (exclusive) into the start z, the larger of two (see the file's
 * comment): from a smooth handover of its two sources (blend), and from the range of the
 * played windows either side of the crossfade (context). Reads frames [e - xf - 1, e + 2)
 * and [z - xf - 1, z + 2) of the take, the rest from the sums. Stops as soon as the
 * deviation reaches give_up_db (then returns at least that): a candidate that cannot beat
 * the best so far costs what it takes to see so. */
static double s_xfade_db(const qc_take_t *t, const s_sums_t *sums, int64_t z, int64_t e, int64_t xf,
                         double period, double give_up_db)
{
    static const double noise_gain[2] = {1, 2}; /* white noise through 1 and d */
    double min_win = LOOP_XF_WIN_MS * t->rate / 1000.0;
    double win = period > min_win ? period : min_win;
    int64_t span = xf + 2; /* the blend and the start's first two frames */
    int64_t n_win = (int64_t)floor((double)span / win);
    n_win = n_win < 1 ? 1 : n_win > LOOP_XF_MAX_WIN ? LOOP_XF_MAX_WIN : n_win;
    double above = pow(10.0, LOOP_XF_NOISE_DB / 10.0);
    double noise_sum = 0;
    for (int c = 0; c < t->ch; c++)
        noise_sum += t->noise_ch_sq[c];
    double worst = 0;
    double played[LOOP_XF_MAX_WIN][2] = {{0}}; /* per window and band, over channels */
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
                played[j][bnd] += mix[bnd];
                if (exp[bnd] <= above * noise_gain[bnd] * t->noise_ch_sq[c] * n)
                    continue;
                double dev = mix[bnd] > 0 ? fabs(10.0 * log10(mix[bnd] / exp[bnd])) : 200.0;
                if (dev > worst)
                    worst = dev;
            }
            if (worst >= give_up_db)
                return worst;
            mix[0] = mix[1] = exp[0] = exp[1] = 0;
            j++;
            w_from = w_to;
            w_to = span * (j + 1) / n_win;
        }
    }
    /* The played stream's own neighbourhood: LOOP_XF_SIDES windows of the crossfade's
     * window length ending where the blend begins (the end side as played) and as many
     * from just after the crossfade's span (the start side). A crossfade window whose
     * level or brightness leaves the range they span is a dip or a bump the listener
     * hears against what comes before and after, even where the blend of its two sources
     * is smooth (a start placed where the sound dips by itself). */
    int64_t wl = span / n_win;
    double ctx = 0;
    for (int bnd = 0; bnd < 2; bnd++) {
        double lo = HUGE_VAL, hi = -HUGE_VAL, floor_e = above * noise_gain[bnd] * noise_sum;
        bool quiet = false;
        for (int side = 0; side < 2 && !quiet; side++)
            for (int64_t j = 0; j < LOOP_XF_SIDES; j++) {
                int64_t w0 = side ? z + 2 + j * wl : e - xf - (j + 1) * wl;
                double en, dn;
                s_window(sums, w0, w0 + wl, &en, &dn);
                double v = bnd ? dn : en;
                if (v <= floor_e * (double)wl) {
                    quiet = true; /* near the floor: not judged, as above */
                    break;
                }
                double db = 10.0 * log10(v / (double)wl);
                lo = db < lo ? db : lo, hi = db > hi ? db : hi;
            }
        if (quiet)
            continue;
        for (int64_t j = 0; j < n_win; j++) {
            int64_t n = span * (j + 1) / n_win - span * j / n_win;
            double v = played[j][bnd];
            if (v <= floor_e * (double)n)
                continue;
            double db = 10.0 * log10(v / (double)n);
            double off = db < lo ? lo - db : db > hi ? db - hi : 0;
            ctx = off > ctx ? off : ctx;
        }
        if (ctx >= give_up_db)
            return ctx;
    }
    return worst > ctx ? worst : ctx;
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

    /* Candidate lengths: LOOP_LENGTHS targets spread geometrically from the shortest
     * allowed to the region's 3/4 (so starts have room), in frames: none depends on the
     * period's digits. Each end is then chosen by the seam itself within half a period of
     * start + target, which holds a whole period's rising crossings: a steady pitch finds
     * its near-exact multiple there, a moving one its best match. */
    int64_t lens[LOOP_LENGTHS];
    int nl = 0;
    int64_t lmax = (int64_t)floor(usable * 0.75);
    if (lmax < min_len)
        lmax = min_len;
    for (int i = 0; i < LOOP_LENGTHS; i++) {
        double f = LOOP_LENGTHS > 1 ? (double)i / (LOOP_LENGTHS - 1) : 0;
        int64_t len = (int64_t)llround(min_len * pow((double)lmax / (double)min_len, f));
        if (nl == 0 || len != lens[nl - 1])
            lens[nl++] = len;
    }
    s_sums_t sums = {0};
    if (!s_sums(t, from, to, &sums)) {
        free(sums.e);
        free(sums.d);
        return false;
    }

    bool found = false;
    double best_seam = 0, best_xf_db = 0;
    /* min_seam as a crossfade's deviation (dB), a hair over against rounding */
    const double thr_db = (min_seam > 0 ? -20.0 * log10(min_seam) : HUGE_VAL) + 1e-9;
    for (int li = 0; li < nl; li++) {
        int64_t len = lens[li];
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
            int64_t c_lo = z + len - reach > z + min_len ? z + len - reach : z + min_len;
            for (int64_t c = c_lo; c <= z + len + reach; c++) {
                if (!s_rising(t, c))
                    continue;
                double rc, dc = 0;
                if (xf > 0) {
                    /* What needs an exact figure: an end better than this pair's best so
                     * far that passes min_seam, or one better than the best seen in any
                     * pair (reported when none passes). The rest gives up early: the same
                     * choice for less work. */
                    double seen = best_seam > 0 ? best_xf_db : HUGE_VAL;
                    double give_up = seen > thr_db ? seen : thr_db;
                    if (e >= 0 && xf_db < give_up)
                        give_up = xf_db;
                    dc = s_xfade_db(t, &sums, z, c, xf, period_frames, give_up);
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
