/*
 * test_process.c — `batcherbird process` as a new user runs it on takes recorded with
 * another tool: 24-bit WAVs (written with libsndfile) beside sidecars holding only the
 * fields the README asks for, run through the real binary; what it prints, the
 * manifest.json and the report.html it writes are read back.
 *
 * The takes are a band-limited sawtooth (8 partials) over Gaussian noise at -80 dBFS RMS,
 * a 2 ms attack at the note-on, held to the note-off, then an exponential release: a
 * plain synth note, clear in pitch and attack, so each case changes only what it tests.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sndfile.h>

#include "bb_fs.h"
#include "test_util.h"

#define S_RATE     48000
#define S_PREROLL  12000 /* frames before the note-on: 0.25 s */
#define S_HOLD     48000 /* note-on to note-off: 1 s */
#define S_TAIL     19200 /* after the note-off: 0.4 s */
#define S_NOISE_DB -80.0
#define S_BLOCK    64 /* frames of a damaged block: an audio driver's period */

/* One take as another recorder would leave it. */
typedef struct {
    const char *instrument;
    int note, velocity, rr;
    double cents;      /* the instrument's tuning: played this far off the note */
    double peak_db;    /* the note's level, dBFS (about its peak) */
    int64_t note_on;   /* frame of the note-on in the file */
    int64_t note_off;  /* frame of the note-off */
    int64_t frames;    /* frames written */
    int64_t keep;      /* > 0: the file is cut after this many frames' data (a truncated copy:
                        * its header still says `frames`) */
    bool silent;       /* noise only */
    bool frames_field; /* the sidecar says how many frames the recorder wrote */
    bool digital;      /* no noise: a synth's output written straight to the file */
    int partials;      /* the sawtooth's partials (0: 8); 1: a sine */
    /* damage a node or a cable could do, S_BLOCK frames from this frame (0: none) */
    int64_t zero_at;   /* set to zero */
    int64_t repeat_at; /* the block before it again, in its place */
    int64_t skip_at; /* lost from here: what follows moves up, the file ends `skip` frames early */
    int64_t skip;    /* frames lost at skip_at */
} s_take_t;

static s_take_t s_take(const char *instrument, int note, int velocity)
{
    return (s_take_t){.instrument = instrument,
                      .note = note,
                      .velocity = velocity,
                      .rr = 1,
                      .peak_db = -8.0,
                      .note_on = S_PREROLL,
                      .note_off = S_PREROLL + S_HOLD,
                      .frames = S_PREROLL + S_HOLD + S_TAIL};
}

/* Gaussian noise: xorshift32 through Box-Muller. */
static double s_gauss(uint32_t *seed)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        u[k] = ((double)*seed + 1.0) / 4294967297.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(2.0 * M_PI * u[1]);
}

/* Writes dir/id.wav (24-bit) and dir/id.json with the README's fields only. */
static void s_write(const char *dir, const char *id, const s_take_t *tk)
{
    char wav[600], side[600];
    snprintf(wav, sizeof wav, "%s/%s.wav", dir, id);
    snprintf(side, sizeof side, "%s/%s.json", dir, id);
    float *x = calloc((size_t)tk->frames, sizeof *x);
    assert_non_null(x);
    uint32_t seed = 0x9e3779b9u ^ (uint32_t)(tk->note * 131 + tk->velocity);
    double noise = pow(10.0, S_NOISE_DB / 20.0);
    double hz = 440.0 * pow(2.0, (tk->note - 69 + tk->cents / 100.0) / 12.0);
    const int partials = tk->partials > 0 ? tk->partials : 8;
    double amp = pow(10.0, tk->peak_db / 20.0) / (partials > 1 ? 1.6 : 1.0); /* 1/k: near 1.6 */
    int64_t attack = S_RATE / 500;
    for (int64_t i = 0; i < tk->frames && !tk->silent; i++) {
        if (i < tk->note_on)
            continue;
        double env = i - tk->note_on < attack ? (double)(i - tk->note_on) / attack : 1.0;
        if (i > tk->note_off)
            env *= exp(-(double)(i - tk->note_off) / (0.06 * S_RATE));
        double ph = 2.0 * M_PI * hz * (double)(i - tk->note_on) / S_RATE, s = 0;
        for (int k = 1; k <= partials && k * hz < S_RATE / 2; k++)
            s += sin(k * ph) / k;
        x[i] = (float)(amp * env * s);
    }
    /* the damage is done to the instrument's signal, before the analog noise */
    if (tk->zero_at > 0)
        memset(x + tk->zero_at, 0, sizeof *x * S_BLOCK);
    if (tk->repeat_at > 0)
        memcpy(x + tk->repeat_at, x + tk->repeat_at - S_BLOCK, sizeof *x * S_BLOCK);
    int64_t frames = tk->frames;
    if (tk->skip_at > 0) {
        memmove(x + tk->skip_at, x + tk->skip_at + tk->skip,
                sizeof *x * (size_t)(frames - tk->skip_at - tk->skip));
        frames -= tk->skip;
    }
    for (int64_t i = 0; i < frames && !tk->digital; i++)
        x[i] = (float)(x[i] + noise * s_gauss(&seed));
    SF_INFO info = {
        .samplerate = S_RATE, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_24};
    SNDFILE *sf = sf_open(wav, SFM_WRITE, &info);
    assert_non_null(sf);
    assert_int_equal(sf_writef_float(sf, x, frames), frames);
    sf_close(sf);
    free(x);
    if (tk->keep > 0) { /* the copy that stopped short: the header's sizes stay */
        struct stat st;
        assert_int_equal(stat(wav, &st), 0);
        off_t data = (off_t)tk->frames * 3, header = st.st_size - data;
        assert_int_equal(truncate(wav, header + (off_t)tk->keep * 3), 0);
    }
    json_t *doc =
        json_pack("{s:s, s:i, s:i, s:i, s:I, s:I}", "instrument", tk->instrument, "note", tk->note,
                  "velocity", tk->velocity, "round_robin", tk->rr, "note_on_frame",
                  (json_int_t)tk->note_on, "note_off_frame", (json_int_t)tk->note_off);
    assert_non_null(doc);
    if (tk->frames_field)
        assert_int_equal(json_object_set_new(doc, "frames", json_integer(tk->frames)), 0);
    assert_int_equal(json_dump_file(doc, side, JSON_INDENT(2)), 0);
    json_decref(doc);
}

/* A fresh folder for a test (removed when it passes), with raw/ made in it: its path in
 * dir, raw/'s in raw and lib/'s (for --out, not made) in lib. */
static void s_folders(const char *tag, char dir[256], char raw[300], char lib[300])
{
    test_tmpdir(dir, 256, tag);
    snprintf(raw, 300, "%s/raw", dir);
    snprintf(lib, 300, "%s/lib", dir);
    assert_int_equal(bb_mkdir_p(raw), 0);
}

/* lib/manifest.json, read (the caller releases it). */
static json_t *s_load_manifest(const char *lib)
{
    char path[400];
    snprintf(path, sizeof path, "%s/manifest.json", lib);
    json_t *manifest = json_load_file(path, 0, NULL);
    assert_non_null(manifest);
    return manifest;
}

/* Runs batcherbird process with args (NULL-terminated); stdout and stderr in *out, *err. */
static int s_process(char **out, char **err, const char *const *args)
{
    *out = *err = NULL;
    return test_run("batcherbird", args, 120, out, err);
}

/* The manifest's record (exported or skipped) of (instrument, note, velocity), or NULL. */
static json_t *s_manifest_take(json_t *manifest, const char *instrument, int note, int velocity)
{
    json_t *insts = json_object_get(manifest, "instruments");
    for (size_t i = 0; i < json_array_size(insts); i++) {
        json_t *in = json_array_get(insts, i);
        if (strcmp(json_string_value(json_object_get(in, "name")), instrument))
            continue;
        const char *lists[] = {"samples", "skipped"};
        for (size_t l = 0; l < 2; l++) {
            json_t *arr = json_object_get(in, lists[l]);
            for (size_t k = 0; k < json_array_size(arr); k++) {
                json_t *s = json_array_get(arr, k);
                if (json_integer_value(json_object_get(s, "note")) == note &&
                    json_integer_value(json_object_get(s, "velocity")) == velocity)
                    return s;
            }
        }
    }
    return NULL;
}

static char *s_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

/* With --c4 the reasons name notes the C4 = 60 way, as the note column, the file names and
 * the manifest's note_name do (issue 10 item 4): on the console, in manifest.json and in
 * report.html. A +45-cent instrument at MIDI 48 and 60 is "C3" and "C4" there. */
static void test_c4_reasons(void **state)
{
    (void)state;
    char dir[256], raw[300], lib[300];
    s_folders("proc-c4", dir, raw, lib);
    const int notes[] = {48, 60};
    for (int k = 0; k < 2; k++) {
        s_take_t tk = s_take("Drifty", notes[k], 100);
        tk.cents = 45;
        char id[32];
        snprintf(id, sizeof id, "drifty_%d", notes[k]);
        s_write(raw, id, &tk);
    }
    char *out, *err;
    const char *args[] = {"process", "--in", raw, "--out", lib, "--c4", NULL};
    int rc = s_process(&out, &err, args);
    if (rc != 0 || !strstr(out, "tuning: C3 plays +45 cents") ||
        !strstr(out, "tuning: C4 plays +45 cents") || strstr(out, "tuning: C2"))
        fail_msg("process --c4: exit %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    char path[400];
    json_t *manifest = s_load_manifest(lib);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(manifest, "instruments"), 0), "note_names")),
        "C4=60");
    json_t *s48 = s_manifest_take(manifest, "Drifty", 48, 100);
    assert_non_null(s48);
    const char *why = json_string_value(json_object_get(json_object_get(s48, "qc"), "reasons"));
    if (!why || !strstr(why, "tuning: C3 plays +45 cents"))
        fail_msg("manifest reasons of MIDI 48 with --c4: %s", why ? why : "(none)");
    json_decref(manifest);
    snprintf(path, sizeof path, "%s/report.html", lib);
    char *html = s_read(path);
    assert_non_null(html);
    if (!strstr(html, "C3 plays +45 cents") || strstr(html, "C2 plays"))
        fail_msg("report.html does not name MIDI 48 as C3");
    free(html);
    bb_rm_rf(dir);
}

/* A copy that stops short is named, not exported: a take whose file ends before its
 * note-off fails with how much is missing (the note would stop mid-sustain, with no
 * release), and one whose file ends before its note-on is left out with a message saying
 * the file is shorter than its sidecar and its header expect; one cut in its release
 * whose sidecar says how many frames were recorded is warned. */
static void test_truncated_takes(void **state)
{
    (void)state;
    char dir[256], raw[300], lib[300];
    s_folders("proc-trunc", dir, raw, lib);
    s_take_t whole = s_take("Saw", 45, 100);
    s_write(raw, "saw_45", &whole);
    s_take_t cut = s_take("Saw", 47, 100);
    cut.keep = cut.note_off - S_RATE / 5; /* ends 0.20 s before the note-off */
    s_write(raw, "saw_47", &cut);
    s_take_t tail = s_take("Saw", 50, 100);
    tail.keep = tail.note_off + S_RATE / 10; /* 0.1 s of its 0.4 s release left */
    tail.frames_field = true;
    s_write(raw, "saw_50", &tail);
    s_take_t gone = s_take("Saw", 48, 100);
    gone.keep = 9985; /* ends before the note-on at 12000 */
    s_write(raw, "saw_48", &gone);
    char *out, *err;
    const char *args[] = {"process", "--in", raw, "--out", lib, NULL};
    int rc = s_process(&out, &err, args);
    const char *line = out ? strstr(out, "  B1") : NULL;
    if (rc != 0 || !line || !strstr(line, "fail") ||
        !strstr(line, "the file ends 0.20 s before its note-off: truncated?") ||
        !strstr(err, "saw_48.wav: note_on_frame 12000 is after the end of the file (9985 "
                     "frames, 0.21 s): the file is shorter than its sidecar expects and than "
                     "its header says (1.65 s): truncated?"))
        fail_msg("process: exit %d\n%s\n%s", rc, out, err);
    /* cut in its release, with a sidecar that says how long it was: warned */
    const char *d2 = strstr(out, "  D2");
    if (!d2 || !strstr(d2, "warn") ||
        !strstr(d2, "the file holds 1.35 s, its sidecar says 1.65 s: truncated? (the release "
                    "is cut short)"))
        fail_msg("a file cut in its release:\n%s", out);
    free(out);
    free(err);
    json_t *manifest = s_load_manifest(lib);
    json_t *in = json_array_get(json_object_get(manifest, "instruments"), 0);
    assert_int_equal(json_array_size(json_object_get(in, "samples")), 2); /* A1, D2 */
    json_t *b1 = s_manifest_take(manifest, "Saw", 47, 100);
    assert_non_null(b1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b1, "qc"), "verdict")),
                        "fail");
    json_decref(manifest);
    bb_rm_rf(dir);
}

/* An instrument whose takes all failed QC writes no folder and no instrument files, but the
 * manifest and the report still list it, with its failed takes and their reasons, so the
 * user sees the next morning why it is missing. Once it exports, it is listed once, as
 * exported; the instrument exported before is replaced, and the run says so with the count
 * of samples before and after. */
static void test_failed_instrument_listed(void **state)
{
    (void)state;
    char dir[256], raw[300], lib[300];
    s_folders("proc-failed", dir, raw, lib);
    s_take_t saw = s_take("Saw", 45, 100);
    s_write(raw, "saw_45", &saw);
    for (int k = 0; k < 2; k++) {
        s_take_t mute = s_take("Mute Bass", 40 + k, 100);
        mute.silent = true;
        char id[32];
        snprintf(id, sizeof id, "mute_%d", k);
        s_write(raw, id, &mute);
    }
    char *out, *err;
    const char *args[] = {"process", "--in", raw, "--out", lib, NULL};
    int rc = s_process(&out, &err, args);
    if (rc != 0 || !strstr(out, "Mute Bass: no sample exported (all 2 take(s) failed QC); no "
                                "instrument files written"))
        fail_msg("process: exit %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    char path[400];
    json_t *manifest = s_load_manifest(lib);
    json_t *insts = json_object_get(manifest, "instruments");
    assert_int_equal(json_array_size(insts), 2);
    json_t *mute = NULL;
    for (size_t i = 0; i < json_array_size(insts); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(insts, i), "name")),
                    "Mute Bass"))
            mute = json_array_get(insts, i);
    assert_non_null(mute);
    const char *failed = json_string_value(json_object_get(mute, "failed"));
    if (!failed || !strstr(failed, "all 2 take(s) failed QC"))
        fail_msg("the manifest's Mute Bass has no \"failed\": %s", failed ? failed : "(none)");
    assert_int_equal(json_array_size(json_object_get(mute, "samples")), 0);
    assert_int_equal(json_array_size(json_object_get(mute, "files")), 0);
    assert_true(json_is_null(json_object_get(mute, "sfz")));
    json_t *skipped = json_object_get(mute, "skipped");
    assert_int_equal(json_array_size(skipped), 2);
    const char *why = json_string_value(
        json_object_get(json_object_get(json_array_get(skipped, 0), "qc"), "reasons"));
    assert_non_null(why);
    assert_true(*why != '\0');
    char folder[600];
    snprintf(folder, sizeof folder, "%s/%s", lib,
             json_string_value(json_object_get(mute, "folder")));
    assert_false(bb_exists(folder)); /* no folder, no .sfz, .dspreset, .sf2, ... */
    json_decref(manifest);
    snprintf(path, sizeof path, "%s/report.html", lib);
    char *html = s_read(path);
    assert_non_null(html);
    if (!strstr(html, "Mute Bass") || !strstr(html, "No sample exported: all 2 take(s) failed QC"))
        fail_msg("report.html does not list Mute Bass and why it has no sample");
    free(html);

    /* recorded again, it sounds: exported, listed once */
    s_take_t loud = s_take("Mute Bass", 40, 100);
    s_write(raw, "mute_0", &loud);
    rc = s_process(&out, &err, args);
    /* a second run into the folder re-cuts what it had, and says so */
    const char *mute_line = out ? strstr(out, "Mute Bass: 1 sample(s) in ") : NULL;
    if (rc != 0 || !strstr(out, "replaces the earlier export of Saw (1 sample(s) -> 1)") ||
        !mute_line || strstr(mute_line, "replaces the earlier export of Mute"))
        fail_msg("process again: exit %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    manifest = s_load_manifest(lib);
    insts = json_object_get(manifest, "instruments");
    assert_int_equal(json_array_size(insts), 2);
    for (size_t i = 0; i < json_array_size(insts); i++)
        assert_null(json_object_get(json_array_get(insts, i), "failed"));
    json_decref(manifest);
    bb_rm_rf(dir);
}

/* The reason of a take too quiet to keep uses one measure in its sentence and its figures
 * (the loudest 50 ms RMS against the floor's RMS: the figures subtract to the dB it
 * states), and a note that plainly sounds is "too quiet", not "silence"; noise alone is
 * silence. */
static void test_quiet_take_reason(void **state)
{
    (void)state;
    char dir[256], raw[300], lib[300]; /* (a dry run writes no library) */
    s_folders("proc-quiet", dir, raw, lib);
    s_take_t quiet = s_take("Soft", 57, 30);
    quiet.peak_db = -62.0; /* about 12 dB over the -80 dBFS floor */
    s_write(raw, "soft_57", &quiet);
    s_take_t none = s_take("Soft", 59, 30);
    none.silent = true;
    s_write(raw, "soft_59", &none);
    char *out, *err;
    const char *args[] = {"process", "--in", raw, "--dry-run", NULL};
    int rc = s_process(&out, &err, args);
    const char *a3 = out ? strstr(out, "too quiet: its loudest 50 ms stand only ") : NULL;
    double said = 0, level = 0, floor = 0, need = 0;
    if (rc != 0 || !a3 ||
        sscanf(a3,
               "too quiet: its loudest 50 ms stand only %lf dB over the noise floor (%lf dBFS "
               "RMS against %lf dBFS RMS, %lf dB needed)",
               &said, &level, &floor, &need) != 4)
        fail_msg("process: exit %d\n%s\n%s", rc, out, err);
    if (fabs(level - floor - said) > 0.11 || said >= need || fabs(floor - S_NOISE_DB) > 1.0)
        fail_msg("the figures do not add up: %.1f dB stated, %.1f - %.1f dBFS RMS", said, level,
                 floor);
    const char *b3 = strstr(out, "  B2");
    if (!b3 || !strstr(b3, "silence"))
        fail_msg("noise alone is not called silence:\n%s", out);
    free(out);
    free(err);
    bb_rm_rf(dir);
}

/* --out is checked before any take is analysed: a path through a file names the file that
 * is not a folder; a folder that cannot be made says so at once; nothing is analysed. */
static void test_out_checked_first(void **state)
{
    (void)state;
    char dir[256], raw[300], file[300], lib[400];
    test_tmpdir(dir, sizeof dir, "proc-out");
    snprintf(raw, sizeof raw, "%s/raw", dir);
    assert_int_equal(bb_mkdir_p(raw), 0);
    s_take_t saw = s_take("Saw", 45, 100);
    s_write(raw, "saw_45", &saw);
    snprintf(file, sizeof file, "%s/notes.txt", dir);
    assert_int_equal(bb_write_file_atomic(file, "mine\n", 5), 0);
    snprintf(lib, sizeof lib, "%s/lib", file);
    char *out, *err;
    const char *args[] = {"process", "--in", raw, "--out", lib, NULL};
    int rc = s_process(&out, &err, args);
    char want[400];
    snprintf(want, sizeof want, "process: %s is not a folder", file);
    if (rc != 1 || !strstr(err, want) || strstr(out, "Saw"))
        fail_msg("--out through a file: exit %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    struct stat st;
    if (stat("/proc/self", &st) != 0)
        test_skip("no /proc here");
    const char *proc[] = {"process", "--in", raw, "--out", "/proc/bb-test-lib", NULL};
    rc = s_process(&out, &err, proc);
    if (rc != 1 || !strstr(err, "process: cannot create /proc/bb-test-lib: ") || strstr(out, "Saw"))
        fail_msg("--out in /proc: exit %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    bb_rm_rf(dir);
}

/* Takes with no pre-roll (cut by another tool): the floor is not known, and the reasons,
 * the table and the manifest say so (null), instead of a floor of -200 dBFS and an SNR of
 * 190 dB. */
static void test_no_preroll(void **state)
{
    (void)state;
    char dir[256], raw[300], lib[300];
    s_folders("proc-nopre", dir, raw, lib);
    s_take_t cut = s_take("Cut", 45, 100);
    cut.note_on = S_RATE / 1000; /* 1 ms */
    cut.note_off = cut.note_on + S_HOLD;
    cut.frames = cut.note_off + S_TAIL;
    s_write(raw, "cut_45", &cut);
    s_take_t whole = s_take("Cut", 47, 100); /* 250 ms: measured */
    s_write(raw, "cut_47", &whole);
    /* 0.8 s after the note-off: the release falls into the noise some 0.5 s after it, and
     * the rest is noise, cut off whether the floor was measured before the note or not */
    s_take_t long_cut = cut, long_whole = s_take("Cut", 50, 100);
    long_cut.note = 48;
    long_cut.frames = long_cut.note_off + 2 * S_TAIL;
    long_whole.frames = long_whole.note_off + 2 * S_TAIL;
    s_write(raw, "cut_48", &long_cut);
    s_write(raw, "cut_50", &long_whole);
    char *out, *err;
    const char *args[] = {"process", "--in", raw, "--out", lib, NULL};
    int rc = s_process(&out, &err, args);
    const char *a1 = out ? strstr(out, "  A1") : NULL;
    const char *b1 = out ? strstr(out, "  B1") : NULL;
    char b1_line[512] = ""; /* its row only */
    if (b1)
        snprintf(b1_line, sizeof b1_line, "%.*s", (int)strcspn(b1, "\n"), b1);
    if (rc != 0 || !a1 || !b1 ||
        !strstr(a1, "noise floor unknown: no pre-roll to measure it (1.0 ms before the "
                    "note-on, 10 ms needed); SNR not measured") ||
        strstr(b1_line, "noise floor unknown") || strstr(out, "nan") || strstr(out, "187."))
        fail_msg("process: exit %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    json_t *manifest = s_load_manifest(lib);
    json_t *qc = json_object_get(s_manifest_take(manifest, "Cut", 45, 100), "qc");
    assert_non_null(qc);
    assert_true(json_is_null(json_object_get(qc, "noise_db")));
    assert_true(json_is_null(json_object_get(qc, "snr_db")));
    qc = json_object_get(s_manifest_take(manifest, "Cut", 47, 100), "qc");
    assert_true(json_is_number(json_object_get(qc, "noise_db")));
    assert_true(json_number_value(json_object_get(qc, "noise_db")) < -70);
    double cut_s = json_number_value(json_object_get(
        json_object_get(s_manifest_take(manifest, "Cut", 48, 100), "qc"), "duration_s"));
    double whole_s = json_number_value(json_object_get(
        json_object_get(s_manifest_take(manifest, "Cut", 50, 100), "qc"), "duration_s"));
    double file_s = (double)(long_cut.frames - long_cut.note_on) / S_RATE;
    if (fabs(cut_s - whole_s) > 0.05 || cut_s > file_s - 0.15)
        fail_msg("with no pre-roll the sample lasts %.3f s of the file's %.3f s after the "
                 "note-on; with one, %.3f s: the noise after the release is kept",
                 cut_s, file_s, whole_s);
    json_decref(manifest);
    bb_rm_rf(dir);
}

/* Damage a node, a cable or a synth's own output does, 416.7 ms into the note (finding 9 of
 * the second tester): 64 frames set to zero, a 64-frame block that repeats the one before
 * it, 37 frames lost. Each is failed with a reason that names its kind and length as it was
 * done, and its place within 1 ms: on a digital take (no noise), and where the damage came
 * before the analog noise (a synth's glitch recorded through its analog output), on a bright
 * sawtooth and on a sine. Each damage has its own instrument (the same damage in two takes
 * of one note would be the instrument's own). */
static void test_dropout_reasons(void **state)
{
    (void)state;
    char dir[256], raw[300], lib[300];
    s_folders("proc-dropout", dir, raw, lib);
    const int notes[] = {45, 48, 57};
    const char *kinds[] = {"Zeros", "Repeat", "Skip"};
    const char *variants[] = {"Digital", "Noisy", "Sine"};
    const int64_t at = S_PREROLL + 20000; /* 416.7 ms after the note-on */
    char inst[3][3][32];
    for (int v = 0; v < 3; v++)
        for (int k = 0; k < 3; k++) {
            snprintf(inst[v][k], sizeof inst[v][k], "%s %s", variants[v], kinds[k]);
            for (int n = 0; n < 3; n++) {
                s_take_t tk = s_take(inst[v][k], notes[n], 100);
                tk.digital = v == 0;
                tk.partials = v == 2 ? 1 : 8;
                if (k == 0)
                    tk.zero_at = at;
                else if (k == 1)
                    tk.repeat_at = at;
                else
                    tk.skip_at = at, tk.skip = 37;
                char id[64];
                snprintf(id, sizeof id, "%s_%s_%d", variants[v], kinds[k], notes[n]);
                s_write(raw, id, &tk);
            }
        }
    char *out, *err;
    const char *args[] = {"process", "--in", raw, "--out", lib, NULL};
    int rc = s_process(&out, &err, args);
    if (rc != 0)
        fail_msg("process: exit %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    json_t *manifest = s_load_manifest(lib);
    int wrong = 0;
    for (int v = 0; v < 3; v++)
        for (int k = 0; k < 3; k++)
            for (int n = 0; n < 3; n++) {
                json_t *qc =
                    json_object_get(s_manifest_take(manifest, inst[v][k], notes[n], 100), "qc");
                const char *why = json_string_value(json_object_get(qc, "reasons"));
                /* exact zeros on a digital take, the noise over them on the others (where
                 * the waveform crosses zero beside them, the noise hides a few frames more);
                 * a splice, the frames it skips in the note's period */
                const char *w =
                    k == 0   ? v == 0 ? "dropout: a run of zeros (" : "dropout: a silent gap ("
                    : k == 1 ? "dropout: a repeated block ("
                             : "dropout: a jump";
                const char *r = why ? strstr(why, w) : NULL;
                long long len = -1, period = -1;
                double ms = -1, len_ms = -1;
                if (r && k < 2)
                    sscanf(r + strlen(w), "%lld frames, %lf ms) at %lf ms", &len, &len_ms, &ms);
                else if (r && (r = strstr(r, "(the waveform skips ")))
                    sscanf(r,
                           "(the waveform skips %lld frames, or that and whole periods of %lld) at "
                           "%lf ms",
                           &len, &period, &ms);
                /* the reason's place counts from the onset (a frame in the file) */
                json_int_t onset = json_integer_value(json_object_get(qc, "onset"));
                double place = (double)(at - onset) * 1000.0 / S_RATE;
                double hz = 440.0 * pow(2.0, (notes[n] - 69) / 12.0);
                bool len_ok = k < 2 ? len >= 64 && len <= (v == 0 ? 64 : 72) &&
                                          fabs(len_ms - len * 1000.0 / S_RATE) < 0.06
                                    : len == 37 && llabs(period - llround(S_RATE / hz)) <= 1;
                if (!len_ok || fabs(ms - place) > 1.0) {
                    printf("%s note %d: want \"%s\" at %.1f ms, got %s\n", inst[v][k], notes[n], w,
                           place, why ? why : "(no reason)");
                    wrong++;
                }
            }
    json_decref(manifest);
    assert_int_equal(wrong, 0);
    bb_rm_rf(dir);
}

/* Redirected to one file with stderr, as a user logs a run, what was printed comes in the
 * order it was printed (finding 12 of the second tester: stdout was buffered, so the errors
 * came first): the table and the first instrument's export come before the error about
 * the second's folder, which Batcherbird did not write. */
static void test_log_in_order(void **state)
{
    (void)state;
    char dir[256], raw[300], lib[300], log[300], bin[512], cmd[2048], mine[400];
    s_folders("proc-order", dir, raw, lib);
    snprintf(log, sizeof log, "%s/run.log", dir);
    s_take_t alpha = s_take("Alpha", 45, 100);
    s_write(raw, "alpha_45", &alpha);
    s_take_t saw = s_take("Saw", 45, 100);
    s_write(raw, "saw_45", &saw);
    snprintf(mine, sizeof mine, "%s/Saw", lib);
    assert_int_equal(bb_mkdir_p(mine), 0);
    snprintf(mine, sizeof mine, "%s/Saw/readme.txt", lib);
    assert_int_equal(bb_write_file_atomic(mine, "mine\n", 5), 0);
    test_bin(bin, sizeof bin, "batcherbird");
    snprintf(cmd, sizeof cmd, "'%s' process --in '%s' --out '%s' >'%s' 2>&1", bin, raw, lib, log);
    int rc = system(cmd);
    char *text = s_read(log);
    assert_non_null(text);
    const char *row = strstr(text, "  A1");
    const char *done = strstr(text, "Alpha: 1 sample(s) in ");
    const char *error = strstr(text, "exporting Saw: ");
    if (rc == 0 || !row || !done || !error || error < row || error < done)
        fail_msg("the log of a run (status %d) is not in the order it was written:\n%s", rc, text);
    free(text);
    bb_rm_rf(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c4_reasons),
        cmocka_unit_test(test_truncated_takes),
        cmocka_unit_test(test_failed_instrument_listed),
        cmocka_unit_test(test_quiet_take_reason),
        cmocka_unit_test(test_out_checked_first),
        cmocka_unit_test(test_no_preroll),
        cmocka_unit_test(test_dropout_reasons),
        cmocka_unit_test(test_log_in_order),
    };
    return test_main_group(tests, argc, argv);
}
