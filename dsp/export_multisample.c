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
 */
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "bb_err.h"
#include "export.h"

#define S_XML_NAME "multisample.xml"

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

/* Adds one file (path on disk, or bytes) to the archive, uncompressed. */
static int s_add(zip_t *za, const char *name, zip_source_t *src, char *err, size_t errlen)
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
    return 0;
}

int dsp_export_write_multisample(const char *path, const char *dir, const dsp_export_inst_t *inst,
                                 char *err, size_t errlen)
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
    int zerr = 0;
    zip_t *za = zip_open(tmp, ZIP_CREATE | ZIP_EXCL, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        snprintf(err, errlen, "cannot create %s: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        free(xml);
        free(order);
        return BB_EIO;
    }
    /* libzip reads the sources when the archive is closed: the buffers live until then */
    void **owned = calloc(n + 1, sizeof *owned);
    rc = owned ? 0 : BB_ENOMEM;
    if (!rc)
        rc = s_add(za, S_XML_NAME, zip_source_buffer(za, xml, xml_len, 0), err, errlen);
    for (size_t i = 0; i < n && !rc; i++) {
        const dsp_export_sample_t *s = order[i];
        char file[2400], entry[400];
        snprintf(file, sizeof file, "%s/%s", dir, s->file);
        s_entry_name(s, entry, sizeof entry);
        if (!inst->flac) {
            rc = s_add(za, entry, zip_source_file(za, file, 0, -1), err, errlen);
            continue;
        }
        size_t len = 0;
        rc = dsp_export_audio_as_wav(file, inst->bit_depth, &owned[i], &len, err, errlen);
        if (!rc)
            rc = s_add(za, entry, zip_source_buffer(za, owned[i], len, 0), err, errlen);
    }
    if (!rc && zip_close(za) != 0) {
        snprintf(err, errlen, "cannot write %s: %s (disk full?)", path,
                 zip_error_strerror(zip_get_error(za)));
        rc = BB_EIO;
    }
    if (rc) {
        zip_discard(za);
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename into %s", path);
        unlink(tmp);
        rc = BB_EIO;
    }
    for (size_t i = 0; owned && i < n; i++)
        free(owned[i]);
    free(owned);
    free(xml);
    free(order);
    return rc;
}
