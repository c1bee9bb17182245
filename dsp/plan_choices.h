/*
 * plan_choices.h — the words a plan may use for its enumerated settings, one table each,
 * shared by every place that reads or checks them: the CLI's options and plan files, the
 * coordinator's plan check (plan_check.c), the export worker and the offline re-cut. A
 * word is accepted, and an error lists the accepted words, from the same table, so the
 * choices and their messages cannot drift apart.
 *
 * Each entry maps a word to the enum value of the layer that uses it (dsp_norm_mode_t,
 * dsp_map_mode_t, dsp_fade_curve_t, dsp_end_mode_t, Bb__ReleasePolicy, a bit depth). A
 * table may hold an alias (e.g. "centered") after the canonical word of the same value;
 * dsp_choice_name() gives the first, canonical one.
 */
#ifndef DSP_PLAN_CHOICES_H
#define DSP_PLAN_CHOICES_H

#include <stddef.h>

typedef struct {
    const char *word;
    int value;
    const char *help; /* a few words for --help; NULL on aliases */
} dsp_choice_t;

typedef struct {
    const char *what; /* "format", as in "format 'ogg': use wav or flac" */
    const dsp_choice_t *items;
    size_t n;
} dsp_choices_t;

extern const dsp_choices_t dsp_choices_format;         /* wav | flac (value 1 = FLAC) */
extern const dsp_choices_t dsp_choices_bit_depth;      /* 16 | 24 | 32 (value = bits) */
extern const dsp_choices_t dsp_choices_normalise;      /* dsp_norm_mode_t */
extern const dsp_choices_t dsp_choices_map;            /* dsp_map_mode_t */
extern const dsp_choices_t dsp_choices_fade_curve;     /* dsp_fade_curve_t */
extern const dsp_choices_t dsp_choices_end_mode;       /* dsp_end_mode_t */
extern const dsp_choices_t dsp_choices_release_policy; /* Bb__ReleasePolicy */

/* The value of `word` (exact, case-sensitive) in *value: 0, or BB_EINVAL when the table
 * has no such word (or word is NULL). */
int dsp_choice_parse(const dsp_choices_t *c, const char *word, int *value);
/* The canonical word of `value`, or "?" when there is none. */
const char *dsp_choice_name(const dsp_choices_t *c, int value);
/* "wav or flac", "instrument, velocity, sample or none": the canonical words, for messages
 * and help. Always NUL-terminated; truncated to len. */
void dsp_choice_list(const dsp_choices_t *c, char *out, size_t len);
/* Checks word; on failure writes "WHAT 'WORD': use A, B or C" to msg and returns BB_EINVAL.
 * An empty or NULL word is accepted as "the default" (*value untouched) when allow_empty. */
int dsp_choice_check(const dsp_choices_t *c, const char *word, int allow_empty, int *value,
                     char *msg, size_t len);

#endif
