/*
 * plan_check.h — every check a batch plan needs before a night of recording.
 *
 * dsp_plan_validate() walks a submitted plan (Bb__BatchSpec), fills in its defaults
 * (MIDI channel 1, step 1, hold 1 s, pre-roll 100 ms, one round robin, 24-bit WAV at
 * -1 dBFS, the batch named after its first instrument, ...), sorts each instrument's
 * velocities and stops at the first problem with one message that says what to change.
 * It knows nothing of nodes: whether an instrument's node exists is asked through a
 * callback at the point of the walk where that check always came (the coordinator
 * answers from its registry; NULL accepts any name).
 */
#ifndef DSP_PLAN_CHECK_H
#define DSP_PLAN_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "operator.pb-c.h"

#define DSP_PLAN_MAX_INSTRUMENTS 64     /* instruments in one batch */
#define DSP_PLAN_MAX_TAKES       100000 /* planned takes in one batch, release passes included */

/* Is there a node called `node`? 0 if so; otherwise a negative bb_err (BB_ENOTFOUND)
 * with msg (len bytes) saying which nodes there are. */
typedef int (*dsp_plan_node_fn)(void *arg, const char *node, char *msg, size_t len);

/* Checks and normalises `spec` in place (see above). *total_takes is the number of takes
 * the plan asks for (gain-staging takes not counted). Returns 0; BB_EINVAL for a bad
 * setting; the node callback's code (BB_ENOTFOUND) for an unknown node; BB_ENOMEM. On
 * error msg says what and, where there is one, which instrument. */
int dsp_plan_validate(uint64_t *total_takes, Bb__BatchSpec *spec, dsp_plan_node_fn node_check,
                      void *node_arg, char *msg, size_t len);

/* The export part alone: fills defaults (24 bits, -1 dBFS) and checks bit depth, peak
 * target, normalisation, format, name template and mapping. 0 or BB_EINVAL with msg. */
int dsp_plan_check_export(Bb__ExportSpec *ex, char *msg, size_t len);

#endif
