/*
 * meter.h — input level meters of a capture node: per channel, the peak since the last
 * report, the RMS of the last 10 ms, a peak hold over the last NODE_METER_HOLD_MS, and
 * the count of samples at full scale.
 *
 * The capture callback does the per-sample work (capture_rt.h); node_meter_update(), run
 * by the node's main thread at NODE_METER_HZ, takes the callback's unread peaks and its
 * latest RMS and keeps the hold; node_meter_report() hands the result to heartbeats (any
 * thread) and starts a new "peak since the last report".
 */
#ifndef NODE_METER_H
#define NODE_METER_H

#include <pthread.h>
#include <stdint.h>

#include "capture_rt.h"
#include "node.pb-c.h"

#define NODE_METER_HZ       50
#define NODE_METER_HOLD_MS  2000
#define NODE_METER_FLOOR_DB (-150.0f) /* what silence reads as */

typedef struct {
    node_capture_t *cap;
    uint32_t channels;
    pthread_mutex_t lock;
    float peak[NODE_MAX_CHANNELS]; /* linear, since the last report */
    float rms[NODE_MAX_CHANNELS];
    float hold[NODE_MAX_CHANNELS];
    int64_t hold_at[NODE_MAX_CHANNELS]; /* when the hold was set, CLOCK_MONOTONIC ns */
    Bb__ChannelMeter out[NODE_MAX_CHANNELS];
    Bb__ChannelMeter *out_p[NODE_MAX_CHANNELS];
} node_meter_t;

void node_meter_init(node_meter_t *m, node_capture_t *cap);
void node_meter_destroy(node_meter_t *m);
/* Takes the newest levels from the capture state; call at NODE_METER_HZ. */
void node_meter_update(node_meter_t *m, int64_t now_ns);
/* Fills `req` (meters, n_meters) from the latest levels, pointing into `m`: valid until the
 * next report. Resets the peak since the last report. One caller (the link's heartbeat). */
void node_meter_report(node_meter_t *m, Bb__HeartbeatRequest *req);
/* The same without resetting the peak: for a second, slower reader (heartbeats, while the
 * 10 Hz meter stream is the one that reports). */
void node_meter_snapshot(node_meter_t *m, Bb__HeartbeatRequest *req);

#endif
