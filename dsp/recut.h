/*
 * recut.h — re-cutting a folder of raw takes offline: the live pipeline and export run
 * on takes read from disk (an audio file plus a JSON sidecar of the same base name, see
 * take_raw.h), so a batch's raw takes, or any recorder's, can be cut again with other
 * settings without recording again. `batcherbird process` is a front end over it.
 *
 * Three steps: scan (every sidecar under a folder with its audio, sorted by instrument,
 * note, velocity, round robin, release, attempt), analyse (the pipeline on each take at
 * the audio file's own rate, then per instrument the latency prior placed on its slow
 * attacks, then the best take of each slot marked used: a pass over a warning over a
 * failure, then the latest attempt), export (the used takes of each instrument; one
 * whose takes all failed writes no instrument files). dsp_recut_process does the last two
 * instrument by instrument, exporting each from its raw takes still in memory. What is left out on
 * the way, and each instrument's result, is told through callbacks; this file prints nothing.
 */
#ifndef DSP_RECUT_H
#define DSP_RECUT_H

#include <stdbool.h>
#include <stddef.h>

#include "export.h"
#include "pipeline.h"
#include "take_raw.h"

#define DSP_RECUT_DEPTH_MAX 16 /* folder levels searched below the given one */
/* dsp_recut_process keeps an instrument's raw takes in memory from their analysis to its
 * export, up to this many bytes of audio (256 MiB: 35 minutes of stereo float at 48 kHz);
 * the takes beyond are read again at export. Memory stays within it however long the
 * session, whatever the number of instruments or takes. */
#define DSP_RECUT_KEEP_BYTES ((size_t)256 << 20)

typedef struct {
    char *audio;   /* path of the audio file */
    char *sidecar; /* path of its JSON sidecar */
    dsp_raw_meta_t meta;
    dsp_analysis_t a;
    bool analysed; /* audio read and analysed; a is valid */
    bool used;     /* the best take of its slot: the one exported */
} dsp_recut_take_t;

/* The contract of every callback: called on the caller's thread, may be NULL, must not
 * call back into the recut functions. */
typedef struct {
    /* A take is left out: its sidecar (scan) or its audio (analyse) cannot be used. */
    void (*skipped)(void *arg, const char *path, const char *why);
    /* Before analysing take `index` (0-based) of `total`. */
    void (*progress)(void *arg, size_t index, size_t total);
    /* One instrument done: rc 0 with res filled; BB_ENOTFOUND when none of its takes is
     * usable (no instrument files written, err says why, the export goes on); any other
     * rc with err set, and the export stops there. instrument NULL (rc set, res NULL): the
     * library's manifest.json and report.html, rebuilt after the last instrument, could not
     * be written. */
    void (*exported)(void *arg, const char *instrument, int rc, const dsp_export_result_t *res,
                     const char *err);
    /* The settings of the instrument `take` belongs to, when it has its own (the settings
     * its batch was recorded with): NULL, or a NULL answer, means the cfg given to
     * dsp_recut_analyse / dsp_recut_export. The answer must stay valid until that call
     * returns. */
    const dsp_pipeline_config_t *(*pipeline_for)(void *arg, const dsp_recut_take_t *take);
    const dsp_export_config_t *(*export_for)(void *arg, const dsp_recut_take_t *take);
    /* One instrument analysed: the latency prior its slow attacks were placed with and its
     * tuning across notes. */
    void (*instrument)(void *arg, const char *name, const dsp_latency_prior_t *prior,
                       const dsp_tuning_spread_t *tuning);
    void *arg;
} dsp_recut_events_t;

#define DSP_RECUT_EVENTS_INIT                                                                      \
    {                                                                                              \
        .skipped = NULL, .progress = NULL, .exported = NULL, .pipeline_for = NULL,                 \
        .export_for = NULL, .instrument = NULL, .arg = NULL                                        \
    }

typedef struct dsp_recut_t dsp_recut_t;

/* An empty set of takes that reports through `events` (NULL: no reports). NULL when out
 * of memory. */
dsp_recut_t *dsp_recut_new(const dsp_recut_events_t *events);
/* Frees the set and its takes; sets *self_p to NULL; safe on NULL. */
void dsp_recut_destroy(dsp_recut_t **self_p);

/* Adds every sidecar under dir (recursively, hidden entries skipped) that has an audio
 * file of the same base name (.wav, .flac, .aif, .aiff, .w64, .caf, .ogg), then sorts.
 * Unusable sidecars are reported and counted, not errors. Returns 0, BB_EIO with err
 * naming the folder that cannot be read, or BB_ENOMEM. */
int dsp_recut_scan(dsp_recut_t *self, const char *dir, char *err, size_t errlen);

/* Analyses every take with cfg and marks the best take of each slot used. Takes whose
 * audio cannot be read or analysed are reported, counted and left out. */
void dsp_recut_analyse(dsp_recut_t *self, const dsp_pipeline_config_t *cfg);

/* Analyses as dsp_recut_analyse and, when ecfg is given, exports as dsp_recut_export, one
 * instrument after the other: an instrument's takes are analysed, its latency prior placed
 * and its best takes picked, then it is exported from the raw audio still in memory (at
 * most DSP_RECUT_KEEP_BYTES of it), so each raw take is read once. After an export fails
 * the remaining instruments are analysed, not exported, and the library files are not
 * rebuilt. ecfg NULL: analyse only. Returns 0, or the first failure's code. The audio
 * kept is freed after each instrument's export. */
int dsp_recut_process(dsp_recut_t *self, const dsp_pipeline_config_t *pcfg,
                      const dsp_export_config_t *ecfg);

/* Exports the used takes of each instrument with cfg (cfg->out_dir must exist), in
 * instrument order, reporting each; then, when cfg->library_files, rebuilds the library's
 * manifest.json and report.html once. Returns 0, or the first failure's code. */
int dsp_recut_export(dsp_recut_t *self, const dsp_export_config_t *cfg);

/* How many bytes of raw audio dsp_recut_process keeps from an instrument's analysis to its
 * export (default DSP_RECUT_KEEP_BYTES; rounded down to 64 bytes; 0: none, every used take
 * is read again at export). */
void dsp_recut_set_keep(dsp_recut_t *self, size_t bytes);

/* The takes found, in sorted order. */
size_t dsp_recut_size(const dsp_recut_t *self);
const dsp_recut_take_t *dsp_recut_at(const dsp_recut_t *self, size_t i);
/* Takes left out so far: unreadable sidecars plus audio that could not be used. */
int dsp_recut_left_out(const dsp_recut_t *self);

#endif
