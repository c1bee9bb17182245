/*
 * test_store.c — the coordinator's state on a real SQLite file: batches, jobs through
 * their life (dispatch, requeue, retake, done), takes, and what survives a reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "store.h"
#include "test_util.h"

typedef struct {
    char dir[256];
    char path[300];
    coord_store_t *store;
} s_fx_t;

static int s_setup(void **state)
{
    s_fx_t *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir, "store");
    snprintf(f->path, sizeof f->path, "%s/state.db", f->dir);
    char err[256];
    f->store = coord_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fx_t *f = *state;
    coord_store_close(&f->store);
    bb_rm_rf(f->dir);
    free(f);
    return 0;
}

static uint64_t s_batch_with_jobs(coord_store_t *s, int jobs)
{
    uint64_t id = 0;
    const char spec[] = "\x0a\x03"
                        "abc";
    assert_int_equal(coord_store_batch_insert(s, "night", spec, sizeof spec - 1, "/lib", &id), 0);
    assert_int_equal(coord_store_inst_insert(s, id, 0, "Juno", "Juno", "pi-1"), 0);
    for (int k = 0; k < jobs; k++)
        assert_int_equal(coord_store_job_insert(s, id, 0, k, 48 + k, 127, 1, false), 0);
    return id;
}

static void test_batch_round_trip(void **state)
{
    s_fx_t *f = *state;
    uint64_t id = s_batch_with_jobs(f->store, 3);
    assert_true(id > 0);
    coord_batch_row_t b;
    assert_int_equal(coord_store_batch_get(f->store, id, &b), 0);
    assert_string_equal(b.name, "night");
    assert_string_equal(b.out_dir, "/lib");
    assert_int_equal(b.spec_len, 5);
    assert_memory_equal(b.spec,
                        "\x0a\x03"
                        "abc",
                        5);
    assert_int_equal(b.state, 0);
    coord_batch_row_free(&b);
    assert_int_equal(coord_store_batch_get(f->store, id + 100, &b), BB_ENOTFOUND);
    uint64_t *ids;
    size_t n;
    assert_int_equal(coord_store_batch_ids(f->store, true, &ids, &n), 0);
    assert_int_equal(n, 1);
    free(ids);
    coord_store_batch_set_state(f->store, id, 2, "");
    assert_int_equal(coord_store_batch_ids(f->store, true, &ids, &n), 0);
    assert_int_equal(n, 0);
    free(ids);
}

static void test_job_lifecycle(void **state)
{
    s_fx_t *f = *state;
    uint64_t id = s_batch_with_jobs(f->store, 3);
    coord_job_row_t j;
    assert_int_equal(coord_store_job_next_pending(f->store, id, 0, &j), 0);
    assert_int_equal(j.seq, 0);
    assert_int_equal(j.note, 48);
    assert_int_equal(coord_store_job_dispatch(f->store, j.id, "b1-i0-s0-a1", "pi-1"), 0);
    int n;
    coord_store_job_count_node(f->store, "pi-1", JOB_DISPATCHED, &n);
    assert_int_equal(n, 1);
    /* next pending is now seq 1 */
    coord_job_row_t k;
    assert_int_equal(coord_store_job_next_pending(f->store, id, 0, &k), 0);
    assert_int_equal(k.seq, 1);
    /* a requeue for a different take id changes nothing */
    coord_store_job_requeue(f->store, j.id, "other", "x");
    coord_store_job_get(f->store, j.id, &j);
    assert_int_equal(j.state, JOB_DISPATCHED);
    assert_int_equal(j.attempts, 1);
    /* found by its take id and by its slot */
    coord_job_row_t byt, bys;
    assert_int_equal(coord_store_job_find_by_take(f->store, "b1-i0-s0-a1", &byt), 0);
    assert_int_equal(coord_store_job_by_slot(f->store, id, 0, 0, &bys), 0);
    assert_int_equal(byt.id, j.id);
    assert_int_equal(bys.id, j.id);
    /* retake: pending again, counted */
    assert_int_equal(coord_store_job_retake(f->store, j.id, "clipped"), 0);
    coord_store_job_get(f->store, j.id, &j);
    assert_int_equal(j.state, JOB_PENDING);
    assert_int_equal(j.retakes, 1);
    assert_string_equal(j.message, "clipped");
    coord_store_job_dispatch(f->store, j.id, "b1-i0-s0-a2", "pi-1");
    assert_int_equal(coord_store_job_finish(f->store, j.id, JOB_DONE, "b1-i0-s0-a2", ""), 0);
    coord_store_job_count(f->store, id, 0, JOB_DONE, &n);
    assert_int_equal(n, 1);
    coord_store_job_count(f->store, id, 0, -1, &n);
    assert_int_equal(n, 3);
    coord_store_retakes(f->store, id, 0, &n);
    assert_int_equal(n, 1);
    /* cancel touches only what has not finished */
    coord_store_jobs_cancel(f->store, id);
    coord_store_job_count(f->store, id, 0, JOB_CANCELLED, &n);
    assert_int_equal(n, 2);
    coord_store_job_count(f->store, id, 0, JOB_DONE, &n);
    assert_int_equal(n, 1);
}

static void test_takes_and_export_rows(void **state)
{
    s_fx_t *f = *state;
    uint64_t id = s_batch_with_jobs(f->store, 2);
    coord_job_row_t j;
    coord_store_job_next_pending(f->store, id, 0, &j);
    coord_store_job_dispatch(f->store, j.id, "t1", "pi-1");
    coord_take_row_t t = {0};
    snprintf(t.id, sizeof t.id, "t1");
    t.job_id = j.id;
    t.batch_id = id;
    snprintf(t.path, sizeof t.path, "/takes/t1.wav");
    t.frames = 48000;
    t.sample_rate = 48000;
    t.channels = 2;
    t.note_on_frame = 4800;
    t.cut_start = 4900;
    t.cut_end = 40000;
    t.peak_db = -3.5;
    t.qc_json = "{\"verdict\":0}";
    bool exists = true;
    coord_store_take_exists(f->store, "t1", &exists);
    assert_false(exists);
    assert_int_equal(coord_store_begin(f->store), 0);
    assert_int_equal(coord_store_take_insert(f->store, &t), 0);
    assert_int_equal(coord_store_job_finish(f->store, j.id, JOB_DONE, "t1", ""), 0);
    assert_int_equal(coord_store_commit(f->store), 0);
    /* the same id twice is refused by the primary key */
    assert_int_not_equal(coord_store_take_insert(f->store, &t), 0);
    coord_store_take_exists(f->store, "t1", &exists);
    assert_true(exists);
    coord_export_row_t *rows;
    size_t n;
    assert_int_equal(coord_store_export_rows(f->store, id, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].job.note, 48);
    assert_string_equal(rows[0].take.path, "/takes/t1.wav");
    assert_int_equal(rows[0].take.cut_start, 4900);
    assert_true(rows[0].take.peak_db == -3.5);
    assert_string_equal(rows[0].take.qc_json, "{\"verdict\":0}");
    coord_export_rows_free(rows, n);
}

/* The analyses of one note's other takes (dsp_jumps_recur's evidence): every attempt and
 * velocity of that note, not another note, not its release takes, not the take itself. */
static void test_note_analyses(void **state)
{
    s_fx_t *f = *state;
    uint64_t id = 0;
    const char spec[] = "\x0a\x03"
                        "abc";
    assert_int_equal(
        coord_store_batch_insert(f->store, "night", spec, sizeof spec - 1, "/lib", &id), 0);
    assert_int_equal(coord_store_inst_insert(f->store, id, 0, "Juno", "Juno", "pi-1"), 0);
    /* seq, note, velocity, release */
    const int jobs[][4] = {{0, 48, 127, 0}, {1, 48, 64, 0}, {2, 49, 127, 0}, {3, 48, 127, 1}};
    for (int k = 0; k < 4; k++)
        assert_int_equal(coord_store_job_insert(f->store, id, 0, jobs[k][0], jobs[k][1], jobs[k][2],
                                                1, jobs[k][3] != 0),
                         0);
    /* takes t0..t3 for the jobs in seq order, and t4, an earlier attempt of job 1 */
    coord_job_row_t j = {0};
    int64_t job1 = 0;
    for (int k = 0; k < 5; k++) {
        if (k < 4) {
            assert_int_equal(coord_store_job_next_pending(f->store, id, 0, &j), 0);
            assert_int_equal(j.seq, k);
        }
        if (k == 1)
            job1 = j.id;
        coord_take_row_t t = {0};
        snprintf(t.id, sizeof t.id, "t%d", k);
        t.job_id = k < 4 ? j.id : job1;
        t.batch_id = id;
        char json[32];
        snprintf(json, sizeof json, "{\"take\":%d}", k);
        t.qc_json = json;
        assert_int_equal(coord_store_take_insert(f->store, &t), 0);
        if (k < 4)
            assert_int_equal(coord_store_job_dispatch(f->store, j.id, t.id, "pi-1"), 0);
    }
    char **v;
    size_t n;
    assert_int_equal(coord_store_note_analyses(f->store, id, 0, 48, false, "t0", &v, &n), 0);
    assert_int_equal(n, 2);
    bool seen1 = false, seen4 = false;
    for (size_t i = 0; i < n; i++) {
        seen1 = seen1 || strcmp(v[i], "{\"take\":1}") == 0;
        seen4 = seen4 || strcmp(v[i], "{\"take\":4}") == 0;
    }
    assert_true(seen1 && seen4);
    coord_store_strings_free(v, n);
    assert_int_equal(coord_store_note_analyses(f->store, id, 0, 48, true, "t0", &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "{\"take\":3}");
    coord_store_strings_free(v, n);
    assert_int_equal(coord_store_note_analyses(f->store, id, 0, 50, false, "t0", &v, &n), 0);
    assert_int_equal(n, 0);
    coord_store_strings_free(v, n);
}

static void test_survives_reopen(void **state)
{
    s_fx_t *f = *state;
    uint64_t id = s_batch_with_jobs(f->store, 4);
    coord_job_row_t j;
    coord_store_job_next_pending(f->store, id, 0, &j);
    coord_store_job_dispatch(f->store, j.id, "tx", "pi-1");
    coord_store_node_seen(f->store, "pi-1", "sess", NULL, 0, 48000, 2);
    coord_store_node_set_latency(f->store, "pi-1", 4.25);
    coord_store_close(&f->store);

    char err[256];
    f->store = coord_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    int n = 0;
    assert_int_equal(coord_store_jobs_requeue_all(f->store, &n), 0);
    assert_int_equal(n, 1); /* the dispatched one goes back to pending */
    coord_store_job_count(f->store, id, 0, JOB_PENDING, &n);
    assert_int_equal(n, 4);
    double ms;
    bool has;
    assert_int_equal(coord_store_node_latency(f->store, "pi-1", &ms, &has), 0);
    assert_true(has);
    assert_true(ms == 4.25);
    char **names;
    size_t count;
    coord_store_node_names(f->store, &names, &count);
    assert_int_equal(count, 1);
    assert_string_equal(names[0], "pi-1");
    free(names[0]);
    free(names);
}

static void test_bad_path_is_an_error(void **state)
{
    char err[256] = "";
    coord_store_t *s = coord_store_open("/nonexistent-dir/x/state.db", err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "/nonexistent-dir/x/state.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_job_lifecycle, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_takes_and_export_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_note_analyses, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test(test_bad_path_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
