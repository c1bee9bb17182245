/*
 * plan.c — problems and where they are, the checks of a plan before it is submitted, and
 * printing a plan back as a plan file (JSON from dsp_plan_to_json, emitted as YAML by
 * libfyaml).
 */
#include "plan.h"

#include <libfyaml.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_pb.h"
#include "plan_check.h"

/* ---- problems ---- */

void cli_diags_add(cli_diags_t *d, const char *file, cli_mark_t at, const char *fmt, ...)
{
    if (d->n >= CLI_DIAGS_MAX)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        cli_diag_t *grown = realloc(d->items, cap * sizeof *grown);
        if (!grown)
            return;
        d->items = grown;
        d->cap = cap;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_diag_t *it = &d->items[d->n];
    it->file = file && at.line > 0 ? strdup(file) : NULL;
    it->at = at;
    it->msg = strdup(msg);
    if (it->msg)
        d->n++;
}

void cli_diags_print(const cli_diags_t *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        const cli_diag_t *it = &d->items[i];
        if (it->file)
            fprintf(out, "%s:%d:%d: error: %s\n", it->file, it->at.line, it->at.col, it->msg);
        else
            fprintf(out, "error: %s\n", it->msg);
    }
    if (d->n >= CLI_DIAGS_MAX)
        fprintf(out, "(more problems not shown)\n");
}

void cli_diags_free(cli_diags_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].msg);
    }
    free(d->items);
    *d = (cli_diags_t){0};
}

/* ---- where settings came from ---- */

int cli_plan_src_fit(cli_plan_src_t *src, size_t n_inst)
{
    if (!src->batch && !(src->batch = calloc(dsp_plan_n_fields, sizeof *src->batch)))
        return -1;
    if (n_inst <= src->n_inst)
        return 0;
    cli_mark_t *entry = realloc(src->entry, n_inst * sizeof *entry);
    if (!entry)
        return -1;
    src->entry = entry;
    cli_mark_t **inst = realloc(src->inst, n_inst * sizeof *inst);
    if (!inst)
        return -1;
    src->inst = inst;
    for (size_t i = src->n_inst; i < n_inst; i++) {
        entry[i] = (cli_mark_t){0, 0};
        inst[i] = calloc(dsp_plan_n_fields, sizeof *inst[i]);
        if (!inst[i])
            return -1;
        src->n_inst = i + 1;
    }
    return 0;
}

void cli_plan_src_free(cli_plan_src_t *src)
{
    for (size_t i = 0; i < src->n_inst; i++)
        free(src->inst[i]);
    free(src->inst);
    free(src->entry);
    free(src->batch);
    free(src->file);
    *src = (cli_plan_src_t){0};
}

static cli_mark_t s_inst_mark(const cli_plan_src_t *src, size_t i, const char *field)
{
    if (!src || i >= src->n_inst)
        return (cli_mark_t){0, 0};
    if (field) {
        const dsp_plan_field_t *f = dsp_plan_field_find(field);
        if (f && src->inst[i][f - dsp_plan_fields].line)
            return src->inst[i][f - dsp_plan_fields];
    }
    return src->entry[i];
}

static cli_mark_t s_batch_mark(const cli_plan_src_t *src, const char *field)
{
    const dsp_plan_field_t *f = dsp_plan_field_find(field);
    return src && src->batch && f ? src->batch[f - dsp_plan_fields] : (cli_mark_t){0, 0};
}

/* ---- checks ---- */

Bb__BatchSpec *cli_plan_normalised(const Bb__BatchSpec *plan, uint64_t *total_takes, char *msg,
                                   size_t len)
{
    Bb__BatchSpec *copy = BB_PB_COPY(Bb__BatchSpec, plan);
    if (!copy) {
        snprintf(msg, len, "out of memory");
        return NULL;
    }
    uint64_t total = 0;
    if (dsp_plan_validate(&total, copy, NULL, NULL, msg, len)) {
        bb__batch_spec__free_unpacked(copy, NULL);
        return NULL;
    }
    if (total_takes)
        *total_takes = total;
    return copy;
}

/* The names an instrument entry produces: its own, or one per patch of its bank. */
static int s_entry_names(const Bb__InstrumentSpec *in, char (*names)[DSP_PLAN_NAME_MAX * 2 + 1],
                         size_t max, size_t *n, char *msg, size_t len)
{
    *n = 0;
    if (in->n_programs == 0) {
        snprintf(names[0], sizeof names[0], "%s", in->name);
        *n = 1;
        return 0;
    }
    for (size_t k = 0; k < in->n_programs && k < max; k++) {
        if (dsp_plan_patch_name(in, k, in->programs[k], names[k], sizeof names[0], msg, len))
            return BB_EINVAL;
        (*n)++;
    }
    return 0;
}

typedef struct {
    char safe[BB_SAFE_NAME_MAX + 8];
    char name[DSP_PLAN_NAME_MAX * 2 + 1];
    size_t entry;
} s_seen_t;

int cli_plan_check(const Bb__BatchSpec *plan, const cli_plan_src_t *src, const cli_nodes_t *nodes,
                   cli_diags_t *diags)
{
    const char *file = src ? src->file : NULL;
    size_t before = diags->n;
    char msg[1024];
    if (plan->n_instruments == 0) {
        cli_diags_add(diags, NULL, (cli_mark_t){0, 0}, "the plan has no instruments");
        return (int)(diags->n - before);
    }
    s_seen_t *seen = calloc(DSP_PLAN_MAX_INSTRUMENTS * 2, sizeof *seen);
    char(*names)[DSP_PLAN_NAME_MAX * 2 + 1] = calloc(128, sizeof *names);
    size_t n_seen = 0;
    for (size_t i = 0; seen && names && i < plan->n_instruments; i++) {
        const Bb__InstrumentSpec *in = plan->instruments[i];
        size_t n = 0;
        if (s_entry_names(in, names, 128, &n, msg, sizeof msg)) {
            cli_diags_add(diags, file, s_inst_mark(src, i, "patch-name"), "%s", msg);
            continue;
        }
        for (size_t k = 0; k < n && n_seen < DSP_PLAN_MAX_INSTRUMENTS * 2; k++) {
            s_seen_t *me = &seen[n_seen];
            bb_safe_name(names[k], me->safe, sizeof me->safe);
            snprintf(me->name, sizeof me->name, "%s", names[k]);
            me->entry = i;
            for (size_t j = 0; j < n_seen; j++) {
                if (strcasecmp(seen[j].safe, me->safe) != 0)
                    continue;
                cli_mark_t first = s_inst_mark(src, seen[j].entry, NULL);
                char where[48] = "";
                if (first.line)
                    snprintf(where, sizeof where, " (first on line %d)", first.line);
                if (strcmp(seen[j].name, me->name) == 0)
                    cli_diags_add(diags, file, s_inst_mark(src, i, NULL),
                                  "instrument name '%s' is used twice%s; each instrument needs a "
                                  "name of its own",
                                  me->name, where);
                else
                    cli_diags_add(diags, file, s_inst_mark(src, i, NULL),
                                  "instruments '%s' and '%s' would share the library folder "
                                  "'%s'; rename one",
                                  seen[j].name, me->name, me->safe);
                break;
            }
            n_seen++;
        }
    }
    free(seen);
    free(names);

    for (size_t i = 0; i < plan->n_instruments; i++) {
        const Bb__InstrumentSpec *in = plan->instruments[i];
        if (!*in->node) {
            cli_diags_add(diags, file, s_inst_mark(src, i, NULL),
                          "instrument %s: no node given (which capture node plays it? node: NAME)",
                          in->name);
            continue;
        }
        if (nodes && nodes->known) {
            bool found = false;
            for (size_t k = 0; k < nodes->n && !found; k++)
                found = strcmp(nodes->names[k], in->node) == 0;
            if (!found) {
                char known[512] = "";
                size_t o = 0;
                for (size_t k = 0; k < nodes->n && o < sizeof known; k++)
                    o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", k ? ", " : "",
                                          nodes->names[k]);
                cli_diags_add(diags, file, s_inst_mark(src, i, "node"),
                              "instrument %s: no node named '%s' (known nodes: %s)", in->name,
                              in->node, nodes->n ? known : "none");
                continue;
            }
        }
        /* the instrument alone through the coordinator's checks */
        Bb__BatchSpec one = BB__BATCH_SPEC__INIT;
        Bb__InstrumentSpec *ptr = (Bb__InstrumentSpec *)in;
        one.instruments = &ptr;
        one.n_instruments = 1;
        Bb__BatchSpec *copy = cli_plan_normalised(&one, NULL, msg, sizeof msg);
        if (copy)
            bb__batch_spec__free_unpacked(copy, NULL);
        else
            cli_diags_add(diags, file, s_inst_mark(src, i, NULL), "%s", msg);
    }

    if (plan->export) {
        Bb__ExportSpec *ex = BB_PB_COPY(Bb__ExportSpec, plan->export);
        if (ex && dsp_plan_check_export(ex, msg, sizeof msg)) {
            const char *field = strstr(msg, "name template") ? "name-template"
                                : strstr(msg, "FLAC")        ? "format"
                                                             : "out";
            cli_diags_add(diags, file, s_batch_mark(src, field), "%s", msg);
        }
        if (ex)
            bb__export_spec__free_unpacked(ex, NULL);
    }
    if (diags->n == 0) { /* limits of the whole plan, once everything else is right */
        Bb__BatchSpec *copy = cli_plan_normalised(plan, NULL, msg, sizeof msg);
        if (copy)
            bb__batch_spec__free_unpacked(copy, NULL);
        else
            cli_diags_add(diags, NULL, (cli_mark_t){0, 0}, "%s", msg);
    }
    return (int)(diags->n - before);
}

/* ---- printing ---- */

int cli_plan_print_yaml(const Bb__BatchSpec *plan, bool all, FILE *out)
{
    json_t *j = dsp_plan_to_json(plan, all);
    char *text = j ? json_dumps(j, JSON_REAL_PRECISION(6) | JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return -1;
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET};
    struct fy_document *doc = fy_document_build_from_string(&cfg, text, FY_NT);
    int rc = -1;
    if (doc)
        rc = fy_emit_document_to_fp(doc,
                                    FYECF_MODE_PRETTY | FYECF_INDENT_2 | FYECF_WIDTH_80 |
                                        FYECF_DOC_START_MARK_OFF | FYECF_DOC_END_MARK_OFF,
                                    out);
    fy_document_destroy(doc);
    free(text);
    return rc ? -1 : 0;
}
