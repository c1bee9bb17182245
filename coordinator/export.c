/*
 * export.c — per-instrument export: gains, cutting, fades, files, instrument mapping.
 *
 * Gains are worked out from the analysed peaks before any audio is read, so each raw take
 * is read once. Fades are equal-power (sine/cosine) so a cut through a sounding tail
 * fades without a click or a dip.
 */
#include "export.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "take_raw.h"

void coord_export_sample_name(const char *safe_instrument, int note, int velocity, int rr,
                              bool release, bb_note_convention_t conv, char *out, size_t len)
{
    snprintf(out, len, "%s_%s%d_%03d_v%03d_rr%d%s", safe_instrument, bb_note_pitch_class(note),
             bb_note_octave(note, conv), note, velocity, rr, release ? "_rel" : "");
}

/* Gain in dB for take i under the configured normalisation. */
static double s_gain_db(const coord_export_config_t *cfg, const coord_export_take_t *t, size_t n,
                        size_t i)
{
    double peak = -INFINITY;
    for (size_t j = 0; j < n; j++) {
        if (t[j].analysis.verdict == COORD_FAIL)
            continue;
        bool same = false;
        switch (cfg->normalise) {
        case COORD_NORM_INSTRUMENT:
            same = true;
            break;
        case COORD_NORM_VELOCITY:
            same = t[j].velocity == t[i].velocity;
            break;
        case COORD_NORM_SAMPLE:
            same = j == i;
            break;
        case COORD_NORM_NONE:
            return 0.0;
        }
        if (same && t[j].analysis.peak_db > peak)
            peak = t[j].analysis.peak_db;
    }
    if (!isfinite(peak) || peak < -120)
        return 0.0;
    return cfg->peak_target_db - peak;
}

static void s_apply(float *x, int64_t frames, int ch, int64_t fade_in, int64_t fade_out,
                    double gain)
{
    for (int64_t i = 0; i < frames; i++) {
        double g = gain;
        if (i < fade_in)
            g *= sin(M_PI / 2 * (double)i / (double)fade_in);
        int64_t from_end = frames - 1 - i;
        if (from_end < fade_out)
            g *= sin(M_PI / 2 * (double)from_end / (double)fade_out);
        for (int c = 0; c < ch; c++)
            x[i * ch + c] = (float)(x[i * ch + c] * g);
    }
}

int coord_export_instrument(const coord_export_config_t *cfg, const char *instrument,
                            coord_export_take_t *takes, size_t n, coord_export_result_t *res,
                            char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    char safe[BB_SAFE_NAME_MAX + 8];
    bb_safe_name(instrument, safe, sizeof safe);
    snprintf(res->dir, sizeof res->dir, "%s/%s", cfg->out_dir, safe);
    char samples_dir[1100];
    snprintf(samples_dir, sizeof samples_dir, "%s/samples", res->dir);
    int rc = bb_mkdir_p(samples_dir);
    if (rc) {
        snprintf(err, errlen, "cannot create %s: %s", samples_dir, bb_strerror(rc));
        return rc;
    }

    coord_map_entry_t *entries = calloc(n ? n : 1, sizeof *entries);
    char **files = calloc(n ? n : 1, sizeof *files);
    if (!entries || !files) {
        free(entries);
        free(files);
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    size_t m = 0;
    const char *ext = cfg->flac ? "flac" : "wav";
    rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        coord_export_take_t *t = &takes[i];
        if (t->analysis.verdict == COORD_FAIL) {
            res->skipped++;
            continue;
        }
        float *audio = NULL;
        int64_t frames;
        int ch, rate;
        rc = coord_raw_read_audio(t->path, &audio, &frames, &ch, &rate, err, errlen);
        if (rc)
            break;
        const coord_analysis_t *a = &t->analysis;
        int64_t start = a->cut_start < 0 ? 0 : a->cut_start;
        int64_t end = a->cut_end > frames ? frames : a->cut_end;
        if (end <= start) {
            free(audio);
            res->skipped++;
            continue;
        }
        float *cut = audio + start * ch;
        int64_t len = end - start;
        s_apply(cut, len, ch, a->fade_in, a->fade_out,
                pow(10.0, s_gain_db(cfg, takes, n, i) / 20.0));
        char name[256], rel[300], path[1500];
        coord_export_sample_name(safe, t->note, t->velocity, t->rr, t->release, cfg->notes, name,
                                 sizeof name);
        snprintf(rel, sizeof rel, "samples/%s.%s", name, ext);
        snprintf(path, sizeof path, "%s/%s", res->dir, rel);
        rc = coord_export_write_audio(path, cut, len, ch, rate, cfg->bit_depth, cfg->flac, err,
                                      errlen);
        free(audio);
        if (rc)
            break;
        entries[m] = (coord_map_entry_t){
            .note = t->note, .velocity = t->velocity, .rr = t->rr, .release = t->release};
        files[m] = strdup(rel);
        if (!files[m]) {
            rc = BB_ENOMEM;
            break;
        }
        m++;
    }
    if (!rc) {
        res->files = (int)m;
        if (cfg->normalise == COORD_NORM_INSTRUMENT && n > 0)
            res->gain_db = s_gain_db(cfg, takes, n, 0);
        coord_map_build(entries, m, cfg->map_mode, cfg->edge_low, cfg->edge_high);
        snprintf(res->sfz, sizeof res->sfz, "%s/%s.sfz", res->dir, safe);
        rc = coord_export_write_sfz(res->sfz, instrument, entries, (const char *const *)files, m,
                                    err, errlen);
    }
    for (size_t i = 0; i < m; i++)
        free(files[i]);
    free(files);
    free(entries);
    return rc;
}
