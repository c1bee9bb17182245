/*
 * store.c — SQLite state of store.h.
 *
 * Every statement goes through one helper, s_run(), that takes it from the store's cache
 * (each SQL text is prepared once, on first use, and kept), binds parameters from a type
 * string ('i' int64, 'd' double, 't' text, 'b' blob + length) and steps once; a row, if
 * any, is left for the caller to read, then s_done() resets the statement for its next
 * use. A statement still open when the same SQL is asked for again (a caller reading
 * rows while calling another store function) gets a one-off copy, finalised at s_done().
 * States are written and compared through bound parameters with their names (JOB_*,
 * BB__BATCH_STATE__*, BB__INSTRUMENT_STATE__*), never as numbers in the SQL text.
 * The schema is created if missing; `meta.schema` records its version for migrations.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"
#include "operator.pb-c.h"

#define COORD_SCHEMA_VERSION  1
#define COORD_BUSY_TIMEOUT_MS 5000
#define S_STMT_CACHE_MAX      64 /* distinct SQL texts in this file, with room to spare */

typedef struct {
    const char *sql; /* the text it was prepared from (a string literal of this file) */
    sqlite3_stmt *st;
    bool busy; /* handed out and not yet s_done() */
} s_stmt_t;

struct coord_store_t {
    sqlite3 *db;
    char err[256];
    s_stmt_t stmts[S_STMT_CACHE_MAX];
    int n_stmts;
};

/* A growing array's room for one more element: arr (n used of *cap, elements of `size`
 * bytes) as it is while there is room, else reallocated to twice *cap (first when empty).
 * Returns NULL when out of memory (arr and *cap are then unchanged). */
static void *s_grow(void *arr, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : first;
    void *na = realloc(arr, nc * size);
    if (na)
        *cap = nc;
    return na;
}

static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS nodes(name TEXT PRIMARY KEY, session TEXT, caps BLOB,"
    "  sample_rate INT, channels INT, latency_offset_ms REAL, has_latency INT DEFAULT 0,"
    "  first_seen REAL, last_seen REAL);"
    "CREATE TABLE IF NOT EXISTS batches(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT,"
    "  spec BLOB, state INT, out_dir TEXT, created REAL, finished REAL, message TEXT);"
    "CREATE TABLE IF NOT EXISTS instruments(batch_id INT, idx INT, name TEXT, safe_name TEXT,"
    "  node TEXT, state INT, message TEXT, library_path TEXT, started REAL, finished REAL,"
    "  files INT DEFAULT 0, PRIMARY KEY(batch_id, idx));"
    "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY AUTOINCREMENT, batch_id INT,"
    "  inst_idx INT, seq INT, note INT, velocity INT, rr INT, release INT DEFAULT 0,"
    "  state INT, attempts INT DEFAULT 0, retakes INT DEFAULT 0, take_id TEXT,"
    "  dispatched TEXT, node TEXT, message TEXT, UNIQUE(batch_id, inst_idx, seq));"
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(batch_id, inst_idx, state, seq);"
    "CREATE INDEX IF NOT EXISTS jobs_node ON jobs(node, state);"
    "CREATE INDEX IF NOT EXISTS jobs_dispatched ON jobs(dispatched);"
    "CREATE TABLE IF NOT EXISTS takes(id TEXT PRIMARY KEY, job_id INT, batch_id INT,"
    "  inst_idx INT, node TEXT, path TEXT, frames INT, sample_rate INT, channels INT,"
    "  note_on_frame INT, note_off_frame INT, stream_start_frame INT, xruns INT,"
    "  noise_floor_db REAL, release_capped INT, latency_offset_ms REAL, received REAL,"
    "  verdict INT, qc TEXT, cut_start INT, cut_end INT, peak_db REAL, superseded INT);"
    "CREATE INDEX IF NOT EXISTS takes_job ON takes(job_id);"
    "CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL,"
    "  batch_id INT, kind INT, instrument TEXT, take_id TEXT, message TEXT);"
    "CREATE TABLE IF NOT EXISTS library_files(root TEXT, path TEXT, folder TEXT, size INT,"
    "  crc32 INT, PRIMARY KEY(root, path));"
    "CREATE INDEX IF NOT EXISTS library_folders ON library_files(root, folder);"
    "CREATE TABLE IF NOT EXISTS library_owners(root TEXT, folder TEXT, batch_id INT,"
    "  PRIMARY KEY(root, folder));"
    "CREATE TABLE IF NOT EXISTS requests(id TEXT PRIMARY KEY, batch_id INT);"
    "CREATE TABLE IF NOT EXISTS planning(batch_id INTEGER PRIMARY KEY, inst_idx INT,"
    "  next_seq INT, done INT, total INT);";

const char *coord_store_errmsg(coord_store_t *self)
{
    return self->err;
}

static int s_fail(coord_store_t *self, const char *what)
{
    snprintf(self->err, sizeof self->err, "%s: %s", what, sqlite3_errmsg(self->db));
    bb_error("database: %s", self->err);
    return BB_EDB;
}

/* The cached statement for sql, prepared on first use; a one-off when the cached one is
 * in use or the cache is full. Returns 0 or BB_EDB. */
static int s_prepare(coord_store_t *self, const char *sql, sqlite3_stmt **out)
{
    s_stmt_t *slot = NULL;
    for (int i = 0; i < self->n_stmts; i++) {
        s_stmt_t *c = &self->stmts[i];
        if (c->sql == sql || strcmp(c->sql, sql) == 0) {
            if (c->busy)
                break; /* nested use of the same statement: a one-off */
            c->busy = true;
            *out = c->st;
            return 0;
        }
    }
    if (self->n_stmts < S_STMT_CACHE_MAX)
        slot = &self->stmts[self->n_stmts];
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(self->db, sql, -1, slot ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) !=
        SQLITE_OK)
        return s_fail(self, "prepare");
    if (slot) {
        *slot = (s_stmt_t){.sql = sql, .st = st, .busy = true};
        self->n_stmts++;
    }
    *out = st;
    return 0;
}

/* Gives a statement from s_prepare back: reset for its next use, or finalised if a
 * one-off. */
static void s_done(coord_store_t *self, sqlite3_stmt *st)
{
    for (int i = 0; i < self->n_stmts; i++) {
        if (self->stmts[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            self->stmts[i].busy = false;
            return;
        }
    }
    sqlite3_finalize(st); /* a one-off */
}

/* Takes `sql` from the cache, binds the arguments described by `types`, steps once.
 * Returns SQLITE_ROW / SQLITE_DONE in *step; the statement stays open for reading until
 * s_done(). */
static int s_vrun(coord_store_t *self, sqlite3_stmt **out, int *step, const char *sql,
                  const char *types, va_list ap)
{
    sqlite3_stmt *st = NULL;
    if (s_prepare(self, sql, &st))
        return BB_EDB;
    int i = 1;
    for (const char *t = types; t && *t; t++, i++) {
        int rc = SQLITE_OK;
        switch (*t) {
        case 'i':
            rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
            break;
        case 'd':
            rc = sqlite3_bind_double(st, i, va_arg(ap, double));
            break;
        case 't': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            rc = sqlite3_bind_blob(st, i, p, (int)len, SQLITE_TRANSIENT);
            break;
        }
        }
        if (rc != SQLITE_OK) {
            int err = s_fail(self, "bind");
            s_done(self, st);
            return err;
        }
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        int err = s_fail(self, "step");
        s_done(self, st);
        return err;
    }
    *step = rc;
    *out = st;
    return 0;
}

static int s_run(coord_store_t *self, sqlite3_stmt **out, int *step, const char *sql,
                 const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = s_vrun(self, out, step, sql, types, ap);
    va_end(ap);
    return rc;
}

/* Runs a statement that returns no rows. */
static int s_exec(coord_store_t *self, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    int step;
    va_list ap;
    va_start(ap, types);
    int rc = s_vrun(self, &st, &step, sql, types, ap);
    va_end(ap);
    if (!rc)
        s_done(self, st);
    return rc;
}

static void s_text(sqlite3_stmt *st, int col, char *out, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, len, "%s", t ? (const char *)t : "");
}

coord_store_t *coord_store_open(const char *path, char *err, size_t errlen)
{
    coord_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (sqlite3_open_v2(path, &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 self->db ? sqlite3_errmsg(self->db) : "out of memory");
        sqlite3_close(self->db);
        free(self);
        return NULL;
    }
    sqlite3_busy_timeout(self->db, COORD_BUSY_TIMEOUT_MS);
    char *msg = NULL;
    if (sqlite3_exec(self->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "PRAGMA foreign_keys=ON;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(self->db, s_schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up database %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(self->db);
        free(self);
        return NULL;
    }
    char version[32];
    snprintf(version, sizeof version, "%d", COORD_SCHEMA_VERSION);
    s_exec(self, "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', ?)", "t", version);
    return self;
}

void coord_store_close(coord_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_store_t *self = *self_p;
    for (int i = 0; i < self->n_stmts; i++)
        sqlite3_finalize(self->stmts[i].st);
    sqlite3_close(self->db);
    free(*self_p);
    *self_p = NULL;
}

int coord_store_begin(coord_store_t *self)
{
    return sqlite3_exec(self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : s_fail(self, "begin");
}

int coord_store_commit(coord_store_t *self)
{
    return sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                           : s_fail(self, "commit");
}

void coord_store_rollback(coord_store_t *self)
{
    sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- nodes ---- */

int coord_store_node_seen(coord_store_t *self, const char *name, const char *session,
                          const void *caps, size_t caps_len, int rate, int channels)
{
    double now = bb_unix_s();
    return s_exec(self,
                  "INSERT INTO nodes(name, session, caps, sample_rate, channels, first_seen,"
                  " last_seen) VALUES(?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET"
                  " session=excluded.session, caps=excluded.caps,"
                  " sample_rate=excluded.sample_rate, channels=excluded.channels,"
                  " last_seen=excluded.last_seen",
                  "ttbiidd", name, session, caps, caps_len, (int64_t)rate, (int64_t)channels, now,
                  now);
}

int coord_store_node_latency(coord_store_t *self, const char *name, double *ms, bool *has)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step,
                   "SELECT latency_offset_ms, has_latency FROM nodes WHERE name=?", "t", name);
    if (rc)
        return rc;
    *has = false;
    *ms = 0;
    if (step == SQLITE_ROW) {
        *ms = sqlite3_column_double(st, 0);
        *has = sqlite3_column_int(st, 1) != 0;
    }
    s_done(self, st);
    return step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
}

int coord_store_node_set_latency(coord_store_t *self, const char *name, double ms)
{
    return s_exec(self, "UPDATE nodes SET latency_offset_ms=?, has_latency=1 WHERE name=?", "dt",
                  ms, name);
}

/* ---- batches ---- */

int coord_store_batch_insert(coord_store_t *self, const char *name, const void *spec,
                             size_t spec_len, const char *out_dir, uint64_t *id)
{
    int rc = s_exec(
        self, "INSERT INTO batches(name, spec, state, out_dir, created) VALUES(?,?,?,?,?)", "tbitd",
        name, spec, spec_len, (int64_t)BB__BATCH_STATE__BATCH_RUNNING, out_dir, bb_unix_s());
    if (!rc)
        *id = (uint64_t)sqlite3_last_insert_rowid(self->db);
    return rc;
}

int coord_store_batch_get(coord_store_t *self, uint64_t id, coord_batch_row_t *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step,
                   "SELECT id, name, state, out_dir, created, finished, message, spec"
                   " FROM batches WHERE id=?",
                   "i", (int64_t)id);
    if (rc)
        return rc;
    if (step != SQLITE_ROW) {
        s_done(self, st);
        return BB_ENOTFOUND;
    }
    out->id = (uint64_t)sqlite3_column_int64(st, 0);
    s_text(st, 1, out->name, sizeof out->name);
    out->state = sqlite3_column_int(st, 2);
    s_text(st, 3, out->out_dir, sizeof out->out_dir);
    out->created = sqlite3_column_double(st, 4);
    out->finished = sqlite3_column_double(st, 5);
    s_text(st, 6, out->message, sizeof out->message);
    out->spec_len = (size_t)sqlite3_column_bytes(st, 7);
    out->spec = malloc(out->spec_len ? out->spec_len : 1);
    if (out->spec && out->spec_len)
        memcpy(out->spec, sqlite3_column_blob(st, 7), out->spec_len);
    s_done(self, st);
    return out->spec ? 0 : BB_ENOMEM;
}

void coord_batch_row_free(coord_batch_row_t *row)
{
    free(row->spec);
    row->spec = NULL;
}

int coord_store_batch_set_state(coord_store_t *self, uint64_t id, int state, const char *message)
{
    bool ended = state == BB__BATCH_STATE__BATCH_DONE ||
                 state == BB__BATCH_STATE__BATCH_CANCELLED ||
                 state == BB__BATCH_STATE__BATCH_FAILED;
    return s_exec(self,
                  "UPDATE batches SET state=?, message=?, finished=CASE WHEN ? THEN ?"
                  " ELSE NULL END WHERE id=?",
                  "itidi", (int64_t)state, message ? message : "", (int64_t)ended, bb_unix_s(),
                  (int64_t)id);
}

int coord_store_batch_set_out_dir(coord_store_t *self, uint64_t id, const char *out_dir)
{
    return s_exec(self, "UPDATE batches SET out_dir=? WHERE id=?", "ti", out_dir, (int64_t)id);
}

int coord_store_batch_ids(coord_store_t *self, bool only_active, uint64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (s_prepare(self,
                  only_active ? "SELECT id FROM batches WHERE state IN (?,?) ORDER BY id"
                              : "SELECT id FROM batches ORDER BY id DESC",
                  &st))
        return BB_EDB;
    if (only_active) {
        sqlite3_bind_int64(st, 1, BB__BATCH_STATE__BATCH_RUNNING);
        sqlite3_bind_int64(st, 2, BB__BATCH_STATE__BATCH_PAUSED);
    }
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t *ni = s_grow(*ids, *n, &cap, sizeof **ids, 16);
        if (!ni) {
            s_done(self, st);
            return BB_ENOMEM;
        }
        *ids = ni;
        (*ids)[(*n)++] = (uint64_t)sqlite3_column_int64(st, 0);
    }
    s_done(self, st);
    return rc == SQLITE_DONE ? 0 : s_fail(self, "step");
}

/* ---- instruments ---- */

int coord_store_inst_insert(coord_store_t *self, uint64_t batch, int idx, const char *name,
                            const char *safe_name, const char *node)
{
    return s_exec(self,
                  "INSERT INTO instruments(batch_id, idx, name, safe_name, node, state, message)"
                  " VALUES(?,?,?,?,?,?,'')",
                  "iittti", (int64_t)batch, (int64_t)idx, name, safe_name, node,
                  (int64_t)BB__INSTRUMENT_STATE__INST_PENDING);
}

int coord_store_inst_get(coord_store_t *self, uint64_t batch, int idx, coord_inst_row_t *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step,
                   "SELECT name, safe_name, node, state, message, library_path, started, finished,"
                   " files FROM instruments WHERE batch_id=? AND idx=?",
                   "ii", (int64_t)batch, (int64_t)idx);
    if (rc)
        return rc;
    if (step != SQLITE_ROW) {
        s_done(self, st);
        return BB_ENOTFOUND;
    }
    out->batch_id = batch;
    out->idx = idx;
    s_text(st, 0, out->name, sizeof out->name);
    s_text(st, 1, out->safe_name, sizeof out->safe_name);
    s_text(st, 2, out->node, sizeof out->node);
    out->state = sqlite3_column_int(st, 3);
    s_text(st, 4, out->message, sizeof out->message);
    s_text(st, 5, out->library_path, sizeof out->library_path);
    out->started = sqlite3_column_double(st, 6);
    out->finished = sqlite3_column_double(st, 7);
    out->files = sqlite3_column_int(st, 8);
    s_done(self, st);
    return 0;
}

int coord_store_inst_count(coord_store_t *self, uint64_t batch, int *n)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step, "SELECT COUNT(*) FROM instruments WHERE batch_id=?", "i",
                   (int64_t)batch);
    if (rc)
        return rc;
    *n = sqlite3_column_int(st, 0);
    s_done(self, st);
    return 0;
}

int coord_store_inst_set_state(coord_store_t *self, uint64_t batch, int idx, int state,
                               const char *message)
{
    bool ended = state == BB__INSTRUMENT_STATE__INST_DONE ||
                 state == BB__INSTRUMENT_STATE__INST_CANCELLED ||
                 state == BB__INSTRUMENT_STATE__INST_FAILED;
    return s_exec(self,
                  "UPDATE instruments SET state=?, message=?, finished=CASE WHEN ? THEN ?"
                  " ELSE finished END WHERE batch_id=? AND idx=?",
                  "itidii", (int64_t)state, message ? message : "", (int64_t)ended, bb_unix_s(),
                  (int64_t)batch, (int64_t)idx);
}

int coord_store_inst_set_started(coord_store_t *self, uint64_t batch, int idx)
{
    return s_exec(self,
                  "UPDATE instruments SET started=? WHERE batch_id=? AND idx=? AND started IS NULL",
                  "dii", bb_unix_s(), (int64_t)batch, (int64_t)idx);
}

int coord_store_inst_set_library(coord_store_t *self, uint64_t batch, int idx, const char *path,
                                 int files)
{
    return s_exec(self, "UPDATE instruments SET library_path=?, files=? WHERE batch_id=? AND idx=?",
                  "tiii", path, (int64_t)files, (int64_t)batch, (int64_t)idx);
}

/* ---- jobs ---- */

int coord_store_job_insert(coord_store_t *self, uint64_t batch, int idx, int seq, int note,
                           int velocity, int rr, bool release)
{
    return s_exec(self,
                  "INSERT INTO jobs(batch_id, inst_idx, seq, note, velocity, rr, release, state)"
                  " VALUES(?,?,?,?,?,?,?,?)",
                  "iiiiiiii", (int64_t)batch, (int64_t)idx, (int64_t)seq, (int64_t)note,
                  (int64_t)velocity, (int64_t)rr, (int64_t)release, (int64_t)JOB_PENDING);
}

#define S_JOB_COLS                                                                                 \
    "id, batch_id, inst_idx, seq, note, velocity, rr, release, state, attempts, retakes,"          \
    " take_id, dispatched, node, message"

static void s_job_row(sqlite3_stmt *st, coord_job_row_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    out->batch_id = (uint64_t)sqlite3_column_int64(st, 1);
    out->inst_idx = sqlite3_column_int(st, 2);
    out->seq = sqlite3_column_int(st, 3);
    out->note = sqlite3_column_int(st, 4);
    out->velocity = sqlite3_column_int(st, 5);
    out->rr = sqlite3_column_int(st, 6);
    out->release = sqlite3_column_int(st, 7) != 0;
    out->state = sqlite3_column_int(st, 8);
    out->attempts = sqlite3_column_int(st, 9);
    out->retakes = sqlite3_column_int(st, 10);
    s_text(st, 11, out->take_id, sizeof out->take_id);
    s_text(st, 12, out->dispatched, sizeof out->dispatched);
    s_text(st, 13, out->node, sizeof out->node);
    s_text(st, 14, out->message, sizeof out->message);
}

/* One job row by a query of S_JOB_COLS; arguments as s_run's. BB_ENOTFOUND when none. */
static int s_job_query(coord_store_t *self, coord_job_row_t *out, const char *sql,
                       const char *types, ...)
{
    sqlite3_stmt *st;
    int step;
    va_list ap;
    va_start(ap, types);
    int rc = s_vrun(self, &st, &step, sql, types, ap);
    va_end(ap);
    if (rc)
        return rc;
    if (step == SQLITE_ROW)
        s_job_row(st, out);
    s_done(self, st);
    return step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
}

int coord_store_job_get(coord_store_t *self, int64_t job_id, coord_job_row_t *out)
{
    return s_job_query(self, out, "SELECT " S_JOB_COLS " FROM jobs WHERE id=?", "i", job_id);
}

int coord_store_job_next_pending(coord_store_t *self, uint64_t batch, int idx, coord_job_row_t *out)
{
    return s_job_query(self, out,
                       "SELECT " S_JOB_COLS " FROM jobs WHERE batch_id=? AND inst_idx=? AND state=?"
                       " ORDER BY seq LIMIT 1",
                       "iii", (int64_t)batch, (int64_t)idx, (int64_t)JOB_PENDING);
}

int coord_store_job_current(coord_store_t *self, uint64_t batch, int idx, coord_job_row_t *out)
{
    return s_job_query(self, out,
                       "SELECT " S_JOB_COLS " FROM jobs WHERE batch_id=? AND inst_idx=? AND state=?"
                       " ORDER BY seq LIMIT 1",
                       "iii", (int64_t)batch, (int64_t)idx, (int64_t)JOB_DISPATCHED);
}

int coord_store_job_dispatch(coord_store_t *self, int64_t job_id, const char *take_id,
                             const char *node)
{
    return s_exec(self,
                  "UPDATE jobs SET state=?, attempts=attempts+1, dispatched=?, node=? WHERE id=?",
                  "itti", (int64_t)JOB_DISPATCHED, take_id, node, job_id);
}

int coord_store_job_requeue(coord_store_t *self, int64_t job_id, const char *take_id,
                            const char *message)
{
    return s_exec(
        self, "UPDATE jobs SET state=?, message=? WHERE id=? AND state=? AND dispatched=?", "itiit",
        (int64_t)JOB_PENDING, message ? message : "", job_id, (int64_t)JOB_DISPATCHED, take_id);
}

int coord_store_jobs_requeue_node(coord_store_t *self, const char *node, int *n)
{
    int rc = s_exec(self, "UPDATE jobs SET state=? WHERE state=? AND node=?", "iit",
                    (int64_t)JOB_PENDING, (int64_t)JOB_DISPATCHED, node);
    *n = rc ? 0 : sqlite3_changes(self->db);
    return rc;
}

int coord_store_jobs_requeue_all(coord_store_t *self, int *n)
{
    int rc = s_exec(self, "UPDATE jobs SET state=? WHERE state=?", "ii", (int64_t)JOB_PENDING,
                    (int64_t)JOB_DISPATCHED);
    *n = rc ? 0 : sqlite3_changes(self->db);
    return rc;
}

int coord_store_job_finish(coord_store_t *self, int64_t job_id, int state, const char *take_id,
                           const char *message)
{
    return s_exec(self, "UPDATE jobs SET state=?, take_id=?, message=? WHERE id=?", "itti",
                  (int64_t)state, take_id, message ? message : "", job_id);
}

int coord_store_job_retake(coord_store_t *self, int64_t job_id, const char *message)
{
    return s_exec(self, "UPDATE jobs SET state=?, retakes=retakes+1, message=? WHERE id=?", "iti",
                  (int64_t)JOB_PENDING, message ? message : "", job_id);
}

int coord_store_job_find_by_take(coord_store_t *self, const char *take_id, coord_job_row_t *out)
{
    sqlite3_stmt *st;
    int step;
    int rc =
        s_run(self, &st, &step, "SELECT " S_JOB_COLS " FROM jobs WHERE dispatched=?", "t", take_id);
    if (rc)
        return rc;
    if (step == SQLITE_ROW)
        s_job_row(st, out);
    s_done(self, st);
    return step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
}

int coord_store_job_count(coord_store_t *self, uint64_t batch, int idx, int state, int *n)
{
    sqlite3_stmt *st;
    int step;
    int rc = state < 0 ? s_run(self, &st, &step,
                               "SELECT COUNT(*) FROM jobs WHERE batch_id=? AND inst_idx=?", "ii",
                               (int64_t)batch, (int64_t)idx)
                       : s_run(self, &st, &step,
                               "SELECT COUNT(*) FROM jobs WHERE batch_id=? AND inst_idx=? AND"
                               " state=?",
                               "iii", (int64_t)batch, (int64_t)idx, (int64_t)state);
    if (rc)
        return rc;
    *n = sqlite3_column_int(st, 0);
    s_done(self, st);
    return 0;
}

int coord_store_job_count_node(coord_store_t *self, const char *node, int state, int *n)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step, "SELECT COUNT(*) FROM jobs WHERE node=? AND state=?", "ti",
                   node, (int64_t)state);
    if (rc)
        return rc;
    *n = sqlite3_column_int(st, 0);
    s_done(self, st);
    return 0;
}

int coord_store_jobs_cancel(coord_store_t *self, uint64_t batch)
{
    return s_exec(self, "UPDATE jobs SET state=? WHERE batch_id=? AND state IN (?,?,?)", "iiiii",
                  (int64_t)JOB_CANCELLED, (int64_t)batch, (int64_t)JOB_PENDING,
                  (int64_t)JOB_DISPATCHED, (int64_t)JOB_STORED);
}

int coord_store_retakes(coord_store_t *self, uint64_t batch, int idx, int *n)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step,
                   "SELECT COALESCE(SUM(retakes),0) FROM jobs WHERE batch_id=? AND inst_idx=?",
                   "ii", (int64_t)batch, (int64_t)idx);
    if (rc)
        return rc;
    *n = sqlite3_column_int(st, 0);
    s_done(self, st);
    return 0;
}

int coord_store_note_analyses(coord_store_t *self, uint64_t batch, int idx, int note, bool release,
                              const char *except, char ***json_out, size_t *n_out)
{
    *json_out = NULL;
    *n_out = 0;
    sqlite3_stmt *st;
    if (s_prepare(self,
                  "SELECT t.qc FROM takes t JOIN jobs j ON t.job_id = j.id WHERE j.batch_id=? AND"
                  " j.inst_idx=? AND j.note=? AND j.release=? AND t.id != ? AND t.qc IS NOT NULL",
                  &st))
        return BB_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)batch);
    sqlite3_bind_int64(st, 2, idx);
    sqlite3_bind_int64(st, 3, note);
    sqlite3_bind_int64(st, 4, release ? 1 : 0);
    sqlite3_bind_text(st, 5, except, -1, SQLITE_TRANSIENT);
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        if (!text)
            continue;
        char **nv = s_grow(v, n, &cap, sizeof *v, 8);
        if (!nv)
            break;
        v = nv;
        if (!(v[n] = strdup(text)))
            break;
        n++;
    }
    s_done(self, st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        coord_store_strings_free(v, n);
        return s_fail(self, "step");
    }
    if (rc == SQLITE_ROW) { /* stopped early: out of memory */
        coord_store_strings_free(v, n);
        return BB_ENOMEM;
    }
    *json_out = v;
    *n_out = n;
    return 0;
}

void coord_store_strings_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- takes ---- */

int coord_store_take_exists(coord_store_t *self, const char *id, bool *exists)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step, "SELECT 1 FROM takes WHERE id=?", "t", id);
    if (rc)
        return rc;
    *exists = step == SQLITE_ROW;
    s_done(self, st);
    return 0;
}

int coord_store_take_insert(coord_store_t *self, const coord_take_row_t *t)
{
    return s_exec(self,
                  "INSERT INTO takes(id, job_id, batch_id, inst_idx, node, path, frames,"
                  " sample_rate, channels, note_on_frame, note_off_frame, stream_start_frame,"
                  " xruns, noise_floor_db, release_capped, latency_offset_ms, received, verdict,"
                  " qc, cut_start, cut_end, peak_db, superseded)"
                  " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  "tiiittiiiiiiididdit"
                  "iidi",
                  t->id, t->job_id, (int64_t)t->batch_id, (int64_t)t->inst_idx, t->node, t->path,
                  t->frames, (int64_t)t->sample_rate, (int64_t)t->channels, t->note_on_frame,
                  t->note_off_frame, t->stream_start_frame, t->xruns, t->noise_floor_db,
                  (int64_t)t->release_capped, t->latency_offset_ms, t->received,
                  (int64_t)t->verdict, t->qc_json, t->cut_start, t->cut_end, t->peak_db,
                  (int64_t)t->superseded);
}

int coord_store_take_get(coord_store_t *self, const char *id, coord_take_row_t *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step,
                   "SELECT id, job_id, batch_id, inst_idx, node, path, frames, sample_rate,"
                   " channels, note_on_frame, note_off_frame, stream_start_frame, xruns,"
                   " noise_floor_db, release_capped, latency_offset_ms, received, verdict, qc,"
                   " cut_start, cut_end, peak_db, superseded FROM takes WHERE id=?",
                   "t", id);
    if (rc)
        return rc;
    if (step != SQLITE_ROW) {
        s_done(self, st);
        return BB_ENOTFOUND;
    }
    s_text(st, 0, out->id, sizeof out->id);
    out->job_id = sqlite3_column_int64(st, 1);
    out->batch_id = (uint64_t)sqlite3_column_int64(st, 2);
    out->inst_idx = sqlite3_column_int(st, 3);
    s_text(st, 4, out->node, sizeof out->node);
    s_text(st, 5, out->path, sizeof out->path);
    out->frames = sqlite3_column_int64(st, 6);
    out->sample_rate = sqlite3_column_int(st, 7);
    out->channels = sqlite3_column_int(st, 8);
    out->note_on_frame = sqlite3_column_int64(st, 9);
    out->note_off_frame = sqlite3_column_int64(st, 10);
    out->stream_start_frame = sqlite3_column_int64(st, 11);
    out->xruns = sqlite3_column_int64(st, 12);
    out->noise_floor_db = sqlite3_column_double(st, 13);
    out->release_capped = sqlite3_column_int(st, 14) != 0;
    out->latency_offset_ms = sqlite3_column_double(st, 15);
    out->received = sqlite3_column_double(st, 16);
    out->verdict = sqlite3_column_int(st, 17);
    const unsigned char *qc = sqlite3_column_text(st, 18);
    out->qc_json = qc ? strdup((const char *)qc) : NULL;
    out->cut_start = sqlite3_column_int64(st, 19);
    out->cut_end = sqlite3_column_int64(st, 20);
    out->peak_db = sqlite3_column_double(st, 21);
    out->superseded = sqlite3_column_int(st, 22) != 0;
    s_done(self, st);
    return 0;
}

int coord_store_take_set_qc(coord_store_t *self, const char *id, int verdict, const char *qc_json,
                            int64_t cut_start, int64_t cut_end, double peak_db)
{
    return s_exec(self,
                  "UPDATE takes SET verdict=?, qc=?, cut_start=?, cut_end=?, peak_db=? WHERE id=?",
                  "itiidt", (int64_t)verdict, qc_json, cut_start, cut_end, peak_db, id);
}

void coord_take_row_free(coord_take_row_t *row)
{
    free(row->qc_json);
    row->qc_json = NULL;
}

/* ---- events ---- */

int coord_store_event(coord_store_t *self, uint64_t batch, int kind, const char *instrument,
                      const char *take_id, const char *message)
{
    return s_exec(self,
                  "INSERT INTO events(time, batch_id, kind, instrument, take_id, message)"
                  " VALUES(?,?,?,?,?,?)",
                  "diittt", bb_unix_s(), (int64_t)batch, (int64_t)kind, instrument, take_id,
                  message);
}

int coord_store_job_by_slot(coord_store_t *self, uint64_t batch, int idx, int seq,
                            coord_job_row_t *out)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step,
                   "SELECT " S_JOB_COLS " FROM jobs WHERE batch_id=? AND inst_idx=? AND seq=?",
                   "iii", (int64_t)batch, (int64_t)idx, (int64_t)seq);
    if (rc)
        return rc;
    if (step == SQLITE_ROW)
        s_job_row(st, out);
    s_done(self, st);
    return step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
}

int coord_store_job_mark_dispatched(coord_store_t *self, int64_t job_id, const char *take_id)
{
    return s_exec(self, "UPDATE jobs SET state=?, dispatched=? WHERE id=? AND state=?", "itii",
                  (int64_t)JOB_DISPATCHED, take_id, job_id, (int64_t)JOB_PENDING);
}

int coord_store_export_rows(coord_store_t *self, uint64_t batch, int idx,
                            coord_export_row_t **rows_out, size_t *n_out)
{
    *rows_out = NULL;
    *n_out = 0;
    sqlite3_stmt *st;
    if (s_prepare(self,
                  "SELECT " S_JOB_COLS " FROM jobs WHERE batch_id=? AND inst_idx=? AND"
                  " state IN (?,?) AND take_id IS NOT NULL AND take_id != '' AND seq >= 0"
                  " ORDER BY seq",
                  &st))
        return BB_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)batch);
    sqlite3_bind_int64(st, 2, idx);
    sqlite3_bind_int64(st, 3, JOB_DONE);
    sqlite3_bind_int64(st, 4, JOB_FAILED);
    coord_export_row_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        coord_export_row_t *nr = s_grow(rows, n, &cap, sizeof *rows, 32);
        if (!nr) {
            s_done(self, st);
            coord_export_rows_free(rows, n);
            return BB_ENOMEM;
        }
        rows = nr;
        s_job_row(st, &rows[n].job);
        memset(&rows[n].take, 0, sizeof rows[n].take);
        n++;
    }
    s_done(self, st);
    if (rc != SQLITE_DONE) {
        coord_export_rows_free(rows, n);
        return s_fail(self, "step");
    }
    for (size_t i = 0; i < n; i++) {
        int trc = coord_store_take_get(self, rows[i].job.take_id, &rows[i].take);
        if (trc) {
            coord_export_rows_free(rows, n);
            return trc;
        }
    }
    *rows_out = rows;
    *n_out = n;
    return 0;
}

void coord_export_rows_free(coord_export_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        coord_take_row_free(&rows[i].take);
    free(rows);
}

int coord_store_node_names(coord_store_t *self, char ***names_out, size_t *n_out)
{
    *names_out = NULL;
    *n_out = 0;
    sqlite3_stmt *st;
    if (s_prepare(self, "SELECT name FROM nodes ORDER BY name", &st))
        return BB_EDB;
    char **names = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **nn = s_grow(names, n, &cap, sizeof *names, 8);
        if (!nn)
            break;
        names = nn;
        const unsigned char *t = sqlite3_column_text(st, 0);
        names[n] = strdup(t ? (const char *)t : "");
        if (names[n])
            n++;
    }
    s_done(self, st);
    *names_out = names;
    *n_out = n;
    return 0;
}

/* The text column of every row a query returns (one optional integer parameter). */
static int s_text_list(coord_store_t *self, const char *sql, bool bind, int64_t param,
                       char ***ids_out, size_t *n_out)
{
    *ids_out = NULL;
    *n_out = 0;
    sqlite3_stmt *st;
    if (s_prepare(self, sql, &st))
        return BB_EDB;
    if (bind)
        sqlite3_bind_int64(st, 1, param);
    char **ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char **ni = s_grow(ids, n, &cap, sizeof *ids, 64);
        if (!ni) {
            rc = SQLITE_NOMEM;
            break;
        }
        ids = ni;
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (!(ids[n] = strdup(t ? (const char *)t : ""))) {
            rc = SQLITE_NOMEM;
            break;
        }
        n++;
    }
    s_done(self, st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
        free(ids);
        return rc == SQLITE_NOMEM ? BB_ENOMEM : s_fail(self, "step");
    }
    *ids_out = ids;
    *n_out = n;
    return 0;
}

/* ---- operator housekeeping: retakes, re-export, delete ---- */

int coord_store_batch_set_spec(coord_store_t *self, uint64_t id, const void *spec, size_t len)
{
    return s_exec(self, "UPDATE batches SET spec=? WHERE id=?", "bi", spec, len, (int64_t)id);
}

int coord_store_job_retake_manual(coord_store_t *self, int64_t job_id)
{
    /* pending again with a fresh allowance of automatic retakes; attempts keep counting, so
     * the new take gets an id of its own */
    int rc =
        s_exec(self, "UPDATE takes SET superseded=1 WHERE id=(SELECT take_id FROM jobs WHERE id=?)",
               "i", job_id);
    if (!rc)
        rc = s_exec(self,
                    "UPDATE jobs SET state=?, retakes=0, message='retake asked for by the "
                    "operator' WHERE id=?",
                    "ii", (int64_t)JOB_PENDING, job_id);
    return rc;
}

int coord_store_batch_delete(coord_store_t *self, uint64_t id)
{
    static const char *const sql[] = {
        "DELETE FROM takes WHERE batch_id=?",       "DELETE FROM jobs WHERE batch_id=?",
        "DELETE FROM instruments WHERE batch_id=?", "DELETE FROM events WHERE batch_id=?",
        "DELETE FROM batches WHERE id=?",
    };
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++)
        rc = s_exec(self, sql[i], "i", (int64_t)id);
    return rc;
}

int coord_store_take_paths(coord_store_t *self, uint64_t batch, char ***paths, size_t *n)
{
    *paths = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step, "SELECT path FROM takes WHERE batch_id=? ORDER BY id", "i",
                   (int64_t)batch);
    if (rc)
        return rc;
    size_t cap = 0;
    while (step == SQLITE_ROW) {
        char **grown = s_grow(*paths, *n, &cap, sizeof **paths, 32);
        if (!grown) {
            rc = BB_ENOMEM;
            break;
        }
        *paths = grown;
        const unsigned char *t = sqlite3_column_text(st, 0);
        (*paths)[*n] = strdup(t ? (const char *)t : "");
        if (!(*paths)[*n]) {
            rc = BB_ENOMEM;
            break;
        }
        (*n)++;
        step = sqlite3_step(st);
    }
    s_done(self, st);
    return rc;
}

int coord_store_take_ids(coord_store_t *self, uint64_t batch, char ***ids, size_t *n)
{
    return s_text_list(self,
                       "SELECT id FROM takes WHERE batch_id=? ORDER BY inst_idx, received, id",
                       true, (int64_t)batch, ids, n);
}

int coord_store_takes_unchecked(coord_store_t *self, char ***ids, size_t *n)
{
    return s_text_list(self, "SELECT id FROM takes WHERE verdict < 0 ORDER BY received", false, 0,
                       ids, n);
}

/* ---- library files ---- */

static int s_library_put(coord_store_t *self, const char *root, const char *folder,
                         const coord_lib_file_t *f)
{
    return s_exec(self,
                  "INSERT OR REPLACE INTO library_files(root, path, folder, size, crc32)"
                  " VALUES(?,?,?,?,?)",
                  "tttii", root, f->path, folder, (int64_t)f->size, (int64_t)f->crc32);
}

int coord_store_library_set(coord_store_t *self, const char *root, const char *folder,
                            const coord_lib_file_t *files, size_t n,
                            const coord_lib_file_t *root_files, size_t n_root)
{
    int rc = coord_store_begin(self);
    if (!rc)
        rc =
            s_exec(self, "DELETE FROM library_files WHERE root=? AND folder=?", "tt", root, folder);
    for (size_t i = 0; !rc && i < n; i++)
        rc = s_library_put(self, root, folder, &files[i]);
    for (size_t i = 0; !rc && i < n_root; i++)
        rc = s_library_put(self, root, "", &root_files[i]);
    if (!rc)
        rc = coord_store_commit(self);
    if (rc)
        coord_store_rollback(self);
    return rc;
}

int coord_store_library_files(coord_store_t *self, const char *root, coord_lib_file_t **files_out,
                              size_t *n_out)
{
    *files_out = NULL;
    *n_out = 0;
    sqlite3_stmt *st;
    if (s_prepare(self, "SELECT path, size, crc32 FROM library_files WHERE root=? ORDER BY path",
                  &st))
        return BB_EDB;
    sqlite3_bind_text(st, 1, root, -1, SQLITE_TRANSIENT);
    coord_lib_file_t *files = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        coord_lib_file_t *nf = s_grow(files, n, &cap, sizeof *files, 64);
        if (!nf) {
            rc = SQLITE_NOMEM;
            break;
        }
        files = nf;
        s_text(st, 0, files[n].path, sizeof files[n].path);
        files[n].size = (uint64_t)sqlite3_column_int64(st, 1);
        files[n].crc32 = (uint32_t)sqlite3_column_int64(st, 2);
        n++;
    }
    s_done(self, st);
    if (rc != SQLITE_DONE) {
        free(files);
        return rc == SQLITE_NOMEM ? BB_ENOMEM : s_fail(self, "step");
    }
    *files_out = files;
    *n_out = n;
    return 0;
}

int coord_store_library_has_folder(coord_store_t *self, const char *root, const char *folder,
                                   bool *has)
{
    sqlite3_stmt *st;
    int step;
    int rc =
        s_run(self, &st, &step, "SELECT 1 FROM library_files WHERE root=? AND folder=? LIMIT 1",
              "tt", root, folder);
    if (rc)
        return rc;
    *has = step == SQLITE_ROW;
    s_done(self, st);
    return 0;
}

int coord_store_library_owner_set(coord_store_t *self, const char *root, const char *folder,
                                  uint64_t batch)
{
    if (batch == 0)
        return s_exec(self, "DELETE FROM library_owners WHERE root=? AND folder=?", "tt", root,
                      folder);
    return s_exec(self,
                  "INSERT OR REPLACE INTO library_owners(root, folder, batch_id) VALUES(?,?,?)",
                  "tti", root, folder, (int64_t)batch);
}

int coord_store_library_owner(coord_store_t *self, const char *root, const char *folder,
                              uint64_t *batch)
{
    sqlite3_stmt *st;
    int step;
    int rc =
        s_run(self, &st, &step, "SELECT batch_id FROM library_owners WHERE root=? AND folder=?",
              "tt", root, folder);
    if (rc)
        return rc;
    rc = step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
    if (!rc)
        *batch = (uint64_t)sqlite3_column_int64(st, 0);
    s_done(self, st);
    return rc;
}

/* ---- submit request ids, nodes forgotten, instruments moved ---- */

int coord_store_request_find(coord_store_t *self, const char *request_id, uint64_t *batch)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step, "SELECT batch_id FROM requests WHERE id=?", "t", request_id);
    if (rc)
        return rc;
    if (step == SQLITE_ROW)
        *batch = (uint64_t)sqlite3_column_int64(st, 0);
    s_done(self, st);
    return step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
}

int coord_store_request_insert(coord_store_t *self, const char *request_id, uint64_t batch)
{
    return s_exec(self, "INSERT OR REPLACE INTO requests(id, batch_id) VALUES(?,?)", "ti",
                  request_id, (int64_t)batch);
}

int coord_store_node_forget(coord_store_t *self, const char *name)
{
    return s_exec(self, "DELETE FROM nodes WHERE name=?", "t", name);
}

int coord_store_node_last_seen(coord_store_t *self, const char *name, double *unix_s)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step, "SELECT last_seen FROM nodes WHERE name=?", "t", name);
    if (rc)
        return rc;
    *unix_s = step == SQLITE_ROW ? sqlite3_column_double(st, 0) : 0;
    s_done(self, st);
    return step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
}

int coord_store_node_active_batch(coord_store_t *self, const char *name, uint64_t *batch)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step,
                   "SELECT b.id FROM instruments i JOIN batches b ON b.id=i.batch_id"
                   " WHERE i.node=? AND b.state IN (?,?) ORDER BY b.id LIMIT 1",
                   "tii", name, (int64_t)BB__BATCH_STATE__BATCH_RUNNING,
                   (int64_t)BB__BATCH_STATE__BATCH_PAUSED);
    if (rc)
        return rc;
    if (step == SQLITE_ROW)
        *batch = (uint64_t)sqlite3_column_int64(st, 0);
    s_done(self, st);
    return step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
}

int coord_store_node_paused_batch(coord_store_t *self, const char *name, uint64_t *batch)
{
    sqlite3_stmt *st;
    int step;
    int rc = s_run(self, &st, &step,
                   "SELECT b.id FROM instruments i JOIN batches b ON b.id=i.batch_id"
                   " WHERE i.node=? AND b.state=? AND NOT EXISTS (SELECT 1 FROM instruments i2"
                   " JOIN batches b2 ON b2.id=i2.batch_id WHERE i2.node=? AND b2.state=?)"
                   " ORDER BY b.id LIMIT 1",
                   "titi", name, (int64_t)BB__BATCH_STATE__BATCH_PAUSED, name,
                   (int64_t)BB__BATCH_STATE__BATCH_RUNNING);
    if (rc)
        return rc;
    if (step == SQLITE_ROW)
        *batch = (uint64_t)sqlite3_column_int64(st, 0);
    s_done(self, st);
    return step == SQLITE_ROW ? 0 : BB_ENOTFOUND;
}

int coord_store_inst_set_node(coord_store_t *self, uint64_t batch, int idx, const char *node)
{
    return s_exec(self, "UPDATE instruments SET node=? WHERE batch_id=? AND idx=?", "tii", node,
                  (int64_t)batch, (int64_t)idx);
}

int coord_store_jobs_requeue_inst(coord_store_t *self, uint64_t batch, int idx, int *n)
{
    int rc =
        s_exec(self, "UPDATE jobs SET state=? WHERE batch_id=? AND inst_idx=? AND state=?", "iiii",
               (int64_t)JOB_PENDING, (int64_t)batch, (int64_t)idx, (int64_t)JOB_DISPATCHED);
    *n = rc ? 0 : sqlite3_changes(self->db);
    return rc;
}

/* ---- batches whose takes are still being written (planner.c) ---- */

int coord_store_plan_put(coord_store_t *self, const coord_plan_row_t *p)
{
    return s_exec(self,
                  "INSERT OR REPLACE INTO planning(batch_id, inst_idx, next_seq, done, total)"
                  " VALUES(?,?,?,?,?)",
                  "iiiii", (int64_t)p->batch_id, (int64_t)p->inst_idx, (int64_t)p->next_seq,
                  (int64_t)p->done, (int64_t)p->total);
}

int coord_store_plan_delete(coord_store_t *self, uint64_t batch)
{
    return s_exec(self, "DELETE FROM planning WHERE batch_id=?", "i", (int64_t)batch);
}

int coord_store_plan_all(coord_store_t *self, coord_plan_row_t **rows_out, size_t *n_out)
{
    *rows_out = NULL;
    *n_out = 0;
    sqlite3_stmt *st;
    if (s_prepare(
            self,
            "SELECT batch_id, inst_idx, next_seq, done, total FROM planning ORDER BY batch_id",
            &st))
        return BB_EDB;
    coord_plan_row_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        coord_plan_row_t *nr = s_grow(rows, n, &cap, sizeof *rows, 8);
        if (!nr) {
            rc = SQLITE_NOMEM;
            break;
        }
        rows = nr;
        rows[n].batch_id = (uint64_t)sqlite3_column_int64(st, 0);
        rows[n].inst_idx = sqlite3_column_int(st, 1);
        rows[n].next_seq = sqlite3_column_int(st, 2);
        rows[n].done = sqlite3_column_int64(st, 3);
        rows[n].total = sqlite3_column_int64(st, 4);
        n++;
    }
    s_done(self, st);
    if (rc != SQLITE_DONE) {
        free(rows);
        return rc == SQLITE_NOMEM ? BB_ENOMEM : s_fail(self, "step");
    }
    *rows_out = rows;
    *n_out = n;
    return 0;
}
