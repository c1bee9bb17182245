/*
 * service_housekeeping.c — the operator's housekeeping on batches it has run: recording
 * chosen slots again (RetakeSlots), exporting again with the stored or changed export
 * settings (ExportAgain), and deleting a batch with its raw takes and library
 * (DeleteBatch). service_operator.c dispatches to these.
 *
 * A retake makes the chosen jobs pending again (their old takes marked superseded), puts
 * the instrument back to waiting and the batch back to running; the scheduler records
 * them like any take and the instrument is exported again when they are done, so the new
 * takes replace the old ones in the library. Its MIDI setup goes out again first.
 *
 * Deleting removes exactly what Batcherbird wrote: the raw takes the database lists with
 * their sidecars and the batch's plan.json, and in the library the files the database
 * records this coordinator wrote under each of the batch's instrument folders (never what
 * a manifest on disk claims) plus their instrument record. A
 * folder that still holds anything else is left, with the files of others in it, and
 * named in the reply; the library's manifest and report are rebuilt from the instruments
 * that remain, or removed with the root folder when none does.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_log.h"
#include "bb_notes.h"
#include "bb_pb.h"
#include "coord.h"
#include "export.h"
#include "export_library.h"
#include "plan_check.h"
#include "plan_fields.h"
#include "service_housekeeping.h"

static bool s_in(uint32_t v, const uint32_t *list, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

/* Forgets which node sessions got the instrument's MIDI setup, so it goes out again. */
static void s_forget_setup(coord_t *self, uint64_t batch, int idx)
{
    for (coord_setup_sent_t **p = &self->setups; *p;) {
        coord_setup_sent_t *s = *p;
        if (s->batch_id == batch && (idx < -1000 || s->idx == idx || s->idx == -1 - idx)) {
            *p = s->next;
            free(s);
        } else {
            p = &s->next;
        }
    }
}

static int s_inst_index(const Bb__BatchSpec *spec, const char *name)
{
    for (size_t i = 0; i < spec->n_instruments; i++)
        if (strcmp(spec->instruments[i]->name, name) == 0)
            return (int)i;
    for (size_t i = 0; i < spec->n_instruments; i++)
        if (strcasecmp(spec->instruments[i]->name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- retake ---- */

void coord_retake(coord_t *self, const Bb__RetakeRequest *req, Bb__RetakeReply_Closure closure,
                  void *call)
{
    coord_batch_row_t b;
    if (coord_store_batch_get(self->store, req->batch_id, &b)) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no batch %llu", (unsigned long long)req->batch_id);
        return;
    }
    coord_batch_row_free(&b);
    if (b.state == BB__BATCH_STATE__BATCH_CANCELLED) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "batch %llu was cancelled; submit its plan again (batcherbird plan show %llu)",
                    (unsigned long long)req->batch_id, (unsigned long long)req->batch_id);
        return;
    }
    const Bb__BatchSpec *spec = coord_spec(self, req->batch_id);
    int idx = spec ? s_inst_index(spec, req->instrument) : -1;
    if (idx < 0) {
        char names[512] = "";
        size_t o = 0;
        for (size_t i = 0; spec && i < spec->n_instruments && o < sizeof names; i++)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                                  spec->instruments[i]->name);
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "batch %llu has no instrument '%s' (it has: %s)",
                    (unsigned long long)req->batch_id, req->instrument, names);
        return;
    }
    coord_inst_row_t inst;
    if (coord_store_inst_get(self->store, req->batch_id, idx, &inst) == 0 &&
        inst.state == BB__INSTRUMENT_STATE__INST_EXPORTING) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "%s is being exported right now; ask again when it is done", inst.name);
        return;
    }
    coord_export_row_t *rows = NULL;
    size_t n = 0;
    if (coord_store_export_rows(self->store, req->batch_id, idx, &rows, &n)) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot read the takes: %s",
                    coord_store_errmsg(self->store));
        return;
    }
    /* what was asked for must be in the plan's grid: a slot it never had is named, not
     * silently left out */
    char missing[512] = "";
    size_t mo = 0;
    const struct {
        const uint32_t *v;
        size_t n;
        int kind; /* 0 note, 1 velocity, 2 round robin */
    } asks[] = {{req->notes, req->n_notes, 0},
                {req->velocities, req->n_velocities, 1},
                {req->round_robins, req->n_round_robins, 2}};
    for (int a = 0; a < 3; a++) {
        for (size_t i = 0; i < asks[a].n; i++) {
            bool found = false;
            for (size_t k = 0; k < n && !found; k++) {
                const coord_job_row_t *j = &rows[k].job;
                int have = asks[a].kind == 0 ? j->note : asks[a].kind == 1 ? j->velocity : j->rr;
                found = j->seq >= 0 && (uint32_t)have == asks[a].v[i];
            }
            if (found || mo >= sizeof missing)
                continue;
            char what[48];
            if (asks[a].kind == 0) {
                char name[16];
                bb_note_name((int)asks[a].v[i], BB_NOTES_C3_IS_60, name, sizeof name);
                snprintf(what, sizeof what, "note %s (%u)", name, asks[a].v[i]);
            } else {
                snprintf(what, sizeof what, "%s %u", asks[a].kind == 1 ? "velocity" : "round robin",
                         asks[a].v[i]);
            }
            int w = snprintf(missing + mo, sizeof missing - mo, "%s%s", mo ? ", " : "", what);
            mo = w < 0 ? sizeof missing : mo + (size_t)w;
        }
    }
    if (missing[0]) {
        coord_export_rows_free(rows, n);
        bb_rpc_fail(call, BB_STATUS_INVALID_ARGUMENT,
                    "batch %llu's plan for %s has no %s: a retake records slots of the plan "
                    "again (batcherbird status %llu lists them); sample new ones with a new "
                    "batch",
                    (unsigned long long)req->batch_id, spec->instruments[idx]->name, missing,
                    (unsigned long long)req->batch_id);
        return;
    }
    /* the re-export that follows must be able to replace the folder: a file Batcherbird
     * wrote there that the user changed since stops it now, before anything is recorded */
    if (!spec->no_export) {
        char safe[BB_SAFE_NAME_MAX + 8], why[BB_RPC_MESSAGE_MAX - 128];
        bb_safe_name(spec->instruments[idx]->name, safe, sizeof safe);
        const char *folders[] = {safe};
        int crc = b.out_dir[0] && bb_exists(b.out_dir)
                      ? dsp_library_check_out(b.out_dir, folders, 1, false, why, sizeof why)
                      : 0;
        if (crc) {
            coord_export_rows_free(rows, n);
            bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION, "nothing to retake: %s", why);
            return;
        }
    }
    uint32_t count = 0;
    int rc = coord_store_begin(self->store);
    for (size_t k = 0; !rc && k < n; k++) {
        const coord_job_row_t *j = &rows[k].job;
        if (j->seq < 0 || !s_in((uint32_t)j->note, req->notes, req->n_notes) ||
            !s_in((uint32_t)j->velocity, req->velocities, req->n_velocities) ||
            !s_in((uint32_t)j->rr, req->round_robins, req->n_round_robins))
            continue;
        rc = coord_store_job_retake_manual(self->store, j->id);
        count++;
    }
    coord_export_rows_free(rows, n);
    if (!rc && count == 0) {
        coord_store_rollback(self->store);
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND,
                    "no recorded take of %s matches those notes, velocities and round robins",
                    req->instrument);
        return;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "%u take(s) to record again", count);
    if (!rc)
        rc = coord_store_inst_set_state(self->store, req->batch_id, idx,
                                        BB__INSTRUMENT_STATE__INST_PENDING, msg);
    if (!rc && b.state != BB__BATCH_STATE__BATCH_RUNNING &&
        b.state != BB__BATCH_STATE__BATCH_PAUSED)
        rc = coord_store_batch_set_state(self->store, req->batch_id, BB__BATCH_STATE__BATCH_RUNNING,
                                         "");
    if (!rc)
        rc = coord_store_commit(self->store);
    if (rc) {
        coord_store_rollback(self->store);
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot plan the retakes: %s",
                    coord_store_errmsg(self->store));
        return;
    }
    s_forget_setup(self, req->batch_id, idx);
    Bb__RetakeReply reply = BB__RETAKE_REPLY__INIT;
    reply.takes = count;
    closure(&reply, call);
    coord_event(self, req->batch_id, BB__EVENT_KIND__EV_BATCH_STATE, req->instrument, NULL, NULL,
                "batch %llu: %s: %u take(s) to record again, asked for by the operator",
                (unsigned long long)req->batch_id, spec->instruments[idx]->name, count);
    self->schedule_soon = true;
}

/* ---- export again ---- */

void coord_export_again(coord_t *self, const Bb__ExportAgainRequest *req,
                        Bb__ExportAgainReply_Closure closure, void *call)
{
    coord_batch_row_t b;
    if (coord_store_batch_get(self->store, req->batch_id, &b)) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no batch %llu", (unsigned long long)req->batch_id);
        return;
    }
    int state = b.state;
    char out_dir[PATH_MAX];
    snprintf(out_dir, sizeof out_dir, "%s", b.out_dir);
    Bb__BatchSpec *spec = bb__batch_spec__unpack(NULL, b.spec_len, b.spec);
    coord_batch_row_free(&b);
    if (!spec) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "the stored plan of batch %llu cannot be read",
                    (unsigned long long)req->batch_id);
        return;
    }
    if (state == BB__BATCH_STATE__BATCH_RUNNING || state == BB__BATCH_STATE__BATCH_PAUSED) {
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "batch %llu is still %s; export it again once it has finished",
                    (unsigned long long)req->batch_id,
                    state == BB__BATCH_STATE__BATCH_RUNNING ? "running" : "paused");
        return;
    }
    char msg[BB_RPC_MESSAGE_MAX];
    if (req->export) {
        Bb__ExportSpec *ex = BB_PB_COPY(Bb__ExportSpec, req->export);
        if (!ex || dsp_plan_check_export(ex, msg, sizeof msg)) {
            if (ex)
                bb__export_spec__free_unpacked(ex, NULL);
            bb__batch_spec__free_unpacked(spec, NULL);
            bb_rpc_fail(call, ex ? BB_STATUS_INVALID_ARGUMENT : BB_STATUS_RESOURCE_EXHAUSTED, "%s",
                        ex ? msg : "out of memory");
            return;
        }
        if (*ex->out_dir)
            snprintf(out_dir, sizeof out_dir, "%s", ex->out_dir);
        if (spec->export)
            bb__export_spec__free_unpacked(spec->export, NULL);
        spec->export = ex;
    }
    /* under the library root, and nothing foreign in the way (as at submit) */
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s", out_dir);
    int status = coord_out_dir(self, want, spec, out_dir, sizeof out_dir, msg, sizeof msg);
    if (status != BB_STATUS_OK) {
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_rpc_fail(call, status, "%s", msg);
        return;
    }
    int rc;
    size_t len = bb__batch_spec__get_packed_size(spec);
    uint8_t *packed = malloc(len ? len : 1);
    rc = packed ? coord_store_begin(self->store) : BB_ENOMEM;
    if (!rc) {
        bb__batch_spec__pack(spec, packed);
        rc = coord_store_batch_set_spec(self->store, req->batch_id, packed, len);
    }
    if (!rc)
        rc = coord_store_batch_set_out_dir(self->store, req->batch_id, out_dir);
    uint32_t count = 0;
    for (size_t i = 0; !rc && i < spec->n_instruments; i++) {
        coord_inst_row_t inst;
        if (coord_store_inst_get(self->store, req->batch_id, (int)i, &inst) ||
            (inst.state != BB__INSTRUMENT_STATE__INST_DONE &&
             inst.state != BB__INSTRUMENT_STATE__INST_FAILED))
            continue;
        int done = 0;
        coord_store_job_count(self->store, req->batch_id, (int)i, JOB_DONE, &done);
        if (done == 0)
            continue;
        rc = coord_store_inst_set_state(self->store, req->batch_id, (int)i,
                                        BB__INSTRUMENT_STATE__INST_EXPORTING, "exporting again");
        count++;
    }
    if (!rc && count)
        rc = coord_store_batch_set_state(self->store, req->batch_id, BB__BATCH_STATE__BATCH_RUNNING,
                                         "");
    if (!rc)
        rc = coord_store_commit(self->store);
    free(packed);
    if (rc) {
        coord_store_rollback(self->store);
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot export batch %llu again: %s",
                    (unsigned long long)req->batch_id, coord_store_errmsg(self->store));
        return;
    }
    char plan_path[PATH_MAX + 64];
    snprintf(plan_path, sizeof plan_path, "%s/b%llu/plan.json", self->takes_dir,
             (unsigned long long)req->batch_id);
    if (dsp_plan_write_json(spec, plan_path))
        bb_warn("cannot rewrite %s", plan_path);
    coord_spec_forget(self, req->batch_id); /* the new settings from the store */
    for (size_t i = 0; i < spec->n_instruments; i++) {
        coord_inst_row_t inst;
        if (coord_store_inst_get(self->store, req->batch_id, (int)i, &inst) == 0 &&
            inst.state == BB__INSTRUMENT_STATE__INST_EXPORTING)
            coord_worker_export(self->worker, req->batch_id, (int)i);
    }
    Bb__ExportAgainReply reply = BB__EXPORT_AGAIN_REPLY__INIT;
    reply.instruments = count;
    reply.library = out_dir;
    closure(&reply, call);
    coord_event(self, req->batch_id, BB__EVENT_KIND__EV_BATCH_STATE, NULL, NULL, NULL,
                "batch %llu: exporting %u instrument(s) again into %s",
                (unsigned long long)req->batch_id, count, out_dir);
    bb__batch_spec__free_unpacked(spec, NULL);
    self->schedule_soon = true;
}

/* ---- delete ---- */

/* Removes a file Batcherbird wrote; counts it. Missing is fine. */
static void s_unlink(const char *path, uint32_t *removed)
{
    if (unlink(path) == 0)
        (*removed)++;
    else if (errno != ENOENT)
        bb_warn("cannot remove %s: %s", path, strerror(errno));
}

/* Removes a folder when it is empty; otherwise names it in kept. */
static void s_rmdir(const char *dir, char ***kept, size_t *n_kept)
{
    if (rmdir(dir) == 0 || errno == ENOENT)
        return;
    char **grown = realloc(*kept, (*n_kept + 1) * sizeof *grown);
    if (!grown)
        return;
    *kept = grown;
    (*kept)[*n_kept] = strdup(dir);
    if ((*kept)[*n_kept])
        (*n_kept)++;
}

/* The library files of one instrument folder (its name under root), as the manifest
 * lists them, then its record and the folders. */
static void s_delete_instrument(const char *root, const char *folder,
                                const dsp_library_file_t *files, size_t n, uint32_t *removed,
                                char ***kept, size_t *n_kept)
{
    size_t flen = strlen(folder);
    char path[PATH_MAX * 2];
    for (size_t i = 0; i < n; i++) {
        if (strncmp(files[i].path, folder, flen) != 0 || files[i].path[flen] != '/')
            continue;
        snprintf(path, sizeof path, "%s/%s", root, files[i].path);
        int r = dsp_library_remove_unchanged(root, &files[i]);
        if (r > 0) {
            (*removed)++;
        } else if (r < 0) { /* changed since it was written: the user's now, kept */
            char **grown = realloc(*kept, (*n_kept + 1) * sizeof *grown);
            if (grown && (*kept = grown, (grown[*n_kept] = strdup(path)) != NULL))
                (*n_kept)++;
        }
    }
    snprintf(path, sizeof path, "%s/%s/.batcherbird-instrument.json", root, folder);
    s_unlink(path, removed);
    snprintf(path, sizeof path, "%s/%s/samples", root, folder);
    s_rmdir(path, kept, n_kept);
    snprintf(path, sizeof path, "%s/%s", root, folder);
    s_rmdir(path, kept, n_kept);
}

/* The files this coordinator wrote under root (its database, never what a manifest on disk
 * claims), as export_library's type. *files is malloc'd. */
static int s_written(coord_t *self, const char *root, dsp_library_file_t **files, size_t *n)
{
    coord_lib_file_t *rows = NULL;
    *files = NULL;
    *n = 0;
    int rc = coord_store_library_files(self->store, root, &rows, n);
    if (!rc && !(*files = calloc(*n ? *n : 1, sizeof **files)))
        rc = BB_ENOMEM;
    for (size_t i = 0; !rc && i < *n; i++) {
        snprintf((*files)[i].path, sizeof(*files)[i].path, "%s", rows[i].path);
        (*files)[i].size = rows[i].size;
        (*files)[i].crc32 = rows[i].crc32;
    }
    free(rows);
    return rc;
}

/* True when root still holds an instrument this coordinator exported (another batch's). */
static bool s_other_instruments(coord_t *self, const char *root)
{
    dsp_library_file_t *files = NULL;
    size_t n = 0;
    bool any = false;
    if (s_written(self, root, &files, &n) == 0)
        for (size_t i = 0; i < n && !any; i++)
            any = strchr(files[i].path, '/') != NULL;
    free(files);
    return any;
}

typedef struct {
    coord_t *self;
    const char *root;
} s_member_t;

static bool s_member(void *arg, const char *folder)
{
    s_member_t *m = arg;
    bool has = false;
    return coord_store_library_has_folder(m->self->store, m->root, folder, &has) == 0 && has;
}

/* Records the rebuilt manifest and report of root as written. */
static void s_record_root_files(coord_t *self, const char *root)
{
    coord_lib_file_t top[2];
    const char *names[] = {DSP_EXPORT_MANIFEST, DSP_EXPORT_REPORT};
    char err[256];
    for (int k = 0; k < 2; k++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", root, names[k]);
        snprintf(top[k].path, sizeof top[k].path, "%s", names[k]);
        if (dsp_file_crc32(path, &top[k].crc32, &top[k].size, err, sizeof err))
            return;
    }
    coord_store_library_set(self->store, root, "", NULL, 0, top, 2);
}

void coord_delete_batch(coord_t *self, const Bb__DeleteBatchRequest *req,
                        Bb__DeleteBatchReply_Closure closure, void *call)
{
    coord_batch_row_t b;
    if (coord_store_batch_get(self->store, req->batch_id, &b)) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no batch %llu", (unsigned long long)req->batch_id);
        return;
    }
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s", b.out_dir);
    int state = b.state;
    coord_batch_row_free(&b);
    if (state == BB__BATCH_STATE__BATCH_RUNNING || state == BB__BATCH_STATE__BATCH_PAUSED) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "batch %llu is %s: cancel it first (batcherbird cancel %llu)",
                    (unsigned long long)req->batch_id,
                    state == BB__BATCH_STATE__BATCH_RUNNING ? "running" : "paused",
                    (unsigned long long)req->batch_id);
        return;
    }
    uint32_t removed = 0;
    char **kept = NULL;
    size_t n_kept = 0;

    /* raw takes: the files the database lists, with their sidecars, and the plan */
    char **paths = NULL;
    size_t n_paths = 0;
    if (coord_store_take_paths(self->store, req->batch_id, &paths, &n_paths)) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot list the takes: %s",
                    coord_store_errmsg(self->store));
        return;
    }
    for (size_t i = 0; i < n_paths; i++) {
        s_unlink(paths[i], &removed);
        char side[PATH_MAX + 8];
        snprintf(side, sizeof side, "%s", paths[i]);
        char *dot = strrchr(side, '.'), *slash = strrchr(side, '/');
        if (dot && (!slash || dot > slash)) {
            snprintf(dot, sizeof side - (size_t)(dot - side), ".json");
            s_unlink(side, &removed);
        }
        free(paths[i]);
    }
    free(paths);
    char dir[PATH_MAX + 64], plan[PATH_MAX + 80];
    snprintf(dir, sizeof dir, "%s/b%llu", self->takes_dir, (unsigned long long)req->batch_id);
    snprintf(plan, sizeof plan, "%s/plan.json", dir);
    s_unlink(plan, &removed);
    s_rmdir(dir, &kept, &n_kept);

    /* the library: each instrument's folder, then the library files if nothing is left */
    if (!req->keep_library && *root) {
        dsp_library_file_t *files = NULL;
        size_t n = 0;
        char err[256];
        if (s_written(self, root, &files, &n) == 0) {
            int n_inst = 0;
            coord_store_inst_count(self->store, req->batch_id, &n_inst);
            for (int i = 0; i < n_inst; i++) {
                coord_inst_row_t inst;
                uint64_t owner = 0;
                if (coord_store_inst_get(self->store, req->batch_id, i, &inst) != 0 ||
                    !*inst.library_path)
                    continue;
                /* a later batch that exported into the same folder owns it now: its files
                 * stay, and so does its record of them */
                if (coord_store_library_owner(self->store, root, inst.safe_name, &owner) == 0 &&
                    owner != req->batch_id) {
                    bb_info("batch %llu: %s/%s is batch %llu's export now: left to it",
                            (unsigned long long)req->batch_id, root, inst.safe_name,
                            (unsigned long long)owner);
                    continue;
                }
                s_delete_instrument(root, inst.safe_name, files, n, &removed, &kept, &n_kept);
                coord_store_library_set(self->store, root, inst.safe_name, NULL, 0, NULL, 0);
                coord_store_library_owner_set(self->store, root, inst.safe_name, 0);
            }
            bool ours_at_root = false;
            for (size_t i = 0; i < n; i++)
                ours_at_root |= strcmp(files[i].path, DSP_EXPORT_MANIFEST) == 0;
            free(files);
            s_member_t member = {.self = self, .root = root};
            if (s_other_instruments(self, root)) {
                if (dsp_export_library_rebuild(root, s_member, &member, err, sizeof err))
                    bb_warn("library %s: %s", root, err);
                else
                    s_record_root_files(self, root);
            } else if (ours_at_root) {
                char p[PATH_MAX + 32];
                snprintf(p, sizeof p, "%s/%s", root, DSP_EXPORT_MANIFEST);
                s_unlink(p, &removed);
                snprintf(p, sizeof p, "%s/%s", root, DSP_EXPORT_REPORT);
                s_unlink(p, &removed);
                snprintf(p, sizeof p, "%s/%s", root, DSP_EXPORT_LIBRARY_RECORD);
                s_unlink(p, &removed);
                coord_store_library_set(self->store, root, "", NULL, 0, NULL, 0);
                s_rmdir(root, &kept, &n_kept);
            }
        }
    }

    int rc = coord_store_begin(self->store);
    if (!rc)
        rc = coord_store_batch_delete(self->store, req->batch_id);
    if (!rc)
        rc = coord_store_commit(self->store);
    if (rc) {
        coord_store_rollback(self->store);
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot delete batch %llu: %s",
                    (unsigned long long)req->batch_id, coord_store_errmsg(self->store));
    } else {
        coord_spec_forget(self, req->batch_id);
        s_forget_setup(self, req->batch_id, -100000);
        Bb__DeleteBatchReply reply = BB__DELETE_BATCH_REPLY__INIT;
        reply.files_removed = removed;
        reply.kept = kept;
        reply.n_kept = n_kept;
        closure(&reply, call);
        bb_info("batch %llu deleted: %u file(s) removed%s", (unsigned long long)req->batch_id,
                removed, n_kept ? ", some folders kept (they hold files of others)" : "");
    }
    for (size_t i = 0; i < n_kept; i++)
        free(kept[i]);
    free(kept);
}
