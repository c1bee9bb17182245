/*
 * export_meta.h — the metadata libsndfile writes into a sample file: bext and smpl chunks
 * (WAV) and title/software/date strings (WAV LIST INFO, FLAC Vorbis comments).
 */
#ifndef DSP_EXPORT_META_H
#define DSP_EXPORT_META_H

#include <sndfile.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"

#define DSP_BEXT_ORIGINATOR "Batcherbird"

/* Sets the chunks on `sf`, opened for writing with `format`, before any audio is written
 * (libsndfile writes the header then). Returns 0 or BB_EIO naming what was refused. */
int dsp_export_set_meta(SNDFILE *sf, int format, int rate, int channels, int bit_depth, bool dither,
                        const dsp_export_meta_t *meta, char *err, size_t errlen);

/* What the smpl chunk says about a sample's pitch, from the played note and how far the
 * sample is from it (measured cents; pass 0 when no tuning correction is wanted).
 * dwMIDIUnityNote is always the played note: readers that ignore dwMIDIPitchFraction
 * (libsndfile exposes it only as a 0..99 "detune"; ConvertWithMoss clamps it to 0..+100
 * cents; many samplers skip it) would otherwise map a flat sample a semitone low. The
 * fraction, which can only say "this many cents above the unity note", is written for a
 * sharp sample only; the correction of a flat one lives where players read it (SFZ tune,
 * DecentSampler tuning, SF2 fineTune, .multisample tune). */
void dsp_export_smpl_pitch(int note, double cents, int *unity, int *fraction_cents);

/* bext TimeReference of a sample first heard at `unix_s` (UTC seconds) at `rate`: the
 * samples since the local midnight of that day (EBU Tech 3285). 0 for unix_s <= 0. */
int64_t dsp_export_time_reference(double unix_s, int rate);

#endif
