/*
 * export.h — turn an instrument's analysed takes into a sampler library.
 *
 * For each usable take: read the raw take, remove its DC offset, cut it where the analysis
 * says, crossfade the loop, apply the fades and the normalisation gain, and write it
 * (WAV with bext + smpl chunks, or FLAC) under a name samplers auto-map. Then write the
 * instrument files that map every sample (SFZ, DecentSampler), the instrument's record,
 * and rebuild the library's manifest.json and report.html from every instrument in the
 * library folder. Takes whose verdict is FAIL are never exported; they are listed in the
 * record and the report.
 *
 * Layout under out_dir (the library root):
 *   <Instrument>/<Instrument>.sfz, <Instrument>/<Instrument>.dspreset,
 *   <Instrument>/samples/<name>.wav|flac, <Instrument>/.batcherbird-instrument.json,
 *   manifest.json, report.html
 * An instrument is built in a hidden staging folder and swapped in whole, so a re-export
 * leaves no stale samples and a crash leaves the old or the new folder, never a mix.
 * Nothing Batcherbird did not write is deleted or overwritten (export_library.h): an
 * instrument folder without its record, or a manifest.json or report.html someone else
 * wrote, stops the export with an error naming it. On a re-export, the files the user
 * added to the instrument folder are moved into the new folder at the same paths; a file
 * Batcherbird wrote that the user changed since, or a file of the user's where the export
 * writes one, stops the export before anything is written, naming it.
 *
 * Processing is float from the raw take to the writer; 16-bit output is TPDF-dithered.
 */
#ifndef DSP_EXPORT_H
#define DSP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bb_fs.h"
#include "bb_json.h"
#include "bb_notes.h"
#include "bb_take_id.h"
#include "export_library.h"
#include "export_map.h"
#include "pipeline.h"
#include "take_raw.h"

typedef enum {
    DSP_NORM_INSTRUMENT = 0, /* one gain for the whole instrument (default) */
    DSP_NORM_VELOCITY,       /* one gain per velocity layer */
    DSP_NORM_SAMPLE,         /* every sample to the target */
    DSP_NORM_NONE
} dsp_norm_mode_t;

/* Tokens: {instrument} (safe name), {note} (pitch class, "C#"), {octave}, {name} ("C#3"),
 * {midi} (3 digits), {velocity} (3 digits), {rr}, {release} ("_rel" on release samples,
 * else empty). A template without {release} gets "_rel" appended on release samples. */
#define DSP_EXPORT_NAME_DEFAULT "{instrument}_{note}{octave}_{midi}_v{velocity}_rr{rr}{release}"

#define DSP_EXPORT_INST_RECORD    ".batcherbird-instrument.json" /* in each instrument folder */
#define DSP_EXPORT_LIBRARY_RECORD ".batcherbird-library.json"    /* at the root: manifest, report */
#define DSP_EXPORT_STAGING_MARK   ".batcherbird-staging" /* in a staging folder while it is one */
/* At the root: the records of instruments whose takes all failed QC (<safe name>.json), so
 * that the manifest and the report still list them with their takes' reasons; an
 * instrument's record there goes when it is exported. */
#define DSP_EXPORT_FAILED_DIR      ".batcherbird-failed"
#define DSP_EXPORT_MANIFEST        "manifest.json"
#define DSP_EXPORT_MANIFEST_FORMAT "batcherbird-library" /* manifest.json's "format" */
#define DSP_EXPORT_REPORT_TITLE    "<title>Batcherbird library report</title>" /* report.html's */
#define DSP_EXPORT_REPORT          "report.html"
#define DSP_EXPORT_KEEP_WAV_BYTES  ((uint64_t)256 << 20) /* see dsp_export_sample_t.wav */
#define DSP_THUMB_COLS             160 /* waveform thumbnail columns in the report */
#define DSP_THUMB_SCALE            100 /* thumbnail values are -100..100 of full scale */

/* The instrument files written besides the samples (all by default), each from the one
 * canonical map: <Instrument>.sfz, .dspreset, .sf2 (SoundFont 2, export_sf2.c) and
 * .multisample (Bitwig/PreSonus, export_multisample.c). */
typedef enum {
    DSP_FILE_SFZ = 0,
    DSP_FILE_DSPRESET,
    DSP_FILE_SF2,
    DSP_FILE_MULTISAMPLE,
    DSP_FILE_KINDS
} dsp_inst_file_kind_t;
#define DSP_FORMATS_ALL ((1u << DSP_FILE_KINDS) - 1)

typedef struct {
    const char *out_dir;   /* the library root */
    int bit_depth;         /* 16, 24, 32 (float) */
    bool flac;             /* FLAC instead of WAV (16 or 24 bit) */
    double peak_target_db; /* default -1 */
    dsp_norm_mode_t normalise;
    bb_note_convention_t notes; /* for file names and the report */
    dsp_map_config_t map;       /* key stretch and extend (export_map.h) */
    bool dither;                /* TPDF dither when reducing to 16 bits (default on) */
    bool tune;                  /* tuning correction from the measured pitch (smpl, SFZ tune) */
    const char *name_template;  /* NULL or "": DSP_EXPORT_NAME_DEFAULT */
    bool loop_sustain;          /* SFZ loop_sustain (play the recorded tail) not loop_continuous */
    double amp_release_s;       /* the samplers' amp envelope release */
    bool library_files;         /* rebuild manifest.json and report.html at out_dir (default on) */
    unsigned formats;           /* bit 1 << dsp_inst_file_kind_t per instrument file to write */
    /* which instrument folders of out_dir the manifest and report list: NULL = every one with
     * a record; the coordinator lists only those it exported (a record planted in the
     * folder is not believed) */
    bool (*member)(void *arg, const char *folder);
    void *member_arg;
    /* what Batcherbird wrote into the instrument's folder before, as written (paths from
     * out_dir; the coordinator's database); NULL: what the folder's record says */
    const dsp_library_file_t *owned;
    size_t n_owned;
} dsp_export_config_t;
#define DSP_EXPORT_CONFIG_INIT                                                                     \
    {                                                                                              \
        .out_dir = NULL, .bit_depth = 24, .flac = false, .peak_target_db = -1.0,                   \
        .normalise = DSP_NORM_INSTRUMENT, .notes = BB_NOTES_C3_IS_60, .map = DSP_MAP_CONFIG_INIT,  \
        .dither = true, .tune = false, .name_template = NULL, .loop_sustain = false,               \
        .amp_release_s = 0.3, .library_files = true, .formats = DSP_FORMATS_ALL, .member = NULL,   \
        .member_arg = NULL, .owned = NULL, .n_owned = 0                                            \
    }

/* Another take recorded for the same slot (note, velocity, round robin, trigger): a failed
 * attempt that was recorded again, or one a later attempt replaced. For the report. */
typedef struct {
    const char *take_id;
    int attempt; /* 1-based; 0 when unknown */
    int verdict; /* DSP_PASS / WARN / FAIL */
    const char *reasons;
} dsp_export_retake_t;

typedef struct {
    const char *take_id;
    const char *path; /* raw take audio; its JSON sidecar (same base name) is read if present */
    int note, velocity, rr;
    bool release;
    dsp_analysis_t analysis;
    int attempt;                        /* 1-based attempt of this take; 0 when unknown */
    const dsp_export_retake_t *retakes; /* the slot's other takes (may be NULL) */
    size_t n_retakes;
    /* The raw take already in memory (dsp/recut.c keeps it from the analysis), or NULL: the
     * export reads `path`. Interleaved float, `frames` x `channels` at `rate` Hz, as
     * dsp_raw_read_audio gives it. Owned by the caller, who frees it after the export; the
     * export processes it in place (DC removal, loop crossfade, fades, gain), so it holds
     * the sample, not the raw take, afterwards. */
    float *audio;
    int64_t frames;
    int channels, rate;
    const dsp_raw_meta_t *meta; /* its sidecar already read, or NULL: read beside path */
} dsp_export_take_t;

typedef struct {
    char dir[1024]; /* the instrument's folder */
    char sfz[1024];
    char dspreset[1024];
    char sf2[1024];         /* empty when not written */
    char multisample[1024]; /* empty when not written */
    int files;              /* samples written */
    int skipped;            /* failed takes not exported */
    double gain_db;         /* instrument gain (DSP_NORM_INSTRUMENT) */
    int replaced;           /* samples of the earlier export of it this one replaced; -1: none */
} dsp_export_result_t;

/* ---- the instrument as exported: what the instrument files, record and report show ---- */

typedef struct {
    char file[320]; /* relative to the instrument folder: samples/<name>.wav */
    char take_id[BB_TAKE_ID_MAX + 1];
    dsp_map_entry_t map; /* note, velocity, rr, release; ranges from dsp_map_build */
    int rate, channels;
    int64_t frames;
    bool has_loop;
    int64_t loop_start, loop_end; /* frames of the sample, loop_end inclusive */
    int64_t loop_crossfade;       /* frames crossfaded before loop_end */
    double gain_db;
    double tune_cents;         /* correction to apply when played (0 unless tune is on) */
    int smpl_unity;            /* smpl unity note written (the played note) */
    double release_decay_db_s; /* release samples: how fast the held note decayed (dB/s, >= 0),
                                  played back as SFZ rt_decay / DecentSampler releaseTriggerDecay */
    double release_hold_s;     /* release samples: how long the note was held before key-up */
    double release_keyup_db;   /* release samples: the held note at the key-up (the node's
                                  measure, else the take's), and where the sample starts (the
                                  20 ms after the fade-in): dBFS as exported */
    double release_start_db;
    double peak_db;         /* of the written sample */
    int64_t time_reference; /* bext TimeReference: samples since local midnight */
    int64_t stream_frame;   /* the sample's first frame in the node's stream */
    dsp_analysis_t qc;
    int8_t thumb_min[DSP_THUMB_COLS], thumb_max[DSP_THUMB_COLS];
    uint64_t bytes; /* file size and CRC-32 as written */
    uint32_t crc32;
    int attempt;
    const dsp_export_retake_t *retakes; /* the caller's, valid while exporting */
    size_t n_retakes;
    /* The WAV file's `bytes` bytes as written, kept by dsp_export_instrument until its
     * instrument files are written (up to DSP_EXPORT_KEEP_WAV_BYTES an instrument), so that
     * the .sf2 and the .multisample take them from memory instead of reading the file
     * back; NULL: read the file. */
    const void *wav;
} dsp_export_sample_t;

typedef struct {
    char take_id[BB_TAKE_ID_MAX + 1];
    int note, velocity, rr;
    bool release;
    dsp_analysis_t qc;
    bool has_thumb; /* the raw take's waveform over its cut, when it could be read */
    int8_t thumb_min[DSP_THUMB_COLS], thumb_max[DSP_THUMB_COLS];
    int attempt;
    const dsp_export_retake_t *retakes;
    size_t n_retakes;
} dsp_export_skip_t;

typedef struct {
    const char *name; /* as the user wrote it */
    char safe[BB_SAFE_NAME_MAX + 8];
    int bit_depth;
    bool flac;
    bool tune, loop_sustain;
    double amp_release_s;
    dsp_map_config_t map;
    double gain_db;
    bb_note_convention_t notes;
    const char *failed; /* no sample exported: why (the record's "failed"); NULL: exported */
    dsp_export_sample_t *samples;
    size_t n_samples;
    dsp_export_skip_t *skipped;
    size_t n_skipped;
    struct {
        bool written;
        char name[BB_SAFE_NAME_MAX + 32]; /* in the instrument folder */
        uint64_t bytes;                   /* as written, for the manifest */
        uint32_t crc32;
        char note[256]; /* what a user should know: why it was not written, what it lacks */
    } files[DSP_FILE_KINDS];
} dsp_export_inst_t;

/* ---- export.c ---- */

/* Exports one instrument. Returns 0; BB_ENOTFOUND with a message when no take passed QC (no
 * instrument folder or files are written; its record, with the failed takes and their
 * reasons, goes to DSP_EXPORT_FAILED_DIR for the manifest and the report, when the output
 * folder can take it); or an error with a message naming the file. */
int dsp_export_instrument(const dsp_export_config_t *cfg, const char *instrument,
                          dsp_export_take_t *takes, size_t n, dsp_export_result_t *res, char *err,
                          size_t errlen);

/* Checks a name template: known tokens, balanced braces, no path separators or control
 * characters. Returns 0 or BB_EINVAL with a message. */
int dsp_export_template_check(const char *tmpl, char *err, size_t errlen);

/* The file name (without extension) of a sample under `tmpl` (NULL: the default), e.g.
 * Instrument_C3_060_v127_rr1[_rel]. Returns 0, or BB_EINVAL for a bad template. */
int dsp_export_format_name(const char *tmpl, const char *safe_instrument, int note, int velocity,
                           int rr, bool release, bb_note_convention_t conv, char *out, size_t len);

/* The default name (kept for callers of the fixed format). */
void dsp_export_sample_name(const char *safe_instrument, int note, int velocity, int rr,
                            bool release, bb_note_convention_t conv, char *out, size_t len);

/* How a release sample follows the time the key was held, where the held note decayed
 * (piano, plucks): a player lowers it by `decay` dB per second since the note-on (SFZ
 * rt_decay, DecentSampler releaseTriggerDecay) and raises it by `volume` dB, so released
 * after the hold it was recorded with it plays at its recorded level, and released sooner
 * it is louder, as the instrument was. The rise is at most DSP_RELEASE_VOLUME_MAX_DB (the
 * SFZ volume limit): a steeper decay is followed less steeply. False (nothing to write)
 * for a sustained sound, one decaying under DSP_RELEASE_DECAY_MIN_DB_S, or a normal
 * sample. */
#define DSP_RELEASE_DECAY_MIN_DB_S 0.5
/* The release sample of a release take: the audio from the note-off (latency applied) to
 * the tail's end, faded in over DSP_RELEASE_FADE_IN_MS (the held sound is already there at
 * the key-up: a longer fade would lose its level), at the gain of the held note's own
 * sample (same note, velocity and round robin), so it starts at the level the held note
 * had at the key-up. Left out, with the reason, when the first DSP_RELEASE_WINDOW_MS after
 * the note-off sit less than DSP_RELEASE_MIN_SNR_DB over the noise floor or the tail is
 * shorter than DSP_RELEASE_MIN_MS. */
#define DSP_RELEASE_FADE_IN_MS 2
#define DSP_RELEASE_WINDOW_MS  20
#define DSP_RELEASE_MIN_SNR_DB 20.0
#define DSP_RELEASE_MIN_MS     30
#define DSP_RELEASE_JUMP_DB                                                                        \
    1.0 /* a release sample starting this far above the held                                       \
          note at the key-up is flagged (warn) */
#define DSP_RELEASE_VOLUME_MAX_DB 6.0
bool dsp_export_release_decay(const dsp_export_sample_t *s, double *decay_db_s, double *volume_db);

/* ---- export_audio.c: the float path ---- */

/* Gain of a fade at t in [0,1] (0 = silent end) for a dsp_fade_curve_t. */
double dsp_fade_gain(int curve, double t);

/* Turns the raw take into the sample, in place on the float buffer `x` (interleaved,
 * `frames` frames of the raw take): removes DC, crossfades the loop, fades and gains the
 * range [cut_start, cut_end). Returns the first frame of the sample in *start and its
 * length in *len; 0, or BB_EINVAL when the cut is empty. */
int dsp_export_process(float *x, int64_t frames, int channels, const dsp_analysis_t *a,
                       double gain_db, int64_t *start, int64_t *len);

/* Adds TPDF dither of +-1 LSB at 16 bits and quantises to int16 (round, clip).
 * `seed` makes it reproducible. */
void dsp_export_dither16(const float *x, int64_t samples, bool dither, uint64_t seed, int16_t *out);

/* What goes into a sample file besides the audio. */
typedef struct {
    const char *description;  /* bext description (also the title string) */
    const char *reference;    /* bext originator reference, unique */
    double recorded_unix;     /* wall clock (UTC) of the sample's first frame, s since the
                                 epoch; bext OriginationDate/Time and TimeReference come from
                                 it; <= 0: unknown (the export's time, TimeReference 0) */
    int unity_note;           /* smpl: the played note */
    int pitch_fraction_cents; /* smpl, 0..99: how sharp the sample is (see export_meta.h) */
    bool has_loop;
    int64_t loop_start, loop_end; /* inclusive end, frames of the sample */
} dsp_export_meta_t;

/* Writes interleaved float audio as WAV (16/24-bit PCM or 32-bit float) or FLAC (16/24),
 * with metadata when `meta` is given (WAV: bext, smpl and INFO strings; FLAC: Vorbis
 * comments). Written under a temporary name and renamed. A WAV file is built in memory
 * and written in one go; *crc and *bytes are then its CRC-32 (bb_crc32) and size. For
 * FLAC they are 0 and 0: the caller reads the file (dsp_file_crc32). keep (NULL: not
 * wanted): *keep is set to the WAV file's bytes as written (*bytes of them, malloc'd, the
 * caller frees them), NULL for FLAC or on error. */
int dsp_export_write_audio(uint32_t *crc, uint64_t *bytes, void **keep, const char *path,
                           const float *x, int64_t frames, int channels, int rate, int bit_depth,
                           bool flac, bool dither, uint64_t seed, const dsp_export_meta_t *meta,
                           char *err, size_t errlen);

/* Creates (or truncates) `path` and writes `len` bytes of `data` into it in one go, with
 * no fsync (as the samples). 0, or BB_EIO with a message. */
int dsp_export_write_data(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Reads an audio file (any format libsndfile reads) and writes it as a WAV file of
 * `bit_depth` (16, 24: PCM, no dither, the values as read; 32: float) into *data
 * (malloc'd, *len bytes), without metadata chunks. 0, or an error with a message. */
int dsp_export_audio_as_wav(const char *path, int bit_depth, void **data, size_t *len, char *err,
                            size_t errlen);

/* ---- instrument files ---- */

/* SFZ: paths relative to the .sfz (which sits in the instrument folder). */
int dsp_export_write_sfz(const char *path, const dsp_export_inst_t *inst, char *err, size_t errlen);
/* DecentSampler .dspreset (XML), same mapping, a small UI (volume, attack, release). */
int dsp_export_write_dspreset(const char *path, const dsp_export_inst_t *inst, char *err,
                              size_t errlen);
/* SoundFont 2 through libinstpatch, from the sample files in `dir` (the instrument folder);
 * *crc and *size: the CRC-32 (bb_crc32) and size of the file written. BB_ETOOLONG when the
 * samples exceed the format's size limit. */
int dsp_export_write_sf2(uint32_t *crc, uint64_t *size, const char *path, const char *dir,
                         const dsp_export_inst_t *inst, char *err, size_t errlen);
/* Bitwig/PreSonus .multisample (zip of multisample.xml and WAV samples) through libzip, from
 * the sample files in `dir`; *crc and *bytes: the CRC-32 (bb_crc32) and size of the file
 * written. */
int dsp_export_write_multisample(uint32_t *crc, uint64_t *bytes, const char *path, const char *dir,
                                 const dsp_export_inst_t *inst, char *err, size_t errlen);

/* Parses a list of instrument files, "sfz,dspreset,sf2,multisample" (any of them, comma
 * separated; "all"), into a dsp_export_config_t.formats mask. 0 or BB_EINVAL with a
 * message. */
int dsp_export_formats_parse(const char *list, unsigned *mask, char *err, size_t errlen);
/* The file extension of each kind: "sfz", "dspreset", "sf2", "multisample". */
const char *dsp_export_format_ext(dsp_inst_file_kind_t kind);

/* Appends s to a growing buffer with XML escaping (& < > " ' and control characters). */
typedef struct {
    char *data;
    size_t len, cap;
    bool oom;
} dsp_buf_t;
void dsp_buf_puts(dsp_buf_t *b, const char *s);
void dsp_buf_printf(dsp_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dsp_buf_xml(dsp_buf_t *b, const char *s);
/* Appends s as one line of UTF-8 text: valid UTF-8 kept, line breaks and other control
 * characters become spaces, bytes that are not UTF-8 become '?'. */
void dsp_buf_text_line(dsp_buf_t *b, const char *s);
void dsp_buf_free(dsp_buf_t *b);
/* Writes the buffer to path durably; BB_ENOMEM if an append failed. */
int dsp_buf_write(dsp_buf_t *b, const char *path, char *err, size_t errlen);

/* ---- export_manifest.c, export_report.c: the instrument record and the library files ---- */

/* Writes the instrument's record (JSON, with thumbnails) into its folder. */
int dsp_export_write_record(const char *path, const dsp_export_inst_t *inst, char *err,
                            size_t errlen);
/* Rebuilds manifest.json and report.html at the library root from the instrument records
 * found in its folders (those `member` accepts; NULL: all). Refuses (BB_EEXIST) to replace
 * a manifest.json or report.html Batcherbird did not write. */
int dsp_export_library_rebuild(const char *root, bool (*member)(void *arg, const char *folder),
                               void *member_arg, char *err, size_t errlen);

/* Renders report.html from the parsed instrument records. */
int dsp_export_write_report(const char *path, const json_t *const *records, size_t n, char *err,
                            size_t errlen);

#endif
