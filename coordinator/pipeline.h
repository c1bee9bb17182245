/*
 * pipeline.h — per-take processing: measure a raw take and decide where the sample is.
 *
 * Input is the raw take (interleaved float, pre-roll included) and the frames where the
 * note-on and note-off were sent. Output is a coord_analysis_t: the cut points, the fade
 * lengths, the measurements and a verdict with reasons. The pipeline never changes the
 * audio itself; export applies the cut, fades and gain.
 */
#ifndef COORD_PIPELINE_H
#define COORD_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COORD_MAX_CHANNELS 8

enum { COORD_PASS = 0, COORD_WARN = 1, COORD_FAIL = 2 };

typedef struct {
    double onset_above_noise_db; /* the attack is where the level first rises this far */
    double end_above_noise_db;   /* the tail ends where it stays below this */
    double pre_attack_ms;        /* kept before the onset (fade-in over it) */
    double fade_out_ms;
    double silence_snr_db; /* below this peak-over-noise the take is silent: fail */
} coord_pipeline_config_t;
#define COORD_PIPELINE_CONFIG_INIT                                                                 \
    {                                                                                              \
        15.0, 6.0, 0.0, 10.0, 20.0                                                                 \
    }

typedef struct {
    int64_t onset;       /* frame where the attack begins */
    int64_t release_end; /* frame where the tail has decayed into the floor */
    int64_t cut_start;   /* the sample is [cut_start, cut_end) of the raw take */
    int64_t cut_end;
    int64_t fade_in; /* frames */
    int64_t fade_out;
    double noise_db; /* dBFS RMS, loudest channel, from the pre-roll */
    double peak_db;  /* dBFS, inside the cut */
    double rms_db;
    double snr_db;     /* peak RMS over a 50 ms window against the noise floor */
    double duration_s; /* of the cut */
    int verdict;       /* COORD_PASS / WARN / FAIL */
    char reasons[512]; /* "; "-separated, empty when clean */
} coord_analysis_t;

/* Analyses one raw take. Returns 0, or BB_EINVAL when the input is unusable
 * (no frames, note-on outside the take). */
int coord_analyze(const float *audio, int64_t frames, int channels, int rate, int64_t note_on,
                  int64_t note_off, const coord_pipeline_config_t *cfg, coord_analysis_t *out);

/* The analysis as a JSON object (for the database and the manifest); malloc'd. */
char *coord_analysis_json(const coord_analysis_t *a);
/* Reads back what coord_analysis_json wrote. */
int coord_analysis_from_json(const char *json, coord_analysis_t *a);

#endif
