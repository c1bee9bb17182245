/*
 * test_json.c — the helpers around jansson (bb_json.h): parse errors with line and
 * column, non-finite reals as null, whole numbers that arrive as integral reals, typed
 * lookups, and a raw-take sidecar written and read back with a malformed one refused.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_json.h"
#include "take_raw.h"

static void test_load_error_names_line_and_column(void **state)
{
    (void)state;
    const char *text = "{\n  \"note\": 60,\n  \"velocity\" 100\n}";
    json_t *doc = NULL;
    char err[160];
    assert_int_equal(bb_json_load(&doc, text, strlen(text), err, sizeof err), BB_EINVAL);
    assert_null(doc);
    assert_non_null(strstr(err, "line 3, column "));
    assert_int_equal(bb_json_load(&doc, "[1,2]", 5, NULL, 0), 0);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
}

static void test_typed_lookups(void **state)
{
    (void)state;
    const char *text =
        "{\"i\": 60, \"r\": 60.0, \"f\": 60.5, \"s\": \"x\", \"b\": true, \"big\": 1e300}";
    json_t *doc = NULL;
    assert_int_equal(bb_json_load(&doc, text, strlen(text), NULL, 0), 0);
    int64_t v = 0;
    assert_int_equal(bb_json_get_int(doc, "i", &v), 0);
    assert_int_equal(v, 60);
    assert_int_equal(bb_json_get_int(doc, "r", &v), 0); /* an integral real is whole */
    assert_int_equal(v, 60);
    assert_int_equal(bb_json_get_int(doc, "f", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_int(doc, "big", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_int(doc, "s", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_int(doc, "absent", &v), BB_ENOTFOUND);
    double d = 0;
    assert_int_equal(bb_json_get_number(doc, "i", &d), 0);
    assert_true(d == 60.0);
    assert_int_equal(bb_json_get_number(doc, "b", &d), BB_EINVAL);
    const char *s = NULL;
    assert_int_equal(bb_json_get_string(doc, "s", &s), 0);
    assert_string_equal(s, "x");
    bool b = false;
    assert_int_equal(bb_json_get_bool(doc, "b", &b), 0);
    assert_true(b);
    assert_int_equal(bb_json_get_bool(doc, "i", &b), BB_EINVAL);
    json_decref(doc);
}

static void test_non_finite_real_is_null(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:o, s:o, s:o}", "nan", bb_json_real(NAN), "inf",
                            bb_json_real(-INFINITY), "x", bb_json_real(0.1));
    assert_non_null(doc);
    char *text = bb_json_text(doc, BB_JSON_COMPACT_EXACT);
    assert_string_equal(text, "{\"nan\":null,\"inf\":null,\"x\":0.10000000000000001}");
    free(text);
    text = bb_json_text(doc, BB_JSON_COMPACT_READ);
    assert_non_null(strstr(text, "\"x\":0.1}"));
    free(text);
    json_decref(doc);
}

static void test_sidecar_round_trip_and_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/bb-test-json-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/take.json", dir);
    dsp_raw_meta_t m = {.note = 61,
                        .velocity = 100,
                        .round_robin = 2,
                        .note_on_frame = 4800,
                        .note_off_frame = 52800,
                        .release_trigger = true,
                        .batch_id = 7,
                        .inst_idx = 1,
                        .sample_rate = 48000,
                        .channels = 2,
                        .frames = 96000,
                        .stream_start_frame = 123456789012LL,
                        .latency_offset_ms = 2.25,
                        .noise_floor_db = -83.123456789012345,
                        .xruns = 3,
                        .attempt = 1};
    snprintf(m.instrument, sizeof m.instrument, "Keys é");
    snprintf(m.take_id, sizeof m.take_id, "7-1-61-100-2");
    snprintf(m.node, sizeof m.node, "n1");
    assert_int_equal(dsp_raw_write_sidecar(path, &m), 0);
    dsp_raw_meta_t r;
    char err[256];
    assert_int_equal(dsp_raw_read_sidecar(path, &r, err, sizeof err), 0);
    assert_string_equal(r.instrument, m.instrument);
    assert_int_equal(r.note, 61);
    assert_int_equal(r.round_robin, 2);
    assert_int_equal(r.note_off_frame, 52800);
    assert_true(r.release_trigger);
    assert_string_equal(r.take_id, m.take_id);
    assert_int_equal(r.batch_id, 7);
    assert_int_equal(r.stream_start_frame, 123456789012LL);
    assert_true(r.noise_floor_db == m.noise_floor_db); /* exact round trip */
    assert_true(r.latency_offset_ms == 2.25);

    const char *bad = "{\"instrument\": \"K\", \"note\": 60,\n \"velocity\": 100,, }";
    assert_int_equal(bb_write_file_atomic(path, bad, strlen(bad)), 0);
    assert_int_equal(dsp_raw_read_sidecar(path, &r, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "not valid JSON: line 2, column"));
    const char *range =
        "{\"instrument\": \"K\", \"note\": 128, \"velocity\": 100, \"round_robin\": 1,"
        " \"note_on_frame\": 0, \"note_off_frame\": 10}";
    assert_int_equal(bb_write_file_atomic(path, range, strlen(range)), 0);
    assert_int_equal(dsp_raw_read_sidecar(path, &r, err, sizeof err), BB_EINVAL);
    assert_string_equal(err, "note: must be a whole number in range");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_error_names_line_and_column),
        cmocka_unit_test(test_typed_lookups),
        cmocka_unit_test(test_non_finite_real_is_null),
        cmocka_unit_test(test_sidecar_round_trip_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
