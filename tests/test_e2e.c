/*
 * test_e2e.c — the whole system: a real coordinator and two real capture nodes (fast
 * simulation) talking ZeroMQ over ipc://, a two-instrument batch submitted through the
 * CLI binary, then the library checked as a sampler would see it and against the
 * simulated instruments' ground truth:
 *  - notes x velocities x round robins files per instrument, named as DESIGN.md says;
 *  - every WAV reads back with libsndfile as 48 kHz 24-bit PCM;
 *  - the SFZ maps every file, every key in its range and every velocity 1-127 to exactly
 *    one region per round-robin step;
 *  - every sample starts within 2 ms of where the simulated instrument's attack began;
 *  - the exported audio is the raw take from that point, scaled by one gain;
 *  - a release longer than the plan's is waited out: no pre-roll holds the previous note.
 */
#include <dirent.h>
#include <math.h>
#include <regex.h>
#include <setjmp.h>
#include <sndfile.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_fs.h"
#include "test_fixture.h"
#include "test_export_util.h"
#include "test_util.h"

#define RATE                   48000
#define MAX_ALIGN_ERROR_FRAMES (2 * RATE / 1000)

/* node-a..node-d start with the fixture (slots 0-3); node-e, whose device comes and goes,
 * with its test (slot 4). */
static test_fixture_t s_fx;
#define S_NODE_E 4

typedef struct {
    const char *name, *folder, *node, *truth;
    int notes[8], n_notes;
    int vels[4], n_vels;
    int rrs;
} s_inst_t;

static s_inst_t s_piano = {
    "Test Piano", "Test-Piano", "node-a", "truth-a.txt", {48, 54, 60}, 3, {64, 127}, 2, 2};
static s_inst_t s_organ = {
    "Test Organ", "Test-Organ", "node-b", "truth-b.txt", {60, 64, 68, 72}, 4, {100}, 1, 1};

static int s_start_all(void **state)
{
    test_fixture_init(&s_fx, "e2e", 200);
    if (test_fixture_coord_start(&s_fx, NULL))
        return -1;
    /* node-c clips every 5th note it plays, node-d every 3rd: QC must catch them. */
    struct {
        const char *name, *preset, *truth, *every;
    } nodes[4] = {{"node-a", "piano", "truth-a.txt", NULL},
                  {"node-b", "organ", "truth-b.txt", NULL},
                  {"node-c", "organ", "truth-c.txt", "5"},
                  {"node-d", "organ", "truth-d.txt", "3"}};
    for (int i = 0; i < 4; i++) {
        char truth[300];
        snprintf(truth, sizeof truth, "%s/%s", s_fx.dir, nodes[i].truth);
        const char *nargs[] = {"--instrument",
                               nodes[i].preset,
                               "--fast",
                               "--sim-truth",
                               truth,
                               "--sim-latency",
                               "4",
                               NULL,
                               NULL,
                               NULL,
                               NULL,
                               NULL};
        if (nodes[i].every) {
            nargs[7] = "--sim-fault";
            nargs[8] = "clip";
            nargs[9] = "--sim-fault-every";
            nargs[10] = nodes[i].every;
        }
        if (test_fixture_node_start(&s_fx, i, nodes[i].name, nargs))
            return -1;
    }
    return 0;
}

static int s_stop_all(void **state)
{
    test_fixture_teardown(&s_fx);
    return 0;
}

static void s_dump_logs(void)
{
    test_fixture_dump_logs(&s_fx);
}

static void s_wait_nodes_online(void)
{
    if (test_fixture_wait_online(&s_fx, 4, 60))
        return;
    s_dump_logs();
    fail_msg("the four nodes did not come online");
}

/* ---- SFZ ---- */

typedef struct {
    char sample[256];
    int key, lokey, hikey, lovel, hivel, seq_len, seq_pos;
} s_region_t;

static int s_opcode(const char *line, const char *name, int dflt)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", name);
    const char *p = strstr(line, pat);
    return p ? atoi(p + strlen(pat)) : dflt;
}

static int s_parse_sfz(const char *path, s_region_t *r, int max)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "<region>", 8) != 0)
            continue;
        assert_true(n < max);
        const char *s = strstr(line, "sample=");
        assert_non_null(s);
        sscanf(s + 7, "%255s", r[n].sample);
        r[n].key = s_opcode(line, "pitch_keycenter", -1);
        r[n].lokey = s_opcode(line, "lokey", -1);
        r[n].hikey = s_opcode(line, "hikey", -1);
        r[n].lovel = s_opcode(line, "lovel", 1);
        r[n].hivel = s_opcode(line, "hivel", 127);
        r[n].seq_len = s_opcode(line, "seq_length", 1);
        r[n].seq_pos = s_opcode(line, "seq_position", 1);
        n++;
    }
    fclose(f);
    return n;
}

static void s_check_instrument_files(const s_inst_t *in)
{
    char dir[512], samples[600], sfz[600];
    snprintf(dir, sizeof dir, "%s/lib/%s", s_fx.dir, in->folder);
    snprintf(samples, sizeof samples, "%s/samples", dir);
    snprintf(sfz, sizeof sfz, "%s/%s.sfz", dir, in->folder);

    /* the files: one per note x velocity x round robin, named for auto-mapping */
    int expected = in->n_notes * in->n_vels * in->rrs;
    regex_t re;
    char pattern[256];
    snprintf(pattern, sizeof pattern, "^%s_[A-G]#?-?[0-9]_([0-9]{3})_v([0-9]{3})_rr([0-9]+)\\.wav$",
             in->folder);
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED), 0);
    DIR *d = opendir(samples);
    assert_non_null(d);
    int count = 0;
    bool seen[128][128][4] = {{{false}}};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        regmatch_t m[4];
        if (regexec(&re, e->d_name, 4, m, 0) != 0)
            fail_msg("unexpected file name %s", e->d_name);
        int note = atoi(e->d_name + m[1].rm_so), vel = atoi(e->d_name + m[2].rm_so),
            rr = atoi(e->d_name + m[3].rm_so);
        assert_true(note < 128 && vel < 128 && rr >= 1 && rr <= in->rrs);
        seen[note][vel][rr] = true;
        char path[900];
        snprintf(path, sizeof path, "%s/%s", samples, e->d_name);
        SF_INFO info = {0};
        SNDFILE *sf = sf_open(path, SFM_READ, &info);
        assert_non_null(sf);
        assert_int_equal(info.samplerate, RATE);
        assert_int_equal(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_24);
        assert_int_equal(info.channels, 2);
        assert_true(info.frames > RATE / 10);
        /* bext: recorded today, TimeReference = samples since local midnight (the node's
         * wall clock at the take's first frame), not a stream frame */
        SF_BROADCAST_INFO bext;
        memset(&bext, 0, sizeof bext);
        assert_int_equal(sf_command(sf, SFC_GET_BROADCAST_INFO, &bext, sizeof bext), SF_TRUE);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        double since = tm.tm_hour * 3600.0 + tm.tm_min * 60 + tm.tm_sec;
        double tref =
            (double)((uint64_t)bext.time_reference_high << 32 | bext.time_reference_low) / RATE;
        double ago = since - tref;
        if (ago < -43200)
            ago += 86400; /* recorded before midnight */
        /* a --fast node's stream runs ahead of the wall clock: its stamps may be in the
         * future by the take's length */
        if (fabs(ago) > 600)
            fail_msg("%s: bext TimeReference %.1f s since midnight, now is %.1f", e->d_name, tref,
                     since);
        sf_close(sf);
        count++;
    }
    closedir(d);
    regfree(&re);
    assert_int_equal(count, expected);
    for (int i = 0; i < in->n_notes; i++)
        for (int v = 0; v < in->n_vels; v++)
            for (int r = 1; r <= in->rrs; r++)
                assert_true(seen[in->notes[i]][in->vels[v]][r]);

    /* the SFZ: every file mapped, full coverage, no overlaps */
    s_region_t regions[64];
    int n = s_parse_sfz(sfz, regions, 64);
    assert_int_equal(n, expected);
    int lo = 127, hi = 0;
    for (int i = 0; i < n; i++) {
        char path[900];
        assert_int_equal(bb_path_fmt(path, sizeof path, "%s/%s", dir, regions[i].sample), 0);
        assert_true(bb_exists(path));
        assert_true(regions[i].key >= regions[i].lokey && regions[i].key <= regions[i].hikey);
        if (regions[i].lokey < lo)
            lo = regions[i].lokey;
        if (regions[i].hikey > hi)
            hi = regions[i].hikey;
    }
    assert_true(lo <= in->notes[0] && hi >= in->notes[in->n_notes - 1]);

    /* the root key of every sample is the note in its file name, in every format: smpl,
     * SFZ, DecentSampler, SF2, .multisample (a library a semitone off fails here) */
    int checked[5];
    char why[512];
    if (tx_check_root_keys(dir, in->folder, checked, why, sizeof why))
        fail_msg("%s", why);
    for (int k = 0; k < 5; k++)
        if (checked[k] < expected)
            fail_msg("format %d: %d of %d samples checked for their root key", k, checked[k],
                     expected);
    for (int key = lo; key <= hi; key++) {
        for (int vel = 1; vel <= 127; vel++) {
            int per_pos[17] = {0}, len = 0;
            for (int i = 0; i < n; i++) {
                const s_region_t *r = &regions[i];
                if (key >= r->lokey && key <= r->hikey && vel >= r->lovel && vel <= r->hivel) {
                    per_pos[r->seq_pos]++;
                    len = r->seq_len;
                }
            }
            assert_int_equal(len, in->rrs);
            for (int p = 1; p <= len; p++)
                if (per_pos[p] != 1)
                    fail_msg("key %d vel %d rr %d maps to %d regions", key, vel, p, per_pos[p]);
        }
    }
}

/* ---- alignment against the simulated instrument's ground truth ---- */

typedef struct {
    long long frame;
    int note, vel;
} s_truth_t;

static int s_read_truth(const char *path, s_truth_t *t, int max)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        long long frame;
        int note, vel;
        if (sscanf(line, "on frame=%lld note=%d velocity=%d", &frame, &note, &vel) == 3)
            t[n++] = (s_truth_t){frame, note, vel};
    }
    fclose(f);
    return n;
}

static void s_check_alignment(const s_inst_t *in, int inst_idx)
{
    char db_path[400], truth_path[400];
    snprintf(db_path, sizeof db_path, "%s/state/batcherbird.db", s_fx.dir);
    snprintf(truth_path, sizeof truth_path, "%s/%s", s_fx.dir, in->truth);
    static s_truth_t truth[4096];
    int n_truth = s_read_truth(truth_path, truth, 4096);
    assert_true(n_truth >= in->n_notes * in->n_vels * in->rrs);

    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT t.id, t.cut_start, t.stream_start_frame, t.frames,"
                                        " j.note, j.velocity, t.path FROM takes t JOIN jobs j ON"
                                        " j.take_id = t.id WHERE j.batch_id=1 AND j.inst_idx=?"
                                        " AND j.state=2",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, inst_idx);
    int checked = 0;
    long long worst = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long cut = sqlite3_column_int64(st, 1), start = sqlite3_column_int64(st, 2),
                  frames = sqlite3_column_int64(st, 3);
        int note = sqlite3_column_int(st, 4), vel = sqlite3_column_int(st, 5);
        const s_truth_t *hit = NULL;
        for (int i = 0; i < n_truth; i++)
            if (truth[i].note == note && truth[i].vel == vel && truth[i].frame >= start &&
                truth[i].frame < start + frames)
                hit = &truth[i];
        if (!hit)
            fail_msg("take %s: no simulated attack inside it", sqlite3_column_text(st, 0));
        long long err = cut - (hit->frame - start);
        if (llabs(err) > worst)
            worst = llabs(err);
        if (llabs(err) > MAX_ALIGN_ERROR_FRAMES)
            fail_msg("take %s starts %lld frames (%.2f ms) from the simulated attack",
                     sqlite3_column_text(st, 0), err, err * 1000.0 / RATE);
        checked++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(checked, in->n_notes * in->n_vels * in->rrs);
    fprintf(stderr, "%s: %d samples, worst start error %lld frames (%.3f ms)\n", in->name, checked,
            worst, worst * 1000.0 / RATE);
}

/* The exported audio is the raw take from its cut point, times one gain. */
static void s_check_content(const s_inst_t *in, int inst_idx)
{
    char db_path[400];
    snprintf(db_path, sizeof db_path, "%s/state/batcherbird.db", s_fx.dir);
    sqlite3 *db;
    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT t.path, t.cut_start, j.note, j.velocity, j.rr FROM takes t JOIN"
                       " jobs j ON j.take_id = t.id WHERE j.batch_id=1 AND j.inst_idx=? AND"
                       " j.state=2 ORDER BY j.seq LIMIT 1",
                       -1, &st, NULL);
    sqlite3_bind_int(st, 1, inst_idx);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char raw_path[600];
    snprintf(raw_path, sizeof raw_path, "%s", sqlite3_column_text(st, 0));
    long long cut = sqlite3_column_int64(st, 1);
    int note = sqlite3_column_int(st, 2), vel = sqlite3_column_int(st, 3),
        rr = sqlite3_column_int(st, 4);
    sqlite3_finalize(st);
    sqlite3_close(db);

    char pattern[700];
    snprintf(pattern, sizeof pattern, "_%03d_v%03d_rr%d.wav", note, vel, rr);
    char samples[600], exported[1400] = "";
    snprintf(samples, sizeof samples, "%s/lib/%s/samples", s_fx.dir, in->folder);
    DIR *d = opendir(samples);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, pattern))
            snprintf(exported, sizeof exported, "%s/%s", samples, e->d_name);
    closedir(d);
    assert_true(*exported);

    SF_INFO ri = {0}, ei = {0};
    SNDFILE *rf = sf_open(raw_path, SFM_READ, &ri), *ef = sf_open(exported, SFM_READ, &ei);
    assert_non_null(rf);
    assert_non_null(ef);
    float *raw = malloc(sizeof(float) * ri.frames * ri.channels);
    float *exp = malloc(sizeof(float) * ei.frames * ei.channels);
    sf_readf_float(rf, raw, ri.frames);
    sf_readf_float(ef, exp, ei.frames);
    sf_close(rf);
    sf_close(ef);
    /* gain from the loudest sample, then every clearly audible sample must agree */
    long long n = ei.frames * ei.channels, best = 0;
    for (long long i = 0; i < n / 2; i++)
        if (fabsf(exp[i]) > fabsf(exp[best]))
            best = i;
    double gain = exp[best] / raw[cut * ri.channels + best];
    assert_true(gain > 0.5 && gain < 100);
    long long compared = 0;
    for (long long i = 0; i < n / 2; i++) {
        double r = raw[cut * ri.channels + i];
        if (fabs(r * gain) < 0.01)
            continue;
        assert_true(fabs(exp[i] - r * gain) < 1e-3);
        compared++;
    }
    assert_true(compared > 100);
    free(raw);
    free(exp);
}

static void test_two_instruments_end_to_end(void **state)
{
    s_wait_nodes_online();
    char out_dir[400];
    snprintf(out_dir, sizeof out_dir, "%s/lib", s_fx.dir);
    const char *args[] = {"--coordinator",
                          s_fx.ops,
                          "--events",
                          s_fx.events,
                          "submit",
                          "--instrument",
                          s_piano.name,
                          "--node",
                          s_piano.node,
                          "--notes",
                          "C2:C3",
                          "--step",
                          "6",
                          "--velocities",
                          "64,127",
                          "--round-robins",
                          "2",
                          "--hold",
                          "0.3",
                          "--release",
                          "0.6",
                          "--instrument",
                          s_organ.name,
                          "--node",
                          s_organ.node,
                          "--notes",
                          "C3:C4",
                          "--step",
                          "4",
                          "--velocities",
                          "100",
                          "--hold",
                          "0.4",
                          "--release",
                          "0.3",
                          "--loop",
                          "--out",
                          out_dir,
                          "--watch",
                          NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run("batcherbird", args, 240, &out, &err);
    if (rc != 0) {
        fprintf(stderr, "submit --watch exited %d\nstdout:\n%s\nstderr:\n%s\n", rc, out, err);
        s_dump_logs();
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "batch 1 submitted: 2 instrument(s), 16 takes"));
    assert_non_null(strstr(out, "done"));
    free(out);
    free(err);
    s_check_instrument_files(&s_piano);
    s_check_instrument_files(&s_organ);
    s_check_alignment(&s_piano, 0);
    s_check_alignment(&s_organ, 1);
    s_check_content(&s_piano, 0);
    s_check_content(&s_organ, 1);

    /* the organ asked for loops: each sample carries one in smpl and in the SFZ */
    char path[600];
    snprintf(path, sizeof path, "%s/Test-Organ/samples/Test-Organ_C3_060_v100_rr1.wav", out_dir);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    assert_non_null(sf);
    SF_INSTRUMENT inst;
    assert_int_equal(sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst), SF_TRUE);
    assert_int_equal(inst.basenote, 60);
    assert_int_equal(inst.loop_count, 1);
    assert_true(inst.loops[0].start > 0 && inst.loops[0].end > inst.loops[0].start + 4800);
    assert_true(inst.loops[0].end <= (unsigned)info.frames);
    /* a whole number of C3 periods (261.63 Hz) long, to within a frame */
    double periods = (inst.loops[0].end - inst.loops[0].start) * 261.6256 / 48000.0;
    assert_true(fabs(periods - round(periods)) * 48000.0 / 261.6256 <= 1.5);
    sf_close(sf);
    snprintf(path, sizeof path, "%s/Test-Organ/Test-Organ.sfz", out_dir);
    char *sfz = NULL;
    size_t sfz_len = 0;
    assert_int_equal(bb_read_file(path, &sfz, &sfz_len), 0);
    assert_non_null(strstr(sfz, "loop_mode=loop_continuous"));
    assert_non_null(strstr(sfz, "loop_start="));
    free(sfz);

    /* status afterwards names the library */
    const char *sargs[] = {"--coordinator", s_fx.ops, "status", "1", NULL};
    rc = test_run("batcherbird", sargs, 10, &out, NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "done"));
    assert_non_null(strstr(out, "12 samples in"));
    free(out);

    /* report: one line per take with its verdict, and the summary */
    const char *rargs[] = {"--coordinator", s_fx.ops, "report", "1", NULL};
    rc = test_run("batcherbird", rargs, 10, &out, NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "Test Piano"));
    assert_non_null(strstr(out, "Test Organ"));
    assert_non_null(strstr(out, "16 take(s): 16 pass, 0 warn, 0 fail"));
    int lines = 0;
    for (const char *p = out; (p = strstr(p, " pass ")); p++)
        lines++;
    assert_int_equal(lines, 16);
    free(out);
    const char *bad[] = {"--coordinator", s_fx.ops, "report", "77", NULL};
    char *rerr = NULL;
    rc = test_run("batcherbird", bad, 10, &out, &rerr);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(rerr, "NOT_FOUND: no batch 77"));
    free(out);
    free(rerr);

    /* process: the batch's raw takes re-cut offline with other settings */
    char raw[400], lib2[400];
    snprintf(raw, sizeof raw, "%s/state/takes/b1", s_fx.dir);
    snprintf(lib2, sizeof lib2, "%s/lib2", s_fx.dir);
    const char *pargs[] = {"process", "--in",         raw, "--out", lib2, "--bits",
                           "16",      "--pre-attack", "2", NULL};
    rc = test_run("batcherbird", pargs, 120, &out, &rerr);
    if (rc != 0)
        fprintf(stderr, "process exited %d\n%s\n%s\n", rc, out, rerr);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "16 take(s): 16 pass"));
    assert_non_null(strstr(out, "Test Piano: 12 sample(s)"));
    assert_non_null(strstr(out, "Test Organ: 4 sample(s)"));
    free(out);
    free(rerr);
    char wav[700];
    snprintf(wav, sizeof wav, "%s/Test-Piano/samples/Test-Piano_C2_048_v127_rr2.wav", lib2);
    info = (SF_INFO){0};
    sf = sf_open(wav, SFM_READ, &info);
    assert_non_null(sf);
    assert_int_equal(info.format & SF_FORMAT_SUBMASK, SF_FORMAT_PCM_16);
    assert_int_equal(info.samplerate, 48000);
    /* A 2 ms pre-attack margin, faded in: the first sample is silent, the attack 96
     * frames in. */
    float first[2 * 200];
    assert_int_equal(sf_readf_float(sf, first, 200), 200);
    assert_true(fabsf(first[0]) < 1e-3f && fabsf(first[1]) < 1e-3f);
    float early = 0, late = 0;
    for (int i = 0; i < 80; i++)
        early = fmaxf(early, fabsf(first[2 * i]));
    for (int i = 100; i < 200; i++)
        late = fmaxf(late, fabsf(first[2 * i]));
    assert_true(late > 0.1f && early < 0.01f);
    sf_close(sf);
}

/* Runs one submit --watch (batch on one node, organ C3..) and returns its stdout. */
static char *s_submit_faulty(const char *node, const char *name, const char *notes,
                             const char *retakes, const char *out_dir)
{
    const char *args[] = {"--coordinator", s_fx.ops, "--events",  s_fx.events,    "submit",
                          "--instrument",  name,     "--node",    node,           "--notes",
                          notes,           "--step", "2",         "--velocities", "100",
                          "--hold",        "0.3",    "--release", "0.3",          "--retakes",
                          retakes,         "--out",  out_dir,     "--watch",      NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run("batcherbird", args, 120, &out, &err);
    if (rc != 0) {
        fprintf(stderr, "submit exited %d\n%s\n%s\n", rc, out, err);
        s_dump_logs();
    }
    assert_int_equal(rc, 0);
    free(err);
    return out;
}

/* Whether a log holds `needle` within timeout_s. */
static bool s_log_has(const char *path, const char *needle, double timeout_s)
{
    for (double waited = 0;; waited += 0.1) {
        char *text = NULL;
        size_t len = 0;
        bool found = bb_read_file(path, &text, &len) == 0 && strstr(text, needle);
        free(text);
        if (found || waited >= timeout_s)
            return found;
        usleep(100 * 1000);
    }
}

static int s_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".wav") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* A take that fails QC is recorded again; with no retakes left it is reported and left
 * out of the library, never exported. */
static void test_failed_takes_retaken_or_reported(void **state)
{
    s_wait_nodes_online();
    char lib[400], dir[500];
    snprintf(lib, sizeof lib, "%s/lib-faults", s_fx.dir);

    /* node-c clips its 5th note-on: that take fails and is retaken (7 notes, 1 retake).
     * The retake is the 6th, 7th or 8th note-on, by when QC's verdict reaches the
     * scheduler; with a clip every 4th it was the 8th on a busy host, clipped again and
     * left out. With every 5th the 10th note-on, never played, is the next clip. */
    char *out = s_submit_faulty("node-c", "Clippy", "C3:C4", "1", lib);
    assert_non_null(strstr(out, "failed QC (clipping"));
    assert_non_null(strstr(out, "retaking"));
    assert_null(strstr(out, "left out"));
    free(out);
    snprintf(dir, sizeof dir, "%s/Clippy/samples", lib);
    assert_int_equal(s_count_files(dir), 7);

    /* node-d clips its 3rd note-on and no retake is allowed: 2 of 3 samples, reported */
    out = s_submit_faulty("node-d", "Strict", "C3:E3", "0", lib);
    assert_non_null(strstr(out, "no retakes left"));
    assert_non_null(strstr(out, "1 take(s) failed QC and were left out"));
    free(out);
    snprintf(dir, sizeof dir, "%s/Strict/samples", lib);
    assert_int_equal(s_count_files(dir), 2);
    /* the report names the failed take and why */
    const char *rargs[] = {"--coordinator", s_fx.ops, "report", "3", NULL};
    assert_int_equal(test_run("batcherbird", rargs, 10, &out, NULL), 0);
    assert_non_null(strstr(out, "fail"));
    assert_non_null(strstr(out, "clipping"));
    assert_non_null(strstr(out, "3 take(s): 2 pass, 0 warn, 1 fail"));
    free(out);
}

/* The node's audio interface vanishes mid-batch (a simulated unplug, real time): the
 * coordinator pauses that instrument and says why, the node reopens it when it comes
 * back, and the batch completes with every sample. */
static void test_device_lost_and_back(void **state)
{
    s_wait_nodes_online();
    char lib[400], dir[500];
    snprintf(lib, sizeof lib, "%s/lib-loss", s_fx.dir);
    const char *nargs[] = {"--instrument", "organ", "--sim-device-loss", "2.5:1.0", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, S_NODE_E, "node-e", nargs), 0);
    test_fixture_wait_node(&s_fx, "node-e", "online", 20); /* wait for it to register */
    const char *args[] = {"--coordinator",
                          s_fx.ops,
                          "--events",
                          s_fx.events,
                          "submit",
                          "--instrument",
                          "Unplugged",
                          "--node",
                          "node-e",
                          "--notes",
                          "C3:G3",
                          "--step",
                          "1",
                          "--velocities",
                          "100",
                          "--hold",
                          "0.3",
                          "--release",
                          "0.2",
                          "--out",
                          lib,
                          "--watch",
                          NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run("batcherbird", args, 120, &out, &err);
    if (rc != 0 || !strstr(out, "lost its audio device")) {
        fprintf(stderr, "submit exited %d\n%s\n%s\n", rc, out, err);
        test_fixture_dump_logs(&s_fx);
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "lost its audio device"));
    assert_non_null(strstr(out, "done"));
    free(out);
    free(err);
    snprintf(dir, sizeof dir, "%s/Unplugged/samples", lib);
    assert_int_equal(s_count_files(dir), 8); /* C3..G3 */
    /* the coordinator logs the loss and the recovery, each once */
    assert_true(s_log_has(s_fx.coord.log, "node node-e lost its audio device", 5));
    assert_true(s_log_has(s_fx.coord.log, "node node-e has its audio device again", 5));
    /* the node said nothing about aborting takes it never had */
    assert_false(s_log_has(s_fx.node[S_NODE_E].log, "aborted 0 queued", 0));
    assert_false(s_log_has(s_fx.node[S_NODE_E].log, "withdrew 0 queued", 0));
}

/* A pad whose release (tau 0.4 s: ~3 s to the floor) outlasts the plan's 0.3 s: each
 * next note waits until the instrument is back at its noise floor, so no take's pre-roll
 * holds the previous note (QC's pre-roll level within 3 dB of the node's floor, no take
 * failed), and every take has its whole 100 ms pre-roll. */
#define S_NODE_PAD 5
static void test_long_release_waits_for_quiet(void **state)
{
    s_wait_nodes_online();
    const char *nargs[] = {"--instrument", "pad", "--fast", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, S_NODE_PAD, "node-pad", nargs), 0);
    assert_true(test_fixture_wait_node(&s_fx, "node-pad", "online", 30));
    char lib[400];
    snprintf(lib, sizeof lib, "%s/lib-pad", s_fx.dir);
    const char *args[] = {"--coordinator",
                          s_fx.ops,
                          "--events",
                          s_fx.events,
                          "submit",
                          "--instrument",
                          "Pad",
                          "--node",
                          "node-pad",
                          "--notes",
                          "C3:D#3",
                          "--step",
                          "1",
                          "--hold",
                          "0.3",
                          "--release",
                          "0.3",
                          "--retakes",
                          "0",
                          "--out",
                          lib,
                          "--watch",
                          NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run("batcherbird", args, 180, &out, &err);
    if (rc != 0) {
        fprintf(stderr, "submit exited %d\n%s\n%s\n", rc, out, err);
        s_dump_logs();
    }
    assert_int_equal(rc, 0);
    unsigned long long batch = 0;
    assert_non_null(strstr(out, "\nbatch "));
    assert_int_equal(sscanf(strstr(out, "\nbatch ") + 1, "batch %llu submitted", &batch), 1);
    free(out);
    free(err);

    char db_path[400];
    snprintf(db_path, sizeof db_path, "%s/state/batcherbird.db", s_fx.dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id, noise_floor_db, json_extract(qc, '$.noise_db'),"
                                        " verdict, note_on_frame, latency_offset_ms FROM takes"
                                        " WHERE batch_id=? ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)batch);
    int takes = 0;
    double worst = -200;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        double floor_db = sqlite3_column_double(st, 1), pre_db = sqlite3_column_double(st, 2);
        long long on = sqlite3_column_int64(st, 4);
        double lat = sqlite3_column_double(st, 5);
        fprintf(stderr, "%s: pre-roll %.1f dBFS, floor %.1f dBFS, note-on frame %lld\n", id, pre_db,
                floor_db, on);
        if (pre_db - floor_db > worst)
            worst = pre_db - floor_db;
        if (pre_db > floor_db + 3.0)
            fail_msg("take %s: pre-roll at %.1f dBFS over the floor %.1f dBFS: the previous "
                     "note still sounds",
                     id, pre_db, floor_db);
        if (sqlite3_column_int(st, 3) >= 2)
            fail_msg("take %s failed QC", id);
        if (on < 100 * RATE / 1000 + (long long)llround(lat * RATE / 1000.0))
            fail_msg("take %s: pre-roll of %lld frames, short of 100 ms", id, on);
        takes++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(takes, 4);
    fprintf(stderr, "pad: %d takes, worst pre-roll %.1f dB over the floor\n", takes, worst);
}

/* calibrate measures node-a's instrument (4 ms MIDI-to-audio, offset 0 so far), stores
 * the offset, and later takes start where the sound does. */
static void test_calibrate(void **state)
{
    s_wait_nodes_online();
    char *out = NULL, *err = NULL;
    const char *args[] = {"--coordinator", s_fx.ops,  "--events", s_fx.events, "calibrate",
                          "node-a",        "--notes", "5",        NULL};
    int rc = test_run("batcherbird", args, 120, &out, &err);
    if (rc != 0)
        fprintf(stderr, "calibrate exited %d\n%s\n%s\n", rc, out, err);
    assert_int_equal(rc, 0);
    double mean = 0, offset = 0;
    const char *m = strstr(out, "mean ");
    const char *o = strstr(out, "latency offset of node-a: ");
    assert_non_null(m);
    assert_non_null(o);
    assert_int_equal(sscanf(m, "mean %lf", &mean), 1);
    assert_int_equal(sscanf(o, "latency offset of node-a: %lf", &offset), 1);
    assert_true(fabs(mean - 4.0) < 0.1); /* the simulated latency, within 5 frames */
    printf("%.*s\n", (int)strcspn(m - 0, "\n"), m);
    assert_true(fabs(offset - mean) < 1e-3);
    free(out);
    free(err);
    /* a measurement writes no library: no empty folder left in the library root */
    DIR *d = opendir(s_fx.dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, "calibrate"))
            fail_msg("calibrate left %s/%s", s_fx.dir, e->d_name);
    closedir(d);
    /* nodes shows it; the coordinator refuses nonsense and unknown nodes */
    const char *nargs[] = {"--coordinator", s_fx.ops, "nodes", NULL};
    assert_int_equal(test_run("batcherbird", nargs, 10, &out, NULL), 0);
    assert_non_null(strstr(out, "latency offset 4.0"));
    free(out);
    const char *bad[] = {"--coordinator", s_fx.ops, "calibrate", "ghost", NULL};
    assert_int_equal(test_run("batcherbird", bad, 10, &out, &err), 1);
    assert_non_null(strstr(err, "no node named 'ghost'"));
    free(out);
    free(err);

    /* a batch afterwards: every onset now sits on the note-on (the node got the offset
     * with its next heartbeat) */
    usleep(500 * 1000);
    char lib[400];
    snprintf(lib, sizeof lib, "%s/lib-cal", s_fx.dir);
    const char *sargs[] = {"--coordinator", s_fx.ops, "--events", s_fx.events, "submit",
                           "--instrument",  "After",  "--node",   "node-a",    "--notes",
                           "C3:D3",         "--hold", "0.3",      "--release", "0.3",
                           "--out",         lib,      "--watch",  NULL};
    assert_int_equal(test_run("batcherbird", sargs, 120, &out, NULL), 0);
    unsigned long long batch = 0;
    assert_non_null(strstr(out, "\nbatch "));
    assert_int_equal(sscanf(strstr(out, "\nbatch ") + 1, "batch %llu submitted", &batch), 1);
    free(out);
    char id[32];
    snprintf(id, sizeof id, "%llu", batch);
    const char *rargs[] = {"--coordinator", s_fx.ops, "report", id, NULL};
    assert_int_equal(test_run("batcherbird", rargs, 10, &out, NULL), 0);
    /* each take line has one token ending in "ms": the onset after the note-on */
    int takes = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, " pass ") && !strstr(line, " warn "))
            continue;
        for (char *tok = line; (tok = strstr(tok, "ms")); tok += 2) {
            char *start = tok;
            while (start > line && start[-1] != ' ')
                start--;
            double onset = atof(start);
            if (fabs(onset) >= 0.15)
                fail_msg("after calibration a take starts %.3f ms from its note-on: %s", onset,
                         line);
            takes++;
        }
    }
    assert_true(takes >= 3);
    free(out);
}

/* meter: node-b's input levels arrive through the coordinator; idle, they sit at the
 * simulated noise floor (-80 dBFS RMS). An unknown node gets a clear time-out. Every
 * reading is the noise: once a reading said -99.9 dBFS (nothing) when the node's main loop
 * ran late under ASan on a busy host (meter.h). */
#define NOISE_DB -80.0 /* node_sim_config_t's default noise_floor_db */
static void test_meter(void **state)
{
    s_wait_nodes_online();
    char *out = NULL, *err = NULL;
    const char *args[] = {"--coordinator", s_fx.ops,  "--events", s_fx.events, "meter",
                          "node-b",        "--count", "5",        NULL};
    assert_int_equal(test_run("batcherbird", args, 30, &out, &err), 0);
    int lines = 0;
    char *all = strdup(out);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        double peak, rms;
        if (sscanf(line, "ch%*d [%*[^]]] %lf dBFS rms %lf", &peak, &rms) == 2) {
            /* uniform noise of RMS r peaks at r * sqrt(3) (sim_instrument.c), -75.2 dBFS,
             * and 100 ms of it come within 0.1 dB of that peak */
            if (!(peak > NOISE_DB + 4.77 - 0.5 && peak < NOISE_DB + 4.77 + 0.3) ||
                fabs(rms - NOISE_DB) > 1.0)
                fail_msg("node-b idle: a reading outside the noise floor's window: %s\n%s", line,
                         all);
            lines++;
        }
    }
    assert_int_equal(lines, 10); /* 5 readings x 2 channels */
    free(all);
    free(out);
    free(err);
    const char *ghost[] = {"--coordinator", s_fx.ops,  "--events", s_fx.events, "meter",
                           "ghost",         "--count", "1",        NULL};
    assert_int_equal(test_run("batcherbird", ghost, 30, &out, &err), 3);
    assert_non_null(strstr(err, "no levels from node ghost"));
    free(out);
    free(err);
}

/* Gain staging: the level check plays velocity 100 (the loudest planned) on the lowest,
 * middle and highest note first; the organ then peaks at -3 + 1.6 x 20 log10(100/127) =
 * -6.3 dBFS, so for a -12 dBFS target the input must come down by 5.7 dB. The level-check
 * takes are not part of the library. */
static void test_level_check(void **state)
{
    s_wait_nodes_online();
    char lib[400], dir[500];
    snprintf(lib, sizeof lib, "%s/lib-level", s_fx.dir);
    const char *args[] = {"--coordinator", s_fx.ops, "--events",  s_fx.events,    "submit",
                          "--instrument",  "Levels", "--node",    "node-b",       "--notes",
                          "C3:C4",         "--step", "6",         "--velocities", "60,100",
                          "--hold",        "0.3",    "--release", "0.3",          "--level-target",
                          "-12",           "--out",  lib,         "--watch",      NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run("batcherbird", args, 120, &out, &err);
    if (rc != 0)
        fprintf(stderr, "submit exited %d\n%s\n%s\n", rc, out, err);
    assert_int_equal(rc, 0);
    const char *line = strstr(out, "Levels level check: loudest peak ");
    assert_non_null(line);
    double peak = 0, change = 0;
    assert_int_equal(sscanf(line, "Levels level check: loudest peak %lf", &peak), 1);
    const char *adv = strstr(line, "lower the input gain by ");
    assert_non_null(adv);
    assert_int_equal(sscanf(adv, "lower the input gain by %lf", &change), 1);
    assert_true(fabs(peak - -6.3) < 0.3);
    assert_true(fabs(change - (peak + 12.0)) < 0.06);
    assert_non_null(strstr(line, "over 3 note(s)"));
    free(out);
    free(err);
    snprintf(dir, sizeof dir, "%s/Levels/samples", lib);
    assert_int_equal(s_count_files(dir), 6); /* 3 notes x 2 velocities, no level takes */
    /* with --level-set-cc the coordinator lowers the instrument's MIDI volume instead:
     * -5.7 dB is CC7 = 127 x 10^(-5.7/40) = 92 (General MIDI law), and the takes after
     * the check peak at the target. node-e plays the same organ (node-b keeps its volume) */
    const char *cc_args[] = {"--coordinator",
                             s_fx.ops,
                             "--events",
                             s_fx.events,
                             "submit",
                             "--instrument",
                             "Quieter",
                             "--node",
                             "node-e",
                             "--notes",
                             "C3:C4",
                             "--step",
                             "6",
                             "--velocities",
                             "100",
                             "--hold",
                             "0.3",
                             "--release",
                             "0.3",
                             "--level-target",
                             "-12",
                             "--level-set-cc",
                             "--out",
                             lib,
                             "--watch",
                             NULL};
    rc = test_run("batcherbird", cc_args, 120, &out, &err);
    if (rc != 0)
        fprintf(stderr, "submit exited %d\n%s\n%s\n", rc, out, err);
    assert_int_equal(rc, 0);
    line = strstr(out, "Quieter level check: loudest peak ");
    assert_non_null(line);
    int cc7 = 0;
    const char *cc = strstr(line, "MIDI volume (CC7) set to ");
    assert_non_null(cc);
    assert_int_equal(sscanf(cc, "MIDI volume (CC7) set to %d", &cc7), 1);
    assert_true(cc7 >= 90 && cc7 <= 94);
    unsigned long long batch = 0;
    assert_non_null(strstr(out, "\nbatch "));
    assert_int_equal(sscanf(strstr(out, "\nbatch ") + 1, "batch %llu submitted", &batch), 1);
    free(out);
    free(err);
    /* the report lists takes by arrival: the three level-check takes at the organ's own
     * level, then the three regular ones at the target */
    char id[32];
    snprintf(id, sizeof id, "%llu", batch);
    const char *rargs[] = {"--coordinator", s_fx.ops, "report", id, NULL};
    assert_int_equal(test_run("batcherbird", rargs, 10, &out, NULL), 0);
    double peaks[16];
    int np = 0;
    for (char *l = strtok(out, "\n"); l && np < 16; l = strtok(NULL, "\n")) {
        double peak;
        if (strstr(l, " pass ") && sscanf(l, " %*s %*d %*d %*s %*s %lfdB", &peak) == 1)
            peaks[np++] = peak;
    }
    if (np != 6)
        fail_msg("report of batch %s: %d take lines\n%s", id, np, out);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(peaks[k] - -6.3) < 0.4);
    for (int k = 3; k < 6; k++)
        if (fabs(peaks[k] - -12.0) > 0.4)
            fail_msg("regular take %d peaks at %.1f dBFS, not at the -12 dBFS target", k, peaks[k]);
    free(out);

    /* a bad target is refused by name */
    const char *bad[] = {
        "--coordinator",  s_fx.ops, "submit", "--instrument", "Levels", "--node", "node-b",
        "--level-target", "3",      NULL};
    assert_int_equal(test_run("batcherbird", bad, 10, &out, &err), 2);
    assert_non_null(strstr(err, "--level-target 3"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_instruments_end_to_end),
        cmocka_unit_test(test_failed_takes_retaken_or_reported),
        cmocka_unit_test(test_device_lost_and_back),
        cmocka_unit_test(test_long_release_waits_for_quiet),
        cmocka_unit_test(test_calibrate),
        cmocka_unit_test(test_meter),
        cmocka_unit_test(test_level_check),
    };
    return cmocka_run_group_tests(tests, s_start_all, s_stop_all);
}
