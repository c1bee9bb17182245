/*
 * audio_virtual.c — the virtual audio backend: the simulated instrument played into a
 * simulated audio interface.
 *
 * A thread stands in for the interface's hardware clock: it sleeps until the node clock
 * reaches the end of the next block, renders that block from the instrument, and calls
 * the capture callback with it, stamped with the time its first frame was "captured".
 * Frame f is captured at origin + f / rate exactly, so the time-to-frame mapping the
 * recorder derives from block records is exact and alignment errors in tests come from
 * our code, not from the simulation. When the node clock runs faster than real time the
 * blocks grow (up to NODE_AUDIO_MAX_BUFFER) so the thread wakes at a sane rate.
 *
 * backend_ctx must be the node_sim_t the virtual MIDI backend also plays.
 *
 * A slow start (node_audio_virtual_simulate_slow_start, --sim-start-delay): the stream's
 * first frame is captured that long after start() returned.
 *
 * A simulated unplug (node_audio_virtual_simulate_loss, --sim-device-loss): some time
 * after the stream starts, the interface goes silent without a word, as a USB interface
 * pulled out or a JACK server gone: no more callbacks, healthy() still true, so only the
 * node's watchdog can notice. Until it is "plugged in" again, open() fails.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "bb_clock.h"
#include "bb_err.h"
#include "sim_instrument.h"

struct node_audio_stream_t {
    node_sim_t *sim;
    node_audio_cb *cb;
    void *user;
    uint32_t rate, channels, block;
    bool monitor;
    float *in, *out;
    pthread_t thread;
    bool thread_started;
    atomic_bool running;
    atomic_bool failed; /* a simulated disconnect */
};

/* The one simulated interface's unplug schedule (node clock, ns; 0 = none). */
static _Atomic double s_loss_after_s, s_loss_for_s;
static _Atomic int64_t s_lost_at, s_back_at;
static _Atomic double s_start_delay_s; /* first frame this long after start (node clock) */

void node_audio_virtual_simulate_slow_start(double delay_s)
{
    atomic_store(&s_start_delay_s, delay_s);
}

void node_audio_virtual_simulate_loss(double after_s, double for_s)
{
    atomic_store(&s_loss_after_s, after_s);
    atomic_store(&s_loss_for_s, for_s);
    atomic_store(&s_lost_at, 0);
    atomic_store(&s_back_at, 0);
}

static bool s_unplugged(int64_t now)
{
    int64_t at = atomic_load(&s_lost_at);
    return at && now >= at && now < atomic_load(&s_back_at);
}

static int s_list(node_device_t *devices, int max, char *err, size_t errlen)
{
    if (max > 0) {
        memset(&devices[0], 0, sizeof devices[0]);
        snprintf(devices[0].name, sizeof devices[0].name, "Batcherbird simulated instrument");
        snprintf(devices[0].host_api, sizeof devices[0].host_api, "virtual");
        devices[0].input_channels = 2;
        devices[0].output_channels = 2;
        devices[0].default_rate = 48000;
    }
    return 1;
}

static int s_open(node_audio_stream_t **stream, const node_audio_config_t *cfg, node_audio_cb *cb,
                  void *user, char *err, size_t errlen)
{
    if (!cfg->backend_ctx) {
        snprintf(err, errlen, "the virtual audio backend needs a simulated instrument");
        return BB_EINVAL;
    }
    if (s_unplugged(bb_node_clock_ns())) {
        snprintf(err, errlen, "the simulated interface is unplugged (--sim-device-loss)");
        return BB_EDEVICE;
    }
    if (node_sim_channels(cfg->backend_ctx) != cfg->channels) {
        snprintf(err, errlen, "the simulated instrument plays %u channel(s), the stream has %u",
                 node_sim_channels(cfg->backend_ctx), cfg->channels);
        return BB_EINVAL;
    }
    node_audio_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return BB_ENOMEM;
    s->sim = cfg->backend_ctx;
    s->cb = cb;
    s->user = user;
    s->rate = cfg->sample_rate;
    s->channels = cfg->channels;
    s->monitor = cfg->monitor;
    uint32_t block = cfg->buffer_frames;
    double speed = bb_node_clock_speed();
    while (block * 2 <= NODE_AUDIO_MAX_BUFFER && block < cfg->buffer_frames * speed)
        block *= 2;
    s->block = block;
    s->in = calloc((size_t)block * s->channels, sizeof(float));
    s->out = calloc((size_t)block * s->channels, sizeof(float));
    if (!s->in || !s->out) {
        free(s->in);
        free(s->out);
        free(s);
        return BB_ENOMEM;
    }
    atomic_init(&s->running, false);
    atomic_init(&s->failed, false);
    *stream = s;
    return 0;
}

static void *s_hardware(void *arg)
{
    node_audio_stream_t *s = arg;
    const int64_t origin =
        bb_node_clock_ns() + (int64_t)(atomic_load(&s_start_delay_s) * BB_NS_PER_S);
    uint64_t frame = 0;
    while (atomic_load(&s->running)) {
        int64_t first_ns = origin + (int64_t)((double)frame * BB_NS_PER_S / s->rate);
        int64_t end_ns = origin + (int64_t)((double)(frame + s->block) * BB_NS_PER_S / s->rate);
        bb_node_clock_sleep_until(end_ns);
        if (!atomic_load(&s->running))
            break;
        if (s_unplugged(end_ns)) { /* gone: silence until the node stops us */
            while (atomic_load(&s->running))
                bb_sleep_ms(5);
            break;
        }
        node_sim_render(s->sim, s->in, s->block, frame, first_ns);
        s->cb(s->user, s->in, s->monitor ? s->out : NULL, s->block, first_ns, 0);
        frame += s->block;
    }
    return NULL;
}

static int s_start(node_audio_stream_t *s, char *err, size_t errlen)
{
    double after = atomic_load(&s_loss_after_s);
    if (after > 0 && atomic_load(&s_lost_at) == 0) { /* the first start arms the unplug */
        int64_t at = bb_node_clock_ns() + (int64_t)(after * BB_NS_PER_S);
        atomic_store(&s_back_at, at + (int64_t)(atomic_load(&s_loss_for_s) * BB_NS_PER_S));
        atomic_store(&s_lost_at, at);
    }
    atomic_store(&s->running, true);
    if (pthread_create(&s->thread, NULL, s_hardware, s) != 0) {
        atomic_store(&s->running, false);
        snprintf(err, errlen, "cannot start the simulated interface's thread");
        return BB_EIO;
    }
    s->thread_started = true;
    return 0;
}

static int s_stop(node_audio_stream_t *s)
{
    atomic_store(&s->running, false);
    if (s->thread_started) {
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
    return 0;
}

static bool s_healthy(node_audio_stream_t *s)
{
    return !atomic_load(&s->failed);
}

static void s_close(node_audio_stream_t *s)
{
    if (!s)
        return;
    s_stop(s);
    free(s->in);
    free(s->out);
    free(s);
}

const node_audio_backend_t *node_audio_virtual_backend(void)
{
    static const node_audio_backend_t backend = {
        .name = "virtual",
        .list_devices = s_list,
        .open = s_open,
        .start = s_start,
        .stop = s_stop,
        .healthy = s_healthy,
        .close = s_close,
    };
    return &backend;
}
