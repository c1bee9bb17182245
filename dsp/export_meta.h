/*
 * export_meta.h — the metadata libsndfile writes into a sample file: bext and smpl chunks
 * (WAV) and title/software/date strings (WAV LIST INFO, FLAC Vorbis comments).
 */
#ifndef DSP_EXPORT_META_H
#define DSP_EXPORT_META_H

#include <sndfile.h>
#include <stdbool.h>
#include <stddef.h>

#include "export.h"

#define DSP_BEXT_ORIGINATOR "Batcherbird"

/* Sets the chunks on `sf`, opened for writing with `format`, before any audio is written
 * (libsndfile writes the header then). Returns 0 or BB_EIO naming what was refused. */
int dsp_export_set_meta(SNDFILE *sf, int format, int rate, int channels, int bit_depth, bool dither,
                        const dsp_export_meta_t *meta, char *err, size_t errlen);

/* Splits a pitch (the played note and the measured deviation in cents) into what the
 * smpl chunk holds: a unity note and a fraction 0..99 cents above it. */
void dsp_export_smpl_pitch(int note, double cents, int *unity, int *fraction_cents);

#endif
