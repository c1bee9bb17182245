/*
 * worker.c — the export actor. Exports run here, off the coordinator's main thread, with
 * a database connection of their own (WAL lets it read while the main thread writes).
 * Before an instrument is cut, its latency prior is learnt from all its takes and placed
 * on its slow attacks (dsp_latency_prior_t).
 * Requests and answers travel on the actor pipe as string frames.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_log.h"
#include "coord.h"
#include "export.h"
#include "export_library.h"
#include "operator.pb-c.h"
#include "plan_fields.h"

/* The other takes of each exported slot (failed attempts recorded again, replaced ones),
 * for the report: every take of the batch, matched to the rows by job. */
typedef struct {
    dsp_export_retake_t *list; /* one array for all rows */
    char (*ids)[BB_TAKE_ID_MAX + 1];
    char (*reasons)[512];
    size_t n;
} s_retakes_t;

static int s_attempt_of(const char *take_id)
{
    const char *a = strrchr(take_id, 'a');
    return a && a > take_id && a[-1] == '-' ? atoi(a + 1) : 0;
}

static void s_retakes(coord_store_t *store, uint64_t batch, int idx, dsp_export_take_t *takes,
                      const coord_export_row_t *rows, size_t n, s_retakes_t *r)
{
    memset(r, 0, sizeof *r);
    char **ids = NULL;
    size_t nids = 0;
    if (coord_store_take_ids(store, batch, &ids, &nids) || nids == 0)
        return;
    r->list = calloc(nids, sizeof *r->list);
    r->ids = calloc(nids, sizeof *r->ids);
    r->reasons = calloc(nids, sizeof *r->reasons);
    coord_take_row_t *all = calloc(nids, sizeof *all);
    bool *got = calloc(nids, sizeof *got);
    for (size_t i = 0; r->list && r->ids && r->reasons && all && got && i < nids; i++)
        got[i] = coord_store_take_get(store, ids[i], &all[i]) == 0 && all[i].inst_idx == idx;
    for (size_t k = 0; r->list && r->ids && r->reasons && all && got && k < n; k++) {
        takes[k].attempt = s_attempt_of(rows[k].take.id);
        takes[k].retakes = &r->list[r->n];
        for (size_t i = 0; i < nids; i++) {
            if (!got[i] || all[i].job_id != rows[k].job.id ||
                strcmp(all[i].id, rows[k].take.id) == 0)
                continue;
            dsp_analysis_t a;
            dsp_analysis_from_json(all[i].qc_json, &a);
            snprintf(r->ids[r->n], sizeof r->ids[0], "%s", all[i].id);
            snprintf(r->reasons[r->n], sizeof r->reasons[0], "%s", a.reasons);
            r->list[r->n] = (dsp_export_retake_t){.take_id = r->ids[r->n],
                                                  .attempt = s_attempt_of(all[i].id),
                                                  .verdict = all[i].verdict,
                                                  .reasons = r->reasons[r->n]};
            r->n++;
            takes[k].n_retakes++;
        }
    }
    for (size_t i = 0; all && i < nids; i++)
        coord_take_row_free(&all[i]); /* a row never read is all zeros */
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    free(all);
    free(got);
}

/* The manifest and report list the instrument folders this coordinator wrote into the
 * library root, and the one being exported: a record planted there is not believed. */
typedef struct {
    coord_store_t *store;
    const char *root;
    const char *folder; /* being exported now */
} s_member_t;

static bool s_member(void *arg, const char *folder)
{
    s_member_t *m = arg;
    bool has = false;
    return strcmp(folder, m->folder) == 0 ||
           (coord_store_library_has_folder(m->store, m->root, folder, &has) == 0 && has);
}

/* Records what the export wrote into root: the instrument's files (from the record it just
 * wrote) and root's manifest.json and report.html. These, and nothing else, are served. */
static int s_record_files(coord_store_t *store, const char *root, const char *folder, char *err,
                          size_t errlen)
{
    dsp_library_file_t *files = NULL;
    size_t n = 0;
    int rc = dsp_library_instrument_files(root, folder, &files, &n, err, errlen);
    coord_lib_file_t *rows = rc ? NULL : calloc(n ? n : 1, sizeof *rows);
    if (!rc && !rows)
        rc = BB_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        snprintf(rows[i].path, sizeof rows[i].path, "%s", files[i].path);
        rows[i].size = files[i].size;
        rows[i].crc32 = files[i].crc32;
    }
    coord_lib_file_t top[2];
    const char *names[] = {DSP_EXPORT_MANIFEST, DSP_EXPORT_REPORT};
    for (int k = 0; !rc && k < 2; k++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", root, names[k]);
        snprintf(top[k].path, sizeof top[k].path, "%s", names[k]);
        rc = dsp_file_crc32(path, &top[k].crc32, &top[k].size, err, errlen);
    }
    if (!rc && coord_store_library_set(store, root, folder, rows, n, top, 2) != 0) {
        snprintf(err, errlen, "cannot record the library's files: %s", coord_store_errmsg(store));
        rc = BB_EDB;
    }
    free(rows);
    free(files);
    return rc;
}

/* The instrument's latency prior (dsp_latency_prior_t), learnt from all its takes now
 * that they are in, placed on its slow attacks before they are cut. A node whose latency
 * offset was calibrated, and applied to these takes, is a prior of its own. */
static void s_latency_prior(coord_store_t *store, const coord_export_row_t *rows,
                            dsp_export_take_t *takes, size_t n)
{
    const dsp_analysis_t **ptr = calloc(n ? n : 1, sizeof *ptr);
    if (!ptr)
        return;
    bool calibrated = n > 0;
    for (size_t k = 0; k < n; k++) {
        ptr[k] = &takes[k].analysis;
        double ms = 0;
        bool has = false;
        calibrated = calibrated &&
                     coord_store_node_latency(store, rows[k].take.node, &ms, &has) == 0 && has &&
                     fabs(ms - rows[k].take.latency_offset_ms) < 1e-6;
    }
    dsp_latency_prior_t prior;
    dsp_latency_prior_learn(ptr, n, calibrated, &prior);
    for (size_t k = 0; k < n; k++)
        dsp_latency_prior_apply(&takes[k].analysis, &prior);
    free(ptr);
}

static void s_export(zsock_t *pipe, coord_store_t *store, uint64_t batch, int idx)
{
    char b[32], i[16], err[512] = "";
    snprintf(b, sizeof b, "%llu", (unsigned long long)batch);
    snprintf(i, sizeof i, "%d", idx);
    coord_batch_row_t row;
    Bb__BatchSpec *spec = NULL;
    coord_export_row_t *rows = NULL;
    size_t n = 0;
    dsp_export_take_t *takes = NULL;
    int rc = coord_store_batch_get(store, batch, &row);
    if (rc) {
        snprintf(err, sizeof err, "batch %s is gone", b);
        goto done;
    }
    spec = bb__batch_spec__unpack(NULL, row.spec_len, row.spec);
    if (!spec || idx < 0 || (size_t)idx >= spec->n_instruments) {
        snprintf(err, sizeof err, "batch %s has no instrument %d", b, idx);
        rc = BB_EINVAL;
        goto done;
    }
    rc = coord_store_export_rows(store, batch, idx, &rows, &n);
    if (rc) {
        snprintf(err, sizeof err, "cannot read the takes: %s", coord_store_errmsg(store));
        goto done;
    }
    takes = calloc(n ? n : 1, sizeof *takes);
    if (!takes) {
        rc = BB_ENOMEM;
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        takes[k].take_id = rows[k].take.id;
        takes[k].path = rows[k].take.path;
        takes[k].note = rows[k].job.note;
        takes[k].velocity = rows[k].job.velocity;
        takes[k].rr = rows[k].job.rr;
        takes[k].release = rows[k].job.release;
        dsp_analysis_from_json(rows[k].take.qc_json, &takes[k].analysis);
        takes[k].analysis.verdict = rows[k].take.verdict;
    }
    s_latency_prior(store, rows, takes, n);
    s_retakes_t retakes;
    s_retakes(store, batch, idx, takes, rows, n, &retakes);
    dsp_export_config_t cfg;
    dsp_plan_export_config(spec->export, &cfg);
    cfg.out_dir = row.out_dir;
    cfg.map.unpitched = spec->instruments[idx]->qc && spec->instruments[idx]->qc->unpitched;
    char folder[BB_SAFE_NAME_MAX + 8];
    bb_safe_name(spec->instruments[idx]->name, folder, sizeof folder);
    s_member_t member = {.store = store, .root = row.out_dir, .folder = folder};
    cfg.member = s_member;
    cfg.member_arg = &member;
    dsp_export_result_t res;
    rc = dsp_export_instrument(&cfg, spec->instruments[idx]->name, takes, n, &res, err, sizeof err);
    free(retakes.list);
    free(retakes.ids);
    free(retakes.reasons);
    if (!rc)
        rc = s_record_files(store, row.out_dir, folder, err, sizeof err);
    if (!rc && coord_store_library_owner_set(store, row.out_dir, folder, batch) != 0) {
        snprintf(err, sizeof err, "cannot record the library's owner: %s",
                 coord_store_errmsg(store));
        rc = BB_EDB;
    }
    if (!rc) {
        char files[16];
        snprintf(files, sizeof files, "%d", res.files);
        zstr_sendx(pipe, "EXPORTED", b, i, files, res.dir, NULL);
    }
done:
    if (rc)
        zstr_sendx(pipe, "FAILED", b, i, err, NULL);
    free(takes);
    coord_export_rows_free(rows, n);
    if (spec)
        bb__batch_spec__free_unpacked(spec, NULL);
    if (row.spec)
        coord_batch_row_free(&row);
}

static void s_actor(zsock_t *pipe, void *args)
{
    char err[256];
    coord_store_t *store = coord_store_open((const char *)args, err, sizeof err);
    zsock_signal(pipe, 0);
    for (;;) {
        char *cmd = NULL, *batch = NULL, *idx = NULL;
        if (zstr_recvx(pipe, &cmd, &batch, &idx, NULL) < 1) {
            zstr_free(&cmd);
            break;
        }
        bool term = strcmp(cmd, "$TERM") == 0;
        if (!term && strcmp(cmd, "EXPORT") == 0 && batch && idx) {
            if (store)
                s_export(pipe, store, strtoull(batch, NULL, 10), atoi(idx));
            else
                zstr_sendx(pipe, "FAILED", batch, idx, err, NULL);
        }
        zstr_free(&cmd);
        zstr_free(&batch);
        zstr_free(&idx);
        if (term)
            break;
    }
    coord_store_close(&store);
}

zactor_t *coord_worker_new(const char *db_path)
{
    return zactor_new(s_actor, (void *)db_path);
}

void coord_worker_export(zactor_t *worker, uint64_t batch, int idx)
{
    char b[32], i[16];
    snprintf(b, sizeof b, "%llu", (unsigned long long)batch);
    snprintf(i, sizeof i, "%d", idx);
    zstr_sendx(worker, "EXPORT", b, i, NULL);
}

void coord_worker_answer(coord_t *self)
{
    zmsg_t *msg = zmsg_recv(self->worker);
    if (!msg)
        return;
    char *what = zmsg_popstr(msg), *b = zmsg_popstr(msg), *i = zmsg_popstr(msg);
    char *a = zmsg_popstr(msg), *c = zmsg_popstr(msg);
    if (what && b && i) {
        uint64_t batch = strtoull(b, NULL, 10);
        int idx = atoi(i);
        if (strcmp(what, "EXPORTED") == 0)
            coord_instrument_exported(self, batch, idx, true, a ? atoi(a) : 0, c ? c : "", "");
        else
            coord_instrument_exported(self, batch, idx, false, 0, "", a ? a : "export failed");
    }
    zstr_free(&what);
    zstr_free(&b);
    zstr_free(&i);
    zstr_free(&a);
    zstr_free(&c);
    zmsg_destroy(&msg);
}
