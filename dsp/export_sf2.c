/*
 * export_sf2.c — the SoundFont 2 (.sf2) instrument file, written through libinstpatch
 * from the canonical map (export_map.h) and the sample files already written.
 *
 * Round robins: SoundFont 2 has no round-robin selection (every zone whose key and
 * velocity ranges match a note-on plays), so round robins sharing a cell would all sound
 * at once, stacking +6 dB and two voices per note with two of them. The .sf2 therefore
 * holds one instrument and one preset per round-robin step: preset 0 (bank 0, program 0)
 * plays round robin 1 and is the instrument a player opens; program k-1 plays round robin
 * k, each a complete instrument (a cell recorded with fewer round robins repeats its own
 * in turn). Every note-on starts one sample (two voices for a stereo pair). The samples
 * are stored once and shared by the instruments that use them.
 *
 * Each sample file becomes one
 * SF2 sample, or a linked left/right pair for stereo (libinstpatch's sound-file
 * converter splits it); its root key is the played note and its loop the map's (SF2
 * loop ends are exclusive: loop_end + 1). Each sample's velocity curve is cut into pieces
 * over which a straight line in dB stays within S_CURVE_TOL_DB of it (dsp_map_segments_db:
 * the map interpolates in amplitude, as SFZ amp_velcurve_N and DecentSampler's ampVelTrack
 * do, and an SF2 modulator line is linear in centibels), and each piece becomes one
 * instrument zone per channel with:
 *   keyRange, velRange            the map's ranges, the piece's velocities
 *   overridingRootKey             the played note
 *   fineTune                      the tuning correction (with --tune)
 *   sampleModes                   1 (loop continuous) or 3 (loop while held) when looped
 *   pan                           -500 / +500 for the left / right sample of a pair
 *   releaseVolEnv                 the instrument's amp release, in timecents
 *   scaleTuning                   0 for unpitched instruments (see below)
 *   modulators                    see below
 *
 * Velocity (SF2.04 section 8.4): every player applies the default modulator
 * "note-on velocity -> initial attenuation, negative concave, 960 cB" (and FluidSynth's
 * "velocity -> filter cutoff, -2400 cents") unless an instrument zone holds an identical
 * modulator, which replaces it. Each zone overrides both with amount 0, then adds the
 * piece's line as two linear velocity modulators on initialAttenuation: a positive one
 * (amount A1: A1 * v/128) and a negative one (amount A2: A2 * (1 - v/128)), which sum to
 * A2 + (A1 - A2) v/128 cB, any straight line in velocity, exact at both ends of the
 * piece. The initialAttenuation generator itself is not used: FluidSynth and the EMU
 * hardware scale it by 0.4, other players do not; modulator amounts are plain cB in all.
 *
 * Unpitched instruments (drums; export_map.h): each zone on its own key only, scaleTuning
 * 0 (no transposition), never looped, and, as SF2 has no one-shot mode, releaseVolEnv at
 * the format's maximum (8000 timecents, 101.6 s): a key-up starts a release of about
 * 1 dB a second, so the hit plays on to its end as a one-shot would.
 *
 * SF2 has no release trigger: release samples are left out of the .sf2 and its comment
 * says so (they play from the .sfz and .dspreset). A file over the format's 32-bit chunk
 * size is not written (BB_ETOOLONG).
 *
 * Reading the samples: libinstpatch's sound-file converter reopens and re-parses a WAV
 * through libsndfile for every block its SF2 writer reads (most of the SF2's time), so
 * the plain PCM and float WAV files export_audio.c writes are taken from memory instead
 * (the bytes export.c kept as it wrote them, dsp_export_sample_t.wav, else the file
 * mapped): the RIFF header is walked here (s_wav_layout, the "fmt " and "data" chunks only) and a
 * small sample store hands the writer each channel's frames in its own format. FLAC and
 * any other file still go through libinstpatch's converter. Both give the same .sf2.
 */
#include <fcntl.h>
#include <glib.h>
#include <libinstpatch/libinstpatch.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "export.h"

#define S_NAME_MAX            19 /* SF2 names: 20 bytes with the terminating zero */
#define S_PAN_HARD            500
#define S_VEL_RANGE           128.0 /* a 7-bit source is normalised by 128 (FluidSynth, SF2.04 8.2.1) */
#define S_MAX_SAMPLE_DATA     0x7F000000ull /* bytes of 16-bit data in the smpl chunk, with margin */
#define S_CB_PER_DB           10.0
#define S_RR_PRESETS_MAX      128  /* programs of bank 0 */
#define S_ONE_SHOT_RELEASE_TC 8000 /* releaseVolEnv's maximum (SF2.04 8.1.3): 101.6 s */
#define S_CURVE_TOL_DB        0.1  /* a zone's line in dB vs the map's curve (export_map.h) */

/* modulator sources and destinations (SF2.04 section 8.2) */
#define S_SRC_VEL_POS_LINEAR  0x0002 /* note-on velocity, linear, unipolar, positive */
#define S_SRC_VEL_NEG_LINEAR  0x0102 /* ... negative */
#define S_SRC_VEL_NEG_CONCAVE 0x0502 /* the default velocity -> attenuation source */
#define S_SRC_VEL_SWITCH      0x0C02 /* FluidSynth's default vel -> filter amount source */
#define S_DEST_ATTENUATION    48
#define S_DEST_FILTER_CUTOFF  8

static pthread_once_t s_init_once = PTHREAD_ONCE_INIT;

static void s_init(void)
{
    ipatch_init();
}

/* An SF2 name: printable ASCII, at most 20 characters (fallback when nothing is left). */
static void s_name(char *out, const char *in, const char *fallback)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n < S_NAME_MAX; p++)
        if (*p >= 0x20 && *p < 0x7F)
            out[n++] = (char)*p;
    out[n] = '\0';
    if (n == 0) {
        size_t f = strlen(fallback);
        f = f < S_NAME_MAX ? f : S_NAME_MAX;
        memcpy(out, fallback, f);
        out[f] = '\0';
    }
}

static void s_gen(IpatchSF2IZone *z, guint id, gint16 value)
{
    IpatchSF2GenAmount amt = {.sword = value};
    ipatch_sf2_gen_item_set_amount(IPATCH_SF2_GEN_ITEM(z), id, &amt);
}

static void s_range(IpatchSF2IZone *z, guint id, int lo, int hi)
{
    IpatchSF2GenAmount amt;
    amt.range.low = (guint8)lo;
    amt.range.high = (guint8)hi;
    ipatch_sf2_gen_item_set_amount(IPATCH_SF2_GEN_ITEM(z), id, &amt);
}

static void s_mod(IpatchSF2IZone *z, guint16 src, guint16 dest, double amount, guint16 amtsrc)
{
    double a = round(amount);
    IpatchSF2Mod m = {.src = src,
                      .dest = dest,
                      .amount = (gint16)(a > 32767    ? 32767
                                         : a < -32768 ? -32768
                                                      : a),
                      .amtsrc = amtsrc,
                      .trans = 0};
    ipatch_sf2_mod_item_add(IPATCH_SF2_MOD_ITEM(z), &m);
}

/* Timecents of a time in seconds (SF2.04 8.1.3: 1200 log2(s)). */
static gint16 s_timecents(double s)
{
    double tc = 1200.0 * log2(s > 0.001 ? s : 0.001);
    return (gint16)lround(tc);
}

/* Whether a sample plays in the instrument of round-robin step k (1-based): its own
 * position, or, in a cell with fewer round robins, the one whose turn it is. */
static bool s_plays_in(const dsp_map_entry_t *e, int k)
{
    int len = e->seq_length > 0 ? e->seq_length : 1;
    return e->seq_position == (k - 1) % len + 1;
}

/* The name of round-robin step k's instrument and preset: the instrument's name, then
 * " RR<k>" from the second on (the name shortened to fit). */
static void s_rr_name(char *out, const char *name, int k)
{
    if (k == 1) {
        snprintf(out, S_NAME_MAX + 1, "%s", name);
        return;
    }
    char tail[16];
    int tn = snprintf(tail, sizeof tail, " RR%d", k);
    int keep = S_NAME_MAX - tn;
    snprintf(out, S_NAME_MAX + 1, "%.*s%s", keep, name, tail);
}

/* The zones of one sample file (its SF2 samples in `smp`, 1 or 2). */
static void s_zones(IpatchSF2Inst *inst, const dsp_export_inst_t *x, const dsp_export_sample_t *s,
                    IpatchSF2Sample **smp, int n_smp)
{
    dsp_vel_segment_t seg[DSP_VEL_SEGMENTS_DB_MAX];
    int ns = dsp_map_segments_db(&s->map, S_CURVE_TOL_DB, seg);
    for (int k = 0; k < ns; k++) {
        /* attenuation in cB along the piece: c0 + c1 * v */
        double c1 = 0, c0 = -S_CB_PER_DB * seg[k].g1;
        if (seg[k].v1 != seg[k].v0) {
            c1 = -S_CB_PER_DB * (seg[k].g1 - seg[k].g0) / (double)(seg[k].v1 - seg[k].v0);
            c0 = -S_CB_PER_DB * seg[k].g0 - c1 * seg[k].v0;
        }
        for (int c = 0; c < n_smp; c++) {
            IpatchSF2IZone *z = ipatch_sf2_izone_new(); /* ++ ref */
            ipatch_sf2_izone_set_sample(z, smp[c]);
            s_range(z, IPATCH_SF2_GEN_NOTE_RANGE, s->map.lokey, s->map.hikey);
            s_range(z, IPATCH_SF2_GEN_VELOCITY_RANGE, seg[k].lovel, seg[k].hivel);
            s_gen(z, IPATCH_SF2_GEN_ROOT_NOTE_OVERRIDE, (gint16)s->map.note);
            if (x->tune && s->tune_cents != 0)
                s_gen(z, IPATCH_SF2_GEN_FINE_TUNE_OVERRIDE, (gint16)lround(s->tune_cents));
            if (x->map.unpitched) /* played at its recorded pitch on any key */
                s_gen(z, IPATCH_SF2_GEN_SCALE_TUNE, 0);
            if (s->has_loop && !x->map.unpitched)
                s_gen(z, IPATCH_SF2_GEN_SAMPLE_MODES,
                      x->loop_sustain ? IPATCH_SF2_GEN_SAMPLE_MODE_LOOP_RELEASE
                                      : IPATCH_SF2_GEN_SAMPLE_MODE_LOOP);
            if (n_smp == 2)
                s_gen(z, IPATCH_SF2_GEN_PAN, c == 0 ? -S_PAN_HARD : S_PAN_HARD);
            s_gen(z, IPATCH_SF2_GEN_VOL_ENV_RELEASE,
                  x->map.unpitched ? S_ONE_SHOT_RELEASE_TC
                                   : s_timecents(x->amp_release_s > 0 ? x->amp_release_s : 0.001));
            /* the players' velocity defaults replaced by nothing ... */
            s_mod(z, S_SRC_VEL_NEG_CONCAVE, S_DEST_ATTENUATION, 0, 0);
            s_mod(z, S_SRC_VEL_NEG_LINEAR, S_DEST_FILTER_CUTOFF, 0, S_SRC_VEL_SWITCH);
            /* ... and the recorded dynamics' line in their place */
            if (fabs(c0) >= 0.5 || fabs(c1) >= 0.005) {
                s_mod(z, S_SRC_VEL_POS_LINEAR, S_DEST_ATTENUATION, c0 + S_VEL_RANGE * c1, 0);
                s_mod(z, S_SRC_VEL_NEG_LINEAR, S_DEST_ATTENUATION, c0, 0);
            }
            ipatch_container_append(IPATCH_CONTAINER(inst), IPATCH_ITEM(z));
            g_object_unref(z);
        }
    }
}

/* Little-endian fields of a RIFF header. */
static uint32_t s_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned s_le16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* Where a plain WAV file's bytes wav[0, len) (RIFF/WAVE, "fmt " then "data"; Microsoft's
 * RIFF layout) keep its frames, and their libinstpatch sample format: mono or stereo 16- or 24-bit
 * PCM or 32-bit float, the formats export_audio.c writes. False for anything else (FLAC, RF64, more
 * channels), which goes through libinstpatch's sound-file reader instead. */
static bool s_wav_layout(const unsigned char *wav, size_t len, guint *data_at, guint *frames,
                         int *format, int *rate)
{
    bool ok = len >= 12 && !memcmp(wav, "RIFF", 4) && !memcmp(wav + 8, "WAVE", 4);
    bool have_fmt = false;
    unsigned tag = 0, channels = 0, align = 0, bits = 0;
    uint64_t at = 12;
    while (ok) {
        ok = at + 8 <= len;
        if (!ok)
            break;
        const unsigned char *h = wav + at;
        uint32_t size = s_le32(h + 4);
        if (!memcmp(h, "fmt ", 4)) {
            size_t want = size >= 40 ? 40 : 16;
            ok = size >= 16 && at + 8 + want <= len;
            if (!ok)
                break;
            h += 8;
            tag = s_le16(h);
            channels = s_le16(h + 2);
            *rate = (int)s_le32(h + 4);
            align = s_le16(h + 12);
            bits = s_le16(h + 14);
            if (tag == 0xFFFE) /* WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes */
                tag = size >= 40 ? s_le16(h + 24) : 0;
            have_fmt = true;
        } else if (!memcmp(h, "data", 4)) {
            ok = have_fmt && align > 0 && at + 8 + size <= UINT32_MAX;
            if (ok) {
                *data_at = (guint)(at + 8);
                *frames = size / align;
            }
            break;
        }
        at += 8 + (uint64_t)size + (size & 1); /* chunks are padded to even sizes */
        ok = at < UINT32_MAX;
    }
    if (!ok || (channels != 1 && channels != 2) || align != channels * bits / 8)
        return false;
    int width;
    if (tag == 1 && bits == 16)
        width = IPATCH_SAMPLE_16BIT;
    else if (tag == 1 && bits == 24)
        width = IPATCH_SAMPLE_REAL24BIT;
    else if (tag == 3 && bits == 32)
        width = IPATCH_SAMPLE_FLOAT;
    else
        return false;
    *format = width | (channels == 2 ? IPATCH_SAMPLE_STEREO : IPATCH_SAMPLE_MONO) |
              IPATCH_SAMPLE_SIGNED | IPATCH_SAMPLE_LENDIAN;
    return true;
}

/* A sample file mapped into memory while the SF2 is written (unmapped after). */
typedef struct {
    void *at;
    size_t len;
} s_map_t;

/* One channel of a mapped 16- or 24-bit PCM WAV file, as a libinstpatch sample store in
 * the SF2 writer's own format (mono, signed, little-endian; 24 bits in 32-bit ints, the
 * low three bytes being the sample, as libinstpatch's IPATCH_SAMPLE_24BIT): the writer
 * then reads it without a transform. Through libinstpatch's virtual store, each block was
 * widened to 32 bits for both channels and then split (three passes over the block, a
 * tenth of process's time); here one pass picks the channel and widens it. */
typedef struct {
    IpatchSampleStore parent_instance;
    const unsigned char *frames;  /* the data chunk, in the mapping */
    guint frames_total;           /* frames in it */
    int channels, channel, bytes; /* bytes per sample: 2 or 3 */
} SWavStore;

typedef struct {
    IpatchSampleStoreClass parent_class;
} SWavStoreClass;

static GType s_wav_store_get_type(void);
static void s_wav_store_iface_init(IpatchSampleIface *iface);
G_DEFINE_TYPE_WITH_CODE(SWavStore, s_wav_store, IPATCH_TYPE_SAMPLE_STORE,
                        G_IMPLEMENT_INTERFACE(IPATCH_TYPE_SAMPLE, s_wav_store_iface_init))

static gboolean s_wav_store_read(IpatchSampleHandle *handle, guint offset, guint frames,
                                 gpointer buf, GError **err)
{
    (void)err;
    const SWavStore *st = (const SWavStore *)handle->sample;
    const size_t step = (size_t)st->channels * (size_t)st->bytes;
    const unsigned char *p = st->frames + (size_t)offset * step + (size_t)st->channel * st->bytes;
    if (st->bytes == 3) {
        gint32 *out = buf;
        guint i = 0;
        /* one four-byte load per sample (its fourth byte, the next sample's, masked off);
         * the file's last frame byte by byte, as nothing may follow it in the mapping */
        guint quick = frames == 0 || offset + frames < st->frames_total ? frames : frames - 1;
        for (; i < quick; i++, p += step) {
            guint32 w;
            memcpy(&w, p, 4);
            w = GUINT32_FROM_LE(w) & 0xFFFFFFu;
            out[i] = ((gint32)w ^ 0x800000) - 0x800000; /* sign-extended */
        }
        for (; i < frames; i++, p += step) {
            gint32 v = (gint32)((guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16);
            out[i] = (v ^ 0x800000) - 0x800000;
        }
    } else {
        gint16 *out = buf;
        for (guint i = 0; i < frames; i++, p += step) {
            guint16 w;
            memcpy(&w, p, 2);
            out[i] = (gint16)GUINT16_FROM_LE(w);
        }
    }
    return TRUE;
}

static void s_wav_store_iface_init(IpatchSampleIface *iface)
{
    iface->read = s_wav_store_read;
}

static void s_wav_store_class_init(SWavStoreClass *klass)
{
    (void)klass;
}

static void s_wav_store_init(SWavStore *self)
{
    (void)self;
}

/* A new SF2 sample (++ ref, the caller's) playing `data`, channel c of n. */
static IpatchSF2Sample *s_sf2_sample(IpatchSampleData *data, int rate, int n, int c)
{
    IpatchSF2Sample *smp = ipatch_sf2_sample_new();
    g_object_set(smp, "sample-data", data, "sample-rate", rate, "channel",
                 n == 1   ? IPATCH_SF2_SAMPLE_CHANNEL_MONO
                 : c == 0 ? IPATCH_SF2_SAMPLE_CHANNEL_LEFT
                          : IPATCH_SF2_SAMPLE_CHANNEL_RIGHT,
                 NULL);
    return smp;
}

/* A stereo pair's two samples name each other. */
static void s_link(IpatchSF2Sample **smp, int n)
{
    if (n == 2) {
        g_object_set(smp[0], "linked-sample", smp[1], NULL);
        g_object_set(smp[1], "linked-sample", smp[0], NULL);
    }
}

/* The SF2 samples of a plain WAV file, read straight from its data chunk: from `bytes`
 * (`len` of them, the file as export.c wrote it and kept it) or, when bytes is NULL, from
 * the file at path mapped into memory. libinstpatch's sound-file store opens and parses the file
 * through libsndfile again for every block the SF2 writer reads (about 150 system calls each, most
 * of the SF2 export's time), and its file store reads a block in 1 KiB system calls; a RAM store
 * over the mapping reads the page cache, and the bytes kept in memory are not read back at
 * all. Stereo is split as libinstpatch's own converter
 * splits it: one mono virtual store per channel over the file's frames, the two samples
 * linked. The frames reach the SF2 writer unchanged, so the .sf2 is the same byte for
 * byte. Returns how many samples (1 or 2) and the mapping, if any, in *map (the caller
 * unmaps it once the SF2 is written), 0 when the file is not a plain WAV. */
static int s_wav_samples(const char *path, const void *bytes, size_t len, IpatchSF2Sample **out,
                         s_map_t *map)
{
    if (!bytes) { /* the file, mapped */
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0)
            return 0;
        void *m = MAP_FAILED;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
            m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            return 0;
        *map = (s_map_t){.at = m, .len = (size_t)st.st_size};
        bytes = m;
        len = (size_t)st.st_size;
    }
    const unsigned char *at = bytes;
    guint data_at = 0, frames = 0;
    int format = 0, rate = 0;
    if (!s_wav_layout(at, len, &data_at, &frames, &format, &rate) || frames < 4 ||
        (uint64_t)len < (uint64_t)data_at + (uint64_t)frames * ipatch_sample_format_size(format)) {
        if (map->at) /* not a plain WAV: libinstpatch reads the file */
            munmap(map->at, map->len);
        *map = (s_map_t){0};
        return 0;
    }
    int n = IPATCH_SAMPLE_FORMAT_GET_CHANNELS(format) == IPATCH_SAMPLE_STEREO ? 2 : 1;
    int width = IPATCH_SAMPLE_FORMAT_GET_WIDTH(format);
    if (width == IPATCH_SAMPLE_16BIT || width == IPATCH_SAMPLE_REAL24BIT) {
        int mono = (width == IPATCH_SAMPLE_16BIT ? IPATCH_SAMPLE_16BIT : IPATCH_SAMPLE_24BIT) |
                   IPATCH_SAMPLE_MONO | IPATCH_SAMPLE_SIGNED | IPATCH_SAMPLE_LENDIAN;
        for (int c = 0; c < n; c++) {
            SWavStore *wav = g_object_new(s_wav_store_get_type(), NULL); /* ++ ref */
            wav->frames = at + data_at;
            wav->frames_total = frames;
            wav->channels = n;
            wav->channel = c;
            wav->bytes = width == IPATCH_SAMPLE_16BIT ? 2 : 3;
            g_object_set(wav, "sample-format", mono, "sample-size", frames, "sample-rate", rate,
                         NULL);
            IpatchSampleData *data = ipatch_sample_data_new(); /* ++ ref */
            ipatch_sample_data_add(data, IPATCH_SAMPLE_STORE(wav));
            g_object_unref(wav);
            out[c] = s_sf2_sample(data, rate, n, c);
            g_object_unref(data);
        }
        s_link(out, n);
        return n;
    }
    /* 32-bit float: libinstpatch converts it to the SF2's 24 bits, as before */
    /* The store only reads; the mapping stays the caller's. Not through
     * ipatch_sample_store_ram_new(): libinstpatch 1.1.6 takes any "free-data" given, FALSE
     * too, as TRUE and would free the mapping. */
    IpatchSample *store = IPATCH_SAMPLE(g_object_new(IPATCH_TYPE_SAMPLE_STORE_RAM, "location",
                                                     (char *)at + data_at, NULL)); /* ++ ref */
    g_object_set(store, "sample-format", format, "sample-size", frames, "sample-rate", rate, NULL);
    for (int c = 0; c < n; c++) {
        IpatchSampleData *data = ipatch_sample_data_new(); /* ++ ref */
        if (n == 2) {
            IpatchSampleList *list = ipatch_sample_list_new();
            ipatch_sample_list_append(list, store, 0, frames,
                                      c == 0 ? IPATCH_SAMPLE_LEFT : IPATCH_SAMPLE_RIGHT);
            IpatchSample *virt = ipatch_sample_store_virtual_new(); /* ++ ref */
            g_object_set(virt, "sample-format", format & ~IPATCH_SAMPLE_CHANNEL_MASK, "sample-rate",
                         rate, NULL);
            /* the virtual store takes the list over */
            ipatch_sample_store_virtual_set_list(IPATCH_SAMPLE_STORE_VIRTUAL(virt), 0, list);
            ipatch_sample_data_add(data, IPATCH_SAMPLE_STORE(virt));
            g_object_unref(virt);
        } else {
            ipatch_sample_data_add(data, IPATCH_SAMPLE_STORE(store));
        }
        out[c] = s_sf2_sample(data, rate, n, c);
        g_object_unref(data);
    }
    s_link(out, n);
    g_object_unref(store);
    return n;
}

/* The SF2 samples of one file: 1 (mono) or 2 (left, right), properties set from the map.
 * Returns how many, 0 with a message. */
static int s_samples(IpatchSF2 *sf2, const char *dir, const dsp_export_sample_t *s,
                     IpatchSF2Sample **out, s_map_t *map, char *err, size_t errlen)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, s->file);
    IpatchFileHandle *fh = NULL;
    GList *list = NULL;
    int n = s_wav_samples(path, s->wav, (size_t)s->bytes, out, map);
    if (n == 0) { /* FLAC and the rest: libinstpatch's sound-file converter */
        GError *gerr = NULL;
        fh = ipatch_file_identify_open(path, &gerr);
        if (!fh) {
            snprintf(err, errlen, "SoundFont: cannot read %s: %s", path,
                     gerr ? gerr->message : "unknown format");
            g_clear_error(&gerr);
            return 0;
        }
        list = ipatch_convert_object_to_type_multi_list(G_OBJECT(fh->file), IPATCH_TYPE_SF2_SAMPLE,
                                                        &gerr);
        for (GList *p = list; p && n < 2; p = p->next)
            out[n++] = IPATCH_SF2_SAMPLE(p->data);
        if (n == 0) {
            snprintf(err, errlen, "SoundFont: cannot convert %s: %s", path,
                     gerr ? gerr->message : "no sample");
            g_clear_error(&gerr);
            ipatch_file_close(fh);
            return 0;
        }
    }
    const char *base = strrchr(s->file, '/');
    base = base ? base + 1 : s->file;
    for (int c = 0; c < n; c++) {
        char name[S_NAME_MAX + 8];
        /* the end of the file name (note, velocity, round robin) tells samples apart */
        size_t len = strcspn(base, ".");
        size_t keep = S_NAME_MAX - (n == 2 ? 2 : 0);
        const char *tail = len > keep ? base + len - keep : base;
        snprintf(name, sizeof name, "%.*s%s", (int)(len > keep ? keep : len), tail,
                 n == 2 ? (c == 0 ? "_L" : "_R") : "");
        guint loop_start = 8, loop_end = (guint)(s->frames > 16 ? s->frames - 8 : s->frames);
        if (s->has_loop) {
            loop_start = (guint)s->loop_start;
            loop_end = (guint)s->loop_end + 1; /* exclusive in SF2 */
        }
        g_object_set(out[c], "name", name, "root-note", s->map.note, "fine-tune", 0, "loop-start",
                     loop_start, "loop-end", loop_end, NULL);
        ipatch_container_add_unique(IPATCH_CONTAINER(sf2), IPATCH_ITEM(out[c]));
    }
    g_list_free(list); /* the samples' references now belong to the caller */
    if (fh)
        ipatch_file_close(fh);
    return n;
}

/* libinstpatch's default file open, with a larger write buffer: its GIOChannel wrote the
 * .sf2 2 KiB at a time (56,000 write() calls for 300 takes). The writer seeks between the
 * smpl and sm24 chunks after every block, which flushes the buffer; the bytes written are
 * the same. Used for a file too large to be kept in memory (below). */
#define S_IO_BUFFER (1 << 20)
static gboolean s_open_buffered(IpatchFileHandle *handle, const char *mode, GError **err)
{
    if (!ipatch_file_default_open_method(handle, mode, err))
        return FALSE;
    if (handle->iochan)
        g_io_channel_set_buffer_size(handle->iochan, S_IO_BUFFER);
    return TRUE;
}

/* ---- the .sf2 kept in memory ----
 * Even with that buffer, the seeks between smpl and sm24 after every block cost a write()
 * and an lseek() each (17,000 of both for 300 takes), and the CRC-32 for the record read
 * the file back. So a file whose samples fit in S_MEM_MAX is written by these I/O
 * functions into memory (libinstpatch's IpatchFileIOFuncs: the SF2 writer seeks only
 * from the start or the current position, and keeps the handle's position itself), then
 * to disk in one write, its CRC taken from memory. The bytes are the same. The memory is
 * the IpatchFile's object data under S_MEM_KEY. */
#define S_MEM_MAX ((uint64_t)256 << 20) /* bytes of 16-bit sample data (the file: ~1.5x) */
#define S_MEM_KEY "bb-sf2-memory"

typedef struct {
    unsigned char *data;
    size_t len, cap, pos; /* bytes written, allocated; the write position */
} s_mem_t;

static gboolean s_mem_open(IpatchFileHandle *handle, const char *mode, GError **err)
{
    s_mem_t *m = g_object_get_data(G_OBJECT(handle->file), S_MEM_KEY);
    if (!m) {
        g_set_error(err, IPATCH_ERROR, IPATCH_ERROR_PROGRAM, "no memory file");
        return FALSE;
    }
    handle->data = m;
    m->pos = 0;
    if (mode && mode[0] == 'w')
        m->len = 0;
    return TRUE;
}

static void s_mem_close(IpatchFileHandle *handle)
{
    handle->data = NULL; /* the memory stays with the file's object data */
}

static GIOStatus s_mem_read(IpatchFileHandle *handle, gpointer buf, guint size, guint *bytes_read,
                            GError **err)
{
    (void)err;
    s_mem_t *m = handle->data;
    size_t n = m->pos < m->len ? m->len - m->pos : 0;
    n = n < size ? n : size;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    *bytes_read = (guint)n;
    return n == 0 && size > 0 ? G_IO_STATUS_EOF : G_IO_STATUS_NORMAL;
}

static GIOStatus s_mem_write(IpatchFileHandle *handle, gconstpointer buf, guint size, GError **err)
{
    s_mem_t *m = handle->data;
    size_t end = m->pos + size;
    if (end > m->cap) {
        size_t cap = m->cap * 2 > end ? m->cap * 2 : end;
        unsigned char *d = realloc(m->data, cap);
        if (!d) {
            g_set_error(err, IPATCH_ERROR, IPATCH_ERROR_IO, "out of memory");
            return G_IO_STATUS_ERROR;
        }
        m->data = d;
        m->cap = cap;
    }
    if (m->pos > m->len) /* a seek past the end: a file reads zeros there */
        memset(m->data + m->len, 0, m->pos - m->len);
    memcpy(m->data + m->pos, buf, size);
    m->pos = end;
    m->len = end > m->len ? end : m->len;
    return G_IO_STATUS_NORMAL;
}

static GIOStatus s_mem_seek(IpatchFileHandle *handle, int offset, GSeekType type, GError **err)
{
    s_mem_t *m = handle->data;
    int64_t to = (type == G_SEEK_CUR ? (int64_t)m->pos : 0) + offset;
    if (type == G_SEEK_END || to < 0) {
        g_set_error(err, IPATCH_ERROR, IPATCH_ERROR_IO, "invalid seek");
        return G_IO_STATUS_ERROR;
    }
    m->pos = (size_t)to;
    return G_IO_STATUS_NORMAL;
}

static int s_mem_getfd(IpatchFileHandle *handle)
{
    (void)handle;
    return -1;
}

static int s_mem_get_size(IpatchFile *file, GError **err)
{
    (void)err;
    s_mem_t *m = g_object_get_data(G_OBJECT(file), S_MEM_KEY);
    return m ? (int)m->len : -1;
}

int dsp_export_write_sf2(uint32_t *crc, uint64_t *size, const char *path, const char *dir,
                         const dsp_export_inst_t *inst, char *err, size_t errlen)
{
    *crc = 0;
    *size = 0;
    pthread_once(&s_init_once, s_init);
    uint64_t bytes = 0;
    size_t released = 0;
    int n_rr = 1;
    for (size_t i = 0; i < inst->n_samples; i++) {
        const dsp_map_entry_t *e = &inst->samples[i].map;
        if (e->release) {
            released++;
            continue;
        }
        bytes += (uint64_t)inst->samples[i].frames * (uint64_t)inst->samples[i].channels * 2;
        n_rr = e->seq_length > n_rr ? e->seq_length : n_rr;
    }
    n_rr = n_rr > S_RR_PRESETS_MAX ? S_RR_PRESETS_MAX : n_rr;
    if (bytes > S_MAX_SAMPLE_DATA) {
        snprintf(err, errlen,
                 "SoundFont 2 not written: %.1f GB of samples do not fit its 4 GB chunk limit",
                 bytes / 1e9);
        return BB_ETOOLONG;
    }
    IpatchSF2 *sf2 = ipatch_sf2_new(); /* ++ ref */
    char name[S_NAME_MAX + 1], date[32], comment[640], rr_note[200] = "";
    s_name(name, inst->name, inst->safe);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%B %d, %Y", &tm);
    if (n_rr > 1)
        snprintf(rr_note, sizeof rr_note,
                 " SoundFont 2 has no round-robin selection: program 0 plays round robin 1, "
                 "programs 1-%d round robins 2-%d.",
                 n_rr - 1, n_rr);
    snprintf(comment, sizeof comment,
             "Sampled by Batcherbird. Velocity: the dynamics are in the samples; each zone's "
             "modulators replace the default velocity attenuation.%s%s%s",
             inst->map.unpitched ? " Unpitched: each hit on its own key, untransposed, with a "
                                   "100 s release so a key-up does not cut it short."
                                 : "",
             rr_note,
             released ? " SoundFont 2 has no release trigger: the release samples play from "
                        "the .sfz and the .dspreset."
                      : "");
    ipatch_sf2_set_info(sf2, IPATCH_SF2_NAME, name);
    ipatch_sf2_set_info(sf2, IPATCH_SF2_DATE, date);
    ipatch_sf2_set_info(sf2, IPATCH_SF2_SOFTWARE, "Batcherbird");
    ipatch_sf2_set_info(sf2, IPATCH_SF2_COMMENT, comment);
    if (inst->bit_depth > 16)
        ipatch_item_set_flags(IPATCH_ITEM(sf2), IPATCH_SF2_SAMPLES_24BIT);

    /* every sample file once: its SF2 sample(s), shared by the instruments using it */
    IpatchSF2Sample *(*smp)[2] = calloc(inst->n_samples + 1, sizeof *smp);
    int *n_smp = calloc(inst->n_samples + 1, sizeof *n_smp);
    s_map_t *maps = calloc(inst->n_samples + 1, sizeof *maps);
    int rc = smp && n_smp && maps ? 0 : BB_ENOMEM;
    if (rc)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < inst->n_samples && !rc; i++) {
        const dsp_export_sample_t *s = &inst->samples[i];
        if (s->map.release)
            continue;
        n_smp[i] = s_samples(sf2, dir, s, smp[i], &maps[i], err, errlen);
        if (n_smp[i] == 0)
            rc = BB_EIO;
    }
    /* one instrument and preset per round-robin step */
    for (int k = 1; k <= n_rr && !rc; k++) {
        char iname[S_NAME_MAX + 1];
        s_rr_name(iname, name, k);
        IpatchSF2Inst *sinst = ipatch_sf2_inst_new(); /* ++ ref */
        ipatch_sf2_inst_set_name(sinst, iname);
        for (size_t i = 0; i < inst->n_samples; i++) {
            const dsp_export_sample_t *s = &inst->samples[i];
            if (!s->map.release && s_plays_in(&s->map, k))
                s_zones(sinst, inst, s, smp[i], n_smp[i]);
        }
        ipatch_container_add_unique(IPATCH_CONTAINER(sf2), IPATCH_ITEM(sinst));
        IpatchSF2Preset *preset = ipatch_sf2_preset_new(); /* ++ ref */
        ipatch_sf2_preset_set_name(preset, iname);
        ipatch_sf2_preset_set_midi_locale(preset, 0, k - 1);
        ipatch_sf2_preset_new_zone(preset, sinst);
        ipatch_container_add_unique(IPATCH_CONTAINER(sf2), IPATCH_ITEM(preset));
        g_object_unref(preset);
        g_object_unref(sinst);
    }
    for (size_t i = 0; smp && n_smp && i < inst->n_samples; i++)
        for (int c = 0; c < n_smp[i]; c++)
            g_object_unref(smp[i][c]);
    free(smp);
    free(n_smp);
    if (!rc) {
        char tmp[2100];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        IpatchSF2File *file = ipatch_sf2_file_new(); /* ++ ref */
        ipatch_file_set_name(IPATCH_FILE(file), tmp);
        IpatchFileIOFuncs io;
        ipatch_file_get_iofuncs(IPATCH_FILE(file), &io);
        s_mem_t mem = {0};
        const bool in_memory = bytes <= S_MEM_MAX;
        if (in_memory) {
            io = (IpatchFileIOFuncs){.open = s_mem_open,
                                     .close = s_mem_close,
                                     .read = s_mem_read,
                                     .write = s_mem_write,
                                     .seek = s_mem_seek,
                                     .getfd = s_mem_getfd,
                                     .get_size = s_mem_get_size};
            g_object_set_data(G_OBJECT(file), S_MEM_KEY, &mem);
        } else {
            io.open = s_open_buffered;
        }
        ipatch_file_set_iofuncs(IPATCH_FILE(file), &io); /* copied */
        GError *gerr = NULL;
        if (!ipatch_convert_objects(G_OBJECT(sf2), G_OBJECT(file), &gerr)) {
            snprintf(err, errlen, "cannot write %s: %s", path,
                     gerr ? gerr->message : "libinstpatch failed");
            g_clear_error(&gerr);
            rc = BB_EIO;
        } else if (in_memory) {
            rc = dsp_export_write_data(tmp, mem.data, mem.len, err, errlen);
        }
        if (!rc && rename(tmp, path) != 0) {
            snprintf(err, errlen, "cannot rename into %s", path);
            rc = BB_EIO;
        }
        if (rc)
            unlink(tmp);
        else if (in_memory) {
            *crc = bb_crc32(0, mem.data, mem.len);
            *size = mem.len;
        } else {
            rc = dsp_file_crc32(path, crc, size, err, errlen);
        }
        free(mem.data);
        g_object_unref(file);
    }
    g_object_unref(sf2);
    for (size_t i = 0; maps && i < inst->n_samples; i++) /* nothing reads them any more */
        if (maps[i].at)
            munmap(maps[i].at, maps[i].len);
    free(maps);
    return rc;
}
