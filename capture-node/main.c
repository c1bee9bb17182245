/*
 * main.c — batcherbird-node: the capture node beside one instrument.
 *
 * Parses options, opens the audio and MIDI backends (the simulated instrument by
 * default), sets up the realtime capture state in memory allocated here before the
 * stream starts, then runs three threads besides main: the audio callback (backend's),
 * the MIDI scheduler and the recorder, plus the link actor. Main watches the audio device
 * (audio_watch.h: a lost device is reported, retried with backoff, resumed) and writes
 * the simulated instrument's ground truth when asked, until SIGINT/SIGTERM.
 */
#include <czmq.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio.h"
#include "audio_watch.h"
#include "bb_clock.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_log.h"
#include "bb_rpc.h"
#include "capture_rt.h"
#include "link.h"
#include "midi.h"
#include "meter.h"
#include "midi_sched.h"
#include "recorder.h"
#include "sim_instrument.h"
#include "spool.h"

#define NODE_FAST_SPEED       25.0
#define NODE_RING_FRAMES      (1u << 17) /* 2.7 s at 48 kHz */
#define NODE_RING_FRAMES_FAST (1u << 20)
#define NODE_BLOCK_SLOTS      4096
#define NODE_NAME_MAX         64
#define NODE_RESTART_GRACE_MS 500

typedef struct {
    const char *coordinator;
    char name[NODE_NAME_MAX];
    const char *spool_dir;
    const char *audio_backend;
    const char *midi_backend;
    const char *audio_device;
    const char *midi_device;
    node_sim_config_t sim;
    node_audio_config_t audio;
    double latency_offset_ms;
    double speed;
    const char *truth_path;
    int heartbeat_ms;
    bool list_devices;
    double loss_after_s, loss_for_s; /* --sim-device-loss */
    bool wait_for_device;
} s_opts_t;

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: batcherbird-node [options]\n"
            "\n"
            "The capture node: plays notes into one instrument over MIDI, records its audio,\n"
            "and streams every take to the coordinator.\n"
            "\n"
            "  --coordinator ENDPOINT  coordinator's node endpoint (default %s)\n"
            "  --name NAME             this node's name (default: the host name)\n"
            "  --spool DIR             where takes wait until acknowledged\n"
            "                          (default ~/.local/state/batcherbird/spool-NAME)\n"
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
            "                          SoundFont through FluidSynth\n"
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

static int s_parse(int argc, char **argv, s_opts_t *o)
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
        O_WAITDEV,
        O_SF
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
                                             {"wait-for-device", 0, 0, O_WAITDEV},
                                             {0, 0, 0, 0}};
    int c;
    double v;
    bool every_given = false;
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
        case O_INST:
            if (strncmp(optarg, "gm:", 3) == 0) {
                char *end = NULL;
                long prog = strtol(optarg + 3, &end, 10);
                if (!optarg[3] || *end || prog < 0 || prog > 127) {
                    fprintf(stderr,
                            "batcherbird-node: --instrument %s: gm: takes a General "
                            "MIDI program number, 0 to 127\n",
                            optarg);
                    return BB_EINVAL;
                }
                if (!node_sim_have_soundfont()) {
                    fprintf(stderr,
                            "batcherbird-node: --instrument %s: this build has no "
                            "FluidSynth (install libfluidsynth-dev and rebuild)\n",
                            optarg);
                    return BB_EINVAL;
                }
                o->sim.gm_program = (int)prog;
            } else if (node_sim_preset_parse(optarg, &o->sim.preset)) {
                fprintf(stderr,
                        "batcherbird-node: --instrument %s: choose piano, pluck, pad, organ or "
                        "analog\n",
                        optarg);
                return BB_EINVAL;
            }
            break;
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
        case O_LOG: {
            bb_log_level_t level;
            if (bb_log_parse_level(optarg, &level)) {
                fprintf(stderr, "batcherbird-node: --log-level: error, warn, info or debug\n");
                return BB_EINVAL;
            }
            bb_log_set_level(level);
            break;
        }
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
        case 'h':
        case O_HELP:
            s_usage(stdout);
            exit(0);
        default:
            s_usage(stderr);
            return BB_EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "batcherbird-node: unexpected argument '%s' (see --help)\n", argv[optind]);
        return BB_EINVAL;
    }
    return 0;
}

static int s_list_devices(void)
{
    node_device_t devs[64];
    char err[512] = "";
    for (const node_audio_backend_t *const *b = node_audio_backends(); *b; b++) {
        int n = (*b)->list_devices(devs, 64, err, sizeof err);
        printf("audio backend %s:\n", (*b)->name);
        if (n < 0) {
            printf("  cannot list devices: %s\n", err);
            continue;
        }
        int inputs = 0;
        for (int i = 0; i < n && i < 64; i++) {
            inputs += devs[i].input_channels > 0;
            printf("  [%u] %-40s in %2u  out %2u  default %.0f Hz  (%s)\n", devs[i].index,
                   devs[i].name, devs[i].input_channels, devs[i].output_channels,
                   devs[i].default_rate, devs[i].host_api);
        }
        if (inputs == 0)
            printf("  no audio input devices found%s\n",
                   strcmp((*b)->name, "portaudio") == 0
                       ? " (is the interface connected? with JACK, is the server running?)"
                       : "");
    }
    for (const node_midi_backend_t *const *b = node_midi_backends(); *b; b++) {
        int n = (*b)->list_devices(devs, 64, err, sizeof err);
        printf("MIDI backend %s:\n", (*b)->name);
        if (n < 0)
            printf("  cannot list devices: %s\n", err);
        else if (n == 0)
            printf("  no MIDI output devices found\n");
        for (int i = 0; i < n && i < 64; i++)
            printf("  [%u] %s (%s)\n", devs[i].index, devs[i].name, devs[i].host_api);
    }
    return 0;
}

static void s_write_truth(node_sim_t *sim, FILE *f)
{
    static const char *kinds[] = {"on", "off", "end"};
    node_sim_truth_t t;
    bool any = false;
    while (sim && f && node_sim_truth_pop(sim, &t)) {
        fprintf(f, "%s frame=%llu note=%u velocity=%u freq=%.6f peak=%.6f faults=%u\n",
                kinds[t.kind], (unsigned long long)t.frame, t.note, t.velocity, t.freq_hz,
                t.peak_gain, t.faults);
        any = true;
    }
    if (any)
        fflush(f);
}

/* "piano", or "gm:0" for a SoundFont program. */
static const char *s_instrument_name(const node_sim_config_t *sim)
{
    static char name[16];
    if (sim->gm_program < 0)
        return node_sim_preset_name(sim->preset);
    snprintf(name, sizeof name, "gm:%d", sim->gm_program);
    return name;
}

/* Capabilities advertised at registration. Strings point into static storage or opts. */
typedef struct {
    Bb__Capabilities caps;
    char *audio_names[4], *midi_names[4];
    uint32_t rates[4];
} s_caps_t;

static void s_build_caps(s_caps_t *c, const s_opts_t *o)
{
    c->caps = (Bb__Capabilities)BB__CAPABILITIES__INIT;
    size_t n = 0;
    for (const node_audio_backend_t *const *b = node_audio_backends(); *b && n < 4; b++)
        c->audio_names[n++] = (char *)(*b)->name;
    c->caps.audio_backends = c->audio_names;
    c->caps.n_audio_backends = n;
    n = 0;
    for (const node_midi_backend_t *const *b = node_midi_backends(); *b && n < 4; b++)
        c->midi_names[n++] = (char *)(*b)->name;
    c->caps.midi_backends = c->midi_names;
    c->caps.n_midi_backends = n;
    static const uint32_t rates[] = NODE_AUDIO_RATES;
    memcpy(c->rates, rates, sizeof rates);
    c->caps.sample_rates = c->rates;
    c->caps.n_sample_rates = 4;
    c->caps.max_input_channels = NODE_MAX_CHANNELS;
    c->caps.version = (char *)BB_VERSION;
    c->caps.audio_backend = (char *)o->audio_backend;
    c->caps.midi_backend = (char *)o->midi_backend;
    c->caps.instrument =
        strcmp(o->audio_backend, "virtual") == 0 ? (char *)s_instrument_name(&o->sim) : (char *)"";
}

/* Runs this program again in this process (same pid, same arguments) with
 * --wait-for-device: for a device only a fresh process can reopen (audio_watch.h). */
static void s_restart(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args)
        return;
    bool has_wait = false;
    for (int i = 0; i < argc; i++) {
        args[i] = argv[i];
        has_wait |= strcmp(argv[i], "--wait-for-device") == 0;
    }
    args[argc] = has_wait ? NULL : (char *)"--wait-for-device";
    execv("/proc/self/exe", args);
    bb_error("cannot restart (%s): start batcherbird-node again", strerror(errno));
    free(args);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    s_opts_t o = {.coordinator = BB_ENDPOINT_NODES,
                  .audio_backend = "virtual",
                  .midi_backend = "virtual",
                  .speed = 1.0,
                  .heartbeat_ms = 1000};
    o.sim = (node_sim_config_t)NODE_SIM_CONFIG_INIT;
    o.audio = (node_audio_config_t)NODE_AUDIO_CONFIG_INIT;
    if (gethostname(o.name, sizeof o.name) != 0 || !*o.name)
        snprintf(o.name, sizeof o.name, "node");
    o.name[NODE_NAME_MAX - 1] = '\0';
    if (s_parse(argc, argv, &o))
        return 2;
    if (o.list_devices)
        return s_list_devices();
    bb_log_set_ident(o.name);
    bb_node_clock_set_speed(o.speed);
    if (o.speed > 1.0 && strcmp(o.audio_backend, "virtual") != 0) {
        fprintf(stderr, "batcherbird-node: --speed/--fast only apply to the virtual backends\n");
        return 2;
    }

    int rc = 1;
    bool restart = false;
    node_sim_t *sim = NULL;
    node_audio_watch_t *watch = NULL;
    node_meter_t meter;
    bool meter_ready = false;
    node_midi_port_t *port = NULL;
    node_midi_sched_t *midi = NULL;
    node_recorder_t *recorder = NULL;
    node_spool_t *spool = NULL;
    zactor_t *link = NULL;
    void *ring_mem = NULL, *block_mem = NULL;
    node_capture_t *cap = NULL;
    FILE *truth = NULL;
    char err[512] = "";

    const node_audio_backend_t *audio = node_audio_backend(o.audio_backend);
    const node_midi_backend_t *midib = node_midi_backend(o.midi_backend);
    if (!audio || !midib) {
        fprintf(stderr, "batcherbird-node: unknown %s backend '%s' (this build has:",
                audio ? "MIDI" : "audio", audio ? o.midi_backend : o.audio_backend);
        if (!audio)
            for (const node_audio_backend_t *const *b = node_audio_backends(); *b; b++)
                fprintf(stderr, " %s", (*b)->name);
        else
            for (const node_midi_backend_t *const *b = node_midi_backends(); *b; b++)
                fprintf(stderr, " %s", (*b)->name);
        fprintf(stderr, ")\n");
        return 2;
    }
    o.audio.device = o.audio_device;
    if (node_audio_check_config(&o.audio, err, sizeof err)) {
        fprintf(stderr, "batcherbird-node: %s\n", err);
        return 2;
    }

    /* The spool. */
    char spool_path[PATH_MAX];
    if (o.spool_dir) {
        snprintf(spool_path, sizeof spool_path, "%s", o.spool_dir);
    } else {
        const char *state = getenv("XDG_STATE_HOME");
        const char *home = getenv("HOME");
        char safe[BB_SAFE_NAME_MAX + 8];
        bb_safe_name(o.name, safe, sizeof safe);
        if (state && *state)
            snprintf(spool_path, sizeof spool_path, "%s/batcherbird/spool-%s", state, safe);
        else
            snprintf(spool_path, sizeof spool_path, "%s/.local/state/batcherbird/spool-%s",
                     home ? home : ".", safe);
    }
    spool = node_spool_new(spool_path, err, sizeof err);
    if (!spool) {
        fprintf(stderr, "batcherbird-node: %s\n", err);
        goto cleanup;
    }

    /* The simulated instrument, when either backend is virtual. */
    if (strcmp(o.audio_backend, "virtual") == 0 || strcmp(o.midi_backend, "virtual") == 0) {
        o.sim.sample_rate = o.audio.sample_rate;
        o.sim.channels = o.audio.channels > 2 ? 2 : o.audio.channels;
        if (o.audio.channels > 2) {
            fprintf(stderr, "batcherbird-node: the simulated instrument is mono or stereo\n");
            goto cleanup;
        }
        sim = node_sim_new(&o.sim);
        if (!sim) {
            if (o.sim.gm_program >= 0)
                fprintf(stderr,
                        "batcherbird-node: cannot play General MIDI program %d from the "
                        "SoundFont %s (is it there? Debian: timgm6mb-soundfont)\n",
                        o.sim.gm_program,
                        o.sim.soundfont ? o.sim.soundfont : NODE_SIM_DEFAULT_SOUNDFONT);
            else
                fprintf(stderr, "batcherbird-node: cannot set up the simulated instrument\n");
            goto cleanup;
        }
        o.audio.backend_ctx = sim;
    }
    if (o.truth_path && !(truth = fopen(o.truth_path, "a"))) {
        fprintf(stderr, "batcherbird-node: cannot open %s: %s\n", o.truth_path, strerror(errno));
        goto cleanup;
    }

    /* Realtime state: allocated and initialised before the stream starts. */
    uint32_t ring_frames = o.speed > 1.0 ? NODE_RING_FRAMES_FAST : NODE_RING_FRAMES;
    cap = calloc(1, sizeof *cap);
    ring_mem = calloc(ring_frames, o.audio.channels * sizeof(float));
    block_mem = calloc(NODE_BLOCK_SLOTS, sizeof(node_block_t));
    if (!cap || !ring_mem || !block_mem ||
        node_capture_init(cap, o.audio.channels, o.audio.sample_rate, ring_mem, ring_frames,
                          block_mem, NODE_BLOCK_SLOTS)) {
        fprintf(stderr, "batcherbird-node: out of memory\n");
        goto cleanup;
    }

    if (midib->open(&port, o.midi_device, sim, err, sizeof err)) {
        fprintf(stderr, "batcherbird-node: MIDI: %s\n", err);
        goto cleanup;
    }
    midi = node_midi_sched_new(midib, port);
    if (!midi) {
        fprintf(stderr, "batcherbird-node: cannot start the MIDI thread\n");
        goto cleanup;
    }

    char notify_ep[128];
    snprintf(notify_ep, sizeof notify_ep, "inproc://node-takes-%d", (int)getpid());
    node_recorder_config_t rcfg = {.cap = cap,
                                   .midi = midi,
                                   .spool = spool,
                                   .node_name = o.name,
                                   .notify_endpoint = notify_ep,
                                   .history_frames = ring_frames,
                                   .latency_offset_ms = o.latency_offset_ms};
    recorder = node_recorder_new(&rcfg);
    if (!recorder) {
        fprintf(stderr, "batcherbird-node: cannot start the recorder\n");
        goto cleanup;
    }

    if (o.loss_after_s > 0) {
        if (strcmp(o.audio_backend, "virtual") != 0) {
            fprintf(stderr, "batcherbird-node: --sim-device-loss needs --audio virtual\n");
            goto cleanup;
        }
        node_audio_virtual_simulate_loss(o.loss_after_s, o.loss_for_s);
    }
    atomic_store(&cap->monitor, o.audio.monitor);
    node_meter_init(&meter, cap);
    meter_ready = true;
    node_audio_watch_config_t wcfg = NODE_AUDIO_WATCH_CONFIG_INIT;
    wcfg.backend = audio;
    wcfg.audio = &o.audio;
    wcfg.cap = cap;
    wcfg.recorder = recorder;
    wcfg.wait_for_device = o.wait_for_device;
    watch = node_audio_watch_new(&wcfg, err, sizeof err);
    if (!watch) {
        fprintf(stderr, "batcherbird-node: audio: %s\n", err);
        goto cleanup;
    }

    zuuid_t *uuid = zuuid_new();
    char session[64];
    snprintf(session, sizeof session, "%s", zuuid_str_canonical(uuid));
    zuuid_destroy(&uuid);
    s_caps_t caps;
    s_build_caps(&caps, &o);
    node_link_config_t lcfg = {.coordinator = o.coordinator,
                               .name = o.name,
                               .session = session,
                               .notify_endpoint = notify_ep,
                               .recorder = recorder,
                               .midi = midi,
                               .spool = spool,
                               .caps = &caps.caps,
                               .sample_rate = o.audio.sample_rate,
                               .channels = o.audio.channels,
                               .heartbeat_ms = o.heartbeat_ms,
                               .device_state = node_audio_watch_state,
                               .device_state_arg = watch,
                               .meter = &meter};
    link = node_link_new(&lcfg);
    if (!link) {
        fprintf(stderr, "batcherbird-node: cannot connect to %s\n", o.coordinator);
        goto cleanup;
    }
    bb_info("node %s: %s audio, %s MIDI%s%s, %u Hz, %u ch, spool %s, coordinator %s", o.name,
            o.audio_backend, o.midi_backend, sim ? ", instrument " : "",
            sim ? s_instrument_name(&o.sim) : "", o.audio.sample_rate, o.audio.channels, spool_path,
            o.coordinator);
    if (o.speed > 1.0)
        bb_info("simulation runs %.0fx faster than real time", o.speed);

    while (!zsys_interrupted) {
        bb_sleep_ms(1000 / NODE_METER_HZ);
        s_write_truth(sim, truth);
        node_meter_update(&meter, bb_mono_ns()); /* 50 Hz: the loop's period */
        node_audio_watch_poll(watch);            /* device loss: reported, retried, resumed */
        if (node_audio_watch_restart_needed(watch)) {
            bb_sleep_ms(NODE_RESTART_GRACE_MS); /* the failed take's report goes out */
            restart = true;
            break;
        }
    }
    bb_info(restart ? "restarting to reopen the audio device" : "shutting down");
    rc = 0;

cleanup:
    zactor_destroy(&link);
    if (recorder)
        node_recorder_abort(recorder, 0);
    node_recorder_destroy(&recorder);
    if (midi)
        node_midi_sched_panic(midi); /* goes out before the MIDI thread stops */
    node_midi_sched_destroy(&midi);
    node_audio_watch_destroy(&watch);
    if (meter_ready)
        node_meter_destroy(&meter);
    if (port)
        midib->close(port);
    s_write_truth(sim, truth);
    if (truth)
        fclose(truth);
    node_sim_destroy(&sim);
    node_spool_destroy(&spool);
    free(cap);
    free(ring_mem);
    free(block_mem);
    if (restart)
        s_restart(argc, argv);
    return rc;
}
