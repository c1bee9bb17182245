/*
 * pipeline.c — per-take analysis.
 *
 * The noise floor is the RMS of the pre-roll (loudest channel). The onset is found on a
 * 1 ms peak envelope: the first window after the pre-roll's start that rises
 * `onset_above_noise_db` over the floor, then walked back while the envelope stays above
 * twice the floor RMS, to where the attack leaves the noise. The end is the last 10 ms
 * window, scanning back from the take's end, that sits `end_above_noise_db` over the
 * floor. A take whose loudest 50 ms stays within `silence_snr_db` of the floor is silent.
 */
#include "pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_json.h"

#define COORD_FLOOR_MIN_DB (-140.0)

static double s_db(double lin)
{
    return lin > 0 ? 20.0 * log10(lin) : COORD_FLOOR_MIN_DB;
}

static void s_reason(coord_analysis_t *a, int verdict, const char *text)
{
    size_t n = strlen(a->reasons);
    snprintf(a->reasons + n, sizeof a->reasons - n, "%s%s", n ? "; " : "", text);
    if (verdict > a->verdict)
        a->verdict = verdict;
}

/* Largest |x| over all channels in frames [from, to). */
static double s_peak(const float *x, int ch, int64_t from, int64_t to)
{
    double p = 0;
    for (int64_t i = from * ch; i < to * ch; i++) {
        double v = fabs(x[i]);
        if (v > p)
            p = v;
    }
    return p;
}

/* RMS of the loudest channel over [from, to). */
static double s_rms(const float *x, int ch, int64_t from, int64_t to)
{
    if (to <= from)
        return 0;
    double best = 0;
    for (int c = 0; c < ch; c++) {
        double sq = 0;
        for (int64_t i = from; i < to; i++)
            sq += (double)x[i * ch + c] * x[i * ch + c];
        if (sq > best)
            best = sq;
    }
    return sqrt(best / (double)(to - from));
}

int coord_analyze(const float *x, int64_t frames, int ch, int rate, int64_t note_on,
                  int64_t note_off, const coord_pipeline_config_t *cfg, coord_analysis_t *a)
{
    memset(a, 0, sizeof *a);
    if (!x || frames <= 0 || ch < 1 || rate <= 0 || note_on < 0 || note_on > frames)
        return BB_EINVAL;
    const int64_t ms = rate / 1000;

    /* Noise floor: the pre-roll, minus 1 ms before the note-on. */
    int64_t pre_end = note_on - ms > 0 ? note_on - ms : 0;
    double noise = s_rms(x, ch, 0, pre_end);
    a->noise_db = pre_end > 0 ? s_db(noise) : COORD_FLOOR_MIN_DB;
    double floor_lin = noise > 1e-7 ? noise : 1e-7;

    /* Onset. */
    double rise = floor_lin * pow(10.0, cfg->onset_above_noise_db / 20.0);
    /* Search from a little before the note-on: a latency offset set too high would put the
     * real attack before it. Earlier than that is the previous take's business. */
    int64_t search_from = note_on - 20 * ms > 0 ? note_on - 20 * ms : 0;
    int64_t onset = -1;
    for (int64_t w = search_from; w + ms <= frames; w += ms / 4 > 0 ? ms / 4 : 1) {
        if (s_peak(x, ch, w, w + ms) >= rise) {
            onset = w;
            break;
        }
    }
    if (onset < 0) {
        a->onset = note_on;
        a->cut_start = note_on;
        a->cut_end = frames;
        a->peak_db = s_db(s_peak(x, ch, 0, frames));
        a->rms_db = s_db(s_rms(x, ch, note_on, frames));
        a->snr_db = a->peak_db - a->noise_db;
        a->duration_s = (double)(frames - note_on) / rate;
        s_reason(a, COORD_FAIL, "silence: nothing rose above the noise floor");
        return 0;
    }
    /* The first sample in the window above the threshold, then back to the noise. */
    int64_t first = onset;
    while (first < onset + ms && first < frames && s_peak(x, ch, first, first + 1) < rise)
        first++;
    double leave = 2.0 * floor_lin;
    while (first > 0 && s_peak(x, ch, first - 1, first) > leave)
        first--;
    /* Zero-crossing-level wiggles: allow a quarter millisecond of sub-threshold gap. */
    for (;;) {
        int64_t probe = first - 1, gap = 0;
        while (probe > 0 && gap < ms / 4 && s_peak(x, ch, probe, probe + 1) <= leave) {
            probe--;
            gap++;
        }
        if (probe > 0 && gap < ms / 4 && s_peak(x, ch, probe, probe + 1) > leave)
            first = probe;
        else
            break;
        while (first > 0 && s_peak(x, ch, first - 1, first) > leave)
            first--;
    }
    a->onset = first;

    /* Release end: last 10 ms window above the end threshold. */
    double end_lin = floor_lin * pow(10.0, cfg->end_above_noise_db / 20.0);
    int64_t win = 10 * ms;
    int64_t end = frames;
    for (int64_t w = frames - win; w > a->onset; w -= win) {
        if (s_rms(x, ch, w, w + win) > end_lin) {
            end = w + win < frames ? w + win : frames;
            break;
        }
        end = w;
    }
    if (end <= a->onset)
        end = a->onset + win < frames ? a->onset + win : frames;
    a->release_end = end;

    int64_t margin = (int64_t)llround(cfg->pre_attack_ms * rate / 1000.0);
    a->cut_start = a->onset - margin > 0 ? a->onset - margin : 0;
    a->fade_in = a->onset - a->cut_start;
    a->cut_end = end;
    int64_t fade_out = (int64_t)llround(cfg->fade_out_ms * rate / 1000.0);
    int64_t len = a->cut_end - a->cut_start;
    a->fade_out = fade_out < len / 2 ? fade_out : len / 2;
    a->duration_s = (double)len / rate;

    a->peak_db = s_db(s_peak(x, ch, a->cut_start, a->cut_end));
    a->rms_db = s_db(s_rms(x, ch, a->cut_start, a->cut_end));
    double loudest = 0;
    for (int64_t w = a->cut_start; w < a->cut_end; w += 25 * ms) {
        int64_t to = w + 50 * ms < a->cut_end ? w + 50 * ms : a->cut_end;
        double r = s_rms(x, ch, w, to);
        if (r > loudest)
            loudest = r;
    }
    a->snr_db = s_db(loudest) - a->noise_db;
    if (a->snr_db < cfg->silence_snr_db)
        s_reason(a, COORD_FAIL, "silence: the take barely rises above the noise floor");
    (void)note_off;
    return 0;
}

char *coord_analysis_json(const coord_analysis_t *a)
{
    bb_jw_t *w = bb_jw_new(false);
    if (!w)
        return NULL;
    bb_jw_object_begin(w);
    bb_jw_kv_int(w, "onset", a->onset);
    bb_jw_kv_int(w, "release_end", a->release_end);
    bb_jw_kv_int(w, "cut_start", a->cut_start);
    bb_jw_kv_int(w, "cut_end", a->cut_end);
    bb_jw_kv_int(w, "fade_in", a->fade_in);
    bb_jw_kv_int(w, "fade_out", a->fade_out);
    bb_jw_kv_double(w, "noise_db", a->noise_db);
    bb_jw_kv_double(w, "peak_db", a->peak_db);
    bb_jw_kv_double(w, "rms_db", a->rms_db);
    bb_jw_kv_double(w, "snr_db", a->snr_db);
    bb_jw_kv_double(w, "duration_s", a->duration_s);
    bb_jw_kv_int(w, "verdict", a->verdict);
    bb_jw_kv_string(w, "reasons", a->reasons);
    bb_jw_object_end(w);
    char *out = bb_jw_error(w) ? NULL : strdup(bb_jw_text(w, NULL));
    bb_jw_destroy(&w);
    return out;
}

int coord_analysis_from_json(const char *json, coord_analysis_t *a)
{
    memset(a, 0, sizeof *a);
    bb_json_t *doc = NULL;
    if (!json || bb_json_parse(json, strlen(json), &doc, NULL, 0))
        return BB_EINVAL;
    int64_t v;
    double d;
    const char *s;
#define GETI(k)                                                                                    \
    if (bb_json_get_int(doc, #k, &v) == 0)                                                         \
    a->k = v
#define GETD(k)                                                                                    \
    if (bb_json_get_number(doc, #k, &d) == 0)                                                      \
    a->k = d
    GETI(onset);
    GETI(release_end);
    GETI(cut_start);
    GETI(cut_end);
    GETI(fade_in);
    GETI(fade_out);
    GETD(noise_db);
    GETD(peak_db);
    GETD(rms_db);
    GETD(snr_db);
    GETD(duration_s);
    if (bb_json_get_int(doc, "verdict", &v) == 0)
        a->verdict = (int)v;
#undef GETI
#undef GETD
    if (bb_json_get_string(doc, "reasons", &s) == 0)
        snprintf(a->reasons, sizeof a->reasons, "%s", s);
    bb_json_free(&doc);
    return 0;
}
