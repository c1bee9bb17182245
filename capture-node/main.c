/*
 * main.c — batcherbird-node: the capture node beside one instrument.
 *
 * The wiring: takes the options (node_options.h), opens the audio and MIDI backends (the
 * simulated instrument by default), sets up the realtime capture state in memory
 * allocated here before the stream starts, then runs three threads besides main: the
 * audio callback (backend's), the MIDI scheduler and the recorder, plus the link actor. Main
 * watches the audio device (audio_watch.h: a lost device is reported, retried with backoff,
 * resumed) and writes the simulated instrument's ground truth when asked, until SIGINT/SIGTERM.
 */
#include <czmq.h>
#include <pthread.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "audio.h"
#include "audio_watch.h"
#include "bb_auth.h"
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
#include "node_options.h"
#include "recorder.h"
#include "sim_instrument.h"
#include "spool.h"

#define NODE_RING_FRAMES      (1u << 17) /* 2.7 s at 48 kHz */
#define NODE_RING_FRAMES_FAST (1u << 20)
#define NODE_BLOCK_SLOTS      4096
#define NODE_RESTART_GRACE_MS 500

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

/* The node's other MIDI output ports (a take's TakeJob.midi_port), opened on first use
 * by the recorder thread and closed after the recorder stops. */
#define S_PORTS_MAX 8
typedef struct {
    pthread_mutex_t lock; /* the link thread checks a port when a job names it */
    const node_midi_backend_t *backend;
    void *ctx; /* the simulation, for the virtual backend */
    struct {
        char name[64];
        node_midi_port_t *port;
        node_midi_sched_t *sched;
    } v[S_PORTS_MAX];
    int n;
} s_ports_t;

static node_midi_sched_t *s_midi_port(void *arg, const char *name, char *err, size_t errlen)
{
    s_ports_t *p = arg;
    node_midi_sched_t *sched = NULL;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n && !sched; i++)
        if (strcmp(p->v[i].name, name) == 0)
            sched = p->v[i].sched;
    node_midi_port_t *port = NULL;
    if (sched) {
        /* open already */
    } else if (p->n == S_PORTS_MAX) {
        snprintf(err, errlen, "more than %d MIDI ports", S_PORTS_MAX);
    } else if (p->backend->open(&port, name, p->ctx, err, errlen) == 0) {
        sched = node_midi_sched_new(p->backend, port);
        if (!sched) {
            p->backend->close(port);
            snprintf(err, errlen, "cannot start a MIDI thread for port '%s'", name);
        } else {
            snprintf(p->v[p->n].name, sizeof p->v[p->n].name, "%s", name);
            p->v[p->n].port = port;
            p->v[p->n].sched = sched;
            p->n++;
            bb_info("MIDI port '%s' opened", name);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return sched;
}

static void s_ports_close(s_ports_t *p)
{
    for (int i = 0; i < p->n; i++) {
        node_midi_sched_panic(p->v[i].sched);
        node_midi_sched_destroy(&p->v[i].sched);
        p->backend->close(p->v[i].port);
    }
    p->n = 0;
}

static void s_write_truth(node_sim_t *sim, FILE *f)
{
    static const char *kinds[] = {"on", "off", "end"};
    node_sim_truth_t t;
    bool any = false;
    while (sim && f && node_sim_truth_pop(sim, &t)) {
        fprintf(f,
                "%s frame=%llu note=%u velocity=%u freq=%.6f peak=%.6f faults=%u program=%d "
                "part=%d\n",
                kinds[t.kind], (unsigned long long)t.frame, t.note, t.velocity, t.freq_hz,
                t.peak_gain, t.faults, t.program, t.part);
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

static void s_build_caps(s_caps_t *c, const node_options_t *o)
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
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define S_SANITIZER_BUILD 1 /* their shadow memory is terabytes of reserved address space */
#else
#define S_SANITIZER_BUILD 0
#endif

/* Locks the node's memory, best effort, so the audio callback's pages (prefaulted rings,
 * its code, its stack once touched) are never paged out. MCL_ONFAULT locks pages as they
 * are first touched instead of populating every mapping now: without it, each thread's
 * 8 MB stack reservation would become resident. A node that cannot lock (RLIMIT_MEMLOCK
 * too small, no CAP_IPC_LOCK) warns and runs unlocked. */
static void s_lock_memory(void)
{
    if (S_SANITIZER_BUILD) {
        bb_info("memory not locked: sanitizer build");
        return;
    }
    int flags = MCL_CURRENT | MCL_FUTURE;
#ifdef MCL_ONFAULT
    flags |= MCL_ONFAULT;
#endif
    if (mlockall(flags) == 0)
        return;
    int first = errno;
    struct rlimit rl = {0};
    getrlimit(RLIMIT_MEMLOCK, &rl);
    char limit[32];
    if (rl.rlim_cur == RLIM_INFINITY)
        snprintf(limit, sizeof limit, "unlimited");
    else
        snprintf(limit, sizeof limit, "%llu kB", (unsigned long long)rl.rlim_cur / 1024);
    bb_warn("cannot lock the node's memory (%s; locked-memory limit %s): the audio callback "
            "may wait for pages under memory pressure. Allow it: LimitMEMLOCK=infinity in the "
            "systemd unit, or 'ulimit -l unlimited'",
            strerror(first), limit);
}

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

/* The node's certificate: its name is the node's name (a coordinator with keys takes
 * registrations under that name only), its role must be "node". Without one, the node
 * speaks plaintext, which a coordinator accepts on loopback and ipc:// only. */
static int s_load_cert(node_options_t *o, zcert_t **cert, char *server_key, size_t len)
{
    if (!o->cert || !*o->cert) {
        if (!bb_endpoint_is_local(o->coordinator))
            fprintf(stderr,
                    "batcherbird-node: warning: no certificate (--cert): the coordinator at %s "
                    "answers only if it runs without keys (--auth none --insecure)\n",
                    o->coordinator);
        return 0;
    }
    char err[512];
    *cert = bb_cert_load(o->cert, true, err, sizeof err);
    if (!*cert) {
        fprintf(stderr, "batcherbird-node: %s\n", err);
        return -1;
    }
    const char *role = bb_cert_meta(*cert, BB_CERT_ROLE);
    const char *name = bb_cert_meta(*cert, BB_CERT_NAME);
    if (strcmp(role, BB_ROLE_NODE) != 0) {
        fprintf(stderr,
                "batcherbird-node: %s is a certificate for an %s, not a node (batcherbird keys "
                "new --role node --name NAME ...)\n",
                o->cert, role);
        zcert_destroy(cert);
        return -1;
    }
    if (o->name_set && strcmp(o->name, name) != 0) {
        fprintf(stderr,
                "batcherbird-node: --name %s, but the certificate %s is for the node '%s': a "
                "node is known by its certificate's name (leave out --name)\n",
                o->name, o->cert, name);
        zcert_destroy(cert);
        return -1;
    }
    snprintf(o->name, sizeof o->name, "%s", name);
    if (bb_auth_server_key(o->coordinator_key, *cert, server_key, len, err, sizeof err)) {
        fprintf(stderr, "batcherbird-node: %s\n", err);
        zcert_destroy(cert);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    node_options_t o = NODE_OPTIONS_INIT;
    if (gethostname(o.name, sizeof o.name) != 0 || !*o.name)
        snprintf(o.name, sizeof o.name, "node");
    o.name[NODE_NAME_MAX - 1] = '\0';
    o.cert = getenv(BB_AUTH_CERT_ENV);
    o.coordinator_key = getenv(BB_AUTH_SERVERKEY_ENV);
    if (node_options_parse(&o, argc, argv))
        return 2;
    if (o.help) {
        node_options_usage(stdout);
        return 0;
    }
    if (o.log_level_set)
        bb_log_set_level(o.log_level);
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
    static s_ports_t ports = {.lock = PTHREAD_MUTEX_INITIALIZER}; /* used until the recorder
                                                                     and link are gone */
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
    /* the certificate after every option was checked, so a bad flag is what is reported */
    zcert_t *cert = NULL;
    char server_key[48] = "";
    if (s_load_cert(&o, &cert, server_key, sizeof server_key))
        return 2;
    bb_log_set_ident(o.name); /* the certificate's name, when --name was left out */

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
        uint32_t per_part = o.audio.channels / (uint32_t)o.n_parts;
        if (per_part < 1 || per_part > 2 || per_part * o.n_parts != o.audio.channels) {
            if (o.n_parts == 1)
                fprintf(stderr, "batcherbird-node: the simulated instrument is mono or stereo\n");
            else
                fprintf(stderr,
                        "batcherbird-node: %zu simulated instruments play on --channels %zu "
                        "(mono each) or %zu (stereo each)\n",
                        o.n_parts, o.n_parts, 2 * o.n_parts);
            goto cleanup;
        }
        node_sim_config_t parts[NODE_SIM_PARTS_MAX];
        for (size_t k = 0; k < o.n_parts; k++) {
            parts[k] = o.sim;
            parts[k].channels = per_part;
            parts[k].preset = o.part_presets[k];
            parts[k].gm_program = o.part_programs[k];
            if (o.n_parts > 1) { /* each on a MIDI channel of its own: 1, 2, ... */
                parts[k].midi_channel = (uint32_t)k;
                parts[k].seed = o.sim.seed + (uint32_t)k;
            }
        }
        sim = node_sim_new_parts(parts, o.n_parts);
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
    /* node_capture_t's counters are cache-line aligned (_Alignas): calloc does not promise
     * that alignment, posix_memalign does */
    if (posix_memalign((void **)&cap, _Alignof(node_capture_t), sizeof *cap) != 0)
        cap = NULL;
    ring_mem = calloc(ring_frames, o.audio.channels * sizeof(float));
    block_mem = calloc(NODE_BLOCK_SLOTS, sizeof(node_block_t));
    if (!cap || !ring_mem || !block_mem ||
        node_capture_init(cap, o.audio.channels, o.audio.sample_rate, ring_mem, ring_frames,
                          block_mem, NODE_BLOCK_SLOTS)) {
        fprintf(stderr, "batcherbird-node: out of memory\n");
        goto cleanup;
    }
    node_capture_prefault(cap); /* no first-touch page faults in the callback */
    s_lock_memory();

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
    ports.backend = midib;
    ports.ctx = sim;
    node_recorder_config_t rcfg = {.cap = cap,
                                   .midi = midi,
                                   .midi_port = s_midi_port,
                                   .midi_port_arg = &ports,
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
    if (o.start_delay_s > 0) {
        if (strcmp(o.audio_backend, "virtual") != 0) {
            fprintf(stderr, "batcherbird-node: --sim-start-delay needs --audio virtual\n");
            goto cleanup;
        }
        node_audio_virtual_simulate_slow_start(o.start_delay_s);
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
                               .cert = cert,
                               .server_key = cert ? server_key : NULL,
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
                               .meter = &meter,
                               .spool_reserve_mb = o.spool_reserve_mb};
    link = node_link_new(&lcfg);
    if (!link) {
        fprintf(stderr, "batcherbird-node: cannot connect to %s\n", o.coordinator);
        goto cleanup;
    }
    bb_info("node %s: %s audio, %s MIDI%s%s, %u Hz, %u ch, spool %s, coordinator %s (%s)", o.name,
            o.audio_backend, o.midi_backend, sim ? ", instrument " : "",
            sim ? s_instrument_name(&o.sim) : "", o.audio.sample_rate, o.audio.channels, spool_path,
            o.coordinator, cert ? "CURVE" : "plaintext");
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
    if (ports.backend)
        s_ports_close(&ports);
    if (midi)
        node_midi_sched_panic(midi); /* goes out before the MIDI thread stops */
    node_midi_sched_destroy(&midi);
    /* A stream the audio library could not close (PortAudio's JACK host API after its
     * server died) is abandoned, not stopped: its callback thread may still run into the
     * capture memory. Then that memory is left to the exec (restart) or the exit. */
    node_audio_watch_destroy(&watch); /* closes the stream, or abandons it */
    bool abandoned = audio && audio->needs_restart && audio->needs_restart();
    if (meter_ready)
        node_meter_destroy(&meter);
    if (port)
        midib->close(port);
    s_write_truth(sim, truth);
    if (truth)
        fclose(truth);
    node_sim_destroy(&sim);
    node_spool_destroy(&spool);
    if (!abandoned) {
        free(cap);
        free(ring_mem);
        free(block_mem);
    }
    zcert_destroy(&cert);
    if (restart)
        s_restart(argc, argv);
    return rc;
}
