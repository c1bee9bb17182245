/*
 * sim_instrument.h — the simulated instrument: a synthesiser that stands in for the
 * hardware in the demo and in tests. It receives MIDI bytes (from the virtual MIDI
 * backend, any thread) and renders audio blocks (from the virtual audio "hardware"
 * thread), and it keeps a ground-truth record of where each sound really started and
 * ended so that tests can measure the pipeline's accuracy.
 *
 * Timing model. A MIDI message written at node-clock time t is heard at stream frame
 *     round((t - t_first) * rate / 1e9) + first_frame + latency_frames
 * where (first_frame, t_first) describe the block being rendered. Events whose frame
 * falls before the current block are played at the block's first frame (late), events
 * beyond it wait for a later block. This is how a real synth behind a real interface
 * behaves: a fixed MIDI-to-audio latency, sample-exact from then on.
 *
 * Threads: node_sim_midi_in is wait-free (SPSC ring) and may be called from one
 * producer thread; node_sim_render from one consumer thread; node_sim_truth_pop from a
 * third thread (SPSC ring, filled by render). render never allocates or locks.
 */
#ifndef BB_SIM_INSTRUMENT_H
#define BB_SIM_INSTRUMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    NODE_SIM_PIANO = 0, /* sharp attack, exponential decay, damped by note-off */
    NODE_SIM_PLUCK,     /* sharp attack, fast decay, bright-to-dark */
    NODE_SIM_PAD,       /* slow attack (~200 ms), sustain, long release */
    NODE_SIM_ORGAN,     /* instant attack, flat sustain, short release */
    NODE_SIM_ANALOG,    /* saw-like, moderate attack, noisy, mains hum */
    NODE_SIM_PRESET_COUNT
} node_sim_preset_t;

/* Injectable faults (bit mask), applied to every fault_every-th note-on. */
enum {
    NODE_SIM_FAULT_CLIP = 1,        /* drive the take far past full scale (hard clip) */
    NODE_SIM_FAULT_DROPOUT = 2,     /* a ~20 ms run of zeros in the middle of the sound */
    NODE_SIM_FAULT_SILENCE = 4,     /* the note makes no sound at all */
    NODE_SIM_FAULT_WRONG_PITCH = 8, /* the note sounds fault_cents off (another note) */
    NODE_SIM_FAULT_DC = 16,         /* a DC offset of -20 dBFS on the output */
};

typedef struct {
    node_sim_preset_t preset;
    uint32_t sample_rate;  /* Hz */
    uint32_t channels;     /* 1 or 2 (2: slightly different noise per channel) */
    uint32_t midi_channel; /* 0..15 the instrument listens on; 16 = omni */
    double latency_ms;     /* MIDI-to-audio latency of the "hardware" */
    double noise_floor_db; /* white noise RMS, dBFS; <= -200 means none */
    double hum_db;       /* 50 Hz hum level, dBFS; <= -200 means none (analog preset default -70) */
    double detune_cents; /* constant tuning error of the instrument */
    double velocity_curve; /* gain = (velocity/127)^curve */
    double peak_db;        /* peak level of the loudest note, dBFS */
    uint32_t fault_mask;   /* NODE_SIM_FAULT_* */
    uint32_t fault_every;  /* 0: never; n: notes n, 2n, 3n... (1-based count of note-ons) */
    double fault_cents;    /* pitch error of WRONG_PITCH (default a minor third: another note) */
    uint32_t seed;         /* noise generator seed */
    /* A General MIDI program played from a SoundFont through FluidSynth instead of the
     * preset (when FluidSynth loads, see node_sim_have_soundfont): a real instrument's
     * attacks and tails. gm_program -1 = use the preset. */
    int gm_program;        /* 0..127 */
    const char *soundfont; /* .sf2 path; NULL = NODE_SIM_DEFAULT_SOUNDFONT */
} node_sim_config_t;

/* CC7 (volume) and CC11 (expression) follow the General MIDI law: 40 log10(cc/127) dB. */
#define NODE_SIM_DEFAULT_SOUNDFONT "/usr/share/sounds/sf2/TimGM6mb.sf2"

#define NODE_SIM_CONFIG_INIT                                                                       \
    {                                                                                              \
        .preset = NODE_SIM_PIANO, .sample_rate = 48000, .channels = 2, .midi_channel = 16,         \
        .latency_ms = 3.0, .noise_floor_db = -80.0, .hum_db = -300.0, .detune_cents = 0.0,         \
        .velocity_curve = 1.6, .peak_db = -3.0, .fault_mask = 0, .fault_every = 0,                 \
        .fault_cents = 300.0, .seed = 1, .gm_program = -1, .soundfont = NULL                       \
    }

typedef enum {
    NODE_SIM_TRUTH_ON = 0,
    NODE_SIM_TRUTH_OFF = 1,
    NODE_SIM_TRUTH_END = 2
} node_sim_truth_kind_t;

/* One ground-truth record. ON: the first frame of the audible attack. OFF: the frame the
 * note-off took effect. END: the first frame after which the voice is below the noise
 * floor (or silent). Frames are absolute stream frames. */
typedef struct {
    node_sim_truth_kind_t kind;
    uint64_t frame;
    uint8_t note;
    uint8_t velocity;
    double freq_hz;   /* the fundamental really played (detune and faults included) */
    double peak_gain; /* linear peak amplitude the voice aims for (before faults) */
    uint32_t faults;  /* NODE_SIM_FAULT_* applied to this note */
    int program;      /* the program the note was played with; -1 before any change */
    int part;         /* which part of a several-part simulation (0 for a single one) */
} node_sim_truth_t;

typedef struct node_sim_t node_sim_t;

const char *node_sim_preset_name(node_sim_preset_t preset);
/* 0 on success, BB_EINVAL for an unknown name ("piano", "pluck", "pad", "organ", "analog"). */
int node_sim_preset_parse(const char *name, node_sim_preset_t *out);

/* NULL on bad config (rate 0, channels 0 or > 2), a SoundFont that does not load, or out
 * of memory. */
node_sim_t *node_sim_new(const node_sim_config_t *config);

/* Several simulated instruments in one, as a studio's synths on one audio interface:
 * part k (0-based) plays on the output channels after those of parts 0..k-1 (each part
 * 1 or 2 channels, config.channels) and listens on its own MIDI channel (its
 * config.midi_channel). Render, MIDI input and truth work on the whole as on one
 * instrument (truth records carry their part). At most NODE_SIM_PARTS_MAX parts; NULL as
 * node_sim_new, or when the parts' rates differ or their channels exceed
 * NODE_SIM_PARTS_CHANNELS_MAX. */
#define NODE_SIM_PARTS_MAX          4
#define NODE_SIM_PARTS_CHANNELS_MAX 8
node_sim_t *node_sim_new_parts(const node_sim_config_t *parts, size_t n);
/* Part k of a several-part simulation (the simulation itself for a single one), NULL
 * beyond; and how many parts, and the channels of all of them. */
node_sim_t *node_sim_part(node_sim_t *sim, size_t k);
size_t node_sim_parts(const node_sim_t *sim);
uint32_t node_sim_channels(const node_sim_t *sim);
/* The MIDI channel (0-15, 16 = omni) a simulation or part listens on. */
uint32_t node_sim_midi_channel(const node_sim_t *sim);

/* Whether SoundFonts can be played: the build found FluidSynth's header and its library
 * loads now (dlopen on first call; the node does not link it). */
bool node_sim_have_soundfont(void);
/* Why not, for a person ("" when they can): what to install. */
const char *node_sim_soundfont_error(void);
void node_sim_destroy(node_sim_t **sim);

/* Feeds one MIDI message heard at node-clock time_ns. Note on/off (0x9n/0x8n, on with
 * velocity 0 = off), CC 120/123 (all sound/notes off), CC7 volume, CC11 expression,
 * program change: with presets, program P plays preset P mod NODE_SIM_PRESET_COUNT
 * (0 piano, 1 pluck, 2 pad, 3 organ, 4 analog) from its next note on, so every patch
 * of a bank sounds different; with a SoundFont, General MIDI program P. System messages
 * (SysEx) are accepted and ignored. Returns 0, or BB_EBUSY when the input queue is
 * full. */
int node_sim_midi_in(node_sim_t *sim, const uint8_t *msg, size_t len, int64_t time_ns);

/* Renders `frames` interleaved float frames (config channels) into out, replacing its
 * contents. first_frame is the absolute stream frame of out[0], t_first_ns its node-clock
 * time. Realtime-safe. */
void node_sim_render(node_sim_t *sim, float *out, uint32_t frames, uint64_t first_frame,
                     int64_t t_first_ns);

/* Pops one ground-truth record; false when none is pending. */
bool node_sim_truth_pop(node_sim_t *sim, node_sim_truth_t *out);

/* Latency in frames (rounded), as render applies it. */
uint64_t node_sim_latency_frames(const node_sim_t *sim);

/* The fundamental frequency a note sounds at with this config (detune included, no fault). */
double node_sim_note_freq(const node_sim_t *sim, uint8_t note);

#endif
