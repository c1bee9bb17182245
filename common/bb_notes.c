/*
 * bb_notes.c — note name parsing and formatting.
 *
 * A name is a letter A-G, any number of '#' or 'b' accidentals, then a signed octave.
 * The octave offset is the only difference between the two conventions.
 */
#include "bb_notes.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bb_err.h"

static const char *s_classes[12] = {"C",  "C#", "D",  "D#", "E",  "F",
                                    "F#", "G",  "G#", "A",  "A#", "B"};

/* MIDI number of C in octave 0 under each convention. */
static int s_c0(bb_note_convention_t conv)
{
    return conv == BB_NOTES_C4_IS_60 ? 12 : 24;
}

int bb_note_parse(const char *text, bb_note_convention_t conv, int *midi)
{
    static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A B C D E F G */
    if (!text || !*text)
        return BB_EINVAL;
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (isdigit((unsigned char)*p)) {
        char *end;
        long v = strtol(p, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (*end || v < 0 || v > 127)
            return BB_EINVAL;
        *midi = (int)v;
        return 0;
    }
    int letter = toupper((unsigned char)*p);
    if (letter < 'A' || letter > 'G')
        return BB_EINVAL;
    int pc = letter_pc[letter - 'A'];
    p++;
    int accidental = 0;
    while (*p == '#' || *p == 'b') {
        accidental += *p == '#' ? 1 : -1;
        p++;
    }
    if (!(isdigit((unsigned char)*p) || (*p == '-' && isdigit((unsigned char)p[1]))))
        return BB_EINVAL;
    char *end;
    long octave = strtol(p, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (*end || octave < -3 || octave > 12)
        return BB_EINVAL;
    long v = s_c0(conv) + octave * 12 + pc + accidental;
    if (v < 0 || v > 127)
        return BB_EINVAL;
    *midi = (int)v;
    return 0;
}

int bb_note_range_parse(const char *text, bb_note_convention_t conv, int *lo, int *hi)
{
    if (!text)
        return BB_EINVAL;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    char *colon = NULL;
    for (char *c = buf; *c; c++) {
        if (*c == ':') {
            colon = c;
            break;
        }
    }
    int a, b;
    if (!colon) {
        if (bb_note_parse(buf, conv, &a))
            return BB_EINVAL;
        *lo = *hi = a;
        return 0;
    }
    *colon = '\0';
    if (bb_note_parse(buf, conv, &a) || bb_note_parse(colon + 1, conv, &b) || a > b)
        return BB_EINVAL;
    *lo = a;
    *hi = b;
    return 0;
}

const char *bb_note_pitch_class(int midi)
{
    return s_classes[((midi % 12) + 12) % 12];
}

int bb_note_octave(int midi, bb_note_convention_t conv)
{
    int d = midi - s_c0(conv);
    return d >= 0 ? d / 12 : -((-d + 11) / 12);
}

void bb_note_name(int midi, bb_note_convention_t conv, char *out, size_t len)
{
    snprintf(out, len, "%s%d", bb_note_pitch_class(midi), bb_note_octave(midi, conv));
}

double bb_note_freq(double midi)
{
    return 440.0 * pow(2.0, (midi - 69.0) / 12.0);
}
