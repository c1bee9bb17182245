/*
 * capture_rt.h — the realtime side of capture: what the audio callback does.
 *
 * node_capture_t is initialised into caller-owned memory before the stream starts and
 * never allocates afterwards. The callback copies each block into the audio ring, writes
 * one block record (first frame index, capture time, flags) into the block ring, counts
 * overflows, accumulates meters and publishes them about every 10 ms through a seqlock
 * of atomics, keeps each channel's peak until the meter reader takes it and counts
 * samples at full scale, and copies input to output when monitoring. That is all it does.
 *
 * The recorder thread is the single consumer of both rings; node_capture_meters() may be
 * called from any one non-realtime thread.
 */
#ifndef NODE_CAPTURE_RT_H
#define NODE_CAPTURE_RT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "audio.h"
#include "ring.h"

/* One record per callback. */
typedef struct {
    uint64_t frame; /* stream index of the block's first frame */
    int64_t adc_ns; /* node-clock time that frame was captured */
    uint32_t frames;
    uint32_t flags; /* NODE_AUDIO_* from the backend, plus NODE_CAPTURE_RING_FULL */
} node_block_t;

enum { NODE_CAPTURE_RING_FULL = 0x100 };

#define NODE_CAPTURE_CLIP_LEVEL 0.99999f /* a sample this loud counts as clipped */

typedef struct {
    float peak[NODE_MAX_CHANNELS]; /* linear, since the previous publication */
    float rms[NODE_MAX_CHANNELS];
    uint32_t channels;
    uint64_t seq;
} node_meters_t;

typedef struct {
    node_ring_t audio;  /* frames of `channels` floats */
    node_ring_t blocks; /* node_block_t */
    uint32_t channels;
    uint32_t sample_rate;
    atomic_bool monitor;
    /* callback-private */
    uint64_t next_frame;
    float acc_peak[NODE_MAX_CHANNELS];
    double acc_sq[NODE_MAX_CHANNELS];
    uint32_t acc_frames;
    uint32_t publish_frames;
    /* published */
    _Atomic uint64_t frames_total;
    _Atomic uint64_t overflows;      /* blocks with an overflow (device or ring) */
    _Atomic uint64_t dropped_frames; /* frames lost because the ring was full */
    _Atomic uint64_t lost_blocks;    /* block records lost because the block ring was full
                                      * (each also counts as an overflow) */
    _Atomic int64_t last_callback_ns;
    _Atomic uint32_t meter_seq;
    _Atomic uint32_t meter_peak[NODE_MAX_CHANNELS]; /* float bits */
    _Atomic uint32_t meter_rms[NODE_MAX_CHANNELS];
    /* Peak since the reader last took it (float bits: for values >= 0 their order is the
     * floats' order, so the callback raises it with a compare-and-swap, and the reader
     * takes it with an exchange to 0), and samples at full scale, per channel. */
    _Atomic uint32_t peak_unread[NODE_MAX_CHANNELS];
    _Atomic uint64_t clipped[NODE_MAX_CHANNELS];
} node_capture_t;

/* Sets up `cap` over caller-owned ring storage. `audio_storage` holds `ring_frames` frames
 * (a power of two), `block_storage` `block_slots` node_block_t (a power of two). */
int node_capture_init(node_capture_t *cap, uint32_t channels, uint32_t sample_rate,
                      void *audio_storage, uint32_t ring_frames, void *block_storage,
                      uint32_t block_slots);

/* Writes every page of both rings' storage once, so the callback's first pass over them
 * takes no page faults (with the node's memory locked, they then stay resident). Call
 * after node_capture_init and before the stream starts; not realtime (the ring storage
 * is all zeros then, and stays so). */
void node_capture_prefault(node_capture_t *cap);

/* The audio callback (node_audio_cb). Realtime-safe. */
void node_capture_rt_process(void *user, const float *in, float *out, uint32_t frames,
                             int64_t adc_ns, uint32_t flags);

/* Reads the latest published meters (non-realtime side). */
void node_capture_meters(node_capture_t *cap, node_meters_t *out);
/* Takes the peak of each channel since the previous call (non-realtime side, one reader). */
void node_capture_take_peaks(node_capture_t *cap, float *peaks);

#endif
