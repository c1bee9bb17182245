/*
 * audio.h — the audio backend contract of a capture node.
 *
 * Modelled on PortAudio's host-API split: the front end (audio.c) validates the
 * configuration, then dispatches to one backend through this function table. Each
 * backend is one .c file exporting one function that returns its table; the registry in
 * audio.c lists those compiled in (CMake switches them on when their library is found).
 *
 * What the front end guarantees before open(): sample_rate is one of NODE_AUDIO_RATES,
 * 1 <= channels <= NODE_MAX_CHANNELS, buffer_frames is a power of two in
 * [NODE_AUDIO_MIN_BUFFER, NODE_AUDIO_MAX_BUFFER], cb is not NULL.
 *
 * What a backend must do:
 * - open(): acquire the device, or fail with a message a person can act on (which device,
 *   what went wrong) and leave nothing open.
 * - start(): begin calling cb from its realtime thread with exactly `channels`
 *   interleaved float frames of the selected input channels, at most buffer_frames... per
 *   call (any count >= 1 is allowed), `adc_ns` = the node-clock time the first frame was
 *   captured, and flags for overflows/underflows it knows of. `out` is non-NULL only for
 *   monitoring streams: the callback fills it with `channels` interleaved frames.
 * - stop(): return only after the last callback has returned; no callback afterwards.
 * - healthy(): false once the device reported an error or disappeared (the node then
 *   closes it and retries open() with backoff).
 * - close(): release everything; safe after a failed start, and after the device was lost
 *   (a backend whose library cannot clean up a lost stream may leave it, see below).
 * - needs_restart() (may be NULL = never): true once the library cannot open a stream
 *   again in this process (PortAudio's JACK host API after the server went away: its
 *   cleanup asserts); the node then restarts itself to reopen the device.
 * The callback runs under the realtime rules of STYLE.md; so does anything the backend
 * does on its realtime thread.
 */
#ifndef NODE_AUDIO_H
#define NODE_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_MAX_CHANNELS     8
#define NODE_AUDIO_MIN_BUFFER 16
#define NODE_AUDIO_MAX_BUFFER 4096
#define NODE_DEVICE_NAME_MAX  128

/* Callback flags */
enum {
    NODE_AUDIO_INPUT_OVERFLOW = 1,   /* the device dropped input before we got it */
    NODE_AUDIO_OUTPUT_UNDERFLOW = 2, /* the monitor output ran dry */
    NODE_AUDIO_UNTIMED = 4,          /* adc_ns is not trustworthy yet (the stream is starting) */
};

/* Called on the realtime thread for every block. */
typedef void(node_audio_cb)(void *user, const float *in, float *out, uint32_t frames,
                            int64_t adc_ns, uint32_t flags);

typedef struct {
    uint32_t index;
    char name[NODE_DEVICE_NAME_MAX];
    char host_api[32];
    uint32_t input_channels;
    uint32_t output_channels;
    double default_rate;
} node_device_t;

typedef struct {
    const char *device; /* name (substring match) or index; NULL = the default */
    uint32_t sample_rate;
    uint32_t channels;      /* how many input channels to record */
    uint32_t first_channel; /* 0-based first input channel (3-4 of 8 = first 2, 2 ch) */
    uint32_t buffer_frames;
    bool monitor; /* duplex: pass the input through to an output */
    const char *monitor_device;
    void *backend_ctx; /* backend-specific (the virtual backend's instrument) */
} node_audio_config_t;
#define NODE_AUDIO_CONFIG_INIT                                                                     \
    {                                                                                              \
        .device = NULL, .sample_rate = 48000, .channels = 2, .first_channel = 0,                   \
        .buffer_frames = 256, .monitor = false, .monitor_device = NULL, .backend_ctx = NULL        \
    }

typedef struct node_audio_stream_t node_audio_stream_t;

typedef struct {
    const char *name;
    /* Fills up to `max` devices; returns how many there are (may exceed max) or < 0. */
    int (*list_devices)(node_device_t *devices, int max, char *err, size_t errlen);
    int (*open)(node_audio_stream_t **stream, const node_audio_config_t *cfg, node_audio_cb *cb,
                void *user, char *err, size_t errlen);
    int (*start)(node_audio_stream_t *stream, char *err, size_t errlen);
    int (*stop)(node_audio_stream_t *stream);
    bool (*healthy)(node_audio_stream_t *stream);
    void (*close)(node_audio_stream_t *stream);
    bool (*needs_restart)(void);
} node_audio_backend_t;

/* Sample rates a node accepts: native rates only, no conversion. */
#define NODE_AUDIO_RATES                                                                           \
    {                                                                                              \
        44100, 48000, 88200, 96000                                                                 \
    }

/* The backends compiled in, NULL-terminated. */
const node_audio_backend_t *const *node_audio_backends(void);
/* A backend by name ("virtual", "portaudio"), or NULL. */
const node_audio_backend_t *node_audio_backend(const char *name);
/* Validates `cfg` as the contract above says; BB_EINVAL with a message otherwise. */
int node_audio_check_config(const node_audio_config_t *cfg, char *err, size_t errlen);

/* Keeps ALSA's and JACK's probing noise (dozens of lines when a device or a JACK server is
 * missing) off stderr unless the log level is debug. The real-device backends call it
 * before initialising their library. */
void node_backends_quiet(void);

/* Backend registration functions, one per backend file. */
const node_audio_backend_t *node_audio_virtual_backend(void);
/* Makes the simulated interface vanish `after_s` seconds (node clock) after its first
 * start and come back `for_s` seconds later (a fault to test device loss with). */
void node_audio_virtual_simulate_loss(double after_s, double for_s);
/* Makes the simulated interface deliver its first block `delay_s` seconds (node clock)
 * after each start, as an interface or a JACK server slow to start under load does: the
 * stream is running, no audio has arrived yet (a fault to test note placement with). */
void node_audio_virtual_simulate_slow_start(double delay_s);
#ifdef BB_HAVE_PORTAUDIO
const node_audio_backend_t *node_audio_portaudio_backend(void);
#endif

#endif
