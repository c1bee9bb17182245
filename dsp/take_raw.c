/*
 * take_raw.c — raw take sidecars (JSON) and audio reading.
 */
#include "take_raw.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_json.h"

int dsp_raw_write_sidecar(const char *path, const dsp_raw_meta_t *m)
{
    bb_jw_t *w = bb_jw_new(true);
    if (!w)
        return BB_ENOMEM;
    bb_jw_object_begin(w);
    bb_jw_kv_string(w, "instrument", m->instrument);
    bb_jw_kv_int(w, "note", m->note);
    bb_jw_kv_int(w, "velocity", m->velocity);
    bb_jw_kv_int(w, "round_robin", m->round_robin);
    bb_jw_kv_int(w, "note_on_frame", m->note_on_frame);
    bb_jw_kv_int(w, "note_off_frame", m->note_off_frame);
    bb_jw_kv_bool(w, "release_trigger", m->release_trigger);
    bb_jw_kv_string(w, "take_id", m->take_id);
    bb_jw_kv_uint(w, "batch_id", m->batch_id);
    bb_jw_kv_int(w, "instrument_index", m->inst_idx);
    bb_jw_kv_string(w, "node", m->node);
    bb_jw_kv_int(w, "sample_rate", m->sample_rate);
    bb_jw_kv_int(w, "channels", m->channels);
    bb_jw_kv_int(w, "frames", m->frames);
    bb_jw_kv_int(w, "stream_start_frame", m->stream_start_frame);
    bb_jw_kv_double(w, "latency_offset_ms", m->latency_offset_ms);
    bb_jw_kv_double(w, "noise_floor_db", m->noise_floor_db);
    bb_jw_kv_int(w, "xruns", m->xruns);
    bb_jw_kv_bool(w, "release_capped", m->release_capped);
    bb_jw_kv_int(w, "attempt", m->attempt);
    bb_jw_object_end(w);
    int rc = bb_jw_error(w);
    if (!rc) {
        size_t len;
        const char *text = bb_jw_text(w, &len);
        rc = bb_write_file_atomic(path, text, len);
    }
    bb_jw_destroy(&w);
    return rc;
}

static int s_int(const bb_json_t *doc, const char *key, int64_t lo, int64_t hi, bool required,
                 int64_t *out, char *err, size_t errlen)
{
    int64_t v;
    int rc = bb_json_get_int(doc, key, &v);
    if (rc == BB_ENOTFOUND && !required)
        return 0;
    if (rc || v < lo || v > hi) {
        snprintf(err, errlen, "%s: %s", key,
                 rc == BB_ENOTFOUND ? "missing" : "must be a whole number in range");
        return BB_EINVAL;
    }
    *out = v;
    return 0;
}

int dsp_raw_read_sidecar(const char *path, dsp_raw_meta_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    char *text;
    size_t len;
    int rc = bb_read_file(path, &text, &len);
    if (rc) {
        snprintf(err, errlen, "cannot read: %s", bb_strerror(rc));
        return rc;
    }
    bb_json_t *doc = NULL;
    char perr[160];
    rc = bb_json_parse(text, len, &doc, perr, sizeof perr);
    free(text);
    if (rc) {
        snprintf(err, errlen, "not valid JSON: %s", perr);
        return BB_EINVAL;
    }
    rc = BB_EINVAL;
    if (bb_json_type(doc) != BB_JSON_OBJECT) {
        snprintf(err, errlen, "expected a JSON object");
        goto done;
    }
    const char *s;
    if (bb_json_get_string(doc, "instrument", &s) || !*s) {
        snprintf(err, errlen, "instrument: missing or not a string");
        goto done;
    }
    snprintf(m->instrument, sizeof m->instrument, "%s", s);
    int64_t v = 0;
    if (s_int(doc, "note", 0, 127, true, &v, err, errlen))
        goto done;
    m->note = (int)v;
    if (s_int(doc, "velocity", 1, 127, true, &v, err, errlen))
        goto done;
    m->velocity = (int)v;
    if (s_int(doc, "round_robin", 1, 1000, true, &v, err, errlen))
        goto done;
    m->round_robin = (int)v;
    if (s_int(doc, "note_on_frame", 0, INT64_MAX, true, &m->note_on_frame, err, errlen) ||
        s_int(doc, "note_off_frame", 0, INT64_MAX, true, &m->note_off_frame, err, errlen))
        goto done;
    if (m->note_off_frame < m->note_on_frame) {
        snprintf(err, errlen, "note_off_frame comes before note_on_frame");
        goto done;
    }
    bool b;
    if (bb_json_get_bool(doc, "release_trigger", &b) == 0)
        m->release_trigger = b;
    if (bb_json_get_bool(doc, "release_capped", &b) == 0)
        m->release_capped = b;
    if (bb_json_get_string(doc, "take_id", &s) == 0)
        snprintf(m->take_id, sizeof m->take_id, "%s", s);
    if (bb_json_get_string(doc, "node", &s) == 0)
        snprintf(m->node, sizeof m->node, "%s", s);
    int64_t tmp = 0;
    if (s_int(doc, "batch_id", 0, INT64_MAX, false, &tmp, err, errlen))
        goto done;
    m->batch_id = (uint64_t)tmp;
    tmp = 0;
    if (s_int(doc, "instrument_index", 0, 100000, false, &tmp, err, errlen))
        goto done;
    m->inst_idx = (int)tmp;
    tmp = 0;
    if (s_int(doc, "attempt", 0, 1000000, false, &tmp, err, errlen))
        goto done;
    m->attempt = (int)tmp;
    if (s_int(doc, "stream_start_frame", 0, INT64_MAX, false, &m->stream_start_frame, err,
              errlen) ||
        s_int(doc, "xruns", 0, INT64_MAX, false, &m->xruns, err, errlen))
        goto done;
    double d;
    if (bb_json_get_number(doc, "latency_offset_ms", &d) == 0)
        m->latency_offset_ms = d;
    m->noise_floor_db = -200;
    if (bb_json_get_number(doc, "noise_floor_db", &d) == 0)
        m->noise_floor_db = d;
    rc = 0;
done:
    bb_json_free(&doc);
    return rc;
}

int dsp_raw_read_audio(const char *path, float **audio, int64_t *frames, int *channels, int *rate,
                       char *err, size_t errlen)
{
    *audio = NULL;
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        snprintf(err, errlen, "cannot open %s: %s", path, sf_strerror(NULL));
        return BB_EIO;
    }
    if (info.channels < 1 || info.frames < 0 || info.frames > (int64_t)1 << 32) {
        snprintf(err, errlen, "%s: unusable audio (%d channels, %lld frames)", path, info.channels,
                 (long long)info.frames);
        sf_close(sf);
        return BB_EINVAL;
    }
    float *buf =
        malloc((size_t)(info.frames ? info.frames : 1) * (size_t)info.channels * sizeof(float));
    if (!buf) {
        sf_close(sf);
        snprintf(err, errlen, "out of memory reading %s", path);
        return BB_ENOMEM;
    }
    sf_count_t got = sf_readf_float(sf, buf, info.frames);
    sf_close(sf);
    if (got != info.frames) {
        free(buf);
        snprintf(err, errlen, "%s: short read (%lld of %lld frames)", path, (long long)got,
                 (long long)info.frames);
        return BB_EIO;
    }
    *audio = buf;
    *frames = info.frames;
    *channels = info.channels;
    *rate = info.samplerate;
    return 0;
}
