/*
 * backends.c — the registries of audio and MIDI backends and the front-end checks.
 *
 * Each list is NULL-terminated and holds the backends this build has; the virtual pair
 * is always there so a node runs on a machine with no sound hardware.
 */
#include <stdio.h>
#include <string.h>

#include "audio.h"
#include "bb_err.h"
#include "midi.h"

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
