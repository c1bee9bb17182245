/*
 * export_flac.h — RIFF chunks (bext, smpl, LIST INFO) carried in a FLAC file as foreign
 * metadata, the way `flac --keep-foreign-metadata` stores them, so that
 * `flac -d --keep-foreign-metadata` gives back a WAV with the root key, loops and bext
 * of the sample, and tools that read FLAC foreign metadata find them without our SFZ.
 *
 * The layout (flac's src/flac/foreign_metadata.c, format "riff"): one APPLICATION block
 * of id "riff" per piece of the WAV file outside the audio, in file order: the 12-byte
 * "RIFF" <size> "WAVE" header; every chunk before the audio whole (header, body, pad
 * byte), "fmt " included; the 8-byte "data" chunk header alone; every chunk after the
 * audio whole. Sizes are those of the WAV file the FLAC decodes to.
 */
#ifndef DSP_EXPORT_FLAC_H
#define DSP_EXPORT_FLAC_H

#include <stddef.h>

#define DSP_FLAC_RIFF_ID "riff" /* APPLICATION id flac uses for RIFF/WAVE foreign metadata */

/* Adds the foreign-metadata blocks of `wav` (a whole WAV file in memory, `len` bytes,
 * holding the same audio as the FLAC file) to the FLAC file at `flac_path`, after its
 * other metadata. Returns 0, BB_EINVAL when `wav` is not a WAV file flac would accept,
 * or BB_EIO with a message. */
int dsp_flac_add_riff(const char *flac_path, const unsigned char *wav, size_t len, char *err,
                      size_t errlen);

#endif
