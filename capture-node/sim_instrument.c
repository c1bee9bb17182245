/*
 * sim_instrument.c — the simulated instrument of sim_instrument.h: a small additive
 * synthesiser with five presets, a fixed MIDI-to-audio latency, a noise floor, mains hum,
 * injectable faults and a ground-truth log.
 *
 * MIDI messages arrive through an SPSC ring stamped with node-clock time. render turns
 * each message's time into a stream frame (the timing model of the header), keeps the
 * first message that belongs to a later block in `pending` (the ring has no peek) and
 * splits the block at every event frame, so events act sample-exactly.
 *
 * Each voice is a sum of up to SIM_MAX_HARM cosine harmonics of one double-precision
 * phase accumulator; the harmonics come from the Chebyshev recurrence
 * cos((k+1)x) = 2 cos(x) cos(kx) - cos((k-1)x), one cos() per voice per sample. All
 * harmonics start at phase zero and their amplitudes sum to one, so the waveform peak is
 * the envelope times the voice gain. The envelope is a linear attack from zero (the
 * sample at the ON frame is 0, the next ones rise), then a hold stage (exponential decay
 * or flat sustain) and an exponential release after note-off. A voice ends (END truth)
 * when, after note-off, its amplitude falls below the noise floor, or when it is stolen,
 * retriggered or cut by CC 120. Output is clamped to [-1, 1].
 *
 * render runs on the audio thread: everything is allocated in node_sim_new, and render
 * only touches the struct, the rings and libm.
 *
 * The SoundFont voice (gm_program >= 0) is FluidSynth, which the node does not link: its
 * library and the ~80 it pulls in (glib, libpulse, libinstpatch, readline...) would cost
 * every production node memory for a simulator. It is loaded with dlopen the first time a
 * SoundFont voice is asked for (s_fl_load, once per process); only the header is needed
 * at build time, and it types every function pointer, so a changed signature fails the
 * build. Without the library at run time the voice is unavailable with a message saying
 * what to install.
 */
#include "sim_instrument.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "ring.h"

#ifdef BB_HAVE_FLUIDSYNTH
#include <dlfcn.h>
#include <fluidsynth.h>
#include <pthread.h>
#include <stdio.h>
#endif

/* ---- constants ---- */

#define SIM_VOICES          32    /* polyphony; the oldest voice is stolen beyond this */
#define SIM_MAX_HARM        16    /* harmonics per voice at most */
#define SIM_MIDI_CAPACITY   1024  /* queued MIDI messages (power of two) */
#define SIM_TRUTH_CAPACITY  4096  /* queued truth records (power of two) */
#define SIM_NONE_DB         -200. /* levels at or below this mean "none" */
#define SIM_SILENT_AMP      1e-5  /* END threshold when there is no noise floor */
#define SIM_ENV_FLOOR       1e-20 /* envelopes below this are flushed to zero (no denormals) */
#define SIM_NYQUIST_FRAC    0.45  /* harmonics stay below this fraction of the rate */
#define SIM_HUM_HZ          50.0  /* mains hum frequency */
#define SIM_ANALOG_HUM_DB   -70.0 /* analog preset hum when the config gives none */
#define SIM_CLIP_DRIVE      8.0   /* CLIP fault: voice gain multiplier */
#define SIM_GM_CHUNK        512   /* frames FluidSynth renders at a time */
#define SIM_GM_GAIN         2.0   /* FluidSynth gain: TimGM6mb at velocity 127 peaks -4..-10 dBFS */
#define SIM_DROPOUT_AFTER_S 0.100 /* DROPOUT fault: start after the attack */
#define SIM_DROPOUT_LEN_S   0.020 /* DROPOUT fault: length */
#define SIM_DC_OFFSET       0.1   /* DC fault: -20 dBFS */
#define SIM_CC_VOLUME       7
#define SIM_CC_EXPRESSION   11
#define SIM_CC_SOUND_OFF    120
#define SIM_CC_RESET_CTRL   121
#define SIM_CC_NOTES_OFF    123
#define SIM_CC_MAX          127.0
#define SIM_FAR_FRAMES      1e15 /* event offsets beyond this are "never" or "long ago" */
#define SIM_TWO_PI          6.283185307179586476925

/* ---- presets ---- */

typedef struct {
    const char *name;
    double attack_s;      /* linear ramp from 0 to the peak */
    double decay_tau_s;   /* hold-stage decay time constant; 0 = flat sustain */
    bool piano_decay;     /* decay_tau depends on the note (3 s low .. 1.5 s high) */
    double release_tau_s; /* decay time constant after note-off */
    double bright_tau_s;  /* harmonic k (1-based) gets an extra decay of tau/(k-1); 0: none */
    int nharm;
    double harm[SIM_MAX_HARM]; /* relative amplitudes, fundamental first */
} s_preset_t;

static const s_preset_t s_presets[NODE_SIM_PRESET_COUNT] = {
    [NODE_SIM_PIANO] = {.name = "piano",
                        .attack_s = 0.0005,
                        .piano_decay = true,
                        .release_tau_s = 0.060,
                        .bright_tau_s = 1.0,
                        .nharm = 6,
                        .harm = {1, .45, .25, .15, .10, .06}},
    [NODE_SIM_PLUCK] = {.name = "pluck",
                        .attack_s = 0.0003,
                        .decay_tau_s = 0.4,
                        .release_tau_s = 0.080,
                        .bright_tau_s = 0.12,
                        .nharm = 8,
                        .harm = {1, .7, .5, .35, .25, .18, .12, .08}},
    [NODE_SIM_PAD] = {.name = "pad",
                      .attack_s = 0.200,
                      .release_tau_s = 0.400,
                      .nharm = 3,
                      .harm = {1, .25, .10}},
    [NODE_SIM_ORGAN] = {.name = "organ", /* drawbars 8', 4', 2 2/3', 2' */
                        .attack_s = 0.001,
                        .release_tau_s = 0.030,
                        .nharm = 4,
                        .harm = {1, .5, .35, .25}},
    [NODE_SIM_ANALOG] = {.name = "analog", /* saw spectrum 1/k, band-limited per note */
                         .attack_s = 0.005,
                         .release_tau_s = 0.150,
                         .nharm = SIM_MAX_HARM,
                         .harm = {1, 1 / 2., 1 / 3., 1 / 4., 1 / 5., 1 / 6., 1 / 7., 1 / 8., 1 / 9.,
                                  1 / 10., 1 / 11., 1 / 12., 1 / 13., 1 / 14., 1 / 15., 1 / 16.}},
};

/* ---- types ---- */

/* One queued MIDI message. */
typedef struct {
    int64_t time_ns;
    uint8_t msg[3];
    uint8_t len;
} s_event_t;

typedef enum { VOICE_FREE = 0, VOICE_ATTACK, VOICE_HOLD, VOICE_RELEASE } s_stage_t;

typedef struct {
    s_stage_t stage;
    uint64_t serial; /* note-on order, for stealing the oldest */
    uint8_t note, velocity;
    uint32_t faults;
    double freq_hz;   /* reported fundamental */
    double peak_gain; /* reported aimed peak: velocity curve x CC7/CC11, before faults */
    double gain;      /* applied: the voice level with CLIP drive, 0 when SILENCE */
    double level;     /* the voice level with CLIP drive (CC7/CC11 apply at the output) */
    double phase;     /* cycles, 0..1 */
    double inc;       /* cycles per frame */
    double env;
    uint32_t attack_pos, attack_len; /* frames into / length of the attack ramp */
    double hold_mul, release_mul;    /* per-frame envelope multipliers */
    int nharm;
    double amp[SIM_MAX_HARM];     /* current harmonic amplitudes (sum 1 at start) */
    double amp_mul[SIM_MAX_HARM]; /* per-frame brightness decay of each harmonic */
} s_voice_t;

struct node_sim_t {
    node_sim_config_t cfg;
    /* a several-part simulation: the parts, and where each part renders before it is
     * copied into its channels */
    node_sim_t *parts[NODE_SIM_PARTS_MAX];
    size_t n_parts;
    uint32_t part_channels_total;
    float *part_buf;   /* NODE_AUDIO_MAX_BUFFER frames x 2 channels */
    size_t truth_next; /* the part the next truth pop starts at */
    const s_preset_t *preset;
    int program; /* the last program change, -1 before any */
    double rate;
    uint64_t latency_frames;
    double noise_amp;     /* uniform noise half-width giving the configured RMS */
    double end_threshold; /* voice amplitude below which a released voice ends */
    double hum_amp, hum_phase, hum_inc;
    uint64_t noise_state[2];
    uint8_t cc_volume, cc_expression;
    double master; /* ((cc7/127) * (cc11/127))^2: the General MIDI 40 log10 law */
    uint64_t note_ons, serial;
    uint64_t drop_from, drop_to; /* DROPOUT window, absolute frames [from, to) */
    bool has_pending;
    s_event_t pending;
    s_voice_t voices[SIM_VOICES];
    node_ring_t midi_ring, truth_ring;
    void *midi_mem, *truth_mem;
    /* SoundFont mode: FluidSynth renders the instrument; faults of the latest note apply
     * to the output until the next note-on (DC, CLIP) or as for the presets. */
    bool gm;
    uint32_t gm_faults;
    float *gm_left, *gm_right;
#ifdef BB_HAVE_FLUIDSYNTH
    fluid_settings_t *fl_settings;
    fluid_synth_t *fl_synth;
#endif
};

#ifdef BB_HAVE_FLUIDSYNTH
/* ---- FluidSynth, loaded on first use ---- */

/* Sonames to try, newest ABI first (FluidSynth 2.2+ is .so.3), then the development link. */
static const char *const s_fl_sonames[] = {"libfluidsynth.so.3", "libfluidsynth.so.2",
                                           "libfluidsynth.so"};

static struct {
    void *lib; /* NULL when FluidSynth could not be loaded */
    __typeof__(new_fluid_settings) *new_fluid_settings;
    __typeof__(fluid_settings_setnum) *fluid_settings_setnum;
    __typeof__(fluid_settings_setint) *fluid_settings_setint;
    __typeof__(new_fluid_synth) *new_fluid_synth;
    __typeof__(fluid_synth_sfload) *fluid_synth_sfload;
    __typeof__(fluid_synth_program_select) *fluid_synth_program_select;
    __typeof__(delete_fluid_synth) *delete_fluid_synth;
    __typeof__(delete_fluid_settings) *delete_fluid_settings;
    __typeof__(fluid_synth_pitch_bend) *fluid_synth_pitch_bend;
    __typeof__(fluid_synth_noteon) *fluid_synth_noteon;
    __typeof__(fluid_synth_noteoff) *fluid_synth_noteoff;
    __typeof__(fluid_synth_cc) *fluid_synth_cc;
    __typeof__(fluid_synth_program_change) *fluid_synth_program_change;
    __typeof__(fluid_synth_write_float) *fluid_synth_write_float;
} s_fl;
static pthread_once_t s_fl_once = PTHREAD_ONCE_INIT;
static char s_fl_error[256] = "";

static void s_fl_load(void)
{
    void *lib = NULL;
    for (size_t i = 0; !lib && i < sizeof s_fl_sonames / sizeof s_fl_sonames[0]; i++)
        lib = dlopen(s_fl_sonames[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(s_fl_error, sizeof s_fl_error,
                 "FluidSynth is not installed (%s not found; apt-get install libfluidsynth3)",
                 s_fl_sonames[0]);
        return;
    }
    const char *missing = NULL;
#define S_FL_SYM(name)                                                                             \
    if (!missing && !(*(void **)&s_fl.name = dlsym(lib, #name)))                                   \
    missing = #name
    S_FL_SYM(new_fluid_settings);
    S_FL_SYM(fluid_settings_setnum);
    S_FL_SYM(fluid_settings_setint);
    S_FL_SYM(new_fluid_synth);
    S_FL_SYM(fluid_synth_sfload);
    S_FL_SYM(fluid_synth_program_select);
    S_FL_SYM(delete_fluid_synth);
    S_FL_SYM(delete_fluid_settings);
    S_FL_SYM(fluid_synth_pitch_bend);
    S_FL_SYM(fluid_synth_noteon);
    S_FL_SYM(fluid_synth_noteoff);
    S_FL_SYM(fluid_synth_cc);
    S_FL_SYM(fluid_synth_program_change);
    S_FL_SYM(fluid_synth_write_float);
#undef S_FL_SYM
    if (missing) {
        snprintf(s_fl_error, sizeof s_fl_error, "FluidSynth's library lacks %s: too old", missing);
        dlclose(lib);
        return;
    }
    s_fl.lib = lib;
}
#endif

/* ---- presets by name ---- */

const char *node_sim_preset_name(node_sim_preset_t preset)
{
    if ((int)preset < 0 || preset >= NODE_SIM_PRESET_COUNT)
        return "unknown";
    return s_presets[preset].name;
}

int node_sim_preset_parse(const char *name, node_sim_preset_t *out)
{
    if (!name || !out)
        return BB_EINVAL;
    for (int i = 0; i < NODE_SIM_PRESET_COUNT; i++) {
        if (strcmp(name, s_presets[i].name) == 0) {
            *out = (node_sim_preset_t)i;
            return 0;
        }
    }
    return BB_EINVAL;
}

/* ---- construction ---- */

static double s_db_to_amp(double db)
{
    return pow(10.0, db / 20.0);
}

/* splitmix64: spreads a small seed into a well-mixed xorshift state (never zero). */
static uint64_t s_splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x ? x : 1;
}

static bool s_config_ok(const node_sim_config_t *c)
{
    return c && c->sample_rate > 0 && c->channels >= 1 && c->channels <= 2 && (int)c->preset >= 0 &&
           c->preset < NODE_SIM_PRESET_COUNT && c->midi_channel <= 16 && isfinite(c->latency_ms) &&
           c->latency_ms >= 0 && !isnan(c->noise_floor_db) && !isnan(c->hum_db) &&
           isfinite(c->detune_cents) && isfinite(c->velocity_curve) && c->velocity_curve >= 0 &&
           isfinite(c->peak_db) && isfinite(c->fault_cents);
}

bool node_sim_have_soundfont(void)
{
#ifdef BB_HAVE_FLUIDSYNTH
    pthread_once(&s_fl_once, s_fl_load);
    return s_fl.lib != NULL;
#else
    return false;
#endif
}

const char *node_sim_soundfont_error(void)
{
#ifdef BB_HAVE_FLUIDSYNTH
    pthread_once(&s_fl_once, s_fl_load);
    return s_fl.lib ? "" : s_fl_error;
#else
    return "this build has no FluidSynth support (install libfluidsynth-dev and rebuild)";
#endif
}

/* FluidSynth with the SoundFont loaded and the program selected on channel 0: dry (no
 * reverb or chorus, the sampler adds its own), single-threaded, rendering only when
 * node_sim_render asks. */
static int s_gm_open(node_sim_t *sim)
{
#ifdef BB_HAVE_FLUIDSYNTH
    const node_sim_config_t *c = &sim->cfg;
    if (c->gm_program > 127)
        return BB_EINVAL;
    if (!node_sim_have_soundfont())
        return BB_EUNAVAIL;
    sim->gm_left = malloc(sizeof(float) * SIM_GM_CHUNK);
    sim->gm_right = malloc(sizeof(float) * SIM_GM_CHUNK);
    sim->fl_settings = s_fl.new_fluid_settings();
    if (!sim->gm_left || !sim->gm_right || !sim->fl_settings)
        return BB_ENOMEM;
    s_fl.fluid_settings_setnum(sim->fl_settings, "synth.sample-rate", sim->rate);
    s_fl.fluid_settings_setnum(sim->fl_settings, "synth.gain", SIM_GM_GAIN);
    s_fl.fluid_settings_setint(sim->fl_settings, "synth.reverb.active", 0);
    s_fl.fluid_settings_setint(sim->fl_settings, "synth.chorus.active", 0);
    s_fl.fluid_settings_setint(sim->fl_settings, "synth.cpu-cores", 1);
    s_fl.fluid_settings_setint(sim->fl_settings, "synth.polyphony", 64);
    sim->fl_synth = s_fl.new_fluid_synth(sim->fl_settings);
    if (!sim->fl_synth)
        return BB_ENOMEM;
    const char *path = c->soundfont ? c->soundfont : NODE_SIM_DEFAULT_SOUNDFONT;
    int sf = s_fl.fluid_synth_sfload(sim->fl_synth, path, 1);
    if (sf == FLUID_FAILED)
        return BB_ENOTFOUND;
    if (s_fl.fluid_synth_program_select(sim->fl_synth, 0, sf, 0, c->gm_program) != FLUID_OK)
        return BB_EINVAL;
    sim->gm = true;
    return 0;
#else
    (void)sim;
    return BB_EUNAVAIL;
#endif
}

node_sim_t *node_sim_new(const node_sim_config_t *config)
{
    if (!s_config_ok(config))
        return NULL;
    /* the rings inside are cache-line aligned, which calloc does not promise */
    size_t size =
        (sizeof(node_sim_t) + NODE_RING_CACHELINE - 1) & ~(size_t)(NODE_RING_CACHELINE - 1);
    node_sim_t *sim = aligned_alloc(NODE_RING_CACHELINE, size);
    if (!sim)
        return NULL;
    memset(sim, 0, size);
    sim->midi_mem = malloc(node_ring_storage_size(sizeof(s_event_t), SIM_MIDI_CAPACITY));
    sim->truth_mem = malloc(node_ring_storage_size(sizeof(node_sim_truth_t), SIM_TRUTH_CAPACITY));
    if (!sim->midi_mem || !sim->truth_mem ||
        node_ring_init(&sim->midi_ring, sim->midi_mem, sizeof(s_event_t), SIM_MIDI_CAPACITY) ||
        node_ring_init(&sim->truth_ring, sim->truth_mem, sizeof(node_sim_truth_t),
                       SIM_TRUTH_CAPACITY)) {
        node_sim_destroy(&sim);
        return NULL;
    }
    sim->cfg = *config;
    sim->preset = &s_presets[config->preset];
    sim->program = -1;
    sim->rate = config->sample_rate;
    sim->latency_frames = (uint64_t)llround(config->latency_ms * sim->rate / 1000.0);

    double noise_rms =
        config->noise_floor_db > SIM_NONE_DB ? s_db_to_amp(config->noise_floor_db) : 0.0;
    sim->noise_amp = noise_rms * sqrt(3.0); /* uniform on [-a, a] has RMS a/sqrt(3) */
    sim->end_threshold = noise_rms > 0 ? noise_rms : SIM_SILENT_AMP;

    double hum_db = config->hum_db;
    if (hum_db <= SIM_NONE_DB && config->preset == NODE_SIM_ANALOG)
        hum_db = SIM_ANALOG_HUM_DB;
    sim->hum_amp = hum_db > SIM_NONE_DB ? s_db_to_amp(hum_db) : 0.0;
    sim->hum_inc = SIM_HUM_HZ / sim->rate;

    for (int ch = 0; ch < 2; ch++)
        sim->noise_state[ch] = s_splitmix((uint64_t)config->seed * 2 + (uint64_t)ch);
    sim->cc_volume = sim->cc_expression = (uint8_t)SIM_CC_MAX;
    sim->master = 1.0;
    if (config->gm_program >= 0 && s_gm_open(sim) != 0) {
        node_sim_destroy(&sim);
        return NULL;
    }
    return sim;
}

#define SIM_PART_BUF_FRAMES 4096 /* NODE_AUDIO_MAX_BUFFER: renders come in these, at most */

node_sim_t *node_sim_new_parts(const node_sim_config_t *parts, size_t n)
{
    if (n == 0 || n > NODE_SIM_PARTS_MAX)
        return NULL;
    if (n == 1)
        return node_sim_new(&parts[0]);
    uint32_t channels = 0;
    for (size_t k = 0; k < n; k++) {
        channels += parts[k].channels;
        if (parts[k].sample_rate != parts[0].sample_rate)
            return NULL;
    }
    if (channels > NODE_SIM_PARTS_CHANNELS_MAX)
        return NULL;
    node_sim_config_t whole = parts[0];
    whole.channels = 1; /* passes the single-instrument check; the parts do the work */
    whole.gm_program = -1;
    node_sim_t *sim = node_sim_new(&whole);
    if (!sim)
        return NULL;
    sim->part_buf = malloc((size_t)SIM_PART_BUF_FRAMES * 2 * sizeof(float));
    sim->part_channels_total = channels;
    for (size_t k = 0; sim->part_buf && k < n; k++) {
        sim->parts[k] = node_sim_new(&parts[k]);
        if (!sim->parts[k])
            break;
        sim->n_parts++;
    }
    if (!sim->part_buf || sim->n_parts != n)
        node_sim_destroy(&sim);
    return sim;
}

node_sim_t *node_sim_part(node_sim_t *sim, size_t k)
{
    if (!sim)
        return NULL;
    if (sim->n_parts == 0)
        return k == 0 ? sim : NULL;
    return k < sim->n_parts ? sim->parts[k] : NULL;
}

size_t node_sim_parts(const node_sim_t *sim)
{
    return sim ? (sim->n_parts ? sim->n_parts : 1) : 0;
}

uint32_t node_sim_channels(const node_sim_t *sim)
{
    return !sim ? 0 : sim->n_parts ? sim->part_channels_total : sim->cfg.channels;
}

uint32_t node_sim_midi_channel(const node_sim_t *sim)
{
    return sim ? sim->cfg.midi_channel : 16;
}

void node_sim_destroy(node_sim_t **sim)
{
    if (!sim || !*sim)
        return;
    for (size_t k = 0; k < (*sim)->n_parts; k++)
        node_sim_destroy(&(*sim)->parts[k]);
    free((*sim)->part_buf);
#ifdef BB_HAVE_FLUIDSYNTH
    if ((*sim)->fl_synth)
        s_fl.delete_fluid_synth((*sim)->fl_synth);
    if ((*sim)->fl_settings)
        s_fl.delete_fluid_settings((*sim)->fl_settings);
#endif
    free((*sim)->gm_left);
    free((*sim)->gm_right);
    free((*sim)->midi_mem);
    free((*sim)->truth_mem);
    free(*sim);
    *sim = NULL;
}

uint64_t node_sim_latency_frames(const node_sim_t *sim)
{
    if (sim && sim->n_parts)
        return node_sim_latency_frames(sim->parts[0]);
    return sim ? sim->latency_frames : 0;
}

double node_sim_note_freq(const node_sim_t *sim, uint8_t note)
{
    if (sim && sim->n_parts)
        return node_sim_note_freq(sim->parts[0], note);
    double detune = sim ? sim->cfg.detune_cents : 0.0;
    return 440.0 * pow(2.0, ((double)note - 69.0) / 12.0) * pow(2.0, detune / 1200.0);
}

/* ---- MIDI input (producer thread) ---- */

int node_sim_midi_in(node_sim_t *sim, const uint8_t *msg, size_t len, int64_t time_ns)
{
    if (!sim || !msg || len == 0)
        return BB_EINVAL;
    if (sim->n_parts) { /* every part hears it; each takes its own channel's */
        int rc = 0;
        for (size_t k = 0; k < sim->n_parts; k++) {
            int r = node_sim_midi_in(sim->parts[k], msg, len, time_ns);
            rc = rc ? rc : r;
        }
        return rc;
    }
    uint8_t status = msg[0];
    if (status < 0x80)
        return BB_EINVAL; /* running status is not supported */
    if (status >= 0xF0)
        return 0; /* system messages: ignored */
    uint8_t type = status & 0xF0;
    size_t need = (type == 0xC0 || type == 0xD0) ? 2 : 3;
    if (len < need)
        return BB_EINVAL;
    if (sim->cfg.midi_channel < 16 && (status & 0x0F) != sim->cfg.midi_channel)
        return 0;
    if (type != 0x80 && type != 0x90 && type != 0xB0 && type != 0xC0)
        return 0; /* pressure, bend: ignored */
    s_event_t ev = {.time_ns = time_ns, .len = (uint8_t)need};
    memcpy(ev.msg, msg, need);
    return node_ring_write(&sim->midi_ring, &ev, 1) == 1 ? 0 : BB_EBUSY;
}

/* ---- truth (consumer thread) ---- */

bool node_sim_truth_pop(node_sim_t *sim, node_sim_truth_t *out)
{
    if (!sim || !out)
        return false;
    for (size_t i = 0; i < sim->n_parts; i++) { /* the parts in turn */
        size_t k = (sim->truth_next + i) % sim->n_parts;
        if (node_ring_read(&sim->parts[k]->truth_ring, out, 1) == 1) {
            out->part = (int)k;
            sim->truth_next = k + 1;
            return true;
        }
    }
    return node_ring_read(&sim->truth_ring, out, 1) == 1;
}

/* Render side: a full truth ring drops the record, never blocks. */
static void s_truth(node_sim_t *sim, const s_voice_t *v, node_sim_truth_kind_t kind, uint64_t frame)
{
    node_sim_truth_t t = {.kind = kind,
                          .frame = frame,
                          .note = v->note,
                          .velocity = v->velocity,
                          .freq_hz = v->freq_hz,
                          .peak_gain = v->peak_gain,
                          .faults = v->faults,
                          .program = sim->program};
    (void)node_ring_write(&sim->truth_ring, &t, 1);
}

/* ---- voices (render thread) ---- */

static void s_voice_end(node_sim_t *sim, s_voice_t *v, uint64_t frame)
{
    s_truth(sim, v, NODE_SIM_TRUTH_END, frame);
    v->stage = VOICE_FREE;
}

static void s_voice_release(node_sim_t *sim, s_voice_t *v, uint64_t frame)
{
    v->stage = VOICE_RELEASE;
    s_truth(sim, v, NODE_SIM_TRUTH_OFF, frame);
}

static s_voice_t *s_voice_for_note_on(node_sim_t *sim, uint8_t note, uint64_t frame)
{
    s_voice_t *oldest = NULL;
    for (int i = 0; i < SIM_VOICES; i++) {
        s_voice_t *v = &sim->voices[i];
        if (v->stage != VOICE_FREE && v->note == note) {
            s_voice_end(sim, v, frame); /* retrigger */
            return v;
        }
    }
    for (int i = 0; i < SIM_VOICES; i++) {
        s_voice_t *v = &sim->voices[i];
        if (v->stage == VOICE_FREE)
            return v;
        if (!oldest || v->serial < oldest->serial)
            oldest = v;
    }
    s_voice_end(sim, oldest, frame); /* steal */
    return oldest;
}

static void s_note_on(node_sim_t *sim, uint8_t note, uint8_t velocity, uint64_t frame)
{
    const node_sim_config_t *c = &sim->cfg;
    const s_preset_t *p = sim->preset;
    uint32_t faults = 0;
    sim->note_ons++;
    if (c->fault_every > 0 && sim->note_ons % c->fault_every == 0)
        faults = c->fault_mask;

    s_voice_t *v = s_voice_for_note_on(sim, note, frame);
    memset(v, 0, sizeof *v);
    v->stage = VOICE_ATTACK;
    v->serial = ++sim->serial;
    v->note = note;
    v->velocity = velocity;
    v->faults = faults;
    v->freq_hz = node_sim_note_freq(sim, note);
    if (faults & NODE_SIM_FAULT_WRONG_PITCH)
        v->freq_hz *= pow(2.0, c->fault_cents / 1200.0);
    v->inc = v->freq_hz / sim->rate;
    /* The voice's own level; CC7/CC11 (sim->master) apply at the output, to sounding
     * notes too. The truth reports the peak aimed at with the volume at note-on. */
    double base = s_db_to_amp(c->peak_db) * pow(velocity / SIM_CC_MAX, c->velocity_curve);
    v->peak_gain = base * sim->master;
    v->level = base * ((faults & NODE_SIM_FAULT_CLIP) ? SIM_CLIP_DRIVE : 1.0);
    v->gain = (faults & NODE_SIM_FAULT_SILENCE) ? 0.0 : v->level;

    v->attack_len = (uint32_t)lround(p->attack_s * sim->rate);
    if (v->attack_len < 1)
        v->attack_len = 1;
    double decay_tau = p->decay_tau_s;
    if (p->piano_decay) {
        double n = note < 21 ? 21 : note > 108 ? 108 : note;
        decay_tau = 3.0 - 1.5 * (n - 21) / 87.0;
    }
    v->hold_mul = decay_tau > 0 ? exp(-1.0 / (decay_tau * sim->rate)) : 1.0;
    v->release_mul = exp(-1.0 / (p->release_tau_s * sim->rate));

    double sum = 0;
    for (int k = 0; k < p->nharm && (k + 1) * v->freq_hz < SIM_NYQUIST_FRAC * sim->rate; k++) {
        v->amp[k] = p->harm[k];
        sum += p->harm[k];
        v->amp_mul[k] =
            (p->bright_tau_s > 0 && k > 0) ? exp(-(double)k / (p->bright_tau_s * sim->rate)) : 1.0;
        v->nharm = k + 1;
    }
    if (v->nharm == 0) { /* fundamental above the band: keep a plain sine anyway */
        v->amp[0] = sum = 1.0;
        v->amp_mul[0] = 1.0;
        v->nharm = 1;
    }
    for (int k = 0; k < v->nharm; k++)
        v->amp[k] /= sum;

    if (faults & NODE_SIM_FAULT_DROPOUT) {
        sim->drop_from = frame + v->attack_len + (uint64_t)llround(SIM_DROPOUT_AFTER_S * sim->rate);
        sim->drop_to = sim->drop_from + (uint64_t)llround(SIM_DROPOUT_LEN_S * sim->rate);
    }
    s_truth(sim, v, NODE_SIM_TRUTH_ON, frame);
}

static void s_note_off(node_sim_t *sim, uint8_t note, uint64_t frame)
{
    for (int i = 0; i < SIM_VOICES; i++) {
        s_voice_t *v = &sim->voices[i];
        if ((v->stage == VOICE_ATTACK || v->stage == VOICE_HOLD) && v->note == note)
            s_voice_release(sim, v, frame);
    }
}

static void s_control(node_sim_t *sim, uint8_t cc, uint8_t value, uint64_t frame)
{
    switch (cc) {
    case SIM_CC_VOLUME:
        sim->cc_volume = value;
        break;
    case SIM_CC_EXPRESSION:
        sim->cc_expression = value;
        break;
    case SIM_CC_RESET_CTRL:
        sim->cc_expression = (uint8_t)SIM_CC_MAX;
        break;
    case SIM_CC_SOUND_OFF:
        for (int i = 0; i < SIM_VOICES; i++)
            if (sim->voices[i].stage != VOICE_FREE)
                s_voice_end(sim, &sim->voices[i], frame);
        break;
    case SIM_CC_NOTES_OFF:
        for (int i = 0; i < SIM_VOICES; i++) {
            s_voice_t *v = &sim->voices[i];
            if (v->stage == VOICE_ATTACK || v->stage == VOICE_HOLD)
                s_voice_release(sim, v, frame);
        }
        break;
    default:
        break;
    }
    double v = (sim->cc_volume / SIM_CC_MAX) * (sim->cc_expression / SIM_CC_MAX);
    sim->master = v * v; /* GM: gain in dB = 40 log10(cc7/127) + 40 log10(cc11/127) */
}

#ifdef BB_HAVE_FLUIDSYNTH
/* SoundFont mode: the event goes to FluidSynth; the truth records what was asked (the
 * SoundFont's own attack and tail are not known here, so there is no END record). */
static void s_gm_apply(node_sim_t *sim, uint8_t type, uint8_t d1, uint8_t d2, uint64_t frame)
{
    const node_sim_config_t *c = &sim->cfg;
    node_sim_truth_t t = {.frame = frame, .note = d1, .velocity = d2, .program = sim->program};
    if (type == 0x90 && d2 > 0) {
        uint32_t faults = 0;
        sim->note_ons++;
        if (c->fault_every > 0 && sim->note_ons % c->fault_every == 0)
            faults = c->fault_mask;
        sim->gm_faults = faults;
        t.kind = NODE_SIM_TRUTH_ON;
        t.faults = faults;
        t.freq_hz = node_sim_note_freq(sim, d1);
        t.peak_gain = s_db_to_amp(c->peak_db) * pow(d2 / SIM_CC_MAX, c->velocity_curve);
        /* detune and WRONG_PITCH by pitch bend (default range 2 semitones) */
        double cents =
            c->detune_cents + ((faults & NODE_SIM_FAULT_WRONG_PITCH) ? c->fault_cents : 0);
        if (faults & NODE_SIM_FAULT_WRONG_PITCH)
            t.freq_hz *= pow(2.0, c->fault_cents / 1200.0);
        int bend = 8192 + (int)lround(cents / 200.0 * 8192.0);
        s_fl.fluid_synth_pitch_bend(sim->fl_synth, 0, bend < 0 ? 0 : bend > 16383 ? 16383 : bend);
        if (faults & NODE_SIM_FAULT_DROPOUT) {
            sim->drop_from = frame + (uint64_t)llround(SIM_DROPOUT_AFTER_S * sim->rate);
            sim->drop_to = sim->drop_from + (uint64_t)llround(SIM_DROPOUT_LEN_S * sim->rate);
        }
        if (!(faults & NODE_SIM_FAULT_SILENCE))
            s_fl.fluid_synth_noteon(sim->fl_synth, 0, d1, d2);
        node_ring_write(&sim->truth_ring, &t, 1);
    } else if (type == 0x90 || type == 0x80) {
        s_fl.fluid_synth_noteoff(sim->fl_synth, 0, d1);
        t.kind = NODE_SIM_TRUTH_OFF;
        node_ring_write(&sim->truth_ring, &t, 1);
    } else if (type == 0xB0) {
        s_fl.fluid_synth_cc(sim->fl_synth, 0, d1, d2);
    } else if (type == 0xC0) {
        s_fl.fluid_synth_program_change(sim->fl_synth, 0, d1);
        sim->program = d1;
    }
}
#endif

static void s_apply(node_sim_t *sim, const s_event_t *ev, uint64_t frame)
{
    uint8_t type = ev->msg[0] & 0xF0;
    uint8_t d1 = ev->msg[1] & 0x7F, d2 = ev->msg[2] & 0x7F;
#ifdef BB_HAVE_FLUIDSYNTH
    if (sim->gm) {
        s_gm_apply(sim, type, d1, d2, frame);
        return;
    }
#endif
    if (type == 0x90 && d2 > 0)
        s_note_on(sim, d1, d2, frame);
    else if (type == 0x90 || type == 0x80)
        s_note_off(sim, d1, frame);
    else if (type == 0xB0)
        s_control(sim, d1, d2, frame);
    else if (type == 0xC0) { /* sounding voices keep their preset; the next note uses it */
        sim->preset = &s_presets[d1 % NODE_SIM_PRESET_COUNT];
        sim->program = d1;
    }
}

/* One sample of a voice (before master gain); advances it and frees it at its end. */
static double s_voice_tick(node_sim_t *sim, s_voice_t *v, uint64_t frame)
{
    double c1 = cos(SIM_TWO_PI * v->phase);
    v->phase += v->inc;
    if (v->phase >= 1.0)
        v->phase -= 1.0;
    double sum = v->amp[0] * c1, prev = 1.0, cur = c1;
    for (int k = 1; k < v->nharm; k++) {
        double next = 2.0 * c1 * cur - prev;
        prev = cur;
        cur = next;
        sum += v->amp[k] * cur;
        v->amp[k] *= v->amp_mul[k];
    }
    double env = v->env;
    double out = sum * env * v->gain;

    switch (v->stage) {
    case VOICE_ATTACK:
        if (++v->attack_pos >= v->attack_len) {
            v->env = 1.0;
            v->stage = VOICE_HOLD;
        } else {
            v->env = (double)v->attack_pos / v->attack_len;
        }
        break;
    case VOICE_HOLD:
        v->env *= v->hold_mul;
        if (v->env < SIM_ENV_FLOOR)
            v->env = 0.0;
        break;
    case VOICE_RELEASE:
        if (env * v->level * sim->master < sim->end_threshold) {
            s_voice_end(sim, v, frame);
            return 0.0;
        }
        v->env *= v->release_mul;
        break;
    case VOICE_FREE:
        break;
    }
    return out;
}

static uint64_t s_xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform noise on [-1, 1). */
static double s_noise(uint64_t *state)
{
    return (double)(s_xorshift(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Renders out[from..to) frames of the block starting at first_frame. */
/* Noise, hum, dropout and the converter's clamp on top of the instrument's signal. */
static inline void s_output(node_sim_t *sim, float *frame_out, uint64_t frame, double left,
                            double right)
{
    if (sim->hum_amp > 0) {
        double hum = sim->hum_amp * sin(SIM_TWO_PI * sim->hum_phase);
        left += hum, right += hum;
        sim->hum_phase += sim->hum_inc;
        if (sim->hum_phase >= 1.0)
            sim->hum_phase -= 1.0;
    }
    bool dropped = frame >= sim->drop_from && frame < sim->drop_to;
    for (uint32_t ch = 0; ch < sim->cfg.channels; ch++) {
        double x = ch == 0 ? left : right;
        if (sim->noise_amp > 0)
            x += sim->noise_amp * s_noise(&sim->noise_state[ch]);
        if (dropped)
            x = 0.0;
        frame_out[ch] = x > 1.0 ? 1.0f : x < -1.0 ? -1.0f : (float)x;
    }
}

#ifdef BB_HAVE_FLUIDSYNTH
static void s_gm_render_span(node_sim_t *sim, float *out, uint32_t from, uint32_t to,
                             uint64_t first_frame)
{
    const uint32_t nch = sim->cfg.channels;
    double drive = (sim->gm_faults & NODE_SIM_FAULT_CLIP) ? SIM_CLIP_DRIVE : 1.0;
    double dc = (sim->gm_faults & NODE_SIM_FAULT_DC) ? SIM_DC_OFFSET : 0.0;
    while (from < to) {
        uint32_t n = to - from < SIM_GM_CHUNK ? to - from : SIM_GM_CHUNK;
        s_fl.fluid_synth_write_float(sim->fl_synth, (int)n, sim->gm_left, 0, 1, sim->gm_right, 0,
                                     1);
        for (uint32_t k = 0; k < n; k++) {
            double l = sim->gm_left[k] * sim->master * drive + dc;
            double r = sim->gm_right[k] * sim->master * drive + dc;
            if (nch == 1)
                l = 0.5 * (l + r);
            s_output(sim, out + (size_t)(from + k) * nch, first_frame + from + k, l, r);
        }
        from += n;
    }
}
#endif

static void s_render_span(node_sim_t *sim, float *out, uint32_t from, uint32_t to,
                          uint64_t first_frame)
{
    const uint32_t nch = sim->cfg.channels;
#ifdef BB_HAVE_FLUIDSYNTH
    if (sim->gm) {
        s_gm_render_span(sim, out, from, to, first_frame);
        return;
    }
#endif
    for (uint32_t i = from; i < to; i++) {
        uint64_t frame = first_frame + i;
        double mix = 0.0, dc = 0.0;
        for (int vi = 0; vi < SIM_VOICES; vi++) {
            s_voice_t *v = &sim->voices[vi];
            if (v->stage == VOICE_FREE)
                continue;
            if (v->faults & NODE_SIM_FAULT_DC)
                dc += SIM_DC_OFFSET;
            mix += s_voice_tick(sim, v, frame);
        }
        mix = mix * sim->master + dc;
        s_output(sim, out + (size_t)i * nch, frame, mix, mix);
    }
}

/* ---- render (audio thread) ---- */

void node_sim_render(node_sim_t *sim, float *out, uint32_t frames, uint64_t first_frame,
                     int64_t t_first_ns)
{
    if (!sim || !out || frames == 0)
        return;
    if (sim->n_parts) { /* each part into its own channels of the interleaved block */
        const uint32_t all = sim->part_channels_total;
        const double ns_per_frame = 1e9 / sim->rate;
        for (uint32_t done = 0; done < frames;) {
            uint32_t n = frames - done < SIM_PART_BUF_FRAMES ? frames - done : SIM_PART_BUF_FRAMES;
            uint32_t at = 0;
            for (size_t k = 0; k < sim->n_parts; k++) {
                node_sim_t *p = sim->parts[k];
                uint32_t pc = p->cfg.channels;
                node_sim_render(p, sim->part_buf, n, first_frame + done,
                                t_first_ns + (int64_t)(done * ns_per_frame));
                for (uint32_t f = 0; f < n; f++)
                    for (uint32_t c = 0; c < pc; c++)
                        out[(size_t)(done + f) * all + at + c] = sim->part_buf[(size_t)f * pc + c];
                at += pc;
            }
            done += n;
        }
        return;
    }
    uint32_t pos = 0;
    for (;;) {
        if (!sim->has_pending) {
            if (node_ring_read(&sim->midi_ring, &sim->pending, 1) != 1)
                break;
            sim->has_pending = true;
        }
        /* frames from the block start; the bound keeps absurd times out of llround */
        double offset = (double)(sim->pending.time_ns - t_first_ns) * sim->rate / 1e9;
        if (offset > SIM_FAR_FRAMES)
            break; /* far in the future: stays pending */
        int64_t at =
            offset < -SIM_FAR_FRAMES ? -1 : (int64_t)llround(offset) + (int64_t)sim->latency_frames;
        if (at >= (int64_t)frames)
            break; /* a later block's event: stays pending */
        uint32_t rel = at <= (int64_t)pos ? pos : (uint32_t)at;
        s_render_span(sim, out, pos, rel, first_frame);
        pos = rel;
        s_apply(sim, &sim->pending, first_frame + pos);
        sim->has_pending = false;
    }
    s_render_span(sim, out, pos, frames, first_frame);
}
