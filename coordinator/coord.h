/*
 * coord.h — the coordinator: one object shared by its parts.
 *
 * One thread runs everything that touches the database and the sockets (the main loop in
 * coord.c): the node endpoint (bb.NodeLink served, bb.Capture called), the operator
 * endpoint (bb.Operator served), the event publisher, and a 100 ms tick for liveness and
 * scheduling. Exports run on a worker actor (worker.c) with its own database connection,
 * so a long export never delays a heartbeat or a take acknowledgement.
 */
#ifndef COORD_COORD_H
#define COORD_COORD_H

#include <czmq.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bb_guard.h"
#include "bb_rpc.h"
#include "ingest.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"
#include "pipeline.h"
#include "registry.h"
#include "store.h"

#define COORD_NODE_WINDOW     2 /* jobs out on a node at once: one recording, one queued */
#define COORD_DEFAULT_RETAKES 2
#define COORD_CALL_TIMEOUT_MS 5000
#define COORD_MAX_MSG_BYTES   (512 * 1024) /* one inbound frame, at most (ZMQ_MAXMSGSIZE) */
#define COORD_MAX_PEERS       256          /* connections per endpoint */
#define COORD_HWM             64           /* messages queued per peer */
#define COORD_MAX_NODES       256          /* node names remembered; more: nodes forget */
#define COORD_TAKE_MARGIN_MS  2000         /* a take may run this much past its plan (and 10 %) */
#define COORD_DISK_RESERVE_MB 256.0        /* --disk-reserve default */
#define COORD_TAKE_FAILURES   3 /* takes in a row a node cannot record before it is held */

typedef enum {
    COORD_AUTH_AUTO = 0, /* CURVE when the state folder holds keys (batcherbird keys init) */
    COORD_AUTH_CURVE,
    COORD_AUTH_NONE
} coord_auth_t;

typedef struct {
    const char *state_dir;
    const char *library_dir; /* every batch's library lies under it; NULL: <state>/library */
    const char *node_endpoint;
    const char *operator_endpoint;
    const char *event_endpoint;
    int heartbeat_ms;
    int offline_after_ms; /* silence after which a node is offline */
    coord_auth_t auth;
    bool insecure;          /* allow plaintext on an endpoint other machines reach */
    int max_peers;          /* connections per endpoint; 0: COORD_MAX_PEERS */
    double disk_reserve_mb; /* free space kept on the state folder's disk: no takes below it */
} coord_config_t;

typedef struct coord_t coord_t;
typedef struct coord_qc_t coord_qc_t;

typedef struct {
    Bb__NodeLink_Service service;
    coord_t *coord;
} coord_nodelink_svc_t;

typedef struct {
    Bb__Operator_Service service;
    coord_t *coord;
} coord_operator_svc_t;

/* A batch spec kept unpacked while the batch is active. */
typedef struct coord_spec_cache_t {
    uint64_t batch_id;
    Bb__BatchSpec *spec;
    struct coord_spec_cache_t *next;
} coord_spec_cache_t;

/* Which node session an instrument's MIDI setup was last sent to. */
typedef struct coord_setup_sent_t {
    uint64_t batch_id;
    int idx;
    char session[64];
    struct coord_setup_sent_t *next;
} coord_setup_sent_t;

/* A certificate the coordinator trusts (a file in the trusted folder). */
typedef struct {
    char name[64], role[16];
    char key[48]; /* public key, Z85 */
} coord_trusted_t;

struct coord_t {
    coord_config_t cfg;
    char state_dir[1024];
    char takes_dir[1100];
    char db_path[1100];
    char library_dir[PATH_MAX]; /* realpath of the library root */
    char session[64];
    bool curve;            /* the endpoints use CurveZMQ */
    zcert_t *cert;         /* the coordinator's key pair, when curve */
    zactor_t *auth;        /* zauth, when curve */
    bb_guard_t *pub_guard; /* connections on the event endpoint */
    int lock_fd;           /* flock on <state>/coordinator.lock: one coordinator per state folder */
    coord_store_t *store;
    bb_rpc_t *nodes_rpc;
    bb_rpc_t *ops_rpc;
    zsock_t *pub;
    zactor_t *worker;
    coord_qc_t *qc; /* the take checker (qc_worker.c) */
    coord_registry_t *registry;
    coord_ingest_t *ingest;
    coord_nodelink_svc_t nodelink;
    coord_operator_svc_t operator;
    coord_spec_cache_t *specs;
    coord_setup_sent_t *setups;
    bool schedule_soon;
    zpoller_t *poller;       /* coord_step's */
    coord_plan_row_t *plans; /* batches whose jobs are still being written (planner.c) */
    size_t n_plans;
    int64_t next_tick; /* monotonic ms of the next liveness check */
    bool disk_full;    /* the state folder's disk is below disk_reserve_mb */
    /* the certificates in the trusted folder (name, role, public key), read again when the
     * folder changes (coord_node_trusted, and every request: bb_rpc_set_trust) */
    struct timespec trusted_mtime;
    coord_trusted_t *trusted;
    size_t n_trusted;
    bool feed_recheck; /* a key left the trusted folder: the event feed's connections are
                          closed at the next tick, so its subscribers authenticate again */
    char disk_message[1200];
};

coord_t *coord_new(const coord_config_t *cfg, char *err, size_t errlen);
void coord_destroy(coord_t **self_p);
/* Runs until interrupted (SIGINT/SIGTERM). */
int coord_run(coord_t *self);
/* One turn of the loop: waits for work at most max_wait_ms (-1: until the next timer),
 * handles what came, runs the timers. 0, or -1 when interrupted. (coord_run is this in a
 * loop; the fuzz targets drive the coordinator with it.) */
int coord_step(coord_t *self, int max_wait_ms);

/* ---- used across the coordinator's files ---- */

/* Whether node `name` still has a trusted certificate (role node, that name) in the state
 * folder's trusted folder: false once `batcherbird keys revoke` removed it. Always true in
 * plaintext (--auth none). */
bool coord_node_trusted(coord_t *self, const char *name);

/* Records an event in the database and publishes it. */
/* The outcome of an instrument's level check (gain staging), see service_node.c. */
typedef struct {
    double loudest_db, target_db, change_db;
    int note, measured, clipped;
    int cc7; /* 0: leave the instrument's volume alone */
} coord_level_t;
/* 0 with *out filled; BB_EBUSY while level-check takes are outstanding; BB_ENOTFOUND when
 * the instrument has none. */
int coord_level_result(coord_t *self, uint64_t batch, int idx, coord_level_t *out);

void coord_event(coord_t *self, uint64_t batch, Bb__EventKind kind, const char *instrument,
                 const char *take_id, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* The unpacked spec of a batch (cached); NULL if the batch does not exist. */
const Bb__BatchSpec *coord_spec(coord_t *self, uint64_t batch_id);
void coord_spec_forget(coord_t *self, uint64_t batch_id);

/* scheduler.c */
void coord_schedule(coord_t *self);
void coord_check_liveness(coord_t *self);
void coord_instrument_exported(coord_t *self, uint64_t batch, int idx, bool ok, int files,
                               const char *path, const char *message);
void coord_node_went_away(coord_t *self, coord_node_t *node, const char *why);

/* service_node.c, service_operator.c */
/* The folder a batch's library goes to, from what the operator asked (`want`): inside the
 * library root, made if missing, and able to take the spec's instruments without touching
 * anything Batcherbird did not write. BB_STATUS_OK with its real path in out, or a status
 * with msg. */
int coord_out_dir(coord_t *self, const char *want, const Bb__BatchSpec *spec, char *out,
                  size_t outlen, char *msg, size_t len);
void coord_nodelink_init(coord_t *self);
void coord_operator_init(coord_t *self);
int coord_batch_status(coord_t *self, uint64_t batch_id, Bb__BatchStatus **out);
void coord_batch_status_free(Bb__BatchStatus *st);

/* planner.c: a batch's jobs written in bounded steps */
#define COORD_PLAN_STEP_JOBS 2000 /* jobs written per turn of the loop, at most */
#define COORD_PLAN_STEP_MS   20   /* and for at most this long */
/* Starts writing batch's jobs: its planning row, inside the submit's transaction;
 * coord_plan_load() after the commit. */
int coord_plan_start(coord_t *self, uint64_t batch, int64_t total);
/* Writes the next jobs, at most `budget`; returns how many (0: nothing left), or an error. */
int coord_plan_step(coord_t *self, int budget);
/* Reads the planning rows (startup). */
int coord_plan_load(coord_t *self);
/* Whether instrument idx (-1: any) of batch still has jobs to be written; *done and *total
 * (may be NULL) count the batch's jobs. */
bool coord_planning(coord_t *self, uint64_t batch, int idx, int64_t *done, int64_t *total);

/* qc_worker.c: the take checker */
coord_qc_t *coord_qc_new(const char *db_path);
void coord_qc_destroy(coord_qc_t **self_p);
zsock_t *coord_qc_sock(coord_qc_t *self);
/* Queues a stored take for analysis. */
int coord_qc_queue(coord_qc_t *self, const char *take_id);
/* Takes queued or being analysed. */
size_t coord_qc_backlog(coord_qc_t *self);
/* Reads one answer of the checker and applies it. */
void coord_qc_answer(coord_t *self);
/* service_node.c: applies a take's analysis: its verdict, and its job done, retaken or
 * failed, in one transaction; then the events. `json` is the analysis as stored. */
void coord_take_checked(coord_t *self, const char *take_id, const dsp_analysis_t *a,
                        const char *json);

/* worker.c: the export actor */
zactor_t *coord_worker_new(const char *db_path);
/* Asks the worker to export an instrument; it answers on its pipe
 * ["EXPORTED", batch, idx, files, path] or ["FAILED", batch, idx, message]. */
void coord_worker_export(zactor_t *worker, uint64_t batch, int idx);
/* Reads one answer and applies it. */
void coord_worker_answer(coord_t *self);

#endif
