/*
 * export_meta.c — bext, smpl and strings through libsndfile's commands.
 *
 * Facts measured on libsndfile 1.2.0 (tests/test_export.c asserts them on real files):
 * - SFC_SET_BROADCAST_INFO writes bext version 2 whatever version is asked for, and appends
 *   its own "T=libsndfile-..." line to the coding history.
 * - SFC_SET_INSTRUMENT writes smpl: dwSamplePeriod = 1e9 / rate (ns, truncated),
 *   dwMIDIUnityNote = basenote, dwMIDIPitchFraction = detune / 100 * 2^32 where a negative
 *   detune wraps to 100 + detune without lowering the note (so we never pass a negative
 *   one), and a loop's SF_INSTRUMENT end is exclusive: the file holds end - 1 (the smpl
 *   dwEnd is the last frame played). Key and velocity ranges are not stored.
 * - Both must be set before the first audio write.
 * FLAC has no bext or smpl: root key and loops live in the SFZ/DecentSampler files and the
 * file name; the strings become Vorbis comments.
 */
#include "export_meta.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bb_err.h"

void dsp_export_smpl_pitch(int note, double cents, int *unity, int *fraction_cents)
{
    int c = (int)(cents >= 0 ? cents + 0.5 : cents - 0.5);
    int u = note;
    while (c < 0) {
        c += 100;
        u--;
    }
    while (c >= 100) {
        c -= 100;
        u++;
    }
    if (u < 0) {
        u = 0;
        c = 0;
    } else if (u > 127) {
        u = 127;
        c = 0;
    }
    *unity = u;
    *fraction_cents = c;
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
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char date[16], clock[16], iso[32];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);

    /* Strings first: libsndfile keeps them for the header (WAV) or the comment block. */
    sf_set_string(sf, SF_STR_TITLE, meta->description);
    sf_set_string(sf, SF_STR_SOFTWARE, DSP_BEXT_ORIGINATOR);
    sf_set_string(sf, SF_STR_DATE, iso);
    char comment[160];
    snprintf(comment, sizeof comment, "root=%d loop=%lld-%lld ref=%s", meta->unity_note,
             meta->has_loop ? (long long)meta->loop_start : -1LL,
             meta->has_loop ? (long long)meta->loop_end : -1LL, meta->reference);
    sf_set_string(sf, SF_STR_COMMENT, comment);

    if ((format & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAV)
        return 0; /* FLAC: no bext, no smpl (see the top of the file) */

    SF_BROADCAST_INFO bext;
    memset(&bext, 0, sizeof bext);
    s_copy(bext.description, sizeof bext.description, meta->description);
    s_copy(bext.originator, sizeof bext.originator, DSP_BEXT_ORIGINATOR);
    s_copy(bext.originator_reference, sizeof bext.originator_reference, meta->reference);
    memcpy(bext.origination_date, date, sizeof bext.origination_date);
    memcpy(bext.origination_time, clock, sizeof bext.origination_time);
    uint64_t tref = meta->time_reference > 0 ? (uint64_t)meta->time_reference : 0;
    bext.time_reference_low = (uint32_t)(tref & 0xFFFFFFFFu);
    bext.time_reference_high = (uint32_t)(tref >> 32);
    bext.version = 1;
    /* Coding history (EBU R 98): the capture, then this export. */
    int n = snprintf(bext.coding_history, sizeof bext.coding_history,
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
