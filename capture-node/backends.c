/*
 * backends.c — the registries of audio and MIDI backends and the front-end checks.
 *
 * Each list is NULL-terminated and holds the backends this build has; the virtual pair
 * is always there so a node runs on a machine with no sound hardware.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "audio.h"
#include "bb_err.h"
#include "bb_log.h"
#include "midi.h"

/* ---- quiet libraries ---- */

static void s_alsa_quiet(const char *file, int line, const char *fn, int err, const char *fmt, ...)
{
}

static void s_jack_quiet(const char *msg)
{
}

/* The libraries are loaded by libportaudio / libportmidi, not linked by us: looked up with
 * dlsym, and skipped when absent. */
void node_backends_quiet(void)
{
    if (bb_log_get_level() >= BB_LOG_DEBUG)
        return;
    typedef int (*alsa_set_t)(void (*)(const char *, int, const char *, int, const char *, ...));
    typedef void (*jack_set_t)(void (*)(const char *));
    alsa_set_t alsa_set;
    jack_set_t jack_err, jack_info;
    *(void **)&alsa_set = dlsym(RTLD_DEFAULT, "snd_lib_error_set_handler");
    *(void **)&jack_err = dlsym(RTLD_DEFAULT, "jack_set_error_function");
    *(void **)&jack_info = dlsym(RTLD_DEFAULT, "jack_set_info_function");
    if (alsa_set)
        alsa_set(s_alsa_quiet);
    if (jack_err)
        jack_err(s_jack_quiet);
    if (jack_info)
        jack_info(s_jack_quiet);
}

/* ---- registries ---- */

const node_audio_backend_t *const *node_audio_backends(void)
{
    static const node_audio_backend_t *list[4];
    if (!list[0]) {
        int n = 0;
#ifdef BB_HAVE_PORTAUDIO
        list[n++] = node_audio_portaudio_backend();
#endif
        list[n++] = node_audio_virtual_backend();
        list[n] = NULL;
    }
    return list;
}

const node_audio_backend_t *node_audio_backend(const char *name)
{
    for (const node_audio_backend_t *const *b = node_audio_backends(); *b; b++)
        if (name && strcmp((*b)->name, name) == 0)
            return *b;
    return NULL;
}

int node_audio_check_config(const node_audio_config_t *cfg, char *err, size_t errlen)
{
    static const uint32_t rates[] = NODE_AUDIO_RATES;
    bool rate_ok = false;
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        rate_ok |= cfg->sample_rate == rates[i];
    if (!rate_ok) {
        snprintf(err, errlen, "sample rate %u Hz is not supported (44100, 48000, 88200, 96000)",
                 cfg->sample_rate);
        return BB_EINVAL;
    }
    if (cfg->channels < 1 || cfg->channels > NODE_MAX_CHANNELS) {
        snprintf(err, errlen, "%u channels requested; a node records 1 to %d", cfg->channels,
                 NODE_MAX_CHANNELS);
        return BB_EINVAL;
    }
    uint32_t b = cfg->buffer_frames;
    if (b < NODE_AUDIO_MIN_BUFFER || b > NODE_AUDIO_MAX_BUFFER || (b & (b - 1))) {
        snprintf(err, errlen, "buffer of %u frames: use a power of two from %d to %d", b,
                 NODE_AUDIO_MIN_BUFFER, NODE_AUDIO_MAX_BUFFER);
        return BB_EINVAL;
    }
    return 0;
}

const node_midi_backend_t *const *node_midi_backends(void)
{
    static const node_midi_backend_t *list[4];
    if (!list[0]) {
        int n = 0;
#ifdef BB_HAVE_PORTMIDI
        list[n++] = node_midi_portmidi_backend();
#endif
        list[n++] = node_midi_virtual_backend();
        list[n] = NULL;
    }
    return list;
}

const node_midi_backend_t *node_midi_backend(const char *name)
{
    for (const node_midi_backend_t *const *b = node_midi_backends(); *b; b++)
        if (name && strcmp((*b)->name, name) == 0)
            return *b;
    return NULL;
}
