/*
 * export_report.c — report.html: what a person looks at after a night of sampling.
 *
 * Per instrument: a grid of notes x velocity layers, each cell holding one box per round
 * robin coloured by its verdict (failed takes included, with their reasons on hover); an
 * inline SVG plot of the exported peak level against velocity, one line per note; a small
 * plot per note of the recorded levels and the level the library plays at every velocity
 * (its velocity curve); a table of the samples with their reasons, attempt and a waveform
 * thumbnail (inline SVG, min/max per pixel column from the record, the loop marked); the
 * takes not exported, with reasons and the raw take's waveform; and every slot recorded
 * more than once, with the other takes' verdicts and reasons. No scripts, no network resources: it
 * opens offline anywhere. The document is well-formed XML (XHTML served as HTML): every element
 * closed, every attribute quoted, all text escaped.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bb_err.h"
#include "bb_json.h"
#include "export.h"

#define S_PLOT_W        520
#define S_PLOT_H        260
#define S_PLOT_PAD      40
#define S_PLOT_MIN_DB   -60.0
#define S_THUMB_H       32
#define S_NOTE_W        200 /* the per-note velocity plots */
#define S_NOTE_H        110
#define S_NOTE_PAD      18
#define S_NOTE_RANGE_DB -48.0

static const char *s_css =
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "h2{margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:0.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 5px;font-size:12px;text-align:left}"
    "td.cell{white-space:nowrap}"
    "span.rr{display:inline-block;min-width:1.4em;margin:1px;text-align:center;"
    "border-radius:3px}"
    ".pass{background:#a3e4a3}.warn{background:#f5d76e}.fail{background:#f08080}"
    ".none{background:#eee;color:#999}"
    "svg.thumb{background:#f6f6f6;vertical-align:middle}"
    "svg.plot{background:#fafafa;border:1px solid #ddd}"
    "svg.note{background:#fafafa;border:1px solid #ddd;margin:2px}"
    "td.reasons{max-width:28em}";

/* ---- reading the record ---- */

static int64_t s_int(const json_t *o, const char *key)
{
    int64_t v = 0;
    bb_json_get_int(o, key, &v);
    return v;
}

static double s_num(const json_t *o, const char *key)
{
    double v = NAN;
    if (json_is_number(json_object_get(o, key)))
        v = json_number_value(json_object_get(o, key));
    return v;
}

static const char *s_str(const json_t *o, const char *key)
{
    const char *s = NULL;
    return bb_json_get_string(o, key, &s) == 0 ? s : "";
}

static bool s_bool(const json_t *o, const char *key)
{
    bool b = false;
    bb_json_get_bool(o, key, &b);
    return b;
}

static int s_verdict_rank(const char *v)
{
    return strcmp(v, "fail") == 0 ? 2 : strcmp(v, "warn") == 0 ? 1 : 0;
}

static const char *s_verdict_word(int rank)
{
    return rank == 2 ? "fail" : rank == 1 ? "warn" : "pass";
}

/* A take of the grid: an exported sample or a failed take. */
typedef struct {
    const json_t *obj;
    int note, velocity, rr;
    bool release, exported;
    int verdict;
} s_take_t;

static int s_cmp_take(const void *a, const void *b)
{
    const s_take_t *x = a, *y = b;
    if (x->note != y->note)
        return y->note - x->note; /* high notes on top, as on a keyboard turned upright */
    if (x->release != y->release)
        return x->release - y->release;
    if (x->velocity != y->velocity)
        return x->velocity - y->velocity;
    return x->rr - y->rr;
}

static s_take_t *s_takes(const json_t *rec, size_t *n_out)
{
    const json_t *samples = json_object_get(rec, "samples");
    const json_t *skipped = json_object_get(rec, "skipped");
    size_t n = json_array_size(samples) + json_array_size(skipped);
    s_take_t *t = calloc(n ? n : 1, sizeof *t);
    if (!t)
        return NULL;
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        const json_t *list = pass == 0 ? samples : skipped;
        for (size_t i = 0; i < json_array_size(list); i++) {
            const json_t *o = json_array_get(list, i);
            t[k] =
                (s_take_t){.obj = o,
                           .note = (int)s_int(o, "note"),
                           .velocity = (int)s_int(o, "velocity"),
                           .rr = (int)s_int(o, "rr"),
                           .release = s_bool(o, "release"),
                           .exported = pass == 0,
                           .verdict = s_verdict_rank(s_str(json_object_get(o, "qc"), "verdict"))};
            k++;
        }
    }
    qsort(t, n, sizeof *t, s_cmp_take);
    *n_out = n;
    return t;
}

/* ---- pieces ---- */

static void s_grid(dsp_buf_t *b, const s_take_t *t, size_t n)
{
    /* columns: distinct (release, velocity) pairs in order */
    int cols[256];
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        int key = t[i].velocity + (t[i].release ? 128 : 0);
        bool seen = false;
        for (size_t c = 0; c < nc; c++)
            seen |= cols[c] == key;
        if (!seen && nc < 256)
            cols[nc++] = key;
    }
    for (size_t i = 1; i < nc; i++) /* insertion sort: few columns */
        for (size_t j = i; j > 0 && cols[j - 1] > cols[j]; j--) {
            int tmp = cols[j];
            cols[j] = cols[j - 1];
            cols[j - 1] = tmp;
        }
    dsp_buf_puts(b, "<table class=\"grid\">\n<tr><th>note</th>");
    for (size_t c = 0; c < nc; c++)
        dsp_buf_printf(b, "<th>v%d%s</th>", cols[c] % 128, cols[c] >= 128 ? " rel" : "");
    dsp_buf_puts(b, "</tr>\n");
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && t[j].note == t[i].note)
            j++;
        dsp_buf_printf(b, "<tr><th>");
        dsp_buf_xml(b, s_str(t[i].obj, "note_name"));
        dsp_buf_printf(b, " (%d)</th>", t[i].note);
        for (size_t c = 0; c < nc; c++) {
            int worst = -1;
            for (size_t k = i; k < j; k++)
                if (t[k].velocity + (t[k].release ? 128 : 0) == cols[c] && t[k].verdict > worst)
                    worst = t[k].verdict;
            if (worst < 0) {
                dsp_buf_puts(b, "<td class=\"cell none\">-</td>");
                continue;
            }
            dsp_buf_printf(b, "<td class=\"cell %s\">", s_verdict_word(worst));
            for (size_t k = i; k < j; k++) {
                if (t[k].velocity + (t[k].release ? 128 : 0) != cols[c])
                    continue;
                const json_t *qc = json_object_get(t[k].obj, "qc");
                dsp_buf_printf(b, "<span class=\"rr %s\" title=\"rr%d %s%s",
                               s_verdict_word(t[k].verdict), t[k].rr, s_verdict_word(t[k].verdict),
                               t[k].exported ? "" : " (not exported)");
                if (*s_str(qc, "reasons")) {
                    dsp_buf_puts(b, ": ");
                    dsp_buf_xml(b, s_str(qc, "reasons"));
                }
                dsp_buf_printf(b, "\">%d</span>", t[k].rr);
            }
            dsp_buf_puts(b, "</td>");
        }
        dsp_buf_puts(b, "</tr>\n");
        i = j;
    }
    dsp_buf_puts(b, "</table>\n");
}

static double s_plot_x(double vel)
{
    return S_PLOT_PAD + vel / 127.0 * (S_PLOT_W - 2 * S_PLOT_PAD);
}

static double s_plot_y(double db)
{
    if (!isfinite(db) || db < S_PLOT_MIN_DB)
        db = S_PLOT_MIN_DB;
    if (db > 0)
        db = 0;
    return S_PLOT_PAD / 2 + (-db / -S_PLOT_MIN_DB) * (S_PLOT_H - S_PLOT_PAD * 1.5);
}

/* Peak level of the exported samples against velocity, a line per note (mean over round
 * robins). */
static void s_plot(dsp_buf_t *b, const s_take_t *t, size_t n)
{
    int notes = 0; /* notes with a line */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        bool any = false;
        for (; j < n && t[j].note == t[i].note; j++)
            any |= t[j].exported && !t[j].release;
        notes += any;
        i = j;
    }
    dsp_buf_printf(b,
                   "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                   "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
                   S_PLOT_W, S_PLOT_H, S_PLOT_W, S_PLOT_H);
    for (int db = 0; db >= (int)S_PLOT_MIN_DB; db -= 12) {
        double y = s_plot_y(db);
        dsp_buf_printf(b,
                       "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                       "<text x=\"4\" y=\"%.1f\" font-size=\"10\">%d dB</text>\n",
                       S_PLOT_PAD, y, S_PLOT_W - S_PLOT_PAD, y, y + 3, db);
    }
    static const int ticks[] = {1, 32, 64, 96, 127};
    for (size_t k = 0; k < sizeof ticks / sizeof *ticks; k++)
        dsp_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%d</text>\n",
                       s_plot_x(ticks[k]) - 6, S_PLOT_H - 24, ticks[k]);
    dsp_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"10\">velocity</text>\n",
                   S_PLOT_W / 2 - 20, S_PLOT_H - 6);
    int idx = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && t[j].note == t[i].note)
            j++;
        bool any = false;
        for (size_t k = i; k < j; k++)
            any |= t[k].exported && !t[k].release;
        if (!any) {
            i = j;
            continue;
        }
        int hue = notes > 0 ? 360 * idx / notes : 0;
        idx++;
        dsp_buf_printf(b, "<g stroke=\"hsl(%d,65%%,40%%)\" fill=\"hsl(%d,65%%,40%%)\"><title>", hue,
                       hue);
        dsp_buf_xml(b, s_str(t[i].obj, "note_name"));
        dsp_buf_puts(b, "</title><polyline fill=\"none\" points=\"");
        /* takes are sorted by velocity within the note: average each velocity */
        for (size_t k = i; k < j;) {
            size_t m = k;
            double sum = 0;
            int cnt = 0;
            while (m < j && t[m].velocity == t[k].velocity && t[m].release == t[k].release) {
                double p = s_num(t[m].obj, "peak_db");
                if (t[m].exported && !t[m].release && isfinite(p)) {
                    sum += p;
                    cnt++;
                }
                m++;
            }
            if (cnt > 0)
                dsp_buf_printf(b, "%.1f,%.1f ", s_plot_x(t[k].velocity), s_plot_y(sum / cnt));
            k = m;
        }
        dsp_buf_puts(b, "\"/>");
        for (size_t k = i; k < j; k++) {
            double p = s_num(t[k].obj, "peak_db");
            if (t[k].exported && !t[k].release && isfinite(p))
                dsp_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/>",
                               s_plot_x(t[k].velocity), s_plot_y(p));
        }
        dsp_buf_puts(b, "</g>\n");
        i = j;
    }
    dsp_buf_puts(b, "</svg>\n<p class=\"legend\">");
    idx = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        bool any = false;
        for (; j < n && t[j].note == t[i].note; j++)
            any |= t[j].exported && !t[j].release;
        if (any) {
            dsp_buf_printf(b, "<span style=\"color:hsl(%d,65%%,40%%)\">",
                           notes > 0 ? 360 * idx / notes : 0);
            dsp_buf_xml(b, s_str(t[i].obj, "note_name"));
            dsp_buf_puts(b, "</span> ");
            idx++;
        }
        i = j;
    }
    dsp_buf_puts(b, "</p>\n");
}

/* A thumbnail's y coordinates as "%.1f" prints them, for each of the record's integer
 * values -DSP_THUMB_SCALE..DSP_THUMB_SCALE (and 0.5 lower, where a column is flat): made
 * once by the same printf, so the report's tens of thousands of columns are copied, not
 * formatted (printing them was a fifth of the report's time). */
static char s_y_text[2 * DSP_THUMB_SCALE + 1][16], s_y_half_text[2 * DSP_THUMB_SCALE + 1][16];
static pthread_once_t s_y_once = PTHREAD_ONCE_INIT;
/* The same for the per-note plots' x coordinates, one per velocity (s_note_x). */
static char s_x_text[128][16];
static double s_note_x(double vel);

static void s_y_init(void)
{
    for (int v = 0; v < 128; v++)
        snprintf(s_x_text[v], sizeof s_x_text[0], "%.1f", s_note_x(v));
    for (int v = -DSP_THUMB_SCALE; v <= DSP_THUMB_SCALE; v++) {
        double half = S_THUMB_H / 2.0, y = half - (double)v / DSP_THUMB_SCALE * half;
        snprintf(s_y_text[v + DSP_THUMB_SCALE], sizeof s_y_text[0], "%.1f", y);
        snprintf(s_y_half_text[v + DSP_THUMB_SCALE], sizeof s_y_half_text[0], "%.1f", y + 0.5);
    }
}

/* The table row of a thumbnail value, -1 when it is not one of its integers. */
static int s_thumb_index(double v)
{
    return v >= -DSP_THUMB_SCALE && v <= DSP_THUMB_SCALE && v == floor(v) ? (int)v + DSP_THUMB_SCALE
                                                                          : -1;
}

/* A waveform thumbnail (min/max per column from the record), with the loop's start and
 * end marked when the sample has one. */
static void s_thumb(dsp_buf_t *b, const json_t *sample)
{
    const json_t *th = json_object_get(sample, "thumb");
    const json_t *lo = json_object_get(th, "min"), *hi = json_object_get(th, "max");
    size_t cols =
        json_array_size(lo) < json_array_size(hi) ? json_array_size(lo) : json_array_size(hi);
    dsp_buf_printf(b,
                   "<svg class=\"thumb\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                   "height=\"%d\" viewBox=\"0 0 %d %d\"><path stroke=\"#335\" "
                   "stroke-width=\"1\" fill=\"none\" d=\"M0,%d H%d",
                   DSP_THUMB_COLS, S_THUMB_H, DSP_THUMB_COLS, S_THUMB_H, S_THUMB_H / 2,
                   DSP_THUMB_COLS);
    pthread_once(&s_y_once, s_y_init);
    for (size_t c = 0; c < cols; c++) {
        double l = json_number_value(json_array_get(lo, c)),
               h = json_number_value(json_array_get(hi, c));
        double half = S_THUMB_H / 2.0;
        double y0 = half - h / DSP_THUMB_SCALE * half, y1 = half - l / DSP_THUMB_SCALE * half;
        bool raised = y1 - y0 < 0.5;
        if (raised)
            y1 = y0 + 0.5;
        int ih = s_thumb_index(h), il = s_thumb_index(l);
        if (ih < 0 || (!raised && il < 0)) {
            dsp_buf_printf(b, " M%zu.5,%.1f V%.1f", c, y0, y1);
            continue;
        }
        char col[64]; /* " M<c>.5,<y0> V<y1>", as the format above prints it */
        snprintf(col, sizeof col, " M%zu.5,", c);
        dsp_buf_puts(b, col);
        dsp_buf_puts(b, s_y_text[ih]);
        dsp_buf_puts(b, " V");
        dsp_buf_puts(b, raised ? s_y_half_text[ih] : s_y_text[il]);
    }
    dsp_buf_puts(b, "\"/>");
    const json_t *loop = json_object_get(sample, "loop");
    double frames = s_num(sample, "frames");
    if (json_is_object(loop) && frames > 0) {
        double x0 = s_int(loop, "start") / frames * DSP_THUMB_COLS;
        double x1 = (s_int(loop, "end") + 1) / frames * DSP_THUMB_COLS;
        dsp_buf_printf(b,
                       "<rect class=\"loop\" x=\"%.1f\" y=\"0\" width=\"%.1f\" height=\"%d\" "
                       "fill=\"#2a7\" fill-opacity=\"0.15\"/>"
                       "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%d\" stroke=\"#2a7\"/>"
                       "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%d\" stroke=\"#c33\"/>"
                       "<title>loop %lld-%lld</title>",
                       x0, x1 - x0, S_THUMB_H, x0, x0, S_THUMB_H, x1, x1, S_THUMB_H,
                       (long long)s_int(loop, "start"), (long long)s_int(loop, "end"));
    }
    dsp_buf_puts(b, "</svg>");
}

/* "attempt 2 (1 retake)" for a take whose slot was recorded more than once. */
static void s_attempt(dsp_buf_t *b, const json_t *o)
{
    int64_t attempt = s_int(o, "attempt");
    size_t retakes = json_array_size(json_object_get(o, "retakes"));
    if (attempt > 0)
        dsp_buf_printf(b, "%lld", (long long)attempt);
    else
        dsp_buf_puts(b, "-");
    if (retakes)
        dsp_buf_printf(b, " (%zu other take%s)", retakes, retakes == 1 ? "" : "s");
}

static void s_samples_table(dsp_buf_t *b, const s_take_t *t, size_t n)
{
    dsp_buf_puts(b, "<table class=\"samples\">\n<tr><th>file</th><th>note</th><th>vel</th>"
                    "<th>rr</th><th>verdict</th><th>reasons</th><th>attempt</th><th>peak dB</th>"
                    "<th>pitch cents</th><th>loop</th><th>waveform</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        if (!t[i].exported)
            continue;
        const json_t *o = t[i].obj, *qc = json_object_get(o, "qc");
        const char *file = s_str(o, "file");
        const char *base = strrchr(file, '/');
        dsp_buf_puts(b, "<tr><td>");
        dsp_buf_xml(b, base ? base + 1 : file);
        dsp_buf_puts(b, "</td><td>");
        dsp_buf_xml(b, s_str(o, "note_name"));
        dsp_buf_printf(
            b, "</td><td>%d</td><td>%d%s</td><td class=\"%s\">%s</td><td class=\"reasons\">",
            t[i].velocity, t[i].rr, t[i].release ? " rel" : "", s_verdict_word(t[i].verdict),
            s_verdict_word(t[i].verdict));
        dsp_buf_xml(b, s_str(qc, "reasons"));
        dsp_buf_puts(b, "</td><td>");
        s_attempt(b, o);
        dsp_buf_puts(b, "</td>");
        double peak = s_num(o, "peak_db"), cents = s_num(qc, "pitch_cents");
        double hz = s_num(qc, "pitch_hz");
        dsp_buf_printf(b, "<td>%.1f</td>", isfinite(peak) ? peak : -INFINITY);
        if (isfinite(hz) && hz > 0 && isfinite(cents))
            dsp_buf_printf(b, "<td>%+.1f</td>", cents);
        else
            dsp_buf_puts(b, "<td>-</td>");
        const json_t *loop = json_object_get(o, "loop");
        double score = s_num(qc, "loop_score"), change = s_num(qc, "loop_change_db");
        if (json_is_object(loop))
            dsp_buf_printf(b, "<td>%lld-%lld (score %.2f, %+.1f dB)</td>",
                           (long long)s_int(loop, "start"), (long long)s_int(loop, "end"),
                           isfinite(score) ? score : 0, isfinite(change) ? change : 0);
        else if (s_bool(qc, "loop_refused"))
            dsp_buf_printf(b, "<td>refused: %+.1f dB over the loop pumps (score %.2f)</td>",
                           isfinite(change) ? change : 0, isfinite(score) ? score : 0);
        else
            dsp_buf_puts(b, "<td>-</td>");
        dsp_buf_puts(b, "<td>");
        s_thumb(b, o);
        dsp_buf_puts(b, "</td></tr>\n");
    }
    dsp_buf_puts(b, "</table>\n");
}

static void s_failed_table(dsp_buf_t *b, const s_take_t *t, size_t n)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++)
        failed += !t[i].exported;
    if (!failed)
        return;
    dsp_buf_printf(b,
                   "<h3>Takes not exported (%zu)</h3>\n<table class=\"failed\">\n<tr>"
                   "<th>note</th><th>vel</th><th>rr</th><th>take</th><th>attempt</th>"
                   "<th>reasons</th><th>waveform</th></tr>\n",
                   failed);
    for (size_t i = 0; i < n; i++) {
        if (t[i].exported)
            continue;
        dsp_buf_puts(b, "<tr><td>");
        dsp_buf_xml(b, s_str(t[i].obj, "note_name"));
        dsp_buf_printf(b, "</td><td>%d</td><td>%d%s</td><td>", t[i].velocity, t[i].rr,
                       t[i].release ? " rel" : "");
        dsp_buf_xml(b, s_str(t[i].obj, "take_id"));
        dsp_buf_puts(b, "</td><td>");
        s_attempt(b, t[i].obj);
        dsp_buf_puts(b, "</td><td class=\"reasons\">");
        dsp_buf_xml(b, s_str(json_object_get(t[i].obj, "qc"), "reasons"));
        dsp_buf_puts(b, "</td><td>");
        if (json_is_object(json_object_get(t[i].obj, "thumb")))
            s_thumb(b, t[i].obj); /* the raw take over its cut */
        else
            dsp_buf_puts(b, "-");
        dsp_buf_puts(b, "</td></tr>\n");
    }
    dsp_buf_puts(b, "</table>\n");
}

/* Every slot recorded more than once: the take kept (or listed) and the others. */
static void s_retakes_table(dsp_buf_t *b, const s_take_t *t, size_t n)
{
    size_t slots = 0;
    for (size_t i = 0; i < n; i++)
        slots += json_array_size(json_object_get(t[i].obj, "retakes")) > 0;
    if (!slots)
        return;
    dsp_buf_printf(b,
                   "<h3>Retakes (%zu slot%s recorded more than once)</h3>\n<table "
                   "class=\"retakes\">\n<tr><th>note</th><th>vel</th><th>rr</th><th>kept</th>"
                   "<th>other takes</th></tr>\n",
                   slots, slots == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        const json_t *list = json_object_get(t[i].obj, "retakes");
        if (!json_array_size(list))
            continue;
        dsp_buf_puts(b, "<tr><td>");
        dsp_buf_xml(b, s_str(t[i].obj, "note_name"));
        dsp_buf_printf(b, "</td><td>%d</td><td>%d%s</td><td class=\"%s\">", t[i].velocity, t[i].rr,
                       t[i].release ? " rel" : "", s_verdict_word(t[i].verdict));
        dsp_buf_xml(b, s_str(t[i].obj, "take_id"));
        dsp_buf_printf(b, " (%s%s)</td><td>", s_verdict_word(t[i].verdict),
                       t[i].exported ? "" : ", not exported");
        for (size_t k = 0; k < json_array_size(list); k++) {
            const json_t *r = json_array_get(list, k);
            dsp_buf_printf(b, "%s<span class=\"%s\">", k ? "<br/>" : "", s_str(r, "verdict"));
            dsp_buf_xml(b, s_str(r, "take_id"));
            dsp_buf_puts(b, " ");
            dsp_buf_xml(b, s_str(r, "verdict"));
            dsp_buf_puts(b, "</span>");
            if (*s_str(r, "reasons")) {
                dsp_buf_puts(b, ": ");
                dsp_buf_xml(b, s_str(r, "reasons"));
            }
        }
        dsp_buf_puts(b, "</td></tr>\n");
    }
    dsp_buf_puts(b, "</table>\n");
}

/* The gain (dB) of a sample's velocity curve at v, from the record's points, interpolated
 * as dsp_map_gain_db does. */
static double s_curve_gain(const json_t *sample, int v)
{
    dsp_map_entry_t e = {0};
    const json_t *pts = json_object_get(sample, "velocity_curve");
    for (size_t i = 0; i < json_array_size(pts) && e.n_points < DSP_VEL_POINTS_MAX; i++) {
        const json_t *p = json_array_get(pts, i);
        e.points[e.n_points].velocity = (int)json_integer_value(json_array_get(p, 0));
        e.points[e.n_points].gain_db = json_number_value(json_array_get(p, 1));
        e.n_points++;
    }
    return dsp_map_gain_db(&e, v);
}

static double s_note_x(double vel)
{
    return S_NOTE_PAD + vel / 127.0 * (S_NOTE_W - S_NOTE_PAD - 4);
}

static double s_note_y(double db, double top)
{
    double rel = db - top; /* 0 at the note's loudest sample */
    if (!isfinite(rel) || rel < S_NOTE_RANGE_DB)
        rel = S_NOTE_RANGE_DB;
    if (rel > 0)
        rel = 0;
    return 4 + rel / S_NOTE_RANGE_DB * (S_NOTE_H - 18);
}

/* One small plot per note: the recorded level of each sample at its velocity (dots), and
 * the level a player following the library gives at every velocity (the line: the sample
 * the map picks, at its recorded level plus its curve's gain; first round robin). */
static void s_note_plots(dsp_buf_t *b, const s_take_t *t, size_t n)
{
    pthread_once(&s_y_once, s_y_init);
    dsp_buf_puts(b, "<div class=\"notes\">\n");
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double top = -INFINITY;
        for (; j < n && t[j].note == t[i].note; j++)
            if (t[j].exported && !t[j].release && s_num(t[j].obj, "peak_db") > top)
                top = s_num(t[j].obj, "peak_db");
        if (!isfinite(top)) {
            i = j;
            continue;
        }
        dsp_buf_printf(b,
                       "<svg class=\"note\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                       "height=\"%d\" viewBox=\"0 0 %d %d\"><title>",
                       S_NOTE_W, S_NOTE_H, S_NOTE_W, S_NOTE_H);
        dsp_buf_xml(b, s_str(t[i].obj, "note_name"));
        dsp_buf_puts(b, ": level against velocity</title>");
        for (int db = 0; db >= (int)S_NOTE_RANGE_DB; db -= 12)
            dsp_buf_printf(b,
                           "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                           "<text x=\"1\" y=\"%.1f\" font-size=\"8\">%d</text>",
                           S_NOTE_PAD, s_note_y(top + db, top), S_NOTE_W - 4,
                           s_note_y(top + db, top), s_note_y(top + db, top) + 3, db);
        dsp_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"9\">", S_NOTE_PAD, S_NOTE_H - 3);
        dsp_buf_xml(b, s_str(t[i].obj, "note_name"));
        dsp_buf_puts(b, " (dB against velocity)</text><polyline class=\"played\" fill=\"none\" "
                        "stroke=\"#36c\" points=\"");
        for (int v = 1; v <= 127; v++) {
            for (size_t k = i; k < j; k++) {
                const json_t *o = t[k].obj;
                if (!t[k].exported || t[k].release || s_int(o, "seq_position") > 1 ||
                    v < s_int(o, "vel_lo") || v > s_int(o, "vel_hi"))
                    continue;
                dsp_buf_puts(b, s_x_text[v]); /* "%.1f" of s_note_x(v) */
                dsp_buf_printf(b, ",%.1f ",
                               s_note_y(s_num(o, "peak_db") + s_curve_gain(o, v), top));
                break;
            }
        }
        dsp_buf_puts(b, "\"/>");
        for (size_t k = i; k < j; k++)
            if (t[k].exported && !t[k].release)
                dsp_buf_printf(b,
                               "<circle class=\"recorded\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
                               "fill=\"#c33\"/>",
                               s_note_x(t[k].velocity), s_note_y(s_num(t[k].obj, "peak_db"), top));
        dsp_buf_puts(b, "</svg>\n");
        i = j;
    }
    dsp_buf_puts(b, "</div>\n<p class=\"legend\">Dots: each sample's recorded peak level at its "
                    "velocity. Line: the level the library plays at every velocity (the sample "
                    "the map chooses and its velocity curve), relative to the note's loudest "
                    "sample.</p>\n");
}

static void s_instrument(dsp_buf_t *b, const json_t *rec, size_t idx, const s_take_t *t, size_t n)
{
    int count[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++)
        count[t[i].verdict]++;
    dsp_buf_printf(b, "<h2 id=\"i%zu\">", idx);
    dsp_buf_xml(b, s_str(rec, "name"));
    const char *failed = s_str(rec, "failed");
    if (*failed) { /* its takes all failed QC: no folder, only why */
        dsp_buf_puts(b, "</h2>\n<p>No sample exported: ");
        dsp_buf_xml(b, failed);
        dsp_buf_puts(b, ".</p>\n");
        dsp_buf_puts(b, "<h3>Takes by note and velocity</h3>\n");
        s_grid(b, t, n);
        s_failed_table(b, t, n);
        s_retakes_table(b, t, n);
        return;
    }
    dsp_buf_puts(b, "</h2>\n<p>Folder <code>");
    dsp_buf_xml(b, s_str(rec, "folder"));
    dsp_buf_printf(b,
                   "</code>: %zu samples (%s, %lld bit), gain %+.1f dB; %d pass, %d warn, %d "
                   "fail.</p>\n",
                   json_array_size(json_object_get(rec, "samples")), s_str(rec, "format"),
                   (long long)s_int(rec, "bit_depth"), s_num(rec, "gain_db"), count[0], count[1],
                   count[2]);
    /* the instrument's tuning across its samples: a drifting synth is visible here */
    const json_t *samples = json_object_get(rec, "samples");
    double lo = INFINITY, hi = -INFINITY;
    int pitched = 0;
    for (size_t i = 0; i < json_array_size(samples); i++) {
        const json_t *qc = json_object_get(json_array_get(samples, i), "qc");
        double hz = s_num(qc, "pitch_hz"), c = s_num(qc, "tuning_cents");
        if (isfinite(hz) && hz > 0 && isfinite(c)) {
            lo = c < lo ? c : lo;
            hi = c > hi ? c : hi;
            pitched++;
        }
    }
    if (pitched > 0)
        dsp_buf_printf(b,
                       "<p>Tuning across %d sample%s: %+.0f to %+.0f cents (spread %.0f "
                       "cents).</p>\n",
                       pitched, pitched == 1 ? "" : "s", lo, hi, hi - lo);
    dsp_buf_puts(b, "<h3>Takes by note and velocity</h3>\n");
    s_grid(b, t, n);
    dsp_buf_puts(b, "<h3>Peak level against velocity</h3>\n");
    s_plot(b, t, n);
    dsp_buf_puts(b, "<h3>Velocity to level, per note</h3>\n");
    s_note_plots(b, t, n);
    dsp_buf_puts(b, "<h3>Samples</h3>\n");
    s_samples_table(b, t, n);
    s_failed_table(b, t, n);
    s_retakes_table(b, t, n);
}

int dsp_export_write_report(const char *path, const json_t *const *records, size_t n, char *err,
                            size_t errlen)
{
    dsp_buf_t b = {0};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    size_t samples = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        samples += json_array_size(json_object_get(records[i], "samples"));
        skipped += json_array_size(json_object_get(records[i], "skipped"));
    }
    dsp_buf_printf(&b,
                   "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
                   "lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                   "<title>Batcherbird library report</title>\n<style>%s</style>\n"
                   "</head>\n<body>\n<h1>Library report</h1>\n"
                   "<p>%zu instrument%s, %zu samples, %zu takes not exported. Updated %s.</p>\n",
                   s_css, n, n == 1 ? "" : "s", samples, skipped, when);
    if (n > 1) {
        dsp_buf_puts(&b, "<ul>\n");
        for (size_t i = 0; i < n; i++) {
            dsp_buf_printf(&b, "<li><a href=\"#i%zu\">", i);
            dsp_buf_xml(&b, s_str(records[i], "name"));
            dsp_buf_puts(&b, "</a></li>\n");
        }
        dsp_buf_puts(&b, "</ul>\n");
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t nt = 0;
        s_take_t *t = s_takes(records[i], &nt);
        if (!t) {
            rc = BB_ENOMEM;
            break;
        }
        s_instrument(&b, records[i], i, t, nt);
        free(t);
    }
    dsp_buf_puts(&b, "</body>\n</html>\n");
    if (rc) {
        snprintf(err, errlen, "out of memory writing %s", path);
        dsp_buf_free(&b);
        return rc;
    }
    rc = dsp_buf_write(&b, path, err, errlen);
    dsp_buf_free(&b);
    return rc;
}
