/*
 * node_options.h — batcherbird-node's command-line options as one struct.
 *
 * NODE_OPTIONS_INIT holds every default; node_options_parse() overwrites what the command
 * line gives, checking each value (a message on stderr names the option and its range).
 * It opens nothing and exits nothing, so it can be tested: main.c does the wiring.
 */
#ifndef NODE_OPTIONS_H
#define NODE_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "audio.h"
#include "bb_log.h"
#include "bb_rpc.h"
#include "sim_instrument.h"

#define NODE_FAST_SPEED       25.0 /* --fast */
#define NODE_NAME_MAX         64   /* bytes of a node name, NUL included */
#define NODE_SPOOL_RESERVE_MB 64.0 /* --spool-reserve default */

typedef struct {
    const char *coordinator;     /* the coordinator's node endpoint */
    char name[NODE_NAME_MAX];    /* main fills the host name before parsing */
    bool name_set;               /* --name was given */
    const char *cert;            /* --cert: a node certificate; main fills BATCHERBIRD_CERT */
    const char *coordinator_key; /* --coordinator-key: Z85 or a .cert file */
    const char *spool_dir;       /* NULL: under XDG_STATE_HOME or ~/.local/state */
    const char *audio_backend;
    const char *midi_backend;
    const char *audio_device;
    const char *midi_device;
    node_sim_config_t sim;
    /* --instrument with several items ("organ,pad"): one simulated instrument each, on
     * channels of their own (node_sim_new_parts); the first is also in sim */
    node_sim_preset_t part_presets[NODE_SIM_PARTS_MAX];
    int part_programs[NODE_SIM_PARTS_MAX]; /* gm:N, or -1 */
    size_t n_parts;
    node_audio_config_t audio;
    double latency_offset_ms;
    double speed; /* simulation speed; 1 = real time */
    const char *truth_path;
    int heartbeat_ms;
    bool list_devices;
    double loss_after_s, loss_for_s; /* --sim-device-loss */
    double start_delay_s;            /* --sim-start-delay */
    bool wait_for_device;
    double spool_reserve_mb; /* --spool-reserve: free space a take must leave in the spool */
    bool log_level_set;      /* --log-level given: log_level holds it */
    bb_log_level_t log_level;
    bool help; /* --help: parsing stopped there; print the usage and exit 0 */
} node_options_t;

#define NODE_OPTIONS_INIT                                                                          \
    {                                                                                              \
        .coordinator = BB_ENDPOINT_NODES, .name = "", .name_set = false, .cert = NULL,             \
        .coordinator_key = NULL, .spool_dir = NULL, .audio_backend = "virtual",                    \
        .midi_backend = "virtual", .audio_device = NULL, .midi_device = NULL,                      \
        .sim = NODE_SIM_CONFIG_INIT, .n_parts = 1, .audio = NODE_AUDIO_CONFIG_INIT,                \
        .latency_offset_ms = 0.0, .speed = 1.0, .truth_path = NULL, .heartbeat_ms = 1000,          \
        .list_devices = false, .loss_after_s = 0.0, .loss_for_s = 0.0, .start_delay_s = 0.0,       \
        .wait_for_device = false, .log_level_set = false, .log_level = BB_LOG_INFO, .help = false, \
        .spool_reserve_mb = NODE_SPOOL_RESERVE_MB                                                  \
    }

/* Parses argv into o (which holds the defaults). 0, or BB_EINVAL after a message on
 * stderr. Pointers in o point into argv. */
int node_options_parse(node_options_t *o, int argc, char **argv);

/* The --help text. */
void node_options_usage(FILE *out);

#endif
