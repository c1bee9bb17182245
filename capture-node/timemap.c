/*
 * timemap.c — see timemap.h. Index 0 is the oldest block kept, n - 1 the newest.
 */
#include "timemap.h"

#include <math.h>
#include <string.h>

#include "bb_clock.h"

static int s_slot(const node_timemap_t *map, int i)
{
    return (map->head - map->n + i + 2 * NODE_TIMEMAP_BLOCKS) % NODE_TIMEMAP_BLOCKS;
}

void node_timemap_init(node_timemap_t *map, uint32_t rate)
{
    memset(map, 0, sizeof *map);
    map->rate = rate;
}

bool node_timemap_empty(const node_timemap_t *map)
{
    return map->n == 0;
}

void node_timemap_add(node_timemap_t *map, const node_block_t *b)
{
    if (b->flags & NODE_AUDIO_UNTIMED) /* no time to learn from; the gap breaks the stretch */
        return;
    int64_t origin =
        b->adc_ns - (int64_t)llround((double)b->frame * BB_NS_PER_S / (double)map->rate);
    bool brk = map->n == 0;
    if (!brk) {
        int prev = s_slot(map, map->n - 1);
        const node_block_t *p = &map->blocks[prev];
        int64_t jump = origin - map->origin[prev];
        brk = (p->flags & NODE_CAPTURE_RING_FULL) || (b->flags & NODE_AUDIO_INPUT_OVERFLOW) ||
              jump > NODE_TIMEMAP_BREAK_NS || jump < -NODE_TIMEMAP_BREAK_NS ||
              b->frame != p->frame + p->frames;
    }
    map->blocks[map->head] = *b;
    map->origin[map->head] = origin;
    map->breaks[map->head] = brk;
    map->head = (map->head + 1) % NODE_TIMEMAP_BLOCKS;
    if (map->n < NODE_TIMEMAP_BLOCKS)
        map->n++;
}

/* The origin of the unbroken stretch holding block i: nearly its smallest (the
 * NODE_TIMEMAP_RANK-th smallest per 64 blocks, so a rare stamp that came out early cannot
 * pull every note with it). */
static int64_t s_stretch_origin(const node_timemap_t *map, int i)
{
    int lo = i, hi = i;
    while (lo > 0 && !map->breaks[s_slot(map, lo)])
        lo--;
    while (hi + 1 < map->n && !map->breaks[s_slot(map, hi + 1)])
        hi++;
    int64_t sorted[NODE_TIMEMAP_BLOCKS];
    int n = 0;
    for (int k = lo; k <= hi; k++) { /* insertion sort: at most 64, called per MIDI report */
        int64_t v = map->origin[s_slot(map, k)];
        int at = n++;
        while (at > 0 && sorted[at - 1] > v) {
            sorted[at] = sorted[at - 1];
            at--;
        }
        sorted[at] = v;
    }
    return sorted[n * NODE_TIMEMAP_RANK / NODE_TIMEMAP_BLOCKS];
}

int64_t node_timemap_frame_at(const node_timemap_t *map, int64_t t)
{
    int i = map->n - 1;
    while (i > 0 && map->blocks[s_slot(map, i)].adc_ns > t)
        i--;
    int64_t origin = s_stretch_origin(map, i);
    return (int64_t)llround((double)(t - origin) * map->rate / (double)BB_NS_PER_S);
}

int64_t node_timemap_time_at(const node_timemap_t *map, int64_t frame)
{
    int64_t origin = s_stretch_origin(map, map->n - 1);
    return origin + (int64_t)llround((double)frame * BB_NS_PER_S / (double)map->rate);
}
