/*
 * export_map.c — the mapping of export_map.h, computed separately for normal and release
 * samples: key ranges from the sampled notes and the extend setting, velocity layers per
 * note, round-robin positions per cell, then each sample's velocity curve from the mean
 * levels of its note's layers. Working on the caller's array in place keeps its order.
 */
#include "export_map.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bb_err.h"

#define S_KEYS 128

/* Mean level of the samples of one cell (note, velocity, trigger); 0 when unknown. */
static double s_cell_level(const dsp_map_entry_t *e, size_t n, bool release, int note, int vel)
{
    double sum = 0;
    int cnt = 0;
    for (size_t j = 0; j < n; j++)
        if (e[j].release == release && e[j].note == note && e[j].velocity == vel &&
            isfinite(e[j].level_db)) {
            sum += e[j].level_db;
            cnt++;
        }
    return cnt ? sum / cnt : NAN;
}

static void s_point(dsp_map_entry_t *e, int velocity, double gain_db)
{
    if (e->n_points >= DSP_VEL_POINTS_MAX || velocity < 1 || velocity > 127)
        return;
    if (e->n_points > 0 && e->points[e->n_points - 1].velocity >= velocity)
        return; /* keep them strictly ascending */
    e->points[e->n_points++] = (dsp_vel_point_t){.velocity = velocity, .gain_db = gain_db};
}

/* The curve of entry `x`, recorded at vels[vi] of its note's layers (see export_map.h). */
static void s_curve(dsp_map_entry_t *x, const int *vels, int nv, int vi, const double *layer_db)
{
    x->n_points = 0;
    int v = vels[vi];
    if (vi == 0) {
        /* below the lowest layer: gain = velocity / v, with points every octave of
         * velocity so dB-linear players stay close to it */
        s_point(x, 1, 20.0 * log10(1.0 / v));
        static const int div[] = {64, 32, 16, 8, 4, 2};
        for (size_t k = 0; k < sizeof div / sizeof *div; k++) {
            int pv = (int)lround((double)v / div[k]);
            if (pv > 1 && pv < v)
                s_point(x, pv, 20.0 * log10((double)pv / v));
        }
    } else {
        double prev = layer_db[vi - 1], own = x->level_db;
        double g = isfinite(prev) && isfinite(own) ? prev - own : 0.0;
        s_point(x, vels[vi - 1], g < 0 ? g : 0.0);
    }
    s_point(x, v, 0.0);
    if (vi == nv - 1 && v < 127)
        s_point(x, 127, 0.0);
    if (x->n_points < 2) /* a layer at velocity 1 alone: flat */
        s_point(x, 127, 0.0);
}

static void s_map_set(dsp_map_entry_t *e, size_t n, bool release, const dsp_map_config_t *cfg)
{
    int notes[S_KEYS], n_notes = 0;
    bool has[S_KEYS] = {false};
    for (size_t i = 0; i < n; i++)
        if (e[i].release == release && e[i].note >= 0 && e[i].note < S_KEYS)
            has[e[i].note] = true;
    for (int k = 0; k < S_KEYS; k++)
        if (has[k])
            notes[n_notes++] = k;
    if (n_notes == 0)
        return;

    int lowest = notes[0], highest = notes[n_notes - 1];
    int bottom, top; /* keys the outer samples reach */
    switch (cfg->extend) {
    case DSP_EXTEND_OCTAVE:
        bottom = lowest - DSP_OCTAVE_KEYS;
        top = highest + DSP_OCTAVE_KEYS;
        break;
    case DSP_EXTEND_NONE:
        bottom = lowest;
        top = highest;
        break;
    case DSP_EXTEND_KEYS:
        bottom = cfg->key_lo < lowest ? cfg->key_lo : lowest;
        top = cfg->key_hi > highest ? cfg->key_hi : highest;
        break;
    case DSP_EXTEND_FULL:
    default:
        bottom = 0;
        top = S_KEYS - 1;
        break;
    }
    bottom = bottom < 0 ? 0 : bottom;
    top = top > S_KEYS - 1 ? S_KEYS - 1 : top;

    int lo[S_KEYS], hi[S_KEYS];
    for (int i = 0; i < n_notes; i++) {
        int k = notes[i];
        if (cfg->unpitched) { /* a drum plays on its own key only */
            lo[k] = hi[k] = k;
            continue;
        }
        if (i == 0)
            lo[k] = bottom;
        else if (cfg->mode == DSP_MAP_UPWARD)
            lo[k] = k;
        else
            lo[k] = (notes[i - 1] + k) / 2 + 1;
        if (i == n_notes - 1)
            hi[k] = top;
        else if (cfg->mode == DSP_MAP_UPWARD)
            hi[k] = notes[i + 1] - 1;
        else
            hi[k] = (k + notes[i + 1]) / 2;
    }

    for (int i = 0; i < n_notes; i++) {
        int k = notes[i];
        bool vhas[S_KEYS] = {false};
        for (size_t j = 0; j < n; j++)
            if (e[j].release == release && e[j].note == k && e[j].velocity >= 1 &&
                e[j].velocity <= 127)
                vhas[e[j].velocity] = true;
        int vels[S_KEYS], nv = 0;
        double layer_db[S_KEYS];
        for (int v = 1; v < S_KEYS; v++)
            if (vhas[v]) {
                layer_db[nv] = s_cell_level(e, n, release, k, v);
                vels[nv++] = v;
            }
        for (int vi = 0; vi < nv; vi++) {
            int vlo = vi == 0 ? 1 : vels[vi - 1] + 1;
            int vhi = vi == nv - 1 ? 127 : vels[vi];
            int count = 0;
            for (size_t j = 0; j < n; j++)
                if (e[j].release == release && e[j].note == k && e[j].velocity == vels[vi])
                    count++;
            for (size_t j = 0; j < n; j++) {
                if (!(e[j].release == release && e[j].note == k && e[j].velocity == vels[vi]))
                    continue;
                int pos = 1; /* round robins in rr order, ties in array order */
                for (size_t m = 0; m < n; m++)
                    if (m != j && e[m].release == release && e[m].note == k &&
                        e[m].velocity == vels[vi] &&
                        (e[m].rr < e[j].rr || (e[m].rr == e[j].rr && m < j)))
                        pos++;
                e[j].lokey = lo[k];
                e[j].hikey = hi[k];
                e[j].lovel = vlo;
                e[j].hivel = vhi;
                e[j].seq_position = pos;
                e[j].seq_length = count;
                s_curve(&e[j], vels, nv, vi, layer_db);
            }
        }
    }
}

int dsp_map_build(dsp_map_entry_t *e, size_t n, const dsp_map_config_t *cfg)
{
    if ((!e && n) || !cfg)
        return BB_EINVAL;
    if (cfg->extend == DSP_EXTEND_KEYS &&
        (cfg->key_lo < 0 || cfg->key_hi > 127 || cfg->key_lo > cfg->key_hi))
        return BB_EINVAL;
    s_map_set(e, n, false, cfg);
    s_map_set(e, n, true, cfg);
    return 0;
}

double dsp_map_gain_db(const dsp_map_entry_t *e, int velocity)
{
    if (e->n_points < 1 || velocity < e->points[0].velocity ||
        velocity > e->points[e->n_points - 1].velocity)
        return 0.0;
    for (int i = 0; i + 1 < e->n_points; i++) {
        const dsp_vel_point_t *a = &e->points[i], *b = &e->points[i + 1];
        if (velocity > b->velocity)
            continue;
        double t = (double)(velocity - a->velocity) / (double)(b->velocity - a->velocity);
        double amp = pow(10.0, a->gain_db / 20.0) * (1.0 - t) + pow(10.0, b->gain_db / 20.0) * t;
        return 20.0 * log10(amp);
    }
    return e->points[e->n_points - 1].gain_db;
}

int dsp_map_segments(const dsp_map_entry_t *e, dsp_vel_segment_t *out)
{
    int n = 0;
    for (int i = 0; i + 1 < e->n_points; i++) {
        const dsp_vel_point_t *a = &e->points[i], *b = &e->points[i + 1];
        int lo = i == 0 ? a->velocity : a->velocity + 1;
        int hi = b->velocity;
        if (lo < e->lovel)
            lo = e->lovel;
        if (hi > e->hivel)
            hi = e->hivel;
        if (lo > hi)
            continue;
        out[n++] = (dsp_vel_segment_t){.lovel = lo,
                                       .hivel = hi,
                                       .v0 = a->velocity,
                                       .v1 = b->velocity,
                                       .g0 = a->gain_db,
                                       .g1 = b->gain_db};
    }
    if (n == 0) /* no points over the range: flat */
        out[n++] = (dsp_vel_segment_t){
            .lovel = e->lovel, .hivel = e->hivel, .v0 = e->lovel, .v1 = e->hivel};
    return n;
}

int dsp_map_segments_db(const dsp_map_entry_t *e, double tol_db, dsp_vel_segment_t *out)
{
    int lovel = e->lovel < 1 ? 1 : e->lovel, hivel = e->hivel > 127 ? 127 : e->hivel;
    if (hivel < lovel)
        hivel = lovel;
    double g[S_KEYS];
    for (int v = lovel; v <= hivel; v++)
        g[v] = dsp_map_gain_db(e, v);
    int n = 0, lo = lovel;
    while (lo <= hivel && n < DSP_VEL_SEGMENTS_DB_MAX) {
        int hi = lo; /* the longest piece from lo whose line in dB stays within tol_db */
        for (int cand = lo + 1; cand <= hivel; cand++) {
            bool ok = true;
            for (int v = lo + 1; v < cand && ok; v++) {
                double line = g[lo] + (g[cand] - g[lo]) * (v - lo) / (double)(cand - lo);
                ok = fabs(line - g[v]) <= tol_db;
            }
            if (!ok)
                break;
            hi = cand;
        }
        out[n++] = (dsp_vel_segment_t){
            .lovel = lo, .hivel = hi, .v0 = lo, .v1 = hi, .g0 = g[lo], .g1 = g[hi]};
        lo = hi + 1;
    }
    return n;
}

int dsp_map_extend_parse(const char *text, bb_note_convention_t conv, dsp_map_config_t *cfg,
                         char *err, size_t errlen)
{
    if (!text || !*text) {
        snprintf(err, errlen, "--extend needs a value: full, octave, none or a key range LO:HI");
        return BB_EINVAL;
    }
    if (strcmp(text, "full") == 0) {
        cfg->extend = DSP_EXTEND_FULL;
        return 0;
    }
    if (strcmp(text, "octave") == 0) {
        cfg->extend = DSP_EXTEND_OCTAVE;
        return 0;
    }
    if (strcmp(text, "none") == 0) {
        cfg->extend = DSP_EXTEND_NONE;
        return 0;
    }
    int lo, hi;
    if (!strchr(text, ':') || bb_note_range_parse(text, conv, &lo, &hi)) {
        snprintf(err, errlen,
                 "--extend %s: use full, octave, none, or the keyboard's ends as LO:HI (MIDI "
                 "numbers or note names, e.g. 21:108)",
                 text);
        return BB_EINVAL;
    }
    cfg->extend = DSP_EXTEND_KEYS;
    cfg->key_lo = lo;
    cfg->key_hi = hi;
    return 0;
}

void dsp_map_extend_name(const dsp_map_config_t *cfg, char *out, size_t len)
{
    switch (cfg->extend) {
    case DSP_EXTEND_OCTAVE:
        snprintf(out, len, "octave");
        break;
    case DSP_EXTEND_NONE:
        snprintf(out, len, "none");
        break;
    case DSP_EXTEND_KEYS:
        snprintf(out, len, "%d:%d", cfg->key_lo, cfg->key_hi);
        break;
    default:
        snprintf(out, len, "full");
    }
}
