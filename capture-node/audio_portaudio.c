/*
 * audio_portaudio.c — the PortAudio audio backend: a real audio interface (ALSA, or a JACK
 * server, through Debian's PortAudio).
 *
 * open() initialises PortAudio, finds the input device (index, or a case-insensitive
 * substring of its name), checks the channels and the native sample rate, and opens a
 * float32 stream of first_channel + channels inputs (a device's channels are numbered
 * from its first, so recording 3-4 of 8 opens 4 and keeps the last 2). With monitoring
 * the stream is duplex: the input goes on to an output device as well. Every buffer is
 * allocated here; the callback only copies.
 *
 * Time. PortAudio stamps each buffer with timeInfo->inputBufferAdcTime, the capture time
 * of its first frame on the *stream clock* (Pa_GetStreamTime(): for the JACK host API the
 * server's frame counter since the stream was opened divided by the rate; for ALSA the
 * system clock). The node works on CLOCK_MONOTONIC, so:
 *
 *     adc_ns = offset_ns + inputBufferAdcTime * 1e9
 *     offset_ns = CLOCK_MONOTONIC - Pa_GetStreamTime(), measured together
 *
 * The offset is measured outside the callback, by the backend's clock thread: every
 * NODE_PA_CLOCK_PERIOD_MS it reads the monotonic clock, the stream time and the monotonic
 * clock again NODE_PA_CLOCK_TRIES times and keeps the tightest pair (its midpoint), so a
 * preemption between the reads cannot skew it. The stream clock may be quantised (JACK
 * counts whole frames, 21 us at 48 kHz) and drifts slowly against the monotonic clock
 * (a sound card's crystal, a few ppm), so new measurements are averaged in with weight
 * 1/NODE_PA_CLOCK_SMOOTH; a jump larger than NODE_PA_CLOCK_JUMP_NS (the stream clock
 * restarted, or JACK's 32-bit frame counter wrapped after ~24 h) is taken at once when a
 * second measurement confirms it. The
 * callback only reads the published offset (one atomic load). start() takes the first
 * measurement once the stream has delivered its first buffers (before that a JACK
 * client's frame timer can be tens of ms stale); those first buffers are flagged
 * NODE_AUDIO_UNTIMED so the recorder does not learn the time from them.
 *
 * PortAudio computes inputBufferAdcTime as the stream time of the callback minus the
 * capture latency the host reports (JACK: the port's latency, one period or more for an
 * interface), and advances it by the frames already delivered when it splits a host
 * buffer into several of ours; so the stamp is the capture time of our first frame. A
 * host API that leaves it 0 gets the callback's currentTime instead. Stamps are exact or
 * late (the callback ran late), never early; the recorder's time map (timemap.h) keeps
 * the earliest, so one late callback does not move a note.
 *
 * Health. The clock thread also watches the stream: Pa_IsStreamActive() turning false
 * while we did not stop it, or the stream-finished callback, mark the device lost and
 * healthy() says so; a callback that simply stops coming (JACK server gone, USB pulled
 * under some host APIs) is caught by the node's watchdog on the capture counters.
 *
 * A JACK server that goes away is a special case: PortAudio 19.6 cannot close a JACK
 * stream after that (its clean-up asserts that unregistering the ports worked, and
 * aborts the process), nor rescan devices while a stream is open. So a lost JACK stream
 * is left as it is, PortAudio is never touched again in this process, and
 * needs_restart() says so: the node restarts itself and finds the server when it is back.
 *
 * ALSA and JACK print dozens of lines of probing noise on stderr when a device or a
 * server is missing; node_backends_quiet() keeps it off unless the log level is debug.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <portaudio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio.h"
#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"

#define NODE_PA_CLOCK_PERIOD_MS   50
#define NODE_PA_CLOCK_TRIES       7
#define NODE_PA_CLOCK_SMOOTH      8
#define NODE_PA_CLOCK_JUMP_NS     (5 * BB_NS_PER_MS)
#define NODE_PA_MAX_DEVICE_CH     64 /* channels we are ready to open on one device */
#define NODE_PA_JACK_SILENT_MS    200
#define NODE_PA_FIRST_CALLBACK_MS 1000 /* start() waits this long at most for the stream */
#define NODE_PA_SETTLE_CALLBACKS  2

/* Set once a lost JACK stream had to be left open: PortAudio is unusable from then on. */
static atomic_bool s_poisoned;
/* The stream left open (kept reachable: it is not a leak, it is on purpose). */
static node_audio_stream_t *s_abandoned;

struct node_audio_stream_t {
    PaStream *pa;
    bool pa_initialised;
    bool started;
    bool jack; /* on PortAudio's JACK host API */
    node_audio_cb *cb;
    void *user;
    uint32_t rate, channels, first, open_channels;
    uint32_t out_channels; /* monitor output channels opened (0: no monitoring) */
    uint32_t max_frames;   /* per call to cb; PortAudio buffers larger are split */
    float *in;             /* the selected input channels, interleaved */
    float *out;            /* cb's monitor output, `channels` interleaved */
    char name[NODE_DEVICE_NAME_MAX];

    pthread_t clock_thread;
    bool clock_started;
    atomic_bool clock_running;
    _Atomic int64_t offset_ns; /* CLOCK_MONOTONIC - stream time, ns */
    atomic_bool offset_valid;  /* measured while the stream runs */
    atomic_bool lost;          /* the stream stopped by itself or reported an error */
    _Atomic uint64_t callbacks;
};

/* ---- PortAudio set-up, quietly ---- */

static int s_pa_init(char *err, size_t errlen)
{
    node_backends_quiet();
    PaError pe = Pa_Initialize();
    if (pe != paNoError) {
        snprintf(err, errlen, "cannot initialise PortAudio: %s", Pa_GetErrorText(pe));
        return BB_EDEVICE;
    }
    return 0;
}

static void s_device_entry(node_device_t *d, PaDeviceIndex i, const PaDeviceInfo *info)
{
    memset(d, 0, sizeof *d);
    d->index = (uint32_t)i;
    snprintf(d->name, sizeof d->name, "%s", info->name ? info->name : "?");
    const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
    snprintf(d->host_api, sizeof d->host_api, "%s", api && api->name ? api->name : "?");
    d->input_channels = (uint32_t)(info->maxInputChannels > 0 ? info->maxInputChannels : 0);
    d->output_channels = (uint32_t)(info->maxOutputChannels > 0 ? info->maxOutputChannels : 0);
    d->default_rate = info->defaultSampleRate;
}

static int s_list(node_device_t *devices, int max, char *err, size_t errlen)
{
    int rc = s_pa_init(err, errlen);
    if (rc)
        return rc;
    int n = Pa_GetDeviceCount();
    if (n < 0) {
        snprintf(err, errlen, "cannot count audio devices: %s", Pa_GetErrorText(n));
        Pa_Terminate();
        return BB_EDEVICE;
    }
    for (int i = 0; i < n && i < max; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (info)
            s_device_entry(&devices[i], i, info);
    }
    Pa_Terminate();
    return n;
}

/* ---- choosing the device ---- */

static bool s_icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

static bool s_all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Names of the devices with inputs (or outputs), for error messages. */
static void s_device_names(bool input, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    int n = Pa_GetDeviceCount();
    for (int i = 0; i < n && used + 1 < len; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (!info || (input ? info->maxInputChannels : info->maxOutputChannels) <= 0)
            continue;
        int w = snprintf(out + used, len - used, "%s[%d] %s", used ? ", " : "", i, info->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used >= len && len > 4)
        memcpy(out + len - 4, "...", 4);
}

/* Finds a device by index or name substring that has `input` (or output) channels. */
static int s_find_device(const char *spec, bool input, PaDeviceIndex *out, char *err, size_t errlen)
{
    const char *what = input ? "input" : "output";
    int n = Pa_GetDeviceCount();
    int with = 0;
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (info && (input ? info->maxInputChannels : info->maxOutputChannels) > 0)
            with++;
    }
    if (with == 0) {
        snprintf(err, errlen,
                 "no audio %s devices found (is the interface connected and powered? with "
                 "JACK, is the server running?)",
                 what);
        return BB_ENOTFOUND;
    }
    char names[320];
    if (!spec || !*spec || strcmp(spec, "default") == 0) {
        PaDeviceIndex d = input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
        if (d == paNoDevice) {
            s_device_names(input, names, sizeof names);
            snprintf(err, errlen, "there is no default audio %s device; choose one of: %s", what,
                     names);
            return BB_ENOTFOUND;
        }
        *out = d;
        return 0;
    }
    if (s_all_digits(spec)) {
        long i = strtol(spec, NULL, 10);
        const PaDeviceInfo *info = i < n ? Pa_GetDeviceInfo((PaDeviceIndex)i) : NULL;
        if (!info || (input ? info->maxInputChannels : info->maxOutputChannels) <= 0) {
            s_device_names(input, names, sizeof names);
            snprintf(err, errlen, "audio device %s is not an %s device; %s devices: %s", spec, what,
                     what, names);
            return BB_ENOTFOUND;
        }
        *out = (PaDeviceIndex)i;
        return 0;
    }
    PaDeviceIndex found = paNoDevice;
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (!info || (input ? info->maxInputChannels : info->maxOutputChannels) <= 0)
            continue;
        if (strcasecmp(info->name, spec) == 0) { /* an exact name wins over substrings */
            found = i;
            break;
        }
        if (found == paNoDevice && s_icontains(info->name, spec))
            found = i;
    }
    if (found == paNoDevice) {
        s_device_names(input, names, sizeof names);
        snprintf(err, errlen, "no audio %s device matches '%s'; %s devices: %s", what, spec, what,
                 names);
        return BB_ENOTFOUND;
    }
    *out = found;
    return 0;
}

/* The rates of NODE_AUDIO_RATES the device opens with, as text. */
static void s_supported_rates(const PaStreamParameters *in, const PaStreamParameters *out,
                              char *text, size_t len)
{
    static const uint32_t rates[] = NODE_AUDIO_RATES;
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        if (Pa_IsFormatSupported(in, out, rates[i]) != paFormatIsSupported)
            continue;
        int w = snprintf(text + used, len - used, "%s%u", used ? ", " : "", rates[i]);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
    if (!used)
        snprintf(text, len, "none of 44100, 48000, 88200, 96000");
}

/* ---- the stream clock ---- */

/* One measurement of CLOCK_MONOTONIC - stream time: the tightest of several tries. */
static bool s_measure_offset(node_audio_stream_t *s, int64_t *offset)
{
    int64_t best_width = INT64_MAX;
    for (int i = 0; i < NODE_PA_CLOCK_TRIES; i++) {
        int64_t a = bb_mono_ns();
        PaTime st = Pa_GetStreamTime(s->pa);
        int64_t b = bb_mono_ns();
        if (st <= 0)
            continue;
        if (b - a < best_width) {
            best_width = b - a;
            *offset = a + (b - a) / 2 - (int64_t)llround(st * 1e9);
        }
    }
    return best_width != INT64_MAX;
}

static void *s_clock_run(void *arg)
{
    node_audio_stream_t *s = arg;
    int64_t jumped = 0; /* a jump seen once, waiting to be confirmed */
    uint64_t seen = 0;
    int quiet = 0; /* checks without a callback */
    while (atomic_load(&s->clock_running)) {
        bb_sleep_ms(NODE_PA_CLOCK_PERIOD_MS);
        if (!atomic_load(&s->clock_running))
            break;
        int64_t off;
        if (s_measure_offset(s, &off)) {
            int64_t old = atomic_load_explicit(&s->offset_ns, memory_order_relaxed);
            int64_t d = off - old;
            if (d > NODE_PA_CLOCK_JUMP_NS || d < -NODE_PA_CLOCK_JUMP_NS) {
                /* Taken only when the next measurement agrees: one odd reading (the
                 * stream clock caught mid-update) must not move every stamp. */
                if (jumped && llabs(off - jumped) < NODE_PA_CLOCK_JUMP_NS / 4)
                    atomic_store_explicit(&s->offset_ns, off, memory_order_release);
                jumped = off;
            } else {
                jumped = 0;
                atomic_store_explicit(&s->offset_ns, old + d / NODE_PA_CLOCK_SMOOTH,
                                      memory_order_release);
            }
        }
        PaError active = Pa_IsStreamActive(s->pa);
        if (active != 1 && !atomic_load(&s->lost)) {
            atomic_store(&s->lost, true);
            bb_warn("audio device '%s': the stream stopped (%s)", s->name,
                    active < 0 ? Pa_GetErrorText(active) : "no longer active");
        }
        /* A JACK client that gets no more cycles has lost its server (or been thrown out
         * of the graph): closing it is then unsafe, so call it lost here already. */
        uint64_t n = atomic_load_explicit(&s->callbacks, memory_order_relaxed);
        quiet = n == seen ? quiet + 1 : 0;
        seen = n;
        if (s->jack && quiet * NODE_PA_CLOCK_PERIOD_MS >= NODE_PA_JACK_SILENT_MS &&
            !atomic_load(&s->lost)) {
            atomic_store(&s->lost, true);
            bb_warn("audio device '%s': no JACK cycles for %d ms", s->name,
                    quiet * NODE_PA_CLOCK_PERIOD_MS);
        }
    }
    return NULL;
}

/* ---- realtime: the PortAudio callback ----
 * Runs on PortAudio's audio thread. It copies the selected channels into the stream's
 * preallocated buffer, stamps them with the monotonic time of their first frame, calls
 * the node's callback, and copies its monitor output to the device's output channels.
 * No allocation, no locks, no logging, no system calls; loops bounded by the buffer. */

static int s_pa_callback(const void *input, void *output, unsigned long frames,
                         const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags status,
                         void *arg)
{
    node_audio_stream_t *s = arg;
    const float *in = input;
    float *out = output;
    atomic_fetch_add_explicit(&s->callbacks, 1, memory_order_relaxed);

    uint32_t flags = 0;
    if (status & paInputOverflow)
        flags |= NODE_AUDIO_INPUT_OVERFLOW;
    if (status & paOutputUnderflow)
        flags |= NODE_AUDIO_OUTPUT_UNDERFLOW;
    if (!atomic_load_explicit(&s->offset_valid, memory_order_acquire))
        flags |= NODE_AUDIO_UNTIMED;
    double t = ti->inputBufferAdcTime > 0 ? ti->inputBufferAdcTime : ti->currentTime;
    const int64_t base_ns =
        atomic_load_explicit(&s->offset_ns, memory_order_acquire) + (int64_t)(t * 1e9);

    unsigned long done = 0;
    while (done < frames) {
        uint32_t n = (uint32_t)(frames - done < s->max_frames ? frames - done : s->max_frames);
        const int64_t adc_ns = base_ns + (int64_t)((double)done * 1e9 / s->rate);
        const float *src = in ? in + done * s->open_channels : NULL;
        if (src) {
            for (uint32_t i = 0; i < n; i++)
                for (uint32_t c = 0; c < s->channels; c++)
                    s->in[i * s->channels + c] = src[i * s->open_channels + s->first + c];
        }
        float *mon = out ? s->out : NULL;
        s->cb(s->user, src ? s->in : NULL, mon, n, adc_ns, flags);
        if (out) {
            float *dst = out + done * s->out_channels;
            for (uint32_t i = 0; i < n; i++)
                for (uint32_t c = 0; c < s->out_channels; c++) {
                    uint32_t from = c < s->channels ? c : (s->channels == 1 ? 0 : UINT32_MAX);
                    dst[i * s->out_channels + c] =
                        from == UINT32_MAX ? 0.0f : s->out[i * s->channels + from];
                }
        }
        flags &= NODE_AUDIO_UNTIMED; /* a status applies to the buffer's start */
        done += n;
    }
    return paContinue;
}

static void s_pa_finished(void *arg)
{
    node_audio_stream_t *s = arg;
    if (atomic_load(&s->clock_running)) /* not our own stop */
        atomic_store(&s->lost, true);
}

/* ---- the backend ---- */

static void s_close(node_audio_stream_t *s);

static int s_open(node_audio_stream_t **stream, const node_audio_config_t *cfg, node_audio_cb *cb,
                  void *user, char *err, size_t errlen)
{
    node_audio_stream_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    s->cb = cb;
    s->user = user;
    s->rate = cfg->sample_rate;
    s->channels = cfg->channels;
    s->first = cfg->first_channel;
    s->open_channels = cfg->first_channel + cfg->channels;
    s->max_frames = NODE_AUDIO_MAX_BUFFER;
    atomic_init(&s->clock_running, false);
    atomic_init(&s->lost, false);
    atomic_init(&s->offset_ns, 0);
    atomic_init(&s->offset_valid, false);
    atomic_init(&s->callbacks, 0);

    int rc;
    if (atomic_load(&s_poisoned)) {
        snprintf(err, errlen,
                 "PortAudio cannot open a stream again in this process after the JACK server "
                 "went away; restart the node");
        rc = BB_ESTATE;
        goto fail;
    }
    if ((rc = s_pa_init(err, errlen)))
        goto fail;
    s->pa_initialised = true;

    PaDeviceIndex dev;
    if ((rc = s_find_device(cfg->device, true, &dev, err, errlen)))
        goto fail;
    const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);
    snprintf(s->name, sizeof s->name, "%s", info->name);
    const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
    s->jack = api && api->type == paJACK;
    if (s->open_channels > (uint32_t)info->maxInputChannels ||
        s->open_channels > NODE_PA_MAX_DEVICE_CH) {
        snprintf(err, errlen, "audio device '%s' has %d input channel%s; channels %u-%u requested",
                 info->name, info->maxInputChannels, info->maxInputChannels == 1 ? "" : "s",
                 s->first + 1, s->open_channels);
        rc = BB_EINVAL;
        goto fail;
    }

    double latency = 2.0 * cfg->buffer_frames / cfg->sample_rate;
    PaStreamParameters in = {.device = dev,
                             .channelCount = (int)s->open_channels,
                             .sampleFormat = paFloat32,
                             .suggestedLatency = latency > info->defaultLowInputLatency
                                                     ? latency
                                                     : info->defaultLowInputLatency,
                             .hostApiSpecificStreamInfo = NULL};
    PaStreamParameters out = {0};
    const PaStreamParameters *outp = NULL;
    if (cfg->monitor) {
        PaDeviceIndex odev;
        char oerr[400];
        if ((rc = s_find_device(cfg->monitor_device, false, &odev, oerr, sizeof oerr))) {
            snprintf(err, errlen, "monitoring: %s", oerr);
            goto fail;
        }
        const PaDeviceInfo *oinfo = Pa_GetDeviceInfo(odev);
        s->out_channels = (uint32_t)oinfo->maxOutputChannels < s->channels
                              ? (uint32_t)oinfo->maxOutputChannels
                              : s->channels;
        if (s->channels == 1 && oinfo->maxOutputChannels >= 2)
            s->out_channels = 2; /* a mono input is heard on both sides */
        out = (PaStreamParameters){.device = odev,
                                   .channelCount = (int)s->out_channels,
                                   .sampleFormat = paFloat32,
                                   .suggestedLatency = latency > oinfo->defaultLowOutputLatency
                                                           ? latency
                                                           : oinfo->defaultLowOutputLatency,
                                   .hostApiSpecificStreamInfo = NULL};
        outp = &out;
    }

    if (Pa_IsFormatSupported(&in, outp, cfg->sample_rate) != paFormatIsSupported) {
        char rates[96];
        s_supported_rates(&in, outp, rates, sizeof rates);
        snprintf(err, errlen,
                 "audio device '%s' does not open at %u Hz with %u input channels; it supports: "
                 "%s (its default is %.0f Hz). The node records at the interface's native rate: "
                 "choose one with --rate",
                 info->name, cfg->sample_rate, s->open_channels, rates, info->defaultSampleRate);
        rc = BB_EINVAL;
        goto fail;
    }

    s->in = calloc((size_t)s->max_frames * s->channels, sizeof(float));
    s->out = calloc((size_t)s->max_frames * s->channels, sizeof(float));
    if (!s->in || !s->out) {
        snprintf(err, errlen, "out of memory");
        rc = BB_ENOMEM;
        goto fail;
    }
    PaError pe = Pa_OpenStream(&s->pa, &in, outp, cfg->sample_rate, cfg->buffer_frames,
                               paClipOff | paDitherOff, s_pa_callback, s);
    if (pe != paNoError) {
        s->pa = NULL;
        snprintf(err, errlen, "cannot open audio device '%s' (%u ch at %u Hz, %u frames): %s",
                 info->name, s->open_channels, cfg->sample_rate, cfg->buffer_frames,
                 Pa_GetErrorText(pe));
        rc = BB_EDEVICE;
        goto fail;
    }
    Pa_SetStreamFinishedCallback(s->pa, s_pa_finished);
    const PaStreamInfo *si = Pa_GetStreamInfo(s->pa);
    bb_info("audio: '%s' (%s), inputs %u-%u of %d, %u Hz, %u-frame buffer, input latency %.1f "
            "ms%s",
            info->name, Pa_GetHostApiInfo(info->hostApi)->name, s->first + 1, s->open_channels,
            info->maxInputChannels, cfg->sample_rate, cfg->buffer_frames,
            si ? si->inputLatency * 1e3 : 0.0, outp ? ", monitoring" : "");
    *stream = s;
    return 0;

fail:
    s_close(s);
    return rc;
}

static int s_start(node_audio_stream_t *s, char *err, size_t errlen)
{
    int64_t off;
    if (s_measure_offset(s, &off))
        atomic_store(&s->offset_ns, off);
    atomic_store(&s->clock_running, true);
    PaError pe = Pa_StartStream(s->pa);
    if (pe != paNoError) {
        atomic_store(&s->clock_running, false);
        snprintf(err, errlen, "cannot start audio device '%s': %s", s->name, Pa_GetErrorText(pe));
        return BB_EDEVICE;
    }
    s->started = true;
    /* The stream clock is only sure once the stream runs (a JACK client's frame timer is
     * stale until its first cycles): measure then; the blocks before are flagged UNTIMED. */
    int64_t until = bb_mono_ns() + NODE_PA_FIRST_CALLBACK_MS * BB_NS_PER_MS;
    while (atomic_load(&s->callbacks) < NODE_PA_SETTLE_CALLBACKS && bb_mono_ns() < until)
        bb_sleep_ms(2);
    if (s_measure_offset(s, &off))
        atomic_store(&s->offset_ns, off);
    atomic_store_explicit(&s->offset_valid, true, memory_order_release);
    if (pthread_create(&s->clock_thread, NULL, s_clock_run, s) != 0) {
        atomic_store(&s->clock_running, false);
        Pa_AbortStream(s->pa);
        s->started = false;
        snprintf(err, errlen, "cannot start the audio clock thread");
        return BB_EIO;
    }
    s->clock_started = true;
    return 0;
}

/* A JACK stream whose server is gone must not be stopped or closed (see the top). */
static bool s_abandon(node_audio_stream_t *s)
{
    return s->jack && s->pa && atomic_load(&s->lost);
}

static int s_stop(node_audio_stream_t *s)
{
    atomic_store(&s->clock_running, false);
    if (s->clock_started) {
        pthread_join(s->clock_thread, NULL);
        s->clock_started = false;
    }
    if (s->started && s->jack && !atomic_load(&s->lost)) { /* alive? one last look */
        uint64_t n = atomic_load(&s->callbacks);
        bb_sleep_ms(NODE_PA_CLOCK_PERIOD_MS);
        if (atomic_load(&s->callbacks) == n || Pa_IsStreamActive(s->pa) != 1)
            atomic_store(&s->lost, true);
    }
    if (s->started && s_abandon(s)) {
        s->started = false;
        return 0;
    }
    if (s->started) {
        /* Abort, not Stop: nothing to drain, and a dead device must not make us wait. */
        Pa_AbortStream(s->pa);
        s->started = false;
    }
    return 0;
}

static bool s_healthy(node_audio_stream_t *s)
{
    return !atomic_load(&s->lost);
}

static bool s_needs_restart(void)
{
    return atomic_load(&s_poisoned);
}

static void s_close(node_audio_stream_t *s)
{
    if (!s)
        return;
    s_stop(s);
    if (s_abandon(s)) { /* left as it is, memory included: no callback will come */
        atomic_store(&s_poisoned, true);
        s_abandoned = s;
        bb_warn("audio device '%s': PortAudio cannot close a JACK stream whose server went "
                "away; the node will restart itself to reopen it",
                s->name);
        return;
    }
    if (s->pa)
        Pa_CloseStream(s->pa);
    if (s->pa_initialised)
        Pa_Terminate();
    free(s->in);
    free(s->out);
    free(s);
}

const node_audio_backend_t *node_audio_portaudio_backend(void)
{
    static const node_audio_backend_t backend = {
        .name = "portaudio",
        .list_devices = s_list,
        .open = s_open,
        .start = s_start,
        .stop = s_stop,
        .healthy = s_healthy,
        .close = s_close,
        .needs_restart = s_needs_restart,
    };
    return &backend;
}
