/*
 * plan_check.c — the checks of plan_check.h, in the order a person reads a plan: the
 * batch's size, then each instrument (name, node, level check, QC settings, MIDI channel,
 * notes, velocities, round robins, times, retakes), folder names that would collide, the
 * total number of takes, then the export settings. Each check fills its default first,
 * so a plan that leaves a field out gets the same value the check then accepts.
 */
#include "plan_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_notes.h"
#include "bb_pb.h"
#include "export.h"
#include "plan_choices.h"
#include "qc_config.h"

#define S_NAME_MAX          DSP_PLAN_NAME_MAX
#define S_LEVEL_TARGET_DB   DSP_PLAN_LEVEL_TARGET_DB
#define S_MIDI_CHANNELS     DSP_PLAN_MIDI_CHANNELS
#define S_ROUND_ROBINS_MAX  DSP_PLAN_ROUND_ROBINS_MAX
#define S_HOLD_MS_DEFAULT   DSP_PLAN_HOLD_MS_DEFAULT
#define S_HOLD_MS_MAX       DSP_PLAN_HOLD_MS_MAX
#define S_PREROLL_MS        DSP_PLAN_PREROLL_MS
#define S_PREROLL_MS_MAX    DSP_PLAN_PREROLL_MS_MAX
#define S_RETAKES_MAX       DSP_PLAN_RETAKES_MAX
#define S_BIT_DEPTH_DEFAULT DSP_PLAN_BIT_DEPTH_DEFAULT
#define S_PEAK_TARGET_DB    DSP_PLAN_PEAK_TARGET_DB

/* The MIDI sent before an instrument's first take: values in MIDI's ranges, whole SysEx
 * messages (F0, data bytes below 0x80, F7; MIDI 1.0 Detailed Specification 4.2, "System
 * Exclusive"). */
static int s_check_setup(const char *name, const Bb__MidiSetup *s, char *msg, size_t len)
{
    if (s->program < -1 || s->program > 127 || s->bank_msb < -1 || s->bank_msb > 127 ||
        s->bank_lsb < -1 || s->bank_lsb > 127) {
        snprintf(msg, len, "instrument %s: program and bank are 0-127", name);
        return BB_EINVAL;
    }
    if (s->n_cc % 2) {
        snprintf(msg, len, "instrument %s: controllers come in pairs (number, value)", name);
        return BB_EINVAL;
    }
    for (size_t k = 0; k < s->n_cc; k++) {
        if (s->cc[k] > 127) {
            snprintf(msg, len, "instrument %s: controller %s %u is not 0-127", name,
                     k % 2 ? "value" : "number", s->cc[k]);
            return BB_EINVAL;
        }
    }
    if (s->settle_ms > DSP_PLAN_SETTLE_MS_MAX) {
        snprintf(msg, len, "instrument %s: settle time of %u ms; at most %d", name, s->settle_ms,
                 DSP_PLAN_SETTLE_MS_MAX);
        return BB_EINVAL;
    }
    for (size_t k = 0; k < s->n_sysex; k++) {
        const ProtobufCBinaryData *m = &s->sysex[k];
        bool ok = m->len >= 2 && m->len <= DSP_PLAN_SYSEX_MAX && m->data[0] == 0xF0 &&
                  m->data[m->len - 1] == 0xF7;
        for (size_t b = 1; ok && b + 1 < m->len; b++)
            ok = m->data[b] < 0x80;
        if (!ok) {
            snprintf(msg, len,
                     "instrument %s: SysEx message %zu is not one whole message (F0, data bytes "
                     "00-7F, F7; at most %d bytes)",
                     name, k + 1, DSP_PLAN_SYSEX_MAX);
            return BB_EINVAL;
        }
    }
    return 0;
}

bool dsp_plan_conflict(const Bb__InstrumentSpec *a, const Bb__InstrumentSpec *b)
{
    if (strcmp(a->node, b->node) != 0)
        return false;
    uint32_t ca = a->midi_channel ? a->midi_channel : 1, cb = b->midi_channel ? b->midi_channel : 1;
    if (strcmp(a->midi_port, b->midi_port) == 0 && ca == cb)
        return true;
    if (a->n_inputs == 0 || b->n_inputs == 0)
        return true;
    for (size_t i = 0; i < a->n_inputs; i++)
        for (size_t k = 0; k < b->n_inputs; k++)
            if (a->inputs[i] == b->inputs[k])
                return true;
    return false;
}

size_t dsp_plan_notes(const Bb__InstrumentSpec *in, uint32_t notes[128])
{
    size_t n = 0;
    if (in->n_notes > 0) {
        for (size_t k = 0; k < in->n_notes && n < 128; k++)
            notes[n++] = in->notes[k];
        return n;
    }
    uint32_t step = in->step ? in->step : 1;
    for (uint32_t note = in->note_lo; note <= in->note_hi && note <= 127 && n < 128; note += step)
        notes[n++] = note;
    return n;
}

/* Fills defaults and checks one instrument; on error says which and why. */
static int s_check_instrument(Bb__InstrumentSpec *in, size_t i, dsp_plan_node_fn node_check,
                              void *node_arg, char *msg, size_t len)
{
    if (!*in->name) {
        snprintf(msg, len, "instrument %zu has no name", i + 1);
        return BB_EINVAL;
    }
    if (strlen(in->name) > S_NAME_MAX) {
        snprintf(msg, len, "instrument %zu: the name is longer than %d characters", i + 1,
                 S_NAME_MAX);
        return BB_EINVAL;
    }
    if (!*in->node) {
        snprintf(msg, len, "instrument %s: no node given (which capture node plays it?)", in->name);
        return BB_EINVAL;
    }
    if (in->level_check && in->level_target_db == 0.0f)
        in->level_target_db = S_LEVEL_TARGET_DB;
    if (in->level_check && !(in->level_target_db >= -40.0f && in->level_target_db < 0.0f)) {
        snprintf(msg, len, "instrument %s: level target %.1f dBFS: use -40 to 0", in->name,
                 in->level_target_db);
        return BB_EINVAL;
    }
    dsp_pipeline_config_t pcfg;
    char why[200];
    if (dsp_pipeline_config_from_spec(in, &pcfg, why, sizeof why)) {
        snprintf(msg, len, "instrument %s: %s", in->name, why);
        return BB_EINVAL;
    }
    if (node_check) {
        int rc = node_check(node_arg, in->node, msg, len);
        if (rc)
            return rc;
    }
    if (in->midi_channel == 0)
        in->midi_channel = 1;
    if (in->midi_channel > S_MIDI_CHANNELS) {
        snprintf(msg, len, "instrument %s: MIDI channel %u is not 1-16", in->name,
                 in->midi_channel);
        return BB_EINVAL;
    }
    if (in->n_notes > 0) {
        /* a list: ascending, each once; the range is its ends */
        for (size_t k = 1; k < in->n_notes; k++)
            for (size_t j = k; j > 0 && in->notes[j - 1] > in->notes[j]; j--) {
                uint32_t t = in->notes[j];
                in->notes[j] = in->notes[j - 1];
                in->notes[j - 1] = t;
            }
        for (size_t k = 0; k < in->n_notes; k++) {
            if (in->notes[k] > 127) {
                snprintf(msg, len, "instrument %s: note %u is outside MIDI notes 0-127", in->name,
                         in->notes[k]);
                return BB_EINVAL;
            }
            if (k > 0 && in->notes[k] == in->notes[k - 1]) {
                char a[BB_NOTE_NAME_MAX];
                bb_note_name((int)in->notes[k], BB_NOTES_C3_IS_60, a, sizeof a);
                snprintf(msg, len, "instrument %s: note %s (%u) is listed twice", in->name, a,
                         in->notes[k]);
                return BB_EINVAL;
            }
        }
        if (in->n_notes > 128) {
            snprintf(msg, len, "instrument %s: more than 128 notes", in->name);
            return BB_EINVAL;
        }
        in->note_lo = in->notes[0];
        in->note_hi = in->notes[in->n_notes - 1];
    }
    if (in->note_lo > 127 || in->note_hi > 127 || in->note_lo > in->note_hi) {
        char a[BB_NOTE_NAME_MAX], b[BB_NOTE_NAME_MAX];
        bb_note_name((int)in->note_lo, BB_NOTES_C3_IS_60, a, sizeof a);
        bb_note_name((int)in->note_hi, BB_NOTES_C3_IS_60, b, sizeof b);
        snprintf(msg, len, "instrument %s: note range %u..%u (%s..%s) is %s", in->name, in->note_lo,
                 in->note_hi, a, b,
                 in->note_lo > in->note_hi ? "empty: the low note is above the high note"
                                           : "outside MIDI notes 0-127");
        return BB_EINVAL;
    }
    if (in->step == 0)
        in->step = 1;
    if (in->step > 127) {
        snprintf(msg, len, "instrument %s: step %u is larger than the keyboard", in->name,
                 in->step);
        return BB_EINVAL;
    }
    if (in->has_setup && in->setup) {
        int rc = s_check_setup(in->name, in->setup, msg, len);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < in->n_inputs; k++) {
        if (in->inputs[k] < 1 || in->inputs[k] > DSP_PLAN_INPUTS_MAX) {
            snprintf(msg, len, "instrument %s: input %u is not 1-%d", in->name, in->inputs[k],
                     DSP_PLAN_INPUTS_MAX);
            return BB_EINVAL;
        }
        for (size_t j = 0; j < k; j++) {
            if (in->inputs[j] == in->inputs[k]) {
                snprintf(msg, len, "instrument %s: input %u is listed twice", in->name,
                         in->inputs[k]);
                return BB_EINVAL;
            }
        }
    }
    if (in->sum && in->n_inputs == 1) {
        snprintf(msg, len, "instrument %s: sum mixes two or more inputs; it has one", in->name);
        return BB_EINVAL;
    }
    if (in->n_velocities == 0) {
        snprintf(msg, len, "instrument %s: no velocities given", in->name);
        return BB_EINVAL;
    }
    for (size_t v = 0; v < in->n_velocities; v++) {
        if (in->velocities[v] < 1 || in->velocities[v] > 127) {
            snprintf(msg, len, "instrument %s: velocity %u is not 1-127", in->name,
                     in->velocities[v]);
            return BB_EINVAL;
        }
        for (size_t w = 0; w < v; w++) {
            if (in->velocities[w] == in->velocities[v]) {
                snprintf(msg, len, "instrument %s: velocity %u is listed twice", in->name,
                         in->velocities[v]);
                return BB_EINVAL;
            }
        }
    }
    /* ascending, so layers and file order read naturally */
    for (size_t v = 1; v < in->n_velocities; v++)
        for (size_t w = v; w > 0 && in->velocities[w - 1] > in->velocities[w]; w--) {
            uint32_t t = in->velocities[w];
            in->velocities[w] = in->velocities[w - 1];
            in->velocities[w - 1] = t;
        }
    if (in->round_robins == 0)
        in->round_robins = 1;
    if (in->round_robins > S_ROUND_ROBINS_MAX) {
        snprintf(msg, len, "instrument %s: %u round robins; at most %d", in->name, in->round_robins,
                 S_ROUND_ROBINS_MAX);
        return BB_EINVAL;
    }
    if (in->hold_ms == 0)
        in->hold_ms = S_HOLD_MS_DEFAULT;
    if (in->hold_ms > S_HOLD_MS_MAX || in->release_ms > S_HOLD_MS_MAX) {
        snprintf(msg, len, "instrument %s: hold and release are at most 60 s each", in->name);
        return BB_EINVAL;
    }
    if (in->preroll_ms == 0)
        in->preroll_ms = S_PREROLL_MS;
    if (in->preroll_ms > S_PREROLL_MS_MAX) {
        snprintf(msg, len, "instrument %s: pre-roll of %u ms; at most %d", in->name, in->preroll_ms,
                 S_PREROLL_MS_MAX);
        return BB_EINVAL;
    }
    if (in->quiet_wait_ms == 0)
        in->quiet_wait_ms = DSP_PLAN_QUIET_WAIT_MS;
    if (in->quiet_wait_ms < DSP_PLAN_QUIET_WAIT_MS_MIN ||
        in->quiet_wait_ms > DSP_PLAN_QUIET_WAIT_MS_MAX) {
        snprintf(msg, len, "instrument %s: quiet-wait of %u ms; from %d ms to %d s", in->name,
                 in->quiet_wait_ms, DSP_PLAN_QUIET_WAIT_MS_MIN, DSP_PLAN_QUIET_WAIT_MS_MAX / 1000);
        return BB_EINVAL;
    }
    if (in->max_retakes > S_RETAKES_MAX) {
        snprintf(msg, len, "instrument %s: at most %d retakes per take", in->name, S_RETAKES_MAX);
        return BB_EINVAL;
    }
    return 0;
}

int dsp_plan_check_export(Bb__ExportSpec *ex, char *msg, size_t len)
{
    if (ex->bit_depth == 0)
        ex->bit_depth = S_BIT_DEPTH_DEFAULT;
    char bits[16];
    snprintf(bits, sizeof bits, "%u", ex->bit_depth);
    int value;
    if (dsp_choice_check(&dsp_choices_bit_depth, bits, 0, &value, msg, len))
        return BB_EINVAL;
    if (ex->peak_target_db == 0.0f)
        ex->peak_target_db = S_PEAK_TARGET_DB;
    if (!(ex->peak_target_db <= 0.0f && ex->peak_target_db >= -60.0f)) {
        snprintf(msg, len, "peak target %.1f dBFS: use -60 to 0", ex->peak_target_db);
        return BB_EINVAL;
    }
    if (dsp_choice_check(&dsp_choices_normalise, ex->normalise, 1, &value, msg, len) ||
        dsp_choice_check(&dsp_choices_format, ex->format, 1, &value, msg, len) ||
        dsp_choice_check(&dsp_choices_map, ex->map, 1, &value, msg, len))
        return BB_EINVAL;
    const char *fmt = *ex->format ? ex->format : "wav";
    if (strcmp(fmt, "flac") == 0 && ex->bit_depth == 32) {
        snprintf(msg, len, "FLAC holds 16 or 24 bits, not 32-bit float");
        return BB_EINVAL;
    }
    char why[200];
    if (*ex->name_template && dsp_export_template_check(ex->name_template, why, sizeof why)) {
        snprintf(msg, len, "name template '%s': %s", ex->name_template, why);
        return BB_EINVAL;
    }
    dsp_map_config_t map = DSP_MAP_CONFIG_INIT;
    if (*ex->extend &&
        dsp_map_extend_parse(ex->extend, ex->c4_is_60 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60, &map,
                             why, sizeof why)) {
        snprintf(msg, len, "extend: %s", why);
        return BB_EINVAL;
    }
    unsigned files;
    if (ex->instrument_files && *ex->instrument_files &&
        dsp_export_formats_parse(ex->instrument_files, &files, why, sizeof why)) {
        snprintf(msg, len, "%s", why);
        return BB_EINVAL;
    }
    return 0;
}

/* The instruments one by one, then folder collisions and the take count. */
static int s_check_instruments(uint64_t *total_takes, Bb__BatchSpec *spec,
                               dsp_plan_node_fn node_check, void *node_arg, char *msg, size_t len)
{
    char(*safe)[BB_SAFE_NAME_MAX + 8] = calloc(spec->n_instruments, sizeof *safe);
    if (!safe) {
        snprintf(msg, len, "out of memory");
        return BB_ENOMEM;
    }
    uint64_t total = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < spec->n_instruments; i++) {
        Bb__InstrumentSpec *inst = spec->instruments[i];
        rc = s_check_instrument(inst, i, node_check, node_arg, msg, len);
        if (rc)
            break;
        bb_safe_name(inst->name, safe[i], sizeof safe[i]);
        for (size_t k = 0; k < i; k++) {
            if (strcasecmp(safe[k], safe[i]) == 0) {
                snprintf(msg, len,
                         "instruments %zu and %zu would share the folder '%s'; rename one", k + 1,
                         i + 1, safe[i]);
                rc = BB_EINVAL;
                break;
            }
        }
        uint32_t list[128];
        uint64_t notes = dsp_plan_notes(inst, list);
        total += notes * inst->n_velocities * inst->round_robins * (inst->release_samples ? 2 : 1);
    }
    free(safe);
    if (!rc && total > DSP_PLAN_MAX_TAKES) {
        snprintf(msg, len, "the plan has %llu takes; a batch holds at most %d",
                 (unsigned long long)total, DSP_PLAN_MAX_TAKES);
        rc = BB_EINVAL;
    }
    *total_takes = total;
    return rc;
}

/* A plan without export settings gets the defaults, as strings the spec owns (released
 * with it by free_unpacked). */
static int s_default_export(Bb__BatchSpec *spec, const Bb__ExportSpec *checked)
{
    Bb__ExportSpec *ex = malloc(sizeof *ex);
    if (!ex)
        return BB_ENOMEM;
    *ex = *checked;
    ex->out_dir = strdup("");
    ex->normalise = strdup("instrument");
    ex->format = strdup("wav");
    spec->export = ex;
    return ex->out_dir && ex->normalise && ex->format ? 0 : BB_ENOMEM;
}

int dsp_plan_validate(uint64_t *total_takes, Bb__BatchSpec *spec, dsp_plan_node_fn node_check,
                      void *node_arg, char *msg, size_t len)
{
    *total_takes = 0;
    if (spec->n_instruments == 0) {
        snprintf(msg, len, "the batch has no instruments");
        return BB_EINVAL;
    }
    int rc = dsp_plan_expand_patches(spec, msg, len);
    if (rc)
        return rc;
    if (spec->n_instruments > DSP_PLAN_MAX_INSTRUMENTS) {
        snprintf(msg, len, "%zu instruments; a batch holds at most %d", spec->n_instruments,
                 DSP_PLAN_MAX_INSTRUMENTS);
        return BB_EINVAL;
    }
    rc = s_check_instruments(total_takes, spec, node_check, node_arg, msg, len);
    if (rc)
        return rc;
    Bb__ExportSpec default_export = BB__EXPORT_SPEC__INIT;
    rc = dsp_plan_check_export(spec->export ? spec->export : &default_export, msg, len);
    if (rc)
        return rc;
    if (!*spec->name) {
        /* An empty string is protobuf-c's shared default, not ours to free; the copy is
         * released by free_unpacked like any decoded string. */
        char *name = strdup(spec->instruments[0]->name);
        if (!name)
            rc = BB_ENOMEM;
        else
            spec->name = name;
    }
    if (!rc && !spec->export)
        rc = s_default_export(spec, &default_export);
    if (rc)
        snprintf(msg, len, "out of memory");
    return rc;
}

/* ---- banks of patches ---- */

int dsp_plan_patch_name(const Bb__InstrumentSpec *in, size_t number, uint32_t program, char *out,
                        size_t outlen, char *msg, size_t len)
{
    if (in->n_patch_names > 0) {
        snprintf(out, outlen, "%s", number < in->n_patch_names ? in->patch_names[number] : "");
        return 0;
    }
    const char *t =
        in->patch_name && *in->patch_name ? in->patch_name : DSP_PLAN_PATCH_NAME_DEFAULT;
    int bank = in->has_setup && in->setup ? in->setup->bank_msb : -1;
    size_t o = 0;
    if (outlen)
        out[0] = '\0';
    while (*t && o + 1 < outlen) {
        if (*t != '{') {
            out[o++] = *t++;
            continue;
        }
        const char *close = strchr(t, '}');
        char key[32], fmt[16] = "";
        if (!close || (size_t)(close - t - 1) >= sizeof key) {
            snprintf(msg, len, "patch name '%s': a '{' without its '}'", in->patch_name);
            return BB_EINVAL;
        }
        snprintf(key, sizeof key, "%.*s", (int)(close - t - 1), t + 1);
        char *colon = strchr(key, ':');
        int width = 0;
        if (colon) {
            *colon = '\0';
            char *end;
            width = (int)strtol(colon + 1, &end, 10);
            if (*end || colon[1] != '0' || width < 1 || width > 9) {
                snprintf(msg, len, "patch name: {%s:%s}: the width is like :03", key, colon + 1);
                return BB_EINVAL;
            }
        }
        long value = 0;
        const char *text = NULL;
        if (strcmp(key, "instrument") == 0)
            text = in->name;
        else if (strcmp(key, "program") == 0)
            value = (long)program;
        else if (strcmp(key, "number") == 0)
            value = (long)number + 1;
        else if (strcmp(key, "bank") == 0)
            value = bank < 0 ? 0 : bank;
        else {
            snprintf(msg, len,
                     "patch name: unknown field {%s} (use {instrument}, {program}, {bank}, "
                     "{number})",
                     key);
            return BB_EINVAL;
        }
        if (text)
            snprintf(fmt, sizeof fmt, "%s", text);
        else
            snprintf(fmt, sizeof fmt, "%0*ld", width, value);
        int w = snprintf(out + o, outlen - o, "%s", text ? text : fmt);
        o += w > 0 ? (size_t)w : 0;
        if (o >= outlen)
            o = outlen - 1;
        t = close + 1;
    }
    if (outlen)
        out[o < outlen ? o : outlen - 1] = '\0';
    return 0;
}

/* One patch of `in`: a deep copy with the program set and the bank fields cleared. */
static Bb__InstrumentSpec *s_patch(const Bb__InstrumentSpec *in, size_t k, char *msg, size_t len)
{
    char name[DSP_PLAN_NAME_MAX * 2 + 1];
    if (dsp_plan_patch_name(in, k, in->programs[k], name, sizeof name, msg, len))
        return NULL;
    Bb__InstrumentSpec *p = BB_PB_COPY(Bb__InstrumentSpec, in);
    char *dup = strdup(name);
    if (!p || !dup || (!p->setup && !(p->setup = malloc(sizeof *p->setup)))) {
        free(dup);
        if (p)
            bb__instrument_spec__free_unpacked(p, NULL);
        snprintf(msg, len, "out of memory");
        return NULL;
    }
    if (!p->has_setup) {
        bb__midi_setup__init(p->setup);
        p->setup->bank_msb = p->setup->bank_lsb = -1;
    }
    p->has_setup = true;
    p->setup->program = (int32_t)in->programs[k];
    free(p->name);
    p->name = dup;
    free(p->programs);
    p->programs = NULL;
    p->n_programs = 0;
    for (size_t i = 0; i < p->n_patch_names; i++)
        free(p->patch_names[i]);
    free(p->patch_names);
    p->patch_names = NULL;
    p->n_patch_names = 0;
    if (p->patch_name != protobuf_c_empty_string)
        free(p->patch_name);
    p->patch_name = (char *)protobuf_c_empty_string;
    return p;
}

int dsp_plan_expand_patches(Bb__BatchSpec *spec, char *msg, size_t len)
{
    size_t total = 0;
    for (size_t i = 0; i < spec->n_instruments; i++) {
        const Bb__InstrumentSpec *in = spec->instruments[i];
        if (in->n_programs == 0) {
            if (in->n_patch_names || *in->patch_name) {
                snprintf(msg, len, "instrument %s: patch names without programs", in->name);
                return BB_EINVAL;
            }
            total++;
            continue;
        }
        if (in->n_patch_names && in->n_patch_names != in->n_programs) {
            snprintf(msg, len, "instrument %s: %zu patch names for %zu programs", in->name,
                     in->n_patch_names, in->n_programs);
            return BB_EINVAL;
        }
        for (size_t k = 0; k < in->n_programs; k++) {
            if (in->programs[k] > 127) {
                snprintf(msg, len, "instrument %s: program %u is not 0-127", in->name,
                         in->programs[k]);
                return BB_EINVAL;
            }
        }
        total += in->n_programs;
    }
    if (total == spec->n_instruments)
        return 0;
    if (total > DSP_PLAN_MAX_INSTRUMENTS) {
        snprintf(msg, len, "%zu instruments and patches; a batch holds at most %d", total,
                 DSP_PLAN_MAX_INSTRUMENTS);
        return BB_EINVAL;
    }
    Bb__InstrumentSpec **out = calloc(total, sizeof *out);
    if (!out) {
        snprintf(msg, len, "out of memory");
        return BB_ENOMEM;
    }
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < spec->n_instruments; i++) {
        Bb__InstrumentSpec *in = spec->instruments[i];
        if (in->n_programs == 0) {
            out[n++] = in;
            continue;
        }
        for (size_t k = 0; !rc && k < in->n_programs; k++) {
            out[n] = s_patch(in, k, msg, len);
            rc = out[n] ? 0 : BB_EINVAL;
            n += !rc;
        }
    }
    if (rc) { /* undo: free the patches made so far, keep the originals */
        for (size_t k = 0; k < n; k++) {
            bool original = false;
            for (size_t i = 0; i < spec->n_instruments; i++)
                original |= out[k] == spec->instruments[i];
            if (!original)
                bb__instrument_spec__free_unpacked(out[k], NULL);
        }
        free(out);
        return rc;
    }
    for (size_t i = 0; i < spec->n_instruments; i++)
        if (spec->instruments[i]->n_programs)
            bb__instrument_spec__free_unpacked(spec->instruments[i], NULL);
    free(spec->instruments);
    spec->instruments = out;
    spec->n_instruments = total;
    return 0;
}
