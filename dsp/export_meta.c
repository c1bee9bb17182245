/*
 * export_meta.c — bext, smpl and strings through libsndfile's commands.
 *
 * Facts measured on libsndfile 1.2.0 (tests/test_export.c asserts them on real files):
 * - SFC_SET_BROADCAST_INFO writes bext version 2 (the loudness fields included) and
 *   appends its own "T=libsndfile-..." line to the coding history.
 * - SFC_SET_INSTRUMENT writes smpl: dwSamplePeriod = 1e9 / rate (ns, truncated),
 *   dwMIDIUnityNote = basenote, dwMIDIPitchFraction = detune / 100 * 2^32 where a negative
 *   detune wraps to 100 + detune without lowering the note (so we never pass a negative
 *   one), and a loop's SF_INSTRUMENT end is exclusive: the file holds end - 1 (the smpl
 *   dwEnd is the last frame played). Key and velocity ranges are not stored.
 * - Both must be set before the first audio write.
 * bext (EBU Tech 3285 v2): OriginationDate/Time are when the sample was recorded (local
 * time), TimeReference the samples since that day's local midnight, the loudness fields
 * 0x7FFF ("not computed"). FLAC has no bext or smpl chunks of its own: export_flac.c
 * stores the same chunks as RIFF foreign metadata; the strings become Vorbis comments.
 */
#include "export_meta.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bb_err.h"

#define S_BEXT_VERSION      2
#define S_BEXT_NOT_COMPUTED 0x7FFF /* loudness fields: "value not computed" (Tech 3285 v2) */
#define S_SMPL_FRACTION_MAX 99
#define S_SECONDS_PER_DAY   86400.0

void dsp_export_smpl_pitch(int note, double cents, int *unity, int *fraction_cents)
{
    int c = (int)lround(cents);
    *unity = note < 0 ? 0 : note > 127 ? 127 : note;
    *fraction_cents = c <= 0 ? 0 : c > S_SMPL_FRACTION_MAX ? S_SMPL_FRACTION_MAX : c;
}

int64_t dsp_export_time_reference(double unix_s, int rate)
{
    if (!(unix_s > 0) || rate <= 0)
        return 0;
    time_t whole = (time_t)floor(unix_s);
    struct tm tm;
    localtime_r(&whole, &tm);
    double since = tm.tm_hour * 3600.0 + tm.tm_min * 60.0 + tm.tm_sec + (unix_s - (double)whole);
    if (since < 0 || since >= S_SECONDS_PER_DAY + 1) /* leap second or clock oddity */
        since = 0;
    return (int64_t)llround(since * rate);
}

static void s_copy(char *dst, size_t cap, const char *src)
{
    /* bext text fields are fixed-size and need not be NUL-terminated when full */
    size_t n = strlen(src);
    if (n > cap)
        n = cap;
    memcpy(dst, src, n);
}

static const char *s_mode(int channels)
{
    return channels == 1 ? ",M=mono" : channels == 2 ? ",M=stereo" : "";
}

int dsp_export_set_meta(SNDFILE *sf, int format, int rate, int channels, int bit_depth, bool dither,
                        const dsp_export_meta_t *meta, char *err, size_t errlen)
{
    time_t when = meta->recorded_unix > 0 ? (time_t)floor(meta->recorded_unix) : time(NULL);
    struct tm tm;
    localtime_r(&when, &tm);
    char date[16], clock[16], iso[32];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);

    /* Strings first: libsndfile keeps them for the header (WAV) or the comment block. */
    sf_set_string(sf, SF_STR_TITLE, meta->description);
    sf_set_string(sf, SF_STR_SOFTWARE, DSP_BEXT_ORIGINATOR);
    sf_set_string(sf, SF_STR_DATE, iso);
    char comment[160];
    int n = snprintf(comment, sizeof comment, "root=%d", meta->unity_note);
    if (meta->pitch_fraction_cents > 0)
        n += snprintf(comment + n, sizeof comment - (size_t)n, " fraction=%d",
                      meta->pitch_fraction_cents);
    if (meta->has_loop)
        n += snprintf(comment + n, sizeof comment - (size_t)n, " loop=%lld-%lld",
                      (long long)meta->loop_start, (long long)meta->loop_end);
    snprintf(comment + n, sizeof comment - (size_t)n, " ref=%s", meta->reference);
    sf_set_string(sf, SF_STR_COMMENT, comment);

    if ((format & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAV)
        return 0; /* FLAC: the chunks travel as foreign metadata (export_flac.c) */

    SF_BROADCAST_INFO bext;
    memset(&bext, 0, sizeof bext);
    s_copy(bext.description, sizeof bext.description, meta->description);
    s_copy(bext.originator, sizeof bext.originator, DSP_BEXT_ORIGINATOR);
    s_copy(bext.originator_reference, sizeof bext.originator_reference, meta->reference);
    memcpy(bext.origination_date, date, sizeof bext.origination_date);
    memcpy(bext.origination_time, clock, sizeof bext.origination_time);
    uint64_t tref = (uint64_t)dsp_export_time_reference(meta->recorded_unix, rate);
    bext.time_reference_low = (uint32_t)(tref & 0xFFFFFFFFu);
    bext.time_reference_high = (uint32_t)(tref >> 32);
    bext.version = S_BEXT_VERSION;
    bext.loudness_value = bext.loudness_range = bext.max_true_peak_level = S_BEXT_NOT_COMPUTED;
    bext.max_momentary_loudness = bext.max_shortterm_loudness = S_BEXT_NOT_COMPUTED;
    /* Coding history (EBU R 98): the capture, then this export. */
    n = snprintf(bext.coding_history, sizeof bext.coding_history,
                 "A=PCM,F=%d,W=32%s,T=Batcherbird capture (float)\r\n"
                 "A=PCM,F=%d,W=%d%s,T=Batcherbird export%s\r\n",
                 rate, s_mode(channels), rate, bit_depth, s_mode(channels),
                 bit_depth == 16 && dither ? " (TPDF dither)" : "");
    bext.coding_history_size = (uint32_t)(n > 0 ? n : 0);
    if (sf_command(sf, SFC_SET_BROADCAST_INFO, &bext, sizeof bext) != SF_TRUE) {
        snprintf(err, errlen, "the bext chunk was refused: %s", sf_strerror(sf));
        return BB_EIO;
    }

    SF_INSTRUMENT inst;
    memset(&inst, 0, sizeof inst);
    inst.basenote = (char)meta->unity_note;
    inst.detune = (char)meta->pitch_fraction_cents; /* 0..99: never negative (see above) */
    inst.velocity_lo = 1;
    inst.velocity_hi = 127;
    inst.key_lo = 0;
    inst.key_hi = 127;
    if (meta->has_loop) {
        inst.loop_count = 1;
        inst.loops[0].mode = SF_LOOP_FORWARD;
        inst.loops[0].start = (unsigned)meta->loop_start;
        inst.loops[0].end = (unsigned)(meta->loop_end + 1); /* exclusive in SF_INSTRUMENT */
        inst.loops[0].count = 0;                            /* forever */
    }
    if (sf_command(sf, SFC_SET_INSTRUMENT, &inst, sizeof inst) != SF_TRUE) {
        snprintf(err, errlen, "the smpl chunk was refused: %s", sf_strerror(sf));
        return BB_EIO;
    }
    return 0;
}
