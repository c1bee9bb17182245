/*
 * smf_write.h — a Standard MIDI File (format 0, one track) from a list of timed channel
 * messages, for the tests and benches that have a player (fluidsynth, TiMidity++) render
 * notes from a file.
 *
 * Written here, not with a library: the only SMF library Debian packages (libsmf) is
 * unmaintained since 2010, and what is needed is one track of short messages with a fixed
 * tempo, a page of code. Format: the Standard MIDI Files 1.0 specification (MIDI
 * Manufacturers Association): MThd with division 500 ticks per quarter note, one MTrk
 * opening with a tempo of 500000 us per quarter note, so one tick is one millisecond;
 * delta times as variable-length quantities.
 */
#ifndef BB_SMF_WRITE_H
#define BB_SMF_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t t_ms;   /* from the start of the file, >= 0 */
    uint8_t msg[3]; /* a channel message: status, then one or two data bytes */
} smf_event_t;

/* Writes the events to path, sorted in place by time (at one time: note-offs, then
 * controllers, then program changes, pitch bends and pressure, then note-ons), and ends the track
 * tail_ms after the last event (a renderer stops at the track's end). Returns 0, or -1 with errno
 * set when the file cannot be written. */
int smf_write(const char *path, smf_event_t *ev, size_t n, int32_t tail_ms);

#endif
