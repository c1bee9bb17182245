/*
 * bb_notes.h — MIDI note names, both conventions musicians meet:
 * C3 = 60 (Ableton, Logic, Kontakt; the default) and C4 = 60 (scientific pitch).
 * Names use sharps (C, C#, D ... B); parsing accepts sharps, flats and bare MIDI numbers.
 */
#ifndef BB_NOTES_H
#define BB_NOTES_H

#include <stddef.h>

typedef enum {
    BB_NOTES_C3_IS_60 = 0, /* middle C is C3; MIDI 0 is C-2 */
    BB_NOTES_C4_IS_60 = 1  /* middle C is C4; MIDI 0 is C-1 */
} bb_note_convention_t;

#define BB_NOTE_NAME_MAX 8 /* "C#-2" plus NUL fits with room */

/* Parses "C3", "c#3", "Db-1", "60" into a MIDI note 0..127. Returns 0 or BB_EINVAL. */
int bb_note_parse(const char *text, bb_note_convention_t conv, int *midi);

/* Parses "C2:C4" (or a single note) into lo..hi, lo <= hi. Returns 0 or BB_EINVAL. */
int bb_note_range_parse(const char *text, bb_note_convention_t conv, int *lo, int *hi);

/* Writes the name of `midi` ("C#3") into out. */
void bb_note_name(int midi, bb_note_convention_t conv, char *out, size_t len);

/* Pitch class name ("C#") and octave number of `midi` under `conv`. */
const char *bb_note_pitch_class(int midi);
int bb_note_octave(int midi, bb_note_convention_t conv);

/* Frequency of `midi` in equal temperament, A4 (MIDI 69) = 440 Hz. */
double bb_note_freq(double midi);

#endif
