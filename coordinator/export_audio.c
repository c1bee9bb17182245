/*
 * export_audio.c — writes sample files with libsndfile: WAV 16/24-bit PCM or 32-bit
 * float, FLAC 16/24. Float input is clipped, not wrapped, if it ever exceeds full scale.
 * The file is written under a temporary name and renamed, so a crash never leaves a
 * half-written sample with the final name.
 */
#include <errno.h>
#include <sndfile.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bb_err.h"
#include "export.h"

int coord_export_write_audio(const char *path, const float *x, int64_t frames, int channels,
                             int rate, int bit_depth, bool flac, char *err, size_t errlen)
{
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
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    SNDFILE *sf = sf_open(tmp, SFM_WRITE, &info);
    if (!sf) {
        snprintf(err, errlen, "cannot create %s: %s", path, sf_strerror(NULL));
        return BB_EIO;
    }
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    sf_count_t wrote = sf_writef_float(sf, x, frames);
    int close_rc = sf_close(sf);
    if (wrote != frames || close_rc != 0) {
        snprintf(err, errlen, "writing %s failed (disk full?)", path);
        unlink(tmp);
        return BB_EIO;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename into %s: %s", path, strerror(errno));
        unlink(tmp);
        return BB_EIO;
    }
    return 0;
}
