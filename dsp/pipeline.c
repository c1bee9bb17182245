/*
 * pipeline.c — runs the QC stages on one take and decides the verdict.
 *
 * Order: DC (whole take) -> noise floor (pre-roll up to 1 ms before the note-on) ->
 * onset (searched from 20 ms before the note-on: a latency offset set a little too high
 * puts the real attack before it) -> release end (capped by the plan) -> cut and fades ->
 * levels, clipping, SNR -> pitch (after the attack) -> dropouts (inside the sound) ->
 * loop (opt-in, in the sustain). The verdict is the worst of the stages' findings.
 */
#include "pipeline.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_json.h"
#include "bb_notes.h"
#include "qc.h"

void dsp_analysis_reason(dsp_analysis_t *a, int level, const char *fmt, ...)
{
    size_t n = strlen(a->reasons);
    if (n && n + 2 < sizeof a->reasons) {
        memcpy(a->reasons + n, "; ", 3);
        n += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reasons + n, sizeof a->reasons - n, fmt, ap);
    va_end(ap);
    if (level > a->verdict)
        a->verdict = level;
    if (level == DSP_FAIL)
        a->fails++;
}

const char *dsp_verdict_name(int verdict)
{
    switch (verdict) {
    case DSP_PASS:
        return "pass";
    case DSP_WARN:
        return "warn";
    default:
        return "fail";
    }
}

#define S_FULL_SCALE_DB -0.05 /* flat tops above this are the converter's own limit */
#define S_LOUD_PEAK_DB  -30.0 /* a take peaking over this is no silence, whatever its SNR */
/* A take whose loudest 50 ms stand less than this over the floor: nothing plainly sounds
 * (silence); more, but under silence_snr_db: a note that is there, too quiet to keep. */
#define S_SILENT_SNR_DB 6.0
/* The steady part's pitch windows disagree by more than this (cents, octaves folded): the
 * tuning is unsure, --tune writes no correction for it. A few cents: beyond what a steady
 * note's windows differ by (hundredths of a cent on oscillators), under what a musician
 * hears as out of tune. */
#define S_TUNE_SPREAD_CENTS 5.0
/* The tuning of a take with one dropout in its steady part is read again this far clear of
 * it (a period of A0 is 36 ms; the windows are 40 periods long) */
#define S_DAMAGE_CLEAR_MS 20.0

static double s_note_hz(int note)
{
    return 440.0 * pow(2.0, (note - 69) / 12.0);
}

/* The reason for a pre-roll that still holds the previous note (tail in dsp_analyze): a
 * warning on a take that stands clear of it (a node that does not wait for quiet would
 * record the retake the same way), a failure on one it drowns. */
static void s_reason_tail(dsp_analysis_t *a, int level, const dsp_take_info_t *info)
{
    dsp_analysis_reason(a, level,
                        "previous note still sounding in pre-roll: %.0f dBFS vs floor %.0f dBFS",
                        a->noise_db, info->floor_db);
}

/* The noise floor (RMS of the loudest channel) at the end of [from, limit), for a take with
 * no pre-roll: the mean of the last S_TAIL_WINDOWS windows of 10 ms when they stand within
 * S_TAIL_FLAT_DB of one another (noise; a release still sounding falls from window to
 * window) and S_TAIL_UNDER_DB or more under the loudest window after `from`; else 0 (not
 * known: the release runs to the end). */
#define S_TAIL_WINDOWS  5
#define S_TAIL_FLAT_DB  1.0
#define S_TAIL_UNDER_DB 40.0
static double s_tail_floor(const qc_take_t *t, int64_t from, int64_t limit)
{
    const int64_t win = t->rate / 100 > 0 ? t->rate / 100 : 1;
    if (limit > t->frames)
        limit = t->frames;
    if (limit - from < (S_TAIL_WINDOWS + 1) * win)
        return 0;
    double lo = INFINITY, hi = 0, sum = 0, loud = 0;
    for (int k = 0; k < S_TAIL_WINDOWS; k++) {
        double r = qc_rms(t, limit - (k + 1) * win, limit - k * win);
        lo = r < lo ? r : lo, hi = r > hi ? r : hi, sum += r;
    }
    for (int64_t w = from; w + win <= limit; w += win) {
        double r = qc_rms(t, w, w + win);
        loud = r > loud ? r : loud;
    }
    if (lo <= 0 || 20.0 * log10(hi / lo) > S_TAIL_FLAT_DB ||
        20.0 * log10(loud / hi) < S_TAIL_UNDER_DB)
        return 0;
    return sum / S_TAIL_WINDOWS;
}

int dsp_analyze(const float *x, int64_t frames, int ch, int rate, const dsp_take_info_t *info,
                const dsp_pipeline_config_t *cfg, dsp_analysis_t *a)
{
    memset(a, 0, sizeof *a);
    a->onset_foot = -1;
    if (!x || !info || frames <= 0 || ch < 1 || ch > DSP_MAX_CHANNELS || rate <= 0 ||
        info->note_on < 0 || info->note_on > frames)
        return BB_EINVAL;
    const int64_t ms = rate / 1000 > 0 ? rate / 1000 : 1;
    const int64_t note_on = info->note_on;
    a->channels = ch;
    a->fade_curve = cfg->fade_curve;
    a->xruns = info->xruns;

    qc_take_t t = {.x = x, .frames = frames, .ch = ch, .rate = rate};
    int64_t pre_end = note_on - ms > 0 ? note_on - ms : 0;
    qc_measure_dc(&t, pre_end);
    for (int c = 0; c < ch; c++)
        a->dc[c] = t.dc[c];
    qc_measure_noise(&t, pre_end, a);
    qc_measure_quantum(&t);
    /* Too short a pre-roll (takes cut by another tool) does not show the floor: the stages
     * below run on what there is, and the figures say "not known" rather than a floor of
     * digital silence and an SNR of 190 dB. */
    const bool floor_known = (double)note_on >= DSP_PREROLL_MIN_MS * rate / 1000.0;
    if (!floor_known) {
        a->noise_db = NAN;
        for (int c = 0; c < ch; c++)
            a->noise_ch_db[c] = NAN;
    }
    /* A pre-roll well over the instrument's floor still holds a sound: the previous note's
     * tail (released too early, a long reverb) is baked under this take's attack. */
    bool tail = info->has_floor && pre_end > 0 && isfinite(info->floor_db) &&
                a->noise_db > info->floor_db + cfg->preroll_over_floor_db;
    /* A recording runs past its note-off into the release; a file that ends before it is a
     * truncated copy: the note stops mid-sustain, with no release, however clean the rest. */
    const int64_t note_off = info->note_off < frames ? info->note_off : frames; /* in the file */
    if (info->note_off > frames)
        dsp_analysis_reason(a, DSP_FAIL, "the file ends %.2f s before its note-off: truncated?",
                            (double)(info->note_off - frames) / rate);
    if (!floor_known)
        dsp_analysis_reason(a, DSP_WARN,
                            "noise floor unknown: no pre-roll to measure it (%.1f ms before "
                            "the note-on, %.0f ms needed); SNR not measured",
                            (double)note_on * 1000.0 / rate, DSP_PREROLL_MIN_MS);

    /* Onset. */
    a->note_on = note_on;
    a->rate = rate;
    qc_onset_t on;
    int64_t onset = -1;
    if (qc_find_onset(&t, note_on - 20 * ms, frames, cfg->onset_above_noise_db,
                      cfg->pitch_check ? s_note_hz(info->note) : 0, &on) == 0)
        onset = on.onset;
    if (onset < 0) {
        a->onset = a->cut_start = note_on;
        a->release_end = a->cut_end = frames;
        a->duration_s = (double)(frames - note_on) / rate;
        double unused;
        qc_measure_levels(&t, a, &unused);
        if (tail)
            s_reason_tail(a, DSP_FAIL, info);
        else
            dsp_analysis_reason(a, DSP_FAIL, "silence: nothing rose above the noise floor");
        return 0;
    }
    a->onset = onset;
    a->onset_present = on.present;
    a->onset_foot = on.foot;
    a->attack_clear = on.clear;
    a->onset_source = on.clear ? DSP_ONSET_CLEAR : DSP_ONSET_EXTRAPOLATED;

    /* Release end, capped by the plan. */
    int64_t limit = frames;
    if (cfg->max_release_ms > 0 && note_off >= 0) {
        int64_t cap = note_off + (int64_t)llround(cfg->max_release_ms * rate / 1000.0);
        if (cap < limit)
            limit = cap;
    }
    double peak_lin = cfg->end_mode == DSP_END_BELOW_PEAK ? qc_peak(&t, onset, limit) : 0;
    /* With no pre-roll, the noise after the sound, where the file holds some, is the floor
     * the release ends at: else the whole file to its end would be the release. */
    qc_take_t after = t;
    if (!floor_known)
        after.noise_rms = s_tail_floor(&t, note_off > onset ? note_off : onset, limit);
    a->release_end = qc_find_release_end(&after, onset, limit, cfg, peak_lin);

    /* Cut and fades: every sample of an instrument starts the same way, a fixed margin
     * before its onset, faded in over exactly that margin. */
    int64_t margin = (int64_t)llround(cfg->pre_attack_ms * rate / 1000.0);
    a->cut_start = onset - margin > 0 ? onset - margin : 0;
    a->fade_in = onset - a->cut_start;
    a->cut_end = a->release_end;
    a->duration_s = (double)(a->cut_end - a->cut_start) / rate;
    /* A slow attack with the instrument's latency known starts where the latency says. */
    if (info->prior && dsp_latency_prior_apply(a, info->prior))
        onset = a->onset;
    int64_t len = a->cut_end - a->cut_start;
    int64_t fade_out = (int64_t)llround(cfg->fade_out_ms * rate / 1000.0);
    a->fade_out = fade_out < len / 2 ? fade_out : len / 2;

    double sound_dc = 0;
    qc_measure_levels(&t, a, &sound_dc);
    qc_clip_t clip;
    qc_find_clipping(&t, a->cut_start, a->cut_end, cfg->clip_run, &clip);
    a->clip_runs = clip.runs;
    a->clip_db = clip.runs ? qc_db(clip.level) : -200.0;
    if (a->snr_db < cfg->silence_snr_db) {
        /* A loud take with a low SNR is not silent: its pre-roll was not quiet. */
        if (tail)
            s_reason_tail(a, DSP_FAIL, info);
        else if (a->peak_db > S_LOUD_PEAK_DB)
            dsp_analysis_reason(a, DSP_FAIL,
                                "pre-roll not quiet: %.1f dBFS before the note-on, only %.1f dB "
                                "under the note (peak %.1f dBFS): something still sounded "
                                "(the previous note? a longer release or quiet-wait lets it "
                                "fall silent)",
                                a->noise_db, a->snr_db, a->peak_db);
        else /* one measure throughout: the loudest 50 ms RMS against the floor's RMS */
            dsp_analysis_reason(a, DSP_FAIL,
                                "%s: its loudest 50 ms stand only %.1f dB over the noise floor "
                                "(%.1f dBFS RMS against %.1f dBFS RMS, %.0f dB needed)%s",
                                a->snr_db < S_SILENT_SNR_DB ? "silence" : "too quiet", a->snr_db,
                                a->noise_db + a->snr_db, a->noise_db, cfg->silence_snr_db,
                                a->snr_db < S_SILENT_SNR_DB
                                    ? ""
                                    : ": record it louder (more gain or a higher velocity)");
        return 0;
    }
    if (tail)
        s_reason_tail(a, DSP_WARN, info);
    if (a->clip_runs > 0)
        dsp_analysis_reason(a, DSP_FAIL, "clipping: %d flat top(s) at %.1f dBFS%s", a->clip_runs,
                            a->clip_db,
                            a->clip_db > S_FULL_SCALE_DB
                                ? " (full scale): lower the level into the converter"
                                : ", below full scale: a stage before the converter clips; "
                                  "lower the instrument's output or the preamp gain");

    /* Pitch: after the attack transient, before the note-off where possible, where the
     * note is steady (qc_steady_pitch: a slow swell is measured once it has risen). */
    double expected = s_note_hz(info->note);
    int64_t p_from = onset + 60 * ms;
    int64_t p_to = note_off > p_from + 40 * ms ? note_off : a->release_end;
    if (p_to - p_from < 40 * ms) { /* very short sounds: whatever there is */
        p_from = onset + 5 * ms;
        p_to = a->release_end;
    }
    bool tuning_unsure = false;
    double spread = 0, track_hz = 0;
    if (p_to > p_from) {
        qc_pitch_t sp;
        a->pitch_hz = qc_steady_pitch(&t, p_from, p_to, expected, &sp);
        a->pitch_confidence = sp.confidence;
        spread = sp.spread_cents;
        tuning_unsure = sp.windows >= 2 && sp.spread_cents > S_TUNE_SPREAD_CENTS;
        track_hz = sp.attack_hz > 0 ? sp.attack_hz : a->pitch_hz;
        if (a->pitch_hz > 0)
            a->pitch_cents = 1200.0 * log2(a->pitch_hz / expected);
        /* A take that would fail as another note is heard again later in its sustain (a
         * slow rise, a weak first partial can mislead one window); the clearer wins. */
        double off = fabs(a->pitch_cents - 1200.0 * round(a->pitch_cents / 1200.0));
        if (a->pitch_hz > 0 && fabs(a->pitch_cents) >= cfg->pitch_fail_cents &&
            off >= cfg->pitch_fail_cents && p_to - p_from > 80 * ms) {
            double conf2 = 0;
            double hz2 = qc_find_pitch(&t, p_from + (p_to - p_from) / 2, p_to, expected, &conf2);
            if (hz2 > 0 && conf2 > a->pitch_confidence) {
                tuning_unsure = false;
                track_hz = hz2;
                a->pitch_hz = hz2;
                a->pitch_confidence = conf2;
                a->pitch_cents = 1200.0 * log2(hz2 / expected);
            }
        }
    }
    /* Dropouts inside the sound (reported below). It follows the note from its attack: the
     * period read right after the attack (a plucked string sounds sharper while loud than
     * in its sustain), else the note's. */
    qc_dropouts_t drop;
    double period = track_hz > 0 ? rate / track_hz : cfg->pitch_check ? rate / expected : 0;
    a->dropouts = qc_find_dropouts(&t, onset, a->release_end, note_off, period, cfg->pitch_check,
                                   &clip, &drop);
    /* One lost block inside the steady part shifts the phase in the window that holds it,
     * and that window reads the note a few cents off the others: the tuning is read again
     * on the longer side of the damage, S_DAMAGE_CLEAR_MS clear of it. The take is failed
     * for the dropout anyway; its pitch is the instrument's, not the damage's. */
    if (tuning_unsure && a->dropouts == 1 && drop.first > p_from && drop.first < p_to) {
        const int64_t clear = (int64_t)llround(S_DAMAGE_CLEAR_MS * rate / 1000.0);
        int64_t lo = p_from, hi = drop.first - clear;
        if (p_to - (drop.first + clear) > hi - lo)
            lo = drop.first + clear, hi = p_to;
        qc_pitch_t sp;
        double hz = hi - lo >= 40 * ms ? qc_steady_pitch(&t, lo, hi, expected, &sp) : 0;
        if (hz > 0 && sp.spread_cents <= S_TUNE_SPREAD_CENTS) {
            tuning_unsure = false;
            spread = sp.spread_cents;
            a->pitch_hz = hz;
            a->pitch_confidence = sp.confidence;
            a->pitch_cents = 1200.0 * log2(hz / expected);
        }
    }

    /* Pitch policy: within a semitone of the note played is the instrument's tuning (a
     * drifting analog synth, a stretched piano): kept, warned with its cents, corrected
     * on export with --tune. An octave off is a 16' stop, a sub-oscillator or a strong
     * subharmonic: warned, the user's call. Anything else heard clearly (NSDF peak at
     * least DSP_SURE_PITCH) is a different note: fail; heard vaguely, a warning. */
    if (a->pitch_hz > 0) {
        double off = a->pitch_cents - 1200.0 * round(a->pitch_cents / 1200.0);
        if (fabs(off) < cfg->pitch_fail_cents)
            a->tuning_cents = tuning_unsure ? NAN : off;
    }
    a->pitch_checked = cfg->pitch_check;
    if (cfg->pitch_check) {
        char name[BB_NOTE_NAME_MAX], heard[BB_NOTE_NAME_MAX];
        bb_note_name(info->note, cfg->notes, name, sizeof name);
        double c = a->pitch_cents;
        if (a->pitch_hz <= 0) {
            dsp_analysis_reason(a, DSP_WARN, "pitch: no clear pitch found near %s (%.1f Hz)", name,
                                expected);
        } else if (fabs(c) < cfg->pitch_fail_cents) {
            if (!isfinite(a->tuning_cents))
                dsp_analysis_reason(a, DSP_WARN,
                                    "tuning: unsure, %s plays about %+.0f cents (%.1f Hz) but the "
                                    "steady part's windows read %.1f cents apart; no tune "
                                    "correction written for it",
                                    name, c, a->pitch_hz, spread);
            else if (fabs(c) > cfg->pitch_warn_cents)
                dsp_analysis_reason(a, DSP_WARN,
                                    "tuning: %s plays %+.0f cents (%.1f Hz); kept as the "
                                    "instrument's tuning",
                                    name, c, a->pitch_hz);
        } else if (fabs(fabs(c) - 1200.0) < cfg->pitch_fail_cents) {
            dsp_analysis_reason(a, DSP_WARN, "pitch: heard an octave %s %s (%.1f Hz, %+.0f cents)",
                                c < 0 ? "below" : "above", name, a->pitch_hz,
                                c - 1200.0 * round(c / 1200.0));
        } else if (a->pitch_confidence < DSP_SURE_PITCH) {
            dsp_analysis_reason(a, DSP_WARN,
                                "pitch: unclear near %s (heard %.1f Hz, %+.0f cents, with "
                                "confidence %.2f only)",
                                name, a->pitch_hz, c, a->pitch_confidence);
        } else {
            int n = info->note + (int)lround(c / 100.0);
            bb_note_name(n < 0 ? 0 : n > 127 ? 127 : n, cfg->notes, heard, sizeof heard);
            dsp_analysis_reason(a, DSP_FAIL,
                                "wrong note: heard %s %+.0f cents (%.1f Hz) for %s (%.1f Hz)",
                                heard, c - 100.0 * lround(c / 100.0), a->pitch_hz, name, expected);
        }
    }

    /* (an octave off; an unpitched instrument's take is not warned for its tuning) */
    if (cfg->pitch_check && a->pitch_hz > 0 && !isfinite(a->tuning_cents) &&
        fabs(a->pitch_cents) >= cfg->pitch_fail_cents)
        dsp_analysis_reason(a, DSP_WARN,
                            "tuning: unsure, the steady part's windows read %.1f cents apart; "
                            "no tune correction written for it",
                            spread);

    /* Dropouts inside the sound (found above), and what the node reported. */
    _Static_assert(DSP_JUMPS_KEPT == QC_JUMPS_KEPT, "one count of kept jumps");
    for (int k = 0; k < drop.n_jump_at; k++)
        a->jump_ms[a->n_jump_ms++] = (double)(drop.jump_at[k] - note_on) * 1000.0 / rate;
    if (drop.end_step >= 0)
        dsp_analysis_reason(a, DSP_WARN,
                            "release: the sound stops with a step to the floor at %.1f ms, from "
                            "%.0f dB over it (a click at the sample's end)",
                            (double)(drop.end_step - onset) * 1000.0 / rate, drop.end_step_db);
    if (a->dropouts > 0) {
        /* a run or a block has a length; a splice, the frames its waveform skips (modulo
         * the period: a whole period more or less looks the same), when measured */
        char what[160];
        const char *more = a->dropouts > 1 ? " and more" : "";
        double at_ms = (double)(drop.first - onset) * 1000.0 / rate;
        if (drop.first_period > 0)
            snprintf(what, sizeof what,
                     "%s (the waveform skips %lld frames, or that and whole periods of %lld)",
                     drop.first_what, (long long)drop.first_len, (long long)drop.first_period);
        else if (drop.first_len > 1)
            snprintf(what, sizeof what, "%s (%lld frames, %.1f ms)", drop.first_what,
                     (long long)drop.first_len, (double)drop.first_len * 1000.0 / rate);
        else
            snprintf(what, sizeof what, "%s (audio lost or spliced)", drop.first_what);
        dsp_analysis_reason(a, DSP_FAIL, "dropout: %s at %.1f ms%s", what, at_ms, more);
    }
    if (info->xruns > 0)
        dsp_analysis_reason(a, DSP_FAIL, "dropout: the node lost %u block(s) (overload)",
                            info->xruns);

    double dc_max = 0;
    for (int c = 0; c < ch; c++)
        if (fabs(a->dc[c]) > dc_max)
            dc_max = fabs(a->dc[c]);
    if (dc_max > 0.01)
        dsp_analysis_reason(a, DSP_WARN, "DC offset of %.1f dBFS (removed)", qc_db(dc_max));
    /* An offset that comes and goes with the note cannot be subtracted; say so, and what
     * it may be: an asymmetric waveform has its own (a 25 % pulse wave's mean is half its
     * height), an analog stage that shifts with the note is a fault. Clipped takes are
     * off-centre anyway and already failed. */
    if (fabs(sound_dc) > 0.02 && a->clip_runs == 0)
        dsp_analysis_reason(a, DSP_WARN,
                            "DC offset of %.1f dBFS while the note sounds, kept as recorded: "
                            "the waveform's own if it is asymmetric (a narrow pulse wave), "
                            "else check the output stage for an offset that follows the note",
                            qc_db(fabs(sound_dc)));
    if (a->snr_db < cfg->low_snr_db)
        dsp_analysis_reason(a, DSP_WARN, "low signal-to-noise ratio: %.1f dB", a->snr_db);
    if (info->release_capped && a->release_end >= a->cut_end &&
        qc_rms(&t, a->release_end - 10 * ms, a->release_end) >
            t.noise_rms * pow(10.0, cfg->end_above_noise_db / 20.0))
        dsp_analysis_reason(a, DSP_WARN, "release cut at the plan's maximum while still sounding");

    /* Loop in the sustain: from 100 ms after the onset to 50 ms before the note-off. */
    if (cfg->loop && a->pitch_hz > 0 && note_off > onset) {
        int64_t from = onset + 100 * ms;
        int64_t to = note_off - 50 * ms;
        qc_loop_t lp = {0};
        int64_t min_len = (int64_t)llround(cfg->loop_min_ms * rate / 1000.0);
        int64_t xf = (int64_t)llround(cfg->loop_crossfade_ms * rate / 1000.0);
        double min_seam = xf > 0 ? pow(10.0, -cfg->loop_max_xfade_db / 20.0) : cfg->loop_min_seam;
        bool found = to > from && qc_find_loop(&t, from, to, rate / a->pitch_hz, min_len, min_seam,
                                               cfg->loop_max_change_db, xf, &lp);
        a->loop_score = lp.score;
        a->loop_seam = lp.seam;
        a->loop_change_db = lp.change_db;
        a->loop_tone_db = lp.tone_db;
        double len_ms = (double)(lp.end + 1 - lp.start) * 1000.0 / rate;
        if (!found) {
            if (xf > 0)
                dsp_analysis_reason(a, DSP_WARN,
                                    "no clean loop found (best crossfaded seam %.2f: level or "
                                    "tone %.1f dB off across the %.0f ms crossfade)",
                                    lp.seam, lp.xfade_db, cfg->loop_crossfade_ms);
            else
                dsp_analysis_reason(a, DSP_WARN, "no clean loop found (best seam match %.2f)",
                                    lp.seam);
        } else if (fabs(lp.change_db) > cfg->loop_max_change_db && !cfg->loop_force) {
            a->loop_refused = true;
            dsp_analysis_reason(a, DSP_WARN,
                                "loop refused: the level %s %.1f dB over the best loop (%.0f ms, "
                                "score %.2f); more than %.1f dB pumps at the loop rate (force "
                                "it with --loop-force)",
                                lp.change_db < 0 ? "falls" : "rises", fabs(lp.change_db), len_ms,
                                lp.score, cfg->loop_max_change_db);
        } else {
            a->has_loop = true;
            a->loop_start = lp.start;
            a->loop_end = lp.end;
            a->loop_crossfade = xf < (lp.end - lp.start) / 2 ? xf : (lp.end - lp.start) / 2;
            if (a->cut_end <= lp.end) /* the loop must be inside the sample */
                a->cut_end = a->release_end = lp.end + 1;
            if (fabs(lp.change_db) > cfg->loop_max_change_db)
                dsp_analysis_reason(a, DSP_WARN,
                                    "loop forced: it pumps %.1f dB at the loop rate (%.0f ms, "
                                    "score %.2f)",
                                    fabs(lp.change_db), len_ms, lp.score);
        }
    }
    return 0;
}

char *dsp_analysis_json(const dsp_analysis_t *a)
{
    json_t *dc = json_array(), *noise = json_array();
    for (int c = 0; dc && noise && c < a->channels && c < DSP_MAX_CHANNELS; c++) {
        json_array_append_new(dc, bb_json_real(a->dc[c]));
        json_array_append_new(noise, bb_json_real(a->noise_ch_db[c]));
    }
    json_error_t je;
    /* "o" steals dc and noise, also when the pack fails */
    json_t *doc = json_pack_ex(
        &je, 0,
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o,"
        " s:o, s:o, s:I, s:I, s:b, s:I, s:I, s:o, s:I, s:i, s:s}",
        "onset", (json_int_t)a->onset, "release_end", (json_int_t)a->release_end, "cut_start",
        (json_int_t)a->cut_start, "cut_end", (json_int_t)a->cut_end, "fade_in",
        (json_int_t)a->fade_in, "fade_out", (json_int_t)a->fade_out, "fade_curve",
        (int)a->fade_curve, "channels", a->channels, "dc", dc, "noise_ch_db", noise, "noise_db",
        bb_json_real(a->noise_db), "peak_db", bb_json_real(a->peak_db), "rms_db",
        bb_json_real(a->rms_db), "snr_db", bb_json_real(a->snr_db), "duration_s",
        bb_json_real(a->duration_s), "clip_runs", (json_int_t)a->clip_runs, "pitch_hz",
        bb_json_real(a->pitch_hz), "pitch_cents", bb_json_real(a->pitch_cents), "pitch_confidence",
        bb_json_real(a->pitch_confidence), "dropouts", (json_int_t)a->dropouts, "xruns",
        (json_int_t)a->xruns, "has_loop", (int)a->has_loop, "loop_start", (json_int_t)a->loop_start,
        "loop_end", (json_int_t)a->loop_end, "loop_score", bb_json_real(a->loop_score),
        "loop_crossfade", (json_int_t)a->loop_crossfade, "verdict", (int)a->verdict, "reasons",
        a->reasons);
    if (!doc)
        return NULL;
    json_t *jumps = json_array();
    for (int k = 0; jumps && k < a->n_jump_ms && k < DSP_JUMPS_KEPT; k++)
        json_array_append_new(jumps, bb_json_real(a->jump_ms[k]));
    /* what issue 10 added: the onset's evidence, tuning, clipping level, loop judgement;
     * jump_ms first: json_object_set_new takes it also when it fails */
    if (json_object_set_new(doc, "jump_ms", jumps) ||
        json_object_set_new(doc, "note_on", json_integer(a->note_on)) ||
        json_object_set_new(doc, "rate", json_integer(a->rate)) ||
        json_object_set_new(doc, "onset_present", json_integer(a->onset_present)) ||
        json_object_set_new(doc, "onset_foot", json_integer(a->onset_foot)) ||
        json_object_set_new(doc, "attack_clear", json_boolean(a->attack_clear)) ||
        json_object_set_new(doc, "onset_source", json_integer(a->onset_source)) ||
        json_object_set_new(doc, "clip_db", bb_json_real(a->clip_db)) ||
        json_object_set_new(doc, "tuning_cents", bb_json_real(a->tuning_cents)) ||
        json_object_set_new(doc, "loop_seam", bb_json_real(a->loop_seam)) ||
        json_object_set_new(doc, "loop_change_db", bb_json_real(a->loop_change_db)) ||
        json_object_set_new(doc, "loop_tone_db", bb_json_real(a->loop_tone_db)) ||
        json_object_set_new(doc, "loop_refused", json_boolean(a->loop_refused)) ||
        json_object_set_new(doc, "fails", json_integer(a->fails))) {
        json_decref(doc);
        return NULL;
    }
    char *out = bb_json_text(doc, BB_JSON_COMPACT_EXACT);
    json_decref(doc);
    return out;
}

int dsp_analysis_from_json(const char *json, dsp_analysis_t *a)
{
    memset(a, 0, sizeof *a);
    json_t *doc = NULL;
    if (!json || bb_json_load(&doc, json, strlen(json), NULL, 0))
        return BB_EINVAL;
    int64_t v;
    double d;
    bool b;
    const char *s;
#define GETI(k)                                                                                    \
    if (bb_json_get_int(doc, #k, &v) == 0)                                                         \
    a->k = v
#define GETD(k)                                                                                    \
    if (bb_json_get_number(doc, #k, &d) == 0)                                                      \
    a->k = d
    GETI(note_on);
    GETI(rate);
    GETI(onset);
    GETI(onset_present);
    a->onset_foot = -1; /* not in the JSON of older versions */
    GETI(onset_foot);
    GETI(onset_source);
    GETI(release_end);
    GETI(cut_start);
    GETI(cut_end);
    GETI(fade_in);
    GETI(fade_out);
    GETI(fade_curve);
    GETI(channels);
    GETD(noise_db);
    GETD(peak_db);
    GETD(rms_db);
    GETD(snr_db);
    if (json_is_null(json_object_get(doc, "noise_db"))) /* written when the floor was unknown */
        a->noise_db = a->snr_db = NAN;
    GETD(duration_s);
    GETI(clip_runs);
    GETD(clip_db);
    GETD(pitch_hz);
    GETD(pitch_cents);
    GETD(tuning_cents);
    if (json_is_null(json_object_get(doc, "tuning_cents")))
        a->tuning_cents = NAN; /* unsure: written as null */
    GETD(pitch_confidence);
    GETI(dropouts);
    GETI(xruns);
    GETI(loop_start);
    GETI(loop_end);
    GETD(loop_score);
    GETD(loop_seam);
    GETD(loop_change_db);
    GETD(loop_tone_db);
    GETI(loop_crossfade);
    GETI(verdict);
    GETI(fails);
#undef GETI
#undef GETD
    if (a->channels < 0 || a->channels > DSP_MAX_CHANNELS)
        a->channels = 0;
    const json_t *arr = json_object_get(doc, "dc");
    for (size_t i = 0; i < json_array_size(arr) && i < (size_t)a->channels; i++)
        a->dc[i] = json_number_value(json_array_get(arr, i));
    arr = json_object_get(doc, "jump_ms");
    for (size_t i = 0; i < json_array_size(arr) && i < DSP_JUMPS_KEPT; i++)
        a->jump_ms[a->n_jump_ms++] = json_number_value(json_array_get(arr, i));
    arr = json_object_get(doc, "noise_ch_db");
    for (size_t i = 0; i < json_array_size(arr) && i < (size_t)a->channels; i++)
        a->noise_ch_db[i] = json_number_value(json_array_get(arr, i));
    if (bb_json_get_bool(doc, "has_loop", &b) == 0)
        a->has_loop = b;
    if (bb_json_get_bool(doc, "loop_refused", &b) == 0)
        a->loop_refused = b;
    if (bb_json_get_bool(doc, "attack_clear", &b) == 0)
        a->attack_clear = b;
    if (bb_json_get_string(doc, "reasons", &s) == 0)
        snprintf(a->reasons, sizeof a->reasons, "%s", s);
    json_decref(doc);
    return 0;
}
