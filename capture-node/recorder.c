/*
 * recorder.c — the recorder thread of recorder.h.
 *
 * Each wake-up (every 10 ms of real time, or at once when a job arrives) does, in order:
 * drain block records into the time map, drain audio into the history, apply MIDI
 * reports (they fix where the take starts and where its release begins), then advance the
 * current take through the three passes of recorder_pass.h over the history: noise
 * (pre-roll RMS), release (10 ms windows from the note-off, which decide the end frame)
 * and spool (writes frames up to the end). This file is the thread around them: the job
 * queue, MIDI, the time map, settling between takes, device loss, the spool commit.
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
#define NODE_REC_BACK_SETTLE_MS  3000 /* at most, after the audio device came back */

enum { TAG_NOTE_ON = 1, TAG_NOTE_OFF = 2, TAG_SETUP = 3 };

typedef enum { T_ARMED, T_RECORDING, T_RELEASING } s_take_state_t;

typedef struct {
    Bb__TakeJob *job;
    uint64_t seq;
    s_take_state_t state;
    int64_t on_deadline, on_sent, off_sent;
    node_take_pass_t p; /* frames, noise floor, release end, spool position */
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

    s_take_t *take;
    int64_t next_free_ns;
    uint64_t take_seq;
    node_room_floor_t room; /* the floor each take's release end is judged by */
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

/* self->take belongs to the recorder thread, which alone writes it and may read it
 * unlocked; node_recorder_submit (the link thread) reads it under the lock, so every
 * write happens under the lock too. */
static void s_set_take(node_recorder_t *self, s_take_t *t)
{
    pthread_mutex_lock(&self->lock);
    self->take = t;
    pthread_mutex_unlock(&self->lock);
}

/* Ends the current take: unpublished under the lock, then freed. */
static void s_drop_take(node_recorder_t *self)
{
    s_take_t *t = self->take;
    s_set_take(self, NULL);
    s_take_free(&t);
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
    self->next_free_ns = bb_node_clock_ns();
    s_set_take(self, NULL); /* over before it is reported, as in s_take_commit */
    s_notify(self, "FAILED", t->job->take_id, reason);
    s_take_free(&t);
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
    t->p = (node_take_pass_t)NODE_TAKE_PASS_INIT;
    s_set_take(self, t);

    const double speed = bb_node_clock_speed();
    int64_t now = bb_node_clock_ns();
    int64_t preroll_ns = (int64_t)job->preroll_ms * BB_NS_PER_MS;
    int64_t on = now + (int64_t)(NODE_REC_LEAD_NS * speed);
    if (self->next_free_ns + preroll_ns > on)
        on = self->next_free_ns + preroll_ns;
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
                s_drop_take(self);
                return;
            }
            memcpy(sx.sysex, s->sysex[i].data, s->sysex[i].len);
            sx.sysex_len = (uint32_t)s->sysex[i].len;
            if (node_midi_sched_post(self->midi, &sx))
                free(sx.sysex);
        }
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
        /* the default in real time (the messages must get out); the plan's in the
         * instrument's time, as its notes */
        int64_t settle_ns = (int64_t)(NODE_REC_SETUP_SETTLE_NS * speed);
        if ((int64_t)s->settle_ms * BB_NS_PER_MS > settle_ns)
            settle_ns = (int64_t)s->settle_ms * BB_NS_PER_MS;
        int64_t settled = now + settle_ns + preroll_ns;
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
        s_drop_take(self);
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
    if (kind == TAG_SETUP) {
        if (ev->status != 0 && t->state == T_ARMED)
            s_take_fail(self, "the MIDI output refused the instrument's setup (SysEx needs a "
                              "MIDI backend that can send it; device gone?)");
        return;
    }
    if (ev->status != 0) {
        s_take_fail(self, "the MIDI output refused the note (device gone?)");
        return;
    }
    int64_t latency = s_ms_to_frames(self, s_latency_ms(self));
    if (kind == TAG_NOTE_ON && t->state == T_ARMED) {
        t->on_sent = ev->sent_ns;
        t->p.on_frame = s_frame_at(self, ev->sent_ns) + latency;
        t->p.start_frame = t->p.on_frame - s_ms_to_frames(self, t->job->preroll_ms);
        int64_t oldest = self->hist.end - (int64_t)self->hist.cap;
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
            node_spool_take_begin(self->spool, t->job->take_id, self->channels, err, sizeof err);
        if (!t->spool) {
            s_take_fail(self, err);
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

static void s_take_commit(node_recorder_t *self)
{
    s_take_t *t = self->take;
    Bb__TakeFormat format = BB__TAKE_FORMAT__INIT;
    format.sample_rate = self->rate;
    format.channels = self->channels;
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
    Bb__SpoolHeader hdr = BB__SPOOL_HEADER__INIT;
    hdr.job = t->job;
    hdr.format = &format;
    hdr.end = &end;
    hdr.node = self->node_name;
    int rc = node_spool_take_commit(&t->spool, &hdr, NODE_CHUNK_BYTES);
    self->next_free_ns = s_time_at(self, t->p.end_frame);
    if (t->p.capped) {
        self->settling = true;
        self->settle_pos = t->p.end_frame;
        self->settle_limit =
            t->p.end_frame +
            s_ms_to_frames(self, t->job->release_ms < 10000 ? t->job->release_ms : 10000);
        self->settle_quiet_db = t->p.noise_db + s_release_floor_db(t->job);
        self->settle_quiet_frames = 0;
    }
    /* the take is over before anyone hears of it: a job sent on its report finds the
     * recorder free (node_recorder_submit counts the current take as queued) */
    s_set_take(self, NULL);
    if (rc) {
        char why[160];
        snprintf(why, sizeof why, "cannot write the take to the spool: %s", bb_strerror(rc));
        s_notify(self, "FAILED", t->job->take_id, why);
    } else {
        bb_debug("take %s spooled: %.3f s, noise %.1f dBFS%s", t->job->take_id,
                 (double)(t->p.end_frame - t->p.start_frame) / self->rate, t->p.noise_db,
                 t->p.capped ? ", release capped" : "");
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
            if (self->take && self->take->state != T_ARMED)
                self->take->xruns++;
        }
    }
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
}

/* Same windows and rule as the release pass, between takes. */
static void s_settle_pass(node_recorder_t *self)
{
    const int64_t win = s_ms_to_frames(self, NODE_REC_WINDOW_MS);
    if (self->settle_pos < self->hist.end - (int64_t)self->hist.cap)
        self->settle_pos = self->hist.end - (int64_t)self->hist.cap;
    while (self->settling && self->settle_pos + win <= self->hist.end) {
        double db = node_history_window_db(&self->hist, self->settle_pos, win);
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
        if (t->p.written_until < self->hist.end - (int64_t)self->hist.cap) {
            s_take_fail(self, "the recorder fell behind and lost audio (overload?)");
            return;
        }
        node_pass_noise(&t->p, &self->hist, &self->room);
        if (t->state == T_RELEASING) {
            node_pass_keyup(&t->p, &self->hist, self->rate);
            node_pass_release(&t->p, &self->hist, self->rate, s_release_floor_db(t->job));
        }
        int rc = node_pass_spool(&t->p, &self->hist, s_spool_write, t->spool);
        if (rc) {
            char why[160];
            snprintf(why, sizeof why, "cannot write the take to the spool: %s", bb_strerror(rc));
            s_take_fail(self, why);
            return;
        }
        if (t->p.end_frame >= 0 && t->p.written_until >= t->p.end_frame)
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
            self->settle_pos = self->hist.end;
            self->settle_limit = self->hist.end + s_ms_to_frames(self, NODE_REC_BACK_SETTLE_MS);
            self->settle_quiet_db = (self->room.known ? self->room.db : NODE_REC_MIN_FLOOR_DB) +
                                    NODE_REC_RELEASE_FLOOR_DB;
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
    self->next_free_ns = bb_node_clock_ns();
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
