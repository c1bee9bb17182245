/*
 * estimate.c — the arithmetic of estimate.h.
 */
#include "estimate.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plan_check.h"

#define S_RELEASE_HOLD_MS   500 /* a release sample's hold (scheduler.c) */
#define S_SETTLE_MS_DEFAULT 250 /* after a MIDI setup when the plan gives none (recorder.c) */

static const Bb__NodeInfo *s_node(const Bb__ListNodesReply *nodes, const char *name)
{
    for (size_t i = 0; nodes && i < nodes->n_nodes; i++)
        if (strcmp(nodes->nodes[i]->name, name) == 0)
            return nodes->nodes[i];
    return NULL;
}

int cli_estimate(cli_estimate_t *out, const Bb__BatchSpec *plan, const Bb__ListNodesReply *nodes)
{
    *out = (cli_estimate_t){0};
    out->inst = calloc(plan->n_instruments ? plan->n_instruments : 1, sizeof *out->inst);
    if (!out->inst)
        return -1;
    out->n = plan->n_instruments;
    int bits = plan->export && plan->export->bit_depth ? (int)plan->export->bit_depth : 24;
    for (size_t i = 0; i < plan->n_instruments; i++) {
        const Bb__InstrumentSpec *in = plan->instruments[i];
        cli_estimate_inst_t *e = &out->inst[i];
        snprintf(e->name, sizeof e->name, "%s", in->name);
        snprintf(e->node, sizeof e->node, "%s", in->node);
        const Bb__NodeInfo *node = s_node(nodes, in->node);
        double rate = node && node->sample_rate ? node->sample_rate : CLI_DEFAULT_RATE;
        double channels = node && node->channels ? node->channels : CLI_DEFAULT_CHANNELS;
        if (in->sum) /* an instrument on some inputs records those */
            channels = 1;
        else if (in->n_inputs)
            channels = (double)in->n_inputs;
        e->measured = node && node->take_overhead_samples > 0;
        e->overhead_ms = e->measured ? node->take_overhead_ms : CLI_TAKE_OVERHEAD_MS;
        e->adaptive = in->release_policy == BB__RELEASE_POLICY__RELEASE_ADAPTIVE;
        uint32_t notes[128];
        size_t n_notes = dsp_plan_notes(in, notes);
        uint32_t slots = (uint32_t)(n_notes * in->n_velocities * in->round_robins);
        double take_ms = in->preroll_ms + in->hold_ms + in->release_ms;
        uint32_t release_hold = in->hold_ms < S_RELEASE_HOLD_MS ? in->hold_ms : S_RELEASE_HOLD_MS;
        double release_take_ms = in->preroll_ms + release_hold + in->release_ms;
        uint32_t level = in->level_check ? (n_notes >= 3 ? 3 : (uint32_t)n_notes) : 0;
        e->takes = slots * (in->release_samples ? 2 : 1) + level;
        double audio_ms =
            (slots + level) * take_ms + (in->release_samples ? slots : 0) * release_take_ms;
        e->audio_s = audio_ms / 1000.0;
        double settle_ms = 0; /* the setup goes out once, before the first take */
        if (in->has_setup && in->setup)
            settle_ms = in->setup->settle_ms > S_SETTLE_MS_DEFAULT ? in->setup->settle_ms
                                                                   : S_SETTLE_MS_DEFAULT;
        e->wall_s = (audio_ms + e->takes * e->overhead_ms + settle_ms) / 1000.0;
        double raw = e->audio_s * rate * channels * 4.0;
        double lib = e->audio_s * rate * channels * (bits == 32 ? 4.0 : bits / 8.0);
        e->disk_bytes = (uint64_t)(raw + lib);
        out->takes += e->takes;
        out->audio_s += e->audio_s;
        out->disk_bytes += e->disk_bytes;
        out->takes_bytes += (uint64_t)raw;
        out->library_bytes += (uint64_t)lib;
    }
    /* as the scheduler plays them: an instrument starts once every earlier one it
     * conflicts with (same node, shared inputs or MIDI channel) has finished; different
     * nodes, and separate inputs of one node, in parallel */
    double *finish = calloc(out->n ? out->n : 1, sizeof *finish);
    if (!finish)
        return -1;
    for (size_t i = 0; i < out->n; i++) {
        double start = 0;
        for (size_t k = 0; k < i; k++)
            if (dsp_plan_conflict(plan->instruments[k], plan->instruments[i]) && finish[k] > start)
                start = finish[k];
        finish[i] = start + out->inst[i].wall_s;
        if (finish[i] > out->wall_s)
            out->wall_s = finish[i];
    }
    free(finish);
    return 0;
}

void cli_estimate_free(cli_estimate_t *e)
{
    free(e->inst);
    *e = (cli_estimate_t){0};
}

static void s_bytes(uint64_t b, char *out, size_t len)
{
    if (b >= 1000ull * 1000 * 1000)
        snprintf(out, len, "%.1f GB", b / 1e9);
    else if (b >= 1000ull * 1000)
        snprintf(out, len, "%.0f MB", b / 1e6);
    else
        snprintf(out, len, "%.0f kB", b / 1e3);
}

void cli_estimate_print(const cli_estimate_t *e, FILE *out)
{
    fprintf(out, "%-28s %-14s %6s %10s %10s %9s\n", "INSTRUMENT", "NODE", "TAKES", "AUDIO", "TIME",
            "DISK");
    bool assumed = false, adaptive = false;
    for (size_t i = 0; i < e->n; i++) {
        const cli_estimate_inst_t *in = &e->inst[i];
        char audio[32], wall[32], disk[32];
        cli_format_duration(in->audio_s, audio, sizeof audio);
        cli_format_duration(in->wall_s, wall, sizeof wall);
        s_bytes(in->disk_bytes, disk, sizeof disk);
        fprintf(out, "%-28.28s %-14.14s %6u %10s %10s %9s\n", in->name, in->node, in->takes, audio,
                wall, disk);
        assumed |= !in->measured;
        adaptive |= in->adaptive;
    }
    char audio[32], wall[32], disk[32];
    cli_format_duration(e->audio_s, audio, sizeof audio);
    cli_format_duration(e->wall_s, wall, sizeof wall);
    s_bytes(e->disk_bytes, disk, sizeof disk);
    fprintf(out, "%-28s %-14s %6u %10s %10s %9s\n", "total", "", e->takes, audio, wall, disk);
    fprintf(out,
            "TIME: nodes, and instruments on separate inputs of a node, play in parallel; "
            "the batch takes about %s.\n",
            wall);
    if (adaptive)
        fprintf(out, "Adaptive releases end when the tail is quiet: audio and time are at most "
                     "these.\n");
    if (assumed)
        fprintf(out,
                "Overhead between takes: %.0f ms assumed where a node has not been measured "
                "yet.\n",
                CLI_TAKE_OVERHEAD_MS);
}

json_t *cli_estimate_json(const cli_estimate_t *e)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < e->n; i++) {
        const cli_estimate_inst_t *in = &e->inst[i];
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:I, s:f, s:f, s:I, s:f, s:b, s:b}", "name", in->name,
                           "node", in->node, "takes", (json_int_t)in->takes, "audio_s", in->audio_s,
                           "wall_s", in->wall_s, "disk_bytes", (json_int_t)in->disk_bytes,
                           "overhead_ms", in->overhead_ms, "overhead_measured", in->measured,
                           "release_adaptive", in->adaptive));
    }
    return json_pack("{s:I, s:f, s:f, s:I, s:o}", "takes", (json_int_t)e->takes, "audio_s",
                     e->audio_s, "wall_s", e->wall_s, "disk_bytes", (json_int_t)e->disk_bytes,
                     "instruments", arr ? arr : json_array());
}

bool cli_estimate_needs_confirm(const cli_estimate_t *e)
{
    return e->wall_s > CLI_CONFIRM_WALL_S || e->takes > CLI_CONFIRM_TAKES;
}
