/*
 * export_sfz.c — the SFZ instrument file, written from the canonical map (export_map.h).
 *
 * One <region> per sample with its key range, velocity range, pitch_keycenter,
 * round-robin position, loop, tuning and velocity curve. Sample paths are relative to the
 * .sfz file. Groups set what their regions share, and nothing is set in <global> that a
 * group would have to undo (a <global> loop_mode=no_loop once leaked into the release
 * group, which needs one_shot):
 *   - sustained samples: loop_mode=no_loop (looped regions say loop_continuous or
 *     loop_sustain themselves) and the amp envelope's release, so a key let go early
 *     does not click;
 *   - release samples: trigger=release, loop_mode=one_shot (the sample plays to its end
 *     and the player stops it by itself; never looped) and an ampeg_release as long as
 *     the longest release sample, so a player that enters the release stage at once does
 *     not fade it; rt_decay where the held note decayed (see dsp_export_release_decay).
 * Unpitched instruments (export_map.h): each region on its own key, pitch_keytrack=0 (no
 * transposition) and loop_mode=one_shot in the group (a key-up does not stop the hit, no
 * loop, no ampeg_release to fade it).
 * Velocity: amp_veltrack=100 with amp_velcurve_N points on every region (SFZ v1; the
 * points are the map's, amplitude = 10^(dB/20)), so each layer plays at its recorded
 * level at its own velocity and the player adds no attenuation on top.
 * Loops: loop_start/loop_end only, no loop_crossfade. The plan's loop crossfade is already
 * in the audio (export_audio.c blends the frames before loop_end into those before
 * loop_start, and qc_loop.c judged the seam with that blend); a player that honoured
 * loop_crossfade as well would blend the blended frames a second time.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bb_err.h"
#include "export.h"

#define S_CURVE_DECIMALS 6

static void s_curve(dsp_buf_t *b, const dsp_map_entry_t *e)
{
    for (int i = 0; i < e->n_points; i++) {
        double amp = pow(10.0, e->points[i].gain_db / 20.0);
        dsp_buf_printf(b, " amp_velcurve_%d=%.*f", e->points[i].velocity, S_CURVE_DECIMALS,
                       amp > 1.0 ? 1.0 : amp);
    }
}

int dsp_export_write_sfz(const char *path, const dsp_export_inst_t *inst, char *err, size_t errlen)
{
    dsp_buf_t b = {0};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    size_t n_release = 0;
    double longest_release_s = 0;
    bool any_rr = false;
    for (size_t i = 0; i < inst->n_samples; i++) {
        const dsp_export_sample_t *s = &inst->samples[i];
        any_rr |= s->map.seq_length > 1;
        if (s->map.release) {
            n_release++;
            double len = s->rate > 0 ? (double)s->frames / s->rate : 0;
            longest_release_s = len > longest_release_s ? len : longest_release_s;
        }
    }
    dsp_buf_puts(&b, "// ");
    dsp_buf_text_line(&b, inst->name);
    dsp_buf_printf(&b, "\n// Sampled by Batcherbird on %s: %zu samples", date,
                   inst->n_samples - n_release);
    if (n_release)
        dsp_buf_printf(&b, " and %zu release samples", n_release);
    dsp_buf_puts(&b, ".\n// Velocity: the dynamics are in the samples; each region's "
                     "amp_velcurve_N points play\n// it at its recorded level at its own "
                     "velocity and move towards the next layer's\n// level between them.\n\n");
    dsp_buf_puts(&b, "<control>\ndefault_path=./\n\n<global>\namp_veltrack=100\n\n");
    for (int pass = 0; pass < 2; pass++) {
        bool release = pass == 1;
        if (release && n_release == 0)
            continue;
        if (!release && n_release == inst->n_samples)
            continue;
        if (release)
            dsp_buf_printf(&b, "<group>\ntrigger=release\nloop_mode=one_shot\nampeg_release=%.3f\n",
                           ceil(longest_release_s * 1000.0) / 1000.0 + 0.001);
        else if (inst->map.unpitched)
            dsp_buf_puts(&b, "<group>\nloop_mode=one_shot\npitch_keytrack=0\n");
        else
            dsp_buf_printf(&b, "<group>\nloop_mode=no_loop\nampeg_release=%.3f\n",
                           inst->amp_release_s > 0 ? inst->amp_release_s : 0.001);
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
                dsp_buf_printf(&b, " tune=%d", (int)lround(s->tune_cents));
            if (!release && s->has_loop && !inst->map.unpitched)
                dsp_buf_printf(&b, " loop_mode=%s loop_start=%lld loop_end=%lld",
                               inst->loop_sustain ? "loop_sustain" : "loop_continuous",
                               (long long)s->loop_start, (long long)s->loop_end);
            if (release) {
                double decay, volume;
                if (dsp_export_release_decay(s, &decay, &volume))
                    dsp_buf_printf(&b, " rt_decay=%.2f volume=%.2f", decay, volume);
            }
            s_curve(&b, e);
            dsp_buf_puts(&b, "\n");
        }
        dsp_buf_puts(&b, "\n");
    }
    int rc = dsp_buf_write(&b, path, err, errlen);
    dsp_buf_free(&b);
    return rc;
}
