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
#include "export.h"
#include "qc_config.h"

#define S_NAME_MAX          100   /* characters in an instrument name */
#define S_LEVEL_TARGET_DB   -6.0f /* gain staging's default peak target */
#define S_MIDI_CHANNELS     16
#define S_ROUND_ROBINS_MAX  16
#define S_HOLD_MS_DEFAULT   1000
#define S_HOLD_MS_MAX       60000 /* hold and release, each */
#define S_PREROLL_MS        100
#define S_PREROLL_MS_MAX    2000
#define S_RETAKES_MAX       10
#define S_BIT_DEPTH_DEFAULT 24
#define S_PEAK_TARGET_DB    -1.0f

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
    if (ex->bit_depth != 16 && ex->bit_depth != 24 && ex->bit_depth != 32) {
        snprintf(msg, len, "bit depth %u: use 16, 24 or 32 (float)", ex->bit_depth);
        return BB_EINVAL;
    }
    if (ex->peak_target_db == 0.0f)
        ex->peak_target_db = S_PEAK_TARGET_DB;
    if (!(ex->peak_target_db <= 0.0f && ex->peak_target_db >= -60.0f)) {
        snprintf(msg, len, "peak target %.1f dBFS: use -60 to 0", ex->peak_target_db);
        return BB_EINVAL;
    }
    const char *norm = *ex->normalise ? ex->normalise : "instrument";
    if (strcmp(norm, "instrument") && strcmp(norm, "velocity") && strcmp(norm, "sample") &&
        strcmp(norm, "none")) {
        snprintf(msg, len, "normalise '%s': use instrument, velocity, sample or none", norm);
        return BB_EINVAL;
    }
    const char *fmt = *ex->format ? ex->format : "wav";
    if (strcmp(fmt, "wav") && strcmp(fmt, "flac")) {
        snprintf(msg, len, "format '%s': use wav or flac", fmt);
        return BB_EINVAL;
    }
    if (strcmp(fmt, "flac") == 0 && ex->bit_depth == 32) {
        snprintf(msg, len, "FLAC holds 16 or 24 bits, not 32-bit float");
        return BB_EINVAL;
    }
    char why[200];
    if (*ex->name_template && dsp_export_template_check(ex->name_template, why, sizeof why)) {
        snprintf(msg, len, "name template '%s': %s", ex->name_template, why);
        return BB_EINVAL;
    }
    if (*ex->map && strcmp(ex->map, "centred") && strcmp(ex->map, "centered") &&
        strcmp(ex->map, "upward")) {
        snprintf(msg, len, "map '%s': use centred or upward", ex->map);
        return BB_EINVAL;
    }
    dsp_map_config_t map = DSP_MAP_CONFIG_INIT;
    if (*ex->extend &&
        dsp_map_extend_parse(ex->extend, ex->c4_is_60 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60, &map,
                             why, sizeof why)) {
        snprintf(msg, len, "extend: %s", why);
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
        uint64_t notes = (inst->note_hi - inst->note_lo) / inst->step + 1;
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
    if (spec->n_instruments > DSP_PLAN_MAX_INSTRUMENTS) {
        snprintf(msg, len, "%zu instruments; a batch holds at most %d", spec->n_instruments,
                 DSP_PLAN_MAX_INSTRUMENTS);
        return BB_EINVAL;
    }
    int rc = s_check_instruments(total_takes, spec, node_check, node_arg, msg, len);
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
