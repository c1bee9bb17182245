/*
 * take_raw.c — raw take sidecars (JSON) and audio reading.
 */
#include "take_raw.h"

#include <sndfile.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_json.h"

int dsp_raw_write_sidecar(const char *path, const dsp_raw_meta_t *m)
{
    json_error_t je;
    json_t *doc = json_pack_ex(
        &je, 0,
        "{s:s, s:i, s:i, s:i, s:I, s:I, s:b, s:s, s:I, s:i, s:s, s:i, s:i, s:I, s:I, s:o, s:o,"
        " s:I, s:b, s:i}",
        "instrument", m->instrument, "note", m->note, "velocity", m->velocity, "round_robin",
        m->round_robin, "note_on_frame", (json_int_t)m->note_on_frame, "note_off_frame",
        (json_int_t)m->note_off_frame, "release_trigger", (int)m->release_trigger, "take_id",
        m->take_id, "batch_id", (json_int_t)m->batch_id, "instrument_index", m->inst_idx, "node",
        m->node, "sample_rate", m->sample_rate, "channels", m->channels, "frames",
        (json_int_t)m->frames, "stream_start_frame", (json_int_t)m->stream_start_frame,
        "latency_offset_ms", bb_json_real(m->latency_offset_ms), "noise_floor_db",
        bb_json_real(m->noise_floor_db), "xruns", (json_int_t)m->xruns, "release_capped",
        (int)m->release_capped, "attempt", m->attempt);
    if (!doc) /* a string that is not UTF-8, or out of memory */
        return BB_EINVAL;
    if ((m->latency_calibrated && json_object_set_new(doc, "latency_calibrated", json_true())) ||
        (m->start_unix > 0 && json_object_set_new(doc, "start_unix", json_real(m->start_unix))) ||
        (m->has_keyup &&
         json_object_set_new(doc, "keyup_level_db", bb_json_real(m->keyup_level_db)))) {
        json_decref(doc);
        return BB_ENOMEM;
    }
    int rc = bb_json_write_file(path, doc, BB_JSON_PRETTY_EXACT);
    json_decref(doc);
    return rc;
}

/* doc[key] as a whole number in [lo, hi]; absent is an error only when required. */
static int s_int(const json_t *doc, const char *key, int64_t lo, int64_t hi, bool required,
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
    json_t *doc = NULL;
    char perr[160];
    rc = bb_json_load(&doc, text, len, perr, sizeof perr);
    free(text);
    if (rc) {
        snprintf(err, errlen, "not valid JSON: %s", perr);
        return BB_EINVAL;
    }
    rc = BB_EINVAL;
    if (!json_is_object(doc)) {
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
    if (bb_json_get_bool(doc, "latency_calibrated", &b) == 0)
        m->latency_calibrated = b;
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
    tmp = 0;
    if (s_int(doc, "sample_rate", 0, 1536000, false, &tmp, err, errlen)) /* 0: not known */
        goto done;
    m->sample_rate = (int)tmp;
    tmp = 0;
    if (s_int(doc, "channels", 0, 1024, false, &tmp, err, errlen))
        goto done;
    m->channels = (int)tmp;
    if (s_int(doc, "frames", 0, INT64_MAX, false, &m->frames, err, errlen) ||
        s_int(doc, "stream_start_frame", 0, INT64_MAX, false, &m->stream_start_frame, err,
              errlen) ||
        s_int(doc, "xruns", 0, INT64_MAX, false, &m->xruns, err, errlen))
        goto done;
    double d;
    if (bb_json_get_number(doc, "start_unix", &d) == 0 && d > 0)
        m->start_unix = d;
    if (bb_json_get_number(doc, "keyup_level_db", &d) == 0) {
        m->keyup_level_db = d;
        m->has_keyup = true;
    }
    if (bb_json_get_number(doc, "latency_offset_ms", &d) == 0)
        m->latency_offset_ms = d;
    /* absent: not known (0, as a writer that does not know it writes), never a floor of
     * -200 dBFS that every pre-roll would stand over */
    m->noise_floor_db = 0;
    if (bb_json_get_number(doc, "noise_floor_db", &d) == 0)
        m->noise_floor_db = d;
    rc = 0;
done:
    json_decref(doc);
    return rc;
}

int dsp_raw_read_audio_to(float *room, size_t room_bytes, float **audio, int64_t *frames,
                          int *channels, int *rate, const char *path, char *err, size_t errlen)
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
    size_t bytes = (size_t)(info.frames ? info.frames : 1) * (size_t)info.channels * sizeof(float);
    float *buf = room && bytes <= room_bytes ? room : malloc(bytes);
    if (!buf) {
        sf_close(sf);
        snprintf(err, errlen, "out of memory reading %s", path);
        return BB_ENOMEM;
    }
    sf_count_t got = sf_readf_float(sf, buf, info.frames);
    sf_close(sf);
    if (got != info.frames) {
        if (buf != room)
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

int dsp_raw_read_audio(const char *path, float **audio, int64_t *frames, int *channels, int *rate,
                       char *err, size_t errlen)
{
    return dsp_raw_read_audio_to(NULL, 0, audio, frames, channels, rate, path, err, errlen);
}

int64_t dsp_raw_header_frames(const char *path)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        return -1;
    char log[4096] = "";
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    sf_close(sf);
    /* libsndfile logs the audio chunk as "data : <header bytes> (should be <bytes there>)"
     * (WAV, W64) or "SSND : ..." (AIFF) when the file holds less than its header says */
    for (const char *line = log; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        long long said, there;
        if ((sscanf(line, "data : %lld (should be %lld)", &said, &there) == 2 ||
             sscanf(line, "SSND : %lld (should be %lld)", &said, &there) == 2) &&
            there > 0 && said > there && info.frames > 0)
            return (int64_t)llround((double)said * (double)info.frames / (double)there);
    }
    return -1;
}
