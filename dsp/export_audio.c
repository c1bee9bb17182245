/*
 * export_audio.c — the float path from the raw take to the sample file.
 *
 * dsp_export_process() works in place on the raw take, in this order: subtract each
 * channel's DC offset (measured by the pipeline), crossfade the loop (the frames before
 * loop_end blend into the frames before loop_start, so the jump from loop_end back to
 * loop_start continues the waveform), then fade in, fade out and gain in one pass, which
 * also subtracts the DC when no crossfade came between (one pass over the take instead of
 * two, the same float operations). Every step is float; nothing is quantised before the
 * writer.
 *
 * The writer: 32-bit float goes to libsndfile as float. PCM is quantised here, so WAV
 * and FLAC of the same depth hold exactly the same values and the scaling matches
 * libsndfile's reading (1/32768, 1/8388608): 24-bit rounds to nearest (its error sits
 * near -144 dBFS: no dither); 16-bit adds TPDF dither of +-1 LSB (two uniform variables)
 * unless switched off. Both clip, never wrap.
 * Files are written under a temporary name and renamed: a crash never leaves a
 * half-written sample under its final name. A WAV file is built in memory through
 * libsndfile's virtual I/O and written with one write() (libsndfile's own file I/O wrote
 * 8 KiB at a time), its CRC-32 for the record taken from memory rather than by reading the
 * file back. A FLAC file with metadata also carries the RIFF chunks of the WAV file it
 * decodes to (export_flac.h): that WAV is built in memory the same way, with the same
 * quantised frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "bb_crc32.h"
#include "bb_err.h"
#include "export.h"
#include "export_flac.h"
#include "export_meta.h"

#define S_EXP_FADE_DB     60.0 /* depth of the exponential fade */
#define S_LOOP_LINEAR_MIN 0.5  /* loops at least this correlated crossfade linearly */
#define S_PCM16_SCALE     32768.0
#define S_WAV_CHUNKS_ROOM 65536 /* bytes: a WAV's header and metadata chunks, with room */
#define S_PCM24_SCALE     8388608.0

double dsp_fade_gain(int curve, double t)
{
    if (t <= 0)
        return 0.0;
    if (t >= 1)
        return 1.0;
    switch (curve) {
    case DSP_FADE_LINEAR:
        return t;
    case DSP_FADE_EXPONENTIAL: {
        /* linear in dB over S_EXP_FADE_DB, pinned to 0 at t = 0 */
        double floor_gain = pow(10.0, -S_EXP_FADE_DB / 20.0);
        return (pow(10.0, -S_EXP_FADE_DB / 20.0 * (1.0 - t)) - floor_gain) / (1.0 - floor_gain);
    }
    case DSP_FADE_EQUAL_POWER:
    default:
        return sin(M_PI / 2 * t);
    }
}

/* Blends the xf frames ending at loop_end into the xf frames ending just before
 * loop_start. The two ranges never overlap (xf <= loop length). */
static void s_loop_crossfade(float *x, int ch, int64_t ls, int64_t le, int64_t xf, bool linear)
{
    for (int64_t i = 0; i < xf; i++) {
        double w = (double)(i + 1) / (double)xf; /* 1 at loop_end: it becomes ls - 1 */
        double g_src = linear ? w : sin(M_PI / 2 * w);
        double g_dst = linear ? 1.0 - w : cos(M_PI / 2 * w);
        float *d = x + (le + 1 - xf + i) * ch;
        const float *s = x + (ls - xf + i) * ch;
        for (int c = 0; c < ch; c++)
            d[c] = (float)(d[c] * g_dst + s[c] * g_src);
    }
}

/* x[k] = (float)((x[k] - dc[k % channels]) * gain) for k in [0, n), n a whole number of
 * frames: the fade-and-gain pass's steps for a frame between the fades. With SSE2 four
 * samples at a time for one or two channels (float subtraction, widening to double,
 * double product, rounding to float: the same operations, so the same floats). */
static void s_gain_run(float *x, int64_t n, const float *dc, int channels, double gain)
{
    int64_t k = 0;
#ifdef __SSE2__
    if (channels == 1 || channels == 2) {
        const __m128 d =
            channels == 1 ? _mm_set1_ps(dc[0]) : _mm_setr_ps(dc[0], dc[1], dc[0], dc[1]);
        const __m128d g = _mm_set1_pd(gain);
        for (; k + 4 <= n; k += 4) {
            __m128 v = _mm_sub_ps(_mm_loadu_ps(x + k), d);
            __m128 lo = _mm_cvtpd_ps(_mm_mul_pd(_mm_cvtps_pd(v), g));
            __m128 hi = _mm_cvtpd_ps(_mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(v, v)), g));
            _mm_storeu_ps(x + k, _mm_movelh_ps(lo, hi));
        }
    }
#endif
    for (; k < n; k++)
        x[k] = (float)((x[k] - dc[k % channels]) * gain);
}

int dsp_export_process(float *x, int64_t frames, int channels, const dsp_analysis_t *a,
                       double gain_db, int64_t *start_out, int64_t *len_out)
{
    int64_t start = a->cut_start < 0 ? 0 : a->cut_start;
    int64_t end = a->cut_end > frames ? frames : a->cut_end;
    if (end <= start || channels < 1)
        return BB_EINVAL;
    int64_t len = end - start;
    /* the DC the pipeline measured per channel (its dc[] covers DSP_MAX_CHANNELS) */
    float dc[DSP_MAX_CHANNELS] = {0};
    for (int c = 0; c < channels && c < DSP_MAX_CHANNELS; c++)
        dc[c] = (float)a->dc[c];
    int64_t xf = 0; /* the loop crossfade, when there is one */
    if (a->has_loop && a->loop_crossfade > 0 && a->loop_start > start && a->loop_end < end &&
        a->loop_end > a->loop_start) {
        xf = a->loop_crossfade;
        if (xf > a->loop_start - start)
            xf = a->loop_start - start;
        if (xf > a->loop_end - a->loop_start + 1)
            xf = a->loop_end - a->loop_start + 1;
    }

    /* 1. DC, on its own only when a crossfade reads frames the gain pass has not reached. */
    if (xf > 0) {
        for (int c = 0; c < channels && c < DSP_MAX_CHANNELS; c++) {
            if (dc[c] == 0.0f)
                continue;
            for (int64_t i = start; i < end; i++)
                x[i * channels + c] -= dc[c];
            dc[c] = 0.0f;
        }
    }

    /* 2. Loop crossfade, in raw-take frames. */
    if (xf > 0)
        s_loop_crossfade(x, channels, a->loop_start, a->loop_end, xf,
                         a->loop_score >= S_LOOP_LINEAR_MIN);

    /* 3. Fades and gain (and DC when not done above: the same float subtraction first, in
     * the same pass). */
    double gain = pow(10.0, gain_db / 20.0);
    float *s = x + start * channels;
    int dc_ch = channels < DSP_MAX_CHANNELS ? channels : DSP_MAX_CHANNELS;
    /* between the fades the gain is the same for every frame: [mid0, mid1) in one run */
    int64_t mid0 = a->fade_in > 0 ? a->fade_in : 0;
    int64_t mid1 = a->fade_out > 0 ? len - a->fade_out : len;
    if (mid0 < mid1 && dc_ch == channels)
        s_gain_run(s + mid0 * channels, (mid1 - mid0) * channels, dc, channels, gain);
    else
        mid0 = mid1 = 0;
    for (int64_t i = 0; i < len; i++) {
        if (i == mid0 && mid1 > mid0) {
            i = mid1 - 1;
            continue;
        }
        double g = gain;
        if (i < a->fade_in)
            g *= dsp_fade_gain(a->fade_curve, (double)i / (double)a->fade_in);
        int64_t from_end = len - 1 - i;
        if (from_end < a->fade_out)
            g *= dsp_fade_gain(a->fade_curve, (double)from_end / (double)a->fade_out);
        float *f = s + i * channels;
        for (int c = 0; c < dc_ch; c++)
            f[c] = (float)((f[c] - dc[c]) * g);
        for (int c = dc_ch; c < channels; c++)
            f[c] = (float)(f[c] * g);
    }
    *start_out = start;
    *len_out = len;
    return 0;
}

/* floor(v + 0.5) clipped to [lo, hi] (NaN: 0), without a call to libm's floor() per
 * sample: truncation, one down for negative non-integers. The same integers as floor(). */
static inline int64_t s_round_clip(double v, int64_t lo, int64_t hi)
{
    double t = v + 0.5;
    if (t >= (double)hi + 1.0) /* floor(t) > hi */
        return hi;
    if (t < (double)lo) /* floor(t) < lo */
        return lo;
    if (t != t)
        return 0;
    int64_t i = (int64_t)t;
    return (double)i > t ? i - 1 : i;
}

/* splitmix64: small, fast, good enough for dither. */
static uint64_t s_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double s_uniform(uint64_t *state)
{
    return (double)(s_next(state) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
}

void dsp_export_dither16(const float *x, int64_t samples, bool dither, uint64_t seed, int16_t *out)
{
    uint64_t st = seed;
    for (int64_t i = 0; i < samples; i++) {
        double v = (double)x[i] * S_PCM16_SCALE;
        if (dither)
            v += s_uniform(&st) - s_uniform(&st); /* triangular, -1..+1 LSB */
        out[i] = (int16_t)s_round_clip(v, -32768, 32767);
    }
}

/* floor(x * 2^23 + 0.5) clipped to 24 bits (NaN: 0): s_round_clip's integers, without
 * branches (so the compiler can take several samples at once). */
static inline int32_t s_round24(float x)
{
    double t = (double)x * S_PCM24_SCALE + 0.5;
    t = t == t ? t : 0.5;                /* NaN: floor(0.5) = 0 */
    t = t < -8388608.0 ? -8388608.0 : t; /* floor(t) < lo */
    t = t > 8388607.0 ? 8388607.0 : t;   /* floor(t) > hi, or t in (hi, hi + 1) */
    int32_t i = (int32_t)t;              /* towards zero ... */
    return i - (int32_t)((double)i > t); /* ... and one down for negative non-integers */
}

/* 24-bit PCM in the top bits of an int, as libsndfile's int interface takes it (FLAC). */
static void s_quantise24(const float *x, int64_t samples, int *out)
{
    for (int64_t i = 0; i < samples; i++)
        out[i] = s_round24(x[i]) * 256;
}

#ifdef __SSE2__
/* s_round24 of the two doubles of t (already scaled by 2^23), into the low two int32
 * lanes: the same steps on two samples at once (SSE2, every x86-64 has it). */
static inline __m128i s_round24_x2(__m128d t)
{
    const __m128d half = _mm_set1_pd(0.5), lo = _mm_set1_pd(-8388608.0),
                  hi = _mm_set1_pd(8388607.0);
    t = _mm_add_pd(t, half);
    __m128d num = _mm_cmpord_pd(t, t); /* NaN: 0.5 */
    t = _mm_or_pd(_mm_and_pd(num, t), _mm_andnot_pd(num, half));
    t = _mm_min_pd(_mm_max_pd(t, lo), hi);
    __m128i i = _mm_cvttpd_epi32(t);
    __m128d down = _mm_cmpgt_pd(_mm_cvtepi32_pd(i), t); /* all ones: one down */
    return _mm_add_epi32(i, _mm_shuffle_epi32(_mm_castpd_si128(down), _MM_SHUFFLE(3, 3, 2, 0)));
}
#endif

/* 24-bit PCM as a WAV file holds it (three bytes, little-endian), for sf_write_raw: what
 * libsndfile makes of s_quantise24's ints, without an int array and its conversion. out
 * holds samples * 3 + 1 bytes (with SSE2 each sample is stored as four bytes, the fourth
 * overwritten by the next sample's first). */
static void s_pack24(const float *x, int64_t samples, unsigned char *out)
{
    int64_t i = 0;
#ifdef __SSE2__
    const __m128d scale = _mm_set1_pd(S_PCM24_SCALE);
    for (; i + 4 <= samples; i += 4) {
        __m128 f = _mm_loadu_ps(x + i);
        __m128i a = s_round24_x2(_mm_mul_pd(_mm_cvtps_pd(f), scale));
        __m128i b = s_round24_x2(_mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(f, f)), scale));
        int32_t v[4];
        _mm_storeu_si128((__m128i *)v, _mm_unpacklo_epi64(a, b));
        for (int k = 0; k < 4; k++) /* x86 is little-endian: the low three bytes first */
            memcpy(out + 3 * (i + k), &v[k], 4);
    }
#endif
    for (; i < samples; i++) {
        uint32_t v = (uint32_t)s_round24(x[i]);
        out[3 * i] = (unsigned char)v;
        out[3 * i + 1] = (unsigned char)(v >> 8);
        out[3 * i + 2] = (unsigned char)(v >> 16);
    }
}

/* ---- a WAV file in memory, through libsndfile's virtual I/O ---- */

typedef struct {
    unsigned char *data;
    sf_count_t len, cap, pos;
    bool oom;
} s_mem_t;

static sf_count_t s_mem_len(void *user)
{
    return ((s_mem_t *)user)->len;
}

static sf_count_t s_mem_seek(sf_count_t offset, int whence, void *user)
{
    s_mem_t *m = user;
    sf_count_t to = whence == SEEK_SET   ? offset
                    : whence == SEEK_CUR ? m->pos + offset
                                         : m->len + offset;
    if (to < 0)
        return -1;
    m->pos = to;
    return to;
}

static sf_count_t s_mem_read(void *ptr, sf_count_t count, void *user)
{
    s_mem_t *m = user;
    sf_count_t n = m->pos < m->len ? m->len - m->pos : 0;
    n = count < n ? count : n;
    memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t s_mem_write(const void *ptr, sf_count_t count, void *user)
{
    s_mem_t *m = user;
    if (m->pos + count > m->cap) {
        sf_count_t cap = m->cap ? m->cap : 65536;
        while (cap < m->pos + count)
            cap *= 2;
        unsigned char *d = realloc(m->data, (size_t)cap);
        if (!d) {
            m->oom = true;
            return 0;
        }
        m->data = d;
        m->cap = cap;
    }
    if (m->pos > m->len) /* a seek past the end leaves zeros, as a file would */
        memset(m->data + m->len, 0, (size_t)(m->pos - m->len));
    memcpy(m->data + m->pos, ptr, (size_t)count);
    m->pos += count;
    if (m->pos > m->len)
        m->len = m->pos;
    return count;
}

static sf_count_t s_mem_tell(void *user)
{
    return ((s_mem_t *)user)->pos;
}

/* Sets the metadata, writes the frames and closes sf. The frames: pcm (16-bit), pcm24
 * (24-bit ints), packed24 (24-bit bytes of a WAV file) or else x (float), the first given.
 * 0, or BB_EIO with a message. */
static int s_write_frames(SNDFILE *sf, const SF_INFO *info, const char *path, const float *x,
                          const int16_t *pcm, const int *pcm24, const unsigned char *packed24,
                          int64_t frames, int bit_depth, bool dither, const dsp_export_meta_t *meta,
                          char *err, size_t errlen)
{
    int rc = 0;
    if (meta) {
        char merr[256];
        rc = dsp_export_set_meta(sf, info->format, info->samplerate, info->channels, bit_depth,
                                 dither, meta, merr, sizeof merr);
        if (rc)
            snprintf(err, errlen, "%s: %s", path, merr);
    }
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    sf_count_t wrote = 0;
    if (!rc)
        wrote = pcm     ? sf_writef_short(sf, pcm, frames)
                : pcm24 ? sf_writef_int(sf, pcm24, frames)
                : packed24
                    ? sf_write_raw(sf, packed24, frames * info->channels * 3) / (info->channels * 3)
                    : sf_writef_float(sf, x, frames);
    int close_rc = sf_close(sf);
    if (!rc && (wrote != frames || close_rc != 0)) {
        snprintf(err, errlen, "writing %s failed (disk full?)", path);
        rc = BB_EIO;
    }
    return rc;
}

/* Writes len bytes to a new file at path (created as libsndfile creates it, 0666 less the
 * umask). 0, or BB_EIO with a message (a full disk: a short write). */
int dsp_export_write_data(const char *path, const void *bytes, size_t len, char *err, size_t errlen)
{
    const unsigned char *data = bytes;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return BB_EIO;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int saved = done < len ? (errno ? errno : ENOSPC) : 0;
    if (close(fd) != 0 && !saved)
        saved = errno;
    if (saved) {
        snprintf(err, errlen, "writing %s failed (disk full?): %s", path, strerror(saved));
        return BB_EIO;
    }
    return 0;
}

int dsp_export_write_audio(uint32_t *crc, uint64_t *bytes, void **keep, const char *path,
                           const float *x, int64_t frames, int channels, int rate, int bit_depth,
                           bool flac, bool dither, uint64_t seed, const dsp_export_meta_t *meta,
                           char *err, size_t errlen)
{
    *crc = 0;
    *bytes = 0;
    if (keep)
        *keep = NULL;
    SF_INFO info = {.samplerate = rate, .channels = channels};
    int sub;
    switch (bit_depth) {
    case 16:
        sub = SF_FORMAT_PCM_16;
        break;
    case 24:
        sub = SF_FORMAT_PCM_24;
        break;
    case 32:
        sub = SF_FORMAT_FLOAT;
        break;
    default:
        snprintf(err, errlen, "bit depth %d: use 16, 24 or 32 (float)", bit_depth);
        return BB_EINVAL;
    }
    if (flac && sub == SF_FORMAT_FLOAT) {
        snprintf(err, errlen, "FLAC holds 16 or 24 bits, not 32-bit float");
        return BB_EINVAL;
    }
    info.format = (flac ? SF_FORMAT_FLAC : SF_FORMAT_WAV) | sub;
    if (!sf_format_check(&info)) {
        snprintf(err, errlen, "%s: libsndfile cannot write %d Hz, %d channels, %d bit %s", path,
                 rate, channels, bit_depth, flac ? "FLAC" : "WAV");
        return BB_EINVAL;
    }
    int16_t *pcm = NULL;
    int *pcm24 = NULL;
    size_t samples = (size_t)(frames > 0 ? frames : 1) * (size_t)channels;
    if (bit_depth == 16 && !(pcm = malloc(samples * sizeof *pcm))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return BB_ENOMEM;
    }
    unsigned char *packed24 = NULL; /* a WAV file's 24-bit data: bytes, written raw */
    if (bit_depth == 24 && (flac ? !(pcm24 = malloc(samples * sizeof *pcm24))
                                 : !(packed24 = malloc(samples * 3 + 1)))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return BB_ENOMEM;
    }
    if (pcm)
        dsp_export_dither16(x, frames * channels, dither, seed, pcm);
    if (pcm24)
        s_quantise24(x, frames * channels, pcm24);
    if (packed24)
        s_pack24(x, frames * channels, packed24);

    /* WAV, and the WAV a FLAC with metadata decodes to (for its chunks): in memory */
    int rc = 0;
    s_mem_t wav = {0};
    /* room for the samples and the header's chunks at once: grown by doubling from 64 KiB,
     * a WAV of a few MiB was copied by realloc several times */
    size_t room = samples * (size_t)(bit_depth / 8) + S_WAV_CHUNKS_ROOM;
    if ((!flac || meta) && (wav.data = malloc(room)) != NULL)
        wav.cap = (sf_count_t)room;
    if (!flac || meta) {
        SF_VIRTUAL_IO vio = {s_mem_len, s_mem_seek, s_mem_read, s_mem_write, s_mem_tell};
        SF_INFO winfo = info;
        winfo.format = SF_FORMAT_WAV | sub;
        SNDFILE *wsf = sf_open_virtual(&vio, SFM_WRITE, &winfo, &wav);
        if (!wsf) {
            snprintf(err, errlen, "%s: cannot build its RIFF chunks: %s", path, sf_strerror(NULL));
            rc = BB_EIO;
        } else {
            rc = s_write_frames(wsf, &winfo, path, x, pcm, pcm24, packed24, frames, bit_depth,
                                dither, meta, err, errlen);
            if (!rc && wav.oom) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = BB_ENOMEM;
            }
        }
    }

    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!flac) {
        /* the file is the WAV in memory: written in one go, its CRC taken from memory */
        if (!rc) {
            rc = dsp_export_write_data(tmp, wav.data, (size_t)wav.len, err, errlen);
            if (!rc && rename(tmp, path) != 0) {
                snprintf(err, errlen, "cannot rename into %s: %s", path, strerror(errno));
                rc = BB_EIO;
            }
            if (rc)
                unlink(tmp);
        }
        if (!rc) {
            *crc = bb_crc32(0, wav.data, (size_t)wav.len);
            *bytes = (uint64_t)wav.len;
            if (keep) {
                *keep = wav.data;
                wav.data = NULL;
            }
        }
        free(wav.data);
        free(pcm);
        free(pcm24);
        free(packed24);
        return rc;
    }
    SNDFILE *sf = rc ? NULL : sf_open(tmp, SFM_WRITE, &info);
    if (!rc && !sf) {
        snprintf(err, errlen, "cannot create %s: %s", path, sf_strerror(NULL));
        rc = BB_EIO;
    }
    if (sf) {
        rc = s_write_frames(sf, &info, path, x, pcm, pcm24, NULL, frames, bit_depth, dither, meta,
                            err, errlen);
        if (!rc && flac && meta)
            rc = dsp_flac_add_riff(tmp, wav.data, (size_t)wav.len, err, errlen);
        if (!rc && rename(tmp, path) != 0) {
            snprintf(err, errlen, "cannot rename into %s: %s", path, strerror(errno));
            rc = BB_EIO;
        }
        if (rc)
            unlink(tmp);
    }
    free(wav.data);
    free(pcm);
    free(pcm24);
    free(packed24);
    return rc;
}

int dsp_export_audio_as_wav(const char *path, int bit_depth, void **data, size_t *len, char *err,
                            size_t errlen)
{
    *data = NULL;
    *len = 0;
    SF_INFO in = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &in);
    if (!sf) {
        snprintf(err, errlen, "cannot read %s: %s", path, sf_strerror(NULL));
        return BB_EIO;
    }
    int sub = bit_depth == 16   ? SF_FORMAT_PCM_16
              : bit_depth == 24 ? SF_FORMAT_PCM_24
                                : SF_FORMAT_FLOAT;
    SF_INFO out = {
        .samplerate = in.samplerate, .channels = in.channels, .format = SF_FORMAT_WAV | sub};
    /* ints carry PCM through unchanged (libsndfile scales 16/24 bits into the top bits) */
    size_t samples = (size_t)(in.frames > 0 ? in.frames : 1) * (size_t)in.channels;
    int *pcm = sub == SF_FORMAT_FLOAT ? NULL : malloc(samples * sizeof *pcm);
    float *fl = sub == SF_FORMAT_FLOAT ? malloc(samples * sizeof *fl) : NULL;
    int rc = 0;
    if (!pcm && !fl) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = BB_ENOMEM;
    } else if ((pcm ? sf_readf_int(sf, pcm, in.frames) : sf_readf_float(sf, fl, in.frames)) !=
               in.frames) {
        snprintf(err, errlen, "cannot read %s: %s", path, sf_strerror(sf));
        rc = BB_EIO;
    }
    sf_close(sf);
    s_mem_t mem = {0};
    if (!rc) {
        SF_VIRTUAL_IO vio = {s_mem_len, s_mem_seek, s_mem_read, s_mem_write, s_mem_tell};
        SNDFILE *w = sf_open_virtual(&vio, SFM_WRITE, &out, &mem);
        if (!w) {
            snprintf(err, errlen, "%s: cannot write it as WAV: %s", path, sf_strerror(NULL));
            rc = BB_EIO;
        } else {
            sf_count_t wrote =
                pcm ? sf_writef_int(w, pcm, in.frames) : sf_writef_float(w, fl, in.frames);
            if (sf_close(w) != 0 || wrote != in.frames || mem.oom) {
                snprintf(err, errlen, "%s: cannot write it as WAV (out of memory?)", path);
                rc = BB_ENOMEM;
            }
        }
    }
    free(pcm);
    free(fl);
    if (rc) {
        free(mem.data);
        return rc;
    }
    *data = mem.data;
    *len = (size_t)mem.len;
    return 0;
}
