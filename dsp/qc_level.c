/*
 * qc_level.c — DC offset, noise floor, peak, RMS, SNR and clipping (flat tops at the take's
 * own extremes, at any level).
 */
#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "qc.h"

double qc_db(double lin)
{
    return lin > 1e-10 ? 20.0 * log10(lin) : -200.0;
}

double qc_peak(const qc_take_t *t, int64_t from, int64_t to)
{
    double p = 0;
    for (int64_t i = from < 0 ? 0 : from; i < to && i < t->frames; i++)
        for (int c = 0; c < t->ch; c++) {
            double v = fabs(qc_at(t, i, c));
            if (v > p)
                p = v;
        }
    return p;
}

#ifdef __SSE2__
/* A stereo frame's two floats widened to doubles (lane 0 the left channel). */
static inline __m128d s_load2(const float *f)
{
    return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)f)));
}
#endif

double qc_rms(const qc_take_t *t, int64_t from, int64_t to)
{
    if (from < 0)
        from = 0;
    if (to > t->frames)
        to = t->frames;
    if (to <= from)
        return 0;
    double best = 0;
#ifdef __SSE2__
    if (t->ch == 2) { /* both channels' sums at once, each in its own order */
        const __m128d dc = _mm_setr_pd(t->dc[0], t->dc[1]);
        __m128d sq = _mm_setzero_pd();
        for (int64_t i = from; i < to; i++) {
            __m128d v = _mm_sub_pd(s_load2(t->x + 2 * i), dc);
            sq = _mm_add_pd(sq, _mm_mul_pd(v, v));
        }
        double q[2];
        _mm_storeu_pd(q, sq);
        for (int c = 0; c < 2; c++)
            if (q[c] > best)
                best = q[c];
        return sqrt(best / (double)(to - from));
    }
#endif
    for (int c = 0; c < t->ch; c++) {
        double sq = 0;
        for (int64_t i = from; i < to; i++) {
            double v = qc_at(t, i, c);
            sq += v * v;
        }
        if (sq > best)
            best = sq;
    }
    return sqrt(best / (double)(to - from));
}

/* The converter's offset is the mean of the pre-roll, where nothing sounds. The sound's
 * own mean is not an offset: a clipped or asymmetric waveform averages away from zero
 * while it lasts, and subtracting that would leave the tail sitting on a step. */
void qc_measure_dc(qc_take_t *t, int64_t pre_end)
{
    if (pre_end > t->frames)
        pre_end = t->frames;
    for (int c = 0; c < t->ch; c++) {
        double s = 0;
        for (int64_t i = 0; i < pre_end; i++)
            s += t->x[i * t->ch + c];
        t->dc[c] = pre_end > 0 ? s / (double)pre_end : 0;
    }
}

void qc_measure_noise(qc_take_t *t, int64_t pre_end, dsp_analysis_t *a)
{
    double worst = 0;
    for (int c = 0; c < t->ch; c++) {
        double sq = 0;
        for (int64_t i = 0; i < pre_end; i++) {
            double v = qc_at(t, i, c);
            sq += v * v;
        }
        t->noise_ch_sq[c] = pre_end > 0 ? sq / (double)pre_end : 0;
        double rms = sqrt(t->noise_ch_sq[c]);
        a->noise_ch_db[c] = qc_db(rms);
        if (rms > worst)
            worst = rms;
    }
    t->noise_rms = worst;
    a->noise_db = pre_end > 0 ? qc_db(worst) : -200.0;
}

void qc_measure_quantum(qc_take_t *t)
{
    /* stops at the first sample off both grids: float audio costs a few samples */
    bool on16 = true, on24 = true;
    const int64_t n = t->frames * t->ch;
    for (int64_t i = 0; i < n && (on16 || on24); i++) {
        float v16 = t->x[i] * 32768.0f, v24 = t->x[i] * 8388608.0f;
        on16 = on16 && v16 == rintf(v16);
        on24 = on24 && v24 == rintf(v24);
    }
    t->quantum = on16 ? 1.0 / 32768.0 : on24 ? 1.0 / 8388608.0 : 0.0;
}

/* The pass of qc_measure_levels over the cut, inlined for each channel count (below) so
 * that the per-channel sums stay in registers: it reads every sample of every take. */
static inline __attribute__((always_inline)) void s_levels_pass(const qc_take_t *t, const int ch,
                                                                const dsp_analysis_t *a,
                                                                double *peak_out, double *total,
                                                                double *sum, double *loudest_out)
{
    const int64_t block = 25 * (int64_t)(t->rate / 1000);
    double peak = 0, blk[DSP_MAX_CHANNELS] = {0}, prev[DSP_MAX_CHANNELS] = {0}, loudest = 0;
    double dc[DSP_MAX_CHANNELS], s[DSP_MAX_CHANNELS];
    for (int c = 0; c < ch; c++) {
        dc[c] = t->dc[c];
        s[c] = 0;
    }
    int64_t in_blk = 0, prev_n = 0;
    for (int64_t i = a->cut_start; i < a->cut_end; i++) {
        const float *f = t->x + i * ch;
#pragma GCC unroll 2
        for (int c = 0; c < ch; c++) {
            double v = (double)f[c] - dc[c];
            double av = fabs(v);
            if (av > peak)
                peak = av;
            blk[c] += v * v;
            s[c] += v;
        }
        if (++in_blk == block || i + 1 == a->cut_end) {
            for (int c = 0; c < ch; c++) {
                double pair = (blk[c] + prev[c]) / (double)(in_blk + prev_n);
                if (pair > loudest)
                    loudest = pair;
                total[c] += blk[c];
                prev[c] = blk[c];
                blk[c] = 0;
            }
            prev_n = in_blk;
            in_blk = 0;
        }
    }
    for (int c = 0; c < ch; c++)
        sum[c] = s[c];
    *peak_out = peak;
    *loudest_out = loudest;
}

#ifdef __SSE2__
/* s_levels_pass for two channels with SSE2, one lane per channel: each channel's sums take
 * the same values in the same order, and the peak, a largest |v| over both lanes (maxpd,
 * like `av > peak`, keeps the old value against a NaN), is the same value. */
static void s_levels_pass_stereo(const qc_take_t *t, const dsp_analysis_t *a, double *peak_out,
                                 double *total, double *sum, double *loudest_out)
{
    const int64_t block = 25 * (int64_t)(t->rate / 1000);
    const __m128d dc = _mm_setr_pd(t->dc[0], t->dc[1]), sign = _mm_set1_pd(-0.0);
    __m128d peak = _mm_setzero_pd(), s = _mm_setzero_pd();
    double prev[2] = {0, 0}, loudest = 0;
    int64_t prev_n = 0;
    for (int64_t i = a->cut_start; i < a->cut_end;) {
        int64_t n = a->cut_end - i; /* the block: block frames, or what is left */
        if (block > 0 && n > block)
            n = block;
        const float *f = t->x + 2 * i;
        __m128d blk = _mm_setzero_pd();
        for (int64_t k = 0; k < n; k++) {
            __m128d v = _mm_sub_pd(s_load2(f + 2 * k), dc);
            peak = _mm_max_pd(_mm_andnot_pd(sign, v), peak);
            blk = _mm_add_pd(blk, _mm_mul_pd(v, v));
            s = _mm_add_pd(s, v);
        }
        i += n;
        double b[2];
        _mm_storeu_pd(b, blk);
        for (int c = 0; c < 2; c++) {
            double pair = (b[c] + prev[c]) / (double)(n + prev_n);
            if (pair > loudest)
                loudest = pair;
            total[c] += b[c];
            prev[c] = b[c];
        }
        prev_n = n;
    }
    double p[2];
    _mm_storeu_pd(p, peak);
    _mm_storeu_pd(sum, s);
    *peak_out = p[1] > p[0] ? p[1] : p[0];
    *loudest_out = loudest;
}
#endif

void qc_measure_levels(const qc_take_t *t, dsp_analysis_t *a, double *sound_offset)
{
    /* One pass over the cut: peak, per-channel energy, and 25 ms block energies paired
     * into 50 ms windows (hop 25 ms) for the loudest-window SNR. */
    const int ch = t->ch;
    double peak = 0, total[DSP_MAX_CHANNELS] = {0}, sum[DSP_MAX_CHANNELS] = {0}, loudest = 0;
#ifdef __SSE2__
    if (ch == 2)
        s_levels_pass_stereo(t, a, &peak, total, sum, &loudest);
#else
    if (ch == 2)
        s_levels_pass(t, 2, a, &peak, total, sum, &loudest);
#endif
    else if (ch == 1)
        s_levels_pass(t, 1, a, &peak, total, sum, &loudest);
    else
        s_levels_pass(t, ch, a, &peak, total, sum, &loudest);
    double len = (double)(a->cut_end - a->cut_start), worst = 0;
    for (int c = 0; c < ch; c++)
        if (total[c] > worst)
            worst = total[c];
    *sound_offset = 0;
    for (int c = 0; c < ch; c++)
        if (len > 0 && fabs(sum[c] / len) > fabs(*sound_offset))
            *sound_offset = sum[c] / len;
    a->peak_db = qc_db(peak);
    a->rms_db = len > 0 ? qc_db(sqrt(worst / len)) : -200.0;
    a->snr_db = qc_db(sqrt(loudest)) - a->noise_db;
}

/* Flat tops. A stage that clips holds the same value for as long as the waveform stays
 * beyond its limit; the noise of everything before that stage is clipped with it, so the
 * top is flat to the last bit. A waveform's own peak is a curve with the noise on it, and
 * no two neighbouring samples of it agree to 1e-5. So a run of clip_run or more samples
 * within S_FLAT_REL of the take's own extreme (per channel and polarity, raw samples: a
 * converter clips before any DC is removed) is clipping, whatever the level. Except on a
 * take of integer samples (t->quantum, a 16- or 24-bit file): there a slow or quiet
 * crest rounds to one value too, and only a top that the waveform enters or leaves by a
 * step of several grid steps is clipping (s_steep_runs). */
#define S_FLAT_REL 1e-5 /* -100 dB of the extreme */
#define S_FLAT_ABS 1e-7

#define S_CLIP_BLOCK 64 /* frames checked at once for a sample at either mark */

/* One channel and both polarities: the extreme so far, the flat runs found at it
 * (forgotten when a higher extreme comes) and the runs being counted. */
typedef struct {
    float hi, lo, hi_at, lo_at;
    int runs_hi, runs_lo, run_hi, run_lo;
} s_clip_pass_t;

/* A pass that has seen nothing: both marks at `least`. */
static inline s_clip_pass_t s_clip_start(float least)
{
    return (s_clip_pass_t){.hi = least, .lo = -least, .hi_at = least, .lo_at = -least};
}

/* One sample v of the channel: a new extreme moves its mark, a sample at the mark extends
 * the run there (min_run of them make a flat run), any other ends it. */
static inline __attribute__((always_inline)) void s_clip_step(s_clip_pass_t *p, float v,
                                                              int min_run)
{
    if (v >= p->hi_at) {
        if (v > p->hi) {
            float at = v - (float)fmax(S_FLAT_ABS, S_FLAT_REL * v);
            if (at > p->hi) /* a new extreme: the runs below it were not at the top */
                p->runs_hi = 0, p->run_hi = 0;
            p->hi = v;
            p->hi_at = at;
        }
        if (++p->run_hi == min_run)
            p->runs_hi++;
    } else {
        p->run_hi = 0;
    }
    if (v <= p->lo_at) {
        if (v < p->lo) {
            float at = v + (float)fmax(S_FLAT_ABS, -S_FLAT_REL * v);
            if (at < p->lo)
                p->runs_lo = 0, p->run_lo = 0;
            p->lo = v;
            p->lo_at = at;
        }
        if (++p->run_lo == min_run)
            p->runs_lo++;
    } else {
        p->run_lo = 0;
    }
}

typedef float s_v4f __attribute__((vector_size(16))); /* GCC/Clang vector extension */
typedef int32_t s_v4i __attribute__((vector_size(16)));

/* True when a frame of channel c of the take (x0: its first sample, ch channels
 * interleaved) in frames [i, i + n) lies at or beyond either mark: only there can a run or
 * an extreme change. Mono blocks of S_CLIP_BLOCK frames are compared four samples at a
 * time (stereo: s_clip_stereo). NaN compares false, as in the frame-by-frame pass. */
static inline __attribute__((always_inline)) bool
s_any_at_mark(const float *x0, const int ch, int c, int64_t i, int64_t n, float hi_at, float lo_at)
{
    if (ch == 1 && n == S_CLIP_BLOCK) {
        s_v4f hi = {hi_at, hi_at, hi_at, hi_at}, lo = {lo_at, lo_at, lo_at, lo_at};
        const float *p = x0 + i;
        s_v4i any = {0, 0, 0, 0};
        for (int k = 0; k < S_CLIP_BLOCK; k += 4) {
            s_v4f v;
            memcpy(&v, p + k, sizeof v);
            any |= (v >= hi) | (v <= lo);
        }
        return (any[0] | any[1] | any[2] | any[3]) != 0;
    }
    int any = 0;
    for (int64_t k = 0; k < n; k++) {
        float v = x0[(i + k) * ch + c];
        any |= (v >= hi_at) | (v <= lo_at);
    }
    return any != 0;
}

/* The pass over channel c, x (stride ch, a constant where it is inlined), of [from, to).
 * A block of S_CLIP_BLOCK frames none of which reaches a mark only ends the runs, as the
 * frame-by-frame pass would, so only blocks that do are walked frame by frame. */
static inline __attribute__((always_inline)) void s_clip_channel(const float *x, const int ch,
                                                                 int c, int64_t from, int64_t to,
                                                                 int min_run, float least,
                                                                 s_clip_pass_t *p)
{
    s_clip_pass_t q = s_clip_start(least);
    for (int64_t b = from; b < to; b += S_CLIP_BLOCK) {
        int64_t n = to - b < S_CLIP_BLOCK ? to - b : S_CLIP_BLOCK;
        if (!s_any_at_mark(x - c, ch, c, b, n, q.hi_at, q.lo_at)) {
            q.run_hi = q.run_lo = 0;
            continue;
        }
        for (int64_t i = b; i < b + n; i++)
            s_clip_step(&q, x[i * ch], min_run);
    }
    *p = q;
}

static void s_clip_channel_1(const float *x, int64_t from, int64_t to, int min_run, float least,
                             s_clip_pass_t *p)
{
    s_clip_channel(x, 1, 0, from, to, min_run, least, p);
}

/* Both channels of a stereo take in one pass over it: each channel's state as
 * s_clip_channel keeps it. A block is walked frame by frame when either channel has a
 * sample at or beyond its marks (compared four samples at a time, each lane against its
 * own channel's marks); for a channel with none there, the walk only ends its runs, as
 * skipping the block does, so both channels get what two passes gave. */
static void s_clip_stereo(const float *x, int64_t from, int64_t to, int min_run, float least,
                          s_clip_pass_t p[2])
{
    s_clip_pass_t q0 = s_clip_start(least), q1 = s_clip_start(least);
    for (int64_t b = from; b < to; b += S_CLIP_BLOCK) {
        int64_t n = to - b < S_CLIP_BLOCK ? to - b : S_CLIP_BLOCK;
        int any = 0;
        if (n == S_CLIP_BLOCK) {
            s_v4f vhi = {q0.hi_at, q1.hi_at, q0.hi_at, q1.hi_at};
            s_v4f vlo = {q0.lo_at, q1.lo_at, q0.lo_at, q1.lo_at};
            s_v4i acc = {0, 0, 0, 0};
            for (int k = 0; k < 2 * S_CLIP_BLOCK; k += 4) {
                s_v4f v;
                memcpy(&v, x + 2 * b + k, sizeof v);
                acc |= (v >= vhi) | (v <= vlo);
            }
            any = (acc[0] | acc[1] | acc[2] | acc[3]) != 0;
        } else {
            for (int64_t k = 0; k < n; k++) {
                float l = x[(b + k) * 2], r = x[(b + k) * 2 + 1];
                any |= (l >= q0.hi_at) | (l <= q0.lo_at) | (r >= q1.hi_at) | (r <= q1.lo_at);
            }
        }
        if (!any) {
            q0.run_hi = q0.run_lo = q1.run_hi = q1.run_lo = 0;
            continue;
        }
        for (int64_t i = b; i < b + n; i++) {
            s_clip_step(&q0, x[i * 2], min_run);
            s_clip_step(&q1, x[i * 2 + 1], min_run);
        }
    }
    p[0] = q0;
    p[1] = q1;
}

static void s_clip_channel_n(const float *x, int ch, int c, int64_t from, int64_t to, int min_run,
                             float least, s_clip_pass_t *p)
{
    s_clip_channel(x, ch, c, from, to, min_run, least, p);
}

/* On a quantised take (t->quantum > 0): the runs of channel c at or beyond `mark` (sign +1,
 * or at or below it, sign -1) of min_run frames or more that a step of more than
 * S_CLIP_STEPS grid steps enters or leaves. A clipped stage cuts the waveform while it
 * still moves fast; the crest of a slow or quiet wave on a grid lingers on its top value
 * for tens of frames and comes and goes a step at a time. */
#define S_CLIP_STEPS 2.0
static int s_steep_runs(const qc_take_t *t, int c, int64_t from, int64_t to, int min_run,
                        float mark, int sign)
{
    const int ch = t->ch;
    const double most = S_CLIP_STEPS * t->quantum;
    int runs = 0;
    int64_t start = -1;
    for (int64_t i = from; i <= to; i++) {
        bool at = i < to && sign * t->x[i * ch + c] >= sign * mark;
        if (at && start < 0)
            start = i;
        if (at || start < 0)
            continue;
        if (i - start >= min_run) {
            bool steep =
                (start >= 1 &&
                 fabs((double)t->x[start * ch + c] - t->x[(start - 1) * ch + c]) > most) ||
                (i < t->frames && fabs((double)t->x[i * ch + c] - t->x[(i - 1) * ch + c]) > most);
            runs += steep;
        }
        start = -1;
    }
    return runs;
}

void qc_find_clipping(const qc_take_t *t, int64_t from, int64_t to, int min_run, qc_clip_t *out)
{
    const int ch = t->ch;
    memset(out, 0, sizeof *out);
    if (from < 0)
        from = 0;
    if (to > t->frames)
        to = t->frames;
    if (min_run < 2)
        min_run = 2;
    const float least = (float)(10.0 * (t->noise_rms > 1e-7 ? t->noise_rms : 1e-7));
    s_clip_pass_t both[2];
    if (ch == 2)
        s_clip_stereo(t->x, from, to, min_run, least, both);
    for (int c = 0; c < ch; c++) {
        s_clip_pass_t p;
        if (ch == 1)
            s_clip_channel_1(t->x + c, from, to, min_run, least, &p);
        else if (ch == 2)
            p = both[c];
        else
            s_clip_channel_n(t->x + c, ch, c, from, to, min_run, least, &p);
        if (t->quantum > 0 && p.runs_hi)
            p.runs_hi = s_steep_runs(t, c, from, to, min_run, p.hi_at, +1);
        if (t->quantum > 0 && p.runs_lo)
            p.runs_lo = s_steep_runs(t, c, from, to, min_run, p.lo_at, -1);
        out->hi[c] = p.runs_hi ? p.hi_at : INFINITY;
        out->lo[c] = p.runs_lo ? p.lo_at : -INFINITY;
        out->runs += p.runs_hi + p.runs_lo;
        if (p.runs_hi)
            out->level = fmax(out->level, p.hi);
        if (p.runs_lo)
            out->level = fmax(out->level, -p.lo);
    }
}
