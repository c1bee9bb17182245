/*
 * export.h — turn an instrument's analysed takes into a sampler library.
 *
 * For each usable take: read the raw take, cut it where the analysis says, apply the
 * fades and the normalisation gain, write it in the export format with a file name
 * samplers auto-map; then write the instrument files (SFZ) that map every sample.
 * Takes whose verdict is FAIL are never exported; they are listed in the result.
 *
 * Layout: <out_dir>/<Instrument>/<Instrument>.sfz and <out_dir>/<Instrument>/samples/.
 */
#ifndef COORD_EXPORT_H
#define COORD_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "bb_notes.h"
#include "export_map.h"
#include "pipeline.h"

typedef enum {
    COORD_NORM_INSTRUMENT = 0, /* one gain for the whole instrument (default) */
    COORD_NORM_VELOCITY,       /* one gain per velocity layer */
    COORD_NORM_SAMPLE,         /* every sample to the target */
    COORD_NORM_NONE
} coord_norm_mode_t;

typedef struct {
    const char *out_dir;
    int bit_depth;         /* 16, 24, 32 (float) */
    bool flac;             /* FLAC instead of WAV (16 or 24 bit) */
    double peak_target_db; /* default -1 */
    coord_norm_mode_t normalise;
    bb_note_convention_t notes; /* for file names */
    coord_map_mode_t map_mode;
    int edge_low, edge_high; /* -1 = automatic */
} coord_export_config_t;
#define COORD_EXPORT_CONFIG_INIT                                                                   \
    {                                                                                              \
        NULL, 24, false, -1.0, COORD_NORM_INSTRUMENT, BB_NOTES_C3_IS_60, COORD_MAP_CENTRED, -1, -1 \
    }

typedef struct {
    const char *take_id;
    const char *path; /* raw take audio */
    int note, velocity, rr;
    bool release;
    coord_analysis_t analysis;
} coord_export_take_t;

typedef struct {
    char dir[1024]; /* the instrument's folder */
    char sfz[1024];
    int files;      /* samples written */
    int skipped;    /* failed takes not exported */
    double gain_db; /* instrument gain (COORD_NORM_INSTRUMENT) */
} coord_export_result_t;

/* Exports one instrument. Returns 0, or an error with a message naming the file. */
int coord_export_instrument(const coord_export_config_t *cfg, const char *instrument,
                            coord_export_take_t *takes, size_t n, coord_export_result_t *res,
                            char *err, size_t errlen);

/* The file name (without extension) of a sample: Instrument_C3_060_v127_rr1[_rel]. */
void coord_export_sample_name(const char *safe_instrument, int note, int velocity, int rr,
                              bool release, bb_note_convention_t conv, char *out, size_t len);

/* Writes interleaved float audio as WAV (16/24-bit PCM or 32-bit float) or FLAC. */
int coord_export_write_audio(const char *path, const float *x, int64_t frames, int channels,
                             int rate, int bit_depth, bool flac, char *err, size_t errlen);

/* Writes the SFZ for samples already mapped (entries[i] goes with files[i], relative to
 * the .sfz). */
int coord_export_write_sfz(const char *path, const char *instrument,
                           const coord_map_entry_t *entries, const char *const *files, size_t n,
                           char *err, size_t errlen);

#endif
