/*
 * export_dspreset.c — the DecentSampler preset (.dspreset, XML), written from the
 * canonical map (export_map.h): a <sample> per file with rootNote, loNote/hiNote,
 * loVel/hiVel, round robin (seqMode/seqLength/seqPosition), loop and tuning, in groups of
 * equal velocity tracking; release samples in trigger="release" groups, never looped.
 * A minimal UI: volume, attack and release knobs bound to the instrument's amp envelope.
 * Attribute names follow the DecentSampler developer guide (the <ui> and <groups>
 * elements, appendix B bindings). Every value is XML-escaped; paths are relative to the
 * preset.
 *
 * Velocity: DecentSampler scales a group's samples by 1 - t (1 - v/127) for
 * ampVelTrack = t (0..1), linear in velocity. Each straight piece of a sample's curve
 * (dsp_map_segments) becomes one <sample> with its own velocity range, in a group whose
 * ampVelTrack t and the sample's volume make the gain equal the map's at both ends of
 * the piece: exact below the lowest layer (t = 1, volume 127/V0) and above the top one
 * (t = 0); between two layers whose levels differ more than a full-tracking line can
 * follow, t is 1 and the sample still plays at its recorded level at its own velocity.
 * Groups are shared by pieces whose t rounds to the same hundredth.
 *
 * Unpitched instruments (export_map.h): each sample on its own key with pitchKeyTrack="0"
 * and ampEnvEnabled="false" (DecentSampler's one-shot: no envelope, so a key-up does not
 * stop the sample; it plays to its end), never looped.
 *
 * Loops: loopStart/loopEnd, no loopCrossfade: the plan's loop crossfade is already in the
 * audio (export_audio.c, judged by qc_loop.c); DecentSampler's would blend it again.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "export.h"

#define S_ATTACK_S      0.001 /* the samples carry their own attack */
#define S_ATTACK_MAX_S  4.0
#define S_RELEASE_MAX_S 10.0
#define S_BG_COLOR      "FFE8E8E8" /* AARRGGBB (developer guide, appendix A) */
#define S_TRACK_STEPS   100        /* ampVelTrack rounded to hundredths */

static void s_knob(dsp_buf_t *b, int x, const char *label, double max, double value,
                   const char *parameter)
{
    dsp_buf_printf(b,
                   "      <labeled-knob x=\"%d\" y=\"40\" width=\"90\" height=\"90\" "
                   "parameterName=\"%s\" label=\"%s\" valueType=\"float\" textSize=\"16\" "
                   "textColor=\"FF000000\" trackForegroundColor=\"CC000000\" "
                   "trackBackgroundColor=\"66999999\" minValue=\"0\" maxValue=\"%g\" "
                   "value=\"%g\" defaultValue=\"%g\">\n"
                   "        <binding type=\"amp\" level=\"instrument\" position=\"0\" "
                   "parameter=\"%s\"/>\n"
                   "      </labeled-knob>\n",
                   x, label, label, max, value, value, parameter);
}

/* One <sample> element to write: a piece of a sample's curve. */
typedef struct {
    const dsp_export_sample_t *s;
    int lovel, hivel;
    int track;        /* ampVelTrack in hundredths */
    double volume_db; /* the sample's volume */
} s_piece_t;

/* ampVelTrack (hundredths) and volume that give gains g0 at v0 and g1 at v1. */
static void s_fit(const dsp_vel_segment_t *g, int *track, double *volume_db)
{
    double r = pow(10.0, (g->g0 - g->g1) / 20.0); /* <= 1 when the curve rises */
    double a = g->v0 / 127.0, b = g->v1 / 127.0;
    double t = 0;
    if (g->v1 > g->v0 && r < 1.0) {
        double den = (1.0 - a) - r * (1.0 - b);
        t = den > 0 ? (1.0 - r) / den : 1.0;
    }
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    *track = (int)lround(t * S_TRACK_STEPS);
    t = (double)*track / S_TRACK_STEPS;
    /* exact at the upper end: gain g1 at v1 */
    *volume_db = g->g1 - 20.0 * log10(1.0 - t + t * b);
}

static int s_cmp_piece(const void *pa, const void *pb)
{
    const s_piece_t *a = pa, *b = pb;
    if (a->s->map.release != b->s->map.release)
        return (int)a->s->map.release - (int)b->s->map.release;
    if (a->s->map.velocity != b->s->map.velocity)
        return a->s->map.velocity - b->s->map.velocity;
    if (a->track != b->track)
        return a->track - b->track;
    if (a->s->map.note != b->s->map.note)
        return a->s->map.note - b->s->map.note;
    return a->lovel - b->lovel;
}

static bool s_same_group(const s_piece_t *a, const s_piece_t *b)
{
    return a->s->map.release == b->s->map.release && a->s->map.velocity == b->s->map.velocity &&
           a->track == b->track;
}

static void s_sample(dsp_buf_t *b, const dsp_export_inst_t *inst, const s_piece_t *p)
{
    const dsp_export_sample_t *s = p->s;
    const dsp_map_entry_t *e = &s->map;
    double volume = p->volume_db;
    double decay = 0, rise = 0;
    if (e->release && dsp_export_release_decay(s, &decay, &rise))
        volume += rise;
    dsp_buf_puts(b, "      <sample path=\"");
    dsp_buf_xml(b, s->file);
    dsp_buf_printf(b,
                   "\" rootNote=\"%d\" loNote=\"%d\" hiNote=\"%d\" loVel=\"%d\" hiVel=\"%d\" "
                   "seqMode=\"round_robin\" seqLength=\"%d\" seqPosition=\"%d\"",
                   e->note, e->lokey, e->hikey, p->lovel, p->hivel, e->seq_length, e->seq_position);
    if (fabs(volume) >= 0.005)
        dsp_buf_printf(b, " volume=\"%.2fdB\"", volume);
    if (e->release) {
        dsp_buf_puts(b, " trigger=\"release\"");
        if (decay > 0)
            dsp_buf_printf(b, " releaseTriggerDecay=\"%.2fdB\"", decay);
    }
    if (inst->tune && s->tune_cents != 0)
        dsp_buf_printf(b, " tuning=\"%.2f\"", s->tune_cents / 100.0);
    if (inst->map.unpitched) /* one-shot: no envelope, a key-up does not stop it */
        dsp_buf_puts(b, " pitchKeyTrack=\"0\" ampEnvEnabled=\"false\"");
    if (s->has_loop && !e->release && !inst->map.unpitched)
        dsp_buf_printf(b, " loopStart=\"%lld\" loopEnd=\"%lld\" loopEnabled=\"true\"",
                       (long long)s->loop_start, (long long)s->loop_end);
    else
        dsp_buf_puts(b, " loopEnabled=\"false\"");
    dsp_buf_puts(b, "/>\n");
}

int dsp_export_write_dspreset(const char *path, const dsp_export_inst_t *inst, char *err,
                              size_t errlen)
{
    size_t cap = inst->n_samples * (DSP_VEL_POINTS_MAX - 1) + 1, n = 0;
    s_piece_t *pieces = calloc(cap, sizeof *pieces);
    if (!pieces) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    for (size_t i = 0; i < inst->n_samples; i++) {
        dsp_vel_segment_t seg[DSP_VEL_POINTS_MAX];
        int ns = dsp_map_segments(&inst->samples[i].map, seg);
        for (int k = 0; k < ns; k++) {
            s_piece_t p = {.s = &inst->samples[i], .lovel = seg[k].lovel, .hivel = seg[k].hivel};
            s_fit(&seg[k], &p.track, &p.volume_db);
            /* pieces on one straight line (the lowest layer's points) become one */
            if (n > 0 && pieces[n - 1].s == p.s && pieces[n - 1].track == p.track &&
                fabs(pieces[n - 1].volume_db - p.volume_db) < 0.01 &&
                pieces[n - 1].hivel + 1 == p.lovel) {
                pieces[n - 1].hivel = p.hivel;
                continue;
            }
            pieces[n++] = p;
        }
    }
    qsort(pieces, n, sizeof *pieces, s_cmp_piece);

    dsp_buf_t b = {0};
    double release = inst->amp_release_s > 0 ? inst->amp_release_s : 0.001;
    dsp_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<!-- Sampled by Batcherbird. Velocity: the dynamics are in the samples; "
                     "ampVelTrack and volume play each at its recorded level at its own "
                     "velocity. -->\n"
                     "<DecentSampler minVersion=\"1.0.0\">\n");
    dsp_buf_printf(&b,
                   "  <ui width=\"812\" height=\"375\" bgColor=\"%s\">\n"
                   "    <tab name=\"main\">\n",
                   S_BG_COLOR);
    dsp_buf_puts(&b, "      <label x=\"20\" y=\"10\" width=\"600\" height=\"30\" "
                     "textSize=\"20\" textColor=\"FF000000\" text=\"");
    dsp_buf_xml(&b, inst->name);
    dsp_buf_puts(&b, "\"/>\n");
    s_knob(&b, 20, "Volume", 1.0, 1.0, "AMP_VOLUME");
    s_knob(&b, 120, "Attack", S_ATTACK_MAX_S, S_ATTACK_S, "ENV_ATTACK");
    s_knob(&b, 220, "Release", S_RELEASE_MAX_S, release, "ENV_RELEASE");
    dsp_buf_puts(&b, "    </tab>\n  </ui>\n");
    dsp_buf_printf(&b,
                   "  <groups attack=\"%g\" decay=\"0\" sustain=\"1\" release=\"%g\" "
                   "seqMode=\"round_robin\">\n",
                   S_ATTACK_S, release);
    for (size_t i = 0; i < n;) {
        const s_piece_t *g = &pieces[i];
        bool rel = g->s->map.release;
        dsp_buf_printf(&b,
                       "    <group name=\"%sv%d%s\" ampVelTrack=\"%.2f\"%s "
                       "seqMode=\"round_robin\">\n",
                       rel ? "release " : "", g->s->map.velocity,
                       g->track == 0               ? ""
                       : g->track == S_TRACK_STEPS ? " tracked"
                                                   : " curve",
                       (double)g->track / S_TRACK_STEPS, rel ? " trigger=\"release\"" : "");
        size_t j = i;
        for (; j < n && s_same_group(&pieces[j], g); j++)
            s_sample(&b, inst, &pieces[j]);
        dsp_buf_puts(&b, "    </group>\n");
        i = j;
    }
    dsp_buf_puts(&b, "  </groups>\n</DecentSampler>\n");
    free(pieces);
    int rc = dsp_buf_write(&b, path, err, errlen);
    dsp_buf_free(&b);
    return rc;
}
