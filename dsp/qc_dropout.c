/*
 * qc_dropout.c — audio that went missing or came twice inside the sound, told from the
 * waveform's own edges.
 *
 * A dropout is damage between the instrument and the file: a lost block replaced by
 * zeros, a frozen converter holding one value, a driver repeating its last buffer, or a
 * lost block spliced out so the waveform jumps. Music has edges too (a sawtooth falls
 * by its full height once a period, a pulse twice, a supersaw fourteen times), but they
 * recur with the note; damage happens once. Four checks, on the raw samples inside the
 * sound [from, to):
 *
 * 1. Zeros: a run of at least S_MIN_RUN_MS (and 8 frames) where every channel is exactly
 *    zero, with the sound clearly present just before it. Behind a real converter and an
 *    analog noise floor, no sound is exactly zero for that long.
 * 2. Held values: a run as long where every channel repeats its previous value exactly,
 *    away from the take's flat tops (those are clipping, qc_level.c).
 * 3. Repeated blocks: a run of at least 16 frames equal, on every channel and to the bit,
 *    to the frames one audio period earlier, for the period sizes audio drivers use
 *    (S_LAGS). Checked every 16th frame, then extended. Skipped when the pre-roll is
 *    digital silence: without noise, a digital oscillator can repeat itself exactly.
 * 4. Jumps: a bend (second difference x[i] - 2 x[i-1] + x[i-2], what a step adds to a
 *    smooth curve) S_LOCAL times sharper than any of the previous millisecond and far
 *    above the noise's own bends, that
 *    - is not a new attack (the level after it is not S_ATTACK_RATIO above the level
 *      before it) and bends at least a tenth of the sound's RMS around it (a kink 20 dB
 *      under the note is the instrument's, not a lost block),
 *    - does not recur at the note's period: nowhere within +-(6 % + 2 frames) of one or
 *      two periods before or after it does the waveform bend (second difference) at
 *      least 35 % as sharply as within two frames of it (vibrato, PWM and a supersaw's
 *      detuned voices move their edges by less than that per period; the largest bend
 *      near it, so an edge spread over a few samples or two voices' edges meeting still
 *      match; a splice into a smooth curve bends it once),
 *    - and is not one of the waveform's major edges: a bend at least half the sharpest
 *      within 2.2 periods either side, with another of the same sign and at least 70 %
 *      as sharp at least half a period away (a PWM edge at a low note moves too far
 *      between periods for the first test, but comes back as sharp).
 *    A splice inside a ramp or a curve fails all three; an edge of the waveform passes one.
 *    Two jumps whose surroundings bend alike (correlation of the second differences over
 *    +-24 frames at least 0.9 on every channel) are the instrument's own click, a sample
 *    loop's seam coming round again: counted apart, not a dropout.
 * The first S_ATTACK_SKIP_MS after the onset are not searched for jumps (attacks jump).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qc.h"

#define S_MIN_RUN_MS     0.33 /* zeros and held values: shortest run (16 frames at 48 kHz) */
#define S_MIN_RUN_FRAMES 8
#define S_REPEAT_MIN     16  /* repeated block: shortest run of equal frames */
#define S_REPEAT_STRIDE  16  /* checked every this many frames (<= S_REPEAT_MIN) */
#define S_LOCAL          4.0 /* a jump bends this much more than the last millisecond did */
#define S_NOISE_STEPS    8.0 /* ... and this much larger than the noise's bend RMS */
#define S_ATTACK_RATIO   4.0 /* RMS after / before (12 dB): a new attack, not a jump */
#define S_MIN_SHARE      0.1 /* a jump bends at least this share of the sound's RMS */
#define S_ATTACK_SKIP_MS 5.0
/* a run counts where the 5 ms before it is this far above the floor */
#define S_PRESENT_RATIO     4.0
#define S_RECUR_FRAC        0.06 /* an edge may move this much of a period per period */
#define S_RECUR_SHARE       0.35 /* ... and come back this much of the height (voices merge) */
#define S_EDGE_SHARE        0.7  /* a major edge recurs at least this large */
#define S_EVENT_GAP_MS      10.0 /* one event, not every sample of it */
#define S_SAME_FRAMES       8    /* a jump this close to a run is the run's edge */
#define S_MAX_EVENTS        64   /* events kept per take (the count stops there) */
#define S_CLICK_HALF        24   /* frames either side compared between two clicks ... */
#define S_CLICK_ALIKE       0.9  /* ... and the correlation that makes them the same click */
#define S_DEFAULT_PERIOD_MS 10.0

static const int s_lags[] = {16,  24,  32,  48,  64,  96,   128,  160, 192,
                             256, 384, 480, 512, 960, 1024, 2048, 4096};

/* Events as found; a jump at the edge of a run of zeros, a held value or a repeated block
 * is that run's edge, not an event of its own. */
typedef enum { S_ZEROS = 0, S_HELD, S_REPEAT, S_JUMP, S_OWN } s_kind_t;
static const char *const s_kind_names[] = {"a run of zeros", "a held value", "a repeated block",
                                           "a jump"};

typedef struct {
    int64_t at, len;
    s_kind_t kind;
} s_event_t;

typedef struct {
    s_event_t ev[S_MAX_EVENTS];
    int n;
} s_events_t;

static void s_found(s_events_t *e, int64_t at, int64_t len, s_kind_t kind)
{
    if (e->n < S_MAX_EVENTS)
        e->ev[e->n++] = (s_event_t){.at = at, .len = len, .kind = kind};
}

/* The step x[i] - x[i-1] of channel c. */
static inline double s_step(const qc_take_t *t, int64_t i, int c)
{
    return (double)t->x[i * t->ch + c] - (double)t->x[(i - 1) * t->ch + c];
}

/* Normalised correlation of the bends (second differences) of channel c around a and b,
 * the best over +-2 frames of shift. */
static double s_click_match(const qc_take_t *t, int c, int64_t a, int64_t b, int64_t lo, int64_t hi)
{
    double best = 0;
    for (int sh = -2; sh <= 2; sh++) {
        double sab = 0, saa = 0, sbb = 0;
        for (int k = -S_CLICK_HALF; k <= S_CLICK_HALF; k++) {
            int64_t i = a + k, j = b + k + sh;
            if (i < lo + 2 || j < lo + 2 || i >= hi || j >= hi)
                continue;
            const float *x = t->x + i * t->ch + c, *y = t->x + j * t->ch + c;
            double u = (double)x[0] - 2.0 * x[-t->ch] + x[-2 * t->ch];
            double v = (double)y[0] - 2.0 * y[-t->ch] + y[-2 * t->ch];
            sab += u * v, saa += u * u, sbb += v * v;
        }
        double r = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
        best = r > best ? r : best;
    }
    return best;
}

static void s_tally(const qc_take_t *t, s_events_t *e, int64_t lo, int64_t hi, qc_dropouts_t *out)
{
    /* A click the instrument makes itself (a sample loop's seam) comes back the same: two
     * jumps whose surroundings bend alike on every channel are the sound's own. */
    bool own[S_MAX_EVENTS] = {false};
    for (int i = 0; i < e->n; i++)
        for (int k = i + 1; k < e->n && e->ev[i].kind == S_JUMP; k++) {
            if (e->ev[k].kind != S_JUMP)
                continue;
            bool alike = true;
            for (int c = 0; c < t->ch && alike; c++)
                alike = s_click_match(t, c, e->ev[i].at, e->ev[k].at, lo, hi) >= S_CLICK_ALIKE;
            if (alike)
                own[i] = own[k] = true;
        }
    for (int i = 0; i < e->n; i++)
        if (own[i]) {
            out->own_clicks++;
            e->ev[i].kind = S_OWN;
        }

    for (int i = 0; i < e->n; i++) {
        const s_event_t *v = &e->ev[i];
        if (v->kind == S_OWN) {
            continue;
        } else if (v->kind == S_JUMP) {
            bool edge = false;
            for (int k = 0; k < e->n && !edge; k++)
                edge = e->ev[k].kind < S_JUMP &&
                       (llabs(v->at - e->ev[k].at) <= S_SAME_FRAMES ||
                        llabs(v->at - (e->ev[k].at + e->ev[k].len)) <= S_SAME_FRAMES);
            if (edge)
                continue;
            out->jumps++;
        } else if (v->kind == S_ZEROS) {
            out->zero_runs++;
        } else if (v->kind == S_HELD) {
            out->held_runs++;
        } else {
            out->repeats++;
        }
        if (out->first < 0 || v->at < out->first) {
            out->first = v->at;
            out->first_len = v->len;
            out->first_what = s_kind_names[v->kind];
        }
    }
}

/* Largest |x[j] - 2 x[j-1] + x[j-2]| of channel c over [a, b], clamped to [lo + 2, hi). */
static double s_bend(const qc_take_t *t, int c, int64_t a, int64_t b, int64_t lo, int64_t hi)
{
    if (a < lo + 2)
        a = lo + 2;
    if (b >= hi)
        b = hi - 1;
    double m = 0;
    for (int64_t j = a; j <= b; j++) {
        const float *x = t->x + j * t->ch + c;
        double v = fabs((double)x[0] - 2.0 * x[-t->ch] + (double)x[-2 * t->ch]);
        m = v > m ? v : m;
    }
    return m;
}

/* x[i] - 2 x[i-1] + x[i-2] of channel c. */
static inline double s_signed_bend(const qc_take_t *t, int c, int64_t i)
{
    const float *x = t->x + i * t->ch + c;
    return (double)x[0] - 2.0 * x[-t->ch] + (double)x[-2 * t->ch];
}

/* Largest bend of sign `sign` (magnitude) of channel c over [a, b], clamped to
 * [lo + 2, hi). */
static double s_max_bend(const qc_take_t *t, int c, int64_t a, int64_t b, int64_t lo, int64_t hi,
                         int sign)
{
    if (a < lo + 2)
        a = lo + 2;
    if (b >= hi)
        b = hi - 1;
    double m = 0;
    for (int64_t j = a; j <= b; j++) {
        double v = sign * s_signed_bend(t, c, j);
        m = v > m ? v : m;
    }
    return m;
}

/* Whether the step at i on channel c is the waveform's, not damage (rules of check 4).
 * Rarely reached: kept out of the per-sample loop. */
static __attribute__((noinline)) bool s_explained(const qc_take_t *t, int c, int64_t i,
                                                  double period, int64_t lo, int64_t hi)
{
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    /* a new attack: the level rises and stays */
    double before = qc_rms(t, i - 2 * ms, i), after = qc_rms(t, i, i + 2 * ms);
    if (after > S_ATTACK_RATIO * before)
        return true;
    /* too small against the sound to be a lost block (a kink in the instrument's own
     * sample, a little glitch 20 dB under the note) */
    double bend = fabs(s_step(t, i, c) - s_step(t, i - 1, c));
    if (bend < S_MIN_SHARE * fmax(before, after))
        return true;
    /* recurs at the period: the waveform bends as sharply (second difference, the part of
     * a step a smooth curve does not explain) somewhere around one or two periods before
     * or after; the largest bend within two frames, so an edge spread over a few samples
     * or two voices' edges meeting still match */
    const double height = s_bend(t, c, i - 2, i + 2, lo, hi);
    for (int m = -2; m <= 2; m++) {
        if (m == 0)
            continue;
        int64_t w = (int64_t)ceil(S_RECUR_FRAC * abs(m) * period) + 2;
        int64_t c0 = (int64_t)llround((double)i + m * period);
        if (s_bend(t, c, c0 - w, c0 + w, lo, hi) >= S_RECUR_SHARE * height)
            return true;
    }
    /* a major edge: among the sharpest bends around, and another like it (same sign, at
     * least S_EDGE_SHARE as sharp) at least half a period away */
    const double b = s_signed_bend(t, c, i);
    int64_t span = (int64_t)ceil(2.2 * period);
    double around =
        fmax(s_bend(t, c, i - span, i - 3, lo, hi), s_bend(t, c, i + 3, i + span, lo, hi));
    if (fabs(b) >= 0.5 * around) {
        int64_t half = (int64_t)ceil(0.5 * period);
        int dir = b > 0 ? 1 : -1;
        if (s_max_bend(t, c, i - span, i - half, lo, hi, dir) >= S_EDGE_SHARE * fabs(b) ||
            s_max_bend(t, c, i + half, i + span, lo, hi, dir) >= S_EDGE_SHARE * fabs(b))
            return true;
    }
    return false;
}

/* 1, 2 and 4 in one pass: zeros, held values and jumps. The last millisecond's sharpest
 * bend per channel comes from block maxima: S_BLOCKS blocks of ms / S_BLOCKS frames plus
 * the block being filled. Inlined for each channel count (below), so that the per-channel
 * state lives in registers: this loop touches every sample of every take. */
#define S_BLOCKS 4
static inline __attribute__((always_inline)) void
s_one_pass(const qc_take_t *t, const int ch, int64_t from, int64_t to, double period,
           const qc_clip_t *clip, int64_t min_run, double floor, s_events_t *ev)
{
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    const int64_t bs = ms / S_BLOCKS > 0 ? ms / S_BLOCKS : 1;
    double bmax[DSP_MAX_CHANNELS][S_BLOCKS] = {{0}}, cur[DSP_MAX_CHANNELS] = {0};
    double wmax[DSP_MAX_CHANNELS] = {0}; /* largest of bmax[c] */
    double guard[DSP_MAX_CHANNELS];
    float hi[DSP_MAX_CHANNELS], lo[DSP_MAX_CHANNELS];
    for (int c = 0; c < ch; c++) {
        guard[c] =
            S_NOISE_STEPS * sqrt(6.0 * (t->noise_ch_sq[c] > 1e-14 ? t->noise_ch_sq[c] : 1e-14));
        hi[c] = clip->hi[c];
        lo[c] = clip->lo[c];
    }
    const int64_t start = from + (int64_t)(S_ATTACK_SKIP_MS * ms);
    int64_t next_ok = start;
    int bi = 0;
    int64_t in_block = 0, zero = 0, held = 0;
    for (int64_t i = from + 1; i <= to; i++) {
        bool z = i < to, h = i < to;
        if (i < to) {
            const float *f = t->x + i * ch, *p = f - ch;
#pragma GCC unroll 2
            for (int c = 0; c < ch; c++) {
                float v = f[c];
                z = z && v == 0.0f;
                h = h && v == p[c] && v < hi[c] && v > lo[c];
                double ad = fabs((double)v - 2.0 * p[c] + (double)p[c - ch]); /* bend */
                if (ad > guard[c] && ad > S_LOCAL * wmax[c] && ad > S_LOCAL * cur[c] &&
                    i >= next_ok) {
                    if (!s_explained(t, c, i, period, from, to)) {
                        s_found(ev, i, 1, S_JUMP);
                        next_ok = i + (int64_t)(S_EVENT_GAP_MS * ms);
                    }
                }
                if (ad > cur[c])
                    cur[c] = ad;
            }
            if (++in_block == bs) {
                for (int c = 0; c < ch; c++) {
                    bmax[c][bi] = cur[c];
                    cur[c] = 0;
                    wmax[c] = 0;
                    for (int k = 0; k < S_BLOCKS; k++)
                        wmax[c] = bmax[c][k] > wmax[c] ? bmax[c][k] : wmax[c];
                }
                bi = (bi + 1) % S_BLOCKS;
                in_block = 0;
            }
        }
        if (z) {
            zero++;
        } else {
            if (zero >= min_run &&
                qc_rms(t, i - zero - 5 * ms, i - zero) > S_PRESENT_RATIO * floor) {
                s_found(ev, i - zero, zero, S_ZEROS);
            }
            zero = 0;
        }
        if (h && !z) {
            held++;
        } else {
            /* a held run of n repeats is n + 1 equal frames */
            if (held + 1 >= min_run &&
                qc_rms(t, i - held - 5 * ms, i - held) > S_PRESENT_RATIO * floor) {
                s_found(ev, i - held - 1, held + 1, S_HELD);
            }
            held = 0;
        }
    }
}

/* s_one_pass with the channel count a constant for mono and stereo. */
static void s_one_pass_any(const qc_take_t *t, int ch, int64_t from, int64_t to, double period,
                           const qc_clip_t *clip, int64_t min_run, double floor, s_events_t *ev)
{
    if (ch == 2)
        s_one_pass(t, 2, from, to, period, clip, min_run, floor, ev);
    else if (ch == 1)
        s_one_pass(t, 1, from, to, period, clip, min_run, floor, ev);
    else
        s_one_pass(t, ch, from, to, period, clip, min_run, floor, ev);
}

int qc_find_dropouts(const qc_take_t *t, int64_t from, int64_t to, double period,
                     const qc_clip_t *clip, qc_dropouts_t *out)
{
    memset(out, 0, sizeof *out);
    out->first = -1;
    s_events_t ev;
    ev.n = 0;
    const int ch = t->ch;
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    const double floor = t->noise_rms > 1e-7 ? t->noise_rms : 1e-7;
    int64_t min_run = (int64_t)llround(S_MIN_RUN_MS * t->rate / 1000.0);
    if (min_run < S_MIN_RUN_FRAMES)
        min_run = S_MIN_RUN_FRAMES;
    if (from < 1)
        from = 1;
    if (to > t->frames)
        to = t->frames;
    if (period < 2)
        period = S_DEFAULT_PERIOD_MS * t->rate / 1000.0;

    /* 3: repeated blocks (never on a take without noise) */
    if (t->noise_rms > 0) {
        for (int64_t i = from + S_REPEAT_STRIDE; i < to; i += S_REPEAT_STRIDE) {
            for (size_t k = 0; k < sizeof s_lags / sizeof s_lags[0]; k++) {
                int64_t lag = s_lags[k];
                if (i - lag < from || t->x[i * ch] != t->x[(i - lag) * ch])
                    continue;
                int64_t a = i, b = i;
                bool flat = true;
                for (;;) {
                    bool eq = a - 1 - lag >= from;
                    for (int c = 0; c < ch && eq; c++)
                        eq = t->x[(a - 1) * ch + c] == t->x[(a - 1 - lag) * ch + c];
                    if (!eq)
                        break;
                    a--;
                }
                for (;;) {
                    bool eq = b < to;
                    for (int c = 0; c < ch && eq; c++)
                        eq = t->x[b * ch + c] == t->x[(b - lag) * ch + c];
                    if (!eq)
                        break;
                    b++;
                }
                for (int64_t j = a + 1; j < b && flat; j++)
                    flat = t->x[j * ch] == t->x[a * ch];
                if (b - a >= S_REPEAT_MIN && !flat) { /* flat runs are zeros or held */
                    s_found(&ev, a, b - a, S_REPEAT);
                    i = b + (int64_t)(S_EVENT_GAP_MS * ms); /* past it */
                    break;
                }
            }
        }
    }

    s_one_pass_any(t, ch, from, to, period, clip, min_run, floor, &ev);
    s_tally(t, &ev, from, to, out);
    return out->zero_runs + out->held_runs + out->repeats + out->jumps;
}
