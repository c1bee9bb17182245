/*
 * meter.h — input level meters of a capture node: per channel, the peak since the last
 * report, the RMS of the last 10 ms, a peak hold over the last NODE_METER_HOLD_MS, and
 * the count of samples at full scale.
 *
 * The capture callback does the per-sample work (capture_rt.h); node_meter_update(), run
 * by the node's main thread at NODE_METER_HZ, takes the callback's unread peaks and its
 * latest RMS and keeps the hold; node_meter_report() hands the result to the 10 Hz meter
 * stream (any thread) and starts a new "peak since the last report".
 *
 * A report takes the unread peaks itself too: "peak since the last report" is the audio's,
 * not the main loop's. When that loop ran late (a busy host), a report once found no
 * update since the previous one and said -150 dBFS, silence, while the input carried
 * -75 dBFS of noise (seen as a failing `batcherbird meter` reading in test_e2e). A report
 * with no audio at all since the previous one (the audio thread itself late) is not a
 * reading of silence either: it is left out, unless the audio has been away for
 * NODE_METER_STALE_MS (a stopped or lost device), when the floor goes out as it is.
 */
#ifndef NODE_METER_H
#define NODE_METER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "capture_rt.h"
#include "node.pb-c.h"

#define NODE_METER_HZ       50
#define NODE_METER_HOLD_MS  2000
#define NODE_METER_FLOOR_DB (-150.0f) /* what silence reads as */
#define NODE_METER_STALE_MS 1000      /* no audio this long: report what there is */

typedef struct {
    node_capture_t *cap;
    uint32_t channels;
    pthread_mutex_t lock;
    float peak[NODE_MAX_CHANNELS]; /* linear, since the last report */
    float rms[NODE_MAX_CHANNELS];
    float hold[NODE_MAX_CHANNELS];
    int64_t hold_at[NODE_MAX_CHANNELS]; /* when the hold was set, CLOCK_MONOTONIC ns */
    uint64_t report_frames;             /* the capture's frames_total at the last report */
    int64_t report_at;                  /* when the last report went out, CLOCK_MONOTONIC ns */
    Bb__ChannelMeter out[NODE_MAX_CHANNELS];
    Bb__ChannelMeter *out_p[NODE_MAX_CHANNELS];
} node_meter_t;

void node_meter_init(node_meter_t *m, node_capture_t *cap);
void node_meter_destroy(node_meter_t *m);
/* Takes the newest levels from the capture state; call at NODE_METER_HZ. */
void node_meter_update(node_meter_t *m, int64_t now_ns);
/* Takes the newest levels as node_meter_update does, then fills `req` (meters, n_meters)
 * from them, pointing into `m`: valid until the next report, and resets the peak since the
 * last report. Returns false, filling nothing, when no audio frame arrived since the last
 * report and that report is younger than NODE_METER_STALE_MS: there is no new reading.
 * now_ns: CLOCK_MONOTONIC (bb_mono_ns). One caller (the link's 10 Hz meter stream). */
bool node_meter_report(node_meter_t *m, Bb__HeartbeatRequest *req, int64_t now_ns);
/* The same without resetting the peak: for a second, slower reader (heartbeats, while the
 * 10 Hz meter stream is the one that reports). */
void node_meter_snapshot(node_meter_t *m, Bb__HeartbeatRequest *req);

#endif
