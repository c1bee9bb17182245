/*
 * qc_worker.c — the take checker: analysis (dsp_analyze) of every received take, off the
 * coordinator's main thread, so that a 120 s take at 96 kHz costs the event loop nothing.
 *
 * TakeEnd stores the take (file fsync'd, row committed with no verdict yet, its job
 * JOB_STORED) and acknowledges it; the main thread then queues the take id here. The actor
 * reads the take, its job and the plan through a database connection of its own (WAL: it
 * reads while the main thread writes), analyses the audio and answers on its pipe
 * ["CHECKED", take id, analysis JSON] or ["UNCHECKED", take id, message]; the main thread
 * applies the verdict (coord_take_checked). At most COORD_QC_INFLIGHT requests are on the
 * pipe at once; the rest wait in a queue on the main thread, so the pipe never fills and
 * the loop never blocks on it. A take whose row has no verdict at startup (the coordinator
 * stopped while it was queued) is queued again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_log.h"
#include "coord.h"
#include "pipeline.h"
#include "qc_config.h"
#include "take_raw.h"

#define COORD_QC_INFLIGHT 4

/* ---- the actor ---- */

static int s_check(coord_store_t *store, const char *take_id, char **json, char *err, size_t errlen)
{
    coord_take_row_t take;
    coord_job_row_t job;
    coord_batch_row_t batch = {0};
    Bb__BatchSpec *spec = NULL;
    float *audio = NULL;
    int rc = coord_store_take_get(store, take_id, &take);
    if (rc) {
        snprintf(err, errlen, "take %s is not in the database", take_id);
        return rc;
    }
    rc = coord_store_job_get(store, take.job_id, &job);
    if (!rc)
        rc = coord_store_batch_get(store, take.batch_id, &batch);
    if (rc) {
        snprintf(err, errlen, "take %s has no job or batch", take_id);
        goto done;
    }
    spec = bb__batch_spec__unpack(NULL, batch.spec_len, batch.spec);
    const Bb__InstrumentSpec *ispec =
        spec && job.inst_idx >= 0 && (size_t)job.inst_idx < spec->n_instruments
            ? spec->instruments[job.inst_idx]
            : NULL;
    dsp_pipeline_config_t pcfg;
    if (dsp_pipeline_config_from_spec(ispec, &pcfg, err, errlen)) /* checked at submit */
        pcfg = (dsp_pipeline_config_t)DSP_PIPELINE_CONFIG_INIT;
    if (spec && spec->export && spec->export->c4_is_60)
        pcfg.notes = BB_NOTES_C4_IS_60; /* reasons name notes as the library does */
    int64_t frames;
    int ch, rate;
    if (dsp_raw_read_audio(take.path, &audio, &frames, &ch, &rate, err, errlen)) {
        rc = BB_EIO;
        goto done;
    }
    dsp_take_info_t info = {.note_on = take.note_on_frame,
                            .note_off = take.note_off_frame,
                            .note = job.note,
                            .velocity = job.velocity,
                            .xruns = (uint32_t)take.xruns,
                            .release_capped = take.release_capped,
                            /* a measured floor is below 0 dBFS; 0 is an old node's "none" */
                            .has_floor = take.noise_floor_db < 0,
                            .floor_db = take.noise_floor_db};
    dsp_analysis_t a;
    if (dsp_analyze(audio, frames, ch, rate, &info, &pcfg, &a) != 0) {
        memset(&a, 0, sizeof a);
        dsp_analysis_reason(&a, DSP_FAIL, "unusable take: note-on frame %lld outside %lld frames",
                            (long long)take.note_on_frame, (long long)frames);
    }
    *json = dsp_analysis_json(&a);
    if (!*json) {
        snprintf(err, errlen, "out of memory");
        rc = BB_ENOMEM;
    }
done:
    free(audio);
    if (spec)
        bb__batch_spec__free_unpacked(spec, NULL);
    coord_batch_row_free(&batch);
    coord_take_row_free(&take);
    return rc;
}

static void s_actor(zsock_t *pipe, void *args)
{
    char err[512] = "";
    coord_store_t *store = coord_store_open((const char *)args, err, sizeof err);
    zsock_signal(pipe, 0);
    for (;;) {
        char *cmd = NULL, *id = NULL;
        if (zstr_recvx(pipe, &cmd, &id, NULL) < 1) {
            zstr_free(&cmd);
            break;
        }
        bool term = strcmp(cmd, "$TERM") == 0;
        if (!term && strcmp(cmd, "CHECK") == 0 && id) {
            char *json = NULL;
            char why[512];
            int rc = store ? s_check(store, id, &json, why, sizeof why) : BB_EDB;
            if (!store)
                snprintf(why, sizeof why, "%s", err);
            if (rc == 0)
                zstr_sendx(pipe, "CHECKED", id, json, NULL);
            else
                zstr_sendx(pipe, "UNCHECKED", id, why, NULL);
            free(json);
        }
        zstr_free(&cmd);
        zstr_free(&id);
        if (term)
            break;
    }
    coord_store_close(&store);
}

/* ---- the main thread's side ---- */

typedef struct s_qc_item_t {
    char *take_id;
    struct s_qc_item_t *next;
} s_qc_item_t;

struct coord_qc_t {
    zactor_t *actor;
    s_qc_item_t *head, *tail; /* waiting to be sent */
    size_t waiting, inflight;
};

coord_qc_t *coord_qc_new(const char *db_path)
{
    coord_qc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = zactor_new(s_actor, (void *)db_path);
    if (!self->actor) {
        free(self);
        return NULL;
    }
    return self;
}

void coord_qc_destroy(coord_qc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_qc_t *self = *self_p;
    zactor_destroy(&self->actor);
    while (self->head) {
        s_qc_item_t *it = self->head;
        self->head = it->next;
        free(it->take_id);
        free(it);
    }
    free(self);
    *self_p = NULL;
}

zsock_t *coord_qc_sock(coord_qc_t *self)
{
    return zactor_sock(self->actor);
}

size_t coord_qc_backlog(coord_qc_t *self)
{
    return self->waiting + self->inflight;
}

static void s_send_some(coord_qc_t *self)
{
    while (self->inflight < COORD_QC_INFLIGHT && self->head) {
        s_qc_item_t *it = self->head;
        self->head = it->next;
        if (!self->head)
            self->tail = NULL;
        self->waiting--;
        zstr_sendx(self->actor, "CHECK", it->take_id, NULL);
        self->inflight++;
        free(it->take_id);
        free(it);
    }
}

int coord_qc_queue(coord_qc_t *self, const char *take_id)
{
    s_qc_item_t *it = calloc(1, sizeof *it);
    if (!it || !(it->take_id = strdup(take_id))) {
        free(it);
        return BB_ENOMEM;
    }
    if (self->tail)
        self->tail->next = it;
    else
        self->head = it;
    self->tail = it;
    self->waiting++;
    s_send_some(self);
    return 0;
}

void coord_qc_answer(coord_t *coord)
{
    coord_qc_t *self = coord->qc;
    zmsg_t *msg = zmsg_recv(self->actor);
    if (!msg)
        return;
    if (self->inflight)
        self->inflight--;
    char *what = zmsg_popstr(msg), *id = zmsg_popstr(msg), *text = zmsg_popstr(msg);
    if (what && id && strcmp(what, "CHECKED") == 0) {
        dsp_analysis_t a;
        if (dsp_analysis_from_json(text, &a) == 0)
            coord_take_checked(coord, id, &a, text);
        else
            bb_error("take %s: the checker's answer does not parse", id);
    } else if (what && id) {
        /* unreadable after it was stored (the disk?): a failed take, recorded again */
        dsp_analysis_t a;
        memset(&a, 0, sizeof a);
        dsp_analysis_reason(&a, DSP_FAIL, "could not be checked: %s", text ? text : "");
        char *json = dsp_analysis_json(&a);
        bb_error("take %s could not be checked: %s", id, text ? text : "");
        coord_take_checked(coord, id, &a, json);
        free(json);
    }
    zstr_free(&what);
    zstr_free(&id);
    zstr_free(&text);
    zmsg_destroy(&msg);
    s_send_some(self);
}
