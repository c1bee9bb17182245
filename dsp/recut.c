/*
 * recut.c — the offline re-cut of recut.h.
 *
 * Scanning walks the folder depth-first (at most DSP_RECUT_DEPTH_MAX levels), takes every
 * NAME.json that has a NAME.<audio extension> beside it, reads the sidecar, and sorts the
 * takes so that the takes of one slot (instrument, note, velocity, round robin, release)
 * are neighbours in attempt order, and the takes of one instrument are neighbours too.
 * Analysis reads each audio file and runs dsp_analyze. dsp_recut_process works instrument
 * by instrument: it keeps the instrument's raw audio (up to DSP_RECUT_KEEP_BYTES, the rest
 * is freed and read again at export) until dsp_export_instrument has written the
 * instrument from it, then frees it, so each raw take is read once and memory holds at
 * most one instrument's worth within that bound. dsp_recut_analyse alone keeps no audio;
 * dsp_recut_export alone reads every used take again.
 */
#include "recut.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_err.h"

#define S_FIRST_CAP  64 /* takes allocated at the first push */
#define S_KEEP_ALIGN 64 /* bytes: each kept take starts on a cache line */

/* A raw take kept in memory from its analysis to its instrument's export. */
typedef struct {
    float *audio; /* NULL: not kept (the export reads the file again) */
    int64_t frames;
    int channels, rate;
} s_raw_t;

struct dsp_recut_t {
    dsp_recut_take_t *v;
    size_t n, cap;
    int bad;        /* sidecars that could not be used */
    int unreadable; /* audio that could not be read or analysed */
    dsp_recut_events_t ev;
    /* dsp_recut_process: keep_bytes of address space, reserved at the first
     * export; an instrument's raw takes are read one after the other into it and the next
     * instrument reuses it, so its pages are touched once (NULL: nothing is kept) */
    float *keep;
    size_t keep_bytes; /* its size, a multiple of S_KEEP_ALIGN */
};

static const char *const s_exts[] = {".wav", ".flac", ".aif",  ".aiff", ".w64", ".caf",
                                     ".ogg", ".WAV",  ".FLAC", ".AIF",  ".AIFF"};

dsp_recut_t *dsp_recut_new(const dsp_recut_events_t *events)
{
    dsp_recut_t *self = calloc(1, sizeof *self);
    if (self && events)
        self->ev = *events;
    if (self)
        self->keep_bytes = DSP_RECUT_KEEP_BYTES;
    return self;
}

void dsp_recut_destroy(dsp_recut_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dsp_recut_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free(self->v[i].audio);
        free(self->v[i].sidecar);
    }
    free(self->keep);
    free(self->v);
    free(self);
    *self_p = NULL;
}

void dsp_recut_set_keep(dsp_recut_t *self, size_t bytes)
{
    free(self->keep);
    self->keep = NULL;
    self->keep_bytes = bytes / S_KEEP_ALIGN * S_KEEP_ALIGN;
}

size_t dsp_recut_size(const dsp_recut_t *self)
{
    return self->n;
}

const dsp_recut_take_t *dsp_recut_at(const dsp_recut_t *self, size_t i)
{
    return i < self->n ? &self->v[i] : NULL;
}

int dsp_recut_left_out(const dsp_recut_t *self)
{
    return self->bad + self->unreadable;
}

static void s_skipped(dsp_recut_t *self, const char *path, const char *why)
{
    if (self->ev.skipped)
        self->ev.skipped(self->ev.arg, path, why);
}

/* ---- scan ---- */

static int s_push(dsp_recut_t *self, const char *sidecar, const char *audio)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : S_FIRST_CAP;
        dsp_recut_take_t *nv = realloc(self->v, cap * sizeof *nv);
        if (!nv)
            return BB_ENOMEM;
        self->v = nv;
        self->cap = cap;
    }
    dsp_recut_take_t *t = &self->v[self->n];
    memset(t, 0, sizeof *t);
    t->sidecar = strdup(sidecar);
    t->audio = strdup(audio);
    if (!t->sidecar || !t->audio) {
        free(t->sidecar);
        free(t->audio);
        return BB_ENOMEM;
    }
    char err[256];
    if (dsp_raw_read_sidecar(sidecar, &t->meta, err, sizeof err)) {
        s_skipped(self, sidecar, err);
        free(t->sidecar);
        free(t->audio);
        self->bad++;
        return 0;
    }
    self->n++;
    return 0;
}

static int s_scan(dsp_recut_t *self, const char *dir, int depth, char *err, size_t errlen)
{
    if (depth > DSP_RECUT_DEPTH_MAX)
        return 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
        return BB_EIO;
    }
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = s_scan(self, path, depth + 1, err, errlen);
            continue;
        }
        size_t len = strlen(path);
        if (len < 6 || strcmp(path + len - 5, ".json") != 0)
            continue;
        char audio[PATH_MAX];
        bool found = false;
        for (size_t k = 0; k < sizeof s_exts / sizeof s_exts[0] && !found; k++) {
            snprintf(audio, sizeof audio, "%.*s%s", (int)(len - 5), path, s_exts[k]);
            found = access(audio, R_OK) == 0;
        }
        if (found) {
            rc = s_push(self, path, audio);
            if (rc)
                snprintf(err, errlen, "out of memory");
        }
    }
    closedir(d);
    return rc;
}

static int s_cmp_take(const void *pa, const void *pb)
{
    const dsp_recut_take_t *a = pa, *b = pb;
    int c = strcmp(a->meta.instrument, b->meta.instrument);
    if (c)
        return c;
    if (a->meta.note != b->meta.note)
        return a->meta.note - b->meta.note;
    if (a->meta.velocity != b->meta.velocity)
        return a->meta.velocity - b->meta.velocity;
    if (a->meta.round_robin != b->meta.round_robin)
        return a->meta.round_robin - b->meta.round_robin;
    if (a->meta.release_trigger != b->meta.release_trigger)
        return (int)a->meta.release_trigger - (int)b->meta.release_trigger;
    return a->meta.attempt - b->meta.attempt;
}

int dsp_recut_scan(dsp_recut_t *self, const char *dir, char *err, size_t errlen)
{
    int rc = s_scan(self, dir, 0, err, errlen);
    if (!rc && self->n)
        qsort(self->v, self->n, sizeof self->v[0], s_cmp_take);
    return rc;
}

/* ---- analyse ---- */

/* Per instrument [first, end): the latency prior from its clear attacks (or its calibrated
 * node) placed on its slow attacks, jumps that other takes of the note share cleared
 * (dsp_jumps_recur), and its tuning across notes, reported. */
static void s_instrument(dsp_recut_t *self, size_t first, size_t end)
{
    const dsp_analysis_t **ptr = calloc(end - first, sizeof *ptr);
    if (!ptr)
        return;
    size_t m = 0;
    bool calibrated = true;
    for (size_t j = first; j < end; j++) {
        if (!self->v[j].analysed)
            continue;
        ptr[m++] = &self->v[j].a;
        calibrated = calibrated && self->v[j].meta.latency_calibrated;
    }
    dsp_latency_prior_t prior;
    dsp_latency_prior_learn(ptr, m, m > 0 && calibrated, &prior);
    for (size_t k = first; k < end; k++)
        if (self->v[k].analysed)
            dsp_latency_prior_apply(&self->v[k].a, &prior);
    /* the same note's other takes (velocities, round robins, attempts; release takes apart) */
    const dsp_analysis_t **note = calloc(end - first, sizeof *note);
    for (size_t k = first; note && k < end; k++) {
        const dsp_recut_take_t *t = &self->v[k];
        if (!t->analysed || t->a.dropouts < 1 || t->a.verdict != DSP_FAIL)
            continue;
        size_t q = 0;
        for (size_t j = first; j < end; j++)
            if (j != k && self->v[j].analysed && self->v[j].meta.note == t->meta.note &&
                self->v[j].meta.release_trigger == t->meta.release_trigger)
                note[q++] = &self->v[j].a;
        dsp_jumps_recur(&self->v[k].a, note, q);
    }
    free(note);
    dsp_tuning_spread_t tuning;
    dsp_tuning_spread(ptr, m, &tuning);
    if (self->ev.instrument && m > 0)
        self->ev.instrument(self->ev.arg, self->v[first].meta.instrument, &prior, &tuning);
    free(ptr);
}

static bool s_same_slot(const dsp_recut_take_t *a, const dsp_recut_take_t *b)
{
    return !strcmp(a->meta.instrument, b->meta.instrument) && a->meta.note == b->meta.note &&
           a->meta.velocity == b->meta.velocity && a->meta.round_robin == b->meta.round_robin &&
           a->meta.release_trigger == b->meta.release_trigger;
}

/* The end of the instrument that starts at take `first`. */
static size_t s_instrument_end(const dsp_recut_t *self, size_t first)
{
    size_t j = first;
    while (j < self->n && !strcmp(self->v[j].meta.instrument, self->v[first].meta.instrument))
        j++;
    return j;
}

/* Analyses take i. With room given, the audio is read into it when it fits in room_bytes
 * and kept there (*raw says where); else it is freed after the analysis. Returns the bytes
 * of room used (rounded up to S_KEEP_ALIGN), 0 when it was not kept. */
static size_t s_analyse_take(dsp_recut_t *self, size_t i, const dsp_pipeline_config_t *cfg,
                             float *room, size_t room_bytes, s_raw_t *raw)
{
    dsp_recut_take_t *t = &self->v[i];
    if (self->ev.progress)
        self->ev.progress(self->ev.arg, i, self->n);
    float *audio = NULL;
    int64_t frames;
    int ch, rate;
    char err[256];
    if (dsp_raw_read_audio_to(room, room_bytes, &audio, &frames, &ch, &rate, t->audio, err,
                              sizeof err)) {
        s_skipped(self, t->audio, err);
        self->unreadable++;
        return 0;
    }
    bool kept = room && audio == room;
    /* The file says what its rate is; the sidecar's frames count in the file. */
    bool rate_differs = t->meta.sample_rate > 0 && t->meta.sample_rate != rate;
    int sidecar_rate = t->meta.sample_rate;
    t->meta.sample_rate = rate;
    t->meta.channels = ch;
    dsp_take_info_t info = {.note_on = t->meta.note_on_frame,
                            .note_off = t->meta.note_off_frame,
                            .note = t->meta.note,
                            .velocity = t->meta.velocity,
                            .xruns = (uint32_t)t->meta.xruns,
                            .release_capped = t->meta.release_capped,
                            .has_floor = t->meta.noise_floor_db < 0,
                            .floor_db = t->meta.noise_floor_db};
    const dsp_pipeline_config_t *own =
        self->ev.pipeline_for ? self->ev.pipeline_for(self->ev.arg, t) : NULL;
    if (dsp_analyze(audio, frames, ch, rate, &info, own ? own : cfg, &t->a) != 0) {
        if (ch > DSP_MAX_CHANNELS) {
            snprintf(err, sizeof err, "%d channels: at most %d are read", ch, DSP_MAX_CHANNELS);
        } else {
            /* the sidecar's note-on is past the end: the file is shorter than the sidecar
             * (and maybe its own header) expects */
            int64_t said = dsp_raw_header_frames(t->audio);
            char header[96] = "";
            if (said > frames)
                snprintf(header, sizeof header, " and than its header says (%.2f s)",
                         (double)said / rate);
            snprintf(err, sizeof err,
                     "note_on_frame %lld is after the end of the file (%lld frames, %.2f s): the "
                     "file is shorter than its sidecar expects%s: truncated?",
                     (long long)t->meta.note_on_frame, (long long)frames, (double)frames / rate,
                     header);
        }
        s_skipped(self, t->audio, err);
        self->unreadable++;
        if (!kept)
            free(audio);
        return 0;
    }
    t->analysed = true;
    t->a.xruns = (uint32_t)t->meta.xruns;
    if (rate_differs)
        dsp_analysis_reason(&t->a, DSP_WARN,
                            "the sidecar says %d Hz, the audio file %d Hz; the file's rate was "
                            "used",
                            sidecar_rate, rate);
    /* shorter than the recorder wrote, but past the note-off (the pipeline fails one that
     * ends before it): the release is cut short */
    else if (t->meta.frames > frames && t->meta.note_off_frame <= frames)
        dsp_analysis_reason(&t->a, DSP_WARN,
                            "the file holds %.2f s, its sidecar says %.2f s: truncated? (the "
                            "release is cut short)",
                            (double)frames / rate, (double)t->meta.frames / rate);
    if (!kept) {
        free(audio);
        return 0;
    }
    *raw = (s_raw_t){.audio = audio, .frames = frames, .channels = ch, .rate = rate};
    size_t bytes = (size_t)frames * (size_t)ch * sizeof *audio;
    return (bytes + S_KEEP_ALIGN - 1) / S_KEEP_ALIGN * S_KEEP_ALIGN;
}

/* Marks the best take of each slot of [first, end) used: the best verdict, then the latest
 * attempt. */
static void s_pick(dsp_recut_t *self, size_t first, size_t end)
{
    for (size_t i = first; i < end;) {
        size_t j = i, best = SIZE_MAX;
        for (; j < end && s_same_slot(&self->v[i], &self->v[j]); j++) {
            dsp_recut_take_t *t = &self->v[j];
            if (!t->analysed)
                continue;
            if (best == SIZE_MAX || t->a.verdict < self->v[best].a.verdict ||
                (t->a.verdict == self->v[best].a.verdict &&
                 t->meta.attempt >= self->v[best].meta.attempt))
                best = j;
        }
        if (best != SIZE_MAX)
            self->v[best].used = true;
        i = j;
    }
}

void dsp_recut_analyse(dsp_recut_t *self, const dsp_pipeline_config_t *cfg)
{
    dsp_recut_process(self, cfg, NULL);
}

/* ---- export ---- */

/* Exports the used takes of [first, end), one instrument; raw[k - first]: take k's audio
 * when it is still in memory (raw may be NULL: none is). */
static int s_export_one(dsp_recut_t *self, size_t first, size_t end, s_raw_t *raw,
                        const dsp_export_config_t *cfg)
{
    const char *instrument = self->v[first].meta.instrument;
    dsp_export_result_t res;
    char err[512] = "";
    int rc;
    dsp_export_take_t *takes = calloc(end - first, sizeof *takes);
    /* each slot's other takes (retakes, replaced attempts) for the report */
    dsp_export_retake_t *retakes = calloc(end - first, sizeof *retakes);
    size_t m = 0, nr = 0, usable = 0;
    for (size_t k = first; takes && retakes && k < end; k++) {
        dsp_recut_take_t *t = &self->v[k];
        if (!t->used)
            continue;
        takes[m].retakes = &retakes[nr];
        for (size_t q = first; q < end; q++) {
            const dsp_recut_take_t *o = &self->v[q];
            if (q == k || !s_same_slot(t, o))
                continue;
            retakes[nr++] =
                (dsp_export_retake_t){.take_id = o->meta.take_id,
                                      .attempt = o->meta.attempt,
                                      .verdict = o->analysed ? o->a.verdict : DSP_FAIL,
                                      .reasons = o->analysed ? o->a.reasons : "could not be read"};
            takes[m].n_retakes++;
        }
        takes[m].attempt = t->meta.attempt;
        takes[m].take_id = t->meta.take_id;
        takes[m].path = t->audio;
        takes[m].note = t->meta.note;
        takes[m].velocity = t->meta.velocity;
        takes[m].rr = t->meta.round_robin;
        takes[m].release = t->meta.release_trigger;
        takes[m].analysis = t->a;
        takes[m].meta = &t->meta;
        if (raw && raw[k - first].audio) {
            takes[m].audio = raw[k - first].audio;
            takes[m].frames = raw[k - first].frames;
            takes[m].channels = raw[k - first].channels;
            takes[m].rate = raw[k - first].rate;
        }
        usable += t->a.verdict != DSP_FAIL;
        m++;
    }
    if (!takes || !retakes) {
        snprintf(err, sizeof err, "out of memory");
        rc = BB_ENOMEM;
    } else if (m == 0) {
        snprintf(err, sizeof err, "no take could be read");
        rc = BB_ENOTFOUND;
    } else {
        const dsp_export_config_t *own =
            self->ev.export_for ? self->ev.export_for(self->ev.arg, &self->v[first]) : NULL;
        dsp_export_config_t use = own ? *own : *cfg;
        use.out_dir = cfg->out_dir; /* the folder and its library files are the caller's */
        use.library_files = cfg->library_files;
        use.member = cfg->member;
        use.member_arg = cfg->member_arg;
        rc = dsp_export_instrument(&use, instrument, takes, m, &res, err, sizeof err);
        if (rc == BB_ENOTFOUND && usable == 0) /* listed in the manifest and report only */
            snprintf(err, sizeof err, "all %zu take(s) failed QC", m);
    }
    free(takes);
    free(retakes);
    if (self->ev.exported)
        self->ev.exported(self->ev.arg, instrument, rc, rc ? NULL : &res, err);
    return rc == BB_ENOTFOUND ? 0 : rc;
}

/* Each instrument is exported without the library's manifest.json and report.html, which
 * read every instrument's record: they are rebuilt once at the end instead of after each
 * instrument (that made a folder of many instruments quadratic: half of process's time at
 * 14). */
static int s_library(dsp_recut_t *self, const dsp_export_config_t *cfg)
{
    char err[512];
    int rc =
        dsp_export_library_rebuild(cfg->out_dir, cfg->member, cfg->member_arg, err, sizeof err);
    if (rc && self->ev.exported)
        self->ev.exported(self->ev.arg, NULL, rc, NULL, err);
    return rc;
}

int dsp_recut_export(dsp_recut_t *self, const dsp_export_config_t *cfg)
{
    dsp_export_config_t each = *cfg;
    each.library_files = false;
    int rc = 0;
    for (size_t i = 0; !rc && i < self->n;) {
        size_t j = s_instrument_end(self, i);
        rc = s_export_one(self, i, j, NULL, &each);
        i = j;
    }
    if (!rc && cfg->library_files)
        rc = s_library(self, cfg);
    return rc;
}

int dsp_recut_process(dsp_recut_t *self, const dsp_pipeline_config_t *pcfg,
                      const dsp_export_config_t *ecfg)
{
    dsp_export_config_t each = ecfg ? *ecfg : (dsp_export_config_t)DSP_EXPORT_CONFIG_INIT;
    each.library_files = false;
    int rc = 0;
    if (ecfg && !self->keep && self->keep_bytes) /* address space: pages are touched as used */
        self->keep = malloc(self->keep_bytes);
    for (size_t i = 0; i < self->n;) {
        size_t j = s_instrument_end(self, i);
        bool exporting = ecfg && !rc;
        s_raw_t *raw = exporting && self->keep ? calloc(j - i, sizeof *raw) : NULL;
        size_t used = 0;
        for (size_t k = i; k < j; k++)
            used += s_analyse_take(self, k, pcfg, raw ? (float *)((char *)self->keep + used) : NULL,
                                   self->keep_bytes - used, raw ? &raw[k - i] : NULL);
        s_instrument(self, i, j);
        s_pick(self, i, j);
        if (exporting)
            rc = s_export_one(self, i, j, raw, &each);
        free(raw);
        i = j;
    }
    if (ecfg && !rc && ecfg->library_files)
        rc = s_library(self, ecfg);
    return rc;
}
