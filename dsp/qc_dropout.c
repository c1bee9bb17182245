/*
 * qc_dropout.c — audio that went missing or came twice inside the sound, told from the
 * waveform's own edges and periods.
 *
 * A dropout is damage between the instrument and the file: a lost block replaced by
 * zeros, a frozen converter holding one value, a driver repeating its last buffer, or a
 * lost block spliced out so the waveform jumps. Music has edges too (a sawtooth falls
 * by its full height once a period, a pulse twice, a supersaw fourteen times), but they
 * recur with the note; damage happens once. Five checks, on the raw samples inside the
 * sound [from, to):
 *
 * 1. Zeros: a run of at least S_MIN_RUN_MS (and 8 frames) where every channel is exactly
 *    zero, with the sound clearly present just before it. Behind a real converter and an
 *    analog noise floor, no sound is exactly zero for that long: in a take with analog
 *    noise (its pre-roll's floor S_NOISY_STEPS steps of the grid or more) the run counts
 *    wherever that noise stands on both sides of it, however quiet the note there (a soft
 *    high note, a decayed tail, a swell's foot: a node's lost block is zeros in the
 *    recorded signal, noise and all, and is lost audio however little of the note it
 *    held); see s_run_lost.
 * 2. Held values: a run as long where every channel repeats its previous value exactly,
 *    away from the take's flat tops (those are clipping, qc_level.c); in a noisy take as
 *    for zeros.
 *    A digital recording (integer samples, t->quantum; no analog noise to dither it) holds
 *    one value wherever the signal moves less than a step: a quiet tail, a slow crest. So
 *    there a run of zeros or held values counts only when the waveform steps onto it or
 *    off it by more than S_RUN_STEPS steps (s_run_steps), and "present" is judged against
 *    at least the rounding noise of the take's grid and of a 16-bit file
 *    (qc_noise_sq_at_least).
 * 3. Repeated blocks: a run of at least 16 frames equal, on every channel and to the bit,
 *    to the frames one audio period earlier, for the period sizes audio drivers use
 *    (S_LAGS). Checked every 16th frame, then extended. Skipped when the pre-roll is
 *    digital silence: without noise, a digital oscillator can repeat itself exactly. On a
 *    grid, a block spanning S_REPEAT_STEPS steps or fewer repeats by chance and is not
 *    counted.
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
 *    The noise's bends are those of at least the rounding noise (qc_noise_sq_at_least).
 *    Two jumps whose surroundings bend alike (correlation of the second differences over
 *    +-24 frames at least 0.9 on every channel) are the instrument's own click, a sample
 *    loop's seam coming round again: counted apart, not a dropout.
 *    A new attack is a rise of 12 dB over 2 ms and of 3.5 dB over a period (2 ms of a low
 *    note is part of one cycle, and a splice from its trough to its crest rises as much).
 * 5. Jumps in phase, in a pitched instrument's note whose period P (frames) the caller
 *    knows (a drum's ring may shift its phase itself): what the waveform's own
 *    recent period predicts. e[j] = x[j] - x[j - P] on every channel (the long-term or
 *    pitch predictor of speech coding, Atal & Schroeder, IEEE Trans. ASSP 27(3), 1979,
 *    with gain 1; a fractional P by linear interpolation between the two frames nearest),
 *    its energy against the note's per block of P / 4 frames (every other frame read). A
 *    block lost from a periodic note shifts its phase: for one period from the splice e
 *    compares the waveform after it with the one before it and stands high, then both
 *    sides lie after the splice and e falls back. So: a period whose e / level is
 *    S_SHIFT_RATIO times that of the two periods before it and of the two after it (or
 *    S_SHIFT_SURE times and at least -4 dB of the note, where the period after it is
 *    the old waveform at another phase at S_PHASE_SURE: a chorused organ's ranks beat,
 *    so its e stands at -9 dB of the note and a half-period skip only 8.5 dB over that;
 *    a sample loop's seam, which also joins the waveform at another phase, stands -5 dB
 *    or lower on the real material measured, and is told by its passes, below), at
 *    least -17 dB under the note, in a note that repeats itself within -7 dB around it
 *    (noise, drums and a slow pad's swell do not, and are not judged here; a decay or a
 *    swell scales e and the level alike). A splice the bends above miss shows here: in a
 *    square wave's flat top, just after a sawtooth's fall, in a high note whose every
 *    millisecond has edges as sharp. It counts only where the period after it is the old
 *    waveform at another phase (the best correlation, at least 0.6, over lags a period to
 *    two back, lies 2 frames or more off whole periods): a sudden change of level or
 *    timbre keeps its phase. A sample loop's seam does the same each time round: jumps in
 *    phase whose e matches (correlation 0.9) or that come a whole number of such a pair's
 *    spacing apart are the sound's own, and so is one whose e comes back anywhere else in
 *    the note (0.9), or at two places evenly spaced with it (0.7: a loop's passes that
 *    differ as the note decays or its filter moves), where the seam's other passes stand
 *    too low to be found.
 *    A lost block of nearly whole periods (64 frames at a period of 21.3 or 32 frames,
 *    or 2 to 3 frames off whole periods with vibrato) leaves the phase where it was: a
 *    splice a listener cannot place either, not found unless it bends (check 4).
 * A jump (4 or 5) after the note-off down to the floor, which stays within 6 dB of the
 * floor to the end of the sound, is the instrument ending its voice (a synth or sampler
 * cutting a released voice some 45 dB down): nothing after it was lost. It is reported
 * apart (end_step), not counted. During the held note the same step is lost signal.
 * The first S_ATTACK_SKIP_MS after the onset are not searched for jumps (attacks jump);
 * check 5 starts a period later still (it reads a period back).
 * The earliest event is then told as what it is (s_describe): damage done before the
 * analog noise (a synth's glitch recorded through its output) leaves no exact zeros or
 * repeats, and a digital take is not searched for repeats, so a jump may be all that found
 * a block at the noise floor ("a silent gap") or a block repeated within the noise; those
 * are placed and measured as the block. A splice is placed where the note's phase changes
 * and measured by how far its waveform skips, modulo the period. This changes no count.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qc.h"

#define S_MIN_RUN_MS          0.33 /* zeros and held values: shortest run (16 frames at 48 kHz) */
#define S_MIN_RUN_FRAMES      8
#define S_RUN_STEPS           2.0 /* a quantised run: entered or left by more steps than this */
#define S_REPEAT_STEPS        8.0 /* a quantised repeated block spans more steps than this */
#define S_REPEAT_MIN          16  /* repeated block: shortest run of equal frames */
#define S_REPEAT_STRIDE       16  /* checked every this many frames (<= S_REPEAT_MIN) */
#define S_LOCAL               4.0 /* a jump bends this much more than the last millisecond did */
#define S_NOISE_STEPS         8.0 /* ... and this much larger than the noise's bend RMS */
#define S_ATTACK_RATIO        4.0 /* RMS after / before (12 dB): a new attack, not a jump */
#define S_ATTACK_PERIOD_RATIO 1.5 /* ... and over a period at least this (3.5 dB) */
#define S_MIN_SHARE           0.1 /* a jump bends at least this share of the sound's RMS */
#define S_ATTACK_SKIP_MS      5.0
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
#define S_NOISY_STEPS       8.0 /* analog noise: a floor this many steps of the grid (24-bit) */
#define S_QUANTUM_24        (1.0 / 8388608.0)
#define S_NOISE_AROUND      0.5 /* ... a run counts where it stands this share on both sides */
/* check 5, jumps in phase */
#define S_MIN_PERIOD    8.0  /* frames: shorter periods (or none given) are not followed */
#define S_SHIFT_BLOCKS  4    /* blocks per period */
#define S_SHIFT_STRIDE  2    /* e and the level read every this many frames */
#define S_SHIFT_RATIO   8.0  /* a period's e / level this many times that around it ... */
#define S_SHIFT_SHARE   0.02 /* ... at least this (-17 dB under the note) ... */
#define S_SHIFT_STEADY  0.2  /* ... in a note that repeats itself within -7 dB around it */
#define S_SHIFT_ONSET   0.25 /* its start: e^2 first at this share of the burst's peak */
#define S_PHASE_READS   128  /* the old waveform at another phase: frames read per period ... */
#define S_PHASE_ALIKE   0.6  /* ... the correlation that makes it the same waveform ... */
#define S_SHIFT_SURE    5.0  /* or a burst this many times (not S_SHIFT_RATIO) ... */
#define S_SURE_SHARE    0.4  /* ... and this large (-4 dB of the note) ... */
#define S_PHASE_SURE    0.9  /* ... where the old waveform matches this well */
#define S_PHASE_OFF     2.0  /* ... at a lag this many frames off whole periods */
#define S_SHIFT_TOL     1.5  /* periods (+ 8 frames): the same damage as a run or a jump */
#define S_SEAM_SHIFT    8    /* frames of shift between two passes of a loop's seam ... */
#define S_SEAM_ALIKE    0.9  /* ... and the correlation of e that makes them one seam */
#define S_SEAM_PAIRS    4    /* a jump in phase is compared with this many either side */
#define S_SEAM_DRIFT    0.01 /* a loop's length may vary this much from pass to pass */
#define S_END_FLOOR     2.0  /* the sound's end: after a step, within 6 dB of the floor ... */
#define S_END_OVER      4.0  /* ... from 12 dB or more over it ... */
#define S_END_BEFORE_MS 5.0  /* ... over the 5 ms before the step */
#define S_RECUR_READS   96   /* a seam's e searched for elsewhere: frames read per span ... */
#define S_RECUR_KEEP    6    /* ... and the best places then compared frame by frame */
#define S_RECUR_LOOP    0.7  /* two passes this alike, evenly spaced with it: a loop */
/* describing a jump (s_describe) */
#define S_DESCRIBE_NEAR 3   /* frames: a gap or a repeated block starts or ends this near it */
#define S_GAP_SIGMAS    4.5 /* a silent gap's frames lie within this many of the floor's RMS */

static const int s_lags[] = {16,  24,  32,  48,  64,  96,   128,  160, 192,
                             256, 384, 480, 512, 960, 1024, 2048, 4096};

/* Events as found; a jump at the edge of a run of zeros, a held value or a repeated block
 * is that run's edge, not an event of its own. */
typedef enum { S_ZEROS = 0, S_HELD, S_REPEAT, S_JUMP, S_SHIFT, S_OWN, S_GAP } s_kind_t;
static const char *const s_kind_names[] = {"a run of zeros", "a held value",    "a repeated block",
                                           "a jump",         "a jump in phase", "",
                                           "a silent gap"};

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

/* e[j] of check 5 on channel c: the frame against the one a period back (linear
 * interpolation between the two frames nearest). */
static inline double s_shift_e(const qc_take_t *t, int c, int64_t j, double period)
{
    const int64_t p0 = (int64_t)period;
    const double fr = period - (double)p0;
    const float *x = t->x + j * t->ch + c;
    return x[0] - (1.0 - fr) * x[-p0 * t->ch] - fr * x[-(p0 + 1) * t->ch];
}

/* Normalised correlation (all channels) of e (check 5) over [a - n / 4, a + n) with the
 * same span at b, the best over +-S_SEAM_SHIFT frames of shift. */
static double s_seam_match(const qc_take_t *t, int64_t a, int64_t b, int64_t n, double period,
                           int64_t lo, int64_t hi)
{
    double best = 0;
    const int64_t p1 = (int64_t)period + 1;
    int64_t u0 = -n / 4, u1 = n;
    int64_t first = (a < b ? a : b) + u0 - S_SEAM_SHIFT, last = (a > b ? a : b) + u1 + S_SEAM_SHIFT;
    if (first - p1 < lo)
        u0 += lo + p1 - first;
    if (last > hi)
        u1 -= last - hi;
    if (u1 - u0 < 8)
        return 0;
    for (int sh = -S_SEAM_SHIFT; sh <= S_SEAM_SHIFT; sh++) {
        double sab = 0, saa = 0, sbb = 0;
        for (int c = 0; c < t->ch; c++)
            for (int64_t u = u0; u < u1; u++) {
                double x = s_shift_e(t, c, a + u, period), y = s_shift_e(t, c, b + sh + u, period);
                sab += x * y, saa += x * x, sbb += y * y;
            }
        double r = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
        best = r > best ? r : best;
    }
    return best;
}

/* Whether the e (check 5) of a jump in phase at a, over [a - n / 4, a + n), comes back
 * elsewhere in the note, at any b at least 2 n away (normalised correlation, all channels):
 * once at S_SEAM_ALIKE or more, or at S_RECUR_LOOP or more at two places that stand with a
 * evenly spaced (a loop's length apart, within S_SEAM_DRIFT of it or 4 frames). A sample
 * loop's seam passes again every loop, the same samples joined the same way, even where
 * its other passes stand too low to be found themselves (a filter sweep, a decay, a
 * layer's seam at another time); a block lost in the recording is joined once.
 * Searched coarsely first (S_RECUR_READS frames read across the span, every b), keeping
 * the S_RECUR_KEEP best places at least n / 2 apart, then frame by frame within
 * S_SEAM_SHIFT of each. Runs only for jumps in phase not already paired, which a clean
 * note rarely has. Needs memory for e over [lo, hi) (floats, frames x channels); returns
 * false when it cannot have it. */
static bool s_recurs(const qc_take_t *t, int64_t a, int64_t n, double period, int64_t lo,
                     int64_t hi)
{
    const int ch = t->ch;
    const int64_t p1 = (int64_t)period + 1, u0 = -n / 4, u1 = n, len = u1 - u0;
    const int64_t first = lo + p1 - u0, last = hi - u1; /* b (and a) in [first, last] */
    if (len < 8 || a < first || a > last || last - first < 4 * n)
        return false;
    float *e = malloc(sizeof(float) * (size_t)(hi - lo) * (size_t)ch);
    if (!e)
        return false;
    for (int64_t j = lo + p1; j < hi; j++)
        for (int c = 0; c < ch; c++)
            e[(j - lo) * ch + c] = (float)s_shift_e(t, c, j, period);
    const float *ea = e + (a - lo) * ch;
    const int64_t step = len / S_RECUR_READS > 1 ? len / S_RECUR_READS : 1;
    double saa = 0;
    for (int64_t u = u0; u < u1; u += step)
        for (int c = 0; c < ch; c++)
            saa += (double)ea[u * ch + c] * ea[u * ch + c];
    int64_t keep[S_RECUR_KEEP];
    double keep_r[S_RECUR_KEEP];
    for (int k = 0; k < S_RECUR_KEEP; k++)
        keep[k] = -1, keep_r[k] = -2;
    for (int64_t b = first; b <= last && saa > 0; b++) {
        if (llabs(b - a) < 2 * n)
            continue;
        const float *eb = e + (b - lo) * ch;
        double sab = 0, sbb = 0;
        for (int64_t u = u0; u < u1; u += step)
            for (int c = 0; c < ch; c++) {
                double x = ea[u * ch + c], y = eb[u * ch + c];
                sab += x * y, sbb += y * y;
            }
        double r = sbb > 0 ? sab / sqrt(saa * sbb) : 0;
        /* one place per neighbourhood: a kept b this close is replaced if weaker */
        int slot = -1;
        for (int k = 0; k < S_RECUR_KEEP; k++)
            if (keep[k] >= 0 && llabs(keep[k] - b) < n / 2)
                slot = k;
        if (slot < 0) {
            slot = 0;
            for (int k = 1; k < S_RECUR_KEEP; k++)
                slot = keep_r[k] < keep_r[slot] ? k : slot;
        }
        if (r > keep_r[slot])
            keep[slot] = b, keep_r[slot] = r;
    }
    /* frame by frame around each */
    int64_t at[S_RECUR_KEEP];
    double rr[S_RECUR_KEEP];
    bool back = false;
    for (int k = 0; k < S_RECUR_KEEP; k++) {
        at[k] = -1, rr[k] = -2;
        for (int64_t b = keep[k] - S_SEAM_SHIFT; keep[k] >= 0 && b <= keep[k] + S_SEAM_SHIFT; b++) {
            if (b < first || b > last || llabs(b - a) < 2 * n)
                continue;
            const float *eb = e + (b - lo) * ch;
            double sab = 0, sa = 0, sb = 0;
            for (int64_t u = u0; u < u1; u++)
                for (int c = 0; c < ch; c++) {
                    double x = ea[u * ch + c], y = eb[u * ch + c];
                    sab += x * y, sa += x * x, sb += y * y;
                }
            double r = sa > 0 && sb > 0 ? sab / sqrt(sa * sb) : 0;
            if (r > rr[k])
                rr[k] = r, at[k] = b;
        }
        back = back || rr[k] >= S_SEAM_ALIKE;
    }
    /* two weaker passes evenly spaced with a: a, b, c in any order */
    for (int i = 0; i < S_RECUR_KEEP && !back; i++)
        for (int j = i + 1; j < S_RECUR_KEEP && !back; j++) {
            if (rr[i] < S_RECUR_LOOP || rr[j] < S_RECUR_LOOP)
                continue;
            int64_t p[3] = {a, at[i], at[j]};
            for (int x = 0; x < 2; x++) /* sort three */
                for (int y = 0; y < 2 - x; y++)
                    if (p[y] > p[y + 1]) {
                        int64_t tmp = p[y];
                        p[y] = p[y + 1], p[y + 1] = tmp;
                    }
            double d1 = (double)(p[1] - p[0]), d2 = (double)(p[2] - p[1]);
            back = fabs(d1 - d2) <= fmax(4.0, S_SEAM_DRIFT * fmax(d1, d2));
        }
    free(e);
    return back;
}

/* Whether a jump at `at` is where the sound stops: from S_SAME_FRAMES after it to hi the
 * loudest channel's RMS is within S_END_FLOOR of the noise floor (or too few frames are
 * left to hold anything), and the S_END_BEFORE_MS before it stood S_END_OVER over that.
 * *over_db: how far the sound stood over the floor before it. */
static bool s_ends_sound(const qc_take_t *t, int64_t at, int64_t lo, int64_t hi, double *over_db)
{
    double floor = t->noise_rms > 1e-7 ? t->noise_rms : 1e-7;
    for (int c = 0; c < t->ch; c++) /* a digital take's silence (qc_noise_sq_at_least) */
        floor = fmax(floor, sqrt(qc_noise_sq_at_least(t, c)));
    int64_t b0 = at - (int64_t)(S_END_BEFORE_MS * t->rate / 1000.0);
    b0 = b0 > lo ? b0 : lo;
    if (b0 >= at)
        return false;
    double before = qc_rms(t, b0, at);
    *over_db = 20.0 * log10(before / floor);
    if (before < S_END_OVER * floor)
        return false;
    const int64_t a0 = at + S_SAME_FRAMES;
    return a0 >= hi || qc_rms(t, a0, hi) <= S_END_FLOOR * floor;
}

static bool s_same_wave(const qc_take_t *t, int64_t at, double period, int64_t lo, int64_t hi,
                        double alike, int64_t *lag_out);

/* Whether every channel of frame j lies within lim of 0 (lim 0: is +-0). */
static bool s_quiet_frame(const qc_take_t *t, int64_t j, double lim)
{
    for (int c = 0; c < t->ch; c++)
        if (fabs((double)t->x[j * t->ch + c]) > lim)
            return false;
    return true;
}

/* Whether every channel of frame j lies within lim of the frame lag earlier. */
static bool s_repeats_frame(const qc_take_t *t, int64_t j, int64_t lag, double lim)
{
    for (int c = 0; c < t->ch; c++)
        if (fabs((double)t->x[j * t->ch + c] - (double)t->x[(j - lag) * t->ch + c]) > lim)
            return false;
    return true;
}

/* What a jump (check 4 or 5) at v->at is, for its reason; the counts and the places the
 * other checks compare do not change. Damage done before the analog noise (a synth's own
 * glitch recorded through its output) leaves no exact zeros or repeats for checks 1 and 3,
 * and a digital take is not searched for repeats, so a jump is often all they see of it:
 * - a silent gap: a run of at least min_run frames from within S_DESCRIBE_NEAR of the jump
 *   where every channel stays within S_GAP_SIGMAS of the floor's RMS (floor), with the
 *   sound present before it (as for zeros): kind S_GAP (S_ZEROS when all are +-0), placed
 *   and measured as that run;
 * - a repeated block: a run of at least S_REPEAT_MIN frames from as near, equal within
 *   the noise (S_GAP_SIGMAS of the floor, times sqrt 2) to the frames one of s_lags
 *   earlier, and no longer than that lag and S_SAME_FRAMES (a note whose period is the
 *   lag repeats itself far longer): kind S_REPEAT, placed and measured as that run;
 * - otherwise, in a note whose period the caller knows (phase_check), a splice: where the
 *   note's phase jumps (the change point of e of check 5 within a period of the jump: the
 *   one-period sum of e^2 after it less the one before it, at its largest) and by how
 *   many frames the waveform skips, modulo the period (s_same_wave's lag); *skip_period
 *   is then the period (frames). v->len is 0 when the skip is not measured. */
static void s_describe(const qc_take_t *t, int64_t lo, int64_t hi, double floor, int64_t min_run,
                       double period, bool phase_check, s_event_t *v, int64_t *skip_period)
{
    *skip_period = 0;
    if (v->kind != S_JUMP && v->kind != S_SHIFT)
        return;
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    const double lim = S_GAP_SIGMAS * floor;
    for (int64_t d = -S_DESCRIBE_NEAR; d <= S_DESCRIBE_NEAR; d++) {
        int64_t j = v->at + d, a = j, b = j;
        if (j < lo || j >= hi || !s_quiet_frame(t, j, lim))
            continue;
        while (a > lo && s_quiet_frame(t, a - 1, lim))
            a--;
        while (b < hi && s_quiet_frame(t, b, lim))
            b++;
        if (b - a >= min_run && qc_rms(t, a - 5 * ms, a) > S_PRESENT_RATIO * floor) {
            bool zeros = true;
            for (int64_t i = a; i < b && zeros; i++)
                zeros = s_quiet_frame(t, i, 0.0);
            *v = (s_event_t){.at = a, .len = b - a, .kind = zeros ? S_ZEROS : S_GAP};
            return;
        }
    }
    const double elim = lim * M_SQRT2;
    for (size_t k = 0; k < sizeof s_lags / sizeof s_lags[0]; k++) {
        const int64_t lag = s_lags[k];
        for (int64_t d = -S_DESCRIBE_NEAR; d <= S_DESCRIBE_NEAR; d++) {
            int64_t j = v->at + d, a = j, b = j;
            if (j - lag < lo || j >= hi || !s_repeats_frame(t, j, lag, elim))
                continue;
            while (a - 1 - lag >= lo && s_repeats_frame(t, a - 1, lag, elim))
                a--;
            while (b < hi && s_repeats_frame(t, b, lag, elim))
                b++;
            if (b - a >= S_REPEAT_MIN && b - a <= lag + S_SAME_FRAMES &&
                qc_rms(t, a, b) > S_PRESENT_RATIO * floor) {
                *v = (s_event_t){.at = a, .len = b - a, .kind = S_REPEAT};
                return;
            }
        }
    }
    v->len = 0;
    if (!phase_check)
        return;
    /* the change point of e: D(j) = sum of e^2 over [j, j + p) - over [j - p, j) */
    const int64_t p = (int64_t)llround(period), p1 = (int64_t)period + 1;
    int64_t j0 = v->at - p, j1 = v->at + p;
    if (j0 - p - p1 < lo)
        j0 = lo + p + p1;
    if (j1 + p > hi)
        j1 = hi - p;
    if (j0 <= j1) {
        const int64_t n = j1 - j0 + 2 * p;
        double *cum = malloc(sizeof(double) * (size_t)(n + 1));
        if (cum) {
            cum[0] = 0;
            for (int64_t i = 0; i < n; i++) {
                double se = 0;
                for (int c = 0; c < t->ch; c++) {
                    double e = s_shift_e(t, c, j0 - p + i, period);
                    se += e * e;
                }
                cum[i + 1] = cum[i] + se;
            }
            double best = -1;
            for (int64_t j = j0; j <= j1; j++) {
                const int64_t i = j - (j0 - p);
                double dj = (cum[i + p] - cum[i]) - (cum[i] - cum[i - p]);
                if (dj > best)
                    best = dj, v->at = j;
            }
            free(cum);
        }
    }
    int64_t lag = 0;
    if (s_same_wave(t, v->at, period, lo, hi, S_PHASE_ALIKE, &lag) && lag > 0) {
        double skip = period * ceil((double)lag / period) - (double)lag;
        v->len = (int64_t)llround(skip);
        *skip_period = p;
    }
}

static void s_tally(const qc_take_t *t, s_events_t *e, int64_t lo, int64_t hi, int64_t note_off,
                    double period, bool phase_check, double floor, int64_t min_run,
                    qc_dropouts_t *out)
{
    /* how far a jump in phase may lie from the damage's other signs: the burst's period
     * and a block either side */
    const int64_t tol = (int64_t)ceil(S_SHIFT_TOL * period) + 8;
    /* A sample loop's seam shifts the phase each time round, on the same samples: a jump
     * in phase whose e (check 5) matches that of one of its S_SEAM_PAIRS nearest on
     * either side is the sound's own, and so is one that comes a whole number (1 to 4)
     * of such a pair's spacing from either of them (the seam's first pass may differ). */
    bool seam[S_MAX_EVENTS] = {false};
    int64_t spacing = 0;
    for (int i = 0; i < e->n; i++) {
        if (e->ev[i].kind != S_SHIFT)
            continue;
        for (int dir = -1; dir <= 1; dir += 2)
            for (int k = i + dir, tried = 0; k >= 0 && k < e->n && tried < S_SEAM_PAIRS && !seam[i];
                 k += dir) {
                if (e->ev[k].kind != S_SHIFT)
                    continue;
                tried++;
                double r = s_seam_match(t, e->ev[i].at, e->ev[k].at, tol, period, lo, hi);
                if (r >= S_SEAM_ALIKE) {
                    seam[i] = true;
                    spacing = llabs(e->ev[k].at - e->ev[i].at);
                }
            }
    }
    for (int i = 0; i < e->n && spacing > 0; i++)
        for (int k = 0; k < e->n && e->ev[i].kind == S_SHIFT && !seam[i]; k++)
            for (int m = 1; m <= 4 && seam[k] && !seam[i]; m++) {
                double d = fabs(fabs((double)(e->ev[i].at - e->ev[k].at)) - m * (double)spacing);
                seam[i] = d <= S_SEAM_DRIFT * m * (double)spacing + 2 * period;
            }
    /* ... and one whose seam's other passes were not found: its e comes back elsewhere */
    for (int i = 0; i < e->n; i++)
        if (e->ev[i].kind == S_SHIFT && !seam[i])
            seam[i] = s_recurs(t, e->ev[i].at, tol, period, lo, hi);
    for (int i = 0; i < e->n; i++)
        if (seam[i]) {
            e->ev[i].kind = S_OWN;
            out->own_clicks++;
        }

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

    /* the instrument stopping its voice with a step to the floor, after the key-up */
    for (int i = 0; i < e->n && note_off > 0; i++) {
        double over_db = 0;
        if ((e->ev[i].kind == S_JUMP || e->ev[i].kind == S_SHIFT) && e->ev[i].at >= note_off &&
            s_ends_sound(t, e->ev[i].at, lo, hi, &over_db)) {
            e->ev[i].kind = S_OWN;
            if (out->end_step < 0)
                out->end_step = e->ev[i].at, out->end_step_db = over_db;
        }
    }

    s_event_t first = {.at = -1};
    for (int i = 0; i < e->n; i++) {
        const s_event_t *v = &e->ev[i];
        if (v->kind == S_OWN) {
            continue;
        } else if (v->kind == S_SHIFT) {
            /* the same damage as a run or a jump found within a period and a block of it */
            bool same = false;
            for (int k = 0; k < e->n && !same; k++)
                same = e->ev[k].kind < S_SHIFT && e->ev[k].at + e->ev[k].len >= v->at - tol &&
                       e->ev[k].at <= v->at + tol;
            if (same)
                continue;
            out->jumps++;
            if (out->n_jump_at < QC_JUMPS_KEPT)
                out->jump_at[out->n_jump_at++] = v->at;
        } else if (v->kind == S_JUMP) {
            bool edge = false;
            for (int k = 0; k < e->n && !edge; k++)
                edge = e->ev[k].kind < S_JUMP &&
                       (llabs(v->at - e->ev[k].at) <= S_SAME_FRAMES ||
                        llabs(v->at - (e->ev[k].at + e->ev[k].len)) <= S_SAME_FRAMES);
            if (edge)
                continue;
            out->jumps++;
            if (out->n_jump_at < QC_JUMPS_KEPT)
                out->jump_at[out->n_jump_at++] = v->at;
        } else if (v->kind == S_ZEROS) {
            out->zero_runs++;
        } else if (v->kind == S_HELD) {
            out->held_runs++;
        } else {
            out->repeats++;
        }
        if (out->first < 0 || v->at < out->first) {
            out->first = v->at;
            first = *v;
        }
    }
    /* the earliest, as its reason tells it */
    if (out->first >= 0) {
        s_describe(t, lo, hi, floor, min_run, period, phase_check, &first, &out->first_period);
        out->first = first.at;
        out->first_len = first.len;
        out->first_what = s_kind_names[first.kind];
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
    if (after > S_ATTACK_RATIO * before) {
        /* ... over a period too: 2 ms of a low note is part of one cycle, whose level a
         * splice from its trough to its crest changes as much */
        int64_t w = (int64_t)ceil(fmin(fmax(period, 2.0 * ms), 20.0 * ms));
        if (qc_rms(t, i, i + w) > S_ATTACK_PERIOD_RATIO * qc_rms(t, i - w, i))
            return true;
    }
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

/* Whether the run of equal frames [a, b) could be lost audio rather than the grid of a
 * quantised take: on float audio always; on t->quantum's grid only when the waveform steps
 * onto it or off it by more than S_RUN_STEPS steps on some channel. A signal that moves
 * less than a step per frame (a quiet tail, the crest of a slow wave) stays on one value
 * for tens of frames and enters and leaves it a step at a time; a converter that froze or
 * a block of zeros leaves where the waveform had moved on to. */
static bool s_run_steps(const qc_take_t *t, int64_t a, int64_t b, int64_t to)
{
    if (t->quantum <= 0)
        return true;
    const double most = S_RUN_STEPS * t->quantum;
    for (int c = 0; c < t->ch; c++) {
        if (a >= 1 && fabs((double)t->x[a * t->ch + c] - t->x[(a - 1) * t->ch + c]) > most)
            return true;
        if (b < to && fabs((double)t->x[b * t->ch + c] - t->x[(b - 1) * t->ch + c]) > most)
            return true;
    }
    return false;
}

/* Whether a run of zeros or held values [a, b) (b the first frame after it) is lost audio.
 * Where the sound clearly stood before it (S_PRESENT_RATIO over the floor) and, on a
 * quantised take, the waveform stepped onto it or off it (s_run_steps), as always. In a
 * take with analog noise (the pre-roll's noise spans S_NOISY_STEPS steps of the
 * finer of the take's grid and 24-bit audio) also wherever the noise stands on both sides
 * of it (S_NOISE_AROUND of the floor's RMS over 5 ms): noise is in every recorded sample,
 * under a quiet note, a decayed tail or a slow swell's foot as under a loud one, and never
 * sits on one value for min_run frames; only a digital block of zeros or a converter that
 * froze does. */
static bool s_run_lost(const qc_take_t *t, int64_t a, int64_t b, int64_t ms, double floor,
                       int64_t to)
{
    if (qc_rms(t, a - 5 * ms, a) > S_PRESENT_RATIO * floor && s_run_steps(t, a, b, to))
        return true;
    const bool noisy = t->noise_rms >= S_NOISY_STEPS * fmax(t->quantum, S_QUANTUM_24);
    return noisy && qc_rms(t, a - 5 * ms, a) > S_NOISE_AROUND * t->noise_rms &&
           qc_rms(t, b, b + 5 * ms) > S_NOISE_AROUND * t->noise_rms;
}

/* The end of a run of zeros (s_end_zeros) or of held values (s_end_held) at frame i, the
 * first frame not in it; *run is then 0. */
static inline __attribute__((always_inline)) void s_end_zeros(const qc_take_t *t, int64_t i,
                                                              int64_t *run, int64_t min_run,
                                                              int64_t ms, double floor, int64_t to,
                                                              s_events_t *ev)
{
    if (*run >= min_run && s_run_lost(t, i - *run, i, ms, floor, to))
        s_found(ev, i - *run, *run, S_ZEROS);
    *run = 0;
}

static inline __attribute__((always_inline)) void s_end_held(const qc_take_t *t, int64_t i,
                                                             int64_t *run, int64_t min_run,
                                                             int64_t ms, double floor, int64_t to,
                                                             s_events_t *ev)
{
    /* a held run of n repeats is n + 1 equal frames */
    if (*run + 1 >= min_run && s_run_lost(t, i - *run - 1, i, ms, floor, to))
        s_found(ev, i - *run - 1, *run + 1, S_HELD);
    *run = 0;
}

/* 1, 2 and 4 in one pass: zeros, held values and jumps. The last millisecond's sharpest
 * bend per channel comes from block maxima: S_BLOCKS blocks of ms / S_BLOCKS frames plus
 * the block being filled. Inlined for each channel count (below), so that the per-channel
 * state lives in registers: this loop touches every sample of every take. A whole block
 * is first scanned without branches (its sharpest bend per channel, whether any frame is
 * zeros or held); when none of its bends can be a jump (none above the noise's guard and
 * S_LOCAL times the last blocks' sharpest) and no frame is zeros or held, as in nearly
 * every block, it is done with: only a frame that could be one of them is taken one by
 * one. Both ways find the same events. */
#define S_BLOCKS   4
#define S_ABS_BITS 0x7FFFFFFFu /* a float's bits but its sign */
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
        double nsq = qc_noise_sq_at_least(t, c);
        guard[c] = S_NOISE_STEPS * sqrt(6.0 * (nsq > 1e-14 ? nsq : 1e-14));
        hi[c] = clip->hi[c];
        lo[c] = clip->lo[c];
    }
    const int64_t start = from + (int64_t)(S_ATTACK_SKIP_MS * ms);
    int64_t next_ok = start;
    int bi = 0;
    int64_t in_block = 0, zero = 0, held = 0;
    for (int64_t i = from + 1; i <= to;) {
        if (in_block == 0 && i + bs <= to) { /* a whole block ahead: the quick look */
            double m[DSP_MAX_CHANNELS] = {0};
            uint32_t zh = 0; /* a frame that may be zeros or held */
            for (int64_t j = i; j < i + bs; j++) {
                const float *f = t->x + j * ch, *p = f - ch;
                /* zeros and held values need channel 0 to be +-0 or equal to the frame
                 * before (float ==: the same bits, or +0 and -0): its bits tell, without
                 * a float comparison; such a frame is then taken one by one */
                uint32_t b, q;
                memcpy(&b, f, sizeof b);
                memcpy(&q, p, sizeof q);
                zh |= ((b & S_ABS_BITS) == 0) | (((b ^ q) & S_ABS_BITS) == 0);
#pragma GCC unroll 2
                for (int c = 0; c < ch; c++) {
                    double ad = fabs((double)f[c] - 2.0 * p[c] + (double)p[c - ch]); /* bend */
                    m[c] = ad > m[c] ? ad : m[c];
                }
            }
            bool may_jump = false;
            for (int c = 0; c < ch; c++)
                may_jump = may_jump || (m[c] > guard[c] && m[c] > S_LOCAL * wmax[c]);
            if (!zh && !may_jump) {
                s_end_zeros(t, i, &zero, min_run, ms, floor, to, ev);
                s_end_held(t, i, &held, min_run, ms, floor, to, ev);
                for (int c = 0; c < ch; c++) {
                    bmax[c][bi] = m[c]; /* cur[c] is 0 at a block's start */
                    wmax[c] = 0;
                    for (int k = 0; k < S_BLOCKS; k++)
                        wmax[c] = bmax[c][k] > wmax[c] ? bmax[c][k] : wmax[c];
                }
                bi = (bi + 1) % S_BLOCKS;
                i += bs;
                continue;
            }
        }
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
        if (z)
            zero++;
        else
            s_end_zeros(t, i, &zero, min_run, ms, floor, to, ev);
        if (h && !z)
            held++;
        else
            s_end_held(t, i, &held, min_run, ms, floor, to, ev);
        i++;
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

/* Whether the period from a quarter period after `at` (where the burst is sure to have
 * begun) is the waveform before `at` at another phase: the lag, over a period from the
 * shortest that reads wholly before at, with the best
 * normalised correlation (all channels, S_PHASE_READS frames read across the period)
 * correlates at least `alike` and lies S_PHASE_OFF frames or more from a whole
 * number of periods. An abrupt change of timbre keeps its phase or matches nothing; a
 * lost or repeated block matches the old waveform shifted by its length. */
static bool s_same_wave(const qc_take_t *t, int64_t at, double period, int64_t lo, int64_t hi,
                        double alike, int64_t *lag_out)
{
    const int ch = t->ch;
    const int64_t n = (int64_t)ceil(period), sk = (n + 3) / 4, a = at + sk, l0 = n + sk + 2,
                  l1 = l0 + n;
    const int64_t step = n / S_PHASE_READS > 1 ? n / S_PHASE_READS : 1;
    if (lag_out)
        *lag_out = 0;
    if (a + n > hi || a - l1 < lo)
        return true; /* cannot tell: keep it */
    double saa = 0;
    for (int64_t j = a; j < a + n; j += step)
        for (int c = 0; c < ch; c++)
            saa += (double)t->x[j * ch + c] * t->x[j * ch + c];
    double best = -1;
    int64_t best_lag = 0;
    for (int64_t lag = l0; lag <= l1; lag++) {
        double sab = 0, sbb = 0;
        for (int64_t j = a; j < a + n; j += step)
            for (int c = 0; c < ch; c++) {
                double u = t->x[j * ch + c], v = t->x[(j - lag) * ch + c];
                sab += u * v, sbb += v * v;
            }
        double r = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
        if (r > best)
            best = r, best_lag = lag;
    }
    double off = fabs((double)best_lag - period * round((double)best_lag / period));
    if (lag_out)
        *lag_out = best_lag;
    return best >= alike && off >= S_PHASE_OFF;
}

/* Check 5: a jump in phase. e[j] = sum over channels of (x[j] - x[j - period])^2, the
 * linear interpolation between the two frames nearest a period back, summed per block of
 * pb frames. A block lost from a periodic note shifts its phase: e rises for one period
 * from the splice (the waveform after it against the one before it) and falls back
 * once both sides lie after it; steady notes, vibrato and slow changes have no such
 * one-period burst. */
static void s_find_shifts(const qc_take_t *t, int64_t from, int64_t to, double period,
                          s_events_t *ev)
{
    const int ch = t->ch;
    const int64_t p0 = (int64_t)floor(period);
    const double fr = period - (double)p0, g0 = 1.0 - fr;
    const int64_t pb = p0 / S_SHIFT_BLOCKS > 4 ? p0 / S_SHIFT_BLOCKS : 4;
    const int64_t nb = (int64_t)ceil(period / (double)pb); /* blocks per period */
    const int64_t j0 = from + (int64_t)(S_ATTACK_SKIP_MS * t->rate / 1000.0) + p0 + 1;
    const int64_t n = j0 < to ? (to - j0) / pb : 0;
    if (n < 6 * nb + 2)
        return;
    double *pe = malloc(sizeof(double) * 2 * (size_t)(n + 1)), *px = pe + n + 1;
    if (!pe)
        return;
    pe[0] = px[0] = 0; /* prefix sums per block */
    double noise = 0;
    for (int c = 0; c < ch; c++)
        noise += qc_noise_sq_at_least(t, c) * (1.0 + g0 * g0 + fr * fr);
    /* every S_SHIFT_STRIDE-th frame: the sums are energies over a period or more, and
     * compared only with each other */
    const float a0 = (float)g0, a1 = (float)fr;
    const int64_t back0 = p0 * ch, back1 = (p0 + 1) * ch, step = S_SHIFT_STRIDE * ch;
    for (int64_t k = 0; k < n; k++) {
        float se = 0, sx = 0, se2 = 0, sx2 = 0;
        const float *x = t->x + (j0 + k * pb) * ch, *end = x + pb * ch;
        if (ch == 2) { /* the usual take: the channel loop unrolled */
            for (; x < end; x += step) {
                float v = x[0], d = v - a0 * x[-back0] - a1 * x[-back1];
                float w = x[1], f = w - a0 * x[1 - back0] - a1 * x[1 - back1];
                se += d * d, sx += v * v, se2 += f * f, sx2 += w * w;
            }
        } else {
            for (; x < end; x += step)
                for (int c = 0; c < ch; c++) {
                    float v = x[c], d = v - a0 * x[c - back0] - a1 * x[c - back1];
                    se += d * d, sx += v * v;
                }
        }
        pe[k + 1] = pe[k] + (double)se + se2;
        px[k + 1] = px[k] + (double)sx + sx2;
    }
    const double floor_e = noise * (double)(nb * pb) / S_SHIFT_STRIDE;
    const double tiny = 1e-30;
    for (int64_t k = 2 * nb; k + 3 * nb + 1 <= n; k++) {
        /* e against the level, per window: a decay or a swell scales both */
        double xb = px[k + nb] - px[k] + tiny;
        double burst = (pe[k + nb] - pe[k]) / xb;
        double before = (pe[k] - pe[k - 2 * nb]) / (px[k] - px[k - 2 * nb] + tiny);
        double after =
            (pe[k + 3 * nb + 1] - pe[k + nb + 1]) / (px[k + 3 * nb + 1] - px[k + nb + 1] + tiny);
        double quiet = before > after ? before : after;
        quiet = quiet > floor_e / xb ? quiet : floor_e / xb;
        /* strong, or weaker but large against the note and checked harder below */
        const bool strong = burst > S_SHIFT_RATIO * quiet && burst > S_SHIFT_SHARE;
        const bool sure = burst > S_SHIFT_SURE * quiet && burst > S_SURE_SHARE;
        if ((strong || sure) && before < S_SHIFT_STEADY && after < S_SHIFT_STEADY) {
            /* where it starts: the first frame from the block before where e reaches
             * S_SHIFT_ONSET of its largest over the burst */
            int64_t at = j0 + k * pb, a = at - pb, z = at + (nb + 1) * pb;
            double top = 0;
            for (int64_t j = a; j < z; j++) {
                double se = 0;
                for (int c = 0; c < ch; c++) {
                    double d = s_shift_e(t, c, j, period);
                    se += d * d;
                }
                top = se > top ? se : top;
            }
            for (int64_t j = a; j < z; j++) {
                double se = 0;
                for (int c = 0; c < ch; c++) {
                    double d = s_shift_e(t, c, j, period);
                    se += d * d;
                }
                if (se >= S_SHIFT_ONSET * top) {
                    at = j;
                    break;
                }
            }
            bool same =
                s_same_wave(t, at, period, from, to, strong ? S_PHASE_ALIKE : S_PHASE_SURE, NULL);
            if (same)
                s_found(ev, at, 1, S_SHIFT);
            if (same || strong) /* else a stronger burst may follow within the period */
                k += 3 * nb;
        }
    }
    free(pe);
}

int qc_find_dropouts(const qc_take_t *t, int64_t from, int64_t to, int64_t note_off, double period,
                     bool pitched, const qc_clip_t *clip, qc_dropouts_t *out)
{
    memset(out, 0, sizeof *out);
    out->first = -1;
    out->end_step = -1;
    s_events_t ev;
    ev.n = 0;
    const int ch = t->ch;
    const int64_t ms = t->rate / 1000 > 0 ? t->rate / 1000 : 1;
    double floor = t->noise_rms > 1e-7 ? t->noise_rms : 1e-7;
    for (int c = 0; c < ch; c++) /* a digital take's silence (qc_noise_sq_at_least) */
        floor = fmax(floor, sqrt(qc_noise_sq_at_least(t, c)));
    int64_t min_run = (int64_t)llround(S_MIN_RUN_MS * t->rate / 1000.0);
    if (min_run < S_MIN_RUN_FRAMES)
        min_run = S_MIN_RUN_FRAMES;
    if (from < 1)
        from = 1;
    if (to > t->frames)
        to = t->frames;
    const bool phase_check = pitched && period >= S_MIN_PERIOD && period < (double)(to - from);
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
                /* flat runs are zeros or held; on a quantised take, a block spanning a
                 * few steps (a quiet tail) repeats by chance */
                float lo_v = t->x[a * ch], hi_v = lo_v;
                for (int64_t j = a + 1; j < b; j++) {
                    lo_v = t->x[j * ch] < lo_v ? t->x[j * ch] : lo_v;
                    hi_v = t->x[j * ch] > hi_v ? t->x[j * ch] : hi_v;
                }
                flat = (double)hi_v - lo_v <= S_REPEAT_STEPS * t->quantum;
                if (b - a >= S_REPEAT_MIN && !flat) {
                    s_found(&ev, a, b - a, S_REPEAT);
                    i = b + (int64_t)(S_EVENT_GAP_MS * ms); /* past it */
                    break;
                }
            }
        }
    }

    s_one_pass_any(t, ch, from, to, period, clip, min_run, floor, &ev);
    if (phase_check)
        s_find_shifts(t, from, to, period, &ev);
    s_tally(t, &ev, from, to, note_off, period, phase_check, floor, min_run, out);
    return out->zero_runs + out->held_runs + out->repeats + out->jumps;
}
