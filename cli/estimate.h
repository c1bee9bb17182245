/*
 * estimate.h — what a plan will cost before it runs: takes, recorded audio, wall time and
 * disk space, per instrument and in total (`submit --dry-run`, `plan check`, and the
 * summary `submit` prints before it starts).
 *
 * A take lasts its pre-roll + hold + release (a release sample: up to 500 ms of hold);
 * the adaptive release usually ends earlier, so the audio and time are upper bounds for
 * it. Each take adds its node's measured overhead between takes (NodeInfo
 * take_overhead_ms), or CLI_TAKE_OVERHEAD_MS when the node has not been measured.
 * Instruments that conflict (one node, shared inputs or MIDI channel: dsp_plan_conflict)
 * play one after another, the rest in parallel, as the scheduler runs them. Disk: the raw takes
 * (32-bit float, the node's rate and channels) plus the library (the export bit depth, trimmed
 * takes counted whole).
 */
#ifndef CLI_ESTIMATE_H
#define CLI_ESTIMATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "operator.pb-c.h"

#define CLI_TAKE_OVERHEAD_MS 50.0  /* assumed between takes until a node is measured */
#define CLI_DEFAULT_RATE     48000 /* for a node the coordinator does not know */
#define CLI_DEFAULT_CHANNELS 2
#define CLI_CONFIRM_WALL_S   3600.0 /* submit asks first above an hour ... */
#define CLI_CONFIRM_TAKES    2000   /* ... or this many takes */

typedef struct {
    char name[256];
    char node[64];
    uint32_t takes;      /* level-check takes included */
    double audio_s;      /* recorded, at most */
    double wall_s;       /* this instrument alone */
    uint64_t disk_bytes; /* raw takes + library */
    double overhead_ms;  /* per take, as used */
    bool measured;       /* overhead_ms measured on the node (else assumed) */
    bool adaptive;       /* adaptive release: audio and time are upper bounds */
} cli_estimate_inst_t;

typedef struct {
    cli_estimate_inst_t *inst;
    size_t n;
    uint32_t takes;
    double audio_s;
    double wall_s; /* the busiest node */
    uint64_t disk_bytes;
    uint64_t takes_bytes, library_bytes; /* disk_bytes split: raw takes, the library */
} cli_estimate_t;

/* Estimates a normalised plan (cli_plan_normalised), with the nodes' figures when nodes
 * is not NULL. 0 or -1 (memory). */
int cli_estimate(cli_estimate_t *out, const Bb__BatchSpec *plan, const Bb__ListNodesReply *nodes);
void cli_estimate_free(cli_estimate_t *e);
/* The table a person reads. */
void cli_estimate_print(const cli_estimate_t *e, FILE *out);
/* {"takes", "audio_s", "wall_s", "disk_bytes", "instruments": [{"name", "node", "takes",
 * "audio_s", "wall_s", "disk_bytes", "overhead_ms", "overhead_measured"}]} */
json_t *cli_estimate_json(const cli_estimate_t *e);
/* True when the plan is large enough that submit asks before starting it. */
bool cli_estimate_needs_confirm(const cli_estimate_t *e);

#endif
