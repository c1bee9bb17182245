/*
 * planner.c — writing a batch's planned takes (its jobs) in bounded steps, so that a
 * large plan never holds the coordinator's loop.
 *
 * SubmitBatch stores the batch, its instruments and its gain-staging jobs in one
 * transaction and leaves a `planning` row: the instrument and the next job to write. Each
 * turn of the loop, coord_plan_step() writes at most COORD_PLAN_STEP_JOBS jobs (and stops
 * after COORD_PLAN_STEP_MS) of the oldest such batch in one transaction with the row moved on, and
 * drops the row with the last job. Jobs are numbered (seq) in the order they are played (release
 * pass, note, velocity, round robin), so a job's place follows from its number and a coordinator
 * stopped halfway continues from the row. The scheduler may dispatch the jobs already
 * written, but treats an instrument as finished only once all of its jobs are
 * (coord_planning()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"
#include "coord.h"
#include "plan_check.h"

int coord_plan_load(coord_t *self)
{
    free(self->plans);
    self->plans = NULL;
    self->n_plans = 0;
    return coord_store_plan_all(self->store, &self->plans, &self->n_plans);
}

bool coord_planning(coord_t *self, uint64_t batch, int idx, int64_t *done, int64_t *total)
{
    for (size_t i = 0; i < self->n_plans; i++) {
        const coord_plan_row_t *p = &self->plans[i];
        if (p->batch_id != batch || (idx >= 0 && idx < p->inst_idx))
            continue;
        if (done)
            *done = p->done;
        if (total)
            *total = p->total;
        return true;
    }
    return false;
}

/* Jobs one instrument plans (gain-staging ones apart). */
static int s_jobs_of(const Bb__InstrumentSpec *inst, uint32_t notes[128], size_t *n_notes)
{
    *n_notes = dsp_plan_notes(inst, notes);
    return (int)(*n_notes * inst->n_velocities * inst->round_robins *
                 (inst->release_samples ? 2 : 1));
}

int coord_plan_step(coord_t *self, int budget)
{
    if (self->n_plans == 0)
        return 0;
    coord_plan_row_t p = self->plans[0];
    coord_batch_row_t b;
    bool live =
        coord_store_batch_get(self->store, p.batch_id, &b) == 0 &&
        (b.state == BB__BATCH_STATE__BATCH_RUNNING || b.state == BB__BATCH_STATE__BATCH_PAUSED);
    if (live)
        coord_batch_row_free(&b);
    /* a batch cancelled or deleted while planned gets no more jobs */
    const Bb__BatchSpec *spec = live ? coord_spec(self, p.batch_id) : NULL;
    int written = 0, rc = 0;
    int64_t deadline = bb_mono_ns() + (int64_t)COORD_PLAN_STEP_MS * 1000000;
    bool began = spec && p.inst_idx < (int)spec->n_instruments;
    if (began)
        rc = coord_store_begin(self->store);
    began = began && !rc;
    while (!rc && spec && p.inst_idx < (int)spec->n_instruments && written < budget) {
        const Bb__InstrumentSpec *inst = spec->instruments[p.inst_idx];
        uint32_t notes[128];
        size_t n_notes;
        int jobs = s_jobs_of(inst, notes, &n_notes);
        int per_pass = (int)(n_notes * inst->n_velocities * inst->round_robins);
        for (; !rc && p.next_seq < jobs && written < budget; p.next_seq++, written++, p.done++) {
            int seq = p.next_seq, pass = seq / per_pass, rem = seq % per_pass;
            int per_note = (int)(inst->n_velocities * inst->round_robins);
            size_t k = (size_t)(rem / per_note);
            size_t v = (size_t)((rem / (int)inst->round_robins) % (int)inst->n_velocities);
            int r = rem % (int)inst->round_robins + 1;
            rc = coord_store_job_insert(self->store, p.batch_id, p.inst_idx, seq, (int)notes[k],
                                        (int)inst->velocities[v], r, pass == 1);
            if (written % 64 == 63 && bb_mono_ns() > deadline)
                budget = written + 1; /* long enough: the rest next turn */
        }
        if (p.next_seq >= jobs) {
            p.inst_idx++;
            p.next_seq = 0;
        }
    }
    bool finished = !spec || p.inst_idx >= (int)spec->n_instruments;
    if (!rc)
        rc = finished ? coord_store_plan_delete(self->store, p.batch_id)
                      : coord_store_plan_put(self->store, &p);
    if (!rc && began)
        rc = coord_store_commit(self->store);
    if (rc) {
        if (began)
            coord_store_rollback(self->store);
        bb_error("batch %llu: writing its takes failed: %s (trying again)",
                 (unsigned long long)p.batch_id, coord_store_errmsg(self->store));
        return rc;
    }
    if (finished) {
        memmove(&self->plans[0], &self->plans[1], (self->n_plans - 1) * sizeof self->plans[0]);
        self->n_plans--;
        bb_info("batch %llu: all %lld takes planned", (unsigned long long)p.batch_id,
                (long long)p.done);
    } else {
        self->plans[0] = p;
    }
    self->schedule_soon = true;
    return written;
}

int coord_plan_start(coord_t *self, uint64_t batch, int64_t total)
{
    coord_plan_row_t p = {.batch_id = batch, .total = total};
    return coord_store_plan_put(self->store, &p);
}
