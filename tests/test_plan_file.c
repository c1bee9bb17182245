/*
 * test_plan_file.c — plan files as the CLI reads them (cli/plan_file.c, cli/plan.c) on the
 * field table (dsp/plan_fields.c):
 *  - every field of the table read from tests/plans/every-field.yaml, each to the value it
 *    was written with (and the test fails when a field is added without a value there);
 *  - the mistakes of tests/plans/errors.yaml, each reported at its file, line and column
 *    with what is wrong (unknown key, wrong type, out of range, reversed range, velocity
 *    0, bad SysEx, a batch key in an instrument, a nameless instrument, a duplicate name,
 *    an unknown node, ...), and a YAML syntax error where libfyaml finds it;
 *  - banks of patches expanded into instruments with their programs and names;
 *  - a plan written as JSON (plan show, plan.json) reads back to the same plan;
 *  - the examples/ shipped with the project are good plans.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"
#include "plan_check.h"
#include "plan_choices.h"
#include "plan_fields.h"
#include "test_util.h"

static char s_path[512];

static const char *s_fixture(const char *name)
{
    const char *src = getenv("BB_SOURCE_DIR");
    snprintf(s_path, sizeof s_path, "%s/%s", src ? src : "..", name);
    return s_path;
}

static Bb__BatchSpec *s_load(const char *name, cli_plan_src_t *src, cli_diags_t *d)
{
    Bb__BatchSpec *plan = dsp_plan_new();
    assert_non_null(plan);
    assert_int_equal(cli_plan_src_fit(src, 0), 0);
    int problems = cli_plan_load(s_fixture(name), plan, src, d);
    if (problems)
        cli_diags_print(d, stderr);
    return plan;
}

/* The field's value in instrument `inst` (or the batch, inst < 0) equals the JSON text. */
static void s_expect(const Bb__BatchSpec *plan, int inst, const char *field, const char *json)
{
    const dsp_plan_field_t *f = dsp_plan_field_find(field);
    assert_non_null(f);
    dsp_plan_target_t t = {.batch = (Bb__BatchSpec *)plan,
                           .inst = inst >= 0 ? plan->instruments[inst] : NULL,
                           .notes = BB_NOTES_C4_IS_60};
    json_t *have = dsp_plan_field_get(f, &t);
    json_error_t e;
    json_t *want = json_loads(json, JSON_DECODE_ANY, &e);
    assert_non_null(want);
    char *text = have ? json_dumps(have, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    bool same =
        have && (json_equal(have, want) || (json_is_number(have) && json_is_number(want) &&
                                            json_number_value(have) == json_number_value(want)));
    if (!same)
        fail_msg("%s: read back as %s, written %s", field, text ? text : "nothing", json);
    free(text);
    json_decref(have);
    json_decref(want);
}

static const struct {
    int inst; /* -1: batch */
    const char *field, *json;
} s_every[] = {
    {-1, "name", "\"Every Field\""},
    {-1, "out", "\"/tmp/every-field\""},
    {-1, "format", "\"flac\""},
    {-1, "bit-depth", "16"},
    {-1, "peak", "-3.5"},
    {-1, "normalise", "\"velocity\""},
    {-1, "no-dither", "true"},
    {-1, "tune", "true"},
    {-1, "name-template", "\"{instrument}_{name}_v{velocity}_rr{rr}\""},
    {-1, "map", "\"upward\""},
    {-1, "extend", "\"octave\""},
    {-1, "instrument-files", "\"sfz,sf2\""},
    {-1, "loop-sustain", "true"},
    {-1, "c4", "true"},
    {0, "instrument", "\"Alpha\""},
    {0, "node", "\"node-a\""},
    {0, "notes", "\"C3:C5\""},
    {0, "step", "4"},
    {0, "velocities", "[100, 20, 60]"},
    {0, "round-robins", "3"},
    {0, "hold", "1.25"},
    {0, "release", "0.75"},
    {0, "release-policy", "\"fixed\""},
    {0, "preroll", "0.05"},
    {0, "quiet-wait", "8"},
    {0, "channel", "7"},
    {0, "program", "5"},
    {0, "bank", "\"2:3\""},
    {0, "settle", "0.4"},
    {0, "cc", "{\"7\": 90, \"74\": 64}"},
    {0, "sysex", "[\"F0 7E 7F 09 01 F7\", \"F0 41 10 42 12 40 00 7F 00 41 F7\"]"},
    {0, "retakes", "4"},
    {0, "release-samples", "true"},
    {0, "loop", "true"},
    {0, "level-check", "true"},
    {0, "level-target", "-9"},
    {0, "level-set-cc", "true"},
    {0, "pre-attack", "2.5"},
    {0, "fade-out", "25"},
    {0, "fade-curve", "\"linear\""},
    {0, "end", "\"below-peak\""},
    {0, "end-below-peak", "48"},
    {0, "loop-crossfade", "12"},
    {0, "unpitched", "true"},
    {0, "loop-max-change", "1.5"},
    {0, "loop-force", "true"},
    {0, "inputs", "[3, 4]"},
    {0, "sum", "true"},
    {0, "midi-port", "\"sim2\""},
    {1, "notes", "[\"C4\", \"E4\", \"G4\"]"},
    {1, "program", "[0, 2, 4]"},
    {1, "patch-name", "\"{instrument} {program:03}\""},
    {1, "release-policy", "\"fixed\""}, /* the top-level default reaches every instrument */
    {2, "program", "[10, 11]"},
    {2, "patch-names", "[\"Soft Pad\", \"Hard Pad\"]"},
};

static void test_every_field(void **state)
{
    cli_plan_src_t src = {0};
    cli_diags_t d = {0};
    Bb__BatchSpec *plan = s_load("tests/plans/every-field.yaml", &src, &d);
    assert_int_equal(d.n, 0);
    assert_int_equal(plan->n_instruments, 3);
    for (size_t i = 0; i < sizeof s_every / sizeof s_every[0]; i++)
        s_expect(plan, s_every[i].inst, s_every[i].field, s_every[i].json);
    /* every field of the table is in the file and above */
    for (size_t k = 0; k < dsp_plan_n_fields; k++) {
        bool covered = false;
        for (size_t i = 0; i < sizeof s_every / sizeof s_every[0]; i++)
            covered |= strcmp(s_every[i].field, dsp_plan_fields[k].name) == 0;
        if (!covered)
            fail_msg("field %s is not in every-field.yaml / this test", dsp_plan_fields[k].name);
    }
    /* the raw values behind the words */
    assert_int_equal(plan->instruments[0]->note_lo, 48); /* C3 with C4 = 60 */
    assert_int_equal(plan->instruments[0]->note_hi, 72);
    assert_int_equal(plan->instruments[0]->setup->sysex[0].len, 6);
    assert_int_equal(plan->instruments[0]->setup->sysex[0].data[0], 0xF0);
    assert_int_equal(plan->instruments[0]->hold_ms, 1250);
    assert_int_equal(plan->instruments[0]->setup->settle_ms, 400);
    /* and it is a good plan */
    char *names[] = {"node-a", "node-b"};
    cli_nodes_t nodes = {.names = names, .n = 2, .known = true};
    assert_int_equal(cli_plan_check(plan, &src, &nodes, &d), 0);
    cli_diags_free(&d);
    cli_plan_src_free(&src);
    bb__batch_spec__free_unpacked(plan, NULL);
}

/* Each mistake at its place: line, column, and a word of what is wrong. */
static const struct {
    int line, col;
    const char *says;
} s_mistakes[] = {
    {2, 1, "unknown key 'formt' (did you mean 'format'?)"},
    {3, 12, "bit-depth: '20': use 16, 24 or 32"},
    {4, 8, "hold: expected one value, not a list"},
    {8, 12, "low note is above the high note"},
    {9, 18, "'0' is not a whole number from 1 to 127"},
    {10, 19, "round-robins: 'two': expected a whole number"},
    {11, 17, "instrument name 'Juno' is used twice (first on line 6)"},
    {12, 11, "no node named 'nowhere' (known nodes: node-a)"},
    {13, 14, "'130' is not a whole number from 0 to 127"},
    {14, 13, "'GG' is not a hex byte"},
    {15, 11, "loop: 'maybe': expected true or false"},
    {16, 5, "'format' is a batch setting"},
    {17, 5, "this instrument has no name"},
    {20, 14, "channel: '17': expected a whole number from 1 to 16"},
    {21, 10, "cc: '7=200'"},
    {22, 14, "is not one SysEx message"},
    {23, 21, "release-policy: 'sometimes': use adaptive or fixed"},
    {24, 18, "velocities: expected a value or a list, not a mapping"},
};

static void test_mistakes_with_lines(void **state)
{
    cli_plan_src_t src = {0};
    cli_diags_t d = {0};
    Bb__BatchSpec *plan = dsp_plan_new();
    assert_int_equal(cli_plan_src_fit(&src, 0), 0);
    const char *path = s_fixture("tests/plans/errors.yaml");
    assert_true(cli_plan_load(path, plan, &src, &d) > 0);
    char *names[] = {"node-a"};
    cli_nodes_t nodes = {.names = names, .n = 1, .known = true};
    cli_plan_check(plan, &src, &nodes, &d);
    cli_diags_print(&d, stderr);
    for (size_t i = 0; i < sizeof s_mistakes / sizeof s_mistakes[0]; i++) {
        bool found = false;
        for (size_t k = 0; k < d.n && !found; k++)
            found = d.items[k].file && strcmp(d.items[k].file, path) == 0 &&
                    d.items[k].at.line == s_mistakes[i].line &&
                    d.items[k].at.col == s_mistakes[i].col &&
                    strstr(d.items[k].msg, s_mistakes[i].says);
        if (!found)
            fail_msg("no error at %d:%d saying \"%s\"", s_mistakes[i].line, s_mistakes[i].col,
                     s_mistakes[i].says);
    }
    assert_int_equal(d.n, sizeof s_mistakes / sizeof s_mistakes[0]);
    cli_diags_free(&d);
    cli_plan_src_free(&src);
    bb__batch_spec__free_unpacked(plan, NULL);
}

static void test_syntax_error(void **state)
{
    char dir[256], path[300];
    test_tmpdir(dir, sizeof dir, "plan-syntax");
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("name: x\ninstruments:\n  - instrument: A\n    velocities: [64, 127\n    node: n\n", f);
    fclose(f);
    cli_plan_src_t src = {0};
    cli_diags_t d = {0};
    Bb__BatchSpec *plan = dsp_plan_new();
    assert_int_equal(cli_plan_src_fit(&src, 0), 0);
    assert_true(cli_plan_load(path, plan, &src, &d) > 0);
    cli_diags_print(&d, stderr);
    assert_true(d.n >= 1);
    assert_string_equal(d.items[0].file, path);
    assert_true(d.items[0].at.line >= 4); /* the unclosed list */
    cli_diags_free(&d);
    /* a file that is not there: one error, no position */
    assert_int_equal(cli_plan_load("/nonexistent/plan.yaml", plan, &src, &d), -1);
    assert_int_equal(d.n, 1);
    assert_null(d.items[0].file);
    assert_non_null(strstr(d.items[0].msg, "/nonexistent/plan.yaml"));
    cli_diags_free(&d);
    cli_plan_src_free(&src);
    bb__batch_spec__free_unpacked(plan, NULL);
}

static void test_bank_expands(void **state)
{
    cli_plan_src_t src = {0};
    cli_diags_t d = {0};
    Bb__BatchSpec *plan = s_load("tests/plans/every-field.yaml", &src, &d);
    assert_int_equal(d.n, 0);
    char msg[512];
    uint64_t total = 0;
    Bb__BatchSpec *norm = cli_plan_normalised(plan, &total, msg, sizeof msg);
    assert_non_null(norm);
    assert_int_equal(norm->n_instruments, 1 + 3 + 2);
    const char *names[] = {"Alpha", "Beta 000", "Beta 002", "Beta 004", "Soft Pad", "Hard Pad"};
    const int programs[] = {5, 0, 2, 4, 10, 11};
    for (size_t i = 0; i < norm->n_instruments; i++) {
        const Bb__InstrumentSpec *in = norm->instruments[i];
        assert_string_equal(in->name, names[i]);
        assert_true(in->has_setup);
        assert_int_equal(in->setup->program, programs[i]);
        assert_int_equal(in->n_programs, 0);
        assert_int_equal(in->n_patch_names, 0);
    }
    /* each patch keeps the entry's notes: three of them */
    assert_int_equal(norm->instruments[1]->n_notes, 3);
    assert_int_equal(norm->instruments[1]->note_lo, 60);
    /* Alpha: 7 notes x 3 velocities x 3 rr x 2 (release samples); patches: 3 notes, 1 note */
    assert_int_equal(total, 7 * 3 * 3 * 2 + 3 * 3 + 2 * 1);
    bb__batch_spec__free_unpacked(norm, NULL);

    /* names that do not match the programs, a bad template */
    Bb__InstrumentSpec *gamma = plan->instruments[2];
    dsp_plan_target_t t = {.batch = plan, .inst = gamma};
    const dsp_plan_field_t *f = dsp_plan_field_find("program");
    assert_int_equal(dsp_plan_field_set(f, &t, "10-12", msg, sizeof msg), 0);
    assert_null(cli_plan_normalised(plan, NULL, msg, sizeof msg));
    assert_non_null(strstr(msg, "2 patch names for 3 programs"));
    bb__batch_spec__free_unpacked(plan, NULL);
    cli_plan_src_free(&src);
}

static void test_json_round_trip(void **state)
{
    cli_plan_src_t src = {0};
    cli_diags_t d = {0};
    Bb__BatchSpec *plan = s_load("tests/plans/every-field.yaml", &src, &d);
    char msg[512];
    Bb__BatchSpec *norm = cli_plan_normalised(plan, NULL, msg, sizeof msg);
    assert_non_null(norm);
    for (int all = 0; all < 2; all++) {
        json_t *j = dsp_plan_to_json(norm, all);
        assert_non_null(j);
        Bb__BatchSpec *back = NULL;
        assert_int_equal(dsp_plan_from_json(j, &back, msg, sizeof msg), 0);
        Bb__BatchSpec *back_norm = cli_plan_normalised(back, NULL, msg, sizeof msg);
        assert_non_null(back_norm);
        /* the same plan: packed bytes equal */
        size_t a = bb__batch_spec__get_packed_size(norm),
               b = bb__batch_spec__get_packed_size(back_norm);
        assert_int_equal(a, b);
        uint8_t *pa = malloc(a), *pb = malloc(b);
        bb__batch_spec__pack(norm, pa);
        bb__batch_spec__pack(back_norm, pb);
        assert_memory_equal(pa, pb, a);
        free(pa);
        free(pb);
        json_decref(j);
        bb__batch_spec__free_unpacked(back, NULL);
        bb__batch_spec__free_unpacked(back_norm, NULL);
    }
    bb__batch_spec__free_unpacked(norm, NULL);
    bb__batch_spec__free_unpacked(plan, NULL);
    cli_plan_src_free(&src);
}

/* The coordinator's check and the CLI's options speak from the same table. */
static void test_choices_shared(void **state)
{
    char list[128], msg[256];
    dsp_choice_list(&dsp_choices_normalise, list, sizeof list);
    assert_string_equal(list, "instrument, velocity, sample or none");
    dsp_choice_list(&dsp_choices_map, list, sizeof list); /* the alias is not listed */
    assert_string_equal(list, "centred or upward");
    int v;
    assert_int_equal(dsp_choice_parse(&dsp_choices_map, "centered", &v), 0);
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    ex.normalise = "loud";
    assert_int_not_equal(dsp_plan_check_export(&ex, msg, sizeof msg), 0);
    assert_string_equal(msg, "normalise 'loud': use instrument, velocity, sample or none");
    Bb__BatchSpec *plan = dsp_plan_new();
    dsp_plan_target_t t = {.batch = plan};
    assert_int_not_equal(
        dsp_plan_field_set(dsp_plan_field_find("normalise"), &t, "loud", msg, sizeof msg), 0);
    assert_string_equal(msg, "use instrument, velocity, sample or none");
    bb__batch_spec__free_unpacked(plan, NULL);
}

static void test_examples_are_good(void **state)
{
    DIR *dir = opendir(s_fixture("examples"));
    assert_non_null(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
            continue;
        char name[300];
        snprintf(name, sizeof name, "examples/%s", e->d_name);
        cli_plan_src_t src = {0};
        cli_diags_t d = {0};
        Bb__BatchSpec *plan = s_load(name, &src, &d);
        cli_nodes_t nodes = {0};
        cli_plan_check(plan, &src, &nodes, &d);
        if (d.n) {
            cli_diags_print(&d, stderr);
            fail_msg("%s is not a good plan", name);
        }
        cli_diags_free(&d);
        cli_plan_src_free(&src);
        bb__batch_spec__free_unpacked(plan, NULL);
        n++;
    }
    closedir(dir);
    assert_true(n >= 3);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),       cmocka_unit_test(test_mistakes_with_lines),
        cmocka_unit_test(test_syntax_error),      cmocka_unit_test(test_bank_expands),
        cmocka_unit_test(test_json_round_trip),   cmocka_unit_test(test_choices_shared),
        cmocka_unit_test(test_examples_are_good),
    };
    return test_main_group(tests, argc, argv);
}
