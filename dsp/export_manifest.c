/*
 * export_manifest.c — the instrument record and the library's manifest.json.
 *
 * Each exported instrument leaves a record in its folder (.batcherbird-instrument.json):
 * every sample with its mapping, loop, gain, QC metrics and verdict, a waveform thumbnail,
 * the takes that failed QC, and every file with its size and CRC-32. Instruments of a
 * library are exported one at a time (often by different batches), so the library files
 * are rebuilt from all records after each export: report.html (export_report.c), then
 * manifest.json = the records without thumbnails plus one "files" list of the library
 * (report.html included; the manifest cannot list itself).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_json.h"
#include "export.h"
#include "export_library.h"

#define S_PATH_MAX         1400
#define S_MANIFEST_FORMAT  "batcherbird-library"
#define S_MANIFEST_VERSION 1

static const char *s_verdict(int v)
{
    return v == DSP_FAIL ? "fail" : v == DSP_WARN ? "warn" : "pass";
}

/* Metrics rounded to what a person reads (and what keeps the manifest small). */
static void s_kv_num(bb_jw_t *w, const char *key, double v, int decimals)
{
    double scale = pow(10.0, decimals);
    bb_jw_kv_double(w, key, isfinite(v) ? round(v * scale) / scale : v);
}

static void s_iso_now(char *out, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void s_qc(bb_jw_t *w, const dsp_analysis_t *a)
{
    bb_jw_key(w, "qc");
    bb_jw_object_begin(w);
    bb_jw_kv_string(w, "verdict", s_verdict(a->verdict));
    bb_jw_kv_string(w, "reasons", a->reasons);
    s_kv_num(w, "peak_db", a->peak_db, 2);
    s_kv_num(w, "rms_db", a->rms_db, 2);
    s_kv_num(w, "snr_db", a->snr_db, 1);
    s_kv_num(w, "noise_db", a->noise_db, 1);
    s_kv_num(w, "pitch_hz", a->pitch_hz, 3);
    s_kv_num(w, "pitch_cents", a->pitch_cents, 2);
    s_kv_num(w, "pitch_confidence", a->pitch_confidence, 3);
    bb_jw_kv_int(w, "clip_runs", a->clip_runs);
    bb_jw_kv_int(w, "dropouts", a->dropouts);
    bb_jw_kv_uint(w, "xruns", a->xruns);
    s_kv_num(w, "duration_s", a->duration_s, 4);
    bb_jw_kv_int(w, "onset", a->onset);
    bb_jw_kv_int(w, "release_end", a->release_end);
    bb_jw_kv_int(w, "cut_start", a->cut_start);
    bb_jw_kv_int(w, "cut_end", a->cut_end);
    bb_jw_kv_int(w, "fade_in", a->fade_in);
    bb_jw_kv_int(w, "fade_out", a->fade_out);
    if (a->has_loop)
        s_kv_num(w, "loop_score", a->loop_score, 4);
    bb_jw_key(w, "dc");
    bb_jw_array_begin(w);
    for (int c = 0; c < a->channels && c < DSP_MAX_CHANNELS; c++)
        bb_jw_double(w, round(a->dc[c] * 1e6) / 1e6);
    bb_jw_array_end(w);
    bb_jw_object_end(w);
}

static void s_file(bb_jw_t *w, const char *path, uint64_t bytes, uint32_t crc)
{
    bb_jw_object_begin(w);
    bb_jw_kv_string(w, "path", path);
    bb_jw_kv_uint(w, "bytes", bytes);
    bb_jw_kv_uint(w, "crc32", crc);
    bb_jw_object_end(w);
}

static void s_sample(bb_jw_t *w, const dsp_export_inst_t *inst, const dsp_export_sample_t *s)
{
    char path[S_PATH_MAX], name[BB_NOTE_NAME_MAX];
    const dsp_map_entry_t *e = &s->map;
    snprintf(path, sizeof path, "%s/%s", inst->safe, s->file);
    bb_note_name(e->note, inst->notes, name, sizeof name);
    bb_jw_object_begin(w);
    bb_jw_kv_string(w, "file", path);
    bb_jw_kv_string(w, "take_id", s->take_id);
    bb_jw_kv_int(w, "note", e->note);
    bb_jw_kv_string(w, "note_name", name);
    bb_jw_kv_int(w, "velocity", e->velocity);
    bb_jw_kv_int(w, "rr", e->rr);
    bb_jw_kv_bool(w, "release", e->release);
    bb_jw_kv_int(w, "pitch_keycenter", e->note);
    bb_jw_kv_int(w, "key_lo", e->lokey);
    bb_jw_kv_int(w, "key_hi", e->hikey);
    bb_jw_kv_int(w, "vel_lo", e->lovel);
    bb_jw_kv_int(w, "vel_hi", e->hivel);
    bb_jw_kv_int(w, "seq_position", e->seq_position);
    bb_jw_kv_int(w, "seq_length", e->seq_length);
    /* the velocity curve: [velocity, gain dB] points (export_map.h) */
    bb_jw_key(w, "velocity_curve");
    bb_jw_array_begin(w);
    for (int i = 0; i < e->n_points; i++) {
        bb_jw_array_begin(w);
        bb_jw_int(w, e->points[i].velocity);
        bb_jw_double(w, round(e->points[i].gain_db * 100.0) / 100.0);
        bb_jw_array_end(w);
    }
    bb_jw_array_end(w);
    bb_jw_kv_int(w, "sample_rate", s->rate);
    bb_jw_kv_int(w, "channels", s->channels);
    bb_jw_kv_int(w, "frames", s->frames);
    s_kv_num(w, "duration_s", s->rate > 0 ? (double)s->frames / s->rate : 0, 4);
    s_kv_num(w, "gain_db", s->gain_db, 2);
    s_kv_num(w, "peak_db", s->peak_db, 2);
    s_kv_num(w, "tune_cents", s->tune_cents, 1);
    bb_jw_kv_int(w, "smpl_unity_note", s->smpl_unity);
    bb_jw_kv_int(w, "time_reference", s->time_reference);
    bb_jw_key(w, "loop");
    if (s->has_loop) {
        bb_jw_object_begin(w);
        bb_jw_kv_int(w, "start", s->loop_start);
        bb_jw_kv_int(w, "end", s->loop_end); /* inclusive */
        bb_jw_kv_int(w, "crossfade", s->loop_crossfade);
        bb_jw_object_end(w);
    } else {
        bb_jw_null(w);
    }
    bb_jw_kv_uint(w, "bytes", s->bytes);
    bb_jw_kv_uint(w, "crc32", s->crc32);
    s_qc(w, &s->qc);
    bb_jw_key(w, "thumb");
    bb_jw_object_begin(w);
    bb_jw_key(w, "min");
    bb_jw_array_begin(w);
    for (int j = 0; j < DSP_THUMB_COLS; j++)
        bb_jw_int(w, s->thumb_min[j]);
    bb_jw_array_end(w);
    bb_jw_key(w, "max");
    bb_jw_array_begin(w);
    for (int j = 0; j < DSP_THUMB_COLS; j++)
        bb_jw_int(w, s->thumb_max[j]);
    bb_jw_array_end(w);
    bb_jw_object_end(w);
    bb_jw_object_end(w);
}

int dsp_export_write_record(const char *path, const dsp_export_inst_t *inst, char *err,
                            size_t errlen)
{
    bb_jw_t *w = bb_jw_new(false);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    char p[S_PATH_MAX], when[32];
    s_iso_now(when, sizeof when);
    bb_jw_object_begin(w);
    bb_jw_kv_string(w, "name", inst->name);
    bb_jw_kv_string(w, "folder", inst->safe);
    snprintf(p, sizeof p, "%s/%s.sfz", inst->safe, inst->safe);
    bb_jw_kv_string(w, "sfz", p);
    snprintf(p, sizeof p, "%s/%s.dspreset", inst->safe, inst->safe);
    bb_jw_kv_string(w, "dspreset", p);
    bb_jw_kv_string(w, "exported", when);
    bb_jw_kv_string(w, "format", inst->flac ? "flac" : "wav");
    bb_jw_kv_int(w, "bit_depth", inst->bit_depth);
    s_kv_num(w, "gain_db", inst->gain_db, 2);
    bb_jw_kv_string(w, "note_names", inst->notes == BB_NOTES_C4_IS_60 ? "C4=60" : "C3=60");
    bb_jw_kv_bool(w, "tune", inst->tune);
    bb_jw_kv_string(w, "loop_mode", inst->loop_sustain ? "loop_sustain" : "loop_continuous");
    s_kv_num(w, "amp_release_s", inst->amp_release_s, 3);
    char extend[16];
    dsp_map_extend_name(&inst->map, extend, sizeof extend);
    bb_jw_kv_string(w, "map", inst->map.mode == DSP_MAP_UPWARD ? "upward" : "centred");
    bb_jw_kv_string(w, "extend", extend);
    bb_jw_key(w, "samples");
    bb_jw_array_begin(w);
    for (size_t i = 0; i < inst->n_samples; i++)
        s_sample(w, inst, &inst->samples[i]);
    bb_jw_array_end(w);
    bb_jw_key(w, "skipped");
    bb_jw_array_begin(w);
    for (size_t i = 0; i < inst->n_skipped; i++) {
        const dsp_export_skip_t *k = &inst->skipped[i];
        char name[BB_NOTE_NAME_MAX];
        bb_note_name(k->note, inst->notes, name, sizeof name);
        bb_jw_object_begin(w);
        bb_jw_kv_string(w, "take_id", k->take_id);
        bb_jw_kv_int(w, "note", k->note);
        bb_jw_kv_string(w, "note_name", name);
        bb_jw_kv_int(w, "velocity", k->velocity);
        bb_jw_kv_int(w, "rr", k->rr);
        bb_jw_kv_bool(w, "release", k->release);
        s_qc(w, &k->qc);
        bb_jw_object_end(w);
    }
    bb_jw_array_end(w);
    bb_jw_key(w, "files");
    bb_jw_array_begin(w);
    snprintf(p, sizeof p, "%s/%s.sfz", inst->safe, inst->safe);
    s_file(w, p, inst->sfz_bytes, inst->sfz_crc32);
    snprintf(p, sizeof p, "%s/%s.dspreset", inst->safe, inst->safe);
    s_file(w, p, inst->dspreset_bytes, inst->dspreset_crc32);
    for (size_t i = 0; i < inst->n_samples; i++) {
        snprintf(p, sizeof p, "%s/%s", inst->safe, inst->samples[i].file);
        s_file(w, p, inst->samples[i].bytes, inst->samples[i].crc32);
    }
    bb_jw_array_end(w);
    bb_jw_object_end(w);
    int rc = bb_jw_error(w);
    if (!rc) {
        size_t len;
        const char *text = bb_jw_text(w, &len);
        rc = bb_write_file_atomic(path, text, len);
    }
    if (rc)
        snprintf(err, errlen, "cannot write %s: %s", path, bb_strerror(rc));
    bb_jw_destroy(&w);
    return rc;
}

/* ---- the library ---- */

/* Copies a parsed JSON value into the writer, leaving out members named `skip`. */
static void s_copy(bb_jw_t *w, const bb_json_t *v, const char *skip)
{
    switch (bb_json_type(v)) {
    case BB_JSON_OBJECT:
        bb_jw_object_begin(w);
        for (size_t i = 0; i < bb_json_len(v); i++) {
            const char *key = bb_json_key_at(v, i);
            if (skip && strcmp(key, skip) == 0)
                continue;
            bb_jw_key(w, key);
            s_copy(w, bb_json_at(v, i), skip);
        }
        bb_jw_object_end(w);
        break;
    case BB_JSON_ARRAY:
        bb_jw_array_begin(w);
        for (size_t i = 0; i < bb_json_len(v); i++)
            s_copy(w, bb_json_at(v, i), skip);
        bb_jw_array_end(w);
        break;
    case BB_JSON_STRING:
        bb_jw_string(w, bb_json_string(v));
        break;
    case BB_JSON_NUMBER: {
        double d = bb_json_number(v);
        if (d == floor(d) && fabs(d) < 9.0e15)
            bb_jw_int(w, (int64_t)d);
        else
            bb_jw_double(w, d);
        break;
    }
    case BB_JSON_BOOL:
        bb_jw_bool(w, bb_json_bool(v));
        break;
    default:
        bb_jw_null(w);
    }
}

static int s_cmp_folder(const void *a, const void *b)
{
    const char *fa = "", *fb = "";
    bb_json_get_string(*(bb_json_t *const *)a, "folder", &fa);
    bb_json_get_string(*(bb_json_t *const *)b, "folder", &fb);
    return strcmp(fa, fb);
}

/* Parses every instrument record under root. *docs is malloc'd. */
static int s_load_records(const char *root, bb_json_t ***docs_out, size_t *n_out, char *err,
                          size_t errlen)
{
    *docs_out = NULL;
    *n_out = 0;
    DIR *d = opendir(root);
    if (!d) {
        snprintf(err, errlen, "cannot read the library folder %s", root);
        return BB_EIO;
    }
    bb_json_t **docs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *ent;
    while (!rc && (ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue; /* ., .., staging and old folders */
        char path[S_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/%s", root, ent->d_name, DSP_EXPORT_INST_RECORD);
        char *text = NULL;
        size_t len = 0;
        if (bb_read_file(path, &text, &len))
            continue; /* not an instrument folder */
        bb_json_t *doc = NULL;
        char perr[128];
        const char *folder = NULL;
        if (bb_json_parse(text, len, &doc, perr, sizeof perr) ||
            bb_json_get_string(doc, "folder", &folder) || strcmp(folder, ent->d_name) != 0) {
            snprintf(err, errlen, "%s is damaged or misplaced: export that instrument again", path);
            rc = BB_EINVAL;
            bb_json_free(&doc);
        } else if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            bb_json_t **nd = realloc(docs, nc * sizeof *nd);
            if (!nd) {
                rc = BB_ENOMEM;
                bb_json_free(&doc);
            } else {
                docs = nd;
                cap = nc;
            }
        }
        if (!rc)
            docs[n++] = doc;
        free(text);
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            bb_json_free(&docs[i]);
        free(docs);
        return rc;
    }
    if (n > 1)
        qsort(docs, n, sizeof *docs, s_cmp_folder);
    *docs_out = docs;
    *n_out = n;
    return 0;
}

int dsp_export_library_rebuild(const char *root, char *err, size_t errlen)
{
    bb_json_t **docs = NULL;
    size_t n = 0;
    int rc = s_load_records(root, &docs, &n, err, errlen);
    if (rc)
        return rc;
    char report[S_PATH_MAX], manifest[S_PATH_MAX], when[32];
    snprintf(report, sizeof report, "%s/%s", root, DSP_EXPORT_REPORT);
    snprintf(manifest, sizeof manifest, "%s/%s", root, DSP_EXPORT_MANIFEST);
    uint32_t report_crc = 0;
    uint64_t report_bytes = 0;
    rc = dsp_export_write_report(report, (const bb_json_t *const *)docs, n, err, errlen);
    if (!rc)
        rc = dsp_file_crc32(report, &report_crc, &report_bytes, err, errlen);
    bb_jw_t *w = rc ? NULL : bb_jw_new(true);
    if (!rc && !w) {
        snprintf(err, errlen, "out of memory");
        rc = BB_ENOMEM;
    }
    if (!rc) {
        s_iso_now(when, sizeof when);
        bb_jw_object_begin(w);
        bb_jw_kv_string(w, "format", S_MANIFEST_FORMAT);
        bb_jw_kv_int(w, "version", S_MANIFEST_VERSION);
        bb_jw_kv_string(w, "generator", "Batcherbird");
        bb_jw_kv_string(w, "updated", when);
        bb_jw_key(w, "instruments");
        bb_jw_array_begin(w);
        for (size_t i = 0; i < n; i++)
            s_copy(w, docs[i], "thumb");
        bb_jw_array_end(w);
        bb_jw_key(w, "files");
        bb_jw_array_begin(w);
        for (size_t i = 0; i < n; i++) {
            const bb_json_t *files = bb_json_get(docs[i], "files");
            for (size_t k = 0; k < bb_json_len(files); k++)
                s_copy(w, bb_json_at(files, k), NULL);
        }
        s_file(w, DSP_EXPORT_REPORT, report_bytes, report_crc);
        bb_jw_array_end(w);
        bb_jw_object_end(w);
        rc = bb_jw_error(w);
        if (!rc) {
            size_t len;
            const char *text = bb_jw_text(w, &len);
            rc = bb_write_file_atomic(manifest, text, len);
        }
        if (rc)
            snprintf(err, errlen, "cannot write %s: %s", manifest, bb_strerror(rc));
    }
    bb_jw_destroy(&w);
    for (size_t i = 0; i < n; i++)
        bb_json_free(&docs[i]);
    free(docs);
    return rc;
}
