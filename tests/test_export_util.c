/*
 * test_export_util.c — synthetic raw takes, XML read with libxml2, a small SFZ reader and
 * root-key checks for the export tests (test_export_util.h).
 */
#include "test_export_util.h"

#include <ctype.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "take_raw.h"

#include <dirent.h>
#include <unistd.h>
#include <glib.h>
#include <libinstpatch/libinstpatch.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>

/* ---- takes ---- */

double tx_freq(int note)
{
    return 440.0 * pow(2.0, (note - 69) / 12.0);
}

void tx_make_take(tx_take_t *tk, const char *dir, const char *instrument, int note, int velocity,
                  int rr, bool release, const tx_spec_t *spec)
{
    static int serial;
    memset(tk, 0, sizeof *tk);
    snprintf(tk->id, sizeof tk->id, "t%d-n%d-v%d-r%d%s", serial++, note, velocity, rr,
             release ? "-rel" : "");
    snprintf(tk->path, sizeof tk->path, "%s/%s.wav", dir, tk->id);
    int ch = spec->channels;
    int64_t body = spec->body > 0 ? spec->body : TX_BODY;
    int64_t frames = TX_PRE + body + TX_TAIL;
    float *x = calloc((size_t)(frames * ch), sizeof *x);
    double f = tx_freq(note) * pow(2.0, spec->pitch_cents / 1200.0);
    uint32_t noise = 12345u + (uint32_t)serial;
    for (int64_t i = 0; i < frames; i++) {
        noise = noise * 1664525u + 1013904223u;
        double n = ((noise >> 8) / 16777216.0 - 0.5) * spec->noise;
        double s = 0;
        if (i >= TX_PRE && i < TX_PRE + body)
            s = spec->amp * sin(2 * M_PI * f * (double)(i - TX_PRE) / TX_RATE) *
                pow(10.0, -spec->decay_db_s * (double)(i - TX_PRE) / TX_RATE / 20.0);
        for (int c = 0; c < ch; c++)
            x[i * ch + c] = (float)(spec->dc + n + s * (c == 0 ? 1.0 : 0.8));
    }
    SF_INFO info = {
        .samplerate = TX_RATE, .channels = ch, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *sf = sf_open(tk->path, SFM_WRITE, &info);
    sf_writef_float(sf, x, frames);
    sf_close(sf);
    free(x);

    dsp_raw_meta_t meta = {0};
    snprintf(meta.take_id, sizeof meta.take_id, "%s", tk->id);
    snprintf(meta.instrument, sizeof meta.instrument, "%s", instrument);
    meta.note = note;
    meta.velocity = velocity;
    meta.round_robin = rr;
    meta.release_trigger = release;
    meta.note_on_frame = TX_PRE;
    meta.note_off_frame = TX_PRE + (spec->note_off > 0 ? spec->note_off : body / 2);
    meta.frames = frames;
    meta.sample_rate = TX_RATE;
    meta.channels = ch;
    meta.stream_start_frame = TX_STREAM0 + serial * 100000;
    meta.start_unix = TX_UNIX0 + serial * 10;
    char side[520];
    snprintf(side, sizeof side, "%s/%s.json", dir, tk->id);
    dsp_raw_write_sidecar(side, &meta);

    dsp_analysis_t *a = &tk->t.analysis;
    memset(a, 0, sizeof *a);
    a->onset = TX_PRE;
    a->cut_start = TX_PRE - TX_ATTACK;
    a->cut_end = TX_PRE + body;
    a->release_end = a->cut_end;
    a->fade_in = TX_ATTACK;
    a->fade_out = TX_RATE / 100;
    a->fade_curve = DSP_FADE_EQUAL_POWER;
    a->channels = ch;
    for (int c = 0; c < ch; c++)
        a->dc[c] = spec->dc;
    a->noise_db = -80;
    a->peak_db = 20 * log10(spec->amp);
    a->rms_db = a->peak_db - 3;
    a->snr_db = 70;
    a->duration_s = (double)(a->cut_end - a->cut_start) / TX_RATE;
    a->pitch_hz = f;
    a->pitch_cents = spec->pitch_cents;
    a->tuning_cents = spec->pitch_cents; /* within a semitone: the instrument's tuning */
    a->pitch_confidence = 0.95;
    a->verdict = spec->verdict;
    if (spec->verdict == DSP_FAIL)
        snprintf(a->reasons, sizeof a->reasons, "pitch off by 80 cents <wrong note> & more");
    else if (spec->verdict == DSP_WARN)
        snprintf(a->reasons, sizeof a->reasons, "low SNR");
    if (spec->loop) {
        double period = TX_RATE / f;
        a->has_loop = true;
        a->loop_start = TX_PRE + TX_RATE / 10;
        a->loop_end = a->loop_start + (int64_t)floor(period * 20 + 0.5) - 1;
        a->loop_crossfade = 256;
        a->loop_score = 0.99;
    }
    tk->t.take_id = tk->id;
    tk->t.path = tk->path;
    tk->t.note = note;
    tk->t.velocity = velocity;
    tk->t.rr = rr;
    tk->t.release = release;
}

/* ---- XML (libxml2) ---- */

xmlDoc *tx_xml_read(const char *text, const char *name, char *err, size_t errlen)
{
    xmlResetLastError();
    xmlDoc *doc = xmlReadMemory(text, (int)strlen(text), name, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        snprintf(err, errlen, "%s: line %d: %s", name, e ? e->line : 0,
                 e && e->message ? e->message : "not XML\n");
        size_t n = strlen(err);
        if (n && err[n - 1] == '\n')
            err[n - 1] = '\0';
    }
    return doc;
}

const char *tx_xml_attr(const xmlNode *e, const char *name)
{
    const xmlAttr *a = xmlHasProp(e, BAD_CAST name);
    if (!a)
        return NULL;
    /* entities and character references in attribute values are decoded by the parser;
     * an empty value has no text child */
    return a->children && a->children->content ? (const char *)a->children->content : "";
}

static void s_find(const xmlNode *e, const char *name, const xmlNode **out, size_t max, size_t *n)
{
    for (const xmlNode *c = e ? e->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!strcmp((const char *)c->name, name)) {
            if (*n < max)
                out[*n] = c;
            (*n)++;
        }
        s_find(c, name, out, max, n);
    }
}

size_t tx_xml_find(const xmlNode *e, const char *name, const xmlNode **out, size_t max)
{
    size_t n = 0;
    s_find(e, name, out, max, &n);
    return n < max ? n : max;
}

/* ---- SFZ ---- */

typedef struct {
    char key[32];
    char value[512];
} s_op_t;

static void s_apply(tx_region_t *r, const char *k, const char *v)
{
    if (!strcmp(k, "sample"))
        snprintf(r->sample, sizeof r->sample, "%s", v);
    else if (!strcmp(k, "lokey"))
        r->lokey = atoi(v);
    else if (!strcmp(k, "hikey"))
        r->hikey = atoi(v);
    else if (!strcmp(k, "lovel"))
        r->lovel = atoi(v);
    else if (!strcmp(k, "hivel"))
        r->hivel = atoi(v);
    else if (!strcmp(k, "pitch_keycenter"))
        r->keycenter = atoi(v);
    else if (!strcmp(k, "seq_length"))
        r->seq_length = atoi(v);
    else if (!strcmp(k, "seq_position"))
        r->seq_position = atoi(v);
    else if (!strcmp(k, "trigger"))
        r->release = !strcmp(v, "release");
    else if (!strcmp(k, "loop_mode"))
        snprintf(r->loop_mode, sizeof r->loop_mode, "%s", v);
    else if (!strcmp(k, "loop_start"))
        r->loop_start = atoll(v);
    else if (!strcmp(k, "loop_end"))
        r->loop_end = atoll(v);
    else if (!strcmp(k, "tune"))
        r->tune = atoi(v);
}

int tx_sfz_parse(const char *text, tx_region_t *out, int max)
{
    tx_region_t global = {.lokey = 0,
                          .hikey = 127,
                          .lovel = 1,
                          .hivel = 127,
                          .keycenter = -1,
                          .seq_length = 1,
                          .seq_position = 1,
                          .loop_start = -1,
                          .loop_end = -1};
    tx_region_t group = global, cur = global;
    int n = 0;
    enum { NONE, GLOBAL, GROUP, REGION, CONTROL } in = NONE;
    const char *p = text;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (*p == '<') {
            const char *e = strchr(p, '>');
            if (!e)
                return -1;
            if (in == REGION && n < max)
                out[n++] = cur;
            size_t len = (size_t)(e - p - 1);
            if (len == 6 && !strncmp(p + 1, "global", 6)) {
                in = GLOBAL;
            } else if (len == 5 && !strncmp(p + 1, "group", 5)) {
                in = GROUP;
                group = global;
            } else if (len == 6 && !strncmp(p + 1, "region", 6)) {
                in = REGION;
                cur = group;
            } else if (len == 7 && !strncmp(p + 1, "control", 7)) {
                in = CONTROL;
            } else {
                return -1;
            }
            p = e + 1;
            continue;
        }
        const char *eq = strchr(p, '=');
        const char *end = p;
        while (*end && !isspace((unsigned char)*end))
            end++;
        if (!eq || eq > end || in == NONE)
            return -1;
        char k[32], v[512];
        snprintf(k, sizeof k, "%.*s", (int)(eq - p), p);
        snprintf(v, sizeof v, "%.*s", (int)(end - eq - 1), eq + 1);
        if (in == GLOBAL) {
            s_apply(&global, k, v);
            group = global;
        } else if (in == GROUP) {
            s_apply(&group, k, v);
        } else if (in == REGION) {
            s_apply(&cur, k, v);
        }
        p = end;
    }
    if (in == REGION && n < max)
        out[n++] = cur;
    return n;
}

/* ---- coverage ---- */

int tx_check_coverage(const tx_zone_t *z, size_t n, bool release, int lo, int hi, char *err,
                      size_t errlen)
{
    for (int k = lo; k <= hi; k++) {
        for (int v = 1; v <= 127; v++) {
            int len = -1, count = 0;
            int seen[128] = {0};
            for (size_t i = 0; i < n; i++) {
                const tx_zone_t *q = &z[i];
                if (q->release != release || k < q->lokey || k > q->hikey || v < q->lovel ||
                    v > q->hivel)
                    continue;
                if (len >= 0 && q->seq_length != len) {
                    snprintf(err, errlen, "key %d vel %d: round robins of lengths %d and %d", k, v,
                             len, q->seq_length);
                    return -1;
                }
                len = q->seq_length;
                if (q->seq_position < 1 || q->seq_position > 127 || seen[q->seq_position]++) {
                    snprintf(err, errlen, "key %d vel %d: two zones at round robin %d", k, v,
                             q->seq_position);
                    return -1;
                }
                count++;
            }
            if (count == 0) {
                snprintf(err, errlen, "key %d vel %d: no zone (a gap)", k, v);
                return -1;
            }
            if (count != len) {
                snprintf(err, errlen, "key %d vel %d: %d zones for a round robin of %d", k, v,
                         count, len);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- root keys in every format ---- */

int tx_name_note(const char *name)
{
    for (const char *v = strstr(name, "_v"); v; v = strstr(v + 1, "_v"))
        if (v - name >= 4 && v[-4] == '_' && isdigit((unsigned char)v[-3]) &&
            isdigit((unsigned char)v[-2]) && isdigit((unsigned char)v[-1]))
            return atoi(v - 3);
    return -1;
}

static const char *s_base(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

#define S_MISMATCH(...)                                                                            \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        rc = -1;                                                                                   \
        goto done;                                                                                 \
    } while (0)

static int s_keys_wav(const char *dir, int *count, char *err, size_t errlen)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/samples", dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".wav") != 0)
            continue;
        snprintf(path, sizeof path, "%s/samples/%s", dir, e->d_name);
        SF_INFO info = {0};
        SNDFILE *sf = sf_open(path, SFM_READ, &info);
        SF_INSTRUMENT inst;
        memset(&inst, 0, sizeof inst);
        bool has = sf && sf_command(sf, SFC_GET_INSTRUMENT, &inst, sizeof inst) == SF_TRUE;
        if (sf)
            sf_close(sf);
        if (!has)
            S_MISMATCH("%s: no smpl chunk", path);
        if (inst.basenote != tx_name_note(e->d_name))
            S_MISMATCH("%s: smpl unity note %d, the name says %d", e->d_name, inst.basenote,
                       tx_name_note(e->d_name));
        (*count)++;
    }
done:
    closedir(d);
    return rc;
}

static int s_keys_sfz(const char *path, int *count, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    static tx_region_t r[512];
    int nr = tx_sfz_parse(text, r, 512), rc = 0;
    if (nr < 0)
        S_MISMATCH("%s: not SFZ", path);
    for (int i = 0; i < nr; i++) {
        if (r[i].keycenter != tx_name_note(s_base(r[i].sample)))
            S_MISMATCH("%s: region %s has pitch_keycenter %d, the name says %d", path, r[i].sample,
                       r[i].keycenter, tx_name_note(s_base(r[i].sample)));
        (*count)++;
    }
done:
    return rc;
}

static int s_keys_dspreset(const char *path, int *count, char *err, size_t errlen)
{
    xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
    if (!doc)
        return access(path, F_OK) == 0 ? (snprintf(err, errlen, "%s: not XML", path), -1) : 0;
    int rc = 0;
    xmlNode *stack[8] = {xmlDocGetRootElement(doc)};
    int depth = 1;
    while (depth > 0 && rc == 0) {
        xmlNode *n = stack[--depth];
        for (; n; n = n->next) {
            if (n->type != XML_ELEMENT_NODE)
                continue;
            if (!strcmp((const char *)n->name, "sample")) {
                xmlChar *p = xmlGetProp(n, BAD_CAST "path"),
                        *root = xmlGetProp(n, BAD_CAST "rootNote");
                int want = p ? tx_name_note(s_base((const char *)p)) : -1;
                int have = root ? atoi((const char *)root) : -1;
                if (want != have)
                    snprintf(err, errlen, "%s: <sample path=%s> has rootNote %d, the name says %d",
                             path, p ? (const char *)p : "?", have, want),
                        rc = -1;
                else
                    (*count)++;
                xmlFree(p);
                xmlFree(root);
            } else if (n->children && depth < 8) {
                stack[depth++] = n->children;
            }
        }
    }
    xmlFreeDoc(doc);
    return rc;
}

static int s_keys_multisample(const char *path, int *count, char *err, size_t errlen)
{
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY, &zerr);
    if (!z)
        return access(path, F_OK) == 0 ? (snprintf(err, errlen, "%s: not a zip", path), -1) : 0;
    int rc = 0;
    xmlDoc *doc = NULL;
    zip_stat_t st;
    char *xml = NULL;
    if (zip_stat(z, "multisample.xml", 0, &st) != 0)
        S_MISMATCH("%s: no multisample.xml", path);
    xml = malloc(st.size + 1);
    zip_file_t *zf = zip_fopen(z, "multisample.xml", 0);
    if (!xml || !zf || zip_fread(zf, xml, st.size) != (zip_int64_t)st.size) {
        if (zf)
            zip_fclose(zf);
        S_MISMATCH("%s: cannot read multisample.xml", path);
    }
    zip_fclose(zf);
    doc = xmlReadMemory(xml, (int)st.size, "multisample.xml", NULL, XML_PARSE_NONET);
    if (!doc)
        S_MISMATCH("%s: multisample.xml is not XML", path);
    for (xmlNode *s = xmlDocGetRootElement(doc)->children; s; s = s->next) {
        if (s->type != XML_ELEMENT_NODE || strcmp((const char *)s->name, "sample"))
            continue;
        xmlChar *file = xmlGetProp(s, BAD_CAST "file");
        int have = -1;
        for (xmlNode *k = s->children; k; k = k->next)
            if (k->type == XML_ELEMENT_NODE && !strcmp((const char *)k->name, "key")) {
                xmlChar *root = xmlGetProp(k, BAD_CAST "root");
                have = root ? atoi((const char *)root) : -1;
                xmlFree(root);
            }
        int want = file ? tx_name_note((const char *)file) : -1;
        if (want != have) {
            snprintf(err, errlen, "%s: %s has key root %d, the name says %d", path,
                     file ? (const char *)file : "?", have, want);
            xmlFree(file);
            rc = -1;
            goto done;
        }
        xmlFree(file);
        (*count)++;
    }
done:
    if (doc)
        xmlFreeDoc(doc);
    free(xml);
    zip_close(z);
    return rc;
}

static int s_keys_sf2(const char *path, int *count, char *err, size_t errlen)
{
    if (access(path, F_OK) != 0)
        return 0;
    ipatch_init();
    GError *gerr = NULL;
    IpatchSF2File *file = ipatch_sf2_file_new();
    ipatch_file_set_name(IPATCH_FILE(file), path);
    GObject *obj = ipatch_convert_object_to_type(G_OBJECT(file), IPATCH_TYPE_SF2, &gerr);
    g_object_unref(file);
    if (!obj) {
        snprintf(err, errlen, "%s: libinstpatch cannot read it: %s", path,
                 gerr ? gerr->message : "?");
        g_clear_error(&gerr);
        return -1;
    }
    int rc = 0;
    IpatchList *insts = ipatch_container_get_children(IPATCH_CONTAINER(obj), IPATCH_TYPE_SF2_INST);
    for (GList *i = insts ? insts->items : NULL; i && !rc; i = i->next) {
        IpatchList *zones =
            ipatch_container_get_children(IPATCH_CONTAINER(i->data), IPATCH_TYPE_SF2_IZONE);
        for (GList *z = zones ? zones->items : NULL; z && !rc; z = z->next) {
            IpatchSF2Sample *smp = ipatch_sf2_izone_get_sample(IPATCH_SF2_IZONE(z->data));
            char *name = NULL;
            int root = -1;
            g_object_get(smp, "name", &name, "root-note", &root, NULL);
            IpatchSF2GenAmount amt;
            int over = ipatch_sf2_gen_item_get_amount(IPATCH_SF2_GEN_ITEM(z->data),
                                                      IPATCH_SF2_GEN_ROOT_NOTE_OVERRIDE, &amt)
                           ? amt.sword
                           : root;
            int want = name ? tx_name_note(name) : -1;
            if (want < 0 || root != want || over != want) {
                snprintf(err, errlen,
                         "%s: SF2 sample %s has original pitch %d and zone root key %d, the "
                         "name says %d",
                         path, name ? name : "?", root, over, want);
                rc = -1;
            } else {
                (*count)++;
            }
            g_free(name);
            g_object_unref(smp);
        }
        if (zones)
            g_object_unref(zones);
    }
    if (insts)
        g_object_unref(insts);
    g_object_unref(obj);
    return rc;
}

int tx_check_root_keys(const char *dir, const char *folder, int *checked, char *err, size_t errlen)
{
    int local[5] = {0}, *c = checked ? checked : local;
    memset(c, 0, 5 * sizeof *c);
    char path[1200];
    int rc = s_keys_wav(dir, &c[0], err, errlen);
    snprintf(path, sizeof path, "%s/%s.sfz", dir, folder);
    if (!rc)
        rc = s_keys_sfz(path, &c[1], err, errlen);
    snprintf(path, sizeof path, "%s/%s.dspreset", dir, folder);
    if (!rc)
        rc = s_keys_dspreset(path, &c[2], err, errlen);
    snprintf(path, sizeof path, "%s/%s.sf2", dir, folder);
    if (!rc)
        rc = s_keys_sf2(path, &c[3], err, errlen);
    snprintf(path, sizeof path, "%s/%s.multisample", dir, folder);
    if (!rc)
        rc = s_keys_multisample(path, &c[4], err, errlen);
    return rc;
}
