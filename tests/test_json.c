/*
 * test_json.c — the JSON writer and reader: round trips, escapes, numbers, strictness,
 * error positions, depth limit and writer misuse.
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
#include "bb_json.h"

static bb_json_t *s_parse_ok(const char *text)
{
    bb_json_t *doc = NULL;
    char err[128];
    int rc = bb_json_parse(text, strlen(text), &doc, err, sizeof err);
    if (rc)
        fail_msg("parse of %s failed: %s", text, err);
    return doc;
}

static void test_writer_round_trip(void **state)
{
    (void)state;
    bb_jw_t *w = bb_jw_new(false);
    bb_jw_object_begin(w);
    bb_jw_kv_string(w, "name", "Grand \"Piano\"\n\\ é");
    bb_jw_kv_int(w, "note", -60);
    bb_jw_kv_uint(w, "frames", 18446744073709551615ull);
    bb_jw_kv_double(w, "gain", 0.1);
    bb_jw_kv_double(w, "nan", 0.0 / 0.0);
    bb_jw_kv_bool(w, "loop", true);
    bb_jw_key(w, "layers");
    bb_jw_array_begin(w);
    bb_jw_int(w, 1);
    bb_jw_null(w);
    bb_jw_string(w, "\x01");
    bb_jw_array_end(w);
    bb_jw_key(w, "empty");
    bb_jw_object_begin(w);
    bb_jw_object_end(w);
    bb_jw_object_end(w);
    assert_int_equal(bb_jw_error(w), 0);
    size_t len;
    const char *text = bb_jw_text(w, &len);
    assert_int_equal(len, strlen(text));
    assert_non_null(strstr(text, "\"name\":\"Grand \\\"Piano\\\"\\n\\\\ é\""));
    assert_non_null(strstr(text, "\\u0001"));

    bb_json_t *doc = s_parse_ok(text);
    const char *s;
    assert_int_equal(bb_json_get_string(doc, "name", &s), 0);
    assert_string_equal(s, "Grand \"Piano\"\n\\ é");
    int64_t i;
    assert_int_equal(bb_json_get_int(doc, "note", &i), 0);
    assert_int_equal(i, -60);
    double d;
    assert_int_equal(bb_json_get_number(doc, "gain", &d), 0);
    assert_true(d == 0.1); /* exact: the writer prints enough digits */
    assert_int_equal(bb_json_type(bb_json_get(doc, "nan")), BB_JSON_NULL);
    bool b = false;
    assert_int_equal(bb_json_get_bool(doc, "loop", &b), 0);
    assert_true(b);
    const bb_json_t *layers = bb_json_get(doc, "layers");
    assert_int_equal(bb_json_len(layers), 3);
    assert_int_equal(bb_json_number(bb_json_at(layers, 0)), 1);
    assert_int_equal(bb_json_type(bb_json_at(layers, 1)), BB_JSON_NULL);
    assert_string_equal(bb_json_string(bb_json_at(layers, 2)), "\x01");
    assert_null(bb_json_at(layers, 3));
    assert_int_equal(bb_json_len(bb_json_get(doc, "empty")), 0);
    assert_int_equal(bb_json_type(bb_json_get(doc, "empty")), BB_JSON_OBJECT);
    assert_int_equal(bb_json_len(doc), 8);
    assert_string_equal(bb_json_key_at(doc, 0), "name");
    /* Typed lookups distinguish absent from wrong type. */
    assert_int_equal(bb_json_get_int(doc, "absent", &i), BB_ENOTFOUND);
    assert_int_equal(bb_json_get_int(doc, "name", &i), BB_EINVAL);
    assert_int_equal(bb_json_get_int(doc, "gain", &i), BB_EINVAL); /* not integral */
    assert_int_equal(bb_json_get_string(doc, "note", &s), BB_EINVAL);
    assert_int_equal(bb_json_get_bool(doc, "note", &b), BB_EINVAL);
    bb_json_free(&doc);
    assert_null(doc);
    bb_jw_destroy(&w);
    assert_null(w);
}

static void test_pretty_output(void **state)
{
    (void)state;
    bb_jw_t *w = bb_jw_new(true);
    bb_jw_object_begin(w);
    bb_jw_kv_int(w, "a", 1);
    bb_jw_key(w, "b");
    bb_jw_array_begin(w);
    bb_jw_int(w, 2);
    bb_jw_array_end(w);
    bb_jw_object_end(w);
    assert_int_equal(bb_jw_error(w), 0);
    assert_string_equal(bb_jw_text(w, NULL), "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}");
    bb_jw_destroy(&w);
}

static void test_writer_misuse(void **state)
{
    (void)state;
    bb_jw_t *w = bb_jw_new(false);
    bb_jw_object_begin(w);
    bb_jw_int(w, 1); /* value where a key is due */
    assert_int_equal(bb_jw_error(w), BB_ESTATE);
    bb_jw_destroy(&w);

    w = bb_jw_new(false);
    bb_jw_array_begin(w);
    bb_jw_object_end(w); /* wrong closer */
    assert_int_equal(bb_jw_error(w), BB_ESTATE);
    bb_jw_destroy(&w);

    w = bb_jw_new(false);
    bb_jw_object_begin(w);
    assert_int_equal(bb_jw_error(w), BB_ESTATE); /* still open */
    bb_jw_key(w, "k");
    bb_jw_object_end(w); /* key without value */
    assert_int_equal(bb_jw_error(w), BB_ESTATE);
    bb_jw_destroy(&w);

    w = bb_jw_new(false);
    bb_jw_int(w, 1);
    bb_jw_int(w, 2); /* two top-level values */
    assert_int_equal(bb_jw_error(w), BB_ESTATE);
    bb_jw_destroy(&w);
}

static void test_numbers(void **state)
{
    (void)state;
    bb_json_t *doc = s_parse_ok("{\"big\": 9007199254740993, \"neg\": -0, \"e\": 1.5e3, "
                                "\"frac\": -2.25, \"whole\": 3.0, \"max\": 9223372036854775807}");
    int64_t i;
    assert_int_equal(bb_json_get_int(doc, "big", &i), 0);
    assert_true(i == 9007199254740993ll); /* exact beyond double precision */
    assert_int_equal(bb_json_get_int(doc, "e", &i), 0);
    assert_int_equal(i, 1500);
    assert_int_equal(bb_json_get_int(doc, "whole", &i), 0);
    assert_int_equal(i, 3);
    assert_int_equal(bb_json_get_int(doc, "max", &i), 0);
    assert_true(i == INT64_MAX);
    double d;
    assert_int_equal(bb_json_get_number(doc, "frac", &d), 0);
    assert_true(d == -2.25);
    bb_json_free(&doc);

    doc = s_parse_ok("{\"huge\": 92233720368547758070}");
    assert_int_equal(bb_json_get_int(doc, "huge", &i), BB_EINVAL); /* outside int64 */
    assert_int_equal(bb_json_get_number(doc, "huge", &d), 0);
    assert_true(d > 9.2e19);
    bb_json_free(&doc);
}

static void test_unicode_escapes(void **state)
{
    (void)state;
    bb_json_t *doc = s_parse_ok("[\"\\u00e9\\u20ac\\ud83c\\udfb9\", \"a\\u0000b\", \"\\/\"]");
    assert_string_equal(bb_json_string(bb_json_at(doc, 0)), "é€🎹");
    assert_int_equal(bb_json_string_len(bb_json_at(doc, 1)), 3);
    assert_memory_equal(bb_json_string(bb_json_at(doc, 1)), "a\0b", 3);
    assert_string_equal(bb_json_string(bb_json_at(doc, 2)), "/");
    bb_json_free(&doc);
}

static void test_duplicate_keys_last_wins(void **state)
{
    (void)state;
    bb_json_t *doc = s_parse_ok("{\"a\":1,\"a\":2}");
    int64_t i;
    assert_int_equal(bb_json_get_int(doc, "a", &i), 0);
    assert_int_equal(i, 2);
    bb_json_free(&doc);
}

/* Each malformed input must be rejected with a message naming the position. */
static void test_rejects_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *where;
    } bad[] = {
        {"", "line 1, column 1"},
        {"{", "line 1, column 2"},
        {"{\"a\" 1}", "line 1, column 6"},
        {"{\"a\":1,}", "line 1, column 8"},
        {"[1,]", "line 1, column 4"},
        {"[1 2]", "line 1, column 4"},
        {"{\n  \"a\": tru\n}", "line 2, column 8"},
        {"\"abc", "line 1, column 2"},
        {"\"a\tb\"", "line 1, column 3"},
        {"\"\\x\"", "line 1, column 3"},
        {"\"\\ud800\"", "line 1"},
        {"\"\\udc00\"", "line 1"},
        {"\"\xff\"", "line 1, column 2"},
        {"\"\xc0\xaf\"", "line 1, column 2"}, /* overlong */
        {"01", "line 1, column 2"},
        {"-", "line 1, column 1"},
        {"1.", "line 1, column 3"},
        {"1e", "line 1, column 3"},
        {"NaN", "line 1, column 1"},
        {"{} {}", "line 1, column 4"},
        {"// comment\n{}", "line 1, column 1"},
        {"{'a':1}", "line 1, column 2"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        bb_json_t *doc = (bb_json_t *)1;
        char err[128];
        int rc = bb_json_parse(bad[k].text, strlen(bad[k].text), &doc, err, sizeof err);
        if (rc != BB_EINVAL || doc != NULL || !strstr(err, bad[k].where))
            fail_msg("input %zu (%s): rc %d, error '%s', expected position '%s'", k, bad[k].text,
                     rc, err, bad[k].where);
    }
}

/* The length bounds the read: no terminator is needed and bytes beyond are ignored. */
static void test_length_bounds_input(void **state)
{
    (void)state;
    const char text[] = {'[', '1', ']', 'x', 'x'};
    bb_json_t *doc = NULL;
    assert_int_equal(bb_json_parse(text, 3, &doc, NULL, 0), 0);
    assert_int_equal(bb_json_len(doc), 1);
    bb_json_free(&doc);
    assert_int_equal(bb_json_parse(text, 2, &doc, NULL, 0), BB_EINVAL);
    assert_null(doc);
}

static void test_depth_limit(void **state)
{
    (void)state;
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    bb_json_t *doc = NULL;
    char err[128];
    assert_int_equal(bb_json_parse(deep, 200, &doc, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "nested"));
    /* 64 levels are fine. */
    assert_int_equal(bb_json_parse(deep + 36, 128, &doc, err, sizeof err), 0);
    bb_json_free(&doc);
}

/* Every prefix of a valid document is rejected cleanly (no crash, no leak under ASan). */
static void test_truncations(void **state)
{
    (void)state;
    const char *text = "{\"instrument\":\"Pi\\u00e9no\",\"note\":60,\"loops\":[{\"start\":1.5e2,"
                       "\"end\":-3}],\"ok\":true,\"x\":null}";
    size_t n = strlen(text);
    for (size_t k = 0; k < n; k++) {
        bb_json_t *doc = NULL;
        assert_int_equal(bb_json_parse(text, k, &doc, NULL, 0), BB_EINVAL);
        assert_null(doc);
    }
    bb_json_t *doc = s_parse_ok(text);
    const bb_json_t *loop = bb_json_at(bb_json_get(doc, "loops"), 0);
    int64_t i;
    assert_int_equal(bb_json_get_int(loop, "start", &i), 0);
    assert_int_equal(i, 150);
    bb_json_free(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_round_trip), cmocka_unit_test(test_pretty_output),
        cmocka_unit_test(test_writer_misuse),     cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_unicode_escapes),   cmocka_unit_test(test_duplicate_keys_last_wins),
        cmocka_unit_test(test_rejects_malformed), cmocka_unit_test(test_length_bounds_input),
        cmocka_unit_test(test_depth_limit),       cmocka_unit_test(test_truncations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
