/*
 * test_errors.c — the error paths a person meets, through the real binaries: unknown
 * node, bad note ranges (caught by the CLI and, sent directly, by the coordinator),
 * an unreachable coordinator (answered within the deadline, never a hang), unknown
 * batches and commands, control of a finished batch, --help everywhere, bad node flags.
 */
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_fs.h"
#include "bb_rpc.h"
#include "operator.pb-c.h"
#include "test_fixture.h"
#include "test_util.h"

static test_fixture_t s_fx;

static int s_start(void **state)
{
    test_fixture_init(&s_fx, "errors", 200);
    const char *nargs[] = {"--fast", NULL};
    if (test_fixture_coord_start(&s_fx, NULL) || test_fixture_node_start(&s_fx, 0, "node-a", nargs))
        return -1;
    if (test_fixture_wait_online(&s_fx, 1, 60))
        return 0;
    test_fixture_dump_logs(&s_fx);
    return -1;
}

static int s_stop(void **state)
{
    test_fixture_teardown(&s_fx);
    return 0;
}

/* Runs the CLI against our coordinator; returns the exit code, output in out and err. */
static int s_cli(char **out, char **err, const char *const *args)
{
    return test_fixture_cli(&s_fx, 60, out, err, args);
}

static void test_unknown_node(void **state)
{
    char *out, *err;
    const char *args[] = {"submit",     "--instrument", "Juno",  "--node",
                          "ghost-node", "--notes",      "C2:C3", NULL};
    int rc = s_cli(&out, &err, args); /* checked before anything is sent */
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "no node named 'ghost-node'"));
    assert_non_null(strstr(err, "node-a"));           /* it lists the nodes it knows */
    assert_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */
    free(out);
    free(err);
}

static void test_bad_note_range_cli(void **state)
{
    char *out, *err;
    const char *reversed[] = {"submit", "--instrument", "Juno",  "--node",
                              "node-a", "--notes",      "C4:C2", NULL};
    assert_int_equal(s_cli(&out, &err, reversed), 2);
    assert_non_null(strstr(err, "--notes C4:C2"));
    assert_non_null(strstr(err, "low note is above the high note"));
    free(out);
    free(err);
    const char *garbage[] = {"submit", "--instrument", "Juno",  "--node",
                             "node-a", "--notes",      "C2:Q9", NULL};
    assert_int_equal(s_cli(&out, &err, garbage), 2);
    assert_non_null(strstr(err, "--notes C2:Q9"));
    free(out);
    free(err);
    /* processing settings are checked before sending, with the coordinator's own words */
    const char *curve[] = {"submit",  "--instrument", "Juno",         "--node", "node-a",
                           "--notes", "C2:C3",        "--fade-curve", "cubic",  NULL};
    assert_int_equal(s_cli(&out, &err, curve), 2);
    assert_non_null(strstr(err, "--fade-curve cubic: use linear, equal-power or exponential"));
    free(out);
    free(err);
    const char *tmpl[] = {"submit", "--instrument",    "Juno",    "--node", "node-a", "--notes",
                          "C2:C3",  "--name-template", "{bogus}", NULL};
    assert_int_equal(s_cli(&out, &err, tmpl), 2);
    assert_non_null(strstr(err, "name template '{bogus}'"));
    free(out);
    free(err);
    const char *margin[] = {"submit",  "--instrument", "Juno",         "--node", "node-a",
                            "--notes", "C2:C3",        "--pre-attack", "500",    NULL};
    assert_int_equal(s_cli(&out, &err, margin), 2);
    assert_non_null(strstr(err, "--pre-attack 500"));
    free(out);
    free(err);
}

/* The coordinator checks the plan itself, whoever sends it. */
static void test_bad_plans_rejected_by_coordinator(void **state)
{
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.ops, "operator", "tests");
    assert_non_null(rpc);
    uint32_t vels[] = {127};
    Bb__InstrumentSpec inst = BB__INSTRUMENT_SPEC__INIT;
    inst.name = "Juno";
    inst.node = "node-a";
    inst.note_lo = 72;
    inst.note_hi = 60;
    inst.velocities = vels;
    inst.n_velocities = 1;
    Bb__InstrumentSpec *list[] = {&inst, &inst};
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    spec.instruments = list;
    spec.n_instruments = 1;
    ProtobufCMessage *reply = NULL;
    char msg[BB_RPC_MESSAGE_MAX];
    int st = bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 3000, &reply,
                         msg, sizeof msg);
    assert_int_equal(st, BB_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "Juno"));
    assert_non_null(strstr(msg, "note range 72..60"));

    inst.note_lo = 60;
    inst.note_hi = 200;
    st = bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 3000, &reply, msg,
                     sizeof msg);
    assert_int_equal(st, BB_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "outside MIDI notes"));

    inst.note_hi = 64;
    vels[0] = 0;
    st = bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 3000, &reply, msg,
                     sizeof msg);
    assert_int_equal(st, BB_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "velocity 0"));

    vels[0] = 100;
    spec.n_instruments = 2; /* the same name twice */
    st = bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 3000, &reply, msg,
                     sizeof msg);
    assert_int_equal(st, BB_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "share the folder"));

    spec.n_instruments = 1; /* a processing setting only the coordinator sees */
    Bb__QcSpec qc = BB__QC_SPEC__INIT;
    qc.fade_curve = "cubic";
    inst.qc = &qc;
    st = bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 3000, &reply, msg,
                     sizeof msg);
    assert_int_equal(st, BB_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "instrument Juno: fade curve 'cubic': use linear, equal-power or "
                                "exponential"));
    inst.qc = NULL;

    spec.n_instruments = 0;
    st = bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 3000, &reply, msg,
                     sizeof msg);
    assert_int_equal(st, BB_STATUS_INVALID_ARGUMENT);
    bb_rpc_destroy(&rpc);
}

static void test_unreachable_coordinator(void **state)
{
    char *out, *err;
    /* nobody listens there: the answer must come within the deadline */
    const char *args[] = {"--coordinator", "tcp://127.0.0.1:9", "--timeout", "0.5", "nodes", NULL};
    int rc = test_run("batcherbird", args, 20, &out, &err);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "no answer from the coordinator at tcp://127.0.0.1:9 within 0.5"));
    free(out);
    free(err);
}

static void test_unknown_batch_and_command(void **state)
{
    char *out, *err;
    const char *watch[] = {"watch", "999", NULL};
    assert_int_equal(s_cli(&out, &err, watch), 1);
    assert_non_null(strstr(err, "NOT_FOUND: no batch 999"));
    free(out);
    free(err);
    const char *bogus[] = {"frobnicate", NULL};
    assert_int_equal(s_cli(&out, &err, bogus), 2);
    assert_non_null(strstr(err, "unknown command 'frobnicate'"));
    free(out);
    free(err);
    const char *notnum[] = {"pause", "abc", NULL};
    assert_int_equal(s_cli(&out, &err, notnum), 2);
    free(out);
    free(err);
}

static void test_cancel_then_control_again(void **state)
{
    char *out, *err;
    const char *submit[] = {"submit",  "--instrument", "Short",  "--node", "node-a",
                            "--notes", "C2:C6",        "--hold", "2",      NULL};
    assert_int_equal(s_cli(&out, &err, submit), 0);
    unsigned long long id = 0;
    assert_non_null(strstr(out, "\nbatch "));
    assert_int_equal(sscanf(strstr(out, "\nbatch ") + 1, "batch %llu submitted", &id), 1);
    free(out);
    free(err);
    char ids[32];
    snprintf(ids, sizeof ids, "%llu", id);
    const char *pause[] = {"pause", ids, NULL};
    assert_int_equal(s_cli(&out, &err, pause), 0);
    assert_non_null(strstr(out, "paused"));
    free(out);
    free(err);
    const char *cancel[] = {"cancel", ids, NULL};
    assert_int_equal(s_cli(&out, &err, cancel), 0);
    assert_non_null(strstr(out, "cancelled"));
    free(out);
    free(err);
    const char *resume[] = {"resume", ids, NULL};
    assert_int_equal(s_cli(&out, &err, resume), 1);
    assert_non_null(strstr(err, "FAILED_PRECONDITION"));
    assert_non_null(strstr(err, "cancelled already"));
    free(out);
    free(err);
    const char *watch[] = {"watch", ids, NULL};
    assert_int_equal(s_cli(&out, &err, watch), 1); /* a cancelled batch is not a success */
    assert_non_null(strstr(out, "cancelled"));
    free(out);
    free(err);
}

static void test_help_everywhere(void **state)
{
    const char *cmds[] = {"nodes", "submit", "status", "watch",
                          "pause", "resume", "cancel", "demo"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *out, *err;
        const char *args[] = {cmds[i], "--help", NULL};
        assert_int_equal(test_run("batcherbird", args, 10, &out, &err), 0);
        assert_non_null(strstr(out, "usage: batcherbird"));
        free(out);
        free(err);
    }
    /* export --help names the re-export and its options too */
    char *out, *err;
    const char *ex[] = {"export", "--help", NULL};
    assert_int_equal(test_run("batcherbird", ex, 10, &out, &err), 0);
    const char *want[] = {"--again", "--retry", "--bit-depth", "--format", "--partial"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i]))
            fail_msg("export --help does not list %s:\n%s", want[i], out);
    free(out);
    free(err);
    const char *progs[] = {"batcherbird", "batcherbird-node", "batcherbird-coordinator"};
    for (size_t i = 0; i < 3; i++) {
        char *out, *err;
        const char *args[] = {"--help", NULL};
        assert_int_equal(test_run(progs[i], args, 10, &out, &err), 0);
        assert_non_null(strstr(out, "usage:"));
        free(out);
        free(err);
    }
}

/* process: raw takes it cannot use are named with the reason and skipped; with none
 * usable it says so and fails; bad options are refused before any work. */
static void test_process_bad_input(void **state)
{
    char raw[400], path[500];
    snprintf(raw, sizeof raw, "%s/raw-bad", s_fx.dir);
    assert_int_equal(bb_mkdir_p(raw), 0);
    snprintf(path, sizeof path, "%s/broken.json", raw);
    assert_int_equal(bb_write_file_atomic(path, "{not json", 9), 0);
    snprintf(path, sizeof path, "%s/broken.wav", raw);
    assert_int_equal(bb_write_file_atomic(path, "", 0), 0);
    snprintf(path, sizeof path, "%s/nonote.json", raw);
    const char *nonote = "{\"instrument\": \"X\", \"velocity\": 100, \"round_robin\": 1,"
                         " \"note_on_frame\": 10, \"note_off_frame\": 20}";
    assert_int_equal(bb_write_file_atomic(path, nonote, strlen(nonote)), 0);
    snprintf(path, sizeof path, "%s/nonote.wav", raw);
    assert_int_equal(bb_write_file_atomic(path, "", 0), 0);
    char lib[400];
    snprintf(lib, sizeof lib, "%s/lib-bad", s_fx.dir);
    char *out = NULL, *err = NULL;
    const char *args[] = {"process", "--in", raw, "--out", lib, NULL};
    assert_int_equal(test_run("batcherbird", args, 30, &out, &err), 1);
    assert_non_null(strstr(err, "broken.json: not valid JSON"));
    assert_non_null(strstr(err, "nonote.json: note"));
    assert_non_null(strstr(err, "no raw takes under"));
    assert_false(bb_exists(lib)); /* nothing written */
    free(out);
    free(err);
    const char *bad[] = {"process", "--in", raw, "--out", lib, "--fade-curve", "cubic", NULL};
    assert_int_equal(test_run("batcherbird", bad, 30, &out, &err), 2);
    assert_non_null(strstr(err, "--fade-curve cubic"));
    free(out);
    free(err);
}

static void test_node_rejects_bad_flags(void **state)
{
    char *out, *err;
    const char *preset[] = {"--instrument", "kazoo", NULL};
    assert_int_equal(test_run("batcherbird-node", preset, 10, &out, &err), 2);
    assert_non_null(strstr(err, "kazoo"));
    free(out);
    free(err);
    const char *rate[] = {"--rate", "12345", NULL};
    assert_int_equal(test_run("batcherbird-node", rate, 10, &out, &err), 2);
    assert_non_null(strstr(err, "12345"));
    free(out);
    free(err);
    const char *backend[] = {"--audio", "coreaudio", NULL};
    assert_int_equal(test_run("batcherbird-node", backend, 10, &out, &err), 2);
    assert_non_null(strstr(err, "coreaudio"));
    free(out);
    free(err);
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_node),
        cmocka_unit_test(test_bad_note_range_cli),
        cmocka_unit_test(test_bad_plans_rejected_by_coordinator),
        cmocka_unit_test(test_unreachable_coordinator),
        cmocka_unit_test(test_unknown_batch_and_command),
        cmocka_unit_test(test_cancel_then_control_again),
        cmocka_unit_test(test_help_everywhere),
        cmocka_unit_test(test_node_rejects_bad_flags),
        cmocka_unit_test(test_process_bad_input),
    };
    return cmocka_run_group_tests(tests, s_start, s_stop);
}
