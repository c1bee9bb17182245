/*
 * plan_check.h — every check a batch plan needs before a night of recording.
 *
 * dsp_plan_validate() walks a submitted plan (Bb__BatchSpec), fills in its defaults
 * (MIDI channel 1, step 1, hold 1 s, pre-roll 100 ms, one round robin, 24-bit WAV at
 * -1 dBFS, the batch named after its first instrument, ...), sorts each instrument's
 * velocities and stops at the first problem with one message that says what to change.
 * A bank of patches (an instrument with `programs`) is expanded first into one instrument
 * per program (dsp_plan_expand_patches), so every later check sees the patches.
 * It knows nothing of nodes: whether an instrument's node exists is asked through a
 * callback at the point of the walk where that check always came (the coordinator
 * answers from its registry; NULL accepts any name).
 */
#ifndef DSP_PLAN_CHECK_H
#define DSP_PLAN_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "operator.pb-c.h"

#define DSP_PLAN_MAX_INSTRUMENTS 64     /* instruments in one batch, patches of banks included */
#define DSP_PLAN_MAX_TAKES       100000 /* planned takes in one batch, release passes included */

/* The limits of each setting (plan_fields.c states them to users from here). */
#define DSP_PLAN_NAME_MAX           100 /* characters in an instrument name */
#define DSP_PLAN_MIDI_CHANNELS      16
#define DSP_PLAN_ROUND_ROBINS_MAX   16
#define DSP_PLAN_HOLD_MS_DEFAULT    1000
#define DSP_PLAN_HOLD_MS_MAX        60000 /* hold and release, each */
#define DSP_PLAN_RELEASE_MS_DEFAULT 1000
#define DSP_PLAN_PREROLL_MS         100
#define DSP_PLAN_PREROLL_MS_MAX     2000
#define DSP_PLAN_QUIET_WAIT_MS      5000 /* the longest wait for silence before a note */
#define DSP_PLAN_QUIET_WAIT_MS_MIN  100
#define DSP_PLAN_QUIET_WAIT_MS_MAX  60000
#define DSP_PLAN_RETAKES_DEFAULT    2
#define DSP_PLAN_RETAKES_MAX        10
#define DSP_PLAN_SETTLE_MS_MAX      10000 /* wait after a patch's program change and SysEx */
#define DSP_PLAN_SYSEX_MAX          4096  /* bytes in one SysEx message */
#define DSP_PLAN_LEVEL_TARGET_DB    -6.0f /* gain staging's default peak target */
#define DSP_PLAN_BIT_DEPTH_DEFAULT  24
#define DSP_PLAN_PEAK_TARGET_DB     -1.0f
#define DSP_PLAN_PATCH_NAME_DEFAULT "{instrument} {program:03}"
#define DSP_PLAN_INPUTS_MAX         64 /* input channels of a node an instrument may name */

/* Is there a node called `node`? 0 if so; otherwise a negative bb_err (BB_ENOTFOUND)
 * with msg (len bytes) saying which nodes there are. */
typedef int (*dsp_plan_node_fn)(void *arg, const char *node, char *msg, size_t len);

/* Checks and normalises `spec` in place (see above). *total_takes is the number of takes
 * the plan asks for (gain-staging takes not counted). Returns 0; BB_EINVAL for a bad
 * setting; the node callback's code (BB_ENOTFOUND) for an unknown node; BB_ENOMEM. On
 * error msg says what and, where there is one, which instrument. */
int dsp_plan_validate(uint64_t *total_takes, Bb__BatchSpec *spec, dsp_plan_node_fn node_check,
                      void *node_arg, char *msg, size_t len);

/* The notes an instrument samples, ascending: its list, or its range by its step. Returns
 * how many (at most 128). */
size_t dsp_plan_notes(const Bb__InstrumentSpec *in, uint32_t notes[128]);

/* True when two instruments cannot record at the same time: the same node, and a shared
 * input channel (no inputs given: all of them) or the same MIDI channel on the same port.
 * The scheduler and the estimate both ask. */
bool dsp_plan_conflict(const Bb__InstrumentSpec *a, const Bb__InstrumentSpec *b);

/* Replaces each instrument that lists programs by one instrument per program: a copy with
 * that program in its MIDI setup (bank, controllers and SysEx kept) and the name from its
 * patch_names or patch_name template (default DSP_PLAN_PATCH_NAME_DEFAULT). Instruments
 * without programs are untouched. Returns 0, BB_EINVAL (msg says which instrument and
 * why: a program above 127, names that do not match the programs, a bad template) or
 * BB_ENOMEM. */
int dsp_plan_expand_patches(Bb__BatchSpec *spec, char *msg, size_t len);

/* The name of patch `number` (0-based) of `in` playing `program`, from its patch names or
 * template. 0 or BB_EINVAL with msg. */
int dsp_plan_patch_name(const Bb__InstrumentSpec *in, size_t number, uint32_t program, char *out,
                        size_t outlen, char *msg, size_t len);

/* The export part alone: fills defaults (24 bits, -1 dBFS) and checks bit depth, peak
 * target, normalisation, format, name template and mapping. 0 or BB_EINVAL with msg. */
int dsp_plan_check_export(Bb__ExportSpec *ex, char *msg, size_t len);

#endif
