/*
 * audio_watch.h — keeps a capture node's audio stream alive.
 *
 * It opens and starts the stream, then watches it from the node's main thread: the
 * backend's healthy() (the stream reported an error) and a watchdog on the callback's
 * frame counter (no audio for silence_ms: a USB interface pulled out, a JACK server gone,
 * a driver that stopped calling). When the device is lost it says so in the log, tells
 * the recorder (the take being recorded fails and the queued jobs go back to the
 * coordinator, all with the reason "audio device lost: ..."), reports NODE_DEVICE_LOST
 * with that reason in heartbeats, closes the stream, and reopens it with exponential
 * backoff (retry_min_ms doubling to retry_max_ms) until the device is back; then takes
 * run again. The capture state (rings, frame count) is kept across a reopen: the stream
 * frame count goes on and the recorder's time map sees the jump in time.
 *
 * Some libraries cannot reopen in the same process (backend needs_restart(): PortAudio's
 * JACK host API after its server died); then node_audio_watch_restart_needed() turns
 * true and the node restarts itself with wait_for_device, which starts in the lost state
 * (retrying) instead of failing when the device is not there yet.
 */
#ifndef NODE_AUDIO_WATCH_H
#define NODE_AUDIO_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"
#include "capture_rt.h"
#include "recorder.h"

typedef struct {
    const node_audio_backend_t *backend;
    const node_audio_config_t *audio; /* copied, strings included */
    node_capture_t *cap;
    node_recorder_t *recorder; /* may be NULL */
    int silence_ms; /* watchdog (0: 500 ms, 2000 ms for the virtual interface); raised to 8
                       buffers when that is longer */
    int retry_min_ms, retry_max_ms;
    bool wait_for_device; /* a device missing at the start is "lost", not an error */
} node_audio_watch_config_t;
#define NODE_AUDIO_WATCH_CONFIG_INIT                                                               \
    {                                                                                              \
        .backend = NULL, .audio = NULL, .cap = NULL, .recorder = NULL, .silence_ms = 0,            \
        .retry_min_ms = 250, .retry_max_ms = 8000, .wait_for_device = false                        \
    }

typedef struct node_audio_watch_t node_audio_watch_t;

/* Opens and starts the stream; NULL with a message a person can act on when it cannot. */
node_audio_watch_t *node_audio_watch_new(const node_audio_watch_config_t *cfg, char *err,
                                         size_t errlen);
/* Stops and closes the stream. NULLs *self_p. */
void node_audio_watch_destroy(node_audio_watch_t **self_p);
/* Checks the stream, or retries opening it when due. Call from one thread every few ms. */
void node_audio_watch_poll(node_audio_watch_t *self);
/* For heartbeats (node_link_config_t.device_state), any thread: a Bb__NodeState,
 * NODE_DEVICE_LOST with the reason in `message` while the device is gone, else NODE_IDLE. */
int node_audio_watch_state(void *self, char *message, size_t len);
/* True when the device can only be reopened by a new process (see above). */
bool node_audio_watch_restart_needed(node_audio_watch_t *self);
/* How many times the device was lost / came back since the node started. */
uint64_t node_audio_watch_losses(node_audio_watch_t *self);
uint64_t node_audio_watch_recoveries(node_audio_watch_t *self);

#endif
