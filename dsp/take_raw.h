/*
 * take_raw.h — the raw take on disk: an audio file libsndfile reads (the coordinator
 * writes 32-bit float WAV) plus a JSON sidecar of the same base name.
 *
 * The sidecar's required fields are instrument, note, velocity, round_robin,
 * note_on_frame and note_off_frame (frames in that file where the note-on and note-off
 * were sent, latency offset already applied). sample_rate, channels and frames, when
 * present, describe the audio file and are checked against it by whoever reads both. Live batches
 * add what they know (take id, batch, node, stream position, noise floor, ...); `batcherbird
 * process` needs only the required ones, so takes from any recorder can be re-cut with the same
 * pipeline.
 */
#ifndef DSP_TAKE_RAW_H
#define DSP_TAKE_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bb_take_id.h"

typedef struct {
    char take_id[BB_TAKE_ID_MAX + 1];
    char instrument[128];
    char node[64];
    uint64_t batch_id;
    int inst_idx;
    int note, velocity, round_robin; /* round_robin is 1-based */
    bool release_trigger;
    int64_t note_on_frame, note_off_frame;
    int64_t frames;
    int sample_rate, channels;
    int64_t stream_start_frame;
    double start_unix;     /* wall clock (UTC, s since the epoch) of the first frame; 0 = unknown */
    bool has_keyup;        /* keyup_level_db was measured by the node */
    double keyup_level_db; /* the held note in the 10 ms before the note-off, dBFS */
    double latency_offset_ms;
    bool latency_calibrated; /* latency_offset_ms was measured by batcherbird calibrate */
    double noise_floor_db;   /* the node's floor (TakeEnd), dBFS; >= 0 (0 when absent): not known */
    int64_t xruns;
    bool release_capped;
    int attempt;
} dsp_raw_meta_t;

/* Writes the sidecar durably. */
int dsp_raw_write_sidecar(const char *path, const dsp_raw_meta_t *meta);
/* Reads a sidecar; BB_EINVAL with a message naming the field when something is missing
 * or out of range. Fields not in the file keep their zero value. */
int dsp_raw_read_sidecar(const char *path, dsp_raw_meta_t *meta, char *err, size_t errlen);

/* Reads a whole audio file as interleaved float: *audio is malloc'd. */
int dsp_raw_read_audio(const char *path, float **audio, int64_t *frames, int *channels, int *rate,
                       char *err, size_t errlen);
/* How many frames the audio file's header announces when its data is shorter (a truncated
 * copy: libsndfile reads what is there and logs the header's data size "(should be ...)"
 * for WAV, AIFF and W64); -1 when the data is all there or it cannot tell. */
int64_t dsp_raw_header_frames(const char *path);
/* The same into the caller's memory: *audio is `room` when the audio fits in its
 * room_bytes (frames x channels x sizeof(float)), else malloc'd (the caller frees it when
 * *audio != room). room NULL: always malloc'd. */
int dsp_raw_read_audio_to(float *room, size_t room_bytes, float **audio, int64_t *frames,
                          int *channels, int *rate, const char *path, char *err, size_t errlen);

#endif
