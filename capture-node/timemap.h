/*
 * timemap.h — node-clock time <-> stream frame, from the block records the capture
 * callback writes (first frame, capture time of that frame).
 *
 * Each record implies a stream origin: the node-clock time frame 0 would have been
 * captured at if the stream had run unbroken at its nominal rate,
 *     origin = adc_ns - frame * 1e9 / rate.
 * A device's stamps are exact or late, never early: a callback that runs late (JACK
 * stamps "now" in the cycle, ALSA reads its status a little after the period) carries a
 * later stamp for the same frame. So within a stretch of unbroken stream the best
 * estimate of the origin is the *smallest* one seen (the minimum filter NTP uses on
 * round-trip delays; here nearly the smallest, NODE_TIMEMAP_RANK in 64, in case a stamp
 * ever comes out early), and
 *     frame_at(t) = round((t - origin) * rate / 1e9).
 * A stream is broken where frames were lost (a block flagged with an overflow or a full
 * ring) or where the origin jumps by more than NODE_TIMEMAP_BREAK_NS (the device was
 * reopened, or dropped input without saying so); the origin of a time is then taken from
 * the stretch that holds the newest block captured at or before it. Over the
 * NODE_TIMEMAP_BLOCKS kept (~0.3 s at 256 frames) clock drift is a few microseconds.
 * Blocks flagged NODE_AUDIO_UNTIMED (a stream whose clock mapping is not settled yet)
 * are left out.
 *
 * Used by the recorder thread only; no locking.
 */
#ifndef NODE_TIMEMAP_H
#define NODE_TIMEMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "capture_rt.h"

#define NODE_TIMEMAP_BLOCKS   64
#define NODE_TIMEMAP_BREAK_NS (20 * 1000000LL)
#define NODE_TIMEMAP_RANK     3 /* per NODE_TIMEMAP_BLOCKS: the 4th smallest of 64 */

typedef struct {
    node_block_t blocks[NODE_TIMEMAP_BLOCKS]; /* circular, oldest first from head - n */
    int64_t origin[NODE_TIMEMAP_BLOCKS];      /* per block */
    bool breaks[NODE_TIMEMAP_BLOCKS];         /* the stream is broken just before this block */
    int n, head;
    uint32_t rate;
} node_timemap_t;

void node_timemap_init(node_timemap_t *map, uint32_t rate);
/* Adds the next block record, in stream order. */
void node_timemap_add(node_timemap_t *map, const node_block_t *block);
bool node_timemap_empty(const node_timemap_t *map);
/* The stream frame captured at node-clock time t. Undefined when empty. */
int64_t node_timemap_frame_at(const node_timemap_t *map, int64_t t);
/* The node-clock time stream frame `frame` is (or was) captured at, from the newest stretch.
 * Undefined when empty. */
int64_t node_timemap_time_at(const node_timemap_t *map, int64_t frame);

#endif
