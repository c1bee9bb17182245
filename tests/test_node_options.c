/*
 * test_node_options.c — batcherbird-node's option parsing without starting a node: the
 * defaults, values landing in the right fields, option interplay (--fast, --sim-fault
 * with and without --sim-fault-every, --channels feeding the simulation), --help stopping
 * the parse, and refusals of values out of range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "node_options.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static void test_defaults(void **state)
{
    node_options_t o = NODE_OPTIONS_INIT;
    char *argv[] = {"batcherbird-node", NULL};
    assert_int_equal(node_options_parse(&o, ARGC(argv), argv), 0);
    assert_string_equal(o.coordinator, BB_ENDPOINT_NODES);
    assert_string_equal(o.audio_backend, "virtual");
    assert_string_equal(o.midi_backend, "virtual");
    assert_true(o.speed == 1.0);
    assert_int_equal(o.heartbeat_ms, 1000);
    assert_int_equal(o.audio.sample_rate, 48000);
    assert_int_equal(o.audio.channels, 2);
    assert_int_equal(o.audio.buffer_frames, 256);
    assert_int_equal(o.sim.gm_program, -1);
    /* the one part the node plays is that default instrument, not General MIDI program 0 */
    assert_int_equal(o.n_parts, 1);
    assert_int_equal(o.part_programs[0], -1);
    assert_int_equal(o.part_presets[0], o.sim.preset);
    assert_false(o.help || o.list_devices || o.log_level_set);
}

static void test_values(void **state)
{
    node_options_t o = NODE_OPTIONS_INIT;
    char *argv[] = {"batcherbird-node",
                    "--name",
                    "juno",
                    "--coordinator",
                    "tcp://h:1",
                    "--rate",
                    "96000",
                    "--channels",
                    "4",
                    "--first-channel",
                    "3",
                    "--buffer",
                    "128",
                    "--latency-offset",
                    "-2.5",
                    "--fast",
                    "--monitor-device",
                    "out",
                    "--sim-fault",
                    "clip,dc",
                    "--sim-device-loss",
                    "1.5:2",
                    "--log-level",
                    "debug",
                    NULL};
    assert_int_equal(node_options_parse(&o, ARGC(argv), argv), 0);
    assert_string_equal(o.name, "juno");
    assert_string_equal(o.coordinator, "tcp://h:1");
    assert_int_equal(o.audio.sample_rate, 96000);
    assert_int_equal(o.sim.sample_rate, 96000);
    assert_int_equal(o.audio.channels, 4);
    assert_int_equal(o.sim.channels, 2); /* the simulation is at most stereo */
    assert_int_equal(o.audio.first_channel, 2);
    assert_int_equal(o.audio.buffer_frames, 128);
    assert_true(o.latency_offset_ms == -2.5);
    assert_true(o.speed == NODE_FAST_SPEED);
    assert_true(o.audio.monitor);
    assert_string_equal(o.audio.monitor_device, "out");
    assert_int_equal(o.sim.fault_mask, NODE_SIM_FAULT_CLIP | NODE_SIM_FAULT_DC);
    assert_int_equal(o.sim.fault_every, 1);
    assert_true(o.loss_after_s == 1.5 && o.loss_for_s == 2.0);
    assert_true(o.log_level_set && o.log_level == BB_LOG_DEBUG);

    /* --sim-fault-every given first is not overridden by --sim-fault; a second parse
     * starts afresh */
    node_options_t p = NODE_OPTIONS_INIT;
    char *argv2[] = {"batcherbird-node", "--sim-fault-every", "5", "--sim-fault", "silence", NULL};
    assert_int_equal(node_options_parse(&p, ARGC(argv2), argv2), 0);
    assert_int_equal(p.sim.fault_every, 5);
    assert_int_equal(p.sim.fault_mask, NODE_SIM_FAULT_SILENCE);
}

static void test_help_stops(void **state)
{
    node_options_t o = NODE_OPTIONS_INIT;
    char *argv[] = {"batcherbird-node", "--help", "--rate", "5", NULL};
    assert_int_equal(node_options_parse(&o, ARGC(argv), argv), 0);
    assert_true(o.help);
    assert_int_equal(o.audio.sample_rate, 48000);
}

static void test_refusals(void **state)
{
    char *bad[][4] = {{"batcherbird-node", "--rate", "5", NULL},
                      {"batcherbird-node", "--channels", "99", NULL},
                      {"batcherbird-node", "--instrument", "tuba", NULL},
                      {"batcherbird-node", "--sim-fault", "smoke", NULL},
                      {"batcherbird-node", "--sim-device-loss", "3", NULL},
                      {"batcherbird-node", "--name", "", NULL},
                      {"batcherbird-node", "--heartbeat-ms", "x", NULL},
                      {"batcherbird-node", "stray", NULL, NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        node_options_t o = NODE_OPTIONS_INIT;
        int argc = bad[i][2] ? 3 : 2;
        assert_int_equal(node_options_parse(&o, argc, bad[i]), BB_EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_help_stops),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
