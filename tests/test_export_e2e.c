/*
 * test_export_e2e.c — the export through the real programs: a coordinator and a capture
 * node (fast simulation) over ipc://, a batch with round robins and release samples
 * submitted with the CLI, then `batcherbird export BATCH --out DIR` fetching the library
 * over the operator connection:
 *  - every file the coordinator's manifest lists arrives byte for byte;
 *  - the library has its SFZ, .dspreset, manifest.json and report.html; a sample carries
 *    bext (originator Batcherbird) and smpl (unity note = the played note);
 *  - a second run fetches nothing; a deleted sample is fetched again;
 *  - a missing batch is one line on stderr and exit 1, a bad command line exit 2.
 */
#include <setjmp.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_fs.h"
#include "bb_json.h"
#include "test_fixture.h"
#include "test_util.h"

static test_fixture_t s_fx;

static int s_start_all(void **state)
{
    test_fixture_init(&s_fx, "export-e2e", 200);
    const char *nargs[] = {"--instrument", "piano", "--fast", NULL};
    if (test_fixture_coord_start(&s_fx, NULL))
        return -1;
    return test_fixture_node_start(&s_fx, 0, "node-a", nargs);
}

static int s_stop_all(void **state)
{
    test_fixture_teardown(&s_fx);
    return 0;
}

static void s_wait_node(void)
{
    if (test_fixture_wait_online(&s_fx, 1, 60))
        return;
    test_fixture_dump_logs(&s_fx);
    fail_msg("the node did not come online");
}

static bool s_same_file(const char *a, const char *b)
{
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    bool same = bb_read_file(a, &da, &la) == 0 && bb_read_file(b, &db, &lb) == 0 && la == lb &&
                memcmp(da, db, la) == 0;
    free(da);
    free(db);
    return same;
}

static void test_export_over_the_wire(void **state)
{
    s_wait_node();
    char lib[400], fetched[400];
    snprintf(lib, sizeof lib, "%s/lib", s_fx.dir);
    snprintf(fetched, sizeof fetched, "%s/fetched", s_fx.dir);
    const char *args[] = {"--coordinator",
                          s_fx.ops,
                          "--events",
                          s_fx.events,
                          "submit",
                          "--instrument",
                          "E2E Keys",
                          "--node",
                          "node-a",
                          "--notes",
                          "C3:E3",
                          "--step",
                          "4",
                          "--velocities",
                          "64,127",
                          "--round-robins",
                          "2",
                          "--hold",
                          "0.3",
                          "--release",
                          "0.4",
                          "--release-samples",
                          "--out",
                          lib,
                          "--watch",
                          NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run("batcherbird", args, 240, &out, &err);
    if (rc != 0) {
        fprintf(stderr, "submit exited %d\n%s\n%s\n", rc, out, err);
        test_fixture_dump_logs(&s_fx);
    }
    assert_int_equal(rc, 0);
    free(out);
    free(err);

    const char *eargs[] = {"--coordinator", s_fx.ops, "export", "1", "--out", fetched, NULL};
    rc = test_run("batcherbird", eargs, 60, &out, &err);
    if (rc != 0)
        fprintf(stderr, "export exited %d\n%s\n%s\n", rc, out, err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "already there"));
    free(out);
    free(err);

    /* every file the manifest lists arrived intact */
    char path[700], other[700];
    snprintf(path, sizeof path, "%s/manifest.json", lib);
    char *text = NULL;
    size_t len;
    assert_int_equal(bb_read_file(path, &text, &len), 0);
    json_t *doc = NULL;
    assert_int_equal(bb_json_load(&doc, text, len, NULL, 0), 0);
    const json_t *files = json_object_get(doc, "files");
    /* 2 notes x 2 velocities x 2 rr, release samples, SFZ, dspreset, report */
    size_t n_files = json_array_size(files);
    assert_true(n_files >= 8 + 3);
    for (size_t i = 0; i < json_array_size(files); i++) {
        const char *rel = json_string_value(json_object_get(json_array_get(files, i), "path"));
        snprintf(path, sizeof path, "%s/%s", lib, rel);
        snprintf(other, sizeof other, "%s/%s", fetched, rel);
        if (!s_same_file(path, other))
            fail_msg("%s differs after the fetch", rel);
    }
    snprintf(path, sizeof path, "%s/manifest.json", lib);
    snprintf(other, sizeof other, "%s/manifest.json", fetched);
    assert_true(s_same_file(path, other));
    json_decref(doc);
    free(text);
    snprintf(path, sizeof path, "%s/E2E-Keys/E2E-Keys.dspreset", fetched);
    assert_true(bb_exists(path));
    snprintf(path, sizeof path, "%s/report.html", fetched);
    assert_true(bb_exists(path));
    snprintf(path, sizeof path, "%s/E2E-Keys/.batcherbird-instrument.json", fetched);
    assert_false(bb_exists(path)); /* internal records are not served */

    /* a sample as a sampler reads it */
    snprintf(path, sizeof path, "%s/E2E-Keys/samples/E2E-Keys_E3_064_v127_rr2.wav", fetched);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    assert_non_null(sf);
    SF_BROADCAST_INFO bext;
    memset(&bext, 0, sizeof bext);
    assert_int_equal(sf_command(sf, SFC_GET_BROADCAST_INFO, &bext, sizeof bext), SF_TRUE);
    assert_memory_equal(bext.originator, "Batcherbird", 12);
    assert_string_equal(bext.description, "E2E Keys note E3 (64) velocity 127 round robin 2");
    SF_INSTRUMENT inst;
    assert_int_equal(sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst), SF_TRUE);
    assert_int_equal(inst.basenote, 64);
    sf_close(sf);

    /* again: nothing to do; a deleted sample comes back */
    unlink(path);
    rc = test_run("batcherbird", eargs, 60, &out, &err);
    assert_int_equal(rc, 0);
    char want[64];
    snprintf(want, sizeof want, "1 fetched, %zu already there", n_files); /* + manifest - 1 */
    assert_non_null(strstr(out, want));
    assert_true(bb_exists(path));
    free(out);
    free(err);

    const char *missing[] = {"--coordinator", s_fx.ops, "export", "77", "--out", fetched, NULL};
    rc = test_run("batcherbird", missing, 30, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "NOT_FOUND: no batch 77"));
    assert_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */
    free(out);
    free(err);
    const char *usage[] = {"--coordinator", s_fx.ops, "export", "1", NULL};
    rc = test_run("batcherbird", usage, 30, &out, &err);
    assert_int_equal(rc, 2);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_over_the_wire),
    };
    return cmocka_run_group_tests(tests, s_start_all, s_stop_all);
}
