/*
 * audio_watch.c — see audio_watch.h. Runs on the node's main thread, never on the audio
 * thread; the state heartbeats read is under a mutex.
 */
#include "audio_watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"
#include "node.pb-c.h"

#define WATCH_REASON_MAX         256
#define WATCH_BUFFERS            8    /* the watchdog never fires sooner than this many buffers */
#define WATCH_SILENCE_MS         500  /* default watchdog of a real device */
#define WATCH_VIRTUAL_SILENCE_MS 2000 /* and of the virtual interface */

struct node_audio_watch_t {
    const node_audio_backend_t *backend;
    node_audio_config_t audio;
    char device[NODE_DEVICE_NAME_MAX], monitor_device[NODE_DEVICE_NAME_MAX];
    node_capture_t *cap;
    node_recorder_t *recorder;
    node_audio_stream_t *stream;
    int64_t silence_ns;
    int retry_min_ms, retry_max_ms;

    /* main thread */
    uint64_t last_frames;
    int64_t last_progress_ns, lost_since_ns, retry_at_ns;
    int backoff_ms, attempts;
    bool restart_needed;
    char last_error[WATCH_REASON_MAX];

    /* read by heartbeats */
    pthread_mutex_t lock;
    bool lost;
    char reason[WATCH_REASON_MAX];
    _Atomic uint64_t losses, recoveries;
};

static const char *s_name(const node_audio_watch_t *self)
{
    return self->audio.device ? self->audio.device : "default";
}

static int s_open(node_audio_watch_t *self, char *err, size_t errlen)
{
    node_audio_stream_t *st = NULL;
    int rc =
        self->backend->open(&st, &self->audio, node_capture_rt_process, self->cap, err, errlen);
    if (rc)
        return rc;
    if ((rc = self->backend->start(st, err, errlen))) {
        self->backend->close(st);
        return rc;
    }
    self->stream = st;
    self->last_frames = atomic_load(&self->cap->frames_total);
    self->last_progress_ns = bb_mono_ns(); /* a first callback may take a moment */
    return 0;
}

static void s_lose(node_audio_watch_t *self, const char *why)
{
    bb_error("audio device lost: %s; reopening it with backoff", why);
    pthread_mutex_lock(&self->lock);
    self->lost = true;
    snprintf(self->reason, sizeof self->reason, "%s", why);
    pthread_mutex_unlock(&self->lock);
    atomic_fetch_add(&self->losses, 1);
    if (self->recorder)
        node_recorder_device_lost(self->recorder, why);
    if (self->stream) {
        self->backend->stop(self->stream);
        self->backend->close(self->stream);
        self->stream = NULL;
    }
    if (self->backend->needs_restart && self->backend->needs_restart()) {
        self->restart_needed = true;
        bb_warn("the audio library cannot reopen '%s' in this process: the node restarts",
                s_name(self));
    }
    self->lost_since_ns = bb_mono_ns();
    self->backoff_ms = self->retry_min_ms;
    self->retry_at_ns = self->lost_since_ns + (int64_t)self->backoff_ms * BB_NS_PER_MS;
    self->attempts = 0;
    self->last_error[0] = '\0';
}

static void s_retry(node_audio_watch_t *self)
{
    char err[WATCH_REASON_MAX] = "";
    self->attempts++;
    if (s_open(self, err, sizeof err) == 0) {
        bb_info("audio device '%s' is back after %.1f s (%d attempt%s); sampling resumes",
                s_name(self), (bb_mono_ns() - self->lost_since_ns) / 1e9, self->attempts,
                self->attempts == 1 ? "" : "s");
        pthread_mutex_lock(&self->lock);
        self->lost = false;
        self->reason[0] = '\0';
        pthread_mutex_unlock(&self->lock);
        atomic_fetch_add(&self->recoveries, 1);
        if (self->recorder)
            node_recorder_device_back(self->recorder);
        return;
    }
    if (strcmp(err, self->last_error) != 0) /* say each new reason once, not every retry */
        bb_warn("audio device '%s' still unavailable: %s", s_name(self), err);
    snprintf(self->last_error, sizeof self->last_error, "%s", err);
    self->backoff_ms =
        self->backoff_ms * 2 > self->retry_max_ms ? self->retry_max_ms : self->backoff_ms * 2;
    self->retry_at_ns = bb_mono_ns() + (int64_t)self->backoff_ms * BB_NS_PER_MS;
}

node_audio_watch_t *node_audio_watch_new(const node_audio_watch_config_t *cfg, char *err,
                                         size_t errlen)
{
    if (!cfg || !cfg->backend || !cfg->audio || !cfg->cap) {
        snprintf(err, errlen, "audio watch: incomplete configuration");
        return NULL;
    }
    node_audio_watch_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->backend = cfg->backend;
    self->audio = *cfg->audio;
    if (cfg->audio->device) {
        snprintf(self->device, sizeof self->device, "%s", cfg->audio->device);
        self->audio.device = self->device;
    }
    if (cfg->audio->monitor_device) {
        snprintf(self->monitor_device, sizeof self->monitor_device, "%s",
                 cfg->audio->monitor_device);
        self->audio.monitor_device = self->monitor_device;
    }
    self->cap = cfg->cap;
    self->recorder = cfg->recorder;
    int64_t buffers_ns =
        (int64_t)WATCH_BUFFERS * cfg->audio->buffer_frames * BB_NS_PER_S / cfg->audio->sample_rate;
    /* The virtual interface is a thread of this process: on a busy host (or under a
     * sanitizer) it can be starved for longer than a real device ever stays quiet, and
     * it is only ever "unplugged" by the simulated fault, which stops it for good. */
    int silence_ms = cfg->silence_ms > 0                          ? cfg->silence_ms
                     : strcmp(cfg->backend->name, "virtual") == 0 ? WATCH_VIRTUAL_SILENCE_MS
                                                                  : WATCH_SILENCE_MS;
    self->silence_ns = (int64_t)silence_ms * BB_NS_PER_MS;
    if (self->silence_ns < buffers_ns)
        self->silence_ns = buffers_ns;
    self->retry_min_ms = cfg->retry_min_ms > 0 ? cfg->retry_min_ms : 250;
    self->retry_max_ms =
        cfg->retry_max_ms >= self->retry_min_ms ? cfg->retry_max_ms : self->retry_min_ms;
    pthread_mutex_init(&self->lock, NULL);
    if (s_open(self, err, errlen)) {
        if (cfg->wait_for_device) {
            s_lose(self, err); /* heartbeats say why; poll() retries */
            return self;
        }
        pthread_mutex_destroy(&self->lock);
        free(self);
        return NULL;
    }
    return self;
}

void node_audio_watch_destroy(node_audio_watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    node_audio_watch_t *self = *self_p;
    if (self->stream) {
        self->backend->stop(self->stream);
        self->backend->close(self->stream);
    }
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void node_audio_watch_poll(node_audio_watch_t *self)
{
    int64_t now = bb_mono_ns();
    if (self->restart_needed)
        return;
    if (!self->stream) {
        if (now >= self->retry_at_ns)
            s_retry(self);
        return;
    }
    uint64_t frames = atomic_load(&self->cap->frames_total);
    if (frames != self->last_frames) {
        self->last_frames = frames;
        self->last_progress_ns = now;
    }
    char why[WATCH_REASON_MAX];
    if (!self->backend->healthy(self->stream)) {
        snprintf(why, sizeof why,
                 "the stream of '%s' stopped with an error (unplugged, or its "
                 "driver or JACK server stopped?)",
                 s_name(self));
        s_lose(self, why);
    } else if (now - self->last_progress_ns > self->silence_ns) {
        snprintf(why, sizeof why,
                 "no audio from '%s' for %.0f ms (unplugged, or its driver or "
                 "JACK server stopped?)",
                 s_name(self), (now - self->last_progress_ns) / 1e6);
        s_lose(self, why);
    }
}

int node_audio_watch_state(void *arg, char *message, size_t len)
{
    node_audio_watch_t *self = arg;
    pthread_mutex_lock(&self->lock);
    bool lost = self->lost;
    if (message && len)
        snprintf(message, len, "%s", lost ? self->reason : "");
    pthread_mutex_unlock(&self->lock);
    return lost ? BB__NODE_STATE__NODE_DEVICE_LOST : BB__NODE_STATE__NODE_IDLE;
}

bool node_audio_watch_restart_needed(node_audio_watch_t *self)
{
    return self->restart_needed;
}

uint64_t node_audio_watch_losses(node_audio_watch_t *self)
{
    return atomic_load(&self->losses);
}

uint64_t node_audio_watch_recoveries(node_audio_watch_t *self)
{
    return atomic_load(&self->recoveries);
}
