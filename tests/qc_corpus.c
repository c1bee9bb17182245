/*
 * qc_corpus.c — renders raw takes with ground truth from the simulated instrument.
 */
#include "qc_corpus.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 256

bool qc_corpus_sharp(node_sim_preset_t preset)
{
    return preset == NODE_SIM_PIANO || preset == NODE_SIM_PLUCK || preset == NODE_SIM_ORGAN;
}

static int64_t s_ns(int64_t frame, int rate)
{
    return (int64_t)((double)frame * 1e9 / rate);
}

static int s_render(const qc_corpus_spec_t *sp, qc_corpus_take_t *out);

int qc_corpus_render(const qc_corpus_spec_t *sp, qc_corpus_take_t *out)
{
    int rc = s_render(sp, out);
    if (rc || sp->gm_program < 0 || (sp->faults & NODE_SIM_FAULT_SILENCE))
        return rc;
    /* A SoundFont sample has its own lead-in: the true onset is where the same note,
     * rendered without noise, first rises above -100 dBFS. */
    qc_corpus_spec_t quiet = *sp;
    quiet.noise_db = -300;
    quiet.faults = 0;
    qc_corpus_take_t clean;
    if (s_render(&quiet, &clean) != 0) {
        qc_corpus_free(out);
        return -1;
    }
    for (int64_t i = 0; i < clean.frames; i++) {
        if (fabsf(clean.audio[i * sp->channels]) > 1e-5f) {
            out->true_onset = i;
            break;
        }
    }
    qc_corpus_free(&clean);
    return 0;
}

static int s_render(const qc_corpus_spec_t *sp, qc_corpus_take_t *out)
{
    memset(out, 0, sizeof *out);
    out->true_onset = out->true_off = out->true_end = -1;
    node_sim_config_t cfg = NODE_SIM_CONFIG_INIT;
    cfg.preset = sp->preset;
    cfg.sample_rate = (uint32_t)sp->rate;
    cfg.channels = (uint32_t)sp->channels;
    cfg.latency_ms = sp->latency_ms;
    cfg.noise_floor_db = sp->noise_db;
    cfg.hum_db = sp->hum_db;
    cfg.detune_cents = sp->detune_cents;
    cfg.fault_mask = sp->faults;
    cfg.fault_every = sp->faults ? 1 : 0;
    cfg.seed = sp->seed;
    cfg.gm_program = sp->gm_program;
    node_sim_t *sim = node_sim_new(&cfg);
    if (!sim)
        return -1;
    const int64_t ms = sp->rate / 1000;
    const int64_t on_sent = sp->preroll_ms * ms;
    const int64_t off_sent = on_sent + sp->hold_ms * ms;
    const int64_t max_frames = off_sent + sp->max_release_ms * ms;
    out->audio = malloc(sizeof(float) * (size_t)(max_frames + BLOCK) * (size_t)sp->channels);
    if (!out->audio) {
        node_sim_destroy(&sim);
        return -1;
    }
    const uint8_t on[3] = {0x90, (uint8_t)sp->note, (uint8_t)sp->velocity};
    const uint8_t off[3] = {0x80, (uint8_t)sp->note, 0};
    node_sim_midi_in(sim, on, 3, s_ns(on_sent, sp->rate));
    node_sim_midi_in(sim, off, 3, s_ns(off_sent, sp->rate));
    int64_t frame = 0;
    /* Render until the voice has ended and 50 ms more, or the plan's maximum. */
    int64_t stop = max_frames;
    while (frame < stop) {
        node_sim_render(sim, out->audio + frame * sp->channels, BLOCK, (uint64_t)frame,
                        s_ns(frame, sp->rate));
        frame += BLOCK;
        node_sim_truth_t tr;
        while (node_sim_truth_pop(sim, &tr)) {
            if (tr.kind == NODE_SIM_TRUTH_ON) {
                out->true_onset = (int64_t)tr.frame;
                out->true_hz = tr.freq_hz;
            } else if (tr.kind == NODE_SIM_TRUTH_OFF) {
                out->true_off = (int64_t)tr.frame;
            } else if (tr.kind == NODE_SIM_TRUTH_END && out->true_end < 0) {
                out->true_end = (int64_t)tr.frame;
                if (out->true_end + 50 * ms < stop)
                    stop = out->true_end + 50 * ms;
            }
        }
    }
    out->frames = frame < max_frames ? frame : max_frames;

    const int64_t assumed = (int64_t)llround(sp->assumed_latency_ms * ms);
    out->note_on_frame = on_sent + assumed;
    out->note_off_frame = off_sent + assumed;
    node_sim_destroy(&sim);
    return 0;
}

void qc_corpus_free(qc_corpus_take_t *take)
{
    free(take->audio);
    take->audio = NULL;
}
