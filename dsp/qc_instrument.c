/*
 * qc_instrument.c — what an instrument's takes tell together (pipeline.h): its latency,
 * a prior for its slow attacks, the spread of its tuning across notes, and jumps that the
 * instrument makes itself (dsp_jumps_recur: the same jump, at the same time after the
 * note-on, in another take of the note is in the sound, not lost audio).
 *
 * Assumption: the instrument answers every note-on after the same delay, within about a
 * millisecond (DSP_LATENCY_PRIOR_MAX_SPREAD), and no take's note began after the point
 * where it stands above its floor ("present", qc_onset.c). Every start a take shows is
 * then an upper bound of that delay (plus jitter): a clear attack or a slow attack's
 * "present" can be late behind a lead-in under the floor (a recorded sample's preamble,
 * the foot of a swell), never early but for noise. So:
 *
 * The ceiling: the second earliest point after their note-on where the instrument's takes
 * stood above the floor (the second, so one take's noise cannot pull it). The notes have
 * begun by then.
 * Clear attacks: the median of their onset - note-on delays and its median absolute
 * deviation (robust to the odd take with a lead-in). At least DSP_LATENCY_PRIOR_MIN_TAKES
 * of them within DSP_LATENCY_PRIOR_MAX_SPREAD ms make a prior. When the ceiling is more
 * than DSP_LATENCY_PRIOR_MAX_SPREAD before that median, more than jitter explains, the
 * clear attacks all sit behind lead-ins under the floor: the latency is the ceiling, and
 * clear attacks start there too (never later than their own start); a few milliseconds of
 * floor before a note cost nothing, a cut attack is heard. The same holds for a clear attack
 * more than DSP_LATENCY_PRIOR_MAX_SPREAD after the latency of an instrument whose slow
 * attacks put it at the ceiling (OPL-3 piano: its soft notes step in 5-8 ms after their
 * louder ones already stood above the floor; a sample's preamble is under the floor there).
 * Otherwise a calibrated node's note-on (delay 0) is the prior.
 * An instrument of slow attacks only: the median of their extrapolated starts (each
 * uncertain by milliseconds; the latency they share is one figure, so pooling averages
 * that out), no later than the ceiling. When that median is not known to
 * DSP_LATENCY_PRIOR_MAX_SPREAD (its standard error, from the deviation as for a normal
 * spread) and lies within S_AGREE_SE standard errors of the ceiling, the two agree and the
 * ceiling, measured rather than extrapolated, is the latency; a median far earlier than
 * the ceiling is a swell that began well under the floor, and stands.
 * Applying: a slow attack's onset becomes note-on + the delay, but never later than the
 * point where the take already stands above its floor, never before the take's first
 * frame; the cut keeps its pre-attack margin. A clear attack whose take shows a faint foot
 * before it (onset_foot, qc_onset.c) began by then: it starts at the later of the foot and
 * note-on + the delay (the foot alone may be noise; the instrument's notes do not begin
 * before its latency), never later than its own start. Without a prior, the ceiling only ever moves
 * a slow attack earlier.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

/* standard errors within which the pooled median agrees with the ceiling */
#define S_AGREE_SE 2.0

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, s_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The standard error of the median of m values whose median absolute deviation is mad,
 * taken as normal: sigma = 1.4826 mad, and the median's error sqrt(pi / 2) sigma / sqrt(m). */
static double s_median_se(double mad, size_t m)
{
    return 1.2533 * 1.4826 * mad / sqrt((double)m);
}

void dsp_latency_prior_learn(const dsp_analysis_t *const *takes, size_t n, bool calibrated,
                             dsp_latency_prior_t *out)
{
    memset(out, 0, sizeof *out);
    double *d = malloc(sizeof(double) * (n ? n : 1));
    if (!d)
        return;
    /* the ceiling: the second earliest point where a take stood above its floor */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const dsp_analysis_t *a = takes[i];
        if (!a || a->rate <= 0 || a->onset_present < 0 || a->cut_end <= a->cut_start)
            continue;
        d[m++] = (double)(a->onset_present - a->note_on) * 1000.0 / a->rate;
    }
    if (m >= DSP_LATENCY_PRIOR_MIN_TAKES) {
        qsort(d, m, sizeof *d, s_cmp);
        out->has_ceiling = true;
        out->ceiling_ms = d[1];
    }
    /* the clear attacks */
    m = 0;
    for (size_t i = 0; i < n; i++) {
        const dsp_analysis_t *a = takes[i];
        if (!a || a->rate <= 0 || !a->attack_clear || a->onset_source != DSP_ONSET_CLEAR)
            continue;
        d[m++] = (double)(a->onset - a->note_on) * 1000.0 / a->rate;
    }
    if (m >= DSP_LATENCY_PRIOR_MIN_TAKES) {
        double med = s_median(d, m);
        for (size_t i = 0; i < m; i++)
            d[i] = fabs(d[i] - med);
        double mad = s_median(d, m);
        if (mad <= DSP_LATENCY_PRIOR_MAX_SPREAD) {
            out->known = true;
            out->latency_ms = med;
            out->spread_ms = mad;
            out->takes = (int)m;
            /* clear attacks that start well after the instrument's notes already stood
             * above the floor sit behind a lead-in under it: the notes began by then */
            if (out->has_ceiling && out->ceiling_ms < med - DSP_LATENCY_PRIOR_MAX_SPREAD) {
                out->latency_ms = out->ceiling_ms;
                out->at_ceiling = true;
            }
        }
    }
    if (!out->known && calibrated) {
        out->known = true;
        out->latency_ms = 0;
        out->spread_ms = 0;
        out->takes = 0;
    }
    /* an instrument of slow attacks only: the median of their extrapolated starts, no
     * later than the ceiling; the ceiling when that median is too uncertain to tell from
     * it */
    m = 0;
    for (size_t i = 0; !out->known && i < n; i++) {
        const dsp_analysis_t *a = takes[i];
        if (!a || a->rate <= 0 || a->attack_clear || a->onset_source != DSP_ONSET_EXTRAPOLATED ||
            a->onset_present < 0 || a->cut_end <= a->cut_start)
            continue;
        d[m++] = (double)(a->onset - a->note_on) * 1000.0 / a->rate;
    }
    if (!out->known && m >= DSP_LATENCY_PRIOR_MIN_TAKES) {
        double med = s_median(d, m);
        for (size_t i = 0; i < m; i++)
            d[i] = fabs(d[i] - med);
        out->known = true;
        out->pooled = true;
        out->spread_ms = s_median(d, m);
        out->takes = (int)m;
        out->latency_ms = med;
        double se = s_median_se(out->spread_ms, m);
        if (out->has_ceiling &&
            (med > out->ceiling_ms ||
             (se > DSP_LATENCY_PRIOR_MAX_SPREAD && out->ceiling_ms - med <= S_AGREE_SE * se))) {
            out->latency_ms = out->ceiling_ms;
            out->at_ceiling = true;
        }
    }
    free(d);
}

void dsp_tuning_spread(const dsp_analysis_t *const *takes, size_t n, dsp_tuning_spread_t *out)
{
    memset(out, 0, sizeof *out);
    double *v = malloc(sizeof(double) * (n ? n : 1));
    size_t m = 0;
    for (size_t i = 0; v && i < n; i++) {
        const dsp_analysis_t *a = takes[i];
        if (a && a->pitch_checked) {
            out->checked++;
            /* heard clearly within a semitone of the note or of an octave of it */
            double off = a->pitch_cents - 1200.0 * round(a->pitch_cents / 1200.0);
            bool clear =
                a->pitch_hz > 0 && a->pitch_confidence >= DSP_SURE_PITCH && fabs(off) < 100.0;
            out->unclear += !clear;
        }
        if (!a || a->pitch_hz <= 0 || a->verdict == DSP_FAIL || !isfinite(a->tuning_cents))
            continue; /* no pitch, or its tuning unsure */
        v[m++] = a->tuning_cents;
    }
    if (m > 0) {
        out->notes = (int)m;
        out->median_cents = s_median(v, m); /* sorts v */
        out->min_cents = v[0];
        out->max_cents = v[m - 1];
    }
    free(v);
}

bool dsp_latency_prior_apply(dsp_analysis_t *a, const dsp_latency_prior_t *p)
{
    if (!p || (!p->known && !p->has_ceiling) || a->rate <= 0 || a->onset_present < 0 ||
        a->cut_end <= a->cut_start)
        return false;
    /* a clear attack keeps its start, unless it sits behind a lead-in under the floor or
     * after a faint foot (below): then it starts at the latency, never later than its own
     * detected start */
    bool clear = a->attack_clear || a->onset_source == DSP_ONSET_CLEAR;
    int64_t latency = a->note_on + (int64_t)llround(p->latency_ms * a->rate / 1000.0);
    /* clear attacks behind lead-ins: the instrument's clear attacks all sit behind the ceiling,
     * or its latency is the ceiling of slow attacks and this one starts more than a latency's
     * spread after it (two other takes already stood above the floor by then) */
    bool lead_in = p->known && p->at_ceiling && p->takes > 0 &&
                   (!p->pooled || a->onset - latency >
                                      (int64_t)(DSP_LATENCY_PRIOR_MAX_SPREAD * a->rate / 1000.0));
    /* a clear attack after a faint foot: the note may stand above the floor from the foot,
     * and the instrument's notes begin at its latency; it starts at the later of the two */
    bool foot = clear && !lead_in && p->known && a->onset_foot >= 0 && a->onset_foot < a->onset;
    if (clear && !lead_in && !foot)
        return false;
    int64_t at;
    if (foot) {
        at = latency;
        if (at < a->onset_foot)
            at = a->onset_foot;
        if (at >= a->onset)
            return false;
    } else if (clear) {
        at = latency;
        if (at >= a->onset)
            return false;
    } else if (p->known) {
        at = latency;
        if (at > a->onset_present)
            at = a->onset_present;
    } else {
        at = a->note_on + (int64_t)llround(p->ceiling_ms * a->rate / 1000.0);
        if (at >= a->onset)
            return false; /* already earlier */
    }
    int64_t margin = a->onset - a->cut_start;
    if (at - margin < 0)
        at = margin;
    if (at >= a->cut_end)
        return false;
    bool moved = at != a->onset;
    a->onset = at;
    a->cut_start = at - margin;
    a->fade_in = margin;
    a->duration_s = (double)(a->cut_end - a->cut_start) / a->rate;
    a->onset_source = DSP_ONSET_PRIOR;
    return moved;
}

/* Whether another take jumps within DSP_JUMP_RECUR_MS of `ms` after its note-on. */
static bool s_jump_elsewhere(double ms, const dsp_analysis_t *a,
                             const dsp_analysis_t *const *others, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const dsp_analysis_t *b = others[i];
        for (int k = 0; b && b != a && k < b->n_jump_ms && k < DSP_JUMPS_KEPT; k++)
            if (fabs(b->jump_ms[k] - ms) <= DSP_JUMP_RECUR_MS)
                return true;
    }
    return false;
}

bool dsp_jumps_recur(dsp_analysis_t *a, const dsp_analysis_t *const *others, size_t n)
{
    if (a->verdict != DSP_FAIL || a->fails < 1 || a->dropouts < 1 || a->dropouts != a->n_jump_ms ||
        a->n_jump_ms > DSP_JUMPS_KEPT || a->xruns > 0)
        return false;
    for (int k = 0; k < a->n_jump_ms; k++)
        if (!s_jump_elsewhere(a->jump_ms[k], a, others, n))
            return false;
    /* drop the dropout reason ("dropout: <what> ... at <ms>"; the node's overruns, also
     * "dropout: ...", are excluded above), keep the others in their order */
    char kept[sizeof a->reasons] = "";
    size_t len = 0;
    bool dropped = false;
    for (const char *r = a->reasons; *r;) {
        const char *end = strstr(r, "; ");
        size_t n_r = end ? (size_t)(end - r) : strlen(r);
        if (!dropped && strncmp(r, "dropout: ", 9) == 0) {
            dropped = true;
        } else if (len + n_r + 3 < sizeof kept) {
            if (len)
                memcpy(kept + len, "; ", 2), len += 2;
            memcpy(kept + len, r, n_r);
            len += n_r;
            kept[len] = '\0';
        }
        r += n_r + (end ? 2 : 0);
    }
    if (!dropped)
        return false;
    memcpy(a->reasons, kept, len + 1);
    a->fails--;
    a->verdict = a->fails > 0 ? DSP_FAIL : DSP_PASS;
    a->dropouts = 0;
    dsp_analysis_reason(a, DSP_WARN,
                        "a jump at %.1f ms after the note-on%s, also in another take of this "
                        "note: the instrument's own (a sample's seam?), not lost audio",
                        a->jump_ms[0], a->n_jump_ms > 1 ? " and more" : "");
    return true;
}
