/*
 * export.c — per-instrument export: names, gains, the float path per take, the mapping,
 * the instrument files, and the swap of the finished folder into the library.
 *
 * Gains are worked out from the analysed peaks before any audio is read, so each raw take
 * is read once. Each take is processed by export_audio.c and written with its bext/smpl
 * metadata (export_meta.c); the mapping (export_map.c) then gives every sample its key,
 * velocity and round-robin ranges, which the SFZ, the DecentSampler preset and the record
 * (export_manifest.c) all share. The instrument is built in a hidden staging folder and
 * exchanged with the old one in a single rename.
 */
#define _GNU_SOURCE /* renameat2 */
#include "export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_json.h"
#include "bb_log.h"
#include "export_library.h"
#include "export_meta.h"
#include "take_raw.h"

#define S_PATH_MAX 1400

/* ---- names ---- */

typedef enum {
    S_TOK_INSTRUMENT,
    S_TOK_NOTE,
    S_TOK_OCTAVE,
    S_TOK_NAME,
    S_TOK_MIDI,
    S_TOK_VELOCITY,
    S_TOK_RR,
    S_TOK_RELEASE,
    S_TOK_COUNT
} s_token_t;

static const char *s_tokens[S_TOK_COUNT] = {"instrument", "note",     "octave", "name",
                                            "midi",       "velocity", "rr",     "release"};

/* Parses "{word}" at p; returns the token and sets *end past '}', or -1. */
static int s_token_at(const char *p, const char **end)
{
    const char *close = strchr(p, '}');
    if (*p != '{' || !close)
        return -1;
    size_t n = (size_t)(close - p - 1);
    for (int t = 0; t < S_TOK_COUNT; t++) {
        if (strlen(s_tokens[t]) == n && strncmp(p + 1, s_tokens[t], n) == 0) {
            *end = close + 1;
            return t;
        }
    }
    return -1;
}

int dsp_export_template_check(const char *tmpl, char *err, size_t errlen)
{
    if (!tmpl || !*tmpl)
        return 0;
    bool has_instrument = false, has_note = false;
    for (const char *p = tmpl; *p;) {
        if (*p == '{') {
            const char *end;
            int t = s_token_at(p, &end);
            if (t < 0) {
                snprintf(err, errlen,
                         "name template '%s': unknown token at '%.16s' (use {instrument} "
                         "{note} {octave} {name} {midi} {velocity} {rr} {release})",
                         tmpl, p);
                return BB_EINVAL;
            }
            has_instrument |= t == S_TOK_INSTRUMENT;
            has_note |= t == S_TOK_MIDI || t == S_TOK_NAME || t == S_TOK_NOTE;
            p = end;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '}' || c == '/' || c == '\\' || c < 0x20 || c == 0x7F) {
            snprintf(err, errlen,
                     "name template '%s': '%c' is not allowed (no path separators, braces "
                     "or control characters outside tokens)",
                     tmpl, c >= 0x20 && c != 0x7F ? c : '?');
            return BB_EINVAL;
        }
        if (p == tmpl && c == '.') {
            snprintf(err, errlen, "name template '%s': a name must not start with '.'", tmpl);
            return BB_EINVAL;
        }
        p++;
    }
    if (!has_instrument || !has_note) {
        snprintf(err, errlen,
                 "name template '%s' needs {instrument} and one of {midi} {name} {note}, so "
                 "instruments and notes never share a file name",
                 tmpl);
        return BB_EINVAL;
    }
    return 0;
}

int dsp_export_format_name(const char *tmpl, const char *safe_instrument, int note, int velocity,
                           int rr, bool release, bb_note_convention_t conv, char *out, size_t len)
{
    char err[8];
    if (!tmpl || !*tmpl)
        tmpl = DSP_EXPORT_NAME_DEFAULT;
    else if (dsp_export_template_check(tmpl, err, sizeof err))
        return BB_EINVAL;
    size_t n = 0;
    bool wrote_release = false;
    out[0] = '\0';
    for (const char *p = tmpl; *p && n + 1 < len;) {
        char piece[BB_SAFE_NAME_MAX + 16];
        const char *end;
        int t = *p == '{' ? s_token_at(p, &end) : -1;
        if (t < 0) {
            /* Literal text: keep it file-name safe (spaces and non-ASCII become '-'). */
            unsigned char c = (unsigned char)*p++;
            bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-' || c == '+' || c == '#';
            out[n++] = ok ? (char)c : '-';
            out[n] = '\0';
            continue;
        }
        switch (t) {
        case S_TOK_INSTRUMENT:
            snprintf(piece, sizeof piece, "%s", safe_instrument);
            break;
        case S_TOK_NOTE:
            snprintf(piece, sizeof piece, "%s", bb_note_pitch_class(note));
            break;
        case S_TOK_OCTAVE:
            snprintf(piece, sizeof piece, "%d", bb_note_octave(note, conv));
            break;
        case S_TOK_NAME:
            bb_note_name(note, conv, piece, sizeof piece);
            break;
        case S_TOK_MIDI:
            snprintf(piece, sizeof piece, "%03d", note);
            break;
        case S_TOK_VELOCITY:
            snprintf(piece, sizeof piece, "%03d", velocity);
            break;
        case S_TOK_RR:
            snprintf(piece, sizeof piece, "%d", rr);
            break;
        default:
            snprintf(piece, sizeof piece, "%s", release ? "_rel" : "");
            wrote_release = true;
            break;
        }
        int w = snprintf(out + n, len - n, "%s", piece);
        n += (size_t)w < len - n ? (size_t)w : len - n - 1;
        p = end;
    }
    if (release && !wrote_release)
        snprintf(out + n, len - n, "_rel");
    return 0;
}

void dsp_export_sample_name(const char *safe_instrument, int note, int velocity, int rr,
                            bool release, bb_note_convention_t conv, char *out, size_t len)
{
    dsp_export_format_name(NULL, safe_instrument, note, velocity, rr, release, conv, out, len);
}

bool dsp_export_release_decay(const dsp_export_sample_t *s, double *decay_db_s, double *volume_db)
{
    *decay_db_s = *volume_db = 0;
    if (!s->map.release || !(s->release_decay_db_s >= DSP_RELEASE_DECAY_MIN_DB_S) ||
        !(s->release_hold_s > 0))
        return false;
    double d = s->release_decay_db_s;
    if (d * s->release_hold_s > DSP_RELEASE_VOLUME_MAX_DB)
        d = DSP_RELEASE_VOLUME_MAX_DB / s->release_hold_s;
    *decay_db_s = round(d * 100.0) / 100.0;
    *volume_db = round(*decay_db_s * s->release_hold_s * 100.0) / 100.0;
    return true;
}

static const char *s_format_ext[DSP_FILE_KINDS] = {"sfz", "dspreset", "sf2", "multisample"};

const char *dsp_export_format_ext(dsp_inst_file_kind_t kind)
{
    return kind < DSP_FILE_KINDS ? s_format_ext[kind] : "";
}

int dsp_export_formats_parse(const char *list, unsigned *mask, char *err, size_t errlen)
{
    unsigned m = 0;
    const char *p = list ? list : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        bool known = n == 3 && strncmp(p, "all", 3) == 0;
        if (known)
            m |= DSP_FORMATS_ALL;
        for (int k = 0; k < DSP_FILE_KINDS && !known; k++)
            if (strlen(s_format_ext[k]) == n && strncmp(p, s_format_ext[k], n) == 0) {
                m |= 1u << k;
                known = true;
            }
        if (!known) {
            snprintf(err, errlen,
                     "instrument file '%.*s': use sfz, dspreset, sf2, multisample or all, "
                     "comma separated",
                     (int)n, p);
            return BB_EINVAL;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!m) {
        snprintf(err, errlen, "no instrument files chosen: use sfz, dspreset, sf2, multisample");
        return BB_EINVAL;
    }
    *mask = m;
    return 0;
}

/* ---- gains ---- */

/* Gain in dB for take i under the configured normalisation. */
static double s_gain_db(const dsp_export_config_t *cfg, const dsp_export_take_t *t, size_t n,
                        size_t i)
{
    double peak = -INFINITY;
    for (size_t j = 0; j < n; j++) {
        if (t[j].analysis.verdict == DSP_FAIL)
            continue;
        bool same = false;
        switch (cfg->normalise) {
        case DSP_NORM_INSTRUMENT:
            same = true;
            break;
        case DSP_NORM_VELOCITY:
            same = t[j].velocity == t[i].velocity;
            break;
        case DSP_NORM_SAMPLE:
            same = j == i;
            break;
        case DSP_NORM_NONE:
            return 0.0;
        }
        if (same && t[j].analysis.peak_db > peak)
            peak = t[j].analysis.peak_db;
    }
    if (!isfinite(peak) || peak < -120)
        return 0.0;
    return cfg->peak_target_db - peak;
}

/* A release sample plays at its held note's gain, so it starts at the level the held
 * note had at the key-up: that of the sample with the same note, velocity and round robin
 * (or any round robin of that cell), else its own. */
static double s_release_gain(const dsp_export_config_t *cfg, const dsp_export_take_t *t, size_t n,
                             size_t i)
{
    size_t cell = n;
    for (size_t j = 0; j < n; j++) {
        if (t[j].release || t[j].analysis.verdict == DSP_FAIL || t[j].note != t[i].note ||
            t[j].velocity != t[i].velocity)
            continue;
        if (t[j].rr == t[i].rr)
            return s_gain_db(cfg, t, n, j);
        if (cell == n)
            cell = j;
    }
    return s_gain_db(cfg, t, n, cell < n ? cell : i);
}

/* ---- one sample ---- */

/* The smallest and largest of *lo, *hi and x[0..n), NaNs passed over: the same values as
 * `lo = v < lo ? v : lo; hi = v > hi ? v : hi` over x in order. With SSE2 four at a time:
 * minps/maxps (Intel SDM) return their second operand when either is NaN or both are
 * equal, which is that comparison's, and as *lo starts at +0 and only a smaller value
 * replaces it, no -0 or NaN reaches a lane, so the lanes' order does not change the result. */
static void s_min_max(const float *x, int64_t n, float *lo_io, float *hi_io)
{
    float lo = *lo_io, hi = *hi_io;
    int64_t i = 0;
#ifdef __SSE2__
    if (n >= 8) {
        __m128 vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi);
        for (; i + 4 <= n; i += 4) {
            __m128 v = _mm_loadu_ps(x + i);
            vlo = _mm_min_ps(v, vlo);
            vhi = _mm_max_ps(v, vhi);
        }
        float l[4], h[4];
        _mm_storeu_ps(l, vlo);
        _mm_storeu_ps(h, vhi);
        for (int k = 0; k < 4; k++) {
            lo = l[k] < lo ? l[k] : lo;
            hi = h[k] > hi ? h[k] : hi;
        }
    }
#endif
    for (; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *lo_io = lo;
    *hi_io = hi;
}

/* The waveform's thumbnail columns; returns the largest magnitude of x (0 for none), which
 * the columns' extremes give, as every frame lies in a column. */
static float s_thumbnail(const float *x, int64_t len, int ch, int8_t *thumb_min, int8_t *thumb_max)
{
    float peak = 0;
    for (int j = 0; j < DSP_THUMB_COLS; j++) {
        int64_t i0 = len * j / DSP_THUMB_COLS;
        int64_t i1 = len * (j + 1) / DSP_THUMB_COLS;
        if (i1 <= i0)
            i1 = i0 + 1;
        if (i1 > len)
            i1 = len;
        float lo = 0, hi = 0;
        s_min_max(x + i0 * ch, i1 > i0 ? (i1 - i0) * ch : 0, &lo, &hi);
        double l = floor(lo * DSP_THUMB_SCALE), h = ceil(hi * DSP_THUMB_SCALE);
        thumb_min[j] = (int8_t)(l < -DSP_THUMB_SCALE ? -DSP_THUMB_SCALE : l);
        thumb_max[j] = (int8_t)(h > DSP_THUMB_SCALE ? DSP_THUMB_SCALE : h);
        peak = hi > peak ? hi : peak;
        peak = -lo > peak ? -lo : peak;
    }
    return peak;
}

/* A take that is listed, not exported: its analysis, reasons, retakes and, when the raw
 * take can be read, its waveform over the cut the analysis chose (else the whole take). */
static void s_skip(dsp_export_inst_t *inst, const dsp_export_take_t *t, const char *why)
{
    dsp_export_skip_t *k = &inst->skipped[inst->n_skipped++];
    memset(k, 0, sizeof *k);
    snprintf(k->take_id, sizeof k->take_id, "%s", t->take_id ? t->take_id : "");
    k->note = t->note;
    k->velocity = t->velocity;
    k->rr = t->rr;
    k->release = t->release;
    k->qc = t->analysis;
    if (why)
        dsp_analysis_reason(&k->qc, DSP_FAIL, "%s", why);
    k->attempt = t->attempt;
    k->retakes = t->retakes;
    k->n_retakes = t->n_retakes;
    float *audio = t->audio;
    int64_t frames = t->frames;
    int ch = t->channels, rate;
    char err[256];
    if (!audio &&
        (!t->path || dsp_raw_read_audio(t->path, &audio, &frames, &ch, &rate, err, sizeof err)))
        return;
    int64_t from = t->analysis.cut_start, to = t->analysis.cut_end;
    if (from < 0 || to > frames || to <= from) {
        from = 0;
        to = frames;
    }
    if (to > from) {
        s_thumbnail(audio + from * ch, to - from, ch, k->thumb_min, k->thumb_max);
        k->has_thumb = true;
    }
    if (audio != t->audio)
        free(audio);
}

/* A path under the output folder into out[len]; BB_ETOOLONG with the message in err when
 * it does not fit (never a truncated path). */
static int s_path(char *out, size_t len, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int s_path(char *out, size_t len, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < len)
        return 0;
    snprintf(err, errlen,
             "a path in the library would be longer than %zu bytes (%.60s...): "
             "choose a shorter output folder or name template",
             len - 1, out);
    out[0] = '\0';
    return BB_ETOOLONG;
}

/* The raw take's sidecar: `known` when the caller read it, else the file of the same base
 * name (.json), or zeros when it is missing or bad. When it does not say when the take
 * began (takes recorded before nodes reported it, or from another recorder), the raw file's
 * modification time minus its length stands in: the coordinator writes the file as the take
 * arrives, seconds after it was played. */
static void s_read_side(const char *raw_path, const dsp_raw_meta_t *known, int64_t raw_frames,
                        int rate, dsp_raw_meta_t *meta)
{
    memset(meta, 0, sizeof *meta);
    if (known)
        *meta = *known;
    char side[S_PATH_MAX] = "";
    if (!known && bb_path_fmt(side, sizeof side, "%s", raw_path))
        side[0] = '\0'; /* no sidecar can be that long either */
    char *slash = strrchr(side, '/');
    char *dot = strrchr(side, '.');
    if (dot && (!slash || dot > slash))
        *dot = '\0';
    char err[128];
    if (*side && strlen(side) + 6 <= sizeof side) {
        strcat(side, ".json");
        if (!bb_exists(side) || dsp_raw_read_sidecar(side, meta, err, sizeof err))
            memset(meta, 0, sizeof *meta);
    }
    struct stat st;
    if (!(meta->start_unix > 0) && stat(raw_path, &st) == 0 && rate > 0)
        meta->start_unix =
            (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9 - (double)raw_frames / rate;
}

/* The instrument's name as bext text: printable ASCII, else the safe name. */
static const char *s_ascii_name(const char *name, const char *safe)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p >= 0x7F)
            return safe;
    return *name ? name : safe;
}

/* ---- release samples ---- */

/* RMS level (dBFS, loudest channel, DC removed) of raw frames [from, from + n). */
static double s_window_db(const float *x, int64_t frames, int ch, const double *dc, int64_t from,
                          int64_t n)
{
    if (from < 0)
        from = 0;
    if (from + n > frames)
        n = frames - from;
    double loudest = 0;
    for (int c = 0; c < ch && n > 0; c++) {
        double sq = 0;
        for (int64_t i = from; i < from + n; i++) {
            double v = x[i * ch + c] - (c < DSP_MAX_CHANNELS ? dc[c] : 0);
            sq += v * v;
        }
        loudest = sq / n > loudest ? sq / n : loudest;
    }
    return loudest > 0 ? 10 * log10(loudest) : -200.0;
}

/* Turns a release take's analysis (of the whole note) into the release sample's cut: from
 * the note-off (latency already in the sidecar's frame) to the tail's end, a short fade-in,
 * never looped. Measures how fast the held note decayed before the key-up and how long it
 * was held (dsp_export_release_decay). BB_ENOTFOUND with a reason when the take has no
 * usable note-off or nothing sounds after it. */
static int s_release_cut(const float *x, int64_t frames, int ch, int rate,
                         const dsp_raw_meta_t *side, dsp_analysis_t *a, dsp_export_sample_t *s,
                         char *err, size_t errlen)
{
    const int64_t ms = rate / 1000 > 0 ? rate / 1000 : 1;
    int64_t off = side->note_off_frame;
    if (off <= a->onset || off + DSP_RELEASE_MIN_MS * ms > a->release_end) {
        snprintf(err, errlen,
                 "release sample: no release to cut (note-off at frame %lld, the tail ends at "
                 "%lld)",
                 (long long)off, (long long)a->release_end);
        return BB_ENOTFOUND;
    }
    double rel_db = s_window_db(x, frames, ch, a->dc, off, DSP_RELEASE_WINDOW_MS * ms);
    if (rel_db < a->noise_db + DSP_RELEASE_MIN_SNR_DB) {
        snprintf(err, errlen,
                 "release sample: nothing sounds after the note-off (%.1f dB above the noise "
                 "floor)",
                 rel_db - a->noise_db);
        return BB_ENOTFOUND;
    }
    /* where it starts against the held note at the key-up: the node measured that as the
     * take was recorded (10 ms before the note-off frame); takes from elsewhere measure here */
    int64_t win = DSP_RELEASE_WINDOW_MS * ms;
    double keyup = side->has_keyup ? side->keyup_level_db
                                   : s_window_db(x, frames, ch, a->dc, off - win / 2, win / 2);
    double start = s_window_db(x, frames, ch, a->dc, off + DSP_RELEASE_FADE_IN_MS * ms, win);
    s->release_keyup_db = keyup;
    s->release_start_db = start;
    if (start > keyup + DSP_RELEASE_JUMP_DB)
        dsp_analysis_reason(a, DSP_WARN,
                            "release sample starts %.1f dB above the held note at the key-up (a "
                            "key-off noise, or the latency offset is off)",
                            start - keyup);
    /* the held note's decay: 100 ms after the onset (past the attack) to the key-up */
    int64_t t1 = a->onset + 100 * ms, t2 = off - DSP_RELEASE_WINDOW_MS * ms;
    s->release_hold_s = (double)(off - side->note_on_frame) / rate;
    s->release_decay_db_s = 0;
    if (t2 - t1 >= 100 * ms) {
        double d = (s_window_db(x, frames, ch, a->dc, t1, DSP_RELEASE_WINDOW_MS * ms) -
                    s_window_db(x, frames, ch, a->dc, t2, DSP_RELEASE_WINDOW_MS * ms)) /
                   ((double)(t2 - t1) / rate);
        s->release_decay_db_s = d > 0 ? d : 0;
    }
    a->cut_start = off;
    a->cut_end = a->release_end;
    a->fade_in = DSP_RELEASE_FADE_IN_MS * ms;
    if (a->fade_in > (a->cut_end - a->cut_start) / 4)
        a->fade_in = (a->cut_end - a->cut_start) / 4;
    if (a->fade_out > (a->cut_end - a->cut_start) / 2)
        a->fade_out = (a->cut_end - a->cut_start) / 2;
    a->has_loop = false;
    a->loop_start = a->loop_end = a->loop_crossfade = 0;
    a->duration_s = (double)(a->cut_end - a->cut_start) / rate;
    return 0;
}

/* Exports take t as sample s. *kept: bytes of WAV files the instrument keeps in memory so
 * far (dsp_export_sample_t.wav); this sample's are kept too while they stay within
 * DSP_EXPORT_KEEP_WAV_BYTES. */
static int s_export_take(const dsp_export_config_t *cfg, const dsp_export_inst_t *inst,
                         const char *staging, const dsp_export_take_t *t, double gain_db,
                         const char *name, dsp_export_sample_t *s, uint64_t *kept, char *err,
                         size_t errlen)
{
    float *audio = t->audio; /* the caller's, else read here and freed at the end */
    int64_t frames = t->frames;
    int ch = t->channels, rate = t->rate;
    int rc = audio ? 0 : dsp_raw_read_audio(t->path, &audio, &frames, &ch, &rate, err, errlen);
    if (rc)
        return rc;
    dsp_raw_meta_t side;
    s_read_side(t->path, t->meta, frames, rate, &side);
    dsp_analysis_t cut = t->analysis;
    const dsp_analysis_t *a = &cut;
    if (t->release) {
        rc = s_release_cut(audio, frames, ch, rate, &side, &cut, s, err, errlen);
        if (rc)
            goto done;
    }
    int64_t start, len;
    rc = dsp_export_process(audio, frames, ch, a, gain_db, &start, &len);
    if (rc) {
        snprintf(err, errlen, "take %s (%s): the cut %lld..%lld is empty", t->take_id, t->path,
                 (long long)a->cut_start, (long long)a->cut_end);
        goto done;
    }
    const float *x = audio + start * ch;

    snprintf(s->file, sizeof s->file, "samples/%s.%s", name, cfg->flac ? "flac" : "wav");
    snprintf(s->take_id, sizeof s->take_id, "%s", t->take_id ? t->take_id : "");
    s->map = (dsp_map_entry_t){
        .note = t->note, .velocity = t->velocity, .rr = t->rr, .release = t->release};
    s->rate = rate;
    s->channels = ch;
    s->frames = len;
    s->gain_db = gain_db;
    s->qc = *a;
    if (t->release) { /* as exported */
        s->release_keyup_db += gain_db;
        s->release_start_db += gain_db;
    }
    if (a->has_loop && a->loop_start >= start && a->loop_end > a->loop_start &&
        a->loop_end < start + len) {
        s->has_loop = true;
        s->loop_start = a->loop_start - start;
        s->loop_end = a->loop_end - start;
        s->loop_crossfade = a->loop_crossfade;
    } else if (a->has_loop) {
        bb_warn("take %s: loop %lld..%lld lies outside the cut %lld..%lld; exported unlooped",
                s->take_id, (long long)a->loop_start, (long long)a->loop_end, (long long)start,
                (long long)(start + len));
    }
    double cents = 0;
    if (cfg->tune && a->pitch_hz > 0 && isfinite(a->tuning_cents))
        cents = a->tuning_cents; /* the instrument's tuning, whole octaves left out */
    s->tune_cents = -cents;
    int fraction;
    dsp_export_smpl_pitch(t->note, cents, &s->smpl_unity, &fraction);
    double recorded = side.start_unix > 0 ? side.start_unix + (double)start / rate : 0;

    float peak = s_thumbnail(x, len, ch, s->thumb_min, s->thumb_max);
    s->peak_db = peak > 0 ? 20 * log10(peak) : -INFINITY;
    s->stream_frame = side.stream_start_frame + start;
    s->time_reference = dsp_export_time_reference(recorded, rate);

    char note_name[BB_NOTE_NAME_MAX], desc[256], ref[40];
    bb_note_name(t->note, cfg->notes, note_name, sizeof note_name);
    snprintf(desc, sizeof desc, "%.160s note %s (%d) velocity %d round robin %d%s",
             s_ascii_name(inst->name, inst->safe), note_name, t->note, t->velocity, t->rr,
             t->release ? " release" : "");
    /* Unique to the recording: when it was made, the take and the file name (26 of the 32
     * characters). Exporting the same take again gives the same reference, so a WAV and a
     * FLAC export of a sample carry the same chunks. */
    snprintf(ref, sizeof ref, "BB%08x%08x%08x",
             (unsigned)(recorded > 0 ? (uint64_t)llround(recorded) : (uint64_t)time(NULL)),
             (unsigned)bb_crc32(0, s->take_id, strlen(s->take_id)),
             (unsigned)bb_crc32(0, name, strlen(name)));
    dsp_export_meta_t meta = {.description = desc,
                              .reference = ref,
                              .recorded_unix = recorded,
                              .unity_note = s->smpl_unity,
                              .pitch_fraction_cents = fraction,
                              .has_loop = s->has_loop,
                              .loop_start = s->loop_start,
                              .loop_end = s->loop_end};
    char path[S_PATH_MAX];
    rc = s_path(path, sizeof path, err, errlen, "%s/%s", staging, s->file);
    if (rc)
        goto done;
    uint64_t seed = bb_crc32(0, name, strlen(name)) | (uint64_t)t->velocity << 32;
    void *wav = NULL;
    rc = dsp_export_write_audio(&s->crc32, &s->bytes, &wav, path, x, len, ch, rate, cfg->bit_depth,
                                cfg->flac, cfg->dither, seed, &meta, err, errlen);
    if (wav && *kept + s->bytes <= DSP_EXPORT_KEEP_WAV_BYTES) {
        s->wav = wav;
        *kept += s->bytes;
    } else {
        free(wav);
    }
    if (!rc && cfg->flac) /* a WAV's CRC came from memory as it was written */
        rc = dsp_file_crc32(path, &s->crc32, &s->bytes, err, errlen);
done:
    if (audio != t->audio)
        free(audio);
    return rc;
}

/* Frees the WAV file's bytes sample s kept (dsp_export_sample_t.wav). */
static void s_forget_wav(dsp_export_sample_t *s)
{
    free((void *)s->wav);
    s->wav = NULL;
}

/* ---- the folder ---- */

#define S_STAGING_MARK ".batcherbird-staging" /* in a staging folder while it is one */

/* Refuses to replace a folder that holds another instrument's export. */
static int s_check_owner(const char *dir, const char *instrument, char *err, size_t errlen)
{
    char rec[S_PATH_MAX];
    snprintf(rec, sizeof rec, "%s/%s", dir, DSP_EXPORT_INST_RECORD);
    char *text = NULL;
    size_t len = 0;
    if (bb_read_file(rec, &text, &len))
        return 0; /* no record: a new folder, or not ours to judge */
    json_t *doc = NULL;
    const char *name = NULL;
    int rc = 0;
    if (bb_json_load(&doc, text, len, NULL, 0) == 0 &&
        bb_json_get_string(doc, "name", &name) == 0 && strcmp(name, instrument) != 0) {
        snprintf(err, errlen,
                 "%s already holds the instrument '%s'; '%s' would overwrite it: rename one, "
                 "or export to another folder",
                 dir, name, instrument);
        rc = BB_EEXIST;
    }
    json_decref(doc);
    free(text);
    return rc;
}

/* Removes what a crashed export left at path (the hidden staging or old folder), only
 * when it is ours: it holds `mark`. Something else by that name is in the way: refused. */
static int s_clear_leftover(const char *path, const char *mark, char *err, size_t errlen)
{
    if (!bb_exists(path))
        return 0;
    char m[S_PATH_MAX + 64];
    snprintf(m, sizeof m, "%s/%s", path, mark);
    if (!bb_exists(m)) {
        snprintf(err, errlen,
                 "%s is in the way and was not written by Batcherbird: it is left alone (move it "
                 "away)",
                 path);
        return BB_EEXIST;
    }
    return bb_rm_rf(path);
}

/* Puts the staging folder in place of `final`, atomically where the kernel can. The earlier
 * export, if any, ends up at *was (staging or old; "" when there was none): the caller
 * carries the user's files out of it (dsp_library_carry), nothing of it is removed here. */
static int s_swap_in(const char *staging, const char *final, const char *old, const char **was,
                     char *err, size_t errlen)
{
    *was = "";
    if (!bb_exists(final)) {
        if (rename(staging, final) == 0)
            return 0;
    } else if (renameat2(AT_FDCWD, staging, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
        *was = staging; /* now the old export */
        return 0;
    } else if (errno == EINVAL || errno == ENOSYS || errno == EPERM) {
        /* no exchange on this file system: two renames */
        if (rename(final, old) == 0 && rename(staging, final) == 0) {
            *was = old;
            return 0;
        }
    }
    snprintf(err, errlen, "cannot move the export into %s: %s", final, strerror(errno));
    return bb_err_from_errno(errno);
}

/* Appends to *list (grown as needed) the paths of the regular files under dir/rel, relative
 * to dir; the record and the staging mark are left out (the export's own bookkeeping). */
static int s_list_files(const char *dir, const char *rel, char ***list, size_t *n, size_t *cap)
{
    char path[S_PATH_MAX];
    if (bb_path_fmt(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel))
        return BB_ETOOLONG;
    DIR *d = opendir(path);
    if (!d)
        return bb_err_from_errno(errno);
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            (!*rel &&
             (!strcmp(e->d_name, DSP_EXPORT_INST_RECORD) || !strcmp(e->d_name, S_STAGING_MARK))))
            continue;
        char sub[S_PATH_MAX];
        if (bb_path_fmt(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name)) {
            rc = BB_ETOOLONG;
            break;
        }
        char full[S_PATH_MAX];
        struct stat st;
        if (bb_path_fmt(full, sizeof full, "%s/%s", dir, sub) || lstat(full, &st) != 0) {
            rc = BB_ETOOLONG;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = s_list_files(dir, sub, list, n, cap);
            continue;
        }
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 64;
            char **g = realloc(*list, c * sizeof *g);
            if (!g) {
                rc = BB_ENOMEM;
                break;
            }
            *list = g;
            *cap = c;
        }
        if (!((*list)[*n] = strdup(sub)))
            rc = BB_ENOMEM;
        else
            (*n)++;
    }
    closedir(d);
    return rc;
}

/* Refuses, before the staged export replaces root/folder, when a file it holds would land
 * where the folder has a file Batcherbird did not write (or wrote and the user changed). */
static int s_check_staged(const char *root, const char *folder, const char *staging,
                          const dsp_library_file_t *owned, size_t n_owned, char *err, size_t errlen)
{
    char **list = NULL;
    size_t n = 0, cap = 0;
    int rc = s_list_files(staging, "", &list, &n, &cap);
    if (rc)
        snprintf(err, errlen, "cannot list %s: %s", staging, bb_strerror(rc));
    else
        rc = dsp_library_check_writes(root, folder, (const char *const *)list, n, owned, n_owned,
                                      err, errlen);
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return rc;
}

static int s_write_instrument_files(const dsp_export_config_t *cfg, const char *staging,
                                    dsp_export_inst_t *inst, char *err, size_t errlen)
{
    /* The mapping works on a plain array of entries. */
    dsp_map_entry_t *e = calloc(inst->n_samples ? inst->n_samples : 1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    for (size_t i = 0; i < inst->n_samples; i++) {
        e[i] = inst->samples[i].map;
        e[i].level_db = inst->samples[i].peak_db;
    }
    int rc = dsp_map_build(e, inst->n_samples, &cfg->map);
    for (size_t i = 0; i < inst->n_samples; i++)
        inst->samples[i].map = e[i];
    free(e);
    if (rc) {
        snprintf(err, errlen, "cannot map the samples of %s", inst->name);
        return rc;
    }
    char path[S_PATH_MAX];
    bool any_release = false;
    int n_rr = 1; /* round robins of the fullest cell */
    for (size_t i = 0; i < inst->n_samples; i++) {
        any_release |= inst->samples[i].map.release;
        if (!inst->samples[i].map.release && inst->samples[i].map.seq_length > n_rr)
            n_rr = inst->samples[i].map.seq_length;
    }
    for (int k = 0; k < DSP_FILE_KINDS && !rc; k++) {
        if (!(cfg->formats & (1u << k)))
            continue;
        snprintf(inst->files[k].name, sizeof inst->files[k].name, "%s.%s", inst->safe,
                 dsp_export_format_ext((dsp_inst_file_kind_t)k));
        rc = s_path(path, sizeof path, err, errlen, "%s/%s", staging, inst->files[k].name);
        if (rc)
            break;
        switch (k) {
        case DSP_FILE_SFZ:
            rc = dsp_export_write_sfz(path, inst, err, errlen);
            break;
        case DSP_FILE_DSPRESET:
            rc = dsp_export_write_dspreset(path, inst, err, errlen);
            break;
        case DSP_FILE_SF2:
            rc = dsp_export_write_sf2(&inst->files[k].crc32, &inst->files[k].bytes, path, staging,
                                      inst, err, errlen);
            if (!rc && (any_release || n_rr > 1))
                snprintf(inst->files[k].note, sizeof inst->files[k].note, "%s%s%s",
                         n_rr > 1 ? "SoundFont 2 has no round-robin selection: program 0 "
                                    "plays round robin 1, each further program the next "
                                    "round robin"
                                  : "",
                         n_rr > 1 && any_release ? "; " : "",
                         any_release ? "SoundFont 2 has no release trigger: the release "
                                       "samples play from the .sfz and .dspreset only"
                                     : "");
            break;
        default:
            rc = dsp_export_write_multisample(&inst->files[k].crc32, &inst->files[k].bytes, path,
                                              staging, inst, err, errlen);
            if (!rc)
                snprintf(inst->files[k].note, sizeof inst->files[k].note,
                         ".multisample holds the mapping only: the player's own velocity "
                         "response applies%s%s",
                         inst->map.unpitched ? "; no one-shot setting: set the player to one-shot"
                                             : "",
                         any_release ? "; no release trigger, the release samples play from "
                                       "the .sfz and .dspreset only"
                                     : "");
            break;
        }
        if (rc == BB_ETOOLONG) { /* a format's own size limit: the others still serve */
            bb_warn("%s: %s", inst->name, err);
            snprintf(inst->files[k].note, sizeof inst->files[k].note, "%s", err);
            rc = 0;
            continue;
        }
        if (!rc && k != DSP_FILE_MULTISAMPLE && k != DSP_FILE_SF2) /* theirs came with them */
            rc = dsp_file_crc32(path, &inst->files[k].crc32, &inst->files[k].bytes, err, errlen);
        inst->files[k].written = rc == 0;
    }
    if (!rc)
        rc = s_path(path, sizeof path, err, errlen, "%s/%s", staging, DSP_EXPORT_INST_RECORD);
    if (!rc)
        rc = dsp_export_write_record(path, inst, err, errlen);
    return rc;
}

static int s_check_config(const dsp_export_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->out_dir || !*cfg->out_dir) {
        snprintf(err, errlen, "no output folder given");
        return BB_EINVAL;
    }
    if (cfg->bit_depth != 16 && cfg->bit_depth != 24 && cfg->bit_depth != 32) {
        snprintf(err, errlen, "bit depth %d: use 16, 24 or 32 (float)", cfg->bit_depth);
        return BB_EINVAL;
    }
    if (cfg->flac && cfg->bit_depth == 32) {
        snprintf(err, errlen, "FLAC holds 16 or 24 bits, not 32-bit float");
        return BB_EINVAL;
    }
    return dsp_export_template_check(cfg->name_template, err, errlen);
}

/* <out_dir>/DSP_EXPORT_FAILED_DIR/<safe>.json into out; BB_ETOOLONG when it does not fit. */
static int s_failed_path(char *out, size_t len, const char *out_dir, const char *safe)
{
    int w = snprintf(out, len, "%s/%s/%s.json", out_dir, DSP_EXPORT_FAILED_DIR, safe);
    return w < 0 || (size_t)w >= len ? BB_ETOOLONG : 0;
}

/* True when path is a failed instrument's record of ours for the folder `safe` (what the
 * export may replace or remove there); false for anything else, a missing file too. */
static bool s_failed_ours(const char *path, const char *safe)
{
    json_t *doc = json_load_file(path, 0, NULL);
    const char *folder = NULL;
    bool ours = doc && json_is_string(json_object_get(doc, "failed")) &&
                bb_json_get_string(doc, "folder", &folder) == 0 && strcmp(folder, safe) == 0;
    json_decref(doc);
    return ours;
}

/* The instrument `instrument` (NULL: unnamed) as cfg exports it, its safe folder name set;
 * no sample or skipped take yet. */
static dsp_export_inst_t s_inst_init(const dsp_export_config_t *cfg, const char *instrument)
{
    dsp_export_inst_t inst = {.name = instrument ? instrument : "",
                              .bit_depth = cfg->bit_depth,
                              .flac = cfg->flac,
                              .tune = cfg->tune,
                              .loop_sustain = cfg->loop_sustain,
                              .amp_release_s = cfg->amp_release_s,
                              .map = cfg->map,
                              .notes = cfg->notes};
    bb_safe_name(inst.name, inst.safe, sizeof inst.safe);
    return inst;
}

/* An instrument whose takes all failed QC: no folder, no instrument files; its record (the
 * takes, their reasons and waveforms) in DSP_EXPORT_FAILED_DIR so that the manifest and
 * the report list it. Returns BB_ENOTFOUND with the reason, or the error that kept the
 * record from being written. */
static int s_export_failed(const dsp_export_config_t *cfg, const char *instrument,
                           dsp_export_take_t *takes, size_t n, char *err, size_t errlen)
{
    char why[160];
    snprintf(why, sizeof why, "all %zu take(s) failed QC; no instrument files written", n);
    dsp_export_inst_t inst = s_inst_init(cfg, instrument);
    inst.failed = why;
    char dir[S_PATH_MAX], path[S_PATH_MAX];
    int rc = s_path(dir, sizeof dir, err, errlen, "%s/%s", cfg->out_dir, DSP_EXPORT_FAILED_DIR);
    if (!rc && s_failed_path(path, sizeof path, cfg->out_dir, inst.safe)) {
        snprintf(err, errlen, "the path of %s's record is too long under %s", inst.name,
                 cfg->out_dir);
        rc = BB_ETOOLONG;
    }
    if (!rc)
        rc = dsp_library_check_out(cfg->out_dir, NULL, 0, true, err, errlen);
    if (!rc && (rc = bb_mkdir_p(dir)) != 0)
        snprintf(err, errlen, "cannot create %s: %s", dir, bb_strerror(rc));
    if (!rc && bb_exists(path) && !s_failed_ours(path, inst.safe)) {
        snprintf(err, errlen, "%s was not written by Batcherbird: it is left alone (move it away)",
                 path);
        rc = BB_EEXIST;
    }
    inst.skipped = calloc(n ? n : 1, sizeof *inst.skipped);
    if (!rc && !inst.skipped) {
        snprintf(err, errlen, "out of memory");
        rc = BB_ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++)
        s_skip(&inst, &takes[i], NULL);
    if (!rc)
        rc = dsp_export_write_record(path, &inst, err, errlen);
    free(inst.skipped);
    if (!rc && cfg->library_files)
        rc = dsp_export_library_rebuild(cfg->out_dir, cfg->member, cfg->member_arg, err, errlen);
    if (rc)
        return rc;
    snprintf(err, errlen,
             "%s: no sample to export (%zu take(s), all failed QC); no instrument files written",
             inst.name, n);
    return BB_ENOTFOUND;
}

int dsp_export_instrument(const dsp_export_config_t *cfg, const char *instrument,
                          dsp_export_take_t *takes, size_t n, dsp_export_result_t *res, char *err,
                          size_t errlen)
{
    memset(res, 0, sizeof *res);
    int rc = s_check_config(cfg, err, errlen);
    if (rc)
        return rc;
    size_t usable = 0;
    for (size_t i = 0; i < n; i++)
        usable += takes[i].analysis.verdict != DSP_FAIL;
    if (usable == 0) /* an instrument with no sample gets no instrument files */
        return s_export_failed(cfg, instrument, takes, n, err, errlen);
    dsp_export_inst_t inst = s_inst_init(cfg, instrument);
    dsp_library_file_t *owned = NULL, *own_read = NULL;
    size_t n_owned = 0;
    char staging[S_PATH_MAX], old[S_PATH_MAX], samples_dir[S_PATH_MAX];
    /* every path of the folder is checked here, before anything is written */
    rc = s_path(res->dir, sizeof res->dir, err, errlen, "%s/%s", cfg->out_dir, inst.safe);
    if (!rc)
        rc = s_path(res->sfz, sizeof res->sfz, err, errlen, "%s/%s.sfz", res->dir, inst.safe);
    if (!rc)
        rc = s_path(res->dspreset, sizeof res->dspreset, err, errlen, "%s/%s.dspreset", res->dir,
                    inst.safe);
    if (!rc)
        rc = s_path(res->sf2, sizeof res->sf2, err, errlen, "%s/%s.sf2", res->dir, inst.safe);
    if (!rc)
        rc = s_path(res->multisample, sizeof res->multisample, err, errlen, "%s/%s.multisample",
                    res->dir, inst.safe);
    if (!rc)
        rc =
            s_path(staging, sizeof staging, err, errlen, "%s/.%s.staging", cfg->out_dir, inst.safe);
    if (!rc)
        rc = s_path(old, sizeof old, err, errlen, "%s/.%s.old", cfg->out_dir, inst.safe);
    if (!rc)
        rc = s_path(samples_dir, sizeof samples_dir, err, errlen, "%s/samples", staging);
    const char *folders[] = {inst.safe};
    if (!rc)
        rc = dsp_library_check_out(cfg->out_dir, folders, 1, true, err, errlen);
    if (!rc)
        rc = s_check_owner(res->dir, inst.name, err, errlen);
    if (!rc) /* leftovers of an export that crashed, when they are ours */
        rc = s_clear_leftover(staging, S_STAGING_MARK, err, errlen);
    if (!rc)
        rc = s_clear_leftover(old, DSP_EXPORT_INST_RECORD, err, errlen);
    if (rc)
        return rc;
    rc = bb_mkdir_p(samples_dir);
    char mark[S_PATH_MAX + 32];
    snprintf(mark, sizeof mark, "%s/%s", staging, S_STAGING_MARK);
    if (!rc)
        rc = bb_write_file_atomic(mark, "", 0);
    if (rc) {
        snprintf(err, errlen, "cannot create %s: %s", samples_dir, bb_strerror(rc));
        return rc;
    }

    uint64_t kept = 0; /* bytes of WAV files kept in memory (dsp_export_sample_t.wav) */
    inst.samples = calloc(n ? n : 1, sizeof *inst.samples);
    inst.skipped = calloc(n ? n : 1, sizeof *inst.skipped);
    if (!inst.samples || !inst.skipped) {
        snprintf(err, errlen, "out of memory");
        rc = BB_ENOMEM;
        goto cleanup;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        dsp_export_take_t *t = &takes[i];
        if (t->analysis.verdict == DSP_FAIL) {
            s_skip(&inst, t, NULL);
            continue;
        }
        char name[256];
        dsp_export_format_name(cfg->name_template, inst.safe, t->note, t->velocity, t->rr,
                               t->release, cfg->notes, name, sizeof name);
        for (size_t k = 0; k < inst.n_samples; k++) {
            const char *other = strrchr(inst.samples[k].file, '/') + 1;
            if (strncasecmp(other, name, strlen(name)) == 0 && other[strlen(name)] == '.') {
                snprintf(err, errlen,
                         "two samples of %s would both be named %s (takes %s and %s): add "
                         "{velocity} {rr} {release} to the name template",
                         inst.name, name, inst.samples[k].take_id, t->take_id ? t->take_id : "");
                rc = BB_EEXIST;
                break;
            }
        }
        if (rc)
            break;
        dsp_export_sample_t *s = &inst.samples[inst.n_samples];
        memset(s, 0, sizeof *s);
        double gain = t->release ? s_release_gain(cfg, takes, n, i) : s_gain_db(cfg, takes, n, i);
        char why[512];
        rc = s_export_take(cfg, &inst, staging, t, gain, name, s, &kept, why, sizeof why);
        if (rc == BB_ENOTFOUND && t->release) {
            /* a release take with nothing to cut: listed, not exported */
            s_skip(&inst, t, why);
            s_forget_wav(s);
            memset(s, 0, sizeof *s);
            rc = 0;
            continue;
        }
        if (rc) {
            snprintf(err, errlen, "%s", why);
            s_forget_wav(s);
        } else {
            s->attempt = t->attempt;
            s->retakes = t->retakes;
            s->n_retakes = t->n_retakes;
            inst.n_samples++;
        }
    }
    if (rc)
        goto cleanup;
    if (cfg->normalise == DSP_NORM_INSTRUMENT && n > 0)
        inst.gain_db = s_gain_db(cfg, takes, n, 0);
    rc = s_write_instrument_files(cfg, staging, &inst, err, errlen);
    for (size_t i = 0; i < inst.n_samples; i++) /* the files are written: read no more */
        s_forget_wav(&inst.samples[i]);
    /* what Batcherbird wrote into the folder before (to replace) and, from the staging folder,
     * what it writes now: none of it may land on a file of the user's */
    if (!rc && cfg->owned) {
        owned = (dsp_library_file_t *)cfg->owned;
        n_owned = cfg->n_owned;
    } else if (!rc && bb_exists(res->dir)) {
        rc =
            dsp_library_instrument_files(cfg->out_dir, inst.safe, &own_read, &n_owned, err, errlen);
        owned = own_read;
    }
    if (!rc)
        rc = s_check_staged(cfg->out_dir, inst.safe, staging, owned, n_owned, err, errlen);
    if (!rc)
        unlink(mark); /* the folder is about to become the instrument's */
    const char *was = "";
    res->replaced = -1; /* what the earlier export held, for "3 samples -> 1" */
    char earlier[S_PATH_MAX];
    json_t *rec = NULL;
    if (!rc &&
        s_path(earlier, sizeof earlier, NULL, 0, "%s/%s", res->dir, DSP_EXPORT_INST_RECORD) == 0 &&
        (rec = json_load_file(earlier, 0, NULL)) != NULL) {
        res->replaced = (int)json_array_size(json_object_get(rec, "samples"));
        json_decref(rec);
    }
    if (!rc)
        rc = s_swap_in(staging, res->dir, old, &was, err, errlen);
    if (!rc && *was) /* the user's files of the earlier export move into the new one */
        rc = dsp_library_carry(was, res->dir, inst.safe, owned, n_owned, err, errlen);
    if (!rc)
        bb_fsync_dir(cfg->out_dir);
    char failed[S_PATH_MAX]; /* exported now: no longer an instrument whose takes all failed */
    if (!rc && s_failed_path(failed, sizeof failed, cfg->out_dir, inst.safe) == 0 &&
        s_failed_ours(failed, inst.safe))
        unlink(failed);
    if (rc && *was) {
        free(own_read);
        free(inst.samples);
        free(inst.skipped);
        return rc; /* the new export is in place; what was kept is named in err */
    }
    if (rc)
        goto cleanup;
    char *outs[DSP_FILE_KINDS] = {res->sfz, res->dspreset, res->sf2, res->multisample};
    for (int k = 0; k < DSP_FILE_KINDS; k++)
        if (!inst.files[k].written)
            outs[k][0] = '\0';
    res->files = (int)inst.n_samples;
    res->skipped = (int)inst.n_skipped;
    res->gain_db = inst.gain_db;
    if (cfg->library_files)
        rc = dsp_export_library_rebuild(cfg->out_dir, cfg->member, cfg->member_arg, err, errlen);
cleanup:
    for (size_t i = 0; inst.samples && i < inst.n_samples; i++)
        s_forget_wav(&inst.samples[i]);
    if (rc)
        bb_rm_rf(staging);
    free(own_read);
    free(inst.samples);
    free(inst.skipped);
    return rc;
}
