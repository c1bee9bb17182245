/*
 * node_options.c — batcherbird-node's command line: getopt_long over one table of long
 * options, each value range-checked with a message that names the option and the range.
 * Parsing only fills node_options_t; opening anything is main.c's job.
 */
#include "node_options.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_rpc.h"

void node_options_usage(FILE *out)
{
    fprintf(out,
            "usage: batcherbird-node [options]\n"
            "\n"
            "The capture node: plays notes into one instrument over MIDI, records its audio,\n"
            "and streams every take to the coordinator.\n"
            "\n"
            "  --coordinator ENDPOINT  coordinator's node endpoint (default %s)\n"
            "  --name NAME             this node's name (default: the certificate's name, else\n"
            "                          the host name)\n"
            "  --cert FILE             this node's certificate (batcherbird keys new --role\n"
            "                          node); default $BATCHERBIRD_CERT. Required when the\n"
            "                          coordinator has keys\n"
            "  --coordinator-key KEY   the coordinator's public key, Z85 or its .cert file\n"
            "                          (default: the one the certificate names)\n"
            "  --spool DIR             where takes wait until acknowledged\n"
            "                          (default ~/.local/state/batcherbird/spool-NAME)\n"
            "  --spool-reserve MB      free space a take must leave in the spool's file\n"
            "                          system; takes are refused below it (default 64)\n"
            "  --audio BACKEND         virtual | portaudio (default virtual)\n"
            "  --midi BACKEND          virtual | portmidi (default virtual)\n"
            "  --audio-device DEV      input device name or index\n"
            "  --midi-device DEV       MIDI output name or index\n"
            "  --rate HZ               sample rate: 44100, 48000, 88200, 96000 (default 48000)\n"
            "  --channels N            input channels to record (default 2)\n"
            "  --first-channel N       first input channel, 1-based (default 1)\n"
            "  --buffer FRAMES         audio buffer size (default 256)\n"
            "  --latency-offset MS     MIDI-to-audio latency to compensate (default 0)\n"
            "  --monitor               pass the input through to an output (duplex stream)\n"
            "  --monitor-device DEV    output for --monitor, name or index (default: the\n"
            "                          default output)\n"
            "  --wait-for-device       start even when the audio device is not there yet:\n"
            "                          report it lost and keep trying to open it\n"
            "  --list-devices          list audio and MIDI devices and exit\n"
            "\n"
            "Simulated instrument (virtual backends):\n"
            "  --instrument PRESET     piano | pluck | pad | organ | analog (default piano),\n"
            "                          or gm:N, General MIDI program N (0-127) from a\n"
            "                          SoundFont through FluidSynth. A program change\n"
            "                          switches it: program P plays preset P mod 5 (0 piano,\n"
            "                          1 pluck, 2 pad, 3 organ, 4 analog), or GM program P.\n"
            "                          Several, e.g. organ,pad: one per pair of channels (or\n"
            "                          per channel), each on MIDI channel 1, 2, ... and on\n"
            "                          MIDI ports sim1, sim2, ... (a studio's synths on one\n"
            "                          interface)\n"
            "  --soundfont FILE        the SoundFont for gm:N (default %s)\n"
            "  --sim-latency MS        its MIDI-in to sound-out delay (default 3)\n"
            "  --sim-noise DB          its noise floor, dBFS RMS (default -80)\n"
            "  --sim-detune CENTS      its tuning error (default 0)\n"
            "  --sim-fault LIST        clip,dropout,silence,pitch,dc on every Nth note\n"
            "  --sim-fault-every N     (default 1 when --sim-fault is given)\n"
            "  --sim-seed N            noise seed\n"
            "  --sim-truth FILE        append the instrument's ground truth to FILE\n"
            "  --sim-device-loss A:B   the simulated interface vanishes A s after it starts\n"
            "                          and comes back B s later (tests device loss)\n"
            "  --sim-start-delay S     its first audio arrives S s after the stream starts\n"
            "  --speed X               run the simulation X times faster than real time\n"
            "  --fast                  as fast as tests want (--speed %.0f)\n"
            "\n"
            "  --heartbeat-ms MS       (default 1000)\n"
            "  --log-level LEVEL       error | warn | info | debug (default info)\n"
            "  --help\n",
            BB_ENDPOINT_NODES, NODE_SIM_DEFAULT_SOUNDFONT, NODE_FAST_SPEED);
}

static int s_parse_faults(const char *list, uint32_t *mask)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } faults[] = {{"clip", NODE_SIM_FAULT_CLIP},
                  {"dropout", NODE_SIM_FAULT_DROPOUT},
                  {"silence", NODE_SIM_FAULT_SILENCE},
                  {"pitch", NODE_SIM_FAULT_WRONG_PITCH},
                  {"dc", NODE_SIM_FAULT_DC}};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *mask = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < sizeof faults / sizeof faults[0]; i++)
            if (strcmp(tok, faults[i].name) == 0)
                break;
        if (i == sizeof faults / sizeof faults[0])
            return BB_EINVAL;
        *mask |= faults[i].bit;
    }
    return 0;
}

static int s_number(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (!*text || *end || v < lo || v > hi) {
        fprintf(stderr, "batcherbird-node: %s %s: expected a number from %g to %g\n", opt, text, lo,
                hi);
        return BB_EINVAL;
    }
    *out = v;
    return 0;
}

int node_options_parse(node_options_t *o, int argc, char **argv)
{
    enum {
        O_COORD = 256,
        O_NAME,
        O_SPOOL,
        O_AUDIO,
        O_MIDI,
        O_ADEV,
        O_MDEV,
        O_RATE,
        O_CH,
        O_FIRST,
        O_BUF,
        O_LAT,
        O_LIST,
        O_INST,
        O_SLAT,
        O_SNOISE,
        O_SDETUNE,
        O_SFAULT,
        O_SEVERY,
        O_SEED,
        O_TRUTH,
        O_SPEED,
        O_FAST,
        O_HB,
        O_LOG,
        O_HELP,
        O_MON,
        O_MONDEV,
        O_SLOSS,
        O_SSTART,
        O_WAITDEV,
        O_SF,
        O_CERT,
        O_CKEY,
        O_SPRES
    };
    static const struct option longopts[] = {{"coordinator", 1, 0, O_COORD},
                                             {"name", 1, 0, O_NAME},
                                             {"spool", 1, 0, O_SPOOL},
                                             {"audio", 1, 0, O_AUDIO},
                                             {"midi", 1, 0, O_MIDI},
                                             {"audio-device", 1, 0, O_ADEV},
                                             {"midi-device", 1, 0, O_MDEV},
                                             {"rate", 1, 0, O_RATE},
                                             {"channels", 1, 0, O_CH},
                                             {"first-channel", 1, 0, O_FIRST},
                                             {"buffer", 1, 0, O_BUF},
                                             {"latency-offset", 1, 0, O_LAT},
                                             {"list-devices", 0, 0, O_LIST},
                                             {"instrument", 1, 0, O_INST},
                                             {"soundfont", 1, 0, O_SF},
                                             {"sim-latency", 1, 0, O_SLAT},
                                             {"sim-noise", 1, 0, O_SNOISE},
                                             {"sim-detune", 1, 0, O_SDETUNE},
                                             {"sim-fault", 1, 0, O_SFAULT},
                                             {"sim-fault-every", 1, 0, O_SEVERY},
                                             {"sim-seed", 1, 0, O_SEED},
                                             {"sim-truth", 1, 0, O_TRUTH},
                                             {"speed", 1, 0, O_SPEED},
                                             {"fast", 0, 0, O_FAST},
                                             {"heartbeat-ms", 1, 0, O_HB},
                                             {"log-level", 1, 0, O_LOG},
                                             {"help", 0, 0, O_HELP},
                                             {"monitor", 0, 0, O_MON},
                                             {"monitor-device", 1, 0, O_MONDEV},
                                             {"sim-device-loss", 1, 0, O_SLOSS},
                                             {"sim-start-delay", 1, 0, O_SSTART},
                                             {"wait-for-device", 0, 0, O_WAITDEV},
                                             {"cert", 1, 0, O_CERT},
                                             {"coordinator-key", 1, 0, O_CKEY},
                                             {"spool-reserve", 1, 0, O_SPRES},
                                             {0, 0, 0, 0}};
    int c;
    double v;
    bool every_given = false;
    optind = 0; /* glibc: start afresh, so a second parse (tests) sees every option */
    /* Without --instrument the one part is the default instrument (NODE_SIM_CONFIG_INIT's
     * preset, no General MIDI program): a zeroed part would be gm:0, which needs FluidSynth
     * and a SoundFont (the arm64 sanity run found it). */
    o->part_presets[0] = o->sim.preset;
    o->part_programs[0] = o->sim.gm_program;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_COORD:
            o->coordinator = optarg;
            break;
        case O_NAME:
            if (!*optarg || strlen(optarg) >= NODE_NAME_MAX) {
                fprintf(stderr, "batcherbird-node: --name must be 1 to %d characters\n",
                        NODE_NAME_MAX - 1);
                return BB_EINVAL;
            }
            snprintf(o->name, sizeof o->name, "%s", optarg);
            o->name_set = true;
            break;
        case O_CERT:
            o->cert = optarg;
            break;
        case O_CKEY:
            o->coordinator_key = optarg;
            break;
        case O_SPRES:
            if (s_number("--spool-reserve", optarg, 0, 1e9, &o->spool_reserve_mb))
                return BB_EINVAL;
            break;
        case O_SPOOL:
            o->spool_dir = optarg;
            break;
        case O_AUDIO:
            o->audio_backend = optarg;
            break;
        case O_MIDI:
            o->midi_backend = optarg;
            break;
        case O_ADEV:
            o->audio_device = optarg;
            break;
        case O_MDEV:
            o->midi_device = optarg;
            break;
        case O_RATE:
            if (s_number("--rate", optarg, 8000, 192000, &v))
                return BB_EINVAL;
            o->audio.sample_rate = o->sim.sample_rate = (uint32_t)v;
            break;
        case O_CH:
            if (s_number("--channels", optarg, 1, NODE_MAX_CHANNELS, &v))
                return BB_EINVAL;
            o->audio.channels = (uint32_t)v;
            o->sim.channels = v > 2 ? 2 : (uint32_t)v;
            break;
        case O_FIRST:
            if (s_number("--first-channel", optarg, 1, 64, &v))
                return BB_EINVAL;
            o->audio.first_channel = (uint32_t)v - 1;
            break;
        case O_BUF:
            if (s_number("--buffer", optarg, NODE_AUDIO_MIN_BUFFER, NODE_AUDIO_MAX_BUFFER, &v))
                return BB_EINVAL;
            o->audio.buffer_frames = (uint32_t)v;
            break;
        case O_LAT:
            if (s_number("--latency-offset", optarg, -1000, 1000, &o->latency_offset_ms))
                return BB_EINVAL;
            break;
        case O_LIST:
            o->list_devices = true;
            break;
        case O_SF:
            o->sim.soundfont = optarg;
            break;
        case O_INST: {
            char list[256];
            snprintf(list, sizeof list, "%s", optarg);
            o->n_parts = 0;
            for (char *save = NULL, *item = strtok_r(list, ",", &save); item;
                 item = strtok_r(NULL, ",", &save)) {
                if (o->n_parts == NODE_SIM_PARTS_MAX) {
                    fprintf(stderr,
                            "batcherbird-node: --instrument %s: at most %d simulated "
                            "instruments\n",
                            optarg, NODE_SIM_PARTS_MAX);
                    return BB_EINVAL;
                }
                size_t k = o->n_parts++;
                o->part_programs[k] = -1;
                o->part_presets[k] = o->sim.preset;
                if (strncmp(item, "gm:", 3) == 0) {
                    char *end = NULL;
                    long prog = strtol(item + 3, &end, 10);
                    if (!item[3] || *end || prog < 0 || prog > 127) {
                        fprintf(stderr,
                                "batcherbird-node: --instrument %s: gm: takes a General "
                                "MIDI program number, 0 to 127\n",
                                item);
                        return BB_EINVAL;
                    }
                    if (!node_sim_have_soundfont()) {
                        fprintf(stderr, "batcherbird-node: --instrument %s: %s\n", item,
                                node_sim_soundfont_error());
                        return BB_EINVAL;
                    }
                    o->part_programs[k] = (int)prog;
                } else if (node_sim_preset_parse(item, &o->part_presets[k])) {
                    fprintf(stderr,
                            "batcherbird-node: --instrument %s: choose piano, pluck, pad, organ "
                            "or analog (or several, separated by commas)\n",
                            item);
                    return BB_EINVAL;
                }
            }
            if (o->n_parts == 0) {
                fprintf(stderr, "batcherbird-node: --instrument needs a preset\n");
                return BB_EINVAL;
            }
            o->sim.preset = o->part_presets[0];
            o->sim.gm_program = o->part_programs[0];
            break;
        }
        case O_SLAT:
            if (s_number("--sim-latency", optarg, 0, 500, &o->sim.latency_ms))
                return BB_EINVAL;
            break;
        case O_SNOISE:
            if (s_number("--sim-noise", optarg, -200, 0, &o->sim.noise_floor_db))
                return BB_EINVAL;
            break;
        case O_SDETUNE:
            if (s_number("--sim-detune", optarg, -1200, 1200, &o->sim.detune_cents))
                return BB_EINVAL;
            break;
        case O_SFAULT:
            if (s_parse_faults(optarg, &o->sim.fault_mask)) {
                fprintf(stderr,
                        "batcherbird-node: --sim-fault %s: use clip, dropout, silence, "
                        "pitch, dc (comma-separated)\n",
                        optarg);
                return BB_EINVAL;
            }
            if (!every_given)
                o->sim.fault_every = 1;
            break;
        case O_SEVERY:
            if (s_number("--sim-fault-every", optarg, 0, 1e6, &v))
                return BB_EINVAL;
            o->sim.fault_every = (uint32_t)v;
            every_given = true;
            break;
        case O_SEED:
            if (s_number("--sim-seed", optarg, 0, 4294967295.0, &v))
                return BB_EINVAL;
            o->sim.seed = (uint32_t)v;
            break;
        case O_TRUTH:
            o->truth_path = optarg;
            break;
        case O_SPEED:
            if (s_number("--speed", optarg, 1, 1000, &o->speed))
                return BB_EINVAL;
            break;
        case O_FAST:
            o->speed = NODE_FAST_SPEED;
            break;
        case O_HB:
            if (s_number("--heartbeat-ms", optarg, 50, 60000, &v))
                return BB_EINVAL;
            o->heartbeat_ms = (int)v;
            break;
        case O_LOG:
            if (bb_log_parse_level(optarg, &o->log_level)) {
                fprintf(stderr, "batcherbird-node: --log-level: error, warn, info or debug\n");
                return BB_EINVAL;
            }
            o->log_level_set = true;
            break;
        case O_MON:
            o->audio.monitor = true;
            break;
        case O_WAITDEV:
            o->wait_for_device = true;
            break;
        case O_MONDEV:
            o->audio.monitor = true;
            o->audio.monitor_device = optarg;
            break;
        case O_SLOSS: {
            char *colon = strchr(optarg, ':');
            char after[32];
            snprintf(after, sizeof after, "%.*s", colon ? (int)(colon - optarg) : 0, optarg);
            if (!colon || s_number("--sim-device-loss", after, 0.001, 86400, &o->loss_after_s) ||
                s_number("--sim-device-loss", colon + 1, 0, 86400, &o->loss_for_s)) {
                fprintf(stderr, "batcherbird-node: --sim-device-loss AFTER:FOR, in seconds\n");
                return BB_EINVAL;
            }
            break;
        }
        case O_SSTART:
            if (s_number("--sim-start-delay", optarg, 0, 60, &o->start_delay_s))
                return BB_EINVAL;
            break;
        case 'h':
        case O_HELP:
            o->help = true;
            return 0;
        default:
            node_options_usage(stderr);
            return BB_EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "batcherbird-node: unexpected argument '%s' (see --help)\n", argv[optind]);
        return BB_EINVAL;
    }
    return 0;
}
