/*
 * qc_instrument.c — what an instrument's takes tell together (pipeline.h): its latency,
 * a prior for its slow attacks, the spread of its tuning across notes, and jumps that the
 * instrument makes itself (dsp_jumps_recur: the same jump, at the same time after the
 * note-on, in another take of the note is in the sound, not lost audio).
 *
 * Learning: the onset - note-on delays of the instrument's clear attacks, their median
 * and median absolute deviation (robust to the odd take whose sample has a lead-in).
 * At least DSP_LATENCY_PRIOR_MIN_TAKES of them and a spread of at most
 * DSP_LATENCY_PRIOR_MAX_SPREAD ms make a prior; otherwise a calibrated node's note-on
 * (delay 0) is one; otherwise, for an instrument whose attacks are all slow, the median of
 * their extrapolated starts (each one's extrapolation is uncertain by milliseconds; the
 * latency they share is one figure, so pooling them averages that out), no later than the
 * ceiling below. Applying: a slow attack's onset becomes note-on + the delay, but never
 * later than the point where the take already stands above its floor, never before the
 * take's first frame; the cut keeps its pre-attack margin. Without a prior, the ceiling
 * (the second earliest point after their note-on where the instrument's takes stood above
 * the floor) only ever moves a slow attack earlier.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

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

void dsp_latency_prior_learn(const dsp_analysis_t *const *takes, size_t n, bool calibrated,
                             dsp_latency_prior_t *out)
{
    memset(out, 0, sizeof *out);
    double *d = malloc(sizeof(double) * (n ? n : 1));
    size_t m = 0;
    for (size_t i = 0; d && i < n; i++) {
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
        }
    }
    if (!out->known && calibrated) {
        out->known = true;
        out->latency_ms = 0;
        out->spread_ms = 0;
        out->takes = 0;
    }
    /* the ceiling: the second earliest point where a take stood above its floor */
    m = 0;
    for (size_t i = 0; d && i < n; i++) {
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
    /* an instrument of slow attacks only: the median of their extrapolated starts, no
     * later than the ceiling */
    m = 0;
    for (size_t i = 0; d && !out->known && i < n; i++) {
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
        out->latency_ms = out->has_ceiling && med > out->ceiling_ms ? out->ceiling_ms : med;
        out->spread_ms = s_median(d, m);
        out->takes = (int)m;
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
        if (!a || a->pitch_hz <= 0 || a->verdict == DSP_FAIL)
            continue;
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
    if (!p || (!p->known && !p->has_ceiling) || a->rate <= 0 || a->attack_clear ||
        a->onset_present < 0 || a->cut_end <= a->cut_start || a->onset_source == DSP_ONSET_CLEAR)
        return false;
    int64_t at;
    if (p->known) {
        at = a->note_on + (int64_t)llround(p->latency_ms * a->rate / 1000.0);
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
