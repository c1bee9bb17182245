/*
 * test_dataloss.c — a user's files survive everything Batcherbird does to a library, on
 * the real programs (a coordinator and a fast simulated node over ipc:// with CURVE keys,
 * test_fixture.h) driven through the `batcherbird` binary as a user would. One CTest
 * entry per case:
 *
 *  reexport_keeps_user_files  files a user added inside an instrument folder stay through a
 *                             retake, export --again and a second `process`; a file
 *                             Batcherbird wrote and the user changed stops the re-export
 *                             up front (retake, export --again, process), untouched
 *  other_batch_folder         a new batch into a folder that holds another batch's library
 *                             is refused at submit, submit --dry-run and plan check, naming
 *                             the folder and the batch; --replace replaces it and keeps the
 *                             user's files; a coordinator with a fresh state folder (a
 *                             second `batcherbird demo`) does not replace a library it has
 *                             no batch for unless asked
 *  delete_only_own            delete removes the files that batch wrote and still owns:
 *                             never another batch's, never one the user changed
 *  fetch_never_overwrites     `batcherbird export BATCH --out DIR` refuses to overwrite files
 *                             it did not fetch there itself, or fetched and the user changed
 *  retake_outside_plan        retake of notes, velocities or round robins the plan does not
 *                             have: INVALID_ARGUMENT naming them, nothing recorded
 *  dry_run_checks             submit --dry-run and plan check refuse what submit refuses
 *                             (an out outside the library root) and check the disk space a
 *                             plan needs against the file systems' free space
 */
#include <czmq.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_clock.h"
#include "bb_fs.h"
#include "operator.pb-c.h"
#include "test_fixture.h"
#include "test_util.h"

#define HB_MS 200

static test_fixture_t s_fx;

static int s_teardown(void **state)
{
    (void)state;
    test_fixture_teardown(&s_fx);
    return 0;
}

/* The fixture's coordinator and one fast simulated node, node-0. */
static int s_start(const char *tag)
{
    test_fixture_init(&s_fx, tag, HB_MS);
    if (!s_fx.curve || test_fixture_coord_start(&s_fx, NULL))
        return -1;
    const char *extra[] = {"--instrument", "piano", "--fast", NULL};
    if (test_fixture_node_start(&s_fx, 0, "node-0", extra))
        return -1;
    if (!test_fixture_wait_online(&s_fx, 1, 60)) {
        test_fixture_dump_logs(&s_fx);
        return -1;
    }
    return 0;
}

static long long s_db_int(const char *sql)
{
    sqlite3 *db = NULL;
    long long v = -1;
    if (sqlite3_open_v2(s_fx.db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/* Runs the CLI (NULL-terminated arguments); stdout and stderr in *out and *err. */
static int s_cli(char **out, char **err, ...)
{
    const char *args[64];
    int n = 0;
    va_list ap;
    va_start(ap, err);
    for (const char *a; n < 63 && (a = va_arg(ap, const char *));)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    char *o = NULL, *e = NULL;
    int rc = test_fixture_cli(&s_fx, 120, &o, &e, args);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}

/* A small batch of `instrument` on node-0 into `out`, followed until it ends; `extra`
 * (may be NULL) goes on the command line. Fails the test unless it finished done. */
static void s_batch(const char *instrument, const char *notes, const char *out, const char *extra)
{
    char *o = NULL, *e = NULL;
    int rc = s_cli(&o, &e, "submit", "--instrument", instrument, "--node", "node-0", "--notes",
                   notes, "--velocities", "100", "--hold", "0.3", "--release", "0.3", "--out", out,
                   "--yes", "--watch", extra, NULL);
    if (rc) {
        test_fixture_dump_logs(&s_fx);
        fail_msg("submit %s into %s: exit %d\n%s\n%s", instrument, out, rc, o, e);
    }
    free(o);
    free(e);
}

static void s_write(const char *path, const char *text)
{
    char dir[600];
    bb_dirname(path, dir, sizeof dir);
    assert_int_equal(bb_mkdir_p(dir), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void s_append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The whole file (malloc'd), or NULL when it cannot be read. */
static char *s_read(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    return bb_read_file(path, &text, &len) == 0 ? text : NULL;
}

static void s_assert_text(const char *path, const char *want)
{
    char *text = s_read(path);
    if (!text)
        fail_msg("%s is gone", path);
    if (strcmp(text, want) != 0)
        fail_msg("%s changed: '%s', was '%s'", path, text, want);
    free(text);
}

static void s_assert_in(const char *text, const char *want)
{
    if (!text || !strstr(text, want))
        fail_msg("expected '%s' in:\n%s", want, text ? text : "(nothing)");
}

/* A path in the fixture's folder. */
static const char *s_path(char *buf, size_t len, const char *rel)
{
    snprintf(buf, len, "%s/%s", s_fx.dir, rel);
    return buf;
}

static void s_check_clean_stop(void)
{
    if (test_fixture_stop_checked(&s_fx))
        fail_msg("a program did not stop cleanly");
}

/* ---- re-exports keep what the user added, and stop at what the user changed ---- */

static void test_reexport_keeps_user_files(void **state)
{
    (void)state;
    assert_int_equal(s_start("reexport"), 0);
    s_batch("Keys", "C3:D3", "lib", NULL);
    char notes[600], mix[600], sfz[600], raw[600], relib[600], p[600];
    s_path(notes, sizeof notes, "lib/Keys/my-notes.txt");
    s_path(mix, sizeof mix, "lib/Keys/mix/notes.txt");
    s_path(sfz, sizeof sfz, "lib/Keys/Keys.sfz");
    s_write(notes, "my notes\n");
    s_write(mix, "mix notes\n");

    char *out = NULL, *err = NULL;
    int rc = s_cli(&out, &err, "retake", "1", "--instrument", "Keys", "--notes", "C3", NULL);
    if (rc)
        fail_msg("retake: %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    s_assert_text(notes, "my notes\n");
    s_assert_text(mix, "mix notes\n");
    assert_true(bb_exists(sfz));
    rc = s_cli(&out, &err, "export", "1", "--again", NULL);
    if (rc)
        fail_msg("export --again: %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    s_assert_text(notes, "my notes\n");
    s_assert_text(mix, "mix notes\n");

    /* the user changes a file Batcherbird wrote: a re-export stops before recording */
    s_append(sfz, "// my tweak\n");
    char *mine = s_read(sfz);
    assert_int_equal(s_cli(&out, &err, "retake", "1", "--instrument", "Keys", "--notes", "C3",
                           "--no-watch", NULL),
                     1);
    s_assert_in(err, "FAILED_PRECONDITION");
    s_assert_in(err, "Keys/Keys.sfz");
    s_assert_in(err, "changed");
    fprintf(stderr, "retake after an edit: %s", err);
    free(out);
    free(err);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs WHERE batch_id=1 AND state IN (0, 1)"), 0);
    assert_int_equal(s_cli(&out, &err, "export", "1", "--again", NULL), 1);
    s_assert_in(err, "Keys/Keys.sfz");
    free(out);
    free(err);
    s_assert_text(sfz, mine);
    s_assert_text(notes, "my notes\n");

    /* the offline re-cut, twice into one folder */
    snprintf(raw, sizeof raw, "%s/takes/b1", s_fx.state);
    s_path(relib, sizeof relib, "relib");
    rc = s_cli(&out, &err, "process", "--in", raw, "--out", relib, NULL);
    if (rc)
        fail_msg("process: %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    s_path(p, sizeof p, "relib/Keys/user-notes.txt");
    s_write(p, "user notes\n");
    rc = s_cli(&out, &err, "process", "--in", raw, "--out", relib, NULL);
    if (rc)
        fail_msg("process again: %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    s_assert_text(p, "user notes\n");
    s_path(p, sizeof p, "relib/Keys/Keys.sfz");
    s_append(p, "// tweak\n");
    free(mine);
    mine = s_read(p);
    rc = s_cli(&out, &err, "process", "--in", raw, "--out", relib, NULL);
    if (rc != 1)
        fail_msg("process after an edit of the .sfz: exit %d\n%s\n%s", rc, out, err);
    s_assert_in(err, "Keys.sfz");
    s_assert_in(err, "changed");
    free(out);
    free(err);
    s_assert_text(p, mine);
    free(mine);
    s_check_clean_stop();
}

/* ---- another batch's library ---- */

/* The batch whose takes lib/Keys holds (from its record's first sample), or -1. */
static int s_batch_of(const char *folder)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s/.batcherbird-instrument.json", s_fx.dir, folder);
    char *text = s_read(p);
    const char *id = text ? strstr(text, "\"take_id\":\"b") : NULL;
    int b = id ? atoi(id + strlen("\"take_id\":\"b")) : -1;
    free(text);
    return b;
}

static void test_other_batch_folder(void **state)
{
    (void)state;
    assert_int_equal(s_start("owner"), 0);
    s_batch("Keys", "C3", "abs", NULL);
    char notes[600], abs_dir[600], plan[600], text[1200];
    s_path(notes, sizeof notes, "abs/Keys/my-notes.txt");
    s_path(abs_dir, sizeof abs_dir, "abs");
    s_write(notes, "my notes\n");
    char *out = NULL, *err = NULL;
    assert_int_equal(s_cli(&out, &err, "submit", "--instrument", "Keys", "--node", "node-0",
                           "--notes", "C3:D3", "--out", "abs", "--yes", NULL),
                     1);
    s_assert_in(err, "FAILED_PRECONDITION");
    s_assert_in(err, "abs/Keys");
    s_assert_in(err, "batch 1");
    s_assert_in(err, "--replace");
    fprintf(stderr, "submit into batch 1's folder: %s", err);
    free(out);
    free(err);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches"), 1);
    /* the dry run and plan check say the same */
    assert_int_equal(s_cli(&out, &err, "submit", "--instrument", "Keys", "--node", "node-0",
                           "--notes", "C3:D3", "--out", "abs", "--dry-run", NULL),
                     1);
    s_assert_in(err, "batch 1");
    free(out);
    free(err);
    s_path(plan, sizeof plan, "again.yaml");
    snprintf(text, sizeof text,
             "out: %s\ninstruments:\n  - instrument: Keys\n    node: node-0\n    notes: C3\n",
             abs_dir);
    s_write(plan, text);
    assert_int_equal(s_cli(&out, &err, "plan", "check", plan, NULL), 2);
    s_assert_in(err, "batch 1");
    free(out);
    free(err);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches"), 1);
    assert_int_equal(s_batch_of("abs/Keys"), 1);

    /* asked for: replaced, the user's file kept */
    s_batch("Keys", "C3:D3", "abs", "--replace");
    assert_int_equal(s_batch_of("abs/Keys"), 2);
    s_assert_text(notes, "my notes\n");
    /* another instrument into the same library is no conflict */
    s_batch("Pad", "C3", "abs", NULL);

    /* a coordinator with a fresh state folder (as a second `batcherbird demo` starts) on the
     * same library: it has no batch for abs/Keys, and does not replace it unasked */
    test_fixture_kill(&s_fx.coord);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/state2' && cp -r '%s/keys' '%s/certs' '%s/state2/'",
             s_fx.dir, s_fx.state, s_fx.state, s_fx.dir); /* the studio's keys go with it */
    assert_int_equal(system(cmd), 0);
    snprintf(s_fx.state, sizeof s_fx.state, "%s/state2", s_fx.dir);
    snprintf(s_fx.db, sizeof s_fx.db, "%s/batcherbird.db", s_fx.state);
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    assert_true(test_fixture_wait_online(&s_fx, 1, 60));
    assert_int_equal(s_cli(&out, &err, "submit", "--instrument", "Keys", "--node", "node-0",
                           "--notes", "C3", "--out", "abs", "--yes", NULL),
                     1);
    s_assert_in(err, "abs/Keys");
    s_assert_in(err, "--replace");
    free(out);
    free(err);
    s_batch("Keys", "C3", "abs", "--replace");
    s_assert_text(notes, "my notes\n");
    s_check_clean_stop();
}

/* ---- delete ---- */

/* Every regular file under dir (recursively) with its contents, as one text. */
static char *s_snapshot(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cd '%s' && find . -type f | LC_ALL=C sort | xargs -r md5sum", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    pclose(p);
    return buf;
}

static void test_delete_only_own(void **state)
{
    (void)state;
    assert_int_equal(s_start("delete"), 0);
    s_batch("Keys", "C3", "shared", NULL);           /* 1 */
    s_batch("Keys", "C3:D3", "shared", "--replace"); /* 2: replaces 1's Keys */
    s_batch("Pad", "C3", "shared", NULL);            /* 3 */
    char keys[600], sfz[600], pad[600], fetched[600], p[600];
    s_path(keys, sizeof keys, "shared/Keys");
    s_path(sfz, sizeof sfz, "shared/Keys/Keys.sfz");
    s_path(pad, sizeof pad, "shared/Pad");
    char *before = s_snapshot(keys), *pad_before = s_snapshot(pad);
    assert_non_null(strstr(before, "Keys_D3_062"));

    char *out = NULL, *err = NULL;
    int rc = s_cli(&out, &err, "delete", "1", "--yes", NULL);
    if (rc)
        fail_msg("delete 1: %d\n%s", rc, err);
    free(out);
    free(err);
    char *after = s_snapshot(keys);
    if (strcmp(before, after) != 0)
        fail_msg("deleting batch 1 changed batch 2's library:\nbefore:\n%s\nafter:\n%s", before,
                 after);
    free(after);
    free(before);
    assert_int_equal(s_cli(&out, &err, "status", "2", NULL), 0);
    free(out);
    free(err);
    s_path(fetched, sizeof fetched, "fetched");
    rc = s_cli(&out, &err, "export", "2", "--out", fetched, NULL);
    if (rc)
        fail_msg("export 2 after deleting batch 1: %d\n%s", rc, err);
    free(out);
    free(err);

    /* the user changes one of batch 2's files: deleting batch 2 keeps it */
    s_append(sfz, "// mine now\n");
    char *mine = s_read(sfz);
    rc = s_cli(&out, &err, "delete", "2", "--yes", NULL);
    if (rc)
        fail_msg("delete 2: %d\n%s", rc, err);
    s_assert_in(out, "kept");
    free(out);
    free(err);
    s_assert_text(sfz, mine);
    free(mine);
    s_path(p, sizeof p, "shared/Keys/samples/Keys_D3_062_v100_rr1.wav");
    assert_false(bb_exists(p));
    s_path(p, sizeof p, "shared/Keys/.batcherbird-instrument.json");
    assert_false(bb_exists(p));
    char *pad_after = s_snapshot(pad);
    assert_string_equal(pad_before, pad_after);
    free(pad_before);
    free(pad_after);
    s_path(p, sizeof p, "shared/manifest.json");
    char *manifest = s_read(p);
    s_assert_in(manifest, "Pad/Pad.sfz");
    assert_null(strstr(manifest, "Keys/Keys.sfz"));
    free(manifest);
    s_check_clean_stop();
}

/* ---- fetching ---- */

static void test_fetch_never_overwrites(void **state)
{
    (void)state;
    assert_int_equal(s_start("fetch"), 0);
    s_batch("Keys", "C3:D3", "lib", NULL);
    char mine[600], m_manifest[600], m_sfz[600], p[600], fresh[600];
    s_path(mine, sizeof mine, "mine");
    s_path(m_manifest, sizeof m_manifest, "mine/manifest.json");
    s_path(m_sfz, sizeof m_sfz, "mine/Keys/Keys.sfz");
    s_write(m_manifest, "{\"mine\": true}\n");
    s_write(m_sfz, "// my own sfz\n");
    char *out = NULL, *err = NULL;
    assert_int_equal(s_cli(&out, &err, "export", "1", "--out", mine, NULL), 1);
    s_assert_in(err, "manifest.json");
    s_assert_in(err, "Keys/Keys.sfz");
    fprintf(stderr, "fetch into a folder with the user's files: %s", err);
    free(out);
    free(err);
    s_assert_text(m_manifest, "{\"mine\": true}\n");
    s_assert_text(m_sfz, "// my own sfz\n");
    s_path(p, sizeof p, "mine/Keys/samples");
    assert_false(bb_exists(p)); /* nothing was written */

    /* its own earlier fetch it may bring up to date */
    s_path(fresh, sizeof fresh, "fresh");
    assert_int_equal(s_cli(&out, &err, "export", "1", "--out", fresh, NULL), 0);
    free(out);
    free(err);
    int rc = s_cli(&out, &err, "retake", "1", "--instrument", "Keys", "--notes", "C3", NULL);
    if (rc)
        fail_msg("retake: %d\n%s", rc, err);
    free(out);
    free(err);
    rc = s_cli(&out, &err, "export", "1", "--out", fresh, NULL);
    if (rc)
        fail_msg("fetch again: %d\n%s", rc, err);
    free(out);
    free(err);
    char lib_sfz[600], f_sfz[600];
    s_path(lib_sfz, sizeof lib_sfz, "lib/Keys/Keys.sfz");
    s_path(f_sfz, sizeof f_sfz, "fresh/Keys/Keys.sfz");
    char *want = s_read(lib_sfz);
    s_assert_text(f_sfz, want);
    free(want);
    /* ... but not once the user changed it */
    s_append(f_sfz, "// tweak\n");
    char *edited = s_read(f_sfz);
    assert_int_equal(s_cli(&out, &err, "export", "1", "--out", fresh, NULL), 1);
    s_assert_in(err, "Keys/Keys.sfz");
    free(out);
    free(err);
    s_assert_text(f_sfz, edited);
    free(edited);
    s_check_clean_stop();
}

/* ---- retake ---- */

static void test_retake_outside_plan(void **state)
{
    (void)state;
    assert_int_equal(s_start("retake"), 0);
    s_batch("Keys", "C3:D3", "lib", NULL);
    char *out = NULL, *err = NULL;
    assert_int_equal(s_cli(&out, &err, "retake", "1", "--instrument", "Keys", "--notes", "C3,G3",
                           "--no-watch", NULL),
                     1);
    s_assert_in(err, "INVALID_ARGUMENT");
    s_assert_in(err, "G3");
    fprintf(stderr, "retake of G3: %s", err);
    free(out);
    free(err);
    assert_int_equal(s_cli(&out, &err, "retake", "1", "--instrument", "Keys", "--velocities",
                           "100,127", "--no-watch", NULL),
                     1);
    s_assert_in(err, "INVALID_ARGUMENT");
    s_assert_in(err, "127");
    free(out);
    free(err);
    assert_int_equal(s_cli(&out, &err, "retake", "1", "--instrument", "Keys", "--round-robins", "2",
                           "--no-watch", NULL),
                     1);
    s_assert_in(err, "INVALID_ARGUMENT");
    s_assert_in(err, "round robin 2");
    free(out);
    free(err);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs WHERE state IN (0, 1)"), 0);
    assert_int_equal(s_db_int("SELECT state FROM batches WHERE id=1"), BB__BATCH_STATE__BATCH_DONE);
    s_check_clean_stop();
}

/* ---- the dry run checks what submit checks ---- */

static void test_dry_run_checks(void **state)
{
    (void)state;
    assert_int_equal(s_start("dryrun"), 0);
    char *out = NULL, *err = NULL;
    assert_int_equal(s_cli(&out, &err, "submit", "--instrument", "Keys", "--node", "node-0",
                           "--out", "../../etc", "--dry-run", NULL),
                     1);
    s_assert_in(err, "INVALID_ARGUMENT");
    free(out);
    free(err);
    char plan[600];
    s_path(plan, sizeof plan, "etc.yaml");
    s_write(plan, "out: ../../etc\ninstruments:\n  - instrument: Keys\n    node: node-0\n");
    assert_int_equal(s_cli(&out, &err, "plan", "check", plan, NULL), 2);
    s_assert_in(err, "INVALID_ARGUMENT");
    free(out);
    free(err);

    /* a plan that fits: the dry run says how much room there is */
    assert_int_equal(s_cli(&out, &err, "submit", "--instrument", "Keys", "--node", "node-0",
                           "--out", "lib", "--dry-run", NULL),
                     0);
    s_assert_in(out, "free");
    free(out);
    free(err);

    /* one that does not: 98,304 takes of two minutes (petabytes of takes and library) */
    char vel48[200] = "";
    for (int v = 1; v <= 48; v++)
        snprintf(vel48 + strlen(vel48), sizeof vel48 - strlen(vel48), "%s%d", v > 1 ? "," : "", v);
    struct statvfs vfs;
    assert_int_equal(statvfs(s_fx.dir, &vfs), 0);
    double free_b = (double)vfs.f_bavail * vfs.f_frsize;
    if (free_b > 4e12)
        test_skip("the test folder has %.1f TB free: the plan would fit", free_b / 1e12);
    const char *big[] = {"submit",  "--instrument", "Keys",         "--node",    "node-0",
                         "--notes", "0:127",        "--velocities", vel48,       "--round-robins",
                         "16",      "--hold",       "60",           "--release", "60",
                         "--out",   "big",          "--yes",        NULL};
    const char *args[32];
    int n = 0;
    for (; big[n]; n++)
        args[n] = big[n];
    args[n] = "--dry-run";
    args[n + 1] = NULL;
    int rc = test_fixture_cli(&s_fx, 120, &out, &err, args);
    if (rc != 1)
        fail_msg("dry run of a plan too big: exit %d\n%s\n%s", rc, out, err);
    s_assert_in(err, "RESOURCE_EXHAUSTED");
    s_assert_in(err, "free");
    fprintf(stderr, "dry run of a plan too big for the disk: %s", err);
    free(out);
    free(err);
    assert_int_equal(test_fixture_cli(&s_fx, 120, &out, &err, big), 1);
    s_assert_in(err, "RESOURCE_EXHAUSTED");
    free(out);
    free(err);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches"), 0);
    s_check_clean_stop();
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reexport_keeps_user_files, s_teardown),
        cmocka_unit_test_teardown(test_other_batch_folder, s_teardown),
        cmocka_unit_test_teardown(test_delete_only_own, s_teardown),
        cmocka_unit_test_teardown(test_fetch_never_overwrites, s_teardown),
        cmocka_unit_test_teardown(test_retake_outside_plan, s_teardown),
        cmocka_unit_test_teardown(test_dry_run_checks, s_teardown),
    };
    return test_main_group(tests, argc, argv);
}
