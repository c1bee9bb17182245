/*
 * midi_sched.h — the node's MIDI thread: sends MIDI messages at absolute node-clock
 * deadlines and reports when each was really sent.
 *
 * Callers post events (any thread); the thread sleeps on the monotonic clock
 * (clock_nanosleep, TIMER_ABSTIME) until the earliest deadline, reads the clock, writes
 * the message through the MIDI backend and queues a report with the time it read. The
 * recorder turns the reported times into frame positions in the audio.
 */
#ifndef NODE_MIDI_SCHED_H
#define NODE_MIDI_SCHED_H

#include <stdint.h>

#include "midi.h"

#define NODE_MIDI_SCHED_MAX 128 /* events waiting at once */

typedef struct {
    uint64_t tag;        /* the poster's id, echoed in the report */
    int64_t deadline_ns; /* node clock; 0 or past = as soon as possible */
    int64_t sent_ns;     /* report: node clock read just before the write */
    int status;          /* report: 0, or the backend's error */
    uint8_t msg[3];
    uint8_t len;
    /* A System Exclusive message instead of msg: malloc'd, owned by the scheduler once
     * posted (freed after it is sent, dropped or the scheduler destroyed); NULL in
     * reports. */
    uint8_t *sysex;
    uint32_t sysex_len;
} node_midi_event_t;

typedef struct node_midi_sched_t node_midi_sched_t;

/* Starts the thread. The backend and port must outlive the scheduler. */
node_midi_sched_t *node_midi_sched_new(const node_midi_backend_t *backend, node_midi_port_t *port);
/* Stops the thread (pending events are dropped) and frees. NULLs *self_p. */
void node_midi_sched_destroy(node_midi_sched_t **self_p);
/* Queues an event. Returns 0, or BB_EBUSY when the queue is full (a SysEx event stays
 * the caller's then). A SysEx event to a backend without send_sysex is reported with
 * status BB_EDEVICE. */
int node_midi_sched_post(node_midi_sched_t *self, const node_midi_event_t *ev);
/* Pops the oldest report; returns 1 when one was popped, 0 when none. */
int node_midi_sched_report(node_midi_sched_t *self, node_midi_event_t *out);
/* Drops events not yet sent whose tag & mask == value; returns how many. */
int node_midi_sched_cancel(node_midi_sched_t *self, uint64_t mask, uint64_t value);
/* Silences the instrument now, ahead of queued events: note-offs for every note this
 * scheduler turned on and left sounding, then All Notes Off (CC123) and All Sound Off
 * (CC120) on each channel used. Carried out by the MIDI thread; a panic asked for before
 * node_midi_sched_destroy() still goes out. */
void node_midi_sched_panic(node_midi_sched_t *self);

#endif
