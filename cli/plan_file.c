/*
 * plan_file.c — reading a plan file (YAML, through libfyaml's document tree, which keeps
 * the line and column of every scalar).
 *
 * The file is a mapping. Its keys are the settings of dsp/plan_fields.h by their option
 * names: batch settings (name, out, format, bit-depth, ...), instrument settings given
 * once for every instrument (hold: 2), and "instruments", a sequence of mappings that each
 * start an instrument with "instrument: NAME" and hold its own settings. List settings
 * may be written as YAML sequences (velocities: [64, 127]), controllers as a mapping
 * (cc: {7: 100}). Every problem is reported with its line and column and the reading goes
 * on, so one run lists all of them.
 */
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "plan.h"
#include "plan_check.h"

#define S_TEXT_MAX 8192

typedef struct {
    const char *file;
    cli_diags_t *diags;
    int problems;
    bb_note_convention_t conv;
} s_reader_t;

static void s_error(s_reader_t *r, cli_mark_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_error(s_reader_t *r, cli_mark_t at, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_diags_add(r->diags, r->file, at, "%s", msg);
    r->problems++;
}

/* Where a node starts: its own token for a scalar, else its first scalar inside, else the
 * fallback (usually its key). */
static cli_mark_t s_mark(struct fy_node *n, cli_mark_t fallback)
{
    if (!n)
        return fallback;
    if (fy_node_is_scalar(n)) {
        struct fy_token *t = fy_node_get_scalar_token(n);
        const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
        return m ? (cli_mark_t){m->line + 1, m->column + 1} : fallback;
    }
    void *it = NULL;
    if (fy_node_is_sequence(n)) {
        struct fy_node *first = fy_node_sequence_iterate(n, &it);
        return first ? s_mark(first, fallback) : fallback;
    }
    if (fy_node_is_mapping(n)) {
        struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
        return p ? s_mark(fy_node_pair_key(p), fallback) : fallback;
    }
    return fallback;
}

static const char *s_scalar(struct fy_node *n)
{
    return n && fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;
}

/* The value of a setting as the text its parser reads; NULL after reporting a wrong
 * shape. */
static bool s_value_text(s_reader_t *r, const dsp_plan_field_t *f, struct fy_node *v, cli_mark_t at,
                         char *out, size_t len)
{
    if (!v || fy_node_is_null(v)) {
        if (f->kind == DSP_FIELD_BOOL) {
            snprintf(out, len, "true");
            return true;
        }
        s_error(r, at, "%s: needs a value", f->name);
        return false;
    }
    if (fy_node_is_scalar(v)) {
        snprintf(out, len, "%s", fy_node_get_scalar0(v));
        return true;
    }
    if (fy_node_is_sequence(v) && f->shape == DSP_SHAPE_LIST) {
        size_t o = 0;
        void *it = NULL;
        struct fy_node *item;
        out[0] = '\0';
        int k = 0;
        while ((item = fy_node_sequence_iterate(v, &it))) {
            const char *s = s_scalar(item);
            if (!s) {
                s_error(r, s_mark(item, at), "%s: a list of plain values, not of lists", f->name);
                return false;
            }
            if (strchr(s, ',') && strcmp(f->name, "sysex") != 0) {
                s_error(r, s_mark(item, at), "%s: '%s': an item cannot hold a comma", f->name, s);
                return false;
            }
            o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s", k++ ? "," : "", s);
        }
        if (k == 0) {
            s_error(r, at, "%s: the list is empty", f->name);
            return false;
        }
        return o < len;
    }
    if (fy_node_is_mapping(v) && f->shape == DSP_SHAPE_PAIRS) {
        size_t o = 0;
        void *it = NULL;
        struct fy_node_pair *p;
        int k = 0;
        out[0] = '\0';
        while ((p = fy_node_mapping_iterate(v, &it))) {
            const char *key = s_scalar(fy_node_pair_key(p)), *val = s_scalar(fy_node_pair_value(p));
            if (!key || !val) {
                s_error(r, s_mark(fy_node_pair_key(p), at), "%s: write pairs like 7: 100", f->name);
                return false;
            }
            o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s=%s", k++ ? "," : "", key,
                                  val);
        }
        return o < len;
    }
    const char *is = fy_node_is_sequence(v) ? "a list" : "a mapping";
    const char *want = f->shape == DSP_SHAPE_LIST    ? "a value or a list"
                       : f->shape == DSP_SHAPE_PAIRS ? "pairs like {7: 100}"
                       : f->kind == DSP_FIELD_BOOL   ? "true or false"
                                                     : "one value";
    s_error(r, s_mark(v, at), "%s: expected %s, not %s", f->name, want, is);
    return false;
}

/* One "key: value" of the top level (inst NULL, defaults as the instrument target) or of
 * an instrument's entry. */
static void s_setting(s_reader_t *r, struct fy_node_pair *p, dsp_plan_target_t *t,
                      Bb__InstrumentSpec *defaults, cli_mark_t *marks, bool in_instrument)
{
    struct fy_node *kn = fy_node_pair_key(p), *vn = fy_node_pair_value(p);
    cli_mark_t at = s_mark(kn, (cli_mark_t){0, 0});
    const char *key = s_scalar(kn);
    if (!key) {
        s_error(r, at, "a key is a plain word, like hold or velocities");
        return;
    }
    if (!in_instrument && strcmp(key, "instruments") == 0)
        return;
    if (in_instrument && strcmp(key, "instrument") == 0)
        return;
    const dsp_plan_field_t *f = dsp_plan_field_find(key);
    if (!f || (!in_instrument && strcmp(f->name, "instrument") == 0)) {
        const dsp_plan_field_t *like = dsp_plan_field_suggest(key);
        if (!in_instrument && strcmp(key, "instrument") == 0)
            s_error(r, at, "'instrument' starts an entry of the 'instruments' list");
        else if (like)
            s_error(r, at, "unknown key '%s' (did you mean '%s'?)", key, like->name);
        else
            s_error(r, at, "unknown key '%s' (see batcherbird submit --help for the settings)",
                    key);
        return;
    }
    bool per_inst = dsp_plan_field_per_instrument(f);
    if (in_instrument && !per_inst) {
        s_error(r, at,
                "'%s' is a batch setting: put it at the top of the plan, not in an "
                "instrument",
                key);
        return;
    }
    char text[S_TEXT_MAX], why[512];
    cli_mark_t vat = s_mark(vn, at);
    if (!s_value_text(r, f, vn, at, text, sizeof text))
        return;
    dsp_plan_target_t target = *t;
    if (!in_instrument && per_inst)
        target.inst = defaults;
    int rc = dsp_plan_field_set(f, &target, text, why, sizeof why);
    if (rc == BB_ENOMEM)
        s_error(r, vat, "out of memory");
    else if (rc)
        s_error(r, vat, "%s: '%s': %s", f->name, text, why);
    else if (marks)
        marks[f - dsp_plan_fields] = vat;
}

/* Syntax errors as libfyaml collected them. */
static void s_syntax_errors(s_reader_t *r, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *e;
    int n = 0;
    while ((e = fy_diag_errors_iterate(diag, &it))) {
        s_error(r, (cli_mark_t){e->line + 1, e->column + 1}, "%s", e->msg);
        n++;
    }
    if (n == 0)
        s_error(r, (cli_mark_t){1, 1}, "not a YAML document");
}

int cli_plan_load(const char *path, Bb__BatchSpec *plan, cli_plan_src_t *src, cli_diags_t *diags)
{
    s_reader_t r = {.file = path, .diags = diags};
    FILE *probe = fopen(path, "r");
    if (!probe) {
        cli_diags_add(diags, NULL, (cli_mark_t){0, 0}, "cannot read the plan %s: %s", path,
                      strerror(errno));
        return -1;
    }
    fclose(probe);
    free(src->file);
    src->file = strdup(path);

    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (diag)
        fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_JSON_NONE,
                               .diag = diag};
    struct fy_document *doc = fy_document_build_from_file(&cfg, path);
    if (!doc) {
        if (diag)
            s_syntax_errors(&r, diag);
        else
            s_error(&r, (cli_mark_t){1, 1}, "cannot parse the plan");
        fy_diag_destroy(diag);
        return r.problems;
    }
    struct fy_node *root = fy_document_root(doc);
    cli_mark_t top = {1, 1};
    if (!root || !fy_node_is_mapping(root)) {
        s_error(&r, s_mark(root, top),
                "a plan is a mapping of settings (name: ..., instruments: [...])");
        goto done;
    }
    /* the note convention first: note names anywhere depend on it */
    struct fy_node *c4 = fy_node_mapping_lookup_by_string(root, "c4", FY_NT);
    const char *c4s = s_scalar(c4);
    r.conv = c4s && (!strcmp(c4s, "true") || !strcmp(c4s, "yes")) ? BB_NOTES_C4_IS_60
                                                                  : BB_NOTES_C3_IS_60;
    Bb__BatchSpec *scratch = dsp_plan_new();
    Bb__InstrumentSpec *defaults = scratch ? dsp_plan_add_instrument(scratch, "") : NULL;
    if (!defaults) {
        s_error(&r, top, "out of memory");
        goto done_scratch;
    }
    if (cli_plan_src_fit(src, plan->n_instruments)) {
        s_error(&r, top, "out of memory");
        goto done_scratch;
    }
    dsp_plan_target_t t = {.batch = plan, .inst = NULL, .notes = r.conv};
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(root, &it)))
        s_setting(&r, p, &t, defaults, src->batch, false);

    struct fy_node *list = fy_node_mapping_lookup_by_string(root, "instruments", FY_NT);
    if (!list) {
        s_error(&r, top, "the plan has no 'instruments' list");
        goto done_scratch;
    }
    if (!fy_node_is_sequence(list)) {
        s_error(&r, s_mark(list, top),
                "'instruments' is a list of instruments, each starting with '- instrument: NAME'");
        goto done_scratch;
    }
    it = NULL;
    struct fy_node *entry;
    while ((entry = fy_node_sequence_iterate(list, &it))) {
        cli_mark_t at = s_mark(entry, s_mark(list, top));
        if (!fy_node_is_mapping(entry)) {
            s_error(&r, at, "an instrument is a mapping starting with 'instrument: NAME'");
            continue;
        }
        struct fy_node *name = fy_node_mapping_lookup_by_string(entry, "instrument", FY_NT);
        const char *ns = s_scalar(name);
        if (!ns || !*ns) {
            s_error(&r, at, "this instrument has no name: start it with 'instrument: NAME'");
            continue;
        }
        if (plan->n_instruments >= DSP_PLAN_MAX_INSTRUMENTS) {
            s_error(&r, at, "more than %d instruments", DSP_PLAN_MAX_INSTRUMENTS);
            break;
        }
        t.inst = dsp_plan_add_instrument(plan, ns);
        if (!t.inst || cli_plan_src_fit(src, plan->n_instruments) ||
            dsp_plan_apply_defaults(t.inst, defaults, r.conv)) {
            s_error(&r, at, "out of memory");
            break;
        }
        size_t idx = plan->n_instruments - 1;
        src->entry[idx] = s_mark(name, at);
        /* the defaults' marks point at the top-level keys */
        struct fy_node_pair *dp;
        void *dit = NULL;
        while ((dp = fy_node_mapping_iterate(root, &dit))) {
            const dsp_plan_field_t *f = dsp_plan_field_find(s_scalar(fy_node_pair_key(dp)));
            if (f && dsp_plan_field_per_instrument(f))
                src->inst[idx][f - dsp_plan_fields] = s_mark(fy_node_pair_value(dp), top);
        }
        src->inst[idx][dsp_plan_field_find("instrument") - dsp_plan_fields] = src->entry[idx];
        void *eit = NULL;
        while ((p = fy_node_mapping_iterate(entry, &eit)))
            s_setting(&r, p, &t, NULL, src->inst[idx], true);
    }
done_scratch:
    if (scratch)
        bb__batch_spec__free_unpacked(scratch, NULL);
done:
    fy_document_destroy(doc);
    fy_diag_destroy(diag);
    return r.problems;
}
