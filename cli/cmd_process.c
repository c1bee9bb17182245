/*
 * cmd_process.c — `batcherbird process --in RAWDIR --out LIBDIR`: the live pipeline and
 * export, offline, on raw takes (an audio file plus a JSON sidecar of the same base name,
 * see dsp/take_raw.h). A batch's raw takes (the coordinator's state/takes/bN) can be
 * re-cut with other settings without recording again.
 *
 * When one slot (instrument, note, velocity, round robin, release) has several takes, as
 * a live batch's retakes do, the best is used: a passing take over a warning over a
 * failure, then the latest attempt.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "cli.h"
#include "export.h"
#include "pipeline.h"
#include "qc_config.h"
#include "take_raw.h"

typedef struct {
    char *audio; /* path of the audio file */
    char *sidecar;
    dsp_raw_meta_t meta;
    dsp_analysis_t a;
    bool analysed, used;
} s_take_t;

typedef struct {
    s_take_t *v;
    size_t n, cap;
    int bad; /* sidecars that could not be used */
} s_list_t;

static const char *const s_exts[] = {".wav", ".flac", ".aif",  ".aiff", ".w64", ".caf",
                                     ".ogg", ".WAV",  ".FLAC", ".AIF",  ".AIFF"};

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: batcherbird process --in RAWDIR --out LIBDIR [options]\n\n"
            "Runs the QC pipeline and the export on raw takes: every JSON sidecar under RAWDIR\n"
            "(searched recursively) with an audio file of the same base name (.wav, .flac,\n"
            ".aif, ...). A sidecar holds instrument, note, velocity, round_robin, note_on_frame\n"
            "and note_off_frame (frames in that file, latency offset already applied). Prints a\n"
            "line per take, then writes the library to LIBDIR.\n\n"
            "processing:\n"
            "  --pre-attack MS       keep MS before every onset, faded in (default 0)\n"
            "  --fade-out MS         fade-out length (default 10)\n"
            "  --fade-curve CURVE    linear | equal-power | exponential (default equal-power)\n"
            "  --end MODE            noise (tail ends in the noise floor, default) | below-peak\n"
            "  --end-below-peak DB   for --end below-peak: how far under the peak (default 60)\n"
            "  --max-release MS      cut the release at most MS after the note-off\n"
            "  --loop                look for sustain loops\n"
            "  --loop-crossfade MS   crossfade before the loop end (default 0)\n"
            "  --unpitched           skip the pitch check (drums, noises)\n"
            "export:\n"
            "  --format wav|flac     (default wav)\n"
            "  --bits 16|24|32       (32 = float, WAV only; default 24)\n"
            "  --normalise MODE      instrument | velocity | sample | none (default instrument)\n"
            "  --peak DB             normalisation target peak (default -1)\n"
            "  --no-dither           no TPDF dither when writing 16 bits\n"
            "  --tune                correct tuning from the measured pitch\n"
            "  --map centred|upward  how samples stretch over the keys between them\n"
            "  --name-template T     sample names, e.g. {instrument}_{name}_v{velocity}_rr{rr}\n"
            "  --c4                  name notes with C4 = 60 (default C3 = 60)\n"
            "  --dry-run             analyse and print the table, write nothing\n");
}

static int s_push(s_list_t *l, const char *sidecar, const char *audio)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        s_take_t *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return BB_ENOMEM;
        l->v = nv;
        l->cap = cap;
    }
    s_take_t *t = &l->v[l->n];
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
        fprintf(stderr, "batcherbird: skipping %s: %s\n", sidecar, err);
        free(t->sidecar);
        free(t->audio);
        l->bad++;
        return 0;
    }
    l->n++;
    return 0;
}

static int s_scan(s_list_t *l, const char *dir, int depth)
{
    if (depth > 16)
        return 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "batcherbird: process: cannot read %s: %s\n", dir, strerror(errno));
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
            rc = s_scan(l, path, depth + 1);
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
        if (found)
            rc = s_push(l, path, audio);
    }
    closedir(d);
    return rc;
}

static int s_cmp_take(const void *pa, const void *pb)
{
    const s_take_t *a = pa, *b = pb;
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

static bool s_same_slot(const s_take_t *a, const s_take_t *b)
{
    return !strcmp(a->meta.instrument, b->meta.instrument) && a->meta.note == b->meta.note &&
           a->meta.velocity == b->meta.velocity && a->meta.round_robin == b->meta.round_robin &&
           a->meta.release_trigger == b->meta.release_trigger;
}

static int s_number(const char *opt, const char *text, double lo, double hi, double *out)
{
    return cli_parse_number("process", opt, text, lo, hi, out);
}

int cli_cmd_process(cli_t *cli, int argc, char **argv)
{
    (void)cli;
    const char *in = NULL, *out = NULL;
    dsp_pipeline_config_t pcfg = DSP_PIPELINE_CONFIG_INIT;
    dsp_export_config_t ecfg = DSP_EXPORT_CONFIG_INIT;
    bool dry = false;
    double v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = true;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--in")) {
            in = val;
        } else if (!strcmp(a, "--out")) {
            out = val;
        } else if (!strcmp(a, "--pre-attack")) {
            if (s_number(a, val, 0, 100, &pcfg.pre_attack_ms))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--fade-out")) {
            if (s_number(a, val, 0, 2000, &pcfg.fade_out_ms))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--fade-curve")) {
            if (dsp_fade_curve_parse(val, &pcfg.fade_curve)) {
                cli_error("process: --fade-curve %s: use linear, equal-power or exponential",
                          val ? val : "");
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--end")) {
            if (dsp_end_mode_parse(val, &pcfg.end_mode)) {
                cli_error("process: --end %s: use noise or below-peak", val ? val : "");
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--end-below-peak")) {
            if (s_number(a, val, 1, 140, &pcfg.end_below_peak_db))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--max-release")) {
            if (s_number(a, val, 1, 600000, &pcfg.max_release_ms))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--loop-crossfade")) {
            if (s_number(a, val, 0, 1000, &pcfg.loop_crossfade_ms))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--format")) {
            if (!val || (strcmp(val, "wav") && strcmp(val, "flac"))) {
                cli_error("process: --format %s: use wav or flac", val ? val : "");
                return CLI_EXIT_USAGE;
            }
            ecfg.flac = !strcmp(val, "flac");
        } else if (!strcmp(a, "--bits")) {
            if (s_number(a, val, 16, 32, &v) || (v != 16 && v != 24 && v != 32)) {
                cli_error("process: --bits: use 16, 24 or 32");
                return CLI_EXIT_USAGE;
            }
            ecfg.bit_depth = (int)v;
        } else if (!strcmp(a, "--normalise") || !strcmp(a, "--normalize")) {
            static const char *const modes[] = {"instrument", "velocity", "sample", "none"};
            int m = -1;
            for (int k = 0; k < 4 && val; k++)
                if (!strcmp(val, modes[k]))
                    m = k;
            if (m < 0) {
                cli_error("process: --normalise %s: use instrument, velocity, sample or none",
                          val ? val : "");
                return CLI_EXIT_USAGE;
            }
            ecfg.normalise = (dsp_norm_mode_t)m;
        } else if (!strcmp(a, "--peak")) {
            if (s_number(a, val, -60, 0, &ecfg.peak_target_db))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--name-template")) {
            char why[200];
            if (!val || dsp_export_template_check(val, why, sizeof why)) {
                cli_error("process: --name-template %s: %s", val ? val : "", val ? why : "");
                return CLI_EXIT_USAGE;
            }
            ecfg.name_template = val;
        } else if (!strcmp(a, "--map")) {
            if (!val ||
                (strcmp(val, "centred") && strcmp(val, "centered") && strcmp(val, "upward"))) {
                cli_error("process: --map %s: use centred or upward", val ? val : "");
                return CLI_EXIT_USAGE;
            }
            ecfg.map_mode = !strcmp(val, "upward") ? DSP_MAP_UPWARD : DSP_MAP_CENTRED;
        } else {
            takes_value = false;
            if (!strcmp(a, "--loop"))
                pcfg.loop = true;
            else if (!strcmp(a, "--unpitched"))
                pcfg.pitch_check = false;
            else if (!strcmp(a, "--no-dither"))
                ecfg.dither = false;
            else if (!strcmp(a, "--tune"))
                ecfg.tune = true;
            else if (!strcmp(a, "--c4"))
                ecfg.notes = BB_NOTES_C4_IS_60;
            else if (!strcmp(a, "--dry-run"))
                dry = true;
            else {
                cli_error("process: unknown option '%s' (see batcherbird process --help)", a);
                return CLI_EXIT_USAGE;
            }
        }
        if (takes_value) {
            if (!val) {
                cli_error("process: %s needs a value", a);
                return CLI_EXIT_USAGE;
            }
            i++;
        }
    }
    if (!in || (!out && !dry)) {
        cli_error("process: give --in RAWDIR and --out LIBDIR (see batcherbird process --help)");
        return CLI_EXIT_USAGE;
    }
    if (ecfg.flac && ecfg.bit_depth == 32) {
        cli_error("process: FLAC holds 16 or 24 bits; use --bits 16 or 24, or --format wav");
        return CLI_EXIT_USAGE;
    }

    s_list_t list = {0};
    int rc = s_scan(&list, in, 0);
    if (rc) {
        free(list.v);
        return CLI_EXIT_FAILED;
    }
    if (list.n == 0) {
        cli_error("process: no raw takes under %s (a take is NAME.json beside NAME.wav/.flac/...)",
                  in);
        free(list.v);
        return CLI_EXIT_FAILED;
    }
    qsort(list.v, list.n, sizeof list.v[0], s_cmp_take);

    /* Analyse every take. */
    bool tty = isatty(STDERR_FILENO);
    int unreadable = 0;
    for (size_t i = 0; i < list.n; i++) {
        s_take_t *t = &list.v[i];
        if (tty)
            fprintf(stderr, "\ranalysing %zu/%zu ", i + 1, list.n);
        float *audio = NULL;
        int64_t frames;
        int ch, rate;
        char err[256];
        if (dsp_raw_read_audio(t->audio, &audio, &frames, &ch, &rate, err, sizeof err)) {
            fprintf(stderr, "%sbatcherbird: skipping %s: %s\n", tty ? "\n" : "", t->audio, err);
            unreadable++;
            continue;
        }
        dsp_take_info_t info = {.note_on = t->meta.note_on_frame,
                                .note_off = t->meta.note_off_frame,
                                .note = t->meta.note,
                                .velocity = t->meta.velocity,
                                .xruns = (uint32_t)t->meta.xruns,
                                .release_capped = t->meta.release_capped};
        if (dsp_analyze(audio, frames, ch, rate, &info, &pcfg, &t->a) != 0) {
            fprintf(stderr,
                    "%sbatcherbird: skipping %s: note_on_frame %lld is outside its %lld "
                    "frames (or more than %d channels)\n",
                    tty ? "\n" : "", t->audio, (long long)t->meta.note_on_frame, (long long)frames,
                    DSP_MAX_CHANNELS);
            unreadable++;
        } else {
            t->analysed = true;
            t->a.xruns = (uint32_t)t->meta.xruns;
        }
        free(audio);
    }
    if (tty)
        fprintf(stderr, "\r%*s\r", 30, "");

    /* Pick one take per slot. */
    for (size_t i = 0; i < list.n;) {
        size_t j = i, best = SIZE_MAX;
        for (; j < list.n && s_same_slot(&list.v[i], &list.v[j]); j++) {
            s_take_t *t = &list.v[j];
            if (!t->analysed)
                continue;
            if (best == SIZE_MAX || t->a.verdict < list.v[best].a.verdict ||
                (t->a.verdict == list.v[best].a.verdict &&
                 t->meta.attempt >= list.v[best].meta.attempt))
                best = j;
        }
        if (best != SIZE_MAX)
            list.v[best].used = true;
        i = j;
    }

    /* The table. */
    Bb__TakeRow *rows = calloc(list.n, sizeof *rows);
    Bb__TakeRow **ptrs = calloc(list.n, sizeof *ptrs);
    char(*verdicts)[8] = calloc(list.n, sizeof *verdicts);
    size_t nr = 0;
    for (size_t i = 0; rows && ptrs && verdicts && i < list.n; i++) {
        s_take_t *t = &list.v[i];
        if (!t->analysed)
            continue;
        Bb__TakeRow *r = &rows[nr];
        bb__take_row__init(r);
        r->take_id = t->meta.take_id;
        r->instrument = t->meta.instrument;
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
                              (t->meta.sample_rate > 0 ? t->meta.sample_rate : 48000));
        r->reasons = t->a.reasons;
        r->superseded = !t->used;
        ptrs[nr++] = r;
    }
    if (nr)
        cli_print_take_table(stdout, ptrs, nr, ecfg.notes == BB_NOTES_C4_IS_60);
    if (list.bad || unreadable)
        printf("%d raw take(s) could not be used (see the messages above)\n",
               list.bad + unreadable);

    /* Export, one instrument at a time. */
    int exit_code = CLI_EXIT_OK;
    if (!dry) {
        char out_abs[PATH_MAX];
        if (out[0] == '/' || !getcwd(out_abs, sizeof out_abs))
            snprintf(out_abs, sizeof out_abs, "%s", out);
        else
            snprintf(out_abs + strlen(out_abs), sizeof out_abs - strlen(out_abs), "/%s", out);
        ecfg.out_dir = out_abs;
        if ((rc = bb_mkdir_p(out_abs)) != 0) {
            cli_error("process: cannot create %s: %s", out_abs, bb_strerror(rc));
            exit_code = CLI_EXIT_FAILED;
        }
        printf("\n");
        for (size_t i = 0; exit_code == CLI_EXIT_OK && i < list.n;) {
            size_t j = i;
            while (j < list.n && !strcmp(list.v[j].meta.instrument, list.v[i].meta.instrument))
                j++;
            dsp_export_take_t *takes = calloc(j - i, sizeof *takes);
            size_t m = 0;
            for (size_t k = i; takes && k < j; k++) {
                s_take_t *t = &list.v[k];
                if (!t->used)
                    continue;
                takes[m].take_id = t->meta.take_id;
                takes[m].path = t->audio;
                takes[m].note = t->meta.note;
                takes[m].velocity = t->meta.velocity;
                takes[m].rr = t->meta.round_robin;
                takes[m].release = t->meta.release_trigger;
                takes[m].analysis = t->a;
                m++;
            }
            dsp_export_result_t res;
            char err[512];
            if (!takes) {
                cli_error("process: out of memory");
                exit_code = CLI_EXIT_FAILED;
            } else if (m == 0) {
                printf("%s: no usable takes\n", list.v[i].meta.instrument);
            } else if (dsp_export_instrument(&ecfg, list.v[i].meta.instrument, takes, m, &res, err,
                                             sizeof err) != 0) {
                cli_error("process: exporting %s: %s", list.v[i].meta.instrument, err);
                exit_code = CLI_EXIT_FAILED;
            } else {
                printf("%s: %d sample(s) in %s", list.v[i].meta.instrument, res.files, res.dir);
                if (res.skipped)
                    printf(" (%d failed take(s) left out)", res.skipped);
                if (ecfg.normalise == DSP_NORM_INSTRUMENT)
                    printf(", gain %+.1f dB", res.gain_db);
                printf("\n");
            }
            free(takes);
            i = j;
        }
        if (exit_code == CLI_EXIT_OK)
            printf("library: %s\n", out_abs);
    }

    for (size_t i = 0; i < list.n; i++) {
        free(list.v[i].audio);
        free(list.v[i].sidecar);
    }
    free(list.v);
    free(rows);
    free(ptrs);
    free(verdicts);
    return exit_code;
}
