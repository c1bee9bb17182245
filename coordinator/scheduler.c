/*
 * scheduler.c — which take runs next, where, and what follows when things finish.
 *
 * Takes of one instrument run in plan order on its node; instruments on different nodes
 * run in parallel. Instruments that share a node play one after another (a bank's
 * patches, two batches for one synth) unless they are on different input channels of
 * it (and different MIDI channels or ports): the first one in order (older batch first,
 * then plan order) that still has takes to record holds what it uses, the others that
 * need any of it wait, so each instrument's MIDI setup (program change) stays in force
 * for all its takes and instruments on separate inputs record at the same time. Each node gets at
 * most COORD_NODE_WINDOW jobs at once, so while it records one take the next is already queued
 * there and no time is lost between takes. An instrument waits (paused, with the reason) while its
 * node is away or has lost its audio device; when every job of an instrument is done it goes to the
 * export worker; when every instrument is finished, so is the batch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"
#include "coord.h"
#include "plan_check.h"

typedef struct {
    coord_t *coord;
    int64_t job_id;
    char take_id[BB_TAKE_ID_MAX + 1];
    char node[64];
    uint64_t batch;
    int setup_idx; /* the MIDI setup marker it carried (inst idx, or -1 - idx); INT32_MIN: none */
    bool level_setup;
    int64_t sent_ms; /* monotonic ms when StartTake went out */
} s_dispatch_ctx_t;

#define COORD_DISPATCH_BACKOFF_MIN_MS 500
#define COORD_DISPATCH_BACKOFF_MAX_MS 10000

static void s_forget_setup(coord_t *self, uint64_t batch, int idx)
{
    for (coord_setup_sent_t *s = self->setups; s; s = s->next)
        if (s->batch_id == batch && s->idx == idx)
            s->session[0] = '\0';
}

/* A node that refused a take (its queue is full, its device is gone, it did not answer) gets
 * no other for a while, doubling up to 10 s: no re-dispatch in a loop. The jobs of one
 * dispatch (up to the window) are refused together: the wait doubles once per round, not
 * once per refused call (a refusal of a call sent before the last refusal came is the same
 * round). What the refused take
 * carried of its instrument's MIDI setup goes out again with the next one. */
static void s_on_start_take(void *arg, int status, const char *message,
                            const ProtobufCMessage *reply)
{
    s_dispatch_ctx_t *ctx = arg;
    coord_t *self = ctx->coord;
    coord_node_t *node = coord_registry_find(self->registry, ctx->node);
    coord_job_row_t job;
    if (status == BB_STATUS_INVALID_ARGUMENT &&
        coord_store_job_get(self->store, ctx->job_id, &job) == 0) {
        /* the node cannot play this instrument (inputs or a MIDI port it lacks): asking
         * again would get the same answer */
        char msg[400];
        snprintf(msg, sizeof msg, "node %s cannot play it: %s", job.node, message);
        coord_store_job_finish(self->store, ctx->job_id, JOB_FAILED, ctx->take_id, msg);
        coord_store_inst_set_state(self->store, job.batch_id, job.inst_idx,
                                   BB__INSTRUMENT_STATE__INST_FAILED, msg);
        coord_event(self, job.batch_id, BB__EVENT_KIND__EV_INSTRUMENT_STATE, NULL, ctx->take_id,
                    job.node, "%s", msg);
        self->schedule_soon = true;
    } else if (status != BB_STATUS_OK) {
        coord_store_job_requeue(self->store, ctx->job_id, ctx->take_id, message);
        if (ctx->setup_idx != INT32_MIN)
            s_forget_setup(self, ctx->batch, ctx->setup_idx);
        if (ctx->level_setup)
            s_forget_setup(self, ctx->batch, -1 - ctx->setup_idx);
        int64_t now_ms = bb_mono_ns() / BB_NS_PER_MS;
        bool same_round = node && node->dispatch_backoff_ms &&
                          node->dispatch_hold_until - node->dispatch_backoff_ms >= ctx->sent_ms;
        if (node && !same_round) {
            node->dispatch_backoff_ms = node->dispatch_backoff_ms ? node->dispatch_backoff_ms * 2
                                                                  : COORD_DISPATCH_BACKOFF_MIN_MS;
            if (node->dispatch_backoff_ms > COORD_DISPATCH_BACKOFF_MAX_MS)
                node->dispatch_backoff_ms = COORD_DISPATCH_BACKOFF_MAX_MS;
            node->dispatch_hold_until = now_ms + node->dispatch_backoff_ms;
        }
        if (node) {
            node->dispatch_refusals++;
            snprintf(node->refusal, sizeof node->refusal, "%s", message);
        }
        bb_warn("take %s was not accepted: %s: %s (no take for node %s for %d ms)", ctx->take_id,
                bb_status_name(status), message, ctx->node, node ? node->dispatch_backoff_ms : 0);
        self->schedule_soon = true;
    } else if (node) {
        node->dispatch_backoff_ms = 0;
        node->refusal[0] = '\0';
    }
    free(ctx);
}

static bool s_setup_needed(coord_t *self, uint64_t batch, int idx, const char *session)
{
    for (coord_setup_sent_t *s = self->setups; s; s = s->next) {
        if (s->batch_id == batch && s->idx == idx) {
            if (strcmp(s->session, session) == 0)
                return false;
            snprintf(s->session, sizeof s->session, "%s", session);
            return true;
        }
    }
    coord_setup_sent_t *s = calloc(1, sizeof *s);
    if (s) {
        s->batch_id = batch;
        s->idx = idx;
        snprintf(s->session, sizeof s->session, "%s", session);
        s->next = self->setups;
        self->setups = s;
    }
    return true;
}

static int s_dispatch(coord_t *self, coord_node_t *node, const Bb__InstrumentSpec *inst,
                      const coord_job_row_t *job)
{
    char take_id[BB_TAKE_ID_MAX + 1];
    snprintf(take_id, sizeof take_id, "b%llu-i%d-s%d-a%d", (unsigned long long)job->batch_id,
             job->inst_idx, job->seq, job->attempts + 1);
    Bb__TakeJob tj = BB__TAKE_JOB__INIT;
    tj.take_id = take_id;
    tj.batch_id = job->batch_id;
    tj.instrument = inst->name;
    tj.midi_channel = inst->midi_channel;
    tj.note = (uint32_t)job->note;
    tj.velocity = (uint32_t)job->velocity;
    tj.round_robin = (uint32_t)job->rr;
    tj.preroll_ms = inst->preroll_ms;
    /* A release take holds the note as long as the plan says: its release sample is the
     * sound after that key-up, so the held note must have reached the plan's level. */
    tj.hold_ms = inst->hold_ms;
    tj.release_ms = inst->release_ms;
    tj.release_policy = inst->release_policy;
    tj.release_floor_db = 6.0f;
    tj.quiet_wait_ms = inst->quiet_wait_ms;
    tj.attempt = (uint32_t)job->attempts + 1;
    tj.release_trigger = job->release;
    tj.inputs = inst->inputs;
    tj.n_inputs = inst->n_inputs;
    tj.sum = inst->sum;
    tj.midi_port = inst->midi_port;
    if (inst->has_setup && inst->setup &&
        s_setup_needed(self, job->batch_id, job->inst_idx, node->session))
        tj.setup = inst->setup;
    /* Gain staging lowered the instrument's volume: CC7 goes with the first regular take
     * this node session plays (keyed apart from the plan's own setup). */
    Bb__MidiSetup level_setup = BB__MIDI_SETUP__INIT;
    uint32_t level_cc[64];
    coord_level_t lv;
    if (job->seq >= 0 && inst->level_check && inst->level_set_cc &&
        coord_level_result(self, job->batch_id, job->inst_idx, &lv) == 0 && lv.cc7 > 0 &&
        (tj.setup || s_setup_needed(self, job->batch_id, -1 - job->inst_idx, node->session))) {
        size_t n = 0;
        if (tj.setup) { /* the plan's setup first, then the volume */
            level_setup.bank_msb = tj.setup->bank_msb;
            level_setup.bank_lsb = tj.setup->bank_lsb;
            level_setup.program = tj.setup->program;
            for (size_t k = 0; k < tj.setup->n_cc && n + 2 < 64; k++)
                level_cc[n++] = tj.setup->cc[k];
            s_setup_needed(self, job->batch_id, -1 - job->inst_idx, node->session);
        } else {
            level_setup.bank_msb = level_setup.bank_lsb = level_setup.program = -1;
        }
        level_cc[n++] = 7;
        level_cc[n++] = (uint32_t)lv.cc7;
        level_setup.cc = level_cc;
        level_setup.n_cc = n;
        tj.setup = &level_setup;
    }

    s_dispatch_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return BB_ENOMEM;
    ctx->coord = self;
    ctx->job_id = job->id;
    snprintf(ctx->take_id, sizeof ctx->take_id, "%s", take_id);
    snprintf(ctx->node, sizeof ctx->node, "%s", node->name);
    ctx->batch = job->batch_id;
    ctx->setup_idx = tj.setup ? job->inst_idx : INT32_MIN;
    ctx->level_setup = tj.setup == &level_setup;
    ctx->sent_ms = bb_mono_ns() / BB_NS_PER_MS;
    int rc = coord_store_job_dispatch(self->store, job->id, take_id, node->name);
    if (rc) {
        free(ctx);
        return rc;
    }
    rc = bb_rpc_call_async(self->nodes_rpc, node->peer, &bb__capture__descriptor, "StartTake",
                           &tj.base, COORD_CALL_TIMEOUT_MS, s_on_start_take, ctx);
    if (rc) {
        coord_store_job_requeue(self->store, job->id, take_id, "the node is unreachable");
        free(ctx);
        return rc;
    }
    coord_event(self, job->batch_id, BB__EVENT_KIND__EV_TAKE_STARTED, inst->name, take_id,
                node->name, "%s: note %d vel %d rr %d on %s", inst->name, job->note, job->velocity,
                job->rr, node->name);
    return 0;
}

static void s_set_inst_state(coord_t *self, uint64_t batch, int idx, const coord_inst_row_t *row,
                             int state, const char *message)
{
    if (row->state == state && strcmp(row->message, message) == 0)
        return;
    coord_store_inst_set_state(self->store, batch, idx, state, message);
    static const char *words[] = {"waiting", "recording", "exporting", "done",
                                  "paused",  "cancelled", "failed"};
    coord_event(self, batch, BB__EVENT_KIND__EV_INSTRUMENT_STATE, row->name, NULL, row->node,
                "%s %s%s%s", row->name, words[state], *message ? ": " : "", message);
}

/* Which instruments hold what of their nodes in this round of scheduling. */
#define S_HOLDS_MAX 256
typedef struct {
    const Bb__InstrumentSpec *v[S_HOLDS_MAX];
    int n;
} s_holds_t;

/* The instrument holding what `inst` needs, or NULL when all of it is free (and then
 * held by `inst`). */
static const Bb__InstrumentSpec *s_hold(s_holds_t *h, const Bb__InstrumentSpec *inst)
{
    for (int i = 0; i < h->n; i++)
        if (dsp_plan_conflict(h->v[i], inst))
            return h->v[i];
    if (h->n < S_HOLDS_MAX)
        h->v[h->n++] = inst;
    return NULL;
}

/* Advances one instrument; returns true when it has finished (done, failed, cancelled). */
static bool s_instrument(coord_t *self, uint64_t batch, int idx, const Bb__BatchSpec *spec,
                         s_holds_t *holds)
{
    coord_inst_row_t row;
    if (coord_store_inst_get(self->store, batch, idx, &row))
        return true;
    switch (row.state) {
    case BB__INSTRUMENT_STATE__INST_DONE:
    case BB__INSTRUMENT_STATE__INST_CANCELLED:
    case BB__INSTRUMENT_STATE__INST_FAILED:
        return true;
    case BB__INSTRUMENT_STATE__INST_EXPORTING:
        return false;
    default:
        break;
    }
    int pending = 0, dispatched = 0, checking = 0;
    coord_store_job_count(self->store, batch, idx, JOB_PENDING, &pending);
    coord_store_job_count(self->store, batch, idx, JOB_DISPATCHED, &dispatched);
    coord_store_job_count(self->store, batch, idx, JOB_STORED, &checking);
    if (pending == 0 && dispatched == 0 && checking == 0 &&
        !coord_planning(self, batch, idx, NULL, NULL)) {
        if (spec && spec->no_export) { /* a measurement (calibration): nothing to write */
            int failed = 0;
            coord_store_job_count(self->store, batch, idx, JOB_FAILED, &failed);
            char msg[128] = "measured, nothing exported";
            if (failed)
                snprintf(msg, sizeof msg, "measured, %d take(s) failed QC", failed);
            s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_DONE, msg);
            return true;
        }
        s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_EXPORTING, "");
        coord_worker_export(self->worker, batch, idx);
        return false;
    }
    char why[sizeof((coord_node_t *)0)->message + 160]; /* the node's message and our words */
    coord_node_t *node = coord_registry_find(self->registry, row.node);
    if (!node || !node->online || !node->peer) {
        snprintf(why, sizeof why, "waiting for node %s (%s)", row.node,
                 node && *node->session ? "offline" : "not connected yet");
        s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_PAUSED, why);
        return false;
    }
    if (node->dispatch_hold_until > bb_mono_ns() / BB_NS_PER_MS) {
        /* it refused a take a moment ago: backing off, and saying why (a full spool...) */
        if (*node->refusal)
            s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_PAUSED,
                             node->refusal);
        return false;
    }
    if (self->disk_full) { /* the coordinator cannot store takes: none is recorded */
        s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_PAUSED,
                         self->disk_message);
        return false;
    }
    if (node->state == BB__NODE_STATE__NODE_DEVICE_LOST) {
        snprintf(why, sizeof why, "node %s lost its audio device%s%s", row.node,
                 *node->message ? ": " : "", node->message);
        s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_PAUSED, why);
        return false;
    }
    const Bb__InstrumentSpec *holder = s_hold(holds, spec->instruments[idx]);
    if (holder) {
        snprintf(why, sizeof why, "waiting for %s to finish on node %s", holder->name, row.node);
        s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_PENDING, why);
        return false;
    }
    s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_RECORDING, "");
    int on_node = 0; /* of this instrument: others on other inputs have windows of their own */
    coord_store_job_count(self->store, batch, idx, JOB_DISPATCHED, &on_node);
    while (on_node < COORD_NODE_WINDOW && pending > 0) {
        coord_job_row_t job;
        if (coord_store_job_next_pending(self->store, batch, idx, &job))
            break;
        coord_level_t lv;
        if (job.seq >= 0 && spec->instruments[idx]->level_check &&
            spec->instruments[idx]->level_set_cc &&
            coord_level_result(self, batch, idx, &lv) == BB_EBUSY)
            break; /* the takes wait for the level check that may change their volume */
        if (s_dispatch(self, node, spec->instruments[idx], &job))
            break;
        coord_store_inst_set_started(self->store, batch, idx);
        on_node++;
        pending--;
    }
    return false;
}

static int s_cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void coord_schedule(coord_t *self)
{
    self->schedule_soon = false;
    uint64_t *ids = NULL;
    size_t n = 0;
    if (coord_store_batch_ids(self->store, true, &ids, &n))
        return;
    static s_holds_t holds; /* the coordinator's one thread */
    holds.n = 0;
    if (n > 1) /* (ids is NULL when there is no batch: qsort must not see it) */
        qsort(ids, n, sizeof ids[0], s_cmp_id); /* oldest batch first */
    for (size_t b = 0; b < n; b++) {
        coord_batch_row_t row;
        if (coord_store_batch_get(self->store, ids[b], &row))
            continue;
        coord_batch_row_free(&row);
        if (row.state != BB__BATCH_STATE__BATCH_RUNNING)
            continue;
        const Bb__BatchSpec *spec = coord_spec(self, ids[b]);
        if (!spec)
            continue;
        bool all_finished = true;
        for (size_t i = 0; i < spec->n_instruments; i++)
            all_finished &= s_instrument(self, ids[b], (int)i, spec, &holds);
        if (!all_finished)
            continue;
        int failed = 0;
        for (size_t i = 0; i < spec->n_instruments; i++) {
            coord_inst_row_t inst;
            if (coord_store_inst_get(self->store, ids[b], (int)i, &inst) == 0 &&
                inst.state == BB__INSTRUMENT_STATE__INST_FAILED)
                failed++;
        }
        int state = failed ? BB__BATCH_STATE__BATCH_FAILED : BB__BATCH_STATE__BATCH_DONE;
        char msg[128] = "";
        if (failed)
            snprintf(msg, sizeof msg, "%d instrument(s) could not be exported", failed);
        coord_store_batch_set_state(self->store, ids[b], state, msg);
        coord_event(self, ids[b], BB__EVENT_KIND__EV_BATCH_STATE, NULL, NULL, NULL,
                    "batch %llu %s%s%s", (unsigned long long)ids[b], failed ? "failed" : "done",
                    *msg ? ": " : "", msg);
        coord_spec_forget(self, ids[b]);
    }
    free(ids);
}

void coord_node_went_away(coord_t *self, coord_node_t *node, const char *why)
{
    node->online = false;
    int n = 0;
    coord_store_jobs_requeue_node(self->store, node->name, &n);
    coord_event(self, 0, BB__EVENT_KIND__EV_NODE_STATE, NULL, NULL, node->name,
                "node %s is offline (%s)%s", node->name, why,
                n ? "; its takes in progress will run again" : "");
    self->schedule_soon = true;
}

/* The coordinator's own disk: below --disk-reserve free, no take is dispatched (nodes keep
 * what they have in their spools) and every waiting instrument says why; it goes on by
 * itself when space returns. */
static void s_check_disk(coord_t *self)
{
    struct statvfs vfs;
    if (statvfs(self->takes_dir, &vfs) != 0)
        return;
    double free_mb = (double)vfs.f_bavail * (double)vfs.f_frsize / (1024.0 * 1024.0);
    bool full = free_mb < self->cfg.disk_reserve_mb;
    if (full)
        snprintf(self->disk_message, sizeof self->disk_message,
                 "coordinator disk full: %.0f MB free in %s (%.0f MB are kept free)", free_mb,
                 self->state_dir, self->cfg.disk_reserve_mb);
    if (full != self->disk_full) {
        if (full)
            bb_warn("%s: no takes until there is space", self->disk_message);
        else
            bb_info("the coordinator's disk has space again (%.0f MB free): takes go on", free_mb);
        self->schedule_soon = true;
    }
    self->disk_full = full;
}

void coord_check_liveness(coord_t *self)
{
    s_check_disk(self);
    int64_t now = bb_mono_ns() / BB_NS_PER_MS;
    for (size_t i = 0; i < coord_registry_size(self->registry); i++) {
        coord_node_t *node = coord_registry_at(self->registry, i);
        if (node->online && now - node->last_seen_ms > self->cfg.offline_after_ms)
            coord_node_went_away(self, node, "no heartbeat");
    }
    coord_ingest_expire(self->ingest, 60000);
}

void coord_instrument_exported(coord_t *self, uint64_t batch, int idx, bool ok, int files,
                               const char *path, const char *message)
{
    coord_inst_row_t row;
    if (coord_store_inst_get(self->store, batch, idx, &row))
        return;
    if (row.state != BB__INSTRUMENT_STATE__INST_EXPORTING)
        return;
    if (ok) {
        coord_store_inst_set_library(self->store, batch, idx, path, files);
        int failed = 0;
        coord_store_job_count(self->store, batch, idx, JOB_FAILED, &failed);
        char msg[256] = "";
        if (failed)
            snprintf(msg, sizeof msg, "%d take(s) failed QC and were left out", failed);
        s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_DONE, msg);
        coord_event(self, batch, BB__EVENT_KIND__EV_LIBRARY_EXPORTED, row.name, NULL, row.node,
                    "%s exported: %d samples in %s", row.name, files, path);
    } else {
        s_set_inst_state(self, batch, idx, &row, BB__INSTRUMENT_STATE__INST_FAILED, message);
    }
    self->schedule_soon = true;
}
