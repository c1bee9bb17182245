/*
 * store.h — the coordinator's state in SQLite (WAL, synchronous=FULL): nodes, batches,
 * instruments, jobs (one per planned take), takes (every take received), events.
 *
 * Durability is the point: a take is acknowledged to its node only after its row is
 * committed here, and a coordinator restarted on the same state directory continues
 * every batch where it was. Jobs that were out on a node when the coordinator stopped go
 * back to pending at startup; if their takes arrive later they are still accepted.
 *
 * All functions return 0 or a negative bb_err (BB_ENOTFOUND when a row is missing,
 * BB_EDB when SQLite fails; coord_store_errmsg() then says why). A store keeps its
 * prepared statements, so one store object belongs to one thread (the event loop and the
 * worker each open their own).
 */
#ifndef COORD_STORE_H
#define COORD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bb_take_id.h"

typedef struct coord_store_t coord_store_t;

/* Job states */
enum {
    JOB_PENDING = 0,
    JOB_DISPATCHED = 1,
    JOB_DONE = 2,
    JOB_FAILED = 3,
    JOB_CANCELLED = 4,
    JOB_STORED = 5 /* its take is stored and being checked (qc_worker.c) */
};
#define COORD_VERDICT_PENDING (-1) /* a take row not checked yet */

typedef struct {
    uint64_t id;
    char name[128];
    int state; /* Bb__BatchState */
    char out_dir[1024];
    double created, finished;
    char message[256];
    void *spec; /* packed bb.BatchSpec, malloc'd */
    size_t spec_len;
} coord_batch_row_t;

typedef struct {
    uint64_t batch_id;
    int idx;
    char name[128];
    char safe_name[96];
    char node[64];
    int state; /* Bb__InstrumentState */
    char message[256];
    char library_path[1024];
    double started, finished;
    int files;
} coord_inst_row_t;

typedef struct {
    int64_t id;
    uint64_t batch_id;
    int inst_idx;
    int seq;
    int note, velocity, rr;
    bool release;
    int state;
    int attempts;
    int retakes;
    char take_id[BB_TAKE_ID_MAX + 1];    /* the take that completed it */
    char dispatched[BB_TAKE_ID_MAX + 1]; /* the take id last sent to a node */
    char node[64];
    char message[256];
} coord_job_row_t;

typedef struct {
    char id[BB_TAKE_ID_MAX + 1];
    int64_t job_id;
    uint64_t batch_id;
    int inst_idx;
    char node[64];
    char path[1024]; /* raw take WAV */
    int64_t frames;
    int sample_rate, channels;
    int64_t note_on_frame, note_off_frame, stream_start_frame;
    int64_t xruns;
    double noise_floor_db;
    bool release_capped;
    double latency_offset_ms;
    double received;
    int verdict;   /* 0 pass, 1 warn, 2 fail */
    char *qc_json; /* analysis results; may be NULL */
    int64_t cut_start, cut_end;
    double peak_db;
    bool superseded; /* arrived for a job another take had completed */
} coord_take_row_t;

coord_store_t *coord_store_open(const char *path, char *err, size_t errlen);
void coord_store_close(coord_store_t **self_p);
const char *coord_store_errmsg(coord_store_t *self);

int coord_store_begin(coord_store_t *self);
int coord_store_commit(coord_store_t *self);
void coord_store_rollback(coord_store_t *self);

/* ---- nodes ---- */
int coord_store_node_seen(coord_store_t *self, const char *name, const char *session,
                          const void *caps, size_t caps_len, int rate, int channels);
int coord_store_node_latency(coord_store_t *self, const char *name, double *ms, bool *has);
int coord_store_node_set_latency(coord_store_t *self, const char *name, double ms);

/* ---- batches ---- */
int coord_store_batch_insert(coord_store_t *self, const char *name, const void *spec,
                             size_t spec_len, const char *out_dir, uint64_t *id);
int coord_store_batch_get(coord_store_t *self, uint64_t id, coord_batch_row_t *out);
void coord_batch_row_free(coord_batch_row_t *row);
int coord_store_batch_set_state(coord_store_t *self, uint64_t id, int state, const char *message);
int coord_store_batch_set_out_dir(coord_store_t *self, uint64_t id, const char *out_dir);
/* Ids of batches, newest first; only_active keeps running and paused ones. */
int coord_store_batch_ids(coord_store_t *self, bool only_active, uint64_t **ids, size_t *n);

/* ---- instruments ---- */
int coord_store_inst_insert(coord_store_t *self, uint64_t batch, int idx, const char *name,
                            const char *safe_name, const char *node);
int coord_store_inst_get(coord_store_t *self, uint64_t batch, int idx, coord_inst_row_t *out);
int coord_store_inst_count(coord_store_t *self, uint64_t batch, int *n);
int coord_store_inst_set_state(coord_store_t *self, uint64_t batch, int idx, int state,
                               const char *message);
int coord_store_inst_set_started(coord_store_t *self, uint64_t batch, int idx);
int coord_store_inst_set_library(coord_store_t *self, uint64_t batch, int idx, const char *path,
                                 int files);

/* ---- jobs ---- */
int coord_store_job_insert(coord_store_t *self, uint64_t batch, int idx, int seq, int note,
                           int velocity, int rr, bool release);
int coord_store_job_get(coord_store_t *self, int64_t job_id, coord_job_row_t *out);
int coord_store_job_next_pending(coord_store_t *self, uint64_t batch, int idx,
                                 coord_job_row_t *out);
/* First dispatched job of an instrument (the one recording now). */
int coord_store_job_current(coord_store_t *self, uint64_t batch, int idx, coord_job_row_t *out);
int coord_store_job_dispatch(coord_store_t *self, int64_t job_id, const char *take_id,
                             const char *node);
/* Back to pending if it is still dispatched as take_id. */
int coord_store_job_requeue(coord_store_t *self, int64_t job_id, const char *take_id,
                            const char *message);
/* Every job dispatched to `node` back to pending; *n = how many. */
int coord_store_jobs_requeue_node(coord_store_t *self, const char *node, int *n);
/* Every dispatched job back to pending (coordinator start). */
int coord_store_jobs_requeue_all(coord_store_t *self, int *n);
int coord_store_job_finish(coord_store_t *self, int64_t job_id, int state, const char *take_id,
                           const char *message);
/* A failed take: pending again for a retake. */
int coord_store_job_retake(coord_store_t *self, int64_t job_id, const char *message);
int coord_store_job_find_by_take(coord_store_t *self, const char *take_id, coord_job_row_t *out);
int coord_store_job_count(coord_store_t *self, uint64_t batch, int idx, int state, int *n);
int coord_store_job_count_node(coord_store_t *self, const char *node, int state, int *n);
int coord_store_jobs_cancel(coord_store_t *self, uint64_t batch);
int coord_store_retakes(coord_store_t *self, uint64_t batch, int idx, int *n);
/* The QC analyses (dsp_analysis_json text) of the checked takes of one note of an
 * instrument, release takes or not, every attempt, except take `except`: *json_out is a
 * malloc'd array of *n_out malloc'd strings (free with coord_store_strings_free). Returns 0
 * or BB_EDB / BB_ENOMEM (nothing to free then). */
int coord_store_note_analyses(coord_store_t *self, uint64_t batch, int idx, int note, bool release,
                              const char *except, char ***json_out, size_t *n_out);
void coord_store_strings_free(char **v, size_t n);

/* ---- takes ---- */
int coord_store_take_exists(coord_store_t *self, const char *id, bool *exists);
int coord_store_take_insert(coord_store_t *self, const coord_take_row_t *take);
int coord_store_take_get(coord_store_t *self, const char *id, coord_take_row_t *out);
/* Records a take's analysis. */
int coord_store_take_set_qc(coord_store_t *self, const char *id, int verdict, const char *qc_json,
                            int64_t cut_start, int64_t cut_end, double peak_db);
/* Ids of takes not checked yet (verdict COORD_VERDICT_PENDING); malloc'd like take_ids. */
int coord_store_takes_unchecked(coord_store_t *self, char ***ids, size_t *n);
void coord_take_row_free(coord_take_row_t *row);

/* ---- events ---- */
int coord_store_event(coord_store_t *self, uint64_t batch, int kind, const char *instrument,
                      const char *take_id, const char *message);

/* ---- jobs by slot, export rows ---- */
/* The job of (batch, instrument, seq). */
int coord_store_job_by_slot(coord_store_t *self, uint64_t batch, int idx, int seq,
                            coord_job_row_t *out);
/* Marks a pending job dispatched again without counting an attempt (its take is on its way). */
int coord_store_job_mark_dispatched(coord_store_t *self, int64_t job_id, const char *take_id);

/* A finished job with its take, for export. */
typedef struct {
    coord_job_row_t job;
    coord_take_row_t take;
} coord_export_row_t;
/* Jobs of an instrument that have a take (DONE or FAILED), in seq order. */
int coord_store_export_rows(coord_store_t *self, uint64_t batch, int idx, coord_export_row_t **rows,
                            size_t *n);
void coord_export_rows_free(coord_export_row_t *rows, size_t n);

/* Ids of every take of a batch (retakes and superseded ones included), by instrument and
 * arrival; *ids and each entry are malloc'd. */
int coord_store_take_ids(coord_store_t *self, uint64_t batch, char ***ids, size_t *n);

/* ---- library files: what this coordinator wrote into a library folder ---- */

typedef struct {
    char path[512]; /* relative to the library root, '/'-separated */
    uint64_t size;
    uint32_t crc32;
} coord_lib_file_t;

/* Replaces the files recorded under root/folder/ with `files` (paths start "folder/"), and
 * records root's manifest.json and report.html (`root_files`), in one transaction. */
int coord_store_library_set(coord_store_t *self, const char *root, const char *folder,
                            const coord_lib_file_t *files, size_t n,
                            const coord_lib_file_t *root_files, size_t n_root);
/* Every file recorded under root; *files is malloc'd. */
int coord_store_library_files(coord_store_t *self, const char *root, coord_lib_file_t **files,
                              size_t *n);
/* The batch whose export root/folder holds now (the last one written there); batch 0
 * forgets it. coord_store_library_owner: BB_ENOTFOUND when none is recorded (a library
 * written before owners were kept). */
int coord_store_library_owner_set(coord_store_t *self, const char *root, const char *folder,
                                  uint64_t batch);
int coord_store_library_owner(coord_store_t *self, const char *root, const char *folder,
                              uint64_t *batch);
/* Whether root/folder is an instrument folder this coordinator wrote. */
int coord_store_library_has_folder(coord_store_t *self, const char *root, const char *folder,
                                   bool *has);

/* ---- submit request ids, nodes forgotten, instruments moved ---- */

/* The batch a submit with this client request id made; BB_ENOTFOUND when none. */
int coord_store_request_find(coord_store_t *self, const char *request_id, uint64_t *batch);
int coord_store_request_insert(coord_store_t *self, const char *request_id, uint64_t batch);
/* Removes a node's row (its name, calibration, capabilities). */
int coord_store_node_forget(coord_store_t *self, const char *name);
/* When the node was last heard from (Unix s); BB_ENOTFOUND for a node never seen. */
int coord_store_node_last_seen(coord_store_t *self, const char *name, double *unix_s);
/* The oldest running or paused batch with an instrument on the node; BB_ENOTFOUND: none. */
int coord_store_node_active_batch(coord_store_t *self, const char *name, uint64_t *batch);
/* A paused batch with an instrument on the node, when no running one has; BB_ENOTFOUND:
 * none. */
int coord_store_node_paused_batch(coord_store_t *self, const char *name, uint64_t *batch);
int coord_store_inst_set_node(coord_store_t *self, uint64_t batch, int idx, const char *node);
/* The instrument's jobs out on a node back to pending; *n = how many. */
int coord_store_jobs_requeue_inst(coord_store_t *self, uint64_t batch, int idx, int *n);

/* ---- batches whose takes are still being written (planner.c) ---- */

typedef struct {
    uint64_t batch_id;
    int inst_idx;  /* the instrument being written */
    int next_seq;  /* its next job */
    int64_t done;  /* jobs of the batch written */
    int64_t total; /* jobs of the batch */
} coord_plan_row_t;
int coord_store_plan_put(coord_store_t *self, const coord_plan_row_t *p);
int coord_store_plan_delete(coord_store_t *self, uint64_t batch);
/* Every batch still being written, oldest first; *rows is malloc'd. */
int coord_store_plan_all(coord_store_t *self, coord_plan_row_t **rows, size_t *n);

/* Names of every node ever registered; *names is malloc'd, each entry too. */
int coord_store_node_names(coord_store_t *self, char ***names, size_t *n);

/* ---- operator housekeeping (service_housekeeping.c) ---- */
/* Replaces the stored plan (packed bb.BatchSpec) of a batch. */
int coord_store_batch_set_spec(coord_store_t *self, uint64_t id, const void *spec, size_t len);
/* A retake the operator asked for: the job's take is marked superseded and the job is
 * pending again with a fresh allowance of automatic retakes. */
int coord_store_job_retake_manual(coord_store_t *self, int64_t job_id);
/* Every row of a batch: takes, jobs, instruments, events and the batch itself. */
int coord_store_batch_delete(coord_store_t *self, uint64_t id);
/* The raw take files of a batch; *paths and each entry malloc'd. */
int coord_store_take_paths(coord_store_t *self, uint64_t batch, char ***paths, size_t *n);

#endif
