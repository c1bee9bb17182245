/*
 * export_multisample.c — the Bitwig/PreSonus .multisample file (the open format published
 * at github.com/bitwig/multisample): a zip archive holding multisample.xml and the sample
 * files, written through libzip and libxml2's text writer from the canonical map
 * (export_map.h).
 *
 * multisample.xml: <multisample name> with generator, category, creator, description and
 * keywords; one <group> per velocity layer (the format's groups only organise an editor);
 * one <sample> per sample file with sample-start/-stop (frames, stop exclusive), group,
 * zone-logic "round-robin" when its cell has round robins (players cycle through samples
 * whose ranges overlap, in file order: ours are written in round-robin order), and
 *   <key root low high track tune>   the played note, the map's key range, tune in
 *                                    semitones (the correction, with --tune)
 *   <velocity low high>              the map's velocity range
 *   <loop mode start stop fade>      "loop", stop exclusive, fade 0 (the export already
 *                                    crossfaded the loop into the audio)
 * The samples are stored uncompressed (the format asks for STORED so players can stream
 * them) at the archive's root; the format wants RIFF WAVE, so FLAC exports are written
 * into the archive as WAV of the same depth.
 *
 * Unpitched instruments (export_map.h): each sample on its own key, track 0.0 (no
 * transposition), loop off. The format has no one-shot setting (the player's own
 * playback mode applies; the record says so).
 *
 * The format maps samples and nothing else: no release trigger (release samples are left
 * out, and the record says so) and no velocity curve (the player's own velocity response
 * applies, as with any .multisample).
 *
 * Speed: the WAV samples are handed to libzip from memory (its file source reads them
 * 8 KiB at a time): the bytes export.c kept as it wrote them (dsp_export_sample_t.wav),
 * else the file mapped, with their files' modification times and Unix modes on the
 * entries, as the file source gives them. libzip writes an archive file 4 KiB at a time
 * (35,000 write() calls for 300 takes), so an archive of up to S_MEM_MAX bytes of audio is
 * built in a libzip buffer source and written from it in blocks of S_WRITE_BLOCK; the bytes
 * are the same. The archive's CRC-32 for the record is not read back:
 * every entry is stored, so the CRC in its header is that of its bytes in the archive, and the
 * file's CRC is the CRC of each local header combined (zlib's crc32_combine) with its entry's CRC
 * over its size, then of the central directory and the end record; only those headers are read
 * back. s_zip_crc walks them by hand (PKWARE APPNOTE 4.3.7, 4.3.12, 4.3.16) because libzip does not
 * say where it put its local headers; an archive of any other layout (zip64, a data descriptor, a
 * gap, a compressed entry) is read whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "export.h"

#define S_XML_NAME    "multisample.xml"
#define S_MEM_MAX     ((uint64_t)256 << 20)   /* audio bytes of an archive built in memory */
#define S_WRITE_BLOCK ((zip_uint64_t)1 << 20) /* bytes per write() of an archive in memory */

typedef struct {
    xmlTextWriterPtr w;
    int rc; /* < 0 once a write failed */
} s_xml_t;

static void s_attr(s_xml_t *x, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_attr(s_xml_t *x, const char *name, const char *fmt, ...)
{
    char value[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    if (x->rc >= 0)
        x->rc = xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value);
}

static void s_open(s_xml_t *x, const char *name)
{
    if (x->rc >= 0)
        x->rc = xmlTextWriterStartElement(x->w, BAD_CAST name);
}

static void s_close(s_xml_t *x)
{
    if (x->rc >= 0)
        x->rc = xmlTextWriterEndElement(x->w);
}

static void s_text(s_xml_t *x, const char *name, const char *text)
{
    if (x->rc >= 0)
        x->rc = xmlTextWriterWriteElement(x->w, BAD_CAST name, BAD_CAST text);
}

static const char *s_base(const char *file)
{
    const char *b = strrchr(file, '/');
    return b ? b + 1 : file;
}

/* The archive's name of a sample: its file name, .wav whatever it was exported as. */
static void s_entry_name(const dsp_export_sample_t *s, char *out, size_t len)
{
    const char *b = s_base(s->file);
    snprintf(out, len, "%.*s.wav", (int)strcspn(b, "."), b);
}

/* Layers (velocities) of the normal samples, ascending; returns how many. */
static int s_layers(const dsp_export_inst_t *inst, int *vels)
{
    bool has[128] = {false};
    for (size_t i = 0; i < inst->n_samples; i++)
        if (!inst->samples[i].map.release && inst->samples[i].map.velocity >= 0 &&
            inst->samples[i].map.velocity < 128)
            has[inst->samples[i].map.velocity] = true;
    int n = 0;
    for (int v = 0; v < 128; v++)
        if (has[v])
            vels[n++] = v;
    return n;
}

static int s_cmp_sample(const void *pa, const void *pb)
{
    const dsp_export_sample_t *a = *(const dsp_export_sample_t *const *)pa;
    const dsp_export_sample_t *b = *(const dsp_export_sample_t *const *)pb;
    if (a->map.velocity != b->map.velocity)
        return a->map.velocity - b->map.velocity;
    if (a->map.note != b->map.note)
        return a->map.note - b->map.note;
    return a->map.seq_position - b->map.seq_position;
}

/* multisample.xml into a malloc'd buffer. */
static int s_xml(const dsp_export_inst_t *inst, const dsp_export_sample_t **order, size_t n,
                 char **out, size_t *out_len)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    if (!w) {
        if (buf)
            xmlBufferFree(buf);
        return BB_ENOMEM;
    }
    s_xml_t x = {.w = w, .rc = 0};
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterSetIndentString(w, BAD_CAST "  ");
    x.rc = xmlTextWriterStartDocument(w, "1.0", "UTF-8", "yes");
    s_open(&x, "multisample");
    s_attr(&x, "name", "%s", inst->name);
    s_text(&x, "generator", "Batcherbird");
    s_text(&x, "category", "");
    s_text(&x, "creator", "Batcherbird");
    s_text(&x, "description",
           "Sampled by Batcherbird: every key and velocity mapped; release samples, if any, "
           "are in the .sfz and .dspreset.");
    s_open(&x, "keywords");
    s_close(&x);
    int vels[128];
    int nv = s_layers(inst, vels);
    for (int g = 0; g < nv; g++) {
        s_open(&x, "group");
        s_attr(&x, "name", "v%d", vels[g]);
        s_close(&x);
    }
    for (size_t i = 0; i < n; i++) {
        const dsp_export_sample_t *s = order[i];
        const dsp_map_entry_t *e = &s->map;
        int group = -1;
        for (int g = 0; g < nv; g++)
            if (vels[g] == e->velocity)
                group = g;
        char entry[400];
        s_entry_name(s, entry, sizeof entry);
        s_open(&x, "sample");
        s_attr(&x, "file", "%s", entry);
        s_attr(&x, "sample-start", "0");
        s_attr(&x, "sample-stop", "%lld", (long long)s->frames);
        s_attr(&x, "gain", "0.00");
        s_attr(&x, "group", "%d", group);
        s_attr(&x, "reverse", "false");
        s_attr(&x, "zone-logic", "%s", e->seq_length > 1 ? "round-robin" : "always-play");
        s_open(&x, "key");
        s_attr(&x, "root", "%d", e->note);
        s_attr(&x, "low", "%d", e->lokey);
        s_attr(&x, "high", "%d", e->hikey);
        s_attr(&x, "low-fade", "0");
        s_attr(&x, "high-fade", "0");
        s_attr(&x, "track", "%s", inst->map.unpitched ? "0.0" : "1.0");
        s_attr(&x, "tune", "%.4f", inst->tune ? s->tune_cents / 100.0 : 0.0);
        s_close(&x);
        s_open(&x, "velocity");
        s_attr(&x, "low", "%d", e->lovel);
        s_attr(&x, "high", "%d", e->hivel);
        s_close(&x);
        s_open(&x, "loop");
        if (s->has_loop &&
            !inst->map.unpitched) { /* the crossfade is in the audio already: none on playback */
            s_attr(&x, "mode", "loop");
            s_attr(&x, "start", "%lld", (long long)s->loop_start);
            s_attr(&x, "stop", "%lld", (long long)(s->loop_end + 1));
            s_attr(&x, "fade", "0");
        } else {
            s_attr(&x, "mode", "off");
        }
        s_close(&x);
        s_close(&x);
    }
    s_close(&x);
    if (x.rc >= 0)
        x.rc = xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
    int rc = x.rc < 0 ? BB_EINVAL : 0;
    if (!rc) {
        *out_len = (size_t)xmlBufferLength(buf);
        *out = malloc(*out_len ? *out_len : 1);
        if (*out)
            memcpy(*out, xmlBufferContent(buf), *out_len);
        else
            rc = BB_ENOMEM;
    }
    xmlBufferFree(buf);
    return rc;
}

/* Adds one file (path on disk, or bytes) to the archive, uncompressed. `file`: the stat of
 * the file a buffer holds, whose modification time and Unix mode the entry gets, as
 * libzip's file source gives them (NULL: the source's own). */
static int s_add(zip_t *za, const char *name, zip_source_t *src, const struct stat *file, char *err,
                 size_t errlen)
{
    if (!src) {
        snprintf(err, errlen, "multisample: cannot read %s: %s", name,
                 zip_error_strerror(zip_get_error(za)));
        return BB_EIO;
    }
    zip_int64_t idx = zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (idx < 0) {
        snprintf(err, errlen, "multisample: cannot add %s: %s", name,
                 zip_error_strerror(zip_get_error(za)));
        zip_source_free(src);
        return BB_EIO;
    }
    zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    if (file) {
        zip_file_set_mtime(za, (zip_uint64_t)idx, file->st_mtime, 0);
        zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                         (zip_uint32_t)file->st_mode << 16);
    }
    return 0;
}

/* A sample file mapped read-only, to hand to libzip as a buffer. */
typedef struct {
    void *at; /* NULL: not mapped */
    size_t len;
    struct stat st;
} s_map_t;

static void s_map(const char *path, s_map_t *m)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fstat(fd, &m->st) == 0 && S_ISREG(m->st.st_mode) && m->st.st_size > 0) {
        void *at = mmap(NULL, (size_t)m->st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (at != MAP_FAILED) {
            m->at = at;
            m->len = (size_t)m->st.st_size;
        }
    }
    close(fd);
}

/* ---- the archive's CRC-32 from its headers (see the top of the file) ---- */

#define S_ZIP_LOCAL     0x04034b50u /* local file header signature */
#define S_ZIP_CENTRAL   0x02014b50u /* central directory file header signature */
#define S_ZIP_END       0x06054b50u /* end of central directory record signature */
#define S_ZIP_LOCAL_LEN 30          /* fixed part of a local header */
#define S_ZIP_CDIR_LEN  46          /* fixed part of a central directory header */
#define S_ZIP_END_LEN   22          /* end record without a comment */
#define S_ZIP_CDIR_MAX  (64u << 20) /* a larger central directory is read with the rest */

static uint32_t s_le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t s_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool s_pread_all(int fd, void *buf, size_t len, uint64_t at)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(at + got));
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* The CRC-32 of the archive at fd (size bytes) from its headers; false when its layout is
 * not the plain one of stored entries back to back (the caller reads it whole). */
static bool s_zip_crc(int fd, uint64_t size, uint32_t *crc)
{
    unsigned char end[S_ZIP_END_LEN];
    if (size < S_ZIP_END_LEN || !s_pread_all(fd, end, sizeof end, size - S_ZIP_END_LEN) ||
        s_le32(end) != S_ZIP_END || s_le16(end + 20) != 0 /* comment */ || s_le16(end + 4) != 0 ||
        s_le16(end + 6) != 0 /* disks */)
        return false;
    uint32_t entries = s_le16(end + 10), cdir_len = s_le32(end + 12), cdir_at = s_le32(end + 16);
    if (entries == 0xFFFF || cdir_at == 0xFFFFFFFFu || cdir_len > S_ZIP_CDIR_MAX ||
        (uint64_t)cdir_at + cdir_len + S_ZIP_END_LEN != size)
        return false; /* zip64, or something after the directory */
    unsigned char *cdir = malloc(cdir_len ? cdir_len : 1);
    unsigned char *local = malloc(S_ZIP_LOCAL_LEN + 2 * 0xFFFF);
    bool ok = cdir && local && s_pread_all(fd, cdir, cdir_len, cdir_at);
    uint32_t c = 0;
    uint64_t at = 0; /* where the next local header must start */
    size_t p = 0;
    for (uint32_t e = 0; ok && e < entries; e++) {
        const unsigned char *h = cdir + p;
        ok = p + S_ZIP_CDIR_LEN <= cdir_len && s_le32(h) == S_ZIP_CENTRAL;
        if (!ok)
            break;
        uint32_t flags = s_le16(h + 8), method = s_le16(h + 10), entry_crc = s_le32(h + 16);
        uint32_t packed = s_le32(h + 20), plain = s_le32(h + 24), header_at = s_le32(h + 42);
        p += S_ZIP_CDIR_LEN + s_le16(h + 28) + s_le16(h + 30) + s_le16(h + 32);
        /* stored, no data descriptor (bit 3) or encryption (bit 0), in order, no gap */
        ok = method == 0 && !(flags & 0x9) && packed == plain && packed <= INT32_MAX &&
             header_at == at && s_pread_all(fd, local, S_ZIP_LOCAL_LEN, at) &&
             s_le32(local) == S_ZIP_LOCAL;
        if (!ok)
            break;
        size_t hlen = S_ZIP_LOCAL_LEN + s_le16(local + 26) + s_le16(local + 28);
        ok = s_pread_all(fd, local + S_ZIP_LOCAL_LEN, hlen - S_ZIP_LOCAL_LEN, at + S_ZIP_LOCAL_LEN);
        c = bb_crc32(c, local, hlen);
        c = bb_crc32_combine(c, entry_crc, packed);
        at += hlen + packed;
    }
    ok = ok && p == cdir_len && at == cdir_at;
    if (ok)
        *crc = bb_crc32(bb_crc32(c, cdir, cdir_len), end, sizeof end);
    free(cdir);
    free(local);
    return ok;
}

/* The archive libzip wrote into the buffer source `mem`, written to `tmp` in blocks of
 * S_WRITE_BLOCK. 0, or BB_EIO / BB_ENOMEM with a message naming `path`. */
static int s_write_source(zip_source_t *mem, const char *tmp, const char *path, char *err,
                          size_t errlen)
{
    unsigned char *buf = malloc(S_WRITE_BLOCK);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    int fd = -1, saved = 0;
    if (zip_source_open(mem) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path,
                 zip_error_strerror(zip_source_error(mem)));
        free(buf);
        return BB_EIO;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        saved = errno;
    for (zip_int64_t r; fd >= 0 && !saved && (r = zip_source_read(mem, buf, S_WRITE_BLOCK)) != 0;) {
        if (r < 0) {
            saved = EIO;
            break;
        }
        for (zip_int64_t done = 0; done < r && !saved;) {
            ssize_t w = write(fd, buf + done, (size_t)(r - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                saved = w < 0 ? errno : ENOSPC;
            else
                done += w;
        }
    }
    zip_source_close(mem);
    if (fd >= 0 && close(fd) != 0 && !saved)
        saved = errno;
    free(buf);
    if (saved) {
        snprintf(err, errlen, "cannot write %s: %s (disk full?)", path, strerror(saved));
        return BB_EIO;
    }
    return 0;
}

/* CRC-32 and size of the archive just written at path. */
static int s_archive_crc(uint32_t *crc, uint64_t *bytes, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && s_zip_crc(fd, (uint64_t)st.st_size, crc)) {
        *bytes = (uint64_t)st.st_size;
        close(fd);
        return 0;
    }
    if (fd >= 0)
        close(fd);
    return dsp_file_crc32(path, crc, bytes, err, errlen);
}

int dsp_export_write_multisample(uint32_t *crc, uint64_t *bytes, const char *path, const char *dir,
                                 const dsp_export_inst_t *inst, char *err, size_t errlen)
{
    const dsp_export_sample_t **order = calloc(inst->n_samples + 1, sizeof *order);
    if (!order) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < inst->n_samples; i++)
        if (!inst->samples[i].map.release)
            order[n++] = &inst->samples[i];
    qsort(order, n, sizeof *order, s_cmp_sample);
    char *xml = NULL;
    size_t xml_len = 0;
    int rc = s_xml(inst, order, n, &xml, &xml_len);
    if (rc) {
        snprintf(err, errlen, "multisample: cannot build %s (a name that is not UTF-8?)",
                 S_XML_NAME);
        free(order);
        return rc;
    }
    char tmp[2100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    /* the archive in memory when it is small enough (see the top comment) */
    uint64_t audio = 0;
    for (size_t i = 0; i < n; i++)
        audio += (uint64_t)order[i]->frames * (uint64_t)order[i]->channels *
                 (uint64_t)(inst->bit_depth / 8);
    zip_source_t *mem = NULL;
    zip_t *za = NULL;
    zip_error_t ze;
    zip_error_init(&ze);
    if (audio <= S_MEM_MAX && (mem = zip_source_buffer_create(NULL, 0, 0, &ze))) {
        zip_source_keep(mem); /* ++ ref: read after zip_close */
        za = zip_open_from_source(mem, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    } else {
        int zerr = 0;
        za = zip_open(tmp, ZIP_CREATE | ZIP_EXCL, &zerr);
        zip_error_set(&ze, zerr, 0);
    }
    if (!za) {
        snprintf(err, errlen, "cannot create %s: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        if (mem) {
            zip_source_free(mem); /* -- the open's reference, if it failed after taking one */
            zip_source_free(mem);
        }
        free(xml);
        free(order);
        return BB_EIO;
    }
    zip_error_fini(&ze);
    /* libzip reads the sources when the archive is closed: the buffers live until then */
    void **owned = calloc(n + 1, sizeof *owned);
    s_map_t *maps = calloc(n + 1, sizeof *maps);
    rc = owned && maps ? 0 : BB_ENOMEM;
    if (!rc)
        rc = s_add(za, S_XML_NAME, zip_source_buffer(za, xml, xml_len, 0), NULL, err, errlen);
    for (size_t i = 0; i < n && !rc; i++) {
        const dsp_export_sample_t *s = order[i];
        char file[2400], entry[400];
        snprintf(file, sizeof file, "%s/%s", dir, s->file);
        s_entry_name(s, entry, sizeof entry);
        struct stat st;
        if (!inst->flac && s->wav && stat(file, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size == s->bytes) { /* the file's bytes, kept as written */
            rc = s_add(za, entry, zip_source_buffer(za, s->wav, (zip_uint64_t)s->bytes, 0), &st,
                       err, errlen);
            continue;
        }
        if (!inst->flac) {
            s_map(file, &maps[i]); /* not mapped: libzip reads the file */
            zip_source_t *src = maps[i].at ? zip_source_buffer(za, maps[i].at, maps[i].len, 0)
                                           : zip_source_file(za, file, 0, -1);
            rc = s_add(za, entry, src, maps[i].at ? &maps[i].st : NULL, err, errlen);
            continue;
        }
        size_t len = 0;
        rc = dsp_export_audio_as_wav(file, inst->bit_depth, &owned[i], &len, err, errlen);
        if (!rc)
            rc = s_add(za, entry, zip_source_buffer(za, owned[i], len, 0), NULL, err, errlen);
    }
    if (!rc && zip_close(za) != 0) {
        snprintf(err, errlen, "cannot write %s: %s (disk full?)", path,
                 zip_error_strerror(zip_get_error(za)));
        rc = BB_EIO;
    }
    if (rc)
        zip_discard(za);
    else if (mem)
        rc = s_write_source(mem, tmp, path, err, errlen);
    if (mem)
        zip_source_free(mem); /* -- ref */
    if (rc) {
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename into %s", path);
        unlink(tmp);
        rc = BB_EIO;
    }
    if (!rc)
        rc = s_archive_crc(crc, bytes, path, err, errlen);
    for (size_t i = 0; owned && i < n; i++)
        free(owned[i]);
    for (size_t i = 0; maps && i < n; i++)
        if (maps[i].at)
            munmap(maps[i].at, maps[i].len);
    free(maps);
    free(owned);
    free(xml);
    free(order);
    return rc;
}
