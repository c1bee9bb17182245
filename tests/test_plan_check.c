/*
 * test_plan_check.c — dsp_plan_validate without a coordinator: defaults filled in,
 * velocities sorted, the take count, the node question asked and its answer passed on,
 * folder collisions, and the export defaults a plan without export settings gets.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "bb_pb.h"
#include "plan_check.h"

typedef struct {
    int asked;
    const char *known;
} s_nodes_t;

static int s_node(void *arg, const char *node, char *msg, size_t len)
{
    s_nodes_t *n = arg;
    n->asked++;
    if (strcmp(node, n->known) == 0)
        return 0;
    snprintf(msg, len, "no node named '%s'", node);
    return BB_ENOTFOUND;
}

/* A two-instrument plan in protobuf-c's own storage, copied so validate may change it. */
static Bb__BatchSpec *s_plan(const char *second_name)
{
    static uint32_t vel_a[] = {127, 40, 90};
    static uint32_t vel_b[] = {100};
    Bb__InstrumentSpec a = BB__INSTRUMENT_SPEC__INIT, b = BB__INSTRUMENT_SPEC__INIT;
    a.name = "Juno 60";
    a.node = "juno";
    a.note_lo = 48;
    a.note_hi = 72;
    a.step = 3;
    a.n_velocities = 3;
    a.velocities = vel_a;
    a.release_samples = true;
    b.name = (char *)second_name;
    b.node = "juno";
    b.note_lo = 60;
    b.note_hi = 60;
    b.n_velocities = 1;
    b.velocities = vel_b;
    b.round_robins = 2;
    Bb__InstrumentSpec *insts[] = {&a, &b};
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    spec.n_instruments = 2;
    spec.instruments = insts;
    return BB_PB_COPY(Bb__BatchSpec, &spec);
}

static void test_defaults_and_count(void **state)
{
    Bb__BatchSpec *spec = s_plan("Pad");
    s_nodes_t nodes = {.known = "juno"};
    uint64_t total = 0;
    char msg[256] = "";
    assert_int_equal(dsp_plan_validate(&total, spec, s_node, &nodes, msg, sizeof msg), 0);
    assert_int_equal(nodes.asked, 2);
    /* 9 notes x 3 velocities x 1 rr x 2 (release pass) + 1 note x 1 velocity x 2 rr */
    assert_int_equal(total, 9 * 3 * 2 + 2);
    Bb__InstrumentSpec *a = spec->instruments[0];
    assert_int_equal(a->velocities[0], 40);
    assert_int_equal(a->velocities[1], 90);
    assert_int_equal(a->velocities[2], 127);
    assert_int_equal(a->midi_channel, 1);
    assert_int_equal(a->round_robins, 1);
    assert_int_equal(a->hold_ms, 1000);
    assert_int_equal(a->preroll_ms, 100);
    assert_int_equal(spec->instruments[1]->step, 1);
    assert_string_equal(spec->name, "Juno 60");
    assert_non_null(spec->export);
    assert_int_equal(spec->export->bit_depth, 24);
    assert_true(spec->export->peak_target_db == -1.0f);
    assert_string_equal(spec->export->format, "wav");
    assert_string_equal(spec->export->normalise, "instrument");
    bb__batch_spec__free_unpacked(spec, NULL);
}

static void test_unknown_node_is_not_found(void **state)
{
    Bb__BatchSpec *spec = s_plan("Pad");
    s_nodes_t nodes = {.known = "moog"};
    uint64_t total;
    char msg[256] = "";
    assert_int_equal(dsp_plan_validate(&total, spec, s_node, &nodes, msg, sizeof msg),
                     BB_ENOTFOUND);
    assert_string_equal(msg, "no node named 'juno'");
    assert_int_equal(nodes.asked, 1);
    bb__batch_spec__free_unpacked(spec, NULL);
}

static void test_folder_collision(void **state)
{
    Bb__BatchSpec *spec = s_plan("juno-60");
    uint64_t total;
    char msg[256] = "";
    assert_int_equal(dsp_plan_validate(&total, spec, NULL, NULL, msg, sizeof msg), BB_EINVAL);
    assert_string_equal(msg, "instruments 1 and 2 would share the folder 'juno-60'; rename one");
    bb__batch_spec__free_unpacked(spec, NULL);
}

static void test_bad_values(void **state)
{
    uint64_t total;
    char msg[256] = "";
    Bb__BatchSpec *spec = s_plan("Pad");
    spec->instruments[1]->velocities[0] = 0;
    assert_int_equal(dsp_plan_validate(&total, spec, NULL, NULL, msg, sizeof msg), BB_EINVAL);
    assert_string_equal(msg, "instrument Pad: velocity 0 is not 1-127");
    bb__batch_spec__free_unpacked(spec, NULL);

    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    ex.format = "flac";
    ex.bit_depth = 32;
    assert_int_equal(dsp_plan_check_export(&ex, msg, sizeof msg), BB_EINVAL);
    assert_string_equal(msg, "FLAC holds 16 or 24 bits, not 32-bit float");
    Bb__BatchSpec empty = BB__BATCH_SPEC__INIT;
    assert_int_equal(dsp_plan_validate(&total, &empty, NULL, NULL, msg, sizeof msg), BB_EINVAL);
    assert_string_equal(msg, "the batch has no instruments");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_count),
        cmocka_unit_test(test_unknown_node_is_not_found),
        cmocka_unit_test(test_folder_collision),
        cmocka_unit_test(test_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
