/*
 * recorder.c — the recorder thread of recorder.h.
 *
 * Each wake-up (every 10 ms of real time, or at once when a job arrives) does, in order:
 * drain block records into the time map, drain audio into the history, apply MIDI
 * reports (they fix where the take starts and where its release begins), then advance the
 * current take: first the quiet pass (recorder_pass.h) until the instrument has fallen
 * silent, which places the note-on; then the three passes over the history: noise
 * (pre-roll RMS), release (10 ms windows from the note-off, which decide the end frame)
 * and spool (writes frames up to the end). This file is the thread around them: the job
 * queue, MIDI, the time map, device loss, the spool commit.
 *
 * Waiting for quiet. A take's note-on is placed only once the instrument is at its noise
 * floor: after a release cut at the plan's maximum, a long reverb, a note the node did
 * not play (a restart), a patch change. The wait starts where the lane's previous take
 * ended (or when the job arrived, or once the patch's settle time is over), looks back at
 * most two spans into audio already there, and is bounded by the job's quiet_wait_ms; the
 * pre-roll then starts no earlier than the point found quiet, and never before the
 * stream's audio began (node start, or the device's return). A take whose wait ran out
 * still runs, flagged. The waiting is done here and by the MIDI scheduler's deadlines,
 * never in the audio callback.
 *
 * Lanes (recorder.h): each holds at most one take and its own room floor, MIDI
 * port and, when it records some of the channels, a history of just those, projected
 * from the stream's history as audio arrives. The queue is served in order: a job starts
 * when its lane is idle and no busy lane shares one of its inputs; a job that must wait
 * holds back the later jobs of its lane and of the lanes it overlaps, so every
 * instrument's takes stay in plan order.
 */
#include "recorder.h"

#include <czmq.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_pb.h"
#include "bb_take_id.h"
#include "recorder_pass.h"
#include "timemap.h"

#define NODE_REC_WAKE_NS         (10 * BB_NS_PER_MS)  /* real time between wake-ups */
#define NODE_REC_LEAD_NS         (20 * BB_NS_PER_MS)  /* real time from scheduling to note-on */
#define NODE_REC_SETUP_SETTLE_NS (250 * BB_NS_PER_MS) /* after program/bank changes */
#define NODE_REC_SCRATCH_FRAMES  4096

enum { TAG_NOTE_ON = 1, TAG_NOTE_OFF = 2, TAG_SETUP = 3 };

/* T_QUIET: waiting for the instrument to fall silent, nothing sent but the MIDI setup;
 * T_ARMED: note-on and note-off posted at their deadlines. */
typedef enum { T_QUIET, T_ARMED, T_RECORDING, T_RELEASING } s_take_state_t;

typedef struct {
    Bb__TakeJob *job;
    uint64_t seq;
    s_take_state_t state;
    int64_t armed_ns;      /* node clock when the take was started */
    int64_t setup_done_ns; /* its MIDI setup has settled (armed_ns when it has none) */
    bool quiet_started;    /* the quiet pass is set up (needs the time map) */
    int64_t quiet_base;    /* the frame the take could have started at without waiting */
    node_quiet_pass_t q;
    int64_t on_deadline, on_sent, off_sent;
    node_take_pass_t p; /* frames, noise floor, release end, spool position */
    uint64_t xruns;
    node_spool_take_t *spool;
} s_take_t;

/* What a lane records: which channels (0-based, ascending; none listed = all), mixed to
 * mono or not, played on which MIDI port. */
typedef struct {
    uint32_t inputs[NODE_MAX_CHANNELS];
    uint32_t n_inputs;
    bool sum;
    char midi_port[64];
} s_key_t;

typedef struct {
    bool used;
    s_key_t key;
    node_midi_sched_t *midi;
    node_history_t own;   /* the lane's channels, when it records some (else unused) */
    node_history_t *hist; /* &own, or the recorder's whole-stream history */
    uint32_t channels;    /* per frame of hist */
    s_take_t *take;
    int64_t free_frame;     /* where the lane's previous take ended (-1: none yet) */
    node_room_floor_t room; /* the floor each take's release end and quiet are judged by */
} s_lane_t;

struct node_recorder_t {
    node_capture_t *cap;
    node_midi_sched_t *midi;
    node_spool_t *spool;
    char node_name[128];
    char notify_endpoint[128];
    uint32_t rate, channels;

    node_history_t hist;
    float *scratch;

    node_timemap_t timemap;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool running;
    Bb__TakeJob *queue[NODE_RECORDER_QUEUE_MAX];
    int n_queue;
    bool abort_requested;
    uint64_t abort_batch;
    bool device_lost;      /* no take starts, no job is accepted */
    bool lost_pending;     /* the thread still has to fail the take and the queue */
    bool back_pending;     /* the thread still has to note the device's return */
    char lost_reason[256]; /* "audio device lost: ..." */
    int64_t audio_from;    /* the stream's audio begins here (0, or where the device came
                            * back): no pre-roll or quiet span reaches before it */

    s_lane_t lanes[NODE_REC_LANES_MAX];
    int active; /* takes in the lanes (read by submit under the lock) */
    uint64_t take_seq;
    node_midi_sched_t *(*midi_port)(void *arg, const char *port, char *err, size_t errlen);
    void *midi_port_arg;
    zsock_t *notify;

    _Atomic uint32_t busy;
    _Atomic uint64_t xruns;
    _Atomic uint64_t latency_bits;
};

/* ---- small helpers ---- */

static double s_latency_ms(node_recorder_t *self)
{
    uint64_t bits = atomic_load(&self->latency_bits);
    double ms;
    memcpy(&ms, &bits, sizeof ms);
    return ms;
}

void node_recorder_set_latency_offset(node_recorder_t *self, double ms)
{
    uint64_t bits;
    memcpy(&bits, &ms, sizeof bits);
    atomic_store(&self->latency_bits, bits);
}

double node_recorder_latency_offset(node_recorder_t *self)
{
    return s_latency_ms(self);
}

static int64_t s_ms_to_frames(node_recorder_t *self, double ms)
{
    return node_pass_ms_to_frames(self->rate, ms);
}

/* Node-clock time -> absolute stream frame (timemap.h). */
static int64_t s_frame_at(node_recorder_t *self, int64_t t)
{
    if (node_timemap_empty(&self->timemap))
        return self->hist.end;
    return node_timemap_frame_at(&self->timemap, t);
}

/* Absolute stream frame -> node-clock time. */
static int64_t s_time_at(node_recorder_t *self, int64_t frame)
{
    if (node_timemap_empty(&self->timemap))
        return bb_node_clock_ns();
    return node_timemap_time_at(&self->timemap, frame);
}

static void s_notify(node_recorder_t *self, const char *what, const char *id, const char *detail)
{
    if (self->notify)
        zstr_sendx(self->notify, what, id, detail ? detail : "", NULL);
}

/* ---- lanes ---- */

static bool s_key_equal(const s_key_t *a, const s_key_t *b)
{
    return a->n_inputs == b->n_inputs && a->sum == b->sum &&
           memcmp(a->inputs, b->inputs, a->n_inputs * sizeof a->inputs[0]) == 0 &&
           strcmp(a->midi_port, b->midi_port) == 0;
}

/* Two lanes that share an input cannot record at once (no inputs listed: all of them). */
static bool s_key_overlap(const s_key_t *a, const s_key_t *b)
{
    if (a->n_inputs == 0 || b->n_inputs == 0)
        return true;
    for (uint32_t i = 0; i < a->n_inputs; i++)
        for (uint32_t k = 0; k < b->n_inputs; k++)
            if (a->inputs[i] == b->inputs[k])
                return true;
    return false;
}

/* The key of a job; BB_EINVAL with err when it names inputs this node does not record. */
static int s_key_of(node_recorder_t *self, const Bb__TakeJob *job, s_key_t *key, char *err,
                    size_t errlen)
{
    memset(key, 0, sizeof *key);
    if (job->n_inputs > NODE_MAX_CHANNELS) {
        snprintf(err, errlen, "%zu inputs; at most %d", job->n_inputs, NODE_MAX_CHANNELS);
        return BB_EINVAL;
    }
    for (size_t i = 0; i < job->n_inputs; i++) {
        uint32_t c = job->inputs[i];
        if (c < 1 || c > self->channels) {
            snprintf(err, errlen, "input %u: this node records %u channel(s), 1 to %u", c,
                     self->channels, self->channels);
            return BB_EINVAL;
        }
        uint32_t k = key->n_inputs; /* ascending, each once */
        while (k > 0 && key->inputs[k - 1] > c - 1) {
            key->inputs[k] = key->inputs[k - 1];
            k--;
        }
        if (k > 0 && key->inputs[k - 1] == c - 1) {
            snprintf(err, errlen, "input %u is listed twice", c);
            return BB_EINVAL;
        }
        key->inputs[k] = c - 1;
        key->n_inputs++;
    }
    /* all the channels, in order, is the whole stream */
    if (key->n_inputs == self->channels && !job->sum)
        key->n_inputs = 0;
    key->sum = job->sum && (key->n_inputs != 1);
    if (key->sum && key->n_inputs == 0 && self->channels == 1)
        key->sum = false;
    snprintf(key->midi_port, sizeof key->midi_port, "%s", job->midi_port ? job->midi_port : "");
    return 0;
}

/* Projects stream frames [from, to) of the whole-stream history into the lane's own. */
static void s_project(node_recorder_t *self, s_lane_t *lane, int64_t from, int64_t to)
{
    const s_key_t *k = &lane->key;
    uint32_t n = k->n_inputs ? k->n_inputs : self->channels;
    for (int64_t f = from; f < to; f++) {
        const float *in = node_history_at(&self->hist, f);
        float *out = (float *)node_history_at(&lane->own, f);
        if (k->sum) { /* a mono source on several inputs: their mean */
            float acc = 0;
            for (uint32_t i = 0; i < n; i++)
                acc += in[k->n_inputs ? k->inputs[i] : i];
            out[0] = acc / (float)n;
        } else {
            for (uint32_t i = 0; i < n; i++)
                out[i] = in[k->inputs[i]];
        }
    }
    lane->own.end = to;
}

/* Sets a lane up for `key`: its MIDI scheduler, and its own history when it records part
 * of the stream (filled with what the stream's history holds, so its first take has its
 * pre-roll). 0, or BB_EINVAL / BB_ENOMEM with err. */
static int s_lane_setup(node_recorder_t *self, s_lane_t *lane, const s_key_t *key, char *err,
                        size_t errlen)
{
    node_midi_sched_t *midi = self->midi;
    if (*key->midi_port) {
        midi = self->midi_port ? self->midi_port(self->midi_port_arg, key->midi_port, err, errlen)
                               : NULL;
        if (!midi) {
            if (!self->midi_port)
                snprintf(err, errlen, "MIDI port '%s': this node has only its default port",
                         key->midi_port);
            return BB_EINVAL;
        }
    }
    bool whole = key->n_inputs == 0 && !key->sum;
    uint32_t channels = whole ? self->channels : key->sum ? 1 : key->n_inputs;
    if (!whole && (lane->own.frames == NULL || lane->own.channels < channels)) {
        free(lane->own.frames);
        lane->own.frames = calloc(self->hist.cap * channels, sizeof(float));
        if (!lane->own.frames) {
            snprintf(err, errlen, "out of memory");
            return BB_ENOMEM;
        }
    }
    lane->key = *key;
    lane->midi = midi;
    lane->channels = channels;
    lane->used = true;
    lane->take = NULL;
    lane->room = (node_room_floor_t){0};
    lane->free_frame = -1;
    if (whole) {
        lane->hist = &self->hist;
    } else {
        lane->own.cap = self->hist.cap;
        lane->own.mask = self->hist.mask;
        lane->own.channels = channels;
        lane->hist = &lane->own;
        int64_t from = self->hist.end - (int64_t)self->hist.cap;
        s_project(self, lane, from > 0 ? from : 0, self->hist.end);
    }
    return 0;
}

static bool s_lane_busy(const s_lane_t *lane)
{
    return lane->used && lane->take;
}

/* The lane of `key`: its own, else a free (or idle) one set up for it, never one of
 * `taken` (lanes given a job in this round); NULL when every lane is busy (err says so)
 * or setting one up failed. */
static s_lane_t *s_lane_for(node_recorder_t *self, const s_key_t *key, const bool *taken, char *err,
                            size_t errlen)
{
    s_lane_t *idle = NULL;
    for (int i = 0; i < NODE_REC_LANES_MAX; i++) {
        s_lane_t *l = &self->lanes[i];
        if (l->used && s_key_equal(&l->key, key))
            return l;
        if (!idle && !s_lane_busy(l) && !taken[i])
            idle = l;
    }
    if (!idle) {
        snprintf(err, errlen, "more than %d instruments at once", NODE_REC_LANES_MAX);
        return NULL;
    }
    return s_lane_setup(self, idle, key, err, errlen) ? NULL : idle;
}

/* ---- take lifecycle ---- */

static void s_take_free(s_take_t **tp)
{
    s_take_t *t = *tp;
    if (!t)
        return;
    node_spool_take_abort(&t->spool);
    if (t->job)
        bb__take_job__free_unpacked(t->job, NULL);
    free(t);
    *tp = NULL;
}

/* A lane's take belongs to the recorder thread, which alone writes it and may read it
 * unlocked; node_recorder_submit (the link thread) reads the count of takes under the
 * lock, so every change happens under the lock too. */
static void s_set_take(node_recorder_t *self, s_lane_t *lane, s_take_t *t)
{
    pthread_mutex_lock(&self->lock);
    self->active += (t != NULL) - (lane->take != NULL);
    lane->take = t;
    pthread_mutex_unlock(&self->lock);
}

/* Ends a lane's take: unpublished under the lock, then freed. */
static void s_drop_take(node_recorder_t *self, s_lane_t *lane)
{
    s_take_t *t = lane->take;
    s_set_take(self, lane, NULL);
    s_take_free(&t);
}

static void s_note_off_now(s_lane_t *lane, const Bb__TakeJob *job)
{
    node_midi_event_t off = {
        .tag = 0,
        .deadline_ns = 0,
        .len = 3,
        .msg = {(uint8_t)(0x80 | ((job->midi_channel - 1) & 0x0F)), (uint8_t)job->note, 0}};
    node_midi_sched_post(lane->midi, &off);
}

static void s_take_fail(node_recorder_t *self, s_lane_t *lane, const char *reason)
{
    s_take_t *t = lane->take;
    bb_warn("take %s failed: %s", t->job->take_id, reason);
    node_midi_sched_cancel(lane->midi, ~(uint64_t)0xFF, t->seq << 8);
    s_note_off_now(lane, t->job); /* harmless if the note-on never went out */
    /* the next take waits for quiet from here: the note may still sound */
    lane->free_frame = lane->hist->end > lane->free_frame ? lane->hist->end : lane->free_frame;
    s_set_take(self, lane, NULL); /* over before it is reported, as in s_take_commit */
    s_notify(self, "FAILED", t->job->take_id, reason);
    s_take_free(&t);
}

/* Starts a take: its MIDI setup goes out now, its note waits for quiet (s_take_quiet). */
static void s_take_start(node_recorder_t *self, s_lane_t *lane, Bb__TakeJob *job)
{
    s_take_t *t = calloc(1, sizeof *t);
    if (!t) {
        s_notify(self, "FAILED", job->take_id, "out of memory");
        bb__take_job__free_unpacked(job, NULL);
        return;
    }
    t->job = job;
    t->seq = ++self->take_seq;
    t->state = T_QUIET;
    t->p = (node_take_pass_t)NODE_TAKE_PASS_INIT;
    t->q = (node_quiet_pass_t)NODE_QUIET_PASS_INIT;
    s_set_take(self, lane, t);
    node_midi_sched_t *midi = lane->midi;

    const double speed = bb_node_clock_speed();
    int64_t now = bb_node_clock_ns();
    t->armed_ns = t->setup_done_ns = now;
    uint8_t ch = (uint8_t)((job->midi_channel - 1) & 0x0F);

    if (job->setup) { /* SysEx, bank, program and controllers before the instrument's first
                         take, then the plan's settle time (or NODE_REC_SETUP_SETTLE_NS) */
        const Bb__MidiSetup *s = job->setup;
        node_midi_event_t ev = {.tag = (t->seq << 8) | TAG_SETUP, .deadline_ns = 0, .len = 3};
        for (size_t i = 0; i < s->n_sysex; i++) {
            node_midi_event_t sx = ev;
            sx.sysex = malloc(s->sysex[i].len ? s->sysex[i].len : 1);
            if (!sx.sysex) {
                s_notify(self, "FAILED", job->take_id, "out of memory");
                s_drop_take(self, lane);
                return;
            }
            memcpy(sx.sysex, s->sysex[i].data, s->sysex[i].len);
            sx.sysex_len = (uint32_t)s->sysex[i].len;
            if (node_midi_sched_post(midi, &sx))
                free(sx.sysex);
        }
        if (s->bank_msb >= 0) {
            ev.msg[0] = 0xB0 | ch, ev.msg[1] = 0, ev.msg[2] = (uint8_t)(s->bank_msb & 0x7F);
            node_midi_sched_post(midi, &ev);
        }
        if (s->bank_lsb >= 0) {
            ev.msg[0] = 0xB0 | ch, ev.msg[1] = 32, ev.msg[2] = (uint8_t)(s->bank_lsb & 0x7F);
            node_midi_sched_post(midi, &ev);
        }
        if (s->program >= 0) {
            node_midi_event_t pc = ev;
            pc.len = 2, pc.msg[0] = 0xC0 | ch, pc.msg[1] = (uint8_t)(s->program & 0x7F);
            node_midi_sched_post(midi, &pc);
        }
        for (size_t i = 0; i + 1 < s->n_cc; i += 2) {
            ev.msg[0] = 0xB0 | ch, ev.msg[1] = (uint8_t)(s->cc[i] & 0x7F);
            ev.msg[2] = (uint8_t)(s->cc[i + 1] & 0x7F);
            node_midi_sched_post(midi, &ev);
        }
        /* the default in real time (the messages must get out); the plan's in the
         * instrument's time, as its notes */
        int64_t settle_ns = (int64_t)(NODE_REC_SETUP_SETTLE_NS * speed);
        if ((int64_t)s->settle_ms * BB_NS_PER_MS > settle_ns)
            settle_ns = (int64_t)s->settle_ms * BB_NS_PER_MS;
        t->setup_done_ns = now + settle_ns;
        /* another patch may hiss or hum differently: its floor is learnt afresh */
        lane->room = (node_room_floor_t){0};
    }
}

/* The longest wait for quiet the job allows, in frames. */
static int64_t s_quiet_wait_frames(node_recorder_t *self, const Bb__TakeJob *job)
{
    return s_ms_to_frames(self, job->quiet_wait_ms ? job->quiet_wait_ms : NODE_REC_QUIET_WAIT_MS);
}

/* Sets up the quiet pass of a take (once the time map can place its times): it starts no
 * earlier than the stream's audio, the setup's settle time, or two spans before where the
 * take could have started without waiting (the lane's previous take's end, or the job's
 * arrival), so audio already there counts. */
static void s_quiet_begin(node_recorder_t *self, s_lane_t *lane, s_take_t *t)
{
    const node_history_t *h = lane->hist;
    int64_t base = s_frame_at(self, t->armed_ns);
    if (lane->free_frame > base)
        base = lane->free_frame;
    if (self->audio_from > base)
        base = self->audio_from;
    int64_t from = base - s_ms_to_frames(self, 2 * NODE_REC_QUIET_SPAN_MS);
    if (t->setup_done_ns > t->armed_ns) {
        int64_t settled = s_frame_at(self, t->setup_done_ns);
        if (settled > from)
            from = settled;
        if (settled > base)
            base = settled;
    }
    if (from < self->audio_from)
        from = self->audio_from;
    if (from < h->end - (int64_t)h->cap)
        from = h->end - (int64_t)h->cap;
    t->quiet_base = base;
    t->q.pos = from;
    t->q.limit = base + s_quiet_wait_frames(self, t->job);
    t->q.floor_known = lane->room.known;
    t->q.floor_db = lane->room.db;
    t->quiet_started = true;
}

/* Advances a take waiting for quiet; once the instrument is silent (or the wait ran out)
 * posts its note-on and note-off: the pre-roll starts at the quiet point at the earliest. */
static void s_take_quiet(node_recorder_t *self, s_lane_t *lane)
{
    s_take_t *t = lane->take;
    if (node_timemap_empty(&self->timemap))
        return; /* no audio yet: nothing to judge, no frame to place a note at */
    if (!t->quiet_started)
        s_quiet_begin(self, lane, t);
    node_pass_quiet(&t->q, lane->hist, self->rate);
    if (t->q.quiet_at < 0)
        return;
    const Bb__TakeJob *job = t->job;
    int64_t pre_from = t->q.quiet_at > t->quiet_base ? t->q.quiet_at : t->quiet_base;
    double waited_ms = (double)(pre_from - t->quiet_base) * 1000.0 / self->rate;
    if (t->q.timed_out)
        bb_warn("take %s: the instrument was still %.1f dB over its noise floor (%.1f dBFS) "
                "after %.1f s; the take runs anyway, its pre-roll not quiet (a longer "
                "--release or --quiet-wait lets it fall silent)",
                job->take_id, t->q.level_db - t->q.floor_db, t->q.floor_db, waited_ms / 1000.0);
    else if (waited_ms >= 1.0)
        bb_debug("take %s: waited %.0f ms for the instrument to fall silent (%.1f dBFS)",
                 job->take_id, waited_ms, t->q.level_db);

    const double speed = bb_node_clock_speed();
    int64_t now = bb_node_clock_ns();
    int64_t preroll_ns = (int64_t)job->preroll_ms * BB_NS_PER_MS;
    int64_t on = now + (int64_t)(NODE_REC_LEAD_NS * speed);
    int64_t quiet_ns = s_time_at(self, pre_from) + preroll_ns;
    if (quiet_ns > on)
        on = quiet_ns;
    if (t->setup_done_ns + preroll_ns > on)
        on = t->setup_done_ns + preroll_ns;
    uint8_t ch = (uint8_t)((job->midi_channel - 1) & 0x0F);
    t->on_deadline = on;
    node_midi_event_t non = {
        .tag = (t->seq << 8) | TAG_NOTE_ON,
        .deadline_ns = on,
        .len = 3,
        .msg = {(uint8_t)(0x90 | ch), (uint8_t)job->note, (uint8_t)job->velocity}};
    node_midi_event_t noff = {.tag = (t->seq << 8) | TAG_NOTE_OFF,
                              .deadline_ns = on + (int64_t)job->hold_ms * BB_NS_PER_MS,
                              .len = 3,
                              .msg = {(uint8_t)(0x80 | ch), (uint8_t)job->note, 64}};
    if (node_midi_sched_post(lane->midi, &non) || node_midi_sched_post(lane->midi, &noff)) {
        node_midi_sched_cancel(lane->midi, ~(uint64_t)0xFF, t->seq << 8);
        s_notify(self, "FAILED", job->take_id, "MIDI queue full");
        s_drop_take(self, lane);
        return;
    }
    t->state = T_ARMED;
    bb_debug("take %s: note %u vel %u, note-on in %.1f ms", job->take_id, job->note, job->velocity,
             (on - now) / 1e6);
}

static void s_on_report(node_recorder_t *self, const node_midi_event_t *ev)
{
    s_lane_t *lane = NULL;
    for (int i = 0; i < NODE_REC_LANES_MAX && !lane; i++)
        if (self->lanes[i].take && self->lanes[i].take->seq == (ev->tag >> 8))
            lane = &self->lanes[i];
    if (!lane)
        return; /* setup messages, panic, or a take already gone */
    s_take_t *t = lane->take;
    unsigned kind = ev->tag & 0xFF;
    if (kind == TAG_SETUP) {
        if (ev->status != 0 && t->state <= T_ARMED)
            s_take_fail(self, lane,
                        "the MIDI output refused the instrument's setup (SysEx needs a "
                        "MIDI backend that can send it; device gone?)");
        return;
    }
    if (ev->status != 0) {
        s_take_fail(self, lane, "the MIDI output refused the note (device gone?)");
        return;
    }
    int64_t latency = s_ms_to_frames(self, s_latency_ms(self));
    if (kind == TAG_NOTE_ON && t->state == T_ARMED) {
        t->on_sent = ev->sent_ns;
        t->p.on_frame = s_frame_at(self, ev->sent_ns) + latency;
        t->p.start_frame = t->p.on_frame - s_ms_to_frames(self, t->job->preroll_ms);
        int64_t oldest = lane->hist->end - (int64_t)lane->hist->cap;
        if (oldest < self->audio_from)
            oldest = self->audio_from;
        if (t->p.start_frame < oldest) {
            bb_warn("take %s: pre-roll reaches back past the history; shortened", t->job->take_id);
            t->p.start_frame = oldest;
        }
        if (t->p.start_frame < 0)
            t->p.start_frame = 0;
        t->p.noise_pos = t->p.written_until = t->p.start_frame;
        t->xruns = 0;
        char err[256];
        t->spool =
            node_spool_take_begin(self->spool, t->job->take_id, lane->channels, err, sizeof err);
        if (!t->spool) {
            s_take_fail(self, lane, err);
            return;
        }
        t->state = T_RECORDING;
    } else if (kind == TAG_NOTE_OFF && t->state == T_RECORDING) {
        t->off_sent = ev->sent_ns;
        t->p.off_frame = s_frame_at(self, ev->sent_ns) + latency;
        if (t->p.off_frame < t->p.on_frame)
            t->p.off_frame = t->p.on_frame;
        t->p.env_pos = t->p.off_frame;
        t->p.end_limit = t->p.off_frame + s_ms_to_frames(self, t->job->release_ms);
        if (t->job->release_policy == BB__RELEASE_POLICY__RELEASE_FIXED) {
            t->p.end_frame = t->p.end_limit;
            t->p.capped = true;
        }
        t->state = T_RELEASING;
    }
}

/* The release is quiet within this of the noise floor (the plan's, or the default). */
static double s_release_floor_db(const Bb__TakeJob *job)
{
    return job->release_floor_db > 0 ? job->release_floor_db : NODE_REC_RELEASE_FLOOR_DB;
}

static int s_spool_write(void *arg, const float *frames, uint32_t n)
{
    return node_spool_take_write(arg, frames, n);
}

static void s_take_commit(node_recorder_t *self, s_lane_t *lane)
{
    s_take_t *t = lane->take;
    Bb__TakeFormat format = BB__TAKE_FORMAT__INIT;
    format.sample_rate = self->rate;
    format.channels = lane->channels;
    Bb__TakeEndRequest end = BB__TAKE_END_REQUEST__INIT;
    end.take_id = t->job->take_id;
    end.note_on_frame = t->p.on_frame - t->p.start_frame;
    end.note_off_frame = t->p.off_frame - t->p.start_frame;
    end.xruns = t->xruns;
    end.stream_start_frame = (uint64_t)t->p.start_frame;
    end.latency_offset_ms = s_latency_ms(self);
    end.noise_floor_db = (float)t->p.noise_db;
    end.release_capped = t->p.capped;
    end.note_on_sent_ns = t->on_sent;
    end.note_on_deadline_ns = t->on_deadline;
    /* the wall clock of the first frame: now, less the node-clock time since it (which runs
     * `speed` times faster than real time for a sped-up simulation) */
    int64_t node_now = bb_node_clock_ns();
    double speed = bb_node_clock_speed();
    end.start_unix =
        bb_unix_s() - (double)(node_now - s_time_at(self, t->p.start_frame)) / 1e9 / speed;
    end.has_keyup = t->p.keyup_done;
    end.keyup_level_db = (float)t->p.keyup_db;
    end.has_quiet = true;
    end.preroll_db = (float)t->p.preroll_db;
    int64_t waited = t->p.start_frame - t->quiet_base;
    end.quiet_wait_ms = waited > 0 ? (uint32_t)llround((double)waited * 1000.0 / self->rate) : 0;
    end.quiet_timeout = t->q.timed_out;
    Bb__SpoolHeader hdr = BB__SPOOL_HEADER__INIT;
    hdr.job = t->job;
    hdr.format = &format;
    hdr.end = &end;
    hdr.node = self->node_name;
    int rc = node_spool_take_commit(&t->spool, &hdr, NODE_CHUNK_BYTES);
    lane->free_frame = t->p.end_frame;
    /* the take is over before anyone hears of it: a job sent on its report finds the
     * lane free (node_recorder_submit counts the current takes as queued) */
    s_set_take(self, lane, NULL);
    if (rc) {
        char why[160];
        snprintf(why, sizeof why, "cannot write the take to the spool: %s", bb_strerror(rc));
        s_notify(self, "FAILED", t->job->take_id, why);
    } else {
        bb_debug("take %s spooled: %.3f s, %u channel(s), pre-roll %.1f dBFS, floor %.1f dBFS, "
                 "waited %u ms for quiet%s%s",
                 t->job->take_id, (double)(t->p.end_frame - t->p.start_frame) / self->rate,
                 lane->channels, t->p.preroll_db, t->p.noise_db, end.quiet_wait_ms,
                 t->q.timed_out ? " (gave up)" : "", t->p.capped ? ", release capped" : "");
        s_notify(self, "TAKE", t->job->take_id, NULL);
    }
    s_take_free(&t);
}

/* ---- the thread ---- */

static void s_drain(node_recorder_t *self)
{
    node_block_t b;
    while (node_ring_read(&self->cap->blocks, &b, 1) == 1) {
        node_timemap_add(&self->timemap, &b);
        if (b.flags & (NODE_AUDIO_INPUT_OVERFLOW | NODE_CAPTURE_RING_FULL)) {
            atomic_fetch_add(&self->xruns, 1);
            for (int i = 0; i < NODE_REC_LANES_MAX; i++)
                if (self->lanes[i].take && self->lanes[i].take->state > T_ARMED)
                    self->lanes[i].take->xruns++;
        }
    }
    int64_t before = self->hist.end;
    size_t n;
    while ((n = node_ring_read(&self->cap->audio, self->scratch, NODE_REC_SCRATCH_FRAMES)) > 0) {
        size_t done = 0;
        while (done < n) {
            uint32_t run = node_history_run(&self->hist, self->hist.end, (int64_t)(n - done));
            memcpy((float *)node_history_at(&self->hist, self->hist.end),
                   self->scratch + done * self->channels,
                   (size_t)run * self->channels * sizeof(float));
            self->hist.end += run;
            done += run;
        }
    }
    int64_t oldest = self->hist.end - (int64_t)self->hist.cap;
    if (before < oldest)
        before = oldest;
    for (int i = 0; i < NODE_REC_LANES_MAX; i++) {
        s_lane_t *l = &self->lanes[i];
        if (l->used && l->hist == &l->own)
            s_project(self, l, before > l->own.end ? before : l->own.end, self->hist.end);
    }
}

/* Reports of every MIDI scheduler the lanes use (each once). */
static void s_reports(node_recorder_t *self)
{
    node_midi_sched_t *seen[NODE_REC_LANES_MAX + 1];
    int n = 0;
    seen[n++] = self->midi;
    for (int i = 0; i < NODE_REC_LANES_MAX; i++) {
        node_midi_sched_t *m = self->lanes[i].used ? self->lanes[i].midi : NULL;
        bool dup = !m;
        for (int k = 0; k < n && !dup; k++)
            dup = seen[k] == m;
        if (!dup)
            seen[n++] = m;
    }
    node_midi_event_t ev;
    for (int k = 0; k < n; k++)
        while (node_midi_sched_report(seen[k], &ev))
            s_on_report(self, &ev);
}

static void s_step_lane(node_recorder_t *self, s_lane_t *lane)
{
    s_take_t *t = lane->take;
    if (t && t->state == T_QUIET)
        s_take_quiet(self, lane);
    t = lane->take;
    if (!t || t->state <= T_ARMED)
        return;
    const node_history_t *h = lane->hist;
    if (t->p.written_until < h->end - (int64_t)h->cap) {
        s_take_fail(self, lane, "the recorder fell behind and lost audio (overload?)");
        return;
    }
    t->p.room_may_rise = t->q.timed_out;
    node_pass_noise(&t->p, h, &lane->room);
    if (t->state == T_RELEASING) {
        node_pass_keyup(&t->p, h, self->rate);
        node_pass_release(&t->p, h, self->rate, s_release_floor_db(t->job));
    }
    int rc = node_pass_spool(&t->p, h, s_spool_write, t->spool);
    if (rc) {
        char why[160];
        snprintf(why, sizeof why, "cannot write the take to the spool: %s", bb_strerror(rc));
        s_take_fail(self, lane, why);
        return;
    }
    if (t->p.end_frame >= 0 && t->p.written_until >= t->p.end_frame)
        s_take_commit(self, lane);
}

static void s_step(node_recorder_t *self)
{
    s_drain(self);
    s_reports(self);
    for (int i = 0; i < NODE_REC_LANES_MAX; i++)
        if (self->lanes[i].used)
            s_step_lane(self, &self->lanes[i]);
}

/* Lock held. Takes the jobs that may start now out of the queue, in order, with their
 * lanes: a job starts when its lane is idle and no busy lane overlaps it; one that waits
 * holds back the later jobs of every lane it overlaps. Jobs that cannot run at all
 * (inputs or MIDI port this node lacks) come back in `bad` with the reason. */
static int s_pick(node_recorder_t *self, Bb__TakeJob **start, s_lane_t **lanes, Bb__TakeJob **bad,
                  char (*why)[256], int *n_bad)
{
    s_key_t waiting[NODE_RECORDER_QUEUE_MAX];
    int n_wait = 0, n_start = 0, kept = 0;
    *n_bad = 0;
    bool busy[NODE_REC_LANES_MAX];
    for (int i = 0; i < NODE_REC_LANES_MAX; i++)
        busy[i] = s_lane_busy(&self->lanes[i]);
    for (int q = 0; q < self->n_queue; q++) {
        Bb__TakeJob *job = self->queue[q];
        s_key_t key;
        char err[256];
        if (s_key_of(self, job, &key, err, sizeof err)) {
            bad[*n_bad] = job;
            snprintf(why[(*n_bad)++], 256, "%s", err);
            continue;
        }
        bool blocked = self->device_lost;
        for (int w = 0; w < n_wait && !blocked; w++)
            blocked = s_key_overlap(&waiting[w], &key);
        for (int i = 0; i < NODE_REC_LANES_MAX && !blocked; i++)
            blocked = busy[i] && s_key_overlap(&self->lanes[i].key, &key);
        s_lane_t *lane = NULL;
        if (!blocked) {
            pthread_mutex_unlock(&self->lock); /* a MIDI port may be opened */
            lane = s_lane_for(self, &key, busy, err, sizeof err);
            pthread_mutex_lock(&self->lock);
            if (!lane && strstr(err, "at once") == NULL) {
                bad[*n_bad] = job;
                snprintf(why[(*n_bad)++], 256, "%s", err);
                continue;
            }
        }
        if (!lane) {
            waiting[n_wait++] = key;
            self->queue[kept++] = job;
            continue;
        }
        busy[lane - self->lanes] = true;
        start[n_start] = job;
        lanes[n_start++] = lane;
    }
    self->n_queue = kept;
    return n_start;
}

static void *s_run(void *arg)
{
    node_recorder_t *self = arg;
    self->notify = zsock_new_push(self->notify_endpoint);
    pthread_mutex_lock(&self->lock);
    while (self->running) {
        if (self->abort_requested) {
            uint64_t batch = self->abort_batch;
            self->abort_requested = false;
            pthread_mutex_unlock(&self->lock);
            for (int i = 0; i < NODE_REC_LANES_MAX; i++) {
                s_lane_t *l = &self->lanes[i];
                if (l->take && (batch == 0 || l->take->job->batch_id == batch))
                    s_take_fail(self, l, "aborted");
            }
            pthread_mutex_lock(&self->lock);
        }
        if (self->lost_pending) {
            self->lost_pending = false;
            char reason[sizeof self->lost_reason];
            memcpy(reason, self->lost_reason, sizeof reason);
            Bb__TakeJob *queued[NODE_RECORDER_QUEUE_MAX];
            int n = self->n_queue;
            memcpy(queued, self->queue, (size_t)n * sizeof queued[0]);
            self->n_queue = 0;
            pthread_mutex_unlock(&self->lock);
            for (int i = 0; i < NODE_REC_LANES_MAX; i++) {
                if (self->lanes[i].take)
                    s_take_fail(self, &self->lanes[i], reason);
            }
            for (int i = 0; i < n; i++) { /* handed back: the coordinator runs them again */
                s_notify(self, "FAILED", queued[i]->take_id, reason);
                bb__take_job__free_unpacked(queued[i], NULL);
            }
            pthread_mutex_lock(&self->lock);
        }
        if (self->back_pending) {
            self->back_pending = false;
            /* The next pre-roll must not reach back into audio from before the loss; the
             * tail of the note the loss interrupted is waited out like any other. */
            self->audio_from = self->hist.end;
        }
        Bb__TakeJob *start[NODE_RECORDER_QUEUE_MAX], *bad[NODE_RECORDER_QUEUE_MAX];
        s_lane_t *lanes[NODE_RECORDER_QUEUE_MAX];
        char why[NODE_RECORDER_QUEUE_MAX][256];
        int n_bad = 0;
        int n_start = s_pick(self, start, lanes, bad, why, &n_bad);
        pthread_mutex_unlock(&self->lock);

        for (int i = 0; i < n_bad; i++) {
            bb_warn("take %s cannot run here: %s", bad[i]->take_id, why[i]);
            s_notify(self, "FAILED", bad[i]->take_id, why[i]);
            bb__take_job__free_unpacked(bad[i], NULL);
        }
        for (int i = 0; i < n_start; i++)
            s_take_start(self, lanes[i], start[i]);
        s_step(self);

        pthread_mutex_lock(&self->lock);
        atomic_store(&self->busy, (uint32_t)(self->n_queue + self->active));
        if (self->running && !self->abort_requested &&
            (self->active || self->n_queue == 0 || n_start == 0)) {
            int64_t wake = bb_mono_ns() + NODE_REC_WAKE_NS;
            struct timespec ts = {.tv_sec = wake / BB_NS_PER_S, .tv_nsec = wake % BB_NS_PER_S};
            pthread_cond_timedwait(&self->wake, &self->lock, &ts);
        }
    }
    pthread_mutex_unlock(&self->lock);
    for (int i = 0; i < NODE_REC_LANES_MAX; i++)
        if (self->lanes[i].take)
            s_take_fail(self, &self->lanes[i], "the node is shutting down");
    zsock_destroy(&self->notify);
    return NULL;
}

/* ---- public ---- */

node_recorder_t *node_recorder_new(const node_recorder_config_t *cfg)
{
    if (!cfg || !cfg->cap || !cfg->midi || !cfg->spool || !cfg->notify_endpoint ||
        cfg->history_frames == 0 || (cfg->history_frames & (cfg->history_frames - 1)))
        return NULL;
    node_recorder_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = cfg->cap;
    self->midi = cfg->midi;
    self->midi_port = cfg->midi_port;
    self->midi_port_arg = cfg->midi_port_arg;
    self->spool = cfg->spool;
    self->rate = cfg->cap->sample_rate;
    self->channels = cfg->cap->channels;
    snprintf(self->node_name, sizeof self->node_name, "%s", cfg->node_name ? cfg->node_name : "");
    snprintf(self->notify_endpoint, sizeof self->notify_endpoint, "%s", cfg->notify_endpoint);
    node_timemap_init(&self->timemap, self->rate);
    self->hist.cap = cfg->history_frames;
    self->hist.mask = self->hist.cap - 1;
    self->hist.channels = self->channels;
    self->hist.frames = calloc(self->hist.cap * self->channels, sizeof(float));
    self->scratch = calloc((size_t)NODE_REC_SCRATCH_FRAMES * self->channels, sizeof(float));
    if (!self->hist.frames || !self->scratch) {
        free(self->hist.frames);
        free(self->scratch);
        free(self);
        return NULL;
    }
    node_recorder_set_latency_offset(self, cfg->latency_offset_ms);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&self->lock, NULL);
    self->running = true;
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        pthread_cond_destroy(&self->wake);
        pthread_mutex_destroy(&self->lock);
        free(self->hist.frames);
        free(self->scratch);
        free(self);
        return NULL;
    }
    return self;
}

void node_recorder_destroy(node_recorder_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    node_recorder_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->running = false;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    for (int i = 0; i < self->n_queue; i++)
        bb__take_job__free_unpacked(self->queue[i], NULL);
    for (int i = 0; i < NODE_REC_LANES_MAX; i++)
        free(self->lanes[i].own.frames);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self->hist.frames);
    free(self->scratch);
    free(self);
    *self_p = NULL;
}

int node_recorder_submit(node_recorder_t *self, const Bb__TakeJob *job, char *err, size_t errlen)
{
    if (!bb_take_id_ok(job->take_id)) {
        snprintf(err, errlen, "take id '%s' is not a safe file name", job->take_id);
        return BB_EINVAL;
    }
    if (job->note > 127 || job->velocity < 1 || job->velocity > 127 || job->midi_channel < 1 ||
        job->midi_channel > 16) {
        snprintf(err, errlen, "note %u / velocity %u / channel %u out of MIDI range", job->note,
                 job->velocity, job->midi_channel);
        return BB_EINVAL;
    }
    s_key_t key;
    if (s_key_of(self, job, &key, err, errlen))
        return BB_EINVAL;
    if (*key.midi_port) { /* a port that is not there fails now, not on every retry */
        if (!self->midi_port) {
            snprintf(err, errlen, "MIDI port '%s': this node has only its default port",
                     key.midi_port);
            return BB_EINVAL;
        }
        if (!self->midi_port(self->midi_port_arg, key.midi_port, err, errlen))
            return BB_EINVAL;
    }
    pthread_mutex_lock(&self->lock);
    bool lost = self->device_lost;
    if (lost)
        snprintf(err, errlen, "%s", self->lost_reason);
    pthread_mutex_unlock(&self->lock);
    if (lost)
        return BB_EUNAVAIL;
    Bb__TakeJob *copy = BB_PB_COPY(Bb__TakeJob, job);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    pthread_mutex_lock(&self->lock);
    if (self->n_queue == NODE_RECORDER_QUEUE_MAX) {
        pthread_mutex_unlock(&self->lock);
        bb__take_job__free_unpacked(copy, NULL);
        snprintf(err, errlen, "the node's job queue is full (%d)", NODE_RECORDER_QUEUE_MAX);
        return BB_EBUSY;
    }
    self->queue[self->n_queue++] = copy;
    int queued = self->n_queue + self->active;
    atomic_store(&self->busy, (uint32_t)queued);
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    return queued;
}

int node_recorder_abort(node_recorder_t *self, uint64_t batch_id)
{
    pthread_mutex_lock(&self->lock);
    int kept = 0, dropped = 0;
    for (int i = 0; i < self->n_queue; i++) {
        if (batch_id == 0 || self->queue[i]->batch_id == batch_id) {
            bb__take_job__free_unpacked(self->queue[i], NULL);
            dropped++;
        } else {
            self->queue[kept++] = self->queue[i];
        }
    }
    self->n_queue = kept;
    self->abort_requested = true;
    self->abort_batch = batch_id;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    return dropped;
}

int node_recorder_withdraw(node_recorder_t *self, uint64_t batch_id, char ***ids_out, size_t *n_out)
{
    *ids_out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&self->lock);
    char **ids = calloc((size_t)self->n_queue + 1, sizeof *ids);
    int kept = 0;
    size_t n = 0;
    for (int i = 0; i < self->n_queue; i++) {
        Bb__TakeJob *job = self->queue[i];
        if (ids && (batch_id == 0 || job->batch_id == batch_id)) {
            ids[n] = strdup(job->take_id);
            if (ids[n])
                n++;
            bb__take_job__free_unpacked(job, NULL);
        } else {
            self->queue[kept++] = job;
        }
    }
    self->n_queue = kept;
    pthread_mutex_unlock(&self->lock);
    if (!ids)
        return BB_ENOMEM;
    *ids_out = ids;
    *n_out = n;
    return 0;
}

void node_recorder_device_lost(node_recorder_t *self, const char *why)
{
    pthread_mutex_lock(&self->lock);
    self->device_lost = true;
    self->lost_pending = true;
    self->back_pending = false;
    snprintf(self->lost_reason, sizeof self->lost_reason, "audio device lost: %s", why);
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
}

void node_recorder_device_back(node_recorder_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->device_lost = false;
    self->back_pending = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
}

uint32_t node_recorder_busy(node_recorder_t *self)
{
    return atomic_load(&self->busy);
}

uint64_t node_recorder_xruns(node_recorder_t *self)
{
    return atomic_load(&self->xruns);
}
