/*
 * test_export_util.c — synthetic raw takes, a small XML checker and a small SFZ reader for
 * the export tests (test_export_util.h).
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

/* ---- XML ---- */

typedef struct {
    const char *p;
    char *err;
    size_t errlen;
    int line;
} s_xml_t;

static bool s_fail(s_xml_t *x, const char *what)
{
    if (!*x->err)
        snprintf(x->err, x->errlen, "line %d: %s near '%.20s'", x->line, what, x->p);
    return false;
}

static void s_ws(s_xml_t *x)
{
    while (*x->p && isspace((unsigned char)*x->p)) {
        if (*x->p == '\n')
            x->line++;
        x->p++;
    }
}

static bool s_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static char *s_name(s_xml_t *x)
{
    const char *s = x->p;
    if (!s_name_start(*s))
        return NULL;
    while (isalnum((unsigned char)*x->p) || strchr("_:.-", *x->p))
        x->p++;
    return strndup(s, (size_t)(x->p - s));
}

/* Decodes text up to `stop` (exclusive) with entity checks into a malloc'd string. */
static char *s_text(s_xml_t *x, char stop, bool attr)
{
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    while (*x->p && *x->p != stop) {
        char c = *x->p;
        if (attr && c == '<') {
            s_fail(x, "'<' in an attribute value");
            free(out);
            return NULL;
        }
        if (c == '\n')
            x->line++;
        char dec[8] = {c, 0};
        size_t dn = 1;
        if (c == '&') {
            const char *semi = strchr(x->p, ';');
            if (!semi || semi - x->p > 10) {
                s_fail(x, "a bare '&'");
                free(out);
                return NULL;
            }
            size_t el = (size_t)(semi - x->p - 1);
            const char *ent = x->p + 1;
            if (el == 3 && !strncmp(ent, "amp", 3))
                dec[0] = '&';
            else if (el == 2 && !strncmp(ent, "lt", 2))
                dec[0] = '<';
            else if (el == 2 && !strncmp(ent, "gt", 2))
                dec[0] = '>';
            else if (el == 4 && !strncmp(ent, "quot", 4))
                dec[0] = '"';
            else if (el == 4 && !strncmp(ent, "apos", 4))
                dec[0] = '\'';
            else if (el >= 2 && ent[0] == '#') {
                long v = ent[1] == 'x' ? strtol(ent + 2, NULL, 16) : strtol(ent + 1, NULL, 10);
                dec[0] = v > 0 && v < 128 ? (char)v : '?';
            } else {
                s_fail(x, "an unknown entity");
                free(out);
                return NULL;
            }
            x->p = semi;
        }
        x->p++;
        if (n + dn + 1 > cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        memcpy(out + n, dec, dn);
        n += dn;
    }
    out[n] = '\0';
    return out;
}

/* Skips <?...?>, <!-- ... -->, <!DOCTYPE ...>; true if something was skipped. */
static bool s_misc(s_xml_t *x)
{
    s_ws(x);
    const char *end = NULL;
    if (!strncmp(x->p, "<?", 2))
        end = strstr(x->p, "?>");
    else if (!strncmp(x->p, "<!--", 4)) {
        end = strstr(x->p + 4, "--");
        if (end && end[2] != '>')
            return s_fail(x, "'--' inside a comment");
    } else if (!strncmp(x->p, "<!DOCTYPE", 9))
        end = strchr(x->p, '>');
    else
        return false;
    if (!end)
        return s_fail(x, "an unterminated declaration");
    while (x->p < end) {
        if (*x->p == '\n')
            x->line++;
        x->p++;
    }
    x->p += *x->p == '>' ? 1 : !strncmp(x->p, "--", 2) ? 3 : 2;
    return true;
}

static tx_elem_t *s_element(s_xml_t *x, tx_elem_t *parent, int depth)
{
    if (*x->p != '<' || depth > 64) {
        s_fail(x, "expected an element");
        return NULL;
    }
    x->p++;
    tx_elem_t *e = calloc(1, sizeof *e);
    e->parent = parent;
    e->name = s_name(x);
    if (!e->name) {
        s_fail(x, "a bad element name");
        tx_xml_free(e);
        return NULL;
    }
    for (;;) {
        bool had_ws = isspace((unsigned char)*x->p);
        s_ws(x);
        if (!strncmp(x->p, "/>", 2)) {
            x->p += 2;
            return e;
        }
        if (*x->p == '>') {
            x->p++;
            break;
        }
        if (!had_ws) {
            s_fail(x, "attributes need white space between them");
            tx_xml_free(e);
            return NULL;
        }
        char *an = s_name(x);
        if (!an || *x->p != '=' || (x->p[1] != '"' && x->p[1] != '\'')) {
            free(an);
            s_fail(x, "an attribute without a quoted value");
            tx_xml_free(e);
            return NULL;
        }
        char q = x->p[1];
        x->p += 2;
        char *av = s_text(x, q, true);
        if (!av || *x->p != q) {
            free(an);
            free(av);
            s_fail(x, "an unterminated attribute");
            tx_xml_free(e);
            return NULL;
        }
        x->p++;
        if (tx_xml_attr(e, an)) {
            free(an);
            free(av);
            s_fail(x, "a repeated attribute");
            tx_xml_free(e);
            return NULL;
        }
        e->attrs = realloc(e->attrs, (e->n_attrs + 1) * sizeof *e->attrs);
        e->attrs[e->n_attrs++] = (tx_attr_t){an, av};
    }
    /* content */
    for (;;) {
        if (!*x->p) {
            s_fail(x, "an element never closed");
            tx_xml_free(e);
            return NULL;
        }
        if (!strncmp(x->p, "</", 2)) {
            x->p += 2;
            char *cn = s_name(x);
            s_ws(x);
            bool ok = cn && !strcmp(cn, e->name) && *x->p == '>';
            free(cn);
            if (!ok) {
                s_fail(x, "a closing tag that does not match");
                tx_xml_free(e);
                return NULL;
            }
            x->p++;
            return e;
        }
        if (!strncmp(x->p, "<!--", 4) || !strncmp(x->p, "<?", 2)) {
            if (!s_misc(x)) {
                tx_xml_free(e);
                return NULL;
            }
            continue;
        }
        if (*x->p == '<') {
            tx_elem_t *k = s_element(x, e, depth + 1);
            if (!k) {
                tx_xml_free(e);
                return NULL;
            }
            e->kids = realloc(e->kids, (e->n_kids + 1) * sizeof *e->kids);
            e->kids[e->n_kids++] = k;
            continue;
        }
        char *t = s_text(x, '<', false);
        if (!t) {
            tx_xml_free(e);
            return NULL;
        }
        free(t);
    }
}

tx_elem_t *tx_xml_parse(const char *text, char *err, size_t errlen)
{
    s_xml_t x = {.p = text, .err = err, .errlen = errlen, .line = 1};
    err[0] = '\0';
    while (s_misc(&x))
        ;
    if (*err)
        return NULL;
    s_ws(&x);
    tx_elem_t *root = s_element(&x, NULL, 0);
    if (!root)
        return NULL;
    while (s_misc(&x))
        ;
    s_ws(&x);
    if (*err || *x.p) {
        s_fail(&x, "content after the root element");
        tx_xml_free(root);
        return NULL;
    }
    return root;
}

void tx_xml_free(tx_elem_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_kids; i++)
        tx_xml_free(e->kids[i]);
    for (size_t i = 0; i < e->n_attrs; i++) {
        free(e->attrs[i].name);
        free(e->attrs[i].value);
    }
    free(e->kids);
    free(e->attrs);
    free(e->name);
    free(e);
}

const char *tx_xml_attr(const tx_elem_t *e, const char *name)
{
    for (size_t i = 0; i < e->n_attrs; i++)
        if (!strcmp(e->attrs[i].name, name))
            return e->attrs[i].value;
    return NULL;
}

size_t tx_xml_find(const tx_elem_t *e, const char *name, const tx_elem_t **out, size_t max)
{
    size_t n = 0;
    if (!strcmp(e->name, name) && n < max)
        out[n++] = e;
    for (size_t i = 0; i < e->n_kids; i++)
        n += tx_xml_find(e->kids[i], name, out + n, max - n);
    return n;
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
