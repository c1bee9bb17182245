/*
 * export_map.h — the canonical mapping: which sample plays for which key, velocity and
 * round-robin step, and at what gain for each velocity. Every format Batcherbird writes
 * (SFZ, DecentSampler, SoundFont 2, Bitwig .multisample, the manifest) is written from
 * one built map, so the formats cannot disagree.
 *
 * Keys: every key from the lowest to the highest mapped key plays exactly one sample per
 * round-robin step, no gaps, no overlaps. The outer samples stretch to the keyboard's
 * ends by default (Akai's auto sampler calls it Extend): `full` (keys 0-127), `octave`
 * (12 keys beyond), `none` (their own key only), or explicit keys (e.g. 21-108).
 *
 * Unpitched instruments (drums, noises: the plan's `unpitched`): every sample plays on its
 * own key only (lokey = hikey = note, whatever the extend and mode), at its recorded pitch
 * (no transposition) and as a one-shot; the writers say how in their formats.
 *
 * Velocities: layers are worked out per note from the velocities that note really has,
 * so a failed take leaves no hole (its neighbour layer stretches over it). A layer
 * recorded at velocity V covers (previous layer's V, V]; the top layer reaches 127.
 *
 * Gain against velocity (the velocity curve): the dynamics are in the recordings, so the
 * player must add none on top. Each sample gets points (velocity, gain dB); between two
 * points the gain is interpolated linearly in amplitude, which is what an SFZ player does
 * with amp_velcurve_N (the SFZ v1 opcode's definition: points of amplitude 0..1, linear
 * between them) and what DecentSampler's ampVelTrack does within a piece (gain
 * 1 - t (1 - v/127)). SoundFont 2 can only hold lines in dB, so its writer cuts the curve
 * into pieces short enough to stay within 0.1 dB of it (dsp_map_segments_db); every
 * format then plays the same level at every velocity. The points:
 *   - at its own recorded velocity: 0 dB (it plays at its recorded level);
 *   - at the previous layer's velocity: that layer's level relative to this sample's
 *     (never above 0 dB), so between two recorded velocities the level moves from one
 *     recorded level to the next and a layer boundary changes the level only by what the
 *     instrument did;
 *   - above the top layer's velocity: 0 dB (nothing louder than recorded is invented);
 *   - below the lowest layer's velocity V0 (and so for a one-layer instrument): amplitude
 *     in proportion to velocity, gain = v / V0 (-6 dB at half the velocity; for V0 = 127
 *     the law of DecentSampler's ampVelTrack=1 and a straight SFZ amp_velcurve), with
 *     a point at every halving of V0.
 * Levels are the samples' peak levels as exported (one gain per instrument keeps the
 * recorded ratios; other normalisations flatten them, and the curve follows the files).
 * Release samples are mapped among themselves, the same way.
 */
#ifndef DSP_EXPORT_MAP_H
#define DSP_EXPORT_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "bb_notes.h"

typedef enum {
    DSP_MAP_CENTRED = 0, /* each sample reaches halfway to its neighbours */
    DSP_MAP_UPWARD = 1   /* each sample covers its note up to the next sampled one */
} dsp_map_mode_t;

typedef enum {
    DSP_EXTEND_FULL = 0, /* outer samples reach keys 0 and 127 (default) */
    DSP_EXTEND_OCTAVE,   /* up to 12 keys beyond the outer samples */
    DSP_EXTEND_NONE,     /* the outer samples play on their own key (and, centred, up to
                            halfway to their neighbour) only */
    DSP_EXTEND_KEYS      /* to key_lo and key_hi */
} dsp_extend_t;

typedef struct {
    dsp_map_mode_t mode;
    dsp_extend_t extend;
    int key_lo, key_hi; /* DSP_EXTEND_KEYS: the keyboard's ends, 0 <= key_lo <= key_hi <= 127 */
    bool unpitched;     /* each sample on its own key, untransposed, one-shot */
} dsp_map_config_t;
#define DSP_MAP_CONFIG_INIT                                                                        \
    {                                                                                              \
        .mode = DSP_MAP_CENTRED, .extend = DSP_EXTEND_FULL, .key_lo = 0, .key_hi = 127,            \
        .unpitched = false                                                                         \
    }

#define DSP_VEL_POINTS_MAX 10
#define DSP_OCTAVE_KEYS    12

/* One point of a velocity curve. */
typedef struct {
    int velocity;   /* 1..127 */
    double gain_db; /* gain the player applies at this velocity, <= 0 */
} dsp_vel_point_t;

typedef struct {
    /* set by the caller */
    int note, velocity, rr;
    bool release;
    double level_db; /* the sample's peak level, dBFS (non-finite: unknown, treated as equal) */
    /* filled in */
    int lokey, hikey, lovel, hivel;
    int seq_position, seq_length; /* 1-based position among this cell's round robins */
    int n_points;                 /* velocity curve, ascending velocity, >= 2 */
    dsp_vel_point_t points[DSP_VEL_POINTS_MAX];
} dsp_map_entry_t;

/* Fills the ranges, round-robin positions and velocity curves of `n` entries (release
 * entries among themselves). Returns 0, or BB_EINVAL for a NULL array or a bad config. */
int dsp_map_build(dsp_map_entry_t *e, size_t n, const dsp_map_config_t *cfg);

/* The gain in dB at `velocity` on an entry's curve, interpolated linearly in amplitude
 * between its points (as SFZ amp_velcurve_N does); 0 outside them. */
double dsp_map_gain_db(const dsp_map_entry_t *e, int velocity);

/* One straight piece of a velocity curve, clipped to the entry's velocity range: the
 * velocities lovel..hivel play between the points (v0, g0) and (v1, g1) (v0 may lie
 * below lovel: the previous layer's velocity). Formats that cannot hold the points
 * (SoundFont 2, DecentSampler) write one zone per piece. */
typedef struct {
    int lovel, hivel;
    int v0, v1;
    double g0, g1; /* dB */
} dsp_vel_segment_t;

/* The pieces of e's curve over [e->lovel, e->hivel], in ascending order; returns how many
 * (at most DSP_VEL_POINTS_MAX - 1, at least 1). */
int dsp_map_segments(const dsp_map_entry_t *e, dsp_vel_segment_t *out);

/* The pieces of e's curve over [e->lovel, e->hivel] for a format whose zones can only
 * hold a straight line in dB (SoundFont 2's linear velocity modulators on attenuation):
 * each piece runs from (lovel, g0) to (hivel, g1) with v0 = lovel, v1 = hivel and the
 * gains dsp_map_gain_db gives there, split wherever the line in dB would stray more than
 * `tol_db` from the curve (interpolated in amplitude) at any velocity in between. `out`
 * holds at least DSP_VEL_SEGMENTS_DB_MAX pieces; returns how many (at least 1). */
#define DSP_VEL_SEGMENTS_DB_MAX 127
int dsp_map_segments_db(const dsp_map_entry_t *e, double tol_db, dsp_vel_segment_t *out);

/* Parses an --extend value: "full", "octave", "none", or a key range "LO:HI" of MIDI
 * numbers or note names under `conv` ("21:108", "A-1:C7"), as bb_note_range_parse reads
 * it. Returns 0, or BB_EINVAL with a message. */
int dsp_map_extend_parse(const char *text, bb_note_convention_t conv, dsp_map_config_t *cfg,
                         char *err, size_t errlen);

/* "full", "octave", "none" or "LO:HI" (MIDI numbers), for records and messages. */
void dsp_map_extend_name(const dsp_map_config_t *cfg, char *out, size_t len);

#endif
