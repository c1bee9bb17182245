/*
 * cmd_process.c — `batcherbird process --in RAWDIR --out LIBDIR`: the live pipeline and
 * export, offline, on raw takes (an audio file plus a JSON sidecar of the same base name,
 * see dsp/take_raw.h). A batch's raw takes (the coordinator's state/takes/bN) can be
 * re-cut with other settings without recording again.
 *
 * A thin front end over dsp/recut.h, which finds, analyses, picks and exports the takes:
 * this file reads the options, prints what the re-cut reports (skipped takes, progress on
 * a terminal, the QC table, each instrument's result) and chooses the exit code.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "cli.h"
#include "export.h"
#include "pipeline.h"
#include "qc_config.h"
#include "recut.h"

/* What the callbacks need to print like a terminal command. */
typedef struct {
    bool tty;       /* stderr is a terminal: show progress */
    bool analysing; /* a progress line is open on stderr */
    bool c4;
    dsp_norm_mode_t normalise;
    int exit_code;
} s_out_t;

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
            "  --extend HOW          how far the outer samples reach: full (keys 0-127,\n"
            "                        default), octave, none, or the keyboard's ends LO:HI\n"
            "  --name-template T     sample names, e.g. {instrument}_{name}_v{velocity}_rr{rr}\n"
            "  --c4                  name notes with C4 = 60 (default C3 = 60)\n"
            "  --dry-run             analyse and print the table, write nothing\n");
}

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

static void s_exported(void *arg, const char *instrument, int rc, const dsp_export_result_t *res,
                       const char *err)
{
    s_out_t *o = arg;
    if (rc == BB_ENOTFOUND) {
        printf("%s: no usable takes\n", instrument);
    } else if (rc) {
        cli_error("process: exporting %s: %s", instrument, err);
        o->exit_code = CLI_EXIT_FAILED;
    } else {
        printf("%s: %d sample(s) in %s", instrument, res->files, res->dir);
        if (res->skipped)
            printf(" (%d failed take(s) left out)", res->skipped);
        if (o->normalise == DSP_NORM_INSTRUMENT)
            printf(", gain %+.1f dB", res->gain_db);
        printf("\n");
    }
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
                              (t->meta.sample_rate > 0 ? t->meta.sample_rate : 48000));
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
    const char *extend_arg = NULL;
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
            ecfg.map.mode = !strcmp(val, "upward") ? DSP_MAP_UPWARD : DSP_MAP_CENTRED;
        } else if (!strcmp(a, "--extend")) {
            extend_arg = val; /* read once --c4 is known */
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
    if (extend_arg) {
        char why[200];
        if (dsp_map_extend_parse(extend_arg, ecfg.notes, &ecfg.map, why, sizeof why)) {
            cli_error("process: %s", why);
            return CLI_EXIT_USAGE;
        }
    }

    s_out_t o = {.tty = isatty(STDERR_FILENO),
                 .c4 = ecfg.notes == BB_NOTES_C4_IS_60,
                 .normalise = ecfg.normalise,
                 .exit_code = CLI_EXIT_OK};
    dsp_recut_events_t ev = {
        .skipped = s_skipped, .progress = s_progress, .exported = s_exported, .arg = &o};
    dsp_recut_t *recut = dsp_recut_new(&ev);
    char err[PATH_MAX + 64];
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

    o.analysing = o.tty;
    dsp_recut_analyse(recut, &pcfg);
    o.analysing = false;
    if (o.tty)
        fprintf(stderr, "\r%*s\r", 30, "");
    s_print_table(recut, o.c4);
    if (dsp_recut_left_out(recut))
        printf("%d raw take(s) could not be used (see the messages above)\n",
               dsp_recut_left_out(recut));

    if (!dry) {
        char out_abs[PATH_MAX];
        if (out[0] == '/' || !getcwd(out_abs, sizeof out_abs))
            snprintf(out_abs, sizeof out_abs, "%s", out);
        else
            snprintf(out_abs + strlen(out_abs), sizeof out_abs - strlen(out_abs), "/%s", out);
        ecfg.out_dir = out_abs;
        if ((rc = bb_mkdir_p(out_abs)) != 0) {
            cli_error("process: cannot create %s: %s", out_abs, bb_strerror(rc));
            o.exit_code = CLI_EXIT_FAILED;
        }
        printf("\n");
        if (o.exit_code == CLI_EXIT_OK)
            dsp_recut_export(recut, &ecfg);
        if (o.exit_code == CLI_EXIT_OK)
            printf("library: %s\n", out_abs);
    }
    dsp_recut_destroy(&recut);
    return o.exit_code;
}
