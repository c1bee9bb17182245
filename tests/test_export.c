/*
 * test_export.c — the library export, end to end on real files: synthetic raw takes with
 * a known analysis go through dsp_export_instrument(), and everything written is read
 * back — audio and chunks with libsndfile (and the smpl chunk's raw bytes), the SFZ and
 * the .dspreset parsed and their mapping checked key by key and velocity by velocity,
 * the manifest with the JSON reader, report.html with an XML well-formedness checker.
 */
#include <math.h>
#include <setjmp.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <FLAC/metadata.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_json.h"
#include "export.h"
#include "export_library.h"
#include "export_meta.h"
#include "take_raw.h"
#include "test_export_util.h"
#include "test_util.h"

#define MAX_TAKES 64

typedef struct {
    char dir[256];   /* scratch */
    char takes[300]; /* raw takes */
    char lib[300];   /* library root */
    tx_take_t tk[MAX_TAKES];
    dsp_export_take_t t[MAX_TAKES];
    size_t n;
} s_fix_t;

static int s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir, "export");
    snprintf(f->takes, sizeof f->takes, "%s/takes", f->dir);
    snprintf(f->lib, sizeof f->lib, "%s/lib", f->dir);
    bb_mkdir_p(f->takes);
    bb_mkdir_p(f->lib);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fix_t *f = *state;
    if (!getenv("BB_KEEP"))
        bb_rm_rf(f->dir);
    free(f);
    return 0;
}

static dsp_export_take_t *s_add(s_fix_t *f, const char *inst, int note, int vel, int rr,
                                bool release, const tx_spec_t *spec)
{
    assert_true(f->n < MAX_TAKES);
    tx_make_take(&f->tk[f->n], f->takes, inst, note, vel, rr, release, spec);
    f->t[f->n] = f->tk[f->n].t;
    return &f->t[f->n++];
}

static char *s_read(const char *path)
{
    char *text = NULL;
    size_t len;
    if (bb_read_file(path, &text, &len) != 0)
        fail_msg("cannot read %s", path);
    return text;
}

/* Raw smpl chunk fields of a WAV (what a sampler reads, not what libsndfile reports). */
typedef struct {
    uint32_t period, unity, fraction, loops, start, end;
    bool found;
} s_smpl_t;

static uint32_t s_le32(const unsigned char *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static s_smpl_t s_raw_smpl(const char *path)
{
    s_smpl_t s = {0};
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(bb_read_file(path, &data, &len), 0);
    const unsigned char *b = (const unsigned char *)data;
    for (size_t i = 12; i + 8 <= len;) {
        uint32_t sz = s_le32(b + i + 4);
        if (!memcmp(b + i, "smpl", 4) && sz >= 36 && i + 8 + sz <= len) {
            const unsigned char *c = b + i + 8;
            s.found = true;
            s.period = s_le32(c + 8);
            s.unity = s_le32(c + 12);
            s.fraction = s_le32(c + 16);
            s.loops = s_le32(c + 28);
            if (s.loops > 0 && sz >= 60) {
                s.start = s_le32(c + 36 + 8);
                s.end = s_le32(c + 36 + 12);
            }
        }
        i += 8 + sz + (sz & 1);
    }
    free(data);
    return s;
}

static void s_export(s_fix_t *f, const dsp_export_config_t *cfg, const char *inst,
                     dsp_export_result_t *res)
{
    char err[512] = "";
    int rc = dsp_export_instrument(cfg, inst, f->t, f->n, res, err, sizeof err);
    if (rc)
        fail_msg("export of %s failed: %s", inst, err);
}

static float *s_read_audio(const char *path, SF_INFO *info)
{
    memset(info, 0, sizeof *info);
    SNDFILE *sf = sf_open(path, SFM_READ, info);
    if (!sf)
        fail_msg("libsndfile cannot open %s: %s", path, sf_strerror(NULL));
    float *x = malloc((size_t)(info->frames * info->channels) * sizeof *x);
    assert_int_equal(sf_readf_float(sf, x, info->frames), info->frames);
    sf_close(sf);
    return x;
}

/* ---- names ---- */

static void test_names_default_and_template(void **state)
{
    char out[256];
    dsp_export_sample_name("Inst", 61, 127, 1, false, BB_NOTES_C3_IS_60, out, sizeof out);
    assert_string_equal(out, "Inst_C#3_061_v127_rr1");
    dsp_export_sample_name("Inst", 60, 5, 2, true, BB_NOTES_C4_IS_60, out, sizeof out);
    assert_string_equal(out, "Inst_C4_060_v005_rr2_rel");
    assert_int_equal(dsp_export_format_name("{instrument}-{name}-{velocity}-{rr}", "Pad", 62, 64, 3,
                                            false, BB_NOTES_C3_IS_60, out, sizeof out),
                     0);
    assert_string_equal(out, "Pad-D3-064-3");
    /* no {release} token: _rel is appended so release samples never collide */
    assert_int_equal(dsp_export_format_name("{instrument} {midi}", "Pad", 62, 64, 3, true,
                                            BB_NOTES_C3_IS_60, out, sizeof out),
                     0);
    assert_string_equal(out, "Pad-062_rel");
    char err[256];
    assert_int_equal(dsp_export_template_check("{instrument}/{midi}", err, sizeof err), BB_EINVAL);
    assert_int_equal(dsp_export_template_check("{instrument}_{bogus}", err, sizeof err), BB_EINVAL);
    assert_int_equal(dsp_export_template_check("{midi}", err, sizeof err), BB_EINVAL);
    assert_int_equal(dsp_export_template_check("{instrument}_{midi", err, sizeof err), BB_EINVAL);
    assert_int_equal(dsp_export_template_check(".{instrument}{midi}", err, sizeof err), BB_EINVAL);
    assert_int_equal(dsp_export_template_check(DSP_EXPORT_NAME_DEFAULT, err, sizeof err), 0);
}

static void test_template_collision_is_an_error(void **state)
{
    s_fix_t *f = *state;
    tx_spec_t spec = TX_SPEC_INIT;
    s_add(f, "Dup", 60, 100, 1, false, &spec);
    s_add(f, "Dup", 60, 100, 2, false, &spec);
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    cfg.name_template = "{instrument}_{midi}_v{velocity}"; /* no {rr} */
    dsp_export_result_t res;
    char err[512];
    assert_int_equal(dsp_export_instrument(&cfg, "Dup", f->t, f->n, &res, err, sizeof err),
                     BB_EEXIST);
    assert_non_null(strstr(err, "Dup_060_v100"));
    /* nothing half-made is left behind */
    char dir[400];
    snprintf(dir, sizeof dir, "%s/Dup", f->lib);
    assert_false(bb_exists(dir));
}

static void test_hostile_instrument_names(void **state)
{
    s_fix_t *f = *state;
    const char *names[] = {
        "../x",
        "a/b",
        "",
        "..",
        "/etc/passwd",
        "Pi\xc3\xa0no \xe6\x97\xa5\xe6\x9c\xac",
        "tab\there\x01\x7f",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2",
        "a&b<c>\"d'"};
    size_t n = sizeof names / sizeof names[0];
    char dirs[16][1024];
    tx_spec_t spec = TX_SPEC_INIT;
    spec.channels = 1;
    for (size_t i = 0; i < n; i++) {
        f->n = 0;
        s_add(f, names[i], 60, 127, 1, false, &spec);
        dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
        cfg.out_dir = f->lib;
        dsp_export_result_t res;
        s_export(f, &cfg, names[i], &res);
        snprintf(dirs[i], sizeof dirs[i], "%s", res.dir);
        /* the folder is a direct child of the library, with a safe name */
        const char *base = res.dir + strlen(f->lib);
        assert_int_equal(base[0], '/');
        base++;
        assert_null(strchr(base, '/'));
        assert_true(base[0] != '.' && strlen(base) > 0);
        assert_null(strstr(base, ".."));
        for (const char *c = base; *c; c++)
            assert_true((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7F);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(dirs[i], dirs[k]);
        assert_true(bb_exists(res.sfz));
        assert_int_equal(res.files, 1);
        /* the SFZ's first line names the instrument: UTF-8 kept, control characters gone */
        char *sfz = s_read(res.sfz);
        if (i == 5)
            assert_memory_equal(sfz, "// Pi\xc3\xa0no \xe6\x97\xa5\xe6\x9c\xac\n", 17);
        if (i == 6)
            assert_memory_equal(sfz, "// tab here  \n", 14);
        free(sfz);
        /* and a SoundFont was written whatever the name */
        assert_true(bb_exists(res.sf2));
    }
    /* every instrument is still there: none overwrote another */
    char mpath[400];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", f->lib);
    char *text = s_read(mpath);
    json_t *doc = NULL;
    assert_int_equal(bb_json_load(&doc, text, strlen(text), NULL, 0), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "instruments")), n);
    json_decref(doc);
    free(text);
    /* nothing was created outside the library */
    char outside[400];
    snprintf(outside, sizeof outside, "%s/x", f->dir);
    assert_false(bb_exists(outside));
}

static void test_two_instruments_cannot_share_a_folder(void **state)
{
    s_fix_t *f = *state;
    tx_spec_t spec = TX_SPEC_INIT;
    s_add(f, "A B", 60, 127, 1, false, &spec);
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    dsp_export_result_t res;
    s_export(f, &cfg, "A B", &res);
    /* "A-B" reduces to the same folder name: refused, the first one survives */
    char err[512];
    assert_int_equal(dsp_export_instrument(&cfg, "A-B", f->t, f->n, &res, err, sizeof err),
                     BB_EEXIST);
    assert_non_null(strstr(err, "A B"));
    /* the same instrument again replaces its own export */
    s_export(f, &cfg, "A B", &res);
}

/* ---- audio and chunks ---- */

static void test_wav24_chunks_read_back(void **state)
{
    s_fix_t *f = *state;
    tx_spec_t spec = TX_SPEC_INIT;
    spec.dc = 0.05;
    spec.loop = true;
    dsp_export_take_t *looped = s_add(f, "Keys", 61, 127, 1, false, &spec);
    spec.loop = false;
    spec.pitch_cents = -12;
    s_add(f, "Keys", 64, 100, 1, false, &spec);
    spec.pitch_cents = 30;
    s_add(f, "Keys", 67, 100, 1, false, &spec);
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    cfg.tune = true;
    dsp_export_result_t res;
    s_export(f, &cfg, "Keys", &res);
    assert_int_equal(res.files, 3);

    struct {
        const char *file;
        int note, unity, fraction, vel;
        bool loop;
    } want[] = {{"Keys_C#3_061_v127_rr1.wav", 61, 61, 0, 127, true},
                /* flat: the unity note stays the played note, no fraction (the -12 cents
                 * correction is in the SFZ tune); sharp: the fraction says how sharp */
                {"Keys_E3_064_v100_rr1.wav", 64, 64, 0, 100, false},
                {"Keys_G3_067_v100_rr1.wav", 67, 67, 30, 100, false}};
    char refs[3][40];
    for (int i = 0; i < 3; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/samples/%s", res.dir, want[i].file);
        SF_INFO info = {0};
        SNDFILE *sf = sf_open(path, SFM_READ, &info);
        assert_non_null(sf);
        assert_int_equal(info.samplerate, TX_RATE);
        assert_int_equal(info.channels, 2);
        assert_int_equal(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_24);
        assert_int_equal(info.frames, TX_BODY + TX_ATTACK);

        SF_BROADCAST_INFO bext;
        memset(&bext, 0, sizeof bext);
        assert_int_equal(sf_command(sf, SFC_GET_BROADCAST_INFO, &bext, sizeof bext), SF_TRUE);
        char desc[300], name[8];
        bb_note_name(want[i].note, BB_NOTES_C3_IS_60, name, sizeof name);
        snprintf(desc, sizeof desc, "Keys note %s (%d) velocity %d round robin 1", name,
                 want[i].note, want[i].vel);
        assert_string_equal(bext.description, desc);
        assert_memory_equal(bext.originator, "Batcherbird", 12);
        snprintf(refs[i], sizeof refs[i], "%.32s", bext.originator_reference);
        assert_int_equal(strlen(refs[i]), 26);
        assert_memory_equal(refs[i], "BB", 2);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(refs[i], refs[k]);
        /* origination date and time: when the sample's first frame was recorded (local
         * time); TimeReference: samples since that day's local midnight (EBU Tech 3285) */
        dsp_raw_meta_t meta;
        char side[600], err[128];
        snprintf(side, sizeof side, "%s/%s.json", f->takes, f->tk[i].id);
        assert_int_equal(dsp_raw_read_sidecar(side, &meta, err, sizeof err), 0);
        double first = meta.start_unix + (double)(TX_PRE - TX_ATTACK) / TX_RATE;
        time_t whole = (time_t)first;
        struct tm tm;
        localtime_r(&whole, &tm);
        char date[16], clock[16];
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        strftime(clock, sizeof clock, "%H:%M:%S", &tm);
        assert_memory_equal(bext.origination_date, date, 10);
        assert_memory_equal(bext.origination_time, clock, 8);
        uint64_t tref = (uint64_t)bext.time_reference_high << 32 | bext.time_reference_low;
        double since_midnight =
            tm.tm_hour * 3600.0 + tm.tm_min * 60.0 + tm.tm_sec + (first - (double)whole);
        assert_int_equal(tref, (uint64_t)llround(since_midnight * TX_RATE));
        assert_true(tref < 86400ull * TX_RATE);
        /* version 2; loudness not measured: 0x7FFF in every loudness field */
        assert_int_equal(bext.version, 2);
        assert_int_equal(bext.loudness_value, 0x7FFF);
        assert_int_equal(bext.loudness_range, 0x7FFF);
        assert_int_equal(bext.max_true_peak_level, 0x7FFF);
        assert_int_equal(bext.max_momentary_loudness, 0x7FFF);
        assert_int_equal(bext.max_shortterm_loudness, 0x7FFF);
        /* the INFO comment names a loop only when there is one */
        const char *comment = sf_get_string(sf, SF_STR_COMMENT);
        assert_non_null(comment);
        char root[32];
        snprintf(root, sizeof root, "root=%d ", want[i].unity);
        assert_non_null(strstr(comment, root));
        assert_null(strstr(comment, "-1"));
        assert_true((strstr(comment, "loop=") != NULL) == want[i].loop);
        assert_non_null(strstr(bext.coding_history, "T=Batcherbird export"));
        assert_non_null(strstr(bext.coding_history, "F=44100,W=24,M=stereo"));

        SF_INSTRUMENT inst;
        memset(&inst, 0, sizeof inst);
        assert_int_equal(sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst), SF_TRUE);
        assert_int_equal(inst.basenote, want[i].unity);
        assert_int_equal(inst.detune, want[i].fraction);
        float *x = malloc((size_t)info.frames * 2 * sizeof *x);
        assert_int_equal(sf_readf_float(sf, x, info.frames), info.frames);
        sf_close(sf);

        s_smpl_t raw = s_raw_smpl(path);
        assert_true(raw.found);
        assert_int_equal(raw.period, 1000000000u / TX_RATE); /* ns per frame */
        assert_int_equal(raw.unity, (uint32_t)want[i].unity);
        /* pitch fraction: cents/100 of a semitone above the unity note, in 1/2^32 */
        assert_true(fabs(raw.fraction / 4294967296.0 * 100 - want[i].fraction) < 0.01);
        if (want[i].loop) {
            int64_t ls = looped->analysis.loop_start - looped->analysis.cut_start;
            int64_t le = looped->analysis.loop_end - looped->analysis.cut_start;
            assert_int_equal(inst.loop_count, 1);
            assert_int_equal(inst.loops[0].mode, SF_LOOP_FORWARD);
            assert_int_equal(inst.loops[0].start, ls);
            assert_int_equal(inst.loops[0].end, le + 1); /* libsndfile: exclusive */
            assert_int_equal(raw.loops, 1);
            assert_int_equal(raw.start, ls);
            assert_int_equal(raw.end, le); /* in the file: the last frame played */
            /* the crossfade makes the jump seamless: loop_end carries loop_start - 1 */
            for (int c = 0; c < 2; c++)
                assert_true(fabsf(x[le * 2 + c] - x[(ls - 1) * 2 + c]) < 1e-4f);
        } else {
            assert_int_equal(inst.loop_count, 0);
            assert_int_equal(raw.loops, 0);
        }
        /* DC removed: the mean of the sustained part is ~0, not 0.05 * gain */
        double mean = 0;
        for (int64_t k = TX_ATTACK; k < info.frames - TX_RATE / 100; k++)
            mean += x[k * 2];
        mean /= (double)(info.frames - TX_ATTACK - TX_RATE / 100);
        assert_true(fabs(mean) < 2e-3);
        /* fades: silent at both ends, normalised peak at -1 dBFS */
        assert_true(fabsf(x[0]) < 1e-3f && fabsf(x[(info.frames - 1) * 2]) < 1e-3f);
        float peak = 0;
        for (int64_t k = 0; k < info.frames * 2; k++)
            peak = fabsf(x[k]) > peak ? fabsf(x[k]) : peak;
        assert_true(fabs(20 * log10(peak) - -1.0) < 0.05);
        free(x);
    }
}

/* The "riff" APPLICATION blocks of a FLAC file, concatenated with a 4-byte length each. */
static size_t s_riff_blocks(const char *path, unsigned char *out, size_t cap, int *count)
{
    FLAC__Metadata_SimpleIterator *it = FLAC__metadata_simple_iterator_new();
    assert_true(FLAC__metadata_simple_iterator_init(it, path, true, false));
    size_t n = 0;
    *count = 0;
    do {
        if (FLAC__metadata_simple_iterator_get_block_type(it) != FLAC__METADATA_TYPE_APPLICATION)
            continue;
        FLAC__StreamMetadata *b = FLAC__metadata_simple_iterator_get_block(it);
        assert_non_null(b);
        if (memcmp(b->data.application.id, "riff", 4) == 0) {
            uint32_t len = b->length - 4;
            assert_true(n + 4 + len <= cap);
            memcpy(out + n, &len, 4);
            memcpy(out + n + 4, b->data.application.data, len);
            n += 4 + len;
            (*count)++;
        }
        FLAC__metadata_object_delete(b);
    } while (FLAC__metadata_simple_iterator_next(it));
    FLAC__metadata_simple_iterator_delete(it);
    return n;
}

/* flac itself restores the WAV chunks of our FLAC file (root key, loop, bext), and stores
 * the WAV export's chunks exactly as we did. */
static void s_flac_round_trip(s_fix_t *f, const char *flac_path, const char *wav_export,
                              int64_t frames, const float *audio)
{
    char wav[1400], again[1400], cmd[4400];
    snprintf(wav, sizeof wav, "%s/restored.wav", f->takes);
    snprintf(again, sizeof again, "%s/again.flac", f->takes);
    if (system("command -v flac >/dev/null 2>&1") != 0)
        fail_msg("the flac command is missing: run scripts/deps.sh");
    snprintf(cmd, sizeof cmd, "flac -s -f -d --keep-foreign-metadata -o '%s' '%s'", wav, flac_path);
    assert_int_equal(system(cmd), 0);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(wav, SFM_READ, &info);
    assert_non_null(sf);
    assert_int_equal(info.frames, frames);
    SF_INSTRUMENT inst;
    memset(&inst, 0, sizeof inst);
    assert_int_equal(sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst), SF_TRUE);
    assert_int_equal(inst.basenote, 48);
    assert_int_equal(inst.loop_count, 1);
    const dsp_export_take_t *t = &f->tk[0].t;
    assert_int_equal(inst.loops[0].start, t->analysis.loop_start - t->analysis.cut_start);
    assert_int_equal(inst.loops[0].end, t->analysis.loop_end - t->analysis.cut_start + 1);
    SF_BROADCAST_INFO bext;
    memset(&bext, 0, sizeof bext);
    assert_int_equal(sf_command(sf, SFC_GET_BROADCAST_INFO, &bext, sizeof bext), SF_TRUE);
    assert_string_equal(bext.description, "Pad note C2 (48) velocity 90 round robin 1");
    float *x = malloc((size_t)frames * 2 * sizeof *x);
    assert_int_equal(sf_readf_float(sf, x, frames), frames);
    sf_close(sf);
    for (int64_t i = 0; i < frames * 2; i++)
        assert_true(x[i] == audio[i]);
    free(x);

    /* the WAV export of the same sample, encoded by flac: the same blocks, byte for byte */
    snprintf(cmd, sizeof cmd, "flac -s -f --keep-foreign-metadata -o '%s' '%s'", again, wav_export);
    assert_int_equal(system(cmd), 0);
    size_t cap = 1 << 20;
    unsigned char *ours = malloc(cap), *theirs = malloc(cap);
    int n_ours, n_theirs;
    size_t a = s_riff_blocks(flac_path, ours, cap, &n_ours);
    size_t b = s_riff_blocks(again, theirs, cap, &n_theirs);
    assert_true(n_ours >= 5); /* RIFF header, fmt, bext, smpl, data header at least */
    assert_int_equal(n_ours, n_theirs);
    assert_int_equal(a, b);
    assert_memory_equal(ours, theirs, a);
    free(ours);
    free(theirs);
}

static void test_float32_and_flac(void **state)
{
    s_fix_t *f = *state;
    tx_spec_t spec = TX_SPEC_INIT;
    spec.loop = true;
    s_add(f, "Pad", 48, 90, 1, false, &spec);
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    dsp_export_result_t res;

    cfg.bit_depth = 32;
    s_export(f, &cfg, "Pad", &res);
    char path[1400];
    snprintf(path, sizeof path, "%s/samples/Pad_C2_048_v090_rr1.wav", res.dir);
    SF_INFO info;
    float *wav32 = s_read_audio(path, &info);
    assert_int_equal(info.format, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    int64_t frames = info.frames;

    cfg.bit_depth = 24;
    s_export(f, &cfg, "Pad", &res);
    float *wav24 = s_read_audio(path, &info);
    char wav24_copy[1400];
    snprintf(wav24_copy, sizeof wav24_copy, "%s/pad24.wav", f->takes);
    char *bytes = NULL;
    size_t nbytes = 0;
    assert_int_equal(bb_read_file(path, &bytes, &nbytes), 0);
    assert_int_equal(bb_write_file_atomic(wav24_copy, bytes, nbytes), 0);
    free(bytes);

    cfg.flac = true;
    s_export(f, &cfg, "Pad", &res);
    /* the WAV is gone: a re-export replaces the folder, no stale files */
    assert_false(bb_exists(path));
    snprintf(path, sizeof path, "%s/samples/Pad_C2_048_v090_rr1.flac", res.dir);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    assert_non_null(sf);
    assert_int_equal(info.format, SF_FORMAT_FLAC | SF_FORMAT_PCM_24);
    assert_int_equal(info.frames, frames);
    /* the description is a Vorbis comment too */
    const char *title = sf_get_string(sf, SF_STR_TITLE);
    assert_non_null(title);
    assert_string_equal(title, "Pad note C2 (48) velocity 90 round robin 1");
    sf_close(sf);
    float *flac24 = s_read_audio(path, &info);
    s_flac_round_trip(f, path, wav24_copy, frames, flac24);
    /* FLAC 24 holds exactly what WAV 24 holds; both within 24-bit rounding of the float */
    for (int64_t i = 0; i < frames * 2; i++) {
        assert_true(flac24[i] == wav24[i]);
        assert_true(fabsf(wav24[i] - wav32[i]) < 2.0f / 8388608.0f);
    }
    /* FLAC 16, dithered */
    cfg.bit_depth = 16;
    s_export(f, &cfg, "Pad", &res);
    float *flac16 = s_read_audio(path, &info);
    assert_int_equal(info.format, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
    for (int64_t i = 0; i < frames * 2; i++)
        assert_true(fabsf(flac16[i] - wav32[i]) <= 2.0f / 32768.0f);
    /* 32-bit float FLAC does not exist */
    cfg.bit_depth = 32;
    char err[256];
    assert_int_equal(dsp_export_instrument(&cfg, "Pad", f->t, f->n, &res, err, sizeof err),
                     BB_EINVAL);
    free(wav32);
    free(wav24);
    free(flac24);
    free(flac16);
}

static void test_dither16(void **state)
{
    enum { N = 200000 };
    float *zero = calloc(N, sizeof *zero);
    int16_t *q = malloc(N * sizeof *q);
    /* silence: TPDF gives -1, 0, +1 LSB, zero mean, 0.5 LSB RMS */
    dsp_export_dither16(zero, N, true, 42, q);
    double sum = 0, sq = 0;
    int nonzero = 0;
    for (int i = 0; i < N; i++) {
        assert_true(q[i] >= -1 && q[i] <= 1);
        sum += q[i];
        sq += (double)q[i] * q[i];
        nonzero += q[i] != 0;
    }
    assert_true(nonzero > N / 5);
    assert_true(fabs(sum / N) < 0.01);
    assert_true(fabs(sqrt(sq / N) - 0.5) < 0.02);
    /* reproducible from its seed; off means plain rounding */
    int16_t *q2 = malloc(N * sizeof *q2);
    dsp_export_dither16(zero, N, true, 42, q2);
    assert_memory_equal(q, q2, N * sizeof *q);
    dsp_export_dither16(zero, N, false, 42, q2);
    for (int i = 0; i < N; i++)
        assert_int_equal(q2[i], 0);
    /* a constant 0.3 LSB: dither keeps the mean (no bias), rounding alone loses it */
    for (int i = 0; i < N; i++)
        zero[i] = 0.3f / 32768.0f;
    dsp_export_dither16(zero, N, true, 7, q);
    sum = 0;
    for (int i = 0; i < N; i++)
        sum += q[i];
    assert_true(fabs(sum / N - 0.3) < 0.01);
    /* near full scale: clipped, never wrapped */
    for (int i = 0; i < N; i++)
        zero[i] = i % 2 ? 0.99999f : -1.0f;
    dsp_export_dither16(zero, N, true, 7, q);
    for (int i = 0; i < N; i++)
        assert_true(i % 2 ? q[i] >= 32766 : q[i] <= -32767);
    free(zero);
    free(q);
    free(q2);
}

static void test_wav16_dither_in_file(void **state)
{
    s_fix_t *f = *state;
    tx_spec_t spec = TX_SPEC_INIT;
    spec.channels = 1;
    spec.noise = 0; /* digital silence before the onset */
    s_add(f, "Quiet", 60, 127, 1, false, &spec);
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    cfg.bit_depth = 16;
    dsp_export_result_t res;
    char path[1400];
    for (int dither = 1; dither >= 0; dither--) {
        cfg.dither = dither;
        s_export(f, &cfg, "Quiet", &res);
        snprintf(path, sizeof path, "%s/samples/Quiet_C3_060_v127_rr1.wav", res.dir);
        SF_INFO info = {0};
        SNDFILE *sf = sf_open(path, SFM_READ, &info);
        assert_non_null(sf);
        assert_int_equal(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
        short *x = malloc((size_t)info.frames * sizeof *x);
        assert_int_equal(sf_readf_short(sf, x, info.frames), info.frames);
        sf_close(sf);
        /* the kept pre-attack frames are silence: only dither can show there */
        int noise = 0, peak = 0;
        for (int i = 0; i < TX_ATTACK; i++) {
            noise += x[i] != 0;
            assert_true(x[i] >= -1 && x[i] <= 1);
        }
        for (int64_t i = 0; i < info.frames; i++)
            peak = abs(x[i]) > peak ? abs(x[i]) : peak;
        if (dither)
            assert_true(noise > TX_ATTACK / 10);
        else
            assert_int_equal(noise, 0);
        /* the -1 dBFS target holds, dither included */
        assert_true(peak <= (int)(32768 * pow(10, -1.0 / 20)) + 2);
        assert_true(peak >= (int)(32768 * pow(10, -1.0 / 20)) - 2);
        free(x);
    }
}

static void test_fade_curves(void **state)
{
    for (int c = DSP_FADE_LINEAR; c <= DSP_FADE_EXPONENTIAL; c++) {
        assert_true(dsp_fade_gain(c, 0) == 0.0);
        assert_true(dsp_fade_gain(c, 1) == 1.0);
        double last = 0;
        for (int i = 1; i <= 100; i++) {
            double g = dsp_fade_gain(c, i / 100.0);
            assert_true(g >= last);
            last = g;
        }
    }
    assert_true(fabs(dsp_fade_gain(DSP_FADE_LINEAR, 0.5) - 0.5) < 1e-12);
    assert_true(fabs(dsp_fade_gain(DSP_FADE_EQUAL_POWER, 0.5) - sqrt(0.5)) < 1e-12);
    /* exponential: half way is about -30 dB of a 60 dB fade (pinned to zero at the start) */
    double g = dsp_fade_gain(DSP_FADE_EXPONENTIAL, 0.5);
    assert_true(fabs(20 * log10(g) - -30.0) < 0.5);
}

static void test_process_dc_fades_crossfade(void **state)
{
    enum { F = 4000, CH = 2 };
    float *x = malloc(F * CH * sizeof *x);
    for (int i = 0; i < F; i++)
        for (int c = 0; c < CH; c++)
            x[i * CH + c] = (float)(0.2 + (c ? -0.1 : 0.1) + 0.5 * sin(i * 0.05 + c));
    dsp_analysis_t a = {0};
    a.cut_start = 100;
    a.cut_end = 3900;
    a.fade_in = 50;
    a.fade_out = 200;
    a.fade_curve = DSP_FADE_LINEAR;
    a.dc[0] = 0.3;
    a.dc[1] = 0.1;
    a.has_loop = true;
    a.loop_start = 1000;
    a.loop_end = 2999;
    a.loop_crossfade = 300;
    a.loop_score = 0.2; /* uncorrelated: equal-power crossfade */
    int64_t start, len;
    assert_int_equal(dsp_export_process(x, F, CH, &a, 0.0, &start, &len), 0);
    assert_int_equal(start, 100);
    assert_int_equal(len, 3800);
    /* outside the fades and the crossfade the signal is the tone without its DC */
    for (int i = 400; i < 900; i++)
        for (int c = 0; c < CH; c++)
            assert_true(fabsf(x[i * CH + c] - (float)(0.5 * sin(i * 0.05 + c))) < 1e-5f);
    /* crossfade: loop_end holds the frame before loop_start */
    for (int c = 0; c < CH; c++)
        assert_true(fabsf(x[2999 * CH + c] - (float)(0.5 * sin(999 * 0.05 + c))) < 1e-5f);
    /* linear fades: first frame silent, half way through the fade-in at half gain */
    assert_true(fabsf(x[100 * CH]) < 1e-6f);
    assert_true(fabsf(x[125 * CH] - 0.5f * (float)(0.5 * sin(125 * 0.05))) < 1e-5f);
    assert_true(fabsf(x[3899 * CH]) < 1e-6f);
    /* an empty cut is refused */
    a.cut_start = 3000;
    a.cut_end = 3000;
    assert_int_equal(dsp_export_process(x, F, CH, &a, 0.0, &start, &len), BB_EINVAL);
    free(x);
}

/* ---- instrument files and mapping ---- */

/* A plan: notes 48..72 step 4, velocities 40/90/127, 2 round robins, release samples;
 * note 56 v90 rr2 failed, note 64 failed entirely. */
static void s_plan(s_fix_t *f, const char *inst)
{
    tx_spec_t spec = TX_SPEC_INIT;
    spec.channels = 1;
    int vels[] = {40, 90, 127};
    for (int note = 48; note <= 72; note += 4) {
        for (int v = 0; v < 3; v++)
            for (int rr = 1; rr <= 2; rr++) {
                spec.verdict = DSP_PASS;
                if ((note == 56 && vels[v] == 90 && rr == 2) || note == 64)
                    spec.verdict = DSP_FAIL;
                else if (note == 52 && rr == 1)
                    spec.verdict = DSP_WARN;
                spec.loop = note == 60;
                s_add(f, inst, note, vels[v], rr, false, &spec);
            }
        spec.verdict = DSP_PASS;
        spec.loop = false;
        s_add(f, inst, note, 127, 1, true, &spec);
    }
}

static void s_check_sfz(const char *dir, const char *sfz_path, int lo, int hi,
                        size_t expect_regions)
{
    char *text = s_read(sfz_path);
    tx_region_t *r = calloc(256, sizeof *r);
    int n = tx_sfz_parse(text, r, 256);
    assert_int_equal(n, (int)expect_regions);
    tx_zone_t *z = calloc((size_t)n, sizeof *z);
    int seen_lo = 127, seen_hi = 0;
    for (int i = 0; i < n; i++) {
        assert_true(r[i].keycenter >= 0); /* pitch_keycenter on every region */
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, r[i].sample);
        if (!bb_exists(path))
            fail_msg("the SFZ references %s, which does not exist", path);
        assert_true(r[i].sample[0] != '/'); /* relative */
        z[i] = (tx_zone_t){r[i].lokey,      r[i].hikey,        r[i].lovel,  r[i].hivel,
                           r[i].seq_length, r[i].seq_position, r[i].release};
        if (!r[i].release) {
            seen_lo = r[i].lokey < seen_lo ? r[i].lokey : seen_lo;
            seen_hi = r[i].hikey > seen_hi ? r[i].hikey : seen_hi;
        }
        if (r[i].keycenter == 60 && !r[i].release) {
            assert_string_equal(r[i].loop_mode, "loop_continuous");
            assert_true(r[i].loop_start > 0 && r[i].loop_end > r[i].loop_start);
        } else if (r[i].release) {
            /* played to its end and stopped by the player, never looped */
            assert_string_equal(r[i].loop_mode, "one_shot");
            assert_true(r[i].loop_end <= 0);
        } else {
            assert_string_equal(r[i].loop_mode, "no_loop");
        }
    }
    assert_int_equal(seen_lo, lo);
    assert_int_equal(seen_hi, hi);
    char err[256] = "";
    if (tx_check_coverage(z, (size_t)n, false, lo, hi, err, sizeof err))
        fail_msg("SFZ: %s", err);
    if (tx_check_coverage(z, (size_t)n, true, lo, hi, err, sizeof err))
        fail_msg("SFZ release: %s", err);
    free(z);
    free(r);
    free(text);
}

static void test_sfz_mapping(void **state)
{
    s_fix_t *f = *state;
    s_plan(f, "Grand");
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    dsp_export_result_t res;
    s_export(f, &cfg, "Grand", &res);
    /* 7 notes x 3 vel x 2 rr + 7 release - 6 failed (note 64) - 1 (56 v90 rr2) */
    assert_int_equal(res.files, 42 + 7 - 7);
    assert_int_equal(res.skipped, 7);
    /* by default the outer samples reach the keyboard's ends */
    s_check_sfz(res.dir, res.sfz, 0, 127, 42);

    cfg.map.mode = DSP_MAP_UPWARD;
    cfg.map.extend = DSP_EXTEND_OCTAVE;
    s_export(f, &cfg, "Grand", &res);
    s_check_sfz(res.dir, res.sfz, 36, 84, 42);

    cfg.map.extend = DSP_EXTEND_NONE;
    s_export(f, &cfg, "Grand", &res);
    s_check_sfz(res.dir, res.sfz, 48, 72, 42);

    char err[128];
    assert_int_equal(dsp_map_extend_parse("A-1:C7", BB_NOTES_C3_IS_60, &cfg.map, err, sizeof err),
                     0);
    assert_int_equal(cfg.map.extend, DSP_EXTEND_KEYS);
    assert_int_equal(cfg.map.key_lo, 21);
    assert_int_equal(cfg.map.key_hi, 108);
    s_export(f, &cfg, "Grand", &res);
    s_check_sfz(res.dir, res.sfz, 21, 108, 42);
    assert_int_equal(dsp_map_extend_parse("wide", BB_NOTES_C3_IS_60, &cfg.map, err, sizeof err),
                     BB_EINVAL);
    assert_non_null(strstr(err, "full, octave, none"));
    assert_int_equal(dsp_map_extend_parse("72:60", BB_NOTES_C3_IS_60, &cfg.map, err, sizeof err),
                     BB_EINVAL);
}

static void test_map_build_cases(void **state)
{
    /* one note: the whole keyboard by default; velocities stretch to 1..127 */
    dsp_map_entry_t e[4] = {{.note = 60, .velocity = 64, .rr = 1, .level_db = -20},
                            {.note = 60, .velocity = 100, .rr = 2, .level_db = -7},
                            {.note = 60, .velocity = 100, .rr = 1, .level_db = -9}};
    dsp_map_config_t mc = DSP_MAP_CONFIG_INIT;
    assert_int_equal(dsp_map_build(e, 3, &mc), 0);
    assert_int_equal(e[0].lokey, 0);
    assert_int_equal(e[0].hikey, 127);
    mc.extend = DSP_EXTEND_NONE;
    assert_int_equal(dsp_map_build(e, 3, &mc), 0);
    assert_int_equal(e[0].lokey, 60);
    assert_int_equal(e[0].hikey, 60);
    assert_int_equal(e[0].lovel, 1);
    assert_int_equal(e[0].hivel, 64);
    assert_int_equal(e[0].seq_length, 1);
    assert_int_equal(e[1].lovel, 65);
    assert_int_equal(e[1].hivel, 127);
    assert_int_equal(e[1].seq_position, 2); /* by rr, not by order */
    assert_int_equal(e[2].seq_position, 1);
    assert_int_equal(e[2].seq_length, 2);

    /* velocity curves: 0 dB at each sample's own velocity; the v100 layer starts from the
     * v64 layer's level (-20 dB against its mean -8); below v64 amplitude ~ velocity; above
     * the top layer nothing louder than recorded */
    for (int i = 0; i < 3; i++)
        assert_float_equal(dsp_map_gain_db(&e[i], e[i].velocity), 0.0, 1e-9);
    assert_float_equal(dsp_map_gain_db(&e[1], 64), -13.0, 1e-9); /* -20 - -7 */
    assert_float_equal(dsp_map_gain_db(&e[2], 64), -11.0, 1e-9); /* -20 - -9 */
    assert_float_equal(dsp_map_gain_db(&e[0], 32), 20 * log10(32.0 / 64), 1e-9);
    assert_float_equal(dsp_map_gain_db(&e[0], 1), 20 * log10(1.0 / 64), 1e-9);
    assert_float_equal(dsp_map_gain_db(&e[1], 127), 0.0, 1e-9);
    for (int i = 0; i < 3; i++) /* never rising above 0 dB, never falling with velocity */
        for (int v = e[i].lovel + 1; v <= e[i].hivel; v++) {
            assert_true(dsp_map_gain_db(&e[i], v) <= 1e-9);
            assert_true(dsp_map_gain_db(&e[i], v) >= dsp_map_gain_db(&e[i], v - 1) - 1e-9);
        }
    /* the pieces a dB-linear format writes stay within 0.5 dB of the curve */
    dsp_vel_segment_t seg[DSP_VEL_POINTS_MAX];
    int ns = dsp_map_segments(&e[0], seg);
    assert_int_equal(seg[0].lovel, 1);
    assert_int_equal(seg[ns - 1].hivel, 64);
    for (int k = 0; k < ns; k++) {
        if (k > 0)
            assert_int_equal(seg[k].lovel, seg[k - 1].hivel + 1);
        for (int v = seg[k].lovel; v <= seg[k].hivel; v++) {
            double lin = seg[k].g0 + (seg[k].g1 - seg[k].g0) * (v - seg[k].v0) /
                                         (double)(seg[k].v1 - seg[k].v0);
            assert_float_equal(lin, dsp_map_gain_db(&e[0], v), 0.6);
        }
    }
    /* a layer quieter than the one below it (an odd instrument) is not made louder by the
     * player at the boundary: 0 dB there */
    dsp_map_entry_t q[2] = {{.note = 60, .velocity = 64, .rr = 1, .level_db = -6},
                            {.note = 60, .velocity = 127, .rr = 1, .level_db = -9}};
    assert_int_equal(dsp_map_build(q, 2, &mc), 0);
    assert_float_equal(dsp_map_gain_db(&q[1], 64), 0.0, 1e-9);

    /* centred between neighbours 60 and 67: 60 gets ..63, 67 gets 64.. */
    dsp_map_entry_t g[2] = {{.note = 60, .velocity = 127, .rr = 1},
                            {.note = 67, .velocity = 127, .rr = 1}};
    mc.extend = DSP_EXTEND_KEYS;
    mc.key_lo = 57;
    mc.key_hi = 70;
    assert_int_equal(dsp_map_build(g, 2, &mc), 0);
    assert_int_equal(g[0].lokey, 57);
    assert_int_equal(g[0].hikey, 63);
    assert_int_equal(g[1].lokey, 64);
    assert_int_equal(g[1].hikey, 70);
    mc.mode = DSP_MAP_UPWARD;
    mc.extend = DSP_EXTEND_NONE;
    assert_int_equal(dsp_map_build(g, 2, &mc), 0);
    assert_int_equal(g[0].lokey, 60);
    assert_int_equal(g[0].hikey, 66);
    assert_int_equal(g[1].lokey, 67);
    assert_int_equal(g[1].hikey, 67);
    assert_int_equal(dsp_map_build(NULL, 2, &mc), BB_EINVAL);
    mc.extend = DSP_EXTEND_KEYS;
    mc.key_lo = 80;
    mc.key_hi = 20;
    assert_int_equal(dsp_map_build(g, 2, &mc), BB_EINVAL);
}

static void test_dspreset(void **state)
{
    s_fix_t *f = *state;
    s_plan(f, "Grand & <Co> \"Q\" 'x'");
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    cfg.tune = true;
    dsp_export_result_t res;
    s_export(f, &cfg, "Grand & <Co> \"Q\" 'x'", &res);
    char *text = s_read(res.dspreset);
    char err[256];
    xmlDoc *doc = tx_xml_read(text, "dspreset", err, sizeof err);
    if (!doc)
        fail_msg("the .dspreset is not well-formed XML: %s", err);
    const xmlNode *root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)root->name, "DecentSampler");
    /* the name survives escaping */
    const xmlNode *found[256];
    assert_int_equal(tx_xml_find(root, "label", found, 256), 1);
    assert_string_equal(tx_xml_attr(found[0], "text"), "Grand & <Co> \"Q\" 'x'");
    /* UI: a background colour (required by the developer guide); three knobs bound to
     * the instrument's amp envelope and volume, with the attributes the guide documents */
    assert_int_equal(tx_xml_find(root, "ui", found, 256), 1);
    assert_int_equal(strlen(tx_xml_attr(found[0], "bgColor")), 8);
    assert_int_equal(tx_xml_find(root, "labeled-knob", found, 256), 3);
    const char *params[] = {"AMP_VOLUME", "ENV_ATTACK", "ENV_RELEASE"};
    for (int i = 0; i < 3; i++) {
        assert_non_null(tx_xml_attr(found[i], "height"));
        assert_non_null(tx_xml_attr(found[i], "parameterName"));
        assert_string_equal(tx_xml_attr(found[i], "valueType"), "float");
        assert_null(tx_xml_attr(found[i], "type"));
        assert_int_equal(xmlChildElementCount((xmlNode *)found[i]), 1);
        const xmlNode *b = xmlFirstElementChild((xmlNode *)found[i]);
        assert_non_null(b);
        assert_string_equal((const char *)b->name, "binding");
        assert_string_equal(tx_xml_attr(b, "type"), "amp");
        assert_string_equal(tx_xml_attr(b, "level"), "instrument");
        assert_string_equal(tx_xml_attr(b, "parameter"), params[i]);
    }
    assert_int_equal(tx_xml_find(root, "groups", found, 256), 1);
    /* a sample whose velocity curve has several pieces appears once per piece, each in a
     * group with the ampVelTrack of that piece: every file at least once */
    size_t n = tx_xml_find(root, "sample", found, 256);
    assert_true(n >= 42 && n < 256);
    tx_zone_t z[256];
    char paths[256][160];
    size_t n_paths = 0;
    const char *required[] = {"path",  "rootNote", "loNote",    "hiNote",      "loVel",
                              "hiVel", "seqMode",  "seqLength", "seqPosition", "loopEnabled"};
    for (size_t i = 0; i < n; i++) {
        const xmlNode *s = found[i];
        for (size_t k = 0; k < sizeof required / sizeof *required; k++)
            if (!tx_xml_attr(s, required[k]))
                fail_msg("<sample> without %s", required[k]);
        assert_string_equal(tx_xml_attr(s, "seqMode"), "round_robin");
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", res.dir, tx_xml_attr(s, "path"));
        if (!bb_exists(path))
            fail_msg("the preset references %s, which does not exist", path);
        bool seen = false;
        for (size_t k = 0; k < n_paths; k++)
            seen |= !strcmp(paths[k], tx_xml_attr(s, "path"));
        if (!seen)
            snprintf(paths[n_paths++], sizeof paths[0], "%s", tx_xml_attr(s, "path"));
        const char *track = tx_xml_attr(s->parent, "ampVelTrack");
        assert_non_null(track);
        assert_true(atof(track) >= 0 && atof(track) <= 1);
        const char *trig = tx_xml_attr(s, "trigger");
        const char *gtrig = tx_xml_attr(s->parent, "trigger");
        bool rel = trig && !strcmp(trig, "release");
        assert_true(rel == (gtrig && !strcmp(gtrig, "release")));
        int root_note = atoi(tx_xml_attr(s, "rootNote"));
        bool looped = !strcmp(tx_xml_attr(s, "loopEnabled"), "true");
        assert_true(looped == (root_note == 60 && !rel));
        if (looped) {
            assert_non_null(tx_xml_attr(s, "loopStart"));
            assert_true(atoll(tx_xml_attr(s, "loopEnd")) > atoll(tx_xml_attr(s, "loopStart")));
        }
        z[i] = (tx_zone_t){atoi(tx_xml_attr(s, "loNote")),
                           atoi(tx_xml_attr(s, "hiNote")),
                           atoi(tx_xml_attr(s, "loVel")),
                           atoi(tx_xml_attr(s, "hiVel")),
                           atoi(tx_xml_attr(s, "seqLength")),
                           atoi(tx_xml_attr(s, "seqPosition")),
                           rel};
    }
    assert_int_equal(n_paths, 42);
    if (tx_check_coverage(z, n, false, 0, 127, err, sizeof err))
        fail_msg("dspreset: %s", err);
    if (tx_check_coverage(z, n, true, 0, 127, err, sizeof err))
        fail_msg("dspreset release: %s", err);
    xmlFreeDoc(doc);
    free(text);
}

/* ---- release samples ---- */

static double s_rms_db(const float *x, int ch, int64_t from, int64_t n)
{
    double sq = 0;
    for (int64_t i = from; i < from + n; i++)
        sq += (double)x[i * ch] * x[i * ch];
    return 10 * log10(sq / (double)n);
}

static void test_release_samples(void **state)
{
    s_fix_t *f = *state;
    tx_spec_t spec = TX_SPEC_INIT;
    spec.decay_db_s = 10; /* a decaying note: the held level falls 10 dB per second */
    s_add(f, "Harp", 60, 127, 1, false, &spec);
    dsp_export_take_t *rel = s_add(f, "Harp", 60, 127, 1, true, &spec);
    spec.decay_db_s = 0;
    s_add(f, "Harp", 67, 127, 1, false, &spec);
    s_add(f, "Harp", 67, 127, 1, true, &spec);
    spec.note_off = TX_BODY + TX_TAIL / 2; /* the key goes up after the sound has ended */
    s_add(f, "Harp", 72, 127, 1, false, &spec);
    s_add(f, "Harp", 72, 127, 1, true, &spec);
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    cfg.normalise = DSP_NORM_SAMPLE; /* release samples still take their held note's gain */
    dsp_export_result_t res;
    s_export(f, &cfg, "Harp", &res);
    assert_int_equal(res.files, 5);
    assert_int_equal(res.skipped, 1);

    char path[1400];
    SF_INFO info;
    snprintf(path, sizeof path, "%s/samples/Harp_C3_060_v127_rr1.wav", res.dir);
    float *held = s_read_audio(path, &info);
    snprintf(path, sizeof path, "%s/samples/Harp_C3_060_v127_rr1_rel.wav", res.dir);
    float *x = s_read_audio(path, &info);
    /* the sound after the note-off to the tail's end, not a whole note again */
    int64_t off = TX_BODY / 2;
    assert_int_equal(info.frames, TX_BODY - off);
    /* it starts at the level the held note had at the key-up (same gain), after a short
     * fade-in, and is never looped */
    const int64_t win = TX_RATE / 50;
    double held_db = s_rms_db(held, 2, TX_ATTACK + off - win, win);
    double start_db = s_rms_db(x, 2, TX_RATE / 500, win);
    assert_float_equal(start_db, held_db, 0.5);
    assert_true(fabsf(x[0]) < 0.01f);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    SF_INSTRUMENT inst;
    assert_int_equal(sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst), SF_TRUE);
    assert_int_equal(inst.loop_count, 0);
    assert_int_equal(inst.basenote, 60);
    sf_close(sf);
    free(held);
    free(x);
    (void)rel;

    /* SFZ: the decaying note's release follows the hold (rt_decay, anchored by volume at the
     * recorded hold); the steady one has none */
    char *sfz = s_read(res.sfz);
    double rt_decay = -1, volume = -1, amp_release = -1;
    bool rt67 = false;
    for (char *line = strtok(sfz, "\n"); line; line = strtok(NULL, "\n")) {
        const char *p;
        if (strstr(line, "Harp_C3_060_v127_rr1_rel.wav")) {
            if ((p = strstr(line, "rt_decay=")))
                rt_decay = atof(p + 9);
            if ((p = strstr(line, "volume=")))
                volume = atof(p + 7);
        }
        if (strstr(line, "Harp_G3_067_v127_rr1_rel.wav"))
            rt67 = strstr(line, "rt_decay=") != NULL;
        if (amp_release < 0 && strncmp(line, "trigger=release", 15) == 0)
            amp_release = 0; /* the release group: its ampeg_release follows */
        else if (amp_release == 0 && strncmp(line, "ampeg_release=", 14) == 0)
            amp_release = atof(line + 14);
    }
    free(sfz);
    double hold = (double)off / TX_RATE;
    assert_float_equal(rt_decay, 10.0, 0.3);
    assert_float_equal(volume, rt_decay * hold, 0.02);
    assert_false(rt67);
    /* the release group's ampeg_release is no shorter than its samples */
    assert_true(amp_release >= (double)(TX_BODY - off) / TX_RATE);

    /* the release take whose key went up after the sound: listed with the reason */
    snprintf(path, sizeof path, "%s/%s", res.dir, DSP_EXPORT_INST_RECORD);
    char *record = s_read(path);
    assert_non_null(strstr(record, "release sample: no release to cut"));
    /* each release sample records where it starts against the held note at the key-up */
    json_t *doc = json_loads(record, 0, NULL);
    assert_non_null(doc);
    size_t i, checked = 0;
    json_t *smp;
    json_array_foreach(json_object_get(doc, "samples"), i, smp)
    {
        json_t *rs = json_object_get(smp, "release_sample");
        if (!json_is_true(json_object_get(smp, "release"))) {
            assert_null(rs);
            continue;
        }
        double keyup = json_number_value(json_object_get(rs, "keyup_db"));
        double start = json_number_value(json_object_get(rs, "start_db"));
        assert_true(start <= keyup + 1.0 && start > keyup - 3.0);
        checked++;
    }
    assert_int_equal(checked, 2);
    json_decref(doc);
    free(record);
}

/* ---- manifest and report ---- */

static void test_manifest_and_report(void **state)
{
    s_fix_t *f = *state;
    s_plan(f, "Grand");
    /* the first take was recorded twice: attempt 2, after a clipped attempt 1 */
    static const dsp_export_retake_t earlier[] = {{.take_id = "grand-first-a1",
                                                   .attempt = 1,
                                                   .verdict = DSP_FAIL,
                                                   .reasons = "clipping: 3 run(s)"}};
    f->t[0].attempt = 2;
    f->t[0].retakes = earlier;
    f->t[0].n_retakes = 1;
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    dsp_export_result_t res;
    s_export(f, &cfg, "Grand", &res);
    f->n = 0;
    tx_spec_t spec = TX_SPEC_INIT;
    s_add(f, "Bass", 36, 127, 1, false, &spec);
    s_add(f, "Bass", 40, 127, 1, false, &spec);
    s_export(f, &cfg, "Bass", &res);

    char path[600];
    snprintf(path, sizeof path, "%s/%s", f->lib, DSP_EXPORT_MANIFEST);
    char *text = s_read(path);
    json_t *doc = NULL;
    char err[256];
    assert_int_equal(bb_json_load(&doc, text, strlen(text), err, sizeof err), 0);
    const json_t *insts = json_object_get(doc, "instruments");
    assert_int_equal(json_array_size(insts), 2);
    size_t samples = 0;
    for (size_t i = 0; i < 2; i++) {
        const json_t *in = json_array_get(insts, i);
        const json_t *list = json_object_get(in, "samples");
        samples += json_array_size(list);
        for (size_t k = 0; k < json_array_size(list); k++) {
            const json_t *s = json_array_get(list, k);
            const char *keys[] = {"file",    "note",   "velocity", "rr",           "key_lo",
                                  "key_hi",  "vel_lo", "vel_hi",   "seq_position", "frames",
                                  "peak_db", "bytes",  "crc32"};
            for (size_t q = 0; q < sizeof keys / sizeof *keys; q++)
                if (!json_object_get(s, keys[q]))
                    fail_msg("manifest sample without %s", keys[q]);
            assert_null(json_object_get(s, "thumb")); /* thumbnails stay in the records */
            assert_non_null(json_object_get(s, "loop"));
            const char *verdict;
            assert_int_equal(bb_json_get_string(json_object_get(s, "qc"), "verdict", &verdict), 0);
            assert_true(!strcmp(verdict, "pass") || !strcmp(verdict, "warn"));
            int64_t note;
            bb_json_get_int(s, "note", &note);
            if (note == 60 && !json_is_true(json_object_get(s, "release"))) {
                const json_t *loop = json_object_get(s, "loop");
                assert_true(json_is_object(loop));
                int64_t ls, le;
                assert_int_equal(bb_json_get_int(loop, "start", &ls), 0);
                assert_int_equal(bb_json_get_int(loop, "end", &le), 0);
                assert_int_equal(ls, TX_RATE / 10 + TX_ATTACK);
                assert_true(le > ls);
            }
        }
    }
    assert_int_equal(samples, 42 + 2);
    const json_t *grand = json_array_get(insts, 1);
    assert_string_equal(json_string_value(json_object_get(grand, "name")), "Grand");
    assert_int_equal(json_array_size(json_object_get(grand, "skipped")), 7);
    /* every listed file exists with the size and CRC given */
    const json_t *files = json_object_get(doc, "files");
    /* the samples, four instrument files each (sfz, dspreset, sf2, multisample), the report */
    assert_int_equal(json_array_size(files), 44 + 2 * 4 + 1);
    for (size_t i = 0; i < 2; i++) {
        const json_t *in = json_array_get(insts, i);
        const char *kinds[] = {"sfz", "dspreset", "sf2", "multisample"};
        for (size_t k = 0; k < 4; k++)
            assert_true(json_is_string(json_object_get(in, kinds[k])));
    }
    /* Grand has release samples: the record says where they play */
    const char *note = json_string_value(
        json_object_get(json_object_get(json_array_get(insts, 1), "format_notes"), "sf2"));
    assert_non_null(note);
    assert_non_null(strstr(note, "release"));
    for (size_t i = 0; i < json_array_size(files); i++) {
        const json_t *e = json_array_get(files, i);
        const char *rel;
        int64_t bytes, crc;
        assert_int_equal(bb_json_get_string(e, "path", &rel), 0);
        assert_true(dsp_library_path_ok(rel));
        bb_json_get_int(e, "bytes", &bytes);
        bb_json_get_int(e, "crc32", &crc);
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", f->lib, rel);
        uint32_t have;
        uint64_t size;
        if (dsp_file_crc32(p, &have, &size, err, sizeof err))
            fail_msg("%s", err);
        assert_int_equal(size, (uint64_t)bytes);
        assert_int_equal(have, (uint32_t)crc);
    }
    json_decref(doc);
    free(text);

    /* report.html: well-formed, one thumbnail per sample, nothing fetched from anywhere */
    snprintf(path, sizeof path, "%s/%s", f->lib, DSP_EXPORT_REPORT);
    text = s_read(path);
    xmlDoc *html = tx_xml_read(text, "report.html", err, sizeof err);
    if (!html)
        fail_msg("report.html is not well-formed: %s", err);
    const xmlNode *root = xmlDocGetRootElement(html);
    assert_string_equal((const char *)root->name, "html");
    const xmlNode **svgs = calloc(512, sizeof *svgs);
    size_t n_svg = tx_xml_find(root, "svg", svgs, 512);
    size_t thumbs = 0, plots = 0, note_plots = 0, loops = 0;
    for (size_t i = 0; i < n_svg; i++) {
        const char *cls = tx_xml_attr(svgs[i], "class");
        thumbs += cls && !strcmp(cls, "thumb");
        plots += cls && !strcmp(cls, "plot");
        note_plots += cls && !strcmp(cls, "note");
        const xmlNode *rects[4];
        loops += tx_xml_find(svgs[i], "rect", rects, 4) > 0;
    }
    /* a waveform for every sample and for every failed take (the raw take over its cut) */
    assert_int_equal(thumbs, samples + 7);
    assert_int_equal(plots, 2);
    /* a velocity-to-level plot per note with samples: Grand 6 notes (64 failed), Bass 2 */
    assert_int_equal(note_plots, 6 + 2);
    /* loop markers on the looped samples' thumbnails (Grand's note 60: 3 vel x 2 rr) */
    assert_int_equal(loops, 6);
    size_t count = 0;
    for (const char *p = text; (p = strstr(p, "<svg class=\"thumb\"")); p++)
        count++;
    assert_int_equal(count, samples + 7);
    /* reasons in a column, not only in tooltips; the retake listed with its reasons */
    assert_non_null(strstr(text, "<td class=\"reasons\">low SNR</td>"));
    assert_non_null(strstr(text, "<h3>Retakes (1 slot recorded more than once)</h3>"));
    assert_non_null(strstr(text, "grand-first-a1 fail</span>: clipping: 3 run(s)"));
    assert_null(strstr(text, "src="));
    assert_null(strstr(text, "<script"));
    assert_null(strstr(text, "href=\"http"));
    /* the failed takes are in the grid, coloured */
    assert_non_null(strstr(text, "class=\"rr fail\""));
    assert_non_null(strstr(text, "class=\"rr warn\""));
    assert_non_null(strstr(text, "&lt;wrong note&gt; &amp; more"));
    free(svgs);
    xmlFreeDoc(html);
    free(text);
}

static void test_custom_template_and_all_failed(void **state)
{
    s_fix_t *f = *state;
    tx_spec_t spec = TX_SPEC_INIT;
    s_add(f, "Tmpl", 62, 100, 2, false, &spec);
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.out_dir = f->lib;
    cfg.name_template = "{instrument}-{name}-v{velocity}-{rr}";
    dsp_export_result_t res;
    s_export(f, &cfg, "Tmpl", &res);
    char path[1400];
    snprintf(path, sizeof path, "%s/samples/Tmpl-D3-v100-2.wav", res.dir);
    assert_true(bb_exists(path));

    /* an instrument whose every take failed writes no instrument files and says so
     * (issue 10): no folder, no .sfz or .dspreset that would load as an empty instrument */
    f->n = 0;
    spec.verdict = DSP_FAIL;
    s_add(f, "Broken", 60, 127, 1, false, &spec);
    s_add(f, "Broken", 64, 127, 1, false, &spec);
    cfg.name_template = NULL;
    char err[512] = "";
    assert_int_equal(dsp_export_instrument(&cfg, "Broken", f->t, f->n, &res, err, sizeof err),
                     BB_ENOTFOUND);
    assert_non_null(strstr(err, "no sample to export"));
    assert_non_null(strstr(err, "2 take(s), all failed QC"));
    snprintf(path, sizeof path, "%s/Broken", f->lib);
    assert_false(bb_exists(path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_default_and_template),
        cmocka_unit_test_setup_teardown(test_template_collision_is_an_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_custom_template_and_all_failed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_instrument_names, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_instruments_cannot_share_a_folder, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_wav24_chunks_read_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_float32_and_flac, s_setup, s_teardown),
        cmocka_unit_test(test_dither16),
        cmocka_unit_test_setup_teardown(test_wav16_dither_in_file, s_setup, s_teardown),
        cmocka_unit_test(test_fade_curves),
        cmocka_unit_test(test_process_dc_fades_crossfade),
        cmocka_unit_test(test_map_build_cases),
        cmocka_unit_test_setup_teardown(test_sfz_mapping, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dspreset, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_release_samples, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_manifest_and_report, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
