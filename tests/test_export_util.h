/*
 * test_export_util.h — what the export tests share: synthetic raw takes (a float WAV and
 * its JSON sidecar, as the coordinator stores them) with an analysis that says exactly
 * where the sample is, so every value written can be checked against what was meant; a
 * tiny XML well-formedness checker and element reader; a tiny SFZ reader.
 */
#ifndef TEST_EXPORT_UTIL_H
#define TEST_EXPORT_UTIL_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"

#define TX_RATE    44100         /* not 48000: the export must keep the rate as recorded */
#define TX_PRE     4410          /* pre-roll frames (100 ms) */
#define TX_BODY    22050         /* frames after the onset (500 ms) */
#define TX_TAIL    441           /* frames after the cut end */
#define TX_ATTACK  64            /* kept before the onset, faded in */
#define TX_STREAM0 1000000       /* stream_start_frame in the sidecars */
#define TX_UNIX0   1717243200.25 /* start_unix (wall clock of the first frame) of take 0 */

typedef struct {
    char id[64];
    char path[512];
    dsp_export_take_t t;
} tx_take_t;

typedef struct {
    int channels;
    double amp;         /* peak of the tone */
    double dc;          /* offset added to every channel */
    double noise;       /* peak-to-peak of the noise floor */
    int64_t body;       /* frames of tone after the onset; 0 = TX_BODY */
    bool loop;          /* give it a loop (whole periods, crossfaded) */
    double pitch_cents; /* measured deviation reported by the "analysis" */
    int verdict;
    double decay_db_s; /* the tone fades this fast from its onset (0: steady) */
    int64_t note_off;  /* frames after the onset; 0 = half the body */
} tx_spec_t;
#define TX_SPEC_INIT                                                                               \
    {                                                                                              \
        .channels = 2, .amp = 0.5, .dc = 0.0, .noise = 2e-4, .loop = false, .pitch_cents = 0.0,    \
        .verdict = DSP_PASS                                                                        \
    }

/* Writes dir/<id>.wav and dir/<id>.json for a tone at `note` and fills tk. */
void tx_make_take(tx_take_t *tk, const char *dir, const char *instrument, int note, int velocity,
                  int rr, bool release, const tx_spec_t *spec);
/* Frequency used for `note` (equal temperament). */
double tx_freq(int note);

/* ---- XML (libxml2) ---- */

/* Parses text strictly (well-formed XML, no network): the document (xmlFreeDoc) or NULL
 * with libxml2's reason and line in err. name labels the messages. */
xmlDoc *tx_xml_read(const char *text, const char *name, char *err, size_t errlen);
/* An attribute's value as the parser decoded it (borrowed from e), NULL when absent. */
const char *tx_xml_attr(const xmlNode *e, const char *name);
/* Every element named `name` below e (depth first) into out (up to max); the count. */
size_t tx_xml_find(const xmlNode *e, const char *name, const xmlNode **out, size_t max);

/* ---- SFZ ---- */

typedef struct {
    char sample[512];
    int lokey, hikey, lovel, hivel, keycenter, seq_length, seq_position;
    bool release;
    char loop_mode[32];
    long long loop_start, loop_end;
    int tune;
} tx_region_t;

/* Reads the regions of an SFZ (opcodes of <global>/<group> inherited, <region> last).
 * Returns how many, up to max; -1 on a syntax error. */
int tx_sfz_parse(const char *text, tx_region_t *out, int max);

/* ---- mapping ---- */

typedef struct {
    int lokey, hikey, lovel, hivel, seq_length, seq_position;
    bool release;
} tx_zone_t;

/* Checks that every key in [lo, hi] and every velocity 1-127 resolves to exactly one zone
 * per round-robin step (zones of the same trigger); returns 0 or writes why into err. */
int tx_check_coverage(const tx_zone_t *z, size_t n, bool release, int lo, int hi, char *err,
                      size_t errlen);

/* ---- root keys in every format ---- */

/* The MIDI note a sample's file name says it was played at: the 3 digits before "_v" in
 * the default name template (..._C3_060_v127_rr1...); -1 when the name has none. */
int tx_name_note(const char *name);

/* Checks, for the instrument in `dir` (files named <folder>.<ext>), that the root key of
 * every sample equals the note in its file name in every format present: the WAV smpl
 * chunk (libsndfile), SFZ pitch_keycenter, DecentSampler rootNote, SF2 zones (root key
 * override and the sample's original pitch, read with libinstpatch; the sample's name is
 * the end of its file name) and .multisample key root (libzip, libxml2). Counts the
 * samples checked per format into checked[5] (wav, sfz, dspreset, sf2, multisample) when
 * not NULL. 0, or -1 with the first mismatch in err. */
int tx_check_root_keys(const char *dir, const char *folder, int *checked, char *err, size_t errlen);

#endif
