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
#define S_MANIFEST_FORMAT  DSP_EXPORT_MANIFEST_FORMAT
#define S_MANIFEST_VERSION 1

static const char *s_verdict(int v)
{
    return v == DSP_FAIL ? "fail" : v == DSP_WARN ? "warn" : "pass";
}

/* A metric rounded to what a person reads (and what keeps the manifest small); JSON null
 * when not finite. */
static json_t *s_num(double v, int decimals)
{
    double scale = pow(10.0, decimals);
    return bb_json_real(isfinite(v) ? round(v * scale) / scale : v);
}

static void s_iso_now(char *out, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *s_qc(const dsp_analysis_t *a)
{
    json_t *dc = json_array();
    for (int c = 0; dc && c < a->channels && c < DSP_MAX_CHANNELS; c++)
        json_array_append_new(dc, bb_json_real(round(a->dc[c] * 1e6) / 1e6));
    json_t *qc = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:I, s:o, s:I, s:I, s:I, s:I,"
        " s:I, s:I}",
        "verdict", s_verdict(a->verdict), "reasons", a->reasons, "peak_db", s_num(a->peak_db, 2),
        "rms_db", s_num(a->rms_db, 2), "snr_db", s_num(a->snr_db, 1), "noise_db",
        s_num(a->noise_db, 1), "pitch_hz", s_num(a->pitch_hz, 3), "pitch_cents",
        s_num(a->pitch_cents, 2), "pitch_confidence", s_num(a->pitch_confidence, 3), "clip_runs",
        a->clip_runs, "dropouts", a->dropouts, "xruns", (json_int_t)a->xruns, "duration_s",
        s_num(a->duration_s, 4), "onset", (json_int_t)a->onset, "release_end",
        (json_int_t)a->release_end, "cut_start", (json_int_t)a->cut_start, "cut_end",
        (json_int_t)a->cut_end, "fade_in", (json_int_t)a->fade_in, "fade_out",
        (json_int_t)a->fade_out);
    if (qc && (json_object_set_new(qc, "tuning_cents", s_num(a->tuning_cents, 2)) ||
               ((a->has_loop || a->loop_refused) &&
                (json_object_set_new(qc, "loop_score", s_num(a->loop_score, 4)) ||
                 json_object_set_new(qc, "loop_change_db", s_num(a->loop_change_db, 2)) ||
                 json_object_set_new(qc, "loop_refused", json_boolean(a->loop_refused)))))) {
        json_decref(qc);
        qc = NULL;
    }
    if (!qc || json_object_set_new(qc, "dc", dc)) {
        json_decref(qc);
        return NULL;
    }
    return qc;
}

/* Appends v (stolen) to arr; false when v is NULL (a failed pack) or out of memory. */
static bool s_append(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}

static json_t *s_file(const char *path, uint64_t bytes, uint32_t crc)
{
    return json_pack("{s:s, s:I, s:I}", "path", path, "bytes", (json_int_t)bytes, "crc32",
                     (json_int_t)crc);
}

/* The slot's other takes (retakes, replaced attempts). */
static json_t *s_retakes(const dsp_export_retake_t *r, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (!s_append(arr,
                      json_pack("{s:s, s:i, s:s, s:s}", "take_id", r[i].take_id ? r[i].take_id : "",
                                "attempt", r[i].attempt, "verdict", s_verdict(r[i].verdict),
                                "reasons", r[i].reasons ? r[i].reasons : ""))) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

static json_t *s_thumb(const int8_t *lo, const int8_t *hi)
{
    json_t *thumb_min = json_array(), *thumb_max = json_array();
    for (int j = 0; thumb_min && thumb_max && j < DSP_THUMB_COLS; j++) {
        json_array_append_new(thumb_min, json_integer(lo[j]));
        json_array_append_new(thumb_max, json_integer(hi[j]));
    }
    return json_pack("{s:o, s:o}", "min", thumb_min, "max", thumb_max);
}

/* attempt and retakes onto an entry (o); false when out of memory */
static bool s_attempts(json_t *o, int attempt, const dsp_export_retake_t *r, size_t n)
{
    return o && json_object_set_new(o, "attempt", json_integer(attempt)) == 0 &&
           json_object_set_new(o, "retakes", s_retakes(r, n)) == 0;
}

static json_t *s_sample(const dsp_export_inst_t *inst, const dsp_export_sample_t *s)
{
    char path[S_PATH_MAX], name[BB_NOTE_NAME_MAX];
    const dsp_map_entry_t *e = &s->map;
    snprintf(path, sizeof path, "%s/%s", inst->safe, s->file);
    bb_note_name(e->note, inst->notes, name, sizeof name);
    /* the velocity curve: [velocity, gain dB] points (export_map.h) */
    json_t *curve = json_array();
    for (int i = 0; curve && i < e->n_points; i++)
        s_append(curve, json_pack("[i, o]", e->points[i].velocity,
                                  bb_json_real(round(e->points[i].gain_db * 100.0) / 100.0)));
    json_t *loop = s->has_loop ? json_pack("{s:I, s:I, s:I}", "start", (json_int_t)s->loop_start,
                                           "end", (json_int_t)s->loop_end, /* inclusive */
                                           "crossfade", (json_int_t)s->loop_crossfade)
                               : json_null();
    /* "o" steals its reference, also when the pack fails */
    json_t *o = json_pack(
        "{s:s, s:s, s:i, s:s, s:i, s:i, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:i, s:i,"
        " s:I, s:o, s:o, s:o, s:o, s:i, s:I, s:I, s:o, s:I, s:I, s:o, s:o}",
        "file", path, "take_id", s->take_id, "note", e->note, "note_name", name, "velocity",
        e->velocity, "rr", e->rr, "release", (int)e->release, "pitch_keycenter", e->note, "key_lo",
        e->lokey, "key_hi", e->hikey, "vel_lo", e->lovel, "vel_hi", e->hivel, "seq_position",
        e->seq_position, "seq_length", e->seq_length, "velocity_curve", curve, "sample_rate",
        s->rate, "channels", s->channels, "frames", (json_int_t)s->frames, "duration_s",
        s_num(s->rate > 0 ? (double)s->frames / s->rate : 0, 4), "gain_db", s_num(s->gain_db, 2),
        "peak_db", s_num(s->peak_db, 2), "tune_cents", s_num(s->tune_cents, 1), "smpl_unity_note",
        s->smpl_unity, "time_reference", (json_int_t)s->time_reference, /* bext */
        "stream_frame", (json_int_t)s->stream_frame, "loop", loop, "bytes", (json_int_t)s->bytes,
        "crc32", (json_int_t)s->crc32, "qc", s_qc(&s->qc), "thumb",
        s_thumb(s->thumb_min, s->thumb_max));
    if (!s_attempts(o, s->attempt, s->retakes, s->n_retakes) ||
        (e->release && json_object_set_new(o, "release_sample",
                                           json_pack("{s:o, s:o, s:o, s:o}", "keyup_db",
                                                     s_num(s->release_keyup_db, 2), "start_db",
                                                     s_num(s->release_start_db, 2), "hold_s",
                                                     s_num(s->release_hold_s, 3), "decay_db_s",
                                                     s_num(s->release_decay_db_s, 2))) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *s_skipped(const dsp_export_inst_t *inst, const dsp_export_skip_t *k)
{
    char name[BB_NOTE_NAME_MAX];
    bb_note_name(k->note, inst->notes, name, sizeof name);
    json_t *o = json_pack("{s:s, s:i, s:s, s:i, s:i, s:b, s:o}", "take_id", k->take_id, "note",
                          k->note, "note_name", name, "velocity", k->velocity, "rr", k->rr,
                          "release", (int)k->release, "qc", s_qc(&k->qc));
    if (!s_attempts(o, k->attempt, k->retakes, k->n_retakes) ||
        (k->has_thumb &&
         json_object_set_new(o, "thumb", s_thumb(k->thumb_min, k->thumb_max)) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int dsp_export_write_record(const char *path, const dsp_export_inst_t *inst, char *err,
                            size_t errlen)
{
    char p[S_PATH_MAX], when[32];
    s_iso_now(when, sizeof when);
    json_t *samples = json_array(), *skipped = json_array(), *files = json_array();
    /* each instrument file by kind: its path, or null when not written; and what a user
     * should know about it */
    json_t *kinds = json_object(), *notes = json_object();
    bool ok = samples && skipped && files && kinds && notes;
    for (size_t i = 0; ok && i < inst->n_samples; i++)
        ok = s_append(samples, s_sample(inst, &inst->samples[i]));
    for (size_t i = 0; ok && i < inst->n_skipped; i++)
        ok = s_append(skipped, s_skipped(inst, &inst->skipped[i]));
    for (int k = 0; ok && k < DSP_FILE_KINDS; k++) {
        const char *ext = dsp_export_format_ext((dsp_inst_file_kind_t)k);
        snprintf(p, sizeof p, "%s/%s", inst->safe, inst->files[k].name);
        if (inst->files[k].written)
            ok = s_append(files, s_file(p, inst->files[k].bytes, inst->files[k].crc32)) &&
                 json_object_set_new(kinds, ext, json_string(p)) == 0;
        else
            ok = json_object_set_new(kinds, ext, json_null()) == 0;
        if (ok && inst->files[k].note[0])
            ok = json_object_set_new(notes, ext, json_string(inst->files[k].note)) == 0;
    }
    for (size_t i = 0; ok && i < inst->n_samples; i++) {
        snprintf(p, sizeof p, "%s/%s", inst->safe, inst->samples[i].file);
        ok = s_append(files, s_file(p, inst->samples[i].bytes, inst->samples[i].crc32));
    }
    char extend[16];
    dsp_map_extend_name(&inst->map, extend, sizeof extend);
    json_t *doc = NULL;
    if (ok) {
        doc = json_pack(
            "{s:s, s:s, s:s, s:s, s:i, s:o, s:s, s:b, s:s, s:o, s:s, s:s, s:b, s:O, s:O, s:O}",
            "name", inst->name, "folder", inst->safe, "exported", when, "format",
            inst->flac ? "flac" : "wav", "bit_depth", inst->bit_depth, "gain_db",
            s_num(inst->gain_db, 2), "note_names",
            inst->notes == BB_NOTES_C4_IS_60 ? "C4=60" : "C3=60", "tune", (int)inst->tune,
            "loop_mode", inst->loop_sustain ? "loop_sustain" : "loop_continuous", "amp_release_s",
            s_num(inst->amp_release_s, 3), "map",
            inst->map.mode == DSP_MAP_UPWARD ? "upward" : "centred", "extend", extend, "unpitched",
            (int)inst->map.unpitched, "samples", samples, "skipped", skipped, "files", files);
    }
    /* "sfz", "dspreset", "sf2", "multisample" at the top level, as before for the first two */
    if (doc && json_object_update(doc, kinds) == 0 && json_object_size(notes) > 0)
        json_object_set(doc, "format_notes", notes);
    if (doc && inst->failed && json_object_set_new(doc, "failed", json_string(inst->failed))) {
        json_decref(doc);
        doc = NULL;
    }
    json_decref(kinds);
    json_decref(notes);
    json_decref(samples);
    json_decref(skipped);
    json_decref(files);
    int rc = doc ? bb_json_write_file(path, doc, BB_JSON_COMPACT_READ) : BB_EINVAL;
    if (rc == BB_EINVAL)
        snprintf(err, errlen, "cannot write %s: a name or take id is not valid UTF-8", path);
    else if (rc)
        snprintf(err, errlen, "cannot write %s: %s", path, bb_strerror(rc));
    json_decref(doc);
    return rc;
}

/* ---- the library ---- */

/* The record as the manifest lists it: a copy without the samples' thumbnails. NULL when
 * out of memory. */
static json_t *s_manifest_entry(const json_t *record)
{
    json_t *copy = json_deep_copy(record);
    size_t i;
    json_t *sample;
    json_array_foreach(json_object_get(copy, "samples"), i, sample)
        json_object_del(sample, "thumb");
    json_array_foreach(json_object_get(copy, "skipped"), i, sample)
        json_object_del(sample, "thumb");
    return copy;
}

static int s_cmp_folder(const void *a, const void *b)
{
    const char *fa = "", *fb = "";
    bb_json_get_string(*(json_t *const *)a, "folder", &fa);
    bb_json_get_string(*(json_t *const *)b, "folder", &fb);
    return strcmp(fa, fb);
}

/* Appends doc (stolen) to the growing array *docs (*n used of *cap). Returns 0, or
 * BB_ENOMEM with doc released. */
static int s_push_doc(json_t ***docs, size_t *n, size_t *cap, json_t *doc)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        json_t **nd = realloc(*docs, nc * sizeof *nd);
        if (!nd) {
            json_decref(doc);
            return BB_ENOMEM;
        }
        *docs = nd;
        *cap = nc;
    }
    (*docs)[(*n)++] = doc;
    return 0;
}

/* Parses the instrument records under root (of the folders `member` accepts). *docs is
 * malloc'd. */
static int s_load_records(const char *root, bool (*member)(void *, const char *), void *member_arg,
                          json_t ***docs_out, size_t *n_out, char *err, size_t errlen)
{
    *docs_out = NULL;
    *n_out = 0;
    DIR *d = opendir(root);
    if (!d) {
        snprintf(err, errlen, "cannot read the library folder %s", root);
        return BB_EIO;
    }
    json_t **docs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *ent;
    while (!rc && (ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue; /* ., .., staging and old folders */
        if (member && !member(member_arg, ent->d_name))
            continue; /* a folder this export's owner did not write */
        char path[S_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/%s", root, ent->d_name, DSP_EXPORT_INST_RECORD);
        char *text = NULL;
        size_t len = 0;
        if (bb_read_file(path, &text, &len))
            continue; /* not an instrument folder */
        json_t *doc = NULL;
        char perr[128];
        const char *folder = NULL;
        if (bb_json_load(&doc, text, len, perr, sizeof perr) ||
            bb_json_get_string(doc, "folder", &folder) || strcmp(folder, ent->d_name) != 0) {
            snprintf(err, errlen, "%s is damaged or misplaced: export that instrument again", path);
            rc = BB_EINVAL;
            json_decref(doc);
        } else {
            rc = s_push_doc(&docs, &n, &cap, doc);
        }
        free(text);
    }
    closedir(d);
    /* instruments whose takes all failed: their records in DSP_EXPORT_FAILED_DIR */
    char failed_dir[S_PATH_MAX];
    snprintf(failed_dir, sizeof failed_dir, "%s/%s", root, DSP_EXPORT_FAILED_DIR);
    d = rc ? NULL : opendir(failed_dir);
    while (d && !rc && (ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        if (ent->d_name[0] == '.' || len <= 5 || strcmp(ent->d_name + len - 5, ".json") != 0)
            continue;
        char folder_of[256];
        snprintf(folder_of, sizeof folder_of, "%.*s", (int)(len - 5), ent->d_name);
        if (member && !member(member_arg, folder_of))
            continue;
        char path[S_PATH_MAX + 264]; /* the folder's path and a file name */
        snprintf(path, sizeof path, "%s/%s", failed_dir, ent->d_name);
        char *text = NULL;
        size_t tlen = 0;
        if (bb_read_file(path, &text, &tlen))
            continue;
        json_t *doc = NULL;
        char perr[128];
        const char *folder = NULL;
        if (bb_json_load(&doc, text, tlen, perr, sizeof perr) ||
            bb_json_get_string(doc, "folder", &folder) || strcmp(folder, folder_of) != 0) {
            json_decref(doc); /* not a record of ours: the next failed export replaces it */
        } else {
            rc = s_push_doc(&docs, &n, &cap, doc);
        }
        free(text);
    }
    if (d)
        closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            json_decref(docs[i]);
        free(docs);
        return rc;
    }
    if (n > 1)
        qsort(docs, n, sizeof *docs, s_cmp_folder);
    *docs_out = docs;
    *n_out = n;
    return 0;
}

int dsp_export_library_rebuild(const char *root, bool (*member)(void *arg, const char *folder),
                               void *member_arg, char *err, size_t errlen)
{
    int rc = dsp_library_check_out(root, NULL, 0, false, err, errlen);
    if (rc)
        return rc;
    json_t **docs = NULL;
    size_t n = 0;
    rc = s_load_records(root, member, member_arg, &docs, &n, err, errlen);
    if (rc)
        return rc;
    char report[S_PATH_MAX], manifest[S_PATH_MAX], when[32];
    snprintf(report, sizeof report, "%s/%s", root, DSP_EXPORT_REPORT);
    snprintf(manifest, sizeof manifest, "%s/%s", root, DSP_EXPORT_MANIFEST);
    uint32_t report_crc = 0;
    uint64_t report_bytes = 0;
    rc = dsp_export_write_report(report, (const json_t *const *)docs, n, err, errlen);
    if (!rc)
        rc = dsp_file_crc32(report, &report_crc, &report_bytes, err, errlen);
    json_t *instruments = NULL, *files = NULL, *doc = NULL;
    if (!rc) {
        instruments = json_array();
        files = json_array();
        bool ok = instruments && files;
        for (size_t i = 0; ok && i < n; i++) {
            ok = s_append(instruments, s_manifest_entry(docs[i])) &&
                 json_array_extend(files, json_object_get(docs[i], "files")) == 0;
        }
        ok = ok && s_append(files, s_file(DSP_EXPORT_REPORT, report_bytes, report_crc));
        s_iso_now(when, sizeof when);
        if (ok)
            doc = json_pack("{s:s, s:i, s:s, s:s, s:O, s:O}", "format", S_MANIFEST_FORMAT,
                            "version", S_MANIFEST_VERSION, "generator", "Batcherbird", "updated",
                            when, "instruments", instruments, "files", files);
        rc = doc ? bb_json_write_file(manifest, doc, BB_JSON_PRETTY_READ) : BB_ENOMEM;
        if (rc)
            snprintf(err, errlen, "cannot write %s: %s", manifest, bb_strerror(rc));
    }
    if (!rc) /* what the two are as written: a later edit of either is the user's */
        rc = dsp_library_record_root(root, err, errlen);
    json_decref(doc);
    json_decref(instruments);
    json_decref(files);
    for (size_t i = 0; i < n; i++)
        json_decref(docs[i]);
    free(docs);
    return rc;
}
