/*
 * export_map.h — key and velocity mapping shared by the SFZ and DecentSampler writers.
 *
 * Given the samples an instrument has (note, velocity, round robin), give each a key
 * range, a velocity range and a round-robin position so that every key from the lowest
 * to the highest mapped key and every velocity 1-127 plays exactly one sample per
 * round-robin step: no gaps, no overlaps. Velocity layers are worked out per note from
 * the velocities that note really has, so a failed take leaves no hole: its neighbour
 * layer stretches over it. A note with no samples at all is covered by its neighbours.
 */
#ifndef DSP_EXPORT_MAP_H
#define DSP_EXPORT_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    DSP_MAP_CENTRED = 0, /* each sample reaches halfway to its neighbours */
    DSP_MAP_UPWARD = 1   /* each sample covers its note up to the next sampled one */
} dsp_map_mode_t;

typedef struct {
    /* set by the caller */
    int note, velocity, rr;
    bool release;
    /* filled in */
    int lokey, hikey, lovel, hivel;
    int seq_position, seq_length; /* 1-based position among this cell's round robins */
} dsp_map_entry_t;

/* Fills the ranges. `edge_low` / `edge_high`: keys to extend below the lowest and above
 * the highest sampled note (-1 = half the average gap between sampled notes). Release
 * samples are mapped among themselves, the same way. Returns 0 or BB_EINVAL. */
int dsp_map_build(dsp_map_entry_t *e, size_t n, dsp_map_mode_t mode, int edge_low, int edge_high);

#endif
