/*
 * recorder_pass.h — the recorder's passes over one take, apart from its thread so they
 * can be tested on synthetic audio.
 *
 * The recorder keeps the newest frames of the stream in a history ring indexed by
 * absolute stream frame (node_history_t). A take advances through three passes over it,
 * each with its own position in node_take_pass_t, so that the order in which audio and
 * MIDI reports arrive never matters:
 *
 *   noise    [start, on): the pre-roll's RMS per channel; the loudest channel is the
 *            take's noise floor, bounded by the room floor (node_room_floor_t)
 *   release  10 ms windows from the note-off: the take ends once NODE_REC_QUIET_MS of
 *            them sit within floor_db of the noise floor, or at end_limit (capped)
 *   spool    frames [start, end) handed to a writer in runs contiguous in the ring
 *   key-up   the 10 ms window before the note-off: the held note's level at the key-up
 *
 * Each pass does what the history holds so far and returns; call again when more audio
 * has arrived. Nothing here locks, allocates, logs or reads a clock.
 */
#ifndef NODE_RECORDER_PASS_H
#define NODE_RECORDER_PASS_H

#include <stdbool.h>
#include <stdint.h>

#include "audio.h"

#define NODE_REC_WINDOW_MS        10       /* envelope window of the release and settle scans */
#define NODE_REC_QUIET_MS         50       /* quiet this long in a row ends the release */
#define NODE_REC_MIN_FLOOR_DB     (-120.0) /* digital silence measures as this */
#define NODE_REC_FLOOR_CREEP_DB   1.0      /* dB per take the room floor may rise */
#define NODE_REC_RELEASE_FLOOR_DB 6.0      /* release_floor_db when the plan gives none */

/* The last `cap` frames of the stream, interleaved, at index (frame & mask). */
typedef struct {
    float *frames;
    uint64_t cap, mask; /* cap is a power of two, mask = cap - 1 */
    uint32_t channels;
    int64_t end; /* absolute frame one past the newest */
} node_history_t;

/* The quietest pre-roll seen, allowed to creep up slowly so a room that really got louder
 * is followed. A pre-roll that still holds the previous take's tail must not raise it. */
typedef struct {
    double db;
    bool known;
} node_room_floor_t;

/* One take's positions and measurements (absolute stream frames). */
typedef struct {
    int64_t start_frame, on_frame, off_frame;
    /* noise pass */
    int64_t noise_pos;
    double noise_sq[NODE_MAX_CHANNELS];
    uint64_t noise_n;
    double noise_half_sq[2]; /* all channels, first and second half of the pre-roll */
    double noise_db;
    bool noise_done; /* noise_db is final (the room floor is updated once per take) */
    /* release pass */
    int64_t env_pos;   /* next release window starts here */
    int64_t end_limit; /* off + max release; INT64_MAX until known */
    uint32_t quiet_frames;
    int64_t end_frame; /* -1 until decided */
    bool capped;       /* ended at end_limit, still sounding (or a fixed release) */
    /* spool pass */
    int64_t written_until;
    /* key-up: the held note's level just before the note-off (a release sample's start) */
    double keyup_db;
    bool keyup_done;
} node_take_pass_t;

#define NODE_TAKE_PASS_INIT                                                                        \
    {                                                                                              \
        .end_limit = INT64_MAX, .end_frame = -1                                                    \
    }

/* Receives frames [.., +n) of the take, interleaved; 0 or a negative bb_err. */
typedef int (*node_pass_write_fn)(void *arg, const float *frames, uint32_t n);

/* ms at `rate` as whole frames, rounded. */
int64_t node_pass_ms_to_frames(uint32_t rate, double ms);

/* Frame `frame` of the history (must be inside it). */
static inline const float *node_history_at(const node_history_t *h, int64_t frame)
{
    return h->frames + ((uint64_t)frame & h->mask) * h->channels;
}
/* Frames from `frame` contiguous in the ring, at most n. */
uint32_t node_history_run(const node_history_t *h, int64_t frame, int64_t n);
/* RMS level of the loudest channel over [pos, pos + win), dBFS (NODE_REC_MIN_FLOOR_DB for
 * silence). */
double node_history_window_db(const node_history_t *h, int64_t pos, int64_t win);

/* The noise pass up to min(on_frame, h->end); once it reaches on_frame, sets noise_db and
 * noise_done and updates the room floor. */
void node_pass_noise(node_take_pass_t *t, const node_history_t *h, node_room_floor_t *room);

/* The release pass (needs the noise pass done and env_pos, end_limit set at the note-off):
 * sets end_frame (and capped) once decided. floor_db is how far above the noise floor
 * still counts as quiet. */
void node_pass_release(node_take_pass_t *t, const node_history_t *h, uint32_t rate,
                       double floor_db);

/* The key-up pass (needs off_frame): once the history holds the NODE_REC_WINDOW_MS before
 * the note-off, sets keyup_db to their level (node_history_window_db) and keyup_done. A
 * release take's sample starts at the note-off: this is the level it starts from. */
void node_pass_keyup(node_take_pass_t *t, const node_history_t *h, uint32_t rate);

/* Hands frames [written_until, min(end, h->end)) to write, where end is end_frame once
 * decided, else end_limit. 0, or the writer's error (written_until stays at the failed
 * run). */
int node_pass_spool(node_take_pass_t *t, const node_history_t *h, node_pass_write_fn write,
                    void *arg);

#endif
