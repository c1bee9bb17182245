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
 * Before a take, apart from these:
 *
 *   quiet    10 ms windows before the note-on is placed: the instrument has fallen silent
 *            once the last NODE_REC_QUIET_SPAN_MS of them average within
 *            NODE_REC_QUIET_MARGIN_DB of its noise floor (node_quiet_pass_t)
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
#define NODE_REC_QUIET_SPAN_MS    100      /* quiet: this long at the floor before a pre-roll */
#define NODE_REC_QUIET_MARGIN_DB  2.0      /* within this of the floor (mean power of the span) */
#define NODE_REC_STEADY_DB        0.5      /* no floor known yet: two spans this close are steady */
#define NODE_REC_QUIET_WAIT_MS    5000     /* the longest wait for quiet when the job gives none */
#define NODE_REC_QUIET_WINDOWS    (2 * NODE_REC_QUIET_SPAN_MS / NODE_REC_WINDOW_MS)

/* The last `cap` frames of the stream, interleaved, at index (frame & mask). */
typedef struct {
    float *frames;
    uint64_t cap, mask; /* cap is a power of two, mask = cap - 1 */
    uint32_t channels;
    int64_t end; /* absolute frame one past the newest */
} node_history_t;

/* The quietest pre-roll seen, allowed to creep up slowly so a room that really got louder
 * is followed. A pre-roll that still holds the previous take's tail must not raise it: it
 * rises only on a steady pre-roll after a wait for quiet that ran out (the instrument had
 * every chance to fall silent; what is left is the room). Raising it on any steady
 * pre-roll would let a slowly fading tail ratchet it up a little with every take. */
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
    double noise_db;         /* the floor the release is judged by: min(room floor, preroll_db) */
    double preroll_db;       /* the pre-roll's own level (loudest channel), dBFS */
    bool noise_done;         /* noise_db is final (the room floor is updated once per take) */
    bool room_may_rise;      /* set by the caller: the wait for quiet before this take ran out */
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

/* Waiting for the instrument to fall silent before a take's pre-roll. Windows of
 * NODE_REC_WINDOW_MS from `pos`, their mean power (loudest channel) kept for the last two
 * spans of NODE_REC_QUIET_SPAN_MS. The instrument is quiet at the end of a window when
 *   - a floor is known: the last span averages within NODE_REC_QUIET_MARGIN_DB of it;
 *   - none is known yet (an instrument's first take, a new patch): the last two spans are
 *     within NODE_REC_STEADY_DB of each other, so not a decaying tail (a steady sound, a
 *     held note, passes: the pre-roll's QC check is what catches that);
 * and the wait gives up at `limit`. A span that starts before `pos` is never used. */
typedef struct {
    int64_t pos;     /* next window starts here (absolute frame) */
    int64_t limit;   /* gives up once the scan reaches this frame */
    double floor_db; /* the instrument's noise floor, when floor_known */
    bool floor_known;
    double pow[NODE_REC_QUIET_WINDOWS]; /* window mean powers, a ring */
    uint32_t n, head;                   /* windows in the ring, next slot */
    int64_t quiet_at;                   /* -1 until decided; then the frame it is quiet from */
    bool timed_out;                     /* decided at `limit`, still not quiet */
    double level_db;                    /* the last span's level when decided, dBFS */
} node_quiet_pass_t;

#define NODE_QUIET_PASS_INIT                                                                       \
    {                                                                                              \
        .quiet_at = -1, .level_db = NODE_REC_MIN_FLOOR_DB                                          \
    }

/* The quiet pass over what the history holds (windows that fell out of it are skipped,
 * and the spans start again). Sets quiet_at (and timed_out) once decided. */
void node_pass_quiet(node_quiet_pass_t *q, const node_history_t *h, uint32_t rate);

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
