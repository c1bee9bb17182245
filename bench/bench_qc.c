/*
 * bench_qc.c — accuracy and speed of the QC pipeline on real material (tests/qc_real.h:
 * SoundFont instruments rendered by FluidSynth and band-limited oscillators, in the take
 * model a node records, ground truth kept). Prints figures; asserts nothing.
 *
 *   bench_qc [--every N] [--no-aubio] [--src NAME] [--part tuning|held-out] [--damage N]
 *            [--process N [--raw-dir DIR] [--process-only]]
 *
 * One row per corpus (SoundFont or the oscillators) and part (tuning, held-out), then the
 * totals of each part, the held-out one also split into the held-out takes of the corpora
 * tuned on ("tuned-on") and the validation corpora, whose instruments nobody looked at:
 *   onset error   |onset - true start| in ms (median, p95, max): the true start is the
 *                 first sample of the clean render, where the note really begins;
 *   cut>1ms       takes whose onset is more than 1 ms after the note stands above the
 *                 noise floor (sound lost from the attack);
 *   aubio         the same two figures for aubioonset (aubio-tools, default settings: hfc,
 *                 threshold 0.3) on the same takes, its first onset after the search start;
 *   false drop    takes with a dropout or clipping reason (no damage was injected);
 *   pitch         |measured - played| in cents (median, p95) over pitched takes;
 *   exported      takes not failed, of those where the instrument sounded.
 * Speed: audio seconds analysed per CPU second (one core), analysis only; with --process N,
 * N takes are also written as raw takes and `batcherbird process` re-cuts and exports them
 * (its CPU time from wait4), which is the "analysis + export" figure (--raw-dir keeps the
 * takes to run it again by hand). --damage N: how many injected dropouts (zeros, a
 * repeated block, a spliced-out block) are found, on every N-th take, after the noise as a
 * node's overrun leaves them; and on every take of a pitched note from G4 up apart
 * (periods of a few dozen frames, which a 64-frame block spans several of). The instrument's
 * latency prior is applied as batcherbird process does. The whole run takes a few
 * minutes (rendering dominates); --every N takes every N-th take only; --part tuning (or
 * held-out) measures one part only, so that the held-out figures stay unseen while tuning.
 * Environment: BENCH_QC_VERBOSE=1 lists every take off by more than 1.5 ms, cut, failed or
 * given a false dropout, and each instrument's latency prior (on stderr); =2 also every take
 * as analysed, before the prior;
 * BENCH_QC_TAKE=name:note:velocity analyses that one take only (its instrument's prior is
 * then learnt from it alone), and with
 * BENCH_QC_DUMP=file.wav also writes that take (32-bit float WAV) for a look in an editor.
 */
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pipeline.h"
#include "qc_real.h"

#define S_SEARCH_BEFORE_MS 20.0 /* the pipeline searches from 20 ms before the note-on */
#define S_HIGH_NOTE        67   /* G4: periods of 122 frames at 48 kHz and shorter */

typedef struct {
    double *onset, *aubio, *cents;
    int n, n_aubio, n_cents, cut, aubio_cut, aubio_missed, false_drop, sounded, exported, octaves;
    double audio_s, cpu_s;
} s_stats_t;

/* What is kept of a take after its audio is freed. */
typedef struct {
    int inst; /* -1: not rendered */
    dsp_analysis_t a;
    int64_t true_start, audible;
    double nominal_hz;
    int64_t aubio; /* aubio's onset; -1 none found, -2 could not run, -3 not asked */
} s_take_t;

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_pct(double *v, int n, double p)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, s_cmp);
    return v[(int)floor(p * (n - 1) + 0.5)];
}

/* Writes a take as a 32-bit float WAV (BENCH_QC_DUMP), with its truth on stderr. */
static void s_dump(const qc_real_take_t *t, const char *path)
{
    SF_INFO fi = {
        .samplerate = t->rate, .channels = t->channels, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(path, SFM_WRITE, &fi);
    if (!f || sf_writef_float(f, t->audio, t->frames) != t->frames) {
        fprintf(stderr, "bench_qc: cannot write %s: %s\n", path, sf_strerror(f));
    } else {
        fprintf(stderr,
                "bench_qc: wrote %s (note-on frame %lld, true start %lld, audible %lld, "
                "true end %lld)\n",
                path, (long long)t->note_on_frame, (long long)t->true_start, (long long)t->audible,
                (long long)t->true_end);
    }
    if (f)
        sf_close(f);
}

static double s_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* aubioonset's first onset at or after from (frames); -1 when none, -2 when it cannot run. */
static int64_t s_aubio(const qc_real_take_t *t, int64_t from)
{
    char path[] = "/tmp/bench_qc_aubio_XXXXXX.wav";
    int fd = mkstemps(path, 4);
    if (fd < 0)
        return -2;
    close(fd);
    if (qc_real_write_wav(path, t)) {
        unlink(path);
        return -2;
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "aubioonset -i %s -T samples 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    int64_t found = -1;
    double v;
    if (!p) {
        unlink(path);
        return -2;
    }
    while (fscanf(p, "%lf", &v) == 1)
        if (found < 0 && v >= (double)from)
            found = (int64_t)llround(v);
    int st = pclose(p);
    unlink(path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? found : -2;
}

static void s_row(const char *corpus, const char *part, s_stats_t *s)
{
    double sp = s->cpu_s > 0 ? s->audio_s / s->cpu_s : 0;
    char aub[64] = "        -";
    if (s->n_aubio)
        snprintf(aub, sizeof aub, "%5.2f %6.2f %6.1f %4d", s_pct(s->aubio, s->n_aubio, 0.5),
                 s_pct(s->aubio, s->n_aubio, 0.95), s_pct(s->aubio, s->n_aubio, 1.0), s->aubio_cut);
    printf("%-11s %-8s %5d | %5.2f %6.2f %6.1f %4d | %-24s | %4d | %5.1f %5.1f %3d | %5.1f%% | "
           "%4.0fx\n",
           corpus, part, s->n, s_pct(s->onset, s->n, 0.5), s_pct(s->onset, s->n, 0.95),
           s_pct(s->onset, s->n, 1.0), s->cut, aub, s->false_drop, s_pct(s->cents, s->n_cents, 0.5),
           s_pct(s->cents, s->n_cents, 0.95), s->octaves,
           s->sounded ? 100.0 * s->exported / s->sounded : 0.0, sp);
}

static void s_add(s_stats_t *to, const s_stats_t *from)
{
    memcpy(to->onset + to->n, from->onset, sizeof(double) * (size_t)from->n);
    memcpy(to->aubio + to->n_aubio, from->aubio, sizeof(double) * (size_t)from->n_aubio);
    memcpy(to->cents + to->n_cents, from->cents, sizeof(double) * (size_t)from->n_cents);
    to->n += from->n;
    to->n_aubio += from->n_aubio;
    to->n_cents += from->n_cents;
    to->cut += from->cut;
    to->aubio_cut += from->aubio_cut;
    to->aubio_missed += from->aubio_missed;
    to->false_drop += from->false_drop;
    to->sounded += from->sounded;
    to->exported += from->exported;
    to->octaves += from->octaves;
    to->audio_s += from->audio_s;
    to->cpu_s += from->cpu_s;
}

static void s_alloc(s_stats_t *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->onset = calloc(n + 1, sizeof(double));
    s->aubio = calloc(n + 1, sizeof(double));
    s->cents = calloc(n + 1, sizeof(double));
}

static void s_free(s_stats_t *s)
{
    free(s->onset);
    free(s->aubio);
    free(s->cents);
}

/* Writes `count` takes of the corpus as raw takes under dir (WAV + sidecar); returns the
 * audio seconds written. */
/* Dropouts found: every `every`-th take of a part with a 64-frame block of zeros, a
 * repeated 64-frame block and a 64-frame block spliced out (a jump), one at a time, 60 to
 * 360 ms after the true start while the note still sounds. */
/* Every clean take's analysis, so a damaged take is judged beside its note's other takes
 * (dsp_jumps_recur) as process judges it. */
typedef struct {
    int inst, note, velocity;
    dsp_analysis_t a;
} s_clean_t;
static s_clean_t *s_clean;
static size_t s_n_clean, s_cap_clean;

static void s_keep_clean(int inst, int note, int velocity, const dsp_analysis_t *a)
{
    if (s_n_clean == s_cap_clean) {
        size_t cap = s_cap_clean ? 2 * s_cap_clean : 256;
        s_clean_t *v = realloc(s_clean, cap * sizeof *v);
        if (!v)
            return;
        s_clean = v;
        s_cap_clean = cap;
    }
    s_clean[s_n_clean++] = (s_clean_t){.inst = inst, .note = note, .velocity = velocity, .a = *a};
}

/* The clean takes of inst's note at other velocities, into out[] (room for s_n_clean). */
static size_t s_note_others(int inst, int note, int velocity, const dsp_analysis_t **out)
{
    size_t m = 0;
    for (size_t i = 0; i < s_n_clean; i++)
        if (s_clean[i].inst == inst && s_clean[i].note == note && s_clean[i].velocity != velocity)
            out[m++] = &s_clean[i].a;
    return m;
}

static void s_damage_bench(int every, bool held_out, int only)
{
    const dsp_analysis_t **others = calloc(s_n_clean + 1, sizeof *others);
    /* every take: the every-th ones, and the high pitched notes in between */
    size_t n = qc_real_takes(NULL, 0, only >= 0 ? 1u << only : ~0u, !held_out, held_out, 1);
    qc_real_spec_t *specs = calloc(n + 1, sizeof *specs);
    qc_real_takes(specs, n, only >= 0 ? 1u << only : ~0u, !held_out, held_out, 1);
    size_t n_inst;
    const qc_real_inst_t *insts = qc_real_instruments(&n_inst);
    static const char *const what[3] = {"zeros", "repeat", "jump"};
    int found[3] = {0}, tried[3] = {0}, found_hi[3] = {0}, tried_hi[3] = {0};
    size_t m = 0; /* the takes damaged, first: their freepats notes played in one run */
    for (size_t j = 0; j < n; j++)
        if (j % (size_t)every == 0 ||
            (specs[j].note >= S_HIGH_NOTE && insts[specs[j].inst].pitched))
            specs[m++] = specs[j];
    qc_real_prefetch(specs, m);
    n = qc_real_takes(specs, n, only >= 0 ? 1u << only : ~0u, !held_out, held_out, 1);
    for (size_t j = 0; j < n; j++)
        for (int k = 0; k < 3; k++) {
            qc_real_spec_t sp = specs[j];
            const bool high = sp.note >= S_HIGH_NOTE && insts[sp.inst].pitched;
            const bool sampled = j % (size_t)every == 0; /* the i-th of every every-th take */
            if (!sampled && !high)
                continue;
            const size_t i = sampled ? j / (size_t)every : j;
            double at = 60 + (double)(i * 37 % 300);
            if (k == 0)
                sp.zero_block_ms = at;
            else if (k == 1)
                sp.repeat_block_ms = at;
            else
                sp.jump_ms = at;
            qc_real_take_t t;
            if (qc_real_render(&sp, &t))
                continue;
            if (t.damage_at < 0 || t.damage_at > t.true_end - t.rate / 20) {
                qc_real_free(&t); /* the note has ended there */
                continue;
            }
            dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
            cfg.pitch_check = insts[sp.inst].pitched;
            dsp_take_info_t info = {.note_on = t.note_on_frame,
                                    .note_off = t.note_off_frame,
                                    .note = sp.note,
                                    .velocity = sp.velocity};
            dsp_analysis_t a;
            dsp_analyze(t.audio, t.frames, t.channels, t.rate, &info, &cfg, &a);
            dsp_jumps_recur(&a, others, s_note_others(sp.inst, sp.note, sp.velocity, others));
            tried[k] += sampled;
            tried_hi[k] += high;
            if (strstr(a.reasons, "dropout")) {
                found[k] += sampled;
                found_hi[k] += high;
            } else if (getenv("BENCH_QC_VERBOSE"))
                fprintf(stderr, "missed %s: %s note %d vel %d at %.0f ms\n", what[k],
                        insts[sp.inst].name, sp.note, sp.velocity, at);
            qc_real_free(&t);
        }
    printf("dropouts found, %s (every %d-th take): zero block %d/%d, repeated block %d/%d, "
           "jump %d/%d\n",
           held_out ? "held-out" : "tuning", every, found[0], tried[0], found[1], tried[1],
           found[2], tried[2]);
    printf("dropouts found, %s, every pitched take from G4 (MIDI %d) up: zero block %d/%d, "
           "repeated block %d/%d, jump %d/%d\n",
           held_out ? "held-out" : "tuning", S_HIGH_NOTE, found_hi[0], tried_hi[0], found_hi[1],
           tried_hi[1], found_hi[2], tried_hi[2]);
    free(others);
    free(specs);
}

static void s_process_bench(const qc_real_spec_t *specs, size_t n, size_t count, const char *keep)
{
    const char *bin = getenv("BB_BIN_DIR");
    char prog[512];
    snprintf(prog, sizeof prog, "%s/batcherbird", bin ? bin : BB_BENCH_BIN_DIR);
    char in[512] = "/tmp/bench_qc_raw_XXXXXX", out[600];
    if (keep) {
        snprintf(in, sizeof in, "%s", keep);
        if (mkdir(in, 0755) != 0 && errno != EEXIST) {
            perror("bench_qc: --raw-dir");
            return;
        }
    } else if (!mkdtemp(in)) {
        perror("bench_qc: mkdtemp");
        return;
    }
    snprintf(out, sizeof out, "%s/library", in);
    double seconds = qc_real_write_raw(NULL, in, specs, n, count);
    fflush(stdout); /* the child must not print what is still buffered here */
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execl(prog, prog, "process", "--in", in, "--out", out, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0) {
        perror("bench_qc: running batcherbird process");
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    double wall = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        printf("batcherbird process exited with status %d (%s)\n", WEXITSTATUS(st), prog);
    printf("batcherbird process: %zu raw takes, %.1f s of stereo audio: %.2f s CPU (%.2f s wall) "
           "= %.0fx realtime per core, analysis + export\n",
           count, seconds, cpu, wall, cpu > 0 ? seconds / cpu : 0);
    if (keep) {
        printf("raw takes kept in %s (re-run: batcherbird process --in %s --out LIB)\n", in, in);
        return;
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", in);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_qc: could not remove %s\n", in);
}

int main(int argc, char **argv)
{
    int every = 1, process_n = 0;
    const char *raw_dir = NULL;
    bool process_only = false;
    int damage = 0;
    bool aubio = true;
    int only = -1, only_part = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--every") && i + 1 < argc)
            every = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-aubio"))
            aubio = false;
        else if (!strcmp(argv[i], "--process") && i + 1 < argc)
            process_n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--raw-dir") && i + 1 < argc)
            raw_dir = argv[++i];
        else if (!strcmp(argv[i], "--process-only"))
            process_only = true;
        else if (!strcmp(argv[i], "--damage") && i + 1 < argc)
            damage = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--part") && i + 1 < argc) {
            const char *name = argv[++i];
            only_part = !strcmp(name, "tuning") ? 0 : !strcmp(name, "held-out") ? 1 : -2;
            if (only_part < 0) {
                fprintf(stderr, "bench_qc: --part is tuning or held-out, not %s\n", name);
                return 2;
            }
        } else if (!strcmp(argv[i], "--src") && i + 1 < argc) {
            const char *name = argv[++i];
            for (int s = 0; s < QC_SRC_COUNT; s++)
                if (!strcmp(name, qc_real_src_name((qc_src_t)s)))
                    only = s;
            if (only < 0) {
                fprintf(stderr, "bench_qc: unknown source %s\n", name);
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: bench_qc [--every N] [--no-aubio] [--src NAME] [--part P] [--damage N] "
                    "[--process N [--raw-dir DIR] [--process-only]]\n");
            return 2;
        }
    }
    if (aubio && system("command -v aubioonset >/dev/null 2>&1") != 0) {
        printf("(aubioonset not found: apt-get install aubio-tools; aubio columns left out)\n");
        aubio = false;
    }
    size_t n_inst;
    const qc_real_inst_t *insts = qc_real_instruments(&n_inst);
    size_t total = qc_real_takes(NULL, 0, ~0u, true, true, 1);
    /* tuning, held-out; the held-out part split: the tuning corpora's held-out takes, and
     * the validation corpora (csound, freepats), which nothing was ever tuned on */
    s_stats_t part_total[2], held[2];
    s_alloc(&part_total[0], total);
    s_alloc(&part_total[1], total);
    s_alloc(&held[0], total);
    s_alloc(&held[1], total);
    printf("QC on real material (tests/qc_real.c). onset: |onset - true start| in ms (median, "
           "p95, max) and takes cut by > 1 ms;\naubio: the same for aubioonset; drop: false "
           "dropout or clipping reasons; pitch: |tuning error| in cents\n(median, p95) and "
           "takes heard an octave off; export: takes exported of those that sounded; speed: "
           "analysis x realtime per core\n");
    printf("%-11s %-8s %5s | %-23s | %-24s | %4s | %-15s | %6s | %5s\n", "corpus", "part", "takes",
           "onset med  p95   max cut", "aubio med  p95   max cut", "drop", "pitch med p95 8v",
           "export", "speed");
    for (int src = 0; src < QC_SRC_COUNT && !process_only; src++) {
        if (only >= 0 && src != only)
            continue;
        if (!qc_real_available((qc_src_t)src)) {
            printf("%-12s (SoundFont not installed: see scripts/deps.sh)\n",
                   qc_real_src_name((qc_src_t)src));
            continue;
        }
        for (int part = 0; part < 2; part++) {
            if (only_part >= 0 && part != only_part)
                continue;
            size_t n = qc_real_takes(NULL, 0, 1u << src, part == 0, part == 1, every);
            qc_real_spec_t *specs = calloc(n + 1, sizeof *specs);
            qc_real_takes(specs, n, 1u << src, part == 0, part == 1, every);
            qc_real_prefetch(specs, n); /* TiMidity++ plays the freepats notes in one run */
            s_stats_t s;
            s_alloc(&s, n);
            s_take_t *tk = calloc(n + 1, sizeof *tk);
            for (size_t i = 0; i < n; i++) {
                const qc_real_inst_t *in = &insts[specs[i].inst];
                qc_real_take_t t;
                tk[i].inst = -1;
                const char *pick = getenv("BENCH_QC_TAKE"); /* "name:note:velocity" */
                if (pick) {
                    char want[160];
                    snprintf(want, sizeof want, "%s:%d:%d", in->name, specs[i].note,
                             specs[i].velocity);
                    if (strcmp(pick, want))
                        continue;
                }
                if (qc_real_render(&specs[i], &t)) {
                    fprintf(stderr, "bench_qc: cannot render %s note %d\n", in->name,
                            specs[i].note);
                    continue;
                }
                if (pick && getenv("BENCH_QC_DUMP"))
                    s_dump(&t, getenv("BENCH_QC_DUMP"));
                dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
                cfg.pitch_check = in->pitched;
                dsp_take_info_t info = {.note_on = t.note_on_frame,
                                        .note_off = t.note_off_frame,
                                        .note = specs[i].note,
                                        .velocity = specs[i].velocity};
                double c0 = s_cpu_s();
                dsp_analyze(t.audio, t.frames, t.channels, t.rate, &info, &cfg, &tk[i].a);
                s.cpu_s += s_cpu_s() - c0;
                s.audio_s += (double)t.frames / t.rate;
                tk[i].inst = specs[i].inst;
                tk[i].true_start = t.true_start;
                tk[i].audible = t.audible;
                tk[i].nominal_hz = t.nominal_hz;
                tk[i].aubio = -3;
                if (aubio) {
                    int64_t from = t.note_on_frame - (int64_t)(S_SEARCH_BEFORE_MS * t.rate / 1000);
                    tk[i].aubio = s_aubio(&t, from);
                }
                qc_real_free(&t);
            }
            /* BENCH_QC_VERBOSE=2: every take as analysed, before the prior (ms after note-on) */
            for (size_t i = 0;
                 i < n && getenv("BENCH_QC_VERBOSE") && atoi(getenv("BENCH_QC_VERBOSE")) >= 2;
                 i++) {
                const dsp_analysis_t *a = &tk[i].a;
                if (tk[i].inst < 0)
                    continue;
                const double ms = 1000.0 / a->rate;
                fprintf(stderr,
                        "take: %s note %d vel %d: true start %.2f audible %.2f foot %.2f present "
                        "%.2f onset %.2f %s\n",
                        insts[tk[i].inst].name, specs[i].note, specs[i].velocity,
                        (double)(tk[i].true_start - a->note_on) * ms,
                        (double)(tk[i].audible - a->note_on) * ms,
                        a->onset_foot >= 0 ? (double)(a->onset_foot - a->note_on) * ms : NAN,
                        (double)(a->onset_present - a->note_on) * ms,
                        (double)(a->onset - a->note_on) * ms, a->attack_clear ? "clear" : "slow");
            }
            /* the instrument's latency prior, as process and the export apply it */
            double c0 = s_cpu_s();
            for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && specs[j].inst == specs[i].inst)
                    j++;
                const dsp_analysis_t **ptr = calloc(j - i, sizeof *ptr);
                for (size_t k = i; k < j; k++)
                    ptr[k - i] = tk[k].inst >= 0 ? &tk[k].a : NULL;
                dsp_latency_prior_t prior;
                dsp_latency_prior_learn(ptr, j - i, false, &prior);
                if (getenv("BENCH_QC_VERBOSE"))
                    fprintf(stderr,
                            "prior: %s: %s latency %.2f ms (spread %.2f, %d takes%s%s), "
                            "ceiling %s%.2f ms\n",
                            insts[specs[i].inst].name, prior.known ? "known" : "unknown",
                            prior.latency_ms, prior.spread_ms, prior.takes,
                            prior.pooled ? ", pooled" : "", prior.at_ceiling ? ", at ceiling" : "",
                            prior.has_ceiling ? "" : "none ", prior.ceiling_ms);
                for (size_t k = i; k < j; k++)
                    if (tk[k].inst >= 0)
                        dsp_latency_prior_apply(&tk[k].a, &prior);
                free(ptr);
                i = j;
            }
            /* jumps that another take of the note shares, as process clears them */
            const dsp_analysis_t **note = calloc(n + 1, sizeof *note);
            for (size_t i = 0; note && i < n; i++) {
                if (tk[i].inst < 0 || tk[i].a.dropouts < 1)
                    continue;
                size_t m = 0;
                for (size_t k = 0; k < n; k++)
                    if (k != i && tk[k].inst == tk[i].inst && specs[k].note == specs[i].note)
                        note[m++] = &tk[k].a;
                dsp_jumps_recur(&tk[i].a, note, m);
            }
            free(note);
            s.cpu_s += s_cpu_s() - c0;
            for (size_t i = 0; i < n; i++)
                if (tk[i].inst >= 0)
                    s_keep_clean(tk[i].inst, specs[i].note, specs[i].velocity, &tk[i].a);
            for (size_t i = 0; i < n; i++) {
                if (tk[i].inst < 0)
                    continue;
                const qc_real_inst_t *in = &insts[tk[i].inst];
                const dsp_analysis_t *a = &tk[i].a;
                const double ms = 1000.0 / a->rate;
                s.onset[s.n++] = fabs((double)(a->onset - tk[i].true_start)) * ms;
                if (getenv("BENCH_QC_VERBOSE") &&
                    fabs((double)(a->onset - tk[i].true_start)) * ms > 1.5)
                    fprintf(stderr,
                            "off: %s note %d vel %d: onset %+.2f ms from true start, present "
                            "%+.2f, audible %+.2f (%s)\n",
                            in->name, specs[i].note, specs[i].velocity,
                            (double)(a->onset - tk[i].true_start) * ms,
                            (double)(a->onset_present - tk[i].true_start) * ms,
                            (double)(tk[i].audible - tk[i].true_start) * ms,
                            a->onset_source == DSP_ONSET_CLEAR   ? "clear"
                            : a->onset_source == DSP_ONSET_PRIOR ? "prior"
                                                                 : "extrapolated");
                if ((double)(a->onset - tk[i].audible) * ms > 1.0) {
                    s.cut++;
                    if (getenv("BENCH_QC_VERBOSE"))
                        fprintf(stderr,
                                "cut: %s note %d vel %d: onset %+.2f ms after audible, "
                                "%+.2f ms from true start\n",
                                in->name, specs[i].note, specs[i].velocity,
                                (double)(a->onset - tk[i].audible) * ms,
                                (double)(a->onset - tk[i].true_start) * ms);
                }
                if (strstr(a->reasons, "dropout") || strstr(a->reasons, "clipping")) {
                    s.false_drop++;
                    if (getenv("BENCH_QC_VERBOSE"))
                        fprintf(stderr, "false: %s note %d vel %d: %s\n", in->name, specs[i].note,
                                specs[i].velocity, a->reasons);
                }
                if (in->pitched && a->pitch_hz > 0) {
                    /* the tuning error, whole octaves aside (counted on their own) */
                    double c = 1200.0 * log2(a->pitch_hz / tk[i].nominal_hz);
                    double oct = 1200.0 * round(c / 1200.0);
                    s.cents[s.n_cents++] = fabs(c - oct);
                    s.octaves += oct != 0;
                    if (oct != 0 && getenv("BENCH_QC_VERBOSE"))
                        fprintf(
                            stderr,
                            "octave: %s note %d vel %d: heard %+.0f cents (%.1f Hz for %.1f Hz)\n",
                            in->name, specs[i].note, specs[i].velocity, c, a->pitch_hz,
                            tk[i].nominal_hz);
                }
                s.sounded++;
                if (a->verdict != DSP_FAIL)
                    s.exported++;
                else if (getenv("BENCH_QC_VERBOSE"))
                    fprintf(stderr, "failed: %s note %d vel %d: %s\n", in->name, specs[i].note,
                            specs[i].velocity, a->reasons);
                if (tk[i].aubio >= 0) {
                    s.aubio[s.n_aubio++] = fabs((double)(tk[i].aubio - tk[i].true_start)) * ms;
                    if ((double)(tk[i].aubio - tk[i].audible) * ms > 1.0)
                        s.aubio_cut++;
                } else if (tk[i].aubio != -3) {
                    s.aubio_missed++;
                }
            }
            free(tk);
            s_row(qc_real_src_name((qc_src_t)src), part ? "held-out" : "tuning", &s);
            s_add(&part_total[part], &s);
            if (part == 1)
                s_add(&held[src == QC_SRC_CSOUND || src == QC_SRC_FREEPATS], &s);
            s_free(&s);
            free(specs);
        }
    }
    if (!process_only) {
        s_row("all", "tuning", &part_total[0]);
        s_row("all", "held-out", &part_total[1]);
        if (held[0].n && held[1].n) {
            s_row("tuned-on", "held-out", &held[0]);
            s_row("validation", "held-out", &held[1]);
        }
    }
    if (aubio && (part_total[0].aubio_missed || part_total[1].aubio_missed))
        printf("(aubio found no onset on %d takes; they are left out of its columns)\n",
               part_total[0].aubio_missed + part_total[1].aubio_missed);
    if (damage > 0) { /* --part: the held-out part's misses stay unseen while tuning */
        if (only_part != 1)
            s_damage_bench(damage, false, only);
        if (only_part != 0)
            s_damage_bench(damage, true, only);
    }
    if (process_n > 0) {
        size_t n = qc_real_takes(NULL, 0, ~0u, true, true, 1);
        qc_real_spec_t *specs = calloc(n + 1, sizeof *specs);
        qc_real_takes(specs, n, ~0u, true, true, 1);
        s_process_bench(specs, n, (size_t)process_n, raw_dir);
        free(specs);
    }
    s_free(&part_total[0]);
    s_free(&part_total[1]);
    s_free(&held[0]);
    s_free(&held[1]);
    qc_real_shutdown();
    return 0;
}
