/*
 * service_operator.c — bb.Operator, served to the CLI: nodes, batch submission (the plan
 * checked and normalised by dsp_plan_validate, then stored with every planned take in one
 * transaction), status, pause/resume/cancel.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_log.h"
#include "bb_pb.h"
#include "bb_notes.h"
#include "coord.h"
#include "export.h"
#include "export_library.h"
#include "pipeline.h"
#include "plan_check.h"
#include "plan_fields.h"
#include "service_export.h"
#include "service_admin.h"
#include "service_housekeeping.h"

#define COORD_MAX_LIST 50

static coord_t *s_coord(Bb__Operator_Service *service)
{
    return ((coord_operator_svc_t *)service)->coord;
}

static int64_t s_now_ms(void)
{
    return bb_mono_ns() / BB_NS_PER_MS;
}

/* ---- nodes ---- */

static void s_list_nodes(Bb__Operator_Service *service, const Bb__ListNodesRequest *req,
                         Bb__ListNodesReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    size_t n = coord_registry_size(self->registry);
    Bb__NodeInfo *infos = calloc(n ? n : 1, sizeof *infos);
    Bb__NodeInfo **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    char(*paused)[64] = calloc(n ? n : 1, sizeof *paused);
    if (!infos || !ptrs || !paused) {
        free(infos);
        free(ptrs);
        free(paused);
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    int64_t now = s_now_ms();
    size_t listed = 0;
    for (size_t i = 0; i < n; i++) {
        coord_node_t *node = coord_registry_at(self->registry, i);
        /* a revoked node is gone from the list once it is offline (its calls are refused
         * from the revocation on, so its heartbeats stop counting; until it is seen as
         * offline it shows, and says so) */
        bool revoked = !coord_node_trusted(self, node->name);
        if (revoked && !node->online)
            continue;
        Bb__NodeInfo *info = &infos[i];
        *info = (Bb__NodeInfo)BB__NODE_INFO__INIT;
        info->name = node->name;
        info->online = node->online;
        info->last_seen_age_s = node->last_seen_ms ? (now - node->last_seen_ms) / 1000.0 : -1;
        info->caps = node->caps;
        info->sample_rate = node->sample_rate;
        info->channels = node->channels;
        info->state = node->state;
        info->message = node->message;
        info->spooled = node->spooled;
        info->xruns = node->xruns;
        info->latency_offset_ms = node->latency_offset_ms;
        info->take_overhead_ms = node->take_overhead_ms;
        info->take_overhead_samples = node->take_overhead_samples;
        /* idle because its batch is paused: says so */
        uint64_t batch = 0;
        if (node->online && node->state == BB__NODE_STATE__NODE_IDLE &&
            coord_store_node_paused_batch(self->store, node->name, &batch) == 0) {
            info->state = BB__NODE_STATE__NODE_PAUSED;
            if (!*node->message) {
                snprintf(paused[i], sizeof paused[i], "batch %llu paused",
                         (unsigned long long)batch);
                info->message = paused[i];
            }
        }
        if (revoked)
            info->message = "certificate revoked: its calls are refused";
        ptrs[listed++] = info;
    }
    Bb__ListNodesReply reply = BB__LIST_NODES_REPLY__INIT;
    reply.n_nodes = listed;
    reply.nodes = ptrs;
    closure(&reply, call);
    free(infos);
    free(ptrs);
    free(paused);
}

/* ---- submit ---- */

/* dsp_plan_validate's node question, answered from the registry: the message lists the
 * nodes there are. */
static int s_node_known(void *arg, const char *name, char *msg, size_t len)
{
    coord_t *self = arg;
    if (coord_registry_find(self->registry, name) && !coord_node_trusted(self, name)) {
        snprintf(msg, len,
                 "node '%s': its certificate was revoked (batcherbird keys revoke); give it a "
                 "new one (keys new --role node --name %s) or plan another node",
                 name, name);
        return BB_ENOTFOUND;
    }
    if (coord_registry_find(self->registry, name))
        return 0;
    int n = snprintf(msg, len, "no node named '%s' (known nodes:", name);
    size_t count = coord_registry_size(self->registry);
    for (size_t k = 0; k < count && n > 0 && (size_t)n < len; k++) {
        coord_node_t *node = coord_registry_at(self->registry, k);
        if (!node->online && !coord_node_trusted(self, node->name))
            continue; /* revoked */
        n += snprintf(msg + n, len - (size_t)n, " %s%s%s", node->name,
                      node->online ? "" : " (offline)", k + 1 < count ? "," : "");
    }
    if (n > 0 && (size_t)n < len)
        snprintf(msg + n, len - (size_t)n, "%s)", count ? "" : " none");
    return BB_ENOTFOUND;
}

static int s_plan_status(int rc)
{
    switch (rc) {
    case 0:
        return BB_STATUS_OK;
    case BB_ENOTFOUND:
        return BB_STATUS_NOT_FOUND;
    case BB_ENOMEM:
        return BB_STATUS_RESOURCE_EXHAUSTED;
    default:
        return BB_STATUS_INVALID_ARGUMENT;
    }
}

/* Whether `dir` (a real path) is the library root or inside it. */
static bool s_under_library(coord_t *self, const char *dir)
{
    size_t n = strlen(self->library_dir);
    return strncmp(dir, self->library_dir, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/* The folder a batch's library goes to: `want` (relative to the library root, or absolute
 * and under it), made if missing, and able to take the export without touching anything
 * Batcherbird did not write (dsp_library_check_out, which also writes a probe file). The
 * deepest part of the path that exists is resolved (symbolic links followed) and must lie
 * under the root before anything is made. BB_STATUS_OK with its real path in out. */
int coord_out_dir(coord_t *self, const char *want, const Bb__BatchSpec *spec, char *out,
                  size_t outlen, char *msg, size_t len)
{
    char path[PATH_MAX];
    int prc = want[0] == '/' ? bb_path_fmt(path, sizeof path, "%s", want)
                             : bb_path_fmt(path, sizeof path, "%s/%s", self->library_dir, want);
    if (prc) {
        snprintf(msg, len, "--out %.200s...: too long a path", want);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    for (const char *c = path; *c;) { /* no "." or ".." component */
        while (*c == '/')
            c++;
        size_t k = strcspn(c, "/");
        if ((k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.')) {
            snprintf(msg, len, "--out %.200s: '.' and '..' are not allowed in the path", want);
            return BB_STATUS_INVALID_ARGUMENT;
        }
        c += k;
    }
    char probe[PATH_MAX], real[PATH_MAX];
    snprintf(probe, sizeof probe, "%s", path);
    while (!realpath(probe, real)) {
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe) {
            snprintf(real, sizeof real, "/");
            break;
        }
        *slash = '\0';
    }
    if (!s_under_library(self, real)) {
        snprintf(msg, len,
                 "--out %.120s is outside the coordinator's library folder %.200s: give a "
                 "folder under it (a relative --out is taken inside it), or start the "
                 "coordinator with --library",
                 want, self->library_dir);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    struct stat pst;
    if (spec->dry_run && stat(path, &pst) != 0) {
        /* a check makes nothing: the folder would be made in its deepest existing one */
        if (access(real, W_OK | X_OK) != 0) {
            snprintf(msg, len, "cannot create the output folder %.300s: %.200s is not writable",
                     path, real);
            return BB_STATUS_FAILED_PRECONDITION;
        }
        snprintf(out, outlen, "%s", path);
        return BB_STATUS_OK;
    }
    int rc = bb_mkdir_p(path);
    if (rc) {
        snprintf(msg, len, "cannot create the output folder %.300s: %s", path, bb_strerror(rc));
        return bb_status_from_err(rc) == BB_STATUS_RESOURCE_EXHAUSTED
                   ? BB_STATUS_RESOURCE_EXHAUSTED
                   : BB_STATUS_FAILED_PRECONDITION;
    }
    if (!realpath(path, real) || !s_under_library(self, real)) {
        snprintf(msg, len, "--out %.120s leads outside the coordinator's library folder %.200s",
                 want, self->library_dir);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    const char **folders = calloc(spec->n_instruments ? spec->n_instruments : 1, sizeof *folders);
    char(*safe)[BB_SAFE_NAME_MAX + 8] =
        calloc(spec->n_instruments ? spec->n_instruments : 1, sizeof *safe);
    if (!folders || !safe) {
        free(folders);
        free(safe);
        snprintf(msg, len, "out of memory");
        return BB_STATUS_RESOURCE_EXHAUSTED;
    }
    for (size_t i = 0; i < spec->n_instruments; i++) {
        bb_safe_name(spec->instruments[i]->name, safe[i], sizeof safe[i]);
        folders[i] = safe[i];
    }
    rc = spec->no_export
             ? 0
             : dsp_library_check_out(real, folders, spec->n_instruments, !spec->dry_run, msg, len);
    if (!rc && spec->dry_run && access(real, W_OK | X_OK) != 0) {
        rc = bb_err_from_errno(errno);
        snprintf(msg, len, "cannot write into the library folder %.300s: %s", real,
                 bb_strerror(rc));
    }
    free(folders);
    free(safe);
    if (rc)
        return rc == BB_ENOSPACE ? BB_STATUS_RESOURCE_EXHAUSTED : BB_STATUS_FAILED_PRECONDITION;
    snprintf(out, outlen, "%s", real);
    return BB_STATUS_OK;
}

/* Free bytes of the file system that holds path (or its deepest existing folder); its
 * device in *dev. 0 and no device when nothing of it can be read. */
static uint64_t s_free_bytes(const char *path, dev_t *dev)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    struct statvfs v;
    struct stat st;
    while (stat(p, &st) != 0 || statvfs(p, &v) != 0) {
        char *slash = strrchr(p, '/');
        if (!slash || slash == p)
            return *dev = 0, 0;
        *slash = '\0';
    }
    *dev = st.st_dev;
    return (uint64_t)v.f_bavail * v.f_frsize;
}

static void s_gb(uint64_t bytes, char *out, size_t len)
{
    if (bytes >= 1000000000ull)
        snprintf(out, len, "%.1f GB", bytes / 1e9);
    else
        snprintf(out, len, "%.1f MB", bytes / 1e6);
}

/* Checks the plan's estimated raw takes and library (the client's figures, spec) against
 * the free space of the coordinator's takes folder and of library_dir. The free figures in
 * *takes_free and *lib_free. RESOURCE_EXHAUSTED with a message when they do not fit. */
static int s_check_space(coord_t *self, const Bb__BatchSpec *spec, const char *library_dir,
                         uint64_t *takes_free, uint64_t *lib_free, char *msg, size_t len)
{
    dev_t td, ld;
    *takes_free = s_free_bytes(self->takes_dir, &td);
    *lib_free = s_free_bytes(library_dir, &ld);
    uint64_t takes = spec->takes_bytes, lib = spec->no_export ? 0 : spec->library_bytes;
    char need[32], have[32], t[32], l[32];
    if (td && td == ld) {
        if (takes + lib <= *takes_free)
            return BB_STATUS_OK;
        s_gb(takes + lib, need, sizeof need);
        s_gb(*takes_free, have, sizeof have);
        s_gb(takes, t, sizeof t);
        s_gb(lib, l, sizeof l);
        snprintf(msg, len,
                 "not enough disk space: the plan needs about %s (raw takes %s, library %s) and "
                 "the coordinator's disk (%.200s) has %s free. Free some space, or plan fewer "
                 "takes",
                 need, t, l, library_dir, have);
        return BB_STATUS_RESOURCE_EXHAUSTED;
    }
    const char *where = NULL;
    uint64_t want = 0, free_b = 0;
    if (td && takes > *takes_free)
        where = self->takes_dir, want = takes, free_b = *takes_free;
    else if (ld && lib > *lib_free)
        where = library_dir, want = lib, free_b = *lib_free;
    if (!where)
        return BB_STATUS_OK;
    s_gb(want, need, sizeof need);
    s_gb(free_b, have, sizeof have);
    snprintf(msg, len,
             "not enough disk space: the plan's %s needs about %s and %.200s has %s free. Free "
             "some space, or plan fewer takes",
             where == library_dir ? "library" : "raw takes", need, where, have);
    return BB_STATUS_RESOURCE_EXHAUSTED;
}

/* A new batch does not replace another batch's export unasked: an instrument folder of
 * out_dir that holds one (its record; the batch from the database when this coordinator
 * wrote it) is FAILED_PRECONDITION naming it, unless the plan says replace. */
static int s_check_replace(coord_t *self, const Bb__BatchSpec *spec, const char *out_dir, char *msg,
                           size_t len)
{
    if (spec->replace || spec->no_export || !*out_dir)
        return BB_STATUS_OK;
    for (size_t i = 0; i < spec->n_instruments; i++) {
        char safe[BB_SAFE_NAME_MAX + 8], dir[PATH_MAX];
        bb_safe_name(spec->instruments[i]->name, safe, sizeof safe);
        if (bb_path_fmt(dir, sizeof dir, "%s/%s", out_dir, safe) || !bb_exists(dir))
            continue; /* a new folder (a path too long was refused before) */
        uint64_t owner = 0;
        char whose[96];
        if (coord_store_library_owner(self->store, out_dir, safe, &owner) == 0)
            snprintf(whose, sizeof whose, "batch %llu's export of %s", (unsigned long long)owner,
                     spec->instruments[i]->name);
        else
            snprintf(whose, sizeof whose,
                     "an earlier export of %s (by no batch this coordinator knows)",
                     spec->instruments[i]->name);
        int w = snprintf(msg, len,
                         "%.300s holds %s: a new batch does not replace it unasked. Add --replace "
                         "to the submit to replace it (files you added in the folder stay), or "
                         "choose another --out",
                         dir, whose);
        if (w < 0)
            snprintf(msg, len, "%.300s holds an earlier export: add --replace", dir);
        return BB_STATUS_FAILED_PRECONDITION;
    }
    return BB_STATUS_OK;
}

static void s_submit_batch(Bb__Operator_Service *service, const Bb__BatchSpec *in,
                           Bb__SubmitBatchReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    char msg[BB_RPC_MESSAGE_MAX];
    /* Work on a copy: defaults get filled in and the normalised plan is what is stored. */
    Bb__BatchSpec *spec = BB_PB_COPY(Bb__BatchSpec, in);
    if (!spec) {
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    /* a submit sent again (its reply was lost): the batch it made */
    uint64_t existing = 0;
    if (*spec->request_id &&
        coord_store_request_find(self->store, spec->request_id, &existing) == 0) {
        int64_t done = 0, planned = 0;
        if (!coord_planning(self, existing, -1, &done, &planned)) {
            int n_inst = 0;
            coord_store_inst_count(self->store, existing, &n_inst);
            for (int i = 0; i < n_inst; i++) {
                int n = 0;
                coord_store_job_count(self->store, existing, i, -1, &n);
                planned += n;
            }
        }
        Bb__SubmitBatchReply reply = BB__SUBMIT_BATCH_REPLY__INIT;
        reply.batch_id = existing;
        reply.total_takes = (uint32_t)planned;
        reply.existing = true;
        closure(&reply, call);
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_info("submit %s came again: batch %llu, which it made", in->request_id,
                (unsigned long long)existing);
        return;
    }
    uint64_t total = 0;
    int status =
        s_plan_status(dsp_plan_validate(&total, spec, s_node_known, self, msg, sizeof msg));
    /* inputs the node does not record (when it has told its channels) */
    for (size_t i = 0; status == BB_STATUS_OK && i < spec->n_instruments; i++) {
        const Bb__InstrumentSpec *in = spec->instruments[i];
        coord_node_t *node = coord_registry_find(self->registry, in->node);
        for (size_t k = 0; node && node->channels && k < in->n_inputs; k++) {
            if (in->inputs[k] > node->channels) {
                snprintf(msg, sizeof msg,
                         "instrument %s: input %u: node %s records %u channel(s), 1 to %u",
                         in->name, in->inputs[k], in->node, node->channels, node->channels);
                status = BB_STATUS_INVALID_ARGUMENT;
                break;
            }
        }
    }
    char out_dir[PATH_MAX] = "";
    if (status == BB_STATUS_OK && *spec->export->out_dir)
        status = coord_out_dir(self, spec->export->out_dir, spec, out_dir, sizeof out_dir, msg,
                               sizeof msg);
    if (status == BB_STATUS_OK)
        status = s_check_replace(self, spec, out_dir, msg, sizeof msg);
    uint64_t takes_free = 0, lib_free = 0;
    if (status == BB_STATUS_OK)
        status = s_check_space(self, spec, *out_dir ? out_dir : self->library_dir, &takes_free,
                               &lib_free, msg, sizeof msg);
    if (status != BB_STATUS_OK) {
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_rpc_fail(call, status, "%s", msg);
        return;
    }
    if (spec->dry_run) { /* every check passed; nothing is made */
        Bb__SubmitBatchReply reply = BB__SUBMIT_BATCH_REPLY__INIT;
        reply.total_takes = (uint32_t)total;
        reply.takes_free_bytes = takes_free;
        reply.library_free_bytes = lib_free;
        reply.out_dir = out_dir;
        closure(&reply, call);
        bb__batch_spec__free_unpacked(spec, NULL);
        return;
    }
    spec->takes_bytes = spec->library_bytes = 0; /* the client's figures are not the plan's */

    /* One transaction: the batch, its instruments, every planned take. */
    size_t plen = bb__batch_spec__get_packed_size(spec);
    uint8_t *packed = malloc(plen ? plen : 1);
    uint64_t id = 0;
    int rc = packed ? coord_store_begin(self->store) : BB_ENOMEM;
    if (!rc) {
        bb__batch_spec__pack(spec, packed);
        rc = coord_store_batch_insert(self->store, spec->name, packed, plen, out_dir, &id);
    }
    if (!rc && !*out_dir) {
        char bsafe[BB_SAFE_NAME_MAX + 8];
        bb_safe_name(spec->name, bsafe, sizeof bsafe);
        rc = bb_path_fmt(out_dir, sizeof out_dir, "%s/b%llu-%s", self->library_dir,
                         (unsigned long long)id, bsafe);
        if (!rc)
            rc = coord_store_batch_set_out_dir(self->store, id, out_dir);
    }
    for (size_t i = 0; !rc && i < spec->n_instruments; i++) {
        Bb__InstrumentSpec *inst = spec->instruments[i];
        char safe[BB_SAFE_NAME_MAX + 8];
        bb_safe_name(inst->name, safe, sizeof safe);
        rc = coord_store_inst_insert(self->store, id, (int)i, inst->name, safe, inst->node);
        uint32_t notes[128];
        size_t n_notes = dsp_plan_notes(inst, notes);
        if (inst->level_check && n_notes) { /* gain staging: seq -3..-1 run first, never exported */
            uint32_t loud = 0;
            for (size_t v = 0; v < inst->n_velocities; v++)
                loud = inst->velocities[v] > loud ? inst->velocities[v] : loud;
            uint32_t picks[3] = {notes[0], notes[n_notes / 2], notes[n_notes - 1]};
            for (int k = 0; k < 3 && !rc; k++)
                if (k == 0 || picks[k] != picks[k - 1])
                    rc = coord_store_job_insert(self->store, id, (int)i, k - 3, (int)picks[k],
                                                (int)loud, 1, false);
        }
    }
    /* the planned takes themselves are written in steps (planner.c) */
    if (!rc)
        rc = coord_plan_start(self, id, (int64_t)total);
    if (!rc && *spec->request_id)
        rc = coord_store_request_insert(self->store, spec->request_id, id);
    if (!rc)
        rc = coord_store_commit(self->store);
    free(packed);
    if (rc) {
        coord_store_rollback(self->store);
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot store the batch: %s",
                    coord_store_errmsg(self->store));
        return;
    }
    coord_plan_load(self);
    if (*out_dir && !spec->no_export) /* a measurement (calibrate) writes no library */
        bb_mkdir_p(out_dir);
    /* the plan beside the raw takes: `batcherbird process` re-cuts them with it */
    char plan_dir[sizeof self->takes_dir + 32], plan_path[sizeof plan_dir + 16];
    snprintf(plan_dir, sizeof plan_dir, "%s/b%llu", self->takes_dir, (unsigned long long)id);
    snprintf(plan_path, sizeof plan_path, "%s/plan.json", plan_dir);
    if (bb_mkdir_p(plan_dir) || dsp_plan_write_json(spec, plan_path))
        bb_warn("cannot write %s; the batch goes on", plan_path);
    Bb__SubmitBatchReply reply = BB__SUBMIT_BATCH_REPLY__INIT;
    reply.batch_id = id;
    reply.total_takes = (uint32_t)total;
    closure(&reply, call);
    coord_event(self, id, BB__EVENT_KIND__EV_BATCH_SUBMITTED, NULL, NULL, NULL,
                "batch %llu '%s' submitted: %zu instrument(s), %llu takes, %s%s",
                (unsigned long long)id, spec->name, spec->n_instruments, (unsigned long long)total,
                spec->no_export ? "no library (a measurement)" : "library in ",
                spec->no_export ? "" : out_dir);
    bb__batch_spec__free_unpacked(spec, NULL);
    self->schedule_soon = true;
}

/* ---- status ---- */

static char *s_dup(const char *s)
{
    return strdup(s ? s : "");
}

void coord_batch_status_free(Bb__BatchStatus *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_instruments; i++) {
        Bb__InstrumentStatus *is = st->instruments[i];
        free(is->name);
        free(is->node);
        free(is->message);
        free(is->current);
        free(is->library_path);
        free(is);
    }
    free(st->instruments);
    free(st->name);
    free(st->out_dir);
    free(st->message);
    free(st);
}

/* "12 min", "3 h 5 min", "40 s" */
static void s_span(double s, char *out, size_t len)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t < 60)
        snprintf(out, len, "%ld s", t);
    else if (t < 3600)
        snprintf(out, len, "%ld min", t / 60);
    else
        snprintf(out, len, "%ld h %ld min", t / 3600, (t / 60) % 60);
}

/* An instrument waiting for its node says for how long the node has been away (the
 * stored message was written when it went). */
static bool s_waiting(coord_t *self, const coord_inst_row_t *row, char *out, size_t len)
{
    bool active = row->state == BB__INSTRUMENT_STATE__INST_PAUSED ||
                  row->state == BB__INSTRUMENT_STATE__INST_PENDING ||
                  row->state == BB__INSTRUMENT_STATE__INST_RECORDING;
    if (!active || strncmp(row->message, "waiting for node", 16) != 0)
        return false;
    coord_node_t *node = coord_registry_find(self->registry, row->node);
    if (node && node->online)
        return false;
    double away = -1, last = 0;
    if (node && node->last_seen_ms > 0)
        away = (bb_mono_ns() / BB_NS_PER_MS - node->last_seen_ms) / 1000.0;
    else if (coord_store_node_last_seen(self->store, row->node, &last) == 0 && last > 0)
        away = bb_unix_s() - last;
    char span[32];
    if (away < 0) {
        snprintf(out, len, "waiting for node %s (not connected yet)", row->node);
    } else {
        s_span(away, span, sizeof span);
        snprintf(out, len, "waiting for node %s (offline %s)", row->node, span);
    }
    return true;
}

int coord_batch_status(coord_t *self, uint64_t batch_id, Bb__BatchStatus **out)
{
    coord_batch_row_t b;
    int rc = coord_store_batch_get(self->store, batch_id, &b);
    if (rc)
        return rc;
    const Bb__BatchSpec *spec = coord_spec(self, batch_id);
    Bb__BatchStatus *st = calloc(1, sizeof *st);
    int n_inst = 0;
    coord_store_inst_count(self->store, batch_id, &n_inst);
    if (st) {
        *st = (Bb__BatchStatus)BB__BATCH_STATUS__INIT;
        st->instruments = calloc((size_t)(n_inst ? n_inst : 1), sizeof *st->instruments);
    }
    if (!st || !st->instruments) {
        free(st);
        coord_batch_row_free(&b);
        return BB_ENOMEM;
    }
    double now = bb_unix_s();
    st->id = b.id;
    st->name = s_dup(b.name);
    st->state = b.state;
    st->out_dir = s_dup(b.out_dir);
    st->created_unix = b.created;
    st->elapsed_s = (b.finished > 0 ? b.finished : now) - b.created;
    int64_t planned = 0, plan_total = 0;
    if (coord_planning(self, batch_id, -1, &planned, &plan_total)) {
        char text[160];
        snprintf(text, sizeof text, "planning: %lld of %lld takes written", (long long)planned,
                 (long long)plan_total);
        st->message = s_dup(text);
    } else {
        st->message = s_dup(b.message);
    }
    for (int i = 0; i < n_inst; i++) {
        coord_inst_row_t row;
        if (coord_store_inst_get(self->store, batch_id, i, &row))
            continue;
        Bb__InstrumentStatus *is = calloc(1, sizeof *is);
        if (!is)
            break;
        *is = (Bb__InstrumentStatus)BB__INSTRUMENT_STATUS__INIT;
        int total = 0, done = 0, failed = 0, retakes = 0;
        coord_store_job_count(self->store, batch_id, i, -1, &total);
        coord_store_job_count(self->store, batch_id, i, JOB_DONE, &done);
        coord_store_job_count(self->store, batch_id, i, JOB_FAILED, &failed);
        coord_store_retakes(self->store, batch_id, i, &retakes);
        is->name = s_dup(row.name);
        is->node = s_dup(row.node);
        is->state = row.state;
        char waiting[300];
        is->message = s_dup(s_waiting(self, &row, waiting, sizeof waiting) ? waiting : row.message);
        is->library_path = s_dup(row.library_path);
        is->done = (uint32_t)done;
        is->total = (uint32_t)total;
        is->failed = (uint32_t)failed;
        is->retakes = (uint32_t)retakes;
        is->files = (uint32_t)row.files;
        coord_job_row_t cur;
        char cur_text[64] = "";
        if (coord_store_job_current(self->store, batch_id, i, &cur) == 0) {
            char name[BB_NOTE_NAME_MAX];
            bb_note_name(cur.note, BB_NOTES_C3_IS_60, name, sizeof name);
            snprintf(cur_text, sizeof cur_text, "%s v%d rr%d%s", name, cur.velocity, cur.rr,
                     cur.release ? " release" : "");
        }
        is->current = s_dup(cur_text);
        double end = row.finished > 0 ? row.finished : now;
        is->elapsed_s = row.started > 0 ? end - row.started : 0;
        int finished = done + failed;
        int remaining = total - finished;
        if (row.state == BB__INSTRUMENT_STATE__INST_DONE || remaining == 0) {
            is->eta_s = 0;
        } else if (finished > 0 && is->elapsed_s > 0) {
            is->eta_s = is->elapsed_s / finished * remaining;
        } else if (spec && (size_t)i < spec->n_instruments) {
            const Bb__InstrumentSpec *in = spec->instruments[i];
            is->eta_s = remaining * (in->preroll_ms + in->hold_ms + in->release_ms) / 1000.0;
        } else {
            is->eta_s = -1;
        }
        st->instruments[st->n_instruments++] = is;
    }
    coord_batch_row_free(&b);
    *out = st;
    return 0;
}

static void s_get_batch(Bb__Operator_Service *service, const Bb__BatchRequest *req,
                        Bb__BatchStatus_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    Bb__BatchStatus *st = NULL;
    int rc = coord_batch_status(self, req->batch_id, &st);
    if (rc == BB_ENOTFOUND) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no batch %llu", (unsigned long long)req->batch_id);
        return;
    }
    if (rc) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot read batch %llu: %s",
                    (unsigned long long)req->batch_id, bb_strerror(rc));
        return;
    }
    closure(st, call);
    coord_batch_status_free(st);
}

static void s_list_batches(Bb__Operator_Service *service, const Bb__ListBatchesRequest *req,
                           Bb__ListBatchesReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    uint64_t *ids = NULL;
    size_t n = 0;
    if (coord_store_batch_ids(self->store, false, &ids, &n)) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot list batches");
        return;
    }
    if (n > COORD_MAX_LIST)
        n = COORD_MAX_LIST;
    Bb__BatchStatus **list = calloc(n ? n : 1, sizeof *list);
    size_t m = 0;
    for (size_t i = 0; list && i < n; i++)
        if (coord_batch_status(self, ids[i], &list[m]) == 0)
            m++;
    Bb__ListBatchesReply reply = BB__LIST_BATCHES_REPLY__INIT;
    reply.batches = list;
    reply.n_batches = m;
    closure(&reply, call);
    for (size_t i = 0; i < m; i++)
        coord_batch_status_free(list[i]);
    free(list);
    free(ids);
}

/* ---- control ---- */

static const char *s_state_word(int state)
{
    switch (state) {
    case BB__BATCH_STATE__BATCH_RUNNING:
        return "running";
    case BB__BATCH_STATE__BATCH_PAUSED:
        return "paused";
    case BB__BATCH_STATE__BATCH_DONE:
        return "done";
    case BB__BATCH_STATE__BATCH_CANCELLED:
        return "cancelled";
    default:
        return "failed";
    }
}

static void s_abort_done(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    if (status != BB_STATUS_OK)
        bb_debug("abort on a node: %s: %s", bb_status_name(status), message);
}

/* The node's answer to a pause: the queued takes it dropped go back to pending, so that
 * a resume dispatches them again. */
static void s_on_withdrawn(void *arg, int status, const char *message,
                           const ProtobufCMessage *reply)
{
    coord_t *self = arg;
    if (status != BB_STATUS_OK) {
        bb_debug("withdrawing queued takes on a node: %s: %s", bb_status_name(status), message);
        return;
    }
    const Bb__AbortReply *r = (const Bb__AbortReply *)reply;
    for (size_t i = 0; i < r->n_withdrawn; i++) {
        coord_job_row_t job;
        if (coord_store_job_find_by_take(self->store, r->withdrawn[i], &job) == 0)
            coord_store_job_requeue(self->store, job.id, r->withdrawn[i],
                                    "withdrawn from its node by a pause");
    }
    if (r->n_withdrawn)
        bb_info("pause: %zu queued take(s) withdrawn from their node", r->n_withdrawn);
}

typedef enum { CTL_PAUSE, CTL_RESUME, CTL_CANCEL } s_ctl_t;

static void s_control(coord_t *self, const Bb__BatchRequest *req, s_ctl_t what,
                      Bb__ControlReply_Closure closure, void *call)
{
    coord_batch_row_t b;
    int rc = coord_store_batch_get(self->store, req->batch_id, &b);
    if (rc) {
        bb_rpc_fail(call, rc == BB_ENOTFOUND ? BB_STATUS_NOT_FOUND : BB_STATUS_INTERNAL,
                    "no batch %llu", (unsigned long long)req->batch_id);
        return;
    }
    coord_batch_row_free(&b);
    int from = b.state, to = from;
    bool ok = false;
    switch (what) {
    case CTL_PAUSE:
        ok = from == BB__BATCH_STATE__BATCH_RUNNING || from == BB__BATCH_STATE__BATCH_PAUSED;
        to = BB__BATCH_STATE__BATCH_PAUSED;
        break;
    case CTL_RESUME: /* a failed batch: its failed exports run again from the stored takes */
        ok = from == BB__BATCH_STATE__BATCH_PAUSED || from == BB__BATCH_STATE__BATCH_RUNNING ||
             from == BB__BATCH_STATE__BATCH_FAILED;
        to = BB__BATCH_STATE__BATCH_RUNNING;
        break;
    case CTL_CANCEL:
        ok = from == BB__BATCH_STATE__BATCH_PAUSED || from == BB__BATCH_STATE__BATCH_RUNNING;
        to = BB__BATCH_STATE__BATCH_CANCELLED;
        break;
    }
    if (!ok) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION, "batch %llu is %s already",
                    (unsigned long long)req->batch_id, s_state_word(from));
        return;
    }
    int n_inst = 0;
    coord_store_inst_count(self->store, req->batch_id, &n_inst);
    rc = coord_store_begin(self->store);
    if (!rc)
        rc = coord_store_batch_set_state(self->store, req->batch_id, to,
                                         what == CTL_CANCEL ? "cancelled by the operator" : "");
    for (int i = 0; !rc && i < n_inst; i++) {
        coord_inst_row_t row;
        if (coord_store_inst_get(self->store, req->batch_id, i, &row))
            continue;
        if (what == CTL_RESUME && row.state == BB__INSTRUMENT_STATE__INST_FAILED) {
            rc =
                coord_store_inst_set_state(self->store, req->batch_id, i,
                                           BB__INSTRUMENT_STATE__INST_EXPORTING, "exporting again");
            continue;
        }
        bool active = row.state == BB__INSTRUMENT_STATE__INST_PENDING ||
                      row.state == BB__INSTRUMENT_STATE__INST_RECORDING ||
                      row.state == BB__INSTRUMENT_STATE__INST_PAUSED;
        if (!active)
            continue;
        if (what == CTL_PAUSE)
            rc = coord_store_inst_set_state(self->store, req->batch_id, i,
                                            BB__INSTRUMENT_STATE__INST_PAUSED,
                                            "paused by the operator");
        else if (what == CTL_RESUME)
            rc = coord_store_inst_set_state(self->store, req->batch_id, i,
                                            BB__INSTRUMENT_STATE__INST_PENDING, "");
        else
            rc = coord_store_inst_set_state(self->store, req->batch_id, i,
                                            BB__INSTRUMENT_STATE__INST_CANCELLED,
                                            "cancelled by the operator");
    }
    if (!rc && what == CTL_CANCEL)
        rc = coord_store_jobs_cancel(self->store, req->batch_id);
    if (!rc)
        rc = coord_store_commit(self->store);
    if (rc) {
        coord_store_rollback(self->store);
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot change batch %llu: %s",
                    (unsigned long long)req->batch_id, coord_store_errmsg(self->store));
        return;
    }
    if (what == CTL_CANCEL || what == CTL_PAUSE) {
        /* Cancel: stop what the nodes are playing for this batch now. Pause: withdraw the
         * takes queued on them (the one sounding plays out and is kept); the withdrawn
         * jobs are pending again (s_on_withdrawn). */
        const Bb__BatchSpec *spec = coord_spec(self, req->batch_id);
        for (size_t i = 0; spec && i < spec->n_instruments; i++) {
            coord_node_t *node = coord_registry_find(self->registry, spec->instruments[i]->node);
            bool seen = false;
            for (size_t k = 0; k < i; k++)
                seen |= strcmp(spec->instruments[k]->node, spec->instruments[i]->node) == 0;
            if (seen || !node || !node->online || !node->peer)
                continue;
            Bb__AbortRequest abort_req = BB__ABORT_REQUEST__INIT;
            abort_req.batch_id = req->batch_id;
            abort_req.queued_only = what == CTL_PAUSE;
            abort_req.reason = what == CTL_PAUSE ? "batch paused" : "batch cancelled";
            bb_rpc_call_async(self->nodes_rpc, node->peer, &bb__capture__descriptor, "Abort",
                              &abort_req.base, COORD_CALL_TIMEOUT_MS,
                              what == CTL_PAUSE ? s_on_withdrawn : s_abort_done,
                              what == CTL_PAUSE ? self : NULL);
        }
    }
    if (what == CTL_RESUME && from == BB__BATCH_STATE__BATCH_FAILED) {
        for (int i = 0; i < n_inst; i++) {
            coord_inst_row_t row;
            if (coord_store_inst_get(self->store, req->batch_id, i, &row) == 0 &&
                row.state == BB__INSTRUMENT_STATE__INST_EXPORTING)
                coord_worker_export(self->worker, req->batch_id, i);
        }
    }
    Bb__ControlReply reply = BB__CONTROL_REPLY__INIT;
    reply.state = to;
    closure(&reply, call);
    coord_event(self, req->batch_id, BB__EVENT_KIND__EV_BATCH_STATE, NULL, NULL, NULL,
                "batch %llu %s", (unsigned long long)req->batch_id, s_state_word(to));
    self->schedule_soon = true;
}

static void s_pause_batch(Bb__Operator_Service *service, const Bb__BatchRequest *req,
                          Bb__ControlReply_Closure closure, void *call)
{
    s_control(s_coord(service), req, CTL_PAUSE, closure, call);
}

static void s_resume_batch(Bb__Operator_Service *service, const Bb__BatchRequest *req,
                           Bb__ControlReply_Closure closure, void *call)
{
    s_control(s_coord(service), req, CTL_RESUME, closure, call);
}

static void s_cancel_batch(Bb__Operator_Service *service, const Bb__BatchRequest *req,
                           Bb__ControlReply_Closure closure, void *call)
{
    s_control(s_coord(service), req, CTL_CANCEL, closure, call);
}

/* Every take of a batch with its QC figures, for `batcherbird report`. */
static void s_list_takes(Bb__Operator_Service *service, const Bb__BatchRequest *req,
                         Bb__TakeList_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    coord_batch_row_t batch;
    if (coord_store_batch_get(self->store, req->batch_id, &batch) != 0) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no batch %llu", (unsigned long long)req->batch_id);
        return;
    }
    coord_batch_row_free(&batch); /* only its existence was asked */
    const Bb__BatchSpec *spec = coord_spec(self, req->batch_id);
    char **ids = NULL;
    size_t n = 0;
    if (coord_store_take_ids(self->store, req->batch_id, &ids, &n) != 0) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot read the takes of batch %llu: %s",
                    (unsigned long long)req->batch_id, coord_store_errmsg(self->store));
        return;
    }
    Bb__TakeRow *rows = calloc(n ? n : 1, sizeof *rows);
    Bb__TakeRow **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    char(*verdicts)[12] = calloc(n ? n : 1, sizeof *verdicts);
    char(*reasons)[512] = calloc(n ? n : 1, sizeof *reasons);
    size_t k = 0;
    for (size_t i = 0; rows && ptrs && verdicts && reasons && i < n; i++) {
        coord_take_row_t take;
        coord_job_row_t job;
        if (coord_store_take_get(self->store, ids[i], &take) != 0)
            continue;
        bool have_job = coord_store_job_get(self->store, take.job_id, &job) == 0;
        dsp_analysis_t a;
        dsp_analysis_from_json(take.qc_json, &a);
        Bb__TakeRow *r = &rows[k];
        bb__take_row__init(r);
        r->take_id = ids[i];
        r->instrument = spec && take.inst_idx >= 0 && (size_t)take.inst_idx < spec->n_instruments
                            ? spec->instruments[take.inst_idx]->name
                            : "";
        if (have_job) {
            r->note = (uint32_t)job.note;
            r->velocity = (uint32_t)job.velocity;
            r->round_robin = (uint32_t)job.rr;
            r->release_trigger = job.release;
        }
        unsigned attempt = 0;
        if (sscanf(ids[i], "b%*u-i%*d-s%*d-a%u", &attempt) == 1)
            r->attempt = attempt;
        snprintf(verdicts[k], sizeof verdicts[k], "%s",
                 take.verdict == COORD_VERDICT_PENDING ? "checking"
                                                       : dsp_verdict_name(take.verdict));
        r->verdict = verdicts[k];
        r->peak_db = (float)a.peak_db;
        r->snr_db = (float)a.snr_db;
        r->has_pitch = a.pitch_hz > 0;
        r->pitch_cents = (float)a.pitch_cents;
        r->trimmed_s = (float)a.duration_s;
        r->onset_ms =
            take.sample_rate > 0
                ? (float)((double)(a.onset - take.note_on_frame) * 1000.0 / take.sample_rate)
                : 0;
        snprintf(reasons[k], sizeof reasons[k], "%s", a.reasons);
        r->reasons = reasons[k];
        r->superseded = take.superseded;
        coord_take_row_free(&take);
        ptrs[k] = r;
        k++;
    }
    Bb__TakeList list = BB__TAKE_LIST__INIT;
    list.takes = ptrs;
    list.n_takes = k;
    if (rows && ptrs && verdicts && reasons)
        closure(&list, call);
    else
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "out of memory listing takes");
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(rows);
    free(ptrs);
    free(verdicts);
    free(reasons);
}

static void s_list_library(Bb__Operator_Service *service, const Bb__LibraryListRequest *req,
                           Bb__LibraryList_Closure closure, void *call)
{
    coord_export_rpc_list(s_coord(service), req, closure, call);
}

static void s_fetch_library_chunk(Bb__Operator_Service *service, const Bb__LibraryChunkRequest *req,
                                  Bb__LibraryChunk_Closure closure, void *call)
{
    coord_export_rpc_chunk(s_coord(service), req, closure, call);
}

/* Stores a node's calibrated MIDI-to-audio delay; the node gets it with its next
 * heartbeat reply (or registration) and applies it to every later take. */
static void s_set_node_latency(Bb__Operator_Service *service, const Bb__NodeLatencyRequest *req,
                               Bb__NodeLatencyReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    coord_node_t *node = coord_registry_find(self->registry, req->node);
    if (!node) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no node named '%s'", req->node);
        return;
    }
    if (!(req->latency_offset_ms >= -1000.0 && req->latency_offset_ms <= 1000.0)) {
        bb_rpc_fail(call, BB_STATUS_INVALID_ARGUMENT,
                    "latency offset %.3f ms: use -1000 to 1000 ms", req->latency_offset_ms);
        return;
    }
    Bb__NodeLatencyReply reply = BB__NODE_LATENCY_REPLY__INIT;
    reply.previous_ms = node->latency_offset_ms;
    if (coord_store_node_set_latency(self->store, node->name, req->latency_offset_ms) != 0) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot store the offset: %s",
                    coord_store_errmsg(self->store));
        return;
    }
    node->latency_offset_ms = req->latency_offset_ms;
    closure(&reply, call);
    coord_event(self, 0, BB__EVENT_KIND__EV_NODE_STATE, NULL, NULL, node->name,
                "node %s: latency offset %.3f ms (was %.3f ms)", node->name, req->latency_offset_ms,
                reply.previous_ms);
}

static void s_get_plan(Bb__Operator_Service *service, const Bb__BatchRequest *req,
                       Bb__BatchSpec_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    coord_batch_row_t b;
    int rc = coord_store_batch_get(self->store, req->batch_id, &b);
    if (rc) {
        bb_rpc_fail(call, rc == BB_ENOTFOUND ? BB_STATUS_NOT_FOUND : BB_STATUS_INTERNAL,
                    "no batch %llu", (unsigned long long)req->batch_id);
        return;
    }
    Bb__BatchSpec *spec = bb__batch_spec__unpack(NULL, b.spec_len, b.spec);
    coord_batch_row_free(&b);
    if (!spec) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "the stored plan of batch %llu cannot be read",
                    (unsigned long long)req->batch_id);
        return;
    }
    closure(spec, call);
    bb__batch_spec__free_unpacked(spec, NULL);
}

static void s_retake_slots(Bb__Operator_Service *service, const Bb__RetakeRequest *req,
                           Bb__RetakeReply_Closure closure, void *call)
{
    coord_retake(s_coord(service), req, closure, call);
}

static void s_export_again(Bb__Operator_Service *service, const Bb__ExportAgainRequest *req,
                           Bb__ExportAgainReply_Closure closure, void *call)
{
    coord_export_again(s_coord(service), req, closure, call);
}

static void s_delete_batch(Bb__Operator_Service *service, const Bb__DeleteBatchRequest *req,
                           Bb__DeleteBatchReply_Closure closure, void *call)
{
    coord_delete_batch(s_coord(service), req, closure, call);
}

static void s_forget_node(Bb__Operator_Service *service, const Bb__ForgetNodeRequest *req,
                          Bb__ForgetNodeReply_Closure closure, void *call)
{
    coord_forget_node(s_coord(service), req, closure, call);
}

static void s_move_instrument(Bb__Operator_Service *service, const Bb__MoveInstrumentRequest *req,
                              Bb__MoveInstrumentReply_Closure closure, void *call)
{
    coord_move_instrument(s_coord(service), req, closure, call);
}

void coord_operator_init(coord_t *self)
{
    self->operator.service =(Bb__Operator_Service) BB__OPERATOR__INIT(s_);
    self->operator.coord = self;
}
