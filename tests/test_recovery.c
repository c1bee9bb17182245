/*
 * test_recovery.c — the protocol's promises under faults, with the real programs:
 *  - a coordinator killed (SIGKILL) mid-batch and started again on the same --state
 *    folder (twice) finishes the batch: every planned take exported exactly once, every
 *    job DONE with its own take, one raw file per take row, nothing left in the spools;
 *  - a take received twice (same id) is stored once, whatever the interleaving; a take
 *    whose TakeEnd does not match what arrived (CRC, frame count, chunk count, a partial
 *    frame) gets an error and leaves nothing behind; a take whose chunks split frames is
 *    stored bit-exact (a fake node speaking bb.NodeLink directly);
 *  - a jump at the same place in every take of a note is kept (the checker, live);
 *  - a real node restarted with a take in its spool that the coordinator already stored
 *    (the ack was lost) sends it again; it is recognised, stored once, and leaves the spool;
 *  - a node killed mid-batch is reported offline, its instrument pauses waiting for it
 *    while the other instrument keeps going, and once restarted on the same spool the
 *    batch completes with all files, every take of the restarted node with its whole
 *    pre-roll; the same for a node frozen (SIGSTOP) that thaws;
 *  - garbage frames, undecodable payloads and nonsense requests on both coordinator
 *    endpoints get error replies (or are ignored) and the coordinator keeps serving.
 * Every wait polls with a generous limit; nothing asserts on wall-clock speed. Each test
 * ends by stopping every program and checking each exited 0 with no sanitizer report.
 */
#include <czmq.h>
#include <dirent.h>
#include <math.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_clock.h"
#include "bb_crc32.h"
#include "bb_fs.h"
#include "bb_rpc.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"
#include "test_fixture.h"
#include "test_util.h"

#define RATE     48000
#define CHANNELS 2

/* ---- one coordinator, up to two nodes, in a fresh folder (test_fixture.h) ---- */

static test_fixture_t s_fx;
static char s_lib[400]; /* the library the batches export to */

static void s_sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

static double s_now(void)
{
    return bb_mono_ns() / 1e9;
}

static void s_dump_logs(void)
{
    test_fixture_dump_logs(&s_fx);
}

static int s_coord_start(void)
{
    return test_fixture_coord_start(&s_fx, NULL);
}

static int s_env_setup(const char *tag, int heartbeat_ms)
{
    test_fixture_init(&s_fx, tag, heartbeat_ms);
    snprintf(s_lib, sizeof s_lib, "%s/lib", s_fx.dir);
    return s_coord_start();
}

/* Node i named `name` playing `preset`, with its own spool; speed is the simulation's. */
static int s_node_start(int i, const char *name, const char *preset, const char *speed)
{
    const char *args[] = {"--instrument", preset, "--speed", speed, "--sim-latency", "4", NULL};
    return test_fixture_node_start(&s_fx, i, name, args);
}

static void s_kill(test_proc_t *p)
{
    test_fixture_kill(p);
}

static int s_env_teardown(void **state)
{
    (void)state;
    test_fixture_teardown(&s_fx);
    return 0;
}

/* Stops every program cleanly and checks each exited 0 and no log holds a sanitizer
 * report (in a sanitizer build a leak or an error changes both). */
static void s_stop_all_checked(void)
{
    if (test_fixture_stop_checked(&s_fx) != 0)
        fail_msg("a program exited with an error or left a sanitizer report (above)");
}

/* Runs the CLI against our coordinator; returns its exit code, stdout in *out (or NULL). */
static int s_cli(char **out, const char *const *args)
{
    char *o = NULL, *e = NULL;
    int rc = test_fixture_cli(&s_fx, 60, &o, &e, args);
    if (rc != 0)
        fprintf(stderr, "batcherbird %s exited %d: %s%s", args[0], rc, e ? e : "", o ? o : "");
    free(e);
    if (out)
        *out = o;
    else
        free(o);
    return rc;
}

/* Waits until `batcherbird nodes` shows the node with `status` ("online"/"offline"). */
static bool s_wait_node(const char *name, const char *status, double timeout_s)
{
    return test_fixture_wait_node(&s_fx, name, status, timeout_s);
}

/* ---- the coordinator's database, read-only ---- */

/* One integer from a query with up to two text parameters; -1 if it cannot be read. */
static long long s_db_int(const char *sql, const char *p1, const char *p2)
{
    sqlite3 *db = NULL;
    long long v = -1;
    if (sqlite3_open_v2(s_fx.db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (p1)
            sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
        if (p2)
            sqlite3_bind_text(st, 2, p2, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static long long s_take_rows(const char *id)
{
    return s_db_int("SELECT COUNT(*) FROM takes WHERE id=?", id, NULL);
}

static long long s_jobs_in_state(int inst_idx, int state)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM jobs WHERE batch_id=1 AND inst_idx=%d AND state=%d", inst_idx,
             state);
    return s_db_int(sql, NULL, NULL);
}

/* Polls the database until the batch reached a final state; returns it (-1: timed out). */
static int s_wait_batch_final(double timeout_s)
{
    for (double t0 = s_now(); s_now() - t0 < timeout_s; s_sleep_ms(200)) {
        long long st = s_db_int("SELECT state FROM batches WHERE id=1", NULL, NULL);
        if (st == BB__BATCH_STATE__BATCH_DONE || st == BB__BATCH_STATE__BATCH_FAILED ||
            st == BB__BATCH_STATE__BATCH_CANCELLED)
            return (int)st;
    }
    return -1;
}

/* ---- the library ---- */

typedef struct {
    const char *name, *folder, *node, *preset, *notes, *step, *vels, *rrs, *hold, *release;
    int n_notes, note_lo, note_step, vel[4], n_vels, n_rrs;
} s_inst_t;

static int s_planned(const s_inst_t *in)
{
    return in->n_notes * in->n_vels * in->n_rrs;
}

static void s_count_wavs(const char *dir, regex_t *re, int seen[128][128][8], int *total, int *bad)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            s_count_wavs(path, re, seen, total, bad);
            continue;
        }
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".wav") != 0)
            continue;
        regmatch_t m[4];
        if (regexec(re, e->d_name, 4, m, 0) != 0) {
            fprintf(stderr, "unexpected sample file %s\n", path);
            (*bad)++;
            continue;
        }
        int note = atoi(e->d_name + m[1].rm_so), vel = atoi(e->d_name + m[2].rm_so),
            rr = atoi(e->d_name + m[3].rm_so);
        if (note > 127 || vel > 127 || rr < 1 || rr > 7) {
            (*bad)++;
            continue;
        }
        seen[note][vel][rr]++;
        (*total)++;
    }
    closedir(d);
}

/* Every planned sample of the instrument is in the library exactly once, nothing else. */
static void s_check_library(const s_inst_t *in)
{
    char dir[600], pattern[256];
    snprintf(dir, sizeof dir, "%s/%s", s_lib, in->folder);
    snprintf(pattern, sizeof pattern, "^%s_.*_([0-9]{3})_v([0-9]{3})_rr([0-9]+)\\.wav$",
             in->folder);
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED), 0);
    static int seen[128][128][8];
    memset(seen, 0, sizeof seen);
    int total = 0, bad = 0;
    s_count_wavs(dir, &re, seen, &total, &bad);
    regfree(&re);
    assert_int_equal(bad, 0);
    for (int i = 0; i < in->n_notes; i++) {
        int note = in->note_lo + i * in->note_step;
        for (int v = 0; v < in->n_vels; v++)
            for (int r = 1; r <= in->n_rrs; r++)
                if (seen[note][in->vel[v]][r] != 1)
                    fail_msg("%s: note %d vel %d rr %d exported %d time(s)", in->name, note,
                             in->vel[v], r, seen[note][in->vel[v]][r]);
    }
    assert_int_equal(total, s_planned(in));
}

/* Files ending in `suffix` directly in the coordinator's raw take folder of batch 1. */
static int s_raw_files(const char *suffix)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/takes/b1", s_fx.state);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > sl && strcmp(e->d_name + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* The database and the raw folder agree: every job DONE with its own take, one accepted
 * take per job, one raw WAV per take row, no take row without its file. */
static void s_check_db(int planned)
{
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs WHERE batch_id=1", NULL, NULL), planned);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs WHERE batch_id=1 AND state=2", NULL, NULL),
                     planned);
    assert_int_equal(
        s_db_int("SELECT COUNT(DISTINCT take_id) FROM jobs WHERE batch_id=1", NULL, NULL), planned);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs j WHERE batch_id=1 AND NOT EXISTS"
                              " (SELECT 1 FROM takes t WHERE t.id=j.take_id AND t.job_id=j.id)",
                              NULL, NULL),
                     0);
    long long rows = s_db_int("SELECT COUNT(*) FROM takes WHERE batch_id=1", NULL, NULL);
    assert_int_equal(s_db_int("SELECT COUNT(DISTINCT id) FROM takes WHERE batch_id=1", NULL, NULL),
                     rows);
    /* a take that arrives for a job that already has one is kept but marked superseded */
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM (SELECT job_id FROM takes WHERE batch_id=1"
                              " AND superseded=0 AND verdict<2 GROUP BY job_id HAVING COUNT(*)>1)",
                              NULL, NULL),
                     0);
    assert_int_equal(s_raw_files(".wav"), rows);
    assert_int_equal(s_raw_files(".part"), 0); /* every interrupted stream was finished */
    fprintf(stderr, "%d planned takes, %lld take rows (%lld superseded)\n", planned, rows,
            s_db_int("SELECT COUNT(*) FROM takes WHERE batch_id=1 AND superseded=1", NULL, NULL));
}

static void s_submit(const s_inst_t *a, const s_inst_t *b)
{
    const char *args[64];
    int n = 0;
    args[n++] = "submit";
    const s_inst_t *list[] = {a, b};
    for (int i = 0; i < 2; i++) {
        const s_inst_t *in = list[i];
        if (!in)
            continue;
        const char *more[] = {"--instrument", in->name,  "--node",         in->node,
                              "--notes",      in->notes, "--step",         in->step,
                              "--velocities", in->vels,  "--round-robins", in->rrs,
                              "--hold",       in->hold,  "--release",      in->release};
        for (size_t k = 0; k < sizeof more / sizeof more[0]; k++)
            args[n++] = more[k];
    }
    args[n++] = "--out";
    args[n++] = s_lib;
    args[n] = NULL;
    char *out = NULL;
    int rc = s_cli(&out, args);
    if (rc != 0)
        s_dump_logs();
    assert_int_equal(rc, 0);
    char expect[64];
    snprintf(expect, sizeof expect, "batch 1 submitted: %d instrument(s), %d takes", b ? 2 : 1,
             s_planned(a) + (b ? s_planned(b) : 0));
    if (!strstr(out, expect))
        fail_msg("submit said: %s", out);
    free(out);
}

/* Waits until instrument idx has at least `n` jobs DONE. */
static bool s_wait_done_at_least(int idx, int n, double timeout_s)
{
    for (double t0 = s_now(); s_now() - t0 < timeout_s; s_sleep_ms(50))
        if (s_jobs_in_state(idx, 2) >= n)
            return true;
    return false;
}

/* Piano: 9 notes x 2 velocities; organ: 7 notes x 2 round robins. A few seconds each at
 * the speeds used below, long enough to interrupt in the middle. */
static s_inst_t s_piano = {
    "Test Piano", "Test-Piano", "node-a", "piano", "C2:C4", "3",       "64,127", "1",
    "0.4",        "0.4",        9,        48,      3,       {64, 127}, 2,        1};
static s_inst_t s_organ = {
    "Test Organ", "Test-Organ", "node-b", "organ", "C3:C4", "2",   "100", "2",
    "0.4",        "0.3",        7,        60,      2,       {100}, 1,     2};

static int s_two_nodes_setup(const char *tag, const char *speed_a, const char *speed_b)
{
    if (s_env_setup(tag, 200))
        return -1;
    if (s_node_start(0, s_piano.node, s_piano.preset, speed_a) ||
        s_node_start(1, s_organ.node, s_organ.preset, speed_b))
        return -1;
    if (!s_wait_node(s_piano.node, "online", 60) || !s_wait_node(s_organ.node, "online", 60)) {
        s_dump_logs();
        return -1;
    }
    return 0;
}

/* The id of a complete take in a node's spool (`<id>.hdr`), or "" if none. */
static void s_spooled_take(const char *node, char *id, size_t len)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/spool-%s", s_fx.dir, node);
    id[0] = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".hdr") == 0) {
            snprintf(id, len, "%.*s", (int)(n - 4), e->d_name);
            break;
        }
    }
    closedir(d);
}

/* Files waiting to be sent in a node's spool (its refused/ folder holds takes the
 * coordinator refused for good, e.g. one recorded for a job that had been dispatched again
 * after a restart: they are not waiting, and not counted). */
static int s_spool_files(const char *node)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/spool-%s", s_fx.dir, node);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && e->d_type != DT_DIR)
            n++;
    closedir(d);
    return n;
}

static bool s_wait_spool_empty(const char *node, double timeout_s)
{
    for (double t0 = s_now(); s_now() - t0 < timeout_s; s_sleep_ms(50))
        if (s_spool_files(node) == 0)
            return true;
    return false;
}

/* Every take was acknowledged: nothing is left in the nodes' spools. */
static void s_check_spools_empty(void)
{
    const char *names[] = {s_piano.node, s_organ.node};
    for (int i = 0; i < 2; i++)
        if (!s_wait_spool_empty(names[i], 60))
            fail_msg("%s's spool still holds %d file(s)", names[i], s_spool_files(names[i]));
}

/* The batch finishes (`after`: what happened before, for the message). */
static void s_expect_done(const char *after)
{
    int final = s_wait_batch_final(240);
    if (final != BB__BATCH_STATE__BATCH_DONE) {
        s_dump_logs();
        fail_msg("after %s the batch ended in state %d (-1: still running)", after, final);
    }
}

/* The piano's and the organ's takes are each in the library and the database exactly
 * once, and the nodes' spools are empty. */
static void s_check_whole(void)
{
    s_check_library(&s_piano);
    s_check_library(&s_organ);
    s_check_db(s_planned(&s_piano) + s_planned(&s_organ));
    s_check_spools_empty();
}

/* ---- 1. coordinator killed mid-batch, started again on the same state ---- */

static int s_restart_setup(void **state)
{
    (void)state;
    return s_two_nodes_setup("restart", "5", "5");
}

static void test_coordinator_restart(void **state)
{
    (void)state;
    s_submit(&s_piano, &s_organ);
    int planned = s_planned(&s_piano) + s_planned(&s_organ);
    /* killed twice: early on, and again after the first restart made progress */
    const int kill_at[] = {3, 10};
    for (int k = 0; k < 2; k++) {
        if (!s_wait_done_at_least(0, kill_at[k], 120)) {
            s_dump_logs();
            fail_msg("the batch did not get to %d piano takes", kill_at[k]);
        }
        s_kill(&s_fx.coord);
        long long done = s_db_int("SELECT COUNT(*) FROM jobs WHERE state=2", NULL, NULL);
        fprintf(stderr, "coordinator killed with %lld of %d takes done\n", done, planned);
        if (s_jobs_in_state(0, 2) >= s_planned(&s_piano))
            fail_msg("the piano finished before the coordinator could be killed");
        /* nodes keep recording what they had queued while it is away; then it comes back */
        assert_int_equal(s_coord_start(), 0);
    }
    s_expect_done("the restart");
    s_check_whole();
    /* the restarted coordinator reports the finished batch like any other */
    char *out = NULL;
    const char *args[] = {"status", "1", NULL};
    assert_int_equal(s_cli(&out, args), 0);
    assert_non_null(strstr(out, ": done"));
    char expect[64];
    snprintf(expect, sizeof expect, "%d samples in", s_planned(&s_piano));
    assert_non_null(strstr(out, expect));
    free(out);
    s_stop_all_checked();
}

/* ---- 3. a node killed mid-batch, restarted on the same spool ---- */

static int s_vanish_setup(void **state)
{
    (void)state;
    /* the organ is slower so that it is surely still playing while the piano waits */
    return s_two_nodes_setup("vanish", "5", "1");
}

/* The status line of an instrument in `batcherbird status 1` (malloc'd, "" if none). */
static char *s_status_line(const char *inst)
{
    char *out = NULL;
    const char *args[] = {"status", "1", NULL};
    if (s_cli(&out, args) != 0 || !out) {
        free(out);
        return strdup("");
    }
    char want[160];
    snprintf(want, sizeof want, "\n  %s ", inst); /* progress lines, not the batch's name */
    char *hit = strstr(out, want);
    char *line = strdup("");
    if (hit) {
        char *nl = strchr(hit + 1, '\n');
        if (nl)
            *nl = '\0';
        free(line);
        line = strdup(hit + 1);
    }
    free(out);
    return line;
}

/* The piano's takes recorded by the restarted node-a (received after `since`, unix s):
 * there are some, and each has its whole 100 ms pre-roll before the note-on (the first
 * note of a restarted node was placed before its stream had audio: 3 ms of pre-roll). */
static void s_check_prerolls(double since)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(s_fx.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT t.id, t.note_on_frame, t.latency_offset_ms FROM"
                                        " takes t JOIN jobs j ON j.id=t.job_id WHERE"
                                        " t.batch_id=1 AND j.inst_idx=0 AND t.received>?"
                                        " ORDER BY t.received",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_double(st, 1, since);
    int n = 0;
    long long shortest = -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long on = sqlite3_column_int64(st, 1);
        long long want = 100 * RATE / 1000 + llround(sqlite3_column_double(st, 2) * RATE / 1000.0);
        if (shortest < 0 || on < shortest)
            shortest = on;
        if (on < want)
            fail_msg("take %s after the restart: note-on at frame %lld, a pre-roll short of "
                     "%lld frames",
                     sqlite3_column_text(st, 0), on, want);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (n == 0)
        fail_msg("no piano take was recorded after node-a's restart");
    fprintf(stderr, "%d piano take(s) after the restart, shortest pre-roll %lld frames\n", n,
            shortest);
}

static void test_node_vanishes(void **state)
{
    (void)state;
    s_submit(&s_piano, &s_organ);
    if (!s_wait_done_at_least(0, 2, 120)) {
        s_dump_logs();
        fail_msg("the batch did not get going");
    }
    s_kill(&s_fx.node[0]);
    long long piano_done = s_jobs_in_state(0, 2);
    assert_true(piano_done < s_planned(&s_piano));

    if (!s_wait_node(s_piano.node, "offline", 30)) {
        s_dump_logs();
        fail_msg("node-a was killed but `batcherbird nodes` does not show it offline");
    }
    bool paused = false;
    char *line = NULL;
    for (double t0 = s_now(); !paused && s_now() - t0 < 30; s_sleep_ms(100)) {
        free(line);
        line = s_status_line(s_piano.name);
        paused = strstr(line, "paused") && strstr(line, "waiting for node node-a");
    }
    if (!paused)
        fail_msg("the piano is not shown paused waiting for node-a: '%s'", line);
    free(line);

    /* the organ keeps going without it */
    /* done, or stored and being checked (5) */
    long long piano_away = s_jobs_in_state(0, 2) + s_jobs_in_state(0, 5);
    long long organ_done = s_jobs_in_state(1, 2);
    if (organ_done >= s_planned(&s_organ))
        fail_msg("the organ finished before node-a was seen offline; nothing was tested");
    if (!s_wait_done_at_least(1, (int)organ_done + 1, 60)) {
        s_dump_logs();
        fail_msg("the organ stopped while node-a was away");
    }
    /* nothing is recorded for the piano while its node is away */
    assert_int_equal(s_jobs_in_state(0, 2) + s_jobs_in_state(0, 5), piano_away);
    line = s_status_line(s_piano.name);
    assert_non_null(strstr(line, "paused"));
    free(line);

    /* restarted with an interface slow to deliver its first audio (as under load): the
     * coordinator's queued jobs arrive before the stream has any */
    double restarted = bb_unix_s();
    const char *slow[] = {"--instrument",
                          s_piano.preset,
                          "--speed",
                          "5",
                          "--sim-latency",
                          "4",
                          "--sim-start-delay",
                          "2",
                          NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 0, s_piano.node, slow), 0);
    s_expect_done("node-a came back");
    assert_true(s_wait_node(s_piano.node, "online", 30));
    s_check_prerolls(restarted);
    s_check_whole();
    s_stop_all_checked();
}

/* ---- 3b. a node that freezes (SIGSTOP) and comes back by itself, same session ---- */

static void test_node_frozen_and_back(void **state)
{
    (void)state;
    s_submit(&s_piano, &s_organ);
    if (!s_wait_done_at_least(0, 2, 120)) {
        s_dump_logs();
        fail_msg("the batch did not get going");
    }
    assert_int_equal(kill(s_fx.node[0].pid, SIGSTOP), 0);
    bool offline = s_wait_node(s_piano.node, "offline", 30);
    bool paused = false;
    for (double t0 = s_now(); offline && !paused && s_now() - t0 < 30; s_sleep_ms(100)) {
        char *line = s_status_line(s_piano.name);
        paused = strstr(line, "paused") && strstr(line, "waiting for node node-a");
        free(line);
    }
    assert_int_equal(kill(s_fx.node[0].pid, SIGCONT), 0);
    if (!offline || !paused) {
        s_dump_logs();
        fail_msg("frozen node-a: offline %d, piano paused %d", offline, paused);
    }
    /* it carries on where it was, without a restart */
    if (!s_wait_node(s_piano.node, "online", 30)) {
        s_dump_logs();
        fail_msg("node-a did not come back online after it thawed");
    }
    s_expect_done("node-a thawed");
    s_check_whole();
    s_stop_all_checked();
}

/* ---- 2c. a real node restarted with a take in its spool the coordinator already has ---- */

static int s_spool_setup(void **state)
{
    (void)state;
    if (s_env_setup("spool", 200) || s_node_start(0, s_piano.node, s_piano.preset, "5"))
        return -1;
    if (!s_wait_node(s_piano.node, "online", 60)) {
        s_dump_logs();
        return -1;
    }
    return 0;
}

/* Copies a file; false if `from` cannot be opened (e.g. it was just removed). */
static bool s_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return false;
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    return true;
}

static void test_spooled_take_resent_after_node_crash(void **state)
{
    (void)state;
    s_inst_t piano = s_piano;
    piano.notes = "C2:C3";
    piano.step = "4";
    piano.n_notes = 4;
    piano.note_step = 4;
    s_submit(&piano, NULL);
    if (!s_wait_done_at_least(0, 1, 120)) {
        s_dump_logs();
        fail_msg("the batch did not get going");
    }
    /* freeze the coordinator: the node records on, its takes wait in the spool */
    assert_int_equal(kill(s_fx.coord.pid, SIGSTOP), 0);
    char saved[400], spool[400];
    snprintf(saved, sizeof saved, "%s/saved", s_fx.dir);
    snprintf(spool, sizeof spool, "%s/spool-%s", s_fx.dir, piano.node);
    assert_int_equal(bb_mkdir_p(saved), 0);
    const char *exts[] = {".raw", ".hdr"};
    char id[128] = "";
    bool copied = false;
    for (double t0 = s_now(); !copied && s_now() - t0 < 60; s_sleep_ms(20)) {
        /* a take acknowledged just before the freeze may vanish under us: try the next */
        s_spooled_take(piano.node, id, sizeof id);
        copied = *id != '\0';
        for (int i = 0; copied && i < 2; i++) {
            char a[600], b[600];
            snprintf(a, sizeof a, "%s/%s%s", spool, id, exts[i]);
            snprintf(b, sizeof b, "%s/%s%s", saved, id, exts[i]);
            copied = s_copy(a, b);
        }
    }
    if (!copied) {
        kill(s_fx.coord.pid, SIGCONT);
        s_dump_logs();
        fail_msg("no take was spooled while the coordinator was frozen");
    }
    /* let it go: the take is stored and acknowledged, the node drops it from its spool */
    assert_int_equal(kill(s_fx.coord.pid, SIGCONT), 0);
    char hdr[600];
    snprintf(hdr, sizeof hdr, "%s/%s.hdr", spool, id);
    bool acked = false;
    for (double t0 = s_now(); !acked && s_now() - t0 < 60; s_sleep_ms(20))
        acked = s_take_rows(id) == 1 && !bb_exists(hdr);
    if (!acked) {
        s_dump_logs();
        fail_msg("take %s was not stored and acknowledged", id);
    }
    /* the node dies as if just before it removed the take: the take is back in its spool */
    s_kill(&s_fx.node[0]);
    for (int i = 1; i >= 0; i--) { /* the header last, as the spool writes it */
        char a[600], b[600];
        snprintf(a, sizeof a, "%s/%s%s", saved, id, exts[i]);
        snprintf(b, sizeof b, "%s/%s%s", spool, id, exts[i]);
        assert_true(s_copy(a, b));
    }
    assert_int_equal(s_node_start(0, piano.node, piano.preset, "5"), 0);
    int final = s_wait_batch_final(240);
    if (final != BB__BATCH_STATE__BATCH_DONE) {
        s_dump_logs();
        fail_msg("after the node restart the batch ended in state %d (-1: still running)", final);
    }
    /* the resent take was recognised: still one row, one raw file, and it left the spool */
    if (!s_wait_spool_empty(piano.node, 60))
        fail_msg("the node's spool still holds %d file(s)", s_spool_files(piano.node));
    assert_int_equal(s_take_rows(id), 1);
    char wav[600];
    snprintf(wav, sizeof wav, "%s/takes/b1/%s.wav", s_fx.state, id);
    assert_true(bb_exists(wav));
    s_check_library(&piano);
    s_check_db(s_planned(&piano));
    s_stop_all_checked();
}

/* ---- a fake node speaking bb.NodeLink itself ---- */

#define FAKE_NAME      "fake-node"
#define FAKE_MAX_JOBS  16
#define FAKE_PREROLL   4800 /* frames: 100 ms */
#define FAKE_HOLD      9600
#define FAKE_FRAMES    (FAKE_PREROLL + FAKE_HOLD + 14400)
#define FAKE_CHUNK     (64 * 1024)
#define FAKE_CALL_MS   10000
#define FAKE_HEARTBEAT 300

typedef struct {
    Bb__Capture_Service service; /* first: bb_rpc hands us a pointer to it */
    Bb__TakeJob *jobs[FAKE_MAX_JOBS];
    int n_jobs;
    bb_rpc_t *rpc;
    char session[64];
    int64_t next_heartbeat;
} s_fake_t;

static s_fake_t s_fake;

static void s_fake_start_take(Bb__Capture_Service *service, const Bb__TakeJob *job,
                              Bb__StartTakeReply_Closure closure, void *call)
{
    s_fake_t *f = (s_fake_t *)service;
    if (f->n_jobs == FAKE_MAX_JOBS) {
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "fake node: too many jobs");
        return;
    }
    uint8_t buf[4096];
    size_t len = bb__take_job__pack(job, buf);
    f->jobs[f->n_jobs++] = bb__take_job__unpack(NULL, len, buf);
    Bb__StartTakeReply reply = BB__START_TAKE_REPLY__INIT;
    reply.queued = (uint32_t)f->n_jobs;
    closure(&reply, call);
}

static void s_fake_abort(Bb__Capture_Service *service, const Bb__AbortRequest *req,
                         Bb__AbortReply_Closure closure, void *call)
{
    Bb__AbortReply reply = BB__ABORT_REPLY__INIT;
    closure(&reply, call);
}

static int s_call(bb_rpc_t *rpc, const char *method, const ProtobufCMessage *req,
                  ProtobufCMessage **reply, char *msg, size_t len)
{
    ProtobufCMessage *r = NULL;
    int st = bb_rpc_call(rpc, &bb__node_link__descriptor, method, req, FAKE_CALL_MS, &r, msg, len);
    if (reply)
        *reply = r;
    else if (r)
        protobuf_c_message_free_unpacked(r, NULL);
    return st;
}

/* Serves the coordinator's calls for up to ms, heartbeating, until `want` jobs came. */
static void s_fake_pump(int ms, int want)
{
    zpoller_t *p = zpoller_new(bb_rpc_sock(s_fake.rpc), NULL);
    for (double t0 = s_now(); s_now() - t0 < ms / 1000.0 && s_fake.n_jobs < want;) {
        zpoller_wait(p, 50);
        bb_rpc_pump(s_fake.rpc);
        if (bb_mono_ns() / BB_NS_PER_MS >= s_fake.next_heartbeat) {
            Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;
            hb.name = FAKE_NAME;
            hb.session = s_fake.session;
            s_fake.next_heartbeat = bb_mono_ns() / BB_NS_PER_MS + FAKE_HEARTBEAT;
            bb_rpc_call_async(s_fake.rpc, NULL, &bb__node_link__descriptor, "Heartbeat", &hb.base,
                              FAKE_CALL_MS, NULL, NULL);
        }
    }
    zpoller_destroy(&p);
}

static int s_fake_setup(void **state)
{
    (void)state;
    if (s_env_setup("dup", 2000))
        return -1;
    memset(&s_fake, 0, sizeof s_fake);
    s_fake.service = (Bb__Capture_Service)BB__CAPTURE__INIT(s_fake_);
    s_fake.rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "node", FAKE_NAME);
    if (!s_fake.rpc)
        return -1;
    bb_rpc_serve(s_fake.rpc, &s_fake.service.base);
    snprintf(s_fake.session, sizeof s_fake.session, "fake-%d", (int)getpid());
    const char *backends[] = {"virtual"};
    Bb__Capabilities caps = BB__CAPABILITIES__INIT;
    caps.audio_backend = "virtual";
    caps.midi_backend = "virtual";
    caps.audio_backends = (char **)backends;
    caps.n_audio_backends = 1;
    caps.midi_backends = (char **)backends;
    caps.n_midi_backends = 1;
    caps.max_input_channels = CHANNELS;
    Bb__RegisterRequest reg = BB__REGISTER_REQUEST__INIT;
    reg.name = FAKE_NAME;
    reg.session = s_fake.session;
    reg.caps = &caps;
    reg.sample_rate = RATE;
    reg.channels = CHANNELS;
    char msg[BB_RPC_MESSAGE_MAX] = "";
    /* the coordinator may still be starting: retry until it answers */
    int st = BB_STATUS_UNAVAILABLE;
    for (double t0 = s_now(); st != BB_STATUS_OK && s_now() - t0 < 60;) {
        st = s_call(s_fake.rpc, "RegisterNode", &reg.base, NULL, msg, sizeof msg);
        if (st != BB_STATUS_OK)
            s_sleep_ms(200);
    }
    if (st != BB_STATUS_OK) {
        fprintf(stderr, "fake node cannot register: %s\n", msg);
        test_dump_log(&s_fx.coord);
        return -1;
    }
    s_fake.next_heartbeat = bb_mono_ns() / BB_NS_PER_MS + FAKE_HEARTBEAT;
    return 0;
}

static int s_fake_teardown(void **state)
{
    for (int i = 0; i < s_fake.n_jobs; i++)
        bb__take_job__free_unpacked(s_fake.jobs[i], NULL);
    bb_rpc_destroy(&s_fake.rpc);
    return s_env_teardown(state);
}

/* Frames after the note-on where the fake instrument's tone jumps half a period ahead, as
 * a sample with a seam does at the same place in every take; < 0: no jump. */
static int s_fake_jump_at = -1;

/* A take as a node would record it: quiet pre-roll, then a decaying tone at the note. */
static float *s_fake_audio(int note)
{
    float *a = malloc(sizeof(float) * FAKE_FRAMES * CHANNELS);
    double f = 440.0 * pow(2.0, (note - 69) / 12.0);
    uint32_t seed = 12345;
    for (int i = 0; i < FAKE_FRAMES; i++) {
        seed = seed * 1664525u + 1013904223u;
        double noise = ((seed >> 8) / 16777216.0 - 0.5) * 2e-4;
        double s = 0;
        if (i >= FAKE_PREROLL) {
            double t = (double)(i - FAKE_PREROLL) / RATE;
            double env = (t < 0.005 ? t / 0.005 : 1.0) * exp(-t * 3.0);
            if (i >= FAKE_PREROLL + FAKE_HOLD)
                env *= exp(-(double)(i - FAKE_PREROLL - FAKE_HOLD) / RATE * 25.0);
            double jump = s_fake_jump_at >= 0 && i - FAKE_PREROLL >= s_fake_jump_at ? 0.5 : 0;
            s = 0.5 * env * sin(2 * M_PI * (f * t + jump));
        }
        for (int c = 0; c < CHANNELS; c++)
            a[i * CHANNELS + c] = (float)(s + noise);
    }
    return a;
}

typedef struct {
    int frames_delta; /* added to the true frame count in TakeEnd */
    uint32_t crc_xor; /* applied to the true CRC in TakeEnd */
    int chunks_delta;
    size_t chunk_bytes; /* 0: FAKE_CHUNK; others need not hold whole frames */
    size_t cut_bytes;   /* bytes left off the end of the audio */
    bool skip_begin;    /* stream chunks without a TakeBegin first */
    bool skip_chunks;   /* TakeBegin then TakeEnd only */
    bool skip_end;
} s_tamper_t;

typedef struct {
    int begin, end; /* statuses */
    bool already_stored, duplicate;
    char msg[BB_RPC_MESSAGE_MAX];
} s_stream_result_t;

/* Streams one take as the node does: TakeBegin, numbered chunks, TakeEnd. */
static s_stream_result_t s_fake_stream(const Bb__TakeJob *job, const s_tamper_t *tamper)
{
    static const s_tamper_t none;
    if (!tamper)
        tamper = &none;
    s_stream_result_t res = {.begin = BB_STATUS_OK, .end = -1};
    float *audio = s_fake_audio((int)job->note);
    const uint8_t *bytes = (const uint8_t *)audio;
    size_t total = sizeof(float) * FAKE_FRAMES * CHANNELS - tamper->cut_bytes;
    size_t chunk_bytes = tamper->chunk_bytes ? tamper->chunk_bytes : FAKE_CHUNK;
    uint32_t chunks = (uint32_t)((total + chunk_bytes - 1) / chunk_bytes);
    if (!tamper->skip_begin) {
        Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
        fmt.sample_rate = RATE;
        fmt.channels = CHANNELS;
        Bb__TakeBeginRequest begin = BB__TAKE_BEGIN_REQUEST__INIT;
        begin.node = FAKE_NAME;
        begin.job = (Bb__TakeJob *)job;
        begin.format = &fmt;
        ProtobufCMessage *r = NULL;
        res.begin = s_call(s_fake.rpc, "TakeBegin", &begin.base, &r, res.msg, sizeof res.msg);
        if (res.begin != BB_STATUS_OK) {
            free(audio);
            return res;
        }
        res.already_stored = ((Bb__TakeBeginReply *)r)->already_stored;
        protobuf_c_message_free_unpacked(r, NULL);
    }
    uint32_t crc = 0;
    for (uint32_t seq = 0; seq < chunks; seq++) {
        size_t off = (size_t)seq * chunk_bytes;
        size_t len = total - off < chunk_bytes ? total - off : chunk_bytes;
        crc = bb_crc32(crc, bytes + off, len);
        if (tamper->skip_chunks || res.already_stored)
            continue;
        Bb__TakeChunkRequest req = BB__TAKE_CHUNK_REQUEST__INIT;
        req.take_id = job->take_id;
        req.seq = seq;
        req.data.data = (uint8_t *)bytes + off;
        req.data.len = len;
        int st = s_call(s_fake.rpc, "TakeChunk", &req.base, NULL, res.msg, sizeof res.msg);
        if (st != BB_STATUS_OK) {
            res.begin = st; /* the stream broke before the end */
            free(audio);
            return res;
        }
    }
    free(audio);
    if (tamper->skip_end)
        return res;
    Bb__TakeEndRequest end = BB__TAKE_END_REQUEST__INIT;
    end.take_id = job->take_id;
    end.frames = (uint64_t)((int)(total / (sizeof(float) * CHANNELS)) + tamper->frames_delta);
    end.note_on_frame = FAKE_PREROLL;
    end.note_off_frame = FAKE_PREROLL + FAKE_HOLD;
    end.crc32 = crc ^ tamper->crc_xor;
    end.chunks = (uint32_t)((int)chunks + tamper->chunks_delta);
    end.stream_start_frame = 1000000;
    end.noise_floor_db = -80;
    ProtobufCMessage *r = NULL;
    res.end = s_call(s_fake.rpc, "TakeEnd", &end.base, &r, res.msg, sizeof res.msg);
    if (res.end == BB_STATUS_OK) {
        res.duplicate = ((Bb__TakeEndReply *)r)->duplicate;
        protobuf_c_message_free_unpacked(r, NULL);
    }
    return res;
}

/* The raw files of one take in the coordinator's take folder: final WAV and partial. */
static int s_take_files(const char *id, const char *ext)
{
    char path[600];
    snprintf(path, sizeof path, "%s/takes/b1/%s%s", s_fx.state, id, ext);
    return bb_exists(path) ? 1 : 0;
}

/* Submits `notes` x `velocities` of Fake Keys to the fake node with `retakes` retakes, and
 * waits for the first two jobs (the node's window). */
static void s_fake_submit_notes(const char *notes, const char *velocities, const char *retakes)
{
    const char *args[] = {"submit",  "--instrument", "Fake Keys", "--node",    FAKE_NAME,
                          "--notes", notes,          "--hold",    "0.2",       "--release",
                          "0.3",     "--velocities", velocities,  "--retakes", retakes,
                          "--out",   s_lib,          NULL};
    /* the StartTake calls wait in our socket until we serve them */
    assert_int_equal(s_cli(NULL, args), 0);
    s_fake_pump(60000, 2);
    if (s_fake.n_jobs < 2) {
        test_dump_log(&s_fx.coord);
        fail_msg("the coordinator sent %d job(s) to the fake node, expected 2", s_fake.n_jobs);
    }
}

/* Three notes: two jobs come at once (the node's window), the third after one is done. */
static void s_fake_submit(void)
{
    s_fake_submit_notes("C3:D3", "100", "0");
}

/* Waits until take `id` is checked (its verdict no longer -1, pending); returns the
 * verdict: 0 pass, 1 warn, 2 fail (dsp/pipeline.h). */
static long long s_wait_checked(const char *id)
{
    for (double t0 = s_now();
         s_db_int("SELECT verdict FROM takes WHERE id=?", id, NULL) == -1 && s_now() - t0 < 30;)
        s_sleep_ms(50);
    return s_db_int("SELECT verdict FROM takes WHERE id=?", id, NULL);
}

/* ---- 2a. a jump in every take of a note is the instrument's own, live ---- */

/* Two velocities of C3 whose tone jumps at the same place after the note-on. The first
 * take has nothing to compare with: it fails as a dropout and is retaken; the retake jumps
 * at the same place again and is kept with a warning, and so is the other velocity's
 * take (that a jump elsewhere still fails is test_qc's). */
static void test_shared_jump_kept_live(void **state)
{
    (void)state;
    s_fake_submit_notes("C3", "60,100", "1");
    s_fake_jump_at = 7200; /* 150 ms after the note-on */
    const Bb__TakeJob *first = s_fake.jobs[0];
    s_stream_result_t r = s_fake_stream(first, NULL);
    assert_int_equal(r.end, BB_STATUS_OK);
    assert_int_equal(s_wait_checked(first->take_id), 2); /* failed, with nothing to compare */
    assert_int_equal(
        s_db_int("SELECT COUNT(*) FROM takes WHERE id=? AND qc LIKE '%dropout: a jump%'",
                 first->take_id, NULL),
        1);
    s_fake_pump(60000, 3);
    assert_int_equal(s_fake.n_jobs, 3);
    const Bb__TakeJob *again = s_fake.jobs[2];
    assert_int_equal(again->velocity, first->velocity);
    r = s_fake_stream(again, NULL);
    assert_int_equal(r.end, BB_STATUS_OK);
    assert_int_equal(s_wait_checked(again->take_id), 1); /* warned */
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes WHERE id=? AND qc LIKE "
                              "'%the instrument''s own%'",
                              again->take_id, NULL),
                     1);
    assert_int_equal(s_db_int("SELECT state FROM jobs WHERE take_id=?", again->take_id, NULL),
                     2); /* done */
    const Bb__TakeJob *other = s_fake.jobs[1];
    r = s_fake_stream(other, NULL);
    assert_int_equal(r.end, BB_STATUS_OK);
    assert_int_equal(s_wait_checked(other->take_id), 1);
    s_fake_jump_at = -1;
}

/* ---- 2. a take received twice is stored once ---- */

static void test_duplicate_take_stored_once(void **state)
{
    (void)state;
    s_fake_submit();
    const Bb__TakeJob *job = s_fake.jobs[0];
    const char *id = job->take_id;

    /* first delivery: stored, acknowledged, not a duplicate */
    s_stream_result_t r = s_fake_stream(job, NULL);
    if (r.end != BB_STATUS_OK)
        fail_msg("TakeEnd: %s: %s", bb_status_name(r.end), r.msg);
    assert_false(r.already_stored);
    assert_false(r.duplicate);
    assert_int_equal(s_take_rows(id), 1);
    assert_int_equal(s_take_files(id, ".wav"), 1);
    struct stat st1;
    char wav[600];
    snprintf(wav, sizeof wav, "%s/takes/b1/%s.wav", s_fx.state, id);
    assert_int_equal(stat(wav, &st1), 0);

    /* the ack was lost: the node sends the whole take again */
    r = s_fake_stream(job, NULL);
    assert_int_equal(r.begin, BB_STATUS_OK);
    assert_true(r.already_stored);
    assert_int_equal(r.end, BB_STATUS_OK);
    assert_true(r.duplicate);

    /* only the TakeEnd again (its reply was lost): acknowledged, nothing changes */
    s_tamper_t only_end = {.skip_begin = true, .skip_chunks = true};
    r = s_fake_stream(job, &only_end);
    assert_int_equal(r.end, BB_STATUS_OK);
    assert_true(r.duplicate);

    assert_int_equal(s_take_rows(id), 1);
    assert_int_equal(s_take_files(id, ".wav"), 1);
    assert_int_equal(s_take_files(id, ".wav.part"), 0);
    struct stat st2;
    assert_int_equal(stat(wav, &st2), 0);
    assert_int_equal(st1.st_size, st2.st_size);
    assert_true(st1.st_ino == st2.st_ino && st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
                st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs WHERE take_id=?", id, NULL), 1);
    /* the verdict comes from the checker, off the coordinator's loop: the job is stored (5)
     * until then, done (2) after */
    for (double t0 = s_now();
         s_db_int("SELECT state FROM jobs WHERE take_id=?", id, NULL) == 5 && s_now() - t0 < 30;)
        s_sleep_ms(50);
    assert_int_equal(s_db_int("SELECT state FROM jobs WHERE take_id=?", id, NULL), 2);

    /* second job: the stream restarts halfway (TakeBegin again), then the first stream's
     * late TakeEnd arrives after the second was stored */
    const Bb__TakeJob *job2 = s_fake.jobs[1];
    s_tamper_t no_end = {.skip_end = true};
    r = s_fake_stream(job2, &no_end);
    assert_int_equal(r.begin, BB_STATUS_OK);
    r = s_fake_stream(job2, NULL);
    if (r.end != BB_STATUS_OK)
        fail_msg("TakeEnd after a restarted stream: %s: %s", bb_status_name(r.end), r.msg);
    assert_false(r.duplicate);
    s_tamper_t late_end = {.skip_begin = true, .skip_chunks = true};
    r = s_fake_stream(job2, &late_end);
    assert_int_equal(r.end, BB_STATUS_OK);
    assert_true(r.duplicate);
    assert_int_equal(s_take_rows(job2->take_id), 1);
    assert_int_equal(s_take_files(job2->take_id, ".wav"), 1);
    assert_int_equal(s_take_files(job2->take_id, ".wav.part"), 0);

    /* in all: two take rows, two raw WAVs, no partial files */
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes", NULL, NULL), 2);
    assert_int_equal(s_raw_files(".wav"), 2);
    assert_int_equal(s_raw_files(".part"), 0);
    s_stop_all_checked();
}

/* ---- 2b. a damaged take is refused and leaves nothing behind ---- */

static void s_expect_refused(const Bb__TakeJob *job, const s_tamper_t *how, int status,
                             const char *what)
{
    s_stream_result_t r = s_fake_stream(job, how);
    if (r.begin != BB_STATUS_OK)
        fail_msg("%s: the stream broke early: %s: %s", what, bb_status_name(r.begin), r.msg);
    if (r.end != status)
        fail_msg("%s: TakeEnd answered %s (%s), expected %s", what, bb_status_name(r.end), r.msg,
                 bb_status_name(status));
    assert_int_equal(s_take_rows(job->take_id), 0);
    assert_int_equal(s_take_files(job->take_id, ".wav"), 0);
    assert_int_equal(s_take_files(job->take_id, ".wav.part"), 0);
    /* the job still waits for its take */
    assert_int_equal(s_db_int("SELECT state FROM jobs WHERE dispatched=?", job->take_id, NULL), 1);
}

/* The raw take the coordinator stored is a float WAV holding exactly what was sent. */
static void s_check_stored_audio(const Bb__TakeJob *job)
{
    char path[600];
    snprintf(path, sizeof path, "%s/takes/b1/%s.wav", s_fx.state, job->take_id);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t hdr[12];
    assert_int_equal(fread(hdr, 1, 12, f), 12);
    assert_memory_equal(hdr, "RIFF", 4);
    assert_memory_equal(hdr + 8, "WAVE", 4);
    uint8_t ck[8];
    uint32_t size = 0;
    bool found = false;
    while (!found && fread(ck, 1, 8, f) == 8) {
        size =
            (uint32_t)ck[4] | (uint32_t)ck[5] << 8 | (uint32_t)ck[6] << 16 | (uint32_t)ck[7] << 24;
        if (memcmp(ck, "data", 4) == 0)
            found = true;
        else
            assert_int_equal(fseek(f, (long)(size + (size & 1)), SEEK_CUR), 0);
    }
    assert_true(found);
    float *want = s_fake_audio((int)job->note);
    assert_int_equal(size, sizeof(float) * FAKE_FRAMES * CHANNELS);
    float *got = malloc(size);
    assert_int_equal(fread(got, 1, size, f), size);
    fclose(f);
    assert_memory_equal(got, want, size);
    free(got);
    free(want);
}

static void test_damaged_take_refused(void **state)
{
    (void)state;
    s_fake_submit();
    const Bb__TakeJob *job = s_fake.jobs[0];

    s_tamper_t bad_crc = {.crc_xor = 0x00010000};
    s_expect_refused(job, &bad_crc, BB_STATUS_DATA_LOSS, "wrong CRC");
    s_tamper_t more_frames = {.frames_delta = 1};
    s_expect_refused(job, &more_frames, BB_STATUS_DATA_LOSS, "one frame more than sent");
    s_tamper_t fewer_frames = {.frames_delta = -100};
    s_expect_refused(job, &fewer_frames, BB_STATUS_DATA_LOSS, "fewer frames than sent");
    s_tamper_t more_chunks = {.chunks_delta = 1};
    s_expect_refused(job, &more_chunks, BB_STATUS_DATA_LOSS, "a chunk missing");
    s_tamper_t no_chunks = {.skip_chunks = true};
    s_expect_refused(job, &no_chunks, BB_STATUS_DATA_LOSS, "no chunks at all");
    s_tamper_t half_frame = {.cut_bytes = 4}; /* the last frame cut in half */
    s_expect_refused(job, &half_frame, BB_STATUS_DATA_LOSS, "a partial last frame");
    /* a TakeEnd without a stream: nothing to finish */
    s_tamper_t end_only = {.skip_begin = true, .skip_chunks = true};
    s_expect_refused(job, &end_only, BB_STATUS_FAILED_PRECONDITION, "TakeEnd alone");

    /* a chunk out of order is refused on the spot */
    Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
    fmt.sample_rate = RATE;
    fmt.channels = CHANNELS;
    Bb__TakeBeginRequest begin = BB__TAKE_BEGIN_REQUEST__INIT;
    begin.node = FAKE_NAME;
    begin.job = (Bb__TakeJob *)job;
    begin.format = &fmt;
    char msg[BB_RPC_MESSAGE_MAX];
    assert_int_equal(s_call(s_fake.rpc, "TakeBegin", &begin.base, NULL, msg, sizeof msg),
                     BB_STATUS_OK);
    uint8_t data[64] = {0};
    Bb__TakeChunkRequest chunk = BB__TAKE_CHUNK_REQUEST__INIT;
    chunk.take_id = job->take_id;
    chunk.seq = 1;
    chunk.data.data = data;
    chunk.data.len = sizeof data;
    assert_int_equal(s_call(s_fake.rpc, "TakeChunk", &chunk.base, NULL, msg, sizeof msg),
                     BB_STATUS_FAILED_PRECONDITION);
    assert_int_equal(s_take_rows(job->take_id), 0);

    /* the same take sent intact is then accepted, once, and stored bit-exact although its
     * chunk boundaries fall inside frames */
    s_tamper_t odd_chunks = {.chunk_bytes = 4099};
    s_stream_result_t r = s_fake_stream(job, &odd_chunks);
    if (r.end != BB_STATUS_OK)
        fail_msg("the intact take: %s: %s", bb_status_name(r.end), r.msg);
    assert_false(r.duplicate);
    assert_int_equal(s_take_rows(job->take_id), 1);
    assert_int_equal(s_take_files(job->take_id, ".wav"), 1);
    assert_int_equal(s_raw_files(".part"), 0);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes", NULL, NULL), 1);
    s_check_stored_audio(job);
    assert_true(test_alive(&s_fx.coord));
    s_stop_all_checked();
}

/* ---- 4. malformed messages ---- */

static int s_malformed_setup(void **state)
{
    (void)state;
    return s_env_setup("malformed", 200);
}

/* Sends frames (NULL-terminated list of {data,len}) on a raw DEALER and waits for one
 * reply frame; returns it decoded, or NULL when none came within timeout_ms. */
typedef struct {
    const void *data;
    size_t len;
} s_frame_t;

static Bb__RpcFrame *s_raw(zsock_t *sock, const s_frame_t *frames, int n, int timeout_ms)
{
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < n; i++)
        zmsg_addmem(msg, frames[i].data, frames[i].len);
    assert_int_equal(zmsg_send(&msg, sock), 0);
    zpoller_t *p = zpoller_new(sock, NULL);
    void *which = zpoller_wait(p, timeout_ms);
    zpoller_destroy(&p);
    if (!which)
        return NULL;
    zframe_t *reply = zframe_recv(sock);
    assert_non_null(reply);
    Bb__RpcFrame *out = bb__rpc_frame__unpack(NULL, zframe_size(reply), zframe_data(reply));
    zframe_destroy(&reply);
    assert_non_null(out);
    return out;
}

/* A request envelope around an arbitrary payload. */
static Bb__RpcFrame *s_raw_request(zsock_t *sock, const char *method, const void *payload,
                                   size_t len, uint64_t call_id)
{
    Bb__RpcFrame f = BB__RPC_FRAME__INIT;
    f.kind = BB__RPC_FRAME__KIND__REQUEST;
    f.call_id = call_id;
    f.method = (char *)method;
    f.deadline_ms = bb_unix_ms() + 60000;
    f.payload.data = (uint8_t *)payload;
    f.payload.len = len;
    size_t n = bb__rpc_frame__get_packed_size(&f);
    uint8_t *buf = malloc(n ? n : 1);
    bb__rpc_frame__pack(&f, buf);
    s_frame_t one = {buf, n};
    Bb__RpcFrame *r = s_raw(sock, &one, 1, 10000);
    free(buf);
    return r;
}

static void s_expect_status(Bb__RpcFrame *r, int status, uint64_t call_id, const char *what)
{
    if (!r)
        fail_msg("%s: no reply", what);
    if ((int)r->status != status)
        fail_msg("%s: %s (%s), expected %s", what, bb_status_name(r->status), r->message,
                 bb_status_name(status));
    assert_int_equal(r->kind, BB__RPC_FRAME__KIND__REPLY);
    assert_int_equal(r->call_id, call_id);
    assert_true(*r->message); /* a reason a person can read */
    bb__rpc_frame__free_unpacked(r, NULL);
}

/* Garbage on one endpoint: every case answered INVALID_ARGUMENT (or ignored). */
static void s_garbage(const char *endpoint, const char *role, const char *method,
                      const char *input_type)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    assert_non_null(sock);
    assert_int_equal(test_fixture_secure(&s_fx, sock, role, "garbage"), 0);
    assert_int_equal(zsock_connect(sock, "%s", endpoint), 0);
    zsock_set_rcvtimeo(sock, 10000);
    const uint8_t junk[] = "this is not a protobuf \xff\xff\xff\xff\xff";
    s_frame_t one = {junk, sizeof junk};
    s_expect_status(s_raw(sock, &one, 1, 10000), BB_STATUS_INVALID_ARGUMENT, 0, "junk frame");
    s_frame_t two[] = {{junk, 4}, {junk, sizeof junk}};
    s_expect_status(s_raw(sock, two, 2, 10000), BB_STATUS_INVALID_ARGUMENT, 0, "two frames");
    /* truncated varint and a length running past the end */
    const uint8_t truncated[] = {0x10, 0xff, 0xff};
    s_frame_t t1 = {truncated, sizeof truncated};
    s_expect_status(s_raw(sock, &t1, 1, 10000), BB_STATUS_INVALID_ARGUMENT, 0, "truncated");
    const uint8_t overrun[] = {0x1a, 0x7f, '/', 'b'};
    s_frame_t t2 = {overrun, sizeof overrun};
    s_expect_status(s_raw(sock, &t2, 1, 10000), BB_STATUS_INVALID_ARGUMENT, 0, "overrun");

    /* a valid envelope around an undecodable payload */
    const uint8_t bad_payload[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x99};
    Bb__RpcFrame *r = s_raw_request(sock, method, bad_payload, sizeof bad_payload, 41);
    assert_non_null(r);
    assert_non_null(strstr(r->message, input_type));
    s_expect_status(r, BB_STATUS_INVALID_ARGUMENT, 41, "undecodable payload");
    /* an unknown method, and no method at all */
    s_expect_status(s_raw_request(sock, "/bb.NoSuch/Thing", NULL, 0, 42), BB_STATUS_UNIMPLEMENTED,
                    42, "unknown method");
    s_expect_status(s_raw_request(sock, "", NULL, 0, 43), BB_STATUS_UNIMPLEMENTED, 43, "no method");
    s_expect_status(s_raw_request(sock, "/bb.NodeLink", NULL, 0, 44), BB_STATUS_UNIMPLEMENTED, 44,
                    "no method name");
    /* an empty frame is an empty envelope: no method */
    s_frame_t empty = {"", 0};
    r = s_raw(sock, &empty, 1, 10000);
    assert_non_null(r);
    assert_int_not_equal(r->status, BB_STATUS_OK);
    bb__rpc_frame__free_unpacked(r, NULL);

    /* random bytes, then random corruptions of a real request: always an answer */
    uint8_t buf[256];
    uint32_t seed = 0x5eed;
    for (int i = 0; i < 200; i++) {
        size_t len = 1 + i % sizeof buf;
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1664525u + 1013904223u;
            buf[k] = (uint8_t)(seed >> 24);
        }
        /* an envelope that happens to decode as something other than a request gets no
         * answer by design (a late reply is dropped): leave those out */
        Bb__RpcFrame *as = bb__rpc_frame__unpack(NULL, len, buf);
        bool no_answer = as && as->kind != BB__RPC_FRAME__KIND__REQUEST;
        if (as)
            bb__rpc_frame__free_unpacked(as, NULL);
        if (no_answer)
            continue;
        s_frame_t f = {buf, len};
        r = s_raw(sock, &f, 1, 10000);
        if (!r)
            fail_msg("random frame %d got no answer", i);
        assert_int_equal(r->kind, BB__RPC_FRAME__KIND__REPLY);
        bb__rpc_frame__free_unpacked(r, NULL);
    }

    /* a reply nobody asked for is dropped silently; the next call is answered normally */
    Bb__RpcFrame stray = BB__RPC_FRAME__INIT;
    stray.kind = BB__RPC_FRAME__KIND__REPLY;
    stray.call_id = 987654321;
    uint8_t sbuf[64];
    size_t sn = bb__rpc_frame__pack(&stray, sbuf);
    zframe_t *sf = zframe_new(sbuf, sn);
    zframe_send(&sf, sock, 0);
    s_expect_status(s_raw_request(sock, "/bb.NoSuch/Thing", NULL, 0, 45), BB_STATUS_UNIMPLEMENTED,
                    45, "after a stray reply");
    zsock_destroy(&sock);
}

/* Decodable but wrong NodeLink requests: each refused with a status, nothing stored. */
static void s_nonsense_nodelink(void)
{
    char msg[BB_RPC_MESSAGE_MAX];
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "node", "nobody");
    assert_non_null(rpc);
    ProtobufCMessage *reply = NULL;

    Bb__RegisterRequest reg = BB__REGISTER_REQUEST__INIT;
    reg.name = "";
    reg.session = "s";
    assert_int_equal(s_call(rpc, "RegisterNode", &reg.base, NULL, msg, sizeof msg),
                     BB_STATUS_INVALID_ARGUMENT);
    reg.name = "x-very-long-name-that-goes-on-and-on-and-on-past-sixty-three-chars-in-all";
    assert_int_equal(s_call(rpc, "RegisterNode", &reg.base, NULL, msg, sizeof msg),
                     BB_STATUS_INVALID_ARGUMENT);

    Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;
    hb.name = "nobody";
    hb.session = "none";
    assert_int_equal(s_call(rpc, "Heartbeat", &hb.base, &reply, msg, sizeof msg), BB_STATUS_OK);
    assert_false(((Bb__HeartbeatReply *)reply)->known);
    protobuf_c_message_free_unpacked(reply, NULL);

    /* take calls from a connection that never registered: refused before anything else */
    Bb__TakeBeginRequest begin = BB__TAKE_BEGIN_REQUEST__INIT;
    begin.node = "nobody";
    assert_int_equal(s_call(rpc, "TakeBegin", &begin.base, NULL, msg, sizeof msg),
                     BB_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(msg, "register first"));
    Bb__TakeChunkRequest chunk = BB__TAKE_CHUNK_REQUEST__INIT;
    chunk.take_id = "never-begun";
    assert_int_equal(s_call(rpc, "TakeChunk", &chunk.base, NULL, msg, sizeof msg),
                     BB_STATUS_FAILED_PRECONDITION);

    /* registered, then nonsense */
    reg.name = "nobody";
    reg.session = "nobody-session";
    reg.sample_rate = RATE;
    reg.channels = CHANNELS;
    assert_int_equal(s_call(rpc, "RegisterNode", &reg.base, NULL, msg, sizeof msg), BB_STATUS_OK);
    assert_int_equal(s_call(rpc, "TakeBegin", &begin.base, NULL, msg, sizeof msg),
                     BB_STATUS_INVALID_ARGUMENT); /* no job, no format */
    Bb__TakeJob job = BB__TAKE_JOB__INIT;
    Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
    fmt.sample_rate = RATE;
    fmt.channels = CHANNELS;
    begin.job = &job;
    begin.format = &fmt;
    const char *bad_ids[] = {"", "../escape", "a/b", "..", ".hidden", "sp ace", NULL};
    for (int i = 0; bad_ids[i]; i++) {
        job.take_id = (char *)bad_ids[i];
        int st = s_call(rpc, "TakeBegin", &begin.base, NULL, msg, sizeof msg);
        if (st != BB_STATUS_INVALID_ARGUMENT)
            fail_msg("take id '%s': %s", bad_ids[i], bb_status_name(st));
    }
    job.take_id = "b1-i0-s0-a1";
    fmt.channels = 0;
    assert_int_equal(s_call(rpc, "TakeBegin", &begin.base, NULL, msg, sizeof msg),
                     BB_STATUS_INVALID_ARGUMENT);
    fmt.channels = 2;
    fmt.sample_rate = 12345;
    assert_int_equal(s_call(rpc, "TakeBegin", &begin.base, NULL, msg, sizeof msg),
                     BB_STATUS_INVALID_ARGUMENT);

    assert_int_equal(s_call(rpc, "TakeChunk", &chunk.base, NULL, msg, sizeof msg),
                     BB_STATUS_FAILED_PRECONDITION);
    Bb__TakeEndRequest end = BB__TAKE_END_REQUEST__INIT;
    end.take_id = "never-begun";
    assert_int_equal(s_call(rpc, "TakeEnd", &end.base, NULL, msg, sizeof msg),
                     BB_STATUS_FAILED_PRECONDITION);

    /* a well-formed take nobody dispatched: refused (the take id is not parsed for a job) */
    fmt.sample_rate = RATE;
    job.take_id = "b1-i0-s0-a1";
    assert_int_equal(s_call(rpc, "TakeBegin", &begin.base, NULL, msg, sizeof msg),
                     BB_STATUS_NOT_FOUND);

    Bb__TakeFailedRequest tf = BB__TAKE_FAILED_REQUEST__INIT;
    tf.take_id = "never-begun";
    assert_int_equal(s_call(rpc, "TakeFailed", &tf.base, NULL, msg, sizeof msg), BB_STATUS_OK);
    bb_rpc_destroy(&rpc);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes", NULL, NULL), 0);
}

static void test_malformed_messages(void **state)
{
    (void)state;
    /* the coordinator is up once the CLI gets an answer */
    bool up = false;
    for (double t0 = s_now(); !up && s_now() - t0 < 60; s_sleep_ms(100)) {
        const char *args[] = {"nodes", NULL};
        up = s_cli(NULL, args) == 0;
    }
    assert_true(up);
    s_garbage(s_fx.nodes, "node", "/bb.NodeLink/TakeChunk", "bb.TakeChunkRequest");
    s_garbage(s_fx.ops, "operator", "/bb.Operator/SubmitBatch", "bb.BatchSpec");
    s_nonsense_nodelink();

    /* a message over the size limit is refused by the socket; the coordinator carries on */
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    assert_int_equal(test_fixture_secure(&s_fx, sock, "node", "garbage"), 0);
    assert_int_equal(zsock_connect(sock, "%s", s_fx.nodes), 0);
    size_t big = BB_RPC_DEFAULT_MAX_MSG + 1024;
    uint8_t *huge = calloc(1, big);
    zframe_t *hf = zframe_new(huge, big);
    free(huge);
    zframe_send(&hf, sock, 0);
    zsock_set_linger(sock, 2000);
    zsock_destroy(&sock);

    assert_true(test_alive(&s_fx.coord));
    char *out = NULL;
    const char *args[] = {"nodes", NULL};
    assert_int_equal(s_cli(&out, args), 0);
    free(out);
    /* and a real node can still register and be listed online */
    assert_int_equal(s_node_start(0, "node-a", "piano", "25"), 0);
    if (!s_wait_node("node-a", "online", 60)) {
        s_dump_logs();
        fail_msg("a node could not register after the garbage");
    }
    assert_true(test_alive(&s_fx.coord));
    s_stop_all_checked();
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    signal(SIGPIPE, SIG_IGN);
    if (getenv("BB_TEST_FILTER")) /* e.g. BB_TEST_FILTER='*restart*' */
        cmocka_set_test_filter(getenv("BB_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_jump_kept_live, s_fake_setup, s_fake_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_take_stored_once, s_fake_setup,
                                        s_fake_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_take_refused, s_fake_setup, s_fake_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_messages, s_malformed_setup, s_env_teardown),
        cmocka_unit_test_setup_teardown(test_coordinator_restart, s_restart_setup, s_env_teardown),
        cmocka_unit_test_setup_teardown(test_node_vanishes, s_vanish_setup, s_env_teardown),
        cmocka_unit_test_setup_teardown(test_node_frozen_and_back, s_vanish_setup, s_env_teardown),
        cmocka_unit_test_setup_teardown(test_spooled_take_resent_after_node_crash, s_spool_setup,
                                        s_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
