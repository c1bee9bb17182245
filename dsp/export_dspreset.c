/*
 * export_dspreset.c — the DecentSampler preset (.dspreset, XML) with the same mapping as
 * the SFZ: one <group> per velocity layer as planned (release samples in their own
 * trigger="release" groups), a <sample> per file with rootNote, loNote/hiNote,
 * loVel/hiVel, round robin (seqMode/seqLength/seqPosition), loop and tuning, and a
 * minimal UI: volume, attack and release knobs bound to the instrument's amp envelope.
 * Attribute names follow the DecentSampler developer guide (the <groups> element and
 * appendix B, bindings). Every value is XML-escaped; paths are relative to the preset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "export.h"

#define S_ATTACK_S      0.001 /* the samples carry their own attack */
#define S_ATTACK_MAX_S  4.0
#define S_RELEASE_MAX_S 10.0

static void s_knob(dsp_buf_t *b, int x, const char *label, double max, double value,
                   const char *parameter)
{
    dsp_buf_printf(b,
                   "      <labeled-knob x=\"%d\" y=\"40\" width=\"90\" textSize=\"16\" "
                   "textColor=\"FF000000\" trackForegroundColor=\"CC000000\" "
                   "trackBackgroundColor=\"66999999\" label=\"%s\" type=\"float\" "
                   "minValue=\"0\" maxValue=\"%g\" value=\"%g\">\n"
                   "        <binding type=\"amp\" level=\"instrument\" position=\"0\" "
                   "parameter=\"%s\"/>\n"
                   "      </labeled-knob>\n",
                   x, label, max, value, parameter);
}

/* Velocity groups in order: normal samples by velocity, then release samples. */
static int s_cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

int dsp_export_write_dspreset(const char *path, const dsp_export_inst_t *inst, char *err,
                              size_t errlen)
{
    dsp_buf_t b = {0};
    double release = inst->amp_release_s > 0 ? inst->amp_release_s : 0.001;
    dsp_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<!-- Sampled by Batcherbird -->\n"
                     "<DecentSampler minVersion=\"1.0.0\">\n"
                     "  <ui width=\"812\" height=\"375\">\n"
                     "    <tab name=\"main\">\n");
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

    int vels[256];
    size_t nv = 0;
    for (size_t i = 0; i < inst->n_samples; i++) {
        int key = inst->samples[i].map.velocity + (inst->samples[i].map.release ? 128 : 0);
        bool seen = false;
        for (size_t k = 0; k < nv; k++)
            seen |= vels[k] == key;
        if (!seen)
            vels[nv++] = key;
    }
    qsort(vels, nv, sizeof *vels, s_cmp_int);
    for (size_t g = 0; g < nv; g++) {
        bool rel = vels[g] >= 128;
        int vel = vels[g] % 128;
        dsp_buf_printf(&b, "    <group name=\"%sv%d\"%s seqMode=\"round_robin\">\n",
                       rel ? "release " : "", vel, rel ? " trigger=\"release\"" : "");
        for (size_t i = 0; i < inst->n_samples; i++) {
            const dsp_export_sample_t *s = &inst->samples[i];
            const dsp_map_entry_t *e = &s->map;
            if (e->velocity != vel || e->release != rel)
                continue;
            dsp_buf_puts(&b, "      <sample path=\"");
            dsp_buf_xml(&b, s->file);
            dsp_buf_printf(&b,
                           "\" rootNote=\"%d\" loNote=\"%d\" hiNote=\"%d\" loVel=\"%d\" "
                           "hiVel=\"%d\" seqMode=\"round_robin\" seqLength=\"%d\" "
                           "seqPosition=\"%d\"",
                           e->note, e->lokey, e->hikey, e->lovel, e->hivel, e->seq_length,
                           e->seq_position);
            if (rel)
                dsp_buf_puts(&b, " trigger=\"release\"");
            if (inst->tune && s->tune_cents != 0)
                dsp_buf_printf(&b, " tuning=\"%.2f\"", s->tune_cents / 100.0);
            if (s->has_loop)
                dsp_buf_printf(&b, " loopStart=\"%lld\" loopEnd=\"%lld\" loopEnabled=\"true\"",
                               (long long)s->loop_start, (long long)s->loop_end);
            else
                dsp_buf_puts(&b, " loopEnabled=\"false\"");
            dsp_buf_puts(&b, "/>\n");
        }
        dsp_buf_puts(&b, "    </group>\n");
    }
    dsp_buf_puts(&b, "  </groups>\n</DecentSampler>\n");
    int rc = dsp_buf_write(&b, path, err, errlen);
    dsp_buf_free(&b);
    return rc;
}
