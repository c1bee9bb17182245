/*
 * plan_fields.h — every setting of a batch plan, in one table: each is a command-line
 * option of `batcherbird submit` (--hold 1.5) and the plan-file key of the same name
 * (hold: 1.5), read from the same text by the same parser and written back by the same
 * formatter, so options, plan files, `plan show` and the plan stored beside a batch's raw
 * takes cannot disagree. Adding a setting is one entry in plan_fields.c.
 *
 * A field lives at one place of the plan message (operator.proto): the batch
 * (Bb__BatchSpec), its export settings (Bb__ExportSpec), an instrument
 * (Bb__InstrumentSpec), its QC settings (Bb__QcSpec) or its MIDI setup (Bb__MidiSetup).
 * Values are parsed from text: numbers, durations ("1.5", "1.5s", "100ms"), words from
 * the tables of plan_choices.h, booleans ("true"/"false", "yes"/"no"; an option without
 * a value means true), lists ("64,127"; a plan file may write a sequence instead) and the
 * few settings with a syntax of their own (notes "C2:C4" or "C2,E2,G2"; controllers
 * "7=100,11=127"; bank "MSB[:LSB]"; programs "5", "0-7" or "0,3,5"; SysEx in hex).
 *
 * Memory: every string, list and sub-message a setter stores is malloc'd and replaces
 * (and frees) what was there, so the whole plan is released with
 * bb__batch_spec__free_unpacked(). Plans made by dsp_plan_new() start that way.
 */
#ifndef DSP_PLAN_FIELDS_H
#define DSP_PLAN_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "bb_notes.h"
#include "export.h"
#include "operator.pb-c.h"
#include "plan_choices.h"

typedef enum {
    DSP_PLAN_BATCH,      /* Bb__BatchSpec */
    DSP_PLAN_EXPORT,     /* Bb__ExportSpec of the batch */
    DSP_PLAN_INSTRUMENT, /* Bb__InstrumentSpec */
    DSP_PLAN_QC,         /* Bb__QcSpec of an instrument */
    DSP_PLAN_SETUP       /* Bb__MidiSetup of an instrument */
} dsp_plan_scope_t;

typedef enum {
    DSP_FIELD_STRING, /* char *; an empty string is "not set" */
    DSP_FIELD_UINT,   /* uint32_t in lo..hi */
    DSP_FIELD_FLOAT,  /* float in lo..hi */
    DSP_FIELD_MS,     /* uint32_t milliseconds in lo..hi, written "1.5s" / "100ms" */
    DSP_FIELD_BOOL,   /* protobuf_c_boolean */
    DSP_FIELD_CHOICE, /* a word of `choices`, stored as char * */
    DSP_FIELD_ENUM,   /* a word of `choices`, stored as int (a protobuf enum) */
    DSP_FIELD_CUSTOM  /* parse/format below */
} dsp_field_kind_t;

/* What a plan file may write for a field besides a scalar. */
typedef enum {
    DSP_SHAPE_SCALAR = 0,
    DSP_SHAPE_LIST, /* or a sequence, read as its items joined by "," */
    DSP_SHAPE_PAIRS /* or a mapping, read as "key=value" items joined by "," */
} dsp_field_shape_t;

typedef struct dsp_plan_field_t dsp_plan_field_t;

/* Where a setter writes: the batch and, for instrument scopes, the instrument. */
typedef struct {
    Bb__BatchSpec *batch;
    Bb__InstrumentSpec *inst;   /* NULL for batch and export fields */
    bb_note_convention_t notes; /* how note names in the value are read and written */
} dsp_plan_target_t;

struct dsp_plan_field_t {
    const char *name;  /* option without "--" and plan-file key */
    const char *alias; /* another accepted spelling, or NULL */
    dsp_plan_scope_t scope;
    dsp_field_kind_t kind;
    size_t offset; /* of the value in its scope's struct (not for CUSTOM) */
    double lo, hi; /* numeric range (UINT, FLOAT, MS) */
    const dsp_choices_t *choices;
    dsp_field_shape_t shape;
    const char *arg;  /* the value in help, e.g. "DURATION"; NULL for a flag */
    const char *help; /* one line */
    /* CUSTOM: parse text into the target; 0 or BB_EINVAL with why. */
    int (*parse)(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text, char *why,
                 size_t len);
    /* CUSTOM: the value as JSON (NULL when not set). */
    json_t *(*format)(const dsp_plan_field_t *f, const dsp_plan_target_t *t);
};

/* The table, in the order help and `plan show` list the fields. */
extern const dsp_plan_field_t dsp_plan_fields[];
extern const size_t dsp_plan_n_fields;

/* The field named (or aliased) `name`, or NULL. */
const dsp_plan_field_t *dsp_plan_field_find(const char *name);
/* The field named most like `name` (at most two letters off), for "did you mean"; NULL. */
const dsp_plan_field_t *dsp_plan_field_suggest(const char *name);
/* True for fields of an instrument (INSTRUMENT, QC, SETUP scopes). */
bool dsp_plan_field_per_instrument(const dsp_plan_field_t *f);

/* Sets field f of t from text. For a BOOL, NULL text means true. Returns 0, or BB_EINVAL
 * with why = what is wrong and what is expected ("expected a duration like 1.5s, 100ms;
 * at most 60 s"), or BB_ENOMEM. */
int dsp_plan_field_set(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text, char *why,
                       size_t len);
/* The field's value as JSON: integer, real, boolean, string or array; NULL when unset
 * (empty string, false, no list). New reference. */
json_t *dsp_plan_field_get(const dsp_plan_field_t *f, const dsp_plan_target_t *t);

/* A new empty plan: a batch with an export message and no instruments, every string set
 * to protobuf-c's empty default. NULL when out of memory. */
Bb__BatchSpec *dsp_plan_new(void);
/* Appends an instrument named `name` with the defaults an instrument starts from
 * (velocity 127, 2 retakes, 1 s release; the rest as dsp_plan_validate fills them).
 * Returns it, or NULL when out of memory or the batch is full. */
Bb__InstrumentSpec *dsp_plan_add_instrument(Bb__BatchSpec *plan, const char *name);
/* Copies every instrument field set in `from` that differs from a new instrument's value
 * into `to` (defaults given before an instrument, then applied to it). 0 or BB_ENOMEM. */
int dsp_plan_apply_defaults(Bb__InstrumentSpec *to, const Bb__InstrumentSpec *from,
                            bb_note_convention_t notes);

/* The plan as JSON, keys as the field names: batch fields first, then "instruments", an
 * array of objects each starting with "instrument". Only fields that differ from what a
 * new plan and a new, validated instrument hold are written unless `all`. NULL when out
 * of memory. This is the plan-file format (`plan show` prints it as YAML) and the
 * plan.json stored beside a batch's raw takes. */
json_t *dsp_plan_to_json(const Bb__BatchSpec *plan, bool all);

/* Reads a plan written by dsp_plan_to_json (or any JSON of that shape): 0 with *plan
 * (free with bb__batch_spec__free_unpacked), or BB_EINVAL with why naming the key. */
int dsp_plan_from_json(const json_t *root, Bb__BatchSpec **plan, char *why, size_t len);

/* A JSON scalar, list or object as the text a field parses: strings as they are,
 * numbers in shortest form, true/false, arrays joined by ",", objects as "k=v,k=v".
 * 0, or BB_EINVAL when a list holds a list. */
int dsp_plan_json_text(const json_t *v, char *out, size_t len);

/* The export settings of a plan as the export's config (out_dir left NULL): bit depth,
 * format, peak target, note names, normalisation, dither, tuning, name template (pointing
 * into ex), mapping and loop mode, defaults where ex leaves them empty. */
void dsp_plan_export_config(const Bb__ExportSpec *ex, dsp_export_config_t *cfg);

/* Writes the plan durably to path as JSON (every field: the plan.json beside a batch's raw
 * takes that `batcherbird process` reads). 0 or a negative bb_err. */
int dsp_plan_write_json(const Bb__BatchSpec *plan, const char *path);
/* Reads such a file: 0 with *plan, or BB_EINVAL/BB_EIO with why. */
int dsp_plan_read_json(const char *path, Bb__BatchSpec **plan, char *why, size_t len);

#endif
