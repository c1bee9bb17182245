/*
 * cmd_process.c — `batcherbird process --in RAWDIR --out LIBDIR`: the live pipeline and
 * export, offline, on raw takes (an audio file plus a JSON sidecar of the same base name,
 * see dsp/take_raw.h). A batch's raw takes (the coordinator's state/takes/bN) can be
 * re-cut with other settings without recording again.
 *
 * A thin front end over dsp/recut.h, which finds, analyses, picks and exports the takes:
 * this file reads the options, prints what the re-cut reports (skipped takes, progress on
 * a terminal, the QC table, each instrument's result) and chooses the exit code.
 *
 * Settings: a batch's raw takes sit beside the plan they were recorded with
 * (takes/b<batch>/plan.json, written by the coordinator). Each instrument is re-cut with
 * its own settings from there, and the options given here go on top; takes without a plan
 * get the defaults plus the options. The options are the plan's fields
 * (dsp/plan_fields.h) that concern processing and export, parsed with getopt_long, with
 * the same names as in `submit` and in plan files.
 */
#include <getopt.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "cli.h"
#include "export.h"
#include "export_library.h"
#include "pipeline.h"
#include "qc_config.h"
#include "plan_fields.h"
#include "recut.h"

/* An instrument's export as reported while the takes were still being analysed: printed
 * after the QC table, as the export's result. */
typedef struct {
    char *instrument; /* NULL: the library files */
    int rc;
    dsp_export_result_t res;
    char *err;
} s_done_t;

/* What the callbacks need to print like a terminal command. */
typedef struct {
    bool tty;       /* stderr is a terminal: show progress */
    bool analysing; /* a progress line is open on stderr */
    bool c4;
    int exit_code;
    struct s_settings *settings;
    s_done_t *done; /* the exports reported so far, in order */
    size_t n_done;
} s_out_t;

/* The plan fields process takes: the QC and export settings, and the two recording
 * settings that shape the cut (loop search and the longest release). */
static bool s_process_field(const dsp_plan_field_t *f)
{
    return f->scope == DSP_PLAN_QC || (f->scope == DSP_PLAN_EXPORT && strcmp(f->name, "out")) ||
           !strcmp(f->name, "loop") || !strcmp(f->name, "release");
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: batcherbird process --in RAWDIR --out LIBDIR [options]\n\n"
            "Runs the QC pipeline and the export on raw takes: every JSON sidecar under RAWDIR\n"
            "(searched recursively) with an audio file of the same base name (.wav, .flac,\n"
            ".aif, ...). A sidecar holds instrument, note, velocity, round_robin, note_on_frame\n"
            "and note_off_frame (frames in that file, latency offset already applied); optional:\n"
            "sample_rate (checked against the file) and noise_floor_db (the recorder's floor,\n"
            "dBFS RMS). A take needs %.0f ms of audio before its note-on to measure the noise\n"
            "floor (with less, the floor and SNR are unknown, and the release ends at the\n"
            "steady noise the file may hold after it) and audio up to its note-off (a file\n"
            "that ends before it is failed as truncated). Prints a line per take, then writes\n"
            "the library to LIBDIR.\n\n"
            "A batch's raw takes (STATE/takes/b<batch>) come with the plan they were recorded\n"
            "with (plan.json): each instrument is cut again with its own settings from there,\n"
            "and the options below go on top, for every instrument. The options have the names\n"
            "they have in submit and in plan files.\n\n"
            "  --in RAWDIR             the raw takes\n"
            "  --out LIBDIR            where the library goes\n"
            "  --dry-run               analyse and print the table, write nothing\n",
            DSP_PREROLL_MIN_MS);
    for (size_t i = 0; i < dsp_plan_n_fields; i++) {
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        if (!s_process_field(f))
            continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        char choices[160] = "";
        if (f->choices) {
            char list[128];
            dsp_choice_list(f->choices, list, sizeof list);
            snprintf(choices, sizeof choices, " [%s]", list);
        }
        fprintf(out, "  %-24s%s%s\n", left, f->help, choices);
    }
}

/* ---- settings: the stored plan of each take's batch, the options on top ---- */

/* One instrument's settings, found once and kept for the run. */
typedef struct {
    char plan_path[PATH_MAX];
    char instrument[128];
    bool from_plan;
    Bb__BatchSpec *spec; /* the effective plan, one instrument: owns the strings cfg uses */
    dsp_pipeline_config_t pcfg;
    dsp_export_config_t ecfg;
} s_setting_t;

typedef struct s_settings {
    const char *root;    /* --in */
    Bb__BatchSpec *over; /* the options, on a plan of one instrument */
    bool given[128];     /* which fields the options set */
    s_setting_t *v;
    size_t n, cap;
    int exit_code;
} s_settings_t;

/* The plan.json nearest above the take's audio, not above root; "" when none. */
static void s_find_plan(const char *root, const char *audio, char *out, size_t len)
{
    char dir[PATH_MAX];
    bb_dirname(audio, dir, sizeof dir);
    size_t rlen = strlen(root);
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    for (int depth = 0; depth <= DSP_RECUT_DEPTH_MAX; depth++) {
        if (bb_path_fmt(out, len, "%s/plan.json", dir) == 0 && access(out, R_OK) == 0)
            return; /* a folder too deep for a plan's path has none we could read */
        if (strlen(dir) <= rlen || strncmp(dir, root, rlen) != 0)
            break;
        char up[PATH_MAX];
        bb_dirname(dir, up, sizeof up);
        if (strcmp(up, dir) == 0)
            break;
        snprintf(dir, sizeof dir, "%s", up);
    }
    out[0] = '\0';
}

/* Copies the option-given fields of `over` onto target. */
static int s_overlay(s_settings_t *st, dsp_plan_target_t *target)
{
    dsp_plan_target_t from = {
        .batch = st->over, .inst = st->over->instruments[0], .notes = target->notes};
    for (size_t i = 0; i < dsp_plan_n_fields; i++) {
        if (!st->given[i])
            continue;
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        json_t *v = dsp_plan_field_get(f, &from);
        char text[8192], why[256];
        int rc = 0;
        if (v)
            rc = dsp_plan_json_text(v, text, sizeof text) ||
                 dsp_plan_field_set(f, target, text, why, sizeof why);
        else if (f->kind == DSP_FIELD_BOOL) /* false stays false */
            rc = dsp_plan_field_set(f, target, "false", why, sizeof why);
        json_decref(v);
        if (rc)
            return -1;
    }
    return 0;
}

static s_setting_t *s_setting(s_settings_t *st, const dsp_recut_take_t *take)
{
    char plan_path[PATH_MAX];
    s_find_plan(st->root, take->audio, plan_path, sizeof plan_path);
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->v[i].plan_path, plan_path) &&
            !strcmp(st->v[i].instrument, take->meta.instrument))
            return &st->v[i];
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        s_setting_t *grown = realloc(st->v, cap * sizeof *grown);
        if (!grown)
            return NULL;
        st->v = grown;
        st->cap = cap;
    }
    s_setting_t *s = &st->v[st->n];
    memset(s, 0, sizeof *s);
    snprintf(s->plan_path, sizeof s->plan_path, "%s", plan_path);
    snprintf(s->instrument, sizeof s->instrument, "%s", take->meta.instrument);
    Bb__BatchSpec *stored = NULL;
    char why[1024];
    if (*plan_path && dsp_plan_read_json(plan_path, &stored, why, sizeof why))
        fprintf(stderr, "batcherbird: process: %s: the defaults are used instead\n", why);
    s->spec = dsp_plan_new();
    Bb__InstrumentSpec *in =
        s->spec ? dsp_plan_add_instrument(s->spec, take->meta.instrument) : NULL;
    if (!in) {
        if (stored)
            bb__batch_spec__free_unpacked(stored, NULL);
        return NULL;
    }
    bb_note_convention_t conv = BB_NOTES_C3_IS_60;
    in->release_ms = 0; /* takes from elsewhere: no release limit unless one is given */
    if (stored) {
        for (size_t i = 0; i < stored->n_instruments; i++) {
            if (strcmp(stored->instruments[i]->name, take->meta.instrument) != 0)
                continue;
            /* the stored instrument and export replace the fresh ones */
            bb__instrument_spec__free_unpacked(in, NULL);
            in = s->spec->instruments[0] = stored->instruments[i];
            stored->instruments[i] = stored->instruments[--stored->n_instruments];
            if (s->spec->export)
                bb__export_spec__free_unpacked(s->spec->export, NULL);
            s->spec->export = stored->export;
            stored->export = NULL;
            s->from_plan = true;
            break;
        }
        bb__batch_spec__free_unpacked(stored, NULL);
    }
    if (s->spec->export && s->spec->export->c4_is_60)
        conv = BB_NOTES_C4_IS_60;
    dsp_plan_target_t t = {.batch = s->spec, .inst = in, .notes = conv};
    if (s_overlay(st, &t) || dsp_pipeline_config_from_spec(in, &s->pcfg, why, sizeof why)) {
        cli_error("process: %s: %s", take->meta.instrument, why);
        st->exit_code = CLI_EXIT_USAGE;
        bb__batch_spec__free_unpacked(s->spec, NULL);
        return NULL;
    }
    /* reasons name notes as the library does: the plan's naming, or --c4 on top of it */
    s->pcfg.notes = s->spec->export && s->spec->export->c4_is_60 ? BB_NOTES_C4_IS_60 : conv;
    dsp_plan_export_config(s->spec->export, &s->ecfg);
    s->ecfg.map.unpitched = in->qc && in->qc->unpitched; /* drums: own key, one-shot */
    st->n++;
    return s;
}

static const dsp_pipeline_config_t *s_pipeline_for(void *arg, const dsp_recut_take_t *take);
static const dsp_export_config_t *s_export_for(void *arg, const dsp_recut_take_t *take);

static void s_skipped(void *arg, const char *path, const char *why)
{
    s_out_t *o = arg;
    fprintf(stderr, "%sbatcherbird: skipping %s: %s\n", o->analysing ? "\n" : "", path, why);
}

static void s_progress(void *arg, size_t index, size_t total)
{
    s_out_t *o = arg;
    if (o->tty)
        fprintf(stderr, "\ranalysing %zu/%zu ", index + 1, total);
}

/* Prints what an instrument's export reported. */
static void s_print_exported(s_out_t *o, const char *instrument, int rc,
                             const dsp_export_result_t *res, const char *err)
{
    if (!instrument) {
        cli_error("process: the library's manifest and report: %s", err);
        o->exit_code = CLI_EXIT_FAILED;
    } else if (rc == BB_ENOTFOUND) {
        printf("%s: no sample exported (%s); no instrument files written (its takes and why "
               "are in report.html)\n",
               instrument, err);
    } else if (rc) {
        cli_error("process: exporting %s: %s", instrument, err);
        o->exit_code = CLI_EXIT_FAILED;
    } else {
        printf("%s: %d sample(s) in %s", instrument, res->files, res->dir);
        if (res->skipped)
            printf(" (%d failed take(s) left out)", res->skipped);
        printf(", gain %+.1f dB", res->gain_db);
        if (res->replaced >= 0) /* a second run into the same folder re-cuts the instrument */
            printf("; replaces the earlier export of %s (%d sample(s) -> %d)", instrument,
                   res->replaced, res->files);
        printf("\n");
    }
}

/* Keeps an export's report for after the table (an instrument is exported as soon as it is
 * analysed, before the table of every take can be printed); printed at once when it cannot
 * be kept. */
static void s_exported(void *arg, const char *instrument, int rc, const dsp_export_result_t *res,
                       const char *err)
{
    s_out_t *o = arg;
    s_done_t *grown = realloc(o->done, (o->n_done + 1) * sizeof *grown);
    if (grown)
        o->done = grown;
    char *name = instrument ? strdup(instrument) : NULL, *why = strdup(err ? err : "");
    if (!grown || (instrument && !name) || !why) {
        free(name);
        free(why);
        s_print_exported(o, instrument, rc, res, err);
        return;
    }
    s_done_t *d = &o->done[o->n_done++];
    *d = (s_done_t){.instrument = name, .rc = rc, .err = why};
    if (res)
        d->res = *res;
}

static void s_instrument(void *arg, const char *name, const dsp_latency_prior_t *prior,
                         const dsp_tuning_spread_t *tuning)
{
    s_out_t *o = arg;
    if (o->analysing) /* the progress line makes way on a terminal */
        fprintf(stderr, "\r%*s\r", 30, "");
    printf("%s: ", name);
    /* at the ceiling the latency is an upper bound (qc_instrument.c): the notes had begun
     * by then, how much earlier the takes cannot tell */
    if (prior->known && prior->pooled && prior->at_ceiling)
        printf("latency at most %.2f ms (no clear attack; its notes stand above the floor by "
               "then; %d slow attack(s) pooled, spread %.2f ms)",
               prior->latency_ms, prior->takes, prior->spread_ms);
    else if (prior->known && prior->pooled)
        printf("latency %.2f ms (no clear attack: pooled from %d slow attack(s), spread %.2f ms)",
               prior->latency_ms, prior->takes, prior->spread_ms);
    else if (prior->known && prior->takes > 0 && prior->at_ceiling)
        printf("latency at most %.2f ms (its notes stand above the floor by then; %d clear "
               "attack(s) start later, behind lead-ins under the floor)",
               prior->latency_ms, prior->takes);
    else if (prior->known && prior->takes > 0)
        printf("latency %.2f ms (from %d clear attack(s), spread %.2f ms)", prior->latency_ms,
               prior->takes, prior->spread_ms);
    else if (prior->known)
        printf("latency from calibrate");
    else
        printf("latency not known (it takes %d clear attacks within %.1f ms of one another)",
               DSP_LATENCY_PRIOR_MIN_TAKES, DSP_LATENCY_PRIOR_MAX_SPREAD);
    bool unpitched = tuning->checked >= 3 && 2 * tuning->unclear > tuning->checked;
    if (tuning->notes > 0 && !unpitched)
        printf("; tuning %+.0f to %+.0f cents over %d take(s) (spread %.0f, median %+.0f)",
               tuning->min_cents, tuning->max_cents, tuning->notes,
               tuning->max_cents - tuning->min_cents, tuning->median_cents);
    if (unpitched)
        printf("; %d of %d take(s) have no clear pitch of their note: if this is a drum kit or "
               "another unpitched instrument, run again with --unpitched (each sample on its "
               "own key, played as recorded)",
               tuning->unclear, tuning->checked);
    printf("\n");
}

/* Keeps freed memory in the heap for the rest of the run. Every sample's file is built in
 * buffers of a few MiB that are freed when its instrument is written; glibc's defaults give
 * blocks that large back to the kernel (munmap, or trimming the heap's top) and the next
 * sample's buffers come back as fresh pages, each a page fault (with the sample files kept
 * in memory for the .sf2 and .multisample, three times process's faults). A threshold of
 * 32 MiB (glibc's own upper bound for its adaptive one) and no trimming below 1 GiB reuse
 * those pages; the heap then holds what the largest instrument needed until process exits. */
static void s_keep_heap(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

/* The QC table of every analysed take, superseded retakes marked. */
static void s_print_table(const dsp_recut_t *rc, bool c4)
{
    size_t n = dsp_recut_size(rc);
    Bb__TakeRow *rows = calloc(n, sizeof *rows);
    Bb__TakeRow **ptrs = calloc(n, sizeof *ptrs);
    char(*verdicts)[8] = calloc(n, sizeof *verdicts);
    size_t nr = 0;
    for (size_t i = 0; rows && ptrs && verdicts && i < n; i++) {
        const dsp_recut_take_t *t = dsp_recut_at(rc, i);
        if (!t->analysed)
            continue;
        Bb__TakeRow *r = &rows[nr];
        bb__take_row__init(r);
        r->take_id = (char *)t->meta.take_id;
        r->instrument = (char *)t->meta.instrument;
        r->note = (uint32_t)t->meta.note;
        r->velocity = (uint32_t)t->meta.velocity;
        r->round_robin = (uint32_t)t->meta.round_robin;
        r->release_trigger = t->meta.release_trigger;
        snprintf(verdicts[nr], sizeof verdicts[nr], "%s", dsp_verdict_name(t->a.verdict));
        r->verdict = verdicts[nr];
        r->peak_db = (float)t->a.peak_db;
        r->snr_db = (float)t->a.snr_db;
        r->has_pitch = t->a.pitch_hz > 0;
        r->pitch_cents = (float)t->a.pitch_cents;
        r->trimmed_s = (float)t->a.duration_s;
        r->onset_ms = (float)((double)(t->a.onset - t->meta.note_on_frame) * 1000.0 /
                              (t->a.rate > 0 ? t->a.rate : t->meta.sample_rate)); /* its rate */
        r->reasons = (char *)t->a.reasons;
        r->superseded = !t->used;
        ptrs[nr++] = r;
    }
    if (nr)
        cli_print_take_table(stdout, ptrs, nr, c4);
    free(rows);
    free(ptrs);
    free(verdicts);
}

static const dsp_pipeline_config_t *s_pipeline_for(void *arg, const dsp_recut_take_t *take)
{
    s_out_t *o = arg;
    s_setting_t *set = s_setting(o->settings, take);
    return set ? &set->pcfg : NULL;
}

static const dsp_export_config_t *s_export_for(void *arg, const dsp_recut_take_t *take)
{
    s_out_t *o = arg;
    s_setting_t *set = s_setting(o->settings, take);
    return set ? &set->ecfg : NULL;
}

/* The output folder, checked (and made) before any take is analysed, as submit does: a
 * path through a file, a folder that cannot be made, or a manifest.json or report.html
 * that is not ours stops the run at once, not after minutes of analysis. 0, or an error
 * with its message in err. */
static int s_check_out(const char *out, char *err, size_t errlen)
{
    /* the deepest part of the path that exists must be a folder */
    char part[PATH_MAX];
    snprintf(part, sizeof part, "%s", out);
    struct stat st;
    while (stat(part, &st) != 0) {
        char *slash = strrchr(part, '/');
        if (!slash || slash == part)
            break;
        *slash = '\0';
    }
    if (stat(part, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a folder, so %s cannot be made: choose another --out",
                 part, out);
        return BB_EEXIST;
    }
    if (strcmp(part, out) != 0) { /* to be made */
        int rc = bb_mkdir_p(out);
        if (rc) {
            snprintf(err, errlen, "cannot create %s: %s (%s does not take a new folder there)", out,
                     bb_strerror(rc), part);
            return rc;
        }
    }
    return dsp_library_check_out(out, NULL, 0, true, err, errlen);
}

/* Scans, analyses and exports (each instrument as soon as it is analysed), prints the
 * table and what each export reported; the exit code. */
static int s_run(s_settings_t *st, const char *in, const char *out, bool dry)
{
    s_out_t o = {.tty = isatty(STDERR_FILENO),
                 .c4 = st->over->export->c4_is_60,
                 .exit_code = CLI_EXIT_OK,
                 .settings = st};
    dsp_recut_events_t ev = {.skipped = s_skipped,
                             .progress = s_progress,
                             .exported = s_exported,
                             .pipeline_for = s_pipeline_for,
                             .export_for = s_export_for,
                             .instrument = s_instrument,
                             .arg = &o};
    dsp_recut_t *recut = dsp_recut_new(&ev);
    char err[2 * PATH_MAX + 128];
    int rc = recut ? dsp_recut_scan(recut, in, err, sizeof err) : BB_ENOMEM;
    if (rc) {
        cli_error("process: %s", recut ? err : "out of memory");
        dsp_recut_destroy(&recut);
        return CLI_EXIT_FAILED;
    }
    if (dsp_recut_size(recut) == 0) {
        cli_error("process: no raw takes under %s (a take is NAME.json beside NAME.wav/.flac/...)",
                  in);
        dsp_recut_destroy(&recut);
        return CLI_EXIT_FAILED;
    }
    /* every instrument's settings first: one that cannot be used stops the run before any
     * instrument is exported */
    for (size_t i = 0; i < dsp_recut_size(recut); i++)
        s_setting(st, dsp_recut_at(recut, i));
    char out_abs[PATH_MAX];
    dsp_export_config_t ecfg;
    bool exporting = !dry && !st->exit_code;
    if (exporting) {
        if (out[0] == '/' || !getcwd(out_abs, sizeof out_abs))
            snprintf(out_abs, sizeof out_abs, "%s", out);
        else
            snprintf(out_abs + strlen(out_abs), sizeof out_abs - strlen(out_abs), "/%s", out);
        dsp_plan_export_config(st->over->export, &ecfg);
        ecfg.out_dir = out_abs;
        if (s_check_out(out_abs, err, sizeof err)) {
            cli_error("process: %s", err);
            dsp_recut_destroy(&recut);
            return CLI_EXIT_FAILED;
        }
    }
    dsp_pipeline_config_t pcfg = DSP_PIPELINE_CONFIG_INIT;
    o.analysing = o.tty;
    s_keep_heap();
    dsp_recut_process(recut, &pcfg, exporting ? &ecfg : NULL);
    o.analysing = false;
    if (o.tty)
        fprintf(stderr, "\r%*s\r", 30, "");
    if (st->exit_code) {
        dsp_recut_destroy(&recut);
        return st->exit_code;
    }
    for (size_t i = 0; i < st->n; i++)
        printf("%s: %s%s\n", st->v[i].instrument,
               st->v[i].from_plan ? "settings of its batch, from "
                                  : "no plan.json beside the takes: default settings",
               st->v[i].from_plan ? st->v[i].plan_path : "");
    s_print_table(recut, o.c4);
    if (dsp_recut_left_out(recut))
        printf("%d raw take(s) could not be used (see the messages above)\n",
               dsp_recut_left_out(recut));

    if (exporting) {
        printf("\n");
        for (size_t i = 0; i < o.n_done; i++)
            s_print_exported(&o, o.done[i].instrument, o.done[i].rc,
                             o.done[i].rc ? NULL : &o.done[i].res, o.done[i].err);
        if (o.exit_code == CLI_EXIT_OK)
            printf("library: %s\n", out_abs);
    }
    for (size_t i = 0; i < o.n_done; i++) {
        free(o.done[i].instrument);
        free(o.done[i].err);
    }
    free(o.done);
    dsp_recut_destroy(&recut);
    return o.exit_code;
}

enum { S_OPT_IN = 'i', S_OPT_OUT = 'o', S_OPT_DRY = 'n', S_OPT_HELP = 'h', S_OPT_FIELD = 1000 };

int cli_cmd_process(cli_t *cli, int argc, char **argv)
{
    (void)cli;
    /* one line at a time: redirected to one file with stderr, the table and the messages
     * about its takes stay in the order they were written */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *in = NULL, *out = NULL;
    bool dry = false;
    struct option *longs = calloc(dsp_plan_n_fields * 2 + 8, sizeof *longs);
    s_settings_t st = {.exit_code = CLI_EXIT_OK};
    st.over = dsp_plan_new();
    if (!longs || !st.over || !dsp_plan_add_instrument(st.over, "")) {
        cli_error("process: out of memory");
        free(longs);
        if (st.over)
            bb__batch_spec__free_unpacked(st.over, NULL);
        return CLI_EXIT_FAILED;
    }
    size_t nl = 0;
    for (size_t i = 0; i < dsp_plan_n_fields; i++) {
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        if (!s_process_field(f))
            continue;
        int has = f->arg ? required_argument : no_argument;
        longs[nl++] = (struct option){f->name, has, NULL, S_OPT_FIELD + (int)i};
        if (f->alias)
            longs[nl++] = (struct option){f->alias, has, NULL, S_OPT_FIELD + (int)i};
    }
    longs[nl++] = (struct option){"in", required_argument, NULL, S_OPT_IN};
    longs[nl++] = (struct option){"out", required_argument, NULL, S_OPT_OUT};
    longs[nl++] = (struct option){"dry-run", no_argument, NULL, S_OPT_DRY};
    longs[nl++] = (struct option){"help", no_argument, NULL, S_OPT_HELP};
    int exit_code = CLI_EXIT_USAGE;
    cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == S_OPT_IN) {
            in = optarg;
        } else if (c == S_OPT_OUT) {
            out = optarg;
        } else if (c == S_OPT_DRY) {
            dry = true;
        } else if (c == S_OPT_HELP) {
            s_usage(stdout);
            exit_code = CLI_EXIT_OK;
            goto done;
        } else if (c >= S_OPT_FIELD) {
            const dsp_plan_field_t *f = &dsp_plan_fields[c - S_OPT_FIELD];
            dsp_plan_target_t t = {.batch = st.over, .inst = st.over->instruments[0]};
            char why[512];
            if (dsp_plan_field_set(f, &t, optarg, why, sizeof why)) {
                cli_error("process: --%s%s%s: %s", f->name, optarg ? " " : "", optarg ? optarg : "",
                          why);
                goto done;
            }
            st.given[c - S_OPT_FIELD] = true;
        } else {
            const char *arg = argv[optind - 1];
            if (optopt)
                cli_error("process: %s needs a value (see batcherbird process --help)", arg);
            else
                cli_error("process: unknown option '%s' (see batcherbird process --help)", arg);
            goto done;
        }
    }
    if (optind < argc) {
        cli_error("process: unexpected '%s' (see batcherbird process --help)", argv[optind]);
        goto done;
    }
    if (!in || (!out && !dry)) {
        cli_error("process: give --in RAWDIR and --out LIBDIR (see batcherbird process --help)");
        goto done;
    }
    const Bb__ExportSpec *ex = st.over->export;
    int fmt = 0;
    if (*ex->format && dsp_choice_parse(&dsp_choices_format, ex->format, &fmt) == 0 && fmt == 1 &&
        ex->bit_depth == 32) {
        cli_error("process: FLAC holds 16 or 24 bits; use --bit-depth 16 or 24, or --format wav");
        goto done;
    }
    st.root = in;
    exit_code = s_run(&st, in, out, dry);
done:
    for (size_t i = 0; i < st.n; i++)
        bb__batch_spec__free_unpacked(st.v[i].spec, NULL);
    free(st.v);
    bb__batch_spec__free_unpacked(st.over, NULL);
    free(longs);
    return exit_code;
}
