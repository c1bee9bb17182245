/*
 * qc_corpus.h — raw takes with ground truth, rendered by the simulated instrument, for the
 * QC tests and the QC benchmark. A take is laid out as the node records it: pre-roll,
 * note-on, hold, note-off, release; note_on_frame is where the note-on was sent plus the
 * latency offset the node believes in (which may differ from the instrument's real one).
 */
#ifndef BB_QC_CORPUS_H
#define BB_QC_CORPUS_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_instrument.h"

typedef struct {
    node_sim_preset_t preset;
    int note, velocity;
    double latency_ms;         /* the instrument's real MIDI-to-audio latency */
    double assumed_latency_ms; /* what the node compensates (note_on_frame) */
    double noise_db;
    double hum_db;   /* <= -200: preset default */
    uint32_t faults; /* NODE_SIM_FAULT_*, applied to this note */
    double detune_cents;
    int preroll_ms, hold_ms, max_release_ms;
    uint32_t seed;
    int rate, channels;
    int gm_program; /* >= 0: a General MIDI program from the default SoundFont */
} qc_corpus_spec_t;

#define QC_CORPUS_SPEC_INIT                                                                        \
    {                                                                                              \
        .preset = NODE_SIM_PIANO, .note = 60, .velocity = 100, .latency_ms = 3.0,                  \
        .assumed_latency_ms = 3.0, .noise_db = -80.0, .hum_db = -300.0, .faults = 0,               \
        .detune_cents = 0.0, .preroll_ms = 100, .hold_ms = 500, .max_release_ms = 1500, .seed = 7, \
        .rate = 48000, .channels = 2, .gm_program = -1                                             \
    }

typedef struct {
    float *audio; /* interleaved, malloc'd */
    int64_t frames;
    int64_t note_on_frame, note_off_frame; /* as the node would report them */
    int64_t true_onset;                    /* first frame of the attack (truth ON) */
    int64_t true_off;                      /* truth OFF */
    int64_t true_end;                      /* truth END, or -1 if the take ended first */
    double true_hz;                        /* fundamental really played */
} qc_corpus_take_t;

/* Renders one take. Returns 0, or -1 on bad spec / no memory. */
int qc_corpus_render(const qc_corpus_spec_t *spec, qc_corpus_take_t *out);
void qc_corpus_free(qc_corpus_take_t *take);

/* Whether a preset's attack is sharp (onset tolerance 1 ms) or slow (5 ms). */
bool qc_corpus_sharp(node_sim_preset_t preset);

#endif
