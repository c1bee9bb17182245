/*
 * qc_real.h — the real-material QC corpus: raw takes of instruments Batcherbird did not
 * make, with ground truth, for test_qc and bench_qc.
 *
 * Sources: General MIDI programs of the SoundFonts Debian packages (TimGM6mb,
 * MuseScore_General.sf3, the OPL-3 FM bank, the AVL drum kits, csound's GM bank) rendered by
 * FluidSynth, the freepats patch set played by TiMidity++ (the `timidity` program, another
 * synthesis engine than FluidSynth's), and the band-limited synthesiser waveforms of
 * qc_osc.h. Never the FluidR3 SoundFonts: they
 * are kept for acceptance.
 *
 * The take model is what a node records: QC_REAL_PREROLL_MS of the setup's noise before
 * the frame where the node reports the note-on (its latency offset applied), then the
 * instrument's sound after a residual latency the node did not compensate (2-15 ms per
 * instrument, +-0.5 ms from note to note), under a noise floor of -84 to -66 dBFS (white,
 * per channel) with 50 or 60 Hz mains hum and its harmonics on some setups, held for the
 * instrument's hold time, released, and recorded until the tail is well into the floor.
 *
 * Ground truth comes from the clean render (the same note with no noise):
 *   true_start  the first frame of the clean render a 24-bit converter could record
 *               (at or above -144 dBFS: a voice's leading digital silence is left out);
 *   audible     the first frame where the clean note stands above the noise floor: its
 *               RMS over the next millisecond (louder channel) exceeds the floor's RMS
 *               (noise and hum); an onset later than this cuts sound;
 *   true_end    the last frame where the clean note stands above the floor.
 *
 * Every instrument is in the tuning part or the held-out part, fixed here by instrument
 * (SoundFont program, kit or oscillator patch); QC is tuned on the first and reported on
 * both. The csound GM bank and freepats are validation corpora, all held out: their
 * instruments were picked by General MIDI family before any figure on them was seen, and
 * nothing is tuned on them. Everything is deterministic: the same spec renders the same take.
 */
#ifndef BB_QC_REAL_H
#define BB_QC_REAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qc_osc.h"

#define QC_REAL_PREROLL_MS 100

typedef enum {
    QC_SRC_TIMGM6MB = 0, /* timgm6mb-soundfont */
    QC_SRC_MUSESCORE,    /* musescore-general-soundfont-small (.sf3) */
    QC_SRC_OPL3,         /* opl3-soundfont */
    QC_SRC_AVLDRUMS,     /* avldrums.lv2-soundfont */
    QC_SRC_OSC,          /* qc_osc.h */
    QC_SRC_CSOUND,       /* csound-soundfont (sf_GMbank.sf2): validation, never tuned on */
    QC_SRC_FREEPATS,     /* freepats (GUS patches) played by TiMidity++: validation too */
    QC_SRC_COUNT
} qc_src_t;

typedef struct {
    const char *name; /* unique in the corpus */
    qc_src_t src;
    int file;    /* AVLDRUMS: 0 Black Pearl, 1 Red Zeppelin */
    int bank;    /* SoundFont bank: 0, or 128 for a drum kit */
    int program; /* SoundFont preset */
    qc_osc_patch_t osc;
    bool pitched;
    bool held_out;
    int lo, hi, n_notes; /* notes spread evenly over lo..hi (drums: the kit's notes) */
    int hold_ms;
} qc_real_inst_t;

/* The setup an instrument is recorded through: the same for all its takes. */
typedef struct {
    double latency_ms; /* residual MIDI-to-audio latency */
    double noise_db;   /* noise floor RMS, dBFS */
    double hum_db;     /* <= -200: none */
    double hum_hz;     /* 50 or 60 */
} qc_real_setup_t;

typedef struct {
    int inst; /* index into qc_real_instruments() */
    int note, velocity;
    double detune_cents; /* the instrument's tuning error on this note (pitch bend) */
    double jitter_ms;    /* this take's latency deviation */
    int rate;            /* Hz */
    uint32_t seed;       /* noise */
    /* Damage, for the tests (defaults: none). */
    double clip_db;         /* < 0: a stage after the noise flat-tops here (dBFS) */
    double drive_db;        /* gain before that stage */
    double zero_block_ms;   /* >= 0: a block of exact zeros this long after the true start */
    double repeat_block_ms; /* >= 0: the block here repeats the block before it */
    double jump_ms;         /* >= 0: a block lost here and the audio spliced (a jump) */
    int block;              /* frames per block (64) */
    int hold_ms;            /* > 0: instead of the instrument's */
    double gain_db;         /* the recording's level against the corpus's (0) */
    int digital_bits;       /* 16 or 24: a digital recording (a soft synth's render, a digital
                             * output): no noise or hum, digital silence before the note, the
                             * samples rounded to that many bits without dither; 0: analog */
} qc_real_spec_t;

#define QC_REAL_SPEC_INIT                                                                          \
    {                                                                                              \
        .inst = 0, .note = 60, .velocity = 100, .detune_cents = 0, .jitter_ms = 0, .rate = 48000,  \
        .seed = 1, .clip_db = 0, .drive_db = 0, .zero_block_ms = -1, .repeat_block_ms = -1,        \
        .jump_ms = -1, .block = 64, .hold_ms = 0, .gain_db = 0, .digital_bits = 0                  \
    }

typedef struct {
    float *audio; /* stereo interleaved, malloc'd */
    int64_t frames;
    int channels, rate;
    int64_t note_on_frame, note_off_frame; /* as the node reports them */
    int64_t true_start, audible, true_end;
    double nominal_hz; /* the note played, detune included */
    double peak_db;    /* of the clean note in the take */
    int64_t damage_at; /* frame of the injected damage, -1 when none */
} qc_real_take_t;

/* The corpus's instruments (static, n in *count). */
const qc_real_inst_t *qc_real_instruments(size_t *count);
/* The recording setup of instrument i (deterministic from its index). */
qc_real_setup_t qc_real_setup(int inst);
const char *qc_real_src_name(qc_src_t src);
/* The SoundFont (freepats: TiMidity's configuration) a source renders from (NULL for
 * oscillators); whether it and its player exist. */
const char *qc_real_soundfont(qc_src_t src, int file);
bool qc_real_available(qc_src_t src);

/* The takes of the corpus: every note x velocity of every instrument whose source bit is
 * set in src_mask and whose part is asked for (tuning, held_out). With `every` > 1 only
 * every n-th take (a representative subset for tests). Returns how many specs were written
 * (at most cap; call with cap 0 to count). */
size_t qc_real_takes(qc_real_spec_t *out, size_t cap, unsigned src_mask, bool tuning, bool held_out,
                     int every);

/* Renders one take. Returns 0, -1 when the SoundFont is missing or out of memory. */
int qc_real_render(const qc_real_spec_t *spec, qc_real_take_t *out);
void qc_real_free(qc_real_take_t *take);
/* Renders `count` takes spread evenly over specs[0..n) and writes each into dir as a raw
 * take (take_raw.h): takeNNNN.wav (32-bit float) and its sidecar takeNNNN.json, as a node
 * records it (noise floor not known, as in a user's own sidecar). Returns the seconds of
 * audio written and their count in *written (may be NULL); takes that fail to render or
 * write are skipped. */
double qc_real_write_raw(size_t *written, const char *dir, const qc_real_spec_t *specs, size_t n,
                         size_t count);
/* Writes a take as a 32-bit float WAV. Returns 0, -1 on any error. */
int qc_real_write_wav(const char *path, const qc_real_take_t *take);
/* Has TiMidity++ play, in one run per rate, every freepats note that rendering specs
 * will need (their notes and their instruments' level notes), into a temporary folder
 * qc_real_render then reads them from (a render not prefetched is played alone). TiMidity
 * sleeps a second before it plays whenever its configuration reported an error, as
 * Debian's /etc/timidity/timidity.cfg does without fluid-soundfont-gm (reserved, never
 * installed here): one run per note cost a second each. The renders are the same bytes
 * as played alone. qc_real_shutdown (or the process's exit) removes the folder. */
void qc_real_prefetch(const qc_real_spec_t *specs, size_t n);
/* Frees the FluidSynth instances kept between renders and qc_real_prefetch's renders. */
void qc_real_shutdown(void);

#endif
