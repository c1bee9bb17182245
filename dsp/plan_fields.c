/*
 * plan_fields.c — the table of plan_fields.h, the generic setters and formatters for each
 * kind of field, the few settings with a syntax of their own, and the plan <-> JSON
 * conversions built on them.
 */
#include "plan_fields.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "export_map.h"
#include "plan_check.h"

#define S_TEXT_MAX 8192 /* a value's text, lists included */

/* ---- where a field's value lives ---- */

static void *s_base(const dsp_plan_field_t *f, const dsp_plan_target_t *t, bool create)
{
    switch (f->scope) {
    case DSP_PLAN_BATCH:
        return t->batch;
    case DSP_PLAN_EXPORT:
        if (!t->batch)
            return NULL;
        if (!t->batch->export && create) {
            t->batch->export = malloc(sizeof *t->batch->export);
            if (t->batch->export)
                bb__export_spec__init(t->batch->export);
        }
        return t->batch->export;
    case DSP_PLAN_INSTRUMENT:
        return t->inst;
    case DSP_PLAN_QC:
        if (!t->inst)
            return NULL;
        if (!t->inst->qc && create) {
            t->inst->qc = malloc(sizeof *t->inst->qc);
            if (t->inst->qc)
                bb__qc_spec__init(t->inst->qc);
        }
        return t->inst->qc;
    case DSP_PLAN_SETUP:
        if (!t->inst)
            return NULL;
        if (!t->inst->setup && create) {
            t->inst->setup = malloc(sizeof *t->inst->setup);
            if (t->inst->setup) {
                bb__midi_setup__init(t->inst->setup);
                t->inst->setup->bank_msb = t->inst->setup->bank_lsb = t->inst->setup->program = -1;
            }
        }
        if (create && t->inst->setup)
            t->inst->has_setup = true;
        return t->inst->has_setup ? t->inst->setup : NULL;
    }
    return NULL;
}

#define S_AT(type, base, f) ((type *)((char *)(base) + (f)->offset))

static void s_free_string(char **p)
{
    if (*p && *p != protobuf_c_empty_string)
        free(*p);
    *p = (char *)protobuf_c_empty_string;
}

static int s_set_string(char **p, const char *text)
{
    char *dup = strdup(text);
    if (!dup)
        return BB_ENOMEM;
    s_free_string(p);
    *p = dup;
    return 0;
}

/* ---- parsers of plain values ---- */

static int s_uint(const char *text, long lo, long hi, uint32_t *out, char *why, size_t len)
{
    char *end;
    long v = strtol(text, &end, 10);
    while (end && isspace((unsigned char)*end))
        end++;
    if (!*text || *end || v < lo || v > hi) {
        snprintf(why, len, "expected a whole number from %ld to %ld", lo, hi);
        return BB_EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

static int s_float(const char *text, double lo, double hi, double *out, char *why, size_t len)
{
    char *end;
    double v = strtod(text, &end);
    while (end && isspace((unsigned char)*end))
        end++;
    if (!*text || *end || !isfinite(v) || v < lo || v > hi) {
        snprintf(why, len, "expected a number from %g to %g", lo, hi);
        return BB_EINVAL;
    }
    *out = v;
    return 0;
}

/* "1.5" and "1.5s" are seconds, "100ms" milliseconds. */
static int s_ms(const char *text, double lo, double hi, uint32_t *out, char *why, size_t len)
{
    char *end;
    double v = strtod(text, &end);
    double scale = 1000.0;
    if (end != text && strcmp(end, "ms") == 0)
        scale = 1.0;
    else if (end != text && (strcmp(end, "s") == 0 || *end == '\0'))
        scale = 1000.0;
    else
        end = NULL;
    double ms = v * scale;
    if (!end || !isfinite(v) || ms < lo || ms > hi) {
        if (hi >= 1000)
            snprintf(why, len, "expected a duration like 1.5s or 100ms, from %g to %g s", lo / 1000,
                     hi / 1000);
        else
            snprintf(why, len, "expected a duration like 1.5s or 100ms, from %g to %g ms", lo, hi);
        return BB_EINVAL;
    }
    *out = (uint32_t)(ms + 0.5);
    return 0;
}

static int s_bool(const char *text, bool *out, char *why, size_t len)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!text || strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    snprintf(why, len, "expected true or false");
    return BB_EINVAL;
}

/* Splits a comma-separated list into at most max trimmed items (pointers into buf). */
static int s_split(char *buf, char **items, size_t max, size_t *n)
{
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*n == max)
            return BB_EINVAL;
        items[(*n)++] = tok;
    }
    return 0;
}

/* ---- custom fields ---- */

static int s_notes_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                         char *why, size_t len)
{
    Bb__InstrumentSpec *in = t->inst;
    char buf[S_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", text);
    if (strchr(buf, ',')) {
        char *items[129];
        size_t n;
        uint32_t *list = malloc(128 * sizeof *list);
        if (!list)
            return BB_ENOMEM;
        if (s_split(buf, items, 128, &n) || n == 0) {
            free(list);
            snprintf(why, len, "a list of at most 128 notes like C2,E2,G2");
            return BB_EINVAL;
        }
        for (size_t k = 0; k < n; k++) {
            int note;
            if (bb_note_parse(items[k], t->notes, &note)) {
                snprintf(why, len,
                         "'%s' is not a note (names like C2, F#3, Bb1 or MIDI numbers 0-127)",
                         items[k]);
                free(list);
                return BB_EINVAL;
            }
            for (size_t j = 0; j < k; j++) {
                if (list[j] == (uint32_t)note) {
                    snprintf(why, len, "note %s is listed twice", items[k]);
                    free(list);
                    return BB_EINVAL;
                }
            }
            list[k] = (uint32_t)note;
        }
        free(in->notes);
        in->notes = list;
        in->n_notes = n;
        return 0;
    }
    int lo, hi;
    if (bb_note_range_parse(buf, t->notes, &lo, &hi)) {
        const char *colon = strchr(buf, ':');
        int a, b;
        if (colon) {
            char left[32];
            snprintf(left, sizeof left, "%.*s", (int)(colon - buf), buf);
            if (bb_note_parse(left, t->notes, &a) == 0 &&
                bb_note_parse(colon + 1, t->notes, &b) == 0 && a > b) {
                snprintf(why, len, "the range is empty: the low note is above the high note");
                return BB_EINVAL;
            }
        }
        snprintf(why, len,
                 "expected a note range LOW:HIGH, a note, or a list, with names like C2, F#3, Bb1 "
                 "or MIDI numbers 0-127");
        return BB_EINVAL;
    }
    free(in->notes);
    in->notes = NULL;
    in->n_notes = 0;
    in->note_lo = (uint32_t)lo;
    in->note_hi = (uint32_t)hi;
    return 0;
}

static json_t *s_notes_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__InstrumentSpec *in = t->inst;
    char a[BB_NOTE_NAME_MAX], b[BB_NOTE_NAME_MAX], text[32];
    if (in->n_notes) {
        json_t *arr = json_array();
        for (size_t k = 0; arr && k < in->n_notes; k++) {
            bb_note_name((int)in->notes[k], t->notes, a, sizeof a);
            json_array_append_new(arr, json_string(a));
        }
        return arr;
    }
    bb_note_name((int)in->note_lo, t->notes, a, sizeof a);
    bb_note_name((int)in->note_hi, t->notes, b, sizeof b);
    if (in->note_lo == in->note_hi)
        snprintf(text, sizeof text, "%s", a);
    else
        snprintf(text, sizeof text, "%s:%s", a, b);
    return json_string(text);
}

/* A list of whole numbers lo..hi; "A-B" ranges when `ranges`. *out is malloc'd. */
static int s_uint_list(const char *text, uint32_t lo, uint32_t hi, bool ranges, size_t max,
                       uint32_t **out, size_t *n_out, char *why, size_t len)
{
    char buf[S_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", text);
    char *items[256];
    size_t n;
    if (s_split(buf, items, 256, &n) || n == 0)
        goto bad;
    uint32_t *list = malloc(max * sizeof *list);
    if (!list)
        return BB_ENOMEM;
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        char *dash = ranges ? strchr(items[k] + 1, '-') : NULL;
        uint32_t a, b;
        if (dash)
            *dash = '\0';
        if (s_uint(items[k], lo, hi, &a, why, len) ||
            (dash && s_uint(dash + 1, lo, hi, &b, why, len))) {
            free(list);
            const char *bad = items[k];
            if (dash && s_uint(items[k], lo, hi, &a, why, len) == 0)
                bad = dash + 1;
            snprintf(why, len, "'%s' is not a whole number from %u to %u", bad, lo, hi);
            return BB_EINVAL;
        }
        if (!dash)
            b = a;
        if (b < a) {
            free(list);
            snprintf(why, len, "the range %u-%u is empty: the first is above the last", a, b);
            return BB_EINVAL;
        }
        for (uint32_t v = a; v <= b; v++) {
            for (size_t j = 0; j < m; j++) {
                if (list[j] == v) {
                    free(list);
                    snprintf(why, len, "%u is listed twice", v);
                    return BB_EINVAL;
                }
            }
            if (m == max) {
                free(list);
                snprintf(why, len, "at most %zu values", max);
                return BB_EINVAL;
            }
            list[m++] = v;
        }
    }
    *out = list;
    *n_out = m;
    return 0;
bad:
    snprintf(why, len, "expected a list like %s (each %u-%u)",
             ranges ? "0-7 or 0,3,5" : "32,64,127", lo, hi);
    return BB_EINVAL;
}

static int s_velocities_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                              char *why, size_t len)
{
    uint32_t *list;
    size_t n;
    int rc = s_uint_list(text, 1, 127, false, 127, &list, &n, why, len);
    if (rc)
        return rc;
    free(t->inst->velocities);
    t->inst->velocities = list;
    t->inst->n_velocities = n;
    return 0;
}

static json_t *s_uint_array(const uint32_t *v, size_t n)
{
    json_t *arr = n ? json_array() : NULL;
    for (size_t k = 0; arr && k < n; k++)
        json_array_append_new(arr, json_integer(v[k]));
    return arr;
}

static json_t *s_velocities_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    return s_uint_array(t->inst->velocities, t->inst->n_velocities);
}

static int s_program_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                           char *why, size_t len)
{
    uint32_t *list;
    size_t n;
    int rc = s_uint_list(text, 0, 127, true, 128, &list, &n, why, len);
    if (rc)
        return rc;
    Bb__InstrumentSpec *in = t->inst;
    free(in->programs);
    in->programs = NULL;
    in->n_programs = 0;
    Bb__MidiSetup *s = s_base(f, t, true);
    if (!s) {
        free(list);
        return BB_ENOMEM;
    }
    if (n == 1) {
        s->program = (int32_t)list[0];
        free(list);
    } else {
        s->program = -1;
        in->programs = list;
        in->n_programs = n;
    }
    return 0;
}

static json_t *s_program_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    if (t->inst->n_programs)
        return s_uint_array(t->inst->programs, t->inst->n_programs);
    const Bb__MidiSetup *s = s_base(f, t, false);
    return s && s->program >= 0 ? json_integer(s->program) : NULL;
}

static int s_bank_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                        char *why, size_t len)
{
    unsigned msb, lsb = 0;
    char extra;
    int got = sscanf(text, "%u:%u%c", &msb, &lsb, &extra);
    if (got < 1 || got > 2 || msb > 127 || lsb > 127 || (got == 1 && strchr(text, ':'))) {
        snprintf(why, len, "expected MSB or MSB:LSB, each 0-127");
        return BB_EINVAL;
    }
    Bb__MidiSetup *s = s_base(f, t, true);
    if (!s)
        return BB_ENOMEM;
    s->bank_msb = (int32_t)msb;
    s->bank_lsb = got == 2 ? (int32_t)lsb : -1;
    return 0;
}

static json_t *s_bank_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__MidiSetup *s = s_base(f, t, false);
    if (!s || s->bank_msb < 0)
        return NULL;
    if (s->bank_lsb < 0)
        return json_integer(s->bank_msb);
    char text[24]; /* two ints and a colon, whatever their range */
    snprintf(text, sizeof text, "%d:%d", s->bank_msb, s->bank_lsb);
    return json_string(text);
}

static int s_cc_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text, char *why,
                      size_t len)
{
    char buf[S_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", text);
    char *items[128];
    size_t n;
    uint32_t *pairs = malloc(256 * sizeof *pairs);
    if (!pairs)
        return BB_ENOMEM;
    if (s_split(buf, items, 128, &n) || n == 0)
        goto bad;
    for (size_t k = 0; k < n; k++) {
        unsigned c, v;
        char extra;
        if (sscanf(items[k], "%u = %u%c", &c, &v, &extra) != 2 || c > 127 || v > 127)
            goto bad;
        pairs[2 * k] = c;
        pairs[2 * k + 1] = v;
    }
    Bb__MidiSetup *s = s_base(f, t, true);
    if (!s) {
        free(pairs);
        return BB_ENOMEM;
    }
    free(s->cc);
    s->cc = pairs;
    s->n_cc = 2 * n;
    return 0;
bad:
    free(pairs);
    snprintf(why, len, "expected controller=value pairs like 7=100,11=127 (each 0-127)");
    return BB_EINVAL;
}

static json_t *s_cc_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__MidiSetup *s = s_base(f, t, false);
    if (!s || s->n_cc < 2)
        return NULL;
    json_t *obj = json_object();
    for (size_t k = 0; obj && k + 1 < s->n_cc; k += 2) {
        char key[8];
        snprintf(key, sizeof key, "%u", s->cc[k]);
        json_object_set_new(obj, key, json_integer(s->cc[k + 1]));
    }
    return obj;
}

static int s_hex(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* "F0 41 10 42 12 F7" or "F041104212F7"; several messages separated by commas. */
static int s_sysex_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                         char *why, size_t len)
{
    char buf[S_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", text);
    char *items[64];
    size_t n;
    if (s_split(buf, items, 64, &n) || n == 0) {
        snprintf(why, len, "expected SysEx messages in hex like \"F0 7E 7F 09 01 F7\"");
        return BB_EINVAL;
    }
    ProtobufCBinaryData *msgs = calloc(n, sizeof *msgs);
    if (!msgs)
        return BB_ENOMEM;
    int rc = 0;
    for (size_t k = 0; !rc && k < n; k++) {
        uint8_t *bytes = malloc(strlen(items[k]) / 2 + 1);
        size_t m = 0;
        if (!bytes) {
            rc = BB_ENOMEM;
            break;
        }
        msgs[k].data = bytes;
        const char *p = items[k];
        while (*p) {
            if (isspace((unsigned char)*p)) {
                p++;
                continue;
            }
            int hi = s_hex(p[0]), lo = p[1] ? s_hex(p[1]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(why, len,
                         "message %zu: '%.2s' is not a hex byte (write bytes as two hex digits, "
                         "like F0 7E 7F 09 01 F7)",
                         k + 1, p);
                rc = BB_EINVAL;
                break;
            }
            bytes[m++] = (uint8_t)(hi * 16 + lo);
            p += 2;
        }
        msgs[k].len = m;
        if (rc)
            break;
        bool ok = m >= 2 && bytes[0] == 0xF0 && bytes[m - 1] == 0xF7 && m <= DSP_PLAN_SYSEX_MAX;
        for (size_t b = 1; ok && b + 1 < m; b++)
            ok = bytes[b] < 0x80;
        if (!ok) {
            snprintf(why, len,
                     "message %zu is not one SysEx message: it starts with F0, ends with F7 and "
                     "has data bytes 00-7F between (at most %d bytes)",
                     k + 1, DSP_PLAN_SYSEX_MAX);
            rc = BB_EINVAL;
        }
    }
    Bb__MidiSetup *s = rc ? NULL : s_base(f, t, true);
    if (!rc && !s)
        rc = BB_ENOMEM;
    if (rc) {
        for (size_t k = 0; k < n; k++)
            free(msgs[k].data);
        free(msgs);
        return rc;
    }
    for (size_t k = 0; k < s->n_sysex; k++)
        free(s->sysex[k].data);
    free(s->sysex);
    s->sysex = msgs;
    s->n_sysex = n;
    return 0;
}

static json_t *s_sysex_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__MidiSetup *s = s_base(f, t, false);
    if (!s || !s->n_sysex)
        return NULL;
    json_t *arr = json_array();
    for (size_t k = 0; arr && k < s->n_sysex; k++) {
        char *text = malloc(s->sysex[k].len * 3 + 1);
        if (!text)
            break;
        size_t o = 0;
        for (size_t b = 0; b < s->sysex[k].len; b++)
            o += (size_t)sprintf(text + o, "%s%02X", b ? " " : "", s->sysex[k].data[b]);
        text[o] = '\0';
        json_array_append_new(arr, json_string(text));
        free(text);
    }
    return arr;
}

static int s_patch_names_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                               char *why, size_t len)
{
    char buf[S_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", text);
    char *items[128];
    size_t n;
    if (s_split(buf, items, 128, &n) || n == 0) {
        snprintf(why, len, "expected a list of at most 128 names");
        return BB_EINVAL;
    }
    char **names = calloc(n, sizeof *names);
    if (!names)
        return BB_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        if (!*items[k] || strlen(items[k]) > DSP_PLAN_NAME_MAX) {
            snprintf(why, len, "name %zu is empty or longer than %d characters", k + 1,
                     DSP_PLAN_NAME_MAX);
            for (size_t j = 0; j < k; j++)
                free(names[j]);
            free(names);
            return BB_EINVAL;
        }
        names[k] = strdup(items[k]);
    }
    Bb__InstrumentSpec *in = t->inst;
    for (size_t k = 0; k < in->n_patch_names; k++)
        free(in->patch_names[k]);
    free(in->patch_names);
    in->patch_names = names;
    in->n_patch_names = n;
    return 0;
}

static json_t *s_patch_names_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__InstrumentSpec *in = t->inst;
    json_t *arr = in->n_patch_names ? json_array() : NULL;
    for (size_t k = 0; arr && k < in->n_patch_names; k++)
        json_array_append_new(arr, json_string(in->patch_names[k]));
    return arr;
}

/* 0 dBFS is stored as -0.001: 0 means "the default" on the wire. */
static int s_peak_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                        char *why, size_t len)
{
    double v;
    if (s_float(text, -60, 0, &v, why, len))
        return BB_EINVAL;
    Bb__ExportSpec *ex = s_base(f, t, true);
    if (!ex)
        return BB_ENOMEM;
    ex->peak_target_db = v == 0 ? -0.001f : (float)v;
    return 0;
}

static json_t *s_peak_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__ExportSpec *ex = s_base(f, t, false);
    if (!ex || ex->peak_target_db == 0)
        return NULL;
    return json_real(round(ex->peak_target_db * 100.0) / 100.0);
}

/* How far the outer samples reach: a word or a key range; stored with MIDI numbers
 * (dsp_map_extend_name), whatever the note naming. */
static int s_extend_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                          char *why, size_t len)
{
    dsp_map_config_t map = DSP_MAP_CONFIG_INIT;
    if (dsp_map_extend_parse(text, t->notes, &map, why, len))
        return BB_EINVAL;
    char name[32];
    dsp_map_extend_name(&map, name, sizeof name);
    Bb__ExportSpec *ex = s_base(f, t, true);
    return ex ? s_set_string(&ex->extend, name) : BB_ENOMEM;
}

static json_t *s_extend_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__ExportSpec *ex = s_base(f, t, false);
    return ex && ex->extend && *ex->extend ? json_string(ex->extend) : NULL;
}

/* The instrument files to write: a comma list, checked here and stored as given. */
static int s_files_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                         char *why, size_t len)
{
    unsigned mask;
    if (dsp_export_formats_parse(text, &mask, why, len))
        return BB_EINVAL;
    Bb__ExportSpec *ex = s_base(f, t, true);
    return ex ? s_set_string(&ex->instrument_files, text) : BB_ENOMEM;
}

static json_t *s_files_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__ExportSpec *ex = s_base(f, t, false);
    return ex && ex->instrument_files && *ex->instrument_files ? json_string(ex->instrument_files)
                                                               : NULL;
}

/* The node's input channels an instrument is on, 1-based. */
static int s_inputs_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                          char *why, size_t len)
{
    uint32_t *list;
    size_t n;
    int rc =
        s_uint_list(text, 1, DSP_PLAN_INPUTS_MAX, true, DSP_PLAN_INPUTS_MAX, &list, &n, why, len);
    if (rc)
        return rc;
    free(t->inst->inputs);
    t->inst->inputs = list;
    t->inst->n_inputs = n;
    return 0;
}

static json_t *s_inputs_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    return s_uint_array(t->inst->inputs, t->inst->n_inputs);
}

/* The level target and CC7 adjustment imply the level check. */
static int s_level_parse(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text,
                         char *why, size_t len)
{
    Bb__InstrumentSpec *in = t->inst;
    if (strcmp(f->name, "level-target") == 0) {
        double v;
        if (s_float(text, -40, -0.1, &v, why, len))
            return BB_EINVAL;
        in->level_target_db = (float)v;
        in->level_check = true;
        return 0;
    }
    bool b;
    if (s_bool(text, &b, why, len))
        return BB_EINVAL;
    in->level_set_cc = b;
    in->level_check |= b;
    return 0;
}

static json_t *s_level_format(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    const Bb__InstrumentSpec *in = t->inst;
    if (strcmp(f->name, "level-target") == 0)
        return in->level_check && in->level_target_db != 0 ? json_real(in->level_target_db) : NULL;
    return in->level_set_cc ? json_true() : NULL;
}

/* ---- the table ---- */

#define S_OFF(type, field) offsetof(type, field)
#define S_INST(f)          S_OFF(Bb__InstrumentSpec, f)
#define S_QC(f)            S_OFF(Bb__QcSpec, f)
#define S_EX(f)            S_OFF(Bb__ExportSpec, f)
#define S_CUSTOM(p, fm)    .kind = DSP_FIELD_CUSTOM, .parse = p, .format = fm

const dsp_plan_field_t dsp_plan_fields[] = {
    /* batch */
    {.name = "name",
     .scope = DSP_PLAN_BATCH,
     .kind = DSP_FIELD_STRING,
     .offset = S_OFF(Bb__BatchSpec, name),
     .arg = "NAME",
     .help = "batch name (default: the first instrument's)"},
    {.name = "out",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_STRING,
     .offset = S_EX(out_dir),
     .arg = "DIR",
     .help = "library folder on the coordinator's machine, under its --library folder (a "
             "relative DIR is taken inside it; default: a new folder there)"},
    {.name = "format",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_CHOICE,
     .offset = S_EX(format),
     .choices = &dsp_choices_format,
     .arg = "FORMAT",
     .help = "sample files (default wav)"},
    {.name = "bit-depth",
     .alias = "bits",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_ENUM,
     .offset = S_EX(bit_depth),
     .choices = &dsp_choices_bit_depth,
     .arg = "BITS",
     .help = "export bit depth (default 24; 32 = float)"},
    {.name = "peak",
     .scope = DSP_PLAN_EXPORT,
     S_CUSTOM(s_peak_parse, s_peak_format),
     .arg = "DB",
     .help = "normalisation peak target, -60 to 0 dBFS (default -1)"},
    {.name = "normalise",
     .alias = "normalize",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_CHOICE,
     .offset = S_EX(normalise),
     .choices = &dsp_choices_normalise,
     .arg = "MODE",
     .help = "gain per instrument, velocity layer or sample (default instrument)"},
    {.name = "no-dither",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_BOOL,
     .offset = S_EX(no_dither),
     .help = "16-bit files without TPDF dither"},
    {.name = "tune",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_BOOL,
     .offset = S_EX(tune),
     .help = "correct tuning from the measured pitch (smpl, SFZ tune); none where it is unsure"},
    {.name = "name-template",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_STRING,
     .offset = S_EX(name_template),
     .arg = "T",
     .help = "sample file names (default {instrument}_{note}{octave}_{midi}_v{velocity}_rr{rr})"},
    {.name = "map",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_CHOICE,
     .offset = S_EX(map),
     .choices = &dsp_choices_map,
     .arg = "MAP",
     .help = "how samples stretch over the keys between them (default centred)"},
    {.name = "extend",
     .scope = DSP_PLAN_EXPORT,
     S_CUSTOM(s_extend_parse, s_extend_format),
     .arg = "HOW",
     .help = "how far the outer samples reach: full (keys 0-127, default), octave, none, or "
             "LO:HI"},
    {.name = "instrument-files",
     .scope = DSP_PLAN_EXPORT,
     S_CUSTOM(s_files_parse, s_files_format),
     .arg = "LIST",
     .help = "instrument files to write, any of sfz,dspreset,sf2,multisample (default all)"},
    {.name = "loop-sustain",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_BOOL,
     .offset = S_EX(loop_sustain),
     .help = "looped samples play their tail after the key is released"},
    {.name = "c4",
     .scope = DSP_PLAN_EXPORT,
     .kind = DSP_FIELD_BOOL,
     .offset = S_EX(c4_is_60),
     .help = "note names with C4 = MIDI 60 (default C3 = 60)"},
    /* instrument */
    {.name = "instrument",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_STRING,
     .offset = S_INST(name),
     .arg = "NAME",
     .help = "starts an instrument; the options after it describe it"},
    {.name = "node",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_STRING,
     .offset = S_INST(node),
     .arg = "NODE",
     .help = "capture node the instrument is connected to"},
    {.name = "notes",
     .shape = DSP_SHAPE_LIST,
     .scope = DSP_PLAN_INSTRUMENT,
     S_CUSTOM(s_notes_parse, s_notes_format),
     .arg = "NOTES",
     .help = "range LOW:HIGH (C2:C4, 36:60) or list C2,E2,G2 (default C3)"},
    {.name = "step",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_UINT,
     .offset = S_INST(step),
     .lo = 1,
     .hi = 127,
     .arg = "N",
     .help = "semitones between sampled notes of a range (default 1)"},
    {.name = "velocities",
     .shape = DSP_SHAPE_LIST,
     .scope = DSP_PLAN_INSTRUMENT,
     S_CUSTOM(s_velocities_parse, s_velocities_format),
     .arg = "LIST",
     .help = "velocity layers, e.g. 64,127 (default 127)"},
    {.name = "round-robins",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_UINT,
     .offset = S_INST(round_robins),
     .lo = 1,
     .hi = DSP_PLAN_ROUND_ROBINS_MAX,
     .arg = "N",
     .help = "takes of each note and velocity (default 1)"},
    {.name = "hold",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_MS,
     .offset = S_INST(hold_ms),
     .lo = 1,
     .hi = DSP_PLAN_HOLD_MS_MAX,
     .arg = "DURATION",
     .help = "how long the key is held, e.g. 1.5 or 1500ms (default 1 s)"},
    {.name = "release",
     .alias = "max-release",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_MS,
     .offset = S_INST(release_ms),
     .lo = 0,
     .hi = DSP_PLAN_HOLD_MS_MAX,
     .arg = "DURATION",
     .help = "longest release recorded after note-off (default 1 s)"},
    {.name = "release-policy",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_ENUM,
     .offset = S_INST(release_policy),
     .choices = &dsp_choices_release_policy,
     .arg = "P",
     .help = "end the release when the tail is quiet, or always record all of it"},
    {.name = "preroll",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_MS,
     .offset = S_INST(preroll_ms),
     .lo = 1,
     .hi = DSP_PLAN_PREROLL_MS_MAX,
     .arg = "DURATION",
     .help = "audio kept before each note-on (default 100ms)"},
    {.name = "quiet-wait",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_MS,
     .offset = S_INST(quiet_wait_ms),
     .lo = DSP_PLAN_QUIET_WAIT_MS_MIN,
     .hi = DSP_PLAN_QUIET_WAIT_MS_MAX,
     .arg = "DURATION",
     .help = "before each note, wait at most this long for the instrument to fall silent "
             "(default 5s)"},
    {.name = "channel",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_UINT,
     .offset = S_INST(midi_channel),
     .lo = 1,
     .hi = DSP_PLAN_MIDI_CHANNELS,
     .arg = "N",
     .help = "MIDI channel 1-16 (default 1)"},
    {.name = "program",
     .shape = DSP_SHAPE_LIST,
     .scope = DSP_PLAN_SETUP,
     S_CUSTOM(s_program_parse, s_program_format),
     .arg = "P",
     .help = "program change 0-127 first; a list or range (0-7) samples a bank of patches"},
    {.name = "bank",
     .scope = DSP_PLAN_SETUP,
     S_CUSTOM(s_bank_parse, s_bank_format),
     .arg = "MSB[:LSB]",
     .help = "bank select before the program change"},
    {.name = "patch-name",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_STRING,
     .offset = S_INST(patch_name),
     .arg = "T",
     .help = "names of a bank's patches (default \"{instrument} {program:03}\")"},
    {.name = "patch-names",
     .shape = DSP_SHAPE_LIST,
     .scope = DSP_PLAN_INSTRUMENT,
     S_CUSTOM(s_patch_names_parse, s_patch_names_format),
     .arg = "LIST",
     .help = "one name per program of a bank, instead of the template"},
    {.name = "settle",
     .scope = DSP_PLAN_SETUP,
     .kind = DSP_FIELD_MS,
     .offset = S_OFF(Bb__MidiSetup, settle_ms),
     .lo = 0,
     .hi = DSP_PLAN_SETTLE_MS_MAX,
     .arg = "DURATION",
     .help = "wait after a patch's program change and SysEx (default 250ms)"},
    {.name = "cc",
     .shape = DSP_SHAPE_PAIRS,
     .scope = DSP_PLAN_SETUP,
     S_CUSTOM(s_cc_parse, s_cc_format),
     .arg = "N=V,...",
     .help = "controller values before the first take"},
    {.name = "sysex",
     .shape = DSP_SHAPE_LIST,
     .scope = DSP_PLAN_SETUP,
     S_CUSTOM(s_sysex_parse, s_sysex_format),
     .arg = "HEX,...",
     .help = "SysEx messages in hex sent first, e.g. \"F0 7E 7F 09 01 F7\""},
    {.name = "inputs",
     .shape = DSP_SHAPE_LIST,
     .scope = DSP_PLAN_INSTRUMENT,
     S_CUSTOM(s_inputs_parse, s_inputs_format),
     .arg = "LIST",
     .help = "the node's input channels the instrument is on, e.g. 3,4 or 5 (default: all)"},
    {.name = "sum",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_BOOL,
     .offset = S_INST(sum),
     .help = "mix its inputs to one mono channel (a mono source on a stereo pair)"},
    {.name = "midi-port",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_STRING,
     .offset = S_INST(midi_port),
     .arg = "PORT",
     .help = "the node's MIDI output port the instrument is on (default: the node's own)"},
    {.name = "retakes",
     .alias = "max-retakes",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_UINT,
     .offset = S_INST(max_retakes),
     .lo = 0,
     .hi = DSP_PLAN_RETAKES_MAX,
     .arg = "N",
     .help = "automatic retakes of a take that fails QC (default 2)"},
    {.name = "release-samples",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_BOOL,
     .offset = S_INST(release_samples),
     .help = "also record release-trigger samples"},
    {.name = "loop",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_BOOL,
     .offset = S_INST(loop),
     .help = "find a sustain loop in every sample"},
    {.name = "level-check",
     .scope = DSP_PLAN_INSTRUMENT,
     .kind = DSP_FIELD_BOOL,
     .offset = S_INST(level_check),
     .help = "gain staging first: loudest velocity on the lowest, middle, highest note"},
    {.name = "level-target",
     .scope = DSP_PLAN_INSTRUMENT,
     S_CUSTOM(s_level_parse, s_level_format),
     .arg = "DB",
     .help = "the level check's peak target (default -6 dBFS; implies level-check)"},
    {.name = "level-set-cc",
     .scope = DSP_PLAN_INSTRUMENT,
     S_CUSTOM(s_level_parse, s_level_format),
     .help = "when too loud, lower MIDI volume (CC7) to the target before the takes"},
    /* QC */
    {.name = "pre-attack",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_FLOAT,
     .offset = S_QC(pre_attack_ms),
     .lo = 0,
     .hi = 100,
     .arg = "MS",
     .help = "keep MS before every onset, faded in (default 0)"},
    {.name = "fade-out",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_FLOAT,
     .offset = S_QC(fade_out_ms),
     .lo = 0,
     .hi = 2000,
     .arg = "MS",
     .help = "fade-out length (default 10)"},
    {.name = "fade-curve",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_CHOICE,
     .offset = S_QC(fade_curve),
     .choices = &dsp_choices_fade_curve,
     .arg = "CURVE",
     .help = "shape of the fades (default equal-power)"},
    {.name = "end",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_CHOICE,
     .offset = S_QC(end_mode),
     .choices = &dsp_choices_end_mode,
     .arg = "MODE",
     .help = "where a sample ends (default noise)"},
    {.name = "end-below-peak",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_FLOAT,
     .offset = S_QC(end_below_peak_db),
     .lo = 1,
     .hi = 140,
     .arg = "DB",
     .help = "for end below-peak: how far under the peak (default 60)"},
    {.name = "loop-crossfade",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_FLOAT,
     .offset = S_QC(loop_crossfade_ms),
     .lo = 0,
     .hi = 1000,
     .arg = "MS",
     .help = "crossfade baked in before the loop end; the seam is judged across it (default 0)"},
    {.name = "unpitched",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_BOOL,
     .offset = S_QC(unpitched),
     .help = "no pitch check (drums, noises)"},
    {.name = "loop-max-change",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_FLOAT,
     .offset = S_QC(loop_max_change_db),
     .lo = 0.01,
     .hi = 40,
     .arg = "DB",
     .help = "with loop: refuse a loop whose level changes more (default 0.5; it pumps)"},
    {.name = "loop-force",
     .scope = DSP_PLAN_QC,
     .kind = DSP_FIELD_BOOL,
     .offset = S_QC(loop_force),
     .help = "with loop: loop even a sound whose level changes more over the loop"},
};
const size_t dsp_plan_n_fields = sizeof dsp_plan_fields / sizeof dsp_plan_fields[0];

/* ---- lookups ---- */

const dsp_plan_field_t *dsp_plan_field_find(const char *name)
{
    for (size_t i = 0; name && i < dsp_plan_n_fields; i++)
        if (strcmp(name, dsp_plan_fields[i].name) == 0 ||
            (dsp_plan_fields[i].alias && strcmp(name, dsp_plan_fields[i].alias) == 0))
            return &dsp_plan_fields[i];
    return NULL;
}

/* Levenshtein distance, capped: enough for "did you mean". */
static size_t s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return SIZE_MAX;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub =
                prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            prev = cur;
        }
    }
    return row[lb];
}

const dsp_plan_field_t *dsp_plan_field_suggest(const char *name)
{
    const dsp_plan_field_t *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < dsp_plan_n_fields; i++) {
        size_t d = s_distance(name, dsp_plan_fields[i].name);
        if (d < best_d) {
            best_d = d;
            best = &dsp_plan_fields[i];
        }
    }
    return best;
}

bool dsp_plan_field_per_instrument(const dsp_plan_field_t *f)
{
    return f->scope == DSP_PLAN_INSTRUMENT || f->scope == DSP_PLAN_QC || f->scope == DSP_PLAN_SETUP;
}

/* ---- set and get ---- */

int dsp_plan_field_set(const dsp_plan_field_t *f, dsp_plan_target_t *t, const char *text, char *why,
                       size_t len)
{
    if (dsp_plan_field_per_instrument(f) && !t->inst) {
        snprintf(why, len, "belongs to an instrument");
        return BB_EINVAL;
    }
    if (f->kind != DSP_FIELD_BOOL && f->kind != DSP_FIELD_CUSTOM && !text) {
        snprintf(why, len, "needs a value");
        return BB_EINVAL;
    }
    if (f->kind == DSP_FIELD_CUSTOM) {
        if (!text && f->arg) {
            snprintf(why, len, "needs a value");
            return BB_EINVAL;
        }
        return f->parse(f, t, text, why, len);
    }
    uint32_t u;
    double d;
    bool b;
    int v;
    /* parse first: a bad value leaves the plan as it was */
    switch (f->kind) {
    case DSP_FIELD_STRING:
        if (strlen(text) > 4096) {
            snprintf(why, len, "longer than 4096 characters");
            return BB_EINVAL;
        }
        break;
    case DSP_FIELD_UINT:
        if (s_uint(text, (long)f->lo, (long)f->hi, &u, why, len))
            return BB_EINVAL;
        break;
    case DSP_FIELD_FLOAT:
        if (s_float(text, f->lo, f->hi, &d, why, len))
            return BB_EINVAL;
        break;
    case DSP_FIELD_MS:
        if (s_ms(text, f->lo, f->hi, &u, why, len))
            return BB_EINVAL;
        break;
    case DSP_FIELD_BOOL:
        if (s_bool(text, &b, why, len))
            return BB_EINVAL;
        break;
    case DSP_FIELD_CHOICE:
    case DSP_FIELD_ENUM:
        if (dsp_choice_parse(f->choices, text, &v)) {
            char list[200];
            dsp_choice_list(f->choices, list, sizeof list);
            snprintf(why, len, "use %s", list);
            return BB_EINVAL;
        }
        break;
    default:
        break;
    }
    void *base = s_base(f, t, true);
    if (!base)
        return BB_ENOMEM;
    switch (f->kind) {
    case DSP_FIELD_STRING:
    case DSP_FIELD_CHOICE:
        return s_set_string(S_AT(char *, base, f), text);
    case DSP_FIELD_UINT:
    case DSP_FIELD_MS:
        *S_AT(uint32_t, base, f) = u;
        return 0;
    case DSP_FIELD_FLOAT:
        *S_AT(float, base, f) = (float)d;
        return 0;
    case DSP_FIELD_BOOL:
        *S_AT(protobuf_c_boolean, base, f) = b;
        return 0;
    case DSP_FIELD_ENUM:
        *S_AT(int, base, f) = v;
        return 0;
    default:
        return BB_EINVAL;
    }
}

json_t *dsp_plan_field_get(const dsp_plan_field_t *f, const dsp_plan_target_t *t)
{
    if (dsp_plan_field_per_instrument(f) && !t->inst)
        return NULL;
    if (f->kind == DSP_FIELD_CUSTOM)
        return f->format(f, t);
    const void *base = s_base(f, t, false);
    if (!base)
        return NULL;
    switch (f->kind) {
    case DSP_FIELD_STRING:
    case DSP_FIELD_CHOICE: {
        const char *s = *S_AT(char *const, base, f);
        return s && *s ? json_string(s) : NULL;
    }
    case DSP_FIELD_UINT: {
        uint32_t u = *S_AT(const uint32_t, base, f);
        return u ? json_integer(u) : NULL;
    }
    case DSP_FIELD_MS: /* seconds, as plan files write them */
        return json_real(*S_AT(const uint32_t, base, f) / 1000.0);
    case DSP_FIELD_FLOAT: {
        float v = *S_AT(const float, base, f);
        return v != 0 ? json_real(round(v * 1000.0) / 1000.0) : NULL;
    }
    case DSP_FIELD_BOOL:
        return *S_AT(const protobuf_c_boolean, base, f) ? json_true() : NULL;
    case DSP_FIELD_ENUM: {
        int v = *S_AT(const int, base, f);
        if (f->choices == &dsp_choices_bit_depth)
            return v ? json_integer(v) : NULL;
        return json_string(dsp_choice_name(f->choices, v));
    }
    default:
        return NULL;
    }
}

/* ---- plans ---- */

Bb__BatchSpec *dsp_plan_new(void)
{
    Bb__BatchSpec *b = malloc(sizeof *b);
    Bb__ExportSpec *ex = malloc(sizeof *ex);
    if (!b || !ex) {
        free(b);
        free(ex);
        return NULL;
    }
    bb__batch_spec__init(b);
    bb__export_spec__init(ex);
    b->export = ex;
    return b;
}

Bb__InstrumentSpec *dsp_plan_add_instrument(Bb__BatchSpec *plan, const char *name)
{
    if (plan->n_instruments >= DSP_PLAN_MAX_INSTRUMENTS)
        return NULL;
    Bb__InstrumentSpec **grown =
        realloc(plan->instruments, (plan->n_instruments + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    plan->instruments = grown;
    Bb__InstrumentSpec *in = malloc(sizeof *in);
    uint32_t *vel = malloc(sizeof *vel);
    char *dup = strdup(name ? name : "");
    if (!in || !vel || !dup) {
        free(in);
        free(vel);
        free(dup);
        return NULL;
    }
    bb__instrument_spec__init(in);
    in->name = dup;
    vel[0] = 127;
    in->velocities = vel;
    in->n_velocities = 1;
    in->max_retakes = DSP_PLAN_RETAKES_DEFAULT;
    in->release_ms = DSP_PLAN_RELEASE_MS_DEFAULT;
    in->note_lo = in->note_hi = 60;
    plan->instruments[plan->n_instruments++] = in;
    return in;
}

int dsp_plan_json_text(const json_t *v, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    switch (json_typeof(v)) {
    case JSON_STRING:
        snprintf(out, len, "%s", json_string_value(v));
        return 0;
    case JSON_INTEGER:
        snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    case JSON_REAL:
        snprintf(out, len, "%.10g", json_real_value(v));
        return 0;
    case JSON_TRUE:
        snprintf(out, len, "true");
        return 0;
    case JSON_FALSE:
        snprintf(out, len, "false");
        return 0;
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (json_is_array(item) || json_is_object(item))
                return BB_EINVAL;
            char one[1024];
            dsp_plan_json_text(item, one, sizeof one);
            o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s", i ? "," : "", one);
        }
        return 0;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        size_t i = 0;
        json_object_foreach((json_t *)v, key, item)
        {
            if (json_is_array(item) || json_is_object(item))
                return BB_EINVAL;
            char one[1024];
            dsp_plan_json_text(item, one, sizeof one);
            o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s=%s", i++ ? "," : "", key,
                                  one);
        }
        return 0;
    }
    default:
        return BB_EINVAL;
    }
}

int dsp_plan_apply_defaults(Bb__InstrumentSpec *to, const Bb__InstrumentSpec *from,
                            bb_note_convention_t notes)
{
    Bb__BatchSpec *scratch = dsp_plan_new();
    Bb__InstrumentSpec *fresh = scratch ? dsp_plan_add_instrument(scratch, "") : NULL;
    int rc = fresh ? 0 : BB_ENOMEM;
    dsp_plan_target_t tf = {.batch = scratch, .inst = (Bb__InstrumentSpec *)from, .notes = notes};
    dsp_plan_target_t tn = {.batch = scratch, .inst = fresh, .notes = notes};
    dsp_plan_target_t tt = {.batch = scratch, .inst = to, .notes = notes};
    for (size_t i = 0; !rc && i < dsp_plan_n_fields; i++) {
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        if (!dsp_plan_field_per_instrument(f) || strcmp(f->name, "instrument") == 0)
            continue;
        json_t *a = dsp_plan_field_get(f, &tf), *b = dsp_plan_field_get(f, &tn);
        if (a && !(b && json_equal(a, b))) {
            char text[S_TEXT_MAX], why[256];
            rc = dsp_plan_json_text(a, text, sizeof text);
            if (!rc)
                rc = dsp_plan_field_set(f, &tt, text, why, sizeof why);
        }
        json_decref(a);
        json_decref(b);
    }
    if (scratch)
        bb__batch_spec__free_unpacked(scratch, NULL);
    return rc;
}

/* What a validated plan holds where nothing was given, to leave out of the JSON. */
static Bb__BatchSpec *s_defaults(void)
{
    Bb__BatchSpec *d = dsp_plan_new();
    Bb__InstrumentSpec *in = d ? dsp_plan_add_instrument(d, "x") : NULL;
    if (!in) {
        if (d)
            bb__batch_spec__free_unpacked(d, NULL);
        return NULL;
    }
    in->node = strdup("x");
    uint64_t total;
    char msg[256];
    if (!in->node || dsp_plan_validate(&total, d, NULL, NULL, msg, sizeof msg)) {
        bb__batch_spec__free_unpacked(d, NULL);
        return NULL;
    }
    return d;
}

/* Adds the fields of `scope_inst` (true: instrument fields, false: batch and export) that
 * differ from the defaults. */
static void s_fields_to_json(json_t *obj, const dsp_plan_target_t *t, const dsp_plan_target_t *dflt,
                             bool instrument, bool all)
{
    for (size_t i = 0; i < dsp_plan_n_fields; i++) {
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        if (dsp_plan_field_per_instrument(f) != instrument)
            continue;
        json_t *v = dsp_plan_field_get(f, t);
        if (!v)
            continue;
        bool always = strcmp(f->name, "instrument") == 0 || strcmp(f->name, "node") == 0 ||
                      strcmp(f->name, "name") == 0;
        json_t *d = dflt ? dsp_plan_field_get(f, dflt) : NULL;
        if (all || always || !d || !json_equal(v, d))
            json_object_set(obj, f->name, v);
        json_decref(v);
        json_decref(d);
    }
}

json_t *dsp_plan_to_json(const Bb__BatchSpec *plan, bool all)
{
    Bb__BatchSpec *dflt = s_defaults();
    json_t *root = json_object(), *insts = json_array();
    if (!dflt || !root || !insts) {
        json_decref(root);
        json_decref(insts);
        if (dflt)
            bb__batch_spec__free_unpacked(dflt, NULL);
        return NULL;
    }
    bb_note_convention_t conv =
        plan->export && plan->export->c4_is_60 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60;
    dsp_plan_target_t t = {.batch = (Bb__BatchSpec *)plan, .notes = conv};
    dsp_plan_target_t d = {.batch = dflt, .inst = dflt->instruments[0], .notes = conv};
    s_fields_to_json(root, &t, &d, false, all);
    for (size_t i = 0; i < plan->n_instruments; i++) {
        json_t *o = json_object();
        t.inst = plan->instruments[i];
        s_fields_to_json(o, &t, &d, true, all);
        json_array_append_new(insts, o);
    }
    json_object_set_new(root, "instruments", insts);
    bb__batch_spec__free_unpacked(dflt, NULL);
    return root;
}

typedef enum { S_ROOT_BATCH, S_ROOT_DEFAULTS, S_INSTRUMENT } s_keys_t;

/* Sets the keys of obj that belong to `mode`: the batch's at the root, the instrument
 * defaults at the root, or an instrument's (where a batch key is an error). */
static int s_keys_from_json(const json_t *obj, dsp_plan_target_t *t, s_keys_t mode, char *why,
                            size_t len)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if ((mode != S_INSTRUMENT && strcmp(key, "instruments") == 0) ||
            (mode == S_INSTRUMENT && strcmp(key, "instrument") == 0))
            continue;
        const dsp_plan_field_t *f = dsp_plan_field_find(key);
        if (!f || strcmp(f->name, "instrument") == 0) {
            snprintf(why, len, "unknown key '%s'", key);
            return BB_EINVAL;
        }
        bool per_inst = dsp_plan_field_per_instrument(f);
        if (mode == S_INSTRUMENT && !per_inst) {
            snprintf(why, len, "'%s' is a batch setting, not an instrument's", key);
            return BB_EINVAL;
        }
        if ((mode == S_ROOT_BATCH && per_inst) || (mode == S_ROOT_DEFAULTS && !per_inst))
            continue;
        char text[S_TEXT_MAX], w[256];
        if (dsp_plan_json_text(v, text, sizeof text) ||
            dsp_plan_field_set(f, t, text, w, sizeof w)) {
            snprintf(why, len, "%s: %s", key, w);
            return BB_EINVAL;
        }
    }
    return 0;
}

int dsp_plan_from_json(const json_t *root, Bb__BatchSpec **out, char *why, size_t len)
{
    *out = NULL;
    if (!json_is_object(root)) {
        snprintf(why, len, "a plan is an object");
        return BB_EINVAL;
    }
    Bb__BatchSpec *plan = dsp_plan_new();
    Bb__BatchSpec *dflt = dsp_plan_new();
    Bb__InstrumentSpec *defaults = dflt ? dsp_plan_add_instrument(dflt, "") : NULL;
    if (!plan || !defaults) {
        if (plan)
            bb__batch_spec__free_unpacked(plan, NULL);
        if (dflt)
            bb__batch_spec__free_unpacked(dflt, NULL);
        return BB_ENOMEM;
    }
    json_t *c4 = json_object_get(root, "c4");
    bb_note_convention_t conv = json_is_true(c4) ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60;
    dsp_plan_target_t t = {.batch = plan, .notes = conv};
    int rc = s_keys_from_json(root, &t, S_ROOT_BATCH, why, len);
    dsp_plan_target_t td = {.batch = dflt, .inst = defaults, .notes = conv};
    if (!rc)
        rc = s_keys_from_json(root, &td, S_ROOT_DEFAULTS, why, len);
    json_t *insts = json_object_get(root, "instruments");
    size_t i;
    json_t *o;
    json_array_foreach(insts, i, o)
    {
        if (rc)
            break;
        json_t *name = json_object_get(o, "instrument");
        if (!json_is_string(name)) {
            snprintf(why, len, "instrument %zu has no name", i + 1);
            rc = BB_EINVAL;
            break;
        }
        t.inst = dsp_plan_add_instrument(plan, json_string_value(name));
        rc = t.inst ? dsp_plan_apply_defaults(t.inst, defaults, conv) : BB_ENOMEM;
        if (!rc)
            rc = s_keys_from_json(o, &t, S_INSTRUMENT, why, len);
    }
    bb__batch_spec__free_unpacked(dflt, NULL);
    if (rc) {
        bb__batch_spec__free_unpacked(plan, NULL);
        return rc;
    }
    *out = plan;
    return 0;
}

/* ---- plans as configs and files ---- */

void dsp_plan_export_config(const Bb__ExportSpec *ex, dsp_export_config_t *cfg)
{
    *cfg = (dsp_export_config_t)DSP_EXPORT_CONFIG_INIT;
    if (!ex)
        return;
    int v;
    cfg->bit_depth = ex->bit_depth ? (int)ex->bit_depth : DSP_PLAN_BIT_DEPTH_DEFAULT;
    cfg->flac = dsp_choice_parse(&dsp_choices_format, ex->format, &v) == 0 && v == 1;
    if (ex->peak_target_db != 0)
        cfg->peak_target_db = ex->peak_target_db;
    cfg->notes = ex->c4_is_60 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60;
    if (dsp_choice_parse(&dsp_choices_normalise, ex->normalise, &v) == 0)
        cfg->normalise = (dsp_norm_mode_t)v;
    cfg->dither = !ex->no_dither;
    cfg->tune = ex->tune;
    cfg->name_template = ex->name_template && *ex->name_template ? ex->name_template : NULL;
    if (dsp_choice_parse(&dsp_choices_map, ex->map, &v) == 0)
        cfg->map.mode = (dsp_map_mode_t)v;
    char why[200];
    if (ex->extend && *ex->extend) /* checked with the plan */
        dsp_map_extend_parse(ex->extend, cfg->notes, &cfg->map, why, sizeof why);
    if (ex->instrument_files && *ex->instrument_files) /* checked with the plan */
        dsp_export_formats_parse(ex->instrument_files, &cfg->formats, why, sizeof why);
    cfg->loop_sustain = ex->loop_sustain;
}

int dsp_plan_write_json(const Bb__BatchSpec *plan, const char *path)
{
    json_t *j = dsp_plan_to_json(plan, true);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(j);
    if (!text)
        return BB_ENOMEM;
    int rc = bb_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

int dsp_plan_read_json(const char *path, Bb__BatchSpec **plan, char *why, size_t len)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        snprintf(why, len, "%s:%d:%d: %s", path, e.line, e.column, e.text);
        return BB_EINVAL;
    }
    char w[512];
    int rc = dsp_plan_from_json(j, plan, w, sizeof w);
    json_decref(j);
    if (rc)
        snprintf(why, len, "%s: %s", path, w);
    return rc;
}
