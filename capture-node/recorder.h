/*
 * recorder.h — the recorder thread of a capture node.
 *
 * It drains the capture rings, keeps a history of recent audio (so a take's pre-roll is
 * real audio from before its note-on), runs the queued take jobs one after another, and
 * writes each take to the spool:
 *
 *   job queued -> waits for quiet (below), then note-on/off posted to the MIDI thread at
 *                 absolute deadlines
 *   note-on sent at t  -> note-on frame = frame_at(t) + latency offset; the take starts
 *                         pre-roll frames earlier, copied from the history
 *   note-off sent      -> note-off frame likewise; the release begins
 *   release            -> adaptive: ends once the envelope (10 ms RMS windows, loudest
 *                         channel) has stayed within `release_floor_db` of the noise
 *                         floor measured on the pre-roll for 50 ms; or at the plan's
 *                         maximum release; fixed: always the maximum
 *   end                -> spool commit, then a "TAKE <id>" message to the link actor
 *
 *   before    -> the instrument must be silent first: the note-on waits until the input
 *                has averaged within NODE_REC_QUIET_MARGIN_DB of the instrument's noise
 *                floor for NODE_REC_QUIET_SPAN_MS (recorder_pass.h), at most the job's
 *                quiet_wait_ms; the pre-roll starts there at the earliest, and the take
 *                reports how long it waited and whether the wait ran out
 *
 * frame_at(t) maps the node clock to the stream's frame count from the block records the
 * callback wrote (first frame, capture time): the newest block captured at or before t,
 * advanced by (t - its capture time) * rate. When the instrument is already silent where
 * the previous take ended, the next take's note-on is placed one pre-roll after that end,
 * so takes follow each other with no idle gap. No take is placed before the stream has
 * delivered audio, and no pre-roll reaches back before its first frame.
 *
 * Several instruments on one interface: a job may name the input channels it records
 * (TakeJob.inputs, mixed to mono with sum) and a MIDI output port. Jobs with the same
 * inputs and port form a lane that plays one take after another with its own noise
 * floor and settling; lanes on disjoint inputs record at the same time from the one
 * stream. A lane that records some of the channels keeps its own history of just those
 * (mixed, for sum), so a take holds only its instrument's channels.
 */
#ifndef NODE_RECORDER_H
#define NODE_RECORDER_H

#include <stdint.h>

#include "capture_rt.h"
#include "midi_sched.h"
#include "node.pb-c.h"
#include "spool.h"

#define NODE_RECORDER_QUEUE_MAX 16

typedef struct {
    node_capture_t *cap;
    node_midi_sched_t *midi;
    node_spool_t *spool;
    const char *node_name;
    const char *notify_endpoint; /* inproc endpoint the link actor's PULL socket binds */
    uint32_t history_frames;     /* power of two */
    double latency_offset_ms;
    /* The MIDI scheduler of a named output port (a job's midi_port), opened on first use
     * and owned by the caller, who destroys it after the recorder; NULL with err when
     * there is no such port. Called on the recorder thread. NULL: only the default port
     * (`midi`) exists. */
    node_midi_sched_t *(*midi_port)(void *arg, const char *port, char *err, size_t errlen);
    void *midi_port_arg;
} node_recorder_config_t;

#define NODE_REC_LANES_MAX 8 /* instruments recording at once on one node */

typedef struct node_recorder_t node_recorder_t;

node_recorder_t *node_recorder_new(const node_recorder_config_t *cfg);
void node_recorder_destroy(node_recorder_t **self_p);

/* Queues a job (copied). Returns the number queued, or BB_EBUSY when the queue is full,
 * BB_EINVAL when the job is not playable (its MIDI values, or inputs this node does not
 * record). */
int node_recorder_submit(node_recorder_t *self, const Bb__TakeJob *job, char *err, size_t errlen);
/* The audio device is gone (audio_watch.h): fails the current take and hands back every
 * queued job, each with the reason "audio device lost: <why>", and starts no take (and
 * accepts no job: BB_EUNAVAIL) until node_recorder_device_back(). Takes already recorded
 * stay in the spool. Any thread. */
void node_recorder_device_lost(node_recorder_t *self, const char *why);
/* The device is back: takes start again, their pre-roll from audio after its return. */
void node_recorder_device_back(node_recorder_t *self);

/* Aborts the current takes and drops queued jobs of `batch_id` (0 = all); returns how many
 * were dropped. */
int node_recorder_abort(node_recorder_t *self, uint64_t batch_id);
/* Drops the queued jobs of `batch_id` (0 = all) and leaves the current take to play out
 * (a pause); *ids gets their take ids (malloc'd, each too). 0 or BB_ENOMEM. */
int node_recorder_withdraw(node_recorder_t *self, uint64_t batch_id, char ***ids, size_t *n);
/* Jobs queued or recording. */
uint32_t node_recorder_busy(node_recorder_t *self);
/* Overflows seen since the node started. */
uint64_t node_recorder_xruns(node_recorder_t *self);
void node_recorder_set_latency_offset(node_recorder_t *self, double ms);
double node_recorder_latency_offset(node_recorder_t *self);

/* Bytes of take data per TakeChunk message. */
#define NODE_CHUNK_BYTES (64 * 1024)

#endif
