/*
 * test_devices.c — the real-device backends where there are no devices (CI machines
 * have no sound card: PortMidi finds no device there, PortAudio none without a JACK
 * server): opening says clearly that there is nothing to open, and
 * `batcherbird-node --list-devices` says so too. On a machine that does have devices
 * the checks that need their absence report themselves skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audio.h"
#include "bb_err.h"
#include "midi.h"
#include "test_util.h"

static void test_portmidi_no_device(void **state)
{
    const node_midi_backend_t *pm = node_midi_backend("portmidi");
    if (!pm) {
        test_skip("no PortMidi backend in this build");
    }
    node_device_t devs[8];
    char err[512] = "";
    int n = pm->list_devices(devs, 8, err, sizeof err);
    assert_true(n >= 0);
    if (n > 0) {
        test_skip("this machine has %d MIDI output(s); the no-device path is not checked", n);
    }
    const char *specs[] = {NULL, "0", "3", "Juno-60"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        node_midi_port_t *port = NULL;
        err[0] = '\0';
        int rc = pm->open(&port, specs[i], NULL, err, sizeof err);
        printf("open(%s): %s\n", specs[i] ? specs[i] : "default", err);
        assert_int_equal(rc, BB_ENOTFOUND);
        assert_null(port);
        assert_non_null(strstr(err, "no MIDI output devices found"));
        assert_non_null(strstr(err, "--midi virtual")); /* and what to do */
    }
}

static void test_portaudio_no_device(void **state)
{
    const node_audio_backend_t *pa = node_audio_backend("portaudio");
    if (!pa) {
        test_skip("no PortAudio backend in this build");
    }
    node_device_t devs[64];
    char err[512] = "";
    int n = pa->list_devices(devs, 64, err, sizeof err);
    assert_true(n >= 0);
    int inputs = 0;
    for (int i = 0; i < n && i < 64; i++)
        inputs += devs[i].input_channels > 0;
    if (inputs > 0) {
        test_skip("this machine has %d audio input(s); the no-device path is not checked", inputs);
    }
    node_audio_config_t cfg = NODE_AUDIO_CONFIG_INIT;
    cfg.device = "Scarlett";
    node_audio_stream_t *st = NULL;
    int rc = pa->open(&st, &cfg, NULL, NULL, err, sizeof err);
    printf("open(Scarlett): %s\n", err);
    assert_int_equal(rc, BB_ENOTFOUND);
    assert_null(st);
    assert_non_null(strstr(err, "no audio input devices found"));
}

static void test_list_devices_says_none(void **state)
{
    char *out = NULL, *errout = NULL;
    const char *args[] = {"--list-devices", NULL};
    int rc = test_run("batcherbird-node", args, 30, &out, &errout);
    printf("%s", out ? out : "");
    assert_int_equal(rc, 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "audio backend virtual:"));
    assert_non_null(strstr(out, "MIDI backend virtual:"));
    const node_midi_backend_t *pm = node_midi_backend("portmidi");
    node_device_t devs[64];
    char err[256];
    if (pm && pm->list_devices(devs, 64, err, sizeof err) == 0)
        assert_non_null(strstr(out, "MIDI backend portmidi:\n  no MIDI output devices found"));
    const node_audio_backend_t *pa = node_audio_backend("portaudio");
    if (pa && pa->list_devices(devs, 64, err, sizeof err) == 0)
        assert_non_null(strstr(out, "audio backend portaudio:\n  no audio input devices found"));
    /* ALSA's and JACK's probing noise is kept off the terminal */
    assert_true(!errout || strlen(errout) < 200);
    free(out);
    free(errout);
}

int main(int argc, char **argv)
{
    /* A JACK server nobody runs: PortAudio must not find one left over from elsewhere. */
    char name[64];
    snprintf(name, sizeof name, "bbnone-%d", (int)getpid());
    setenv("JACK_DEFAULT_SERVER", name, 1);
    setenv("JACK_NO_START_SERVER", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portmidi_no_device),
        cmocka_unit_test(test_portaudio_no_device),
        cmocka_unit_test(test_list_devices_says_none),
    };
    return test_main_group(tests, argc, argv);
}
