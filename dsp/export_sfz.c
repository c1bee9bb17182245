/*
 * export_sfz.c — the SFZ instrument file: one <region> per sample with its key range,
 * velocity range, pitch_keycenter, round-robin position, loop and tuning; release samples
 * in a trigger=release group. Sample paths are relative to the .sfz file. The amp
 * envelope release is set globally so a key let go early does not click.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bb_err.h"
#include "export.h"

/* SFZ has no escaping: a comment line must not break; keep printable ASCII. */
static void s_comment_text(dsp_buf_t *b, const char *s)
{
    char line[160];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 1 < sizeof line; p++)
        line[n++] = *p >= 0x20 && *p < 0x7F ? (char)*p : '?';
    line[n] = '\0';
    dsp_buf_puts(b, line);
}

int dsp_export_write_sfz(const char *path, const dsp_export_inst_t *inst, char *err, size_t errlen)
{
    dsp_buf_t b = {0};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    dsp_buf_puts(&b, "// ");
    s_comment_text(&b, inst->name);
    dsp_buf_printf(&b, "\n// Sampled by Batcherbird on %s: %zu samples.\n\n", date,
                   inst->n_samples);
    bool any_rr = false;
    for (size_t i = 0; i < inst->n_samples; i++)
        any_rr |= inst->samples[i].map.seq_length > 1;
    dsp_buf_puts(&b, "<control>\ndefault_path=./\n\n");
    dsp_buf_printf(&b, "<global>\nloop_mode=no_loop\nampeg_release=%.3f\n\n",
                   inst->amp_release_s > 0 ? inst->amp_release_s : 0.001);
    for (int pass = 0; pass < 2; pass++) {
        bool release = pass == 1;
        bool any = false;
        for (size_t i = 0; i < inst->n_samples; i++)
            any |= inst->samples[i].map.release == release;
        if (!any)
            continue;
        dsp_buf_printf(&b, "<group>%s\n", release ? " trigger=release" : "");
        for (size_t i = 0; i < inst->n_samples; i++) {
            const dsp_export_sample_t *s = &inst->samples[i];
            const dsp_map_entry_t *e = &s->map;
            if (e->release != release)
                continue;
            dsp_buf_printf(&b,
                           "<region> sample=%s pitch_keycenter=%d lokey=%d hikey=%d lovel=%d "
                           "hivel=%d",
                           s->file, e->note, e->lokey, e->hikey, e->lovel, e->hivel);
            if (any_rr)
                dsp_buf_printf(&b, " seq_length=%d seq_position=%d", e->seq_length,
                               e->seq_position);
            if (inst->tune && s->tune_cents != 0)
                dsp_buf_printf(&b, " tune=%d",
                               (int)(s->tune_cents + (s->tune_cents < 0 ? -0.5 : 0.5)));
            if (s->has_loop)
                dsp_buf_printf(&b, " loop_mode=%s loop_start=%lld loop_end=%lld",
                               inst->loop_sustain ? "loop_sustain" : "loop_continuous",
                               (long long)s->loop_start, (long long)s->loop_end);
            dsp_buf_puts(&b, "\n");
        }
        dsp_buf_puts(&b, "\n");
    }
    int rc = dsp_buf_write(&b, path, err, errlen);
    dsp_buf_free(&b);
    return rc;
}
