/*
 * recorder.c — the recorder thread of recorder.h.
 *
 * Each wake-up (every 10 ms of real time, or at once when a job arrives) does, in order:
 * drain block records into the time map, drain audio into the history, apply MIDI
 * reports (they fix where the take starts and where its release begins), then advance the
 * current take through three passes over the history, each with its own position:
 * the noise pass (pre-roll RMS), the release pass (10 ms windows from the note-off, which
 * decides the end frame), and the spool pass (writes frames up to the end). Keeping the
 * passes separate means the order in which audio and MIDI reports arrive never matters.
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
#include "timemap.h"

#define NODE_REC_WAKE_NS         (10 * BB_NS_PER_MS)  /* real time between wake-ups */
#define NODE_REC_LEAD_NS         (20 * BB_NS_PER_MS)  /* real time from scheduling to note-on */
#define NODE_REC_SETUP_SETTLE_NS (250 * BB_NS_PER_MS) /* after program/bank changes */
#define NODE_REC_WINDOW_MS       10
#define NODE_REC_QUIET_MS        50
#define NODE_REC_MIN_FLOOR_DB    (-120.0)
#define NODE_REC_FLOOR_CREEP_DB  1.0 /* dB per take the room floor may rise */
#define NODE_REC_SCRATCH_FRAMES  4096
#define NODE_REC_BACK_SETTLE_MS  3000 /* at most, after the audio device came back */

enum { TAG_NOTE_ON = 1, TAG_NOTE_OFF = 2, TAG_SETUP = 3 };

typedef enum { T_ARMED, T_RECORDING, T_RELEASING } s_take_state_t;

typedef struct {
    Bb__TakeJob *job;
    uint64_t seq;
    s_take_state_t state;
    int64_t on_deadline, on_sent, off_sent;
    int64_t on_frame, off_frame, start_frame; /* absolute stream frames */
    int64_t end_limit;                        /* off + max release; INT64_MAX until known */
    int64_t end_frame;                        /* -1 until decided */
    int64_t noise_pos, env_pos, written_until;
    double noise_sq[NODE_MAX_CHANNELS];
    uint64_t noise_n;
    double noise_half_sq[2]; /* all channels, first and second half of the pre-roll */
    double noise_db;
    bool noise_done; /* noise_db is final (the room floor is updated once per take) */
    uint32_t quiet_frames;
    bool capped;
    uint64_t xruns;
    node_spool_take_t *spool;
} s_take_t;

struct node_recorder_t {
    node_capture_t *cap;
    node_midi_sched_t *midi;
    node_spool_t *spool;
    char node_name[128];
    char notify_endpoint[128];
    uint32_t rate, channels;

    float *history;
    uint64_t hist_cap, hist_mask;
    int64_t hist_end; /* absolute frame one past the newest in history */
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

    s_take_t *take;
    int64_t next_free_ns;
    uint64_t take_seq;
    /* The room's floor: the quietest pre-roll seen, allowed to creep up slowly so a room
     * that really got louder is followed. A pre-roll that still holds the previous take's
     * tail must not raise the floor the release end is judged by. */
    double room_floor_db;
    bool room_floor_known;
    /* After a take whose release was cut at the plan's maximum the instrument is still
     * sounding: the next note waits until it is quiet (or settle_limit), so no take's
     * pre-roll holds the previous note's tail. */
    bool settling;
    int64_t settle_pos, settle_limit;
    double settle_quiet_db;
    uint32_t settle_quiet_frames;
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
    return (int64_t)llround(ms * self->rate / 1000.0);
}

/* Node-clock time -> absolute stream frame (timemap.h). */
static int64_t s_frame_at(node_recorder_t *self, int64_t t)
{
    if (node_timemap_empty(&self->timemap))
        return self->hist_end;
    return node_timemap_frame_at(&self->timemap, t);
}

/* Absolute stream frame -> node-clock time. */
static int64_t s_time_at(node_recorder_t *self, int64_t frame)
{
    if (node_timemap_empty(&self->timemap))
        return bb_node_clock_ns();
    return node_timemap_time_at(&self->timemap, frame);
}

static const float *s_hist(node_recorder_t *self, int64_t frame)
{
    return self->history + ((uint64_t)frame & self->hist_mask) * self->channels;
}

/* Frames from `frame` that are contiguous in the history buffer (up to n). */
static uint32_t s_hist_run(node_recorder_t *self, int64_t frame, int64_t n)
{
    uint64_t at = (uint64_t)frame & self->hist_mask;
    uint64_t run = self->hist_cap - at;
    return (uint32_t)((int64_t)run < n ? (int64_t)run : n);
}

static void s_notify(node_recorder_t *self, const char *what, const char *id, const char *detail)
{
    if (self->notify)
        zstr_sendx(self->notify, what, id, detail ? detail : "", NULL);
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

static void s_note_off_now(node_recorder_t *self, const Bb__TakeJob *job)
{
    node_midi_event_t off = {
        .tag = 0,
        .deadline_ns = 0,
        .len = 3,
        .msg = {(uint8_t)(0x80 | ((job->midi_channel - 1) & 0x0F)), (uint8_t)job->note, 0}};
    node_midi_sched_post(self->midi, &off);
}

static void s_take_fail(node_recorder_t *self, const char *reason)
{
    s_take_t *t = self->take;
    bb_warn("take %s failed: %s", t->job->take_id, reason);
    node_midi_sched_cancel(self->midi, ~(uint64_t)0xFF, t->seq << 8);
    s_note_off_now(self, t->job); /* harmless if the note-on never went out */
    s_notify(self, "FAILED", t->job->take_id, reason);
    self->next_free_ns = bb_node_clock_ns();
    s_take_free(&self->take);
}

static void s_take_start(node_recorder_t *self, Bb__TakeJob *job)
{
    s_take_t *t = calloc(1, sizeof *t);
    if (!t) {
        s_notify(self, "FAILED", job->take_id, "out of memory");
        bb__take_job__free_unpacked(job, NULL);
        return;
    }
    t->job = job;
    t->seq = ++self->take_seq;
    t->end_limit = INT64_MAX;
    t->end_frame = -1;
    self->take = t;

    const double speed = bb_node_clock_speed();
    int64_t now = bb_node_clock_ns();
    int64_t preroll_ns = (int64_t)job->preroll_ms * BB_NS_PER_MS;
    int64_t on = now + (int64_t)(NODE_REC_LEAD_NS * speed);
    if (self->next_free_ns + preroll_ns > on)
        on = self->next_free_ns + preroll_ns;
    uint8_t ch = (uint8_t)((job->midi_channel - 1) & 0x0F);

    if (job->setup) { /* program, bank and controllers before the instrument's first take */
        const Bb__MidiSetup *s = job->setup;
        node_midi_event_t ev = {.tag = (t->seq << 8) | TAG_SETUP, .deadline_ns = 0, .len = 3};
        if (s->bank_msb >= 0) {
            ev.msg[0] = 0xB0 | ch, ev.msg[1] = 0, ev.msg[2] = (uint8_t)(s->bank_msb & 0x7F);
            node_midi_sched_post(self->midi, &ev);
        }
        if (s->bank_lsb >= 0) {
            ev.msg[0] = 0xB0 | ch, ev.msg[1] = 32, ev.msg[2] = (uint8_t)(s->bank_lsb & 0x7F);
            node_midi_sched_post(self->midi, &ev);
        }
        if (s->program >= 0) {
            node_midi_event_t pc = ev;
            pc.len = 2, pc.msg[0] = 0xC0 | ch, pc.msg[1] = (uint8_t)(s->program & 0x7F);
            node_midi_sched_post(self->midi, &pc);
        }
        for (size_t i = 0; i + 1 < s->n_cc; i += 2) {
            ev.msg[0] = 0xB0 | ch, ev.msg[1] = (uint8_t)(s->cc[i] & 0x7F);
            ev.msg[2] = (uint8_t)(s->cc[i + 1] & 0x7F);
            node_midi_sched_post(self->midi, &ev);
        }
        int64_t settled = now + (int64_t)(NODE_REC_SETUP_SETTLE_NS * speed) + preroll_ns;
        if (settled > on)
            on = settled;
    }
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
    if (node_midi_sched_post(self->midi, &non) || node_midi_sched_post(self->midi, &noff)) {
        node_midi_sched_cancel(self->midi, ~(uint64_t)0xFF, t->seq << 8);
        s_notify(self, "FAILED", job->take_id, "MIDI queue full");
        s_take_free(&self->take);
        return;
    }
    bb_debug("take %s: note %u vel %u, note-on in %.1f ms", job->take_id, job->note, job->velocity,
             (on - now) / 1e6);
}

static void s_on_report(node_recorder_t *self, const node_midi_event_t *ev)
{
    s_take_t *t = self->take;
    if (!t || (ev->tag >> 8) != t->seq)
        return; /* setup messages, panic, or a take already gone */
    unsigned kind = ev->tag & 0xFF;
    if (kind == TAG_SETUP)
        return;
    if (ev->status != 0) {
        s_take_fail(self, "the MIDI output refused the note (device gone?)");
        return;
    }
    int64_t latency = s_ms_to_frames(self, s_latency_ms(self));
    if (kind == TAG_NOTE_ON && t->state == T_ARMED) {
        t->on_sent = ev->sent_ns;
        t->on_frame = s_frame_at(self, ev->sent_ns) + latency;
        t->start_frame = t->on_frame - s_ms_to_frames(self, t->job->preroll_ms);
        int64_t oldest = self->hist_end - (int64_t)self->hist_cap;
        if (t->start_frame < oldest) {
            bb_warn("take %s: pre-roll reaches back past the history; shortened", t->job->take_id);
            t->start_frame = oldest;
        }
        if (t->start_frame < 0)
            t->start_frame = 0;
        t->noise_pos = t->written_until = t->start_frame;
        t->xruns = 0;
        char err[256];
        t->spool =
            node_spool_take_begin(self->spool, t->job->take_id, self->channels, err, sizeof err);
        if (!t->spool) {
            s_take_fail(self, err);
            return;
        }
        t->state = T_RECORDING;
    } else if (kind == TAG_NOTE_OFF && t->state == T_RECORDING) {
        t->off_sent = ev->sent_ns;
        t->off_frame = s_frame_at(self, ev->sent_ns) + latency;
        if (t->off_frame < t->on_frame)
            t->off_frame = t->on_frame;
        t->env_pos = t->off_frame;
        t->end_limit = t->off_frame + s_ms_to_frames(self, t->job->release_ms);
        if (t->job->release_policy == BB__RELEASE_POLICY__RELEASE_FIXED) {
            t->end_frame = t->end_limit;
            t->capped = true;
        }
        t->state = T_RELEASING;
    }
}

/* Pre-roll RMS over [start, on_frame): the noise floor this take's release is judged by,
 * bounded by the room floor (see room_floor_db). */
static void s_noise_pass(node_recorder_t *self, s_take_t *t)
{
    if (t->noise_done)
        return;
    int64_t stop = t->on_frame < self->hist_end ? t->on_frame : self->hist_end;
    for (; t->noise_pos < stop; t->noise_pos++) {
        const float *f = s_hist(self, t->noise_pos);
        int half = t->noise_pos >= (t->start_frame + t->on_frame) / 2;
        for (uint32_t c = 0; c < self->channels; c++) {
            t->noise_sq[c] += (double)f[c] * f[c];
            t->noise_half_sq[half] += (double)f[c] * f[c];
        }
        t->noise_n++;
    }
    if (t->noise_pos >= t->on_frame) {
        double worst = 0;
        for (uint32_t c = 0; c < self->channels; c++)
            if (t->noise_n && t->noise_sq[c] / t->noise_n > worst)
                worst = t->noise_sq[c] / t->noise_n;
        double db = worst > 0 ? 10.0 * log10(worst) : NODE_REC_MIN_FLOOR_DB;
        if (db < NODE_REC_MIN_FLOOR_DB)
            db = NODE_REC_MIN_FLOOR_DB;
        /* Only a steady pre-roll (its halves within 0.5 dB) may raise the floor: one that
         * still holds a decaying tail says nothing about the room. */
        double h0 = t->noise_half_sq[0], h1 = t->noise_half_sq[1];
        bool steady = h0 > 0 && h1 > 0 && h0 < 1.122 * h1 && h1 < 1.122 * h0;
        if (self->room_floor_known && db > self->room_floor_db) {
            if (steady)
                self->room_floor_db = db - self->room_floor_db > NODE_REC_FLOOR_CREEP_DB
                                          ? self->room_floor_db + NODE_REC_FLOOR_CREEP_DB
                                          : db;
            db = self->room_floor_db;
        } else {
            self->room_floor_db = db;
            self->room_floor_known = true;
        }
        t->noise_db = db;
        t->noise_done = true;
    }
}

/* RMS level of the loudest channel over history frames [pos, pos + win), dBFS. */
static double s_window_db(node_recorder_t *self, int64_t pos, int64_t win)
{
    double loudest = 0;
    for (uint32_t c = 0; c < self->channels; c++) {
        double sq = 0;
        for (int64_t i = 0; i < win; i++) {
            float v = s_hist(self, pos + i)[c];
            sq += (double)v * v;
        }
        if (sq / win > loudest)
            loudest = sq / win;
    }
    return loudest > 0 ? 10.0 * log10(loudest) : NODE_REC_MIN_FLOOR_DB;
}

/* 10 ms windows after the note-off; the take ends once NODE_REC_QUIET_MS of them sit
 * within release_floor_db of the noise floor, or at the maximum release. */
static void s_release_pass(node_recorder_t *self, s_take_t *t)
{
    if (t->end_frame >= 0 || t->noise_pos < t->on_frame)
        return;
    const int64_t win = s_ms_to_frames(self, NODE_REC_WINDOW_MS);
    const double floor_db = t->job->release_floor_db > 0 ? t->job->release_floor_db : 6.0;
    const double quiet_db = t->noise_db + floor_db;
    while (t->env_pos + win <= self->hist_end && t->end_frame < 0) {
        double db = s_window_db(self, t->env_pos, win);
        t->env_pos += win;
        t->quiet_frames = db <= quiet_db ? t->quiet_frames + (uint32_t)win : 0;
        if (t->quiet_frames >= s_ms_to_frames(self, NODE_REC_QUIET_MS))
            t->end_frame = t->env_pos;
        else if (t->env_pos >= t->end_limit) {
            t->end_frame = t->end_limit;
            t->capped = true;
        }
    }
}

static int s_spool_pass(node_recorder_t *self, s_take_t *t)
{
    int64_t stop = self->hist_end;
    int64_t end = t->end_frame >= 0 ? t->end_frame : t->end_limit;
    if (end < stop)
        stop = end;
    while (t->written_until < stop) {
        uint32_t n = s_hist_run(self, t->written_until, stop - t->written_until);
        int rc = node_spool_take_write(t->spool, s_hist(self, t->written_until), n);
        if (rc)
            return rc;
        t->written_until += n;
    }
    return 0;
}

static void s_take_commit(node_recorder_t *self)
{
    s_take_t *t = self->take;
    Bb__TakeFormat format = BB__TAKE_FORMAT__INIT;
    format.sample_rate = self->rate;
    format.channels = self->channels;
    Bb__TakeEndRequest end = BB__TAKE_END_REQUEST__INIT;
    end.take_id = t->job->take_id;
    end.note_on_frame = t->on_frame - t->start_frame;
    end.note_off_frame = t->off_frame - t->start_frame;
    end.xruns = t->xruns;
    end.stream_start_frame = (uint64_t)t->start_frame;
    end.latency_offset_ms = s_latency_ms(self);
    end.noise_floor_db = (float)t->noise_db;
    end.release_capped = t->capped;
    end.note_on_sent_ns = t->on_sent;
    end.note_on_deadline_ns = t->on_deadline;
    Bb__SpoolHeader hdr = BB__SPOOL_HEADER__INIT;
    hdr.job = t->job;
    hdr.format = &format;
    hdr.end = &end;
    hdr.node = self->node_name;
    int rc = node_spool_take_commit(&t->spool, &hdr, NODE_CHUNK_BYTES);
    self->next_free_ns = s_time_at(self, t->end_frame);
    if (t->capped) {
        const double floor_db = t->job->release_floor_db > 0 ? t->job->release_floor_db : 6.0;
        self->settling = true;
        self->settle_pos = t->end_frame;
        self->settle_limit =
            t->end_frame +
            s_ms_to_frames(self, t->job->release_ms < 10000 ? t->job->release_ms : 10000);
        self->settle_quiet_db = t->noise_db + floor_db;
        self->settle_quiet_frames = 0;
    }
    if (rc) {
        char why[160];
        snprintf(why, sizeof why, "cannot write the take to the spool: %s", bb_strerror(rc));
        s_notify(self, "FAILED", t->job->take_id, why);
    } else {
        bb_debug("take %s spooled: %.3f s, noise %.1f dBFS%s", t->job->take_id,
                 (double)(t->end_frame - t->start_frame) / self->rate, t->noise_db,
                 t->capped ? ", release capped" : "");
        s_notify(self, "TAKE", t->job->take_id, NULL);
    }
    s_take_free(&self->take);
}

/* ---- the thread ---- */

static void s_drain(node_recorder_t *self)
{
    node_block_t b;
    while (node_ring_read(&self->cap->blocks, &b, 1) == 1) {
        node_timemap_add(&self->timemap, &b);
        if (b.flags & (NODE_AUDIO_INPUT_OVERFLOW | NODE_CAPTURE_RING_FULL)) {
            atomic_fetch_add(&self->xruns, 1);
            if (self->take && self->take->state != T_ARMED)
                self->take->xruns++;
        }
    }
    size_t n;
    while ((n = node_ring_read(&self->cap->audio, self->scratch, NODE_REC_SCRATCH_FRAMES)) > 0) {
        size_t done = 0;
        while (done < n) {
            uint32_t run = s_hist_run(self, self->hist_end, (int64_t)(n - done));
            memcpy((float *)s_hist(self, self->hist_end), self->scratch + done * self->channels,
                   (size_t)run * self->channels * sizeof(float));
            self->hist_end += run;
            done += run;
        }
    }
}

/* Same windows and rule as the release pass, between takes. */
static void s_settle_pass(node_recorder_t *self)
{
    const int64_t win = s_ms_to_frames(self, NODE_REC_WINDOW_MS);
    if (self->settle_pos < self->hist_end - (int64_t)self->hist_cap)
        self->settle_pos = self->hist_end - (int64_t)self->hist_cap;
    while (self->settling && self->settle_pos + win <= self->hist_end) {
        double db = s_window_db(self, self->settle_pos, win);
        self->settle_pos += win;
        self->settle_quiet_frames =
            db <= self->settle_quiet_db ? self->settle_quiet_frames + (uint32_t)win : 0;
        if (self->settle_quiet_frames >= s_ms_to_frames(self, NODE_REC_QUIET_MS) ||
            self->settle_pos >= self->settle_limit) {
            self->settling = false;
            self->next_free_ns = s_time_at(self, self->settle_pos);
        }
    }
}

static void s_step(node_recorder_t *self)
{
    s_drain(self);
    if (!self->take && self->settling)
        s_settle_pass(self);

    node_midi_event_t ev;
    while (node_midi_sched_report(self->midi, &ev))
        s_on_report(self, &ev);

    s_take_t *t = self->take;
    if (t && t->state != T_ARMED) {
        if (t->written_until < self->hist_end - (int64_t)self->hist_cap) {
            s_take_fail(self, "the recorder fell behind and lost audio (overload?)");
            return;
        }
        s_noise_pass(self, t);
        if (t->state == T_RELEASING)
            s_release_pass(self, t);
        int rc = s_spool_pass(self, t);
        if (rc) {
            char why[160];
            snprintf(why, sizeof why, "cannot write the take to the spool: %s", bb_strerror(rc));
            s_take_fail(self, why);
            return;
        }
        if (t->end_frame >= 0 && t->written_until >= t->end_frame)
            s_take_commit(self);
    }
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
            if (self->take && (batch == 0 || self->take->job->batch_id == batch))
                s_take_fail(self, "aborted");
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
            if (self->take)
                s_take_fail(self, reason);
            for (int i = 0; i < n; i++) { /* handed back: the coordinator runs them again */
                s_notify(self, "FAILED", queued[i]->take_id, reason);
                bb__take_job__free_unpacked(queued[i], NULL);
            }
            self->settling = false;
            pthread_mutex_lock(&self->lock);
        }
        if (self->back_pending) {
            self->back_pending = false;
            /* The next pre-roll must not reach back into audio from before the loss, nor
             * hold the tail of the note the loss interrupted: settle first, as after a
             * capped release. */
            self->next_free_ns = bb_node_clock_ns();
            self->settling = true;
            self->settle_pos = self->hist_end;
            self->settle_limit = self->hist_end + s_ms_to_frames(self, NODE_REC_BACK_SETTLE_MS);
            self->settle_quiet_db =
                (self->room_floor_known ? self->room_floor_db : NODE_REC_MIN_FLOOR_DB) + 6.0;
            self->settle_quiet_frames = 0;
        }
        Bb__TakeJob *next = NULL;
        if (!self->take && !self->settling && !self->device_lost && self->n_queue > 0) {
            next = self->queue[0];
            memmove(&self->queue[0], &self->queue[1], (size_t)(self->n_queue - 1) * sizeof next);
            self->n_queue--;
        }
        pthread_mutex_unlock(&self->lock);

        if (next)
            s_take_start(self, next);
        s_step(self);

        pthread_mutex_lock(&self->lock);
        atomic_store(&self->busy, (uint32_t)(self->n_queue + (self->take ? 1 : 0)));
        if (self->running && !self->abort_requested &&
            (self->take || self->settling || self->n_queue == 0)) {
            int64_t wake = bb_mono_ns() + NODE_REC_WAKE_NS;
            struct timespec ts = {.tv_sec = wake / BB_NS_PER_S, .tv_nsec = wake % BB_NS_PER_S};
            pthread_cond_timedwait(&self->wake, &self->lock, &ts);
        }
    }
    pthread_mutex_unlock(&self->lock);
    if (self->take)
        s_take_fail(self, "the node is shutting down");
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
    self->spool = cfg->spool;
    self->rate = cfg->cap->sample_rate;
    self->channels = cfg->cap->channels;
    snprintf(self->node_name, sizeof self->node_name, "%s", cfg->node_name ? cfg->node_name : "");
    snprintf(self->notify_endpoint, sizeof self->notify_endpoint, "%s", cfg->notify_endpoint);
    node_timemap_init(&self->timemap, self->rate);
    self->hist_cap = cfg->history_frames;
    self->hist_mask = self->hist_cap - 1;
    self->history = calloc(self->hist_cap * self->channels, sizeof(float));
    self->scratch = calloc((size_t)NODE_REC_SCRATCH_FRAMES * self->channels, sizeof(float));
    if (!self->history || !self->scratch) {
        free(self->history);
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
    self->next_free_ns = bb_node_clock_ns();
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        pthread_cond_destroy(&self->wake);
        pthread_mutex_destroy(&self->lock);
        free(self->history);
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
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self->history);
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
    int queued = self->n_queue + (self->take ? 1 : 0);
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
