/*
 * midi_sched.c — the MIDI thread of midi_sched.h.
 *
 * The queue is a small array kept sorted by deadline under a mutex; this thread is not
 * the audio callback, so a mutex is fine, but it is never held while sleeping to a
 * deadline or writing to the port. The wait has two stages: a condition-variable wait on
 * CLOCK_MONOTONIC until ~1 ms before the deadline (so a newly posted earlier event wakes
 * us), then clock_nanosleep to the exact deadline. The thread asks for SCHED_FIFO and
 * runs without it when the system refuses.
 *
 * The thread remembers which notes it turned on (a bit per channel and note) and which
 * channels it used. A panic (abort, cancel, shutdown) is carried out by the thread
 * itself, ahead of any queued event: a note-off for every note still sounding, then
 * All Notes Off (CC123) and All Sound Off (CC120) on every channel used (all 16 when none
 * was), because some instruments ignore one or the other.
 */
#include "midi_sched.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bb_clock.h"
#include "bb_err.h"

#define NODE_MIDI_EARLY_WAKE_NS (1 * BB_NS_PER_MS)
#define NODE_MIDI_REPORTS_MAX   256

struct node_midi_sched_t {
    const node_midi_backend_t *backend;
    node_midi_port_t *port;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool running;
    node_midi_event_t queue[NODE_MIDI_SCHED_MAX];
    int n_queue;
    node_midi_event_t reports[NODE_MIDI_REPORTS_MAX]; /* circular */
    int report_head, n_reports;
    bool panic_requested;
    /* owned by the thread */
    uint64_t sounding[16][2]; /* note bits per channel */
    uint16_t channels_used;
};

/* Thread: keeps track of sounding notes from what went out. */
static void s_track(node_midi_sched_t *self, const uint8_t *msg, size_t len)
{
    if (len < 3)
        return;
    uint8_t kind = msg[0] & 0xF0, ch = msg[0] & 0x0F, note = msg[1] & 0x7F;
    if (kind != 0x80 && kind != 0x90 && kind != 0xB0)
        return;
    self->channels_used |= (uint16_t)(1u << ch);
    uint64_t bit = 1ull << (note & 63);
    if (kind == 0x90 && msg[2] > 0)
        self->sounding[ch][note >> 6] |= bit;
    else if (kind == 0x80 || kind == 0x90)
        self->sounding[ch][note >> 6] &= ~bit;
    else if (note == 123 || note == 120) /* CC: all notes / sound off */
        self->sounding[ch][0] = self->sounding[ch][1] = 0;
}

/* Thread, lock not held: silences everything this scheduler may have started. */
static void s_panic_now(node_midi_sched_t *self)
{
    uint16_t used = self->channels_used ? self->channels_used : 0xFFFF;
    for (uint8_t ch = 0; ch < 16; ch++) {
        for (uint8_t note = 0; note < 128; note++) {
            if (!(self->sounding[ch][note >> 6] & (1ull << (note & 63))))
                continue;
            uint8_t off[3] = {(uint8_t)(0x80 | ch), note, 0};
            self->backend->send(self->port, off, 3, bb_node_clock_ns());
        }
        self->sounding[ch][0] = self->sounding[ch][1] = 0;
        if (!(used & (1u << ch)))
            continue;
        uint8_t anf[3] = {(uint8_t)(0xB0 | ch), 123, 0};
        uint8_t asf[3] = {(uint8_t)(0xB0 | ch), 120, 0};
        self->backend->send(self->port, anf, 3, bb_node_clock_ns());
        self->backend->send(self->port, asf, 3, bb_node_clock_ns());
    }
}

static void s_add_report(node_midi_sched_t *self, const node_midi_event_t *ev)
{
    if (self->n_reports == NODE_MIDI_REPORTS_MAX) { /* nobody reads: keep the newest */
        self->report_head = (self->report_head + 1) % NODE_MIDI_REPORTS_MAX;
        self->n_reports--;
    }
    int at = (self->report_head + self->n_reports) % NODE_MIDI_REPORTS_MAX;
    self->reports[at] = *ev;
    self->n_reports++;
}

static void *s_run(void *arg)
{
    node_midi_sched_t *self = arg;
    struct sched_param sp = {.sched_priority = sched_get_priority_min(SCHED_FIFO) + 10};
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp); /* best effort */

    pthread_mutex_lock(&self->lock);
    while (self->running) {
        if (self->panic_requested) {
            self->panic_requested = false;
            pthread_mutex_unlock(&self->lock);
            s_panic_now(self);
            pthread_mutex_lock(&self->lock);
            continue;
        }
        if (self->n_queue == 0) {
            pthread_cond_wait(&self->wake, &self->lock);
            continue;
        }
        int64_t deadline = self->queue[0].deadline_ns;
        int64_t now = bb_node_clock_ns();
        if (deadline - now > NODE_MIDI_EARLY_WAKE_NS) {
            int64_t wake = bb_node_clock_to_mono(deadline - NODE_MIDI_EARLY_WAKE_NS);
            struct timespec ts = {.tv_sec = wake / BB_NS_PER_S, .tv_nsec = wake % BB_NS_PER_S};
            pthread_cond_timedwait(&self->wake, &self->lock, &ts);
            continue; /* re-evaluate: an earlier event may have arrived */
        }
        pthread_mutex_unlock(&self->lock);
        if (deadline > now)
            bb_node_clock_sleep_until(deadline);
        pthread_mutex_lock(&self->lock);
        /* While we slept unlocked, the awaited event may have been cancelled: the queue's
         * head is then another event, maybe seconds later. Send only what is due. */
        if (!self->running || self->n_queue == 0 || self->queue[0].deadline_ns > bb_node_clock_ns())
            continue;
        node_midi_event_t ev = self->queue[0];
        memmove(&self->queue[0], &self->queue[1], (size_t)(self->n_queue - 1) * sizeof ev);
        self->n_queue--;
        pthread_mutex_unlock(&self->lock);

        ev.sent_ns = bb_node_clock_ns();
        if (ev.sysex) {
            ev.status =
                self->backend->send_sysex
                    ? self->backend->send_sysex(self->port, ev.sysex, ev.sysex_len, ev.sent_ns)
                    : BB_EDEVICE;
            free(ev.sysex);
            ev.sysex = NULL;
        } else {
            ev.status = self->backend->send(self->port, ev.msg, ev.len, ev.sent_ns);
            if (ev.status == 0)
                s_track(self, ev.msg, ev.len);
        }

        pthread_mutex_lock(&self->lock);
        s_add_report(self, &ev);
    }
    bool panic = self->panic_requested; /* a panic asked for just before shutdown */
    self->panic_requested = false;
    pthread_mutex_unlock(&self->lock);
    if (panic)
        s_panic_now(self);
    return NULL;
}

node_midi_sched_t *node_midi_sched_new(const node_midi_backend_t *backend, node_midi_port_t *port)
{
    node_midi_sched_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->backend = backend;
    self->port = port;
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
        free(self);
        return NULL;
    }
    return self;
}

void node_midi_sched_destroy(node_midi_sched_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    node_midi_sched_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->running = false;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    for (int i = 0; i < self->n_queue; i++)
        free(self->queue[i].sysex);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int node_midi_sched_post(node_midi_sched_t *self, const node_midi_event_t *ev)
{
    pthread_mutex_lock(&self->lock);
    if (self->n_queue == NODE_MIDI_SCHED_MAX) {
        pthread_mutex_unlock(&self->lock);
        return BB_EBUSY;
    }
    int i = self->n_queue;
    while (i > 0 && self->queue[i - 1].deadline_ns > ev->deadline_ns) {
        self->queue[i] = self->queue[i - 1];
        i--;
    }
    self->queue[i] = *ev;
    self->n_queue++;
    if (i == 0)
        pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

int node_midi_sched_report(node_midi_sched_t *self, node_midi_event_t *out)
{
    pthread_mutex_lock(&self->lock);
    int got = self->n_reports > 0;
    if (got) {
        *out = self->reports[self->report_head];
        self->report_head = (self->report_head + 1) % NODE_MIDI_REPORTS_MAX;
        self->n_reports--;
    }
    pthread_mutex_unlock(&self->lock);
    return got;
}

int node_midi_sched_cancel(node_midi_sched_t *self, uint64_t mask, uint64_t value)
{
    pthread_mutex_lock(&self->lock);
    int kept = 0, dropped = 0;
    for (int i = 0; i < self->n_queue; i++) {
        if ((self->queue[i].tag & mask) == value) {
            free(self->queue[i].sysex);
            dropped++;
        } else {
            self->queue[kept++] = self->queue[i];
        }
    }
    self->n_queue = kept;
    pthread_mutex_unlock(&self->lock);
    return dropped;
}

void node_midi_sched_panic(node_midi_sched_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->panic_requested = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
}
